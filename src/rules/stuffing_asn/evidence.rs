//! The evidence of a `stuffing.asn` alert.

use std::net::IpAddr;

use serde::Serialize;

use crate::detect::ThresholdCrossed;

/// What a `stuffing.asn` alert reports about its ASN's window. Fields are in alphabetical
/// order: the contract's JSON lists them so.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StuffingAsnEvidence {
    /// Distinct accounts with failed logins from the ASN.
    pub distinct_accounts: u32,
    /// Distinct network prefixes among the failing addresses (rented servers sit in many).
    pub distinct_prefixes: usize,
    /// Addresses that failed, each staying under the per-address cap.
    pub failing_addresses: u32,
    /// Failures over failures and successes, two decimals.
    pub failure_ratio: f64,
    /// Failed logins.
    pub failures: usize,
    /// Failed logins that named no account.
    pub failures_without_account: u32,
    /// The most failures of one address under the cap (0 when none).
    pub max_failures_per_address: u32,
    /// Successful logins.
    pub successes: usize,
    /// The thresholds crossed.
    pub thresholds_crossed: StuffingAsnThresholds,
    /// The addresses with the most failures, most first.
    pub top_addresses: Vec<AddressFailures>,
    /// The share of named failures whose account does not exist, two decimals.
    pub unknown_account_ratio: f64,
    /// The window's length, as configured.
    pub window: String,
}

/// One of a `stuffing.asn` alert's `top_addresses`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddressFailures {
    /// Its failed logins.
    pub failures: u32,
    /// The address.
    pub ip: IpAddr,
}

/// The thresholds a `stuffing.asn` alert crossed; only those crossed are present.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StuffingAsnThresholds {
    /// Distinct accounts (when the log names accounts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_accounts: Option<ThresholdCrossed<u32>>,
    /// Failing addresses: always crossed.
    pub failing_addresses: ThresholdCrossed<u32>,
    /// The failure ratio: always crossed; the excess rounded to two decimals.
    pub failure_ratio: ThresholdCrossed<f64>,
    /// Failed logins without an account (when the log names none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures_without_account: Option<ThresholdCrossed<u32>>,
    /// Distinct accounts past the `high` threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high_distinct_accounts: Option<ThresholdCrossed<u32>>,
    /// Failing addresses past the `high` threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high_failing_addresses: Option<ThresholdCrossed<u32>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::evidence::testing::assert_json;

    #[test]
    fn the_contract_shape_with_optional_keys_absent_then_present() {
        let mut e = StuffingAsnEvidence {
            distinct_accounts: 50,
            distinct_prefixes: 25,
            failing_addresses: 25,
            failure_ratio: 1.0,
            failures: 50,
            failures_without_account: 0,
            max_failures_per_address: 2,
            successes: 0,
            thresholds_crossed: StuffingAsnThresholds {
                distinct_accounts: Some(ThresholdCrossed::new(50, 40)),
                failing_addresses: ThresholdCrossed::new(25, 20),
                failure_ratio: ThresholdCrossed {
                    exceeded_by: 0.1,
                    threshold: 0.9,
                    value: 1.0,
                },
                ..Default::default()
            },
            top_addresses: vec![AddressFailures {
                failures: 2,
                ip: "10.0.0.7".parse().unwrap(),
            }],
            unknown_account_ratio: 1.0,
            window: "10m".into(),
        };
        assert_json(
            &e,
            r#"{"distinct_accounts":50,"distinct_prefixes":25,"failing_addresses":25,"failure_ratio":1.0,"failures":50,"failures_without_account":0,"max_failures_per_address":2,"successes":0,"thresholds_crossed":{"distinct_accounts":{"exceeded_by":10,"threshold":40,"value":50},"failing_addresses":{"exceeded_by":5,"threshold":20,"value":25},"failure_ratio":{"exceeded_by":0.1,"threshold":0.9,"value":1.0}},"top_addresses":[{"failures":2,"ip":"10.0.0.7"}],"unknown_account_ratio":1.0,"window":"10m"}"#,
        );
        let t = &mut e.thresholds_crossed;
        t.distinct_accounts = None;
        t.failures_without_account = Some(ThresholdCrossed::new(100, 100));
        t.high_distinct_accounts = Some(ThresholdCrossed::new(50, 50));
        t.high_failing_addresses = Some(ThresholdCrossed::new(25, 25));
        let json = serde_json::to_value(&e).unwrap();
        let keys: Vec<&String> = json["thresholds_crossed"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "failing_addresses",
                "failure_ratio",
                "failures_without_account",
                "high_distinct_accounts",
                "high_failing_addresses"
            ]
        );
        assert_json(&e, &serde_json::to_string(&json).unwrap());
    }
}
