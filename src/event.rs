//! The normalized event: what every decoder produces and every detector consumes.
//!
//! Decoders turn one input line into at most one [`AuthEvent`]. Detectors never see file
//! formats, only these fields. Keys that attackers choose (account names, addresses) are
//! normalized here once, so every detector compares them the same way.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::time::Timestamp;

/// What happened, in the vocabulary of the input contract (`events.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A login attempt.
    Login,
    /// A second-factor challenge.
    MfaChallenge,
    /// A password reset or security code was requested.
    PasswordResetRequest,
    /// A password reset was completed with a code.
    PasswordResetComplete,
    /// The account's e-mail address was changed.
    EmailChange,
    /// A shipping address was added or changed.
    AddressChange,
    /// A payment method was added or changed.
    PaymentChange,
    /// An order was placed.
    Order,
    /// A logout.
    Logout,
    /// A new account was created.
    Signup,
}

impl EventKind {
    /// Every kind, in a fixed order (used for summaries).
    pub const ALL: [EventKind; 10] = [
        EventKind::Login,
        EventKind::MfaChallenge,
        EventKind::PasswordResetRequest,
        EventKind::PasswordResetComplete,
        EventKind::EmailChange,
        EventKind::AddressChange,
        EventKind::PaymentChange,
        EventKind::Order,
        EventKind::Logout,
        EventKind::Signup,
    ];

    /// The canonical name, as written in JSON input and output.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Login => "login",
            EventKind::MfaChallenge => "mfa_challenge",
            EventKind::PasswordResetRequest => "password_reset_request",
            EventKind::PasswordResetComplete => "password_reset_complete",
            EventKind::EmailChange => "email_change",
            EventKind::AddressChange => "address_change",
            EventKind::PaymentChange => "payment_change",
            EventKind::Order => "order",
            EventKind::Logout => "logout",
            EventKind::Signup => "signup",
        }
    }

    /// Looks up a canonical name (exact, lower case).
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    /// The canonical name only (what `Serialize` writes).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EventKind, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        EventKind::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event kind {name:?}")))
    }
}

/// The result of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Outcome {
    /// It worked.
    Success,
    /// It was refused.
    Failure,
    /// The input does not say (for example a `POST /login` answered with 200).
    #[default]
    Unknown,
}

impl Outcome {
    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }

    /// Parses `success`/`failure` and the usual synonyms (ECS uses the same two words).
    pub fn from_name(name: &str) -> Option<Outcome> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "success" | "succeeded" | "ok" | "true" | "pass" | "passed" => Outcome::Success,
            "failure" | "failed" | "fail" | "false" | "denied" | "error" => Outcome::Failure,
            "unknown" | "" => Outcome::Unknown,
            _ => return None,
        })
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a login failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// No such account: the signature of a replayed list.
    UnknownAccount,
    /// The account exists, the password was wrong.
    BadPassword,
    /// The account is locked.
    Locked,
    /// The second factor failed.
    MfaFailed,
    /// Anything else.
    Other,
}

impl FailureReason {
    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::UnknownAccount => "unknown_account",
            FailureReason::BadPassword => "bad_password",
            FailureReason::Locked => "locked",
            FailureReason::MfaFailed => "mfa_failed",
            FailureReason::Other => "other",
        }
    }

    /// Parses a canonical name and common synonyms; anything unrecognized is `Other`.
    pub fn from_name(name: &str) -> FailureReason {
        match name.trim().to_ascii_lowercase().as_str() {
            "unknown_account" | "unknown_user" | "invalid_user" | "no_such_user"
            | "user_not_found" => FailureReason::UnknownAccount,
            "bad_password" | "wrong_password" | "invalid_password" | "bad_credentials" => {
                FailureReason::BadPassword
            }
            "locked" | "account_locked" | "locked_out" => FailureReason::Locked,
            "mfa_failed" | "bad_otp" | "otp_failed" | "2fa_failed" => FailureReason::MfaFailed,
            _ => FailureReason::Other,
        }
    }
}

impl Serialize for FailureReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FailureReason {
    /// The canonical name only (what `Serialize` writes), not the synonyms of
    /// [`FailureReason::from_name`], so a damaged value is an error rather than `other`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FailureReason, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        [
            FailureReason::UnknownAccount,
            FailureReason::BadPassword,
            FailureReason::Locked,
            FailureReason::MfaFailed,
            FailureReason::Other,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown failure reason {name:?}")))
    }
}

/// A normalized account identifier: trimmed and lower-cased, so `Alice@Example.com ` and
/// `alice@example.com` are one account.
///
/// Shared: the rules keep an event's account in several places (episodes, remembered
/// successes, per-account tables), each for the price of a reference count instead of a copy.
/// The key carries a 64-bit keyed hash of its text ([`AccountKey::hash64`]), computed once when
/// the line is decoded (on the decoding threads): every rule's table, shard routing and
/// distinct count starts from it instead of hashing the text again.
#[derive(Debug, Clone)]
pub struct AccountKey {
    text: std::sync::Arc<str>,
    hash: u64,
}

/// SipHash-1-3 keys of [`AccountKey::hash64`]. Fixed, so that the hash is the same in every
/// run and across restarts (checkpointed state is keyed by values derived from it); SipHash
/// keeps full 64-bit collisions out of reach even with the keys known, and tables re-hash it
/// with a random seed of their own.
const ACCOUNT_HASH_KEYS: (u64, u64) = (0x6372_6564_7761_7463, 0x6163_636f_756e_7473);

impl AccountKey {
    fn new(text: std::sync::Arc<str>) -> AccountKey {
        use std::hash::Hasher;
        let mut h =
            siphasher::sip::SipHasher13::new_with_keys(ACCOUNT_HASH_KEYS.0, ACCOUNT_HASH_KEYS.1);
        h.write(text.as_bytes());
        AccountKey {
            hash: h.finish(),
            text,
        }
    }

    /// Normalizes a raw account field. Empty values and the access-log placeholder `-` are no
    /// account at all.
    pub fn normalize(raw: &str) -> Option<AccountKey> {
        let t = raw.trim();
        if t.is_empty() || t == "-" {
            return None;
        }
        if t.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
            return Some(AccountKey::new(t.into()));
        }
        Some(AccountKey::new(t.to_lowercase().into()))
    }

    /// Normalizes raw bytes: invalid UTF-8 (Shift-JIS names, say) is kept losslessly as
    /// `\xNN` escapes so distinct byte strings stay distinct accounts.
    pub fn normalize_bytes(raw: &[u8]) -> Option<AccountKey> {
        AccountKey::normalize(&lossless_text(raw))
    }

    /// The normalized text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A 64-bit keyed hash of the text, the same in every run: equal keys have equal hashes.
    pub fn hash64(&self) -> u64 {
        self.hash
    }
}

impl PartialEq for AccountKey {
    fn eq(&self, other: &AccountKey) -> bool {
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for AccountKey {}

impl std::hash::Hash for AccountKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for AccountKey {
    fn partial_cmp(&self, other: &AccountKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AccountKey {
    /// By text: orders (of alerts, samples) never depend on the hash.
    fn cmp(&self, other: &AccountKey) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for AccountKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for AccountKey {
    /// Through [`AccountKey::normalize`] (idempotent, so a serialized key comes back as it was),
    /// so a deserialized key keeps the type's invariant; empty and `-` are errors.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AccountKey, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        AccountKey::normalize(&raw)
            .ok_or_else(|| serde::de::Error::custom(format!("not an account: {raw:?}")))
    }
}

/// An autonomous system number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Asn(pub u32);

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A short, stable hash of a normalized postal or e-mail address. Addresses are personal data:
/// they are compared by this hash and never printed in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressHash(pub u64);

impl AddressHash {
    /// Hashes an address after normalizing it: lower case, every run of whitespace and
    /// punctuation (`,.-#/` and the Japanese full-width space and comma) folded to one space.
    /// Returns `None` for an empty address.
    pub fn of(raw: &str) -> Option<AddressHash> {
        let mut norm = String::with_capacity(raw.len());
        let mut pending_space = false;
        for c in raw.chars() {
            if c.is_whitespace() || matches!(c, ',' | '.' | '-' | '#' | '/' | '、' | '，' | '　')
            {
                pending_space = !norm.is_empty();
                continue;
            }
            if pending_space {
                norm.push(' ');
                pending_space = false;
            }
            norm.extend(c.to_lowercase());
        }
        if norm.is_empty() {
            return None;
        }
        let digest = Sha256::digest(norm.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Some(AddressHash(u64::from_be_bytes(first)))
    }
}

impl fmt::Display for AddressHash {
    /// Twelve hex digits: short enough to read, 48 bits is plenty to tell ship-tos apart.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012x}", self.0 >> 16)
    }
}

impl Serialize for AddressHash {
    /// The full 64 bits, so that detector state restores losslessly. Output meant for people
    /// (`parse`, evidence) uses the short display form instead: [`AddressHash::display_opt`] on
    /// fields, `to_string()` elsewhere.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl AddressHash {
    /// Serializes an optional hash in its short display form, for
    /// `#[serde(serialize_with = "AddressHash::display_opt")]` on fields written for people.
    pub fn display_opt<S: Serializer>(h: &Option<AddressHash>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.collect_str(h),
            None => s.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for AddressHash {
    /// The full 64-bit value only: the 12-digit display form has lost 16 bits.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AddressHash, D::Error> {
        u64::deserialize(d).map(AddressHash)
    }
}

/// Order and account-change fields. Boxed in [`AuthEvent`] because most events (logins) have
/// none of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventDetails {
    /// The order's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Box<str>>,
    /// The order total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// ISO 4217 currency code, upper case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Box<str>>,
    /// True when a third-party marketplace seller fulfils the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marketplace: Option<bool>,
    /// The seller's name or id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller: Option<Box<str>>,
    /// Where the order ships to, hashed.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "AddressHash::display_opt"
    )]
    pub ship_to: Option<AddressHash>,
    /// The new shipping address of an `address_change`, hashed.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "AddressHash::display_opt"
    )]
    pub address: Option<AddressHash>,
    /// The new e-mail of an `email_change`, hashed.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "AddressHash::display_opt"
    )]
    pub new_email: Option<AddressHash>,
}

impl EventDetails {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == EventDetails::default()
    }
}

/// Index of an input in the run (its position in the list of inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SourceId(pub u32);

/// Where a line came from: the input and its 1-based line number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LineMeta {
    /// Which input.
    pub source: SourceId,
    /// 1-based line number within that input.
    pub line: u64,
}

/// One normalized authentication or account event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthEvent {
    /// Event time.
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub ts: Timestamp,
    /// What happened.
    #[serde(rename = "event")]
    pub kind: EventKind,
    /// Success, failure, or unknown.
    pub outcome: Outcome,
    /// Why a login failed, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<FailureReason>,
    /// The account, normalized.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountKey>,
    /// The client address (after trusted-proxy resolution).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The client's autonomous system, once enriched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<Asn>,
    /// The client's user agent (shared: a log holds few distinct agents, see [`shared_text`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<std::sync::Arc<str>>,
    /// Order and change fields.
    #[serde(
        flatten,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_details"
    )]
    pub details: Option<Box<EventDetails>>,
    /// How many identical events this line stands for (sshd's `message repeated N times`).
    #[serde(skip_serializing_if = "is_one")]
    pub repeat: u32,
    /// Where the line came from.
    #[serde(skip)]
    pub origin: LineMeta,
    /// For a successful account event: what the account's login history said of its address
    /// and ASN before it (set by the shared login history stage; `None` elsewhere).
    #[serde(skip)]
    pub logins: Option<LoginContext>,
}

/// What an account's login history said of one event's address and ASN, just before the
/// event: when each was first seen among the account's remembered successful logins, and when
/// the earliest one was. Detectors ask it relative to a moment of their own (the event, or the
/// start of a takeover chain). 24 bytes: every event carries one through the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginContext {
    /// First successful login from the event's address ([`LoginContext::NEVER`] if none).
    ip_first: Timestamp,
    /// First successful login from the event's ASN ([`LoginContext::NEVER`] if none).
    asn_first: Timestamp,
    /// The earliest first-seen time of any remembered address ([`LoginContext::NEVER`]).
    earliest: Timestamp,
}

impl Default for LoginContext {
    /// No history at all.
    fn default() -> LoginContext {
        LoginContext {
            ip_first: LoginContext::NEVER,
            asn_first: LoginContext::NEVER,
            earliest: LoginContext::NEVER,
        }
    }
}

impl LoginContext {
    /// Not remembered.
    pub const NEVER: Timestamp = Timestamp(i64::MAX);

    /// A context from first-seen times (`None`: not remembered).
    pub fn new(
        ip_first: Option<Timestamp>,
        asn_first: Option<Timestamp>,
        earliest: Option<Timestamp>,
    ) -> LoginContext {
        LoginContext {
            ip_first: ip_first.unwrap_or(LoginContext::NEVER),
            asn_first: asn_first.unwrap_or(LoginContext::NEVER),
            earliest: earliest.unwrap_or(LoginContext::NEVER),
        }
    }

    /// (address new, ASN new) relative to logins before `before`. A missing ASN (no database)
    /// is "new" only when the address is. No address is never new.
    pub fn novelty(&self, ev: &AuthEvent, before: Timestamp) -> (bool, bool) {
        let ip_new = ev.ip.is_some() && self.ip_first >= before;
        let asn_new = match ev.asn {
            Some(_) => self.asn_first >= before,
            None => ip_new,
        };
        (ip_new, asn_new)
    }

    /// True when the account had logged in successfully before `before`.
    pub fn has_history(&self, before: Timestamp) -> bool {
        self.earliest < before
    }
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

fn serialize_details<S: Serializer>(
    d: &Option<Box<EventDetails>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => d.serialize(s),
        None => s.serialize_none(),
    }
}

/// Distinct texts each decoding thread keeps for [`shared_text`].
const SHARED_TEXT_SLOTS: usize = 64;

thread_local! {
    static SHARED_TEXTS: std::cell::RefCell<[Option<std::sync::Arc<str>>; SHARED_TEXT_SLOTS]> =
        const { std::cell::RefCell::new([const { None }; SHARED_TEXT_SLOTS]) };
}

/// `text` as a shared string, reusing the one this thread made last time for the same text.
///
/// For fields that repeat from line to line and that no rule keys on, such as user agents: a
/// shop's log holds a few hundred distinct agents over millions of lines, and a new string
/// per event cost an allocation on the decoding thread and a free on the detection thread. A
/// small direct-mapped table per thread (no lock, no growth): a text that misses its slot is
/// simply allocated and takes the slot.
pub fn shared_text(text: &str) -> std::sync::Arc<str> {
    use std::hash::BuildHasher;
    let slot = (foldhash::fast::FixedState::with_seed(0).hash_one(text.as_bytes()) >> 58) as usize
        % SHARED_TEXT_SLOTS;
    SHARED_TEXTS.with(|cell| {
        let mut slots = cell.borrow_mut();
        match &slots[slot] {
            Some(s) if **s == *text => s.clone(),
            _ => {
                let s: std::sync::Arc<str> = text.into();
                slots[slot] = Some(s.clone());
                s
            }
        }
    })
}

impl AuthEvent {
    /// A new event with everything optional unset and `repeat` = 1.
    pub fn new(ts: Timestamp, kind: EventKind, origin: LineMeta) -> AuthEvent {
        AuthEvent {
            ts,
            kind,
            outcome: Outcome::Unknown,
            reason: None,
            account: None,
            ip: None,
            asn: None,
            user_agent: None,
            details: None,
            repeat: 1,
            origin,
            logins: None,
        }
    }

    /// The details, created empty on first use.
    pub fn details_mut(&mut self) -> &mut EventDetails {
        self.details.get_or_insert_with(Default::default)
    }

    /// True for a login that failed.
    pub fn is_failed_login(&self) -> bool {
        self.kind == EventKind::Login && self.outcome == Outcome::Failure
    }
}

/// Text from log bytes without losing information: valid UTF-8 is borrowed as is, invalid bytes
/// become `\xNN` escapes (so two different Shift-JIS names stay two different strings).
pub fn lossless_text(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            let mut out = String::with_capacity(b.len() + 8);
            for chunk in b.utf8_chunks() {
                out.push_str(chunk.valid());
                for byte in chunk.invalid() {
                    out.push_str(&format!("\\x{byte:02X}"));
                }
            }
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_text_reuses_a_repeated_text_and_never_mixes_two() {
        let a = shared_text("Mozilla/5.0 (X11; Linux x86_64)");
        let b = shared_text(&String::from("Mozilla/5.0 (X11; Linux x86_64)"));
        assert!(std::sync::Arc::ptr_eq(&a, &b), "the same text is shared");
        // Far more texts than slots: every one comes back as itself, whatever it evicted.
        let texts: Vec<String> = (0..1_000).map(|i| format!("agent/{i}")).collect();
        for round in 0..3 {
            for t in &texts {
                assert_eq!(&*shared_text(t), t.as_str(), "round {round}");
            }
        }
        assert_eq!(&*shared_text(""), "");
    }

    #[test]
    fn snapshot_types_deserialize_what_they_serialize() {
        let k = AccountKey::normalize(" Alice@Example.COM ").unwrap();
        let text = serde_json::to_string(&k).unwrap();
        assert_eq!(text, r#""alice@example.com""#);
        assert_eq!(serde_json::from_str::<AccountKey>(&text).unwrap(), k);
        // Through the normalization: a raw value comes back normalized; no account is an error.
        let raw: AccountKey = serde_json::from_str(r#"" Bob ""#).unwrap();
        assert_eq!(raw.as_str(), "bob");
        assert!(serde_json::from_str::<AccountKey>(r#""-""#).is_err());
        for kind in EventKind::ALL {
            let text = serde_json::to_string(&kind).unwrap();
            assert_eq!(serde_json::from_str::<EventKind>(&text).unwrap(), kind);
        }
        for r in [
            "unknown_account",
            "bad_password",
            "locked",
            "mfa_failed",
            "other",
        ] {
            let reason: FailureReason = serde_json::from_value(serde_json::json!(r)).unwrap();
            assert_eq!(reason.as_str(), r);
        }
        assert!(serde_json::from_str::<FailureReason>(r#""invalid_user""#).is_err());
        assert_eq!(serde_json::from_str::<Asn>("14061").unwrap(), Asn(14061));
        // An address hash prints 48 bits for people and keeps all 64 in a snapshot.
        let h = AddressHash(0xfedc_ba98_7654_3210);
        assert_eq!(h.to_string(), "fedcba987654");
        let exact = serde_json::to_string(&h).unwrap();
        assert_eq!(exact, "18364758544493064720");
        assert_eq!(serde_json::from_str::<AddressHash>(&exact).unwrap(), h);
        assert!(serde_json::from_str::<AddressHash>(r#""fedcba987654""#).is_err());
    }

    proptest::proptest! {
        /// Normalization is idempotent, so a key deserialized through it is the key that was
        /// serialized (a restored map finds its entries).
        #[test]
        fn account_normalization_is_idempotent(raw in ".{0,40}", bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            for k in [AccountKey::normalize(&raw), AccountKey::normalize_bytes(&bytes)].into_iter().flatten() {
                let again = AccountKey::normalize(k.as_str());
                proptest::prop_assert_eq!(again.as_ref(), Some(&k));
                let text = serde_json::to_string(&k).unwrap();
                proptest::prop_assert_eq!(serde_json::from_str::<AccountKey>(&text).unwrap(), k);
            }
        }
    }

    #[test]
    fn accounts_normalize_case_and_space() {
        let a = AccountKey::normalize("  Alice@Example.COM ").unwrap();
        assert_eq!(a.as_str(), "alice@example.com");
        assert_eq!(AccountKey::normalize("-"), None);
        assert_eq!(AccountKey::normalize("   "), None);
        assert_eq!(AccountKey::normalize("ÉLODIE").unwrap().as_str(), "élodie");
    }

    #[test]
    fn invalid_utf8_stays_distinct() {
        // "田中" in Shift-JIS and a different Shift-JIS name.
        let a = AccountKey::normalize_bytes(b"\x93\x63\x92\x86").unwrap();
        let b = AccountKey::normalize_bytes(b"\x8e\x52\x93\x63").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str(), "\\x93c\\x92\\x86");
    }

    #[test]
    fn address_hash_ignores_case_and_punctuation() {
        let a = AddressHash::of("1-2-3 Shibuya, Tokyo").unwrap();
        let b = AddressHash::of("1 2 3  shibuya tokyo").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, AddressHash::of("1-2-4 Shibuya, Tokyo").unwrap());
        assert_eq!(AddressHash::of(" , "), None);
        assert_eq!(a.to_string().len(), 12);
    }

    #[test]
    fn event_serializes_with_canonical_names() {
        let mut ev = AuthEvent::new(
            Timestamp(1_763_633_702_000),
            EventKind::Order,
            LineMeta::default(),
        );
        ev.outcome = Outcome::Success;
        ev.account = AccountKey::normalize("bob@example.jp");
        ev.details_mut().amount = Some(12_800.0);
        ev.details_mut().ship_to = AddressHash::of("Somewhere 1");
        let json = serde_json::to_string(&ev).unwrap();
        assert!(json.starts_with(r#"{"ts":"2025-11-20T10:15:02Z","event":"order","outcome":"success","account":"bob@example.jp""#), "{json}");
        assert!(json.contains(r#""amount":12800.0"#), "{json}");
        assert!(json.contains(r#""ship_to":""#), "{json}");
        assert!(!json.contains("repeat"), "{json}");
    }
}
