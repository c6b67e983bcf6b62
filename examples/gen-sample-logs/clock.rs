//! Event times of the sample shop: milliseconds since the Unix epoch (UTC), written in the
//! shop's zone (+09:00) in each log's own format.

use credwatch::time::Timestamp;

/// The shop's offset east of UTC, in seconds (Japan Standard Time has no DST).
pub const OFFSET_SECS: i64 = 9 * 3600;
/// One second in milliseconds.
pub const SEC: i64 = 1_000;
/// One minute in milliseconds.
pub const MIN: i64 = 60 * SEC;
/// One hour in milliseconds.
pub const HOUR: i64 = 60 * MIN;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// 2026-11-19T00:00:00+09:00, the start of the covered 48 hours.
pub fn t0() -> i64 {
    match Timestamp::from_civil(2026, 11, 19, 0, 0, 0, 0, OFFSET_SECS as i32) {
        Some(t) => t.millis(),
        None => unreachable!("a valid constant date"),
    }
}

/// Local time `day` (0 = 11-19, 1 = 11-20) `h:m:s` as epoch millis.
pub fn at(day: i64, h: i64, m: i64, s: i64) -> i64 {
    t0() + ((day * 24 + h) * 3600 + m * 60 + s) * SEC
}

/// Civil local fields of an epoch-millis instant.
fn local(t: i64) -> (i32, u32, u32, u32, u32, u32, u32) {
    Timestamp(t + OFFSET_SECS * SEC).to_civil()
}

/// nginx `$time_local`: `19/Nov/2026:10:15:02 +0900`.
pub fn clf(t: i64, out: &mut String) {
    use std::fmt::Write;
    let (y, mo, d, h, mi, s, _) = local(t);
    let _ = write!(
        out,
        "{d:02}/{}/{y:04}:{h:02}:{mi:02}:{s:02} +0900",
        MONTHS[(mo - 1) as usize]
    );
}

/// RFC 3339 with milliseconds and the +09:00 offset: `2026-11-19T10:15:02.123+09:00`.
pub fn rfc3339_ms(t: i64, out: &mut String) {
    use std::fmt::Write;
    let (y, mo, d, h, mi, s, ms) = local(t);
    let _ = write!(
        out,
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}+09:00"
    );
}

/// rsyslog's high-precision ISO format (`RSYSLOG_FileFormat`): microseconds, +09:00. `t_us` is
/// epoch microseconds.
pub fn rfc3339_us(t_us: i64, out: &mut String) {
    use std::fmt::Write;
    let (y, mo, d, h, mi, s, _) = local(t_us.div_euclid(1000));
    let us = t_us.rem_euclid(1_000_000);
    let _ = write!(
        out,
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}+09:00"
    );
}

/// `03:12:07` local.
pub fn hms(t: i64) -> String {
    let (_, _, _, h, mi, s, _) = local(t);
    format!("{h:02}:{mi:02}:{s:02}")
}

/// Local hour of day (0–23).
pub fn hour_of(t: i64) -> u32 {
    local(t).3
}
