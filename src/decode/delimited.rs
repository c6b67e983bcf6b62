//! CSV and TSV exports with a header row (`events.md` §4).
//!
//! Columns are matched to canonical fields by header name, case-insensitively after trimming:
//! the canonical names, the Elastic Common Schema dotted names (`@timestamp`, `event.action`,
//! `source.ip`, `user.name`, …: see [`super::fields::default_names`]) and `timestamp`, plus the
//! config renames, which win. Values mean what they mean in JSON lines (one shared builder,
//! [`super::fields::EventBuilder`]); an empty cell is an absent value.
//!
//! Records are read with `csv_core` (the engine of the `csv` crate) into buffers reused from
//! one line to the next: no allocation per record. RFC 4180 quoting: `"a, b"`, `"say ""hi"""`.
//! A quoted field that continues on the next line is completed with that line: the decoder
//! returns `Ok(None)` for the first part and keeps its state. A record may span at most
//! [`MAX_RECORD_LINES`] lines and [`MAX_RECORD_BYTES`] bytes; past that the open quote is
//! reported as `csv_unterminated_quote` (naming the lines it swallowed) and reading starts
//! again on the next line. At end of input, [`CsvDecoder::flush`] reports a record left open.
//!
//! The module is named `delimited` so that it does not shadow the `csv` crate inside this
//! crate.

use std::collections::BTreeMap;

use csv_core::{ReadRecordResult, Reader, ReaderBuilder, Terminator};

use super::Decoder;
use super::fields::{EventBuilder, EventNames, Field, Target, compile_field_map, default_names};
use crate::error::{ConfigError, ParseError};
use crate::event::{AuthEvent, LineMeta};

/// Most lines one record (a quoted field with line breaks) may span.
pub const MAX_RECORD_LINES: u64 = 100;

/// Most bytes one record may hold. A single line this long still decodes.
pub const MAX_RECORD_BYTES: usize = 4 << 20;

/// Most fields in one record.
const MAX_FIELDS: usize = 4096;

/// Delimiters tried by auto-detection, most specific first.
const CANDIDATE_DELIMITERS: [u8; 4] = [b'\t', b',', b';', b'|'];

/// The `[csv]` config section (used for TSV too).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvConfig {
    /// Column renames: header name (any case) → canonical field name (`ts`, `event`,
    /// `outcome`, `reason`, `account`, `ip`, `user_agent`, `order_id`, `amount`, `currency`,
    /// `marketplace`, `seller`, `ship_to`, `address`, `address_id`, `new_email`) or `"ignore"`
    /// to stop reading a column accepted by default. Renamed columns win over default names.
    pub columns: BTreeMap<String, String>,
    /// Event-name mapping: source event name → canonical event name or `"ignore"`; the same
    /// rules as `[json.events]` (its own table, the same type).
    pub events: BTreeMap<String, String>,
    /// Accept Elastic Common Schema column names (`@timestamp`, `event.action`, `source.ip`,
    /// `user.name`, …).
    pub ecs: bool,
    /// The field delimiter, one ASCII character (`","`, `"\t"`, `";"`). Unset: `,` for `csv`,
    /// tab for `tsv`, or detected from the header line.
    pub delimiter: Option<String>,
    /// Whether the first line is a header. When false, `header` names the columns.
    pub has_header: bool,
    /// Column names for files without a header row (only with `has_header = false`).
    pub header: Vec<String>,
}

impl Default for CsvConfig {
    fn default() -> CsvConfig {
        CsvConfig {
            columns: BTreeMap::new(),
            events: BTreeMap::new(),
            ecs: true,
            delimiter: None,
            has_header: true,
            header: Vec::new(),
        }
    }
}

impl CsvConfig {
    /// The configured delimiter as a byte, if any; an error unless it is one ASCII character.
    pub fn delimiter_byte(&self) -> Result<Option<u8>, ConfigError> {
        match self.delimiter.as_deref() {
            None => Ok(None),
            Some(d) => match d.as_bytes() {
                [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Ok(Some(*b)),
                _ => Err(ConfigError::BadValue {
                    key: "csv.delimiter".to_string(),
                    message: format!("{d:?} is not one ASCII character other than a quote"),
                }),
            },
        }
    }
}

/// Header name (lower case) → target.
type Lookup = foldhash::HashMap<Box<str>, Option<Target>>;

fn build_lookup(cfg: &CsvConfig) -> Result<Lookup, ConfigError> {
    let mut lookup = Lookup::default();
    for (name, target) in default_names(cfg.ecs) {
        lookup.insert(name.into(), Some(target));
    }
    // Lower-cased header name → (name as configured, target), to catch case-only clashes.
    let mut seen: BTreeMap<String, (String, Option<Target>)> = BTreeMap::new();
    for (name, target) in compile_field_map(&cfg.columns, "csv.columns")? {
        let key = name.trim().to_lowercase();
        if let Some((other, t)) = seen.get(&key)
            && *t != target
        {
            return Err(ConfigError::BadValue {
                key: format!("csv.columns.\"{name}\""),
                message: format!("clashes with column \"{other}\" (header names ignore case)"),
            });
        }
        lookup.insert(key.as_str().into(), target);
        seen.insert(key, (name, target));
    }
    Ok(lookup)
}

/// Maps header names to columns; `Err` names the missing time and event columns.
fn map_header<'a>(
    lookup: &Lookup,
    names: impl Iterator<Item = &'a [u8]>,
) -> (Vec<Option<Target>>, Result<(), String>) {
    let cols: Vec<Option<Target>> = names
        .map(|n| {
            let n = String::from_utf8_lossy(n);
            lookup
                .get(n.trim().to_lowercase().as_str())
                .copied()
                .flatten()
        })
        .collect();
    let has = |f: Field| cols.iter().flatten().any(|t| t.field == f);
    let mut missing = Vec::new();
    if !has(Field::Ts) {
        missing.push("no time column (ts, @timestamp, timestamp, or one mapped to ts)");
    }
    if !has(Field::Event) {
        missing.push("no event column (event, event.action, or one mapped to event)");
    }
    let check = if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join("; "))
    };
    (cols, check)
}

/// Decodes CSV or TSV records (format name `csv` or `tsv`).
#[derive(Debug)]
pub struct CsvDecoder {
    name: &'static str,
    reader: Reader,
    lookup: Lookup,
    names: EventNames,
    /// Column targets once the header is known.
    columns: Option<Vec<Option<Target>>>,
    /// Why the header is unusable (every later record is rejected with it).
    header_error: Option<String>,
    /// Record output buffer and field ends, reused.
    out: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
    /// First line of a record still open (inside a quoted field), if any.
    open_since: Option<u64>,
}

impl CsvDecoder {
    /// Builds the decoder for `delimiter` (resolved by the caller: the config's
    /// [`CsvConfig::delimiter_byte`], else `,` for csv and tab for tsv, or
    /// [`looks_like_csv`] on the first line). Unknown canonical names in `columns` or `events`,
    /// a bad `delimiter` or a `header` without time and event columns are a
    /// [`ConfigError::BadValue`] naming the key.
    pub fn new(cfg: &CsvConfig, delimiter: u8) -> Result<CsvDecoder, ConfigError> {
        cfg.delimiter_byte()?;
        if matches!(delimiter, b'"' | b'\n' | b'\r') || !delimiter.is_ascii() {
            return Err(ConfigError::BadValue {
                key: "csv.delimiter".to_string(),
                message: format!("{:?} cannot be a delimiter", delimiter as char),
            });
        }
        let names = EventNames::new(&cfg.events, "csv.events")?;
        let lookup = build_lookup(cfg)?;
        let columns = if cfg.has_header {
            if !cfg.header.is_empty() {
                return Err(ConfigError::BadValue {
                    key: "csv.header".to_string(),
                    message: "only used with has_header = false".to_string(),
                });
            }
            None
        } else {
            let (cols, check) = map_header(&lookup, cfg.header.iter().map(|s| s.as_bytes()));
            if let Err(m) = check {
                return Err(ConfigError::BadValue {
                    key: "csv.header".to_string(),
                    message: m,
                });
            }
            Some(cols)
        };
        Ok(CsvDecoder {
            name: if delimiter == b'\t' { "tsv" } else { "csv" },
            reader: make_reader(delimiter),
            lookup,
            names,
            columns,
            header_error: None,
            out: vec![0; 1024],
            ends: vec![0; 32],
            out_len: 0,
            ends_len: 0,
            open_since: None,
        })
    }

    /// Ends the input: a record still open (an unterminated quoted field at end of file) is
    /// reported as `csv_unterminated_quote`; otherwise `Ok(None)`.
    pub fn flush(&mut self, meta: &LineMeta) -> Result<Option<AuthEvent>, ParseError> {
        match self.open_since.take() {
            None => Ok(None),
            Some(start) => {
                self.reset();
                Err(ParseError::with_detail(
                    "csv_unterminated_quote",
                    format!(
                        "quoted field opened on line {start} still open at end of input (line {})",
                        meta.line
                    ),
                ))
            }
        }
    }

    fn reset(&mut self) {
        self.reader.reset();
        self.out_len = 0;
        self.ends_len = 0;
        self.open_since = None;
    }

    /// Feeds bytes to the record reader.
    fn feed(&mut self, mut input: &[u8]) -> Feed {
        while !input.is_empty() {
            if self.out_len >= self.out.len() {
                if self.out.len() >= MAX_RECORD_BYTES {
                    return Feed::TooBig;
                }
                let n = (self.out.len() * 2).min(MAX_RECORD_BYTES);
                self.out.resize(n, 0);
            }
            if self.ends_len >= self.ends.len() {
                if self.ends.len() >= MAX_FIELDS {
                    return Feed::TooBig;
                }
                let n = (self.ends.len() * 2).min(MAX_FIELDS);
                self.ends.resize(n, 0);
            }
            let (Some(out), Some(ends)) = (
                self.out.get_mut(self.out_len..),
                self.ends.get_mut(self.ends_len..),
            ) else {
                return Feed::TooBig;
            };
            let (res, nin, nout, nend) = self.reader.read_record(input, out, ends);
            input = input.get(nin..).unwrap_or_default();
            self.out_len += nout;
            self.ends_len += nend;
            match res {
                ReadRecordResult::Record => {
                    return if input.is_empty() {
                        Feed::Record
                    } else {
                        Feed::EarlyEnd
                    };
                }
                ReadRecordResult::End => return Feed::More,
                ReadRecordResult::InputEmpty
                | ReadRecordResult::OutputFull
                | ReadRecordResult::OutputEndsFull => {}
            }
        }
        Feed::More
    }

    /// The fields of the record in the buffers.
    fn fields(&self) -> impl Iterator<Item = &[u8]> {
        let out = self.out.get(..self.out_len).unwrap_or_default();
        self.ends
            .get(..self.ends_len)
            .unwrap_or_default()
            .iter()
            .scan(0usize, move |start, &end| {
                let f = out.get(*start..end).unwrap_or_default();
                *start = end;
                Some(f)
            })
    }

    /// Processes a complete record in the buffers.
    fn record(&mut self, meta: &LineMeta) -> Result<Option<AuthEvent>, ParseError> {
        let n_fields = self.ends_len;
        let Some(columns) = &self.columns else {
            let (cols, check) = map_header(&self.lookup, self.fields());
            self.columns = Some(cols);
            return match check {
                Ok(()) => Ok(None),
                Err(m) => {
                    let detail = format!("header on line {}: {m}", meta.line);
                    self.header_error = Some(detail.clone());
                    Err(ParseError::with_detail(
                        "csv_header_missing_columns",
                        detail,
                    ))
                }
            };
        };
        if let Some(e) = &self.header_error {
            return Err(ParseError::with_detail(
                "csv_header_missing_columns",
                e.clone(),
            ));
        }
        if n_fields != columns.len() {
            return Err(ParseError::with_detail(
                "csv_field_count",
                format!("expected {} fields, found {n_fields}", columns.len()),
            ));
        }
        let out = self.out.get(..self.out_len).unwrap_or_default();
        let ends = self.ends.get(..self.ends_len).unwrap_or_default();
        // One UTF-8 check per record rather than per cell. A cell boundary inside a character
        // (only possible when the cells themselves are invalid) falls back to the byte path.
        let text = std::str::from_utf8(out).ok();
        let mut b = EventBuilder::new(&self.names);
        let mut start = 0;
        for (col, &end) in columns.iter().zip(ends) {
            if let Some(t) = *col {
                match text.and_then(|s| s.get(start..end)) {
                    Some(v) => b.set_text(t, v),
                    None => b.set_bytes(t, out.get(start..end).unwrap_or_default()),
                }
            }
            start = end;
        }
        b.finish(meta)
    }
}

enum Feed {
    /// A record ended exactly at the end of the input.
    Record,
    /// A record ended before the end of the input (a raw line break inside the line).
    EarlyEnd,
    /// The record continues.
    More,
    /// Over [`MAX_RECORD_BYTES`] or [`MAX_FIELDS`].
    TooBig,
}

fn make_reader(delimiter: u8) -> Reader {
    // Only `\n` ends a record: the caller strips one trailing `\r`, and a stray `\r` inside a
    // line is data rather than a second record.
    ReaderBuilder::new()
        .delimiter(delimiter)
        .terminator(Terminator::Any(b'\n'))
        .build()
}

impl Decoder for CsvDecoder {
    fn name(&self) -> &'static str {
        self.name
    }

    fn finish(&mut self, meta: &LineMeta) -> Result<Option<AuthEvent>, ParseError> {
        self.flush(meta)
    }

    fn decode(&mut self, line: &[u8], meta: &LineMeta) -> Result<Option<AuthEvent>, ParseError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let start = match self.open_since {
            Some(start) => start,
            None => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                meta.line
            }
        };
        let mut step = self.feed(line);
        if matches!(step, Feed::More) {
            step = self.feed(b"\n");
        }
        match step {
            Feed::Record => {
                let r = self.record(meta);
                self.reset();
                r
            }
            Feed::More => {
                let lines = meta.line.saturating_sub(start) + 1;
                if lines >= MAX_RECORD_LINES {
                    self.reset();
                    return Err(ParseError::with_detail(
                        "csv_unterminated_quote",
                        format!(
                            "quoted field opened on line {start} not closed after {lines} lines; \
                             lines {start}-{} skipped",
                            meta.line
                        ),
                    ));
                }
                self.open_since = Some(start);
                Ok(None)
            }
            Feed::EarlyEnd => {
                self.reset();
                Err(ParseError::new("csv_embedded_newline"))
            }
            Feed::TooBig => {
                self.reset();
                Err(ParseError::with_detail(
                    "csv_record_too_long",
                    format!(
                        "record from line {start} exceeds {MAX_RECORD_BYTES} bytes or \
                         {MAX_FIELDS} fields"
                    ),
                ))
            }
        }
    }
}

/// The delimiter of `first_line` when it is a header with a time column and an event column
/// under canonical or ECS names (for format auto-detection without a config).
pub fn looks_like_csv(first_line: &[u8]) -> Option<u8> {
    detect_delimiter(&CsvConfig::default(), first_line)
}

/// Like [`looks_like_csv`], also accepting the column names renamed in `cfg`. A configured
/// delimiter is the only one tried.
pub fn detect_delimiter(cfg: &CsvConfig, first_line: &[u8]) -> Option<u8> {
    let lookup = build_lookup(cfg).ok()?;
    let line = first_line
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(first_line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let candidates: Vec<u8> = match cfg.delimiter_byte() {
        Ok(Some(d)) => vec![d],
        Ok(None) => CANDIDATE_DELIMITERS.to_vec(),
        Err(_) => return None,
    };
    candidates.into_iter().find(|&d| {
        if !line.contains(&d) {
            return false;
        }
        let Ok(mut dec) = CsvDecoder::new(cfg, d) else {
            return false;
        };
        if !matches!(dec.feed(line), Feed::More) || !matches!(dec.feed(b"\n"), Feed::Record) {
            return false;
        }
        map_header(&lookup, dec.fields()).1.is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AccountKey, AddressHash, EventKind, FailureReason, Outcome, SourceId};
    use crate::time::Timestamp;
    use std::net::IpAddr;

    fn m(line: u64) -> LineMeta {
        LineMeta {
            source: SourceId(3),
            line,
        }
    }

    /// Feeds lines from line 1; returns every result.
    fn run(d: &mut CsvDecoder, lines: &[&[u8]]) -> Vec<Result<Option<AuthEvent>, ParseError>> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| d.decode(l, &m(i as u64 + 1)))
            .collect()
    }

    fn csv() -> CsvDecoder {
        CsvDecoder::new(&CsvConfig::default(), b',').unwrap()
    }

    const HEADER: &[u8] =
        b"ts,event,outcome,reason,account,ip,user_agent,order_id,amount,currency,marketplace,seller,ship_to,address_id,new_email";

    #[test]
    fn canonical_rows_every_kind() {
        let mut d = csv();
        assert_eq!(d.name(), "csv");
        assert_eq!(d.decode(HEADER, &m(1)), Ok(None));
        for (i, k) in EventKind::ALL.into_iter().enumerate() {
            let line = format!("1763633702,{},,,user{i},192.0.2.{i},,,,,,,,,", k.as_str());
            let ev = d
                .decode(line.as_bytes(), &m(i as u64 + 2))
                .unwrap()
                .unwrap();
            assert_eq!(ev.kind, k);
            assert_eq!(ev.ts, Timestamp(1_763_633_702_000));
            assert_eq!(ev.account.unwrap().as_str(), format!("user{i}"));
            assert_eq!(ev.ip, Some(IpAddr::from([192, 0, 2, i as u8])));
            assert_eq!(ev.origin, m(i as u64 + 2));
            assert!(ev.details.is_none());
        }
    }

    #[test]
    fn all_field_types_and_quotes() {
        let mut d = csv();
        let r = run(
            &mut d,
            &[
                HEADER,
                br#"2026-11-20T19:15:02.5+09:00,order,success,,"Smith, Bob",2001:db8::9,"Mozilla/5.0 (X11; Linux x86_64) ""quoted""",A-1,"12,800.5"x,jpy,true,Acme,"1-2-3 Shibuya, Tokyo",,"#,
                br#"2026-11-20T19:15:02.5+09:00,order,success,,"Smith, Bob",2001:db8::9,"Mozilla/5.0 (X11; Linux x86_64) ""quoted""",A-1,12800.5,jpy,true,Acme,"1-2-3 Shibuya, Tokyo",,"#,
                b"2026-11-20T10:15:02Z,login,failure,invalid_user,ghost,[2001:db8::1]:443,,,,,,,,,",
                b"1763633702123,address_change,,,bob,,,,,,,,,addr-9,",
                b"1763633702,email_change,,,bob,,,,,,,,,,M@Evil.example",
            ],
        );
        assert_eq!(r[1].as_ref().unwrap_err().reason, "bad_amount");
        let ev = r[2].clone().unwrap().unwrap();
        assert_eq!(ev.ts.to_string(), "2026-11-20T10:15:02.500Z");
        assert_eq!(ev.account, AccountKey::normalize("smith, bob"));
        assert_eq!(
            ev.user_agent.as_deref(),
            Some("Mozilla/5.0 (X11; Linux x86_64) \"quoted\"")
        );
        assert_eq!(ev.outcome, Outcome::Success);
        let det = ev.details.unwrap();
        assert_eq!(det.order_id.as_deref(), Some("A-1"));
        assert_eq!(det.amount, Some(12800.5));
        assert_eq!(det.currency.as_deref(), Some("JPY"));
        assert_eq!(det.marketplace, Some(true));
        assert_eq!(det.seller.as_deref(), Some("Acme"));
        assert_eq!(det.ship_to, AddressHash::of("1 2 3 shibuya tokyo"));
        let ev = r[3].clone().unwrap().unwrap();
        assert_eq!(
            (ev.outcome, ev.reason),
            (Outcome::Failure, Some(FailureReason::UnknownAccount))
        );
        assert_eq!(ev.ip, "2001:db8::1".parse().ok());
        let ev = r[4].clone().unwrap().unwrap();
        assert_eq!(ev.ts, Timestamp(1_763_633_702_123));
        assert_eq!(ev.details.unwrap().address, AddressHash::of("addr-9"));
        let ev = r[5].clone().unwrap().unwrap();
        assert_eq!(
            ev.details.unwrap().new_email,
            AddressHash::of("m@evil.example")
        );
    }

    #[test]
    fn multi_line_quoted_field() {
        let mut d = csv();
        let r = run(
            &mut d,
            &[
                b"ts,event,account,ship_to",
                b"2026-11-20T10:15:02Z,order,bob,\"1-2-3 Shibuya",
                b"",
                b"Tokyo, \"\"Japan\"\"\"",
                b"2026-11-20T10:15:03Z,logout,bob,",
            ],
        );
        assert_eq!(r[1], Ok(None));
        assert_eq!(r[2], Ok(None));
        let ev = r[3].clone().unwrap().unwrap();
        assert_eq!(ev.kind, EventKind::Order);
        assert_eq!(ev.origin.line, 4);
        assert_eq!(
            ev.details.unwrap().ship_to,
            AddressHash::of("1-2-3 Shibuya\n\nTokyo, \"Japan\"")
        );
        assert_eq!(r[4].clone().unwrap().unwrap().kind, EventKind::Logout);
    }

    #[test]
    fn unterminated_quote_is_bounded_and_flushed() {
        let mut d = csv();
        assert_eq!(d.decode(b"ts,event,account", &m(1)), Ok(None));
        assert_eq!(d.decode(b"1763633702,login,\"open", &m(2)), Ok(None));
        let mut last = Ok(None);
        for line in 3..=(MAX_RECORD_LINES + 1) {
            last = d.decode(b"1763633702,login,bob", &m(line));
            if last.is_err() {
                assert_eq!(line, MAX_RECORD_LINES + 1);
            }
        }
        let e = last.unwrap_err();
        assert_eq!(e.reason, "csv_unterminated_quote");
        assert!(e.detail.unwrap().contains("lines 2-101"));
        // Reading starts again cleanly.
        let ev = d.decode(b"1763633702,login,bob", &m(102)).unwrap().unwrap();
        assert_eq!(ev.account, AccountKey::normalize("bob"));
        assert_eq!(d.flush(&m(102)), Ok(None));
        assert_eq!(d.decode(b"1763633702,login,\"x", &m(103)), Ok(None));
        assert_eq!(
            d.flush(&m(103)).unwrap_err().reason,
            "csv_unterminated_quote"
        );
        assert_eq!(
            d.decode(b"1763633702,login,carol", &m(1))
                .unwrap()
                .unwrap()
                .kind,
            EventKind::Login
        );
    }

    #[test]
    fn tsv_ecs_headers_bom_and_crlf() {
        let mut d = CsvDecoder::new(&CsvConfig::default(), b'\t').unwrap();
        assert_eq!(d.name(), "tsv");
        let r = run(
            &mut d,
            &[
                b"\xEF\xBB\xBF@Timestamp\tEvent.Action\tevent.outcome\tsource.ip\tuser.name\tuser.email\tuser_agent.original\r",
                b"2026-11-20T10:15:02Z\tuser-login\tfailure\t203.0.113.9\t\tAlice@Example.com\tcurl/8, \"x\"\r",
                b"2026-11-20T10:15:02Z\tuser-login\tsuccess\t203.0.113.9\tAlice\talice@example.com\t-\r",
            ],
        );
        assert_eq!(r[0], Ok(None));
        let ev = r[1].clone().unwrap().unwrap();
        assert_eq!(ev.kind, EventKind::Login);
        assert_eq!(ev.outcome, Outcome::Failure);
        // Empty user.name: user.email fills the account.
        assert_eq!(ev.account, AccountKey::normalize("alice@example.com"));
        assert_eq!(ev.user_agent.as_deref(), Some("curl/8, \"x\""));
        let ev = r[2].clone().unwrap().unwrap();
        assert_eq!(ev.account, AccountKey::normalize("alice"));
        assert_eq!(ev.user_agent, None);
    }

    #[test]
    fn config_renames_events_and_no_header() {
        let mut cfg = CsvConfig::default();
        cfg.columns.insert("When".into(), "ts".into());
        cfg.columns.insert("Action".into(), "event".into());
        cfg.columns.insert("Login".into(), "account".into());
        cfg.columns.insert("account".into(), "ignore".into());
        cfg.events.insert("SignIn".into(), "login".into());
        cfg.events.insert("noise".into(), "ignore".into());
        let mut d = CsvDecoder::new(&cfg, b';').unwrap();
        let r = run(
            &mut d,
            &[
                b"when;action;login;account",
                b"2026-11-20T10:15:02Z;SignIn;Dave;other",
                b"2026-11-20T10:15:02Z;noise;Dave;other",
                b"2026-11-20T10:15:02Z;page_view;Dave;other",
            ],
        );
        let ev = r[1].clone().unwrap().unwrap();
        assert_eq!(ev.kind, EventKind::Login);
        assert_eq!(ev.account, AccountKey::normalize("dave"));
        assert_eq!(r[2], Ok(None));
        assert_eq!(r[3], Ok(None));

        let cfg = CsvConfig {
            has_header: false,
            header: vec!["ts".into(), "event".into(), "ip".into()],
            ..CsvConfig::default()
        };
        let mut d = CsvDecoder::new(&cfg, b',').unwrap();
        let ev = d
            .decode(b"1763633702,login,192.0.2.1", &m(1))
            .unwrap()
            .unwrap();
        assert_eq!(ev.ip, Some(IpAddr::from([192, 0, 2, 1])));
    }

    #[test]
    fn config_errors() {
        let mut cfg = CsvConfig::default();
        cfg.columns.insert("who".into(), "acount".into());
        let e = CsvDecoder::new(&cfg, b',').unwrap_err().to_string();
        assert!(e.contains("csv.columns.\"who\""), "{e}");
        let mut cfg = CsvConfig::default();
        cfg.events.insert("x".into(), "nope".into());
        let e = CsvDecoder::new(&cfg, b',').unwrap_err().to_string();
        assert!(e.contains("csv.events.\"x\""), "{e}");
        let mut cfg = CsvConfig::default();
        cfg.columns.insert("Who".into(), "account".into());
        cfg.columns.insert("WHO".into(), "ip".into());
        assert!(CsvDecoder::new(&cfg, b',').is_err());
        let cfg = CsvConfig {
            delimiter: Some("::".into()),
            ..CsvConfig::default()
        };
        let e = CsvDecoder::new(&cfg, b',').unwrap_err().to_string();
        assert!(e.contains("csv.delimiter"), "{e}");
        assert!(CsvDecoder::new(&CsvConfig::default(), b'"').is_err());
        let cfg = CsvConfig {
            has_header: false,
            header: vec!["ts".into(), "account".into()],
            ..CsvConfig::default()
        };
        let e = CsvDecoder::new(&cfg, b',').unwrap_err().to_string();
        assert!(
            e.contains("csv.header") && e.contains("no event column"),
            "{e}"
        );
        let cfg: CsvConfig =
            toml::from_str("delimiter = \"\\t\"\nhas_header = true\n[columns]\nWhen = \"ts\"\n")
                .unwrap();
        assert_eq!(cfg.delimiter_byte().unwrap(), Some(b'\t'));
        assert!(toml::from_str::<CsvConfig>("delim = \",\"").is_err());
    }

    #[test]
    fn bad_header_rejects_every_record() {
        let mut d = csv();
        let r = run(
            &mut d,
            &[b"time,action,account", b"1,login,bob", b"2,login,bob"],
        );
        for (i, res) in r.iter().enumerate() {
            let e = res.as_ref().unwrap_err();
            assert_eq!(e.reason, "csv_header_missing_columns");
            let detail = e.detail.as_deref().unwrap();
            assert!(detail.contains("header on line 1"), "{detail}");
            assert!(
                detail.contains("no time column") && detail.contains("no event column"),
                "{i}"
            );
        }
    }

    #[test]
    fn field_count_garbage_and_blank() {
        let mut d = csv();
        let r = run(
            &mut d,
            &[
                b"",
                b"ts,event,account",
                b"1763633702,login",
                b"1763633702,login,bob,extra",
                b"   ",
                b"\x00\xff\xfe garbage",
                b"1763633702,login,bob\ncarol",
                b"not a time,login,bob",
                b",login,bob",
                b"1763633702,,bob",
            ],
        );
        assert_eq!(r[0], Ok(None));
        assert_eq!(r[1], Ok(None));
        let e = r[2].as_ref().unwrap_err();
        assert_eq!(e.reason, "csv_field_count");
        assert_eq!(e.detail.as_deref(), Some("expected 3 fields, found 2"));
        assert_eq!(r[3].as_ref().unwrap_err().reason, "csv_field_count");
        assert_eq!(r[4], Ok(None));
        assert_eq!(r[5].as_ref().unwrap_err().reason, "csv_field_count");
        assert_eq!(r[6].as_ref().unwrap_err().reason, "csv_embedded_newline");
        assert_eq!(r[7].as_ref().unwrap_err().reason, "bad_timestamp");
        assert_eq!(r[8].as_ref().unwrap_err().reason, "missing_timestamp");
        assert_eq!(r[9].as_ref().unwrap_err().reason, "missing_event");
    }

    #[test]
    fn shift_jis_and_long_lines() {
        let mut d = csv();
        assert_eq!(d.decode(b"ts,event,account,user_agent", &m(1)), Ok(None));
        let ev = d
            .decode(b"1763633702,login,\x93\x63\x92\x86,x", &m(2))
            .unwrap()
            .unwrap();
        assert_eq!(ev.account, AccountKey::normalize_bytes(b"\x93\x63\x92\x86"));
        let mut long = b"1763633702,login,bob,".to_vec();
        long.extend(std::iter::repeat_n(b'A', 1 << 20));
        let ev = d.decode(&long, &m(3)).unwrap().unwrap();
        assert_eq!(ev.user_agent.map(|u| u.len()), Some(1024));
        let mut huge = b"1763633702,login,bob,".to_vec();
        huge.extend(std::iter::repeat_n(b'A', MAX_RECORD_BYTES + 10));
        assert_eq!(
            d.decode(&huge, &m(4)).unwrap_err().reason,
            "csv_record_too_long"
        );
        assert_eq!(
            d.decode(b"1763633702,login,bob,x", &m(5))
                .unwrap()
                .unwrap()
                .kind,
            EventKind::Login
        );
        let wide = vec![b','; MAX_FIELDS + 5];
        assert_eq!(
            d.decode(&wide, &m(6)).unwrap_err().reason,
            "csv_record_too_long"
        );
    }

    #[test]
    fn detection() {
        assert_eq!(looks_like_csv(b"ts,event,account,ip"), Some(b','));
        assert_eq!(
            looks_like_csv(b"\xEF\xBB\xBFts\tevent\taccount\r"),
            Some(b'\t')
        );
        assert_eq!(
            looks_like_csv(b"\"@timestamp\";\"event.action\""),
            Some(b';')
        );
        assert_eq!(looks_like_csv(b"Timestamp|Event|User"), Some(b'|'));
        assert_eq!(looks_like_csv(b"ts,account,ip"), None);
        assert_eq!(looks_like_csv(b"ts event account"), None);
        assert_eq!(
            looks_like_csv(br#"{"ts":"2026-11-20T10:15:02Z","event":"login"}"#),
            None
        );
        assert_eq!(looks_like_csv(b"1763633702,login,bob"), None);
        let mut cfg = CsvConfig::default();
        cfg.columns.insert("when".into(), "ts".into());
        cfg.columns.insert("what".into(), "event".into());
        assert_eq!(detect_delimiter(&cfg, b"when,what"), Some(b','));
        cfg.delimiter = Some(";".into());
        assert_eq!(detect_delimiter(&cfg, b"when,what"), None);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let mut d = csv();
                let _ = d.decode(&bytes, &m(1));
                let _ = d.decode(&bytes, &m(2));
                let _ = d.flush(&m(3));
                let _ = looks_like_csv(&bytes);
            }

            #[test]
            fn arbitrary_lines_after_header_never_panic(
                lines in proptest::collection::vec(
                    proptest::collection::vec(
                        prop_oneof![Just(b','), Just(b'"'), Just(b'\t'), Just(b'\r'), Just(b'\n'), any::<u8>()],
                        0..64,
                    ),
                    0..24,
                ),
                tab in any::<bool>(),
            ) {
                let delim = if tab { b'\t' } else { b',' };
                let mut d = CsvDecoder::new(&CsvConfig::default(), delim).unwrap();
                let header: Vec<u8> = HEADER.iter().map(|&c| if c == b',' { delim } else { c }).collect();
                prop_assert_eq!(d.decode(&header, &m(1)), Ok(None));
                for (i, l) in lines.iter().enumerate() {
                    let _ = d.decode(l, &m(i as u64 + 2));
                }
                let _ = d.flush(&m(99));
            }

            #[test]
            fn mutated_rows_never_panic(
                edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
            ) {
                let mut line = br#"2026-11-20T19:15:02.5+09:00,order,success,,"Smith, Bob",2001:db8::9,"UA ""q""",A-1,12800.5,jpy,true,Acme,"1-2-3 Shibuya",,"#.to_vec();
                for (pos, byte, op) in edits {
                    let at = pos % (line.len() + 1);
                    match op {
                        0 => line.insert(at, byte),
                        1 if at < line.len() => { line.remove(at); }
                        _ if at < line.len() => line[at] = byte,
                        _ => {}
                    }
                }
                let mut d = csv();
                prop_assert_eq!(d.decode(HEADER, &m(1)), Ok(None));
                let _ = d.decode(&line, &m(2));
                let _ = d.decode(&line, &m(3));
                let _ = d.flush(&m(4));
            }
        }
    }
}
