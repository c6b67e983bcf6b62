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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, bounded};
use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::config::Config;
use crate::decode::{Decoder, DecoderFactory};
use crate::dedup::OverlapDedup;
use crate::error::{Error, SinkError, SourceError};
use crate::event::SourceId;
use crate::metrics::Metrics;
use crate::pipeline::{AlertGate, Engine, LineOutcome, classify};
use crate::sink::Sink;
use crate::source::LineInfo;
use crate::source::follow::{FileCheckpoint, FollowConfig, FollowedLine, Follower};
use crate::stats::{RejectSample, RunStats, SourceReport, SourceStats};
use crate::time::{Timestamp, wall_clock_now};

/// Lines per batch handed from the reader to the engine.
const BATCH_LINES: usize = 1024;
/// How long the reader waits for a line before it sends an idle tick.
const IDLE_WAIT: Duration = Duration::from_millis(250);
/// The format of `checkpoint.json`.
const CHECKPOINT_VERSION: u32 = 1;

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

/// The checkpoint file.
#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    version: u32,
    /// Event time the detectors had reached.
    watermark: i64,
    files: Vec<FileCheckpoint>,
    /// Detectors whose snapshot is in the checkpoint directory (`<name>.json`).
    detectors: Vec<String>,
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

/// The engine behind the de-duplication of copies across inputs.
struct Detection<'a> {
    engine: Engine<'a>,
    dedup: Option<OverlapDedup>,
    released: Vec<crate::event::AuthEvent>,
}

impl Detection<'_> {
    fn process(&mut self, ev: crate::event::AuthEvent, stats: &mut RunStats) -> Result<(), Error> {
        match &mut self.dedup {
            Some(d) => {
                d.push(ev, &mut self.released);
                for ev in self.released.drain(..) {
                    self.engine.process(ev, stats)?;
                }
            }
            None => self.engine.process(ev, stats)?,
        }
        Ok(())
    }

    /// Releases every event held back for pairing.
    fn flush(&mut self, stats: &mut RunStats) -> Result<(), Error> {
        if let Some(d) = &mut self.dedup {
            d.flush(&mut self.released);
            for ev in self.released.drain(..) {
                self.engine.process(ev, stats)?;
            }
        }
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
    let follower = Follower::new(opts.follow.clone(), &resume).map_err(|e| {
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
    let mut engine = Engine::new(cfg, HashMap::new(), sinks, &mut stats)?;
    if let Some(c) = &checkpoint {
        if let Some(st) = &state {
            report.restored_detectors = restore_detectors(&mut engine, st, c);
        }
        engine.watermark = Timestamp(c.watermark);
    }
    engine.gate = Some(Box::new(gate));
    // Copies of one action in several inputs count once, as in a scan.
    let several = opts.follow.paths.len() > 1
        || opts
            .follow
            .paths
            .iter()
            .any(|p| p.to_string_lossy().contains(['*', '?', '[']));
    let mut det = Detection {
        engine,
        dedup: (cfg.input.dedup_overlapping_sources && several)
            .then(|| OverlapDedup::new(cfg.input.overlap_tolerance.millis())),
        released: Vec::new(),
    };
    tracing::info!(
        paths = ?opts.follow.paths,
        from_start = opts.follow.from_start,
        state_dir = ?opts.state_dir,
        resumed_files = report.resumed_files,
        dedup = det.dedup.is_some(),
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
                    det.engine.names.insert(source, display);
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
                    cfg, &factory, &mut det, &mut files, lines, &mut stats, metrics,
                )?;
                if had_events {
                    last_event_wall = Instant::now();
                    let newest = det.engine.watermark.0;
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
                det.flush(&mut stats)?;
                if last_idle_advance.elapsed() >= Duration::from_secs(1)
                    && det.engine.watermark.0 > i64::MIN
                {
                    last_idle_advance = Instant::now();
                    let idle = i64::try_from(last_event_wall.elapsed().as_millis()).unwrap_or(0);
                    let target = Timestamp(det.engine.watermark.0.saturating_add(idle));
                    let newest = det.engine.watermark;
                    det.engine.advance(target, &mut stats)?;
                    // The watermark stays the newest event time: what the idle tick advanced
                    // is the detectors' view, not the evidence.
                    det.engine.watermark = newest;
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
                    cfg, &factory, &mut det, &mut files, lines, &mut stats, metrics,
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
    det.flush(&mut stats)?;
    for s in det.engine.sinks.iter_mut() {
        s.checkpoint()?;
    }
    if let Some(s) = &state
        && (dirty || checkpoint.is_none())
    {
        write_checkpoint(s, &mut det, &mut stats, &files.positions)?;
        report.checkpoints += 1;
    }
    if let Some(d) = &det.dedup {
        stats.duplicates = d
            .dropped()
            .into_iter()
            .filter_map(|(id, n)| det.engine.names.get(&id).map(|name| (name.clone(), n)))
            .collect();
    }
    let mut engine = det.engine;
    let gate = engine.gate.take();
    stats.sources = files.reports;
    stats.elapsed_secs = started.elapsed().as_secs_f64();
    engine.finish_without_advance(&mut stats)?;
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

fn process_batch(
    cfg: &Config,
    factory: &DecoderFactory,
    det: &mut Detection<'_>,
    files: &mut Files,
    lines: Vec<FollowedLine>,
    stats: &mut RunStats,
    metrics: &Metrics,
) -> Result<(), Error> {
    for line in &lines {
        process_line(cfg, factory, det, files, line, stats, metrics)?;
    }
    Ok(())
}

fn process_line(
    cfg: &Config,
    factory: &DecoderFactory,
    det: &mut Detection<'_>,
    files: &mut Files,
    line: &FollowedLine,
    stats: &mut RunStats,
    metrics: &Metrics,
) -> Result<(), Error> {
    let Files {
        slots,
        reports,
        positions,
    } = files;
    metrics.lines.fetch_add(1, Ordering::Relaxed);
    let Some(slot) = slots.get_mut(&line.file) else {
        return Ok(());
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
        return Ok(());
    };
    r.stats.lines += 1;
    r.stats.bytes += line.bytes.len() as u64 + 1;
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
        length: line.bytes.len() as u64,
        too_long: line.too_long,
        terminated: true,
    };
    let outcome = match slot.decoder.as_mut() {
        Some(d) => classify(
            d.as_mut(),
            &line.bytes,
            &info,
            slot.source,
            cfg.input.max_line_bytes,
        ),
        None if line.bytes.iter().all(u8::is_ascii_whitespace) => LineOutcome::Blank,
        None => LineOutcome::Rejected(crate::error::ParseError::new("unknown_format")),
    };
    match outcome {
        LineOutcome::Event(ev) => {
            r.stats.events += 1;
            metrics.events.fetch_add(1, Ordering::Relaxed);
            let late_before = stats.late_events;
            det.process(ev, stats)?;
            if stats.late_events > late_before {
                metrics.late_events.fetch_add(1, Ordering::Relaxed);
            }
        }
        LineOutcome::Irrelevant => r.stats.irrelevant += 1,
        LineOutcome::Blank => r.stats.blank += 1,
        LineOutcome::Rejected(e) => {
            metrics.rejected.fetch_add(1, Ordering::Relaxed);
            let sample = RejectSample {
                line: slot.line,
                reason: e.reason,
                detail: e.detail,
            };
            r.stats.reject(sample, cfg.input.reject_samples);
        }
    }
    Ok(())
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

fn restore_detectors(engine: &mut Engine<'_>, state: &StateDir, c: &Checkpoint) -> usize {
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
    // A checkpointed line must have reached the detectors: copies held for pairing go now.
    det.flush(stats)?;
    let engine = &mut det.engine;
    // Every alert of a checkpointed line must be durable before the checkpoint says the line
    // is done.
    for s in engine.sinks.iter_mut() {
        s.checkpoint()?;
    }
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
        watermark: engine.watermark.0,
        files,
        detectors,
    };
    state.commit(&generation, &c)?;
    tracing::debug!(
        files = c.files.len(),
        watermark = c.watermark,
        "checkpoint written"
    );
    if let Some(gate) = engine.gate.as_mut() {
        gate.checkpointed()?;
    }
    Ok(())
}

/// The state directory:
///
/// - `CURRENT`: the name of the newest complete checkpoint directory, replaced atomically;
/// - `ckpt-<n>/`: `checkpoint.json` (file positions, watermark) and one `<detector>.json`
///   snapshot per detector. A checkpoint is written into a new directory, fsync'd, and only then
///   named in `CURRENT`, so a crash at any moment leaves the previous one whole;
/// - `emitted.log`: alerts delivered since the newest checkpoint;
/// - `webhook/`: the webhook spools.
///
/// Everything in it is as private as the logs (addresses, account names, the hash seeds), so it
/// is created with mode 0700.
#[derive(Debug)]
struct StateDir {
    dir: PathBuf,
}

/// A checkpoint directory being written.
struct Generation {
    name: String,
    dir: PathBuf,
}

impl StateDir {
    fn open(dir: &Path) -> Result<StateDir, Error> {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| state_error(dir, e))?;
        Ok(StateDir {
            dir: dir.to_path_buf(),
        })
    }

    fn current(&self) -> Option<String> {
        let name = fs::read_to_string(self.dir.join("CURRENT")).ok()?;
        let name = name.trim();
        (name.starts_with("ckpt-") && !name.contains('/')).then(|| name.to_string())
    }

    fn detector_path(&self, name: &str) -> PathBuf {
        let generation = self.current().unwrap_or_default();
        self.dir.join(generation).join(format!("{name}.json"))
    }

    fn ledger_path(&self) -> PathBuf {
        self.dir.join("emitted.log")
    }

    fn load(&self) -> Result<Option<Checkpoint>, Error> {
        let Some(generation) = self.current() else {
            return Ok(None);
        };
        let path = self.dir.join(&generation).join("checkpoint.json");
        let text = fs::read(&path).map_err(|e| state_error(&path, e))?;
        let c: Checkpoint = serde_json::from_slice(&text).map_err(|e| {
            state_error(
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            )
        })?;
        if c.version != CHECKPOINT_VERSION {
            tracing::warn!(path = %path.display(), version = c.version,
                "checkpoint of another format version ignored; starting afresh");
            return Ok(None);
        }
        Ok(Some(c))
    }

    /// A fresh checkpoint directory, numbered after the current one.
    fn begin(&self) -> Result<Generation, Error> {
        let n = self
            .current()
            .and_then(|c| c.trim_start_matches("ckpt-").parse::<u64>().ok())
            .map_or(1, |n| n + 1);
        let name = format!("ckpt-{n}");
        let dir = self.dir.join(&name);
        // A directory left by a crash half-way through its writing.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).map_err(|e| state_error(&dir, e))?;
        Ok(Generation { name, dir })
    }

    fn write_detector(
        &self,
        g: &Generation,
        d: &dyn crate::detect::RuleState,
    ) -> Result<(), Error> {
        let path = g.dir.join(format!("{}.json", d.state_name()));
        let write = || -> std::io::Result<()> {
            let f = File::create(&path)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            d.write_snapshot(&mut w).map_err(std::io::Error::other)?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()
        };
        write().map_err(|e| state_error(&path, e))
    }

    /// Writes `checkpoint.json` into `g`, then names `g` in `CURRENT` (temporary file, fsync,
    /// rename, fsync of the directory) and removes older checkpoint directories.
    fn commit(&self, g: &Generation, c: &Checkpoint) -> Result<(), Error> {
        let path = g.dir.join("checkpoint.json");
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&path)?;
            serde_json::to_writer(&mut f, c).map_err(std::io::Error::other)?;
            f.sync_all()?;
            File::open(&g.dir)?.sync_all()?;
            let tmp = self.dir.join("CURRENT.tmp");
            let mut f = File::create(&tmp)?;
            f.write_all(format!("{}\n", g.name).as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, self.dir.join("CURRENT"))?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| state_error(&path, e))?;
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("ckpt-") && name != g.name {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(())
    }

    fn ledger(&self) -> Result<File, Error> {
        let path = self.ledger_path();
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| state_error(&path, e))
    }

    /// The `(id, severity)` pairs sent since the last checkpoint.
    fn read_ledger(&self) -> Result<HashSet<(String, String)>, Error> {
        let path = self.ledger_path();
        let f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
            Err(e) => return Err(state_error(&path, e)),
        };
        let mut set = HashSet::new();
        for line in BufReader::new(f).lines() {
            let line = line.map_err(|e| state_error(&path, e))?;
            // A torn last line (killed mid-write) is ignored: its alert is sent again, with the
            // same id (at-least-once).
            if let Some((id, sev)) = line.split_once(' ')
                && id.len() == 16
                && !sev.is_empty()
            {
                set.insert((id.to_string(), sev.to_string()));
            }
        }
        Ok(set)
    }
}

fn state_error(path: &Path, e: std::io::Error) -> Error {
    Error::Sink(SinkError::Io {
        target: format!("state directory {}", path.display()),
        source: e,
    })
}

/// Live mode's alert gate: counts alerts, suppresses those sent before a restart, and notes
/// every delivered alert in the emitted-alert log until the next checkpoint covers it.
struct LiveGate {
    ledger: Option<File>,
    sent_before: HashSet<(String, String)>,
    suppressed: u64,
    metrics: Arc<Metrics>,
}

impl AlertGate for LiveGate {
    fn allow(&mut self, alert: &Alert) -> bool {
        let key = (alert.id.clone(), alert.severity.as_str().to_string());
        if self.sent_before.contains(&key) {
            self.suppressed += 1;
            return false;
        }
        true
    }

    fn delivered(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.metrics.count_alert(alert.rule);
        if let Some(f) = &mut self.ledger {
            // One write per alert: survives kill -9 (the page cache outlives the process).
            let line = format!("{} {}\n", alert.id, alert.severity.as_str());
            f.write_all(line.as_bytes()).map_err(|e| SinkError::Io {
                target: "emitted.log".into(),
                source: e,
            })?;
        }
        Ok(())
    }

    fn checkpointed(&mut self) -> Result<(), SinkError> {
        // The checkpoint's detector state knows these alerts: the log starts over.
        self.sent_before.clear();
        if let Some(f) = &mut self.ledger {
            f.set_len(0).map_err(|e| SinkError::Io {
                target: "emitted.log".into(),
                source: e,
            })?;
        }
        Ok(())
    }

    fn suppressed(&self) -> u64 {
        self.suppressed
    }
}
