//! Sinks: where alerts go.
//!
//! A sink receives every alert in emission order. `finish` is called once at the end of a run
//! (reports that need every alert write there). Sinks never call back into detectors.

use crate::alert::Alert;
use crate::error::SinkError;
use crate::event::{Asn, AuthEvent};
use crate::stats::RunStats;

pub mod jsonl;
pub mod webhook;

pub use jsonl::JsonlSink;
pub use webhook::{
    WebhookConfig, WebhookCounts, WebhookError, WebhookFormat, WebhookSink, WebhookStats,
    load_secret, spool_dir_for,
};

/// What a sink may want to know at the end of a run, besides the alerts.
pub struct RunContext<'a> {
    /// The run's counters (inputs, lines, rejections, events by kind).
    pub stats: &'a RunStats,
    /// The organisation behind an ASN, when an ASN database is loaded.
    pub as_org: &'a dyn Fn(Asn) -> Option<String>,
}

/// A destination for alerts.
pub trait Sink {
    /// Delivers one alert.
    fn emit(&mut self, alert: &Alert) -> Result<(), SinkError>;

    /// True when the sink also wants every event (reports). Asked once per run, so sinks that
    /// only want alerts cost nothing per event.
    fn wants_events(&self) -> bool {
        false
    }

    /// Sees every event after enrichment and de-duplication, in event-time order, before the
    /// detectors' alerts for it are emitted. Only called when [`Sink::wants_events`] is true.
    fn observe_event(&mut self, _ev: &AuthEvent) {}

    /// Makes every alert emitted so far durable (on disk or delivered): live mode calls it
    /// before it writes a checkpoint, so no alert of a checkpointed line can be lost.
    fn checkpoint(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Called once after the last alert and before [`Sink::finish`], with the run's counters.
    fn summarize(&mut self, _ctx: &RunContext<'_>) {}

    /// Flushes and closes; called once after the last alert.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
