use std::sync::LazyLock;

use super::*;
use crate::event::{EventKind, Outcome, SourceId};

const NGINX: &[u8] = b"203.0.113.7 - - [10/Oct/2026:13:55:36 +0900] \"POST /login?next=%2Fcart HTTP/1.1\" 302 0 \"https://shop.example.jp/login\" \"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\"";
const APACHE_COMMON: &[u8] =
    b"192.0.2.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326";

fn meta() -> LineMeta {
    LineMeta {
        source: SourceId(3),
        line: 42,
    }
}

fn decoder(cfg: &AccessConfig) -> AccessDecoder {
    AccessDecoder::new(cfg).unwrap()
}

fn decode_with(cfg: &AccessConfig, line: &[u8]) -> Result<Option<AuthEvent>, ParseError> {
    decoder(cfg).decode(line, &meta())
}

/// Compiled once: building the route map per call would dominate the test time.
static DEFAULT: LazyLock<AccessDecoder> = LazyLock::new(|| decoder(&AccessConfig::default()));

fn decode(line: &[u8]) -> Result<Option<AuthEvent>, ParseError> {
    DEFAULT.clone().decode(line, &meta())
}

fn event(line: &[u8]) -> AuthEvent {
    decode(line).unwrap().unwrap()
}

fn reason(line: &[u8]) -> &'static str {
    decode(line).unwrap_err().reason
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn line(client: &str, user: &str, req: &str, status: u16, tail: &str) -> Vec<u8> {
    format!("{client} - {user} [20/Nov/2026:10:15:02 +0000] \"{req}\" {status} 512{tail}")
        .into_bytes()
}

// ---- splitting ----

#[test]
fn splits_nginx_combined() {
    let r = split_access_line(NGINX).unwrap();
    assert_eq!(r.client, b"203.0.113.7");
    assert_eq!(r.ident, b"-");
    assert_eq!(r.user, b"-");
    assert_eq!(r.time, b"10/Oct/2026:13:55:36 +0900");
    assert_eq!(r.request, b"POST /login?next=%2Fcart HTTP/1.1");
    assert_eq!(r.method, b"POST");
    assert_eq!(r.path, b"/login");
    assert_eq!(r.query, b"next=%2Fcart");
    assert_eq!(r.protocol, b"HTTP/1.1");
    assert_eq!(r.status, 302);
    assert_eq!(r.bytes, Some(0));
    assert_eq!(r.referer, b"https://shop.example.jp/login");
    assert_eq!(
        r.user_agent,
        b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    );
    assert_eq!(r.extra, b"");
    assert_eq!(r.extras().count(), 0);
    assert!(r.is_request());
}

#[test]
fn splits_apache_common() {
    let r = split_access_line(APACHE_COMMON).unwrap();
    assert_eq!(r.client, b"192.0.2.1");
    assert_eq!(r.user, b"frank");
    assert_eq!(r.path, b"/apache_pb.gif");
    assert_eq!(r.query, b"");
    assert_eq!(r.protocol, b"HTTP/1.0");
    assert_eq!(r.status, 200);
    assert_eq!(r.bytes, Some(2326));
    assert_eq!(r.referer, b"");
    assert_eq!(r.user_agent, b"");
    assert_eq!(r.extra, b"");
}

#[test]
fn splits_apache_combined_with_escaped_quotes() {
    let l = br#"198.51.100.23 - - [10/Oct/2026:13:55:36 +0000] "GET /search?q=\"shoes\" HTTP/1.1" 200 5120 "https://ex.com/?a=\"b\"" "Mozilla/5.0 \"quoted\" \\ agent""#;
    let r = split_access_line(l).unwrap();
    assert_eq!(r.request, br#"GET /search?q=\"shoes\" HTTP/1.1"#);
    assert_eq!(r.query, br#"q=\"shoes\""#);
    assert_eq!(r.referer, br#"https://ex.com/?a=\"b\""#);
    assert_eq!(r.user_agent, br#"Mozilla/5.0 \"quoted\" \\ agent"#);
    assert_eq!(&*unescape(r.user_agent), br#"Mozilla/5.0 "quoted" \ agent"#);
}

#[test]
fn splits_nginx_hex_escapes() {
    let l = br#"203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET /a\x22b HTTP/1.1" 404 153 "-" "curl \x22x\x22 \\""#;
    let r = split_access_line(l).unwrap();
    assert_eq!(r.path, br#"/a\x22b"#);
    assert_eq!(&*unescape(r.path), br#"/a"b"#);
    assert_eq!(&*unescape(r.user_agent), br#"curl "x" \"#);
    assert_eq!(r.referer, b"-");
}

#[test]
fn raw_quote_inside_request_is_tolerated() {
    // nginx with `escape=none` or Apache before 2.0.46 leave quotes unescaped.
    let l = br#"203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET /a"b HTTP/1.1" 200 1 "-" "ua""#;
    let r = split_access_line(l).unwrap();
    assert_eq!(r.request, br#"GET /a"b HTTP/1.1"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.user_agent, b"ua");
}

#[test]
fn splits_extra_fields() {
    let l = br#"10.0.0.2 - - [10/Oct/2026:13:55:36 +0900] "POST /login HTTP/1.1" 401 12 "-" "python-requests/2.32" 0.004 "198.51.100.7, 10.0.0.9" rt=0.004 "a \"b\"" "unterminated"#;
    let r = split_access_line(l).unwrap();
    let extras: Vec<_> = r.extras().collect();
    assert_eq!(
        extras,
        vec![
            ExtraField {
                value: b"0.004",
                quoted: false
            },
            ExtraField {
                value: b"198.51.100.7, 10.0.0.9",
                quoted: true
            },
            ExtraField {
                value: b"rt=0.004",
                quoted: false
            },
            ExtraField {
                value: br#"a \"b\""#,
                quoted: true
            },
            ExtraField {
                value: b"unterminated",
                quoted: true
            },
        ]
    );
    assert_eq!(r.extra_field(1).unwrap().value, b"198.51.100.7, 10.0.0.9");
    assert_eq!(r.extra_field(9), None);
}

#[test]
fn common_format_with_unquoted_extras() {
    // Apache `%h %l %u %t "%r" %>s %b %D`.
    let l = b"192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] \"GET / HTTP/1.1\" 200 - 1234";
    let r = split_access_line(l).unwrap();
    assert_eq!(r.bytes, None);
    assert_eq!(r.user_agent, b"");
    assert_eq!(
        r.extra_field(0),
        Some(ExtraField {
            value: b"1234",
            quoted: false
        })
    );
}

#[test]
fn ipv6_clients() {
    let l =
        b"2001:db8::1 - - [10/Oct/2026:13:55:36 +0000] \"POST /login HTTP/2.0\" 401 0 \"-\" \"ua\"";
    let r = split_access_line(l).unwrap();
    assert_eq!(r.client, b"2001:db8::1");
    assert_eq!(event(l).ip, Some(ip("2001:db8::1")));
    let mapped = b"::ffff:1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] \"POST /login HTTP/1.1\" 401 0 \"-\" \"ua\"";
    assert_eq!(event(mapped).ip, Some(ip("1.2.3.4")));
    let full = b"2001:0db8:85a3:0000:0000:8a2e:0370:7334 - - [10/Oct/2026:13:55:36 +0000] \"POST /login HTTP/1.1\" 401 0";
    assert_eq!(event(full).ip, Some(ip("2001:db8:85a3::8a2e:370:7334")));
}

#[test]
fn crlf_and_trailing_space_are_ignored() {
    let mut l = NGINX.to_vec();
    l.extend_from_slice(b" \r\n");
    assert_eq!(
        split_access_line(&l).unwrap(),
        split_access_line(NGINX).unwrap()
    );
}

#[test]
fn user_with_spaces() {
    let l = b"192.0.2.1 - john smith [10/Oct/2026:13:55:36 +0000] \"POST /login HTTP/1.1\" 401 0";
    let r = split_access_line(l).unwrap();
    assert_eq!(r.user, b"john smith");
    assert_eq!(event(l).account.unwrap().as_str(), "john smith");
}

#[test]
fn rejects_with_stable_reasons() {
    let ok = "\"GET / HTTP/1.1\" 200 1";
    let t = "[10/Oct/2026:13:55:36 +0000]";
    for (l, want) in [
        ("garbage".to_string(), MALFORMED),
        (format!("example.com - - {t} {ok}"), BAD_CLIENT_ADDRESS),
        (format!("unix: - - {t} {ok}"), BAD_CLIENT_ADDRESS),
        (format!("1.2.3.999 - - {t} {ok}"), BAD_CLIENT_ADDRESS),
        (format!("1.2.3.4 - - {ok}"), MALFORMED),
        (format!("1.2.3.4 -{t} {ok}"), MALFORMED),
        (
            format!("1.2.3.4 - - [10/Oct/2026:13:55] {ok}"),
            BAD_TIMESTAMP,
        ),
        (
            format!("1.2.3.4 - - [10/Oct/2026:13:55:36 +2500] {ok}"),
            BAD_TIMESTAMP,
        ),
        (
            format!("1.2.3.4 - - [100/Oct/2026:13:55:36 +0000] {ok}"),
            BAD_TIMESTAMP,
        ),
        (format!("host.example.com - - {t} {ok}"), BAD_CLIENT_ADDRESS),
        (
            format!("1.2.3.4 - - [32/Oct/2026:13:55:36 +0000] {ok}"),
            BAD_TIMESTAMP,
        ),
        (
            format!("1.2.3.4 - - [10/Qct/2026:13:55:36 +0000] {ok}"),
            BAD_TIMESTAMP,
        ),
        (
            format!("1.2.3.4 - - {t} GET / HTTP/1.1 200 1"),
            BAD_REQUEST_LINE,
        ),
        (
            format!("1.2.3.4 - - {t} \"GET / HTTP/1.1"),
            BAD_REQUEST_LINE,
        ),
        (format!("1.2.3.4 - - {t} \"GET / HTTP/1.1\""), MALFORMED),
        (
            format!("1.2.3.4 - - {t} \"GET / HTTP/1.1\" 2x0 1"),
            BAD_STATUS,
        ),
        (
            format!("1.2.3.4 - - {t} \"GET / HTTP/1.1\" 2000 1"),
            BAD_STATUS,
        ),
        (
            format!("1.2.3.4 - - {t} \"GET / HTTP/1.1\" 200 1k"),
            BAD_BYTES_SENT,
        ),
        (
            format!("1.2.3.4 - - {t} \"GET / HTTP/1.1\" 200"),
            BAD_BYTES_SENT,
        ),
        (format!("1.2.3.4 - - {t} {ok} \"https://ref"), MALFORMED),
        (
            format!("1.2.3.4 - - {t} {ok} \"-\" \"Mozilla/5.0 (Win"),
            MALFORMED,
        ),
        (format!("1.2.3.4 - - {t} {ok} \"-\"x"), MALFORMED),
    ] {
        assert_eq!(reason(l.as_bytes()), want, "{l}");
    }
}

#[test]
fn empty_line_does_not_split() {
    assert_eq!(split_access_line(b"").unwrap_err().reason, MALFORMED);
    assert_eq!(split_access_line(b"\r").unwrap_err().reason, MALFORMED);
}

#[test]
fn truncated_lines_are_rejected_not_panicking() {
    for n in 0..NGINX.len() {
        let cut = &NGINX[..n];
        match decode(cut) {
            Err(_) | Ok(None) => {}
            Ok(Some(ev)) => {
                // Cut after the bytes field or inside the trailing fields that are complete.
                assert!(n >= NGINX.len() - 107, "{n}: {ev:?}");
            }
        }
    }
}

#[test]
fn rejection_detail_is_a_short_sample() {
    let mut l = b"1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] \"GET / HTTP/1.1\" ".to_vec();
    l.extend(std::iter::repeat_n(b'9', 1000));
    let e = decode(&l).unwrap_err();
    assert_eq!(e.reason, BAD_STATUS);
    assert!(e.detail.unwrap().chars().count() <= 65);
}

// ---- not-a-request and irrelevant lines ----

#[test]
fn tls_handshake_is_irrelevant_not_rejected() {
    let l = br#"45.155.205.9 - - [10/Oct/2026:13:55:36 +0000] "\x16\x03\x01\x00\xA5\x01\x00\x00\xA1\x03\x03" 400 157 "-" "-""#;
    let r = split_access_line(l).unwrap();
    assert!(!r.is_request());
    assert_eq!(r.status, 400);
    assert_eq!(decode(l), Ok(None));
    // Raw binary (a server that does not escape) as well.
    let raw = b"45.155.205.9 - - [10/Oct/2026:13:55:36 +0000] \"\x16\x03\x01\x00\xa5\x01\" 400 157 \"-\" \"-\"";
    assert_eq!(decode(raw), Ok(None));
    for req in ["-", "", "GET", "POST ", "PO ST /login HTTP/1.1"] {
        let l = line("1.2.3.4", "-", req, 400, "");
        assert_eq!(decode(&l), Ok(None), "{req}");
    }
}

#[test]
fn gets_and_static_files_are_irrelevant() {
    assert_eq!(decode(APACHE_COMMON), Ok(None));
    for req in [
        "GET / HTTP/1.1",
        "GET /login HTTP/1.1",
        "HEAD /login HTTP/1.1",
        "GET /static/app.js HTTP/2.0",
        "POST /api/cart HTTP/1.1",
    ] {
        assert_eq!(
            decode(&line("1.2.3.4", "-", req, 200, "")),
            Ok(None),
            "{req}"
        );
    }
    assert_eq!(decode(b""), Ok(None));
    assert_eq!(decode(b"  \r"), Ok(None));
}

#[test]
fn bad_time_rejected_even_on_gets() {
    let l = b"1.2.3.4 - - [29/Feb/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1";
    assert_eq!(reason(l), BAD_TIMESTAMP);
}

// ---- events ----

#[test]
fn nginx_login_redirect_is_success() {
    let ev = event(NGINX);
    assert_eq!(ev.kind, EventKind::Login);
    assert_eq!(ev.outcome, Outcome::Success);
    assert_eq!(ev.ts.to_string(), "2026-10-10T04:55:36Z");
    assert_eq!(ev.ip, Some(ip("203.0.113.7")));
    assert_eq!(ev.account, None);
    assert_eq!(ev.reason, None);
    assert_eq!(
        ev.user_agent.as_deref(),
        Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
    );
    assert_eq!(ev.origin, meta());
    assert_eq!(ev.repeat, 1);
    assert_eq!(ev.details, None);
}

#[test]
fn login_outcomes_follow_status() {
    for (status, want) in [
        (401, Outcome::Failure),
        (403, Outcome::Failure),
        (301, Outcome::Success),
        (303, Outcome::Success),
        (200, Outcome::Unknown),
        (429, Outcome::Unknown),
        (500, Outcome::Unknown),
    ] {
        let ev = event(&line(
            "1.2.3.4",
            "-",
            "POST /api/session HTTP/1.1",
            status,
            "",
        ));
        assert_eq!((ev.kind, ev.outcome), (EventKind::Login, want), "{status}");
    }
}

#[test]
fn non_login_routes() {
    let c = |req: &str, status| {
        let ev = event(&line("1.2.3.4", "-", req, status, ""));
        (ev.kind, ev.outcome)
    };
    use EventKind::*;
    assert_eq!(
        c("POST /auth/password/reset HTTP/1.1", 302),
        (PasswordResetRequest, Outcome::Success)
    );
    assert_eq!(
        c("POST /ap/forgotpassword?x=1 HTTP/1.1", 200),
        (PasswordResetRequest, Outcome::Success)
    );
    assert_eq!(
        c("POST /account/addresses HTTP/1.1", 201),
        (AddressChange, Outcome::Success)
    );
    assert_eq!(c("POST /checkout HTTP/1.1", 302), (Order, Outcome::Success));
    assert_eq!(
        c("POST /api/orders HTTP/1.1", 500),
        (Order, Outcome::Failure)
    );
    assert_eq!(
        c("POST /place-order HTTP/1.1", 422),
        (Order, Outcome::Failure)
    );
}

#[test]
fn query_string_does_not_match_routes() {
    assert_eq!(
        decode(&line(
            "1.2.3.4",
            "-",
            "POST /cart?return=/login HTTP/1.1",
            302,
            ""
        )),
        Ok(None)
    );
}

#[test]
fn routes_replace_and_extra_routes_extend() {
    let custom = RouteConfig {
        method: "PUT".into(),
        path: "^/api/v2/tokens$".into(),
        event: "login".into(),
        success_status: Some(vec![StatusPattern::Code(201)]),
        failure_status: Some(vec![StatusPattern::Text("4xx".into())]),
    };
    let token = line("1.2.3.4", "-", "PUT /api/v2/tokens HTTP/1.1", 201, "");
    let login = line("1.2.3.4", "-", "POST /login HTTP/1.1", 401, "");

    // `routes` replaces the defaults.
    let replaced = AccessConfig {
        routes: vec![custom.clone()],
        ..AccessConfig::default()
    };
    let ev = decode_with(&replaced, &token).unwrap().unwrap();
    assert_eq!((ev.kind, ev.outcome), (EventKind::Login, Outcome::Success));
    assert_eq!(decode_with(&replaced, &login), Ok(None));

    // `extra_routes` come first and keep the defaults.
    let extended = AccessConfig {
        extra_routes: vec![
            custom,
            RouteConfig {
                method: "POST".into(),
                path: "/login".into(),
                event: "signup".into(),
                success_status: None,
                failure_status: None,
            },
        ],
        ..AccessConfig::default()
    };
    assert_eq!(
        decode_with(&extended, &token).unwrap().unwrap().kind,
        EventKind::Login
    );
    let ev = decode_with(&extended, &login).unwrap().unwrap();
    assert_eq!((ev.kind, ev.outcome), (EventKind::Signup, Outcome::Failure));
    let ev = decode_with(
        &extended,
        &line("1.2.3.4", "-", "POST /session HTTP/1.1", 401, ""),
    )
    .unwrap()
    .unwrap();
    assert_eq!(ev.kind, EventKind::Login);

    // No routes at all: nothing is an event (except Basic auth failures).
    let none = AccessConfig {
        routes: vec![],
        basic_auth_failures: false,
        ..AccessConfig::default()
    };
    assert_eq!(decode_with(&none, &login), Ok(None));
}

#[test]
fn basic_auth_failures() {
    let l = line(
        "1.2.3.4",
        "admin",
        "GET /admin/ HTTP/1.1",
        401,
        " \"-\" \"curl/8.5\"",
    );
    let ev = event(&l);
    assert_eq!((ev.kind, ev.outcome), (EventKind::Login, Outcome::Failure));
    assert_eq!(ev.account.unwrap().as_str(), "admin");
    // No user name: the browser's first, credential-less request.
    assert_eq!(
        decode(&line("1.2.3.4", "-", "GET /admin/ HTTP/1.1", 401, "")),
        Ok(None)
    );
    // Authenticated requests that succeed are not logins.
    assert_eq!(
        decode(&line("1.2.3.4", "admin", "GET /admin/ HTTP/1.1", 200, "")),
        Ok(None)
    );
    let off = AccessConfig {
        basic_auth_failures: false,
        ..AccessConfig::default()
    };
    assert_eq!(decode_with(&off, &l), Ok(None));
}

// ---- accounts ----

#[test]
fn account_from_remote_user() {
    let ev = event(&line(
        "1.2.3.4",
        "Alice@Example.COM",
        "POST /login HTTP/1.1",
        401,
        "",
    ));
    assert_eq!(ev.account.unwrap().as_str(), "alice@example.com");
    // Apache writes `""` for an empty user name.
    assert_eq!(
        event(&line("1.2.3.4", "\"\"", "POST /login HTTP/1.1", 401, "")).account,
        None
    );
}

#[test]
fn shift_jis_user_raw_and_nginx_escaped_are_one_account() {
    // "田中" in Shift-JIS, written raw (Apache with a custom format) and as nginx escapes it.
    let raw = line("1.2.3.4", "\u{0}", "POST /login HTTP/1.1", 401, "");
    let raw: Vec<u8> = raw
        .split(|&c| c == 0)
        .collect::<Vec<_>>()
        .join(&b"\x93\x63\x92\x86"[..]);
    let escaped = line("1.2.3.4", r"\x93c\x92\x86", "POST /login HTTP/1.1", 401, "");
    let a = event(&raw).account.unwrap();
    let b = event(&escaped).account.unwrap();
    assert_eq!(a, b);
    assert_eq!(a, AccountKey::normalize_bytes(b"\x93\x63\x92\x86").unwrap());
    // UTF-8 escaped by nginx comes back as the UTF-8 name.
    let utf8 = line(
        "1.2.3.4",
        r"\xE7\x94\xB0\xE4\xB8\xAD",
        "POST /login HTTP/1.1",
        401,
        "",
    );
    assert_eq!(event(&utf8).account.unwrap().as_str(), "田中");
}

#[test]
fn account_from_query_param() {
    let cfg = AccessConfig {
        account_query_param: Some("email".into()),
        ..AccessConfig::default()
    };
    let l = line(
        "1.2.3.4",
        "-",
        "POST /login?lang=ja&Email=Bob%40Example.jp&x HTTP/1.1",
        401,
        "",
    );
    let ev = decode_with(&cfg, &l).unwrap().unwrap();
    assert_eq!(ev.account.unwrap().as_str(), "bob@example.jp");
    let plus = line(
        "1.2.3.4",
        "-",
        "POST /login?email=a+b%2Bc HTTP/1.1",
        401,
        "",
    );
    assert_eq!(
        decode_with(&cfg, &plus)
            .unwrap()
            .unwrap()
            .account
            .unwrap()
            .as_str(),
        "a b+c"
    );
    let empty = line("1.2.3.4", "-", "POST /login?email=&x=1 HTTP/1.1", 401, "");
    assert_eq!(decode_with(&cfg, &empty).unwrap().unwrap().account, None);
    // $remote_user wins.
    let both = line(
        "1.2.3.4",
        "carol",
        "POST /login?email=bob HTTP/1.1",
        401,
        "",
    );
    assert_eq!(
        decode_with(&cfg, &both)
            .unwrap()
            .unwrap()
            .account
            .unwrap()
            .as_str(),
        "carol"
    );
    // Not configured: no account from the query.
    assert_eq!(event(&l).account, None);
}

#[test]
fn account_from_extra_field() {
    let cfg = AccessConfig {
        account_field: Some(1),
        ..AccessConfig::default()
    };
    let l = line(
        "1.2.3.4",
        "-",
        "POST /login HTTP/1.1",
        302,
        " \"-\" \"ua\" 0.120 \"Dave@Example.com\"",
    );
    assert_eq!(
        decode_with(&cfg, &l)
            .unwrap()
            .unwrap()
            .account
            .unwrap()
            .as_str(),
        "dave@example.com"
    );
    let dash = line(
        "1.2.3.4",
        "-",
        "POST /login HTTP/1.1",
        302,
        " \"-\" \"ua\" 0.120 \"-\"",
    );
    assert_eq!(decode_with(&cfg, &dash).unwrap().unwrap().account, None);
    let missing = line("1.2.3.4", "-", "POST /login HTTP/1.1", 302, " \"-\" \"ua\"");
    assert_eq!(decode_with(&cfg, &missing).unwrap().unwrap().account, None);
}

// ---- X-Forwarded-For ----

fn trusting(proxies: &[&str]) -> AccessConfig {
    AccessConfig {
        trusted_proxies: proxies.iter().map(|s| s.to_string()).collect(),
        ..AccessConfig::default()
    }
}

fn xff_ip(cfg: &AccessConfig, peer: &str, tail: &str) -> Option<IpAddr> {
    decode_with(cfg, &line(peer, "-", "POST /login HTTP/1.1", 401, tail))
        .unwrap()
        .unwrap()
        .ip
}

#[test]
fn xff_ignored_without_trusted_proxies() {
    let tail = " \"-\" \"ua\" \"198.51.100.7\"";
    assert_eq!(
        xff_ip(&AccessConfig::default(), "10.0.0.2", tail),
        Some(ip("10.0.0.2"))
    );
    // Trusted list that does not contain the peer: the header is the client's own claim.
    assert_eq!(
        xff_ip(&trusting(&["10.0.0.0/8"]), "203.0.113.50", tail),
        Some(ip("203.0.113.50"))
    );
}

#[test]
fn xff_from_trusted_proxy() {
    let cfg = trusting(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
    // Spoofed left part, real client appended by our proxy, then our own inner proxy.
    let tail = " \"-\" \"ua\" 0.004 \"1.1.1.1, 198.51.100.7, 10.0.0.9\"";
    assert_eq!(xff_ip(&cfg, "10.0.0.2", tail), Some(ip("198.51.100.7")));
    // Everything trusted: the leftmost.
    assert_eq!(
        xff_ip(&cfg, "10.0.0.2", " \"-\" \"ua\" \"10.1.1.1, 10.0.0.9\""),
        Some(ip("10.1.1.1"))
    );
    // `-` or no field at all: the peer.
    assert_eq!(
        xff_ip(&cfg, "10.0.0.2", " \"-\" \"ua\" \"-\""),
        Some(ip("10.0.0.2"))
    );
    assert_eq!(
        xff_ip(&cfg, "10.0.0.2", " \"-\" \"ua\""),
        Some(ip("10.0.0.2"))
    );
    // IPv6 and ports.
    assert_eq!(
        xff_ip(
            &cfg,
            "2001:db8:ffff::5",
            " \"-\" \"ua\" \"[2001:db8:1::7]:443, 10.0.0.1:8080\""
        ),
        Some(ip("2001:db8:1::7"))
    );
    assert_eq!(
        xff_ip(
            &cfg,
            "::ffff:10.0.0.2",
            " \"-\" \"ua\" \"::ffff:198.51.100.8\""
        ),
        Some(ip("198.51.100.8"))
    );
}

#[test]
fn xff_garbage_stops_at_nearest_trusted_hop() {
    let cfg = trusting(&["10.0.0.0/8"]);
    let tail = " \"-\" \"ua\" \"10.0.0.1\"";
    assert_eq!(xff_ip(&cfg, "10.0.0.2", tail), Some(ip("10.0.0.1")));
    // Auto-detection skips fields that are not address lists.
    let cfg_field = AccessConfig {
        xff_field: Some(1),
        ..trusting(&["10.0.0.0/8"])
    };
    let tail = " \"-\" \"ua\" \"203.0.113.1\" \"unknown, 10.0.0.1\"";
    assert_eq!(xff_ip(&cfg, "10.0.0.2", tail), Some(ip("203.0.113.1")));
    assert_eq!(xff_ip(&cfg_field, "10.0.0.2", tail), Some(ip("10.0.0.1")));
    assert_eq!(
        resolve_forwarded(ip("10.0.0.2"), b"evil, 10.0.0.3", &cfg_trusted()),
        ip("10.0.0.3")
    );
    assert_eq!(
        resolve_forwarded(ip("10.0.0.2"), b"", &cfg_trusted()),
        ip("10.0.0.2")
    );
}

fn cfg_trusted() -> CidrSet {
    CidrSet(vec![Cidr::parse("10.0.0.0/8").unwrap()])
}

#[test]
fn xff_explicit_field_index() {
    let cfg = AccessConfig {
        xff_field: Some(0),
        ..trusting(&["10.0.0.2"])
    };
    // Unquoted, as some formats write it.
    let tail = " \"-\" \"ua\" 198.51.100.77 \"203.0.113.1\"";
    assert_eq!(xff_ip(&cfg, "10.0.0.2", tail), Some(ip("198.51.100.77")));
}

// ---- text fields ----

#[test]
fn user_agent_dash_is_none_and_escapes_are_undone() {
    let l = line("1.2.3.4", "-", "POST /login HTTP/1.1", 401, " \"-\" \"-\"");
    assert_eq!(event(&l).user_agent, None);
    let l = line(
        "1.2.3.4",
        "-",
        "POST /login HTTP/1.1",
        401,
        r#" "-" "Mozilla \x22x\x22 \xE2\x80\x94 \xFF""#,
    );
    assert_eq!(
        event(&l).user_agent.as_deref(),
        Some("Mozilla \"x\" — \\xFF")
    );
}

#[test]
fn megabyte_fields() {
    let big_ua = "A".repeat(1 << 20);
    let l = line(
        "1.2.3.4",
        "-",
        "POST /login HTTP/1.1",
        401,
        &format!(" \"-\" \"{big_ua}\""),
    );
    assert!(l.len() > 1 << 20);
    let r = split_access_line(&l).unwrap();
    assert_eq!(r.user_agent.len(), 1 << 20);
    let ev = event(&l);
    assert_eq!(ev.user_agent.as_deref().map(str::len), Some(MAX_USER_AGENT));

    // Multi-byte characters are cut at a boundary.
    let l = line(
        "1.2.3.4",
        "-",
        "POST /login HTTP/1.1",
        401,
        &format!(" \"-\" \"a{}\"", "田".repeat(1000)),
    );
    let ua = event(&l).user_agent.unwrap();
    assert_eq!(ua.len(), 1 + 341 * 3);

    let big_path = format!("POST /{}/login HTTP/1.1", "x".repeat(1 << 20));
    let ev = event(&line("2001:db8::1", "-", &big_path, 401, ""));
    assert_eq!(ev.kind, EventKind::Login);

    let mut junk = b"1.2.3.4 - - [10/Oct/2026:13:55:36 +0000] \"".to_vec();
    junk.extend(std::iter::repeat_n(b'\\', 1 << 20));
    assert_eq!(reason(&junk), BAD_REQUEST_LINE);
}

#[test]
fn non_utf8_everywhere() {
    let l = b"1.2.3.4 - \x82\xa0\xff [10/Oct/2026:13:55:36 +0000] \"POST /\xffsignin\xfe?u=\x80 HTTP/1.1\" 401 0 \"\xc3\x28\" \"\x93\x63\xff\"";
    let ev = event(l);
    assert_eq!((ev.kind, ev.outcome), (EventKind::Login, Outcome::Failure));
    assert_eq!(ev.account.unwrap().as_str(), "\\x82\\xa0\\xff");
    assert_eq!(ev.user_agent.as_deref(), Some("\\x93c\\xFF"));
}

#[test]
fn unescape_and_percent_decode() {
    assert!(matches!(unescape(b"plain"), std::borrow::Cow::Borrowed(_)));
    assert_eq!(
        &*unescape(br#"a\x41\x4a\x4A\"\\\n\t\q\x4\"#),
        b"aAJJ\"\\\n\t\\q\\x4\\"
    );
    assert_eq!(&*percent_decode(b"a%40b+c%2", true), b"a@b c%2");
    assert_eq!(&*percent_decode(b"a%40b+c", false), b"a@b+c");
    assert!(matches!(
        percent_decode(b"a+b", false),
        std::borrow::Cow::Borrowed(_)
    ));
}

// ---- detection and config ----

#[test]
fn looks_like_access_detection() {
    assert!(looks_like_access(NGINX));
    assert!(looks_like_access(APACHE_COMMON));
    assert!(!looks_like_access(
        b"Nov 20 10:15:02 host sshd[123]: Failed password for root from 1.2.3.4 port 22 ssh2"
    ));
    assert!(!looks_like_access(
        br#"{"ts":"2026-11-20T10:15:02Z","event":"login"}"#
    ));
    assert!(!looks_like_access(b"ts,event,account,ip"));
    assert!(!looks_like_access(
        b"1.2.3.4 - - [99/Oct/2026:13:55:36 +0000] \"GET / HTTP/1.1\" 200 1"
    ));
    assert!(!looks_like_access(b""));
}

#[test]
fn ipv4_fast_path_agrees_with_std() {
    for s in [
        "1.2.3.4",
        "0.0.0.0",
        "255.255.255.255",
        "10.0.0.1",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3",
        "1.2.3.4.5",
        "1..2.3",
        ".1.2.3",
        "1.2.3.",
        "1.2.3.4a",
        "1234.1.1.1",
        "1.2.3.0400",
        "",
        "::1",
        "1.2.3.-4",
    ] {
        let std = s.parse::<Ipv4Addr>().ok();
        assert_eq!(parse_ipv4_fast(s.as_bytes()), std, "{s}");
    }
}

#[test]
fn time_cache_follows_the_line() {
    let mut d = DEFAULT.clone();
    let a = line("1.2.3.4", "-", "POST /login HTTP/1.1", 401, "");
    let b = String::from_utf8(a.clone())
        .unwrap()
        .replace("10:15:02", "10:15:03");
    let ta = d.decode(&a, &meta()).unwrap().unwrap().ts;
    let tb = d.decode(b.as_bytes(), &meta()).unwrap().unwrap().ts;
    assert_eq!(tb.millis() - ta.millis(), 1000);
    assert_eq!(d.decode(&a, &meta()).unwrap().unwrap().ts, ta);
}

#[test]
fn decoder_name() {
    assert_eq!(decoder(&AccessConfig::default()).name(), "access");
}

#[derive(Debug, Deserialize)]
struct Top {
    #[serde(default)]
    access: AccessConfig,
}

#[test]
fn config_from_toml() {
    let empty: Top = toml::from_str("").unwrap();
    assert_eq!(empty.access, AccessConfig::default());
    assert_eq!(AccessConfig::default().routes, default_routes());

    let t: Top = toml::from_str(
        r#"
        [access]
        account_query_param = "email"
        account_field = 2
        trusted_proxies = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]
        xff_field = 1
        basic_auth_failures = false
        extra_routes = [
          { path = "^/api/v2/tokens$", event = "login", method = "PUT", success_status = [201, "2xx"], failure_status = ["400-499"] },
        ]
        [[access.routes]]
        path = "/signin"
        event = "login"
        "#,
    )
    .unwrap();
    let a = &t.access;
    assert_eq!(a.account_query_param.as_deref(), Some("email"));
    assert_eq!(a.account_field, Some(2));
    assert_eq!(a.xff_field, Some(1));
    assert!(!a.basic_auth_failures);
    assert_eq!(a.routes.len(), 1);
    assert_eq!(a.routes[0].method, "POST");
    assert_eq!(
        a.extra_routes[0].success_status,
        Some(vec![
            StatusPattern::Code(201),
            StatusPattern::Text("2xx".into())
        ])
    );
    AccessDecoder::new(a).unwrap();

    assert!(toml::from_str::<Top>("[access]\nrouts = []").is_err());
    assert!(
        toml::from_str::<Top>("[[access.routes]]\npath = \"x\"\nevent = \"login\"\nstatus = 1")
            .is_err()
    );
}

#[test]
fn config_errors_name_the_key() {
    let key = |cfg: AccessConfig| match AccessDecoder::new(&cfg) {
        Err(ConfigError::BadValue { key, .. }) => key,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        key(trusting(&["10.0.0.0/8", "10.0.0.0/99"])),
        "access.trusted_proxies[1]"
    );
    let mut bad = AccessConfig::default();
    bad.routes[1].path = "(".into();
    assert_eq!(key(bad), "access.routes[1].path");
    let bad = AccessConfig {
        extra_routes: vec![RouteConfig {
            method: "POST".into(),
            path: "x".into(),
            event: "hack".into(),
            success_status: None,
            failure_status: None,
        }],
        ..AccessConfig::default()
    };
    assert_eq!(key(bad), "access.extra_routes[0].event");
    let bad = AccessConfig {
        account_query_param: Some(" ".into()),
        ..AccessConfig::default()
    };
    assert_eq!(key(bad), "access.account_query_param");
}

// ---- the shapes real servers write (issue #13) ----

/// Apache `vhost_combined` (`%v:%p %h …`), from CrowdSec's hub tests.
const VHOST_PORT: &[u8] = br#"website.com:443 1.2.3.4 - - [25/Oct/2021:11:05:52 +0200] "POST /login HTTP/1.1" 401 6963 "abc.com" "User-agent-string""#;
/// nginx `$host $remote_addr …` where the host is an address, relayed through syslog (Wazuh's
/// ruleset tests).
const SYSLOG_VHOST_IP: &[u8] = br#"Jan 11 10:13:05 web01 nginx: 10.10.10.11 10.10.10.12 - - [10/Apr/2017:13:18:05 -0700] "POST /users/sign_in HTTP/1.1" 302 271 "-" "Mozilla/5.0""#;
/// traefik's CLF: request count, router, upstream and duration after the user agent.
const TRAEFIK: &[u8] = br#"172.17.1.2 - - [24/Nov/2024:13:38:04 +0000] "POST /login HTTP/2" 401 352 "-" "Nikto" 244 "test@docker -> leaf@docker" "http://172.17.0.3:80" 42ms"#;
/// HAProxy `option httplog` in its syslog envelope (HAProxy's documentation example).
const HAPROXY_SYSLOG: &[u8] = br#"Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 401 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "POST /login HTTP/1.1""#;
/// Caddy's JSON access log (fields as Caddy 2.7 writes them).
const CADDY: &[u8] = br#"{"level":"info","ts":1711741864.947103,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"10.0.0.9","remote_port":"43498","client_ip":"198.51.100.4","proto":"HTTP/1.1","method":"POST","host":"localhost:9080","uri":"/users/sign_in?next=%2F","headers":{"User-Agent":["curl/7.88.1"],"Accept":["*/*"]}},"bytes_read":0,"user_id":"Bob","duration":0.79,"size":18630,"status":401,"resp_headers":{"Server":["Caddy"]}}"#;

#[test]
fn leading_virtual_host_is_skipped() {
    // nginx `$host` first, as CrowdSec's hub samples have it: GETs, so irrelevant but read.
    for l in [
        &br#"www.crowdsec.net 192.168.1.1 - - [08/Jun/2020:08:04:43 +0000] "GET /solr/admin/info/system?wt=json HTTP/1.1" 500 803 "-" "Mozilla/5.0""#[..],
        br#"www.crowdsec11.net:80 192.168.1.1 - - [08/Jun/2020:08:04:43 +0000] "GET /test/uppercase/extensions.JPG HTTP/1.1" 301 0 "-" "Mozilla/5.0""#,
    ] {
        assert_eq!(decode(l), Ok(None), "{}", String::from_utf8_lossy(l));
        assert!(looks_like_access(l));
    }
    let ev = event(VHOST_PORT);
    assert_eq!((ev.kind, ev.outcome), (EventKind::Login, Outcome::Failure));
    assert_eq!(ev.ip, Some(ip("1.2.3.4")));
    assert_eq!(ev.ts.to_string(), "2021-10-25T09:05:52Z");
    // A vhost written as an address: the identd field is then an address, the user two words.
    let l = br#"10.10.10.11 10.10.10.12 - bob [10/Apr/2017:13:18:05 -0700] "POST /login HTTP/1.1" 401 271"#;
    let ev = event(l);
    assert_eq!(ev.ip, Some(ip("10.10.10.12")));
    assert_eq!(ev.account.as_ref().map(|a| a.as_str()), Some("bob"));
    // Two address-looking fields and one user field: the second is not a client.
    let l = br#"::ffff:202.194.15.192 190.7.138.180 - [18/Oct/2010:10:48:55 -0500] "POST /login HTTP/1.1" 401 345 "-"  "Mozilla/4.0""#;
    assert_eq!(event(l).ip, Some(ip("202.194.15.192")));
}

#[test]
fn syslog_envelope_is_stripped() {
    let ev = event(SYSLOG_VHOST_IP);
    assert_eq!((ev.kind, ev.outcome), (EventKind::Login, Outcome::Success));
    assert_eq!(ev.ip, Some(ip("10.10.10.12")));
    // The access line's own time, not the syslog header's.
    assert_eq!(ev.ts.to_string(), "2017-04-10T20:18:05Z");
    let l = br#"<190>1 2024-05-01T10:00:00Z web01 nginx - - - 203.0.113.5 - - [01/May/2024:10:00:00 +0000] "POST /login HTTP/1.1" 403 12 "-" "curl""#;
    let ev = event(l);
    assert_eq!(
        (ev.ip, ev.outcome),
        (Some(ip("203.0.113.5")), Outcome::Failure)
    );
    // A syslog line that is not an access line keeps the plain splitter's reason.
    let l = b"Jan 11 10:13:05 web01 sshd[1]: Failed password for root from 1.2.3.4 port 5 ssh2";
    assert_eq!(reason(l), BAD_CLIENT_ADDRESS);
}

#[test]
fn traefik_clf_and_its_missing_status() {
    let ev = event(TRAEFIK);
    assert_eq!((ev.kind, ev.outcome), (EventKind::Login, Outcome::Failure));
    assert_eq!(ev.ip, Some(ip("172.17.1.2")));
    // No response sent: status and size `-`. Read, no status; a login without one is an
    // attempt of unknown outcome.
    let l = br#"172.17.1.1 - - [28/Sep/2022:13:38:04 +0000] "GET /mobileadmin/home.cs HTTP/1.1" - - "-" "Mozilla/5.00 (Nikto/2.1.5)" 45640 "-" "-" 0ms"#;
    let r = split_access_line(l).unwrap();
    assert_eq!((r.status, r.bytes), (NO_STATUS, None));
    assert_eq!(decode(l), Ok(None));
    let l = br#"172.17.1.1 - - [28/Sep/2022:13:38:04 +0000] "POST /login HTTP/1.1" - - "-" "x" 45640 "-" "-" 0ms"#;
    assert_eq!(event(l).outcome, Outcome::Unknown);
}

#[test]
fn one_digit_day_and_missing_zone() {
    // Wazuh's web ruleset samples.
    let l = br#"10.0.0.5 - - [1/Apr/2014:00:00:01 -0500] "POST /admin/example.php/login.php HTTP/1.1" 403 181 "-" "Mozilla/5.0 (X11)""#;
    let ev = event(l);
    assert_eq!((ev.kind, ev.outcome), (EventKind::Login, Outcome::Failure));
    assert_eq!(ev.ts.to_string(), "2014-04-01T05:00:01Z");
    // No zone: UTC by default, the configured zone otherwise.
    let l = br#"10.0.0.5 - - [01/Apr/2014:00:00:01] "POST /login HTTP/1.1" 401 181"#;
    assert_eq!(event(l).ts.to_string(), "2014-04-01T00:00:01Z");
    let tokyo = AccessConfig {
        timezone: "Asia/Tokyo".into(),
        ..AccessConfig::default()
    };
    let ev = decode_with(&tokyo, l).unwrap().unwrap();
    assert_eq!(ev.ts.to_string(), "2014-03-31T15:00:01Z");
    // A zone written on the line wins over the configured one.
    let ev = decode_with(&tokyo, NGINX).unwrap().unwrap();
    assert_eq!(ev.ts.to_string(), "2026-10-10T04:55:36Z");
    let bad = AccessConfig {
        timezone: "Mars/Olympus".into(),
        ..AccessConfig::default()
    };
    match AccessDecoder::new(&bad) {
        Err(ConfigError::BadValue { key, .. }) => assert_eq!(key, "access.timezone"),
        other => panic!("{other:?}"),
    }
    let z = Zone::Fixed(0);
    for (t, want) in [
        ("1/Apr/2014:00:00:01 +05:30", Some("2014-03-31T18:30:01Z")),
        ("14/Jan/2015:12:48:57.127", Some("2015-01-14T12:48:57.127Z")),
        ("31/Apr/2014:00:00:01", None),
        ("1/Apr/2014:24:00:01", None),
        ("1/Apr/2014:00:00:01 0000", None),
        ("1/Apr/2014:00:00:01.", None),
        ("/Apr/2014:00:00:01", None),
    ] {
        assert_eq!(
            parse_access_time(t.as_bytes(), &z).map(|ts| ts.to_string()),
            want.map(str::to_string),
            "{t}"
        );
    }
}

#[test]
fn no_user_field_before_the_time() {
    // CrowdSec's hub sample `$remote_addr - [$time_local] …`: the one field is the user.
    let l = br#"192.168.1.1 - [08/Jun/2020:08:04:43 +0000] "GET /api/test HTTP/1.1" 200 100 "-" "curl/7.68.0""#;
    let r = split_access_line(l).unwrap();
    assert_eq!((r.ident, r.user), (&b""[..], &b"-"[..]));
    assert_eq!(decode(l), Ok(None));
    let l = br#"192.168.1.1 alice [08/Jun/2020:08:04:43 +0000] "GET /private HTTP/1.1" 401 100"#;
    let ev = event(l);
    assert_eq!(ev.account.as_ref().map(|a| a.as_str()), Some("alice"));
    assert_eq!(ev.outcome, Outcome::Failure);
}

#[test]
fn haproxy_http_log() {
    let ev = event(HAPROXY_SYSLOG);
    assert_eq!((ev.kind, ev.outcome), (EventKind::Login, Outcome::Failure));
    assert_eq!(ev.ip, Some(ip("10.0.1.2")));
    // HAProxy writes local time without a zone: the configured zone (UTC by default).
    assert_eq!(ev.ts.to_string(), "2009-02-06T12:14:14.655Z");
    // CrowdSec's hub samples, bare: a GET, and HAProxy lines about no HTTP request.
    for l in [
        &br#"117.136.40.129:14853 [14/Jan/2015:12:48:57.127] https-in~ xx_server_https/xxx_node_8002 170/0/0/3/173 200 739 - - --NN 0/0/0/0/0 0/0 "GET /xxx/xxx HTTP/1.1""#[..],
        b"192.168.1.4:50033 [28/Feb/2025:02:43:10.123] frontend/backend: SSL handshake failure (error:0A0000C1:SSL routines::no shared cipher)",
    ] {
        assert_eq!(decode(l), Ok(None), "{}", String::from_utf8_lossy(l));
        assert!(looks_like_access(l));
    }
    // An aborted request (`-1`) has no status.
    let l = br#"10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 -1/-1/-1/-1/0 -1 0 - - CR-- 1/1/1/1/0 0/0 "POST /login HTTP/1.1""#;
    assert_eq!(event(l).outcome, Outcome::Unknown);
}

#[test]
fn caddy_json_access_log() {
    let ev = event(CADDY);
    assert_eq!((ev.kind, ev.outcome), (EventKind::Login, Outcome::Failure));
    // client_ip: the address Caddy resolved through its own trusted proxies.
    assert_eq!(ev.ip, Some(ip("198.51.100.4")));
    assert_eq!(ev.account.as_ref().map(|a| a.as_str()), Some("bob"));
    assert_eq!(ev.ts.to_string(), "2024-03-29T19:51:04.947Z");
    assert_eq!(ev.user_agent.as_deref(), Some("curl/7.88.1"));
    assert!(looks_like_access(CADDY));
    // Caddy 2.4: remote_addr only; RFC 3339 `ts` (`time_format`).
    let old = br#"{"level":"info","ts":"2021-05-01T10:00:00Z","logger":"http.log.access","msg":"handled request","request":{"remote_addr":"[2001:db8::7]:5123","method":"POST","uri":"/login"},"status":302}"#;
    let ev = event(old);
    assert_eq!(
        (ev.ip, ev.outcome),
        (Some(ip("2001:db8::7")), Outcome::Success)
    );
    // Another Caddy logger: no request, irrelevant. JSON of another kind: rejected.
    assert_eq!(
        decode(br#"{"level":"debug","ts":1742400753.05,"logger":"http.handlers.reverse_proxy","msg":"selected upstream"}"#),
        Ok(None)
    );
    assert_eq!(reason(br#"{"event":"login"}"#), MALFORMED);
    assert_eq!(reason(b"{not json"), MALFORMED);
    // Status 0 (nothing written) and a GET are irrelevant.
    let l = br#"{"ts":1693840839.6,"logger":"http.log.access","request":{"remote_ip":"172.17.0.1","method":"GET","uri":"/"},"status":0}"#;
    assert_eq!(decode(l), Ok(None));
}

// ---- never panic ----

mod props {
    use super::*;
    use proptest::prelude::*;

    static FULL: LazyLock<AccessDecoder> = LazyLock::new(|| {
        decoder(&AccessConfig {
            account_query_param: Some("email".into()),
            account_field: Some(1),
            trusted_proxies: vec!["0.0.0.0/0".into(), "::/0".into()],
            extra_routes: vec![RouteConfig {
                method: "*".into(),
                path: "".into(),
                event: "order".into(),
                success_status: None,
                failure_status: None,
            }],
            ..AccessConfig::default()
        })
    });

    fn exercise(line: &[u8]) {
        let _ = looks_like_access(line);
        if let Ok(r) = split_access_line(line) {
            let _ = r.extras().count();
            let _ = unescape(r.user_agent);
            let _ = percent_decode(r.query, true);
        }
        let _ = decode(line);
        let _ = FULL.clone().decode(line, &meta());
    }

    const VALID: &[&[u8]] = &[
        NGINX,
        APACHE_COMMON,
        VHOST_PORT,
        SYSLOG_VHOST_IP,
        TRAEFIK,
        HAPROXY_SYSLOG,
        CADDY,
        b"10.0.0.5 - [1/Apr/2014:00:00:01] \"POST /wp-login.php HTTP/1.1\" - -",
        br#"10.0.0.2 alice bob [10/Oct/2026:13:55:36 +0900] "POST /login?email=a%40b.c HTTP/1.1" 401 12 "-" "ua \x22q\x22" 0.004 "198.51.100.7, [2001:db8::1]:80, 10.0.0.9" "x@y""#,
        br#"2001:db8::1 - - [10/Oct/2026:13:55:36 +0000] "GET /a\"b HTTP/1.1" 200 - "\"r\"" "\\""#,
    ];

    fn special() -> impl Strategy<Value = u8> {
        prop_oneof![
            any::<u8>(),
            prop::sample::select(b" \"\\[]-:/.?&=%,0123456789xabcdefPOST\x16\xff".to_vec()),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(line in prop::collection::vec(special(), 0..400)) {
            exercise(&line);
        }

        #[test]
        fn mutated_lines_never_panic(
            which in 0..VALID.len(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, special()), 1..8),
        ) {
            let mut line = VALID[which].to_vec();
            for (at, op, b) in edits {
                let i = at.index(line.len() + 1);
                match op {
                    0 => line.insert(i, b),
                    1 if i < line.len() => { line.remove(i); }
                    2 if i < line.len() => line[i] = b,
                    _ => line.truncate(i),
                }
            }
            exercise(&line);
        }
    }
}
