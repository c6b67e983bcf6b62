//! The evidence of a `stuffing.ip` alert.

use serde::Serialize;

use crate::detect::ThresholdCrossed;

/// What a `stuffing.ip` alert reports about its address's window. Fields are in alphabetical
/// order: the contract's JSON lists them so.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StuffingIpEvidence {
    /// Login attempts in the window: failures, successes and attempts without an outcome.
    pub attempts: usize,
    /// Attempts that named no account and whose outcome the log does not say; absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_without_outcome: Option<u32>,
    /// Distinct accounts with failed logins from the address.
    pub distinct_accounts: u32,
    /// Present (and `true`) when `distinct_accounts` is an estimate (above 64 accounts the
    /// window counts them with HyperLogLog, about 1 %).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub distinct_accounts_estimated: bool,
    /// Failed logins, with or without an account.
    pub failures: usize,
    /// Successful logins.
    pub successes: usize,
    /// The thresholds crossed.
    pub thresholds_crossed: StuffingIpThresholds,
    /// The share of named failures whose account does not exist, two decimals.
    pub unknown_account_ratio: f64,
    /// The window's length, as configured (`10m`).
    pub window: String,
}

/// The thresholds a `stuffing.ip` alert crossed; only those crossed are present.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StuffingIpThresholds {
    /// Attempts without an outcome (the log says neither account nor result).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_without_outcome: Option<ThresholdCrossed<u32>>,
    /// Distinct accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_accounts: Option<ThresholdCrossed<u32>>,
    /// Failed logins that named no account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures_without_account: Option<ThresholdCrossed<u32>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::evidence::testing::assert_json;

    #[test]
    fn the_contract_shape_with_optional_keys_absent_then_present() {
        let mut e = StuffingIpEvidence {
            attempts: 1200,
            attempts_without_outcome: None,
            distinct_accounts: 1104,
            distinct_accounts_estimated: false,
            failures: 1190,
            successes: 10,
            thresholds_crossed: StuffingIpThresholds {
                distinct_accounts: Some(ThresholdCrossed::new(1104, 20)),
                ..Default::default()
            },
            unknown_account_ratio: 0.81,
            window: "10m".into(),
        };
        assert_json(
            &e,
            r#"{"attempts":1200,"distinct_accounts":1104,"failures":1190,"successes":10,"thresholds_crossed":{"distinct_accounts":{"exceeded_by":1084,"threshold":20,"value":1104}},"unknown_account_ratio":0.81,"window":"10m"}"#,
        );
        e.attempts_without_outcome = Some(100);
        e.distinct_accounts_estimated = true;
        e.thresholds_crossed.attempts_without_outcome = Some(ThresholdCrossed::new(100, 100));
        e.thresholds_crossed.failures_without_account = Some(ThresholdCrossed::new(60, 50));
        assert_json(
            &e,
            r#"{"attempts":1200,"attempts_without_outcome":100,"distinct_accounts":1104,"distinct_accounts_estimated":true,"failures":1190,"successes":10,"thresholds_crossed":{"attempts_without_outcome":{"exceeded_by":0,"threshold":100,"value":100},"distinct_accounts":{"exceeded_by":1084,"threshold":20,"value":1104},"failures_without_account":{"exceeded_by":10,"threshold":50,"value":60}},"unknown_account_ratio":0.81,"window":"10m"}"#,
        );
    }
}
