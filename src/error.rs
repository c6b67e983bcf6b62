//! Error types, one per boundary.
//!
//! [`ParseError`] is data, not control flow: a rejected line is counted by reason and the run
//! goes on. The others end a run (or, for a sink, a delivery) with a message naming what failed.

use std::path::PathBuf;

/// Why one line could not be decoded. Counted per source and reason; never fatal unless the
/// user asked for `--strict`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct ParseError {
    /// A stable snake_case reason, used as the counting key (`bad_timestamp`, `invalid_json`).
    pub reason: &'static str,
    /// Optional detail for the sample shown to the user (which field, which value).
    pub detail: Option<String>,
}

impl ParseError {
    /// A rejection with a reason only.
    pub fn new(reason: &'static str) -> ParseError {
        ParseError {
            reason,
            detail: None,
        }
    }

    /// A rejection with a reason and a detail for the user.
    pub fn with_detail(reason: &'static str, detail: impl Into<String>) -> ParseError {
        ParseError {
            reason,
            detail: Some(detail.into()),
        }
    }
}

/// A configuration problem: which key, where, and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The config path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A problem in a config file, placed: `file:line: key: message`. The TOML did not parse,
    /// did not fit the schema (an unknown key, a wrong type), or a value makes no sense.
    #[error("{}", placed(path, *line, key.as_deref(), message))]
    Invalid {
        /// The config path.
        path: PathBuf,
        /// 1-based line of the key (or of the syntax error); `None` when the file does not
        /// hold the key (a default failed a cross-check) and no related key could be found.
        line: Option<usize>,
        /// Dotted key, e.g. `detect.stuffing_ip.window` or `access.routes[2].path`; `None` for
        /// a syntax error outside any key.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A value parsed but makes no sense (a zero window, a bad regex, a bad CIDR). Reading a
    /// file turns it into [`ConfigError::Invalid`], with the file and the key's line.
    #[error("config key `{key}`: {message}")]
    BadValue {
        /// Dotted key, e.g. `access.routes[2].path`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// `file:line: key: message`, leaving out what is not known.
fn placed(path: &std::path::Path, line: Option<usize>, key: Option<&str>, message: &str) -> String {
    let mut out = path.display().to_string();
    if let Some(line) = line {
        out.push_str(&format!(":{line}"));
    }
    if let Some(key) = key {
        out.push_str(&format!(": {key}"));
    }
    out.push_str(&format!(": {message}"));
    out
}

/// A problem with an input as a whole (not with one line of it).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Opening or reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The input path (`-` for stdin).
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A path named on the command line does not exist.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// The input's format could not be recognized from its first lines.
    #[error("{path}: cannot tell the log format from the first lines; name it with --format")]
    UnknownFormat {
        /// The input path.
        path: PathBuf,
    },
    /// The input is binary (a database, an archive), not a text log.
    #[error("{path}: a binary file, not a text log (gzip is read; other archives are not)")]
    Binary {
        /// The input path.
        path: PathBuf,
    },
    /// Following files (`tail`) could not start or go on.
    #[error("following files: {message}")]
    Follow {
        /// What went wrong.
        message: String,
    },
    /// `--strict` was given and a line was rejected.
    #[error("{path}:{line}: rejected ({error})")]
    Rejected {
        /// The input path.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Why.
        error: ParseError,
    },
}

/// A problem loading or querying an enrichment database.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// Opening or reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The database path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database is corrupt or of an unexpected kind.
    #[error("{path}: {message}")]
    Invalid {
        /// The database path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A problem delivering alerts.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing failed.
    #[error("{target}: {source}")]
    Io {
        /// Where we were writing (a path or `stdout`).
        target: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Any error that ends a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// See [`ConfigError`].
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// See [`SourceError`].
    #[error(transparent)]
    Source(#[from] SourceError),
    /// See [`EnrichError`].
    #[error(transparent)]
    Enrich(#[from] EnrichError),
    /// See [`SinkError`].
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// A detector's state could not be snapshotted or restored (a checkpoint from another version,
/// a damaged file). The caller starts that detector fresh with a warning.
#[derive(Debug, thiserror::Error)]
#[error("state of detector {detector}: {message}")]
pub struct StateError {
    /// The detector's rule id (`stuffing.ip`).
    pub detector: &'static str,
    /// What serde said, or which version was found.
    pub message: String,
}
