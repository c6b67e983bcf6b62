//! Counters of a run and the human summary printed on stderr.
//!
//! Nothing is lost silently: every line is counted as an event, an irrelevant line, a blank
//! line, or a rejection with its reason and a sample (path, line number, what was wrong).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::alert::{Rule, thousands};
use crate::event::{EventKind, Outcome};

/// One rejected line kept as an example for the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectSample {
    /// 1-based line number.
    pub line: u64,
    /// The reason key.
    pub reason: &'static str,
    /// What was wrong, if the decoder said.
    pub detail: Option<String>,
}

/// Counters for one input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceStats {
    /// Lines read.
    pub lines: u64,
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// Lines that gave an event.
    pub events: u64,
    /// Well-formed lines with nothing about authentication.
    pub irrelevant: u64,
    /// Empty or whitespace-only lines.
    pub blank: u64,
    /// Rejected lines by reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// The first few rejected lines of each reason.
    pub samples: Vec<RejectSample>,
}

impl SourceStats {
    /// Counts a rejection, keeping up to `max_samples` examples per reason.
    pub fn reject(&mut self, sample: RejectSample, max_samples: usize) {
        let n = self.rejected.entry(sample.reason).or_insert(0);
        *n += 1;
        if *n as usize <= max_samples {
            self.samples.push(sample);
        }
    }

    /// Total rejected lines.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Adds another set of counters (a later batch of the same input).
    pub fn absorb(&mut self, other: SourceStats, max_samples: usize) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.events += other.events;
        self.irrelevant += other.irrelevant;
        self.blank += other.blank;
        for s in other.samples {
            let kept = self.samples.iter().filter(|x| x.reason == s.reason).count();
            if kept < max_samples {
                self.samples.push(s);
            }
        }
        for (reason, n) in other.rejected {
            *self.rejected.entry(reason).or_insert(0) += n;
        }
    }
}

/// One input's line in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// The input's name.
    pub path: String,
    /// The format it was read as.
    pub format: &'static str,
    /// True when it was gzip-compressed.
    pub compressed: bool,
    /// Its counters.
    pub stats: SourceStats,
}

/// Everything counted in one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunStats {
    /// Per input, in input order.
    pub sources: Vec<SourceReport>,
    /// Files found in directories and not read, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Inputs that failed part-way (I/O or decompression errors).
    pub input_errors: Vec<String>,
    /// Events by kind and outcome (weighted by `repeat`).
    pub events: BTreeMap<(EventKind, &'static str), u64>,
    /// Events that arrived later than the allowed lateness behind the newest event time.
    pub late_events: u64,
    /// Alerts by rule (re-emissions on a severity rise included).
    pub alerts: BTreeMap<Rule, u64>,
    /// Alerts by rule and by the input whose event triggered them.
    pub alert_sources: BTreeMap<(Rule, String), u64>,
    /// Events dropped as copies of the same action logged by another input, per input.
    pub duplicates: Vec<(String, u64)>,
    /// The memory budget for detector state, in bytes.
    pub memory_budget: u64,
    /// The largest detector state measured at a budget check, in bytes.
    pub peak_state_bytes: u64,
    /// Each detector's state at the budget check where the total peaked, in bytes.
    pub peak_state_by_detector: Vec<(&'static str, u64)>,
    /// Keys evicted to stay within the memory budget.
    pub budget_evictions: u64,
    /// Detector counters (tracked keys, evictions).
    pub detector_counters: Vec<(&'static str, u64)>,
    /// Wall-clock seconds the run took.
    pub elapsed_secs: f64,
}

impl RunStats {
    /// Counts an event.
    pub fn count_event(&mut self, kind: EventKind, outcome: Outcome, weight: u64) {
        *self.events.entry((kind, outcome.as_str())).or_insert(0) += weight;
    }

    /// Lines read over all inputs.
    pub fn total_lines(&self) -> u64 {
        self.sources.iter().map(|s| s.stats.lines).sum()
    }

    /// Bytes read over all inputs.
    pub fn total_bytes(&self) -> u64 {
        self.sources.iter().map(|s| s.stats.bytes).sum()
    }

    /// Rejected lines over all inputs.
    pub fn total_rejected(&self) -> u64 {
        self.sources.iter().map(|s| s.stats.rejected_total()).sum()
    }

    /// Alerts over all rules.
    pub fn total_alerts(&self) -> u64 {
        self.alerts.values().sum()
    }

    /// The human summary for stderr.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let lines = self.total_lines();
        let rate = if self.elapsed_secs > 0.0 {
            lines as f64 / self.elapsed_secs
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "credwatch: {} lines ({:.1} MB) from {} input{} in {:.2} s ({} lines/s)",
            thousands(lines),
            self.total_bytes() as f64 / 1e6,
            self.sources.len(),
            if self.sources.len() == 1 { "" } else { "s" },
            self.elapsed_secs,
            thousands(rate as u64)
        );
        let width = self
            .sources
            .iter()
            .map(|r| r.path.len())
            .chain(self.skipped.iter().map(|(p, _)| p.len()))
            .max()
            .unwrap_or(0);
        for r in &self.sources {
            let _ = writeln!(
                s,
                "  {:width$}  {:<6}{} {:>10} lines {:>9} events {:>9} irrelevant {:>6} rejected",
                r.path,
                r.format,
                if r.compressed { " gz" } else { "   " },
                thousands(r.stats.lines),
                thousands(r.stats.events),
                thousands(r.stats.irrelevant + r.stats.blank),
                thousands(r.stats.rejected_total()),
            );
        }
        for (path, why) in &self.skipped {
            let _ = writeln!(s, "  {path:width$}  skipped: {why}");
        }
        for e in &self.input_errors {
            let _ = writeln!(s, "  input error: {e}");
        }
        if !self.events.is_empty() {
            let mut by_kind: BTreeMap<EventKind, Vec<(&str, u64)>> = BTreeMap::new();
            for ((k, o), n) in &self.events {
                by_kind.entry(*k).or_default().push((o, *n));
            }
            let parts: Vec<String> = by_kind
                .iter()
                .map(|(k, outcomes)| {
                    let total: u64 = outcomes.iter().map(|(_, n)| n).sum();
                    let detail: Vec<String> = outcomes
                        .iter()
                        .map(|(o, n)| format!("{o} {}", thousands(*n)))
                        .collect();
                    format!("{k} {} ({})", thousands(total), detail.join(", "))
                })
                .collect();
            let _ = writeln!(s, "events: {}", parts.join("; "));
        }
        if self.late_events > 0 {
            let _ = writeln!(
                s,
                "late events (behind the newest event time by more than the allowed lateness): {}",
                thousands(self.late_events)
            );
        }
        if self.budget_evictions > 0 {
            let _ = writeln!(
                s,
                "memory budget {} MiB reached (state peaked at {} MiB): evicted {} least recently active keys",
                self.memory_budget >> 20,
                self.peak_state_bytes >> 20,
                thousands(self.budget_evictions)
            );
        }
        if self.peak_state_bytes >= 64 << 20 || self.budget_evictions > 0 {
            // Where the memory went, so a budget can be tuned (or a rule turned off) knowingly.
            let mut parts: Vec<_> = self
                .peak_state_by_detector
                .iter()
                .filter(|(_, b)| *b >= 1 << 20)
                .collect();
            parts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let parts: Vec<String> = parts
                .iter()
                .map(|(name, b)| format!("{name} {} MiB", b >> 20))
                .collect();
            let _ = writeln!(
                s,
                "detector state at its peak: {} MiB ({})",
                self.peak_state_bytes >> 20,
                parts.join(", ")
            );
        }
        let rejected = self.total_rejected();
        if rejected > 0 {
            let _ = writeln!(s, "rejected lines: {}", thousands(rejected));
            let mut by_reason: BTreeMap<&str, u64> = BTreeMap::new();
            for r in &self.sources {
                for (reason, n) in &r.stats.rejected {
                    *by_reason.entry(reason).or_insert(0) += n;
                }
            }
            for (reason, n) in by_reason {
                let example = self.sources.iter().find_map(|r| {
                    r.stats
                        .samples
                        .iter()
                        .find(|x| x.reason == reason)
                        .map(|x| {
                            let detail = x
                                .detail
                                .as_deref()
                                .map(|d| format!(" ({})", truncate(d, 100)))
                                .unwrap_or_default();
                            format!("{}:{}{detail}", r.path, x.line)
                        })
                });
                let _ = writeln!(
                    s,
                    "  {reason:<28} {:>8}  e.g. {}",
                    thousands(n),
                    example.unwrap_or_default()
                );
            }
        }
        if !self.duplicates.is_empty() {
            let parts: Vec<String> = self
                .duplicates
                .iter()
                .map(|(p, n)| format!("{p} {}", thousands(*n)))
                .collect();
            let _ = writeln!(
                s,
                "counted once (the same action logged by another input): {}",
                parts.join(", ")
            );
        }
        let alerts = self.total_alerts();
        if alerts == 0 {
            let _ = writeln!(s, "alerts: none");
        } else {
            let _ = writeln!(s, "alerts: {}", thousands(alerts));
            for (rule, n) in &self.alerts {
                let from: Vec<String> = self
                    .alert_sources
                    .iter()
                    .filter(|((r, _), _)| r == rule)
                    .map(|((_, src), k)| format!("{src} {}", thousands(*k)))
                    .collect();
                let _ = writeln!(
                    s,
                    "  {:<28} {:>8}  triggered by {}",
                    rule.as_str(),
                    thousands(*n),
                    from.join(", ")
                );
            }
        }
        s
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_bounded_per_reason_and_counts_add_up() {
        let mut a = SourceStats::default();
        for line in 1..=5 {
            a.reject(
                RejectSample {
                    line,
                    reason: "bad_timestamp",
                    detail: None,
                },
                3,
            );
        }
        let mut b = SourceStats::default();
        b.reject(
            RejectSample {
                line: 9,
                reason: "bad_timestamp",
                detail: None,
            },
            3,
        );
        b.lines = 10;
        a.absorb(b, 3);
        assert_eq!(a.rejected["bad_timestamp"], 6);
        assert_eq!(a.samples.len(), 3);
        assert_eq!(a.lines, 10);
    }

    #[test]
    fn summary_names_rejections_with_an_example() {
        let mut run = RunStats::default();
        let mut st = SourceStats {
            lines: 3,
            ..Default::default()
        };
        st.reject(
            RejectSample {
                line: 2,
                reason: "invalid_json",
                detail: Some("EOF while parsing".into()),
            },
            3,
        );
        run.sources.push(SourceReport {
            path: "app/auth.jsonl".into(),
            format: "json",
            compressed: false,
            stats: st,
        });
        run.alerts.insert(Rule::StuffingIp, 2);
        let text = run.render();
        assert!(text.contains("rejected lines: 1"), "{text}");
        assert!(
            text.contains("invalid_json") && text.contains("app/auth.jsonl:2 (EOF while parsing)"),
            "{text}"
        );
        assert!(text.contains("alerts: 2\n  stuffing.ip"), "{text}");
    }
}
