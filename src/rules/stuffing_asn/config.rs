//! `[detect.stuffing_asn]`: the settings of `stuffing.asn`, their defaults and checks.

use serde::{Deserialize, Serialize};

use crate::detect::{Detector, RuleConfig, first_failed};
use crate::error::ConfigError;
use crate::time::{Span, MINUTE};

use super::StuffingAsnDetector;

/// Settings of `stuffing.asn` (section `[detect.stuffing_asn]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StuffingAsnConfig {
    /// Turn the rule off.
    pub enabled: bool,
    /// Length of the sliding window.
    pub window: Span,
    /// Failing addresses of one ASN (each below `max_failures_per_address`) within the window
    /// that open an alert (medium), together with `min_distinct_accounts`.
    pub min_failing_addresses: u32,
    /// Distinct accounts with failed logins from the ASN within the window that open an alert.
    pub min_distinct_accounts: u32,
    /// For logs that name no accounts (access logs of form logins): failed logins without an
    /// account from the ASN within the window that open an alert instead of
    /// `min_distinct_accounts`.
    pub min_failures_without_account: u32,
    /// Share of the ASN's logins in the window that failed, at least (0 to 1).
    pub min_failure_ratio: f64,
    /// An address with this many failures in the window or more is `stuffing.ip`'s business and
    /// does not count as a low failing address.
    pub max_failures_per_address: u32,
    /// Low failing addresses that raise the alert to high.
    pub high_failing_addresses: u32,
    /// Distinct failing accounts that raise the alert to high.
    pub high_distinct_accounts: u32,
    /// At most this many ASNs are tracked at once (least recently failing evicted, counted).
    pub max_tracked_asns: usize,
    /// At most this many failures (and as many successes) are kept per ASN and window.
    pub max_events_per_asn: usize,
    /// Addresses listed in `evidence.top_addresses`.
    pub top_addresses: usize,
    /// Accounts listed in an alert's `accounts` sample.
    pub accounts_sample: usize,
}

impl Default for StuffingAsnConfig {
    fn default() -> StuffingAsnConfig {
        StuffingAsnConfig {
            enabled: true,
            window: Span(30 * MINUTE),
            min_failing_addresses: 20,
            min_distinct_accounts: 50,
            min_failures_without_account: 100,
            min_failure_ratio: 0.5,
            max_failures_per_address: 20,
            high_failing_addresses: 50,
            high_distinct_accounts: 200,
            max_tracked_asns: 100_000,
            max_events_per_asn: 100_000,
            top_addresses: 10,
            accounts_sample: 20,
        }
    }
}

impl RuleConfig for StuffingAsnConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let a = self;
        let checks = [
            (
                a.min_failing_addresses == 0,
                "detect.stuffing_asn.min_failing_addresses",
                "must be at least 1",
            ),
            (
                a.min_distinct_accounts == 0,
                "detect.stuffing_asn.min_distinct_accounts",
                "must be at least 1",
            ),
            (
                a.min_failures_without_account == 0,
                "detect.stuffing_asn.min_failures_without_account",
                "must be at least 1",
            ),
            (
                !(0.0..=1.0).contains(&a.min_failure_ratio),
                "detect.stuffing_asn.min_failure_ratio",
                "must be between 0 and 1",
            ),
            (
                a.max_failures_per_address < 2,
                "detect.stuffing_asn.max_failures_per_address",
                "must be at least 2",
            ),
            (
                a.max_tracked_asns < 1_000,
                "detect.stuffing_asn.max_tracked_asns",
                "must be at least 1000",
            ),
            (
                a.max_events_per_asn < a.min_distinct_accounts as usize,
                "detect.stuffing_asn.max_events_per_asn",
                "must be at least min_distinct_accounts",
            ),
            (
                a.window.millis() <= 0,
                "detect.stuffing_asn.window",
                "must be longer than 0",
            ),
            (
                a.high_failing_addresses < a.min_failing_addresses,
                "detect.stuffing_asn.high_failing_addresses",
                "must not be below min_failing_addresses",
            ),
            (
                a.high_distinct_accounts < a.min_distinct_accounts,
                "detect.stuffing_asn.high_distinct_accounts",
                "must not be below min_distinct_accounts",
            ),
        ];
        first_failed(&checks)
    }

    fn build(&self, _shard: bool) -> Box<dyn Detector> {
        // Per ASN, but its alerts depend on addresses across ASNs' evictions: not sharded.
        Box::new(StuffingAsnDetector::new(self.clone()))
    }
}
