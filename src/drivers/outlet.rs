//! Where the engine's output goes: the sinks, the per-input alert counts, and (in live mode) the
//! gate that keeps alerts sent before a restart from being sent again.

use std::collections::HashMap;

use crate::alert::Alert;
use crate::engine::{Engine, Output};
use crate::error::SinkError;
use crate::event::SourceId;
use crate::sink::{RunContext, Sink};
use crate::stats::RunStats;

/// Live mode's say over alerts: whether to deliver one, and a note once it was delivered.
pub(crate) trait AlertGate {
    /// False: do not deliver `alert` (it was delivered before a restart).
    fn allow(&mut self, alert: &Alert) -> bool;
    /// `alert` was handed to every sink.
    fn delivered(&mut self, alert: &Alert) -> Result<(), SinkError>;
    /// A checkpoint covering every alert delivered so far was written.
    fn checkpointed(&mut self) -> Result<(), SinkError>;
    /// Alerts not delivered because they were delivered before.
    fn suppressed(&self) -> u64;
}

/// Delivers the engine's output to the sinks, in order: each event to the sinks that want
/// events (reports), then the event's alerts.
pub(crate) struct Outlet<'a> {
    sinks: &'a mut [Box<dyn Sink>],
    /// Indexes of the sinks that want every event.
    event_sinks: Vec<usize>,
    /// Input names by source id, for attributing alerts in the summary.
    pub(crate) names: HashMap<SourceId, String>,
    /// Live mode: sees each alert before the sinks.
    pub(crate) gate: Option<Box<dyn AlertGate + 'a>>,
}

impl<'a> Outlet<'a> {
    /// An outlet to `sinks`, naming inputs by `names`.
    pub(crate) fn new(sinks: &'a mut [Box<dyn Sink>], names: HashMap<SourceId, String>) -> Self {
        let event_sinks = (0..sinks.len())
            .filter(|&i| sinks.get(i).is_some_and(|s| s.wants_events()))
            .collect();
        Outlet {
            sinks,
            event_sinks,
            names,
            gate: None,
        }
    }

    /// Delivers everything the engine has ready.
    pub(crate) fn drain(
        &mut self,
        engine: &mut Engine,
        stats: &mut RunStats,
    ) -> Result<(), SinkError> {
        while let Some(out) = engine.take() {
            self.deliver(out, stats)?;
        }
        Ok(())
    }

    fn deliver(&mut self, out: Output, stats: &mut RunStats) -> Result<(), SinkError> {
        match out {
            Output::Events(done) => {
                for (ev, alerts) in done.events.iter().zip(done.alerts) {
                    for &i in &self.event_sinks {
                        if let Some(s) = self.sinks.get_mut(i) {
                            s.observe_event(ev);
                        }
                    }
                    self.emit(alerts, Some(ev.origin.source), stats)?;
                }
                Ok(())
            }
            Output::Alerts(alerts) => self.emit(alerts, None, stats),
        }
    }

    /// Hands alerts to every sink; `source`: the input whose event raised them (`None`: time
    /// passing, or the end of input).
    fn emit(
        &mut self,
        alerts: Vec<Alert>,
        source: Option<SourceId>,
        stats: &mut RunStats,
    ) -> Result<(), SinkError> {
        for alert in alerts {
            if let Some(gate) = &mut self.gate
                && !gate.allow(&alert)
            {
                continue;
            }
            *stats.alerts.entry(alert.rule).or_insert(0) += 1;
            let name = match source.and_then(|c| self.names.get(&c)) {
                Some(name) => name.clone(),
                None => "end of input".to_string(),
            };
            *stats.alert_sources.entry((alert.rule, name)).or_insert(0) += 1;
            for s in self.sinks.iter_mut() {
                s.emit(&alert)?;
            }
            if let Some(gate) = &mut self.gate {
                gate.delivered(&alert)?;
            }
        }
        Ok(())
    }

    /// Asks every sink to make the alerts emitted so far durable (before a checkpoint).
    pub(crate) fn checkpoint(&mut self) -> Result<(), SinkError> {
        for s in self.sinks.iter_mut() {
            s.checkpoint()?;
        }
        Ok(())
    }

    /// Ends a run: the engine's counters go into `stats`, then every sink summarizes and
    /// finishes.
    pub(crate) fn finish(
        &mut self,
        engine: &Engine,
        stats: &mut RunStats,
    ) -> Result<(), SinkError> {
        stats.detector_counters.extend(engine.counters());
        let as_org = |asn| engine.as_org(asn).map(str::to_string);
        let ctx = RunContext {
            stats,
            as_org: &as_org,
        };
        for s in self.sinks.iter_mut() {
            s.summarize(&ctx);
        }
        for s in self.sinks.iter_mut() {
            s.finish()?;
        }
        Ok(())
    }

    /// Names each input's dropped copies, for the summary.
    pub(crate) fn name_duplicates(&self, engine: &Engine) -> Vec<(String, u64)> {
        engine
            .duplicates()
            .into_iter()
            .filter_map(|(id, n)| self.names.get(&id).map(|name| (name.clone(), n)))
            .collect()
    }
}
