//! `stuffing.asn`: one autonomous system shows many failing addresses and many distinct failing
//! accounts in a window, although each address stays low.
//!
//! This is a list replay spread over rented servers of one hosting network: every address stays
//! below `stuffing.ip`, but together they fail against hundreds of accounts. Three gates keep
//! the big residential ISPs and mobile carriers (whose customers fail at the background rate)
//! silent: the number of *low* failing addresses (each below `max_failures_per_address`), the
//! number of distinct failing accounts, and the share of the ASN's logins in the window that
//! fail (a carrier's customers mostly log in successfully; a list replay mostly fails).
//!
//! Needs an ASN database: without `ev.asn` the rule is silent.

mod config;
mod evidence;
mod rule;

pub use config::StuffingAsnConfig;
pub use evidence::{AddressFailures, StuffingAsnEvidence, StuffingAsnThresholds};
pub use rule::StuffingAsnDetector;

/// The rule's stable id (`alerts.md`).
pub const ID: &str = "stuffing.asn";

/// The rule's row of the README's rule table (checked against `README.md` by a test).
pub const README_ROW: &str = include_str!("doc.md");

/// The settings type the registry puts under `[detect.stuffing_asn]`.
pub type Config = StuffingAsnConfig;

/// The evidence type of the rule's alerts, which the registry puts in [`crate::alert::Evidence`].
pub type Evidence = StuffingAsnEvidence;
