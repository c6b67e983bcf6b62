//! The engine: everything between decoded events and alerts, whichever driver feeds it.
//!
//! ```text
//! push(event) ─ de-duplication across inputs ─ batch ─ order/watermark ─ enrich ─ login history
//!             ─ rules (parallel) ─ rules that act on alerts (one batch behind) ─ take()
//! ```
//!
//! A driver (`scan`, `tail`, `explain`, and later workers on a distributed stream) decodes
//! lines into [`AuthEvent`]s in event-time order and talks to the engine through a small API:
//!
//! - [`Engine::push`] an event; events are held until a batch is full (or [`Engine::flush`]);
//! - [`Engine::flush`] runs everything pushed so far through detection;
//! - [`Engine::advance`] tells it that event time went on without an event (live idle ticks);
//! - [`Engine::finish`] ends the input: windows close at the last event time;
//! - [`Engine::take`] hands out what detection produced, in delivery order: each event with the
//!   alerts it caused, or alerts raised by time passing;
//! - [`Engine::states`] / [`Engine::states_mut`] expose every piece of per-key state (the rules
//!   and the login history) for snapshots, restores and the memory budget.
//!
//! The engine never reads files, clocks or sinks: delivering alerts, counting them per input and
//! gating re-sends after a restart are the driver's (see `drivers::outlet`). So the same events
//! give the same alerts, in the same order with the same ids, from any driver, for any batch
//! size and any number of threads.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::alert::Alert;
use crate::config::Config;
use crate::detect::{Detector, LoginHistories, MAX_REPEAT, RuleState};
use crate::enrich::Enricher;
use crate::enrich::asn::AsnEnricher;
use crate::error::Error;
use crate::event::{Asn, AuthEvent, SourceId};
use crate::stats::RunStats;
use crate::time::Timestamp;

pub mod dedup;
mod parallel;

pub use dedup::OverlapDedup;
use parallel::{StagedBatch, run_consumers, run_producers};

/// Events per detection batch. On the 2 M-line JSON bench, 4,096 events per detection batch
/// (and 8,192 lines per decode batch) took 2.4–3.4 s, 32,768 (and 65,536) 2.1–2.2 s and 96 MB
/// more peak RSS.
pub const DETECT_BATCH: usize = 32_768;

/// Events between two measurements of the rules' state against the memory budget, while the
/// state is below half the budget, and once above it.
const BUDGET_CHECK_EVERY: u32 = 65_536;
const BUDGET_CHECK_NEAR: u32 = 16_384;

/// What detection produced, in delivery order (see [`Engine::take`]).
#[derive(Debug)]
pub enum Output {
    /// Events that went through detection, each beside the alerts it caused (the rules' alerts
    /// in rule order, then the alerts derived from them).
    Events(Detected),
    /// Alerts raised by event time passing without an event (idle ticks, end of input).
    Alerts(Vec<Alert>),
}

/// A batch of events through every rule.
#[derive(Debug, Default)]
pub struct Detected {
    /// The events, enriched and annotated with their login context, in event-time order.
    pub events: Vec<AuthEvent>,
    /// Beside each event, its alerts (same length as `events`).
    pub alerts: Vec<Vec<Alert>>,
}

/// The engine's options beyond the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineOptions {
    /// Count copies of one action logged by several inputs once (only meaningful with two or
    /// more inputs; `[input] dedup_overlapping_sources` must also be on).
    pub several_inputs: bool,
    /// The driver enriches events itself before pushing them (on its decoding threads, with
    /// [`Enricher::fork`]); the engine keeps its enricher only for organisation names.
    pub enriched_upstream: bool,
}

/// Detection over a stream of decoded events. See the module documentation.
pub struct Engine {
    enricher: Option<Box<dyn Enricher>>,
    enriched_upstream: bool,
    /// The rules, in the order their alerts are delivered for one event.
    detectors: Vec<Box<dyn Detector>>,
    /// The login history the account rules share, kept ahead of them (a service the rules read
    /// through each event's login context); `None` when no rule reads it.
    history: Option<LoginHistories>,
    dedup: Option<OverlapDedup>,
    released: Vec<AuthEvent>,
    /// Events pushed, waiting to make up a batch.
    pending: Vec<AuthEvent>,
    /// A batch that went through the rules that do not consume alerts, waiting for the ones
    /// that do (see [`Engine::detect`]).
    staged: Option<StagedBatch>,
    ready: VecDeque<Output>,
    lateness: i64,
    /// The newest event time seen.
    watermark: Timestamp,
    /// Bytes the rules' state may hold.
    budget: usize,
    events_since_budget_check: u32,
    budget_check_every: u32,
    batch_size: usize,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.detectors.len())
            .field("watermark", &self.watermark)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// Builds the ASN enricher named by the config, if any.
pub fn build_enricher(cfg: &Config) -> Result<Option<Box<dyn Enricher>>, Error> {
    match cfg.asn.open()? {
        Some(db) => Ok(Some(Box::new(AsnEnricher::new(Arc::new(db))))),
        None => Ok(None),
    }
}

/// Builds the enabled rules, in the order their alerts are delivered for one event (the rule
/// registry, [`crate::rules`]). Rules that keep all their state per account, client address or
/// ship-to are sharded by that key: their shards run in parallel.
pub fn build_detectors(cfg: &Config) -> Vec<Box<dyn Detector>> {
    crate::rules::detectors(&cfg.detect, true)
}

/// The shared login history, when a rule that reads it is enabled (sized by the rules that read
/// it, see [`crate::rules::build_history`]).
pub fn build_history(cfg: &Config) -> Option<LoginHistories> {
    crate::rules::build_history(&cfg.detect)
}

impl Engine {
    /// An engine with the rules of `cfg`, enriching with `enricher` (see [`build_enricher`]).
    pub fn new(cfg: &Config, enricher: Option<Box<dyn Enricher>>, opts: EngineOptions) -> Engine {
        Engine::with_detectors(cfg, enricher, opts, build_detectors(cfg))
    }

    fn with_detectors(
        cfg: &Config,
        enricher: Option<Box<dyn Enricher>>,
        opts: EngineOptions,
        detectors: Vec<Box<dyn Detector>>,
    ) -> Engine {
        let dedup = (cfg.input.dedup_overlapping_sources && opts.several_inputs)
            .then(|| OverlapDedup::new(cfg.input.overlap_tolerance.millis()));
        Engine {
            enriched_upstream: opts.enriched_upstream && enricher.is_some(),
            enricher,
            detectors,
            history: build_history(cfg),
            dedup,
            released: Vec::new(),
            pending: Vec::new(),
            staged: None,
            ready: VecDeque::new(),
            lateness: cfg.input.allowed_lateness.millis(),
            watermark: Timestamp(i64::MIN),
            budget: usize::try_from(cfg.limits.memory_budget_mb.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            events_since_budget_check: 0,
            budget_check_every: BUDGET_CHECK_EVERY,
            batch_size: DETECT_BATCH,
        }
    }

    /// The newest event time seen (`Timestamp(i64::MIN)` before the first event).
    pub fn watermark(&self) -> Timestamp {
        self.watermark
    }

    /// Sets the newest event time seen, when continuing from a checkpoint.
    pub fn restore_watermark(&mut self, watermark: Timestamp) {
        self.watermark = watermark;
    }

    /// The bytes the rules' state may hold (`[limits] memory_budget_mb`).
    pub fn memory_budget(&self) -> u64 {
        self.budget as u64
    }

    /// The organisation behind an ASN, when an ASN database is loaded.
    pub fn as_org(&self, asn: Asn) -> Option<&str> {
        self.enricher.as_ref().and_then(|e| e.as_org(asn))
    }

    /// Takes one event, decoded and in event-time order (up to the allowed lateness). It goes
    /// through detection when its batch is full, or at the next [`Engine::flush`].
    pub fn push(&mut self, ev: AuthEvent, stats: &mut RunStats) {
        match &mut self.dedup {
            Some(d) => {
                d.push(ev, &mut self.released);
                self.pending.append(&mut self.released);
            }
            None => self.pending.push(ev),
        }
        if self.pending.len() >= self.batch_size {
            let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(self.batch_size));
            self.detect(batch, stats);
        }
    }

    /// Releases the events held back to be paired with a copy from another input (before
    /// [`Engine::flush`], when no more copies can come: live mode's idle spells, a checkpoint,
    /// the end of input).
    pub fn release_held(&mut self) {
        if let Some(d) = &mut self.dedup {
            d.flush(&mut self.released);
            self.pending.append(&mut self.released);
        }
    }

    /// Runs every event pushed so far through detection (except copies held back for pairing
    /// across inputs, see [`Engine::release_held`]), so that [`Engine::take`] hands out all
    /// their alerts.
    pub fn flush(&mut self, stats: &mut RunStats) {
        if !self.pending.is_empty() {
            let batch = std::mem::take(&mut self.pending);
            self.detect(batch, stats);
        }
        self.finish_staged();
    }

    /// Event time went on to `now` without an event (live mode's idle ticks): windows drain and
    /// episodes close on time. The watermark stays the newest event time: what moves is the
    /// rules' view, not the evidence. Call [`Engine::release_held`] and [`Engine::flush`]
    /// first.
    pub fn advance(&mut self, now: Timestamp) {
        if now <= self.watermark {
            return;
        }
        self.advance_rules(now);
    }

    /// The end of the input: everything pushed goes through detection, then every rule's
    /// windows close at the newest event time. The state is measured one last time.
    pub fn finish(&mut self, stats: &mut RunStats) {
        self.release_held();
        self.flush(stats);
        self.advance_rules(self.watermark);
        self.enforce_budget(stats);
    }

    /// The next output of detection, in delivery order, with organisation names filled in.
    pub fn take(&mut self) -> Option<Output> {
        let mut out = self.ready.pop_front()?;
        if let Some(e) = &self.enricher {
            let fill = |a: &mut Alert| {
                if let (Some(asn), None) = (a.asn, &a.as_org) {
                    a.as_org = e.as_org(asn).map(str::to_string);
                }
            };
            match &mut out {
                Output::Events(d) => d.alerts.iter_mut().flatten().for_each(fill),
                Output::Alerts(a) => a.iter_mut().for_each(fill),
            }
        }
        Some(out)
    }

    /// Copies dropped by the de-duplication across inputs, per input.
    pub fn duplicates(&self) -> Vec<(SourceId, u64)> {
        self.dedup.as_ref().map(|d| d.dropped()).unwrap_or_default()
    }

    /// Everything that holds per-key state, for checkpoints, the memory budget and the
    /// counters: the rules, then the shared login history.
    pub fn states(&self) -> impl Iterator<Item = &dyn RuleState> {
        self.detectors
            .iter()
            .map(|d| d.as_ref() as &dyn RuleState)
            .chain(self.history.iter().map(|h| h as &dyn RuleState))
    }

    /// [`Engine::states`], to restore or evict.
    pub fn states_mut(&mut self) -> impl Iterator<Item = &mut dyn RuleState> {
        self.detectors
            .iter_mut()
            .map(|d| d.as_mut() as &mut dyn RuleState)
            .chain(self.history.iter_mut().map(|h| h as &mut dyn RuleState))
    }

    /// The counters of every piece of state (keys tracked, evicted), for the run summary.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.states().flat_map(|d| d.counters()).collect()
    }

    /// Counts, orders and enriches an event before detection.
    fn prepare(&mut self, ev: &mut AuthEvent, stats: &mut RunStats) {
        let repeat = ev.repeat.clamp(1, MAX_REPEAT);
        stats.count_event(ev.kind, ev.outcome, u64::from(repeat));
        if ev.ts.0 < self.watermark.0.saturating_sub(self.lateness) {
            stats.late_events += 1;
        }
        self.watermark = self.watermark.max(ev.ts);
        if let Some(e) = &mut self.enricher
            && !self.enriched_upstream
        {
            e.enrich(ev);
        }
        if let Some(h) = &mut self.history {
            h.annotate(ev);
        }
    }

    /// Detection over one batch, in parallel. The rules that do not act on other rules' alerts
    /// take this batch, each rule (and each shard of a sharded rule) as a task on rayon's pool,
    /// while on a thread of their own the ones that do (`compromise.login`) take the previous
    /// batch, with each of its events' alerts handed to them before the next event — exactly
    /// what one rule after the other would do, so the alerts, their order and ids are the same
    /// for any batch size and any number of threads. The previous batch is then ready.
    fn detect(&mut self, mut events: Vec<AuthEvent>, stats: &mut RunStats) {
        for ev in &mut events {
            self.prepare(ev, stats);
        }
        let staged = self.staged.take();
        let mut producers: Vec<(usize, &mut Box<dyn Detector>)> = Vec::new();
        let mut takers: Vec<(usize, &mut Box<dyn Detector>)> = Vec::new();
        for (i, d) in self.detectors.iter_mut().enumerate() {
            if d.consumes_alerts() {
                takers.push((i, d));
            } else {
                producers.push((i, d));
            }
        }
        let (produced, finished) = std::thread::scope(|scope| {
            let handle = staged.map(|st| scope.spawn(move || run_consumers(&mut takers, st)));
            let produced = run_producers(&mut producers, &events);
            let finished = handle.map(|h| match h.join() {
                Ok(done) => done,
                // A rule panicked on the other thread: let the panic go on here.
                Err(p) => std::panic::resume_unwind(p),
            });
            (produced, finished)
        });
        let n = u32::try_from(events.len()).unwrap_or(u32::MAX);
        self.staged = Some(StagedBatch { events, produced });
        if let Some(done) = finished {
            self.ready.push_back(Output::Events(done));
        }
        self.events_since_budget_check = self.events_since_budget_check.saturating_add(n);
        if self.events_since_budget_check >= self.budget_check_every {
            self.events_since_budget_check = 0;
            self.enforce_budget(stats);
        }
    }

    /// The staged batch through the rules that consume alerts; then it is ready.
    fn finish_staged(&mut self) {
        let Some(staged) = self.staged.take() else {
            return;
        };
        let mut takers: Vec<(usize, &mut Box<dyn Detector>)> = self
            .detectors
            .iter_mut()
            .enumerate()
            .filter(|(_, d)| d.consumes_alerts())
            .collect();
        let done = run_consumers(&mut takers, staged);
        self.ready.push_back(Output::Events(done));
    }

    /// Every rule's windows move to `now`; the alerts this raises are shown to every rule (one
    /// level: alerts raised in response are delivered, not shown again) and made ready.
    fn advance_rules(&mut self, now: Timestamp) {
        let mut alerts = Vec::new();
        for d in &mut self.detectors {
            d.advance(now, &mut alerts);
        }
        if alerts.is_empty() {
            return;
        }
        let mut derived = Vec::new();
        for alert in &alerts {
            for d in &mut self.detectors {
                d.on_alert(alert, &mut derived);
            }
        }
        alerts.extend(derived);
        self.ready.push_back(Output::Alerts(alerts));
    }

    /// Measures the state and, above the budget, has each piece evict its least recently
    /// active keys down to its share of 70 % of the budget (shares in proportion to what each
    /// holds), so that the next checks do not evict again at once.
    fn enforce_budget(&mut self, stats: &mut RunStats) {
        let sizes: Vec<usize> = self.states().map(|d| d.state_bytes()).collect();
        let total: usize = sizes.iter().sum();
        if total as u64 > stats.peak_state_bytes {
            stats.peak_state_bytes = total as u64;
            stats.peak_state_by_detector = self
                .states()
                .zip(&sizes)
                .map(|(d, b)| (d.state_name(), *b as u64))
                .collect();
        }
        // Measuring walks many keys, so it is done rarely while far below the budget and often
        // once near it, which keeps the overshoot between checks small.
        self.budget_check_every = if total > self.budget / 2 {
            BUDGET_CHECK_NEAR
        } else {
            BUDGET_CHECK_EVERY
        };
        if total <= self.budget {
            return;
        }
        let target = self.budget / 10 * 7;
        for (d, size) in self.states_mut().zip(sizes) {
            let share = (size as u128 * target as u128 / total as u128) as usize;
            stats.budget_evictions += d.evict_to(share);
        }
    }
}

#[cfg(test)]
mod tests;
