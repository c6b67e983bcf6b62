//! The configuration: every default is embedded, a TOML file (`--config`) overrides any of it.
//!
//! `credwatch.example.toml` at the repository root documents every key with its default; a test
//! checks that it parses to exactly [`Config::default`], so the documentation cannot drift.
//! Unknown keys are errors that name the key and the line, because a misspelt threshold that is
//! silently ignored is worse than no config at all.

use std::path::Path;

use serde::{Deserialize, Deserializer};

use crate::decode::access::AccessConfig;
use crate::decode::delimited::CsvConfig;
use crate::decode::json::JsonConfig;
use crate::decode::sshd::SshdConfig;
use crate::decode::{DecoderFactory, Format};
use crate::enrich::asn::AsnConfig;
use crate::error::ConfigError;
use crate::time::{SECOND, Span};

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How inputs are read.
    pub input: InputConfig,
    /// Access-log decoding and the route map.
    pub access: AccessConfig,
    /// JSON-lines decoding.
    pub json: JsonConfig,
    /// CSV/TSV decoding.
    pub csv: CsvConfig,
    /// sshd/syslog decoding.
    pub sshd: SshdConfig,
    /// ASN enrichment.
    pub asn: AsnConfig,
    /// Detection rules.
    pub detect: DetectConfig,
    /// Resource limits.
    pub limits: LimitsConfig,
    /// Following live logs (`credwatch tail`).
    pub tail: crate::source::follow::FollowConfig,
    /// Webhook delivery settings shared by every `--webhook URL`.
    pub webhook: crate::sink::WebhookConfig,
    /// The forensic report (`--report`, `--csv-dir`).
    pub report: crate::report::ReportConfig,
}

/// Section `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Memory for the detectors' per-key state, in MiB. When their state grows beyond it, the
    /// least recently active keys are evicted (and counted in the summary), so a flood of spoofed
    /// or random addresses cannot exhaust memory. Also `--memory-budget MB`.
    pub memory_budget_mb: u64,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            memory_budget_mb: 1024,
        }
    }
}

/// Section `[input]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// `auto` (recognize each input from its first lines) or one of `access`, `json`, `sshd`,
    /// `csv`, `tsv` for every input.
    #[serde(deserialize_with = "format_choice")]
    pub format: Option<Format>,
    /// Lines longer than this many bytes are rejected as `line_too_long` (and skipped without
    /// being held in memory).
    pub max_line_bytes: usize,
    /// How far behind the newest event time an event may arrive before it is counted as late
    /// (servers' clocks and buffers differ).
    pub allowed_lateness: Span,
    /// Rejected lines kept as examples per input and reason, for the summary.
    pub reject_samples: usize,
    /// Count each action once when several inputs log it (the application's auth events and the
    /// web servers' `POST /login` lines): see `dedup`.
    pub dedup_overlapping_sources: bool,
    /// How far apart in event time two inputs' records of one action may be.
    pub overlap_tolerance: Span,
}

impl Default for InputConfig {
    fn default() -> InputConfig {
        InputConfig {
            format: None,
            max_line_bytes: 64 * 1024,
            allowed_lateness: Span(120 * SECOND),
            reject_samples: 3,
            dedup_overlapping_sources: true,
            overlap_tolerance: Span(2 * SECOND),
        }
    }
}

fn format_choice<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Format>, D::Error> {
    let s = String::deserialize(d)?;
    if s.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

/// Section `[detect]`: generated from the rule registry (one sub-section per rule).
pub use crate::rules::DetectConfig;

impl Config {
    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Config::from_toml(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for db in &mut cfg.asn.db {
            if db.is_relative() {
                *db = base.join(&*db);
            }
        }
        Ok(cfg)
    }

    /// Parses and validates TOML text; `path` names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that parse but make no sense, and builds the decoders once so that bad
    /// regexes or mappings are reported now with their key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::BadValue {
                key: key.to_string(),
                message: message.to_string(),
            })
        };
        if self.limits.memory_budget_mb == 0 {
            return bad("limits.memory_budget_mb", "must be at least 1");
        }
        if self.input.max_line_bytes < 256 {
            return bad("input.max_line_bytes", "must be at least 256");
        }
        self.detect.validate()?;
        self.decoder_factory().map(|_| ())
    }

    /// The decoder factory for these settings.
    pub fn decoder_factory(&self) -> Result<DecoderFactory, ConfigError> {
        DecoderFactory::new(&self.access, &self.json, &self.csv, &self.sshd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("test.toml"))
    }

    #[test]
    fn example_file_documents_exactly_the_defaults() {
        let text = include_str!("../credwatch.example.toml");
        let cfg = parse(text).expect("credwatch.example.toml parses");
        assert_eq!(format!("{cfg:?}"), format!("{:?}", Config::default()));
    }

    #[test]
    fn empty_file_is_the_default() {
        let cfg = parse("").unwrap();
        assert_eq!(format!("{cfg:?}"), format!("{:?}", Config::default()));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = parse("[detect.stuffing_ip]\nwindow = \"5m\"\nmin_distinct_acounts = 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("min_distinct_acounts"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn durations_and_formats_parse() {
        let cfg =
            parse("[input]\nformat = \"nginx\"\n[detect.stuffing_ip]\nwindow = \"5m\"\n").unwrap();
        assert_eq!(cfg.input.format, Some(Format::Access));
        assert_eq!(cfg.detect.stuffing_ip.window, Span(5 * 60 * SECOND));
        let err = parse("[detect.stuffing_ip]\nwindow = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a positive duration"), "{err}");
        let err = parse("[input]\nformat = \"xml\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown format `xml`"), "{err}");
    }

    #[test]
    fn nonsense_values_name_their_key() {
        let err = parse("[detect.stuffing_ip]\nmin_distinct_accounts = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("detect.stuffing_ip.min_distinct_accounts"),
            "{err}"
        );
    }
}
