//! `[detect.stuffing_global]`: the settings of `stuffing.global`, their defaults and checks.

use serde::{Deserialize, Serialize};

use crate::detect::{Detector, RuleConfig, first_failed};
use crate::error::ConfigError;

use super::StuffingGlobalDetector;

/// Settings of `stuffing.global` (section `[detect.stuffing_global]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StuffingGlobalConfig {
    /// Turn the rule off.
    pub enabled: bool,
    /// Closed minutes the baseline (median and MAD) is computed over.
    pub baseline_minutes: u32,
    /// Minutes of baseline needed before the baseline is trusted.
    pub warmup_minutes: u32,
    /// Until the baseline is warm (the first `warmup_minutes` of input), a minute is hot only
    /// when its distinct failing addresses reach this absolute level, so a scan or tail that
    /// starts in the middle of an attack still reports it. 0 turns the cold-start check off.
    pub cold_start_failing_addresses_per_minute: u32,
    /// A minute is hot when a measure exceeds `median + mad_factor × max(1.4826 × MAD, 1)`.
    pub mad_factor: f64,
    /// Absolute floor: distinct failing addresses in a minute must also reach this.
    pub min_failing_addresses_per_minute: u32,
    /// Absolute floor: capped unknown-account failures in a minute must also reach this.
    pub min_unknown_failures_per_minute: u32,
    /// Each address counts at most this many unknown-account failures per minute.
    pub max_failures_per_address_minute: u32,
    /// Hot minutes in a row that open an alert (medium).
    pub consecutive_minutes: u32,
    /// Cold minutes in a row that end a burst.
    pub quiet_minutes: u32,
    /// Distinct failing addresses over the burst that raise the alert to high.
    pub high_failing_addresses: u32,
    /// At most this many addresses are tracked per minute and per burst (the rest are counted,
    /// not kept, and reported as evictions).
    pub max_tracked_addresses: usize,
    /// Entries in `evidence.top_asns` and `evidence.top_addresses`.
    pub top: usize,
}

impl Default for StuffingGlobalConfig {
    fn default() -> StuffingGlobalConfig {
        StuffingGlobalConfig {
            enabled: true,
            baseline_minutes: 180,
            warmup_minutes: 60,
            cold_start_failing_addresses_per_minute: 1_000,
            mad_factor: 6.0,
            min_failing_addresses_per_minute: 10,
            min_unknown_failures_per_minute: 10,
            max_failures_per_address_minute: 2,
            consecutive_minutes: 3,
            quiet_minutes: 10,
            high_failing_addresses: 500,
            max_tracked_addresses: 100_000,
            top: 10,
        }
    }
}

impl RuleConfig for StuffingGlobalConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let g = self;
        let checks = [
            (
                g.baseline_minutes < g.warmup_minutes || g.baseline_minutes == 0,
                "detect.stuffing_global.baseline_minutes",
                "must be at least 1 and at least warmup_minutes",
            ),
            (
                !(g.mad_factor.is_finite() && g.mad_factor > 0.0),
                "detect.stuffing_global.mad_factor",
                "must be a positive number",
            ),
            (
                g.consecutive_minutes == 0,
                "detect.stuffing_global.consecutive_minutes",
                "must be at least 1",
            ),
            (
                g.quiet_minutes == 0,
                "detect.stuffing_global.quiet_minutes",
                "must be at least 1",
            ),
            (
                g.max_tracked_addresses < 1_000,
                "detect.stuffing_global.max_tracked_addresses",
                "must be at least 1000",
            ),
        ];
        first_failed(&checks)
    }

    fn build(&self, _shard: bool) -> Box<dyn Detector> {
        // One site-wide state: nothing to shard.
        Box::new(StuffingGlobalDetector::new(self.clone()))
    }
}
