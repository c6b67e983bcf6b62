//! Drivers: the ways to run the engine, each a thin layer of reading and delivery over it.
//!
//! - [`scan()`]: a forensic scan of files, directories and standard input — inputs opened and
//!   recognized (`inputs.rs`), decoded on the thread pool, merged in event-time order, pushed
//!   through the [`crate::engine::Engine`], delivered to the sinks;
//! - [`tail()`]: live logs followed through rotation, with checkpoints and restarts;
//! - [`parse`] and [`explain`]: decoding without detection, and the events behind one alert.
//!
//! Every driver passes each line through the same path (`line.rs`: limit, decode, count,
//! reject) and delivers through the same outlet (`outlet.rs`), so the commands agree on what a
//! line is and on what an alert is. A new driver is written against the engine's API alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

mod inputs;
mod inspect;
pub(crate) mod line;
pub(crate) mod outlet;
mod scan;
pub mod tail;

pub use inspect::{Explanation, explain, parse};
pub use scan::scan;
pub use tail::{TailOptions, TailReport, tail};

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

/// True when `path` names standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The in-order decoding of `parse`, for the engine's tests (they need every event of the
/// sample logs without a scan's merge).
#[cfg(test)]
pub(crate) mod inspect_for_tests {
    pub(crate) use super::inspect::{Visit, decode_in_order};
}
