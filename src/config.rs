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
use crate::detect::{
    BruteforceAccountConfig, CompromiseConfig, OrdersBulkConfig, OrdersDropAddressConfig,
    ResetFloodConfig, StuffingAsnConfig, StuffingGlobalConfig, StuffingIpConfig, TakeoverConfig,
};
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

/// Section `[detect]`: one sub-section per rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// `[detect.stuffing_ip]`.
    pub stuffing_ip: StuffingIpConfig,
    /// `[detect.orders_bulk]`.
    pub orders_bulk: OrdersBulkConfig,
    /// `[detect.orders_drop_address]`.
    pub orders_drop_address: OrdersDropAddressConfig,
    /// `[detect.reset_flood]`.
    pub reset_flood: ResetFloodConfig,
    /// `[detect.stuffing_asn]`.
    pub stuffing_asn: StuffingAsnConfig,
    /// `[detect.stuffing_global]`.
    pub stuffing_global: StuffingGlobalConfig,
    /// `[detect.bruteforce_account]`.
    pub bruteforce_account: BruteforceAccountConfig,
    /// `[detect.compromise_login]`.
    pub compromise_login: CompromiseConfig,
    /// `[detect.takeover_sequence]`.
    pub takeover_sequence: TakeoverConfig,
}

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
        let s = &self.detect.stuffing_ip;
        if s.min_distinct_accounts == 0 {
            return bad(
                "detect.stuffing_ip.min_distinct_accounts",
                "must be at least 1",
            );
        }
        if s.high_distinct_accounts < s.min_distinct_accounts {
            return bad(
                "detect.stuffing_ip.high_distinct_accounts",
                "must not be below min_distinct_accounts",
            );
        }
        if s.min_failures_without_account == 0 {
            return bad(
                "detect.stuffing_ip.min_failures_without_account",
                "must be at least 1",
            );
        }
        if s.min_attempts_without_outcome == 0 {
            return bad(
                "detect.stuffing_ip.min_attempts_without_outcome",
                "must be at least 1",
            );
        }
        if s.max_tracked_ips < 1_000 {
            return bad(
                "detect.stuffing_ip.max_tracked_ips",
                "must be at least 1000",
            );
        }
        if s.max_failures_per_ip < s.min_distinct_accounts as usize {
            return bad(
                "detect.stuffing_ip.max_failures_per_ip",
                "must be at least min_distinct_accounts",
            );
        }
        self.validate_orders_and_resets()?;
        let a = &self.detect.stuffing_asn;
        let g = &self.detect.stuffing_global;
        let b = &self.detect.bruteforce_account;
        let checks: &[(bool, &str, &str)] = &[
            (
                a.min_failing_addresses == 0,
                "detect.stuffing_asn.min_failing_addresses",
                "must be at least 1",
            ),
            (
                a.min_distinct_accounts == 0,
                "detect.stuffing_asn.min_distinct_accounts",
                "must be at least 1",
            ),
            (
                a.min_failures_without_account == 0,
                "detect.stuffing_asn.min_failures_without_account",
                "must be at least 1",
            ),
            (
                !(0.0..=1.0).contains(&a.min_failure_ratio),
                "detect.stuffing_asn.min_failure_ratio",
                "must be between 0 and 1",
            ),
            (
                a.max_failures_per_address < 2,
                "detect.stuffing_asn.max_failures_per_address",
                "must be at least 2",
            ),
            (
                a.max_tracked_asns < 1_000,
                "detect.stuffing_asn.max_tracked_asns",
                "must be at least 1000",
            ),
            (
                a.max_events_per_asn < a.min_distinct_accounts as usize,
                "detect.stuffing_asn.max_events_per_asn",
                "must be at least min_distinct_accounts",
            ),
            (
                g.baseline_minutes < g.warmup_minutes || g.baseline_minutes == 0,
                "detect.stuffing_global.baseline_minutes",
                "must be at least 1 and at least warmup_minutes",
            ),
            (
                !(g.mad_factor.is_finite() && g.mad_factor > 0.0),
                "detect.stuffing_global.mad_factor",
                "must be a positive number",
            ),
            (
                g.consecutive_minutes == 0,
                "detect.stuffing_global.consecutive_minutes",
                "must be at least 1",
            ),
            (
                g.quiet_minutes == 0,
                "detect.stuffing_global.quiet_minutes",
                "must be at least 1",
            ),
            (
                g.max_tracked_addresses < 1_000,
                "detect.stuffing_global.max_tracked_addresses",
                "must be at least 1000",
            ),
            (
                b.min_failures == 0,
                "detect.bruteforce_account.min_failures",
                "must be at least 1",
            ),
            (
                b.high_failures < b.min_failures,
                "detect.bruteforce_account.high_failures",
                "must not be below min_failures",
            ),
            (
                b.max_tracked_accounts < 1_000,
                "detect.bruteforce_account.max_tracked_accounts",
                "must be at least 1000",
            ),
            (
                b.max_failures_per_account < b.high_failures as usize,
                "detect.bruteforce_account.max_failures_per_account",
                "must be at least high_failures",
            ),
            (
                a.window.millis() <= 0,
                "detect.stuffing_asn.window",
                "must be longer than 0",
            ),
            (
                b.window.millis() <= 0,
                "detect.bruteforce_account.window",
                "must be longer than 0",
            ),
            (
                a.high_failing_addresses < a.min_failing_addresses,
                "detect.stuffing_asn.high_failing_addresses",
                "must not be below min_failing_addresses",
            ),
            (
                a.high_distinct_accounts < a.min_distinct_accounts,
                "detect.stuffing_asn.high_distinct_accounts",
                "must not be below min_distinct_accounts",
            ),
        ];
        if let Some((_, key, message)) = checks.iter().find(|c| c.0) {
            return bad(key, message);
        }
        let c = &self.detect.compromise_login;
        if c.min_failures_before_success == 0 {
            return bad(
                "detect.compromise_login.min_failures_before_success",
                "must be at least 1",
            );
        }
        if c.max_tracked < 1_000 || c.max_recent_successes < 1_000 {
            return bad(
                "detect.compromise_login.max_tracked",
                "max_tracked and max_recent_successes must be at least 1000",
            );
        }
        if c.success_memory.millis() < c.lookback.millis() {
            return bad(
                "detect.compromise_login.success_memory",
                "must not be shorter than lookback",
            );
        }
        let t = &self.detect.takeover_sequence;
        if t.max_span.millis() <= 0 {
            return bad("detect.takeover_sequence.max_span", "must be positive");
        }
        if t.known_sources == 0 || t.max_accounts < 1_000 || t.max_steps < 2 {
            return bad(
                "detect.takeover_sequence.known_sources",
                "known_sources must be at least 1, max_accounts at least 1000, max_steps at least 2",
            );
        }
        self.decoder_factory().map(|_| ())
    }

    /// Nonsense values of `orders.bulk`, `orders.drop_address` and `reset.flood`.
    fn validate_orders_and_resets(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::BadValue {
                key: key.to_string(),
                message: message.to_string(),
            })
        };
        let b = &self.detect.orders_bulk;
        if b.min_orders == 0 {
            return bad("detect.orders_bulk.min_orders", "must be at least 1");
        }
        if !(0.0..=1.0).contains(&b.marketplace_share) {
            return bad(
                "detect.orders_bulk.marketplace_share",
                "must be between 0 and 1",
            );
        }
        if let Some((cur, _)) = b.min_total.iter().find(|(_, v)| **v == 0) {
            return bad(
                &format!("detect.orders_bulk.min_total.{cur}"),
                "must be at least 1",
            );
        }
        if b.max_known_ship_tos == 0 {
            return bad(
                "detect.orders_bulk.max_known_ship_tos",
                "must be at least 1",
            );
        }
        if b.max_tracked_accounts < 1_000 {
            return bad(
                "detect.orders_bulk.max_tracked_accounts",
                "must be at least 1000",
            );
        }
        if b.max_orders_per_account < b.min_orders as usize {
            return bad(
                "detect.orders_bulk.max_orders_per_account",
                "must be at least min_orders",
            );
        }
        let d = &self.detect.orders_drop_address;
        if d.min_distinct_accounts < 2 {
            return bad(
                "detect.orders_drop_address.min_distinct_accounts",
                "must be at least 2",
            );
        }
        if d.high_distinct_accounts < d.min_distinct_accounts {
            return bad(
                "detect.orders_drop_address.high_distinct_accounts",
                "must not be below min_distinct_accounts",
            );
        }
        if !(0.0..=1.0).contains(&d.marketplace_share) {
            return bad(
                "detect.orders_drop_address.marketplace_share",
                "must be between 0 and 1",
            );
        }
        if d.max_tracked_ship_tos < 1_000 {
            return bad(
                "detect.orders_drop_address.max_tracked_ship_tos",
                "must be at least 1000",
            );
        }
        if d.max_orders_per_ship_to < d.min_distinct_accounts as usize {
            return bad(
                "detect.orders_drop_address.max_orders_per_ship_to",
                "must be at least min_distinct_accounts",
            );
        }
        let r = &self.detect.reset_flood;
        for (key, v) in [
            ("min_accounts_per_ip", r.min_accounts_per_ip),
            (
                "min_requests_without_account",
                r.min_requests_without_account,
            ),
            ("min_codes_per_account", r.min_codes_per_account),
            (
                "min_failed_codes_per_account",
                r.min_failed_codes_per_account,
            ),
        ] {
            if v == 0 {
                return bad(&format!("detect.reset_flood.{key}"), "must be at least 1");
            }
        }
        if r.high_accounts_per_ip < r.min_accounts_per_ip {
            return bad(
                "detect.reset_flood.high_accounts_per_ip",
                "must not be below min_accounts_per_ip",
            );
        }
        if r.max_tracked_keys < 1_000 {
            return bad(
                "detect.reset_flood.max_tracked_keys",
                "must be at least 1000",
            );
        }
        if r.max_events_per_key < r.min_accounts_per_ip as usize {
            return bad(
                "detect.reset_flood.max_events_per_key",
                "must be at least min_accounts_per_ip",
            );
        }
        Ok(())
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
