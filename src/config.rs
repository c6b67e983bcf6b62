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

    /// Parses and validates TOML text; `path` names it in errors, which say
    /// `path:line: key: message` ([`ConfigError::Invalid`]) for syntax errors, unknown keys,
    /// wrong types and values that make no sense alike.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| locate::toml_error(text, path, &e))?;
        cfg.validate()
            .map_err(|e| locate::validation_error(text, path, e))?;
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

/// Error plumbing: places a config error in the TOML text (its key and line), from the span
/// toml gives or from the key path [`Config::validate`] names.
mod locate {
    use std::ops::Range;
    use std::path::Path;

    use toml::Spanned;
    use toml::de::{DeTable, DeValue};

    use crate::error::ConfigError;

    /// A toml error (syntax, unknown key, wrong type) with the key at its span and its line.
    pub(super) fn toml_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
        let span = e.span();
        let key = span.as_ref().and_then(|s| {
            // A syntax error leaves no tree; the recoverable parse still gives the keys before
            // (and around) it.
            let (doc, _) = DeTable::parse_recoverable(text);
            // A syntax error may sit after the key (`format =` and no value): then the key is
            // the one before it on its line.
            let line_start = text
                .get(..s.start)
                .and_then(|t| t.rfind('\n'))
                .map_or(0, |i| i + 1);
            (line_start..=s.start)
                .rev()
                .find_map(|offset| key_at(doc.get_ref(), offset, ""))
        });
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line: span.map(|s| line_of(text, s.start)),
            key,
            message: e.message().trim_end().to_string(),
        }
    }

    /// A [`ConfigError::BadValue`] from validation, placed at its key's line. A key that is not
    /// in the file holds its default, which failed a check against another key: the message
    /// says so, with the line of a key it names that the file does set.
    pub(super) fn validation_error(text: &str, path: &Path, e: ConfigError) -> ConfigError {
        let ConfigError::BadValue { key, message } = e else {
            return e;
        };
        let Ok(doc) = DeTable::parse(text) else {
            return ConfigError::BadValue { key, message };
        };
        let doc = doc.get_ref();
        if let Some(span) = find(doc, &segments(&key)) {
            return ConfigError::Invalid {
                path: path.to_path_buf(),
                line: Some(line_of(text, span.start)),
                key: Some(key),
                message,
            };
        }
        let segs = segments(&key);
        let (name, parent) = segs
            .split_last()
            .map_or((key.as_str(), &[][..]), |(n, p)| (n.as_str(), p));
        // A sibling the message names (`must not be below min_distinct_accounts`) that the file
        // sets is where the user can act.
        let related = message
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty() && *w != name)
            .find_map(|w| {
                let mut p = parent.to_vec();
                p.push(Seg::Key(w.to_string()));
                find(doc, &p).map(|span| (w.to_string(), line_of(text, span.start)))
            });
        let message = match &related {
            Some((other, line)) => format!(
                "{message} ({name} is not set in this file: its default is checked against {other} on line {line})"
            ),
            None => format!("{message} ({name} is not set in this file: its default fails)"),
        };
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line: related.map(|(_, line)| line),
            key: Some(key),
            message,
        }
    }

    /// 1-based line of byte `offset`.
    fn line_of(text: &str, offset: usize) -> usize {
        let end = offset.min(text.len());
        text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// One step of a key path: a key or an array index.
    #[derive(Debug, Clone, PartialEq)]
    enum Seg {
        Key(String),
        Index(usize),
    }

    impl Seg {
        fn as_str(&self) -> &str {
            match self {
                Seg::Key(k) => k,
                Seg::Index(_) => "",
            }
        }
    }

    /// `json.fields."user.mail"` → `json`, `fields`, `user.mail`; `access.routes[2].path` →
    /// `access`, `routes`, 2, `path`.
    fn segments(key: &str) -> Vec<Seg> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut chars = key.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                '.' if !quoted => {
                    if !cur.is_empty() {
                        out.push(Seg::Key(std::mem::take(&mut cur)));
                    }
                }
                '[' if !quoted => {
                    if !cur.is_empty() {
                        out.push(Seg::Key(std::mem::take(&mut cur)));
                    }
                    let digits: String = chars.by_ref().take_while(|&d| d != ']').collect();
                    match digits.parse() {
                        Ok(i) => out.push(Seg::Index(i)),
                        Err(_) => out.push(Seg::Key(digits)),
                    }
                }
                c => cur.push(c),
            }
        }
        if !cur.is_empty() {
            out.push(Seg::Key(cur));
        }
        out
    }

    /// The span of the key `path` names (of the array item for a last index), if the file
    /// holds it.
    fn find(doc: &DeTable<'_>, path: &[Seg]) -> Option<Range<usize>> {
        let (first, rest) = path.split_first()?;
        let (k, v) = doc.iter().find(|(k, _)| k.get_ref() == first.as_str())?;
        if rest.is_empty() {
            return Some(k.span());
        }
        find_in(v, rest)
    }

    fn find_in(v: &Spanned<DeValue<'_>>, path: &[Seg]) -> Option<Range<usize>> {
        let Some((first, rest)) = path.split_first() else {
            return Some(v.span());
        };
        match (v.get_ref(), first) {
            (DeValue::Table(t), Seg::Key(_)) => find(t, path),
            (DeValue::Array(a), Seg::Index(i)) => {
                let item = a.get(*i)?;
                find_in(item, rest)
            }
            _ => None,
        }
    }

    /// The dotted path of the innermost key whose key or value spans `offset`.
    fn key_at(t: &DeTable<'_>, offset: usize, prefix: &str) -> Option<String> {
        for (k, v) in t.iter() {
            let here = if prefix.is_empty() {
                quote(k.get_ref())
            } else {
                format!("{prefix}.{}", quote(k.get_ref()))
            };
            if let Some(deeper) = value_key_at(v, offset, &here) {
                return Some(deeper);
            }
            if k.span().contains(&offset) || v.span().contains(&offset) {
                return Some(here);
            }
        }
        None
    }

    fn value_key_at(v: &Spanned<DeValue<'_>>, offset: usize, here: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::Table(t) => key_at(t, offset, here),
            DeValue::Array(a) => a.iter().enumerate().find_map(|(i, item)| {
                let at = format!("{here}[{i}]");
                value_key_at(item, offset, &at)
                    .or_else(|| item.span().contains(&offset).then_some(at))
            }),
            _ => None,
        }
    }

    /// A key as written in a dotted path: quoted when it is not a bare key.
    fn quote(k: &str) -> String {
        if !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            k.to_string()
        } else {
            format!("{k:?}")
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn key_paths_split_on_dots_outside_quotes_and_on_indexes() {
            assert_eq!(
                segments("json.fields.\"user.mail\""),
                vec![
                    Seg::Key("json".into()),
                    Seg::Key("fields".into()),
                    Seg::Key("user.mail".into())
                ]
            );
            assert_eq!(
                segments("access.routes[2].path"),
                vec![
                    Seg::Key("access".into()),
                    Seg::Key("routes".into()),
                    Seg::Index(2),
                    Seg::Key("path".into())
                ]
            );
        }

        #[test]
        fn keys_are_found_at_their_line_and_spans_give_their_key() {
            let text = "[json.fields]\n\"user.mail\" = \"account\"\n\n[[access.routes]]\npath = \"/a\"\n[[access.routes]]\npath = \"/b\"\n";
            let (doc, errors) = DeTable::parse_recoverable(text);
            assert!(errors.is_empty(), "{errors:?}");
            let doc = doc.get_ref();
            let at = |key: &str| find(doc, &segments(key)).map(|s| line_of(text, s.start));
            assert_eq!(at("json.fields.\"user.mail\""), Some(2));
            assert_eq!(at("access.routes[1].path"), Some(7));
            assert_eq!(at("access.routes[2].path"), None);
            assert_eq!(at("json.fields.other"), None);
            let offset = text.find("\"/b\"").unwrap_or_default();
            assert_eq!(
                key_at(doc, offset, "").as_deref(),
                Some("access.routes[1].path")
            );
        }
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
        assert!(
            err.starts_with(
                "test.toml:3: detect.stuffing_ip.min_distinct_acounts: unknown field `min_distinct_acounts`"
            ),
            "{err}"
        );
        let err = parse("\n[detec]\nx = 1\n").unwrap_err().to_string();
        assert!(
            err.starts_with("test.toml:2: detec: unknown field"),
            "{err}"
        );
    }

    #[test]
    fn type_and_syntax_errors_name_key_and_line() {
        let err = parse("[limits]\n\nmemory_budget_mb = \"lots\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("test.toml:3: limits.memory_budget_mb: invalid type: string"),
            "{err}"
        );
        let err = parse("[access]\ntrusted_proxies = [\"10.0.0.0/8\", 7]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("test.toml:2: access.trusted_proxies"),
            "{err}"
        );
        let err = parse("[input]\nmax_line_bytes = 4096\nformat = \n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("test.toml:3: input.format: "), "{err}");
        // One line, no snippet: `file:line: key: message` is the whole error.
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn nonsense_values_name_their_key_and_line() {
        let err = parse(
            "[limits]\nmemory_budget_mb = 10\n[detect.stuffing_ip]\n\nmin_distinct_accounts = 0\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "test.toml:5: detect.stuffing_ip.min_distinct_accounts: must be at least 1"
        );
        // Found while building the decoders: a key path with an index.
        let err = parse("[access]\ntrusted_proxies = [\"10.0.0.0/8\",\n  \"not a network\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("test.toml:3: access.trusted_proxies[1]: "),
            "{err}"
        );
    }

    #[test]
    fn a_default_that_fails_a_cross_check_is_named_as_the_default() {
        // high_distinct_accounts keeps its default (100), now below the file's minimum.
        let err = parse("[detect.stuffing_ip]\nwindow = \"5m\"\nmin_distinct_accounts = 200\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "test.toml:3: detect.stuffing_ip.high_distinct_accounts: must not be below \
             min_distinct_accounts (high_distinct_accounts is not set in this file: its default \
             is checked against min_distinct_accounts on line 3)"
        );
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
}
