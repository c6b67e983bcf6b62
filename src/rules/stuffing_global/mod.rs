//! `stuffing.global`: the site-wide failed-login rate jumps above its own baseline.
//!
//! A list spread over thousands of residential proxies at one or two tries each is invisible per
//! address and per ASN; only the whole site sees it. The detector cuts event time into minutes
//! and measures, per minute, the number of *distinct failing addresses* and the number of
//! unknown-account failures with each address's contribution capped. Counting addresses (and
//! capping each one) is what keeps a burst from ONE address, already `stuffing.ip`, from making
//! a global alert by itself.
//!
//! The baseline is robust: the median and the median absolute deviation (MAD) of each measure
//! over the last `baseline_minutes` closed minutes. A minute is hot when a measure exceeds
//! `median + mad_factor × max(1.4826 × MAD, 1)` and an absolute floor. A burst opens an episode
//! after `consecutive_minutes` hot minutes in a row and ends after `quiet_minutes` cold minutes;
//! nothing fires before `warmup_minutes` minutes of baseline exist. The alert names the burst's
//! start, its end so far (`last_seen`), the peak per minute, the baseline, and the top ASNs and
//! addresses (bounded, sorted by count then key).
//!
//! Minutes are closed as the watermark passes them, in `observe` and in `advance`. A late event
//! whose minute is already closed is counted in the open minute.

mod config;
mod evidence;
mod rule;

pub use config::StuffingGlobalConfig;
pub use evidence::{BurstAddress, BurstAsn, StuffingGlobalEvidence, StuffingGlobalThresholds};
pub use rule::StuffingGlobalDetector;

/// The rule's stable id (`alerts.md`).
pub const ID: &str = "stuffing.global";

/// The rule's row of the README's rule table (checked against `README.md` by a test).
pub const README_ROW: &str = include_str!("doc.md");

/// The settings type the registry puts under `[detect.stuffing_global]`.
pub type Config = StuffingGlobalConfig;

/// The evidence type of the rule's alerts, which the registry puts in [`crate::alert::Evidence`].
pub type Evidence = StuffingGlobalEvidence;
