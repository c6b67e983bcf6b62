//! The evidence of an `orders.bulk` alert.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::detect::ThresholdCrossed;
use crate::event::AddressHash;

/// What an `orders.bulk` alert reports about its account's window. Fields are in alphabetical
/// order: the contract's JSON lists them so.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct OrdersBulkEvidence {
    /// Distinct marketplace sellers.
    pub distinct_sellers: usize,
    /// Marketplace orders.
    pub marketplace_orders: u64,
    /// Their share of the orders, two decimals.
    pub marketplace_share: f64,
    /// Orders in the window.
    pub orders: u64,
    /// Each ship-to of the orders, in hash order, with what the account's history says of it.
    pub ship_tos: Vec<ShipToSeen>,
    /// The thresholds crossed.
    pub thresholds_crossed: OrdersBulkThresholds,
    /// The total per currency.
    pub totals: BTreeMap<String, Amount>,
    /// The window's length, as configured.
    pub window: String,
}

/// An order amount: written as an integer when whole (yen), else with two decimals.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Amount(pub f64);

impl Amount {
    /// The value as the contract's JSON writes it (two decimals unless whole).
    pub fn as_written(self) -> f64 {
        if self.is_whole() {
            self.0
        } else {
            (self.0 * 100.0).round() / 100.0
        }
    }

    fn is_whole(self) -> bool {
        self.0.fract() == 0.0 && self.0.abs() < 9.0e15
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_whole() {
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64(self.as_written())
        }
    }
}

impl std::ops::Sub for Amount {
    type Output = Amount;
    fn sub(self, other: Amount) -> Amount {
        Amount(self.0 - other.0)
    }
}

/// One of an `orders.bulk` alert's `ship_tos`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShipToSeen {
    /// The ship-to (short hash).
    #[serde(serialize_with = "crate::detect::evidence::display")]
    pub ship_to: AddressHash,
    /// What the account's history says of it.
    pub status: ShipToStatus,
}

/// Whether a ship-to is new to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipToStatus {
    /// New to the account (set by an address change, or added while others were known).
    New,
    /// Known from before the window.
    Known,
    /// First used in the window by an account with no earlier ship-to to compare with.
    NoHistory,
}

/// The thresholds an `orders.bulk` alert crossed: the order count, and each currency's total,
/// written as `total_<currency>` (`total_JPY`) after `orders`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrdersBulkThresholds {
    /// The number of orders; absent when not crossed.
    pub orders: Option<ThresholdCrossed<u64, u32, u64>>,
    /// Per currency, the total that crossed its configured minimum.
    pub totals: BTreeMap<String, ThresholdCrossed<Amount, u64, Amount>>,
}

impl OrdersBulkThresholds {
    /// No threshold crossed.
    pub fn is_empty(&self) -> bool {
        self.orders.is_none() && self.totals.is_empty()
    }
}

impl Serialize for OrdersBulkThresholds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // `orders` sorts before every `total_…`, and the totals' keys share their prefix, so
        // this is the alphabetical order of the contract's JSON.
        let mut m = s.serialize_map(Some(usize::from(self.orders.is_some()) + self.totals.len()))?;
        if let Some(o) = &self.orders {
            m.serialize_entry("orders", o)?;
        }
        for (currency, t) in &self.totals {
            m.serialize_entry(&format!("total_{currency}"), t)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::evidence::testing::assert_json;

    #[test]
    fn the_contract_shape_with_whole_and_fractional_amounts() {
        let hash = AddressHash::of("1-2-3 Example, Tokyo").unwrap();
        let mut e = OrdersBulkEvidence {
            distinct_sellers: 3,
            marketplace_orders: 7,
            marketplace_share: 1.0,
            orders: 7,
            ship_tos: vec![ShipToSeen {
                ship_to: hash,
                status: ShipToStatus::NoHistory,
            }],
            thresholds_crossed: OrdersBulkThresholds {
                orders: None,
                totals: BTreeMap::from([(
                    "JPY".to_string(),
                    ThresholdCrossed {
                        exceeded_by: Amount(5_000.0),
                        threshold: 100_000,
                        value: Amount(105_000.0),
                    },
                )]),
            },
            totals: BTreeMap::from([("JPY".to_string(), Amount(105_000.0))]),
            window: "1h".into(),
        };
        assert_json(
            &e,
            &format!(
                r#"{{"distinct_sellers":3,"marketplace_orders":7,"marketplace_share":1.0,"orders":7,"ship_tos":[{{"ship_to":"{hash}","status":"no_history"}}],"thresholds_crossed":{{"total_JPY":{{"exceeded_by":5000,"threshold":100000,"value":105000}}}},"totals":{{"JPY":105000}},"window":"1h"}}"#
            ),
        );
        e.thresholds_crossed.orders = Some(ThresholdCrossed {
            exceeded_by: 2,
            threshold: 5,
            value: 7,
        });
        e.totals.insert("USD".into(), Amount(12.504));
        e.ship_tos[0].status = ShipToStatus::New;
        assert_json(
            &e,
            &format!(
                r#"{{"distinct_sellers":3,"marketplace_orders":7,"marketplace_share":1.0,"orders":7,"ship_tos":[{{"ship_to":"{hash}","status":"new"}}],"thresholds_crossed":{{"orders":{{"exceeded_by":2,"threshold":5,"value":7}},"total_JPY":{{"exceeded_by":5000,"threshold":100000,"value":105000}}}},"totals":{{"JPY":105000,"USD":12.5}},"window":"1h"}}"#
            ),
        );
        assert_eq!(Amount(12.504).as_written(), 12.5);
        assert!(OrdersBulkThresholds::default().is_empty());
        assert!(!e.thresholds_crossed.is_empty());
    }
}
