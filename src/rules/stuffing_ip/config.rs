//! `[detect.stuffing_ip]`: the settings of `stuffing.ip`, their defaults and checks.

use serde::{Deserialize, Serialize};

use crate::detect::{Detector, RuleConfig, ShardKey, per_key_rule, first_failed};
use crate::error::ConfigError;
use crate::time::{Span, MINUTE};

use super::StuffingIpDetector;

/// Settings of `stuffing.ip` (section `[detect.stuffing_ip]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StuffingIpConfig {
    /// Turn the rule off.
    pub enabled: bool,
    /// Length of the sliding window.
    pub window: Span,
    /// Distinct accounts with failed logins from one address within the window that open an
    /// alert (medium).
    pub min_distinct_accounts: u32,
    /// Distinct accounts that raise the alert to high.
    pub high_distinct_accounts: u32,
    /// Failed logins without an account name (access logs) from one address within the window
    /// that open an alert, for logs that do not name accounts.
    pub min_failures_without_account: u32,
    /// For logs that say neither the account nor the outcome (a form login answered 200 whether
    /// the password was right or not): login attempts from one address within the window,
    /// failed or undetermined, that open an alert. Higher than the failure threshold because
    /// some of them may have succeeded.
    pub min_attempts_without_outcome: u32,
    /// At most this many addresses are tracked at once; beyond it the least recently active
    /// addresses are evicted (and counted), so a flood of random addresses cannot exhaust memory.
    pub max_tracked_ips: usize,
    /// At most this many failures are kept per address and window.
    pub max_failures_per_ip: usize,
    /// Accounts listed in an alert's `accounts` sample.
    pub accounts_sample: usize,
}

impl Default for StuffingIpConfig {
    fn default() -> StuffingIpConfig {
        StuffingIpConfig {
            enabled: true,
            window: Span(10 * MINUTE),
            min_distinct_accounts: 20,
            high_distinct_accounts: 100,
            min_failures_without_account: 50,
            min_attempts_without_outcome: 100,
            max_tracked_ips: 1_000_000,
            max_failures_per_ip: 100_000,
            accounts_sample: 20,
        }
    }
}

impl RuleConfig for StuffingIpConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let checks = [
            (
                self.min_distinct_accounts == 0,
                "detect.stuffing_ip.min_distinct_accounts",
                "must be at least 1",
            ),
            (
                self.high_distinct_accounts < self.min_distinct_accounts,
                "detect.stuffing_ip.high_distinct_accounts",
                "must not be below min_distinct_accounts",
            ),
            (
                self.min_failures_without_account == 0,
                "detect.stuffing_ip.min_failures_without_account",
                "must be at least 1",
            ),
            (
                self.min_attempts_without_outcome == 0,
                "detect.stuffing_ip.min_attempts_without_outcome",
                "must be at least 1",
            ),
            (
                self.max_tracked_ips < 1_000,
                "detect.stuffing_ip.max_tracked_ips",
                "must be at least 1000",
            ),
            (
                self.max_failures_per_ip < self.min_distinct_accounts as usize,
                "detect.stuffing_ip.max_failures_per_ip",
                "must be at least min_distinct_accounts",
            ),
        ];
        first_failed(&checks)
    }

    fn build(&self, shard: bool) -> Box<dyn Detector> {
        per_key_rule(
            shard,
            ShardKey::ClientAddress,
            self,
            |c| &mut c.max_tracked_ips,
            |c| Box::new(StuffingIpDetector::new(c)),
        )
    }
}
