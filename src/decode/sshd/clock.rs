//! Turns header times into [`Timestamp`]s: the configured zone, the inferred year, a cache.
//!
//! RFC 3164 writes neither year nor zone. The zone comes from the config. The year of the first
//! line is the latest one that puts it at or before `reference + 1 day` (the reference is the
//! file's mtime, or now for stdin; the day of slack absorbs clock skew and zone confusion), and
//! later lines follow the month: a step back of more than six months (Dec → Jan) is a new year,
//! a step forward of more than six months (a late Dec line after Jan ones) is the previous one.

use jiff::tz::TimeZone;

use super::header::RawTime;
use crate::error::ConfigError;
use crate::time::{DAY, MINUTE, SECOND, Timestamp};

/// How local civil time becomes UTC.
#[derive(Debug, Clone)]
pub(crate) enum Zone {
    /// A fixed offset in seconds east of UTC (`UTC` is 0).
    Fixed(i32),
    /// A zone with rules (an IANA name or the system zone), through `jiff`.
    Rules(TimeZone),
}

impl Zone {
    /// Parses the `timezone` config value: `UTC`/`Z`, `+09:00`/`+0900`/`-05`, `local` (the
    /// system zone) or an IANA name.
    pub(crate) fn from_config(value: &str) -> Result<Zone, ConfigError> {
        let v = value.trim();
        let bad = |message: String| ConfigError::BadValue {
            key: "sshd.timezone".to_string(),
            message,
        };
        if v.eq_ignore_ascii_case("utc") || v == "Z" || v.eq_ignore_ascii_case("gmt") {
            return Ok(Zone::Fixed(0));
        }
        if v.eq_ignore_ascii_case("local") {
            return Ok(Zone::Rules(TimeZone::system()));
        }
        if let Some(rest) = v.strip_prefix(['+', '-']) {
            let digits: String = rest.chars().filter(|c| *c != ':').collect();
            let ok_shape = rest.chars().all(|c| c.is_ascii_digit() || c == ':')
                && matches!(digits.len(), 2 | 4)
                && (rest.len() != 5 || rest.as_bytes().get(2) == Some(&b':'));
            let parsed = if ok_shape {
                let h: i32 = digits.get(..2).and_then(|s| s.parse().ok()).unwrap_or(99);
                let m: i32 = digits
                    .get(2..)
                    .map_or(Some(0), |s| {
                        if s.is_empty() {
                            Some(0)
                        } else {
                            s.parse().ok()
                        }
                    })
                    .unwrap_or(99);
                (h <= 23 && m <= 59).then_some(h * 3600 + m * 60)
            } else {
                None
            };
            let secs = parsed.ok_or_else(|| {
                bad(format!(
                    "`{v}` is not an offset like +09:00, -0500 or +05 (hours 0-23)"
                ))
            })?;
            return Ok(Zone::Fixed(if v.starts_with('-') { -secs } else { secs }));
        }
        TimeZone::get(v).map(Zone::Rules).map_err(|e| {
            bad(format!(
                "`{v}` is neither UTC, an offset like +09:00, `local`, nor a known IANA time zone ({e})"
            ))
        })
    }

    /// Local civil time to UTC. `None` for impossible fields. A wall time in a gap (spring
    /// forward) or a fold (fall back) follows `jiff`'s "compatible" rule, as `date` does.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn to_utc(
        &self,
        year: i32,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        millis: u32,
    ) -> Option<Timestamp> {
        match self {
            Zone::Fixed(off) => {
                Timestamp::from_civil(year, month, day, hour, minute, second, millis, *off)
            }
            Zone::Rules(tz) => {
                // Range checks through our own civil code; jiff supplies the zone rules. A leap
                // second (:60) is folded into the next second, as `from_civil` does.
                Timestamp::from_civil(year, month, day, hour, minute, second, millis, 0)?;
                let whole = second.min(59);
                let dt = jiff::civil::DateTime::new(
                    i16::try_from(year).ok()?,
                    i8::try_from(month).ok()?,
                    i8::try_from(day).ok()?,
                    i8::try_from(hour).ok()?,
                    i8::try_from(minute).ok()?,
                    i8::try_from(whole).ok()?,
                    0,
                )
                .ok()?;
                let t = tz.to_ambiguous_timestamp(dt).compatible().ok()?;
                let extra = i64::from(second - whole) * SECOND + i64::from(millis);
                Some(Timestamp(t.as_millisecond() + extra))
            }
        }
    }
}

/// Per-input time state.
#[derive(Debug, Clone)]
pub(super) struct Clock {
    zone: Zone,
    /// The config's `year`: the year of the first RFC 3164 line.
    first_year: Option<i32>,
    reference: Timestamp,
    /// Year and month of the last RFC 3164 line, for rollover.
    last: Option<(i32, u32)>,
    /// Packed `(year, month, day, hour, minute)` of the cached minute, or `u64::MAX`.
    cached_key: u64,
    /// UTC start of the cached local minute.
    cached_minute: Timestamp,
}

/// Why a time could not be resolved (always `bad_timestamp` for the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BadTime;

impl Clock {
    /// A clock for one input.
    pub(super) fn new(zone: Zone, first_year: Option<i32>, reference: Timestamp) -> Clock {
        Clock {
            zone,
            first_year,
            reference,
            last: None,
            cached_key: u64::MAX,
            cached_minute: Timestamp(0),
        }
    }

    /// Resolves a header time, updating the year state for RFC 3164 lines.
    pub(super) fn resolve(&mut self, t: RawTime) -> Result<Timestamp, BadTime> {
        match t {
            RawTime::Absolute(ts) => Ok(ts),
            RawTime::Civil {
                year,
                month,
                day,
                hour,
                minute,
                second,
                millis,
            } => self
                .zone
                .to_utc(year, month, day, hour, minute, second, millis)
                .ok_or(BadTime),
            RawTime::Bsd {
                month,
                day,
                hour,
                minute,
                second,
                millis,
            } => {
                if second > 60 || millis > 999 {
                    return Err(BadTime);
                }
                let year = match self.last {
                    Some((last_year, last_month)) => {
                        if month + 6 < last_month {
                            last_year + 1
                        } else if month > last_month + 6 {
                            last_year - 1
                        } else {
                            last_year
                        }
                    }
                    None => match self.first_year {
                        Some(y) => y,
                        None => self.infer_year(month, day, hour, minute)?,
                    },
                };
                let minute_start = self.minute_start(year, month, day, hour, minute)?;
                self.last = Some((year, month));
                Ok(Timestamp(
                    minute_start.millis() + i64::from(second) * SECOND + i64::from(millis),
                ))
            }
        }
    }

    /// The latest year that puts this time at or before `reference + 1 day`. Eight years back
    /// is enough to reach a leap year for `Feb 29`.
    fn infer_year(&self, month: u32, day: u32, hour: u32, minute: u32) -> Result<i32, BadTime> {
        let limit = self.reference.millis().saturating_add(DAY);
        // Clamped: a nonsense reference must not overflow the arithmetic below.
        let ref_year = self.reference.to_civil().0.clamp(1, 9999);
        (ref_year - 8..=ref_year + 1)
            .rev()
            .find(|&y| {
                self.zone
                    .to_utc(y, month, day, hour, minute, 0, 0)
                    .is_some_and(|t| t.millis() <= limit)
            })
            .ok_or(BadTime)
    }

    /// UTC start of a local minute, cached: consecutive lines share their minute far more often
    /// than not, and a zone lookup costs more than the rest of the header.
    fn minute_start(
        &mut self,
        year: i32,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
    ) -> Result<Timestamp, BadTime> {
        if !(0..=9999).contains(&year) || month > 12 || day > 31 || hour > 23 || minute > 59 {
            return Err(BadTime);
        }
        let key = (year as u64) << 32
            | u64::from(month) << 24
            | u64::from(day) << 16
            | u64::from(hour) << 8
            | u64::from(minute);
        if key == self.cached_key {
            return Ok(self.cached_minute);
        }
        let t = self
            .zone
            .to_utc(year, month, day, hour, minute, 0, 0)
            .ok_or(BadTime)?;
        debug_assert_eq!(t.millis().rem_euclid(MINUTE), 0);
        self.cached_key = key;
        self.cached_minute = t;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn ts(s: &str) -> Timestamp {
        parse_rfc3339(s.as_bytes()).unwrap()
    }

    fn bsd(month: u32, day: u32, hour: u32, minute: u32, second: u32) -> RawTime {
        RawTime::Bsd {
            month,
            day,
            hour,
            minute,
            second,
            millis: 0,
        }
    }

    #[test]
    fn zones_from_config() {
        assert!(matches!(Zone::from_config("UTC").unwrap(), Zone::Fixed(0)));
        assert!(matches!(
            Zone::from_config("+09:00").unwrap(),
            Zone::Fixed(32_400)
        ));
        assert!(matches!(
            Zone::from_config("-0530").unwrap(),
            Zone::Fixed(-19_800)
        ));
        assert!(matches!(
            Zone::from_config("+05").unwrap(),
            Zone::Fixed(18_000)
        ));
        assert!(matches!(
            Zone::from_config("Asia/Tokyo").unwrap(),
            Zone::Rules(_)
        ));
        for bad in [
            "+25:00",
            "+9",
            "+09:0",
            "+09:60",
            "Mars/Olympus",
            "",
            "+0900x",
        ] {
            let err = Zone::from_config(bad).unwrap_err().to_string();
            assert!(err.contains("sshd.timezone"), "{bad}: {err}");
        }
    }

    #[test]
    fn iana_zone_with_dst() {
        let ny = Zone::from_config("America/New_York").unwrap();
        // Winter: UTC-5; summer: UTC-4.
        assert_eq!(
            ny.to_utc(2026, 1, 15, 12, 0, 0, 0),
            Some(ts("2026-01-15T17:00:00Z"))
        );
        assert_eq!(
            ny.to_utc(2026, 7, 15, 12, 0, 30, 250),
            Some(ts("2026-07-15T16:00:30.250Z"))
        );
        // Leap second written by some syslogs is folded into the next second.
        assert_eq!(
            ny.to_utc(2026, 7, 15, 12, 0, 60, 0),
            Some(ts("2026-07-15T16:01:00Z"))
        );
        assert_eq!(ny.to_utc(2026, 2, 30, 12, 0, 0, 0), None);
        let tokyo = Zone::from_config("Asia/Tokyo").unwrap();
        assert_eq!(
            tokyo.to_utc(2026, 11, 20, 10, 15, 2, 0),
            Some(ts("2026-11-20T01:15:02Z"))
        );
    }

    #[test]
    fn year_inferred_from_reference() {
        // Reference in early January: a December line belongs to the year before.
        let mut c = Clock::new(Zone::Fixed(0), None, ts("2026-01-03T00:00:00Z"));
        assert_eq!(
            c.resolve(bsd(12, 30, 23, 59, 58)),
            Ok(ts("2025-12-30T23:59:58Z"))
        );
        // Then the year rolls over with the months.
        assert_eq!(
            c.resolve(bsd(1, 1, 0, 0, 1)),
            Ok(ts("2026-01-01T00:00:01Z"))
        );
        // A late December line after January ones is last year's.
        assert_eq!(
            c.resolve(bsd(12, 31, 23, 59, 59)),
            Ok(ts("2025-12-31T23:59:59Z"))
        );
        assert_eq!(
            c.resolve(bsd(1, 2, 0, 0, 0)),
            Ok(ts("2026-01-02T00:00:00Z"))
        );
        // Reference day + 1 is still this year; + 2 days is last year.
        let mut c = Clock::new(Zone::Fixed(0), None, ts("2026-06-10T12:00:00Z"));
        assert_eq!(
            c.resolve(bsd(6, 11, 12, 0, 0)),
            Ok(ts("2026-06-11T12:00:00Z"))
        );
        let mut c = Clock::new(Zone::Fixed(0), None, ts("2026-06-10T12:00:00Z"));
        assert_eq!(
            c.resolve(bsd(6, 12, 12, 0, 0)),
            Ok(ts("2025-06-12T12:00:00Z"))
        );
    }

    #[test]
    fn year_inference_crosses_new_year_by_zone() {
        // 23:30 UTC on Dec 31 is already Jan 1 in Tokyo: the line is this (new) year's.
        let tokyo = Zone::from_config("+09:00").unwrap();
        let mut c = Clock::new(tokyo, None, ts("2025-12-31T23:30:00Z"));
        assert_eq!(
            c.resolve(bsd(1, 1, 8, 29, 0)),
            Ok(ts("2025-12-31T23:29:00Z"))
        );
    }

    #[test]
    fn feb_29_goes_back_to_a_leap_year() {
        let mut c = Clock::new(Zone::Fixed(0), None, ts("2027-03-01T00:00:00Z"));
        assert_eq!(
            c.resolve(bsd(2, 29, 1, 2, 3)),
            Ok(ts("2024-02-29T01:02:03Z"))
        );
    }

    #[test]
    fn configured_year_and_rollover() {
        let mut c = Clock::new(Zone::Fixed(0), Some(2019), ts("2026-06-01T00:00:00Z"));
        assert_eq!(
            c.resolve(bsd(12, 31, 23, 0, 0)),
            Ok(ts("2019-12-31T23:00:00Z"))
        );
        assert_eq!(
            c.resolve(bsd(1, 1, 1, 0, 0)),
            Ok(ts("2020-01-01T01:00:00Z"))
        );
    }

    #[test]
    fn impossible_times() {
        let mut c = Clock::new(Zone::Fixed(0), Some(2026), ts("2026-06-01T00:00:00Z"));
        assert_eq!(c.resolve(bsd(2, 30, 0, 0, 0)), Err(BadTime));
        assert_eq!(c.resolve(bsd(1, 32, 0, 0, 0)), Err(BadTime));
        assert_eq!(c.resolve(bsd(1, 0, 0, 0, 0)), Err(BadTime));
        assert_eq!(c.resolve(bsd(1, 1, 24, 0, 0)), Err(BadTime));
        assert_eq!(c.resolve(bsd(1, 1, 0, 60, 0)), Err(BadTime));
        assert_eq!(c.resolve(bsd(1, 1, 0, 0, 61)), Err(BadTime));
        // Bad lines leave no state behind: this is still the configured year.
        assert_eq!(
            c.resolve(bsd(3, 1, 0, 0, 0)),
            Ok(ts("2026-03-01T00:00:00Z"))
        );
    }

    #[test]
    fn minute_cache_is_keyed_on_the_whole_minute() {
        let mut c = Clock::new(Zone::Fixed(3_600), Some(2026), ts("2026-06-01T00:00:00Z"));
        assert_eq!(
            c.resolve(bsd(3, 1, 10, 0, 5)),
            Ok(ts("2026-03-01T09:00:05Z"))
        );
        assert_eq!(
            c.resolve(bsd(3, 1, 10, 0, 59)),
            Ok(ts("2026-03-01T09:00:59Z"))
        );
        assert_eq!(
            c.resolve(bsd(3, 2, 10, 0, 0)),
            Ok(ts("2026-03-02T09:00:00Z"))
        );
    }
}
