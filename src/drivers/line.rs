//! The line path every driver shares: limit, decode, count, reject.
//!
//! A line reaches a driver from a reader that already applied the one length limit
//! (`[input] max_line_bytes`: [`crate::source::LineReader`] for `scan`, `parse` and `explain`,
//! the follower for `tail`; both are built with [`LinePolicy::max_line`]). From there every
//! driver hands it to [`LinePolicy::take`], or, when a scan decodes one batch on several
//! threads, to [`LinePolicy::decode`] on those threads and [`LinePolicy::count`] back in line
//! order: the same two steps. So a line that one command rejects, every command rejects, with
//! the same reason, and it is counted the same way.

use crate::config::Config;
use crate::decode::Decoder;
use crate::error::ParseError;
use crate::event::{AuthEvent, LineMeta, SourceId};
use crate::source::LineInfo;
use crate::stats::{RejectSample, SourceStats};

/// What decoding made of one line.
#[derive(Debug)]
pub(crate) enum LineOutcome {
    /// An event.
    Event(AuthEvent),
    /// A well-formed line with nothing about authentication.
    Irrelevant,
    /// An empty or whitespace-only line (or, at the end of an input, nothing pending).
    Blank,
    /// A line that could not be read as its format.
    Rejected(ParseError),
}

/// What a driver does with a line once it is counted.
#[derive(Debug)]
pub(crate) enum Counted {
    /// Detect on it.
    Event(AuthEvent),
    /// Nothing: irrelevant or blank (counted).
    Skipped,
    /// Rejected, counted, and a sample kept within the limit; the run goes on.
    Rejected(ParseError),
    /// Rejected under `--strict`: the driver stops with this error (not counted).
    Stop(ParseError),
}

/// How lines are limited, counted and rejected: the same for every driver.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinePolicy {
    /// The longest line decoded, in bytes; longer ones are rejected as `line_too_long` and
    /// never held in memory whole.
    pub(crate) max_line: usize,
    /// Rejected lines kept as samples per reason and input.
    pub(crate) max_samples: usize,
    /// Stop at the first rejected line.
    pub(crate) strict: bool,
}

impl LinePolicy {
    /// The policy of `[input]`, with `strict` from the command line.
    pub(crate) fn new(cfg: &Config, strict: bool) -> LinePolicy {
        LinePolicy {
            max_line: cfg.input.max_line_bytes,
            max_samples: cfg.input.reject_samples,
            strict,
        }
    }

    /// One line, start to end: counted as read, decoded, and counted by its outcome.
    pub(crate) fn take(
        &self,
        decoder: Option<&mut dyn Decoder>,
        line: &[u8],
        info: &LineInfo,
        source: SourceId,
        stats: &mut SourceStats,
    ) -> Counted {
        stats.lines += 1;
        let outcome = self.decode(decoder, line, info, source);
        self.count(outcome, info.number, stats)
    }

    /// The limit and the decoder (`None`: the input's format is not known yet).
    pub(crate) fn decode(
        &self,
        decoder: Option<&mut dyn Decoder>,
        line: &[u8],
        info: &LineInfo,
        source: SourceId,
    ) -> LineOutcome {
        if info.too_long {
            return LineOutcome::Rejected(ParseError::with_detail(
                "line_too_long",
                format!("{} bytes, limit {}", info.length, self.max_line),
            ));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return LineOutcome::Blank;
        }
        let Some(decoder) = decoder else {
            return LineOutcome::Rejected(ParseError::new("unknown_format"));
        };
        let meta = LineMeta {
            source,
            line: info.number,
        };
        match decoder.decode(line, &meta) {
            Ok(Some(ev)) => LineOutcome::Event(ev),
            Ok(None) => LineOutcome::Irrelevant,
            // A last line without a terminator that does not parse was most likely cut off
            // while being written: say so rather than blaming the format.
            Err(e) if !info.terminated => LineOutcome::Rejected(ParseError::with_detail(
                "truncated_last_line",
                e.to_string(),
            )),
            Err(e) => LineOutcome::Rejected(e),
        }
    }

    /// At the end of an input: a record the decoder still holds (`Blank` when none). `lines`
    /// is the number of the input's last line.
    pub(crate) fn finish(
        &self,
        decoder: &mut dyn Decoder,
        lines: u64,
        source: SourceId,
    ) -> LineOutcome {
        let meta = LineMeta {
            source,
            line: lines,
        };
        match decoder.finish(&meta) {
            Ok(Some(ev)) => LineOutcome::Event(ev),
            Ok(None) => LineOutcome::Blank,
            Err(e) => LineOutcome::Rejected(e),
        }
    }

    /// Counts a decoded line (`line`: its number) and says what the driver does with it.
    pub(crate) fn count(
        &self,
        outcome: LineOutcome,
        line: u64,
        stats: &mut SourceStats,
    ) -> Counted {
        match outcome {
            LineOutcome::Event(ev) => {
                stats.events += 1;
                Counted::Event(ev)
            }
            LineOutcome::Irrelevant => {
                stats.irrelevant += 1;
                Counted::Skipped
            }
            LineOutcome::Blank => {
                stats.blank += 1;
                Counted::Skipped
            }
            LineOutcome::Rejected(e) if self.strict => Counted::Stop(e),
            LineOutcome::Rejected(e) => {
                let sample = RejectSample {
                    line,
                    reason: e.reason,
                    detail: e.detail.clone(),
                };
                stats.reject(sample, self.max_samples);
                Counted::Rejected(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Format;
    use crate::time::Timestamp;

    fn policy(max_line: usize) -> LinePolicy {
        LinePolicy {
            max_line,
            max_samples: 2,
            strict: false,
        }
    }

    fn info(number: u64, length: u64, too_long: bool) -> LineInfo {
        LineInfo {
            number,
            length,
            too_long,
            terminated: true,
        }
    }

    fn json_decoder() -> Box<dyn Decoder> {
        let factory = crate::config::Config::default()
            .decoder_factory()
            .expect("default decoders");
        factory
            .build(Format::Json, Timestamp(0), b"")
            .expect("json decoder")
    }

    #[test]
    fn an_over_long_line_is_rejected_and_counted_with_its_length() {
        let mut d = json_decoder();
        let mut stats = SourceStats::default();
        let p = policy(256);
        let c = p.take(
            Some(d.as_mut()),
            b"{",
            &info(7, 70_000, true),
            SourceId(0),
            &mut stats,
        );
        assert!(matches!(c, Counted::Rejected(ref e) if e.reason == "line_too_long"));
        assert_eq!(stats.lines, 1);
        assert_eq!(stats.rejected.get("line_too_long"), Some(&1));
        assert_eq!(stats.samples[0].line, 7);
        assert_eq!(
            stats.samples[0].detail.as_deref(),
            Some("70000 bytes, limit 256")
        );
    }

    #[test]
    fn strict_stops_without_counting_the_rejection() {
        let mut d = json_decoder();
        let mut stats = SourceStats::default();
        let p = LinePolicy {
            strict: true,
            ..policy(1024)
        };
        let c = p.take(
            Some(d.as_mut()),
            b"{not json",
            &info(1, 9, false),
            SourceId(0),
            &mut stats,
        );
        assert!(matches!(c, Counted::Stop(_)));
        assert_eq!(stats.rejected_total(), 0);
    }

    #[test]
    fn blank_lines_and_unknown_formats() {
        let mut stats = SourceStats::default();
        let p = policy(1024);
        assert!(matches!(
            p.take(None, b"  \t", &info(1, 3, false), SourceId(0), &mut stats),
            Counted::Skipped
        ));
        assert!(matches!(
            p.take(None, b"hello", &info(2, 5, false), SourceId(0), &mut stats),
            Counted::Rejected(ref e) if e.reason == "unknown_format"
        ));
        assert_eq!(
            (stats.lines, stats.blank, stats.rejected_total()),
            (2, 1, 1)
        );
    }
}
