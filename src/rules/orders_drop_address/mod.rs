//! `orders.drop_address`: one ship-to receives orders from many accounts in a window.
//!
//! Both look only at `order` events that name an account and did not fail: an access-log order
//! (`POST /checkout`) carries neither account nor ship-to, and the app log has the same order
//! with both, so nothing is counted twice. A failed order placed nothing.
//!
//! What makes bulk ordering suspicious is not the volume alone (a shop wants bulk buyers) but
//! where the goods go and who sells them: a takeover resells through third-party (marketplace)
//! sellers and ships to an address the account never used, the drop. So severity is driven by
//! the marketplace share and by whether the ship-to is new to the account; first-party goods to
//! an address the account already knew stay `low`.

mod config;
mod evidence;
mod rule;

pub use config::OrdersDropAddressConfig;
pub use evidence::{OrdersDropAddressEvidence, OrdersDropAddressThresholds};
pub use rule::OrdersDropAddressDetector;

/// The rule's stable id (`alerts.md`).
pub const ID: &str = "orders.drop_address";

/// The rule's row of the README's rule table (checked against `README.md` by a test).
pub const README_ROW: &str = include_str!("doc.md");

/// The settings type the registry puts under `[detect.orders_drop_address]`.
pub type Config = OrdersDropAddressConfig;

/// The evidence type of the rule's alerts, which the registry puts in [`crate::alert::Evidence`].
pub type Evidence = OrdersDropAddressEvidence;
