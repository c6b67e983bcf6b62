//! The evidence of a `reset.flood` alert: one shape for an address, another for an account.

use serde::Serialize;

use crate::detect::ThresholdCrossed;

/// What a `reset.flood` alert reports: its entity is an address or an account, and each has
/// its own keys. Serialised as the inner shape alone (no tag).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ResetFloodEvidence {
    /// One address requested resets for many accounts.
    Address(ResetFloodAddress),
    /// One account received many codes or failed code entries.
    Account(ResetFloodAccount),
}

impl Default for ResetFloodEvidence {
    fn default() -> Self {
        ResetFloodEvidence::Address(ResetFloodAddress::default())
    }
}

/// A `reset.flood` alert about an address. Fields are in alphabetical order: the contract's
/// JSON lists them so.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ResetFloodAddress {
    /// Distinct accounts the address requested resets for.
    pub distinct_accounts: u32,
    /// Reset requests in the window.
    pub requests: usize,
    /// Requests that named no account.
    pub requests_without_account: u32,
    /// The thresholds crossed.
    pub thresholds_crossed: ResetFloodAddressThresholds,
    /// Requests for accounts that do not exist.
    pub unknown_accounts: usize,
    /// The window's length, as configured.
    pub window: String,
}

/// The thresholds a `reset.flood` alert about an address crossed; only those crossed are
/// present.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ResetFloodAddressThresholds {
    /// Distinct accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_accounts: Option<ThresholdCrossed<u32>>,
    /// Requests that named no account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_without_account: Option<ThresholdCrossed<u32>>,
}

/// A `reset.flood` alert about an account. Fields are in alphabetical order: the contract's
/// JSON lists them so.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ResetFloodAccount {
    /// Reset codes sent to the account in the window.
    pub codes: u32,
    /// Distinct addresses involved.
    pub distinct_ips: usize,
    /// Failed code entries.
    pub failed_code_entries: u32,
    /// The thresholds crossed.
    pub thresholds_crossed: ResetFloodAccountThresholds,
    /// The window's length, as configured.
    pub window: String,
}

/// The thresholds a `reset.flood` alert about an account crossed; only those crossed are
/// present.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ResetFloodAccountThresholds {
    /// Reset codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codes: Option<ThresholdCrossed<u32>>,
    /// Failed code entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_code_entries: Option<ThresholdCrossed<u32>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::evidence::testing::assert_json;

    #[test]
    fn the_address_shape_with_optional_thresholds() {
        let mut a = ResetFloodAddress {
            distinct_accounts: 12,
            requests: 14,
            requests_without_account: 2,
            thresholds_crossed: ResetFloodAddressThresholds {
                distinct_accounts: Some(ThresholdCrossed::new(12, 10)),
                requests_without_account: None,
            },
            unknown_accounts: 3,
            window: "10m".into(),
        };
        assert_json(
            &ResetFloodEvidence::Address(a.clone()),
            r#"{"distinct_accounts":12,"requests":14,"requests_without_account":2,"thresholds_crossed":{"distinct_accounts":{"exceeded_by":2,"threshold":10,"value":12}},"unknown_accounts":3,"window":"10m"}"#,
        );
        a.thresholds_crossed = ResetFloodAddressThresholds {
            distinct_accounts: None,
            requests_without_account: Some(ThresholdCrossed::new(2, 2)),
        };
        assert_json(
            &ResetFloodEvidence::Address(a),
            r#"{"distinct_accounts":12,"requests":14,"requests_without_account":2,"thresholds_crossed":{"requests_without_account":{"exceeded_by":0,"threshold":2,"value":2}},"unknown_accounts":3,"window":"10m"}"#,
        );
    }

    #[test]
    fn the_account_shape_with_optional_thresholds() {
        let mut a = ResetFloodAccount {
            codes: 6,
            distinct_ips: 1,
            failed_code_entries: 0,
            thresholds_crossed: ResetFloodAccountThresholds {
                codes: Some(ThresholdCrossed::new(6, 5)),
                failed_code_entries: None,
            },
            window: "1h".into(),
        };
        assert_json(
            &ResetFloodEvidence::Account(a.clone()),
            r#"{"codes":6,"distinct_ips":1,"failed_code_entries":0,"thresholds_crossed":{"codes":{"exceeded_by":1,"threshold":5,"value":6}},"window":"1h"}"#,
        );
        a.thresholds_crossed.failed_code_entries = Some(ThresholdCrossed::new(0, 0));
        assert_json(
            &ResetFloodEvidence::Account(a),
            r#"{"codes":6,"distinct_ips":1,"failed_code_entries":0,"thresholds_crossed":{"codes":{"exceeded_by":1,"threshold":5,"value":6},"failed_code_entries":{"exceeded_by":0,"threshold":0,"value":0}},"window":"1h"}"#,
        );
    }
}
