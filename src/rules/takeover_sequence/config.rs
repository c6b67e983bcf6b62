//! `[detect.takeover_sequence]`: the settings of `takeover.sequence`, their defaults and checks.

use serde::{Deserialize, Serialize};

use crate::detect::{Detector, HistoryConfig, RuleConfig, ShardKey, first_failed, per_key_rule};
use crate::error::ConfigError;
use crate::time::{Span, HOUR};

use super::TakeoverDetector;

/// Settings of `takeover.sequence` (section `[detect.takeover_sequence]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TakeoverConfig {
    /// Turn the rule off.
    pub enabled: bool,
    /// The whole chain (first step to the order) must fit in this span.
    pub max_span: Span,
    /// Successful-login addresses (and, separately, ASNs) remembered per account to tell a new
    /// source from the usual one (in the login history shared with `compromise.login`, which
    /// keeps the larger of the two rules' values).
    pub known_sources: usize,
    /// Ship-to addresses remembered per account.
    pub known_ship_to: usize,
    /// At most this many accounts are tracked; beyond it the least recently active tenth is
    /// evicted (and counted).
    pub max_accounts: usize,
    /// Steps listed in `evidence.steps` per episode (orders are summarized in one step).
    pub max_steps: usize,
}

impl Default for TakeoverConfig {
    fn default() -> TakeoverConfig {
        TakeoverConfig {
            enabled: true,
            max_span: Span(72 * HOUR),
            known_sources: 8,
            known_ship_to: 8,
            max_accounts: 1_000_000,
            max_steps: 16,
        }
    }
}

impl RuleConfig for TakeoverConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), ConfigError> {
        first_failed(&[
            (
                self.max_span.millis() <= 0,
                "detect.takeover_sequence.max_span",
                "must be positive",
            ),
            (
                self.known_sources == 0,
                "detect.takeover_sequence.known_sources",
                "must be at least 1",
            ),
            (
                self.max_accounts < 1_000,
                "detect.takeover_sequence.max_accounts",
                "must be at least 1000",
            ),
            (
                self.max_steps < 2,
                "detect.takeover_sequence.max_steps",
                "must be at least 2",
            ),
        ])
    }

    fn build(&self, shard: bool) -> Box<dyn Detector> {
        per_key_rule(
            shard,
            ShardKey::Account,
            self,
            |c| &mut c.max_accounts,
            |c| Box::new(TakeoverDetector::new(c)),
        )
    }

    fn history(&self) -> Option<HistoryConfig> {
        self.enabled.then_some(HistoryConfig {
            known_sources: self.known_sources,
            max_accounts: self.max_accounts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each nonsense value is reported under its own key (one check used to name
    /// `known_sources` for all three).
    /// Spoils one setting.
    type Spoil = fn(&mut TakeoverConfig);

    #[test]
    fn each_nonsense_value_names_its_own_key() {
        let cases: [(&str, Spoil); 4] = [
            ("max_span", |c| c.max_span = Span(0)),
            ("known_sources", |c| c.known_sources = 0),
            ("max_accounts", |c| c.max_accounts = 10),
            ("max_steps", |c| c.max_steps = 1),
        ];
        for (key, spoil) in cases {
            let mut c = TakeoverConfig::default();
            spoil(&mut c);
            let err = c.validate().expect_err(key).to_string();
            assert!(
                err.contains(&format!("detect.takeover_sequence.{key}")),
                "{key}: {err}"
            );
        }
        assert!(TakeoverConfig::default().validate().is_ok());
    }
}
