//! `takeover.sequence`: password reset (or a risky login) → e-mail / shipping-address / payment
//! change → order(s), in that order, within a time bound, per account.
//!
//! This is what an account takeover looks like after the credentials are known: the attacker
//! locks the owner out (reset, or a login from somewhere the owner never logs in from), redirects
//! the account (new e-mail, new ship-to), then cashes out (marketplace orders to a drop). Each
//! step alone is ordinary — people move house, forget passwords, buy in bulk — so the rule
//! fires only on the *ordered* chain, and its severity comes from how foreign the chain is to
//! the account: steps from addresses and ASNs the account never logged in from before the
//! chain began, orders to a ship-to the account never used, marketplace sellers.
//!
//! "Known" means among the account's last few successful-login addresses / ASNs *before the
//! chain started*: a login the attacker makes during the chain does not launder their address.
//! An account with no login history at all has nothing to compare with: a first-ever login
//! does not start a chain (it is not suspicious by itself), and its steps count as new.

mod config;
mod evidence;
mod rule;

pub use config::TakeoverConfig;
pub use evidence::{StepEvent, StepOrders, TakeoverSequenceEvidence, TakeoverStep};
pub use rule::TakeoverDetector;

/// The rule's stable id (`alerts.md`).
pub const ID: &str = "takeover.sequence";

/// The rule's row of the README's rule table (checked against `README.md` by a test).
pub const README_ROW: &str = include_str!("doc.md");

/// The settings type the registry puts under `[detect.takeover_sequence]`.
pub type Config = TakeoverConfig;

/// The evidence type of the rule's alerts, which the registry puts in [`crate::alert::Evidence`].
pub type Evidence = TakeoverSequenceEvidence;
