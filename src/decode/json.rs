//! JSON lines: the native format (`events.md` §1) and Elastic Common Schema events.
//!
//! One JSON object per line. Field names are resolved against a precomputed table built once
//! per input from the canonical names, the ECS names and the config renames. Each name
//! `a.b.c` is accepted nested (`{"a":{"b":{"c":…}}}`), dotted (`{"a.b.c":…}`) and mixed
//! (`{"a.b":{"c":…}}`): the table is a small trie of every split of the name, so the parser
//! descends into a nested object only when some accepted name lives below it and skips
//! everything else with `IgnoredAny` (no allocation, no copy).
//!
//! The canonical `event` is a string while the ECS `event` is an object: the `event` node of
//! the trie has both a target and children, and the JSON value's type picks one.
//!
//! Keys and string values are borrowed from the line; escaped strings (`\"`, `\u00e9`) come
//! through serde_json's scratch buffer, so they work without any per-field allocation beyond
//! what the event keeps.
//!
//! UTF-8 is checked once per line, which lets serde_json skip its check of every string (a
//! measurable share of the time). Invalid UTF-8: serde_json would reject the line, but a
//! Shift-JIS account name should not cost the event. Such a line is parsed from a copy in which
//! every invalid byte is written as the JSON text `\\xNN`, which decodes to the same `\xNN`
//! escapes [`crate::event::AccountKey::normalize_bytes`] produces for other formats (so one
//! Shift-JIS name is one account everywhere). Invalid bytes outside strings still make the line
//! `invalid_json`, with serde_json's message about the original line.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

mod scan;

use super::Decoder;
use super::fields::{
    EventBuilder, EventNames, Field, Number, Target, compile_field_map, default_names,
};
use crate::error::{ConfigError, ParseError};
use crate::event::{AuthEvent, LineMeta};

/// The `[json]` config section.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JsonConfig {
    /// Field renames: source field name → canonical field name (`ts`, `event`, `outcome`,
    /// `reason`, `account`, `ip`, `user_agent`, `order_id`, `amount`, `currency`,
    /// `marketplace`, `seller`, `ship_to`, `address`, `address_id`, `new_email`) or `"ignore"`
    /// to stop reading a name accepted by default. Dotted names reach nested fields
    /// (`"user.email" = "account"`). Renamed fields win over the default names.
    pub fields: BTreeMap<String, String>,
    /// Event-name mapping: source event name → canonical event name or `"ignore"`. Compared
    /// case-insensitively with `-`, `.`, `/`, `:` and spaces as `_`; wins over the canonical
    /// names and the built-in synonyms.
    pub events: BTreeMap<String, String>,
    /// Accept Elastic Common Schema names (`@timestamp`, `event.action`, `event.outcome`,
    /// `event.reason`, `source.ip`, `client.ip`, `user.name`, `user.email`,
    /// `user_agent.original`), nested or dotted.
    pub ecs: bool,
}

impl Default for JsonConfig {
    fn default() -> JsonConfig {
        JsonConfig {
            fields: BTreeMap::new(),
            events: BTreeMap::new(),
            ecs: true,
        }
    }
}

/// Most dotted levels in a configured field name.
const MAX_NAME_SEGMENTS: usize = 8;

/// One level of the name trie: a small fixed hash table keyed by length and end bytes.
///
/// A general hash map spent a tenth of the decode time here; this one hashes three bytes and
/// compares one or two candidates. Its contents are fixed at construction (config and built-in
/// names), so attacker-chosen keys cannot lengthen a chain.
#[derive(Debug, Clone)]
struct Table {
    buckets: Vec<Vec<(Box<str>, Node)>>,
}

const TABLE_BUCKETS: usize = 64;

impl Default for Table {
    fn default() -> Table {
        Table {
            buckets: (0..TABLE_BUCKETS).map(|_| Vec::new()).collect(),
        }
    }
}

impl Table {
    fn bucket_of(key: &str) -> usize {
        let b = key.as_bytes();
        let first = b.first().map_or(0, |&c| usize::from(c));
        let last = b.last().map_or(0, |&c| usize::from(c));
        (b.len().wrapping_mul(31) ^ first.wrapping_mul(7) ^ last) % TABLE_BUCKETS
    }

    fn get(&self, key: &str) -> Option<&Node> {
        self.buckets
            .get(Table::bucket_of(key))?
            .iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, n)| n)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.buckets
            .get_mut(Table::bucket_of(key))?
            .iter_mut()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, n)| n)
    }

    /// The node for `key`, created empty if missing.
    fn node(&mut self, key: &str) -> &mut Node {
        let i = Table::bucket_of(key);
        let bucket = &mut self.buckets[i % TABLE_BUCKETS];
        let pos = match bucket.iter().position(|(k, _)| k.as_ref() == key) {
            Some(pos) => pos,
            None => {
                bucket.push((key.into(), Node::default()));
                bucket.len() - 1
            }
        };
        &mut bucket[pos].1
    }
}

/// A name (or name prefix) at one level.
#[derive(Debug, Clone, Default)]
struct Node {
    /// Where a scalar value under this name goes.
    target: Option<Target>,
    /// Names below this one, for an object value.
    children: Option<Box<Table>>,
}

/// Decodes JSON lines (format name `json`).
///
/// Value types: `null` is an absent value; numbers and booleans given for a text field are
/// read as their text (numeric account ids, Windows event ids); arrays, and objects where no
/// accepted name lives below, are skipped like unknown fields. See
/// [`super::fields`] for what each canonical field accepts and which rejections it gives;
/// this decoder adds `invalid_json` (with serde_json's message) and `not_an_object` (valid JSON
/// that is not an object). A blank line is `Ok(None)`.
#[derive(Debug, Clone)]
pub struct JsonDecoder {
    root: Table,
    names: EventNames,
}

/// The decoder with the default config, for [`looks_like_json`].
static DEFAULT: LazyLock<Option<JsonDecoder>> =
    LazyLock::new(|| JsonDecoder::new(&JsonConfig::default()).ok());

impl JsonDecoder {
    /// Builds the decoder. A rename to an unknown canonical field or event is a
    /// [`ConfigError::BadValue`] naming the key (`json.fields."user.mail"`).
    pub fn new(cfg: &JsonConfig) -> Result<JsonDecoder, ConfigError> {
        let names = EventNames::new(&cfg.events, "json.events")?;
        let mut root = Table::default();
        for (name, target) in default_names(cfg.ecs) {
            insert(&mut root, &split(name), Some(target));
        }
        for (name, target) in compile_field_map(&cfg.fields, "json.fields")? {
            let segs = split(&name);
            // Every split of the name is inserted (2^(n-1) spellings): keep that small.
            if segs.len() > MAX_NAME_SEGMENTS {
                return Err(ConfigError::BadValue {
                    key: format!("json.fields.\"{name}\""),
                    message: format!("more than {MAX_NAME_SEGMENTS} dotted levels"),
                });
            }
            insert(&mut root, &segs, target);
        }
        Ok(JsonDecoder { root, names })
    }

    /// True when `line` is a JSON object with a time field and an event field under any name
    /// this decoder accepts (for format auto-detection with a config).
    pub fn looks_like(&self, line: &[u8]) -> bool {
        let mut b = EventBuilder::new(&self.names);
        matches!(self.fill(line, &mut b), Ok(true)) && b.has(Field::Ts) && b.has(Field::Event)
    }

    /// Parses `line` into `b`. `Ok(false)` for a blank line.
    fn fill<'s>(&'s self, line: &[u8], b: &mut EventBuilder<'s>) -> Result<bool, ParseError> {
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        match line.iter().find(|c| !c.is_ascii_whitespace()) {
            None => return Ok(false),
            Some(b'{') => {}
            Some(_) => {
                // Valid JSON of another shape is a different complaint from garbage.
                return Err(match serde_json::from_slice::<IgnoredAny>(line) {
                    Ok(_) => ParseError::new("not_an_object"),
                    Err(e) => ParseError::with_detail("invalid_json", e.to_string()),
                });
            }
        }
        // One UTF-8 check for the whole line lets serde_json skip its check of every string.
        if let Ok(text) = std::str::from_utf8(line) {
            // Plain lines through the scanner; anything it cannot check completely through
            // serde_json, from a fresh builder.
            if scan::scan_into(&self.root, text, b).is_ok() {
                return Ok(true);
            }
            *b = EventBuilder::new(&self.names);
            return match parse_into(&self.root, text, b) {
                Ok(()) => Ok(true),
                Err(e) => Err(ParseError::with_detail("invalid_json", e.to_string())),
            };
        }
        let fixed = escape_invalid_utf8(line);
        match parse_into(&self.root, &fixed, b) {
            Ok(()) => Ok(true),
            Err(_) => {
                // Report serde_json's complaint about the original line: its column is right.
                let e = serde_json::from_slice::<IgnoredAny>(line)
                    .err()
                    .map_or_else(|| "invalid UTF-8".to_string(), |e| e.to_string());
                Err(ParseError::with_detail("invalid_json", e))
            }
        }
    }
}

impl Decoder for JsonDecoder {
    fn name(&self) -> &'static str {
        "json"
    }

    fn fork(&self) -> Option<Box<dyn Decoder>> {
        // Per line only a cache (the last time field parsed), never state: lines decode in
        // any order.
        Some(Box::new(self.clone()))
    }

    fn decode(&mut self, line: &[u8], meta: &LineMeta) -> Result<Option<AuthEvent>, ParseError> {
        let mut b = EventBuilder::new(&self.names);
        if self.fill(line, &mut b)? {
            b.finish(meta)
        } else {
            Ok(None)
        }
    }
}

/// True when `line` is a JSON object with a time field and an event field under a canonical
/// or ECS name (for format auto-detection without a config).
pub fn looks_like_json(line: &[u8]) -> bool {
    DEFAULT.as_ref().is_some_and(|d| d.looks_like(line))
}

fn split(name: &str) -> Vec<&str> {
    name.split('.').collect()
}

/// Inserts every way of writing the dotted name `segs` (nested, dotted, mixed). `target` None
/// (config `"ignore"`) removes the name.
fn insert(table: &mut Table, segs: &[&str], target: Option<Target>) {
    for i in 1..=segs.len() {
        let (head, tail) = segs.split_at(i);
        let key = head.join(".");
        if tail.is_empty() {
            match target {
                Some(_) => table.node(&key).target = target,
                None => {
                    if let Some(node) = table.get_mut(&key) {
                        node.target = None;
                    }
                }
            }
        } else {
            if target.is_none() && table.get(&key).is_none() {
                continue;
            }
            let children = table
                .node(&key)
                .children
                .get_or_insert_with(Default::default);
            insert(children, tail, target);
        }
    }
}

fn parse_into(root: &Table, line: &str, b: &mut EventBuilder<'_>) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(line);
    MapSeed { table: root, b }.deserialize(&mut de)?;
    de.end()
}

/// Rewrites invalid UTF-8 bytes as the JSON text `\\xNN`.
fn escape_invalid_utf8(line: &[u8]) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    for chunk in line.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\\\x{byte:02X}"));
        }
    }
    out
}

/// Visits an object, resolving each key against one trie level.
struct MapSeed<'t, 'b, 'n> {
    table: &'t Table,
    b: &'b mut EventBuilder<'n>,
}

impl<'de> DeserializeSeed<'de> for MapSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MapSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let MapSeed { table, b } = self;
        while let Some(node) = map.next_key_seed(KeySeed(table))? {
            match node {
                Some(node) => map.next_value_seed(ValueSeed { node, b: &mut *b })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Looks a key up without allocating, escaped or not.
struct KeySeed<'t>(&'t Table);

impl<'de, 't> DeserializeSeed<'de> for KeySeed<'t> {
    type Value = Option<&'t Node>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 't> Visitor<'de> for KeySeed<'t> {
    type Value = Option<&'t Node>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.get(v))
    }
}

/// Hands one value to the builder, or descends into an object.
struct ValueSeed<'t, 'b, 'n> {
    node: &'t Node,
    b: &'b mut EventBuilder<'n>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        if let Some(t) = self.node.target {
            self.b.set_text(t, v);
        }
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        if let Some(t) = self.node.target {
            self.b.set_bool(t, v);
        }
        Ok(())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        if let Some(t) = self.node.target {
            self.b.set_number(t, Number::U64(v));
        }
        Ok(())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        if let Some(t) = self.node.target {
            self.b.set_number(t, Number::I64(v));
        }
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        if let Some(t) = self.node.target {
            self.b.set_number(t, Number::F64(v));
        }
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        // `null` is an absent value.
        Ok(())
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        match &self.node.children {
            Some(children) => MapSeed {
                table: children,
                b: self.b,
            }
            .visit_map(map),
            None => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(())
            }
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Arrays are not a value of any canonical field (ECS `related.ip` and friends).
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AccountKey, AddressHash, EventKind, FailureReason, Outcome, SourceId};
    use crate::time::Timestamp;
    use std::net::IpAddr;

    fn meta() -> LineMeta {
        LineMeta {
            source: SourceId(1),
            line: 42,
        }
    }

    fn dec() -> JsonDecoder {
        JsonDecoder::new(&JsonConfig::default()).unwrap()
    }

    fn ok(d: &mut JsonDecoder, line: &str) -> AuthEvent {
        d.decode(line.as_bytes(), &meta())
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .unwrap_or_else(|| panic!("{line}: irrelevant"))
    }

    fn err(d: &mut JsonDecoder, line: &[u8]) -> ParseError {
        d.decode(line, &meta()).unwrap_err()
    }

    const LOGIN: &str = r#"{"ts":"2026-11-20T10:15:02.123Z","event":"login","outcome":"failure","reason":"unknown_account","account":"Alice@Example.com","ip":"203.0.113.7","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)"}"#;

    #[test]
    fn canonical_login() {
        let ev = ok(&mut dec(), LOGIN);
        assert_eq!(ev.ts.to_string(), "2026-11-20T10:15:02.123Z");
        assert_eq!(ev.kind, EventKind::Login);
        assert_eq!(ev.outcome, Outcome::Failure);
        assert_eq!(ev.reason, Some(FailureReason::UnknownAccount));
        assert_eq!(ev.account.as_ref().unwrap().as_str(), "alice@example.com");
        assert_eq!(ev.ip, Some(IpAddr::from([203, 0, 113, 7])));
        assert_eq!(
            ev.user_agent.as_deref(),
            Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
        );
        assert_eq!(ev.origin, meta());
        assert_eq!(ev.repeat, 1);
        assert!(ev.details.is_none());
    }

    #[test]
    fn every_event_kind() {
        let mut d = dec();
        for k in EventKind::ALL {
            let line = format!(
                r#"{{"ts":1763633702,"event":"{}","account":"u1","ip":"2001:db8::5"}}"#,
                k.as_str()
            );
            let ev = ok(&mut d, &line);
            assert_eq!(ev.kind, k);
            assert_eq!(ev.ts, Timestamp(1_763_633_702_000));
            assert_eq!(ev.ip, "2001:db8::5".parse().ok());
            assert_eq!(ev.outcome, Outcome::Unknown);
        }
    }

    #[test]
    fn order_and_change_fields() {
        let mut d = dec();
        let ev = ok(
            &mut d,
            r#"{"ts":"2026-11-20T19:15:02+09:00","event":"order","outcome":"success","account":"bob","ip":"198.51.100.9","order_id":"A-1001","amount":12800,"currency":"jpy","marketplace":true,"seller":"Acme","ship_to":"1-2-3 Shibuya, Tokyo"}"#,
        );
        assert_eq!(ev.ts.to_string(), "2026-11-20T10:15:02Z");
        let det = ev.details.unwrap();
        assert_eq!(det.order_id.as_deref(), Some("A-1001"));
        assert_eq!(det.amount, Some(12800.0));
        assert_eq!(det.currency.as_deref(), Some("JPY"));
        assert_eq!(det.marketplace, Some(true));
        assert_eq!(det.seller.as_deref(), Some("Acme"));
        assert_eq!(det.ship_to, AddressHash::of("1 2 3 shibuya tokyo"));

        let ev = ok(
            &mut d,
            r#"{"ts":"2026-11-20T10:15:02Z","event":"order","amount":"99.5","marketplace":"false"}"#,
        );
        let det = ev.details.unwrap();
        assert_eq!((det.amount, det.marketplace), (Some(99.5), Some(false)));

        let ev = ok(
            &mut d,
            r#"{"ts":"2026-11-20T10:15:02Z","event":"address_change","address_id":"addr-77"}"#,
        );
        assert_eq!(ev.details.unwrap().address, AddressHash::of("addr-77"));
        let ev = ok(
            &mut d,
            r#"{"ts":"2026-11-20T10:15:02Z","event":"email_change","new_email":"M@evil.example"}"#,
        );
        assert_eq!(
            ev.details.unwrap().new_email,
            AddressHash::of("m@evil.example")
        );
    }

    #[test]
    fn epoch_seconds_millis_and_offsets() {
        let mut d = dec();
        let secs = ok(&mut d, r#"{"ts":1763633702,"event":"login"}"#);
        let millis = ok(&mut d, r#"{"ts":1763633702000,"event":"login"}"#);
        let frac = ok(&mut d, r#"{"ts":1763633702.25,"event":"login"}"#);
        let text = ok(&mut d, r#"{"ts":"1763633702","event":"login"}"#);
        let offset = ok(
            &mut d,
            r#"{"ts":"2025-11-20T05:15:02-05:00","event":"login"}"#,
        );
        assert_eq!(secs.ts, Timestamp(1_763_633_702_000));
        assert_eq!(millis.ts, secs.ts);
        assert_eq!(text.ts, secs.ts);
        assert_eq!(offset.ts, secs.ts);
        assert_eq!(frac.ts, Timestamp(1_763_633_702_250));
    }

    #[test]
    fn ecs_nested_and_dotted() {
        let mut d = dec();
        let nested = r#"{"@timestamp":"2026-11-20T10:15:02.000Z","event":{"action":"user-login","outcome":"failure","category":["authentication"],"reason":"bad_password"},"source":{"ip":"2001:db8::1","port":50412},"user":{"name":"Carol","email":"carol@example.com"},"user_agent":{"original":"curl/8.5"},"log":{"level":"info"}}"#;
        let dotted = r#"{"@timestamp":"2026-11-20T10:15:02.000Z","event.action":"user-login","event.outcome":"failure","event.reason":"bad_password","source.ip":"2001:db8::1","user.name":"Carol","user.email":"carol@example.com","user_agent.original":"curl/8.5"}"#;
        let mixed = r#"{"@timestamp":"2026-11-20T10:15:02.000Z","event":{"action":"user-login"},"event.outcome":"failure","event":{"reason":"bad_password"},"source":{"ip":"2001:db8::1"},"user.email":"carol@example.com","user":{"name":"Carol"},"user_agent.original":"curl/8.5"}"#;
        for line in [nested, dotted, mixed] {
            let ev = ok(&mut d, line);
            assert_eq!(ev.kind, EventKind::Login, "{line}");
            assert_eq!(ev.outcome, Outcome::Failure, "{line}");
            assert_eq!(ev.reason, Some(FailureReason::BadPassword), "{line}");
            assert_eq!(ev.ip, "2001:db8::1".parse().ok(), "{line}");
            // user.name beats user.email whatever the key order.
            assert_eq!(ev.account, AccountKey::normalize("carol"), "{line}");
            assert_eq!(ev.user_agent.as_deref(), Some("curl/8.5"), "{line}");
            assert_eq!(ev.ts.to_string(), "2026-11-20T10:15:02Z");
        }
        // client.ip when there is no source.ip.
        let ev = ok(
            &mut d,
            r#"{"@timestamp":"2026-11-20T10:15:02Z","event":{"action":"logged-out"},"client":{"ip":"192.0.2.1"}}"#,
        );
        assert_eq!(ev.kind, EventKind::Logout);
        assert_eq!(ev.ip, Some(IpAddr::from([192, 0, 2, 1])));
    }

    #[test]
    fn ecs_can_be_switched_off() {
        let cfg = JsonConfig {
            ecs: false,
            ..JsonConfig::default()
        };
        let mut d = JsonDecoder::new(&cfg).unwrap();
        let e = err(
            &mut d,
            br#"{"@timestamp":"2026-11-20T10:15:02Z","event":{"action":"login"}}"#,
        );
        assert_eq!(e.reason, "missing_event");
    }

    #[test]
    fn config_renames_and_event_mapping() {
        let mut cfg = JsonConfig::default();
        cfg.fields.insert("time".into(), "ts".into());
        cfg.fields.insert("type".into(), "event".into());
        cfg.fields.insert("actor.login".into(), "account".into());
        cfg.fields.insert("req.remote.addr".into(), "ip".into());
        cfg.fields.insert("user.name".into(), "ignore".into());
        cfg.events.insert("UserSignedIn".into(), "login".into());
        cfg.events.insert("SignInFailed".into(), "login".into());
        cfg.events.insert("Heartbeat".into(), "ignore".into());
        let mut d = JsonDecoder::new(&cfg).unwrap();
        let ev = ok(
            &mut d,
            r#"{"time":"2026-11-20T10:15:02Z","type":"UserSignedIn","actor":{"login":"Dave"},"user":{"name":"not-this"},"req":{"remote.addr":"192.0.2.44:6000"},"outcome":"ok"}"#,
        );
        assert_eq!(ev.kind, EventKind::Login);
        assert_eq!(ev.outcome, Outcome::Success);
        assert_eq!(ev.account, AccountKey::normalize("dave"));
        assert_eq!(ev.ip, Some(IpAddr::from([192, 0, 2, 44])));
        // user.name is ignored now, so it is no account.
        let ev = ok(
            &mut d,
            r#"{"time":"2026-11-20T10:15:02Z","type":"signinfailed","user.name":"x"}"#,
        );
        assert_eq!(ev.account, None);
        assert_eq!(
            d.decode(br#"{"time":1,"type":"Heartbeat"}"#, &meta()),
            Ok(None)
        );
        assert_eq!(
            d.decode(br#"{"time":1,"type":"page_view"}"#, &meta()),
            Ok(None)
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let mut cfg = JsonConfig::default();
        cfg.fields.insert("user.mail".into(), "acount".into());
        let e = JsonDecoder::new(&cfg).unwrap_err().to_string();
        assert!(e.contains("json.fields.\"user.mail\""), "{e}");
        let mut cfg = JsonConfig::default();
        cfg.fields.insert("a.b.c.d.e.f.g.h.i".into(), "ip".into());
        let e = JsonDecoder::new(&cfg).unwrap_err().to_string();
        assert!(e.contains("dotted levels"), "{e}");
        let mut cfg = JsonConfig::default();
        cfg.fields.insert("a.b.c.d.e.f.g.h".into(), "ip".into());
        let mut d = JsonDecoder::new(&cfg).unwrap();
        let ev = ok(
            &mut d,
            r#"{"ts":1763633702,"event":"login","a":{"b.c":{"d":{"e.f.g":{"h":"192.0.2.8"}}}}}"#,
        );
        assert_eq!(ev.ip, Some(IpAddr::from([192, 0, 2, 8])));
        let mut cfg = JsonConfig::default();
        cfg.events.insert("SignIn".into(), "log_in".into());
        let e = JsonDecoder::new(&cfg).unwrap_err().to_string();
        assert!(e.contains("json.events.\"SignIn\""), "{e}");
    }

    #[test]
    fn config_deserializes_from_toml() {
        let cfg: JsonConfig = toml::from_str(
            r#"
            ecs = false
            [fields]
            "user.email" = "account"
            [events]
            "UserLoggedIn" = "login"
            "#,
        )
        .unwrap();
        assert!(!cfg.ecs);
        assert_eq!(cfg.fields["user.email"], "account");
        assert!(toml::from_str::<JsonConfig>("ecss = true").is_err());
        assert!(toml::from_str::<JsonConfig>("").unwrap().ecs);
    }

    #[test]
    fn escaped_strings() {
        let mut d = dec();
        let ev = ok(
            &mut d,
            r#"{"t\u0073":"2026-11-20T10:15:02Z","event":"log\u0069n","account":"\u00c9lodie \"the\" admin","user_agent":"a\\b\/c\tq"}"#,
        );
        assert_eq!(ev.kind, EventKind::Login);
        assert_eq!(ev.account.unwrap().as_str(), "élodie \"the\" admin");
        assert_eq!(ev.user_agent.as_deref(), Some("a\\b/c\tq"));
    }

    #[test]
    fn shift_jis_account_is_kept_losslessly() {
        let mut d = dec();
        let mut line = br#"{"ts":"2026-11-20T10:15:02Z","event":"login","account":""#.to_vec();
        line.extend_from_slice(b"\x93\x63\x92\x86");
        line.extend_from_slice(br#"","ip":"192.0.2.1"}"#);
        let ev = d.decode(&line, &meta()).unwrap().unwrap();
        assert_eq!(ev.account, AccountKey::normalize_bytes(b"\x93\x63\x92\x86"));
        assert_eq!(ev.account.unwrap().as_str(), "\\x93c\\x92\\x86");
        assert_eq!(ev.ip, Some(IpAddr::from([192, 0, 2, 1])));
        // Invalid bytes outside a string are still invalid JSON.
        let e = err(&mut d, b"{\"ts\":1763633702,\x93\"event\":\"login\"}");
        assert_eq!(e.reason, "invalid_json");
    }

    #[test]
    fn rejections() {
        let mut d = dec();
        let truncated = &LOGIN.as_bytes()[..LOGIN.len() - 20];
        let e = err(&mut d, truncated);
        assert_eq!(e.reason, "invalid_json");
        assert!(e.detail.as_deref().unwrap().contains("EOF"), "{e}");
        assert_eq!(err(&mut d, b"\x00\xff garbage \x01").reason, "invalid_json");
        assert_eq!(err(&mut d, b"{not json}").reason, "invalid_json");
        assert_eq!(err(&mut d, br#"{"ts":1} trailing"#).reason, "invalid_json");
        assert_eq!(err(&mut d, br#"[1,2,3]"#).reason, "not_an_object");
        assert_eq!(err(&mut d, br#""login""#).reason, "not_an_object");
        assert_eq!(err(&mut d, b"42").reason, "not_an_object");
        assert_eq!(
            err(&mut d, br#"{"ts":"2026-11-20T10:15:02Z"}"#).reason,
            "missing_event"
        );
        assert_eq!(
            err(&mut d, br#"{"event":"login"}"#).reason,
            "missing_timestamp"
        );
        let e = err(&mut d, br#"{"ts":"20/Nov/2026","event":"login"}"#);
        assert_eq!(
            (e.reason, e.detail.as_deref()),
            ("bad_timestamp", Some("\"20/Nov/2026\""))
        );
        assert_eq!(
            err(
                &mut d,
                br#"{"ts":1763633702,"event":"login","ip":"999.1.1.1"}"#
            )
            .reason,
            "bad_ip"
        );
        // An object where a scalar belongs is skipped, like any unknown field.
        let ev = ok(&mut d, r#"{"ts":1763633702,"event":"login","ip":{"v":1}}"#);
        assert_eq!(ev.ip, None);
        // Deeply nested unknown fields are skipped without recursion (no stack overflow);
        // only names in the trie are descended into, so recursion depth is bounded by it.
        let deep = format!(
            "{{\"ts\":1763633702,\"event\":\"login\",\"a\":{}1{}}}",
            "[{\"b\":".repeat(50_000),
            "}]".repeat(50_000)
        );
        assert_eq!(ok(&mut d, &deep).kind, EventKind::Login);
        let unbalanced = format!("{{\"event\":{}", "{\"event\":".repeat(100_000));
        assert_eq!(err(&mut d, unbalanced.as_bytes()).reason, "invalid_json");
    }

    #[test]
    fn blank_lines_bom_and_crlf() {
        let mut d = dec();
        assert_eq!(d.decode(b"", &meta()), Ok(None));
        assert_eq!(d.decode(b"  \t\r", &meta()), Ok(None));
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(LOGIN.as_bytes());
        bom.push(b'\r');
        assert_eq!(
            d.decode(&bom, &meta()).unwrap().unwrap().kind,
            EventKind::Login
        );
    }

    #[test]
    fn nulls_arrays_and_odd_types() {
        let mut d = dec();
        let ev = ok(
            &mut d,
            r#"{"ts":"2026-11-20T10:15:02Z","event":"login","ip":null,"account":12345,"user_agent":["x"],"outcome":true,"extra":{"deep":{"er":[1,{"a":null}]}}}"#,
        );
        assert_eq!(ev.ip, None);
        assert_eq!(ev.account.unwrap().as_str(), "12345");
        assert_eq!(ev.user_agent, None);
        assert_eq!(ev.outcome, Outcome::Success);
    }

    #[test]
    fn megabyte_line() {
        let mut d = dec();
        let ua = "A".repeat(1 << 20);
        let line = format!(
            r#"{{"ts":"2026-11-20T10:15:02Z","event":"login","user_agent":"{ua}","junk":"{ua}","account":"eve"}}"#
        );
        let ev = ok(&mut d, &line);
        assert_eq!(ev.user_agent.as_deref().map(str::len), Some(1024));
        assert_eq!(ev.account, AccountKey::normalize("eve"));
    }

    #[test]
    fn detection() {
        assert!(looks_like_json(LOGIN.as_bytes()));
        assert!(looks_like_json(
            br#"{"@timestamp":"2026-11-20T10:15:02Z","event":{"action":"whatever"}}"#
        ));
        assert!(looks_like_json(
            br#"{"event.action":"x","timestamp":"bad"}"#
        ));
        assert!(!looks_like_json(
            br#"{"ts":"2026-11-20T10:15:02Z","msg":"hi"}"#
        ));
        assert!(!looks_like_json(b"ts,event,account"));
        assert!(!looks_like_json(
            b"203.0.113.7 - - [10/Oct/2026:13:55:36 +0900] \"POST /login HTTP/1.1\" 401 0"
        ));
        assert!(!looks_like_json(br#"[{"ts":1,"event":"login"}]"#));
        let mut cfg = JsonConfig::default();
        cfg.fields.insert("time".into(), "ts".into());
        cfg.fields.insert("kind".into(), "event".into());
        let d = JsonDecoder::new(&cfg).unwrap();
        assert!(d.looks_like(br#"{"time":1,"kind":"x"}"#));
        assert!(!looks_like_json(br#"{"time":1,"kind":"x"}"#));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            // About a fifth of the generated lines are plain enough for the scanner: enough
            // cases that a few hundred of them are compared with serde_json on every run.
            #![proptest_config(ProptestConfig::with_cases(1024))]

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let mut d = dec();
                let _ = d.decode(&bytes, &meta());
                let _ = looks_like_json(&bytes);
            }

            #[test]
            fn mutated_lines_never_panic(
                idx in 0usize..3,
                edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
            ) {
                let base = [
                    LOGIN,
                    r#"{"@timestamp":"2026-11-20T10:15:02Z","event":{"action":"user-login","outcome":"success"},"source":{"ip":"[2001:db8::1]:80"},"user":{"name":"x"}}"#,
                    r#"{"ts":1763633702123,"event":"order","amount":"12.5","marketplace":1,"ship_to":"a","currency":"eur"}"#,
                ][idx];
                let mut line = base.as_bytes().to_vec();
                for (pos, byte, op) in edits {
                    let at = pos % (line.len() + 1);
                    match op {
                        0 => line.insert(at, byte),
                        1 if at < line.len() => { line.remove(at); }
                        _ if at < line.len() => line[at] = byte,
                        _ => {}
                    }
                }
                let mut d = dec();
                let _ = d.decode(&line, &meta());
                // The fast path never accepts what serde_json rejects, nor reads it otherwise.
                if let Ok(text) = std::str::from_utf8(&line) {
                    same_as_serde(&d, text);
                }
            }

            #[test]
            fn the_scanner_reads_what_serde_json_reads(
                members in proptest::collection::vec((key(), value()), 0..12),
                ws in proptest::collection::vec(prop_oneof![Just(""), Just(" "), Just("\t"), Just("\r\n ")], 4),
                edits in prop_oneof![
                    3 => Just(Vec::new()),
                    1 => proptest::collection::vec((any::<usize>(), proptest::sample::select(br#"{}[]":,\ -.0e1tnfu\x01"#.to_vec()), 0u8..3), 1..3),
                ],
            ) {
                let mut line = format!("{}{{", ws[0]);
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        line.push_str(ws[1]);
                        line.push(',');
                    }
                    line.push_str(&format!("{}{k}{}:{}{v}", ws[2], ws[3], ws[1]));
                }
                line.push_str(&format!("{}}}{}", ws[3], ws[0]));
                let mut bytes = line.into_bytes();
                for (pos, byte, op) in edits {
                    let at = pos % (bytes.len() + 1);
                    match op {
                        0 => bytes.insert(at, byte),
                        1 if at < bytes.len() => { bytes.remove(at); }
                        _ if at < bytes.len() => bytes[at] = byte,
                        _ => {}
                    }
                }
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    same_as_serde(&dec(), text);
                }
            }
        }

        /// When the scanner takes `line`, serde_json takes it too and the event (or its
        /// rejection) is the same. Returns whether the scanner took it.
        fn same_as_serde(d: &JsonDecoder, line: &str) -> bool {
            let mut fast = EventBuilder::new(&d.names);
            if scan::scan_into(&d.root, line, &mut fast).is_err() {
                return false;
            }
            let mut full = EventBuilder::new(&d.names);
            let parsed = parse_into(&d.root, line, &mut full);
            assert!(
                parsed.is_ok(),
                "scanner took {line:?}, serde_json said {parsed:?}"
            );
            let (a, b) = (fast.finish(&meta()), full.finish(&meta()));
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{line}");
            true
        }

        /// Keys: accepted names (canonical, ECS, dotted), unknown ones, and a few escaped.
        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                12 => proptest::sample::select(vec![
                    "ts", "event", "outcome", "reason", "account", "ip", "user_agent", "amount",
                    "currency", "marketplace", "seller", "ship_to", "order_id", "@timestamp",
                    "event.action", "event.outcome", "user.name", "user.email", "source",
                    "user", "source.ip", "user_agent.original", "log", "x", "", "évent",
                ])
                .prop_map(|k| format!("\"{k}\"")),
                1 => Just(r#""t\u0073""#.to_string()),
                1 => Just(r#""acc\"ount""#.to_string()),
            ]
        }

        fn scalar() -> impl Strategy<Value = String> {
            prop_oneof![
                8 => proptest::sample::select(vec![
                    r#""2026-11-20T10:15:02.123Z""#, r#""login""#, r#""failure""#,
                    r#""success""#, r#""order""#, r#""bad_password""#, r#""Alice@Example.com""#,
                    r#""203.0.113.7""#, r#""2001:db8::1""#, r#""""#, r#""  ""#, r#""-""#,
                    r#""Mozilla/5.0 (X11; Linux x86_64)""#, r#""12.5""#, r#""Élodie 山田""#,
                    "0", "-0", "1", "-1", "12.5", "1e3", "-2.5E-3", "1763633702123",
                    "1763633702.123", "18446744073709551615", "18446744073709551616",
                    "-9223372036854775808", "-9223372036854775809", "true", "false", "null",
                ])
                .prop_map(str::to_string),
                // Escapes, control characters and tokens JSON does not allow.
                1 => proptest::sample::select(vec![
                    r#""a\"b""#, r#""\u00e9""#, r#""tab\there""#, "\"ctl\u{1}\"", "01", "1.",
                    ".5", "+1", "tru", "nul", "1e", "-",
                ])
                .prop_map(str::to_string),
                4 => "[a-z0-9 @.:/-]{0,24}".prop_map(|t| format!("\"{t}\"")),
                2 => any::<i64>().prop_map(|n| n.to_string()),
                2 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:e}")),
            ]
        }

        /// Values: scalars, arrays, and objects of accepted or unknown names, a few levels deep.
        fn value() -> impl Strategy<Value = String> {
            scalar().prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4)
                        .prop_map(|v| format!("[{}]", v.join(","))),
                    proptest::collection::vec((key(), inner), 0..4).prop_map(|m| {
                        let body: Vec<String> =
                            m.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                        format!("{{{}}}", body.join(","))
                    }),
                ]
            })
        }
    }

    /// The scanner takes the plain lines of real logs (so the property above is not vacuous)
    /// and leaves escapes, deep nesting and broken lines to serde_json.
    #[test]
    fn the_scanner_takes_plain_lines_and_bails_on_the_rest() {
        let d = dec();
        let took = |line: &str| {
            let mut b = EventBuilder::new(&d.names);
            scan::scan_into(&d.root, line, &mut b).is_ok()
        };
        for line in [
            LOGIN,
            r#"{"@timestamp":"2026-11-20T10:15:02Z","event":{"action":"user-login","outcome":"success","category":["authentication"]},"source":{"ip":"2001:db8::1","port":50412},"user":{"name":"x"},"log":{"level":"info"}}"#,
            r#"{"ts":1763633702123,"event":"order","amount":12.5,"marketplace":true,"ship_to":"a","currency":"eur","extra":null}"#,
            " { } ",
        ] {
            assert!(took(line), "{line}");
        }
        let deep = format!("{{\"x\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        for line in [
            r#"{"ts":"2026-11-20T10:15:02Z","account":"a\"b"}"#,
            r#"{"t\u0073":1}"#,
            deep.as_str(),
            r#"{"ts":1,}"#,
            r#"{"ts":01}"#,
            r#"{"ts":1} x"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":tru}"#,
        ] {
            assert!(!took(line), "{line}");
        }
        // Bailing costs nothing but time: the full parser decides.
        let mut d = dec();
        let ev = d
            .decode(
                br#"{"ts":"2026-11-20T10:15:02Z","event":"login","account":"a\"b"}"#,
                &meta(),
            )
            .unwrap()
            .unwrap();
        assert_eq!(ev.account.unwrap().as_str(), "a\"b");
    }
}
