//! The evidence of a `bruteforce.account` alert.

use std::net::IpAddr;

use serde::Serialize;

use crate::detect::ThresholdCrossed;

/// What a `bruteforce.account` alert reports about its account's window. Fields are in
/// alphabetical order: the contract's JSON lists them so.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct BruteforceAccountEvidence {
    /// A sample of the failing addresses, oldest first.
    pub addresses: Vec<IpAddr>,
    /// Failures with reason `bad_password`.
    pub bad_password: usize,
    /// Distinct failing addresses.
    pub distinct_addresses: u32,
    /// Failed logins in the window.
    pub failures: u32,
    /// Failures with reason `locked`.
    pub locked: usize,
    /// The thresholds crossed.
    pub thresholds_crossed: BruteforceAccountThresholds,
    /// Failures with reason `unknown_account`.
    pub unknown_account: usize,
    /// The window's length, as configured.
    pub window: String,
}

/// The thresholds a `bruteforce.account` alert crossed; only those crossed are present.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct BruteforceAccountThresholds {
    /// Distinct addresses past the `high` threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_addresses: Option<ThresholdCrossed<u32>>,
    /// Failures: always crossed.
    pub failures: ThresholdCrossed<u32>,
    /// Failures past the `high` threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high_failures: Option<ThresholdCrossed<u32>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::evidence::testing::assert_json;

    #[test]
    fn the_contract_shape_with_optional_keys_absent_then_present() {
        let mut e = BruteforceAccountEvidence {
            addresses: vec!["203.0.113.7".parse().unwrap(), "2001:db8::2".parse().unwrap()],
            bad_password: 9,
            distinct_addresses: 2,
            failures: 10,
            locked: 1,
            thresholds_crossed: BruteforceAccountThresholds {
                failures: ThresholdCrossed::new(10, 10),
                ..Default::default()
            },
            unknown_account: 0,
            window: "10m".into(),
        };
        assert_json(
            &e,
            r#"{"addresses":["203.0.113.7","2001:db8::2"],"bad_password":9,"distinct_addresses":2,"failures":10,"locked":1,"thresholds_crossed":{"failures":{"exceeded_by":0,"threshold":10,"value":10}},"unknown_account":0,"window":"10m"}"#,
        );
        e.thresholds_crossed.distinct_addresses = Some(ThresholdCrossed::new(2, 2));
        e.thresholds_crossed.high_failures = Some(ThresholdCrossed::new(10, 5));
        assert_json(
            &e,
            r#"{"addresses":["203.0.113.7","2001:db8::2"],"bad_password":9,"distinct_addresses":2,"failures":10,"locked":1,"thresholds_crossed":{"distinct_addresses":{"exceeded_by":0,"threshold":2,"value":2},"failures":{"exceeded_by":0,"threshold":10,"value":10},"high_failures":{"exceeded_by":5,"threshold":5,"value":10}},"unknown_account":0,"window":"10m"}"#,
        );
    }
}
