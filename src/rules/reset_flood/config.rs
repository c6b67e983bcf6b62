//! `[detect.reset_flood]`: the settings of `reset.flood`, their defaults and checks.

use serde::{Deserialize, Serialize};

use crate::detect::{Detector, RuleConfig, bad_value, first_failed};
use crate::error::ConfigError;
use crate::time::{Span, MINUTE};

use super::ResetFloodDetector;

/// Settings of `reset.flood` (section `[detect.reset_flood]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResetFloodConfig {
    /// Turn the rule off.
    pub enabled: bool,
    /// Window over one address's reset requests.
    pub ip_window: Span,
    /// Distinct accounts with reset requests from one address within `ip_window` that open an
    /// alert (medium).
    pub min_accounts_per_ip: u32,
    /// Distinct accounts that raise the address's alert to high.
    pub high_accounts_per_ip: u32,
    /// Reset requests without an account name (access logs) from one address within
    /// `ip_window` that open an alert; 5 x this raises it to high.
    pub min_requests_without_account: u32,
    /// Window over one account's codes and failed code entries.
    pub account_window: Span,
    /// Codes sent to one account (reset requests that did not fail) within `account_window`
    /// that open an alert (medium).
    pub min_codes_per_account: u32,
    /// Failed code entries for one account within `account_window` that open an alert (medium).
    pub min_failed_codes_per_account: u32,
    /// Codes plus failed code entries that raise the account's alert to high.
    pub high_events_per_account: u32,
    /// At most this many addresses and this many accounts are tracked; beyond it the least
    /// recently active are evicted (and counted).
    pub max_tracked_keys: usize,
    /// At most this many events are kept per address or account and window.
    pub max_events_per_key: usize,
    /// Accounts listed in an address alert's `accounts` sample.
    pub accounts_sample: usize,
}

impl Default for ResetFloodConfig {
    fn default() -> ResetFloodConfig {
        ResetFloodConfig {
            enabled: true,
            ip_window: Span(10 * MINUTE),
            min_accounts_per_ip: 10,
            high_accounts_per_ip: 30,
            min_requests_without_account: 30,
            account_window: Span(30 * MINUTE),
            min_codes_per_account: 5,
            min_failed_codes_per_account: 5,
            high_events_per_account: 20,
            max_tracked_keys: 1_000_000,
            max_events_per_key: 10_000,
            accounts_sample: 20,
        }
    }
}

impl RuleConfig for ResetFloodConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let r = self;
        for (key, v) in [
            ("min_accounts_per_ip", r.min_accounts_per_ip),
            (
                "min_requests_without_account",
                r.min_requests_without_account,
            ),
            ("min_codes_per_account", r.min_codes_per_account),
            (
                "min_failed_codes_per_account",
                r.min_failed_codes_per_account,
            ),
        ] {
            if v == 0 {
                return Err(bad_value(
                    &format!("detect.reset_flood.{key}"),
                    "must be at least 1",
                ));
            }
        }
        let checks = [
            (
                r.high_accounts_per_ip < r.min_accounts_per_ip,
                "detect.reset_flood.high_accounts_per_ip",
                "must not be below min_accounts_per_ip",
            ),
            (
                r.max_tracked_keys < 1_000,
                "detect.reset_flood.max_tracked_keys",
                "must be at least 1000",
            ),
            (
                r.max_events_per_key < r.min_accounts_per_ip as usize,
                "detect.reset_flood.max_events_per_key",
                "must be at least min_accounts_per_ip",
            ),
        ];
        first_failed(&checks)
    }

    fn build(&self, _shard: bool) -> Box<dyn Detector> {
        // Keyed by address and by account at once: not shardable by one key.
        Box::new(ResetFloodDetector::new(self.clone()))
    }
}
