//! The evidence of a `takeover.sequence` alert.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::event::{AddressHash, Asn, EventKind};
use crate::time::Timestamp;

/// What a `takeover.sequence` alert reports about the chain of steps on its account. Fields
/// are in alphabetical order: the contract's JSON lists them so.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TakeoverSequenceEvidence {
    /// The ship-to set by an address change inside the chain (short hash); `null` when none.
    #[serde(serialize_with = "crate::detect::evidence::display_opt")]
    pub changed_ship_to: Option<AddressHash>,
    /// Marketplace orders in the chain.
    pub marketplace_orders: u64,
    /// The longest chain the rule follows, as configured.
    pub max_span: String,
    /// Orders in the chain.
    pub orders: u64,
    /// An order went to a ship-to new to the account.
    pub ship_to_new: bool,
    /// From the chain's first step to the alert (`3h 12m`).
    pub span: String,
    /// The chain's steps in order, its orders summed up in one last step.
    pub steps: Vec<TakeoverStep>,
    /// Steps left out of `steps` (the list is bounded).
    pub steps_omitted: u64,
}

/// One of a `takeover.sequence` alert's `steps`: an event of the chain, or the orders.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TakeoverStep {
    /// A login, reset or account change.
    Event(StepEvent),
    /// The chain's orders, summed up (always the last step).
    Orders(StepOrders),
}

impl TakeoverStep {
    /// The step's event kind (`order` for the orders).
    pub fn event(&self) -> EventKind {
        match self {
            TakeoverStep::Event(s) => s.event,
            TakeoverStep::Orders(o) => o.event,
        }
    }
}

/// A login, reset or account change in a takeover chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepEvent {
    /// Its ASN; `null` when unknown.
    pub asn: Option<Asn>,
    /// The ASN is new to the account.
    pub asn_new: bool,
    /// What happened.
    pub event: EventKind,
    /// Its address; `null` when the log gives none.
    pub ip: Option<IpAddr>,
    /// The address is new to the account.
    pub ip_new: bool,
    /// When (RFC 3339).
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub time: Timestamp,
}

/// The orders of a takeover chain, summed up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepOrders {
    /// How many.
    pub count: u64,
    /// Always [`EventKind::Order`].
    pub event: EventKind,
    /// Orders placed from an address new to the account.
    pub from_new_address: u64,
    /// The last order's time (RFC 3339); `null` when none.
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub last: Option<Timestamp>,
    /// Marketplace orders.
    pub marketplace: u64,
    /// The marketplace sellers.
    pub sellers: Vec<String>,
    /// The ship-tos (short hashes).
    #[serde(serialize_with = "crate::detect::evidence::display_seq")]
    pub ship_to: Vec<AddressHash>,
    /// A ship-to is new to the account.
    pub ship_to_new: bool,
    /// The first order's time (RFC 3339); `null` when none.
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    pub time: Option<Timestamp>,
    /// The total per currency, two decimals.
    pub total: BTreeMap<String, f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::evidence::testing::assert_json;

    #[test]
    fn the_contract_shape_with_nulls_kept() {
        let hash = AddressHash::of("1-2-3 Example, Tokyo").unwrap();
        let mut e = TakeoverSequenceEvidence {
            changed_ship_to: None,
            marketplace_orders: 1,
            max_span: "24h".into(),
            orders: 1,
            ship_to_new: true,
            span: "2h".into(),
            steps: vec![
                TakeoverStep::Event(StepEvent {
                    asn: Some(Asn(64500)),
                    asn_new: true,
                    event: EventKind::PasswordResetComplete,
                    ip: Some("203.0.113.7".parse().unwrap()),
                    ip_new: true,
                    time: Timestamp(0),
                }),
                TakeoverStep::Event(StepEvent {
                    asn: None,
                    asn_new: false,
                    event: EventKind::AddressChange,
                    ip: None,
                    ip_new: false,
                    time: Timestamp(1_500),
                }),
                TakeoverStep::Orders(StepOrders {
                    count: 1,
                    event: EventKind::Order,
                    from_new_address: 1,
                    last: Some(Timestamp(7_200_000)),
                    marketplace: 1,
                    sellers: vec!["s1".into()],
                    ship_to: vec![hash],
                    ship_to_new: true,
                    time: Some(Timestamp(7_200_000)),
                    total: BTreeMap::from([("USD".into(), 12.5), ("JPY".into(), 10_000.0)]),
                }),
            ],
            steps_omitted: 0,
        };
        let steps = format!(
            r#""steps":[{{"asn":64500,"asn_new":true,"event":"password_reset_complete","ip":"203.0.113.7","ip_new":true,"time":"1970-01-01T00:00:00Z"}},{{"asn":null,"asn_new":false,"event":"address_change","ip":null,"ip_new":false,"time":"1970-01-01T00:00:01.500Z"}},{{"count":1,"event":"order","from_new_address":1,"last":"1970-01-01T02:00:00Z","marketplace":1,"sellers":["s1"],"ship_to":["{hash}"],"ship_to_new":true,"time":"1970-01-01T02:00:00Z","total":{{"JPY":10000.0,"USD":12.5}}}}],"steps_omitted":0"#
        );
        assert_json(
            &e,
            &format!(
                r#"{{"changed_ship_to":null,"marketplace_orders":1,"max_span":"24h","orders":1,"ship_to_new":true,"span":"2h",{steps}}}"#
            ),
        );
        e.changed_ship_to = Some(hash);
        assert_json(
            &e,
            &format!(
                r#"{{"changed_ship_to":"{hash}","marketplace_orders":1,"max_span":"24h","orders":1,"ship_to_new":true,"span":"2h",{steps}}}"#
            ),
        );
        assert_eq!(e.steps[2].event(), EventKind::Order);
    }
}
