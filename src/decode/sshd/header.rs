//! The syslog header: `[<PRI>]TIMESTAMP [HOST ]PROGRAM[[PID]]: MESSAGE`.
//!
//! Two timestamp families are read: RFC 3164 (`Dec 10 06:55:46`, `Dec  1 06:55:46`; no year, no
//! zone) and ISO 8601 as written by journald `short-iso`/`short-iso-precise` and rsyslog's file
//! formats (`2026-11-20T10:15:02.123456+09:00`, `2026-11-20T10:15:02+0900`). Turning the raw
//! fields into a [`Timestamp`] needs per-input state (year inference, zone), so this module only
//! splits and validates shapes; [`super::clock`] resolves the time.

use nom::branch::alt;
use nom::bytes::complete::{tag, take, take_while_m_n, take_while1};
use nom::character::complete::char;
use nom::combinator::{map_opt, opt};
use nom::sequence::delimited;
use nom::{IResult, Parser};

use crate::time::{Timestamp, month_from_abbrev, parse_rfc3339};

/// The time as written in the header, before year inference and zone conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RawTime {
    /// RFC 3164 `Mmm dd hh:mm:ss`: no year, no zone. Ranges are not checked yet.
    Bsd {
        /// 1–12.
        month: u32,
        /// Day of month as written (1–99).
        day: u32,
        /// Hour as written.
        hour: u32,
        /// Minute as written.
        minute: u32,
        /// Second as written.
        second: u32,
        /// Milliseconds of a fraction (journald `short-precise`: `Nov 20 10:15:02.123456`), 0
        /// when none was written.
        millis: u32,
    },
    /// ISO 8601 with an offset: already absolute.
    Absolute(Timestamp),
    /// ISO 8601 without an offset: civil time in the configured zone. Fields are valid.
    Civil {
        /// Year.
        year: i32,
        /// 1–12.
        month: u32,
        /// 1–31.
        day: u32,
        /// 0–23.
        hour: u32,
        /// 0–59.
        minute: u32,
        /// 0–60.
        second: u32,
        /// 0–999.
        millis: u32,
    },
}

/// A split syslog line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header<'a> {
    /// The time fields.
    pub time: RawTime,
    /// The reporting host; empty when the line has none (messages read from `/dev/log`).
    pub host: &'a [u8],
    /// The program name of the tag (`sshd`, `sshd-session`, `su`); empty for the tagless
    /// `last message repeated N times` of classic syslogd.
    pub program: &'a [u8],
    /// The process id of the tag, if written.
    pub pid: Option<u32>,
    /// Everything after `program[pid]: `.
    pub msg: &'a [u8],
}

/// Why a header could not be split. Mapped to the decoder's stable reject reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeaderError {
    /// The line does not start with a syslog timestamp.
    NotSyslog,
    /// The timestamp has the right shape but impossible values.
    BadTimestamp,
    /// Timestamp (and host) but no `program:` tag: a truncated line or not syslog.
    NoProgram,
}

type Res<'a, T> = IResult<&'a [u8], T>;

/// `<PRI>`: 1 to 3 digits in angle brackets. The value is irrelevant to us.
fn pri(i: &[u8]) -> Res<'_, &[u8]> {
    delimited(
        char('<'),
        take_while_m_n(1, 3, |c: u8| c.is_ascii_digit()),
        char('>'),
    )
    .parse_complete(i)
}

/// Two ASCII digits.
fn two(a: u8, b: u8) -> Option<u32> {
    (a.is_ascii_digit() && b.is_ascii_digit())
        .then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
}

/// The usual fixed-width form `Mmm dd hh:mm:ss` (day padded with a space or a zero), read in one
/// step: this is most of the per-line cost of the header.
fn bsd_fixed(b: &[u8]) -> Option<RawTime> {
    let [
        m0,
        m1,
        m2,
        b' ',
        d0,
        d1,
        b' ',
        h0,
        h1,
        b':',
        i0,
        i1,
        b':',
        s0,
        s1,
    ] = *b
    else {
        return None;
    };
    let month = month_from_abbrev(&[m0, m1, m2])?;
    let day = if d0 == b' ' {
        two(b'0', d1)?
    } else {
        two(d0, d1)?
    };
    Some(RawTime::Bsd {
        month,
        day,
        hour: two(h0, h1)?,
        minute: two(i0, i1)?,
        second: two(s0, s1)?,
        millis: 0,
    })
}

/// The unpadded form `Mmm d hh:mm:ss` that some relays write.
fn bsd_unpadded(b: &[u8]) -> Option<RawTime> {
    let [
        m0,
        m1,
        m2,
        b' ',
        d1,
        b' ',
        h0,
        h1,
        b':',
        i0,
        i1,
        b':',
        s0,
        s1,
    ] = *b
    else {
        return None;
    };
    bsd_fixed(&[
        m0, m1, m2, b' ', b'0', d1, b' ', h0, h1, b':', i0, i1, b':', s0, s1,
    ])
}

/// `Mmm dd hh:mm:ss` (or `Mmm d hh:mm:ss`).
fn bsd_time(i: &[u8]) -> Res<'_, RawTime> {
    alt((
        map_opt(take(15usize), bsd_fixed),
        map_opt(take(14usize), bsd_unpadded),
    ))
    .parse_complete(i)
}

/// True when `b` could be the start of an ISO date (`dddd-`).
fn iso_shaped(b: &[u8]) -> bool {
    matches!(b, [a, b, c, d, b'-', ..] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()))
}

/// Parses an ISO 8601 token (no spaces inside). `None` means impossible values.
fn iso_time(token: &[u8]) -> Option<RawTime> {
    // parse_rfc3339 reads a missing zone as UTC; we must know whether one was written, because
    // a zone-less time is local time of the configured zone.
    let tail = token.get(19..)?;
    let frac = match tail {
        [b'.' | b',', rest @ ..] => 1 + rest.iter().take_while(|c| c.is_ascii_digit()).count(),
        _ => 0,
    };
    let has_zone = tail.len() > frac;
    let t = parse_rfc3339(token)?;
    if has_zone {
        return Some(RawTime::Absolute(t));
    }
    let (year, month, day, hour, minute, second, millis) = t.to_civil();
    Some(RawTime::Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
        millis,
    })
}

/// The tag `program[pid]:` or `program:`, followed by an optional space. Returns the message.
fn tag_and_msg(i: &[u8]) -> Res<'_, (&[u8], Option<u32>)> {
    // Some appliances write the program in brackets, without a pid: `[sshd]: ...`.
    if let Ok((rest, program)) = delimited(
        char::<_, nom::error::Error<&[u8]>>('['),
        take_while1(|c: u8| c != b']' && c != b' ' && c != b'['),
        tag("]:"),
    )
    .parse_complete(i)
        && !program.iter().all(u8::is_ascii_digit)
    {
        return Ok((rest.strip_prefix(b" ").unwrap_or(rest), (program, None)));
    }
    let (i, program) =
        take_while1(|c: u8| c != b'[' && c != b':' && c != b' ').parse_complete(i)?;
    let (i, pid) = opt(delimited(
        char('['),
        map_opt(take_while1(|c: u8| c.is_ascii_digit()), |d: &[u8]| {
            // At most 10 digits fit; longer runs are not pids.
            if d.len() > 10 {
                return None;
            }
            d.iter().try_fold(0u32, |acc, c| {
                acc.checked_mul(10)?.checked_add(u32::from(c - b'0'))
            })
        }),
        char(']'),
    ))
    .parse_complete(i)?;
    let (i, _) = char(':').parse_complete(i)?;
    let (i, _) = opt(char(' ')).parse_complete(i)?;
    Ok((i, (program, pid)))
}

/// True when the first token after the time is a tag rather than a host name. Host names hold no
/// `[`; a token ending in `:` is a tag unless it has two colons (an IPv6 host such as `fe80::`).
fn token_is_tag(token: &[u8]) -> bool {
    if token.ends_with(b"]:") && token.contains(&b'[') {
        return true;
    }
    token.ends_with(b":") && token.iter().filter(|&&c| c == b':').count() == 1
}

/// Classic syslogd writes `last message repeated N times` with a host but no tag.
const LAST_REPEATED: &[u8] = b"last message repeated ";

/// Splits one syslog line: RFC 3164 (with or without `<PRI>`), RFC 5424, or an ISO 8601 / macOS
/// timestamp in front of the RFC 3164 layout.
pub(super) fn parse(line: &[u8]) -> Result<Header<'_>, HeaderError> {
    let i = match pri(line) {
        Ok((rest, _)) => match rest.strip_prefix(b"1 ") {
            // RFC 5424 always writes its version `1` right after the PRI; RFC 3164 never has a
            // digit there (a month name or an ISO year follows).
            Some(rest) => return rfc5424(rest),
            None => rest,
        },
        Err(_) => line,
    };
    let (i, time) = if iso_shaped(i) {
        iso_header_time(i)?
    } else {
        let (rest, time) = bsd_time(i).map_err(|_| HeaderError::NotSyslog)?;
        let (rest, time) = bsd_fraction(rest, time);
        match char::<_, nom::error::Error<&[u8]>>(' ').parse_complete(rest) {
            Ok((rest, _)) => (rest, time),
            Err(_) => return Err(HeaderError::NoProgram),
        }
    };
    // macOS writes two spaces after its timestamp, some relays pad the host column.
    let i = skip_spaces(i);
    let first_len = memchr::memchr(b' ', i).unwrap_or(i.len());
    let (first, after_first) = i.split_at(first_len);
    let (host, tagged) = if token_is_tag(first) {
        (&b""[..], i)
    } else {
        // `after_first` starts with the space (or is empty: a line cut after the host).
        (first, after_first.get(1..).unwrap_or_default())
    };
    if host.is_empty() && first.is_empty() {
        return Err(HeaderError::NoProgram);
    }
    match tag_and_msg(tagged) {
        Ok((msg, (program, pid))) => Ok(Header {
            time,
            host,
            program,
            pid,
            msg: strip_solaris_id(msg),
        }),
        Err(_) if tagged.starts_with(LAST_REPEATED) => Ok(Header {
            time,
            host,
            program: b"",
            pid: None,
            msg: tagged,
        }),
        Err(_) => {
            // UniFi OS and some relays write the host twice (`Dream-Machine-Pro
            // Dream-Machine-Pro sshd[454008]: ...`).
            let again = tagged
                .strip_prefix(host)
                .and_then(|r| r.strip_prefix(b" "))
                .filter(|_| !host.is_empty())
                .ok_or(HeaderError::NoProgram)?;
            let (msg, (program, pid)) = tag_and_msg(again).map_err(|_| HeaderError::NoProgram)?;
            Ok(Header {
                time,
                host,
                program,
                pid,
                msg: strip_solaris_id(msg),
            })
        }
    }
}

/// Skips spaces.
fn skip_spaces(i: &[u8]) -> &[u8] {
    let n = i.iter().take_while(|&&c| c == b' ').count();
    i.get(n..).unwrap_or_default()
}

/// Longest ISO timestamp read (`2026-11-20T10:15:02.123456789+09:00` is 35 bytes).
const MAX_ISO: usize = 48;

/// The ISO 8601 timestamp at the start of `i` and the rest after the spaces that follow it:
/// `2026-11-20T10:15:02.123456+09:00` (journald `short-iso`, rsyslog) or the same with a space
/// instead of the `T` (`2020-03-24 08:38:42.344447-0700`, macOS unified log, `short-full`-like
/// exports).
fn iso_header_time(i: &[u8]) -> Result<(&[u8], RawTime), HeaderError> {
    let spaced = i.get(10) == Some(&b' ')
        && matches!(i.get(11..14), Some([a, b, b':']) if a.is_ascii_digit() && b.is_ascii_digit());
    let from = if spaced { 11 } else { 0 };
    let tail = i.get(from..).unwrap_or_default();
    let end = from + memchr::memchr(b' ', tail).unwrap_or(tail.len());
    let token = i.get(..end).unwrap_or_default();
    if token.is_empty() || token.len() > MAX_ISO {
        return Err(if token.is_empty() {
            HeaderError::NotSyslog
        } else {
            HeaderError::BadTimestamp
        });
    }
    let time = if spaced {
        let mut buf = [0u8; MAX_ISO];
        let dst = buf
            .get_mut(..token.len())
            .ok_or(HeaderError::BadTimestamp)?;
        dst.copy_from_slice(token);
        if let Some(t) = dst.get_mut(10) {
            *t = b'T';
        }
        iso_time(dst)
    } else {
        iso_time(token)
    }
    .ok_or(HeaderError::BadTimestamp)?;
    let rest = i.get(end..).unwrap_or_default();
    if !rest.starts_with(b" ") {
        return Err(HeaderError::NoProgram);
    }
    Ok((skip_spaces(rest), time))
}

/// A `.ffffff` fraction after an RFC 3164 time (journald `short-precise`), kept to the
/// millisecond.
fn bsd_fraction(rest: &[u8], time: RawTime) -> (&[u8], RawTime) {
    let Some(digits) = rest.strip_prefix(b".") else {
        return (rest, time);
    };
    let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return (rest, time);
    }
    let millis = digits
        .get(..n.min(3))
        .unwrap_or_default()
        .iter()
        .chain(std::iter::repeat(&b'0'))
        .take(3)
        .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'));
    let time = match time {
        RawTime::Bsd {
            month,
            day,
            hour,
            minute,
            second,
            ..
        } => RawTime::Bsd {
            month,
            day,
            hour,
            minute,
            second,
            millis,
        },
        other => other,
    };
    (digits.get(n..).unwrap_or_default(), time)
}

/// Solaris and illumos put the message id and facility before the text (`[ID 800047
/// auth.info] Failed keyboard-interactive for ...`); the text is what follows.
fn strip_solaris_id(msg: &[u8]) -> &[u8] {
    if !msg.starts_with(b"[ID ") {
        return msg;
    }
    match memchr::memchr(b']', msg) {
        Some(p) => skip_spaces(msg.get(p + 1..).unwrap_or_default()),
        None => msg,
    }
}

/// RFC 5424 after `<PRI>1 `: `TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`,
/// each header field `-` when absent (OPNsense, rsyslog's `RSYSLOG_SyslogProtocol23Format`).
fn rfc5424(i: &[u8]) -> Result<Header<'_>, HeaderError> {
    let mut fields = i.splitn(6, |&c| c == b' ');
    let time = fields.next().ok_or(HeaderError::NotSyslog)?;
    // A nil timestamp (`-`) cannot be placed in time; it is not an event we can use.
    let time = if iso_shaped(time) && time.len() <= MAX_ISO {
        iso_time(time).ok_or(HeaderError::BadTimestamp)?
    } else {
        return Err(HeaderError::BadTimestamp);
    };
    let nil = |f: &'_ [u8]| -> bool { f == b"-" };
    let host = fields.next().ok_or(HeaderError::NoProgram)?;
    let program = fields.next().ok_or(HeaderError::NoProgram)?;
    let procid = fields.next().ok_or(HeaderError::NoProgram)?;
    let _msgid = fields.next().ok_or(HeaderError::NoProgram)?;
    let rest = fields.next().ok_or(HeaderError::NoProgram)?;
    if program.is_empty() {
        return Err(HeaderError::NoProgram);
    }
    let pid = if procid.is_empty() || procid.len() > 10 || !procid.iter().all(u8::is_ascii_digit) {
        None
    } else {
        procid.iter().try_fold(0u32, |acc, c| {
            acc.checked_mul(10)?.checked_add(u32::from(c - b'0'))
        })
    };
    let msg = skip_structured_data(rest).ok_or(HeaderError::NoProgram)?;
    let msg = msg.strip_prefix(b" ").unwrap_or(msg);
    let msg = msg.strip_prefix(b"\xef\xbb\xbf").unwrap_or(msg);
    Ok(Header {
        time,
        host: if nil(host) { b"" } else { host },
        program: if nil(program) { b"" } else { program },
        pid,
        msg: strip_solaris_id(msg),
    })
}

/// Skips RFC 5424 STRUCTURED-DATA (`-`, or `[id k="v" ...]` elements whose quoted values may
/// hold `\"`, `\\` and `\]`). `None` when an element is not closed.
fn skip_structured_data(i: &[u8]) -> Option<&[u8]> {
    if let Some(rest) = i.strip_prefix(b"-") {
        return Some(rest);
    }
    let mut pos = 0;
    while i.get(pos) == Some(&b'[') {
        let mut quoted = false;
        let mut escaped = false;
        pos += 1;
        loop {
            let c = *i.get(pos)?;
            pos += 1;
            if escaped {
                escaped = false;
            } else if quoted && c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                quoted = !quoted;
            } else if c == b']' && !quoted {
                break;
            }
        }
    }
    (pos > 0).then(|| i.get(pos..).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rfc3164_with_host_and_pid() {
        let h = parse(b"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 1.2.3.4")
            .unwrap();
        assert_eq!(h.time, bsd(12, 10, 6, 55, 46));
        assert_eq!(h.host, b"LabSZ");
        assert_eq!(h.program, b"sshd");
        assert_eq!(h.pid, Some(24200));
        assert_eq!(h.msg, b"Invalid user webmaster from 1.2.3.4");
    }

    #[test]
    fn rfc3164_space_padded_and_unpadded_day() {
        let h = parse(b"Dec  1 00:00:01 host CRON[1]: x").unwrap();
        assert_eq!(h.time, bsd(12, 1, 0, 0, 1));
        let h = parse(b"Jan 01 00:00:01 host CRON[1]: x").unwrap();
        assert_eq!(h.time, bsd(1, 1, 0, 0, 1));
        let h = parse(b"jan 7 23:59:59 host su: x").unwrap();
        assert_eq!(h.time, bsd(1, 7, 23, 59, 59));
        assert_eq!(h.pid, None);
        assert_eq!(h.program, b"su");
    }

    #[test]
    fn pri_prefix_and_no_host() {
        let h = parse(b"<38>Dec 10 06:55:46 sshd[7]: Accepted x").unwrap();
        assert_eq!(h.host, b"");
        assert_eq!(h.program, b"sshd");
        assert_eq!(h.pid, Some(7));
        assert_eq!(h.msg, b"Accepted x");
        let h = parse(b"<86>Dec 10 06:55:46 box login: pam_unix(login:auth): x").unwrap();
        assert_eq!(h.host, b"box");
        assert_eq!(h.program, b"login");
        let h = parse(b"<13>Dec 10 06:55:46 su: hello").unwrap();
        assert_eq!(
            (h.host, h.program, h.msg),
            (&b""[..], &b"su"[..], &b"hello"[..])
        );
    }

    #[test]
    fn ipv6_host_is_a_host() {
        let h = parse(b"Dec 10 06:55:46 fe80:: sshd[1]: m").unwrap();
        assert_eq!(h.host, b"fe80::");
        assert_eq!(h.program, b"sshd");
    }

    #[test]
    fn iso_with_offset_and_fraction() {
        let h = parse(b"2026-11-20T10:15:02.123456+09:00 web1 sshd[123]: msg").unwrap();
        assert_eq!(
            h.time,
            RawTime::Absolute(parse_rfc3339(b"2026-11-20T01:15:02.123Z").unwrap())
        );
        assert_eq!(
            (h.host, h.pid, h.msg),
            (&b"web1"[..], Some(123), &b"msg"[..])
        );
        let h = parse(b"2026-11-20T10:15:02+0900 web1 sshd-session[9]: m").unwrap();
        assert_eq!(
            h.time,
            RawTime::Absolute(parse_rfc3339(b"2026-11-20T01:15:02Z").unwrap())
        );
        assert_eq!(h.program, b"sshd-session");
    }

    #[test]
    fn iso_without_zone_is_civil() {
        let h = parse(b"2026-11-20T10:15:02.5 web1 sshd[1]: m").unwrap();
        assert_eq!(
            h.time,
            RawTime::Civil {
                year: 2026,
                month: 11,
                day: 20,
                hour: 10,
                minute: 15,
                second: 2,
                millis: 500
            }
        );
    }

    #[test]
    fn tagless_last_message_repeated() {
        let h = parse(b"Dec 10 06:55:46 LabSZ last message repeated 3 times").unwrap();
        assert_eq!(h.program, b"");
        assert_eq!(h.msg, b"last message repeated 3 times");
    }

    #[test]
    fn rfc5424() {
        let h = parse(b"<38>1 2022-01-19T14:23:55+00:00 OPNsense.localdomain sshd 44255 - [meta sequenceId=\"1\"] Invalid user tutu from 1.2.3.4 port 33166").unwrap();
        assert_eq!(
            h.time,
            RawTime::Absolute(parse_rfc3339(b"2022-01-19T14:23:55Z").unwrap())
        );
        assert_eq!(
            (h.host, h.program, h.pid, h.msg),
            (
                &b"OPNsense.localdomain"[..],
                &b"sshd"[..],
                Some(44255),
                &b"Invalid user tutu from 1.2.3.4 port 33166"[..]
            )
        );
        // Nil fields, no structured data, escapes inside a value, a BOM.
        let h = parse(b"<86>1 2026-11-20T10:15:02.5Z - sshd - - - Failed x").unwrap();
        assert_eq!((h.host, h.pid, h.msg), (&b""[..], None, &b"Failed x"[..]));
        let h = parse(b"<86>1 2026-11-20T10:15:02Z h sshd 7 ID47 [a x=\"q\\]\\\"z\"][b y=\"1\"] \xef\xbb\xbfmsg").unwrap();
        assert_eq!(h.msg, b"msg");
        assert_eq!(
            parse(b"<86>1 - h sshd 7 - - m"),
            Err(HeaderError::BadTimestamp)
        );
        assert_eq!(
            parse(b"<86>1 2026-11-20T10:15:02Z h sshd 7 - [open m"),
            Err(HeaderError::NoProgram)
        );
    }

    #[test]
    fn iso_with_a_space_and_macos() {
        let h = parse(b"2020-03-24 08:38:42.344447-0700  localhost sshd[2519]: Failed password for user from 172.18.1.100 port 43042 ssh2").unwrap();
        assert_eq!(
            h.time,
            RawTime::Absolute(parse_rfc3339(b"2020-03-24T15:38:42.344Z").unwrap())
        );
        assert_eq!(
            (h.host, h.program, h.pid),
            (&b"localhost"[..], &b"sshd"[..], Some(2519))
        );
        let h = parse(b"2026-11-20 10:15:02 web1 sshd[1]: m").unwrap();
        assert!(matches!(h.time, RawTime::Civil { hour: 10, .. }));
    }

    #[test]
    fn short_precise_fraction() {
        let h = parse(b"Nov 20 10:15:02.123456 host sshd[1]: m").unwrap();
        assert_eq!(
            h.time,
            RawTime::Bsd {
                month: 11,
                day: 20,
                hour: 10,
                minute: 15,
                second: 2,
                millis: 123
            }
        );
        let h = parse(b"Nov 20 10:15:02.5 host sshd[1]: m").unwrap();
        assert!(matches!(h.time, RawTime::Bsd { millis: 500, .. }));
    }

    #[test]
    fn solaris_bracketed_and_doubled_hosts() {
        let h = parse(b"Aug 18 07:30:25 192.168.1.5 sshd[20247]: [ID 800047 auth.info] Failed keyboard-interactive for james from 205.186.180.30 port 54520 ssh2").unwrap();
        assert_eq!(
            h.msg,
            b"Failed keyboard-interactive for james from 205.186.180.30 port 54520 ssh2"
        );
        let h = parse(
            b"Dec 10 06:55:46 host [sshd]: Failed password for root from 1.2.3.4 port 5 ssh2",
        )
        .unwrap();
        assert_eq!(
            (h.host, h.program, h.pid),
            (&b"host"[..], &b"sshd"[..], None)
        );
        let h =
            parse(b"Jun 27 09:02:22 Dream-Machine-Pro Dream-Machine-Pro sshd[454008]: Failed x")
                .unwrap();
        assert_eq!(
            (h.host, h.program, h.pid, h.msg),
            (
                &b"Dream-Machine-Pro"[..],
                &b"sshd"[..],
                Some(454008),
                &b"Failed x"[..]
            )
        );
        // Old pam_unix names the module in the tag.
        let h = parse(b"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; x")
            .unwrap();
        assert_eq!(h.program, b"sshd(pam_unix)");
        // UniFi's firewall lines have no tag: not syslog we read.
        assert_eq!(
            parse(b"Jun 13 23:29:15 UDMP-DTC [WAN_LOCAL-D-2147483647] DESCR=x"),
            Err(HeaderError::NoProgram)
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(b""), Err(HeaderError::NotSyslog));
        assert_eq!(parse(b"{\"ts\":1}"), Err(HeaderError::NotSyslog));
        assert_eq!(
            parse(b"1.2.3.4 - - [10/Oct/2026:13:55:36 +0900] \"GET / HTTP/1.1\" 200 1"),
            Err(HeaderError::NotSyslog)
        );
        assert_eq!(
            parse(b"Foo 10 06:55:46 h p: m"),
            Err(HeaderError::NotSyslog)
        );
        assert_eq!(parse(b"Dec 10 06:55"), Err(HeaderError::NotSyslog));
        assert_eq!(parse(b"Dec 10 06:55:46"), Err(HeaderError::NoProgram));
        assert_eq!(parse(b"Dec 10 06:55:46 LabSZ"), Err(HeaderError::NoProgram));
        assert_eq!(
            parse(b"Dec 10 06:55:46 LabSZ sshd[242"),
            Err(HeaderError::NoProgram)
        );
        assert_eq!(
            parse(b"Dec 10 06:55:46 LabSZ kernel blah"),
            Err(HeaderError::NoProgram)
        );
        assert_eq!(
            parse(b"2026-02-30T10:15:02Z h sshd[1]: m"),
            Err(HeaderError::BadTimestamp)
        );
        assert_eq!(parse(b"2026-11-20T10:15:02Z"), Err(HeaderError::NoProgram));
        assert_eq!(
            parse(b"Dec 10 06:55:46 h sshd[99999999999]: m"),
            Err(HeaderError::NoProgram)
        );
    }
}
