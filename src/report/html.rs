//! The HTML page: one self-contained file with inline CSS and inline SVG, no scripts, no
//! external resources (a Content-Security-Policy forbids them, as a second line of defence).
//!
//! Every piece of text that reaches the page, whether from the logs or from us, goes through
//! [`escape`]; table cells are [`Cell::Text`] (escaped when written) unless they are markup
//! built here from escaped parts.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::{
    CompromisedRow, Count, HistEvent, Model, Place, fmt_amount, fmt_time, fmt_totals, svg,
};
use crate::alert::{Alert, Rule, Severity, thousands};
use crate::event::{EventKind, Outcome};

/// Escapes text for HTML element content and quoted attribute values: `& < > " '` become
/// entities; control characters (C0 other than tab and newline, DEL, C1) and bidirectional
/// overrides (which can make a log line display as something it is not) become U+FFFD.
/// Invalid UTF-8 cannot reach here: events hold Rust strings, and decoders keep invalid bytes
/// as visible `\xNN` text.
pub fn escape(s: &str) -> Cow<'_, str> {
    let needs = s
        .chars()
        .any(|c| matches!(c, '&' | '<' | '>' | '"' | '\'') || is_unsafe_control(c));
    if !needs {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_unsafe_control(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
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
    /// Markup built from escaped parts.
    Html(String),
}

fn t(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn table(s: &mut String, id: &str, headers: &[&str], rows: &[Vec<Cell>]) {
    if id.is_empty() {
        s.push_str("<table><thead><tr>");
    } else {
        let _ = write!(s, "<table id=\"{}\"><thead><tr>", escape(id));
    }
    for h in headers {
        let _ = write!(s, "<th>{}</th>", escape(h));
    }
    s.push_str("</tr></thead><tbody>");
    for row in rows {
        s.push_str("<tr>");
        for c in row {
            match c {
                // Short cells (times, addresses, ASNs) do not wrap; long ones may break anywhere
                // so a hostile 10 kB user agent cannot stretch the page.
                Cell::Text(x) if x.chars().count() <= 24 => {
                    let _ = write!(s, "<td class=\"nw\">{}</td>", escape(x));
                }
                Cell::Text(x) => {
                    let _ = write!(s, "<td>{}</td>", escape(x));
                }
                Cell::Num(n) => {
                    let _ = write!(s, "<td class=\"n\">{}</td>", thousands(*n));
                }
                Cell::Est(c) => {
                    let _ = write!(s, "<td class=\"n\">{}</td>", fmt_count(*c));
                }
                Cell::Html(h) => {
                    let _ = write!(s, "<td>{h}</td>");
                }
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
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

fn sev_badge(sev: Severity) -> String {
    format!(
        "<span class=\"sev sev-{0}\">{0}</span>",
        escape(sev.as_str())
    )
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
    let mut s = String::with_capacity(64 * 1024);
    s.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>credwatch forensic report</title><style>",
    );
    s.push_str(CSS);
    s.push_str("</style></head><body><main>");
    header(&mut s, m);
    what_happened(&mut s, m);
    timeline(&mut s, m);
    compromised(&mut s, m);
    takeovers(&mut s, m);
    sources(&mut s, m);
    asns(&mut s, m);
    orders(&mut s, m);
    resets(&mut s, m);
    alerts(&mut s, m);
    inputs(&mut s, m);
    s.push_str(
        "<footer>Generated by credwatch. All times are UTC. Postal and e-mail addresses are \
         shown only as short hashes. Counts marked ≈ are estimates.</footer></main></body></html>\n",
    );
    s
}

fn header(s: &mut String, m: &Model<'_>) {
    s.push_str("<header><h1>credwatch forensic report</h1>");
    let period = m
        .range
        .map(|(a, b)| format!("{} UTC", range(a, b)))
        .unwrap_or_else(|| "no events".to_string());
    let _ = write!(s, "<p class=\"muted\">Events from {}", escape(&period));
    if !m.stats.sources.is_empty() {
        let _ = write!(
            s,
            " · {} log lines from {} input{}",
            thousands(m.stats.total_lines()),
            m.stats.sources.len(),
            if m.stats.sources.len() == 1 { "" } else { "s" }
        );
    }
    s.push_str("</p></header>");
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

fn what_happened(s: &mut String, m: &Model<'_>) {
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

    s.push_str("<section id=\"summary\"><h2>What happened</h2><div class=\"kpis\">");
    let kpi = |s: &mut String, bad: bool, n: String, label: &str| {
        let _ = write!(
            s,
            "<div class=\"kpi{}\"><b>{}</b>{}</div>",
            if bad { " bad" } else { "" },
            escape(&n),
            escape(label)
        );
    };
    kpi(
        s,
        !m.compromised.is_empty(),
        thousands(m.compromised.len() as u64),
        "accounts broken into",
    );
    kpi(
        s,
        takeovers > 0,
        thousands(takeovers),
        "accounts taken over",
    );
    kpi(
        s,
        orders > 0,
        if totals.is_empty() {
            thousands(orders)
        } else {
            fmt_totals(&totals)
        },
        &format!(
            "in {} orders through broken-into accounts",
            thousands(orders)
        ),
    );
    kpi(s, failed > 0, thousands(failed), "failed logins");
    kpi(
        s,
        serious > 0,
        thousands(serious),
        "high or critical alerts",
    );
    s.push_str("</div>");

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
    for para in p.split('\n').map(str::trim).filter(|x| !x.is_empty()) {
        let _ = write!(s, "<p class=\"lead\">{}</p>", escape(para));
    }
    s.push_str("</section>");
}

fn timeline(s: &mut String, m: &Model<'_>) {
    let (width, _) = svg::series(m);
    let _ = write!(
        s,
        "<section id=\"timeline\"><h2>Timeline</h2><p class=\"muted\">Logins per {}. Shaded: \
         site-wide stuffing bursts. Dots: alerts about accounts (hover for details).</p>",
        escape(&crate::time::format_duration(width))
    );
    s.push_str(&svg::timeline(m));
    s.push_str(&svg::legend(m));
    s.push_str("</section>");
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

fn compromised(s: &mut String, m: &Model<'_>) {
    s.push_str(
        "<section id=\"compromised-accounts\"><h2>Compromised accounts</h2><p class=\"muted\">\
         Successful logins from attacking sources, and accounts taken over: the list to lock, \
         reset and notify.</p>",
    );
    if m.compromised.is_empty() {
        s.push_str("<p>None.</p></section>");
        return;
    }
    let rows: Vec<Vec<Cell>> = m
        .compromised
        .iter()
        .map(|r| {
            vec![
                Cell::Html(format!("<span class=\"acc\">{}</span>", escape(&r.account))),
                t(fmt_time(r.time)),
                t(r.ip.clone().unwrap_or_default()),
                t(r.asn.map(|a| format!("AS{a}")).unwrap_or_default()),
                t(org_or_dash(&r.org)),
                t(r.reason.clone()),
                Cell::Html(sev_badge(r.severity)),
                t(aftermath_text(r)),
            ]
        })
        .collect();
    table(
        s,
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
    );
    s.push_str("</section>");
}

fn place_html(p: Place) -> String {
    match p {
        Place::New | Place::NewAddress => {
            format!("<span class=\"new pl\">{}</span>", escape(p.label()))
        }
        _ => format!("<span class=\"pl\">{}</span>", escape(p.label())),
    }
}

fn event_details(e: &HistEvent, drops: &[String]) -> String {
    let mut d = String::new();
    if let Some(o) = &e.order {
        if let Some(a) = o.amount {
            let _ = write!(
                d,
                "{} {}",
                escape(o.currency.as_deref().unwrap_or("")),
                escape(&fmt_amount(a))
            );
        }
        if let Some(seller) = &o.seller {
            let _ = write!(d, " · seller {}", escape(seller));
        }
        if o.marketplace == Some(true) {
            d.push_str(" · marketplace");
        }
        if let Some(st) = o.ship_to {
            let st = st.to_string();
            let _ = write!(d, " · ship-to {}", escape(&st));
            if drops.contains(&st) {
                d.push_str(" <span class=\"drop\">drop address</span>");
            }
            match o.ship_to_known {
                Some(false) => d.push_str(" <span class=\"new\">new ship-to</span>"),
                Some(true) => d.push_str(" (known ship-to)"),
                None => {}
            }
        }
        if let Some(id) = &o.order_id {
            let _ = write!(d, " · order {}", escape(id));
        }
    } else if let Some(v) = e.new_value {
        let v = v.to_string();
        let _ = write!(d, "new value {}", escape(&v));
        if drops.contains(&v) {
            d.push_str(" <span class=\"drop\">drop address</span>");
        }
    }
    d
}

fn takeovers(s: &mut String, m: &Model<'_>) {
    let rows: Vec<&CompromisedRow> = m
        .compromised
        .iter()
        .filter(|r| !r.next.is_empty())
        .collect();
    s.push_str(
        "<section id=\"takeovers\"><h2>Account timelines</h2><p class=\"muted\">What happened \
         to each compromised account from the break-in on: logins from new places, resets, \
         e-mail and address changes, orders.</p>",
    );
    if rows.is_empty() {
        s.push_str("<p>Nothing recorded after the break-ins.</p></section>");
        return;
    }
    for r in rows {
        let _ = write!(
            s,
            "<h3><span class=\"acc\">{}</span> {}</h3>",
            escape(&r.account),
            sev_badge(r.severity)
        );
        let cells: Vec<Vec<Cell>> = r
            .next
            .iter()
            .map(|e| {
                let org = e.asn.and_then(|a| m.orgs.get(&a).cloned());
                vec![
                    t(fmt_time(e.ts)),
                    t(e.kind.as_str().replace('_', " ")),
                    t(e.outcome.as_str()),
                    t(e.ip.map(|i| i.to_string()).unwrap_or_default()),
                    t(match (e.asn, org) {
                        (Some(a), Some(o)) => format!("AS{a} {o}"),
                        (Some(a), None) => format!("AS{a}"),
                        _ => String::new(),
                    }),
                    Cell::Html(place_html(e.place)),
                    Cell::Html(event_details(e, &m.drop_addresses)),
                ]
            })
            .collect();
        table(
            s,
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
            &cells,
        );
        if r.history_dropped > 0 {
            let _ = write!(
                s,
                "<p class=\"muted\">{} older events of this account were not kept.</p>",
                thousands(r.history_dropped)
            );
        }
    }
    s.push_str("</section>");
}

fn sources(s: &mut String, m: &Model<'_>) {
    s.push_str(
        "<section id=\"attack-sources\"><h2>Top attacking addresses</h2><p class=\"muted\">\
         Addresses with the most failed logins (and password-reset requests).</p>",
    );
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
    if rows.is_empty() {
        s.push_str("<p>None.</p>");
    } else {
        table(
            s,
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
        );
    }
    if m.sources_dropped.0 > 0 {
        let _ = write!(
            s,
            "<p class=\"muted\">{} addresses with few failures ({} login attempts) were not \
             kept, to bound memory.</p>",
            thousands(m.sources_dropped.0),
            thousands(m.sources_dropped.1)
        );
    }
    s.push_str("</section>");
}

fn asns(s: &mut String, m: &Model<'_>) {
    s.push_str("<section id=\"attack-networks\"><h2>Top attacking networks (ASNs)</h2>");
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
    if rows.is_empty() {
        s.push_str("<p>None (no ASN database loaded, or no failed logins).</p>");
    } else {
        table(
            s,
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
        );
    }
    s.push_str("</section>");
}

fn ev_u64(a: &Alert, key: &str) -> Option<u64> {
    a.evidence.get(key).and_then(Value::as_u64)
}

fn orders(s: &mut String, m: &Model<'_>) {
    s.push_str("<section id=\"orders\"><h2>Bulk orders and drop addresses</h2>");
    let bulk = m.alerts_of(Rule::OrdersBulk);
    s.push_str("<h3>Bulk orders</h3>");
    if bulk.is_empty() {
        s.push_str("<p>None.</p>");
    } else {
        let rows: Vec<Vec<Cell>> = bulk
            .iter()
            .map(|a| {
                let totals = a
                    .evidence
                    .get("totals")
                    .and_then(Value::as_object)
                    .map(|o| {
                        o.iter()
                            .map(|(c, v)| {
                                format!("{c} {}", v.as_f64().map(fmt_amount).unwrap_or_default())
                            })
                            .collect::<Vec<_>>()
                            .join(" + ")
                    })
                    .unwrap_or_default();
                vec![
                    Cell::Html(format!(
                        "<span class=\"acc\">{}</span>",
                        escape(&a.entity.value)
                    )),
                    Cell::Html(sev_badge(a.severity)),
                    Cell::Num(ev_u64(a, "orders").unwrap_or(0)),
                    Cell::Num(ev_u64(a, "marketplace_orders").unwrap_or(0)),
                    t(totals),
                    t(range(a.first_seen, a.last_seen)),
                    t(a.summary.clone()),
                ]
            })
            .collect();
        table(
            s,
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
            &rows,
        );
    }
    s.push_str("<h3>Drop addresses</h3>");
    let drops = m.alerts_of(Rule::OrdersDropAddress);
    if drops.is_empty() {
        s.push_str("<p>None.</p>");
    } else {
        let rows: Vec<Vec<Cell>> = drops
            .iter()
            .map(|a| {
                vec![
                    Cell::Html(format!(
                        "<span class=\"drop\">{}</span>",
                        escape(&a.entity.value)
                    )),
                    Cell::Html(sev_badge(a.severity)),
                    Cell::Num(ev_u64(a, "orders").unwrap_or(0)),
                    Cell::Num(ev_u64(a, "distinct_accounts").unwrap_or(0)),
                    t(a.accounts.join(", ")),
                    t(range(a.first_seen, a.last_seen)),
                ]
            })
            .collect();
        table(
            s,
            "drop-addresses",
            &[
                "Ship-to (hash)",
                "Severity",
                "Orders",
                "Accounts",
                "Which accounts",
                "When (UTC)",
            ],
            &rows,
        );
    }
    if !m.orders.is_empty() {
        let _ = write!(
            s,
            "<h3>Orders of accounts named in alerts</h3><p class=\"muted\">{} order{}{}.</p>",
            thousands(m.orders.len() as u64),
            plural(m.orders.len() as u64),
            if m.orders.len() > 200 {
                "; the first 200 are shown, orders.csv has all"
            } else {
                ""
            }
        );
        let rows: Vec<Vec<Cell>> = m
            .orders
            .iter()
            .take(200)
            .map(|o| {
                vec![
                    t(fmt_time(o.event.ts)),
                    Cell::Html(format!("<span class=\"acc\">{}</span>", escape(&o.account))),
                    t(o.event.ip.map(|i| i.to_string()).unwrap_or_default()),
                    Cell::Html(place_html(o.event.place)),
                    Cell::Html(event_details(&o.event, &m.drop_addresses)),
                ]
            })
            .collect();
        table(
            s,
            "flagged-orders",
            &["Time (UTC)", "Account", "Address", "Place", "Order"],
            &rows,
        );
    }
    s.push_str("</section>");
}

fn resets(s: &mut String, m: &Model<'_>) {
    s.push_str("<section id=\"resets\"><h2>Password-reset floods</h2>");
    let floods = m.alerts_of(Rule::ResetFlood);
    if floods.is_empty() {
        s.push_str("<p>None.</p></section>");
        return;
    }
    let rows: Vec<Vec<Cell>> = floods
        .iter()
        .map(|a| {
            vec![
                t(format!("{} {}", a.entity.kind.as_str(), a.entity.value)),
                t(org_or_dash(&a.as_org)),
                Cell::Html(sev_badge(a.severity)),
                t(range(a.first_seen, a.last_seen)),
                t(a.summary.clone()),
            ]
        })
        .collect();
    table(
        s,
        "reset-floods",
        &[
            "Target / source",
            "Organisation",
            "Severity",
            "When (UTC)",
            "Summary",
        ],
        &rows,
    );
    s.push_str("</section>");
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
fn value_html(key: &str, v: &Value, depth: usize, out: &mut String) {
    if depth > 4 {
        out.push('…');
        return;
    }
    match v {
        Value::Object(map) => {
            out.push_str("<dl class=\"ev\">");
            for (k, v) in map {
                let _ = write!(out, "<dt>{}</dt><dd>", escape(&humanize(k)));
                value_html(k, v, depth + 1, out);
                out.push_str("</dd>");
            }
            out.push_str("</dl>");
        }
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
            out.push_str("<table><thead><tr>");
            for c in &cols {
                let _ = write!(out, "<th>{}</th>", escape(&humanize(c)));
            }
            out.push_str("</tr></thead><tbody>");
            for it in items.iter().take(100) {
                out.push_str("<tr>");
                for c in &cols {
                    out.push_str("<td>");
                    if let Some(v) = it.get(*c) {
                        value_html(c, v, depth + 1, out);
                    }
                    out.push_str("</td>");
                }
                out.push_str("</tr>");
            }
            out.push_str("</tbody></table>");
        }
        Value::Array(items) => {
            let shown: Vec<String> = items.iter().take(50).map(|v| scalar(key, v)).collect();
            out.push_str(&escape(&shown.join(", ")));
            if items.len() > shown.len() {
                let _ = write!(out, " … and {} more", items.len() - shown.len());
            }
        }
        v => out.push_str(&escape(&scalar(key, v))),
    }
}

fn alerts(s: &mut String, m: &Model<'_>) {
    let _ = write!(
        s,
        "<section id=\"alerts\"><h2>All alerts ({})</h2><p class=\"muted\">Most severe \
         first.</p>",
        thousands(m.alerts.len() as u64)
    );
    for a in &m.alerts {
        let _ = write!(
            s,
            "<div class=\"card sev-{sev}-b\" id=\"alert-{id}\"><h3>{badge} {rule} · {kind} \
             <span class=\"acc\">{value}</span></h3><p class=\"sum\">{summary}</p>",
            sev = escape(a.severity.as_str()),
            id = escape(&a.id),
            badge = sev_badge(a.severity),
            rule = escape(a.rule.as_str()),
            kind = escape(a.entity.kind.as_str()),
            value = escape(&a.entity.value),
            summary = escape(&a.summary),
        );
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
        let mut ev = String::new();
        value_html("", &Value::Object(meta), 0, &mut ev);
        value_html("", &Value::Object(a.evidence.clone()), 0, &mut ev);
        if !a.accounts.is_empty() {
            let _ = write!(
                ev,
                "<dl class=\"ev\"><dt>accounts</dt><dd class=\"acc\">{}</dd></dl>",
                escape(&a.accounts.join(", "))
            );
        }
        s.push_str(&ev);
        s.push_str("</div>");
    }
    if m.alerts_dropped > 0 {
        let _ = write!(
            s,
            "<p class=\"muted\">{} more alerts are not shown (report.max_alerts).</p>",
            thousands(m.alerts_dropped)
        );
    }
    s.push_str("</section>");
}

fn inputs(s: &mut String, m: &Model<'_>) {
    let st = m.stats;
    s.push_str("<section id=\"inputs\"><h2>Input summary</h2>");
    if let Some((a, b)) = m.range {
        let _ = write!(
            s,
            "<p>Event time range: {} UTC · {} events after de-duplication.</p>",
            escape(&range(a, b)),
            thousands(m.events)
        );
    }
    let rows: Vec<Vec<Cell>> = st
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
    table(
        s,
        "sources-read",
        &[
            "Input",
            "Format",
            "Lines",
            "Events",
            "Not about logins",
            "Rejected",
        ],
        &rows,
    );
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
    if !by_reason.is_empty() {
        s.push_str("<h3>Rejected lines by reason</h3>");
        let rows: Vec<Vec<Cell>> = by_reason
            .iter()
            .map(|(r, (n, ex))| vec![t(*r), Cell::Num(*n), t(ex.clone())])
            .collect();
        table(s, "rejected", &["Reason", "Lines", "Example"], &rows);
    }
    if !st.events.is_empty() {
        s.push_str("<h3>Events by kind</h3>");
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
        let rows: Vec<Vec<Cell>> = by_kind
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
        table(
            s,
            "events",
            &["Event", "Success", "Failure", "Outcome not logged"],
            &rows,
        );
    }
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
    if !notes.is_empty() {
        s.push_str("<ul>");
        for n in notes {
            let _ = write!(s, "<li>{}</li>", escape(&n));
        }
        s.push_str("</ul>");
    }
    s.push_str("</section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralizes_markup_and_controls() {
        assert_eq!(escape("alice@example.com"), "alice@example.com");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            escape("\"><img src=x onerror=alert(1)>"),
            "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(escape("it's & co"), "it&#39;s &amp; co");
        assert_eq!(
            escape("a\u{1b}[31mb\u{7f}c\u{85}"),
            "a\u{FFFD}[31mb\u{FFFD}c\u{FFFD}"
        );
        assert_eq!(escape("abc\u{202E}gpj.exe"), "abc\u{FFFD}gpj.exe");
        assert_eq!(escape("line\nnext\ttab"), "line\nnext\ttab");
        assert_eq!(escape("田中\\x93"), "田中\\x93");
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
        let mut out = String::new();
        value_html("", &v, 0, &mut out);
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
