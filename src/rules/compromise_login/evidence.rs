//! The evidence of a `compromise.login` alert.

use std::net::IpAddr;

use serde::Serialize;

use crate::alert::Rule;
use crate::detect::ThresholdCrossed;
use crate::event::Asn;
use crate::time::Timestamp;

/// What a `compromise.login` alert reports about the login and what ties it to an attack.
/// Fields are in alphabetical order: the contract's JSON lists them so.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CompromiseLoginEvidence {
    /// The login's ASN; `null` when unknown.
    pub asn: Option<Asn>,
    /// The ASN is new to the account.
    pub asn_new: bool,
    /// The account's failed logins just before.
    pub failures_before: u32,
    /// The login's address; `null` when the log gives none.
    pub ip: Option<IpAddr>,
    /// The address is new to the account.
    pub ip_new: bool,
    /// When the login happened (RFC 3339).
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub login_time: Timestamp,
    /// Why the login is suspect, in words.
    pub reason: String,
    /// Ids of the stuffing alerts the login is tied to (empty when tied to none).
    pub stuffing_alerts: Vec<String>,
    /// The stuffing rule the login is tied to; absent when tied only to the account's own
    /// failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stuffing_rule: Option<Rule>,
    /// The threshold crossed when the login is tied to no stuffing alert; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds_crossed: Option<CompromiseLoginThresholds>,
}

/// The threshold a `compromise.login` alert tied to no stuffing alert crossed.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CompromiseLoginThresholds {
    /// The account's failures just before the login.
    pub failures_before: ThresholdCrossed<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::evidence::testing::assert_json;

    #[test]
    fn the_contract_shape_tied_to_an_alert_then_to_failures_alone() {
        let mut e = CompromiseLoginEvidence {
            asn: Some(Asn(14061)),
            asn_new: true,
            failures_before: 0,
            ip: Some("165.232.90.82".parse().unwrap()),
            ip_new: true,
            login_time: Timestamp(1_763_489_623_887),
            reason: "the address of a stuffing.ip alert".into(),
            stuffing_alerts: vec!["970da41e95749af2".into()],
            stuffing_rule: Some(Rule::StuffingIp),
            thresholds_crossed: None,
        };
        assert_json(
            &e,
            r#"{"asn":14061,"asn_new":true,"failures_before":0,"ip":"165.232.90.82","ip_new":true,"login_time":"2025-11-18T18:13:43.887Z","reason":"the address of a stuffing.ip alert","stuffing_alerts":["970da41e95749af2"],"stuffing_rule":"stuffing.ip"}"#,
        );
        e.asn = None;
        e.ip = None;
        e.failures_before = 12;
        e.reason = "many failed logins on the account just before".into();
        e.stuffing_alerts.clear();
        e.stuffing_rule = None;
        e.thresholds_crossed = Some(CompromiseLoginThresholds {
            failures_before: ThresholdCrossed::new(12, 10),
        });
        assert_json(
            &e,
            r#"{"asn":null,"asn_new":true,"failures_before":12,"ip":null,"ip_new":true,"login_time":"2025-11-18T18:13:43.887Z","reason":"many failed logins on the account just before","stuffing_alerts":[],"thresholds_crossed":{"failures_before":{"exceeded_by":2,"threshold":10,"value":12}}}"#,
        );
    }
}
