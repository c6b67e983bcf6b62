//! The pipeline: the only module that wires the stages together.
//!
//! ```text
//! inputs ─ open (gzip, sniff) ─ decode (rayon, one batch ahead per input)
//!        ─ merge in event-time order ─ enrich ─ detectors ─ sinks
//! ```
//!
//! Each input is decoded in batches on the rayon pool: while the merge consumes batch *k* of an
//! input, batch *k+1* is already being decoded. A job sends exactly one batch into a channel
//! with room for it, so pool threads never block and any number of inputs works on any number of
//! threads. The merge takes the earliest head event across inputs (ties broken by input and line
//! number), so several servers' logs of one site are interleaved as they happened and the
//! output does not depend on thread timing.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crossbeam_channel::{Receiver, bounded};
use serde::Serialize;

use crate::alert::{Alert, EntityKind};
use crate::config::Config;
use crate::decode::{Decoder, DecoderFactory, Format};
use crate::dedup::OverlapDedup;
use crate::detect::{Detector, LoginHistories, RuleState, TaggedAlert};
use crate::enrich::Enricher;
use crate::enrich::asn::AsnEnricher;
use crate::error::{Error, ParseError, SinkError, SourceError};
use crate::event::{AuthEvent, LineMeta, SourceId, lossless_text};
use crate::sink::{RunContext, Sink};
use crate::source::{self, Input, InputPath, LineInfo, LineReader, looks_binary};
use crate::stats::{RejectSample, RunStats, SourceReport, SourceStats};
use crate::time::{Timestamp, wall_clock_now};

/// Lines decoded per batch: large enough to amortize the hand-off between decoding and
/// detection (each batch ends in a wait for both), small enough to keep memory per input at
/// a few tens of MB. On the 2 M-line JSON bench, 8,192 lines per batch (and 4,096 events per
/// detection batch) took 2.4–3.4 s, 65,536 (and 32,768) 2.1–2.2 s and 96 MB more peak RSS.
const BATCH_LINES: usize = 65_536;

use crate::detect::MAX_REPEAT;

/// What to read and how.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Files, directories, or `-`.
    pub paths: Vec<PathBuf>,
    /// Stop at the first rejected line.
    pub strict: bool,
    /// Told how far a scan has got (a progress bar).
    pub progress: Option<Arc<dyn Progress>>,
}

/// Receives a scan's progress: the binary draws a progress bar with it.
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// The bytes all inputs hold (their sizes on disk; compressed inputs count as their
    /// compressed size), known once the inputs are opened.
    fn start(&self, total_bytes: u64);
    /// Bytes and lines read so far (decompressed bytes for compressed inputs are scaled to
    /// their share of the file, so the bar still ends at the total).
    fn update(&self, bytes: u64, lines: u64);
    /// The scan is over.
    fn finish(&self);
}

/// The result of classifying one line.
pub(crate) enum LineOutcome {
    Event(AuthEvent),
    Irrelevant,
    Blank,
    Rejected(ParseError),
}

pub(crate) fn classify(
    decoder: &mut dyn Decoder,
    line: &[u8],
    info: &LineInfo,
    source: crate::event::SourceId,
    max_line: usize,
) -> LineOutcome {
    if info.too_long {
        return LineOutcome::Rejected(ParseError::with_detail(
            "line_too_long",
            format!("{} bytes, limit {max_line}", info.length),
        ));
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return LineOutcome::Blank;
    }
    let meta = LineMeta {
        source,
        line: info.number,
    };
    match decoder.decode(line, &meta) {
        Ok(Some(ev)) => LineOutcome::Event(ev),
        Ok(None) => LineOutcome::Irrelevant,
        // A last line without a terminator that does not parse was most likely cut off while
        // being written: say so rather than blaming the format.
        Err(e) if !info.terminated => LineOutcome::Rejected(ParseError::with_detail(
            "truncated_last_line",
            e.to_string(),
        )),
        Err(e) => LineOutcome::Rejected(e),
    }
}

/// Asks the decoder for a record it still holds at the end of the input.
fn finish_input(
    decoder: &mut dyn Decoder,
    reader: &LineReader,
    source: crate::event::SourceId,
) -> LineOutcome {
    let meta = LineMeta {
        source,
        line: reader.lines_read(),
    };
    match decoder.finish(&meta) {
        Ok(Some(ev)) => LineOutcome::Event(ev),
        Ok(None) => LineOutcome::Blank,
        Err(e) => LineOutcome::Rejected(e),
    }
}

/// One input being decoded on the pool.
struct DecodeJob {
    reader: LineReader,
    decoder: Box<dyn Decoder>,
    /// More decoders for the same input when its lines decode independently: each batch is
    /// then split and decoded on several threads (`--threads`), and merged back in line order.
    forks: Vec<Box<dyn Decoder>>,
    source: crate::event::SourceId,
    display: Arc<str>,
    strict: bool,
    max_line: usize,
    max_samples: usize,
    buf: Vec<u8>,
    /// The lines of a parallel batch, back to back: kept from batch to batch (tens of MB that
    /// would otherwise be fresh memory, faulted in and zeroed, for every batch).
    arena: Vec<u8>,
    spans: Vec<(usize, usize, LineInfo)>,
    /// Each line's outcome, drained into the batch: kept for the same reason.
    outcomes: Vec<(u64, LineOutcome)>,
    /// Enriches the events here, on the decoding side, when the engine's enricher can be
    /// copied to another thread ([`Enricher::fork`]): the lookups leave the merge thread.
    enricher: Option<Box<dyn Enricher>>,
    /// Where that copy comes from, until it is taken (see [`EnricherSource`]).
    upstream: Option<Arc<EnricherSource>>,
}

/// The copy of the engine's enricher decoding jobs fork theirs from, set once it is loaded
/// (`None` inside: enrich on the merge thread).
type EnricherSource = std::sync::OnceLock<Mutex<Option<Box<dyn Enricher>>>>;

/// Inputs smaller than this are decoded by one thread.
const PARALLEL_DECODE_MIN_BYTES: u64 = 4 << 20;

/// The size of a plain file input (compressed inputs and stdin count as large: their size on
/// disk says little).
fn input_bytes(p: &Prepared) -> u64 {
    match &p.input.path {
        InputPath::File(path) if !p.compressed => std::fs::metadata(path).map_or(0, |m| m.len()),
        _ => u64::MAX,
    }
}

/// What one job hands back.
struct Batch {
    events: Vec<AuthEvent>,
    stats: SourceStats,
    /// The job, to continue with; `None` once the input is finished or failed.
    job: Option<Box<DecodeJob>>,
    error: Option<SourceError>,
}

impl DecodeJob {
    /// Reads and decodes up to a batch of lines one by one with the input's decoder. Sets
    /// `finished` at the end of the input (after asking the decoder for a pending record).
    fn decode_in_order(
        &mut self,
        buf: &mut Vec<u8>,
        stats: &mut SourceStats,
        finished: &mut bool,
        error: &mut Option<SourceError>,
    ) -> Vec<(u64, LineOutcome)> {
        let mut out = std::mem::take(&mut self.outcomes);
        out.clear();
        for _ in 0..BATCH_LINES {
            match self.reader.next_line(buf) {
                Ok(Some(info)) => {
                    stats.lines += 1;
                    let outcome = classify(
                        self.decoder.as_mut(),
                        buf,
                        &info,
                        self.source,
                        self.max_line,
                    );
                    out.push((info.number, outcome));
                }
                Ok(None) => {
                    *finished = true;
                    self.finish_into(&mut out);
                    break;
                }
                Err(e) => {
                    *finished = true;
                    let path = PathBuf::from(&*self.display);
                    *error = Some(SourceError::Io { path, source: e });
                    break;
                }
            }
        }
        out
    }

    /// Reads a batch of lines, then decodes its parts on several threads with the forked
    /// decoders, in line order.
    fn decode_in_parallel(
        &mut self,
        buf: &mut Vec<u8>,
        stats: &mut SourceStats,
        finished: &mut bool,
        error: &mut Option<SourceError>,
    ) -> Vec<(u64, LineOutcome)> {
        let mut arena = std::mem::take(&mut self.arena);
        let mut spans = std::mem::take(&mut self.spans);
        arena.clear();
        spans.clear();
        for _ in 0..BATCH_LINES {
            match self.reader.next_line(buf) {
                Ok(Some(info)) => {
                    stats.lines += 1;
                    let start = arena.len();
                    arena.extend_from_slice(buf);
                    spans.push((start, arena.len(), info));
                }
                Ok(None) => {
                    *finished = true;
                    break;
                }
                Err(e) => {
                    *finished = true;
                    let path = PathBuf::from(&*self.display);
                    *error = Some(SourceError::Io { path, source: e });
                    break;
                }
            }
        }
        let parts = self.forks.len() + 1;
        let per = spans.len().div_ceil(parts).max(1);
        let (source, max_line) = (self.source, self.max_line);
        let mut decoders: Vec<&mut Box<dyn Decoder>> = Vec::with_capacity(parts);
        decoders.push(&mut self.decoder);
        decoders.extend(self.forks.iter_mut());
        let lines = &arena;
        // Each decoder writes its part of the batch in place: no per-part vectors to join.
        let mut out = std::mem::take(&mut self.outcomes);
        out.clear();
        out.resize_with(spans.len(), || (0, LineOutcome::Blank));
        decoders
            .into_par_iter()
            .zip(spans.par_chunks(per))
            .zip(out.par_chunks_mut(per))
            .for_each(|((d, chunk), dst)| {
                for ((a, b, info), slot) in chunk.iter().zip(dst.iter_mut()) {
                    let line = lines.get(*a..*b).unwrap_or_default();
                    *slot = (
                        info.number,
                        classify(d.as_mut(), line, info, source, max_line),
                    );
                }
            });
        self.arena = arena;
        self.spans = spans;
        if *finished && error.is_none() {
            self.finish_into(&mut out);
        }
        out
    }

    /// At the end of the input: a record the decoder still holds.
    fn finish_into(&mut self, out: &mut Vec<(u64, LineOutcome)>) {
        match finish_input(self.decoder.as_mut(), &self.reader, self.source) {
            // "Nothing pending" is not a blank line.
            LineOutcome::Blank => {}
            other => out.push((self.reader.lines_read(), other)),
        }
    }

    fn run(mut self: Box<Self>) -> Batch {
        let mut stats = SourceStats::default();
        let bytes_before = self.reader.bytes_read();
        let mut buf = std::mem::take(&mut self.buf);
        let mut finished = false;
        let mut error = None;
        let outcomes = if self.forks.is_empty() {
            self.decode_in_order(&mut buf, &mut stats, &mut finished, &mut error)
        } else {
            self.decode_in_parallel(&mut buf, &mut stats, &mut finished, &mut error)
        };
        // At most one event a line: sized once, never grown (and copied).
        let mut events = Vec::with_capacity(outcomes.len());
        if let Some(source) = self.upstream.take() {
            self.enricher = source
                .wait()
                .lock()
                .ok()
                .and_then(|s| s.as_ref().and_then(|e| e.fork()));
        }
        let mut outcomes = outcomes;
        for (line, outcome) in outcomes.drain(..) {
            match outcome {
                LineOutcome::Event(mut ev) => {
                    stats.events += 1;
                    if let Some(e) = &mut self.enricher {
                        e.enrich(&mut ev);
                    }
                    events.push(ev);
                }
                LineOutcome::Irrelevant => stats.irrelevant += 1,
                LineOutcome::Blank => stats.blank += 1,
                LineOutcome::Rejected(e) if self.strict => {
                    finished = true;
                    let path = PathBuf::from(&*self.display);
                    error = Some(SourceError::Rejected {
                        path,
                        line,
                        error: e,
                    });
                    // Lines after the rejected one are not counted as events.
                    break;
                }
                LineOutcome::Rejected(e) => {
                    let sample = RejectSample {
                        line,
                        reason: e.reason,
                        detail: e.detail,
                    };
                    stats.reject(sample, self.max_samples);
                }
            }
        }
        self.buf = buf;
        self.outcomes = outcomes;
        stats.bytes = self.reader.bytes_read() - bytes_before;
        Batch {
            events,
            stats,
            job: if finished { None } else { Some(self) },
            error,
        }
    }
}

/// An input as the merge sees it.
struct Stream {
    report: SourceReport,
    /// The decoded batch being merged (an iterator over it: no copy into a queue).
    buffer: std::vec::IntoIter<AuthEvent>,
    pending: Option<Receiver<Batch>>,
}

fn spawn(job: Box<DecodeJob>) -> Receiver<Batch> {
    let (tx, rx) = bounded(1);
    rayon::spawn(move || {
        // The receiver only goes away when the run is aborting; nothing to report then.
        let _ = tx.send(job.run());
    });
    rx
}

/// An input that was opened and recognized.
struct Prepared {
    input: Input,
    format: Format,
    compressed: bool,
    reader: LineReader,
    decoder: Box<dyn Decoder>,
}

/// Opens every input and picks its decoder. Files found in directories whose format cannot be
/// recognized (READMEs, binaries) are skipped and reported; named files are errors.
fn prepare(
    cfg: &Config,
    factory: &DecoderFactory,
    opts: &RunOptions,
    stats: &mut RunStats,
) -> Result<Vec<Prepared>, Error> {
    let inputs = source::expand_inputs(&opts.paths)?;
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        let opened = match source::open(&input) {
            Ok(o) => o,
            Err(e) if !input.explicit => {
                stats.skipped.push((input.display.clone(), e.to_string()));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if looks_binary(&opened.head) {
            if input.explicit {
                return Err(SourceError::Binary {
                    path: PathBuf::from(&input.display),
                }
                .into());
            }
            stats
                .skipped
                .push((input.display.clone(), "binary file".into()));
            continue;
        }
        if opened.head.is_empty() {
            stats.skipped.push((input.display.clone(), "empty".into()));
            continue;
        }
        let format = match cfg.input.format.or_else(|| factory.detect(&opened.head)) {
            Some(f) => f,
            None if input.explicit => {
                return Err(SourceError::UnknownFormat {
                    path: PathBuf::from(&input.display),
                }
                .into());
            }
            None => {
                stats
                    .skipped
                    .push((input.display.clone(), "not a recognized log format".into()));
                continue;
            }
        };
        let reference = opened.modified.unwrap_or_else(wall_clock_now);
        let decoder = factory.build(format, reference, &opened.head)?;
        out.push(Prepared {
            input,
            format,
            compressed: opened.compressed,
            reader: LineReader::new(opened.reader, cfg.input.max_line_bytes),
            decoder,
        });
    }
    Ok(out)
}

/// Builds the ASN enricher named by the config, if any.
pub fn build_enricher(cfg: &Config) -> Result<Option<Box<dyn Enricher>>, Error> {
    match cfg.asn.open()? {
        Some(db) => Ok(Some(Box::new(AsnEnricher::new(Arc::new(db))))),
        None => Ok(None),
    }
}

/// Builds the enabled detectors, in the order their alerts are delivered for one event (the
/// rule registry, [`crate::rules`]).
pub fn build_detectors(cfg: &Config) -> Vec<Box<dyn Detector>> {
    detectors(cfg, true)
}

/// The enabled detectors, the per-key rules sharded or (`shard` false) as one instance each.
fn detectors(cfg: &Config, shard: bool) -> Vec<Box<dyn Detector>> {
    crate::rules::detectors(&cfg.detect, shard)
}

/// The shared login history, when a rule that reads it is enabled.
pub fn build_history(cfg: &Config) -> Option<LoginHistories> {
    crate::rules::build_history(&cfg.detect)
}

/// The detection half of the pipeline: enrich, detect, deliver, count.
pub(crate) struct Engine<'a> {
    /// Input names by source id, for attributing alerts in the summary.
    pub(crate) names: HashMap<SourceId, String>,
    /// The input of the event being processed (`None` at the end of input).
    current: Option<SourceId>,
    enricher: Option<Box<dyn Enricher>>,
    /// Scan mode: the events arrive enriched (on the decoding threads, see [`Enricher::fork`]).
    enriched_upstream: bool,
    pub(crate) detectors: Vec<Box<dyn Detector>>,
    /// The login history the account rules share, kept ahead of them (see
    /// [`LoginHistories`]); `None` when no rule that reads it is enabled.
    pub(crate) history: Option<LoginHistories>,
    pub(crate) sinks: &'a mut [Box<dyn Sink>],
    /// Live mode: sees each alert before the sinks and says whether to deliver it (an alert
    /// already sent before a restart is not sent again).
    pub(crate) gate: Option<Box<dyn AlertGate + 'a>>,
    /// Scan mode: a batch that went through the detectors that do not consume alerts, waiting
    /// for the ones that do (see [`Engine::process_batch`]).
    staged: Option<StagedBatch>,
    /// Indexes of the sinks that want every event (reports).
    event_sinks: Vec<usize>,
    lateness: i64,
    pub(crate) watermark: Timestamp,
    alerts: Vec<Alert>,
    /// Bytes the detectors' state may hold.
    budget: usize,
    events_since_budget_check: u32,
    budget_check_every: u32,
}

/// Events in detection between the two threads of a scan.
struct StagedBatch {
    events: Vec<AuthEvent>,
    /// Per event: (repeat, detector index, its alerts) of the detectors already run.
    produced: Vec<Vec<(u32, usize, Vec<Alert>)>>,
}

/// Events per batch of parallel detection (see [`BATCH_LINES`]).
const DETECT_BATCH: usize = 32_768;

/// The detectors that do not consume alerts over a batch, in parallel on rayon's pool (and a
/// sharded rule's shards in parallel within it). Per event: (repeat, detector index, alerts),
/// in detector order, as one detector after the other would give them.
fn run_producers(
    detectors: &mut [(usize, &mut Box<dyn Detector>)],
    events: &[AuthEvent],
) -> Vec<Vec<(u32, usize, Vec<Alert>)>> {
    let per_detector: Vec<(usize, Vec<TaggedAlert>)> = detectors
        .par_iter_mut()
        .map(|(i, d)| {
            let mut out = Vec::new();
            d.observe_batch(events, &mut out);
            (*i, out)
        })
        .collect();
    let mut produced: Vec<Vec<(u32, usize, Vec<Alert>)>> = vec![Vec::new(); events.len()];
    for (i, tagged) in per_detector {
        for (ev, rep, alert) in tagged {
            let slot = &mut produced[ev as usize];
            match slot.last_mut() {
                Some((r, d, alerts)) if *r == rep && *d == i => alerts.push(alert),
                _ => slot.push((rep, i, vec![alert])),
            }
        }
    }
    for slot in &mut produced {
        // Stable: one detector's alerts keep their order.
        slot.sort_by_key(|(rep, i, _)| (*rep, *i));
    }
    produced
}

/// The detectors that consume alerts over a staged batch: each event, then every alert of that
/// event (in the order one detector after the other gives them), before the next event.
fn run_consumers(
    detectors: &mut [(usize, &mut Box<dyn Detector>)],
    staged: StagedBatch,
) -> DoneBatch {
    let StagedBatch { events, produced } = staged;
    // The events stay where they are (no copy of the batch): the alerts come back beside them.
    let alerts = events
        .iter()
        .zip(produced)
        .map(|(ev, mut produced)| {
            for rep in 0..ev.repeat.clamp(1, MAX_REPEAT) {
                for (i, d) in detectors.iter_mut() {
                    let mut out = Vec::new();
                    d.observe(ev, &mut out);
                    if !out.is_empty() {
                        produced.push((rep, *i, out));
                    }
                }
            }
            // Stable: one detector's alerts keep their order.
            produced.sort_by_key(|(rep, i, _)| (*rep, *i));
            let mut alerts: Vec<Alert> = produced.into_iter().flat_map(|p| p.2).collect();
            let mut derived = Vec::new();
            for alert in &alerts {
                for (_, d) in detectors.iter_mut() {
                    d.on_alert(alert, &mut derived);
                }
            }
            alerts.extend(derived);
            alerts
        })
        .collect();
    DoneBatch { events, alerts }
}

/// A batch through every detector: its events and, beside each, the event's alerts.
struct DoneBatch {
    events: Vec<AuthEvent>,
    alerts: Vec<Vec<Alert>>,
}

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

/// Events between two measurements of the detectors' state against the memory budget, while the
/// state is below half the budget, and once above it.
const BUDGET_CHECK_EVERY: u32 = 65_536;
const BUDGET_CHECK_NEAR: u32 = 16_384;

impl<'a> Engine<'a> {
    /// An engine with the detectors and enrichment of `cfg`, delivering to `sinks`.
    pub(crate) fn new(
        cfg: &Config,
        names: HashMap<SourceId, String>,
        sinks: &'a mut [Box<dyn Sink>],
        stats: &mut RunStats,
    ) -> Result<Engine<'a>, Error> {
        let enricher = build_enricher(cfg)?;
        Ok(Engine::with_enricher(cfg, names, sinks, stats, enricher))
    }

    /// [`Engine::new`] with an enricher already built.
    fn with_enricher(
        cfg: &Config,
        names: HashMap<SourceId, String>,
        sinks: &'a mut [Box<dyn Sink>],
        stats: &mut RunStats,
        enricher: Option<Box<dyn Enricher>>,
    ) -> Engine<'a> {
        let event_sinks = (0..sinks.len())
            .filter(|&i| sinks.get(i).is_some_and(|s| s.wants_events()))
            .collect();
        stats.memory_budget = cfg.limits.memory_budget_mb.saturating_mul(1 << 20);
        Engine {
            names,
            current: None,
            enricher,
            enriched_upstream: false,
            detectors: build_detectors(cfg),
            history: build_history(cfg),
            sinks,
            gate: None,
            staged: None,
            event_sinks,
            lateness: cfg.input.allowed_lateness.millis(),
            watermark: Timestamp(i64::MIN),
            alerts: Vec::new(),
            budget: usize::try_from(cfg.limits.memory_budget_mb.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            events_since_budget_check: 0,
            budget_check_every: BUDGET_CHECK_EVERY,
        }
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

    /// Everything that holds per-key state, for checkpoints, the memory budget and the
    /// counters: the detectors, then the shared login history.
    pub(crate) fn states(&self) -> impl Iterator<Item = &dyn RuleState> {
        self.detectors
            .iter()
            .map(|d| d.as_ref() as &dyn RuleState)
            .chain(self.history.iter().map(|h| h as &dyn RuleState))
    }

    /// [`Engine::states`], to restore or evict.
    pub(crate) fn states_mut(&mut self) -> impl Iterator<Item = &mut dyn RuleState> {
        self.detectors
            .iter_mut()
            .map(|d| d.as_mut() as &mut dyn RuleState)
            .chain(self.history.iter_mut().map(|h| h as &mut dyn RuleState))
    }

    /// Scan mode: detection in parallel. The detectors that do not act on other detectors'
    /// alerts take this batch, each rule (and each shard of a sharded rule) as a task on
    /// rayon's pool, while on a thread of their own the ones that do (`compromise.login`) take
    /// the previous batch, with each of its events' alerts handed to them before the next
    /// event — exactly what one detector after the other would do, so the alerts, their order
    /// and ids are the same for any number of threads. The previous batch is then delivered.
    pub(crate) fn process_batch(
        &mut self,
        mut events: Vec<AuthEvent>,
        stats: &mut RunStats,
    ) -> Result<(), SinkError> {
        let consumers = self
            .detectors
            .iter()
            .filter(|d| d.consumes_alerts())
            .count();
        if consumers == self.detectors.len() {
            for ev in events {
                self.process(ev, stats)?;
            }
            return Ok(());
        }
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
                // A detector panicked on the other thread: let the panic go on here.
                Err(p) => std::panic::resume_unwind(p),
            });
            (produced, finished)
        });
        let n = events.len() as u32;
        self.staged = Some(StagedBatch { events, produced });
        if let Some(done) = finished {
            self.deliver_events(done, stats)?;
        }
        self.events_since_budget_check = self.events_since_budget_check.saturating_add(n);
        if self.events_since_budget_check >= self.budget_check_every {
            self.events_since_budget_check = 0;
            self.enforce_budget(stats);
        }
        Ok(())
    }

    /// Scan mode: the staged batch through the detectors that consume alerts, then delivered.
    pub(crate) fn flush_batches(&mut self, stats: &mut RunStats) -> Result<(), SinkError> {
        let Some(staged) = self.staged.take() else {
            return Ok(());
        };
        let mut takers: Vec<(usize, &mut Box<dyn Detector>)> = self
            .detectors
            .iter_mut()
            .enumerate()
            .filter(|(_, d)| d.consumes_alerts())
            .collect();
        let done = run_consumers(&mut takers, staged);
        self.deliver_events(done, stats)
    }

    /// Delivers each event's alerts, in event order, with the sinks seeing the event first.
    fn deliver_events(&mut self, done: DoneBatch, stats: &mut RunStats) -> Result<(), SinkError> {
        for (ev, alerts) in done.events.iter().zip(done.alerts) {
            self.current = Some(ev.origin.source);
            for &i in &self.event_sinks {
                if let Some(s) = self.sinks.get_mut(i) {
                    s.observe_event(ev);
                }
            }
            self.alerts = alerts;
            self.deliver(stats)?;
        }
        Ok(())
    }

    /// Advances event time without an event (live mode's idle ticks), so that windows drain
    /// and episodes close on time.
    pub(crate) fn advance(
        &mut self,
        watermark: Timestamp,
        stats: &mut RunStats,
    ) -> Result<(), SinkError> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        self.current = None;
        for d in &mut self.detectors {
            d.advance(watermark, &mut self.alerts);
        }
        self.share_alerts();
        self.deliver(stats)
    }

    pub(crate) fn process(
        &mut self,
        mut ev: AuthEvent,
        stats: &mut RunStats,
    ) -> Result<(), SinkError> {
        self.current = Some(ev.origin.source);
        let repeat = ev.repeat.clamp(1, MAX_REPEAT);
        self.prepare(&mut ev, stats);
        for &i in &self.event_sinks {
            if let Some(s) = self.sinks.get_mut(i) {
                s.observe_event(&ev);
            }
        }
        for _ in 0..repeat {
            for d in &mut self.detectors {
                d.observe(&ev, &mut self.alerts);
            }
        }
        self.share_alerts();
        self.events_since_budget_check += 1;
        if self.events_since_budget_check >= self.budget_check_every {
            self.events_since_budget_check = 0;
            self.enforce_budget(stats);
        }
        self.deliver(stats)
    }

    /// Measures the detectors' state and, above the budget, has each evict its least recently
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
        // Measuring walks every key, so it is done rarely while far below the budget and often
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

    /// Shows every new alert to every detector (one level: alerts raised in response are
    /// delivered, not shown again).
    fn share_alerts(&mut self) {
        if self.alerts.is_empty() {
            return;
        }
        let mut derived = Vec::new();
        for alert in &self.alerts {
            for d in &mut self.detectors {
                d.on_alert(alert, &mut derived);
            }
        }
        self.alerts.extend(derived);
    }

    fn deliver(&mut self, stats: &mut RunStats) -> Result<(), SinkError> {
        for mut alert in self.alerts.drain(..) {
            if let (Some(asn), None, Some(e)) = (alert.asn, &alert.as_org, &self.enricher) {
                alert.as_org = e.as_org(asn).map(str::to_string);
            }
            if let Some(gate) = &mut self.gate
                && !gate.allow(&alert)
            {
                continue;
            }
            *stats.alerts.entry(alert.rule).or_insert(0) += 1;
            let source = match self.current.and_then(|c| self.names.get(&c)) {
                Some(name) => name.clone(),
                None => "end of input".to_string(),
            };
            *stats.alert_sources.entry((alert.rule, source)).or_insert(0) += 1;
            for s in self.sinks.iter_mut() {
                s.emit(&alert)?;
            }
            if let Some(gate) = &mut self.gate {
                gate.delivered(&alert)?;
            }
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, stats: &mut RunStats) -> Result<(), SinkError> {
        let watermark = self.watermark;
        self.current = None;
        for d in &mut self.detectors {
            d.advance(watermark, &mut self.alerts);
        }
        self.share_alerts();
        self.deliver(stats)?;
        self.enforce_budget(stats);
        self.finish_without_advance(stats)
    }

    /// Ends a run without advancing event time (live mode's shutdown: the logs go on, and
    /// the checkpoint holds the detectors as they are): counters, then the sinks finish.
    pub(crate) fn finish_without_advance(&mut self, stats: &mut RunStats) -> Result<(), SinkError> {
        for d in self.states() {
            stats.detector_counters.extend(d.counters());
        }
        let enricher = &self.enricher;
        let as_org = |asn| {
            enricher
                .as_ref()
                .and_then(|e| e.as_org(asn).map(str::to_string))
        };
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
}

/// Runs a forensic scan: reads every input, merges events in event-time order, runs the
/// detectors, and delivers alerts to `sinks`. Returns the counters for the summary.
///
/// Rejected lines are counted, not fatal (unless `strict`). An input that fails part-way (a
/// corrupt gzip member) is reported in `input_errors` and the scan goes on with the others.
pub fn scan(
    cfg: &Config,
    opts: &RunOptions,
    sinks: &mut [Box<dyn Sink>],
) -> Result<RunStats, Error> {
    let started = std::time::Instant::now();
    let factory = cfg.decoder_factory()?;
    let mut stats = RunStats::default();
    let prepared = prepare(cfg, &factory, opts, &mut stats)?;
    let names = prepared
        .iter()
        .map(|p| (p.input.id, p.input.display.clone()))
        .collect();
    // Events are enriched on the decoding side when the enricher allows copies (the engine then
    // leaves them as they are). The decoding starts before the enricher is loaded (a fifth of a
    // second for the whole internet's ASN table): each job takes its copy when its first batch
    // is decoded.
    let upstream: Arc<EnricherSource> = Arc::default();
    // Plain files only: a compressed input's or stdin's size says nothing about what it holds.
    let total_bytes = prepared
        .iter()
        .map(|p| match &p.input.path {
            InputPath::File(path) if !p.compressed => {
                std::fs::metadata(path).map_or(0, |m| m.len())
            }
            _ => 0,
        })
        .sum();

    let mut streams: Vec<Stream> = Vec::with_capacity(prepared.len());
    for p in prepared {
        // One more decoder per extra thread, when the format allows it (large inputs only:
        // a small one is not worth splitting).
        let extra = rayon::current_num_threads().saturating_sub(1).min(7);
        let forks = if extra > 0 && input_bytes(&p) >= PARALLEL_DECODE_MIN_BYTES {
            (0..extra).map_while(|_| p.decoder.fork()).collect()
        } else {
            Vec::new()
        };
        let job = Box::new(DecodeJob {
            reader: p.reader,
            decoder: p.decoder,
            forks,
            source: p.input.id,
            display: Arc::from(p.input.display.as_str()),
            strict: opts.strict,
            max_line: cfg.input.max_line_bytes,
            max_samples: cfg.input.reject_samples,
            buf: Vec::with_capacity(512),
            arena: Vec::new(),
            spans: Vec::new(),
            outcomes: Vec::new(),
            enricher: None,
            upstream: Some(Arc::clone(&upstream)),
        });
        streams.push(Stream {
            report: SourceReport {
                path: p.input.display,
                format: p.format.as_str(),
                compressed: p.compressed,
                stats: SourceStats::default(),
            },
            buffer: Vec::new().into_iter(),
            pending: Some(spawn(job)),
        });
    }

    let enricher = build_enricher(cfg);
    let source = match &enricher {
        Ok(Some(e)) => e.fork(),
        _ => None,
    };
    let forked = source.is_some();
    // Always set, even on error: a decoding job waits for it.
    let _ = upstream.set(Mutex::new(source));
    let mut engine = Engine::with_enricher(cfg, names, sinks, &mut stats, enricher?);
    engine.enriched_upstream = forked;

    // Copies of one action in several inputs are counted once (only possible with 2+ inputs).
    let mut dedup = (cfg.input.dedup_overlapping_sources && streams.len() > 1)
        .then(|| OverlapDedup::new(cfg.input.overlap_tolerance.millis()));
    let mut released = Vec::new();
    // Events go to detection in batches (two threads, see `Engine::process_batch`).
    let mut batch: Vec<AuthEvent> = Vec::with_capacity(DETECT_BATCH);

    let progress = opts.progress.as_deref();
    if let Some(p) = progress {
        p.start(total_bytes);
    }
    let report_progress = |streams: &[Stream]| {
        if let Some(p) = progress {
            let (bytes, lines) = streams.iter().fold((0, 0), |(b, l), s| {
                (b + s.report.stats.bytes, l + s.report.stats.lines)
            });
            p.update(bytes, lines);
        }
    };

    // Heap of (time, source, line, stream index) of each stream's head event.
    let mut heap = BinaryHeap::new();
    for (i, stream) in streams.iter_mut().enumerate() {
        refill(stream, cfg.input.reject_samples, &mut stats)?;
        if let Some(head) = stream.buffer.as_slice().first() {
            heap.push(Reverse((head.ts, head.origin.source, head.origin.line, i)));
        }
    }
    while let Some(Reverse((_, _, _, i))) = heap.pop() {
        let stream = &mut streams[i];
        let Some(ev) = stream.buffer.next() else {
            continue;
        };
        if stream.buffer.len() == 0 {
            refill(stream, cfg.input.reject_samples, &mut stats)?;
            if let Some(head) = stream.buffer.as_slice().first() {
                heap.push(Reverse((head.ts, head.origin.source, head.origin.line, i)));
            }
            report_progress(&streams);
        } else if let Some(head) = stream.buffer.as_slice().first() {
            heap.push(Reverse((head.ts, head.origin.source, head.origin.line, i)));
        }
        match &mut dedup {
            Some(d) => {
                d.push(ev, &mut released);
                batch.append(&mut released);
            }
            None => batch.push(ev),
        }
        if batch.len() >= DETECT_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(DETECT_BATCH));
            engine.process_batch(full, &mut stats)?;
        }
    }
    if let Some(d) = &mut dedup {
        d.flush(&mut released);
        batch.append(&mut released);
    }
    engine.process_batch(batch, &mut stats)?;
    engine.flush_batches(&mut stats)?;
    if let Some(d) = &mut dedup {
        stats.duplicates = d
            .dropped()
            .into_iter()
            .filter_map(|(id, n)| engine.names.get(&id).map(|name| (name.clone(), n)))
            .collect();
    }
    // The counters are complete before the sinks finish: reports summarize them.
    stats.sources = streams.into_iter().map(|s| s.report).collect();
    stats.elapsed_secs = started.elapsed().as_secs_f64();
    engine.finish(&mut stats)?;
    if let Some(p) = progress {
        p.finish();
    }
    stats.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(stats)
}

/// Waits for the stream's next batch (already decoding), starts the one after it, and repeats
/// until the stream has events or is finished.
fn refill(stream: &mut Stream, max_samples: usize, stats: &mut RunStats) -> Result<(), Error> {
    while stream.buffer.len() == 0 {
        let Some(rx) = stream.pending.take() else {
            return Ok(());
        };
        let Ok(batch) = rx.recv() else {
            // The job panicked: report the input as failed rather than hang or abort.
            stats.input_errors.push(format!(
                "{}: decoder stopped unexpectedly",
                stream.report.path
            ));
            return Ok(());
        };
        if let Some(job) = batch.job {
            stream.pending = Some(spawn(job));
        }
        stream.report.stats.absorb(batch.stats, max_samples);
        stream.buffer = batch.events.into_iter();
        match batch.error {
            Some(e @ SourceError::Rejected { .. }) => return Err(e.into()),
            Some(e) => stats.input_errors.push(e.to_string()),
            None => {}
        }
    }
    Ok(())
}

/// One line of `credwatch parse` output.
#[derive(Serialize)]
struct ParsedLine<'a> {
    source: &'a str,
    line: u64,
    #[serde(flatten)]
    event: &'a AuthEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    as_org: Option<&'a str>,
}

/// One rejected line in `credwatch parse --rejects` output.
#[derive(Serialize)]
struct RejectedLine<'a> {
    source: &'a str,
    line: u64,
    rejected: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    text: &'a str,
}

/// What [`decode_in_order`] hands to its caller for each line that is not irrelevant.
enum Visit<'a> {
    /// A decoded event.
    Event(AuthEvent),
    /// A rejected line (already counted), with the start of its text.
    Rejected { error: ParseError, text: &'a [u8] },
}

/// Decodes every input one after the other, in line order, without detection: the reading half
/// of `parse` and `explain`. Counts every line in `stats` and calls `visit` with the input's name,
/// the line number and the event or rejection. Under `strict` the first rejection is an error.
fn decode_in_order(
    cfg: &Config,
    opts: &RunOptions,
    stats: &mut RunStats,
    mut visit: impl FnMut(&str, u64, Visit<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let factory = cfg.decoder_factory()?;
    let prepared = prepare(cfg, &factory, opts, stats)?;
    for mut p in prepared {
        let mut st = SourceStats::default();
        let display = p.input.display.clone();
        let mut buf = Vec::new();
        let mut at_end = false;
        while !at_end {
            let (number, outcome) = match p.reader.next_line(&mut buf) {
                Ok(Some(info)) => {
                    st.lines += 1;
                    let outcome = classify(
                        p.decoder.as_mut(),
                        &buf,
                        &info,
                        p.input.id,
                        cfg.input.max_line_bytes,
                    );
                    (info.number, outcome)
                }
                Ok(None) => {
                    at_end = true;
                    buf.clear();
                    let outcome = finish_input(p.decoder.as_mut(), &p.reader, p.input.id);
                    if matches!(outcome, LineOutcome::Blank) {
                        break;
                    }
                    (p.reader.lines_read(), outcome)
                }
                Err(e) => {
                    stats.input_errors.push(format!("{display}: {e}"));
                    break;
                }
            };
            match outcome {
                LineOutcome::Event(ev) => {
                    st.events += 1;
                    let weight = u64::from(ev.repeat.clamp(1, MAX_REPEAT));
                    stats.count_event(ev.kind, ev.outcome, weight);
                    visit(&display, number, Visit::Event(ev))?;
                }
                LineOutcome::Irrelevant => st.irrelevant += 1,
                LineOutcome::Blank => st.blank += 1,
                LineOutcome::Rejected(error) => {
                    if opts.strict {
                        let path = PathBuf::from(&display);
                        return Err(SourceError::Rejected {
                            path,
                            line: number,
                            error,
                        }
                        .into());
                    }
                    let sample = RejectSample {
                        line: number,
                        reason: error.reason,
                        detail: error.detail.clone(),
                    };
                    st.reject(sample, cfg.input.reject_samples);
                    let text = &buf[..buf.len().min(300)];
                    visit(&display, number, Visit::Rejected { error, text })?;
                }
            }
        }
        st.bytes = p.reader.bytes_read();
        stats.sources.push(SourceReport {
            path: display,
            format: p.format.as_str(),
            compressed: p.compressed,
            stats: st,
        });
    }
    Ok(())
}

fn stdout_error(e: std::io::Error) -> Error {
    Error::from(SinkError::Io {
        target: "stdout".into(),
        source: e,
    })
}

/// Writes one event as a `parse`-style JSON line.
fn write_event(
    out: &mut dyn Write,
    source: &str,
    line: u64,
    ev: &AuthEvent,
    enricher: Option<&dyn Enricher>,
) -> Result<(), Error> {
    let as_org = match (enricher, ev.asn) {
        (Some(e), Some(asn)) => e.as_org(asn),
        _ => None,
    };
    let parsed = ParsedLine {
        source,
        line,
        event: ev,
        as_org,
    };
    serde_json::to_writer(&mut *out, &parsed).map_err(|e| stdout_error(e.into()))?;
    out.write_all(b"\n").map_err(stdout_error)
}

/// Decodes inputs without detection and writes each normalized event as a JSON line with its
/// source path and line number, in input order (and, with `rejects`, each rejected line with
/// its reason): the way to check a format or a config, like `fail2ban-regex`.
pub fn parse(
    cfg: &Config,
    opts: &RunOptions,
    rejects: bool,
    out: &mut dyn Write,
) -> Result<RunStats, Error> {
    let started = std::time::Instant::now();
    let mut stats = RunStats::default();
    let mut enricher = build_enricher(cfg)?;
    decode_in_order(cfg, opts, &mut stats, |source, line, visit| match visit {
        Visit::Event(mut ev) => {
            if let Some(e) = &mut enricher {
                e.enrich(&mut ev);
            }
            write_event(out, source, line, &ev, enricher.as_deref())
        }
        Visit::Rejected { error, text } if rejects => {
            let text = lossless_text(text);
            let rejected = RejectedLine {
                source,
                line,
                rejected: error.reason,
                detail: error.detail.as_deref(),
                text: &text,
            };
            serde_json::to_writer(&mut *out, &rejected).map_err(|e| stdout_error(e.into()))?;
            out.write_all(b"\n").map_err(stdout_error)
        }
        Visit::Rejected { .. } => Ok(()),
    })?;
    out.flush().map_err(stdout_error)?;
    stats.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(stats)
}

/// The alert `explain` was asked about and how many events it printed.
#[derive(Debug)]
pub struct Explanation {
    /// The alert's last emission (its highest severity and widest span).
    pub alert: Alert,
    /// Events written.
    pub events: usize,
}

/// Collects alerts in memory, shared with the caller.
struct Collect(Rc<RefCell<Vec<Alert>>>);

impl Sink for Collect {
    fn emit(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.0.borrow_mut().push(alert.clone());
        Ok(())
    }
}

/// True when `ev` concerns the alert's entity (for `global`: a failed login).
fn concerns(ev: &AuthEvent, alert: &Alert) -> bool {
    let value = alert.entity.value.as_str();
    match alert.entity.kind {
        EntityKind::Ip => ev.ip.is_some_and(|ip| ip.to_string() == value),
        EntityKind::Account => ev.account.as_ref().is_some_and(|a| a.as_str() == value),
        EntityKind::Asn => ev.asn.is_some_and(|asn| asn.to_string() == value),
        EntityKind::ShipTo => ev.details.as_ref().is_some_and(|d| {
            [d.ship_to, d.address]
                .into_iter()
                .flatten()
                .any(|h| h.to_string() == value)
        }),
        EntityKind::Global => ev.is_failed_login(),
    }
}

/// Prints the events behind one alert: runs the scan to find the alert with `id` (`None` when
/// no alert has it), then decodes the inputs again and writes, as `parse` does, every event of
/// the alert's entity between its first and last event time, in time order, with source and
/// line, so the raw lines can be read. For a `global` alert these are the failed logins of the
/// burst. Copies of one action in several inputs are all shown: they are the raw evidence.
pub fn explain(
    cfg: &Config,
    opts: &RunOptions,
    id: &str,
    out: &mut dyn Write,
) -> Result<Option<Explanation>, Error> {
    let collected = Rc::new(RefCell::new(Vec::new()));
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(Collect(Rc::clone(&collected)))];
    scan(cfg, opts, &mut sinks)?;
    drop(sinks);
    let alerts = collected.take();
    let Some(alert) = alerts.into_iter().rfind(|a| a.id == id) else {
        return Ok(None);
    };
    let mut enricher = build_enricher(cfg)?;
    let mut events: Vec<(AuthEvent, String, u64)> = Vec::new();
    let mut stats = RunStats::default();
    decode_in_order(cfg, opts, &mut stats, |source, line, visit| {
        if let Visit::Event(mut ev) = visit
            && ev.ts >= alert.first_seen
            && ev.ts <= alert.last_seen
        {
            if let Some(e) = &mut enricher {
                e.enrich(&mut ev);
            }
            if concerns(&ev, &alert) {
                events.push((ev, source.to_string(), line));
            }
        }
        Ok(())
    })?;
    events.sort_by_key(|(ev, _, line)| (ev.ts, ev.origin.source, *line));
    for (ev, source, line) in &events {
        write_event(out, source, *line, ev, enricher.as_deref())?;
    }
    out.flush().map_err(stdout_error)?;
    Ok(Some(Explanation {
        alert,
        events: events.len(),
    }))
}

/// True when `path` names standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event of the sample shop (all inputs), decoded in input order.
    fn sample_events(cfg: &Config) -> Vec<AuthEvent> {
        let opts = RunOptions {
            paths: vec![PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/sample-logs"
            ))],
            strict: false,
            progress: None,
        };
        let mut stats = RunStats::default();
        let mut events = Vec::new();
        decode_in_order(cfg, &opts, &mut stats, |_, _, v| {
            if let Visit::Event(ev) = v {
                events.push(ev);
            }
            Ok(())
        })
        .expect("sample-logs decode");
        events.sort_by_key(|e| (e.ts, e.origin.source, e.origin.line));
        events
    }

    fn run(cfg: &Config, events: &[AuthEvent], batched: bool) -> Vec<Alert> {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(Collect(seen.clone()))];
        let mut stats = RunStats::default();
        let mut engine = Engine::new(cfg, HashMap::new(), &mut sinks, &mut stats).unwrap();
        if batched {
            // Odd batch sizes: alerts must not depend on where a batch ends.
            for chunk in events.chunks(777) {
                engine.process_batch(chunk.to_vec(), &mut stats).unwrap();
            }
            engine.flush_batches(&mut stats).unwrap();
        } else {
            for ev in events {
                engine.process(ev.clone(), &mut stats).unwrap();
            }
        }
        engine.finish(&mut stats).unwrap();
        drop(engine);
        seen.take()
    }

    /// Two-thread detection gives exactly the alerts of one detector after the other: same
    /// alerts, same order, same ids, same evidence.
    #[test]
    fn batched_detection_equals_sequential_detection() {
        let mut cfg = Config::default();
        cfg.asn.db.push(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sample-logs/asn/asn-extract.csv"
        )));
        let events = sample_events(&cfg);
        assert!(events.len() > 10_000);
        let one = run(&cfg, &events, false);
        let two = run(&cfg, &events, true);
        assert!(one.len() >= 20, "{}", one.len());
        assert!(
            one.iter()
                .any(|a| a.rule == crate::alert::Rule::CompromiseLogin),
            "the consuming detector must have fired"
        );
        let json = |v: &[Alert]| serde_json::to_string(v).unwrap();
        assert_eq!(json(&one), json(&two));
    }

    /// The per-key rules split over shards give the alerts of one instance per rule (as long
    /// as no key limit is reached: each shard evicts on its own share).
    #[test]
    fn sharded_rules_equal_one_instance_per_rule() {
        let mut cfg = Config::default();
        cfg.asn.db.push(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sample-logs/asn/asn-extract.csv"
        )));
        let events = sample_events(&cfg);
        let run_with = |shard: bool| {
            let seen = Rc::new(RefCell::new(Vec::new()));
            let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(Collect(seen.clone()))];
            let mut stats = RunStats::default();
            let mut engine = Engine::new(&cfg, HashMap::new(), &mut sinks, &mut stats).unwrap();
            engine.detectors = detectors(&cfg, shard);
            for chunk in events.chunks(4096) {
                engine.process_batch(chunk.to_vec(), &mut stats).unwrap();
            }
            engine.flush_batches(&mut stats).unwrap();
            engine.finish(&mut stats).unwrap();
            drop(engine);
            seen.take()
        };
        let sharded = run_with(true);
        let single = run_with(false);
        for rule in [
            "stuffing.ip",
            "orders.bulk",
            "orders.drop_address",
            "bruteforce.account",
            "takeover.sequence",
        ] {
            assert!(
                sharded.iter().any(|a| a.rule.as_str() == rule),
                "{rule} must fire on the sample logs"
            );
        }
        let json = |v: &[Alert]| serde_json::to_string(v).unwrap();
        assert_eq!(json(&sharded), json(&single));
    }
}
