//! `compromise.login`: a successful login from a source that takes part in a stuffing alert, or
//! right after many failures on the account.
//!
//! This is the list of accounts support must lock and reset. A list replay hits valid
//! credentials *before* its stuffing alert crosses its threshold (the run finds a valid account
//! at minute 2, the alert fires at minute 3), so the detector keeps a bounded memory of recent
//! successful logins and, when a stuffing alert arrives through [`Detector::on_alert`](crate::detect::Detector::on_alert), ties the
//! successes from its source inside `[first_seen - lookback, now]`; later successes are tied
//! while the source stays active (`hold` after its latest failure or alert).
//!
//! Ties, from the alert contract only (rule, entity, times), never from other rules' evidence:
//! - `stuffing.ip`: the success comes from the alert's address (high).
//! - `stuffing.asn`: the success comes from the alert's ASN and from an address the account
//!   never logged in from (medium; high when that address itself failed on other accounts).
//! - `stuffing.global`: during the burst, the success comes from an address that failed on
//!   other accounts in the burst (high), or from an address and ASN new to an account with a
//!   login history, in an ASN that failed on other accounts in the burst (medium). A swarm
//!   address tries one or two accounts, so its own address rarely failed before it hit.
//! - Without any alert: `min_failures_before_success` failed logins on the account within
//!   `failure_window`, then a success (medium).

mod config;
mod evidence;
mod rule;

pub use config::CompromiseConfig;
pub use evidence::{CompromiseLoginEvidence, CompromiseLoginThresholds};
pub use rule::CompromiseDetector;

/// The rule's stable id (`alerts.md`).
pub const ID: &str = "compromise.login";

/// The rule's row of the README's rule table (checked against `README.md` by a test).
pub const README_ROW: &str = include_str!("doc.md");

/// The settings type the registry puts under `[detect.compromise_login]`.
pub type Config = CompromiseConfig;

/// The evidence type of the rule's alerts, which the registry puts in [`crate::alert::Evidence`].
pub type Evidence = CompromiseLoginEvidence;
