//! Event time.
//!
//! Every stage after decoding works on [`Timestamp`], milliseconds since the Unix epoch in UTC.
//! Detectors never read the system clock: time is data carried by events, so a scan and a live
//! tail over the same lines give the same alerts. [`wall_clock_now`] is the one place that reads
//! the clock (for elapsed-time reporting and syslog year inference), and clippy forbids
//! `SystemTime::now` everywhere else.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in event time: milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// A span of event time in milliseconds.
pub type Millis = i64;

/// One second in milliseconds.
pub const SECOND: Millis = 1_000;
/// One minute in milliseconds.
pub const MINUTE: Millis = 60 * SECOND;
/// One hour in milliseconds.
pub const HOUR: Millis = 60 * MINUTE;
/// One day in milliseconds.
pub const DAY: Millis = 24 * HOUR;

impl Timestamp {
    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Builds a timestamp from civil UTC fields, then subtracts `offset_secs` (the zone's offset
    /// east of UTC) so that local times become UTC. Returns `None` for impossible dates.
    #[allow(clippy::too_many_arguments)]
    pub fn from_civil(
        year: i32,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        millis: u32,
        offset_secs: i32,
    ) -> Option<Timestamp> {
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
            || millis > 999
        {
            return None;
        }
        // A leap second is folded into the following second, as most log tooling does.
        let days = days_from_civil(year, month, day);
        let secs =
            days * 86_400 + i64::from(hour) * 3_600 + i64::from(minute) * 60 + i64::from(second)
                - i64::from(offset_secs);
        Some(Timestamp(secs * 1_000 + i64::from(millis)))
    }

    /// Converts epoch seconds or milliseconds, telling them apart by magnitude: values above
    /// 10^11 cannot be seconds of any plausible log year (that would be the year 5138).
    pub fn from_epoch_number(value: f64) -> Option<Timestamp> {
        if !value.is_finite() || value < 0.0 {
            return None;
        }
        let millis = if value >= 1e11 {
            value
        } else {
            value * 1_000.0
        };
        if millis > 32_503_680_000_000.0 {
            // After the year 3000: not an event time.
            return None;
        }
        Some(Timestamp(millis.round() as i64))
    }

    /// Civil UTC fields `(year, month, day, hour, minute, second, millis)`.
    pub fn to_civil(self) -> (i32, u32, u32, u32, u32, u32, u32) {
        let millis = self.0.rem_euclid(1_000) as u32;
        let secs = self.0.div_euclid(1_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, sod / 3_600, (sod / 60) % 60, sod % 60, millis)
    }

    /// The start of the minute containing this instant.
    pub fn floor_minute(self) -> Timestamp {
        Timestamp(self.0.div_euclid(MINUTE) * MINUTE)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with milliseconds only when they are not zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s, ms) = self.to_civil();
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")?;
        if ms != 0 {
            write!(f, ".{ms:03}")?;
        }
        f.write_str("Z")
    }
}

impl Serialize for Timestamp {
    /// The exact millisecond count, so that detector state (where timestamps sit deep inside
    /// tuples, queues and generic containers) restores losslessly: a watermark of `i64::MIN` has
    /// no RFC 3339 form. Output meant for people (alerts, `parse`) says so on its fields with
    /// `#[serde(serialize_with = "crate::time::rfc3339")]` ([`rfc3339`], [`rfc3339_opt`]).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

/// Serializes a [`Timestamp`] as RFC 3339 text (the alert contract's form), for
/// `#[serde(serialize_with = "crate::time::rfc3339")]`.
pub fn rfc3339<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

/// [`rfc3339`] for an optional timestamp (`null` when absent).
pub fn rfc3339_opt<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.collect_str(t),
        None => s.serialize_none(),
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    /// Milliseconds since the epoch (what a snapshot holds), or RFC 3339 text.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("milliseconds since the epoch or an RFC 3339 date-time")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Ok(Timestamp(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v)
                    .map(Timestamp)
                    .map_err(|_| E::custom("timestamp out of range"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                parse_rfc3339(v.as_bytes())
                    .ok_or_else(|| E::custom(format!("not an RFC 3339 date-time: {v:?}")))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Whether `year` is a Gregorian leap year.
pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Number of days in `month` (1–12) of `year`.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m, d)
}

/// Month number (1–12) of an English three-letter abbreviation, any case.
pub fn month_from_abbrev(b: &[u8]) -> Option<u32> {
    if b.len() != 3 {
        return None;
    }
    let key = [
        b[0].to_ascii_lowercase(),
        b[1].to_ascii_lowercase(),
        b[2].to_ascii_lowercase(),
    ];
    Some(match &key {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// Parses exactly `n` ASCII digits.
fn digits(b: &[u8], n: usize) -> Option<u32> {
    if b.len() < n {
        return None;
    }
    let mut v = 0u32;
    for &c in &b[..n] {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses a `+hhmm`, `+hh:mm`, `-hhmm`, `Z` zone designator into seconds east of UTC.
fn zone_offset(b: &[u8]) -> Option<i32> {
    match b {
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest.len() {
                4 => (digits(rest, 2)?, digits(&rest[2..], 2)?),
                5 if rest[2] == b':' => (digits(rest, 2)?, digits(&rest[3..], 2)?),
                2 => (digits(rest, 2)?, 0),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3_600 + m * 60) as i32;
            Some(if *sign == b'-' { -secs } else { secs })
        }
        _ => None,
    }
}

/// Parses the access-log time `10/Oct/2026:13:55:36 +0900` (nginx `$time_local`, Apache `%t`
/// without the brackets). Fixed width, about 25 ns: this is on the hot path.
pub fn parse_clf(b: &[u8]) -> Option<Timestamp> {
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let day = digits(b, 2)?;
    let month = month_from_abbrev(&b[3..6])?;
    let year = digits(&b[7..], 4)? as i32;
    let hour = digits(&b[12..], 2)?;
    if b[14] != b':' || b[17] != b':' {
        return None;
    }
    let minute = digits(&b[15..], 2)?;
    let second = digits(&b[18..], 2)?;
    let off = zone_offset(&b[21..])?;
    Timestamp::from_civil(year, month, day, hour, minute, second, 0, off)
}

/// Parses RFC 3339 / ISO 8601 date-times: `2026-11-20T10:15:02Z`, `2026-11-20 10:15:02.123+09:00`,
/// `2026-11-20T10:15:02.123456789+0900`. A missing zone means UTC (what ECS and most JSON
/// loggers mean); fractions beyond milliseconds are truncated.
pub fn parse_rfc3339(b: &[u8]) -> Option<Timestamp> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(b, 4)? as i32;
    let month = digits(&b[5..], 2)?;
    let day = digits(&b[8..], 2)?;
    let hour = digits(&b[11..], 2)?;
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let minute = digits(&b[14..], 2)?;
    let second = digits(&b[17..], 2)?;
    let mut rest = &b[19..];
    let mut millis = 0u32;
    if let [b'.' | b',', frac @ ..] = rest {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for (i, &c) in frac[..n.min(3)].iter().enumerate() {
            millis += u32::from(c - b'0') * [100, 10, 1][i];
        }
        rest = &frac[n..];
    }
    let off = if rest.is_empty() {
        0
    } else {
        zone_offset(rest)?
    };
    Timestamp::from_civil(year, month, day, hour, minute, second, millis, off)
}

/// Parses a duration as written in the config: `90s`, `10m`, `72h`, `2d`, `500ms`, or a
/// combination such as `1h30m`. A bare number is seconds.
pub fn parse_duration(s: &str) -> Option<Millis> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<i64>() {
        return secs.checked_mul(SECOND);
    }
    let mut total: i64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let value: i64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => SECOND,
            "m" | "min" => MINUTE,
            "h" => HOUR,
            "d" => DAY,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(value.checked_mul(unit)?)?;
    }
    Some(total)
}

/// A span of time as written in the config file: `"10m"`, `"72h"`, `"1h30m"`, or a bare number
/// of seconds. Serializes back to the same short form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub Millis);

impl Span {
    /// The span in milliseconds.
    pub fn millis(self) -> Millis {
        self.0
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        let ms = match Raw::deserialize(d)? {
            Raw::Seconds(s) => i64::try_from(s).ok().and_then(|s| s.checked_mul(SECOND)),
            Raw::Text(t) => parse_duration(&t),
        };
        match ms {
            Some(ms) if ms > 0 => Ok(Span(ms)),
            _ => Err(serde::de::Error::custom(
                "expected a positive duration such as \"10m\", \"90s\", \"72h\" or a number of seconds",
            )),
        }
    }
}

/// Formats a duration the way a person writes it: `10m`, `72h`, `1h30m`, `45s`.
pub fn format_duration(ms: Millis) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, name) in [
        (DAY, "d"),
        (HOUR, "h"),
        (MINUTE, "m"),
        (SECOND, "s"),
        (1, "ms"),
    ] {
        if rest >= unit {
            out.push_str(&format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    out
}

/// The wall clock, for reporting elapsed time and inferring the missing year of syslog lines.
/// Never used by detectors.
#[allow(clippy::disallowed_methods)]
pub fn wall_clock_now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_serialize_exactly_and_for_people_on_request() {
        #[derive(Serialize)]
        struct ForPeople {
            #[serde(serialize_with = "rfc3339")]
            at: Timestamp,
            #[serde(serialize_with = "rfc3339_opt")]
            maybe: Option<Timestamp>,
        }
        let t = Timestamp(1_763_633_702_123);
        let people = ForPeople {
            at: t,
            maybe: Some(t),
        };
        assert_eq!(
            serde_json::to_string(&people).unwrap(),
            r#"{"at":"2025-11-20T10:15:02.123Z","maybe":"2025-11-20T10:15:02.123Z"}"#
        );
        let none = ForPeople { at: t, maybe: None };
        assert!(
            serde_json::to_string(&none)
                .unwrap()
                .ends_with(r#""maybe":null}"#)
        );
        let exact = serde_json::to_string(&t).unwrap();
        assert_eq!(exact, "1763633702123");
        for text in [exact.as_str(), r#""2025-11-20T10:15:02.123Z""#] {
            assert_eq!(serde_json::from_str::<Timestamp>(text).unwrap(), t);
        }
        // A sentinel with no RFC 3339 form survives a snapshot.
        let min = serde_json::to_string(&Timestamp(i64::MIN)).unwrap();
        assert_eq!(
            serde_json::from_str::<Timestamp>(&min).unwrap(),
            Timestamp(i64::MIN)
        );
        assert!(serde_json::from_str::<Timestamp>("18446744073709551615").is_err());
        assert!(serde_json::from_str::<Timestamp>(r#""yesterday""#).is_err());
        assert!(serde_json::from_str::<Timestamp>("1.5").is_err());
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1_000_000, -1, 0, 1, 19_000, 20_412, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn clf_time_with_offset() {
        let t = parse_clf(b"10/Oct/2026:13:55:36 +0900").unwrap();
        assert_eq!(t.to_string(), "2026-10-10T04:55:36Z");
        assert_eq!(
            parse_clf(b"01/Jan/2026:00:00:00 -0130")
                .unwrap()
                .to_string(),
            "2026-01-01T01:30:00Z"
        );
        assert!(parse_clf(b"32/Oct/2026:13:55:36 +0900").is_none());
        assert!(parse_clf(b"10/Foo/2026:13:55:36 +0900").is_none());
        assert!(parse_clf(b"10/Oct/2026:13:55:36").is_none());
    }

    #[test]
    fn rfc3339_variants() {
        let z = parse_rfc3339(b"2026-11-20T10:15:02.123Z").unwrap();
        assert_eq!(z.to_string(), "2026-11-20T10:15:02.123Z");
        let off = parse_rfc3339(b"2026-11-20T19:15:02+09:00").unwrap();
        assert_eq!(off.to_string(), "2026-11-20T10:15:02Z");
        let nanos = parse_rfc3339(b"2026-11-20 10:15:02.999999999+0000").unwrap();
        assert_eq!(nanos.millis() % 1000, 999);
        assert_eq!(
            parse_rfc3339(b"2026-11-20T10:15:02").unwrap().to_string(),
            "2026-11-20T10:15:02Z"
        );
        assert!(parse_rfc3339(b"2026-02-30T10:15:02Z").is_none());
        assert!(parse_rfc3339(b"2026-11-20T10:15:02+25:00").is_none());
        assert!(parse_rfc3339(b"not a time at all!!").is_none());
    }

    #[test]
    fn epoch_seconds_and_millis() {
        let s = Timestamp::from_epoch_number(1_763_633_702.0).unwrap();
        let ms = Timestamp::from_epoch_number(1_763_633_702_000.0).unwrap();
        assert_eq!(s, ms);
        assert!(Timestamp::from_epoch_number(f64::NAN).is_none());
        assert!(Timestamp::from_epoch_number(-5.0).is_none());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Some(10 * MINUTE));
        assert_eq!(parse_duration("1h30m"), Some(90 * MINUTE));
        assert_eq!(parse_duration("120"), Some(120 * SECOND));
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("10 parsecs"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(format_duration(90 * MINUTE), "1h30m");
        assert_eq!(format_duration(10 * MINUTE), "10m");
    }
}
