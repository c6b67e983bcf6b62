//! Caddy's JSON access log (`log` directive, `json` encoder, logger `http.log.access…`):
//!
//! ```text
//! {"level":"info","ts":1693840791.75,"logger":"http.log.access","msg":"handled request",
//!  "request":{"remote_ip":"172.17.0.1","remote_port":"44790","client_ip":"127.0.0.1",
//!  "method":"POST","uri":"/login","headers":{"User-Agent":["curl/7.74.0"]}},
//!  "user_id":"","status":302,…}
//! ```
//!
//! The line becomes an [`AccessRecord`] and goes through the same route map as a CLF line.
//! The client is `request.client_ip` (Caddy 2.7+: the peer, or the address Caddy itself took
//! from `X-Forwarded-For` because the operator listed the peer in Caddy's `trusted_proxies`),
//! else `remote_ip`, else the address of `remote_addr` (`ip:port`, Caddy 2.4 and older).
//! `ts` is seconds since the epoch (Caddy's default) or an RFC 3339 text (`time_format`).
//! Caddy writes status 0 when no handler wrote a response: no status.

use std::borrow::Cow;

use serde::Deserialize;

use super::split::{AccessRecord, NO_STATUS, is_method};
use crate::time::{Timestamp, parse_rfc3339};

/// The fields of a Caddy access-log line that matter here (the others are skipped by serde).
#[derive(Debug, Deserialize)]
pub(super) struct CaddyLine<'a> {
    #[serde(default, borrow)]
    ts: Option<CaddyTime<'a>>,
    #[serde(default, borrow)]
    request: Option<CaddyRequest<'a>>,
    #[serde(default)]
    status: Option<i64>,
    #[serde(default, borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CaddyTime<'a> {
    Seconds(f64),
    Text(#[serde(borrow)] Cow<'a, str>),
}

#[derive(Debug, Deserialize)]
struct CaddyRequest<'a> {
    #[serde(default, borrow)]
    client_ip: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    remote_ip: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    remote_addr: Option<Cow<'a, str>>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    uri: Cow<'a, str>,
    #[serde(default, borrow)]
    proto: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    headers: Option<CaddyHeaders<'a>>,
}

/// Caddy writes header names in Go's canonical form.
#[derive(Debug, Deserialize)]
struct CaddyHeaders<'a> {
    #[serde(default, borrow, rename = "User-Agent")]
    user_agent: Vec<Cow<'a, str>>,
}

/// A present, non-empty text field.
fn nonempty<'s>(s: &'s Option<Cow<'_, str>>) -> Option<&'s str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// What a line that starts with `{` is.
#[derive(Debug)]
pub(super) enum CaddyParse<'a> {
    /// An access entry: a request.
    Request(Box<CaddyLine<'a>>),
    /// A Caddy log line of another logger (`http.handlers.reverse_proxy`, …): no request.
    Other,
    /// Not JSON, or JSON of no shape we read.
    Invalid,
}

/// Parses a line that starts with `{`.
pub(super) fn parse(line: &[u8]) -> CaddyParse<'_> {
    match serde_json::from_slice::<CaddyLine<'_>>(line.trim_ascii()) {
        Ok(l) if l.request.is_some() && l.ts.is_some() => CaddyParse::Request(Box::new(l)),
        // A Caddy line without a request still has its logger and level.
        Ok(_) if memchr::memmem::find(line, b"\"logger\"").is_some() => CaddyParse::Other,
        _ => CaddyParse::Invalid,
    }
}

/// True when `line` is a Caddy access entry, for format detection.
pub(super) fn looks_like_caddy(line: &[u8]) -> bool {
    line.first() == Some(&b'{') && matches!(parse(line), CaddyParse::Request(_))
}

impl<'a> CaddyLine<'a> {
    /// The time of the entry; `None` when it is absent or impossible.
    pub(super) fn timestamp(&self) -> Option<Timestamp> {
        match self.ts.as_ref()? {
            CaddyTime::Seconds(s) if s.is_finite() => {
                let ms = (s * 1000.0).floor();
                // Within ±10,000 years of the epoch, so the cast cannot saturate.
                (ms.abs() < 3.2e14).then_some(Timestamp(ms as i64))
            }
            CaddyTime::Seconds(_) => None,
            CaddyTime::Text(t) => parse_rfc3339(t.as_bytes()),
        }
    }

    /// The client address as text: `client_ip`, else `remote_ip`, else `remote_addr`'s address.
    pub(super) fn client(&self) -> Option<&str> {
        let r = self.request.as_ref()?;
        nonempty(&r.client_ip)
            .or_else(|| nonempty(&r.remote_ip))
            .or_else(|| {
                let a = nonempty(&r.remote_addr)?;
                // `1.2.3.4:5678` or `[2001:db8::1]:5678`.
                let host = match a.strip_prefix('[') {
                    Some(v6) => v6.split(']').next()?,
                    None => a.rsplit_once(':').map_or(a, |(h, _)| h),
                };
                Some(host)
            })
    }

    /// The entry as an access record borrowing from this parse (no time text: the caller takes
    /// [`CaddyLine::timestamp`]).
    pub(super) fn record(&self) -> Option<AccessRecord<'_>> {
        let r = self.request.as_ref()?;
        let client = self.client()?.as_bytes();
        let request: &[u8] = r.uri.as_bytes();
        let (path, query) = match memchr::memchr(b'?', request) {
            Some(i) => (request.get(..i)?, request.get(i + 1..)?),
            None => (request, &[][..]),
        };
        // The method must be a method token, as in a CLF request line.
        let method = if is_method(r.method.as_bytes()) && !path.is_empty() {
            r.method.as_bytes()
        } else {
            &[][..]
        };
        let status = match self.status {
            Some(s @ 100..=999) => u16::try_from(s).unwrap_or(NO_STATUS),
            _ => NO_STATUS,
        };
        Some(AccessRecord {
            client,
            ident: &[],
            user: self.user_id.as_deref().unwrap_or("").as_bytes(),
            time: &[],
            request,
            method,
            path,
            query,
            protocol: r.proto.as_deref().unwrap_or("").as_bytes(),
            status,
            bytes: self.size,
            referer: &[],
            user_agent: r
                .headers
                .as_ref()
                .and_then(|h| h.user_agent.first())
                .map_or(&[][..], |u| u.as_bytes()),
            extra: &[],
        })
    }
}
