//! `[detect.bruteforce_account]`: the settings of `bruteforce.account`, their defaults and checks.

use serde::{Deserialize, Serialize};

use crate::detect::{Detector, RuleConfig, ShardKey, per_key_rule, first_failed};
use crate::error::ConfigError;
use crate::time::{Span, MINUTE};

use super::BruteforceAccountDetector;

/// Settings of `bruteforce.account` (section `[detect.bruteforce_account]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BruteforceAccountConfig {
    /// Turn the rule off.
    pub enabled: bool,
    /// Length of the sliding window.
    pub window: Span,
    /// Failed logins against one account within the window that open an alert (medium).
    pub min_failures: u32,
    /// Failed logins that raise the alert to high, whatever the number of addresses.
    pub high_failures: u32,
    /// Distinct failing addresses that raise an alert (already at `min_failures`) to high:
    /// many addresses against one account is distributed guessing.
    pub high_distinct_addresses: u32,
    /// At most this many accounts are tracked at once; beyond it the least recently active
    /// accounts are evicted (and counted).
    pub max_tracked_accounts: usize,
    /// At most this many failures are kept per account and window.
    pub max_failures_per_account: usize,
    /// Addresses listed in an alert's evidence.
    pub addresses_sample: usize,
}

impl Default for BruteforceAccountConfig {
    fn default() -> BruteforceAccountConfig {
        BruteforceAccountConfig {
            enabled: true,
            window: Span(30 * MINUTE),
            min_failures: 10,
            high_failures: 100,
            high_distinct_addresses: 5,
            max_tracked_accounts: 1_000_000,
            max_failures_per_account: 10_000,
            addresses_sample: 10,
        }
    }
}

impl RuleConfig for BruteforceAccountConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let b = self;
        let checks = [
            (
                b.min_failures == 0,
                "detect.bruteforce_account.min_failures",
                "must be at least 1",
            ),
            (
                b.high_failures < b.min_failures,
                "detect.bruteforce_account.high_failures",
                "must not be below min_failures",
            ),
            (
                b.max_tracked_accounts < 1_000,
                "detect.bruteforce_account.max_tracked_accounts",
                "must be at least 1000",
            ),
            (
                b.max_failures_per_account < b.high_failures as usize,
                "detect.bruteforce_account.max_failures_per_account",
                "must be at least high_failures",
            ),
            (
                b.window.millis() <= 0,
                "detect.bruteforce_account.window",
                "must be longer than 0",
            ),
        ];
        first_failed(&checks)
    }

    fn build(&self, shard: bool) -> Box<dyn Detector> {
        per_key_rule(
            shard,
            ShardKey::Account,
            self,
            |c| &mut c.max_tracked_accounts,
            |c| Box::new(BruteforceAccountDetector::new(c)),
        )
    }
}
