//! `bruteforce.account`: one account fails many times in a window, from one or many addresses.
//!
//! The signal is the number of failed logins against one (normalized) account. Many distinct
//! addresses against one account is distributed password guessing through proxies and raises
//! the severity: a person retrying their own password does so from one or two addresses.
//!
//! Episodes follow [`Episodes`](crate::detect::Episodes): one alert when the threshold is crossed, again (same id) only
//! when the severity rises, closed once the account has had no failure for a whole window.

mod config;
mod evidence;
mod rule;

pub use config::BruteforceAccountConfig;
pub use evidence::{BruteforceAccountEvidence, BruteforceAccountThresholds};
pub use rule::BruteforceAccountDetector;

/// The rule's stable id (`alerts.md`).
pub const ID: &str = "bruteforce.account";

/// The rule's row of the README's rule table (checked against `README.md` by a test).
pub const README_ROW: &str = include_str!("doc.md");

/// The settings type the registry puts under `[detect.bruteforce_account]`.
pub type Config = BruteforceAccountConfig;

/// The evidence type of the rule's alerts, which the registry puts in [`crate::alert::Evidence`].
pub type Evidence = BruteforceAccountEvidence;
