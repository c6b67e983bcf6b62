//! Decoders: one input line in, at most one normalized [`AuthEvent`] out.
//!
//! A decoder is created per input (so it may keep per-input state: a CSV header, the year of
//! syslog lines). It never does I/O and never knows about detectors. A line it understands but
//! that says nothing about authentication (a `GET /`, an sshd `Connection closed`) is
//! `Ok(None)`: recognized and irrelevant, not rejected. A line it cannot read is a
//! [`ParseError`], which the pipeline counts by reason.

pub mod access;
pub mod sshd;

use crate::error::ParseError;
use crate::event::{AuthEvent, LineMeta};

/// Turns lines of one input into events.
pub trait Decoder: Send {
    /// The format's name as used in `--format` and the summary (`access`, `json`, `sshd`, `csv`).
    fn name(&self) -> &'static str;

    /// Decodes one line (without its line terminator).
    ///
    /// Returns `Ok(Some(event))` for an authentication or account event, `Ok(None)` for a line
    /// that is well-formed but not about authentication (or, for CSV, a header or the first part
    /// of a record that continues on the next line), and `Err` for a line that cannot be read.
    fn decode(&mut self, line: &[u8], meta: &LineMeta) -> Result<Option<AuthEvent>, ParseError>;
}

pub mod delimited;
pub mod fields;
pub mod json;
