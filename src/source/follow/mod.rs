//! Following growing log files, as `tail -F` does, for `credwatch tail`.
//!
//! The follower watches *paths*, not file descriptors: each literal path or glob match names
//! whatever file is there now. Every open file is a *slot* ([`FollowedFile`]); a slot keeps its
//! index for the whole run, so a line's `file` index stays meaningful after the file was rotated
//! away. On every cycle the follower
//!
//! 1. re-expands the globs and `stat`s every path (on every `poll_interval` tick and whenever
//!    notify reports a create, remove or rename in a watched directory): a path that now names
//!    another file (dev, inode) means rotation, so the old slot becomes an *orphan* and the new
//!    file gets a slot read from offset 0;
//! 2. reads every open slot from where it stopped: orphans first (their lines are older than
//!    those of the file that replaced them), then the current files. A file smaller than our
//!    position, or whose first bytes changed, was truncated (copytruncate) and is re-read from 0;
//! 3. closes an orphan once it has stayed idle for `rotate_grace` (a writer may still append to
//!    the renamed file until it reopens its log), handing out its unterminated last line as is.
//!
//! notify (inotify) events are only wake-ups: the state is always taken from `stat`, and the
//! follower polls at least every `poll_interval`, because inotify drops events on queue overflow
//! and network file systems send none.
//!
//! Each file has a [`FileIdentity`] (device, inode and a hash of its first bytes) so a restart
//! can find a checkpointed file again, at its path or rotated beside it, and continue from the
//! checkpointed offset without losing or repeating a line.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde::{Deserialize, Serialize};

use crate::time::Span;

#[cfg(test)]
mod logrotate_tests;
#[cfg(test)]
mod tests;

/// How many leading bytes of a file its fingerprint covers.
pub const FINGERPRINT_BYTES: usize = 256;

/// Bytes read per `pread` call.
const READ_CHUNK: usize = 64 * 1024;

/// Chunks of standard input buffered ahead of the follower.
const STDIN_CHUNKS: usize = 16;

/// The longest wait, poll interval or grace period taken from the caller or the config (so
/// `Instant` arithmetic cannot overflow).
const MAX_DURATION: Duration = Duration::from_secs(7 * 86_400);

/// notify events queued for the follower; more are dropped (they are only wake-ups).
const NOTIFY_QUEUE: usize = 4096;

/// Extensions of compressed rotations, which never hold a checkpointed plain file.
const COMPRESSED_SUFFIXES: [&str; 6] = [".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z"];

/// Section `[tail]`: how `credwatch tail` follows files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FollowConfig {
    /// Files to follow: paths, glob patterns (`/var/log/nginx/*.log`, re-expanded on every poll
    /// so files that appear later are picked up) and `-` for standard input. A path containing
    /// `*`, `?` or `[` is a glob. The command line's paths replace these.
    pub paths: Vec<PathBuf>,
    /// Read the files that exist at start from their beginning instead of their end. Files that
    /// appear later are always read from their beginning.
    pub from_start: bool,
    /// Use inotify (through `notify`) to wake up as soon as a file changes; polling every
    /// `poll_interval` runs anyway. Off: polling only (e.g. on network file systems).
    pub use_notify: bool,
    /// How often every path is checked for growth, rotation and truncation, notify or not.
    pub poll_interval: Span,
    /// How long a rotated-away (renamed or deleted) file is still read after it last grew,
    /// because a writer keeps appending to it until it reopens its log.
    pub rotate_grace: Span,
    /// Lines longer than this many bytes are cut to it and flagged `too_long`. Not a key of
    /// `[tail]`: `credwatch tail` sets it to `[input] max_line_bytes`, the one line limit of
    /// every command.
    #[serde(skip)]
    pub max_line_bytes: usize,
}

impl Default for FollowConfig {
    fn default() -> FollowConfig {
        FollowConfig {
            paths: Vec::new(),
            from_start: false,
            use_notify: true,
            poll_interval: Span(250),
            rotate_grace: Span(2_000),
            max_line_bytes: 1024 * 1024,
        }
    }
}

/// What makes a file the same file across renames and restarts: device and inode, plus a hash
/// of its first bytes, because inodes are reused after a delete and copytruncate keeps the
/// inode while replacing the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct FileIdentity {
    /// Device number (`st_dev`).
    pub dev: u64,
    /// Inode number (`st_ino`).
    pub ino: u64,
    /// FNV-1a 64 hash of the first `fingerprint_len` bytes (stable across runs and builds).
    pub fingerprint: u64,
    /// How many leading bytes the fingerprint covers: the file's size while it is shorter than
    /// [`FINGERPRINT_BYTES`], so a file that grows is compared on the same prefix.
    pub fingerprint_len: u32,
}

/// Where to continue a file after a restart. Written by the caller (atomically, into its state
/// directory) from the lines it has fully processed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    /// The path the file was followed under ([`FollowedFile::path`]).
    pub path: PathBuf,
    /// The file's identity when the line at `offset` was read.
    pub identity: FileIdentity,
    /// The offset just after the last processed line ([`FollowedLine::end_offset`]).
    pub offset: u64,
}

/// One followed file (a slot). Its index in [`Follower::files`] never changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowedFile {
    /// The path it was followed under (`-` for standard input). A rotated-away file keeps the
    /// path it had: checkpoints name that path and the restart looks for the file beside it.
    pub path: PathBuf,
    /// Its identity (the fingerprint grows with the file up to [`FINGERPRINT_BYTES`] and is
    /// recomputed after a truncation). All zero for standard input.
    pub identity: FileIdentity,
    /// True for standard input.
    pub stdin: bool,
    /// True while the file is open and read.
    pub open: bool,
    /// True while the file is at its path; false once it was rotated away or deleted (it is
    /// still read for `rotate_grace` after it last grew).
    pub current: bool,
    /// The offset just after the last line handed out.
    pub offset: u64,
    /// Bytes consumed.
    pub bytes_read: u64,
    /// Lines handed out.
    pub lines: u64,
    /// Lines cut at `max_line_bytes`.
    pub too_long_lines: u64,
    /// Times the file left its path (renamed or deleted).
    pub rotations: u64,
    /// Times the file shrank or had its first bytes replaced (copytruncate), so it was re-read
    /// from the start.
    pub truncations: u64,
}

/// One complete line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowedLine {
    /// Index of its file in [`Follower::files`].
    pub file: usize,
    /// The file's identity when the line was read (for the checkpoint).
    pub identity: FileIdentity,
    /// The line without its terminator (`\n` or `\r\n`); at most `max_line_bytes`.
    pub bytes: Vec<u8>,
    /// The offset just after the line (and its terminator) in its file: where to continue.
    pub end_offset: u64,
    /// True when the line was longer than `max_line_bytes` and `bytes` holds only its start.
    pub too_long: bool,
    /// The line's full length in bytes (without its terminator), even when it was cut off.
    pub length: u64,
}

impl FollowedLine {
    /// The checkpoint that continues right after this line.
    pub fn checkpoint(&self, path: &Path) -> FileCheckpoint {
        FileCheckpoint {
            path: path.to_path_buf(),
            identity: self.identity,
            offset: self.end_offset,
        }
    }
}

/// What stops following.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// No path was given.
    #[error("nothing to follow: name at least one file, glob or `-`")]
    NoPaths,
    /// A glob pattern does not parse.
    #[error("{pattern}: bad glob pattern: {message}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// What glob said.
        message: String,
    },
    /// A path named directly is a directory.
    #[error("{path}: is a directory; follow the files in it with a glob such as `{path}/*.log`", path = path.display())]
    IsDirectory {
        /// The path.
        path: PathBuf,
    },
    /// A path named directly is neither a regular file nor a directory (a socket, a device).
    #[error("{path}: not a regular file", path = path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
}

/// The per-slot reading state behind a [`FollowedFile`].
#[derive(Debug)]
struct Slot {
    file: Option<File>,
    /// Bytes consumed, including an unfinished last line held in `partial`.
    read_pos: u64,
    /// The start of an unterminated line (at most `max_line_bytes`).
    partial: Vec<u8>,
    /// The full length of that unterminated line so far.
    partial_len: u64,
    /// The size seen at the last check: the prefix is re-checked only when it changes.
    last_size: u64,
    /// When the slot last grew, or was orphaned: the grace period counts from here.
    last_activity: Instant,
    /// A read error was reported (reported once, retried every cycle).
    warned_read: bool,
}

impl Slot {
    fn new(file: Option<File>, pos: u64, size: u64) -> Slot {
        Slot {
            file,
            read_pos: pos,
            partial: Vec::new(),
            partial_len: 0,
            last_size: size,
            last_activity: Instant::now(),
            warned_read: false,
        }
    }
}

/// A path being followed: a literal path or one glob match.
#[derive(Debug)]
struct Watch {
    path: PathBuf,
    /// Named directly (kept while missing) rather than matched by a glob (dropped once gone).
    literal: bool,
    /// The slot of the file now at the path.
    current: Option<usize>,
    /// "Waiting for it" was reported.
    warned_missing: bool,
    /// "Cannot open it" was reported.
    warned_open: bool,
    /// The next file found at the path is new: read it from 0 (a checkpoint said the path had
    /// a file we know, and that file is gone).
    read_next_from_start: bool,
}

/// Standard input, read by a thread into a bounded channel (a blocking read cannot be polled).
#[derive(Debug)]
struct StdinState {
    slot: usize,
    rx: Receiver<Vec<u8>>,
    /// Received bytes not yet split into lines.
    pending: Vec<u8>,
    eof: bool,
}

/// Follows files. Pull-based: call [`Follower::poll`] in a loop on a thread of your own.
pub struct Follower {
    poll_interval: Duration,
    rotate_grace: Duration,
    max_line: usize,
    from_start: bool,
    literals: Vec<PathBuf>,
    globs: Vec<glob::Pattern>,
    watches: Vec<Watch>,
    files: Vec<FollowedFile>,
    slots: Vec<Slot>,
    stdin: Option<StdinState>,
    /// The notify watcher; dropping it stops the events.
    watcher: Option<notify::RecommendedWatcher>,
    events: Option<Receiver<notify::Result<notify::Event>>>,
    watched_dirs: HashSet<PathBuf>,
    /// Checkpoints not applied yet, by path.
    resume: HashMap<PathBuf, Vec<FileCheckpoint>>,
    last_scan: Instant,
    rescan: bool,
    warned_globs: HashSet<usize>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("paths", &self.watches.len())
            .field("files", &self.files.len())
            .field("notify", &self.watcher.is_some())
            .finish_non_exhaustive()
    }
}

impl Follower {
    /// Starts following `cfg.paths`. Existing files are positioned at their end (or start with
    /// `from_start`), unless `resume` has a checkpoint for them: then the checkpointed file is
    /// found (at its path, or rotated in the same directory, by device, inode and fingerprint)
    /// and continued from its offset; a rotated one is finished before the file now at the path
    /// is read from 0. Nothing is read yet: call [`Follower::poll`].
    pub fn new(cfg: FollowConfig, resume: &[FileCheckpoint]) -> Result<Follower, FollowError> {
        Follower::with_stdin(cfg, resume, || Box::new(io::stdin()))
    }

    /// [`Follower::new`] with `-` read from `stdin()` instead of the process's standard input
    /// (for tests).
    fn with_stdin(
        cfg: FollowConfig,
        resume: &[FileCheckpoint],
        stdin: impl FnOnce() -> Box<dyn Read + Send> + Send + 'static,
    ) -> Result<Follower, FollowError> {
        if cfg.paths.is_empty() {
            return Err(FollowError::NoPaths);
        }
        let mut literals = Vec::new();
        let mut globs = Vec::new();
        let mut want_stdin = false;
        for p in &cfg.paths {
            if p.as_os_str() == "-" {
                want_stdin = true;
                continue;
            }
            match p.to_str() {
                Some(s) if s.contains(['*', '?', '[']) => {
                    let pat = glob::Pattern::new(s).map_err(|e| FollowError::BadPattern {
                        pattern: s.to_string(),
                        message: e.to_string(),
                    })?;
                    globs.push(pat);
                }
                _ => literals.push(p.clone()),
            }
        }
        let mut resume_map: HashMap<PathBuf, Vec<FileCheckpoint>> = HashMap::new();
        for cp in resume {
            resume_map
                .entry(cp.path.clone())
                .or_default()
                .push(cp.clone());
        }
        let mut f = Follower {
            poll_interval: span_duration(cfg.poll_interval).max(Duration::from_millis(1)),
            rotate_grace: span_duration(cfg.rotate_grace),
            max_line: cfg.max_line_bytes.max(1),
            from_start: cfg.from_start,
            literals,
            globs,
            watches: Vec::new(),
            files: Vec::new(),
            slots: Vec::new(),
            stdin: None,
            watcher: None,
            events: None,
            watched_dirs: HashSet::new(),
            resume: resume_map,
            last_scan: Instant::now(),
            rescan: false,
            warned_globs: HashSet::new(),
            buf: vec![0; READ_CHUNK],
        };
        if cfg.use_notify {
            f.start_notify();
        }
        if want_stdin {
            f.start_stdin(stdin);
        }
        f.scan(true)?;
        Ok(f)
    }

    /// Every file followed so far; a line's `file` indexes this. Slots are never removed.
    pub fn files(&self) -> &[FollowedFile] {
        &self.files
    }

    /// True when notify (inotify) is set up; false when following by polling alone.
    pub fn uses_notify(&self) -> bool {
        self.watcher.is_some()
    }

    /// Appends up to `max_lines` complete lines to `out`, waiting at most `wait` for the first
    /// one. Returns with nothing appended when `wait` passed without a line (so the caller can
    /// send an idle tick), or when standard input, the only input, has ended.
    pub fn poll(
        &mut self,
        out: &mut Vec<FollowedLine>,
        max_lines: usize,
        wait: Duration,
    ) -> Result<(), FollowError> {
        let start = Instant::now();
        // Clamped so the deadline cannot overflow.
        let deadline = start.checked_add(wait.min(MAX_DURATION)).unwrap_or(start);
        let limit = out.len().saturating_add(max_lines.max(1));
        let before = out.len();
        loop {
            self.drain_events();
            if self.rescan || self.last_scan.elapsed() >= self.poll_interval {
                self.scan(false)?;
            }
            self.read_all(out, limit);
            if out.len() > before || self.finished() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            let next_scan = self.last_scan + self.poll_interval;
            let until = deadline.min(next_scan.max(now));
            self.wait_until(until);
        }
    }

    /// True when nothing can produce lines any more: only standard input was followed, and
    /// it has ended and been handed out.
    pub fn finished(&self) -> bool {
        self.watches.is_empty()
            && self.literals.is_empty()
            && self.globs.is_empty()
            && self.stdin.as_ref().is_none_or(|s| {
                // Closed once its unterminated last line, if any, was handed out.
                s.eof && s.pending.is_empty() && !self.files.get(s.slot).is_some_and(|f| f.open)
            })
    }

    fn start_notify(&mut self) {
        let (tx, rx) = crossbeam_channel::bounded(NOTIFY_QUEUE);
        match notify::recommended_watcher(move |ev| {
            // Events are only wake-ups: when the follower is not polled for a while (its
            // consumer is slow) the queue fills and further events are dropped rather than
            // piling up; the periodic rescan catches anything they would have said.
            let _ = tx.try_send(ev);
        }) {
            Ok(w) => {
                self.watcher = Some(w);
                self.events = Some(rx);
            }
            Err(e) => {
                tracing::warn!(error = %e, "notify unavailable; following by polling only");
            }
        }
    }

    fn start_stdin(&mut self, stdin: impl FnOnce() -> Box<dyn Read + Send> + Send + 'static) {
        let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(STDIN_CHUNKS);
        let spawned = std::thread::Builder::new()
            .name("credwatch-stdin".into())
            .spawn(move || {
                let mut input = stdin();
                loop {
                    let mut chunk = vec![0u8; READ_CHUNK];
                    match input.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => {
                            chunk.truncate(n);
                            if tx.send(chunk).is_err() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "reading standard input failed");
                            break;
                        }
                    }
                }
            });
        let eof = match spawned {
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the standard-input reader");
                true
            }
        };
        let slot = self.add_slot(PathBuf::from("-"), FileIdentity::default(), None, 0, 0);
        if let Some(f) = self.files.get_mut(slot) {
            f.stdin = true;
            f.open = !eof;
        }
        self.stdin = Some(StdinState {
            slot,
            rx,
            pending: Vec::new(),
            eof,
        });
    }

    fn add_slot(
        &mut self,
        path: PathBuf,
        identity: FileIdentity,
        file: Option<File>,
        pos: u64,
        size: u64,
    ) -> usize {
        let open = file.is_some();
        self.files.push(FollowedFile {
            path,
            identity,
            stdin: false,
            open,
            current: true,
            offset: pos,
            bytes_read: 0,
            lines: 0,
            too_long_lines: 0,
            rotations: 0,
            truncations: 0,
        });
        self.slots.push(Slot::new(file, pos, size));
        self.files.len() - 1
    }

    /// Takes every pending notify event; a structural one (create, remove, rename, overflow)
    /// asks for a rescan.
    fn drain_events(&mut self) {
        let Some(rx) = self.events.clone() else {
            return;
        };
        while let Ok(ev) = rx.try_recv() {
            self.note_event(ev);
        }
    }

    /// Returns whether the event can mean new data or a new file (so waiting should end).
    fn note_event(&mut self, ev: notify::Result<notify::Event>) -> bool {
        use notify::EventKind;
        use notify::event::{AccessKind, AccessMode, ModifyKind};
        match ev {
            Err(_) => {
                self.rescan = true;
                true
            }
            Ok(ev) => {
                if ev.need_rescan() {
                    self.rescan = true;
                    return true;
                }
                match ev.kind {
                    EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
                    // Opens and reads (ours too) change nothing.
                    EventKind::Access(_) => false,
                    EventKind::Modify(ModifyKind::Data(_)) => true,
                    EventKind::Modify(ModifyKind::Metadata(_)) => true,
                    EventKind::Modify(_)
                    | EventKind::Create(_)
                    | EventKind::Remove(_)
                    | EventKind::Any
                    | EventKind::Other => {
                        self.rescan = true;
                        true
                    }
                }
            }
        }
    }

    /// Sleeps until `until`, or until a notify event or standard-input data arrives.
    fn wait_until(&mut self, until: Instant) {
        let events = self.events.clone();
        let stdin_rx = self.stdin.as_ref().filter(|s| !s.eof).map(|s| s.rx.clone());
        loop {
            let timeout = until.saturating_duration_since(Instant::now());
            if timeout.is_zero() {
                return;
            }
            match (&events, &stdin_rx) {
                (None, None) => {
                    std::thread::sleep(timeout);
                    return;
                }
                (Some(ev), None) => match ev.recv_timeout(timeout) {
                    Ok(e) => {
                        if self.note_event(e) {
                            return;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => return,
                    Err(RecvTimeoutError::Disconnected) => {
                        self.events = None;
                        return;
                    }
                },
                (None, Some(rx)) => {
                    match rx.recv_timeout(timeout) {
                        Ok(chunk) => self.stdin_data(Some(chunk)),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => self.stdin_data(None),
                    }
                    return;
                }
                (Some(ev), Some(rx)) => {
                    crossbeam_channel::select! {
                        recv(ev) -> e => match e {
                            Ok(e) => if self.note_event(e) { return; },
                            Err(_) => { self.events = None; return; }
                        },
                        recv(rx) -> c => { self.stdin_data(c.ok()); return; }
                        default(timeout) => return,
                    }
                }
            }
        }
    }

    fn stdin_data(&mut self, chunk: Option<Vec<u8>>) {
        if let Some(s) = self.stdin.as_mut() {
            match chunk {
                Some(c) => s.pending.extend_from_slice(&c),
                None => s.eof = true,
            }
        }
    }

    /// Re-expands the globs, `stat`s every path and notices new, rotated and deleted files.
    fn scan(&mut self, initial: bool) -> Result<(), FollowError> {
        self.rescan = false;
        self.last_scan = Instant::now();
        let mut paths: Vec<(PathBuf, bool)> =
            self.literals.iter().map(|p| (p.clone(), true)).collect();
        for (i, pat) in self.globs.iter().enumerate() {
            let mut n = 0;
            if let Ok(matches) = glob::glob(pat.as_str()) {
                for m in matches.flatten() {
                    n += 1;
                    paths.push((m, false));
                }
            }
            if n == 0 && initial && self.warned_globs.insert(i) {
                tracing::warn!(
                    pattern = pat.as_str(),
                    "no file matches yet; waiting for one"
                );
            }
        }
        let mut seen: HashSet<PathBuf> = HashSet::with_capacity(paths.len());
        for (path, literal) in paths {
            if !seen.insert(path.clone()) {
                continue;
            }
            if !self.watches.iter().any(|w| w.path == path) {
                self.watches.push(Watch {
                    path: path.clone(),
                    literal,
                    current: None,
                    warned_missing: false,
                    warned_open: false,
                    read_next_from_start: false,
                });
                if let Some(cps) = self.resume.remove(&path) {
                    let at_path = self.resume_checkpoints(&path, cps);
                    if let Some(w) = self.watches.last_mut() {
                        match at_path {
                            Some(slot) => w.current = Some(slot),
                            None => w.read_next_from_start = true,
                        }
                    }
                }
            }
        }
        if initial {
            // Checkpointed files whose path is no longer there (a dated log that was rotated
            // away): finish them if they can still be found.
            let left: Vec<(PathBuf, Vec<FileCheckpoint>)> = self.resume.drain().collect();
            for (path, cps) in left {
                let wanted = self.literals.contains(&path)
                    || self.globs.iter().any(|g| g.matches_path(&path));
                if wanted {
                    self.resume_checkpoints(&path, cps);
                }
            }
        }
        let mut i = 0;
        while i < self.watches.len() {
            if self.check_watch(i, initial)? {
                i += 1;
            } else {
                self.watches.remove(i);
            }
        }
        for (i, f) in self.files.iter_mut().enumerate() {
            let current = self.watches.iter().any(|w| w.current == Some(i));
            if f.current && !current && !f.stdin {
                f.current = false;
                f.rotations += 1;
                if let Some(s) = self.slots.get_mut(i) {
                    s.last_activity = Instant::now();
                }
            }
        }
        self.watch_dirs();
        Ok(())
    }

    /// Brings one watch up to date with its path. Returns false when the watch should go (a
    /// glob match that is gone or is not a file).
    fn check_watch(&mut self, wi: usize, initial: bool) -> Result<bool, FollowError> {
        let Some(w) = self.watches.get_mut(wi) else {
            return Ok(false);
        };
        let path = w.path.clone();
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                w.current = None;
                if !w.literal {
                    return Ok(false);
                }
                if !w.warned_missing {
                    w.warned_missing = true;
                    if e.kind() == io::ErrorKind::NotFound {
                        tracing::warn!(path = %path.display(), "no such file yet; waiting for it");
                    } else {
                        tracing::warn!(path = %path.display(), error = %e, "cannot stat; retrying");
                    }
                }
                return Ok(true);
            }
        };
        w.warned_missing = false;
        if !meta.is_file() {
            if !w.literal {
                return Ok(false);
            }
            return Err(if meta.is_dir() {
                FollowError::IsDirectory { path }
            } else {
                FollowError::NotAFile { path }
            });
        }
        let (dev, ino) = (meta.dev(), meta.ino());
        if let Some(cur) = w.current
            && let Some(f) = self.files.get(cur)
            && f.identity.dev == dev
            && f.identity.ino == ino
        {
            return Ok(true);
        }
        w.current = None;
        let from_start = w.read_next_from_start;
        // The file at the path is one we already read (a glob that also matches rotations).
        if let Some(i) = self
            .files
            .iter()
            .position(|f| f.open && !f.stdin && f.identity.dev == dev && f.identity.ino == ino)
        {
            if let Some(w) = self.watches.get_mut(wi) {
                w.current = Some(i);
            }
            if let Some(f) = self.files.get_mut(i) {
                f.current = true;
            }
            return Ok(true);
        }
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                if let Some(w) = self.watches.get_mut(wi)
                    && !w.warned_open
                {
                    w.warned_open = true;
                    tracing::warn!(path = %path.display(), error = %e, "cannot open; retrying");
                }
                return Ok(true);
            }
        };
        let identity = match identify(&file) {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read; retrying");
                return Ok(true);
            }
        };
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        // A closed slot of the same file (rotated back into a glob's view): continue it.
        let closed = self
            .files
            .iter()
            .position(|f| !f.open && !f.stdin && f.identity.dev == dev && f.identity.ino == ino);
        if let Some(i) = closed
            && let Some(f) = self.files.get(i)
            && prefix_matches(&file, &f.identity).unwrap_or(false)
            && size >= f.offset
        {
            if let Some(s) = self.slots.get_mut(i) {
                s.file = Some(file);
                s.last_size = size;
                s.last_activity = Instant::now();
            }
            if let Some(f) = self.files.get_mut(i) {
                f.open = true;
                f.current = true;
            }
            if let Some(w) = self.watches.get_mut(wi) {
                w.current = Some(i);
                w.warned_open = false;
            }
            return Ok(true);
        }
        let pos = if initial && !from_start && !self.from_start {
            size
        } else {
            0
        };
        let slot = self.add_slot(path, identity, Some(file), pos, size);
        if let Some(w) = self.watches.get_mut(wi) {
            w.current = Some(slot);
            w.warned_open = false;
            w.read_next_from_start = false;
        }
        Ok(true)
    }

    /// Finds the files of `path`'s checkpoints. Rotated ones get orphan slots that continue at
    /// their offsets (older first); returns the slot of the one still at `path`.
    fn resume_checkpoints(&mut self, path: &Path, mut cps: Vec<FileCheckpoint>) -> Option<usize> {
        // One checkpoint per file: the furthest.
        cps.sort_by_key(|c| std::cmp::Reverse(c.offset));
        let mut seen = HashSet::new();
        cps.retain(|c| seen.insert((c.identity.dev, c.identity.ino)));
        let at_path = std::fs::metadata(path).ok().filter(|m| m.is_file());
        let mut current = None;
        let mut rotated: Vec<(std::time::SystemTime, FileCheckpoint, File, PathBuf)> = Vec::new();
        for cp in cps {
            if let Some(m) = &at_path
                && m.dev() == cp.identity.dev
                && m.ino() == cp.identity.ino
                && let Ok(file) = File::open(path)
            {
                current = Some((cp, file));
                continue;
            }
            match find_rotated(path, &cp.identity) {
                Some((found, file, mtime)) => rotated.push((mtime, cp, file, found)),
                None => tracing::warn!(
                    path = %path.display(),
                    "the checkpointed file is gone (rotated away or deleted); \
                     reading the file now at the path from its start"
                ),
            }
        }
        rotated.sort_by_key(|r| r.0);
        for (_, cp, file, found) in rotated {
            tracing::info!(
                path = %path.display(),
                rotated_to = %found.display(),
                offset = cp.offset,
                "finishing the checkpointed file, rotated while we were down"
            );
            let slot = self.resume_slot(path, cp, file);
            if let Some(f) = self.files.get_mut(slot) {
                f.current = false;
                f.rotations += 1;
            }
        }
        current.map(|(cp, file)| self.resume_slot(path, cp, file))
    }

    /// A slot continuing `cp` in `file`, or reading it from 0 when it was truncated or its
    /// content replaced since.
    fn resume_slot(&mut self, path: &Path, cp: FileCheckpoint, file: File) -> usize {
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let same = prefix_matches(&file, &cp.identity).unwrap_or(false);
        let identity = identify(&file).unwrap_or(cp.identity);
        let truncated = !same || size < cp.offset;
        let pos = if truncated { 0 } else { cp.offset };
        let slot = self.add_slot(path.to_path_buf(), identity, Some(file), pos, size);
        if truncated && let Some(f) = self.files.get_mut(slot) {
            f.truncations += 1;
            tracing::warn!(
                path = %path.display(),
                offset = cp.offset,
                size,
                "the checkpointed file was truncated while we were down; reading it from its start"
            );
        }
        slot
    }

    /// Registers the parent directories of the paths with notify (non-recursive), retrying
    /// the ones that could not be watched yet.
    fn watch_dirs(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        use notify::Watcher;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for p in self
            .literals
            .iter()
            .chain(self.watches.iter().map(|w| &w.path))
        {
            dirs.push(parent_dir(p));
        }
        for g in &self.globs {
            dirs.push(glob_base(g.as_str()));
        }
        for d in dirs {
            if self.watched_dirs.contains(&d) {
                continue;
            }
            if watcher
                .watch(&d, notify::RecursiveMode::NonRecursive)
                .is_ok()
            {
                self.watched_dirs.insert(d);
            }
        }
    }

    /// Reads every open slot: orphans first (their lines are older), then current files.
    fn read_all(&mut self, out: &mut Vec<FollowedLine>, limit: usize) {
        for pass_current in [false, true] {
            for i in 0..self.files.len() {
                let Some(f) = self.files.get(i) else { break };
                if !f.open || f.stdin || f.current != pass_current {
                    continue;
                }
                if out.len() >= limit {
                    return;
                }
                self.read_slot(i, out, limit);
            }
        }
        if out.len() < limit {
            self.read_stdin(out, limit);
        }
        // Orphans idle for the grace period are finished.
        let now = Instant::now();
        for i in 0..self.files.len() {
            if out.len() >= limit {
                return;
            }
            let (Some(f), Some(s)) = (self.files.get(i), self.slots.get(i)) else {
                break;
            };
            if f.open
                && !f.current
                && !f.stdin
                && now.saturating_duration_since(s.last_activity) >= self.rotate_grace
            {
                self.flush_partial(i, out);
                if let Some(s) = self.slots.get_mut(i) {
                    s.file = None;
                }
                if let Some(f) = self.files.get_mut(i) {
                    f.open = false;
                }
            }
        }
    }

    fn read_slot(&mut self, i: usize, out: &mut Vec<FollowedLine>, limit: usize) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let Some(file) = slot.file.as_ref() else {
            return;
        };
        let size = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                self.read_failed(i, &e);
                return;
            }
        };
        if size != slot.last_size || size < slot.read_pos {
            let Some(f) = self.files.get(i) else { return };
            let check = check_prefix(file, &f.identity, size);
            match check {
                Ok(Prefix::Same(grown)) => {
                    if let (Some(id), Some(f)) = (grown, self.files.get_mut(i)) {
                        f.identity = id;
                    }
                    if size < slot.read_pos {
                        self.truncated(i, out, size);
                        return;
                    }
                }
                Ok(Prefix::Replaced) => {
                    self.truncated(i, out, size);
                    return;
                }
                Err(e) => {
                    self.read_failed(i, &e);
                    return;
                }
            }
            if let Some(s) = self.slots.get_mut(i) {
                s.last_size = size;
            }
        }
        let mut buf = std::mem::take(&mut self.buf);
        loop {
            if out.len() >= limit {
                break;
            }
            let Some(slot) = self.slots.get_mut(i) else {
                break;
            };
            let Some(file) = slot.file.as_ref() else {
                break;
            };
            let n = match read_at(file, &mut buf, slot.read_pos) {
                Ok(n) => n,
                Err(e) => {
                    self.read_failed(i, &e);
                    break;
                }
            };
            if n == 0 {
                break;
            }
            slot.last_activity = Instant::now();
            slot.warned_read = false;
            let data = buf.get(..n).unwrap_or_default();
            self.feed(i, data, out, limit);
        }
        self.buf = buf;
    }

    fn read_stdin(&mut self, out: &mut Vec<FollowedLine>, limit: usize) {
        let Some(mut st) = self.stdin.take() else {
            return;
        };
        while !st.eof {
            match st.rx.try_recv() {
                Ok(chunk) => st.pending.extend_from_slice(&chunk),
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => st.eof = true,
            }
        }
        let used = self.feed(st.slot, &st.pending, out, limit);
        st.pending.drain(..used.min(st.pending.len()));
        if st.eof && st.pending.is_empty() && out.len() < limit {
            self.flush_partial(st.slot, out);
            if let Some(f) = self.files.get_mut(st.slot) {
                f.open = false;
            }
        }
        self.stdin = Some(st);
    }

    fn read_failed(&mut self, i: usize, e: &io::Error) {
        if let (Some(s), Some(f)) = (self.slots.get_mut(i), self.files.get(i))
            && !s.warned_read
        {
            s.warned_read = true;
            tracing::warn!(path = %f.path.display(), error = %e, "read failed; retrying");
        }
    }

    /// The file shrank or its first bytes changed: hand out what was pending and read it again
    /// from the start.
    fn truncated(&mut self, i: usize, out: &mut Vec<FollowedLine>, size: u64) {
        self.flush_partial(i, out);
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        slot.read_pos = 0;
        slot.last_size = size;
        let identity = slot.file.as_ref().and_then(|f| identify(f).ok());
        if let Some(f) = self.files.get_mut(i) {
            tracing::info!(path = %f.path.display(), "file truncated; reading it from its start");
            f.truncations += 1;
            f.offset = 0;
            if let Some(id) = identity {
                f.identity = id;
            }
        }
    }

    /// Hands out an unterminated last line as it is (its file is finished).
    fn flush_partial(&mut self, i: usize, out: &mut Vec<FollowedLine>) {
        let (Some(s), Some(f)) = (self.slots.get_mut(i), self.files.get_mut(i)) else {
            return;
        };
        if s.partial_len == 0 {
            return;
        }
        let too_long = s.partial_len > s.partial.len() as u64;
        let length = s.partial_len;
        s.partial_len = 0;
        f.lines += 1;
        f.offset = s.read_pos;
        if too_long {
            f.too_long_lines += 1;
        }
        out.push(FollowedLine {
            file: i,
            identity: f.identity,
            bytes: std::mem::take(&mut s.partial),
            end_offset: s.read_pos,
            too_long,
            length,
        });
    }

    /// Splits `data` (the bytes at the slot's read position) into lines. Returns how many bytes
    /// were consumed: all of them, unless `out` reached `limit` first.
    fn feed(&mut self, i: usize, data: &[u8], out: &mut Vec<FollowedLine>, limit: usize) -> usize {
        let max = self.max_line;
        let (Some(s), Some(f)) = (self.slots.get_mut(i), self.files.get_mut(i)) else {
            return data.len();
        };
        let mut rest = data;
        while !rest.is_empty() && out.len() < limit {
            match memchr::memchr(b'\n', rest) {
                Some(nl) => {
                    let (piece, after) = rest.split_at(nl);
                    rest = after.get(1..).unwrap_or_default();
                    let consumed = nl as u64 + 1;
                    s.read_pos += consumed;
                    f.bytes_read += consumed;
                    let total = s.partial_len + piece.len() as u64;
                    let too_long = total > max as u64;
                    let mut bytes = std::mem::take(&mut s.partial);
                    let room = max.saturating_sub(bytes.len());
                    bytes.extend_from_slice(piece.get(..room.min(piece.len())).unwrap_or(piece));
                    s.partial_len = 0;
                    let mut length = total;
                    if !too_long && bytes.last() == Some(&b'\r') {
                        bytes.pop();
                        length -= 1;
                    }
                    f.lines += 1;
                    f.offset = s.read_pos;
                    if too_long {
                        f.too_long_lines += 1;
                    }
                    out.push(FollowedLine {
                        file: i,
                        identity: f.identity,
                        bytes,
                        end_offset: s.read_pos,
                        too_long,
                        length,
                    });
                }
                None => {
                    let room = max.saturating_sub(s.partial.len());
                    s.partial
                        .extend_from_slice(rest.get(..room.min(rest.len())).unwrap_or(rest));
                    s.partial_len += rest.len() as u64;
                    s.read_pos += rest.len() as u64;
                    f.bytes_read += rest.len() as u64;
                    rest = &[];
                }
            }
        }
        data.len() - rest.len()
    }
}

/// What the first bytes of an open file say.
enum Prefix {
    /// Unchanged; with the grown identity when the fingerprint now covers more bytes.
    Same(Option<FileIdentity>),
    /// Shorter than the fingerprinted prefix or different: the content was replaced.
    Replaced,
}

fn check_prefix(file: &File, id: &FileIdentity, size: u64) -> io::Result<Prefix> {
    let want = (size as usize).min(FINGERPRINT_BYTES);
    let mut head = vec![0u8; want];
    let n = read_full_at(file, &mut head, 0)?;
    head.truncate(n);
    let old_len = id.fingerprint_len as usize;
    let Some(old) = head.get(..old_len) else {
        return Ok(Prefix::Replaced);
    };
    if fnv1a(old) != id.fingerprint {
        return Ok(Prefix::Replaced);
    }
    if head.len() > old_len {
        return Ok(Prefix::Same(Some(FileIdentity {
            fingerprint: fnv1a(&head),
            fingerprint_len: head.len() as u32,
            ..*id
        })));
    }
    Ok(Prefix::Same(None))
}

/// The identity of an open file now.
fn identify(file: &File) -> io::Result<FileIdentity> {
    let meta = file.metadata()?;
    let mut head = [0u8; FINGERPRINT_BYTES];
    let n = read_full_at(file, &mut head, 0)?;
    let head = head.get(..n).unwrap_or_default();
    Ok(FileIdentity {
        dev: meta.dev(),
        ino: meta.ino(),
        fingerprint: fnv1a(head),
        fingerprint_len: n as u32,
    })
}

/// True when the file's first `fingerprint_len` bytes hash to `id.fingerprint`.
fn prefix_matches(file: &File, id: &FileIdentity) -> io::Result<bool> {
    let len = (id.fingerprint_len as usize).min(FINGERPRINT_BYTES);
    let mut head = vec![0u8; len];
    let n = read_full_at(file, &mut head, 0)?;
    Ok(n == len && fnv1a(&head) == id.fingerprint)
}

/// Looks in `path`'s directory for the file with `id` (a rotation such as `access.log.1`),
/// skipping compressed rotations. Returns its path, an open handle and its modification time.
fn find_rotated(path: &Path, id: &FileIdentity) -> Option<(PathBuf, File, std::time::SystemTime)> {
    let dir = parent_dir(path);
    for entry in std::fs::read_dir(&dir).ok()?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if COMPRESSED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || meta.dev() != id.dev || meta.ino() != id.ino {
            continue;
        }
        let p = entry.path();
        let Ok(file) = File::open(&p) else { continue };
        if prefix_matches(&file, id).unwrap_or(false) {
            let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            return Some((p, file, mtime));
        }
    }
    None
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The directory a glob pattern's first wildcard component lives in.
fn glob_base(pattern: &str) -> PathBuf {
    let mut base = PathBuf::new();
    for comp in Path::new(pattern).components() {
        if comp.as_os_str().to_string_lossy().contains(['*', '?', '[']) {
            break;
        }
        base.push(comp);
    }
    if base.as_os_str().is_empty() || base.as_os_str() == pattern {
        parent_dir(Path::new(pattern))
    } else {
        base
    }
}

fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, pos) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    let mut n = 0;
    while let Some(rest) = buf.get_mut(n..) {
        if rest.is_empty() {
            break;
        }
        let got = read_at(file, rest, pos + n as u64)?;
        if got == 0 {
            break;
        }
        n += got;
    }
    Ok(n)
}

fn span_duration(s: Span) -> Duration {
    Duration::from_millis(u64::try_from(s.millis()).unwrap_or(0)).min(MAX_DURATION)
}

/// FNV-1a 64: fixed constants, so fingerprints stay comparable across runs, builds and
/// versions (a seeded hasher would not).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
