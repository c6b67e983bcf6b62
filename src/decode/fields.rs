//! The canonical fields of the input contract (`events.md` §1) and the event builder that the
//! JSON-lines and CSV/TSV decoders both feed.
//!
//! A decoder resolves each source field name to a [`Target`] (a canonical [`Field`] plus a
//! priority rank), then hands the borrowed value to an [`EventBuilder`]. The builder converts
//! and validates values eagerly but reports problems only in [`EventBuilder::finish`], so that a
//! line of another kind (an unknown event name) is irrelevant (`Ok(None)`) even when its other
//! fields are odd.
//!
//! # Semantics, in one place
//!
//! - Empty (or whitespace-only) values are absent, for every field. This is what CSV exports
//!   write for "no value", and JSON producers write `""` for the same.
//! - When several source names map to one field (`ts` and `@timestamp`, `user.name` and
//!   `user.email`), the one with the best rank wins whatever the key order: configured names,
//!   then canonical names, then ECS names, then fallbacks. Equal ranks: the last one wins.
//! - `ts`: RFC 3339 (offsets allowed), or an epoch number / numeric string in seconds or
//!   milliseconds (told apart by magnitude). Absent → `missing_timestamp`, unreadable →
//!   `bad_timestamp`.
//! - `event`: see [`EventNames`]. Absent → `missing_event`; unknown or mapped to `ignore` →
//!   `Ok(None)`, whatever the rest of the line holds.
//! - `ip`: IPv4 or IPv6, also `[v6]`, `[v6]:port`, `v4:port`, `v6%zone`; IPv4-mapped IPv6 is
//!   folded to IPv4 so one client is one key. The placeholders `-` and `unknown` are no address.
//!   Anything else that does not parse rejects the line as `bad_ip`: silently dropping the
//!   address would quietly disable every per-address detector on a misconfigured source,
//!   while a rejection is counted, sampled in the summary and fatal under `--strict`.
//! - `outcome`: [`Outcome::from_name`]; a word it does not know is treated as absent, i.e.
//!   `unknown` (ECS allows more values than success/failure).
//! - `reason`: [`FailureReason::from_name`], kept only when the outcome is not a success.
//! - `amount`: number or numeric string, else `bad_amount`. `marketplace`: bool, `true`/`false`,
//!   `yes`/`no`, `1`/`0`, else `bad_marketplace`. `currency`: upper-cased.
//! - `ship_to`, `address`/`address_id`, `new_email`: only their [`AddressHash`] is kept.
//! - Free text (`user_agent`, `order_id`, `seller`, `currency`) is cut at
//!   [`MAX_TEXT_BYTES`] on a character boundary so one hostile line cannot make every event
//!   that keeps it huge. Accounts are never cut (they are identities).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::error::{ConfigError, ParseError};
use crate::event::{
    AccountKey, AddressHash, AuthEvent, EventDetails, EventKind, FailureReason, LineMeta, Outcome,
    lossless_text,
};
use crate::time::{Timestamp, parse_rfc3339};

/// Longest free-text value kept (user agent, order id, seller), in bytes.
pub const MAX_TEXT_BYTES: usize = 1024;

/// Longest value quoted in a rejection's detail, in bytes.
const MAX_DETAIL_BYTES: usize = 80;

/// A canonical field of the input contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `ts`: event time.
    Ts,
    /// `event`: what happened.
    Event,
    /// `outcome`: success or failure.
    Outcome,
    /// `reason`: why a login failed.
    Reason,
    /// `account`: the account identifier.
    Account,
    /// `ip`: the client address.
    Ip,
    /// `user_agent`.
    UserAgent,
    /// `order_id`.
    OrderId,
    /// `amount`: the order total.
    Amount,
    /// `currency`.
    Currency,
    /// `marketplace`: true for a third-party seller.
    Marketplace,
    /// `seller`.
    Seller,
    /// `ship_to`: hashed.
    ShipTo,
    /// `address` or `address_id`: hashed.
    Address,
    /// `new_email`: hashed.
    NewEmail,
}

/// Number of [`Field`] variants.
const FIELD_COUNT: usize = 15;

impl Field {
    /// Every field, in the order of the contract.
    pub const ALL: [Field; FIELD_COUNT] = [
        Field::Ts,
        Field::Event,
        Field::Outcome,
        Field::Reason,
        Field::Account,
        Field::Ip,
        Field::UserAgent,
        Field::OrderId,
        Field::Amount,
        Field::Currency,
        Field::Marketplace,
        Field::Seller,
        Field::ShipTo,
        Field::Address,
        Field::NewEmail,
    ];

    /// The canonical name (`address` for [`Field::Address`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Ts => "ts",
            Field::Event => "event",
            Field::Outcome => "outcome",
            Field::Reason => "reason",
            Field::Account => "account",
            Field::Ip => "ip",
            Field::UserAgent => "user_agent",
            Field::OrderId => "order_id",
            Field::Amount => "amount",
            Field::Currency => "currency",
            Field::Marketplace => "marketplace",
            Field::Seller => "seller",
            Field::ShipTo => "ship_to",
            Field::Address => "address",
            Field::NewEmail => "new_email",
        }
    }

    /// Looks up a canonical name as written in the config (`address_id` is `address`).
    pub fn from_name(name: &str) -> Option<Field> {
        if name == "address_id" {
            return Some(Field::Address);
        }
        Field::ALL.into_iter().find(|f| f.as_str() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Where a source field goes: a canonical field and the rank of the name it came by (lower
/// wins, see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The canonical field.
    pub field: Field,
    /// Priority of this source name: [`RANK_CONFIG`] beats [`RANK_CANONICAL`] beats
    /// [`RANK_ECS`] and so on.
    pub rank: u8,
}

/// Rank of names from the config file.
pub const RANK_CONFIG: u8 = 0;
/// Rank of canonical names.
pub const RANK_CANONICAL: u8 = 1;
/// Rank of the primary Elastic Common Schema names.
pub const RANK_ECS: u8 = 2;
/// Rank of secondary names (`client.ip` after `source.ip`, `user.email` after `user.name`,
/// `address_id` after `address`).
pub const RANK_SECONDARY: u8 = 3;
/// Rank of generic fallbacks (`timestamp`).
pub const RANK_FALLBACK: u8 = 4;

/// The source names accepted without configuration: canonical names, then (when `ecs` is on)
/// the Elastic Common Schema names in dotted form, then the fallback `timestamp`.
pub fn default_names(ecs: bool) -> Vec<(&'static str, Target)> {
    let t = |field, rank| Target { field, rank };
    let mut v: Vec<(&'static str, Target)> = Field::ALL
        .into_iter()
        .map(|f| (f.as_str(), t(f, RANK_CANONICAL)))
        .collect();
    v.push(("address_id", t(Field::Address, RANK_SECONDARY)));
    if ecs {
        v.extend([
            ("@timestamp", t(Field::Ts, RANK_ECS)),
            ("event.action", t(Field::Event, RANK_ECS)),
            ("event.outcome", t(Field::Outcome, RANK_ECS)),
            ("event.reason", t(Field::Reason, RANK_ECS)),
            ("source.ip", t(Field::Ip, RANK_ECS)),
            ("client.ip", t(Field::Ip, RANK_SECONDARY)),
            ("user.name", t(Field::Account, RANK_ECS)),
            ("user.email", t(Field::Account, RANK_SECONDARY)),
            ("user_agent.original", t(Field::UserAgent, RANK_ECS)),
        ]);
    }
    v.push(("timestamp", t(Field::Ts, RANK_FALLBACK)));
    v
}

/// Resolves a configured field mapping (`source name → canonical name or "ignore"`) into
/// `(source name, Some(target))` or `(source name, None)` for `ignore`. `section` names the
/// config table for error messages (`json.fields`).
pub fn compile_field_map(
    map: &BTreeMap<String, String>,
    section: &str,
) -> Result<Vec<(String, Option<Target>)>, ConfigError> {
    map.iter()
        .map(|(src, dst)| {
            let dst = dst.trim();
            if src.trim().is_empty() {
                return Err(ConfigError::BadValue {
                    key: format!("{section}.\"{src}\""),
                    message: "empty source field name".to_string(),
                });
            }
            if dst == "ignore" {
                return Ok((src.clone(), None));
            }
            match Field::from_name(dst) {
                Some(field) => Ok((
                    src.clone(),
                    Some(Target {
                        field,
                        rank: RANK_CONFIG,
                    }),
                )),
                None => Err(ConfigError::BadValue {
                    key: format!("{section}.\"{src}\""),
                    message: format!(
                        "unknown canonical field `{dst}` (expected one of: {}, address_id, or \
                         \"ignore\")",
                        Field::ALL.map(Field::as_str).join(", ")
                    ),
                }),
            }
        })
        .collect()
}

/// What an event name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventMatch {
    /// A relevant event, with the outcome the name implies (`login_failed`), if any. An
    /// explicit success or failure in the line wins over the implied one.
    Kind(EventKind, Option<Outcome>),
    /// Mapped to `"ignore"` in the config.
    Ignore,
    /// Not an authentication event we know.
    Unknown,
}

/// Event-name resolution: the config mapping, then canonical names, then built-in synonyms.
///
/// Names are compared after normalizing: ASCII lower case, and `-`, `.`, `/`, `:` and spaces
/// as `_` (so `User-Login`, `user.login` and `user_login` are one name). The config mapping
/// (`[json.events]`, `[csv.events]`: the same type for both formats, each section its own
/// table) is normalized the same way and wins over everything, so it can also re-map or
/// `ignore` a canonical name.
///
/// Built-in synonyms (normalized spelling):
///
/// | canonical | synonyms |
/// |---|---|
/// | `login` | `log_in`, `logon`, `signin`, `sign_in`, `user_login`, `logged_in`, `authentication`, `authenticate`, `auth`, `user_session_start`, `session_start`, `session_created` |
/// | `login` + failure | `login_failed`, `login_failure`, `failed_login`, `authentication_failed`, `authentication_failure`, `auth_failed`, `auth_failure` |
/// | `login` + success | `login_success`, `login_succeeded`, `authentication_success`, `authentication_succeeded`, `auth_success` |
/// | `logout` | `log_out`, `logoff`, `signout`, `sign_out`, `user_logout`, `logged_out`, `session_end`, `user_session_end` |
/// | `signup` | `sign_up`, `register`, `registration`, `user_created`, `create_account`, `account_created`, `user_signup`, `added_user_account` |
/// | `mfa_challenge` | `mfa`, `2fa`, `otp`, `two_factor`, `mfa_verify`, `mfa_verification`, `otp_verify`, `mfa_challenge_failed` (+ failure), `mfa_failed` (+ failure), `mfa_success` (+ success) |
/// | `password_reset_request` | `password_reset`, `forgot_password`, `password_forgot`, `reset_password_request`, `password_reset_requested` |
/// | `password_reset_complete` | `password_reset_completed`, `password_reset_done`, `password_change`, `password_changed`, `change_password`, `changed_password`, `password_update`, `password_updated` |
/// | `email_change` | `email_changed`, `change_email`, `email_update`, `email_updated`, `update_email` |
/// | `address_change` | `address_changed`, `address_add`, `address_added`, `add_address`, `address_update`, `update_address`, `shipping_address_change` |
/// | `payment_change` | `payment_method_change`, `payment_method_added`, `add_payment_method`, `payment_update`, `card_added`, `add_card` |
/// | `order` | `order_placed`, `place_order`, `order_created`, `purchase`, `checkout` |
///
/// A password *change* is mapped to `password_reset_complete`: both are "the password was just
/// replaced", the step an account takeover takes to lock the owner out.
#[derive(Debug, Clone, Default)]
pub struct EventNames {
    config: foldhash::HashMap<Box<str>, EventMatch>,
}

impl EventNames {
    /// Compiles a config mapping (`source event name → canonical event name or "ignore"`).
    /// `section` names the config table for error messages (`json.events`).
    pub fn new(map: &BTreeMap<String, String>, section: &str) -> Result<EventNames, ConfigError> {
        let mut config = foldhash::HashMap::default();
        for (src, dst) in map {
            let key = || format!("{section}.\"{src}\"");
            let dst = dst.trim();
            let m = if dst == "ignore" {
                EventMatch::Ignore
            } else {
                match EventKind::from_name(dst) {
                    Some(k) => EventMatch::Kind(k, None),
                    None => {
                        return Err(ConfigError::BadValue {
                            key: key(),
                            message: format!(
                                "unknown canonical event `{dst}` (expected one of: {}, or \
                                 \"ignore\")",
                                EventKind::ALL.map(EventKind::as_str).join(", ")
                            ),
                        });
                    }
                }
            };
            let norm: Box<str> = normalize_name(src.trim()).into();
            if norm.is_empty() {
                return Err(ConfigError::BadValue {
                    key: key(),
                    message: "empty event name".to_string(),
                });
            }
            if let Some(prev) = config.insert(norm, m)
                && prev != m
            {
                return Err(ConfigError::BadValue {
                    key: key(),
                    message: "another event name that differs only in case or punctuation \
                              maps elsewhere"
                        .to_string(),
                });
            }
        }
        Ok(EventNames { config })
    }

    /// Resolves a source event name.
    pub fn resolve(&self, name: &str) -> EventMatch {
        let name = name.trim();
        if self.config.is_empty()
            && let Some(k) = EventKind::from_name(name)
        {
            // The fast path: canonical names from the native format.
            return EventMatch::Kind(k, None);
        }
        let norm = normalize_name(name);
        if let Some(m) = self.config.get(norm.as_ref()) {
            return *m;
        }
        if let Some(k) = EventKind::from_name(&norm) {
            return EventMatch::Kind(k, None);
        }
        match builtin_synonym(&norm) {
            Some((k, o)) => EventMatch::Kind(k, o),
            None => EventMatch::Unknown,
        }
    }
}

/// Lower case, separators folded to `_`. Borrows when nothing changes (the common case).
fn normalize_name(s: &str) -> Cow<'_, str> {
    let needs = s
        .bytes()
        .any(|b| b.is_ascii_uppercase() || matches!(b, b'-' | b'.' | b'/' | b':' | b' '));
    if !needs {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '-' | '.' | '/' | ':' | ' ' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect(),
    )
}

fn builtin_synonym(norm: &str) -> Option<(EventKind, Option<Outcome>)> {
    use EventKind as K;
    const F: Option<Outcome> = Some(Outcome::Failure);
    const S: Option<Outcome> = Some(Outcome::Success);
    Some(match norm {
        "log_in" | "logon" | "signin" | "sign_in" | "user_login" | "logged_in"
        | "authentication" | "authenticate" | "auth" | "user_session_start" | "session_start"
        | "session_created" => (K::Login, None),
        "login_failed"
        | "login_failure"
        | "failed_login"
        | "authentication_failed"
        | "authentication_failure"
        | "auth_failed"
        | "auth_failure" => (K::Login, F),
        "login_success"
        | "login_succeeded"
        | "authentication_success"
        | "authentication_succeeded"
        | "auth_success" => (K::Login, S),
        "log_out" | "logoff" | "signout" | "sign_out" | "user_logout" | "logged_out"
        | "session_end" | "user_session_end" => (K::Logout, None),
        "sign_up" | "register" | "registration" | "user_created" | "create_account"
        | "account_created" | "user_signup" | "added_user_account" => (K::Signup, None),
        "mfa" | "2fa" | "otp" | "two_factor" | "mfa_verify" | "mfa_verification" | "otp_verify" => {
            (K::MfaChallenge, None)
        }
        "mfa_challenge_failed" | "mfa_failed" => (K::MfaChallenge, F),
        "mfa_success" => (K::MfaChallenge, S),
        "password_reset"
        | "forgot_password"
        | "password_forgot"
        | "reset_password_request"
        | "password_reset_requested" => (K::PasswordResetRequest, None),
        "password_reset_completed"
        | "password_reset_done"
        | "password_change"
        | "password_changed"
        | "change_password"
        | "changed_password"
        | "password_update"
        | "password_updated" => (K::PasswordResetComplete, None),
        "email_changed" | "change_email" | "email_update" | "email_updated" | "update_email" => {
            (K::EmailChange, None)
        }
        "address_changed"
        | "address_add"
        | "address_added"
        | "add_address"
        | "address_update"
        | "update_address"
        | "shipping_address_change" => (K::AddressChange, None),
        "payment_method_change"
        | "payment_method_added"
        | "add_payment_method"
        | "payment_update"
        | "card_added"
        | "add_card" => (K::PaymentChange, None),
        "order_placed" | "place_order" | "order_created" | "purchase" | "checkout" => {
            (K::Order, None)
        }
        _ => return None,
    })
}

/// A number as the source wrote it (JSON keeps integers exact, so large numeric account ids
/// survive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// Anything with a fraction or exponent.
    F64(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::U64(n) => n as f64,
            Number::I64(n) => n as f64,
            Number::F64(n) => n,
        }
    }

    fn to_text(self) -> String {
        match self {
            Number::U64(n) => n.to_string(),
            Number::I64(n) => n.to_string(),
            Number::F64(n) => n.to_string(),
        }
    }
}

/// Collects one line's canonical fields, then builds the event.
#[derive(Debug)]
pub struct EventBuilder<'n> {
    names: &'n EventNames,
    /// Rank of the name that set each field; `u8::MAX` while unset.
    ranks: [u8; FIELD_COUNT],
    ts: Option<Result<Timestamp, String>>,
    event: Option<EventMatch>,
    outcome: Option<Outcome>,
    reason: Option<FailureReason>,
    account: Option<AccountKey>,
    ip: Option<Result<IpAddr, String>>,
    user_agent: Option<std::sync::Arc<str>>,
    amount: Option<Result<f64, String>>,
    marketplace: Option<Result<bool, String>>,
    details: EventDetails,
}

impl<'n> EventBuilder<'n> {
    /// An empty builder resolving event names with `names`.
    pub fn new(names: &'n EventNames) -> EventBuilder<'n> {
        EventBuilder {
            names,
            ranks: [u8::MAX; FIELD_COUNT],
            ts: None,
            event: None,
            outcome: None,
            reason: None,
            account: None,
            ip: None,
            user_agent: None,
            amount: None,
            marketplace: None,
            details: EventDetails::default(),
        }
    }

    /// True when some source name set `field` (to any value, even an invalid one).
    pub fn has(&self, field: Field) -> bool {
        self.ranks[field.index()] != u8::MAX
    }

    /// Claims `t.field` for a value of rank `t.rank`: false when a better-ranked name already
    /// set it.
    fn claim(&mut self, t: Target) -> bool {
        let slot = &mut self.ranks[t.field.index()];
        if t.rank > *slot {
            return false;
        }
        *slot = t.rank;
        true
    }

    /// Sets a field from text (a JSON string or a CSV cell).
    pub fn set_text(&mut self, t: Target, value: &str) {
        let v = trim(value);
        if v.is_empty() {
            return;
        }
        match t.field {
            Field::Ts => {
                let r = parse_ts_text(v).ok_or_else(|| quote(v));
                if self.claim(t) {
                    self.ts = Some(r);
                }
            }
            Field::Event => {
                if self.claim(t) {
                    self.event = Some(self.names.resolve(v));
                }
            }
            Field::Outcome => {
                // Canonical words first: `from_name` allocates to lower-case.
                let o = match v {
                    "success" => Some(Outcome::Success),
                    "failure" => Some(Outcome::Failure),
                    _ => Outcome::from_name(v),
                };
                // A word we do not know is no outcome (see the module docs).
                if let Some(o) = o
                    && self.claim(t)
                {
                    self.outcome = Some(o);
                }
            }
            Field::Reason => {
                if self.claim(t) {
                    // Canonical names first: `from_name` allocates to lower-case.
                    self.reason = Some(match v {
                        "unknown_account" => FailureReason::UnknownAccount,
                        "bad_password" => FailureReason::BadPassword,
                        "locked" => FailureReason::Locked,
                        "mfa_failed" => FailureReason::MfaFailed,
                        "other" => FailureReason::Other,
                        _ => FailureReason::from_name(v),
                    });
                }
            }
            Field::Account => {
                if let Some(a) = AccountKey::normalize(v)
                    && self.claim(t)
                {
                    self.account = Some(a);
                }
            }
            Field::Ip => {
                let r = match parse_ip(v) {
                    IpParse::Addr(ip) => Ok(ip),
                    IpParse::Placeholder => return,
                    IpParse::Bad => Err(quote(v)),
                };
                if self.claim(t) {
                    self.ip = Some(r);
                }
            }
            Field::UserAgent => {
                if v != "-" && self.claim(t) {
                    self.user_agent = Some(crate::event::shared_text(cut(v)));
                }
            }
            Field::OrderId => {
                if self.claim(t) {
                    self.details.order_id = Some(cut(v).into());
                }
            }
            Field::Seller => {
                if self.claim(t) {
                    self.details.seller = Some(cut(v).into());
                }
            }
            Field::Currency => {
                if self.claim(t) {
                    self.details.currency = Some(cut(v).to_uppercase().into_boxed_str());
                }
            }
            Field::Amount => {
                let r = v
                    .parse::<f64>()
                    .ok()
                    .filter(|a| a.is_finite())
                    .ok_or_else(|| quote(v));
                if self.claim(t) {
                    self.amount = Some(r);
                }
            }
            Field::Marketplace => {
                let r = match v.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" => Ok(true),
                    "false" | "no" | "0" => Ok(false),
                    _ => Err(quote(v)),
                };
                if self.claim(t) {
                    self.marketplace = Some(r);
                }
            }
            Field::ShipTo | Field::Address | Field::NewEmail => {
                if let Some(h) = AddressHash::of(v)
                    && self.claim(t)
                {
                    let slot = match t.field {
                        Field::ShipTo => &mut self.details.ship_to,
                        Field::Address => &mut self.details.address,
                        _ => &mut self.details.new_email,
                    };
                    *slot = Some(h);
                }
            }
        }
    }

    /// Sets a field from raw bytes (a CSV cell): invalid UTF-8 (a Shift-JIS account name) is
    /// kept losslessly as `\xNN` escapes, like [`AccountKey::normalize_bytes`].
    pub fn set_bytes(&mut self, t: Target, value: &[u8]) {
        self.set_text(t, &lossless_text(value));
    }

    /// Sets a field from a number (a JSON number).
    pub fn set_number(&mut self, t: Target, value: Number) {
        match t.field {
            Field::Ts => {
                let r = Timestamp::from_epoch_number(value.as_f64()).ok_or_else(|| {
                    format!(
                        "{} is not an epoch time in seconds or milliseconds",
                        value.to_text()
                    )
                });
                if self.claim(t) {
                    self.ts = Some(r);
                }
            }
            Field::Amount => {
                let a = value.as_f64();
                let r = if a.is_finite() {
                    Ok(a)
                } else {
                    Err(value.to_text())
                };
                if self.claim(t) {
                    self.amount = Some(r);
                }
            }
            Field::Marketplace => {
                let r = match value.as_f64() {
                    0.0 => Ok(false),
                    1.0 => Ok(true),
                    _ => Err(value.to_text()),
                };
                if self.claim(t) {
                    self.marketplace = Some(r);
                }
            }
            // Numeric account ids, order ids, event codes (Windows 4625): as text.
            _ => self.set_text(t, &value.to_text()),
        }
    }

    /// Sets a field from a boolean (a JSON `true`/`false`).
    pub fn set_bool(&mut self, t: Target, value: bool) {
        match t.field {
            Field::Marketplace => {
                if self.claim(t) {
                    self.marketplace = Some(Ok(value));
                }
            }
            _ => self.set_text(t, if value { "true" } else { "false" }),
        }
    }

    /// Builds the event: `Ok(None)` for an unknown or ignored event name, a rejection for a
    /// missing event, a missing or bad time, or a bad typed field.
    pub fn finish(self, meta: &LineMeta) -> Result<Option<AuthEvent>, ParseError> {
        let (kind, implied) = match self.event {
            None => return Err(ParseError::new("missing_event")),
            Some(EventMatch::Ignore | EventMatch::Unknown) => return Ok(None),
            Some(EventMatch::Kind(k, o)) => (k, o),
        };
        let ts = match self.ts {
            None => return Err(ParseError::new("missing_timestamp")),
            Some(Err(v)) => return Err(ParseError::with_detail("bad_timestamp", v)),
            Some(Ok(ts)) => ts,
        };
        let ip = match self.ip {
            None => None,
            Some(Ok(ip)) => Some(ip),
            Some(Err(v)) => return Err(ParseError::with_detail("bad_ip", v)),
        };
        let mut details = self.details;
        match self.amount {
            None => {}
            Some(Ok(a)) => details.amount = Some(a),
            Some(Err(v)) => return Err(ParseError::with_detail("bad_amount", v)),
        }
        match self.marketplace {
            None => {}
            Some(Ok(m)) => details.marketplace = Some(m),
            Some(Err(v)) => return Err(ParseError::with_detail("bad_marketplace", v)),
        }
        let outcome = match self.outcome {
            Some(o @ (Outcome::Success | Outcome::Failure)) => o,
            _ => implied.unwrap_or(Outcome::Unknown),
        };
        let mut ev = AuthEvent::new(ts, kind, *meta);
        ev.outcome = outcome;
        ev.reason = if outcome == Outcome::Success {
            None
        } else {
            self.reason
        };
        ev.account = self.account;
        ev.ip = ip;
        ev.user_agent = self.user_agent;
        if !details.is_empty() {
            ev.details = Some(Box::new(details));
        }
        Ok(Some(ev))
    }
}

/// `str::trim`, skipping its Unicode scan when both ends are visible ASCII (nearly always).
fn trim(v: &str) -> &str {
    match v.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => v,
        [only] if only.is_ascii_graphic() => v,
        _ => v.trim(),
    }
}

/// RFC 3339, or a numeric string of epoch seconds or milliseconds.
fn parse_ts_text(v: &str) -> Option<Timestamp> {
    if let Some(ts) = parse_rfc3339(v.as_bytes()) {
        return Some(ts);
    }
    // Only plain decimal numbers: `f64::from_str` would also take `inf` and `1e3`.
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return v.parse::<f64>().ok().and_then(Timestamp::from_epoch_number);
    }
    None
}

enum IpParse {
    Addr(IpAddr),
    Placeholder,
    Bad,
}

/// Parses a client address as applications write it (see the module docs).
fn parse_ip(v: &str) -> IpParse {
    if let Ok(ip) = v.parse::<IpAddr>() {
        return IpParse::Addr(ip.to_canonical());
    }
    if v == "-" || v.eq_ignore_ascii_case("unknown") {
        return IpParse::Placeholder;
    }
    let host = if let Some(rest) = v.strip_prefix('[') {
        // `[v6]` or `[v6]:port`.
        match rest.split_once(']') {
            Some((inner, "")) => inner,
            Some((inner, port)) if port.strip_prefix(':').is_some_and(is_port) => inner,
            _ => return IpParse::Bad,
        }
    } else if let Some((host, port)) = v.split_once(':')
        && !port.contains(':')
        && is_port(port)
    {
        // `v4:port` (exactly one colon, so not IPv6).
        host
    } else {
        v
    };
    // `fe80::1%eth0`: the zone names a local interface, not part of the client's identity.
    let host = host.split_once('%').map_or(host, |(h, _)| h);
    match host.parse::<IpAddr>() {
        Ok(ip) => IpParse::Addr(ip.to_canonical()),
        Err(_) => IpParse::Bad,
    }
}

/// 1–5 digits.
fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// Cuts free text at [`MAX_TEXT_BYTES`] on a character boundary.
fn cut(v: &str) -> &str {
    if v.len() <= MAX_TEXT_BYTES {
        return v;
    }
    let mut end = MAX_TEXT_BYTES;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v.get(..end).unwrap_or_default()
}

/// A value quoted for a rejection's detail, cut to a readable length.
fn quote(v: &str) -> String {
    if v.len() <= MAX_DETAIL_BYTES {
        return format!("{v:?}");
    }
    let mut end = MAX_DETAIL_BYTES;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}…", v.get(..end).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::SourceId;
    use std::net::Ipv4Addr;

    fn t(field: Field) -> Target {
        Target {
            field,
            rank: RANK_CANONICAL,
        }
    }

    fn meta() -> LineMeta {
        LineMeta {
            source: SourceId(2),
            line: 7,
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        match parse_ip(s) {
            IpParse::Addr(a) => Some(a),
            _ => None,
        }
    }

    #[test]
    fn ip_forms() {
        let v4 = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
        assert_eq!(ip("203.0.113.7"), Some(v4));
        assert_eq!(ip("203.0.113.7:51234"), Some(v4));
        assert_eq!(ip("::ffff:203.0.113.7"), Some(v4));
        assert_eq!(ip("[::ffff:203.0.113.7]:443"), Some(v4));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip("2001:db8::1"), Some(v6));
        assert_eq!(ip("[2001:db8::1]"), Some(v6));
        assert_eq!(ip("[2001:db8::1]:8443"), Some(v6));
        assert_eq!(ip("fe80::1%eth0"), "fe80::1".parse().ok());
        assert!(matches!(parse_ip("-"), IpParse::Placeholder));
        assert!(matches!(parse_ip("Unknown"), IpParse::Placeholder));
        assert!(matches!(parse_ip("203.0.113.7, 10.0.0.1"), IpParse::Bad));
        assert!(matches!(parse_ip("300.1.1.1"), IpParse::Bad));
        assert!(matches!(parse_ip("[2001:db8::1"), IpParse::Bad));
        assert!(matches!(parse_ip("1.2.3.4:99999999"), IpParse::Bad));
        assert!(matches!(parse_ip("example.com"), IpParse::Bad));
    }

    #[test]
    fn event_names_and_synonyms() {
        let n = EventNames::default();
        assert_eq!(n.resolve("login"), EventMatch::Kind(EventKind::Login, None));
        assert_eq!(
            n.resolve("User-Login"),
            EventMatch::Kind(EventKind::Login, None)
        );
        assert_eq!(
            n.resolve("logged-in"),
            EventMatch::Kind(EventKind::Login, None)
        );
        assert_eq!(
            n.resolve("authentication_failure"),
            EventMatch::Kind(EventKind::Login, Some(Outcome::Failure))
        );
        assert_eq!(
            n.resolve("password-change"),
            EventMatch::Kind(EventKind::PasswordResetComplete, None)
        );
        assert_eq!(
            n.resolve("password_reset"),
            EventMatch::Kind(EventKind::PasswordResetRequest, None)
        );
        assert_eq!(
            n.resolve("user.session.start"),
            EventMatch::Kind(EventKind::Login, None)
        );
        assert_eq!(n.resolve("page_view"), EventMatch::Unknown);
        for k in EventKind::ALL {
            assert_eq!(n.resolve(k.as_str()), EventMatch::Kind(k, None));
        }
    }

    #[test]
    fn config_event_map_wins_and_validates() {
        let mut m = BTreeMap::new();
        m.insert("UserLoggedIn".to_string(), "login".to_string());
        m.insert("login".to_string(), "ignore".to_string());
        m.insert("4625".to_string(), "login".to_string());
        let n = EventNames::new(&m, "json.events").unwrap();
        assert_eq!(
            n.resolve("UserLoggedIn"),
            EventMatch::Kind(EventKind::Login, None)
        );
        assert_eq!(
            n.resolve("userloggedin"),
            EventMatch::Kind(EventKind::Login, None)
        );
        assert_eq!(n.resolve("login"), EventMatch::Ignore);
        assert_eq!(
            n.resolve("logout"),
            EventMatch::Kind(EventKind::Logout, None)
        );
        m.insert("x".to_string(), "logn".to_string());
        let err = EventNames::new(&m, "json.events").unwrap_err().to_string();
        assert!(err.contains("json.events.\"x\""), "{err}");
        assert!(err.contains("logn"), "{err}");
        let mut clash = BTreeMap::new();
        clash.insert("A-B".to_string(), "login".to_string());
        clash.insert("a_b".to_string(), "logout".to_string());
        assert!(EventNames::new(&clash, "csv.events").is_err());
    }

    #[test]
    fn field_map_validates() {
        let mut m = BTreeMap::new();
        m.insert("user.email".to_string(), "account".to_string());
        m.insert("event".to_string(), "ignore".to_string());
        m.insert("addr".to_string(), "address_id".to_string());
        let v = compile_field_map(&m, "json.fields").unwrap();
        assert_eq!(v.len(), 3);
        assert!(v.contains(&("event".to_string(), None)));
        assert!(v.contains(&(
            "addr".to_string(),
            Some(Target {
                field: Field::Address,
                rank: RANK_CONFIG
            })
        )));
        m.insert("who".to_string(), "acount".to_string());
        let err = compile_field_map(&m, "json.fields")
            .unwrap_err()
            .to_string();
        assert!(err.contains("json.fields.\"who\""), "{err}");
    }

    #[test]
    fn builder_full_order() {
        let names = EventNames::default();
        let mut b = EventBuilder::new(&names);
        b.set_text(t(Field::Ts), "2026-11-20T19:15:02.123+09:00");
        b.set_text(t(Field::Event), "order");
        b.set_text(t(Field::Outcome), "success");
        b.set_text(t(Field::Account), "  Bob@Example.JP ");
        b.set_text(t(Field::Ip), "2001:db8::7");
        b.set_text(t(Field::UserAgent), "Mozilla/5.0");
        b.set_number(t(Field::OrderId), Number::U64(12_345_678_901_234_567));
        b.set_text(t(Field::Amount), "12800.50");
        b.set_text(t(Field::Currency), "jpy");
        b.set_text(t(Field::Marketplace), "1");
        b.set_text(t(Field::Seller), "acme");
        b.set_text(t(Field::ShipTo), "1-2-3 Shibuya, Tokyo");
        let ev = b.finish(&meta()).unwrap().unwrap();
        assert_eq!(ev.ts.to_string(), "2026-11-20T10:15:02.123Z");
        assert_eq!(ev.kind, EventKind::Order);
        assert_eq!(ev.outcome, Outcome::Success);
        assert_eq!(ev.account.as_ref().unwrap().as_str(), "bob@example.jp");
        assert_eq!(ev.ip, "2001:db8::7".parse().ok());
        assert_eq!(ev.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(ev.origin, meta());
        let d = ev.details.unwrap();
        assert_eq!(d.order_id.as_deref(), Some("12345678901234567"));
        assert_eq!(d.amount, Some(12800.5));
        assert_eq!(d.currency.as_deref(), Some("JPY"));
        assert_eq!(d.marketplace, Some(true));
        assert_eq!(d.seller.as_deref(), Some("acme"));
        assert_eq!(d.ship_to, AddressHash::of("1 2 3 shibuya tokyo"));
        assert_eq!(d.address, None);
    }

    #[test]
    fn builder_rejections_and_defaults() {
        let names = EventNames::default();
        let run = |f: &dyn Fn(&mut EventBuilder)| {
            let mut b = EventBuilder::new(&names);
            f(&mut b);
            b.finish(&meta())
        };
        let reason = |r: Result<Option<AuthEvent>, ParseError>| r.unwrap_err().reason;
        assert_eq!(
            reason(run(&|b| b.set_text(t(Field::Ts), "2026-11-20T10:15:02Z"))),
            "missing_event"
        );
        assert_eq!(
            reason(run(&|b| b.set_text(t(Field::Event), "login"))),
            "missing_timestamp"
        );
        let e = run(&|b| {
            b.set_text(t(Field::Event), "login");
            b.set_text(t(Field::Ts), "yesterday");
        })
        .unwrap_err();
        assert_eq!(e.reason, "bad_timestamp");
        assert_eq!(e.detail.as_deref(), Some("\"yesterday\""));
        assert_eq!(
            reason(run(&|b| {
                b.set_text(t(Field::Event), "login");
                b.set_number(t(Field::Ts), Number::I64(-5));
            })),
            "bad_timestamp"
        );
        assert_eq!(
            reason(run(&|b| {
                b.set_text(t(Field::Event), "login");
                b.set_text(t(Field::Ts), "1763633702");
                b.set_text(t(Field::Ip), "not-an-ip");
            })),
            "bad_ip"
        );
        assert_eq!(
            reason(run(&|b| {
                b.set_text(t(Field::Event), "order");
                b.set_text(t(Field::Ts), "1763633702");
                b.set_text(t(Field::Amount), "12,800 JPY");
            })),
            "bad_amount"
        );
        assert_eq!(
            reason(run(&|b| {
                b.set_text(t(Field::Event), "order");
                b.set_text(t(Field::Ts), "1763633702");
                b.set_number(t(Field::Marketplace), Number::U64(2));
            })),
            "bad_marketplace"
        );
        // An irrelevant line is irrelevant whatever else is wrong with it.
        assert_eq!(
            run(&|b| {
                b.set_text(t(Field::Event), "page_view");
                b.set_text(t(Field::Ip), "garbage");
            }),
            Ok(None)
        );
        // Login without outcome: unknown; failure without reason: no reason.
        let ev = run(&|b| {
            b.set_text(t(Field::Event), "login");
            b.set_number(t(Field::Ts), Number::U64(1_763_633_702_123));
        })
        .unwrap()
        .unwrap();
        assert_eq!(ev.outcome, Outcome::Unknown);
        assert_eq!(ev.ts, Timestamp(1_763_633_702_123));
        assert!(ev.details.is_none());
        let ev = run(&|b| {
            b.set_text(t(Field::Event), "login");
            b.set_number(t(Field::Ts), Number::F64(1_763_633_702.5));
            b.set_text(t(Field::Outcome), "failure");
        })
        .unwrap()
        .unwrap();
        assert_eq!(ev.ts, Timestamp(1_763_633_702_500));
        assert_eq!((ev.outcome, ev.reason), (Outcome::Failure, None));
    }

    type Step = Box<dyn Fn(&mut EventBuilder)>;

    #[test]
    fn ranks_decide_not_key_order() {
        let names = EventNames::default();
        fn ecs(field: Field) -> Target {
            Target {
                field,
                rank: RANK_ECS,
            }
        }
        fn second(field: Field) -> Target {
            Target {
                field,
                rank: RANK_SECONDARY,
            }
        }
        for flip in [false, true] {
            let mut b = EventBuilder::new(&names);
            let mut steps: Vec<Step> = vec![
                Box::new(|b| b.set_text(ecs(Field::Account), "alice")),
                Box::new(|b| b.set_text(second(Field::Account), "alice@example.com")),
                Box::new(|b| b.set_text(t(Field::Ts), "2026-01-01T00:00:00Z")),
                Box::new(|b| b.set_text(ecs(Field::Ts), "bad")),
            ];
            if flip {
                steps.reverse();
            }
            for s in &steps {
                s(&mut b);
            }
            b.set_text(t(Field::Event), "login");
            let ev = b.finish(&meta()).unwrap().unwrap();
            assert_eq!(ev.account.unwrap().as_str(), "alice");
            assert_eq!(ev.ts.to_string(), "2026-01-01T00:00:00Z");
        }
    }

    #[test]
    fn implied_outcome_and_reason_rules() {
        let names = EventNames::default();
        let mut b = EventBuilder::new(&names);
        b.set_text(t(Field::Event), "login_failed");
        b.set_text(t(Field::Ts), "2026-01-01T00:00:00Z");
        b.set_text(t(Field::Reason), "invalid_user");
        let ev = b.finish(&meta()).unwrap().unwrap();
        assert_eq!(ev.outcome, Outcome::Failure);
        assert_eq!(ev.reason, Some(FailureReason::UnknownAccount));

        let mut b = EventBuilder::new(&names);
        b.set_text(t(Field::Event), "login_failed");
        b.set_text(t(Field::Ts), "2026-01-01T00:00:00Z");
        b.set_bool(t(Field::Outcome), true);
        b.set_text(t(Field::Reason), "bad_password");
        let ev = b.finish(&meta()).unwrap().unwrap();
        assert_eq!((ev.outcome, ev.reason), (Outcome::Success, None));

        // Unknown outcome words are absent; empty values are absent.
        let mut b = EventBuilder::new(&names);
        b.set_text(t(Field::Event), "mfa_challenge");
        b.set_text(t(Field::Ts), "2026-01-01T00:00:00Z");
        b.set_text(t(Field::Outcome), "challenged");
        b.set_text(t(Field::Ip), "");
        b.set_text(t(Field::Account), "-");
        b.set_text(t(Field::UserAgent), "  ");
        let ev = b.finish(&meta()).unwrap().unwrap();
        assert_eq!(ev.outcome, Outcome::Unknown);
        assert_eq!((ev.ip, ev.account, ev.user_agent), (None, None, None));
    }

    #[test]
    fn change_fields_are_hashed_and_text_is_cut() {
        let names = EventNames::default();
        let mut b = EventBuilder::new(&names);
        b.set_text(t(Field::Event), "email_change");
        b.set_text(t(Field::Ts), "2026-01-01T00:00:00Z");
        b.set_text(t(Field::NewEmail), "Mallory@Evil.example");
        b.set_text(t(Field::Address), "Somewhere 1");
        let long = "é".repeat(3000);
        b.set_text(t(Field::UserAgent), &long);
        let ev = b.finish(&meta()).unwrap().unwrap();
        let d = ev.details.as_ref().unwrap();
        assert_eq!(d.new_email, AddressHash::of("mallory@evil.example"));
        assert_eq!(d.address, AddressHash::of("somewhere 1"));
        let ua = ev.user_agent.as_deref().unwrap();
        assert_eq!(ua.len(), 1024);
        assert!(ua.chars().all(|c| c == 'é'));
        let json = serde_json::to_string(&ev).unwrap();
        assert!(
            !json.contains("Mallory") && !json.contains("mallory"),
            "{json}"
        );
    }

    #[test]
    fn timestamps_text() {
        assert_eq!(
            parse_ts_text("1763633702"),
            Some(Timestamp(1_763_633_702_000))
        );
        assert_eq!(
            parse_ts_text("1763633702123"),
            Some(Timestamp(1_763_633_702_123))
        );
        assert_eq!(parse_ts_text("inf"), None);
        assert_eq!(parse_ts_text("1e12"), None);
        assert_eq!(parse_ts_text("1.2.3"), None);
        assert_eq!(
            parse_ts_text("2026-11-20T10:15:02-05:00").map(|t| t.to_string()),
            Some("2026-11-20T15:15:02Z".to_string())
        );
    }
}
