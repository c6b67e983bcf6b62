//! The evidence of an `orders.drop_address` alert.

use serde::Serialize;

use crate::detect::ThresholdCrossed;

/// What an `orders.drop_address` alert reports about its ship-to's window. Fields are in
/// alphabetical order: the contract's JSON lists them so.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct OrdersDropAddressEvidence {
    /// Distinct accounts that ordered to the ship-to.
    pub distinct_accounts: u32,
    /// Marketplace orders among them.
    pub marketplace_orders: u64,
    /// Their share of the orders, two decimals.
    pub marketplace_share: f64,
    /// Orders to the ship-to in the window.
    pub orders: u64,
    /// The thresholds crossed.
    pub thresholds_crossed: OrdersDropAddressThresholds,
    /// The window's length, as configured.
    pub window: String,
}

/// The thresholds an `orders.drop_address` alert crossed.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct OrdersDropAddressThresholds {
    /// Distinct accounts: always crossed.
    pub distinct_accounts: ThresholdCrossed<u32>,
    /// Marketplace orders past the `high` threshold; absent below it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marketplace_orders: Option<ThresholdCrossed<u64, u32, u64>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::evidence::testing::assert_json;

    #[test]
    fn the_contract_shape_with_the_optional_threshold_absent_then_present() {
        let mut e = OrdersDropAddressEvidence {
            distinct_accounts: 3,
            marketplace_orders: 5,
            marketplace_share: 1.0,
            orders: 5,
            thresholds_crossed: OrdersDropAddressThresholds {
                distinct_accounts: ThresholdCrossed::new(3, 3),
                marketplace_orders: None,
            },
            window: "1d".into(),
        };
        assert_json(
            &e,
            r#"{"distinct_accounts":3,"marketplace_orders":5,"marketplace_share":1.0,"orders":5,"thresholds_crossed":{"distinct_accounts":{"exceeded_by":0,"threshold":3,"value":3}},"window":"1d"}"#,
        );
        e.thresholds_crossed.marketplace_orders = Some(ThresholdCrossed {
            exceeded_by: 0,
            threshold: 5,
            value: 5,
        });
        assert_json(
            &e,
            r#"{"distinct_accounts":3,"marketplace_orders":5,"marketplace_share":1.0,"orders":5,"thresholds_crossed":{"distinct_accounts":{"exceeded_by":0,"threshold":3,"value":3},"marketplace_orders":{"exceeded_by":0,"threshold":5,"value":5}},"window":"1d"}"#,
        );
    }
}
