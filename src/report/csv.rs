//! CSV exports, written with the csv crate (one header row, RFC 4180 quoting).
//!
//! Formula injection: a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and,
//! in some, TAB or CR) as a formula. Account names, sellers and user-chosen text come from
//! attacker-controlled logs, so every text cell goes through [`guard_cell`], which prefixes
//! such cells with `'` (shown as text by Excel, LibreOffice and Google Sheets). Numeric cells
//! are written by us from numbers and are not prefixed, so they stay numbers.

use std::borrow::Cow;

use super::{Model, ReportError, fmt_totals};

/// Prefixes a cell that a spreadsheet would read as a formula with `'`.
pub fn guard_cell(s: &str) -> Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

/// The CSV file names, in the order they are written.
pub const FILES: [&str; 4] = [
    "alerts.csv",
    "compromised_accounts.csv",
    "attack_sources.csv",
    "orders.csv",
];

struct Out {
    file: &'static str,
    w: ::csv::Writer<Vec<u8>>,
}

impl Out {
    fn new(file: &'static str, header: &[&str]) -> Result<Out, ReportError> {
        let mut out = Out {
            file,
            w: ::csv::WriterBuilder::new()
                .terminator(::csv::Terminator::CRLF)
                .from_writer(Vec::new()),
        };
        out.row(header.iter().map(|h| h.to_string()).collect())?;
        Ok(out)
    }

    /// Writes a row of text cells (guarded).
    fn row(&mut self, cells: Vec<String>) -> Result<(), ReportError> {
        self.w
            .write_record(cells.iter().map(|c| guard_cell(c).into_owned()))
            .map_err(|source| ReportError::Csv {
                file: self.file,
                source,
            })
    }

    fn finish(self) -> Result<(&'static str, Vec<u8>), ReportError> {
        let file = self.file;
        let bytes = self.w.into_inner().map_err(|e| ReportError::Csv {
            file,
            source: ::csv::Error::from(e.into_error()),
        })?;
        Ok((file, bytes))
    }
}

/// A number cell: digits, never guarded (a negative amount stays a number).
struct Num(String);

fn num<T: ToString>(v: T) -> Num {
    Num(v.to_string())
}

/// A row mixing text (guarded) and numbers (not).
enum C {
    T(String),
    N(Num),
}

impl Out {
    fn mixed(&mut self, cells: Vec<C>) -> Result<(), ReportError> {
        let rec: Vec<String> = cells
            .into_iter()
            .map(|c| match c {
                C::T(s) => guard_cell(&s).into_owned(),
                C::N(Num(s)) => s,
            })
            .collect();
        self.w
            .write_record(&rec)
            .map_err(|source| ReportError::Csv {
                file: self.file,
                source,
            })
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn opt_num<T: ToString>(v: Option<T>) -> C {
    C::N(Num(opt(v)))
}

/// Renders the four CSV files.
pub fn render(m: &Model<'_>) -> Result<Vec<(&'static str, Vec<u8>)>, ReportError> {
    let mut files = Vec::with_capacity(4);

    let mut a = Out::new(
        "alerts.csv",
        &[
            "id",
            "rule",
            "severity",
            "entity_kind",
            "entity",
            "first_seen",
            "last_seen",
            "asn",
            "as_org",
            "summary",
            "accounts",
            "evidence_json",
        ],
    )?;
    let mut by_time: Vec<_> = m.alerts.iter().collect();
    by_time.sort_by(|x, y| x.first_seen.cmp(&y.first_seen).then(x.id.cmp(&y.id)));
    for x in by_time {
        // The rule's typed evidence, written as the alert contract writes it.
        let evidence = serde_json::to_string(&x.evidence).map_err(|e| ReportError::Csv {
            file: a.file,
            source: ::csv::Error::from(std::io::Error::from(e)),
        })?;
        a.mixed(vec![
            C::T(x.id.clone()),
            C::T(x.rule.as_str().into()),
            C::T(x.severity.as_str().into()),
            C::T(x.entity.kind.as_str().into()),
            C::T(x.entity.value.clone()),
            C::T(x.first_seen.to_string()),
            C::T(x.last_seen.to_string()),
            opt_num(x.asn),
            C::T(x.as_org.clone().unwrap_or_default()),
            C::T(x.summary.clone()),
            C::T(x.accounts.join(";")),
            C::T(evidence),
        ])?;
    }
    files.push(a.finish()?);

    let mut c = Out::new(
        "compromised_accounts.csv",
        &[
            "account",
            "time",
            "ip",
            "asn",
            "as_org",
            "reason",
            "severity",
            "taken_over",
            "reset_events_after",
            "changes_after",
            "orders_after",
            "order_totals_after",
            "sellers_after",
            "alert_ids",
        ],
    )?;
    for r in &m.compromised {
        let after = r.aftermath();
        c.mixed(vec![
            C::T(r.account.clone()),
            C::T(r.time.to_string()),
            C::T(r.ip.clone().unwrap_or_default()),
            opt_num(r.asn),
            C::T(r.org.clone().unwrap_or_default()),
            C::T(r.reason.clone()),
            C::T(r.severity.as_str().into()),
            C::T(if r.takeover { "yes" } else { "no" }.into()),
            C::N(num(after.resets)),
            C::N(num(after.changes)),
            C::N(num(after.orders)),
            C::T(fmt_totals(&after.totals).replace(',', "")),
            C::T(after.sellers.join(";")),
            C::T(r.alert_ids.join(";")),
        ])?;
    }
    files.push(c.finish()?);

    let mut s = Out::new(
        "attack_sources.csv",
        &[
            "address",
            "asn",
            "organisation",
            "attempts",
            "failures",
            "unknown_account_failures",
            "distinct_accounts",
            "distinct_accounts_estimated",
            "successes",
            "reset_requests",
            "first_seen",
            "last_seen",
            "in_alert",
        ],
    )?;
    for r in &m.sources {
        s.mixed(vec![
            C::T(r.ip.to_string()),
            opt_num(r.asn),
            C::T(r.org.clone().unwrap_or_default()),
            C::N(num(r.attempts)),
            C::N(num(r.failures)),
            C::N(num(r.unknown_account)),
            C::N(num(r.accounts.n)),
            C::T(if r.accounts.exact { "no" } else { "yes" }.into()),
            C::N(num(r.successes)),
            C::N(num(r.resets)),
            C::T(r.first.to_string()),
            C::T(r.last.to_string()),
            C::T(if r.flagged { "yes" } else { "no" }.into()),
        ])?;
    }
    files.push(s.finish()?);

    let mut o = Out::new(
        "orders.csv",
        &[
            "time",
            "account",
            "order_id",
            "amount",
            "currency",
            "marketplace",
            "seller",
            "ship_to",
            "ship_to_status",
            "drop_address",
            "ip",
            "asn",
            "as_org",
            "place",
        ],
    )?;
    for r in &m.orders {
        let e = &r.event;
        let ord = e.order.as_deref();
        o.mixed(vec![
            C::T(e.ts.to_string()),
            C::T(r.account.clone()),
            C::T(opt(ord.and_then(|x| x.order_id.as_deref()))),
            opt_num(ord.and_then(|x| x.amount)),
            C::T(opt(ord.and_then(|x| x.currency.as_deref()))),
            C::T(match ord.and_then(|x| x.marketplace) {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => String::new(),
            }),
            C::T(opt(ord.and_then(|x| x.seller.as_deref()))),
            C::T(opt(ord.and_then(|x| x.ship_to))),
            C::T(
                match ord.and_then(|x| x.ship_to_known) {
                    Some(true) => "known",
                    Some(false) => "new",
                    None => "no earlier orders",
                }
                .into(),
            ),
            C::T(if r.to_drop { "yes" } else { "no" }.into()),
            C::T(opt(e.ip)),
            opt_num(e.asn),
            C::T(r.org.clone().unwrap_or_default()),
            C::T(e.place.label().into()),
        ])?;
    }
    files.push(o.finish()?);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_prefixed() {
        assert_eq!(guard_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(guard_cell("+1"), "'+1");
        assert_eq!(guard_cell("-2+3"), "'-2+3");
        assert_eq!(guard_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(guard_cell("\tx"), "'\tx");
        assert_eq!(guard_cell("\rx"), "'\rx");
        assert_eq!(guard_cell("alice@example.com"), "alice@example.com");
        assert_eq!(guard_cell(""), "");
    }

    #[test]
    fn numbers_are_not_guarded_text_is_quoted() {
        let mut o = Out::new("t.csv", &["a", "b", "c"]).unwrap();
        o.mixed(vec![
            C::N(num(-5)),
            C::T("-5".into()),
            C::T("x,\"y\"\nz".into()),
        ])
        .unwrap();
        let (_, bytes) = o.finish().unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "a,b,c\r\n-5,'-5,\"x,\"\"y\"\"\nz\"\r\n"
        );
    }
}
