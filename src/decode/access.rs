//! Web access logs: nginx `combined`, Apache `combined` and `common`, with optional extra
//! trailing fields (`$request_time`, `"$http_x_forwarded_for"`, …), and the shapes real servers
//! write around them: a leading virtual host (nginx `$host`, Apache `%v`, with or without
//! `:port`), a syslog envelope, traefik's CLF (its `-` status included), a one-digit day, no
//! zone (then `timezone` applies), no identd field; HAProxy's HTTP log format and Caddy's JSON
//! access log go through the same route map.
//!
//! Each line is split by a hand-written zero-copy splitter ([`split_access_line`]); a
//! configurable **route map** then decides which requests are authentication or account events
//! (`POST /login` → `login`). Everything else (`GET /`, static files, health checks) is
//! recognized and irrelevant: `Ok(None)`.
//!
//! Decisions worth knowing:
//!
//! - **Shapes.** The plain splitter runs first; only a line it rejects is tried as a vhost,
//!   HAProxy or syslog-wrapped line (`shapes`), and a line that starts with `{` as Caddy JSON
//!   (`caddy`), so the common line pays nothing for them. A line none of them reads keeps the
//!   plain splitter's reason.
//! - **Validation.** Every line has its time and client address parsed, GET or POST, so a
//!   broken line is counted as rejected whatever its method. Reasons: `malformed_access_line`,
//!   `bad_client_address` (hostnames from Apache `HostnameLookups` included), `bad_timestamp`,
//!   `bad_request_line` (request not quoted or unterminated), `bad_status`, `bad_bytes_sent`.
//! - **Not a request.** A request line that is not `METHOD target [protocol]` (a TLS handshake
//!   sent to port 80 shows up as `"\x16\x03\x01…" 400`, or `"-"` for an empty connection) is a
//!   well-formed log line about no request: `Ok(None)`. Blank lines are `Ok(None)` too.
//! - **Route map.** `routes` replaces the defaults ([`default_routes`]) when set; `extra_routes`
//!   are checked before `routes`. First match wins. Paths are matched without the query string,
//!   case-insensitively, after undoing log escapes and percent-encoding. Besides the routes of
//!   `events.md`, the defaults send logout, signup and MFA paths to their own events, ahead of
//!   the broad login pattern, so `/auth/logout` or `/auth/mfa` is not counted as a login; and
//!   the login endpoints of common platforms (WordPress, Magento, Django admin, Devise,
//!   Laravel) with the statuses they really answer ([`default_routes`] says which). A
//!   `POST /graphql` is a login attempt only with `graphql_logins`.
//! - **Outcome.** `login` and `mfa_challenge`: 401/403/422 failure, 301/302/303 success, anything
//!   else unknown. Other events: 4xx/5xx failure (an order answered 500 placed no order), 2xx/3xx
//!   success. Both lists are configurable per route.
//! - **HTTP Basic auth.** With `basic_auth_failures` (default on), a request that carries a user
//!   name and is answered 401 is a failed `login` for that user even when no route matches: the
//!   classic htpasswd brute force.
//! - **Account.** `$remote_user` when set; else the `account_query_param` from the query string;
//!   else the `account_field`-th extra field. Log escapes are undone first, so a UTF-8 or
//!   Shift-JIS name that nginx wrote as `\xE7\x94\xB0` is the same account as in the app's own
//!   logs.
//! - **Client address.** IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes IPv4. `X-Forwarded-For` is
//!   used only when the peer is inside `trusted_proxies`: the client is the rightmost address in
//!   the chain that is not itself a trusted proxy.
//! - **User agent.** Unescaped, kept as lossless text, cut to [`MAX_USER_AGENT`] bytes.

mod caddy;
mod cidr;
mod route;
mod shapes;
mod split;

use std::net::{IpAddr, Ipv4Addr};

use serde::Deserialize;

pub use cidr::{Cidr, CidrSet};
pub use route::{RouteConfig, StatusPattern, default_routes};
pub use split::{
    AccessRecord, BAD_BYTES_SENT, BAD_CLIENT_ADDRESS, BAD_REQUEST_LINE, BAD_STATUS, BAD_TIMESTAMP,
    ExtraField, ExtraFields, MALFORMED, NO_STATUS, percent_decode, split_access_line, unescape,
};

use self::caddy::CaddyParse;
use self::route::RouteMap;
use self::split::snippet;
use crate::decode::Decoder;
use crate::decode::sshd::Zone;
use crate::error::{ConfigError, ParseError};
use crate::event::{AccountKey, AuthEvent, EventKind, LineMeta, Outcome, lossless_text};
use crate::time::{Timestamp, month_from_abbrev, parse_clf};

/// User agents longer than this many bytes are cut (at a character boundary): real ones are a
/// few hundred bytes, and a megabyte of junk should not be carried through every detector.
pub const MAX_USER_AGENT: usize = 1024;

/// The `[access]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// The route map, checked in order (first match wins). Setting it replaces the defaults
    /// ([`default_routes`]); an empty list turns them all off.
    pub routes: Vec<RouteConfig>,
    /// Routes checked before `routes`: the way to add a site's own endpoints and keep the
    /// defaults. Default: none.
    pub extra_routes: Vec<RouteConfig>,
    /// Query-string parameter that holds the account when `$remote_user` is `-`
    /// (e.g. `email`); percent-decoded. Default: none.
    pub account_query_param: Option<String>,
    /// 0-based index, among the extra fields after the user agent (after the size in the
    /// `common` format), of a field that holds the account (e.g. a logged
    /// `$upstream_http_x_user`). Default: none.
    pub account_field: Option<usize>,
    /// Networks (CIDR or single addresses, IPv4 or IPv6) of the reverse proxies whose
    /// `X-Forwarded-For` is believed. Default: empty, so X-Forwarded-For is ignored.
    pub trusted_proxies: Vec<String>,
    /// 0-based index, among the extra fields after the user agent (after the size in the
    /// `common` format), of the X-Forwarded-For field. Default: none, meaning the first quoted extra field that is a comma-separated
    /// list of addresses.
    pub xff_field: Option<usize>,
    /// Treat a request with a user name answered 401 as a failed login even when no route
    /// matches (HTTP Basic auth). Default: true.
    pub basic_auth_failures: bool,
    /// Time zone of access-log times written without one (HAProxy, a `$time_local` format
    /// without `%z`): `"UTC"`, an offset such as `"+09:00"`, `"local"` or an IANA name.
    /// Times with a zone keep theirs. Default: `"UTC"`.
    pub timezone: String,
    /// Count a `POST /graphql` as a login attempt of unknown outcome (checked after `routes`).
    /// Default: false, because most GraphQL POSTs are queries, not logins, and without the
    /// logged body a login mutation cannot be told from a search; turn it on for an API whose
    /// GraphQL endpoint serves mostly authentication.
    pub graphql_logins: bool,
}

impl Default for AccessConfig {
    fn default() -> AccessConfig {
        AccessConfig {
            routes: default_routes(),
            extra_routes: Vec::new(),
            account_query_param: None,
            account_field: None,
            trusted_proxies: Vec::new(),
            xff_field: None,
            basic_auth_failures: true,
            timezone: "UTC".to_string(),
            graphql_logins: false,
        }
    }
}

/// Decodes nginx and Apache access logs into events through the route map.
#[derive(Debug, Clone)]
pub struct AccessDecoder {
    routes: RouteMap,
    account_query_param: Option<Box<[u8]>>,
    account_field: Option<usize>,
    trusted: CidrSet,
    xff_field: Option<usize>,
    basic_auth_failures: bool,
    /// The zone of times written without one.
    zone: Zone,
    /// The last time field and its value: consecutive lines mostly share their second, and a
    /// 26-byte compare is cheaper than parsing.
    last_time: Option<([u8; 26], Timestamp)>,
}

impl AccessDecoder {
    /// Compiles the route map and the trusted-proxy list once. A bad regex, event name, status
    /// or network is a [`ConfigError::BadValue`] naming its key (`access.routes[1].path`).
    pub fn new(cfg: &AccessConfig) -> Result<AccessDecoder, ConfigError> {
        let graphql = if cfg.graphql_logins {
            vec![route::graphql_route()]
        } else {
            Vec::new()
        };
        let routes = RouteMap::compile(&[
            ("access.extra_routes", &cfg.extra_routes),
            ("access.routes", &cfg.routes),
            ("access.graphql_logins", &graphql),
        ])?;
        let trusted = cfg
            .trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Cidr::parse(s).ok_or_else(|| ConfigError::BadValue {
                    key: format!("access.trusted_proxies[{i}]"),
                    message: format!("`{s}` is not an address or CIDR network"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let account_query_param = match cfg.account_query_param.as_deref().map(str::trim) {
            Some("") => {
                return Err(ConfigError::BadValue {
                    key: "access.account_query_param".into(),
                    message: "empty parameter name".into(),
                });
            }
            Some(p) => Some(p.as_bytes().into()),
            None => None,
        };
        let zone = Zone::from_config(&cfg.timezone).map_err(|e| match e {
            ConfigError::BadValue { message, .. } => ConfigError::BadValue {
                key: "access.timezone".into(),
                message,
            },
            other => other,
        })?;
        Ok(AccessDecoder {
            zone,
            routes,
            account_query_param,
            account_field: cfg.account_field,
            trusted: CidrSet(trusted),
            xff_field: cfg.xff_field,
            basic_auth_failures: cfg.basic_auth_failures,
            last_time: None,
        })
    }

    /// Parses the time and the peer address of a split line: every line pays for this so that
    /// a broken line is rejected whatever its method.
    fn validate(&mut self, rec: &AccessRecord<'_>) -> Result<(Timestamp, IpAddr), ParseError> {
        let ts = match &self.last_time {
            Some((raw, ts)) if raw.as_slice() == rec.time => *ts,
            _ => {
                let ts = parse_access_time(rec.time, &self.zone)
                    .ok_or_else(|| ParseError::with_detail(BAD_TIMESTAMP, snippet(rec.time)))?;
                if let Ok(raw) = <[u8; 26]>::try_from(rec.time) {
                    self.last_time = Some((raw, ts));
                }
                ts
            }
        };
        let peer = parse_ip(rec.client)
            .ok_or_else(|| ParseError::with_detail(BAD_CLIENT_ADDRESS, snippet(rec.client)))?;
        Ok((ts, peer))
    }

    /// The account of a request: `$remote_user`, else the query parameter, else the extra
    /// field.
    fn account(&self, rec: &AccessRecord<'_>) -> Option<AccountKey> {
        if let Some(a) = user_account(rec.user) {
            return Some(a);
        }
        if let Some(name) = &self.account_query_param
            && let Some(v) = query_param(rec.query, name)
            && let Some(a) = AccountKey::normalize_bytes(&percent_decode(&unescape(v), true))
        {
            return Some(a);
        }
        let f = rec.extra_field(self.account_field?)?;
        AccountKey::normalize_bytes(&unescape(f.value))
    }

    /// The client address: the peer, or from X-Forwarded-For when the peer is trusted.
    fn client(&self, peer: IpAddr, rec: &AccessRecord<'_>) -> IpAddr {
        if self.trusted.is_empty() || !self.trusted.contains(peer) {
            return peer;
        }
        let xff = match self.xff_field {
            Some(n) => rec.extra_field(n).map(|f| f.value),
            None => rec
                .extras()
                .find(|f| f.quoted && is_address_list(f.value))
                .map(|f| f.value),
        };
        match xff {
            Some(list) => resolve_forwarded(peer, list, &self.trusted),
            None => peer,
        }
    }
}

/// The account named by `$remote_user` / `%u`. Apache writes `""` for an empty name.
fn user_account(user: &[u8]) -> Option<AccountKey> {
    match user {
        b"-" | b"" | b"\"\"" => None,
        u => AccountKey::normalize_bytes(&unescape(u)),
    }
}

/// The raw value of the first `name=` parameter of a query string (key compared after
/// percent-decoding, ASCII case-insensitively).
fn query_param<'q>(query: &'q [u8], name: &[u8]) -> Option<&'q [u8]> {
    query.split(|&c| c == b'&').find_map(|pair| {
        let (k, v) = match memchr::memchr(b'=', pair) {
            Some(i) => (pair.get(..i)?, pair.get(i + 1..)?),
            None => (pair, &[][..]),
        };
        percent_decode(k, true)
            .eq_ignore_ascii_case(name)
            .then_some(v)
    })
}

/// Dotted-quad IPv4 in its canonical form (no leading zeros, as `std` requires), without the
/// UTF-8 check and generic parser `std` goes through: this runs on every line. Anything else
/// returns `None` and is left to `std`.
fn parse_ipv4_fast(b: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut n = 0usize;
    let mut val = 0u32;
    let mut digits = 0u32;
    for &c in b {
        if c.is_ascii_digit() {
            if digits == 3 || (digits > 0 && val == 0) {
                return None;
            }
            val = val * 10 + u32::from(c - b'0');
            digits += 1;
        } else if c == b'.' && digits > 0 {
            *octets.get_mut(n)? = u8::try_from(val).ok()?;
            n += 1;
            val = 0;
            digits = 0;
        } else {
            return None;
        }
    }
    if n != 3 || digits == 0 {
        return None;
    }
    *octets.get_mut(3)? = u8::try_from(val).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// One X-Forwarded-For entry: an address, optionally with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`), as some proxies write them.
fn parse_forwarded_entry(e: &[u8]) -> Option<IpAddr> {
    let e = e.trim_ascii();
    if let Some(ip) = parse_ip(e) {
        return Some(ip);
    }
    if let Some(inner) = e.strip_prefix(b"[") {
        let end = memchr::memchr(b']', inner)?;
        return parse_ip(inner.get(..end)?);
    }
    let colon = memchr::memchr(b':', e)?;
    match e.get(colon + 1..) {
        Some(port) if !port.is_empty() && port.iter().all(u8::is_ascii_digit) => {
            parse_ip(e.get(..colon)?).filter(IpAddr::is_ipv4)
        }
        _ => None,
    }
}

/// True when a field is a comma-separated list of addresses (how an unlabelled
/// X-Forwarded-For field is recognized).
fn is_address_list(v: &[u8]) -> bool {
    !v.is_empty()
        && v.split(|&c| c == b',')
            .all(|e| parse_forwarded_entry(e).is_some())
}

/// Walks X-Forwarded-For from the right, skipping trusted proxies; the first untrusted address
/// is the client. An unreadable entry stops the walk at the nearest address we trust.
fn resolve_forwarded(peer: IpAddr, list: &[u8], trusted: &CidrSet) -> IpAddr {
    let mut client = peer;
    for entry in list.rsplit(|&c| c == b',') {
        match parse_forwarded_entry(entry) {
            Some(ip) => {
                client = ip;
                if !trusted.contains(ip) {
                    return ip;
                }
            }
            None => return client,
        }
    }
    client
}

/// Parses an address, folding IPv4-mapped IPv6 into IPv4.
fn parse_ip(b: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = parse_ipv4_fast(b) {
        return Some(IpAddr::V4(v4));
    }
    let s = std::str::from_utf8(b).ok()?;
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// Lossless user-agent text, cut to [`MAX_USER_AGENT`] bytes at a character boundary.
fn user_agent_text(ua: &[u8]) -> Option<std::sync::Arc<str>> {
    if ua.is_empty() || ua == b"-" {
        return None;
    }
    let raw = unescape(ua);
    let text = lossless_text(&raw);
    let mut cut = text.len().min(MAX_USER_AGENT);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.get(..cut).map(crate::event::shared_text)
}

/// True when `line` looks like an access-log line: it splits, its time parses and its first
/// field is an address. Cheap enough to run on the first lines of an input for format
/// detection.
pub fn looks_like_access(line: &[u8]) -> bool {
    if line.first() == Some(&b'{') {
        return caddy::looks_like_caddy(line);
    }
    split_line(line).is_ok_and(|r| {
        parse_access_time(r.time, &Zone::Fixed(0)).is_some() && parse_ip(r.client).is_some()
    })
}

/// Splits any access-line shape: the plain splitter, then (on its error path only) the
/// other shapes; a line none of them reads keeps the plain splitter's error.
#[inline]
fn split_line(line: &[u8]) -> Result<AccessRecord<'_>, ParseError> {
    match split_access_line(line) {
        Ok(r) => Ok(shapes::vhost_in_ident(r)),
        Err(e) => shapes::split_other(line).ok_or(e),
    }
}

/// Parses an access-log time: `10/Oct/2026:13:55:36 +0900` (the fast path), and the forms real
/// servers also write: a one-digit day (`1/Apr/2014:…`), a fraction (HAProxy's
/// `14/Jan/2015:12:48:57.127`), `+09:00`, or no zone at all (then `zone` applies).
pub(crate) fn parse_access_time(b: &[u8], zone: &Zone) -> Option<Timestamp> {
    if b.len() == 26
        && let Some(t) = parse_clf(b)
    {
        return Some(t);
    }
    fn num(b: &[u8]) -> Option<u32> {
        if b.is_empty() || b.len() > 4 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(b.iter().fold(0, |n, &c| n * 10 + u32::from(c - b'0')))
    }
    let slash = memchr::memchr(b'/', b)?;
    let day_field = b.get(..slash)?;
    if !(1..=2).contains(&day_field.len()) {
        return None;
    }
    let day = num(day_field)?;
    let rest = b.get(slash + 1..)?;
    let month = month_from_abbrev(rest.get(..3)?)?;
    let rest = rest.get(3..)?.strip_prefix(b"/")?;
    let year = num(rest.get(..4)?)?;
    let rest = rest.get(4..)?;
    // `:hh:mm:ss`
    let (hour, minute, second) = match rest.get(..9)? {
        [b':', h1, h2, b':', m1, m2, b':', s1, s2] => {
            (num(&[*h1, *h2])?, num(&[*m1, *m2])?, num(&[*s1, *s2])?)
        }
        _ => return None,
    };
    let mut rest = rest.get(9..)?;
    let mut millis = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        for (i, &c) in frac.iter().take(n.min(3)).enumerate() {
            millis += u32::from(c - b'0') * [100, 10, 1].get(i).copied().unwrap_or(0);
        }
        rest = frac.get(n..)?;
    }
    let year = i32::try_from(year).ok()?;
    if rest.is_empty() {
        return zone.to_utc(year, month, day, hour, minute, second, millis);
    }
    // ` +hhmm` or ` +hh:mm`.
    let z = rest.strip_prefix(b" ")?;
    let (sign, digits) = match z.split_first()? {
        (b'+', d) => (1, d),
        (b'-', d) => (-1, d),
        _ => return None,
    };
    let (zh, zm) = match digits {
        [a, b, c, d] | [a, b, b':', c, d] => (num(&[*a, *b])?, num(&[*c, *d])?),
        _ => return None,
    };
    if zh > 23 || zm > 59 {
        return None;
    }
    let off = sign * i32::try_from(zh * 3600 + zm * 60).ok()?;
    Timestamp::from_civil(year, month, day, hour, minute, second, millis, off)
}

impl Decoder for AccessDecoder {
    fn name(&self) -> &'static str {
        "access"
    }

    fn fork(&self) -> Option<Box<dyn Decoder>> {
        // Per line only a cache (the last time field parsed), never state: lines decode in
        // any order.
        Some(Box::new(self.clone()))
    }

    fn decode(&mut self, line: &[u8], meta: &LineMeta) -> Result<Option<AuthEvent>, ParseError> {
        if line.trim_ascii().is_empty() {
            return Ok(None);
        }
        if line.first() == Some(&b'{') {
            return self.decode_caddy(line, meta);
        }
        let rec = split_line(line)?;
        let (ts, peer) = self.validate(&rec)?;
        self.event(ts, peer, &rec, meta)
    }
}

impl AccessDecoder {
    /// A Caddy JSON access entry, through the same route map.
    fn decode_caddy(
        &mut self,
        line: &[u8],
        meta: &LineMeta,
    ) -> Result<Option<AuthEvent>, ParseError> {
        let entry = match caddy::parse(line) {
            CaddyParse::Request(e) => e,
            CaddyParse::Other => return Ok(None),
            CaddyParse::Invalid => {
                return Err(ParseError::with_detail(
                    MALFORMED,
                    "JSON that is not a Caddy access entry",
                ));
            }
        };
        let ts = entry
            .timestamp()
            .ok_or_else(|| ParseError::with_detail(BAD_TIMESTAMP, "Caddy `ts`"))?;
        let rec = entry
            .record()
            .ok_or_else(|| ParseError::with_detail(BAD_CLIENT_ADDRESS, "no client address"))?;
        let peer = parse_ip(rec.client)
            .ok_or_else(|| ParseError::with_detail(BAD_CLIENT_ADDRESS, snippet(rec.client)))?;
        self.event(ts, peer, &rec, meta)
    }

    /// The event of a validated record, if its request is one the route map (or HTTP Basic
    /// auth) names.
    fn event(
        &self,
        ts: Timestamp,
        peer: IpAddr,
        rec: &AccessRecord<'_>,
        meta: &LineMeta,
    ) -> Result<Option<AuthEvent>, ParseError> {
        if !rec.is_request() {
            return Ok(None);
        }
        let (kind, outcome) = match self.routes.classify(rec.method, rec.path, rec.status) {
            Some(c) => c,
            None if self.basic_auth_failures
                && rec.status == 401
                && user_account(rec.user).is_some() =>
            {
                (EventKind::Login, Outcome::Failure)
            }
            None => return Ok(None),
        };
        let mut ev = AuthEvent::new(ts, kind, *meta);
        ev.outcome = outcome;
        ev.account = self.account(rec);
        ev.ip = Some(self.client(peer, rec));
        ev.user_agent = user_agent_text(rec.user_agent);
        Ok(Some(ev))
    }
}

#[cfg(test)]
mod tests;
