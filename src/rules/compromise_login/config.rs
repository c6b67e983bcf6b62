//! `[detect.compromise_login]`: the settings of `compromise.login`, their defaults and checks.

use serde::{Deserialize, Serialize};

use crate::detect::{Detector, RuleConfig, HistoryConfig, bad_value};
use crate::error::ConfigError;
use crate::time::{Span, MINUTE, HOUR};

use super::CompromiseDetector;

/// Settings of `compromise.login` (section `[detect.compromise_login]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompromiseConfig {
    /// Turn the rule off.
    pub enabled: bool,
    /// Successes this long before a stuffing alert's `first_seen` are still tied to it.
    pub lookback: Span,
    /// A stuffing source stays active this long after its latest failure or alert.
    pub hold: Span,
    /// Successful logins remembered for late alerts (a global burst alert may arrive long
    /// after its start).
    pub success_memory: Span,
    /// Failed logins on one account within `failure_window` that make the next success
    /// suspicious without any stuffing alert.
    pub min_failures_before_success: u32,
    /// The window of `min_failures_before_success`.
    pub failure_window: Span,
    /// Successful-login addresses and ASNs remembered per account (in the login history shared
    /// with `takeover.sequence`, which keeps the larger of the two rules' values).
    pub known_sources: usize,
    /// At most this many failing accounts, addresses and ASNs are tracked (each); beyond it the
    /// least recently active tenth is evicted (and counted). The shared login history tracks
    /// as many accounts as the larger of this and `takeover.sequence`'s `max_accounts`.
    pub max_tracked: usize,
    /// At most this many recent successful logins are remembered.
    pub max_recent_successes: usize,
    /// An account's episode closes after this long without a new tie.
    pub episode_quiet: Span,
}

impl Default for CompromiseConfig {
    fn default() -> CompromiseConfig {
        CompromiseConfig {
            enabled: true,
            lookback: Span(10 * MINUTE),
            hold: Span(30 * MINUTE),
            success_memory: Span(2 * HOUR),
            min_failures_before_success: 5,
            failure_window: Span(10 * MINUTE),
            known_sources: 8,
            max_tracked: 1_000_000,
            max_recent_successes: 100_000,
            episode_quiet: Span(24 * HOUR),
        }
    }
}

impl RuleConfig for CompromiseConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let c = self;
        if c.min_failures_before_success == 0 {
            return Err(bad_value(
                "detect.compromise_login.min_failures_before_success",
                "must be at least 1",
            ));
        }
        if c.max_tracked < 1_000 {
            return Err(bad_value(
                "detect.compromise_login.max_tracked",
                "must be at least 1000",
            ));
        }
        if c.max_recent_successes < 1_000 {
            return Err(bad_value(
                "detect.compromise_login.max_recent_successes",
                "must be at least 1000",
            ));
        }
        if c.success_memory.millis() < c.lookback.millis() {
            return Err(bad_value(
                "detect.compromise_login.success_memory",
                "must not be shorter than lookback",
            ));
        }
        Ok(())
    }

    fn build(&self, _shard: bool) -> Box<dyn Detector> {
        // Acts on other rules' alerts: never sharded.
        Box::new(CompromiseDetector::new(self.clone()))
    }

    fn history(&self) -> Option<HistoryConfig> {
        self.enabled.then_some(HistoryConfig {
            known_sources: self.known_sources,
            max_accounts: self.max_tracked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each nonsense value is reported under its own key (one check used to name
    /// `max_tracked` for `max_recent_successes` too).
    /// Spoils one setting.
    type Spoil = fn(&mut CompromiseConfig);

    #[test]
    fn each_nonsense_value_names_its_own_key() {
        let cases: [(&str, Spoil); 3] = [
            ("min_failures_before_success", |c| {
                c.min_failures_before_success = 0
            }),
            ("max_tracked", |c| c.max_tracked = 10),
            ("max_recent_successes", |c| c.max_recent_successes = 10),
        ];
        for (key, spoil) in cases {
            let mut c = CompromiseConfig::default();
            spoil(&mut c);
            let err = c.validate().expect_err(key).to_string();
            assert!(
                err.contains(&format!("detect.compromise_login.{key}")),
                "{key}: {err}"
            );
        }
        assert!(CompromiseConfig::default().validate().is_ok());
    }
}
