//! `[detect.takeover_sequence]`: the settings of `takeover.sequence`, their defaults and checks.

use serde::{Deserialize, Serialize};

use crate::detect::{Detector, RuleConfig, HistoryConfig, ShardKey, per_key_rule, bad_value};
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
        if self.max_span.millis() <= 0 {
            return Err(bad_value(
                "detect.takeover_sequence.max_span",
                "must be positive",
            ));
        }
        if self.known_sources == 0 || self.max_accounts < 1_000 || self.max_steps < 2 {
            return Err(bad_value(
                "detect.takeover_sequence.known_sources",
                "known_sources must be at least 1, max_accounts at least 1000, max_steps at least 2",
            ));
        }
        Ok(())
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
