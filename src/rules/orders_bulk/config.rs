//! `[detect.orders_bulk]`: the settings of `orders.bulk`, their defaults and checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::detect::{Detector, RuleConfig, ShardKey, per_key_rule, bad_value, first_failed};
use crate::error::ConfigError;
use crate::time::{Span, HOUR, DAY};

use super::OrdersBulkDetector;

/// Settings of `orders.bulk` (section `[detect.orders_bulk]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrdersBulkConfig {
    /// Turn the rule off.
    pub enabled: bool,
    /// Length of the sliding window over one account's orders.
    pub window: Span,
    /// Orders by one account within the window that open an alert.
    pub min_orders: u32,
    /// Total per currency (ISO 4217 code, upper case) within the window that opens an alert.
    /// Currencies not listed are only counted by `min_orders`.
    pub min_total: BTreeMap<String, u64>,
    /// Share of marketplace (third-party seller) orders in the window from which the orders
    /// count as marketplace orders (medium and above instead of low).
    pub marketplace_share: f64,
    /// A ship-to first seen by the account less than this long ago counts as new, when the
    /// account had other ship-tos before it or it arrived by an `address_change`.
    pub new_ship_to_age: Span,
    /// Ship-tos remembered per account (least recently used forgotten first).
    pub max_known_ship_tos: usize,
    /// An account with no order or address change for this long is forgotten.
    pub ship_to_memory: Span,
    /// At most this many accounts are tracked; beyond it the least recently active are evicted
    /// (and counted).
    pub max_tracked_accounts: usize,
    /// At most this many orders are kept per account and window.
    pub max_orders_per_account: usize,
}

impl Default for OrdersBulkConfig {
    fn default() -> OrdersBulkConfig {
        OrdersBulkConfig {
            enabled: true,
            window: Span(24 * HOUR),
            min_orders: 10,
            min_total: BTreeMap::from([
                ("EUR".to_string(), 1_000),
                ("JPY".to_string(), 100_000),
                ("USD".to_string(), 1_000),
            ]),
            marketplace_share: 0.5,
            new_ship_to_age: Span(7 * DAY),
            max_known_ship_tos: 8,
            ship_to_memory: Span(90 * DAY),
            max_tracked_accounts: 1_000_000,
            max_orders_per_account: 1_000,
        }
    }
}

impl RuleConfig for OrdersBulkConfig {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let b = self;
        if let Some((cur, _)) = b.min_total.iter().find(|(_, v)| **v == 0) {
            return Err(bad_value(
                &format!("detect.orders_bulk.min_total.{cur}"),
                "must be at least 1",
            ));
        }
        let checks = [
            (
                b.min_orders == 0,
                "detect.orders_bulk.min_orders",
                "must be at least 1",
            ),
            (
                !(0.0..=1.0).contains(&b.marketplace_share),
                "detect.orders_bulk.marketplace_share",
                "must be between 0 and 1",
            ),
            (
                b.max_known_ship_tos == 0,
                "detect.orders_bulk.max_known_ship_tos",
                "must be at least 1",
            ),
            (
                b.max_tracked_accounts < 1_000,
                "detect.orders_bulk.max_tracked_accounts",
                "must be at least 1000",
            ),
            (
                b.max_orders_per_account < b.min_orders as usize,
                "detect.orders_bulk.max_orders_per_account",
                "must be at least min_orders",
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
            |c| Box::new(OrdersBulkDetector::new(c)),
        )
    }
}
