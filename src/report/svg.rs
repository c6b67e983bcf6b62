//! The timeline chart: inline SVG generated here, no scripts, no external resources.
//!
//! Logins per bucket (successful, failed, failed for unknown accounts), `stuffing.global`
//! bursts shaded, and account-harm alerts (compromise, takeover, orders) marked with a line and
//! a `<title>` naming the account, so a reader (and the browser test) can find them.

use std::fmt::Write as _;

use super::html::escape;
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

/// Renders the timeline as an `<svg>` element.
pub fn timeline(model: &Model<'_>) -> String {
    let (width, series) = series(model);
    let mut s = String::new();
    let (Some(first), Some(last)) = (series.first(), series.last()) else {
        return "<p class=\"muted\">No logins were seen, so there is no timeline.</p>".to_string();
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
    let per = format_duration(width);
    let _ = write!(
        s,
        "<svg id=\"timeline-svg\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-labelledby=\"timeline-title\">\
         <title id=\"timeline-title\">Logins per {per}, {} to {} UTC</title>",
        escape(&fmt_time(Timestamp(t0))),
        escape(&fmt_time(Timestamp(t1)))
    );
    // Bursts first, so lines draw over them.
    for (a, b, id) in model.bursts() {
        let x0 = x_of(a.millis().div_euclid(width) * width);
        let x1 = x_of(b.millis().div_euclid(width) * width + width).max(x0 + 3.0);
        let _ = write!(
            s,
            "<rect class=\"burst\" x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{plot_h}\">\
             <title>stuffing burst {} – {} (alert {})</title></rect>",
            x1 - x0,
            escape(&fmt_time(a)),
            escape(&fmt_time(b)),
            escape(id)
        );
    }
    // Grid and y axis: steps that divide the (rounded) maximum evenly.
    let steps = [4u64, 5, 2, 1]
        .into_iter()
        .find(|n| ymax.is_multiple_of(*n))
        .unwrap_or(1);
    for i in 0..=steps {
        let v = ymax * i / steps;
        let y = y_of(v);
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(&crate::alert::thousands(v))
        );
    }
    // X axis: ticks at round times, the date under the first tick of each day.
    let step = tick_step(t1 - t0);
    let mut t = t0.div_euclid(step) * step;
    if t < t0 {
        t += step;
    }
    let mut last_date = String::new();
    while t <= t1 {
        let x = x_of(t);
        let label = fmt_time(Timestamp(t));
        let (date, time) = label.split_once(' ').unwrap_or((&label, ""));
        let date_label = if date == last_date { "" } else { date };
        let _ = write!(
            s,
            "<line class=\"tick\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"axis\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text class=\"axis\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP + plot_h,
            TOP + plot_h + 4.0,
            TOP + plot_h + 16.0,
            escape(time.get(..5).unwrap_or(time)),
            TOP + plot_h + 30.0,
            escape(date_label)
        );
        last_date = date.to_string();
        t += step;
    }
    // Series as step lines.
    let series_line = |pick: fn(&Bucket) -> u64, class: &str, s: &mut String| {
        let mut pts = String::new();
        for (t, b) in &series {
            let x0 = x_of(t.millis());
            let x1 = x_of(t.millis() + width);
            let y = y_of(pick(b));
            let _ = write!(pts, "{x0:.1},{y:.1} {x1:.1},{y:.1} ");
        }
        let _ = write!(
            s,
            "<polyline class=\"{class}\" points=\"{}\"/>",
            pts.trim_end()
        );
    };
    series_line(|b| b.failed, "s-failed", &mut s);
    series_line(|b| b.unknown_account, "s-unknown", &mut s);
    series_line(|b| b.ok, "s-ok", &mut s);
    if series.iter().any(|(_, b)| b.unsure > 0) {
        series_line(|b| b.unsure, "s-unsure", &mut s);
    }
    // Alert markers.
    for (rule, colour) in MARKED {
        for a in model.alerts_of(rule) {
            let x = x_of(a.first_seen.millis());
            let _ = write!(
                s,
                "<g class=\"marker\"><title>{} {} at {} UTC: {}</title>\
                 <line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\"/>\
                 <circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\"/></g>",
                escape(rule.as_str()),
                escape(&a.entity.value),
                escape(&fmt_time(a.first_seen)),
                escape(&a.summary),
                TOP - 6.0,
                TOP + plot_h,
                TOP - 8.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// The legend under the chart, as HTML.
pub fn legend(model: &Model<'_>) -> String {
    let mut s = String::from("<ul class=\"legend\">");
    s.push_str(
        "<li><span class=\"sw s-failed\"></span>failed logins</li>\
         <li><span class=\"sw s-unknown\"></span>failed: account does not exist</li>\
         <li><span class=\"sw s-ok\"></span>successful logins</li>",
    );
    if model.buckets.iter().any(|(_, b)| b.unsure > 0) {
        s.push_str("<li><span class=\"sw s-unsure\"></span>outcome not logged</li>");
    }
    if !model.bursts().is_empty() {
        s.push_str("<li><span class=\"sw burst\"></span>stuffing burst</li>");
    }
    for (rule, colour) in MARKED {
        if !model.alerts_of(rule).is_empty() {
            let _ = write!(
                s,
                "<li><span class=\"dot\" style=\"background:{colour}\"></span>{}</li>",
                escape(rule.as_str())
            );
        }
    }
    s.push_str("</ul>");
    s
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
