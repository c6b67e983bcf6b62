//! `tail`'s state directory: checkpoints, the emitted-alert log, and the gate that keeps an
//! alert sent before a restart from being sent again.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::detect::RuleState;
use crate::drivers::outlet::AlertGate;
use crate::error::{Error, SinkError};
use crate::metrics::Metrics;
use crate::source::follow::FileCheckpoint;

/// The format of `checkpoint.json`.
pub(super) const CHECKPOINT_VERSION: u32 = 1;

/// The checkpoint file.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Checkpoint {
    pub(super) version: u32,
    /// Event time the engine had reached.
    pub(super) watermark: i64,
    pub(super) files: Vec<FileCheckpoint>,
    /// Pieces of state whose snapshot is in the checkpoint directory (`<name>.json`).
    pub(super) detectors: Vec<String>,
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
pub(super) struct StateDir {
    dir: PathBuf,
}

/// A checkpoint directory being written.
pub(super) struct Generation {
    name: String,
    dir: PathBuf,
}

impl StateDir {
    pub(super) fn open(dir: &Path) -> Result<StateDir, Error> {
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

    pub(super) fn current(&self) -> Option<String> {
        let name = fs::read_to_string(self.dir.join("CURRENT")).ok()?;
        let name = name.trim();
        (name.starts_with("ckpt-") && !name.contains('/')).then(|| name.to_string())
    }

    pub(super) fn detector_path(&self, name: &str) -> PathBuf {
        let generation = self.current().unwrap_or_default();
        self.dir.join(generation).join(format!("{name}.json"))
    }

    fn ledger_path(&self) -> PathBuf {
        self.dir.join("emitted.log")
    }

    pub(super) fn load(&self) -> Result<Option<Checkpoint>, Error> {
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
    pub(super) fn begin(&self) -> Result<Generation, Error> {
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

    pub(super) fn write_detector(&self, g: &Generation, d: &dyn RuleState) -> Result<(), Error> {
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
    pub(super) fn commit(&self, g: &Generation, c: &Checkpoint) -> Result<(), Error> {
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

    pub(super) fn ledger(&self) -> Result<File, Error> {
        let path = self.ledger_path();
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| state_error(&path, e))
    }

    /// The `(id, severity)` pairs sent since the last checkpoint.
    pub(super) fn read_ledger(&self) -> Result<HashSet<(String, String)>, Error> {
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
pub(super) struct LiveGate {
    pub(super) ledger: Option<File>,
    pub(super) sent_before: HashSet<(String, String)>,
    pub(super) suppressed: u64,
    pub(super) metrics: Arc<Metrics>,
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
