//! `credwatch parse` and `credwatch explain`: decoding without detection, and the events
//! behind one alert.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::alert::{Alert, EntityKind};
use crate::config::Config;
use crate::detect::MAX_REPEAT;
use crate::engine::{Engine, EngineOptions, Output, build_enricher};
use crate::error::{Error, ParseError, SinkError, SourceError};
use crate::event::{AuthEvent, lossless_text};
use crate::stats::{RunStats, SourceReport, SourceStats};

use super::RunOptions;
use super::inputs::prepare;
use super::line::{Counted, LineOutcome, LinePolicy};

/// One line of `credwatch parse` output.
#[derive(Serialize)]
struct ParsedLine<'a> {
    source: &'a str,
    line: u64,
    #[serde(flatten)]
    event: &'a AuthEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    as_org: Option<&'a str>,
}

/// One rejected line in `credwatch parse --rejects` output.
#[derive(Serialize)]
struct RejectedLine<'a> {
    source: &'a str,
    line: u64,
    rejected: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    text: &'a str,
}

/// What [`decode_in_order`] hands to its caller for each line that is not irrelevant.
pub(crate) enum Visit<'a> {
    /// A decoded event.
    Event(AuthEvent),
    /// A rejected line (already counted), with the start of its text.
    Rejected { error: ParseError, text: &'a [u8] },
}

/// Decodes every input one after the other, in line order, without detection: the reading half
/// of `parse` and `explain`. Counts every line in `stats` and calls `visit` with the input's name,
/// the line number and the event or rejection. Under `strict` the first rejection is an error.
pub(crate) fn decode_in_order(
    cfg: &Config,
    opts: &RunOptions,
    stats: &mut RunStats,
    mut visit: impl FnMut(&str, u64, Visit<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let factory = cfg.decoder_factory()?;
    let policy = LinePolicy::new(cfg, opts.strict);
    let prepared = prepare(cfg, &factory, opts, stats)?;
    for mut p in prepared {
        let mut st = SourceStats::default();
        let display = p.input.display.clone();
        let mut buf = Vec::new();
        loop {
            let (number, counted) = match p.reader.next_line(&mut buf) {
                Ok(Some(info)) => {
                    let counted =
                        policy.take(Some(p.decoder.as_mut()), &buf, &info, p.input.id, &mut st);
                    (info.number, counted)
                }
                Ok(None) => {
                    buf.clear();
                    let lines = p.reader.lines_read();
                    match policy.finish(p.decoder.as_mut(), lines, p.input.id) {
                        // Nothing pending is not a blank line.
                        LineOutcome::Blank => {}
                        outcome => {
                            let counted = policy.count(outcome, lines, &mut st);
                            visit_counted(
                                &policy, &display, lines, counted, &buf, stats, &mut visit,
                            )?;
                        }
                    }
                    break;
                }
                Err(e) => {
                    stats.input_errors.push(format!("{display}: {e}"));
                    break;
                }
            };
            visit_counted(&policy, &display, number, counted, &buf, stats, &mut visit)?;
        }
        st.bytes = p.reader.bytes_read();
        stats.sources.push(SourceReport {
            path: display,
            format: p.format.as_str(),
            compressed: p.compressed,
            stats: st,
        });
    }
    Ok(())
}

/// Hands one counted line to `visit` (events are counted by kind here, as the engine would).
fn visit_counted(
    policy: &LinePolicy,
    display: &str,
    number: u64,
    counted: Counted,
    text: &[u8],
    stats: &mut RunStats,
    visit: &mut impl FnMut(&str, u64, Visit<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    match counted {
        Counted::Event(ev) => {
            let weight = u64::from(ev.repeat.clamp(1, MAX_REPEAT));
            stats.count_event(ev.kind, ev.outcome, weight);
            visit(display, number, Visit::Event(ev))
        }
        Counted::Skipped => Ok(()),
        Counted::Rejected(error) => {
            let text = &text[..text.len().min(300)];
            visit(display, number, Visit::Rejected { error, text })
        }
        Counted::Stop(error) => {
            debug_assert!(policy.strict);
            Err(SourceError::Rejected {
                path: PathBuf::from(display),
                line: number,
                error,
            }
            .into())
        }
    }
}

fn stdout_error(e: std::io::Error) -> Error {
    Error::from(SinkError::Io {
        target: "stdout".into(),
        source: e,
    })
}

/// Writes one event as a `parse`-style JSON line.
fn write_event(
    out: &mut dyn Write,
    source: &str,
    line: u64,
    ev: &AuthEvent,
    as_org: Option<&str>,
) -> Result<(), Error> {
    let parsed = ParsedLine {
        source,
        line,
        event: ev,
        as_org,
    };
    serde_json::to_writer(&mut *out, &parsed).map_err(|e| stdout_error(e.into()))?;
    out.write_all(b"\n").map_err(stdout_error)
}

/// Decodes inputs without detection and writes each normalized event as a JSON line with its
/// source path and line number, in input order (and, with `rejects`, each rejected line with
/// its reason): the way to check a format or a config, like `fail2ban-regex`.
pub fn parse(
    cfg: &Config,
    opts: &RunOptions,
    rejects: bool,
    out: &mut dyn Write,
) -> Result<RunStats, Error> {
    let started = std::time::Instant::now();
    let mut stats = RunStats::default();
    let mut enricher = build_enricher(cfg)?;
    decode_in_order(cfg, opts, &mut stats, |source, line, visit| match visit {
        Visit::Event(mut ev) => {
            if let Some(e) = &mut enricher {
                e.enrich(&mut ev);
            }
            let as_org = match (&enricher, ev.asn) {
                (Some(e), Some(asn)) => e.as_org(asn),
                _ => None,
            };
            write_event(out, source, line, &ev, as_org)
        }
        Visit::Rejected { error, text } if rejects => {
            let text = lossless_text(text);
            let rejected = RejectedLine {
                source,
                line,
                rejected: error.reason,
                detail: error.detail.as_deref(),
                text: &text,
            };
            serde_json::to_writer(&mut *out, &rejected).map_err(|e| stdout_error(e.into()))?;
            out.write_all(b"\n").map_err(stdout_error)
        }
        Visit::Rejected { .. } => Ok(()),
    })?;
    out.flush().map_err(stdout_error)?;
    stats.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(stats)
}

/// The alert `explain` was asked about and how many events it printed.
#[derive(Debug)]
pub struct Explanation {
    /// The alert's last emission (its highest severity and widest span).
    pub alert: Alert,
    /// Events written.
    pub events: usize,
}

/// True when `ev` concerns the alert's entity (for `global`: a failed login).
fn concerns(ev: &AuthEvent, alert: &Alert) -> bool {
    let value = alert.entity.value.as_str();
    match alert.entity.kind {
        EntityKind::Ip => ev.ip.is_some_and(|ip| ip.to_string() == value),
        EntityKind::Account => ev.account.as_ref().is_some_and(|a| a.as_str() == value),
        EntityKind::Asn => ev.asn.is_some_and(|asn| asn.to_string() == value),
        EntityKind::ShipTo => ev.details.as_ref().is_some_and(|d| {
            [d.ship_to, d.address]
                .into_iter()
                .flatten()
                .any(|h| h.to_string() == value)
        }),
        EntityKind::Global => ev.is_failed_login(),
    }
}

/// One decoded event of `explain`, with where it came from.
struct Located {
    ev: AuthEvent,
    source: Arc<str>,
    line: u64,
}

/// Prints the events behind one alert: finds the alert with `id` (`None` when no alert has it),
/// then writes, as `parse` does, every event of the alert's entity between its first and last
/// event time, in time order, with source and line, so the raw lines can be read. For a
/// `global` alert these are the failed logins of the burst. Copies of one action in several
/// inputs are all shown: they are the raw evidence.
///
/// The inputs are read once (standard input included) and held in memory: the events are merged
/// across inputs exactly as `scan` merges them, so the engine finds the same alerts with the same
/// ids.
pub fn explain(
    cfg: &Config,
    opts: &RunOptions,
    id: &str,
    out: &mut dyn Write,
) -> Result<Option<Explanation>, Error> {
    let mut enricher = build_enricher(cfg)?;
    let mut stats = RunStats::default();
    let mut inputs: Vec<Vec<Located>> = Vec::new();
    let mut names: Vec<Arc<str>> = Vec::new();
    decode_in_order(cfg, opts, &mut stats, |source, line, visit| {
        if let Visit::Event(mut ev) = visit {
            if let Some(e) = &mut enricher {
                e.enrich(&mut ev);
            }
            if names.last().is_none_or(|n| **n != *source) {
                names.push(Arc::from(source));
                inputs.push(Vec::new());
            }
            if let (Some(name), Some(events)) = (names.last(), inputs.last_mut()) {
                let source = Arc::clone(name);
                events.push(Located { ev, source, line });
            }
        }
        Ok(())
    })?;
    // The scan's merge: the earliest head event across inputs, ties broken by input and line.
    let mut engine = Engine::new(
        cfg,
        enricher,
        EngineOptions {
            several_inputs: stats.sources.len() > 1,
            enriched_upstream: true,
        },
    );
    let mut alerts = Vec::new();
    let mut take = |engine: &mut Engine| {
        while let Some(o) = engine.take() {
            match o {
                Output::Events(d) => alerts.extend(d.alerts.into_iter().flatten()),
                Output::Alerts(a) => alerts.extend(a),
            }
        }
    };
    let mut heads = vec![0usize; inputs.len()];
    let mut heap = BinaryHeap::new();
    let key = |l: &Located| (l.ev.ts, l.ev.origin.source, l.ev.origin.line);
    for (i, events) in inputs.iter().enumerate() {
        if let Some(head) = events.first() {
            heap.push(Reverse((key(head), i)));
        }
    }
    while let Some(Reverse((_, i))) = heap.pop() {
        let (Some(events), Some(at)) = (inputs.get(i), heads.get_mut(i)) else {
            continue;
        };
        let Some(l) = events.get(*at) else {
            continue;
        };
        *at += 1;
        if let Some(next) = events.get(*at) {
            heap.push(Reverse((key(next), i)));
        }
        engine.push(l.ev.clone(), &mut stats);
        take(&mut engine);
    }
    engine.finish(&mut stats);
    take(&mut engine);
    let Some(alert) = alerts.into_iter().rfind(|a| a.id == id) else {
        return Ok(None);
    };
    let mut events: Vec<&Located> = inputs
        .iter()
        .flatten()
        .filter(|l| l.ev.ts >= alert.first_seen && l.ev.ts <= alert.last_seen)
        .filter(|l| concerns(&l.ev, &alert))
        .collect();
    events.sort_by_key(|l| (l.ev.ts, l.ev.origin.source, l.line));
    for l in &events {
        let as_org = l.ev.asn.and_then(|asn| engine.as_org(asn));
        write_event(out, &l.source, l.line, &l.ev, as_org)?;
    }
    out.flush().map_err(stdout_error)?;
    Ok(Some(Explanation {
        alert,
        events: events.len(),
    }))
}
