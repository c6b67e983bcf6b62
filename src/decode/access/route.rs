//! The route map: which requests are authentication or account events, and what their status
//! codes mean.

use std::borrow::Cow;

use regex::bytes::{RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;

use super::split::{percent_decode, unescape};
use crate::error::ConfigError;
use crate::event::{EventKind, Outcome};

/// One route: requests with this method whose path matches `path` are `event`s.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// HTTP method, compared case-insensitively; `*` matches any method. Default `POST`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Regular expression searched (unanchored, case-insensitive) in the request path without
    /// its query string, after undoing log escapes and percent-encoding.
    pub path: String,
    /// The event name (`login`, `password_reset_request`, `order`, …; see `events.md`).
    pub event: String,
    /// Statuses that mean success: numbers (`302`), classes (`"2xx"`) or ranges
    /// (`"200-299"`). Default: `[301, 302, 303]` for `login` and `mfa_challenge`,
    /// `["2xx", "3xx"]` for other events.
    #[serde(default)]
    pub success_status: Option<Vec<StatusPattern>>,
    /// Statuses that mean failure (checked before `success_status`). Default: `[401, 403, 422]` for
    /// `login` and `mfa_challenge`, `["4xx", "5xx"]` for other events.
    #[serde(default)]
    pub failure_status: Option<Vec<StatusPattern>>,
}

fn default_method() -> String {
    "POST".to_string()
}

/// A status code or a set of them, as written in the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum StatusPattern {
    /// One code, e.g. `401`.
    Code(u16),
    /// A class (`"4xx"`), a range (`"400-499"`) or one code as text (`"401"`).
    Text(String),
}

impl RouteConfig {
    fn new(path: &str, event: EventKind) -> RouteConfig {
        RouteConfig {
            method: default_method(),
            path: path.to_string(),
            event: event.as_str().to_string(),
            success_status: None,
            failure_status: None,
        }
    }

    /// A route whose outcome comes from its own status lists.
    fn with_status(
        path: &str,
        event: EventKind,
        success: &[StatusPattern],
        failure: &[StatusPattern],
    ) -> RouteConfig {
        RouteConfig {
            success_status: Some(success.to_vec()),
            failure_status: Some(failure.to_vec()),
            ..RouteConfig::new(path, event)
        }
    }
}

/// The route of `[access] graphql_logins`: a `POST /graphql` counted as a login attempt of
/// unknown outcome. Off by default: most GraphQL POSTs are queries, not logins, and with the
/// body not logged nothing tells a login mutation from a product search; turn it on for an API
/// whose GraphQL endpoint serves little besides authentication.
pub(crate) fn graphql_route() -> RouteConfig {
    RouteConfig::with_status(r"(^|/)graphql/?$", EventKind::Login, &[], &[])
}

/// The default route map, in the order it is checked (first match wins). Rules that would
/// otherwise be caught by the broad `login` pattern come first: `/auth/password/reset`,
/// `/auth/logout`, `/auth/signup` and `/auth/mfa` are not logins.
///
/// Then the login endpoints of common platforms, with the status each really answers (the
/// generic 401/403-failure, 3xx-success convention is wrong for most of them):
///
/// - WordPress `wp-login.php`: a wrong password shows the form again (200), a login redirects
///   (302). Its other actions (`?action=lostpassword`) post to the same path, and the route map
///   does not see the query string: such a POST is counted as a login too.
/// - WordPress `xmlrpc.php`: `system.multicall` brute force tries hundreds of passwords in one
///   request answered 200 either way (and pingbacks post there as well): an attempt of unknown
///   outcome.
/// - Magento `customer/account/loginPost`: 302 both when the password is wrong (back to the
///   form) and when it is right (to the account): unknown.
/// - Django admin `/admin/login/`: the form again (200) on failure, 302 on success.
/// - Devise `/users/sign_in` (and any `…/sign_in` of a Devise model): the form again on failure
///   (200, or 422 from Devise 4.9 with Turbo), a redirect on success.
/// - Laravel `/login`: a wrong password redirects back (302) like a success does, so only a
///   JSON request's 422 (`These credentials do not match our records`) is a failure: 422 is a
///   failure of every login route by default. The generic route keeps 302 as success for the
///   many sites that do redirect only on success (a dedicated `^/login$` route was measured
///   at 10-15 % of the access decoder's time, for no outcome the generic one misses).
/// - GraphQL: not in the defaults (see `graphql_logins`).
pub fn default_routes() -> Vec<RouteConfig> {
    use StatusPattern::Code;
    vec![
        RouteConfig::with_status(
            r"(^|/)wp-login\.php$",
            EventKind::Login,
            &[Code(302)],
            &[Code(200), Code(401), Code(403)],
        ),
        RouteConfig::with_status(r"(^|/)xmlrpc\.php$", EventKind::Login, &[], &[]),
        RouteConfig::with_status(
            r"/customer/account/loginpost/?$",
            EventKind::Login,
            &[],
            &[Code(401), Code(403)],
        ),
        RouteConfig::with_status(
            r"/admin/login/?$",
            EventKind::Login,
            &[Code(302)],
            &[Code(200), Code(401), Code(403)],
        ),
        RouteConfig::with_status(
            r"/sign_in/?$",
            EventKind::Login,
            &[Code(301), Code(302), Code(303)],
            &[Code(200), Code(401), Code(403), Code(422)],
        ),
        RouteConfig::new(
            r"password[/_-]?reset|reset[/_-]?password|forgot|ap/forgotpassword",
            EventKind::PasswordResetRequest,
        ),
        RouteConfig::new(
            r"logout|log-out|log_out|signout|sign-out|sign_out",
            EventKind::Logout,
        ),
        RouteConfig::new(r"signup|sign-up|sign_up|register", EventKind::Signup),
        RouteConfig::new(
            r"mfa|2fa|two[-_]?factor|\b(otp|totp)\b",
            EventKind::MfaChallenge,
        ),
        RouteConfig::new(
            r"login|log-in|log_in|signin|sign-in|sign_in|session|auth|ap/signin",
            EventKind::Login,
        ),
        RouteConfig::new(r"address", EventKind::AddressChange),
        RouteConfig::new(r"checkout|place[-_]?order|/orders?\b", EventKind::Order),
    ]
}

/// An inclusive range of status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatusRange(u16, u16);

/// Compiled status list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StatusSet(Vec<StatusRange>);

impl StatusSet {
    fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|r| (r.0..=r.1).contains(&status))
    }

    fn compile(patterns: &[StatusPattern], key: &str) -> Result<StatusSet, ConfigError> {
        patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                parse_status_pattern(p).ok_or_else(|| ConfigError::BadValue {
                    key: format!("{key}[{i}]"),
                    message: format!(
                        "`{}` is not a status code (100-999), class (`4xx`) or range (`400-499`)",
                        match p {
                            StatusPattern::Code(c) => c.to_string(),
                            StatusPattern::Text(t) => t.clone(),
                        }
                    ),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(StatusSet)
    }

    fn of(ranges: &[(u16, u16)]) -> StatusSet {
        StatusSet(ranges.iter().map(|&(a, b)| StatusRange(a, b)).collect())
    }
}

fn parse_status_pattern(p: &StatusPattern) -> Option<StatusRange> {
    let code = |n: u16| (100..=999).contains(&n).then_some(n);
    match p {
        StatusPattern::Code(n) => code(*n).map(|n| StatusRange(n, n)),
        StatusPattern::Text(t) => {
            let t = t.trim();
            let lower = t.to_ascii_lowercase();
            if let Some(d) = lower.strip_suffix("xx") {
                let d: u16 = d.parse().ok()?;
                if !(1..=9).contains(&d) || lower.len() != 3 {
                    return None;
                }
                return Some(StatusRange(d * 100, d * 100 + 99));
            }
            if let Some((a, b)) = t.split_once('-') {
                let a = code(a.trim().parse().ok()?)?;
                let b = code(b.trim().parse().ok()?)?;
                return (a <= b).then_some(StatusRange(a, b));
            }
            code(t.parse().ok()?).map(|n| StatusRange(n, n))
        }
    }
}

/// Which method a route accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MethodMatch {
    Any,
    Exact(Box<[u8]>),
}

impl MethodMatch {
    fn matches(&self, method: &[u8]) -> bool {
        match self {
            MethodMatch::Any => true,
            MethodMatch::Exact(m) => m.eq_ignore_ascii_case(method),
        }
    }
}

#[derive(Debug, Clone)]
struct Route {
    method: MethodMatch,
    kind: EventKind,
    success: StatusSet,
    failure: StatusSet,
}

/// The compiled route map.
#[derive(Debug, Clone)]
pub(crate) struct RouteMap {
    routes: Vec<Route>,
    /// All path patterns in one automaton: one pass per candidate request, whatever the number
    /// of routes.
    set: RegexSet,
    /// Distinct methods of all routes (`None` when some route takes any method): the cheap
    /// check that lets the GETs that make up most of a log skip the regex entirely.
    methods: Option<Vec<Box<[u8]>>>,
}

impl RouteMap {
    /// Compiles `(config key prefix, routes)` groups, checked in the given order.
    pub(crate) fn compile(groups: &[(&str, &[RouteConfig])]) -> Result<RouteMap, ConfigError> {
        let mut routes = Vec::new();
        let mut patterns = Vec::new();
        for (prefix, list) in groups {
            for (i, rc) in list.iter().enumerate() {
                let key = format!("{prefix}[{i}]");
                routes.push(compile_route(rc, &key)?);
                patterns.push(rc.path.as_str());
            }
        }
        let set = RegexSetBuilder::new(&patterns)
            .case_insensitive(true)
            .build()
            .map_err(|e| ConfigError::BadValue {
                key: groups.first().map(|g| g.0.to_string()).unwrap_or_default(),
                message: format!("route patterns together are too large: {e}"),
            })?;
        let methods = if routes.iter().any(|r| r.method == MethodMatch::Any) {
            None
        } else {
            let mut m: Vec<Box<[u8]>> = Vec::new();
            for r in &routes {
                if let MethodMatch::Exact(x) = &r.method
                    && !m.iter().any(|y| y.eq_ignore_ascii_case(x))
                {
                    m.push(x.clone());
                }
            }
            Some(m)
        };
        Ok(RouteMap {
            routes,
            set,
            methods,
        })
    }

    /// True when some route takes this method.
    #[inline]
    pub(crate) fn wants_method(&self, method: &[u8]) -> bool {
        match &self.methods {
            None => true,
            Some(ms) => ms.iter().any(|m| m.eq_ignore_ascii_case(method)),
        }
    }

    /// The event kind and outcome of a request, or `None` when no route matches.
    pub(crate) fn classify(
        &self,
        method: &[u8],
        path: &[u8],
        status: u16,
    ) -> Option<(EventKind, Outcome)> {
        if !self.wants_method(method) {
            return None;
        }
        let path = match unescape(path) {
            Cow::Borrowed(p) => percent_decode(p, false),
            Cow::Owned(p) => Cow::Owned(percent_decode(&p, false).into_owned()),
        };
        let matches = self.set.matches(&path);
        let route = matches
            .iter()
            .filter_map(|i| self.routes.get(i))
            .find(|r| r.method.matches(method))?;
        let outcome = if route.failure.contains(status) {
            Outcome::Failure
        } else if route.success.contains(status) {
            Outcome::Success
        } else {
            Outcome::Unknown
        };
        Some((route.kind, outcome))
    }
}

fn compile_route(rc: &RouteConfig, key: &str) -> Result<Route, ConfigError> {
    let method = rc.method.trim();
    let method = if method == "*" {
        MethodMatch::Any
    } else if !method.is_empty()
        && method
            .bytes()
            .all(|c| c.is_ascii_alphabetic() || c == b'-' || c == b'_')
    {
        MethodMatch::Exact(method.as_bytes().into())
    } else {
        return Err(ConfigError::BadValue {
            key: format!("{key}.method"),
            message: format!("`{}` is not an HTTP method or `*`", rc.method),
        });
    };
    // Compiled alone first so a bad pattern is reported with its own key.
    RegexBuilder::new(&rc.path)
        .case_insensitive(true)
        .build()
        .map_err(|e| ConfigError::BadValue {
            key: format!("{key}.path"),
            message: e.to_string(),
        })?;
    let kind = EventKind::from_name(rc.event.trim()).ok_or_else(|| ConfigError::BadValue {
        key: format!("{key}.event"),
        message: format!(
            "unknown event `{}` (expected one of: {})",
            rc.event,
            EventKind::ALL.map(EventKind::as_str).join(", ")
        ),
    })?;
    // Logins and MFA follow the form-post convention (redirect on success, 401/403 on
    // refusal, 422 from the frameworks that validate credentials like a form: Laravel's JSON
    // answer, Devise with Turbo); a 200 there is usually the form shown again, or an API
    // answer we cannot read.
    // For everything else, any error status means the action did not happen.
    let auth_like = matches!(kind, EventKind::Login | EventKind::MfaChallenge);
    let success = match &rc.success_status {
        Some(p) => StatusSet::compile(p, &format!("{key}.success_status"))?,
        None if auth_like => StatusSet::of(&[(301, 303)]),
        None => StatusSet::of(&[(200, 399)]),
    };
    let failure = match &rc.failure_status {
        Some(p) => StatusSet::compile(p, &format!("{key}.failure_status"))?,
        None if auth_like => StatusSet::of(&[(401, 401), (403, 403), (422, 422)]),
        None => StatusSet::of(&[(400, 599)]),
    };
    Ok(Route {
        method,
        kind,
        success,
        failure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> RouteMap {
        let d = default_routes();
        RouteMap::compile(&[("access.routes", &d)]).unwrap()
    }

    #[test]
    fn default_routes_classify() {
        let m = defaults();
        let c = |method: &str, path: &str, status| {
            m.classify(method.as_bytes(), path.as_bytes(), status)
        };
        use EventKind::*;
        use Outcome::*;
        assert_eq!(c("POST", "/login", 302), Some((Login, Success)));
        assert_eq!(c("POST", "/LOGIN", 401), Some((Login, Failure)));
        assert_eq!(c("POST", "/api/v1/Session", 403), Some((Login, Failure)));
        assert_eq!(c("POST", "/ap/signin", 200), Some((Login, Unknown)));
        assert_eq!(c("POST", "/users/sign_in", 303), Some((Login, Success)));
        assert_eq!(c("POST", "/oauth/token", 429), Some((Login, Unknown)));
        assert_eq!(c("post", "/login", 301), Some((Login, Success)));
        assert_eq!(c("GET", "/login", 200), None);
        assert_eq!(c("PUT", "/login", 302), None);
        assert_eq!(
            c("POST", "/auth/password/reset", 200),
            Some((PasswordResetRequest, Success))
        );
        assert_eq!(
            c("POST", "/ap/forgotpassword", 302),
            Some((PasswordResetRequest, Success))
        );
        assert_eq!(
            c("POST", "/account/forgot", 500),
            Some((PasswordResetRequest, Failure))
        );
        assert_eq!(c("POST", "/auth/logout", 302), Some((Logout, Success)));
        assert_eq!(c("POST", "/auth/signup", 201), Some((Signup, Success)));
        assert_eq!(c("POST", "/auth/mfa", 401), Some((MfaChallenge, Failure)));
        assert_eq!(c("POST", "/login/otp", 302), Some((MfaChallenge, Success)));
        assert_eq!(c("POST", "/footprint", 200), None);
        assert_eq!(
            c("POST", "/account/address", 200),
            Some((AddressChange, Success))
        );
        assert_eq!(
            c("POST", "/checkout/address", 422),
            Some((AddressChange, Failure))
        );
        assert_eq!(c("POST", "/checkout", 302), Some((Order, Success)));
        assert_eq!(c("POST", "/api/orders", 500), Some((Order, Failure)));
        assert_eq!(c("POST", "/place-order", 200), Some((Order, Success)));
        assert_eq!(c("POST", "/cart/add", 200), None);
        assert_eq!(c("POST", "/", 200), None);
    }

    #[test]
    fn platform_login_endpoints_and_their_outcomes() {
        let m = defaults();
        let c = |path: &str, status| m.classify(b"POST", path.as_bytes(), status);
        use EventKind::*;
        use Outcome::*;
        // WordPress: the form again is a failure, the redirect a success.
        assert_eq!(c("/wp-login.php", 200), Some((Login, Failure)));
        assert_eq!(c("/blog/wp-login.php", 302), Some((Login, Success)));
        assert_eq!(c("/xmlrpc.php", 200), Some((Login, Unknown)));
        assert_eq!(c("/xmlrpc.php", 403), Some((Login, Unknown)));
        assert_eq!(c("/wp-comments-post.php", 302), None);
        // Magento answers 302 either way.
        assert_eq!(
            c("/customer/account/loginPost/", 302),
            Some((Login, Unknown))
        );
        assert_eq!(
            c("/customer/account/loginPost", 403),
            Some((Login, Failure))
        );
        // Django admin, Devise.
        assert_eq!(c("/admin/login/", 200), Some((Login, Failure)));
        assert_eq!(c("/admin/login/", 302), Some((Login, Success)));
        assert_eq!(c("/users/sign_in", 422), Some((Login, Failure)));
        assert_eq!(c("/users/sign_in", 200), Some((Login, Failure)));
        assert_eq!(c("/admins/sign_in", 303), Some((Login, Success)));
        // Laravel: only the JSON 422 is a failure; 302 keeps the generic meaning.
        assert_eq!(c("/login", 422), Some((Login, Failure)));
        assert_eq!(c("/login", 302), Some((Login, Success)));
        assert_eq!(c("/login", 401), Some((Login, Failure)));
        assert_eq!(c("/login", 200), Some((Login, Unknown)));
        // A GraphQL POST is not a login by default.
        assert_eq!(c("/graphql", 200), None);
        let g = RouteMap::compile(&[
            ("access.routes", &default_routes()),
            ("g", &[graphql_route()]),
        ])
        .unwrap();
        assert_eq!(
            g.classify(b"POST", b"/api/graphql", 200),
            Some((Login, Unknown))
        );
        assert_eq!(g.classify(b"POST", b"/graphql/schema", 200), None);
    }

    #[test]
    fn paths_are_unescaped_before_matching() {
        let m = defaults();
        assert_eq!(
            m.classify(b"POST", b"/log%69n", 401),
            Some((EventKind::Login, Outcome::Failure))
        );
        assert_eq!(
            m.classify(b"POST", br"/\x4Cogin", 401),
            Some((EventKind::Login, Outcome::Failure))
        );
    }

    #[test]
    fn status_patterns() {
        let p = |t: &str| parse_status_pattern(&StatusPattern::Text(t.to_string()));
        assert_eq!(p("4xx"), Some(StatusRange(400, 499)));
        assert_eq!(p("5XX"), Some(StatusRange(500, 599)));
        assert_eq!(p("400-404"), Some(StatusRange(400, 404)));
        assert_eq!(p("401"), Some(StatusRange(401, 401)));
        for bad in ["0xx", "44xx", "x", "404-400", "", "1000", "99"] {
            assert_eq!(p(bad), None, "{bad}");
        }
        assert_eq!(
            parse_status_pattern(&StatusPattern::Code(302)),
            Some(StatusRange(302, 302))
        );
        assert_eq!(parse_status_pattern(&StatusPattern::Code(42)), None);
    }

    #[test]
    fn any_method_route_and_custom_statuses() {
        let routes = vec![RouteConfig {
            method: "*".into(),
            path: "^/api/login$".into(),
            event: "login".into(),
            success_status: Some(vec![StatusPattern::Code(200)]),
            failure_status: Some(vec![StatusPattern::Text("4xx".into())]),
        }];
        let m = RouteMap::compile(&[("access.routes", &routes)]).unwrap();
        assert!(m.wants_method(b"GET"));
        assert_eq!(
            m.classify(b"PUT", b"/api/login", 200),
            Some((EventKind::Login, Outcome::Success))
        );
        assert_eq!(
            m.classify(b"GET", b"/api/login", 429),
            Some((EventKind::Login, Outcome::Failure))
        );
        assert_eq!(m.classify(b"GET", b"/api/login/x", 200), None);
    }

    #[test]
    fn config_errors_name_the_key() {
        let bad = |rc: RouteConfig| {
            let list = vec![RouteConfig::new("login", EventKind::Login), rc];
            match RouteMap::compile(&[("access.routes", &list)]) {
                Err(ConfigError::BadValue { key, .. }) => key,
                other => panic!("{other:?}"),
            }
        };
        let mut rc = RouteConfig::new("(unclosed", EventKind::Login);
        assert_eq!(bad(rc.clone()), "access.routes[1].path");
        rc.path = "ok".into();
        rc.event = "teleport".into();
        assert_eq!(bad(rc.clone()), "access.routes[1].event");
        rc.event = "order".into();
        rc.method = "PO ST".into();
        assert_eq!(bad(rc.clone()), "access.routes[1].method");
        rc.method = "POST".into();
        rc.failure_status = Some(vec![
            StatusPattern::Code(401),
            StatusPattern::Text("4yy".into()),
        ]);
        assert_eq!(bad(rc), "access.routes[1].failure_status[1]");
    }
}
