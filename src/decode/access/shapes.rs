//! The access-line shapes other than plain CLF / combined, tried only when the plain splitter
//! fails (or, for an IP virtual host, when its fields say so), so the common line pays nothing:
//!
//! - a leading **virtual host**: nginx `$host $remote_addr …`, Apache `%v %h …` (`vhost_combined`),
//!   with or without `:port`;
//! - a **syslog envelope** (`Jan 11 10:13:05 web01 nginx: 1.2.3.4 - - […] …`, RFC 5424 too): the
//!   header is stripped with the sshd decoder's header parser, and the time is the access line's
//!   own;
//! - **HAProxy**'s HTTP log format (`option httplog`), bare or in a syslog envelope:
//!   `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc … "%r"`. Its other lines
//!   (TCP logs, `SSL handshake failure`) are records with no request.

use memchr::memchr;

use super::split::{AccessRecord, NO_STATUS, split_access_line, split_request};
use crate::decode::sshd::syslog_message;

/// Characters of a virtual host field: a host name or address, optionally with `:port`
/// (`www.example.com:443`, `[2001:db8::1]:80`).
fn is_host_field(f: &[u8]) -> bool {
    !f.is_empty()
        && f.len() <= 255
        && f.iter().all(|&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

/// A line the plain splitter rejected, read as one of the other shapes; `None` when it is none
/// of them (the caller keeps the plain splitter's error, which names what is wrong).
pub(super) fn split_other(line: &[u8]) -> Option<AccessRecord<'_>> {
    if let Some(r) = split_after_vhost(line) {
        return Some(r);
    }
    if let Some(r) = split_haproxy(line) {
        return Some(r);
    }
    let msg = syslog_message(line)?;
    split_access_line(msg)
        .ok()
        .map(vhost_in_ident)
        .filter(has_address)
        .or_else(|| split_after_vhost(msg))
        .or_else(|| split_haproxy(msg))
}

/// The other shapes are guesses: one counts only when its client field is an address (a
/// syslog header read as a vhost line would have `11` as its client).
fn has_address(r: &AccessRecord<'_>) -> bool {
    super::parse_ip(r.client).is_some()
}

/// `host[:port] <plain line>`.
fn split_after_vhost(line: &[u8]) -> Option<AccessRecord<'_>> {
    let sp = memchr(b' ', line)?;
    if !is_host_field(line.get(..sp)?) {
        return None;
    }
    split_access_line(line.get(sp + 1..)?)
        .ok()
        .map(vhost_in_ident)
        .filter(has_address)
}

/// A plain split whose first field was a virtual host written as an address
/// (`10.10.10.11 10.10.10.12 - - […]`): the identd field is then an address and the user field
/// two words. identd names are never addresses, so the fields are shifted by one.
#[inline]
pub(super) fn vhost_in_ident(r: AccessRecord<'_>) -> AccessRecord<'_> {
    if r.ident == b"-" || r.ident.is_empty() {
        return r;
    }
    let Some(sp) = memchr(b' ', r.user) else {
        return r;
    };
    if super::parse_ip(r.ident).is_none() {
        return r;
    }
    let (ident, user) = match (r.user.get(..sp), r.user.get(sp + 1..)) {
        (Some(i), Some(u)) if !i.is_empty() && !u.is_empty() => (i, u),
        _ => return r,
    };
    AccessRecord {
        client: r.ident,
        ident,
        user,
        ..r
    }
}

/// HAProxy's HTTP log line (`option httplog`), without its syslog header.
fn split_haproxy(line: &[u8]) -> Option<AccessRecord<'_>> {
    let line = line.trim_ascii_end();
    let sp = memchr(b' ', line)?;
    let client_port = line.get(..sp)?;
    // `%ci:%cp`: the port after the last colon (IPv6 addresses are written bare).
    let colon = memchr::memrchr(b':', client_port)?;
    let port = client_port.get(colon + 1..)?;
    if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let client = client_port.get(..colon)?;
    super::parse_ip(client)?;
    let rest = line.get(sp + 1..)?.strip_prefix(b"[")?;
    let close = memchr(b']', rest.get(..40).unwrap_or(rest))?;
    let time = rest.get(..close)?;
    let rest = rest.get(close + 1..)?.strip_prefix(b" ")?;
    let mut record = AccessRecord {
        client,
        ident: &[],
        user: &[],
        time,
        request: &[],
        method: &[],
        path: &[],
        query: &[],
        protocol: &[],
        status: NO_STATUS,
        bytes: None,
        referer: &[],
        user_agent: &[],
        extra: &[],
    };
    // `%ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B …`; anything else (a TCP log, an SSL error) is a
    // HAProxy line about no HTTP request.
    let mut words = rest.split(|&c| c == b' ');
    let (Some(_frontend), Some(backend), Some(timers), Some(status), Some(bytes)) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) else {
        return Some(record);
    };
    if memchr(b'/', backend).is_none() || memchr(b'/', timers).is_none() {
        return Some(record);
    }
    let Some(quote) = memchr(b'"', rest) else {
        return Some(record);
    };
    let request = rest.get(quote + 1..)?;
    let request = request.strip_suffix(b"\"").unwrap_or(request);
    record.status = match status {
        [a, b, c] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        // `-1`: the connection was aborted before a response.
        _ => NO_STATUS,
    };
    record.bytes = (!bytes.is_empty() && bytes.len() <= 19 && bytes.iter().all(u8::is_ascii_digit))
        .then(|| {
            bytes
                .iter()
                .fold(0u64, |n, &c| n * 10 + u64::from(c - b'0'))
        });
    let (method, path, query, protocol) = split_request(request);
    record.request = request;
    record.method = method;
    record.path = path;
    record.query = query;
    record.protocol = protocol;
    Some(record)
}
