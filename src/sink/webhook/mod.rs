//! Webhook sink: alerts POSTed as JSON arrays (or Slack messages) from a thread of their own.
//!
//! `emit` only enqueues (in memory, or appended to a durable spool), so a slow or dead receiver
//! never holds up detection. The delivery thread sends at most one batch per `batch_wait`: an
//! alert after a quiet spell goes out after 50 ms (with whatever else came in those 50 ms: the
//! first alerts of an attack reach the receiver at once), and during a flood whatever arrived since the previous send goes out
//! together, up to `batch_max` alerts (a full batch does not wait). It retries 5xx, 429 and network failures
//! with exponential backoff for as long as the process runs. Delivery is at least once: the
//! alert ids are in the body and in `X-Credwatch-Alert-Ids`, receivers de-duplicate by id.
//!
//! With a spool directory, alerts survive a crash or restart: the next sink on the same
//! directory delivers what is left first, in order (the file layout is described in `spool.rs`).

use std::collections::VecDeque;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

use crate::alert::Alert;
use crate::error::SinkError;
use crate::sink::Sink;
use crate::time::Span;

mod http;
mod spool;

#[cfg(test)]
mod tests;

use http::{Backoff, Outcome, Poster};
use spool::{Pos, SpoolReader, SpoolWriter};

/// Errors of the webhook sink and its configuration.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL is not an absolute `http` or `https` URL.
    #[error("webhook URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration value makes no sense.
    #[error("webhook.{key}: {message}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// Why.
        message: String,
    },
    /// The secret file could not be read.
    #[error("webhook secret file {path}: {source}")]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The secret is empty.
    #[error("webhook secret from {origin} is empty")]
    EmptySecret {
        /// `CREDWATCH_WEBHOOK_SECRET` or the file's path.
        origin: String,
    },
    /// Both the environment variable and a secret file were given.
    #[error(
        "webhook secret given twice: both CREDWATCH_WEBHOOK_SECRET and --webhook-secret-file are set; use one"
    )]
    SecretConflict,
    /// The spool directory could not be opened, written or synced.
    #[error("webhook spool {path}: {source}")]
    Spool {
        /// The spool directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The delivery thread could not be started.
    #[error("webhook: cannot start the delivery thread: {0}")]
    Thread(std::io::Error),
}

/// Body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// A JSON array of alert objects (`alerts.md`).
    #[default]
    Json,
    /// `{"text": "..."}` with one line per alert: a Slack (or compatible) incoming webhook.
    Slack,
}

impl WebhookFormat {
    /// `json` or `slack`.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
        }
    }
}

impl std::str::FromStr for WebhookFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<WebhookFormat, String> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(WebhookFormat::Json),
            "slack" => Ok(WebhookFormat::Slack),
            _ => Err(format!(
                "unknown webhook format {s:?} (expected json or slack)"
            )),
        }
    }
}

/// One webhook's settings. The TOML section holds the delivery settings shared by every
/// `--webhook URL`; `url`, `secret` and `spool_dir` come from the command line and environment
/// (a secret never sits in a config file or an argument list).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Where to POST (`http://` or `https://`). Set by `--webhook URL`.
    #[serde(skip)]
    pub url: String,
    /// `json` (array of alerts) or `slack` (`{"text": …}`).
    pub format: WebhookFormat,
    /// A batch is sent as soon as it holds this many alerts.
    pub batch_max: usize,
    /// Otherwise batches are at least this far apart: an alert after a quiet spell is sent
    /// within 50 ms, and alerts that come while the previous batch is this recent wait for it, together.
    #[serde(deserialize_with = "duration")]
    pub batch_wait: Duration,
    /// Limit for establishing a connection.
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// Limit for a whole request, connection to last byte of the answer.
    #[serde(deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// First retry wait; each further retry doubles it (with jitter).
    #[serde(deserialize_with = "duration")]
    pub initial_backoff: Duration,
    /// Longest wait between retries.
    #[serde(deserialize_with = "duration")]
    pub max_backoff: Duration,
    /// How long `finish` keeps trying to deliver what is pending before giving up (spooled
    /// alerts then wait for the next run; in-memory ones are lost and counted).
    #[serde(deserialize_with = "duration")]
    pub shutdown_timeout: Duration,
    /// HMAC-SHA256 key for `X-Credwatch-Signature`. From `CREDWATCH_WEBHOOK_SECRET` or
    /// `--webhook-secret-file` (see [`load_secret`]).
    #[serde(skip)]
    pub secret: Option<Vec<u8>>,
    /// Durable spool directory (see [`spool_dir_for`]); `None` keeps the queue in memory.
    #[serde(skip)]
    pub spool_dir: Option<PathBuf>,
}

impl Default for WebhookConfig {
    fn default() -> WebhookConfig {
        WebhookConfig {
            url: String::new(),
            format: WebhookFormat::Json,
            batch_max: 100,
            batch_wait: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(5),
            secret: None,
            spool_dir: None,
        }
    }
}

// By hand: the secret must never reach a log, and a Slack-style URL carries its token in the
// path.
impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &redact(&self.url))
            .field("format", &self.format)
            .field("batch_max", &self.batch_max)
            .field("batch_wait", &self.batch_wait)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("spool_dir", &self.spool_dir)
            .finish()
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let span = Span::deserialize(d)?;
    u64::try_from(span.millis())
        .map(Duration::from_millis)
        .map_err(serde::de::Error::custom)
}

impl WebhookConfig {
    /// The defaults for `url`, which is checked.
    pub fn new(url: impl Into<String>) -> Result<WebhookConfig, WebhookError> {
        let url = url.into();
        validate_url(&url)?;
        Ok(WebhookConfig {
            url,
            ..WebhookConfig::default()
        })
    }

    /// Checks the URL and values that parse but make no sense.
    pub fn validate(&self) -> Result<(), WebhookError> {
        validate_url(&self.url)?;
        let bad = |key, message: &str| {
            Err(WebhookError::BadValue {
                key,
                message: message.to_string(),
            })
        };
        if self.batch_max == 0 {
            return bad("batch_max", "must be at least 1");
        }
        for (key, d) in [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
            ("initial_backoff", self.initial_backoff),
        ] {
            if d.is_zero() {
                return bad(key, "must be positive");
            }
        }
        if self.max_backoff < self.initial_backoff {
            return bad("max_backoff", "must not be below initial_backoff");
        }
        if self.secret.as_ref().is_some_and(Vec::is_empty) {
            return bad("secret", "must not be empty");
        }
        Ok(())
    }
}

fn validate_url(url: &str) -> Result<(), WebhookError> {
    let bad = |reason: &str| {
        Err(WebhookError::InvalidUrl {
            url: redact(url),
            reason: reason.to_string(),
        })
    };
    let uri: ureq::http::Uri = match url.parse() {
        Ok(u) => u,
        Err(e) => return bad(&format!("not a URL ({e})")),
    };
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return bad(&format!("scheme {other:?} is not http or https")),
        None => return bad("expected an absolute http:// or https:// URL"),
    }
    if uri.host().is_none_or(str::is_empty) {
        return bad("no host");
    }
    Ok(())
}

/// `scheme://host[:port]/…` without credentials, path or query: what may be logged of a URL
/// (Slack and others put the token in the path).
pub fn redact(url: &str) -> String {
    match url.parse::<ureq::http::Uri>() {
        Ok(uri) => {
            let host = uri
                .authority()
                .map(|a| {
                    a.as_str()
                        .rsplit('@')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                })
                .unwrap_or_default();
            let rest = if uri.path().len() > 1 || uri.query().is_some() {
                "/…"
            } else {
                ""
            };
            format!("{}://{host}{rest}", uri.scheme_str().unwrap_or("?"))
        }
        Err(_) => "<unparsable URL>".to_string(),
    }
}

/// The spool directory of `url` under `--state-dir`: `<state_dir>/webhook/<16 hex digits of
/// SHA-256(url)>`, so each URL keeps its own queue and the URL (maybe secret) is not a path.
pub fn spool_dir_for(state_dir: &Path, url: &str) -> PathBuf {
    let digest = Sha256::digest(url.as_bytes());
    let mut name = String::with_capacity(16);
    for b in digest.iter().take(8) {
        name.push_str(&format!("{b:02x}"));
    }
    state_dir.join("webhook").join(name)
}

/// The webhook secret from the environment variable's value (`CREDWATCH_WEBHOOK_SECRET`) or a
/// file (`--webhook-secret-file`), not both. A file's content loses one trailing newline
/// (`\n` or `\r\n`); an empty secret or an unreadable file is an error, because silently
/// sending unsigned requests to a receiver that checks signatures loses every alert.
pub fn load_secret(
    env_value: Option<String>,
    file: Option<&Path>,
) -> Result<Option<Vec<u8>>, WebhookError> {
    match (env_value, file) {
        (Some(_), Some(_)) => Err(WebhookError::SecretConflict),
        (None, None) => Ok(None),
        (Some(v), None) => {
            if v.is_empty() {
                return Err(WebhookError::EmptySecret {
                    origin: "CREDWATCH_WEBHOOK_SECRET".to_string(),
                });
            }
            Ok(Some(v.into_bytes()))
        }
        (None, Some(path)) => {
            let mut bytes = std::fs::read(path).map_err(|source| WebhookError::SecretFile {
                path: path.to_path_buf(),
                source,
            })?;
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
            }
            if bytes.is_empty() {
                return Err(WebhookError::EmptySecret {
                    origin: path.display().to_string(),
                });
            }
            Ok(Some(bytes))
        }
    }
}

/// Delivery counters, shared with metrics and the summary.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Alerts delivered (2xx).
    pub sent: AtomicU64,
    /// Alerts given up on: rejected with a non-retryable status (4xx other than 429), or spooled
    /// lines that are not alerts.
    pub failed: AtomicU64,
    /// Alerts written to the disk spool.
    pub spooled: AtomicU64,
    /// HTTP attempts that failed and were retried.
    pub retries: AtomicU64,
    /// Alerts waiting for delivery (gauge), including a spool backlog from an earlier run.
    pub pending: AtomicU64,
    /// Alerts of an in-memory queue still undelivered when the sink finished.
    pub lost: AtomicU64,
}

/// A plain copy of [`WebhookStats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookCounts {
    /// See [`WebhookStats::sent`].
    pub sent: u64,
    /// See [`WebhookStats::failed`].
    pub failed: u64,
    /// See [`WebhookStats::spooled`].
    pub spooled: u64,
    /// See [`WebhookStats::retries`].
    pub retries: u64,
    /// See [`WebhookStats::pending`].
    pub pending: u64,
    /// See [`WebhookStats::lost`].
    pub lost: u64,
}

impl WebhookStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> WebhookCounts {
        WebhookCounts {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            spooled: self.spooled.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
        }
    }

    fn done(&self, n: u64, counter: &AtomicU64) {
        counter.fetch_add(n, Ordering::Relaxed);
        // Never below zero, whatever the interleaving.
        let _ = self
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(p.saturating_sub(n))
            });
    }
}

/// One queued alert: its id and its JSON text.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub id: String,
    pub json: String,
}

/// What the sink and its thread share under one lock.
struct Ctl {
    /// The in-memory queue (unused with a spool).
    queue: VecDeque<Record>,
    /// Alerts enqueued so far: a change wakes the thread.
    appended: u64,
    /// No more alerts will come; deliver what is left until `deadline`.
    closing: bool,
    /// When the thread must stop, delivered or not.
    deadline: Option<Instant>,
}

struct Shared {
    ctl: Mutex<Ctl>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Ctl> {
        // A panic on the other side cannot leave Ctl inconsistent (plain fields): keep going.
        self.ctl
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Alerts to one webhook URL. Create with [`WebhookSink::new`]; call [`Sink::finish`] at the end.
/// Dropping the sink without `finish` stops delivery at once, as a crash would (it still waits
/// for a request in flight, at most `request_timeout`).
pub struct WebhookSink {
    target: String,
    spool_dir: Option<PathBuf>,
    writer: Option<SpoolWriter>,
    /// Held while the sink runs; see `spool::lock`.
    _lock: Option<std::fs::File>,
    shared: Arc<Shared>,
    stats: Arc<WebhookStats>,
    thread: Option<JoinHandle<()>>,
    shutdown_timeout: Duration,
    closed: bool,
    line: Vec<u8>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("target", &self.target)
            .field("spool_dir", &self.spool_dir)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// Validates `config`, opens the spool (counting what an earlier run left in it) and starts
    /// the delivery thread.
    pub fn new(config: WebhookConfig) -> Result<WebhookSink, WebhookError> {
        config.validate()?;
        let target = redact(&config.url);
        let stats = Arc::new(WebhookStats::default());
        let (writer, reader, lock, backlog) = match &config.spool_dir {
            None => (None, None, None, 0),
            Some(dir) => {
                let io = |source| WebhookError::Spool {
                    path: dir.clone(),
                    source,
                };
                // Alerts name accounts: keep the spool private to the service user.
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io)?;
                let lock = spool::lock(dir).map_err(io)?;
                let cursor = spool::read_cursor(dir).map_err(io)?;
                let backlog = spool::count_pending(dir, cursor).map_err(io)?;
                let writer = SpoolWriter::open(dir, cursor, spool::SEGMENT_MAX).map_err(io)?;
                let reader = SpoolReader::new(dir, cursor);
                if backlog > 0 {
                    tracing::info!(
                        webhook = %target,
                        spool = %dir.display(),
                        backlog,
                        "delivering alerts spooled by an earlier run first"
                    );
                }
                (Some(writer), Some(reader), Some(lock), backlog)
            }
        };
        stats.pending.store(backlog, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            ctl: Mutex::new(Ctl {
                queue: VecDeque::new(),
                appended: 0,
                closing: false,
                deadline: None,
            }),
            wake: Condvar::new(),
        });
        let worker = Worker {
            target: target.clone(),
            poster: Poster::new(&config),
            backoff: Backoff::new(config.initial_backoff, config.max_backoff),
            format: config.format,
            batch_max: config.batch_max,
            batch_wait: config.batch_wait,
            request_timeout: config.request_timeout,
            spool_dir: config.spool_dir.clone(),
            reader,
            backlog,
            shared: Arc::clone(&shared),
            stats: Arc::clone(&stats),
        };
        let thread = std::thread::Builder::new()
            .name("webhook".to_string())
            .spawn(move || worker.run())
            .map_err(WebhookError::Thread)?;
        Ok(WebhookSink {
            target,
            spool_dir: config.spool_dir,
            writer,
            _lock: lock,
            shared,
            stats,
            thread: Some(thread),
            shutdown_timeout: config.shutdown_timeout,
            closed: false,
            line: Vec::new(),
        })
    }

    /// The shared delivery counters.
    pub fn stats(&self) -> Arc<WebhookStats> {
        Arc::clone(&self.stats)
    }

    /// fsyncs the spool: every alert emitted before this call is on disk when it returns. Call
    /// before writing a checkpoint. Without a spool there is nothing to do.
    pub fn sync(&mut self) -> Result<(), WebhookError> {
        if let (Some(w), Some(dir)) = (&mut self.writer, &self.spool_dir) {
            w.sync().map_err(|source| WebhookError::Spool {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn sink_error(&self, source: std::io::Error) -> SinkError {
        let target = match &self.spool_dir {
            Some(dir) => format!("webhook {} (spool {})", self.target, dir.display()),
            None => format!("webhook {}", self.target),
        };
        SinkError::Io { target, source }
    }

    /// Tells the thread to stop at `deadline` and waits for it.
    fn stop(&mut self, deadline: Instant) {
        {
            let mut ctl = self.shared.lock();
            ctl.closing = true;
            ctl.deadline = Some(deadline);
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!(webhook = %self.target, "webhook delivery thread panicked");
        }
    }
}

impl Sink for WebhookSink {
    fn emit(&mut self, alert: &Alert) -> Result<(), SinkError> {
        if self.closed {
            return Err(self.sink_error(std::io::Error::other("webhook sink is finished")));
        }
        self.line.clear();
        serde_json::to_writer(&mut self.line, alert)
            .map_err(|e| self.sink_error(std::io::Error::from(e)))?;
        // Counted before it becomes visible to the thread, so its decrement never comes first.
        self.stats.pending.fetch_add(1, Ordering::Relaxed);
        if let Some(w) = &mut self.writer {
            self.line.push(b'\n');
            if let Err(e) = w.append(&self.line) {
                self.stats.pending.fetch_sub(1, Ordering::Relaxed);
                return Err(self.sink_error(e));
            }
            self.stats.spooled.fetch_add(1, Ordering::Relaxed);
            self.shared.lock().appended += 1;
        } else {
            let json = String::from_utf8_lossy(&self.line).into_owned();
            let mut ctl = self.shared.lock();
            ctl.queue.push_back(Record {
                id: alert.id.clone(),
                json,
            });
            ctl.appended += 1;
        }
        self.shared.wake.notify_one();
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<(), SinkError> {
        self.sync().map_err(|e| match e {
            WebhookError::Spool { source, .. } => self.sink_error(source),
            other => self.sink_error(std::io::Error::other(other.to_string())),
        })
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let synced = self.sync();
        self.stop(later(Instant::now(), self.shutdown_timeout));
        let left = self.stats.pending.load(Ordering::Relaxed);
        if left > 0 {
            match &self.spool_dir {
                Some(dir) => tracing::warn!(
                    webhook = %self.target,
                    spool = %dir.display(),
                    left,
                    "webhook alerts not delivered before shutdown stay spooled for the next run"
                ),
                None => {
                    self.stats.lost.fetch_add(left, Ordering::Relaxed);
                    self.stats.pending.store(0, Ordering::Relaxed);
                    tracing::error!(
                        webhook = %self.target,
                        lost = left,
                        "webhook alerts not delivered before shutdown are lost (no spool; use --state-dir to keep them)"
                    );
                }
            }
        }
        synced.map_err(|e| match e {
            WebhookError::Spool { source, .. } => self.sink_error(source),
            other => self.sink_error(std::io::Error::other(other.to_string())),
        })
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        // Without finish: stop now, as a crash would (a spool keeps everything undelivered).
        if self.thread.is_some() {
            self.stop(Instant::now());
        }
    }
}

/// `t + d`, saturating instead of panicking on an absurd configured duration.
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(t)
}

/// The delivery thread's state.
struct Worker {
    target: String,
    poster: Poster,
    backoff: Backoff,
    format: WebhookFormat,
    batch_max: usize,
    batch_wait: Duration,
    request_timeout: Duration,
    spool_dir: Option<PathBuf>,
    reader: Option<SpoolReader>,
    /// Alerts left from an earlier run: sent without waiting for `batch_wait`.
    backlog: u64,
    shared: Arc<Shared>,
    stats: Arc<WebhookStats>,
}

/// How a batch ended.
enum Delivery {
    /// Delivered or given up on: move on.
    Done,
    /// The shutdown deadline passed first.
    Stopped,
}

impl Worker {
    fn run(mut self) {
        let mut batch: Vec<Record> = Vec::new();
        let mut spooled: Vec<(Record, Pos)> = Vec::new();
        let mut batch_started: Option<Instant> = None;
        // When the previous batch went out: the next one waits until `batch_wait` after it.
        let mut last_sent: Option<Instant> = None;
        let mut urgent = false;
        loop {
            let (closing, deadline, seen) = {
                let mut ctl = self.shared.lock();
                let seen = ctl.appended;
                let room = self.batch_max.saturating_sub(batch.len());
                let take = room.min(ctl.queue.len());
                batch.extend(ctl.queue.drain(..take));
                (ctl.closing, ctl.deadline, seen)
            };
            if let Some(reader) = &mut self.reader {
                let room = self.batch_max.saturating_sub(spooled.len());
                let mut corrupt = 0;
                let before = spooled.len();
                if let Err(e) = reader.read(room, &mut spooled, &mut corrupt) {
                    tracing::error!(webhook = %self.target, error = %e, "cannot read the webhook spool");
                    let wait = self.backoff.next_wait();
                    if !self.sleep(wait) {
                        break;
                    }
                    continue;
                }
                self.stats.done(corrupt, &self.stats.failed);
                let read = (spooled.len() - before) as u64 + corrupt;
                if self.backlog > 0 && read > 0 {
                    urgent = true;
                    self.backlog = self.backlog.saturating_sub(read);
                }
                batch.extend(spooled.iter().skip(before).map(|(r, _)| r.clone()));
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                break;
            }
            if !batch.is_empty() && batch_started.is_none() {
                batch_started = Some(now);
            }
            let due = batch.len() >= self.batch_max
                || closing
                || urgent
                || (last_sent.is_none_or(|t| now.duration_since(t) >= self.batch_wait)
                    && batch_started.is_some_and(|t| now.duration_since(t) >= self.coalesce()));
            if !batch.is_empty() && due {
                match self.deliver(&batch) {
                    Delivery::Stopped => break,
                    Delivery::Done => {
                        if let Some((_, pos)) = spooled.last() {
                            self.commit(*pos);
                        }
                        batch.clear();
                        spooled.clear();
                        batch_started = None;
                        last_sent = Some(Instant::now());
                        urgent = false;
                        continue;
                    }
                }
            }
            if batch.is_empty() && closing {
                break;
            }
            let mut ctl = self.shared.lock();
            if ctl.appended == seen && !ctl.closing {
                // Wake for a new alert, at the batch's due time, or every second anyway (cheap
                // insurance against a missed wake-up).
                let wait = match (batch_started, last_sent) {
                    (Some(b), Some(t)) => later(t, self.batch_wait)
                        .max(later(b, self.coalesce()))
                        .saturating_duration_since(now),
                    (Some(b), None) => later(b, self.coalesce()).saturating_duration_since(now),
                    (None, _) => Duration::from_secs(1),
                };
                ctl = match self.shared.wake.wait_timeout(ctl, wait) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
            }
            drop(ctl);
        }
    }

    /// How long the first alert after a quiet spell waits for company: alerts raised by the same
    /// event (an attack crossing several thresholds at once) go out in one request.
    fn coalesce(&self) -> Duration {
        self.batch_wait.min(Duration::from_millis(50))
    }

    /// Sends one batch until it is delivered, rejected, or the shutdown deadline passes.
    fn deliver(&mut self, batch: &[Record]) -> Delivery {
        let payload = http::payload(self.format, batch);
        let n = batch.len() as u64;
        loop {
            let timeout = match self.shared.lock().deadline {
                None => self.request_timeout,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Delivery::Stopped;
                    }
                    left.min(self.request_timeout)
                }
            };
            match self.poster.post(&payload, timeout) {
                Outcome::Delivered => {
                    self.stats.done(n, &self.stats.sent);
                    self.backoff.reset();
                    tracing::debug!(webhook = %self.target, alerts = n, "webhook batch delivered");
                    return Delivery::Done;
                }
                Outcome::Rejected { status, body } => {
                    self.stats.done(n, &self.stats.failed);
                    tracing::error!(
                        webhook = %self.target,
                        status,
                        body = %body,
                        alerts = n,
                        ids = %payload.ids,
                        "webhook receiver rejected a batch; not retrying it"
                    );
                    return Delivery::Done;
                }
                Outcome::Retry {
                    reason,
                    retry_after,
                } => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = retry_after.unwrap_or_else(|| self.backoff.next_wait());
                    tracing::warn!(
                        webhook = %self.target,
                        reason = %reason,
                        retry_in_ms = wait.as_millis() as u64,
                        alerts = n,
                        "webhook delivery failed; retrying"
                    );
                    if !self.sleep(wait) {
                        return Delivery::Stopped;
                    }
                }
            }
        }
    }

    /// Waits `d`; `false` when the shutdown deadline comes before `d` ends. When shutdown
    /// begins during the wait, returns at once for one more attempt: a long backoff must not
    /// waste the whole shutdown window of a receiver that has come back.
    fn sleep(&self, d: Duration) -> bool {
        let until = later(Instant::now(), d);
        let mut ctl = self.shared.lock();
        let was_closing = ctl.closing;
        loop {
            if ctl.closing && !was_closing {
                return true;
            }
            let now = Instant::now();
            if let Some(deadline) = ctl.deadline
                && deadline <= until
            {
                if now >= deadline {
                    return false;
                }
                ctl = match self.shared.wake.wait_timeout(ctl, deadline - now) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
                continue;
            }
            if now >= until {
                return true;
            }
            ctl = match self.shared.wake.wait_timeout(ctl, until - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Records delivery up to `pos` and deletes finished segments. A failure here only means the
    /// batch may be sent again after a restart, so it is logged, not fatal.
    fn commit(&self, pos: Pos) {
        let (Some(dir), Some(reader)) = (&self.spool_dir, &self.reader) else {
            return;
        };
        let res = spool::write_cursor(dir, pos).and_then(|()| reader.delete_before(pos));
        if let Err(e) = res {
            tracing::error!(
                webhook = %self.target,
                spool = %dir.display(),
                error = %e,
                "cannot record webhook delivery in the spool; these alerts may be sent again"
            );
        }
    }
}
