//! Live mode (`credwatch tail`): follow growing, rotating logs and run the same engine as a scan.
//!
//! Two threads joined by a bounded channel: the reader owns the [`Follower`] and sends batches of
//! lines (or an idle tick when none came); the engine thread decodes, enriches, detects and
//! delivers to the sinks. A slow sink (a webhook receiver that is down) therefore holds reading
//! back by at most the channel's bound, and the queue length and lag are reported.
//!
//! With a state directory, the engine writes a checkpoint atomically every
//! `checkpoint_interval` and at shutdown: each file's identity and the offset just after the last
//! line the detectors have seen, and a snapshot of every detector's state. Before writing it, it
//! asks every sink to make the alerts emitted so far durable (the webhook's spool is fsync'd). An
//! alert delivered after the last checkpoint is noted in `emitted.log`; after a crash the lines
//! since the checkpoint are read again and give the same alerts (same ids), and those already in
//! `emitted.log` are not sent a second time.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, bounded};

use crate::config::Config;
use crate::decode::{Decoder, DecoderFactory};
use crate::engine::{Engine, EngineOptions, build_enricher};
use crate::error::{Error, SourceError};
use crate::event::{AuthEvent, SourceId};
use crate::metrics::Metrics;
use crate::sink::Sink;
use crate::source::LineInfo;
use crate::source::follow::{FileCheckpoint, FollowConfig, FollowedLine, Follower};
use crate::stats::{RunStats, SourceReport, SourceStats};
use crate::time::{Timestamp, wall_clock_now};

use super::line::{Counted, LinePolicy};
use super::outlet::Outlet;

mod state;

use state::{CHECKPOINT_VERSION, Checkpoint, LiveGate, StateDir};

/// Lines per batch handed from the reader to the engine.
const BATCH_LINES: usize = 1024;
/// How long the reader waits for a line before it sends an idle tick.
const IDLE_WAIT: Duration = Duration::from_millis(250);

/// How to run `tail`.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// What to follow and how.
    pub follow: FollowConfig,
    /// Where checkpoints, the emitted-alert log and webhook spools live; `None`: no restart
    /// state.
    pub state_dir: Option<PathBuf>,
    /// How often a checkpoint is written (and at shutdown).
    pub checkpoint_interval: Duration,
    /// Most lines read ahead of detection (the bound on the reader-to-engine channel).
    pub queue_lines: usize,
}

impl Default for TailOptions {
    fn default() -> TailOptions {
        TailOptions {
            follow: FollowConfig::default(),
            state_dir: None,
            checkpoint_interval: Duration::from_secs(5),
            queue_lines: 65_536,
        }
    }
}

/// What a `tail` run did, beyond the scan counters.
#[derive(Debug, Default)]
pub struct TailReport {
    /// The same counters a scan reports.
    pub stats: RunStats,
    /// Files continued from a checkpoint.
    pub resumed_files: usize,
    /// Detectors whose state came from the checkpoint.
    pub restored_detectors: usize,
    /// Alerts not sent again because they were sent before a restart.
    pub suppressed_alerts: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Most lines waiting between reading and detection at any time.
    pub max_queued_lines: u64,
    /// Largest lag seen: wall clock minus the newest event time, in seconds, measured when a
    /// batch was processed.
    pub max_lag_secs: f64,
}

enum Msg {
    Lines {
        lines: Vec<FollowedLine>,
        /// Slots that appeared since the previous message: (index, path, is stdin).
        new_files: Vec<(usize, PathBuf, bool)>,
    },
    Idle,
    End(Option<String>),
}

/// The engine and where its alerts go.
struct Detection<'a> {
    engine: Engine,
    outlet: Outlet<'a>,
}

impl Detection<'_> {
    /// Detection over every event pushed so far (copies held for pairing too when `held`),
    /// alerts delivered.
    fn flush(&mut self, held: bool, stats: &mut RunStats) -> Result<(), Error> {
        if held {
            self.engine.release_held();
        }
        self.engine.flush(stats);
        self.outlet.drain(&mut self.engine, stats)?;
        Ok(())
    }
}

/// One followed file as the engine sees it.
struct Slot {
    path: PathBuf,
    stdin: bool,
    source: SourceId,
    decoder: Option<Box<dyn Decoder>>,
    line: u64,
    report: usize,
}

/// Follows `opts.follow.paths` until `stop` is set (or standard input, the only input, ends),
/// running the detectors of `cfg` and delivering alerts to `sinks`.
pub fn tail(
    cfg: &Config,
    opts: &TailOptions,
    sinks: &mut [Box<dyn Sink>],
    metrics: &Arc<Metrics>,
    stop: &Arc<AtomicBool>,
) -> Result<TailReport, Error> {
    let started = Instant::now();
    let factory = cfg.decoder_factory()?;
    let mut report = TailReport::default();
    let state = match &opts.state_dir {
        Some(dir) => Some(StateDir::open(dir)?),
        None => None,
    };
    let checkpoint = match &state {
        Some(s) => s.load()?,
        None => None,
    };
    let resume: Vec<FileCheckpoint> = checkpoint
        .as_ref()
        .map(|c| c.files.clone())
        .unwrap_or_default();
    report.resumed_files = resume.len();
    // One line limit for every driver: the follower cuts lines where a scan's reader does.
    let policy = LinePolicy::new(cfg, false);
    let mut follow = opts.follow.clone();
    follow.max_line_bytes = policy.max_line;
    let follower = Follower::new(follow, &resume).map_err(|e| {
        Error::Source(SourceError::Follow {
            message: e.to_string(),
        })
    })?;

    let mut stats = RunStats::default();
    let gate = LiveGate {
        ledger: state.as_ref().map(StateDir::ledger).transpose()?,
        sent_before: state
            .as_ref()
            .map(StateDir::read_ledger)
            .transpose()?
            .unwrap_or_default(),
        suppressed: 0,
        metrics: metrics.clone(),
    };
    // Copies of one action in several inputs count once, as in a scan.
    let several = opts.follow.paths.len() > 1
        || opts
            .follow
            .paths
            .iter()
            .any(|p| p.to_string_lossy().contains(['*', '?', '[']));
    let engine_opts = EngineOptions {
        several_inputs: several,
        enriched_upstream: false,
    };
    let mut engine = Engine::new(cfg, build_enricher(cfg)?, engine_opts);
    stats.memory_budget = engine.memory_budget();
    if let Some(c) = &checkpoint {
        if let Some(st) = &state {
            report.restored_detectors = restore_detectors(&mut engine, st, c);
        }
        engine.restore_watermark(Timestamp(c.watermark));
    }
    let mut outlet = Outlet::new(sinks, HashMap::new());
    outlet.gate = Some(Box::new(gate));
    let mut det = Detection { engine, outlet };
    tracing::info!(
        paths = ?opts.follow.paths,
        from_start = opts.follow.from_start,
        state_dir = ?opts.state_dir,
        resumed_files = report.resumed_files,
        dedup = several && cfg.input.dedup_overlapping_sources,
        restored_detectors = report.restored_detectors,
        "following"
    );

    // The reader thread.
    let capacity = (opts.queue_lines / BATCH_LINES).max(1);
    let (tx, rx) = bounded::<Msg>(capacity);
    let reader_stop = stop.clone();
    let reader_metrics = metrics.clone();
    let reader = std::thread::Builder::new()
        .name("credwatch-reader".into())
        .spawn(move || {
            let mut follower = follower;
            let mut known = 0usize;
            let mut buf = Vec::new();
            loop {
                if reader_stop.load(Ordering::Relaxed) {
                    let _ = tx.send(Msg::End(None));
                    return;
                }
                if let Err(e) = follower.poll(&mut buf, BATCH_LINES, IDLE_WAIT) {
                    let _ = tx.send(Msg::End(Some(e.to_string())));
                    return;
                }
                let files = follower.files();
                let new_files: Vec<_> = files
                    .iter()
                    .enumerate()
                    .skip(known)
                    .map(|(i, f)| (i, f.path.clone(), f.stdin))
                    .collect();
                known = files.len();
                let msg = if buf.is_empty() && new_files.is_empty() {
                    Msg::Idle
                } else {
                    reader_metrics
                        .queued_lines
                        .fetch_add(buf.len() as u64, Ordering::Relaxed);
                    Msg::Lines {
                        lines: std::mem::take(&mut buf),
                        new_files,
                    }
                };
                if tx.send(msg).is_err() {
                    return;
                }
                if follower.finished() {
                    let _ = tx.send(Msg::End(None));
                    return;
                }
            }
        })
        .map_err(|e| {
            Error::Source(SourceError::Follow {
                message: format!("cannot start the reader thread: {e}"),
            })
        })?;

    let mut files = Files {
        slots: HashMap::new(),
        reports: Vec::new(),
        positions: BTreeMap::new(),
    };
    for (i, c) in resume.iter().enumerate() {
        // Until a line of the file is read again, its checkpoint stays what it was.
        files.positions.insert(usize::MAX - i, c.clone());
    }
    let mut last_checkpoint = Instant::now();
    // Lines reached the detectors since the last checkpoint. An idle spell writes none: its
    // only change, time passing, happens again after a restart, and an alert it raised is in
    // `emitted.log` (a snapshot of a large state costs seconds of I/O).
    let mut dirty = false;
    let mut last_event_wall = Instant::now();
    let mut last_idle_advance = Instant::now();
    let mut end_error = None;
    loop {
        let msg = match rx.recv_timeout(IDLE_WAIT * 4) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => Msg::Idle,
            Err(RecvTimeoutError::Disconnected) => Msg::End(None),
        };
        match msg {
            Msg::Lines { lines, new_files } => {
                metrics
                    .queued_lines
                    .fetch_sub(lines.len() as u64, Ordering::Relaxed);
                let queued = metrics.queued_lines.load(Ordering::Relaxed) + lines.len() as u64;
                report.max_queued_lines = report.max_queued_lines.max(queued);
                for (i, path, stdin) in new_files {
                    let display = if stdin {
                        "-".to_string()
                    } else {
                        path.display().to_string()
                    };
                    // One source per path: a rotated file and its successor are one input (for
                    // attribution and for pairing copies across inputs).
                    let report_index = match files.reports.iter().position(|r| r.path == display) {
                        Some(k) => k,
                        None => {
                            files.reports.push(SourceReport {
                                path: display.clone(),
                                format: "auto",
                                compressed: false,
                                stats: SourceStats::default(),
                            });
                            files.reports.len() - 1
                        }
                    };
                    let source = SourceId(u32::try_from(report_index).unwrap_or(u32::MAX));
                    det.outlet.names.insert(source, display);
                    files.slots.insert(
                        i,
                        Slot {
                            path,
                            stdin,
                            source,
                            decoder: None,
                            line: 0,
                            report: report_index,
                        },
                    );
                }
                let had_events = !lines.is_empty();
                dirty |= had_events;
                process_batch(
                    &policy, cfg, &factory, &mut det, &mut files, lines, &mut stats, metrics,
                )?;
                if had_events {
                    last_event_wall = Instant::now();
                    let newest = det.engine.watermark().0;
                    if newest > i64::MIN {
                        metrics.newest_event_ms.store(newest, Ordering::Relaxed);
                        let lag = metrics.lag_seconds(wall_clock_now().0);
                        report.max_lag_secs = report.max_lag_secs.max(lag);
                    }
                }
            }
            Msg::Idle => {
                // No line for a while: copies held for pairing are released, and event time
                // goes on as the wall clock does, so windows drain and episodes close without
                // waiting for the next line.
                det.flush(true, &mut stats)?;
                let newest = det.engine.watermark();
                if last_idle_advance.elapsed() >= Duration::from_secs(1) && newest.0 > i64::MIN {
                    last_idle_advance = Instant::now();
                    let idle = i64::try_from(last_event_wall.elapsed().as_millis()).unwrap_or(0);
                    // The engine's watermark stays the newest event time: what the idle tick
                    // advances is the rules' view, not the evidence.
                    det.engine.advance(Timestamp(newest.0.saturating_add(idle)));
                    det.outlet.drain(&mut det.engine, &mut stats)?;
                }
            }
            Msg::End(err) => {
                end_error = err;
                break;
            }
        }
        if let Some(s) = &state
            && dirty
            && last_checkpoint.elapsed() >= opts.checkpoint_interval
        {
            write_checkpoint(s, &mut det, &mut stats, &files.positions)?;
            report.checkpoints += 1;
            metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
            last_checkpoint = Instant::now();
            dirty = false;
        }
        if stop.load(Ordering::Relaxed) {
            // Drain what was already read (bounded), then stop.
            while let Ok(Msg::Lines { lines, .. }) = rx.try_recv() {
                metrics
                    .queued_lines
                    .fetch_sub(lines.len() as u64, Ordering::Relaxed);
                dirty |= !lines.is_empty();
                process_batch(
                    &policy, cfg, &factory, &mut det, &mut files, lines, &mut stats, metrics,
                )?;
            }
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    drop(rx);
    let _ = reader.join();
    tracing::info!("stopping: delivering pending alerts and writing the checkpoint");

    // Shutdown: the final checkpoint first (sinks made durable), then the sinks finish.
    det.flush(true, &mut stats)?;
    det.outlet.checkpoint()?;
    if let Some(s) = &state
        && (dirty || checkpoint.is_none())
    {
        write_checkpoint(s, &mut det, &mut stats, &files.positions)?;
        report.checkpoints += 1;
    }
    stats.duplicates = det.outlet.name_duplicates(&det.engine);
    let Detection { engine, mut outlet } = det;
    stats.sources = files.reports;
    stats.elapsed_secs = started.elapsed().as_secs_f64();
    // The logs go on: event time is not advanced, and the checkpoint holds the rules as they are.
    outlet.finish(&engine, &mut stats)?;
    let gate = outlet.gate.take();
    if let Some(g) = gate {
        report.suppressed_alerts = g.suppressed();
    }
    if let Some(e) = end_error {
        stats.input_errors.push(e);
    }
    report.stats = stats;
    Ok(report)
}

/// The engine thread's view of the followed files.
struct Files {
    slots: HashMap<usize, Slot>,
    /// One per path, in the order the paths appeared.
    reports: Vec<SourceReport>,
    /// The checkpoint of each slot: the position after its last line the detectors saw.
    positions: BTreeMap<usize, FileCheckpoint>,
}

/// A batch of lines through the line path and the engine; their alerts are delivered.
#[allow(clippy::too_many_arguments)]
fn process_batch(
    policy: &LinePolicy,
    cfg: &Config,
    factory: &DecoderFactory,
    det: &mut Detection<'_>,
    files: &mut Files,
    lines: Vec<FollowedLine>,
    stats: &mut RunStats,
    metrics: &Metrics,
) -> Result<(), Error> {
    let late_before = stats.late_events;
    for line in &lines {
        if let Some(ev) = process_line(policy, cfg, factory, files, line, metrics)? {
            det.engine.push(ev, stats);
        }
    }
    det.flush(false, stats)?;
    let late = stats.late_events.saturating_sub(late_before);
    metrics.late_events.fetch_add(late, Ordering::Relaxed);
    Ok(())
}

/// One followed line: its file's position and counters, its decoder (picked at its file's
/// first line), and the shared line path. Returns the event to detect on, if any.
fn process_line(
    policy: &LinePolicy,
    cfg: &Config,
    factory: &DecoderFactory,
    files: &mut Files,
    line: &FollowedLine,
    metrics: &Metrics,
) -> Result<Option<AuthEvent>, Error> {
    let Files {
        slots,
        reports,
        positions,
    } = files;
    metrics.lines.fetch_add(1, Ordering::Relaxed);
    let Some(slot) = slots.get_mut(&line.file) else {
        return Ok(None);
    };
    if !slot.stdin {
        if slot.line == 0 {
            // A resumed file's old checkpoint entry is replaced by its live position.
            positions.retain(|k, c| *k < usize::MAX / 2 || c.path != slot.path);
        }
        positions.insert(line.file, line.checkpoint(&slot.path));
    }
    slot.line += 1;
    let Some(r) = reports.get_mut(slot.report) else {
        return Ok(None);
    };
    r.stats.bytes += line.length + 1;
    if slot.decoder.is_none() {
        let head = if slot.stdin {
            line.bytes.clone()
        } else {
            read_head(&slot.path).unwrap_or_else(|| line.bytes.clone())
        };
        let format = cfg
            .input
            .format
            .or_else(|| factory.detect(&head))
            .or_else(|| factory.detect(&line.bytes));
        if let Some(f) = format {
            let reference = file_mtime(&slot.path).unwrap_or_else(wall_clock_now);
            slot.decoder = Some(factory.build(f, reference, &head)?);
            r.format = f.as_str();
        }
    }
    let info = LineInfo {
        number: slot.line,
        length: line.length,
        too_long: line.too_long,
        terminated: true,
    };
    let decoder: Option<&mut dyn Decoder> = match &mut slot.decoder {
        Some(d) => Some(d.as_mut()),
        None => None,
    };
    match policy.take(decoder, &line.bytes, &info, slot.source, &mut r.stats) {
        Counted::Event(ev) => {
            metrics.events.fetch_add(1, Ordering::Relaxed);
            Ok(Some(ev))
        }
        Counted::Skipped => Ok(None),
        // `tail` is never strict: a rejected line is counted and reading goes on.
        Counted::Rejected(_) | Counted::Stop(_) => {
            metrics.rejected.fetch_add(1, Ordering::Relaxed);
            Ok(None)
        }
    }
}

fn read_head(path: &Path) -> Option<Vec<u8>> {
    let mut f = File::open(path).ok()?;
    let mut head = Vec::with_capacity(64 * 1024);
    Read::by_ref(&mut f)
        .take(64 * 1024)
        .read_to_end(&mut head)
        .ok()?;
    (!head.is_empty()).then_some(head)
}

fn file_mtime(path: &Path) -> Option<Timestamp> {
    let m = fs::metadata(path).ok()?.modified().ok()?;
    let d = m.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(Timestamp(i64::try_from(d.as_millis()).ok()?))
}

fn restore_detectors(engine: &mut Engine, state: &StateDir, c: &Checkpoint) -> usize {
    let mut restored = 0;
    for d in engine.states_mut() {
        if !c.detectors.iter().any(|n| n == d.state_name()) {
            continue;
        }
        let path = state.detector_path(d.state_name());
        let result = fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| d.read_snapshot(&text).map_err(|e| e.to_string()));
        match result {
            Ok(()) => restored += 1,
            Err(e) => tracing::warn!(detector = d.state_name(), path = %path.display(), error = %e,
                "detector state in the checkpoint could not be restored; starting it afresh"),
        }
    }
    restored
}

fn write_checkpoint(
    state: &StateDir,
    det: &mut Detection<'_>,
    stats: &mut RunStats,
    positions: &BTreeMap<usize, FileCheckpoint>,
) -> Result<(), Error> {
    // A checkpointed line must have reached the rules: copies held for pairing go now.
    det.flush(true, stats)?;
    // Every alert of a checkpointed line must be durable before the checkpoint says the line
    // is done.
    det.outlet.checkpoint()?;
    let engine = &det.engine;
    let generation = state.begin()?;
    let mut detectors = Vec::new();
    for d in engine.states() {
        match state.write_detector(&generation, d) {
            Ok(()) => detectors.push(d.state_name().to_string()),
            Err(e) => tracing::warn!(detector = d.state_name(), error = %e,
                "detector state left out of the checkpoint"),
        }
    }
    // Every slot's position: a rotated file still being finished and the new file at its path
    // both need theirs.
    let mut files: Vec<FileCheckpoint> = Vec::new();
    for c in positions.values() {
        if !files.iter().any(|f| f.identity == c.identity) {
            files.push(c.clone());
        }
    }
    let c = Checkpoint {
        version: CHECKPOINT_VERSION,
        watermark: engine.watermark().0,
        files,
        detectors,
    };
    state.commit(&generation, &c)?;
    tracing::debug!(
        files = c.files.len(),
        watermark = c.watermark,
        "checkpoint written"
    );
    if let Some(gate) = det.outlet.gate.as_mut() {
        gate.checkpointed()?;
    }
    Ok(())
}
