//! The hot path: a hand-written, zero-copy splitter for nginx and Apache access-log lines.
//!
//! One pass over the line with `memchr`, no allocation, no regex. It checks structure only
//! (field order, quoting, the fixed-width time slot, status digits); turning fields into
//! values (time, address, account) is the decoder's job, done only where needed.

use std::borrow::Cow;

use memchr::{memchr, memchr2};

use crate::error::ParseError;

/// Reject reason: the line does not have the shape of an access-log line.
pub const MALFORMED: &str = "malformed_access_line";
/// Reject reason: the `[time]` field is missing, of the wrong width, or not a valid time.
pub const BAD_TIMESTAMP: &str = "bad_timestamp";
/// Reject reason: the first field is not an IPv4 or IPv6 address.
pub const BAD_CLIENT_ADDRESS: &str = "bad_client_address";
/// Reject reason: the request field is not a quoted string (missing or unterminated quotes).
pub const BAD_REQUEST_LINE: &str = "bad_request_line";
/// Reject reason: the status is not three digits.
pub const BAD_STATUS: &str = "bad_status";
/// Reject reason: the response size is neither digits nor `-`.
pub const BAD_BYTES_SENT: &str = "bad_bytes_sent";

/// Longest client field accepted: a full IPv6 address with an embedded IPv4 tail is 45 bytes.
const MAX_CLIENT_LEN: usize = 45;
/// `dd/Mon/yyyy:hh:mm:ss +zzzz`.
const CLF_TIME_LEN: usize = 26;
/// `d/Mon/yyyy:hh:mm:ss`: a one-digit day and no zone.
const MIN_TIME_LEN: usize = 19;
/// `dd/Mon/yyyy:hh:mm:ss.mmmmmm +zz:zz`: the longest time the decoder's parser accepts.
const MAX_TIME_LEN: usize = 34;
/// [`AccessRecord::status`] when the server wrote `-` (no response was sent).
pub const NO_STATUS: u16 = 0;
/// Longer "methods" are not HTTP methods (the longest registered one is 17 bytes).
const MAX_METHOD_LEN: usize = 24;

/// One access-log line split into its fields, borrowing from the line.
///
/// Fields are the raw bytes as logged: still escaped (`\x22`, `\"`, `\\`), possibly invalid
/// UTF-8, and `-` where the server had no value. Use [`unescape`] to undo the log escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRecord<'a> {
    /// `%h` / `$remote_addr`: the peer address as text (validated to contain only address
    /// characters, not parsed).
    pub client: &'a [u8],
    /// `%l`: the identd name, almost always `-`; empty when the line has one field before the
    /// time (taken as the user).
    pub ident: &'a [u8],
    /// `%u` / `$remote_user`: the HTTP authentication user name, `-` when none. May contain
    /// spaces (nginx does not escape them).
    pub user: &'a [u8],
    /// The time between the brackets, not yet parsed: nearly always 26 bytes
    /// (`10/Oct/2026:13:55:36 +0900`), else a one-digit day, no zone or a fraction
    /// (`1/Apr/2014:00:00:01`, `14/Jan/2015:12:48:57.127`), parsed by the decoder.
    pub time: &'a [u8],
    /// The whole request line between the quotes (`POST /login?next=/ HTTP/1.1`).
    pub request: &'a [u8],
    /// The request method, or empty when the request line is not an HTTP request (a TLS
    /// handshake sent to a plain-text port, `-`, an empty line).
    pub method: &'a [u8],
    /// The request target without its query string (`/login`).
    pub path: &'a [u8],
    /// The query string without the `?`, empty when there is none.
    pub query: &'a [u8],
    /// The protocol (`HTTP/1.1`), empty when the request line has none.
    pub protocol: &'a [u8],
    /// `%>s` / `$status`; [`NO_STATUS`] (0) when the server wrote `-`.
    pub status: u16,
    /// `%b` / `$body_bytes_sent`; `None` for `-`.
    pub bytes: Option<u64>,
    /// The referer (without quotes), `-` when none; empty in the `common` format.
    pub referer: &'a [u8],
    /// The user agent (without quotes), `-` when none; empty in the `common` format.
    pub user_agent: &'a [u8],
    /// Everything after the user agent (or after the size, when the next field is not quoted):
    /// extra fields such as `$request_time` or `"$http_x_forwarded_for"`. Split lazily with
    /// [`AccessRecord::extras`].
    pub extra: &'a [u8],
}

impl<'a> AccessRecord<'a> {
    /// True when the request line parsed as `METHOD target [protocol]`.
    pub fn is_request(&self) -> bool {
        !self.method.is_empty()
    }

    /// The extra trailing fields, split on demand (only events need them).
    pub fn extras(&self) -> ExtraFields<'a> {
        ExtraFields { rest: self.extra }
    }

    /// The `n`-th extra trailing field (0-based).
    pub fn extra_field(&self, n: usize) -> Option<ExtraField<'a>> {
        self.extras().nth(n)
    }
}

/// One extra trailing field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtraField<'a> {
    /// The value, without quotes, still escaped.
    pub value: &'a [u8],
    /// Whether it was written in double quotes.
    pub quoted: bool,
}

/// Iterator over the extra trailing fields of a line: space-separated, quoted or not. Lenient:
/// an unterminated quoted field runs to the end of the line.
#[derive(Debug, Clone)]
pub struct ExtraFields<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ExtraFields<'a> {
    type Item = ExtraField<'a>;

    fn next(&mut self) -> Option<ExtraField<'a>> {
        let start = self.rest.iter().position(|&c| c != b' ')?;
        let rest = self.rest.get(start..)?;
        if let Some(inner) = rest.strip_prefix(b"\"") {
            let (value, after) = quoted(inner).unwrap_or((inner, &[]));
            self.rest = after;
            Some(ExtraField {
                value,
                quoted: true,
            })
        } else {
            let (value, after) = split_at_byte(rest, b' ').unwrap_or((rest, &[]));
            self.rest = after;
            Some(ExtraField {
                value,
                quoted: false,
            })
        }
    }
}

/// Splits at the first `c`: the part before and the part after it.
#[inline]
fn split_at_byte(b: &[u8], c: u8) -> Option<(&[u8], &[u8])> {
    let i = memchr(c, b)?;
    Some((b.get(..i)?, b.get(i + 1..)?))
}

/// Like [`split_at_byte`] for fields that are nearly always a few bytes long (client, method,
/// status, size): a plain loop beats `memchr`'s setup there.
#[inline]
fn split_short(b: &[u8], c: u8) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|&x| x == c)?;
    Some((b.get(..i)?, b.get(i + 1..)?))
}

/// Scans a quoted field. `b` starts just after the opening quote; returns the contents and the
/// rest after the closing quote. A backslash escapes the next byte: Apache writes `\"` and `\\`,
/// nginx writes `\x22` and `\\`, so an unescaped `"` always ends the field.
#[inline]
fn quoted(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut i = 0;
    loop {
        let j = i + memchr2(b'"', b'\\', b.get(i..)?)?;
        if b.get(j) == Some(&b'"') {
            return Some((b.get(..j)?, b.get(j + 1..)?));
        }
        i = j + 2;
    }
}

/// Three ASCII digits.
#[inline]
fn status_digits(b: &[u8]) -> Option<u16> {
    match b {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// True when the request field's closing quote is followed by ` ddd` and then a space or the
/// end of the line: how the request field is told apart from a raw `"` inside it (old Apache,
/// nginx with `escape=none`).
#[inline]
fn status_follows(after: &[u8]) -> bool {
    match after {
        [b' ', d @ ..] => {
            d.get(..3).and_then(status_digits).is_some() && matches!(d.get(3), None | Some(b' '))
        }
        _ => false,
    }
}

/// Finds the end of the request field; `b` starts after its opening quote.
fn request_field(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let first = quoted(b)?;
    if status_follows(first.1) {
        return Some(first);
    }
    // A raw quote inside the request: look for a later closing quote that is followed by the
    // status. Rare, so the common case above pays nothing for it.
    let mut from = first.0.len() + 1;
    while let Some((content, after)) = b.get(from..).and_then(quoted) {
        let end = from + content.len();
        if status_follows(after) {
            return Some((b.get(..end)?, after));
        }
        from = end + 1;
    }
    Some(first)
}

/// Characters an IPv4 or IPv6 address can contain.
#[inline]
fn is_address_byte(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b'.' || c == b':'
}

/// An HTTP method token: letters plus `-` and `_` (`M-SEARCH`).
#[inline]
pub(super) fn is_method(m: &[u8]) -> bool {
    !m.is_empty()
        && m.len() <= MAX_METHOD_LEN
        && m.iter()
            .all(|&c| c.is_ascii_alphabetic() || c == b'-' || c == b'_')
}

/// Splits a request line into method, path, query and protocol. Anything that is not
/// `METHOD SP target [SP protocol]` gives an empty method (not an HTTP request).
pub(super) fn split_request(req: &[u8]) -> (&[u8], &[u8], &[u8], &[u8]) {
    const NONE: (&[u8], &[u8], &[u8], &[u8]) = (&[], &[], &[], &[]);
    let Some((method, rest)) = split_short(req, b' ') else {
        return NONE;
    };
    if !is_method(method) || rest.is_empty() {
        return NONE;
    }
    // The protocol is the last word when it looks like one; a target with raw spaces in it
    // (nginx logs the request line as received) stays whole.
    // Fast path: `HTTP/x.y` at the end, checked in place; else the last space.
    let tail = rest.len().checked_sub(9).and_then(|i| rest.get(i..));
    let (target, protocol) = match tail {
        Some([b' ', b'H', b'T', b'T', b'P', b'/', _, _, _]) => (
            rest.get(..rest.len() - 9).unwrap_or_default(),
            rest.get(rest.len() - 8..).unwrap_or_default(),
        ),
        _ => match memchr::memrchr(b' ', rest) {
            Some(i) => match (rest.get(..i), rest.get(i + 1..)) {
                (Some(t), Some(p)) if p.starts_with(b"HTTP/") => (t, p),
                _ => (rest, &[][..]),
            },
            None => (rest, &[][..]),
        },
    };
    if target.is_empty() {
        return NONE;
    }
    let (path, query) = split_at_byte(target, b'?').unwrap_or((target, &[]));
    (method, path, query, protocol)
}

fn malformed(detail: &str) -> ParseError {
    ParseError::with_detail(MALFORMED, detail)
}

/// Splits one access-log line (nginx `combined`, Apache `combined` or `common`, optionally
/// followed by extra fields). The line terminator, if still present, is ignored.
///
/// Checks structure only: the time is located but not parsed, the client is checked for
/// address characters but not parsed. A request line that is not an HTTP request (binary
/// junk, `-`) is not an error: the record has an empty [`AccessRecord::method`].
pub fn split_access_line(line: &[u8]) -> Result<AccessRecord<'_>, ParseError> {
    let line = line.trim_ascii_end();

    // %h: up to the first space.
    let (client, rest) = split_short(line, b' ').ok_or_else(|| malformed("no fields"))?;
    if client.is_empty()
        || client.len() > MAX_CLIENT_LEN
        || !client.iter().all(|&c| is_address_byte(c))
    {
        return Err(ParseError::with_detail(BAD_CLIENT_ADDRESS, snippet(client)));
    }

    // %l %u [: the user name may contain spaces, so it runs up to the " [" of the time.
    let (ident, rest) = split_short(rest, b' ').ok_or_else(|| malformed("no ident field"))?;
    // Nearly every line has no user: `- [`.
    let open = if rest.starts_with(b"- [") {
        2
    } else {
        memchr(b'[', rest).ok_or_else(|| malformed("no [time] field"))?
    };
    let (ident, user) = match open.checked_sub(1) {
        Some(sp) if rest.get(sp) == Some(&b' ') => (ident, rest.get(..sp).unwrap_or_default()),
        // One field before the time (`%h %u [%t]`, as some formats and CrowdSec's samples
        // write): it is taken as the user, the field that can matter, not the identd name.
        None => (&[][..], ident),
        _ => return Err(malformed("no space before [time]")),
    };
    let rest = rest.get(open + 1..).unwrap_or_default();

    // [time]: fixed width in nearly every line; otherwise up to the `]` (a one-digit day,
    // no zone, HAProxy's milliseconds), checked by the decoder's time parser.
    let (time, rest) = match (rest.get(..CLF_TIME_LEN), rest.get(CLF_TIME_LEN)) {
        (Some(t), Some(b']')) => (t, rest.get(CLF_TIME_LEN + 1..).unwrap_or_default()),
        _ => {
            let window = rest.get(..MAX_TIME_LEN + 1).unwrap_or(rest);
            match memchr(b']', window) {
                Some(i) if i >= MIN_TIME_LEN => (
                    rest.get(..i).unwrap_or_default(),
                    rest.get(i + 1..).unwrap_or_default(),
                ),
                _ => {
                    let shown = memchr(b']', rest)
                        .and_then(|i| rest.get(..i))
                        .unwrap_or(rest);
                    return Err(ParseError::with_detail(BAD_TIMESTAMP, snippet(shown)));
                }
            }
        }
    };

    // "%r"
    let rest = rest
        .strip_prefix(b" \"")
        .ok_or_else(|| ParseError::with_detail(BAD_REQUEST_LINE, "request is not quoted"))?;
    let (request, rest) = request_field(rest).ok_or_else(|| {
        ParseError::with_detail(BAD_REQUEST_LINE, "unterminated request (truncated line?)")
    })?;

    // %>s
    let rest = rest
        .strip_prefix(b" ")
        .ok_or_else(|| malformed("no status after the request"))?;
    let (status_field, rest) = split_short(rest, b' ').unwrap_or((rest, &[]));
    let status = match status_field {
        // traefik writes `-` when no response was sent (the client went away first).
        b"-" => NO_STATUS,
        f => status_digits(f).ok_or_else(|| ParseError::with_detail(BAD_STATUS, snippet(f)))?,
    };

    // %b
    let (bytes_field, rest) = split_short(rest, b' ').unwrap_or((rest, &[]));
    let bytes = match bytes_field {
        b"-" => None,
        b if !b.is_empty() && b.len() <= 19 && b.iter().all(u8::is_ascii_digit) => {
            Some(b.iter().fold(0u64, |n, &c| n * 10 + u64::from(c - b'0')))
        }
        b => return Err(ParseError::with_detail(BAD_BYTES_SENT, snippet(b))),
    };

    // Optional "referer" "user agent", then anything.
    let mut referer: &[u8] = &[];
    let mut user_agent: &[u8] = &[];
    let mut extra = rest;
    if let Some(inner) = rest.strip_prefix(b"\"") {
        let (r, after) =
            quoted(inner).ok_or_else(|| malformed("unterminated referer (truncated line?)"))?;
        referer = r;
        extra = after_quoted(after)?;
        if let Some(inner) = extra.strip_prefix(b"\"") {
            let (ua, after) = quoted(inner)
                .ok_or_else(|| malformed("unterminated user agent (truncated line?)"))?;
            user_agent = ua;
            extra = after_quoted(after)?;
        }
    }

    let (method, path, query, protocol) = split_request(request);
    Ok(AccessRecord {
        client,
        ident,
        user,
        time,
        request,
        method,
        path,
        query,
        protocol,
        status,
        bytes,
        referer,
        user_agent,
        extra,
    })
}

/// After a closing quote comes a space and more fields, or the end of the line.
#[inline]
fn after_quoted(after: &[u8]) -> Result<&[u8], ParseError> {
    match after {
        [] => Ok(after),
        [b' ', rest @ ..] => Ok(rest),
        _ => Err(malformed("text right after a closing quote")),
    }
}

/// Up to 64 bytes of a field, as lossless text, for rejection samples.
pub(crate) fn snippet(b: &[u8]) -> String {
    const MAX: usize = 64;
    let cut = b.get(..MAX).unwrap_or(b);
    let mut s = crate::event::lossless_text(cut).into_owned();
    if b.len() > MAX {
        s.push('…');
    }
    s
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Undoes access-log escaping: `\xHH` (nginx, Apache), `\"`, `\\`, and Apache's `\n`, `\r`,
/// `\t`, `\b`, `\v`. Any other backslash is kept. Borrows when there is nothing to undo.
///
/// nginx escapes every byte above 0x7E, so this is also what turns a UTF-8 or Shift-JIS user
/// name logged as `\xE7\x94\xB0` back into its bytes.
pub fn unescape(b: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr(b'\\', b) else {
        return Cow::Borrowed(b);
    };
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(b.get(..first).unwrap_or_default());
    let mut i = first;
    while let Some(&c) = b.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let (byte, len) = match b.get(i + 1) {
            Some(b'x') => match (
                b.get(i + 2).copied().and_then(hex_value),
                b.get(i + 3).copied().and_then(hex_value),
            ) {
                (Some(h), Some(l)) => (h << 4 | l, 4),
                _ => (b'\\', 1),
            },
            Some(b'"') => (b'"', 2),
            Some(b'\\') => (b'\\', 2),
            Some(b'n') => (b'\n', 2),
            Some(b'r') => (b'\r', 2),
            Some(b't') => (b'\t', 2),
            Some(b'b') => (0x08, 2),
            Some(b'v') => (0x0b, 2),
            _ => (b'\\', 1),
        };
        out.push(byte);
        i += len;
    }
    Cow::Owned(out)
}

/// Percent-decodes a URL component (`%40` → `@`); with `plus_is_space`, `+` becomes a space
/// (query strings). Malformed escapes are kept as they are. Borrows when there is nothing to do.
pub fn percent_decode(b: &[u8], plus_is_space: bool) -> Cow<'_, [u8]> {
    let needs = if plus_is_space {
        memchr2(b'%', b'+', b).is_some()
    } else {
        memchr(b'%', b).is_some()
    };
    if !needs {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => match (
                b.get(i + 1).copied().and_then(hex_value),
                b.get(i + 2).copied().and_then(hex_value),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}
