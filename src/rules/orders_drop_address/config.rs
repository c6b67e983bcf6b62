//! `[detect.orders_drop_address]`: the settings of `orders.drop_address`, their defaults and checks.

use serde::{Deserialize, Serialize};

use crate::detect::{Detector, RuleConfig, ShardKey, per_key_rule, first_failed};
use crate::error::ConfigError;
use crate::time::{Span, DAY};

use super::OrdersDropAddressDetector;

/// Settings of `orders.drop_address` (section `[detect.orders_drop_address]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrdersDropAddressConfig {
    /// Turn the rule off.
    pub enabled: bool,
    /// Length of the sliding window over one ship-to's orders.
    pub window: Span,
    /// Distinct accounts ordering to one ship-to within the window that open an alert.
    pub min_distinct_accounts: u32,
    /// Distinct accounts that raise the alert to high.
    pub high_distinct_accounts: u32,
    /// Share of marketplace orders at or above which the orders count as marketplace orders;
    /// below it (first-party goods) the severity is one step lower.
    pub marketplace_share: f64,
    /// Marketplace orders in the window (with `marketplace_share` reached) that raise the
    /// severity one step.
    pub high_orders: u32,
    /// At most this many ship-tos are tracked; beyond it the least recently active are evicted
    /// (and counted).
    pub max_tracked_ship_tos: usize,
    /// At most this many orders are kept per ship-to and window.
    pub max_orders_per_ship_to: usize,
    /// Accounts listed in an alert's `accounts` sample.
    pub accounts_sample: usize,
}

impl Default for OrdersDropAddressConfig {
    fn default() -> OrdersDropAddressConfig {
        OrdersDropAddressConfig {
            enabled: true,
            window: Span(7 * DAY),
            min_distinct_accounts: 3,
            high_distinct_accounts: 5,
            marketplace_share: 0.5,
            high_orders: 10,
            max_tracked_ship_tos: 1_000_000,
            max_orders_per_ship_to: 10_000,
            accounts_sample: 20,
        }
    }
}

impl RuleConfig for OrdersDropAddressConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let d = self;
        let checks = [
            (
                d.min_distinct_accounts < 2,
                "detect.orders_drop_address.min_distinct_accounts",
                "must be at least 2",
            ),
            (
                d.high_distinct_accounts < d.min_distinct_accounts,
                "detect.orders_drop_address.high_distinct_accounts",
                "must not be below min_distinct_accounts",
            ),
            (
                !(0.0..=1.0).contains(&d.marketplace_share),
                "detect.orders_drop_address.marketplace_share",
                "must be between 0 and 1",
            ),
            (
                d.max_tracked_ship_tos < 1_000,
                "detect.orders_drop_address.max_tracked_ship_tos",
                "must be at least 1000",
            ),
            (
                d.max_orders_per_ship_to < d.min_distinct_accounts as usize,
                "detect.orders_drop_address.max_orders_per_ship_to",
                "must be at least min_distinct_accounts",
            ),
        ];
        first_failed(&checks)
    }

    fn build(&self, shard: bool) -> Box<dyn Detector> {
        per_key_rule(
            shard,
            ShardKey::ShipTo,
            self,
            |c| &mut c.max_tracked_ship_tos,
            |c| Box::new(OrdersDropAddressDetector::new(c)),
        )
    }
}
