//! `reset.flood`: password-reset and security-code abuse, from two sides.
//!
//! - **ip**: one address requests resets (security codes) for many distinct accounts: account
//!   enumeration through the "forgot password" form, or a flood of unrequested codes that trains
//!   customers to ignore them. Counted as distinct accounts (any outcome: a request for an
//!   unknown account is part of the enumeration); for logs without account names, as requests.
//! - **account**: one account receives many codes (`password_reset_request` that did not fail)
//!   or many wrong codes are entered for it (`password_reset_complete` with outcome failure):
//!   someone is trying to guess or phish the code.
//!
//! Both kinds are emitted under the one rule id; the episode key includes the kind, so an
//! address and an account never share an episode.

mod config;
mod evidence;
mod rule;

pub use config::ResetFloodConfig;
pub use evidence::{
    ResetFloodAccount, ResetFloodAccountThresholds, ResetFloodAddress, ResetFloodAddressThresholds,
    ResetFloodEvidence,
};
pub use rule::ResetFloodDetector;

/// The rule's stable id (`alerts.md`).
pub const ID: &str = "reset.flood";

/// The rule's row of the README's rule table (checked against `README.md` by a test).
pub const README_ROW: &str = include_str!("doc.md");

/// The settings type the registry puts under `[detect.reset_flood]`.
pub type Config = ResetFloodConfig;

/// The evidence type of the rule's alerts, which the registry puts in [`crate::alert::Evidence`].
pub type Evidence = ResetFloodEvidence;
