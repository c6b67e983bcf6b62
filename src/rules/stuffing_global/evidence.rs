//! The evidence of a `stuffing.global` alert.

use std::net::IpAddr;

use serde::Serialize;

use crate::detect::ThresholdCrossed;
use crate::event::Asn;

/// What a `stuffing.global` alert reports about a site-wide burst. Fields are in alphabetical
/// order: the contract's JSON lists them so.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StuffingGlobalEvidence {
    /// The baseline (median) of failing addresses per minute, two decimals.
    pub baseline_failing_addresses_per_minute: f64,
    /// The baseline's median absolute deviation, two decimals.
    pub baseline_mad: f64,
    /// The baseline (median) of unknown-account failures per minute, two decimals.
    pub baseline_unknown_failures_per_minute: f64,
    /// Distinct failing addresses over the burst (those beyond the table counted too).
    pub failing_addresses: u64,
    /// Distinct ASNs of the failing addresses.
    pub failing_asns: usize,
    /// Failed logins during the burst.
    pub failures: u64,
    /// Consecutive minutes above the baseline.
    pub hot_minutes: u32,
    /// The most failing addresses in one minute.
    pub peak_failing_addresses_per_minute: u32,
    /// The most failures in one minute.
    pub peak_failures_per_minute: u64,
    /// The thresholds crossed.
    pub thresholds_crossed: StuffingGlobalThresholds,
    /// The addresses with the most failures, most first.
    pub top_addresses: Vec<BurstAddress>,
    /// The ASNs with the most failing addresses, most first.
    pub top_asns: Vec<BurstAsn>,
    /// Failures whose account does not exist.
    pub unknown_account_failures: u64,
    /// Their share of all failures, two decimals.
    pub unknown_account_ratio: f64,
}

/// One of a `stuffing.global` alert's `top_addresses`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurstAddress {
    /// The address's ASN; absent without an ASN database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<Asn>,
    /// Its failed logins during the burst.
    pub failures: u64,
    /// The address.
    pub ip: IpAddr,
}

/// One of a `stuffing.global` alert's `top_asns`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurstAsn {
    /// The ASN.
    pub asn: Asn,
    /// Its distinct failing addresses during the burst.
    pub failing_addresses: u64,
    /// Its failed logins during the burst.
    pub failures: u64,
}

/// The thresholds a `stuffing.global` alert crossed.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StuffingGlobalThresholds {
    /// Failing addresses over the whole burst past the `high` threshold; absent below it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_addresses: Option<ThresholdCrossed<u64, u32, u64>>,
    /// The peak of failing addresses per minute against the learned threshold (fractional).
    pub failing_addresses_per_minute: ThresholdCrossed<u32, f64, f64>,
    /// Consecutive hot minutes.
    pub hot_minutes: ThresholdCrossed<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::evidence::testing::assert_json;

    #[test]
    fn the_contract_shape_with_optional_keys_absent_then_present() {
        let mut e = StuffingGlobalEvidence {
            baseline_failing_addresses_per_minute: 1.0,
            baseline_mad: 0.0,
            baseline_unknown_failures_per_minute: 0.5,
            failing_addresses: 93,
            failing_asns: 21,
            failures: 96,
            hot_minutes: 3,
            peak_failing_addresses_per_minute: 31,
            peak_failures_per_minute: 32,
            thresholds_crossed: StuffingGlobalThresholds {
                failing_addresses: None,
                failing_addresses_per_minute: ThresholdCrossed {
                    exceeded_by: 21.0,
                    threshold: 10.0,
                    value: 31,
                },
                hot_minutes: ThresholdCrossed::new(3, 3),
            },
            top_addresses: vec![
                BurstAddress {
                    asn: Some(Asn(100)),
                    failures: 2,
                    ip: "10.0.0.1".parse().unwrap(),
                },
                BurstAddress {
                    asn: None,
                    failures: 1,
                    ip: "2001:db8::1".parse().unwrap(),
                },
            ],
            top_asns: vec![BurstAsn {
                asn: Asn(100),
                failing_addresses: 5,
                failures: 5,
            }],
            unknown_account_failures: 48,
            unknown_account_ratio: 0.5,
        };
        let tail = r#""top_addresses":[{"asn":100,"failures":2,"ip":"10.0.0.1"},{"failures":1,"ip":"2001:db8::1"}],"top_asns":[{"asn":100,"failing_addresses":5,"failures":5}],"unknown_account_failures":48,"unknown_account_ratio":0.5}"#;
        assert_json(
            &e,
            &format!(
                r#"{{"baseline_failing_addresses_per_minute":1.0,"baseline_mad":0.0,"baseline_unknown_failures_per_minute":0.5,"failing_addresses":93,"failing_asns":21,"failures":96,"hot_minutes":3,"peak_failing_addresses_per_minute":31,"peak_failures_per_minute":32,"thresholds_crossed":{{"failing_addresses_per_minute":{{"exceeded_by":21.0,"threshold":10.0,"value":31}},"hot_minutes":{{"exceeded_by":0,"threshold":3,"value":3}}}},{tail}"#
            ),
        );
        e.thresholds_crossed.failing_addresses = Some(ThresholdCrossed {
            exceeded_by: 43,
            threshold: 50,
            value: 93,
        });
        assert_json(
            &e,
            &format!(
                r#"{{"baseline_failing_addresses_per_minute":1.0,"baseline_mad":0.0,"baseline_unknown_failures_per_minute":0.5,"failing_addresses":93,"failing_asns":21,"failures":96,"hot_minutes":3,"peak_failing_addresses_per_minute":31,"peak_failures_per_minute":32,"thresholds_crossed":{{"failing_addresses":{{"exceeded_by":43,"threshold":50,"value":93}},"failing_addresses_per_minute":{{"exceeded_by":21.0,"threshold":10.0,"value":31}},"hot_minutes":{{"exceeded_by":0,"threshold":3,"value":3}}}},{tail}"#
            ),
        );
    }
}
