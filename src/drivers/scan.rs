//! `credwatch scan`: every input decoded on the thread pool, merged in event-time order, and
//! pushed through the engine.
//!
//! Each input is decoded in batches on the rayon pool: while the merge consumes batch *k* of an
//! input, batch *k+1* is already being decoded. A job sends exactly one batch into a channel
//! with room for it, so pool threads never block and any number of inputs works on any number of
//! threads. The merge takes the earliest head event across inputs (ties broken by input and line
//! number), so several servers' logs of one site are interleaved as they happened and the
//! output does not depend on thread timing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, bounded};
use rayon::prelude::*;

use crate::config::Config;
use crate::decode::Decoder;
use crate::engine::{Engine, EngineOptions, build_enricher};
use crate::enrich::Enricher;
use crate::error::{Error, SourceError};
use crate::event::AuthEvent;
use crate::sink::Sink;
use crate::source::{InputPath, LineInfo, LineReader};
use crate::stats::{RunStats, SourceReport, SourceStats};

use super::RunOptions;
use super::inputs::{input_bytes, prepare};
use super::line::{Counted, LineOutcome, LinePolicy};
use super::outlet::Outlet;

/// Lines decoded per batch: large enough to amortize the hand-off between decoding and
/// detection (each batch ends in a wait for both), small enough to keep memory per input at
/// a few tens of MB. On the 2 M-line JSON bench, 8,192 lines per batch (and 4,096 events per
/// detection batch) took 2.4–3.4 s, 65,536 (and 32,768) 2.1–2.2 s and 96 MB more peak RSS.
const BATCH_LINES: usize = 65_536;

/// One input being decoded on the pool.
struct DecodeJob {
    reader: LineReader,
    decoder: Box<dyn Decoder>,
    /// More decoders for the same input when its lines decode independently: each batch is
    /// then split and decoded on several threads (`--threads`), and merged back in line order.
    forks: Vec<Box<dyn Decoder>>,
    source: crate::event::SourceId,
    display: Arc<str>,
    policy: LinePolicy,
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
                    let outcome =
                        self.policy
                            .decode(Some(self.decoder.as_mut()), buf, &info, self.source);
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
        let (source, policy) = (self.source, self.policy);
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
                        policy.decode(Some(d.as_mut()), line, info, source),
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
        let lines = self.reader.lines_read();
        match self
            .policy
            .finish(self.decoder.as_mut(), lines, self.source)
        {
            // "Nothing pending" is not a blank line.
            LineOutcome::Blank => {}
            other => out.push((lines, other)),
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
            match self.policy.count(outcome, line, &mut stats) {
                Counted::Event(mut ev) => {
                    if let Some(e) = &mut self.enricher {
                        e.enrich(&mut ev);
                    }
                    events.push(ev);
                }
                Counted::Skipped | Counted::Rejected(_) => {}
                Counted::Stop(e) => {
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
    let policy = LinePolicy::new(cfg, opts.strict);
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
            policy,
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
    let engine_opts = EngineOptions {
        // Copies of one action in several inputs are counted once.
        several_inputs: streams.len() > 1,
        enriched_upstream: forked,
    };
    let mut engine = Engine::new(cfg, enricher?, engine_opts);
    stats.memory_budget = engine.memory_budget();
    let mut outlet = Outlet::new(sinks, names);

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
        engine.push(ev, &mut stats);
        outlet.drain(&mut engine, &mut stats)?;
    }
    engine.flush(&mut stats);
    outlet.drain(&mut engine, &mut stats)?;
    stats.duplicates = outlet.name_duplicates(&engine);
    // The counters are complete before the sinks finish: reports summarize them.
    stats.sources = streams.into_iter().map(|s| s.report).collect();
    stats.elapsed_secs = started.elapsed().as_secs_f64();
    engine.finish(&mut stats);
    outlet.drain(&mut engine, &mut stats)?;
    outlet.finish(&engine, &mut stats)?;
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
