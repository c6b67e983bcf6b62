//! Sinks: where alerts go.
//!
//! A sink receives every alert in emission order. `finish` is called once at the end of a run
//! (reports that need every alert write there). Sinks never call back into detectors.

use crate::alert::Alert;
use crate::error::SinkError;

pub mod jsonl;
pub mod webhook;

pub use jsonl::JsonlSink;
pub use webhook::{
    WebhookConfig, WebhookCounts, WebhookError, WebhookFormat, WebhookSink, WebhookStats,
    load_secret, spool_dir_for,
};

/// A destination for alerts.
pub trait Sink {
    /// Delivers one alert.
    fn emit(&mut self, alert: &Alert) -> Result<(), SinkError>;

    /// Flushes and closes; called once after the last alert.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
