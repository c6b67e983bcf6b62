//! Detectors: the only stateful stage.
//!
//! A detector receives normalized events in event-time order and emits alerts. It owns its
//! windows, never reads files or the wall clock, and never knows which log format an event came
//! from. The same events in the same order always give the same alerts.

use crate::alert::Alert;
use crate::event::AuthEvent;
use crate::time::Timestamp;

pub mod compromise;
pub mod episode;
pub mod stuffing_ip;
pub mod takeover;

pub use compromise::{CompromiseConfig, CompromiseDetector};
pub use episode::{Episode, Episodes};
pub use stuffing_ip::{StuffingIpConfig, StuffingIpDetector};
pub use takeover::{TakeoverConfig, TakeoverDetector};

/// A detection rule over the event stream.
pub trait Detector: Send {
    /// The rule id this detector emits (`stuffing.ip`).
    fn name(&self) -> &'static str;

    /// Called once per event, in event-time order. Alerts go to `out`.
    fn observe(&mut self, ev: &AuthEvent, out: &mut Vec<Alert>);

    /// Called with every alert any detector emitted, right after the event that caused it, so
    /// that a rule can build on another one (a successful login from an address that takes part
    /// in a stuffing alert is `compromise.login`). Alerts emitted here are delivered but not fed
    /// back again, so rules cannot loop.
    fn on_alert(&mut self, _alert: &Alert, _out: &mut Vec<Alert>) {}

    /// Called when event time has advanced to `watermark` without an event for this detector
    /// (and at the end of input), so windows can expire. Calling it twice with the same
    /// watermark has no further effect.
    fn advance(&mut self, _watermark: Timestamp, _out: &mut Vec<Alert>) {}

    /// Counters for the run summary, such as keys tracked and keys evicted.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}
