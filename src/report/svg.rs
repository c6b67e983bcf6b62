//! The timeline chart: inline SVG written with the same `maud` templates as the page (every
//! text, log-derived or not, is escaped by them), no scripts, no external resources.
//!
//! Logins per bucket (successful, failed, failed for unknown accounts), `stuffing.global`
//! bursts shaded, and account-harm alerts (compromise, takeover, orders) marked with a line and
//! a `<title>` naming the account, so a reader (and the browser test) can find them.

use std::fmt::Write as _;

use maud::{Markup, html};

use super::{BUCKET_WIDTHS, Bucket, Model, fmt_time};
use crate::alert::Rule;
use crate::time::{DAY, HOUR, MINUTE, Millis, Timestamp, format_duration};

/// The most bars drawn: beyond it, buckets are merged into coarser ones.
pub const MAX_DRAWN_BUCKETS: usize = 720;

const WIDTH: f64 = 1200.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;

/// The rules marked on the timeline, with their marker colour.
const MARKED: [(Rule, &str); 4] = [
    (Rule::CompromiseLogin, "#7b1fa2"),
    (Rule::TakeoverSequence, "#000000"),
    (Rule::OrdersBulk, "#1565c0"),
    (Rule::OrdersDropAddress, "#00838f"),
];

/// Picks the display bucket width: the finest one (not finer than what was stored) that keeps
/// the chart at most [`MAX_DRAWN_BUCKETS`] wide.
pub fn display_width(stored: Millis, span: Millis) -> Millis {
    BUCKET_WIDTHS
        .iter()
        .copied()
        .filter(|&w| w >= stored)
        .find(|&w| span / w < MAX_DRAWN_BUCKETS as i64)
        .unwrap_or_else(|| BUCKET_WIDTHS.last().copied().unwrap_or(stored))
}

/// Dense series of buckets from the first to the last, at the display width.
pub fn series(model: &Model<'_>) -> (Millis, Vec<(Timestamp, Bucket)>) {
    let (Some(first), Some(last)) = (model.buckets.first(), model.buckets.last()) else {
        return (model.bucket_width, Vec::new());
    };
    let span = last.0.millis() - first.0.millis() + model.bucket_width;
    let width = display_width(model.bucket_width, span);
    let start = first.0.millis().div_euclid(width) * width;
    let n = usize::try_from((last.0.millis() - start) / width + 1).unwrap_or(0);
    let mut out: Vec<(Timestamp, Bucket)> = (0..n)
        .map(|i| (Timestamp(start + i as i64 * width), Bucket::default()))
        .collect();
    for (t, b) in &model.buckets {
        let i = usize::try_from((t.millis() - start) / width).unwrap_or(0);
        if let Some(slot) = out.get_mut(i) {
            slot.1.add(b);
        }
    }
    (width, out)
}

/// A round tick step that gives at most about ten ticks over `span`.
fn tick_step(span: Millis) -> Millis {
    const STEPS: [Millis; 13] = [
        MINUTE,
        2 * MINUTE,
        5 * MINUTE,
        10 * MINUTE,
        15 * MINUTE,
        30 * MINUTE,
        HOUR,
        2 * HOUR,
        3 * HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY,
        7 * DAY,
    ];
    STEPS
        .into_iter()
        .find(|&st| span / st <= 10)
        .unwrap_or_else(|| {
            let weeks = span / (7 * DAY) / 10 + 1;
            weeks * 7 * DAY
        })
}

fn nice_ceiling(v: u64) -> u64 {
    let v = v.max(1);
    let mut step = 1u64;
    while step.saturating_mul(10) <= v {
        step = step.saturating_mul(10);
    }
    for m in [1, 2, 5, 10] {
        let c = step.saturating_mul(m);
        if c >= v {
            return c;
        }
    }
    v
}

/// One decimal, as coordinates are written.
fn f1(v: f64) -> String {
    format!("{v:.1}")
}

/// Renders the timeline as an `<svg>` element (a `maud` template: every text is escaped).
pub fn timeline(model: &Model<'_>) -> Markup {
    let (width, series) = series(model);
    let (Some(first), Some(last)) = (series.first(), series.last()) else {
        return html! { p.muted { "No logins were seen, so there is no timeline." } };
    };
    let t0 = first.0.millis();
    let t1 = last.0.millis() + width;
    let span = (t1 - t0).max(1) as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x_of = |t: i64| LEFT + ((t - t0) as f64 / span).clamp(0.0, 1.0) * plot_w;
    let ymax = nice_ceiling(
        series
            .iter()
            .map(|(_, b)| b.failed.max(b.ok).max(b.unsure))
            .max()
            .unwrap_or(1),
    );
    let y_of = |v: u64| TOP + plot_h - (v as f64 / ymax as f64) * plot_h;
    // Grid and y axis: steps that divide the (rounded) maximum evenly.
    let steps = [4u64, 5, 2, 1]
        .into_iter()
        .find(|n| ymax.is_multiple_of(*n))
        .unwrap_or(1);
    // X axis: ticks at round times, the date under the first tick of each day.
    let step = tick_step(t1 - t0);
    let mut ticks: Vec<(f64, String, String)> = Vec::new();
    let mut t = t0.div_euclid(step) * step;
    if t < t0 {
        t += step;
    }
    let mut last_date = String::new();
    while t <= t1 {
        let label = fmt_time(Timestamp(t));
        let (date, time) = label.split_once(' ').unwrap_or((&label, ""));
        let date_label = if date == last_date { "" } else { date };
        ticks.push((
            x_of(t),
            time.get(..5).unwrap_or(time).to_string(),
            date_label.to_string(),
        ));
        last_date = date.to_string();
        t += step;
    }
    // Series as step lines.
    let points = |pick: fn(&Bucket) -> u64| {
        let mut pts = String::new();
        for (t, b) in &series {
            let x0 = x_of(t.millis());
            let x1 = x_of(t.millis() + width);
            let y = y_of(pick(b));
            let _ = write!(pts, "{x0:.1},{y:.1} {x1:.1},{y:.1} ");
        }
        pts.trim_end().to_string()
    };
    let mut lines: Vec<(&str, String)> = vec![
        ("s-failed", points(|b| b.failed)),
        ("s-unknown", points(|b| b.unknown_account)),
        ("s-ok", points(|b| b.ok)),
    ];
    if series.iter().any(|(_, b)| b.unsure > 0) {
        lines.push(("s-unsure", points(|b| b.unsure)));
    }
    html! {
        svg id="timeline-svg" xmlns="http://www.w3.org/2000/svg"
            viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
            aria-labelledby="timeline-title" {
            title id="timeline-title" {
                "Logins per " (format_duration(width)) ", " (fmt_time(Timestamp(t0))) " to "
                (fmt_time(Timestamp(t1))) " UTC"
            }
            // Bursts first, so lines draw over them.
            @for (a, b, id) in model.bursts() {
                @let x0 = x_of(a.millis().div_euclid(width) * width);
                @let x1 = x_of(b.millis().div_euclid(width) * width + width).max(x0 + 3.0);
                rect.burst x=(f1(x0)) y=(TOP) width=(f1(x1 - x0)) height=(plot_h) {
                    title { "stuffing burst " (fmt_time(a)) " – " (fmt_time(b)) " (alert " (id) ")" }
                }
            }
            @for i in 0..=steps {
                @let v = ymax * i / steps;
                @let y = y_of(v);
                line.grid x1=(LEFT) x2=(f1(WIDTH - RIGHT)) y1=(f1(y)) y2=(f1(y)) {}
                text.axis x=(f1(LEFT - 6.0)) y=(f1(y + 4.0)) text-anchor="end" {
                    (crate::alert::thousands(v))
                }
            }
            @for (x, time, date) in &ticks {
                line.tick x1=(f1(*x)) x2=(f1(*x)) y1=(f1(TOP + plot_h)) y2=(f1(TOP + plot_h + 4.0)) {}
                text.axis x=(f1(*x)) y=(f1(TOP + plot_h + 16.0)) text-anchor="middle" { (time) }
                text.axis x=(f1(*x)) y=(f1(TOP + plot_h + 30.0)) text-anchor="middle" { (date) }
            }
            @for (class, pts) in &lines {
                polyline class=(class) points=(pts) {}
            }
            // Alert markers.
            @for (rule, colour) in MARKED {
                @for a in model.alerts_of(rule) {
                    @let x = x_of(a.first_seen.millis());
                    g.marker {
                        title {
                            (rule.as_str()) " " (a.entity.value) " at " (fmt_time(a.first_seen))
                            " UTC: " (a.summary)
                        }
                        line x1=(f1(x)) x2=(f1(x)) y1=(f1(TOP - 6.0)) y2=(f1(TOP + plot_h)) stroke=(colour) {}
                        circle cx=(f1(x)) cy=(f1(TOP - 8.0)) r="4" fill=(colour) {}
                    }
                }
            }
        }
    }
}

/// The legend under the chart, as HTML.
pub fn legend(model: &Model<'_>) -> Markup {
    html! {
        ul.legend {
            li { span class="sw s-failed" {} "failed logins" }
            li { span class="sw s-unknown" {} "failed: account does not exist" }
            li { span class="sw s-ok" {} "successful logins" }
            @if model.buckets.iter().any(|(_, b)| b.unsure > 0) {
                li { span class="sw s-unsure" {} "outcome not logged" }
            }
            @if !model.bursts().is_empty() {
                li { span class="sw burst" {} "stuffing burst" }
            }
            @for (rule, colour) in MARKED {
                @if !model.alerts_of(rule).is_empty() {
                    li { span.dot style=(format!("background:{colour}")) {} (rule.as_str()) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_width_keeps_the_chart_narrow() {
        assert_eq!(display_width(MINUTE, 2 * HOUR), MINUTE);
        assert_eq!(display_width(MINUTE, 2 * DAY), 5 * MINUTE);
        assert_eq!(display_width(MINUTE, 7 * DAY), 15 * MINUTE);
        assert_eq!(display_width(HOUR, 2 * HOUR), HOUR);
        assert_eq!(display_width(MINUTE, 100_000 * DAY), 28 * DAY);
    }

    #[test]
    fn ticks_are_round_and_few() {
        assert_eq!(tick_step(7 * MINUTE), MINUTE);
        assert_eq!(tick_step(48 * HOUR), 6 * HOUR);
        assert_eq!(tick_step(2 * HOUR), 15 * MINUTE);
        assert_eq!(tick_step(70 * DAY), 7 * DAY);
        assert_eq!(tick_step(700 * DAY), 77 * DAY);
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(13), 20);
        assert_eq!(nice_ceiling(400), 500);
        assert_eq!(nice_ceiling(1000), 1000);
    }
}
