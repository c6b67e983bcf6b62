//! Alerts: the output contract (`alerts.md`).
//!
//! Field names and rule ids are stable: users write SIEM queries and webhook handlers against
//! them. An alert's `id` is a hash of rule, entity and the first event time of its episode, so
//! re-running a scan gives the same ids, and a re-emission of the same episode (when its
//! severity rises) keeps its id.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::event::{AccountKey, AddressHash, Asn};
use crate::time::Timestamp;

/// A detection rule, by its stable id: generated from the registry in [`crate::rules`].
pub use crate::rules::Rule;

/// An alert's evidence, one typed variant per rule: generated from the registry in
/// [`crate::rules`], each variant's type in its rule's `evidence.rs`.
pub use crate::rules::Evidence;

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Rule {
    /// The stable rule id, as `Serialize` writes it.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rule, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Rule::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown rule {name:?}")))
    }
}

/// How urgent an alert is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Worth recording.
    Info,
    /// Worth a look.
    Low,
    /// Worth acting on.
    Medium,
    /// Act now.
    High,
    /// Customers are being harmed.
    Critical,
}

impl Severity {
    /// The contract's lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Severity {
    /// The contract's lower-case name, as `Serialize` writes it.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Severity, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown severity {name:?}")))
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    /// A client address.
    Ip,
    /// An autonomous system.
    Asn,
    /// An account.
    Account,
    /// A hashed ship-to address.
    ShipTo,
    /// The whole site.
    Global,
}

impl EntityKind {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Ip => "ip",
            EntityKind::Asn => "asn",
            EntityKind::Account => "account",
            EntityKind::ShipTo => "ship_to",
            EntityKind::Global => "global",
        }
    }
}

impl Serialize for EntityKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The entity an alert is about, with its value as text (`alerts.md`, "Entity values").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Entity {
    /// The kind.
    pub kind: EntityKind,
    /// The value: an address, an ASN number, a normalized account, a ship-to hash, or `*`.
    pub value: String,
}

impl Entity {
    // The constructors and the typed readers below are the one place that writes and reads
    // the contract's entity values ("Entity values" in `alerts.md`): a rule that needs the
    // address or ASN of another rule's alert reads it here, never by parsing text of its own.

    /// A client address (`"203.0.113.7"`).
    pub fn ip(ip: IpAddr) -> Entity {
        Entity {
            kind: EntityKind::Ip,
            value: ip.to_string(),
        }
    }

    /// An autonomous system, its number as text (`"64500"`).
    pub fn asn(asn: Asn) -> Entity {
        Entity {
            kind: EntityKind::Asn,
            value: asn.to_string(),
        }
    }

    /// A normalized account.
    pub fn account(account: &AccountKey) -> Entity {
        Entity {
            kind: EntityKind::Account,
            value: account.as_str().to_string(),
        }
    }

    /// A hashed ship-to address (its short hash).
    pub fn ship_to(hash: AddressHash) -> Entity {
        Entity {
            kind: EntityKind::ShipTo,
            value: hash.to_string(),
        }
    }

    /// The whole site (`"*"`).
    pub fn global() -> Entity {
        Entity {
            kind: EntityKind::Global,
            value: "*".to_string(),
        }
    }

    /// The address of an `ip` entity, as [`Entity::ip`] wrote it; `None` for other kinds.
    pub fn ip_addr(&self) -> Option<IpAddr> {
        match self.kind {
            EntityKind::Ip => self.value.parse().ok(),
            _ => None,
        }
    }

    /// The ASN of an `asn` entity, as [`Entity::asn`] wrote it; `None` for other kinds.
    pub fn asn_number(&self) -> Option<Asn> {
        match self.kind {
            EntityKind::Asn => self.value.parse().ok().map(Asn),
            _ => None,
        }
    }
}

/// One alert, as serialized to JSON lines and webhooks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Stable hash of rule, entity and first event time.
    pub id: String,
    /// The rule that fired.
    pub rule: Rule,
    /// How urgent.
    pub severity: Severity,
    /// What it is about.
    pub entity: Entity,
    /// Event time of the first event in the evidence.
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub first_seen: Timestamp,
    /// Event time of the last event in the evidence.
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub last_seen: Timestamp,
    /// The entity's ASN, when an ASN database is loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<Asn>,
    /// The ASN's organisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
    /// One line a person can read.
    pub summary: String,
    /// The numbers behind the decision, including each threshold crossed: the rule's own type,
    /// serialised as the rule's `evidence` object of `alerts.md`.
    pub evidence: Evidence,
    /// A bounded sample of the accounts involved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
}

impl Alert {
    /// The stable id of an episode: the first 16 hex digits of
    /// SHA-256(`rule \0 kind \0 value \0 first_seen_millis`).
    pub fn episode_id(rule: Rule, entity: &Entity, first_seen: Timestamp) -> String {
        let mut h = Sha256::new();
        h.update(rule.as_str().as_bytes());
        h.update([0]);
        h.update(entity.kind.as_str().as_bytes());
        h.update([0]);
        h.update(entity.value.as_bytes());
        h.update([0]);
        h.update(first_seen.millis().to_be_bytes());
        let digest = h.finalize();
        let mut out = String::with_capacity(16);
        for b in &digest[..8] {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

/// Formats an integer with thousands separators (`1,104`), for summaries.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_severities_deserialize_their_names() {
        for rule in Rule::ALL {
            let text = serde_json::to_string(&rule).unwrap();
            assert_eq!(serde_json::from_str::<Rule>(&text).unwrap(), rule);
        }
        let s: Vec<Severity> =
            serde_json::from_str(r#"["info","low","medium","high","critical"]"#).unwrap();
        assert_eq!(
            s,
            [
                Severity::Info,
                Severity::Low,
                Severity::Medium,
                Severity::High,
                Severity::Critical
            ]
        );
        assert!(serde_json::from_str::<Severity>(r#""High""#).is_err());
        assert!(serde_json::from_str::<Rule>(r#""stuffing""#).is_err());
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let e = Entity {
            kind: EntityKind::Ip,
            value: "203.0.113.7".into(),
        };
        let a = Alert::episode_id(Rule::StuffingIp, &e, Timestamp(1_000));
        assert_eq!(a, Alert::episode_id(Rule::StuffingIp, &e, Timestamp(1_000)));
        assert_eq!(a.len(), 16);
        assert_ne!(a, Alert::episode_id(Rule::StuffingIp, &e, Timestamp(2_000)));
        assert_ne!(a, Alert::episode_id(Rule::ResetFlood, &e, Timestamp(1_000)));
    }

    #[test]
    fn typed_entity_readers_read_what_the_constructors_wrote() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        for ip in [v4, v6] {
            let e = Entity::ip(ip);
            assert_eq!(
                (e.kind, e.ip_addr(), e.asn_number()),
                (EntityKind::Ip, Some(ip), None)
            );
        }
        let e = Entity::asn(Asn(64500));
        assert_eq!(e.value, "64500");
        assert_eq!((e.asn_number(), e.ip_addr()), (Some(Asn(64500)), None));
        // A value that only looks like an address is not one when the kind says otherwise.
        let account = AccountKey::normalize("10.0.0.1").unwrap();
        assert_eq!(Entity::account(&account).ip_addr(), None);
        assert_eq!(Entity::global().value, "*");
        assert_eq!(Entity::global().asn_number(), None);
    }

    #[test]
    fn severity_orders() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_104), "1,104");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }
}
