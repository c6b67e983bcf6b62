//! The HTML page: one self-contained file with inline CSS and inline SVG, no scripts, no
//! external resources (a Content-Security-Policy forbids them, as a second line of defence).
//!
//! Written with `maud`, whose templates escape every interpolated value (`& < > "`; attribute
//! values are always double-quoted), so escaping holds by construction: the only markup not
//! escaped is the static CSS ([`PreEscaped`]) and the fragments built here by other templates
//! ([`Markup`], the SVG of [`svg`] included). On top of that, [`render`] replaces control
//! characters and bidirectional overrides in the whole page (see [`neutralize_controls`]): our
//! templates hold none, so every one comes from a log and could make a line display as
//! something it is not.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use super::{
    CompromisedRow, Count, HistEvent, Model, Place, fmt_amount, fmt_time, fmt_totals, svg,
};
use crate::alert::{Alert, Rule, Severity, thousands};
use crate::event::{EventKind, Outcome};
use crate::rules::orders_bulk::OrdersBulkEvidence;

/// Replaces control characters (C0 other than tab and newline, DEL, C1) and bidirectional
/// overrides with U+FFFD. HTML escaping is the templates' job; this keeps a log line from
/// rewriting how the text around it displays. Invalid UTF-8 cannot reach here: events hold
/// Rust strings, and decoders keep invalid bytes as visible `\xNN` text.
pub fn neutralize_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if is_unsafe_control(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

fn is_unsafe_control(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// One table cell.
#[derive(Debug, Clone)]
pub enum Cell {
    /// Text, escaped when written.
    Text(String),
    /// A number, right-aligned with thousands separators.
    Num(u64),
    /// A count that may be estimated.
    Est(Count),
    /// Markup from a template.
    Markup(Markup),
}

fn t(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn cell(c: &Cell) -> Markup {
    html! {
        @match c {
            // Short cells (times, addresses, ASNs) do not wrap; long ones may break anywhere
            // so a hostile 10 kB user agent cannot stretch the page.
            Cell::Text(x) if x.chars().count() <= 24 => td.nw { (x) },
            Cell::Text(x) => td { (x) },
            Cell::Num(n) => td.n { (thousands(*n)) },
            Cell::Est(c) => td.n { (fmt_count(*c)) },
            Cell::Markup(m) => td { (m) },
        }
    }
}

/// A table with a header row; `id` empty for none.
fn table(id: &str, headers: &[&str], rows: &[Vec<Cell>]) -> Markup {
    let inner = html! {
        thead { tr { @for h in headers { th { (h) } } } }
        tbody { @for row in rows { tr { @for c in row { (cell(c)) } } } }
    };
    html! {
        @if id.is_empty() {
            table { (inner) }
        } @else {
            table id=(id) { (inner) }
        }
    }
}

fn fmt_count(c: Count) -> String {
    if c.exact {
        thousands(c.n)
    } else if c.at_least {
        format!("≥{}", thousands(c.n))
    } else {
        format!("≈{}", thousands(c.n))
    }
}

fn org_or_dash(org: &Option<String>) -> String {
    org.clone().unwrap_or_else(|| "—".to_string())
}

fn sev_badge(sev: Severity) -> Markup {
    html! { span class=(format!("sev sev-{}", sev.as_str())) { (sev.as_str()) } }
}

fn acc(name: &str) -> Markup {
    html! { span.acc { (name) } }
}

fn range(a: crate::time::Timestamp, b: crate::time::Timestamp) -> String {
    let (fa, fb) = (fmt_time(a), fmt_time(b));
    match (fa.split_once(' '), fb.split_once(' ')) {
        (Some((da, _)), Some((db, tb))) if da == db => format!("{fa} – {tb}"),
        _ => format!("{fa} – {fb}"),
    }
}

const CSS: &str = r#"
:root{--red:#c62828;--ink:#1d1d1f;--muted:#666;--line:#ddd;--bg:#fafafa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK JP",sans-serif;color:var(--ink);margin:0;background:#fff}
main{max-width:1240px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:20px;margin:32px 0 8px;padding-bottom:4px;border-bottom:2px solid var(--ink)}
h3{font-size:15px;margin:20px 0 6px}
p.lead{font-size:16px;max-width:70em}
.muted{color:var(--muted)}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.kpi{border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:170px;background:var(--bg)}
.kpi b{display:block;font-size:26px}
.kpi.bad b{color:var(--red)}
table{border-collapse:collapse;width:100%;margin:8px 0 16px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f0f0f0;font-weight:600;overflow-wrap:normal}
dl.ev td,dl.ev th{overflow-wrap:normal}
td.nw{white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.sev{white-space:nowrap;display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;font-weight:600;color:#fff;background:#777}
.sev-critical{background:#b71c1c}.sev-high{background:#e65100}.sev-medium{background:#f9a825;color:#000}.sev-low{background:#546e7a}.sev-info{background:#90a4ae}
.new{color:var(--red);font-weight:600}
.pl{white-space:nowrap}
.drop{background:#ffebee;color:var(--red);font-weight:600;padding:0 4px;border-radius:3px}
svg{width:100%;height:auto;border:1px solid var(--line);background:#fff}
svg .grid{stroke:#eee}svg .tick{stroke:#999}
svg .axis{font-size:11px;fill:#555}
svg polyline{fill:none;stroke-width:1.4}
svg .s-failed{stroke:#c62828}svg .s-unknown{stroke:#ef6c00;stroke-dasharray:4 2}
svg .s-ok{stroke:#2e7d32}svg .s-unsure{stroke:#9e9e9e}
svg .burst{fill:#f48fb1;fill-opacity:.45}
svg .marker line{stroke-width:1.2;stroke-dasharray:2 2}
.legend{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:14px;font-size:12px}
.legend .sw{display:inline-block;width:18px;height:3px;margin-right:5px;vertical-align:middle}
.legend .sw.s-failed{background:#c62828}.legend .sw.s-unknown{background:#ef6c00}
.legend .sw.s-ok{background:#2e7d32}.legend .sw.s-unsure{background:#9e9e9e}
.legend .sw.burst{background:#f8bbd0;height:12px}
.legend .dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px}
.card{border:1px solid var(--line);border-left:6px solid #777;border-radius:4px;padding:8px 12px;margin:10px 0;break-inside:avoid}
.card.sev-critical-b{border-left-color:#b71c1c}.card.sev-high-b{border-left-color:#e65100}
.card.sev-medium-b{border-left-color:#f9a825}.card.sev-low-b{border-left-color:#546e7a}
.card h3{margin:2px 0 4px;font-size:14px}
.card .sum{margin:2px 0 6px}
dl.ev{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:4px 0;font-size:13px}
dl.ev dt{color:var(--muted)}dl.ev dd{margin:0;overflow-wrap:anywhere}
dl.ev table{margin:0}
#compromised td:first-child,#bulk-orders td:first-child,#flagged-orders td:nth-child(2){min-width:16em}
.acc{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
footer{margin-top:40px;font-size:12px;color:var(--muted)}
@media print{
 main{max-width:none;padding:0}
 body{font-size:11px}
 h2{break-after:avoid}
 table,svg,.kpis{break-inside:auto}
 tr,.card,.kpi{break-inside:avoid}
 thead{display:table-header-group}
 .sev,.drop,svg .burst,.legend .sw,.legend .dot{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 a{color:inherit;text-decoration:none}
}
"#;

/// Renders the whole page.
pub fn render(m: &Model<'_>) -> String {
    let lower_bounds = m
        .sources
        .iter()
        .map(|r| r.accounts)
        .chain(
            m.asns
                .iter()
                .flat_map(|r| [r.addresses, r.failing_addresses, r.accounts]),
        )
        .any(|c| c.at_least);
    let page = html! {
        (DOCTYPE) "\n"
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy"
                    content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "credwatch forensic report" }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    (header(m))
                    (what_happened(m))
                    (timeline(m))
                    (compromised(m))
                    (takeovers(m))
                    (sources(m))
                    (asns(m))
                    (orders(m))
                    (resets(m))
                    (alerts(m))
                    (inputs(m))
                    footer {
                        "Generated by credwatch. All times are UTC. Postal and e-mail addresses \
                         are shown only as short hashes. Counts marked ≈ are estimates."
                        @if lower_bounds {
                            " Counts marked ≥ are lower bounds: the report ran out of room to \
                             count further."
                        }
                    }
                }
            }
        }
    };
    let mut s = neutralize_controls(&page.into_string()).into_owned();
    s.push('\n');
    s
}

fn header(m: &Model<'_>) -> Markup {
    let period = m
        .range
        .map(|(a, b)| format!("{} UTC", range(a, b)))
        .unwrap_or_else(|| "no events".to_string());
    let mut line = format!("Events from {period}");
    if !m.stats.sources.is_empty() {
        let _ = write!(
            line,
            " · {} log lines from {} input{}",
            thousands(m.stats.total_lines()),
            m.stats.sources.len(),
            if m.stats.sources.len() == 1 { "" } else { "s" }
        );
    }
    html! { header { h1 { "credwatch forensic report" } p.muted { (line) } } }
}

/// Totals of the harm done through compromised accounts.
fn harm(m: &Model<'_>) -> (u64, u64, BTreeMap<String, f64>) {
    let mut takeovers = 0;
    let mut orders = 0;
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for r in &m.compromised {
        let a = r.aftermath();
        if r.takeover || a.changes > 0 {
            takeovers += 1;
        }
        orders += a.orders;
        for (c, v) in a.totals {
            *totals.entry(c).or_insert(0.0) += v;
        }
    }
    (takeovers, orders, totals)
}

fn kpi(bad: bool, n: &str, label: &str) -> Markup {
    html! { div class=(if bad { "kpi bad" } else { "kpi" }) { b { (n) } (label) } }
}

fn what_happened(m: &Model<'_>) -> Markup {
    let logins = m.events_of(EventKind::Login, None);
    let ok: u64 = m.buckets.iter().map(|(_, b)| b.ok).sum();
    let failed: u64 = m.buckets.iter().map(|(_, b)| b.failed).sum();
    let unknown: u64 = m.buckets.iter().map(|(_, b)| b.unknown_account).sum();
    let stuffing: Vec<&Alert> = m
        .alerts
        .iter()
        .filter(|a| {
            matches!(
                a.rule,
                Rule::StuffingIp | Rule::StuffingAsn | Rule::StuffingGlobal
            )
        })
        .collect();
    let (takeovers, orders, totals) = harm(m);
    let serious = m
        .alerts
        .iter()
        .filter(|a| a.severity >= Severity::High)
        .count() as u64;
    let order_kpi = if totals.is_empty() {
        thousands(orders)
    } else {
        fmt_totals(&totals)
    };

    // The story, as plain text (escaped when written), one paragraph per line.
    let mut p = String::new();
    let period = m
        .range
        .map(|(a, b)| format!(" between {} and {} UTC", fmt_time(a), fmt_time(b)))
        .unwrap_or_default();
    if m.stats.sources.is_empty() {
        let _ = write!(p, "credwatch read the logs{period}.");
    } else {
        let _ = write!(
            p,
            "credwatch read {} log lines from {} input{}{period}.",
            thousands(m.stats.total_lines()),
            m.stats.sources.len(),
            if m.stats.sources.len() == 1 { "" } else { "s" },
        );
    }
    let _ = write!(
        p,
        " It saw {} login attempts: {} succeeded and {} failed",
        thousands(logins),
        thousands(ok),
        thousands(failed),
    );
    if let Some(pct) = unknown.saturating_mul(100).checked_div(failed)
        && unknown > 0
    {
        let _ = write!(
            p,
            ", {} of the failures ({pct}%) for accounts that do not exist — the sign of someone \
             trying a list of stolen e-mail addresses and passwords",
            thousands(unknown),
        );
    }
    p.push_str(".\n");
    if stuffing.is_empty() {
        p.push_str("No credential-stuffing attack was detected. ");
    } else {
        let bursts = m.bursts();
        let _ = write!(
            p,
            "Attackers tried stolen passwords in bulk (\"credential stuffing\"): {} alert{}",
            stuffing.len(),
            if stuffing.len() == 1 { "" } else { "s" }
        );
        if !bursts.is_empty() {
            let _ = write!(
                p,
                ", including {} site-wide burst{} (shaded in the timeline)",
                bursts.len(),
                if bursts.len() == 1 { "" } else { "s" }
            );
        }
        p.push('.');
        if let Some(top) = m.sources.first() {
            let _ = write!(
                p,
                " The busiest attacking address was {}{} with {} failed logins against {} accounts.",
                top.ip,
                top.org
                    .as_ref()
                    .map(|o| format!(" ({o})"))
                    .unwrap_or_default(),
                thousands(top.failures),
                fmt_count(top.accounts)
            );
        }
        p.push('\n');
    }
    if m.compromised.is_empty() {
        p.push_str("No account was seen being broken into.");
    } else {
        let names: Vec<&str> = m
            .compromised
            .iter()
            .take(5)
            .map(|r| r.account.as_str())
            .collect();
        let more = m.compromised.len().saturating_sub(names.len());
        let _ = write!(
            p,
            "{} account{} {} broken into (a successful login from an attacking source, or a \
             takeover sequence): {}{}. ",
            m.compromised.len(),
            if m.compromised.len() == 1 { "" } else { "s" },
            if m.compromised.len() == 1 {
                "was"
            } else {
                "were"
            },
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        if takeovers > 0 {
            let _ = write!(
                p,
                "In {} of them the attacker went on to take the account over (password reset, \
                 changed e-mail or shipping address). ",
                thousands(takeovers)
            );
        }
        if orders > 0 {
            let _ = write!(
                p,
                "{} order{} worth {} {} placed through broken-into accounts after the break-in. ",
                thousands(orders),
                if orders == 1 { "" } else { "s" },
                if totals.is_empty() {
                    "an unknown amount".to_string()
                } else {
                    fmt_totals(&totals)
                },
                if orders == 1 { "was" } else { "were" }
            );
        }
        p.push_str(
            "These accounts should be locked, their passwords reset and their owners told; \
             their recent orders should be held and reviewed.",
        );
    }
    let drops = m.alerts_of(Rule::OrdersDropAddress).len();
    let resets = m.alerts_of(Rule::ResetFlood).len();
    if drops > 0 || resets > 0 {
        let _ = write!(
            p,
            " {} shipping address{} received orders from several accounts (possible drop \
             address{}), and {} password-reset flood{} {} seen.",
            drops,
            if drops == 1 { "" } else { "es" },
            if drops == 1 { "" } else { "es" },
            resets,
            if resets == 1 { "" } else { "s" },
            if resets == 1 { "was" } else { "were" }
        );
    }
    html! {
        section #summary {
            h2 { "What happened" }
            div.kpis {
                (kpi(!m.compromised.is_empty(), &thousands(m.compromised.len() as u64), "accounts broken into"))
                (kpi(takeovers > 0, &thousands(takeovers), "accounts taken over"))
                (kpi(orders > 0, &order_kpi, &format!("in {} orders through broken-into accounts", thousands(orders))))
                (kpi(failed > 0, &thousands(failed), "failed logins"))
                (kpi(serious > 0, &thousands(serious), "high or critical alerts"))
            }
            @for para in p.split('\n').map(str::trim).filter(|x| !x.is_empty()) {
                p.lead { (para) }
            }
        }
    }
}

fn timeline(m: &Model<'_>) -> Markup {
    let (width, _) = svg::series(m);
    html! {
        section #timeline {
            h2 { "Timeline" }
            p.muted {
                "Logins per " (crate::time::format_duration(width)) ". Shaded: site-wide \
                 stuffing bursts. Dots: alerts about accounts (hover for details)."
            }
            (svg::timeline(m))
            (svg::legend(m))
        }
    }
}

fn aftermath_text(r: &CompromisedRow) -> String {
    let a = r.aftermath();
    let mut parts = Vec::new();
    if a.resets > 0 {
        parts.push(format!("{} reset event{}", a.resets, plural(a.resets)));
    }
    if a.changes > 0 {
        let kinds: Vec<&str> = r
            .next
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::EmailChange | EventKind::AddressChange | EventKind::PaymentChange
                )
            })
            .map(|e| e.kind.as_str())
            .collect();
        let mut uniq: Vec<&str> = Vec::new();
        for k in kinds {
            if !uniq.contains(&k) {
                uniq.push(k);
            }
        }
        parts.push(uniq.join(", ").replace('_', " "));
    }
    if a.orders > 0 {
        let mut o = format!("{} order{}", a.orders, plural(a.orders));
        if !a.totals.is_empty() {
            let _ = write!(o, " ({})", fmt_totals(&a.totals));
        }
        if !a.sellers.is_empty() {
            let _ = write!(o, " from {}", a.sellers.join(", "));
        }
        parts.push(o);
    }
    if parts.is_empty() {
        "nothing recorded after the login".to_string()
    } else {
        parts.join(" → ")
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn compromised(m: &Model<'_>) -> Markup {
    let rows: Vec<Vec<Cell>> = m
        .compromised
        .iter()
        .map(|r| {
            vec![
                Cell::Markup(acc(&r.account)),
                t(fmt_time(r.time)),
                t(r.ip.clone().unwrap_or_default()),
                t(r.asn.map(|a| format!("AS{a}")).unwrap_or_default()),
                t(org_or_dash(&r.org)),
                t(r.reason.clone()),
                Cell::Markup(sev_badge(r.severity)),
                t(aftermath_text(r)),
            ]
        })
        .collect();
    html! {
        section #compromised-accounts {
            h2 { "Compromised accounts" }
            p.muted {
                "Successful logins from attacking sources, and accounts taken over: the list to \
                 lock, reset and notify."
            }
            @if rows.is_empty() {
                p { "None." }
            } @else {
                (table(
                    "compromised",
                    &[
                        "Account",
                        "Time (UTC)",
                        "Address",
                        "ASN",
                        "Organisation",
                        "Why",
                        "Severity",
                        "What happened next",
                    ],
                    &rows,
                ))
            }
        }
    }
}

fn place_html(p: Place) -> Markup {
    html! {
        @match p {
            Place::New | Place::NewAddress => span.new.pl { (p.label()) },
            _ => span.pl { (p.label()) },
        }
    }
}

/// " <span class="drop">drop address</span>" when `hash` is a flagged ship-to.
fn drop_mark(hash: &str, drops: &[String]) -> Markup {
    html! {
        @if drops.iter().any(|d| d == hash) {
            " " span.drop { "drop address" }
        }
    }
}

fn event_details(e: &HistEvent, drops: &[String]) -> Markup {
    let Some(o) = &e.order else {
        return match e.new_value {
            Some(v) => {
                let v = v.to_string();
                html! { "new value " (v) (drop_mark(&v, drops)) }
            }
            None => html! {},
        };
    };
    let ship_to = o.ship_to.map(|st| st.to_string());
    html! {
        @if let Some(a) = o.amount {
            (o.currency.as_deref().unwrap_or("")) " " (fmt_amount(a))
        }
        @if let Some(seller) = &o.seller {
            " · seller " (seller)
        }
        @if o.marketplace == Some(true) {
            " · marketplace"
        }
        @if let Some(st) = &ship_to {
            " · ship-to " (st)
            (drop_mark(st, drops))
            @match o.ship_to_known {
                Some(false) => { " " span.new { "new ship-to" } },
                Some(true) => { " (known ship-to)" },
                None => {},
            }
        }
        @if let Some(id) = &o.order_id {
            " · order " (id)
        }
    }
}

fn network(e: &HistEvent, m: &Model<'_>) -> String {
    match (e.asn, e.asn.and_then(|a| m.orgs.get(&a))) {
        (Some(a), Some(o)) => format!("AS{a} {o}"),
        (Some(a), None) => format!("AS{a}"),
        _ => String::new(),
    }
}

fn takeovers(m: &Model<'_>) -> Markup {
    let rows: Vec<&CompromisedRow> = m
        .compromised
        .iter()
        .filter(|r| !r.next.is_empty())
        .collect();
    html! {
        section #takeovers {
            h2 { "Account timelines" }
            p.muted {
                "What happened to each compromised account from the break-in on: logins from new \
                 places, resets, e-mail and address changes, orders."
            }
            @if rows.is_empty() {
                p { "Nothing recorded after the break-ins." }
            }
            @for r in rows {
                h3 { (acc(&r.account)) " " (sev_badge(r.severity)) }
                (table(
                    "",
                    &[
                        "Time (UTC)",
                        "Event",
                        "Outcome",
                        "Address",
                        "Network",
                        "Place",
                        "Details",
                    ],
                    &r.next
                        .iter()
                        .map(|e| {
                            vec![
                                t(fmt_time(e.ts)),
                                t(e.kind.as_str().replace('_', " ")),
                                t(e.outcome.as_str()),
                                t(e.ip.map(|i| i.to_string()).unwrap_or_default()),
                                t(network(e, m)),
                                Cell::Markup(place_html(e.place)),
                                Cell::Markup(event_details(e, &m.drop_addresses)),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ))
                @if r.history_dropped > 0 {
                    p.muted {
                        (thousands(r.history_dropped)) " older events of this account were not kept."
                    }
                }
            }
        }
    }
}

fn sources(m: &Model<'_>) -> Markup {
    let rows: Vec<Vec<Cell>> = m
        .sources
        .iter()
        .take(m.cfg.top_rows)
        .map(|r| {
            vec![
                t(r.ip.to_string()),
                t(r.asn.map(|a| format!("AS{a}")).unwrap_or_default()),
                t(org_or_dash(&r.org)),
                Cell::Num(r.attempts),
                Cell::Num(r.failures),
                Cell::Est(r.accounts),
                Cell::Num(r.successes),
                Cell::Num(r.resets),
                t(range(r.first, r.last)),
                t(if r.flagged { "yes" } else { "" }),
            ]
        })
        .collect();
    html! {
        section #attack-sources {
            h2 { "Top attacking addresses" }
            p.muted { "Addresses with the most failed logins (and password-reset requests)." }
            @if rows.is_empty() {
                p { "None." }
            } @else {
                (table(
                    "sources",
                    &[
                        "Address",
                        "ASN",
                        "Organisation",
                        "Login attempts",
                        "Failed",
                        "Distinct accounts",
                        "Succeeded",
                        "Reset requests",
                        "First – last seen (UTC)",
                        "In an alert",
                    ],
                    &rows,
                ))
            }
            @if m.sources_dropped.0 > 0 {
                p.muted {
                    (thousands(m.sources_dropped.0)) " addresses with few failures ("
                    (thousands(m.sources_dropped.1)) " login attempts) were not kept, to bound memory."
                }
            }
        }
    }
}

fn asns(m: &Model<'_>) -> Markup {
    let rows: Vec<Vec<Cell>> = m
        .asns
        .iter()
        .take(m.cfg.top_rows)
        .map(|r| {
            vec![
                t(format!("AS{}", r.asn)),
                t(org_or_dash(&r.org)),
                Cell::Num(r.attempts),
                Cell::Num(r.failures),
                Cell::Num(r.unknown_account),
                Cell::Est(r.failing_addresses),
                Cell::Est(r.accounts),
                Cell::Num(r.successes),
            ]
        })
        .collect();
    html! {
        section #attack-networks {
            h2 { "Top attacking networks (ASNs)" }
            @if rows.is_empty() {
                p { "None (no ASN database loaded, or no failed logins)." }
            } @else {
                (table(
                    "asns",
                    &[
                        "ASN",
                        "Organisation",
                        "Login attempts",
                        "Failed",
                        "Failed: no such account",
                        "Failing addresses",
                        "Distinct accounts",
                        "Succeeded",
                    ],
                    &rows,
                ))
            }
        }
    }
}

// What the order tables read from alert evidence: the rules' typed evidence.

/// An `orders.bulk` alert's per-currency totals, as `JPY 1,000 + USD 12.50`.
fn bulk_totals(e: &OrdersBulkEvidence) -> String {
    e.totals
        .iter()
        .map(|(c, v)| format!("{c} {}", fmt_amount(v.as_written())))
        .collect::<Vec<_>>()
        .join(" + ")
}

fn orders(m: &Model<'_>) -> Markup {
    let bulk: Vec<Vec<Cell>> = m
        .alerts_of(Rule::OrdersBulk)
        .iter()
        .map(|a| {
            let e = a.evidence.orders_bulk();
            vec![
                Cell::Markup(acc(&a.entity.value)),
                Cell::Markup(sev_badge(a.severity)),
                Cell::Num(e.map_or(0, |e| e.orders)),
                Cell::Num(e.map_or(0, |e| e.marketplace_orders)),
                t(e.map(bulk_totals).unwrap_or_default()),
                t(range(a.first_seen, a.last_seen)),
                t(a.summary.clone()),
            ]
        })
        .collect();
    let drops: Vec<Vec<Cell>> = m
        .alerts_of(Rule::OrdersDropAddress)
        .iter()
        .map(|a| {
            let e = a.evidence.orders_drop_address();
            vec![
                Cell::Markup(html! { span.drop { (a.entity.value) } }),
                Cell::Markup(sev_badge(a.severity)),
                Cell::Num(e.map_or(0, |e| e.orders)),
                Cell::Num(e.map_or(0, |e| u64::from(e.distinct_accounts))),
                t(a.accounts.join(", ")),
                t(range(a.first_seen, a.last_seen)),
            ]
        })
        .collect();
    let flagged: Vec<Vec<Cell>> = m
        .orders
        .iter()
        .take(200)
        .map(|o| {
            vec![
                t(fmt_time(o.event.ts)),
                Cell::Markup(acc(&o.account)),
                t(o.event.ip.map(|i| i.to_string()).unwrap_or_default()),
                Cell::Markup(place_html(o.event.place)),
                Cell::Markup(event_details(&o.event, &m.drop_addresses)),
            ]
        })
        .collect();
    let n = m.orders.len() as u64;
    html! {
        section #orders {
            h2 { "Bulk orders and drop addresses" }
            h3 { "Bulk orders" }
            @if bulk.is_empty() {
                p { "None." }
            } @else {
                (table(
                    "bulk-orders",
                    &[
                        "Account",
                        "Severity",
                        "Orders",
                        "Marketplace",
                        "Total",
                        "When (UTC)",
                        "Summary",
                    ],
                    &bulk,
                ))
            }
            h3 { "Drop addresses" }
            @if drops.is_empty() {
                p { "None." }
            } @else {
                (table(
                    "drop-addresses",
                    &[
                        "Ship-to (hash)",
                        "Severity",
                        "Orders",
                        "Accounts",
                        "Which accounts",
                        "When (UTC)",
                    ],
                    &drops,
                ))
            }
            @if n > 0 {
                h3 { "Orders of accounts named in alerts" }
                p.muted {
                    (thousands(n)) " order" (plural(n))
                    @if n > 200 { "; the first 200 are shown, orders.csv has all" }
                    "."
                }
                (table(
                    "flagged-orders",
                    &["Time (UTC)", "Account", "Address", "Place", "Order"],
                    &flagged,
                ))
            }
        }
    }
}

fn resets(m: &Model<'_>) -> Markup {
    let rows: Vec<Vec<Cell>> = m
        .alerts_of(Rule::ResetFlood)
        .iter()
        .map(|a| {
            vec![
                t(format!("{} {}", a.entity.kind.as_str(), a.entity.value)),
                t(org_or_dash(&a.as_org)),
                Cell::Markup(sev_badge(a.severity)),
                t(range(a.first_seen, a.last_seen)),
                t(a.summary.clone()),
            ]
        })
        .collect();
    html! {
        section #resets {
            h2 { "Password-reset floods" }
            @if rows.is_empty() {
                p { "None." }
            } @else {
                (table(
                    "reset-floods",
                    &[
                        "Target / source",
                        "Organisation",
                        "Severity",
                        "When (UTC)",
                        "Summary",
                    ],
                    &rows,
                ))
            }
        }
    }
}

fn humanize(key: &str) -> String {
    key.replace('_', " ")
}

fn scalar(key: &str, v: &Value) -> String {
    match v {
        Value::Null => "—".to_string(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                if key == "asn" {
                    format!("AS{u}")
                } else {
                    thousands(u)
                }
            } else if let Some(f) = n.as_f64() {
                if (key.contains("ratio") || key.contains("share")) && (0.0..=1.0).contains(&f) {
                    format!("{:.0}%", f * 100.0)
                } else {
                    fmt_amount(f)
                }
            } else {
                n.to_string()
            }
        }
        // Event times in evidence read like the rest of the page.
        Value::String(x) if x.len() >= 20 && x.ends_with('Z') && x.contains('T') => {
            crate::time::parse_rfc3339(x.as_bytes()).map_or_else(|| x.clone(), fmt_time)
        }
        Value::String(x) => x.clone(),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

/// Evidence as markup: objects as definition lists, arrays of objects as tables, arrays of
/// scalars as lists. Depth-limited, since evidence is ours but may nest.
fn value_html(key: &str, v: &Value, depth: usize) -> Markup {
    if depth > 4 {
        return html! { "…" };
    }
    match v {
        Value::Object(map) => html! {
            dl.ev {
                @for (k, v) in map {
                    dt { (humanize(k)) }
                    dd { (value_html(k, v, depth + 1)) }
                }
            }
        },
        Value::Array(items) if items.iter().any(Value::is_object) => {
            let mut cols: Vec<&str> = Vec::new();
            for it in items {
                if let Some(o) = it.as_object() {
                    for k in o.keys() {
                        if !cols.contains(&k.as_str()) {
                            cols.push(k);
                        }
                    }
                }
            }
            html! {
                table {
                    thead { tr { @for c in &cols { th { (humanize(c)) } } } }
                    tbody {
                        @for it in items.iter().take(100) {
                            tr {
                                @for c in &cols {
                                    td {
                                        @if let Some(v) = it.get(*c) {
                                            (value_html(c, v, depth + 1))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            let shown: Vec<String> = items.iter().take(50).map(|v| scalar(key, v)).collect();
            html! {
                (shown.join(", "))
                @if items.len() > shown.len() {
                    " … and " (items.len() - shown.len()) " more"
                }
            }
        }
        v => html! { (scalar(key, v)) },
    }
}

fn alert_card(a: &Alert) -> Markup {
    let mut meta = serde_json::Map::new();
    meta.insert(
        "when".into(),
        Value::String(range(a.first_seen, a.last_seen)),
    );
    if let Some(asn) = a.asn {
        let org = a.as_org.clone().unwrap_or_default();
        meta.insert("network".into(), Value::String(format!("AS{asn} {org}")));
    }
    meta.insert("alert id".into(), Value::String(a.id.clone()));
    html! {
        div class=(format!("card sev-{}-b", a.severity.as_str())) id=(format!("alert-{}", a.id)) {
            h3 {
                (sev_badge(a.severity)) " " (a.rule.as_str()) " · " (a.entity.kind.as_str()) " "
                (acc(&a.entity.value))
            }
            p.sum { (a.summary) }
            (value_html("", &Value::Object(meta), 0))
            // A generic key/value table of whatever the rule's evidence holds: its contract
            // JSON, so the page shows what the alert says (specific fields come from the types).
            (value_html("", &serde_json::to_value(&a.evidence).unwrap_or_default(), 0))
            @if !a.accounts.is_empty() {
                dl.ev { dt { "accounts" } dd.acc { (a.accounts.join(", ")) } }
            }
        }
    }
}

fn alerts(m: &Model<'_>) -> Markup {
    html! {
        section #alerts {
            h2 { "All alerts (" (thousands(m.alerts.len() as u64)) ")" }
            p.muted { "Most severe first." }
            @for a in &m.alerts {
                (alert_card(a))
            }
            @if m.alerts_dropped > 0 {
                p.muted {
                    (thousands(m.alerts_dropped)) " more alerts are not shown (report.max_alerts)."
                }
            }
        }
    }
}

fn inputs(m: &Model<'_>) -> Markup {
    let st = m.stats;
    let read: Vec<Vec<Cell>> = st
        .sources
        .iter()
        .map(|r| {
            vec![
                t(r.path.clone()),
                t(format!(
                    "{}{}",
                    r.format,
                    if r.compressed { " (gzip)" } else { "" }
                )),
                Cell::Num(r.stats.lines),
                Cell::Num(r.stats.events),
                Cell::Num(r.stats.irrelevant + r.stats.blank),
                Cell::Num(r.stats.rejected_total()),
            ]
        })
        .collect();
    let mut by_reason: BTreeMap<&str, (u64, String)> = BTreeMap::new();
    for r in &st.sources {
        for (reason, n) in &r.stats.rejected {
            let e = by_reason.entry(reason).or_insert((0, String::new()));
            e.0 += n;
            if e.1.is_empty()
                && let Some(x) = r.stats.samples.iter().find(|x| x.reason == *reason)
            {
                e.1 = format!(
                    "{}:{}{}",
                    r.path,
                    x.line,
                    x.detail
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                );
            }
        }
    }
    let rejected: Vec<Vec<Cell>> = by_reason
        .iter()
        .map(|(r, (n, ex))| vec![t(*r), Cell::Num(*n), t(ex.clone())])
        .collect();
    let mut by_kind: BTreeMap<EventKind, [u64; 3]> = BTreeMap::new();
    for ((k, o), n) in &st.events {
        let slot = by_kind.entry(*k).or_default();
        let i = match *o {
            x if x == Outcome::Success.as_str() => 0,
            x if x == Outcome::Failure.as_str() => 1,
            _ => 2,
        };
        if let Some(c) = slot.get_mut(i) {
            *c += n;
        }
    }
    let kinds: Vec<Vec<Cell>> = by_kind
        .iter()
        .map(|(k, [a, b, c])| {
            vec![
                t(k.as_str().replace('_', " ")),
                Cell::Num(*a),
                Cell::Num(*b),
                Cell::Num(*c),
            ]
        })
        .collect();
    let notes = input_notes(m);
    html! {
        section #inputs {
            h2 { "Input summary" }
            @if let Some((a, b)) = m.range {
                p {
                    "Event time range: " (range(a, b)) " UTC · " (thousands(m.events))
                    " events after de-duplication."
                }
            }
            (table(
                "sources-read",
                &[
                    "Input",
                    "Format",
                    "Lines",
                    "Events",
                    "Not about logins",
                    "Rejected",
                ],
                &read,
            ))
            @if !rejected.is_empty() {
                h3 { "Rejected lines by reason" }
                (table("rejected", &["Reason", "Lines", "Example"], &rejected))
            }
            @if !kinds.is_empty() {
                h3 { "Events by kind" }
                (table(
                    "events",
                    &["Event", "Success", "Failure", "Outcome not logged"],
                    &kinds,
                ))
            }
            @if !notes.is_empty() {
                ul { @for n in &notes { li { (n) } } }
            }
        }
    }
}

/// What was skipped, failed or dropped during the run, one sentence each.
fn input_notes(m: &Model<'_>) -> Vec<String> {
    let st = m.stats;
    let mut notes: Vec<String> = Vec::new();
    for (p, why) in &st.skipped {
        notes.push(format!("skipped {p}: {why}"));
    }
    for e in &st.input_errors {
        notes.push(format!("input error: {e}"));
    }
    for (p, n) in &st.duplicates {
        notes.push(format!(
            "{p}: {} events counted once (the same action logged by another input)",
            thousands(*n)
        ));
    }
    if st.late_events > 0 {
        notes.push(format!(
            "{} events arrived later than the allowed lateness",
            thousands(st.late_events)
        ));
    }
    if st.budget_evictions > 0 {
        notes.push(format!(
            "the detectors' memory budget was reached: {} keys evicted",
            thousands(st.budget_evictions)
        ));
    }
    if m.trails_dropped > 0 {
        notes.push(format!(
            "{} account histories were not kept, to bound the report's memory",
            thousands(m.trails_dropped)
        ));
    }
    if m.asns_untracked > 0 {
        notes.push(format!(
            "{} login attempts from networks beyond report.max_asns are not in the ASN table",
            thousands(m.asns_untracked)
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_escape_markup_and_controls_are_neutralized() {
        let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>it's & co";
        let out = html! { p { (hostile) } td title=(hostile) {} }.into_string();
        assert_eq!(
            out,
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x \
             onerror=alert(1)&gt;it's &amp; co</p><td title=\"&lt;script&gt;alert(1)&lt;/script&gt;\
             &quot;&gt;&lt;img src=x onerror=alert(1)&gt;it's &amp; co\"></td>"
        );
        assert!(matches!(
            neutralize_controls("plain\nnext\ttab"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            neutralize_controls("a\u{1b}[31mb\u{7f}c\u{85}"),
            "a\u{FFFD}[31mb\u{FFFD}c\u{FFFD}"
        );
        assert_eq!(
            neutralize_controls("abc\u{202E}gpj.exe"),
            "abc\u{FFFD}gpj.exe"
        );
        assert_eq!(neutralize_controls("田中\\x93"), "田中\\x93");
    }

    #[test]
    fn evidence_renders_as_key_values_not_json() {
        let v: Value = serde_json::json!({
            "attempts": 1200,
            "unknown_account_ratio": 0.81,
            "top_addresses": [{"ip": "203.0.113.7", "failures": 4}],
            "sellers": ["<b>x</b>", "y"],
            "ok": true
        });
        let out = value_html("", &v, 0).into_string();
        assert!(out.contains("<dt>attempts</dt><dd>1,200</dd>"), "{out}");
        assert!(
            out.contains("<dt>unknown account ratio</dt><dd>81%</dd>"),
            "{out}"
        );
        assert!(out.contains("<th>failures</th><th>ip</th>"), "{out}");
        assert!(out.contains("<td>4</td><td>203.0.113.7</td>"), "{out}");
        assert!(out.contains("&lt;b&gt;x&lt;/b&gt;, y"), "{out}");
        assert!(out.contains("<dd>yes</dd>"), "{out}");
        assert!(!out.contains('{'), "{out}");
    }
}
