//! `stuffing.ip`: one address fails logins against many distinct accounts in a sliding window.
//!
//! This is the classic single-source list replay. The signal is the number of *distinct*
//! accounts with failed logins from one address within the window, not the number of failures:
//! a user retrying their own password fails many times against one account (that is
//! `bruteforce.account`), while a list replay touches a new account with almost every try.
//! When the log carries no account names (a plain access log of `POST /login`), the detector
//! falls back to the number of failed logins from the address.
//!
//! Episodes: an alert opens when a threshold is crossed, is emitted again (same id) only when
//! its severity rises, and closes once the address has had no failure for a whole window.

mod config;
mod evidence;
mod rule;

pub use config::StuffingIpConfig;
pub use evidence::{StuffingIpEvidence, StuffingIpThresholds};
pub use rule::StuffingIpDetector;

/// The rule's stable id (`alerts.md`).
pub const ID: &str = "stuffing.ip";

/// The rule's row of the README's rule table (checked against `README.md` by a test).
pub const README_ROW: &str = include_str!("doc.md");

/// The settings type the registry puts under `[detect.stuffing_ip]`.
pub type Config = StuffingIpConfig;

/// The evidence type of the rule's alerts, which the registry puts in [`crate::alert::Evidence`].
pub type Evidence = StuffingIpEvidence;
