use std::net::IpAddr;

use crate::rules::compromise_login::CompromiseLoginEvidence;
use crate::rules::takeover_sequence::{StepOrders, TakeoverSequenceEvidence, TakeoverStep};

use super::*;
use crate::alert::{Entity, EntityKind, Severity};
use crate::detect::history::{HistoryConfig, LoginHistories};
use crate::event::LineMeta;

fn base() -> Timestamp {
    Timestamp::from_civil(2026, 11, 20, 10, 0, 0, 0, 0).unwrap()
}

fn at(secs: i64) -> Timestamp {
    Timestamp(base().millis() + secs * 1_000)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ev(secs: i64, kind: EventKind, outcome: Outcome, account: &str, addr: &str) -> AuthEvent {
    let mut e = AuthEvent::new(at(secs), kind, LineMeta::default());
    e.outcome = outcome;
    e.account = AccountKey::normalize(account);
    e.ip = Some(ip(addr));
    e
}

fn login(secs: i64, ok: bool, account: &str, addr: &str, asn: u32) -> AuthEvent {
    let mut e = ev(
        secs,
        EventKind::Login,
        if ok {
            Outcome::Success
        } else {
            Outcome::Failure
        },
        account,
        addr,
    );
    e.asn = Some(Asn(asn));
    if !ok {
        e.reason = Some(FailureReason::BadPassword);
    }
    e
}

fn order(
    secs: i64,
    account: &str,
    addr: &str,
    amount: f64,
    seller: &str,
    ship_to: &str,
) -> AuthEvent {
    let mut e = ev(secs, EventKind::Order, Outcome::Success, account, addr);
    e.asn = Some(Asn(64501));
    let d = e.details_mut();
    d.amount = Some(amount);
    d.currency = Some("JPY".into());
    d.seller = Some(seller.into());
    d.marketplace = Some(true);
    d.ship_to = AddressHash::of(ship_to);
    d.order_id = Some(format!("O-{secs}").into());
    e
}

fn alert(rule: Rule, kind: EntityKind, value: &str, secs: i64) -> Alert {
    let entity = Entity {
        kind,
        value: value.to_string(),
    };
    let summary = format!("{rule} {value}");
    let mut evidence = crate::alert::Evidence::empty(rule);
    if let crate::alert::Evidence::CompromiseLogin(e) = &mut evidence {
        // What a real one always says: when the login was, and why it is suspect.
        e.login_time = at(secs);
        e.reason = summary.clone();
    }
    Alert {
        id: Alert::episode_id(rule, &entity, at(secs)),
        rule,
        severity: Severity::High,
        entity,
        first_seen: at(secs),
        last_seen: at(secs),
        asn: None,
        as_org: None,
        summary,
        evidence,
        accounts: Vec::new(),
    }
}

/// The engine's login history, as the pipeline keeps it ahead of the report.
fn history() -> LoginHistories {
    LoginHistories::new(HistoryConfig {
        known_sources: 8,
        max_accounts: 1_000,
    })
}

/// An event as the pipeline hands it to the report: annotated by the login history first.
fn feed(b: &mut ReportBuilder, h: &mut LoginHistories, mut ev: AuthEvent) {
    h.annotate(&mut ev);
    b.observe_event(&ev);
}

fn model<'a>(mut b: ReportBuilder, stats: &'a RunStats) -> Model<'a> {
    b.timeline.flush();
    Model::build(b, stats, &|asn| {
        (asn == Asn(64501)).then(|| "Evil Hosting".to_string())
    })
}

/// Checks that every opened element is closed in order (void elements and `/>` aside), and
/// that no `<` or `>` is left over: the page parses as the structure we wrote.
fn check_balanced(html: &str) -> Result<(), String> {
    const VOID: [&str; 5] = ["meta", "br", "img", "hr", "input"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        if rest[..i].contains('>') {
            return Err(format!(
                "stray > before {:?}",
                &rest[i..(i + 40).min(rest.len())]
            ));
        }
        rest = &rest[i + 1..];
        let end = rest.find('>').ok_or("unclosed <")?;
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack
                .pop()
                .ok_or(format!("</{name}> without an opening tag"))?;
            if top != name {
                return Err(format!("</{name}> closes <{top}>"));
            }
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if name.is_empty() || tag.contains('<') {
            return Err(format!("bad tag <{tag}>"));
        }
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "style" {
            let j = rest.find("</style>").ok_or("unclosed <style>")?;
            if rest[..j].contains('<') {
                return Err("markup inside <style>".into());
            }
            rest = &rest[j + "</style>".len()..];
            continue;
        }
        stack.push(name);
    }
    if rest.contains('>') {
        return Err("stray > at the end".into());
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed: {stack:?}"))
    }
}

#[test]
fn the_balance_checker_can_fail() {
    assert!(check_balanced("<p>a</p><svg><g/></svg>").is_ok());
    assert!(check_balanced("<p>a<b></p></b>").is_err());
    assert!(check_balanced("<p>a</p><script>").is_err());
    assert!(check_balanced("<p>a > b</p>").is_err());
    assert!(check_balanced("<td>\"><img src=x></td>").is_err());
}

#[test]
fn timeline_counts_logins_per_minute() {
    let mut b = ReportBuilder::new(ReportConfig::default());
    let mut unknown = login(5, false, "ghost@example.com", "203.0.113.7", 64501);
    unknown.reason = Some(FailureReason::UnknownAccount);
    b.observe_event(&unknown);
    b.observe_event(&login(6, false, "alice@example.com", "203.0.113.7", 64501));
    b.observe_event(&login(50, true, "bob@example.com", "198.51.100.2", 64500));
    let mut repeated = login(70, false, "root", "203.0.113.7", 64501);
    repeated.repeat = 3;
    b.observe_event(&repeated);
    let mut unsure = login(200, true, "carol@example.com", "198.51.100.3", 64500);
    unsure.outcome = Outcome::Unknown;
    b.observe_event(&unsure);
    // An order is not a login: not on the timeline.
    b.observe_event(&order(
        80,
        "bob@example.com",
        "198.51.100.2",
        10.0,
        "s",
        "x",
    ));
    let stats = RunStats::default();
    let m = model(b, &stats);
    assert_eq!(m.bucket_width, MINUTE);
    assert_eq!(
        m.buckets,
        vec![
            (
                at(0),
                Bucket {
                    ok: 1,
                    failed: 2,
                    unknown_account: 1,
                    unsure: 0
                }
            ),
            (
                at(60),
                Bucket {
                    ok: 0,
                    failed: 3,
                    unknown_account: 0,
                    unsure: 0
                }
            ),
            (
                at(180),
                Bucket {
                    ok: 0,
                    failed: 0,
                    unknown_account: 0,
                    unsure: 1
                }
            ),
        ]
    );
    assert_eq!(m.range, Some((at(5), at(200))));
    assert_eq!(m.events, 8);
}

#[test]
fn timeline_coarsens_instead_of_growing() {
    let mut b = ReportBuilder::new(ReportConfig::default());
    // One failure every minute for more minutes than the cap allows.
    for i in 0..(MAX_TIMELINE_BUCKETS as i64 + 10) {
        b.observe_event(&login(i * 60, false, "a@example.com", "203.0.113.7", 1));
    }
    b.timeline.flush();
    assert_eq!(b.timeline.width, 5 * MINUTE);
    assert!(b.timeline.buckets.len() <= MAX_TIMELINE_BUCKETS);
    let total: u64 = b.timeline.buckets.values().map(|x| x.failed).sum();
    assert_eq!(total, MAX_TIMELINE_BUCKETS as u64 + 10);
}

#[test]
fn address_aggregates_and_distinct_accounts() {
    let mut b = ReportBuilder::new(ReportConfig::default());
    for i in 0..2_000 {
        b.observe_event(&login(
            i,
            false,
            &format!("user{i}@example.com"),
            "203.0.113.7",
            64501,
        ));
    }
    for i in 0..10 {
        // Each account twice: distinct stays 10.
        b.observe_event(&login(
            i,
            false,
            &format!("u{i}@example.com"),
            "198.51.100.9",
            64500,
        ));
        b.observe_event(&login(
            i,
            false,
            &format!("U{i}@Example.com"),
            "198.51.100.9",
            64500,
        ));
    }
    b.observe_event(&login(
        3_000,
        true,
        "user1@example.com",
        "203.0.113.7",
        64501,
    ));
    let stats = RunStats::default();
    let m = model(b, &stats);
    let top = &m.sources[0];
    assert_eq!(top.ip, ip("203.0.113.7"));
    assert_eq!(
        (top.attempts, top.failures, top.successes),
        (2_001, 2_000, 1)
    );
    assert_eq!(top.org.as_deref(), Some("Evil Hosting"));
    assert!(!top.accounts.exact);
    let err = (top.accounts.n as f64 - 2_000.0).abs() / 2_000.0;
    assert!(err < 0.25, "estimate {} for 2000", top.accounts.n);
    let second = &m.sources[1];
    assert_eq!(
        second.accounts,
        Count {
            n: 10,
            exact: true,
            at_least: false
        }
    );
    assert_eq!(second.failures, 20);
    assert_eq!(m.asns[0].asn, Asn(64501));
    assert_eq!(
        m.asns[0].failing_addresses,
        Count {
            n: 1,
            exact: true,
            at_least: false
        }
    );
}

#[test]
fn distinct_counts_are_exact_then_sketched_within_a_budget() {
    let mut budget = SketchBudget::default();
    let mut d = Distinct::default();
    for h in 0..DISTINCT_EXACT as u64 {
        d.insert(at(0), h, &mut budget);
        d.insert(at(1), h, &mut budget);
    }
    assert_eq!(
        d.clone().count(at(1)),
        Count {
            n: DISTINCT_EXACT as u64,
            exact: true,
            at_least: false
        }
    );
    for h in 0..2_000u64 {
        d.insert(at(2), h.wrapping_mul(0x9e37_79b9_7f4a_7c15), &mut budget);
    }
    assert_eq!(budget.used, 1);
    let c = d.clone().count(at(2));
    assert!(!c.exact && !c.at_least);
    let want = 2_000.0 + DISTINCT_EXACT as f64;
    assert!((c.n as f64 - want).abs() / want < 0.05, "{c:?}");
    budget.release(&d);
    assert_eq!(budget.used, 0);

    // No sketch left: values the exact tier already holds still fit, a new one stops the count.
    let mut full = SketchBudget { used: MAX_SKETCHES };
    let mut d = Distinct::default();
    for h in 0..DISTINCT_EXACT as u64 {
        d.insert(at(0), h, &mut full);
    }
    d.insert(at(1), 5, &mut full);
    assert!(d.clone().count(at(1)).exact);
    d.insert(at(1), 1_000_000, &mut full);
    assert_eq!(full.used, MAX_SKETCHES);
    assert_eq!(
        d.count(at(1)),
        Count {
            n: DISTINCT_EXACT as u64 + 1,
            exact: false,
            at_least: true
        }
    );
}

#[test]
fn address_table_is_bounded_and_keeps_heavy_hitters_and_pinned() {
    let cfg = ReportConfig {
        max_sources: 100,
        ..ReportConfig::default()
    };
    let mut b = ReportBuilder::new(cfg);
    for i in 0..50 {
        b.observe_event(&login(
            i,
            false,
            &format!("v{i}@example.com"),
            "203.0.113.7",
            1,
        ));
    }
    b.observe_event(&login(60, false, "x@example.com", "198.51.100.1", 2));
    b.observe_alert(&alert(Rule::ResetFlood, EntityKind::Ip, "198.51.100.1", 60));
    for i in 0..10_000u32 {
        let addr = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        let mut e = login(100, false, "y@example.com", "192.0.2.1", 3);
        e.ip = Some(addr);
        b.observe_event(&e);
    }
    assert!(b.sources.len() <= 101, "{}", b.sources.len());
    assert!(b.sources.contains_key(&ip("203.0.113.7")));
    assert!(b.sources.contains_key(&ip("198.51.100.1")));
    let stats = RunStats::default();
    let m = model(b, &stats);
    assert!(m.sources_dropped.0 >= 9_800, "{:?}", m.sources_dropped);
    assert_eq!(m.sources[0].failures, 50);
    assert!(
        m.sources
            .iter()
            .any(|s| s.ip == ip("198.51.100.1") && s.flagged)
    );
}

#[test]
fn account_histories_are_bounded_per_account_and_in_total() {
    let cfg = ReportConfig {
        max_accounts: 50,
        history_per_account: 4,
        ..ReportConfig::default()
    };
    let mut b = ReportBuilder::new(cfg);
    for i in 0..10 {
        b.observe_event(&ev(
            i,
            EventKind::PasswordResetRequest,
            Outcome::Unknown,
            "alice@example.com",
            "203.0.113.7",
        ));
    }
    let key = b.hash(AccountKey::normalize("alice@example.com").unwrap().as_str());
    assert_eq!(b.trails[&key].events.len(), 4);
    assert_eq!(b.trails[&key].dropped, 6);
    assert_eq!(b.trails[&key].events[0].ts, at(6));
    for i in 0..500 {
        b.observe_event(&login(
            100 + i,
            true,
            &format!("c{i}@example.com"),
            "198.51.100.1",
            1,
        ));
    }
    assert!(b.trails.len() <= 51, "{}", b.trails.len());
    assert!(b.trails_dropped >= 449);
    // Failed logins and logouts never create a history.
    let before = b.trails.len();
    b.observe_event(&login(900, false, "nobody@example.com", "203.0.113.7", 1));
    b.observe_event(&ev(
        901,
        EventKind::Logout,
        Outcome::Unknown,
        "nobody2@example.com",
        "203.0.113.7",
    ));
    assert_eq!(b.trails.len(), before);
}

/// A victim with a usual address, a break-in from an attacking address, then the takeover.
fn takeover_builder() -> ReportBuilder {
    takeover_builder_with(ReportConfig::default())
}

fn takeover_builder_with(cfg: ReportConfig) -> ReportBuilder {
    let mut b = ReportBuilder::new(cfg);
    let mut h = history();
    let v = "Victim@Example.com";
    feed(&mut b, &mut h, login(0, true, v, "198.51.100.1", 64500));
    feed(&mut b, &mut h, login(60, true, v, "198.51.100.1", 64500));
    feed(
        &mut b,
        &mut h,
        order(70, v, "198.51.100.1", 500.0, "home-shop", "1-2-3 Shibuya"),
    );
    feed(&mut b, &mut h, login(1_000, true, v, "203.0.113.9", 64501));
    let mut a = alert(
        Rule::CompromiseLogin,
        EntityKind::Account,
        "victim@example.com",
        1_000,
    );
    a.evidence = CompromiseLoginEvidence {
        asn: Some(Asn(64501)),
        asn_new: true,
        ip: "203.0.113.9".parse().ok(),
        login_time: at(1_000),
        reason: "the address of a stuffing.ip alert".into(),
        ..Default::default()
    }
    .into();
    a.asn = Some(Asn(64501));
    b.observe_alert(&a);
    feed(
        &mut b,
        &mut h,
        ev(
            1_100,
            EventKind::PasswordResetRequest,
            Outcome::Success,
            v,
            "203.0.113.9",
        ),
    );
    let mut change = ev(
        1_200,
        EventKind::EmailChange,
        Outcome::Success,
        v,
        "203.0.113.9",
    );
    change.details_mut().new_email = AddressHash::of("evil@example.net");
    feed(&mut b, &mut h, change);
    feed(
        &mut b,
        &mut h,
        order(1_300, v, "203.0.113.9", 1_000.0, "s1", "drop street 1"),
    );
    feed(
        &mut b,
        &mut h,
        order(1_400, v, "203.0.113.9", 2_500.5, "s2", "drop street 1"),
    );
    feed(&mut b, &mut h, login(1_500, true, v, "198.51.100.1", 64500));
    let mut drop = alert(
        Rule::OrdersDropAddress,
        EntityKind::ShipTo,
        &AddressHash::of("drop street 1").unwrap().to_string(),
        1_300,
    );
    drop.accounts = vec!["victim@example.com".into(), "other@example.com".into()];
    b.observe_alert(&drop);
    b
}

#[test]
fn compromised_accounts_show_what_happened_next() {
    let stats = RunStats::default();
    let m = model(takeover_builder(), &stats);
    assert_eq!(m.compromised.len(), 1);
    let r = &m.compromised[0];
    assert_eq!(r.account, "victim@example.com");
    assert_eq!(r.time, at(1_000));
    assert_eq!(r.ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(r.org.as_deref(), Some("Evil Hosting"));
    assert_eq!(r.reason, "the address of a stuffing.ip alert");
    let after = r.aftermath();
    assert_eq!((after.resets, after.changes, after.orders), (1, 1, 2));
    assert_eq!(after.totals.get("JPY"), Some(&3_500.5));
    assert_eq!(after.sellers, vec!["s1".to_string(), "s2".to_string()]);
    let kinds: Vec<EventKind> = r.next.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::Login,
            EventKind::PasswordResetRequest,
            EventKind::EmailChange,
            EventKind::Order,
            EventKind::Order,
            EventKind::Login
        ]
    );
    // The attacker's address stays new after the alert; the owner's usual one is known.
    let places: Vec<Place> = r.next.iter().map(|e| e.place).collect();
    assert_eq!(
        places,
        vec![
            Place::New,
            Place::New,
            Place::New,
            Place::New,
            Place::New,
            Place::Known
        ]
    );
    let first_order = r.next[3].order.as_deref().unwrap();
    assert_eq!(first_order.ship_to_known, Some(false));
    assert_eq!(first_order.seller.as_deref(), Some("s1"));
    // Orders of the pinned account: the one before the break-in too, drop flagged.
    assert_eq!(m.orders.len(), 3);
    assert_eq!(
        m.orders.iter().map(|o| o.to_drop).collect::<Vec<_>>(),
        vec![false, true, true]
    );
    let page = html::render(&m);
    check_balanced(&page).unwrap();
    assert!(page.contains("JPY 3,500.50"), "totals");
    assert!(page.contains("<span class=\"drop\">drop address</span>"));
    assert!(page.contains("victim@example.com"));
    assert!(page.contains("<table id=\"compromised\">"));
}

#[test]
fn csv_files_have_headers_rows_and_guarded_cells() {
    let mut b = takeover_builder();
    b.observe_event(&login(
        2_000,
        true,
        "=cmd|' /C calc'!A0",
        "203.0.113.9",
        64501,
    ));
    b.observe_alert(&alert(
        Rule::CompromiseLogin,
        EntityKind::Account,
        "=cmd|' /c calc'!a0",
        2_000,
    ));
    let stats = RunStats::default();
    let m = model(b, &stats);
    let files = csv::render(&m).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, csv::FILES.to_vec());
    let text = |name: &str| {
        String::from_utf8(files.iter().find(|(n, _)| *n == name).unwrap().1.clone()).unwrap()
    };
    let compromised = text("compromised_accounts.csv");
    let mut rd = ::csv::Reader::from_reader(compromised.as_bytes());
    let rows: Vec<::csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][0], "victim@example.com");
    assert_eq!(&rows[0][2], "203.0.113.9");
    assert_eq!(&rows[0][3], "64501");
    assert_eq!(&rows[0][10], "2");
    assert_eq!(&rows[1][0], "'=cmd|' /c calc'!a0");
    let orders = text("orders.csv");
    assert!(orders.starts_with("time,account,order_id,amount,currency,"));
    assert!(orders.contains(",2500.5,JPY,yes,s2,"), "{orders}");
    let sources = text("attack_sources.csv");
    assert!(sources.starts_with("address,asn,organisation,attempts,failures,"));
}

const HOSTILE: [&str; 5] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'; x=\"y",
    "</style><script>alert(2)</script>",
    "\u{1b}[31m\u{202e}txt.exe\u{0}",
];

#[test]
fn hostile_text_is_escaped_everywhere() {
    let mut b = ReportBuilder::new(ReportConfig::default());
    for (i, h) in HOSTILE.iter().enumerate() {
        let i = i as i64;
        let mut e = login(i, true, &format!("{h}@example.com"), "203.0.113.9", 64501);
        e.user_agent = Some((*h).into());
        b.observe_event(&e);
        b.observe_event(&order(
            i + 10,
            &format!("{h}@example.com"),
            "203.0.113.9",
            1.0,
            h,
            h,
        ));
        let mut a = alert(
            Rule::CompromiseLogin,
            EntityKind::Account,
            &format!("{h}@example.com"),
            i,
        );
        a.summary = format!("summary {h}");
        a.as_org = Some((*h).to_string());
        a.asn = Some(Asn(64501));
        a.accounts = vec![(*h).to_string()];
        // Hostile text wherever typed evidence holds text: the reason, a list, and (below) a
        // takeover's nested orders step, whose totals are keyed by currency.
        a.evidence = CompromiseLoginEvidence {
            ip: "203.0.113.9".parse().ok(),
            reason: (*h).to_string(),
            stuffing_alerts: vec![(*h).to_string()],
            ..Default::default()
        }
        .into();
        b.observe_alert(&a);
        let mut t = alert(
            Rule::TakeoverSequence,
            EntityKind::Account,
            &format!("x{h}"),
            i,
        );
        t.evidence = TakeoverSequenceEvidence {
            max_span: (*h).to_string(),
            steps: vec![TakeoverStep::Orders(StepOrders {
                count: 1,
                event: EventKind::Order,
                from_new_address: 0,
                last: None,
                marketplace: 1,
                sellers: vec![(*h).to_string()],
                ship_to: Vec::new(),
                ship_to_new: false,
                time: None,
                total: [((*h).to_string(), 1.0)].into(),
            })],
            ..Default::default()
        }
        .into();
        b.observe_alert(&t);
    }
    let mut stats = RunStats::default();
    stats
        .skipped
        .push((HOSTILE[0].to_string(), HOSTILE[1].to_string()));
    stats.input_errors.push(HOSTILE[3].to_string());
    let m = model(b, &stats);
    let page = html::render(&m);
    check_balanced(&page).unwrap();
    let lower = page.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "unescaped script");
    assert!(!lower.contains("<img"), "unescaped img");
    assert_eq!(lower.matches("</style>").count(), 1);
    assert!(!page.contains('\u{1b}') && !page.contains('\u{202e}') && !page.contains('\u{0}'));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;@example.com"));
    assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
}

/// A crafted access log through the real pipeline: stuffing from one address with hostile
/// account names, user agents and raw invalid UTF-8, then a successful login.
pub(crate) fn crafted_access_log() -> Vec<u8> {
    let mut log = Vec::new();
    for i in 0..30u32 {
        let user: Vec<u8> = match i % 3 {
            0 => format!("u{i}<script>alert(1)</script>").into_bytes(),
            1 => [
                b"u".as_slice(),
                &[0xff, 0xfe, b'<', 0x93, 0x63],
                format!("{i}").as_bytes(),
            ]
            .concat(),
            _ => format!("u{i}\"><img src=x onerror=alert(1)>")
                .replace(' ', "%20")
                .into_bytes(),
        };
        log.extend_from_slice(b"203.0.113.66 - ");
        log.extend_from_slice(&user);
        log.extend_from_slice(
            format!(
                " [20/Nov/2026:10:{:02}:{:02} +0000] \"POST /login HTTP/1.1\" 401 12 \"-\" \"<script>alert({i})</script></style>\"\n",
                i / 6,
                (i * 7) % 60
            )
            .as_bytes(),
        );
    }
    log.extend_from_slice(
        b"203.0.113.66 - victim\xff\"><svg/onload=alert(1)> [20/Nov/2026:10:06:00 +0000] \"POST /login HTTP/1.1\" 302 0 \"-\" \"'><script>alert(3)</script>\"\n",
    );
    log
}

#[test]
fn a_real_scan_of_a_crafted_log_gives_a_safe_page() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, crafted_access_log()).unwrap();
    let html_path = dir.path().join("report.html");
    let cfg = ReportConfig {
        html: Some(html_path.clone()),
        csv_dir: Some(dir.path().join("csv")),
        ..ReportConfig::default()
    };
    let mut sinks: Vec<Box<dyn crate::sink::Sink>> = vec![Box::new(ReportSink::new(cfg))];
    let opts = crate::drivers::RunOptions {
        paths: vec![log],
        strict: false,
        progress: None,
    };
    let stats = crate::drivers::scan(&crate::config::Config::default(), &opts, &mut sinks).unwrap();
    assert!(
        stats.alerts.contains_key(&Rule::StuffingIp),
        "{:?}",
        stats.alerts
    );
    let page = std::fs::read_to_string(&html_path).unwrap();
    check_balanced(&page).unwrap();
    let lower = page.to_ascii_lowercase();
    assert!(!lower.contains("<script"));
    assert!(!lower.contains("<img"));
    assert!(!lower.contains("<svg/"));
    assert_eq!(lower.matches("</style>").count(), 1);
    assert!(page.contains("203.0.113.66"));
    // Invalid bytes arrive as visible \xNN text.
    assert!(
        page.contains("u\\xff\\xfe&lt;\\x93c"),
        "invalid UTF-8 shown as escapes"
    );
    let sources = std::fs::read_to_string(dir.path().join("csv/attack_sources.csv")).unwrap();
    assert!(sources.contains("\n203.0.113.66,,,31,30,"), "{sources}");
}

#[test]
fn a_late_takeover_alert_re_marks_the_attackers_places_as_new() {
    let mut b = ReportBuilder::new(ReportConfig::default());
    let mut h = history();
    let v = "owner@example.com";
    feed(&mut b, &mut h, login(0, true, v, "198.51.100.1", 64500));
    feed(
        &mut b,
        &mut h,
        order(10, v, "198.51.100.1", 100.0, "shop", "home 1"),
    );
    // The attacker resets, logs in, changes the address and orders twice, all before the
    // takeover alert: meanwhile the report learned the attacker's address and ship-to.
    feed(
        &mut b,
        &mut h,
        ev(
            100,
            EventKind::PasswordResetRequest,
            Outcome::Success,
            v,
            "203.0.113.5",
        ),
    );
    feed(&mut b, &mut h, login(110, true, v, "203.0.113.5", 64501));
    feed(
        &mut b,
        &mut h,
        order(120, v, "203.0.113.5", 900.0, "s", "drop 9"),
    );
    feed(
        &mut b,
        &mut h,
        order(130, v, "203.0.113.5", 900.0, "s", "drop 9"),
    );
    let key = b.hash(AccountKey::normalize(v).unwrap().as_str());
    let before: Vec<Place> = b.trails[&key].events.iter().map(|e| e.place).collect();
    assert_eq!(
        before,
        vec![
            Place::Known,
            Place::New,
            Place::New,
            Place::Known,
            Place::Known
        ]
    );
    let mut t = alert(Rule::TakeoverSequence, EntityKind::Account, v, 100);
    t.last_seen = at(130);
    b.observe_alert(&t);
    let trail = &b.trails[&key];
    let after: Vec<Place> = trail.events.iter().map(|e| e.place).collect();
    assert_eq!(
        after,
        vec![Place::Known, Place::New, Place::New, Place::New, Place::New]
    );
    let known: Vec<Option<bool>> = trail
        .events
        .iter()
        .filter_map(|e| e.order.as_ref().map(|o| o.ship_to_known))
        .collect();
    assert_eq!(known, vec![None, Some(false), Some(false)]);
    // Pinned: the attacker's next login is kept and still new.
    feed(&mut b, &mut h, login(200, true, v, "203.0.113.5", 64501));
    let key = b.hash(AccountKey::normalize(v).unwrap().as_str());
    assert_eq!(
        b.trails[&key].events.back().map(|e| e.place),
        Some(Place::New)
    );
}

#[test]
fn a_break_in_on_a_first_seen_account_heads_its_timeline() {
    let mut b = ReportBuilder::new(ReportConfig::default());
    let mut h = history();
    let v = "fresh@example.com";
    // A first login has nothing to compare with and is not kept in an ordinary history...
    feed(&mut b, &mut h, login(0, true, v, "203.0.113.5", 64501));
    let key = b.hash(v);
    assert!(b.trails[&key].events.is_empty());
    // ...until an alert says it was the break-in.
    b.observe_alert(&alert(Rule::CompromiseLogin, EntityKind::Account, v, 0));
    feed(
        &mut b,
        &mut h,
        order(60, v, "203.0.113.5", 5.0, "s", "drop"),
    );
    let stats = RunStats::default();
    let m = model(b, &stats);
    let next = &m.compromised[0].next;
    assert_eq!(next.len(), 2);
    assert_eq!(
        (next[0].kind, next[0].ts, next[0].place),
        (EventKind::Login, at(0), Place::NoHistory)
    );
    assert_eq!(next[0].ip, Some(ip("203.0.113.5")));
    assert_eq!(next[1].kind, EventKind::Order);
}

#[test]
fn recent_places_are_bounded_and_keep_first_seen() {
    let mut r: Recent<u32> = Recent::default();
    assert!(r.is_empty());
    for (v, t) in [(1, 10), (2, 20), (1, 30), (3, 40), (4, 50), (5, 60)] {
        r.remember(v, Timestamp(t));
    }
    // 2 was the least recently used when 5 arrived; 1 keeps its first sighting.
    let items: Vec<(u32, i64)> = r.items.iter().flatten().map(|(v, t)| (*v, t.0)).collect();
    assert_eq!(items, vec![(1, 10), (3, 40), (4, 50), (5, 60)]);
    r.retain_before(Timestamp(45));
    let items: Vec<(u32, i64)> = r.items.iter().flatten().map(|(v, t)| (*v, t.0)).collect();
    assert_eq!(items, vec![(1, 10), (3, 40)]);
    assert!(r.knows(&3) && !r.knows(&4));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever text the logs hold, the page keeps its structure and runs nothing.
    #[test]
    fn any_text_keeps_the_page_well_formed(
        account in "\\PC{0,40}",
        agent in proptest::prelude::any::<String>(),
        seller in "[<>\"'&/a-z =]{0,30}",
    ) {
        let mut b = ReportBuilder::new(ReportConfig::default());
        let name = format!("{account}@x");
        let mut e = login(0, true, &name, "203.0.113.9", 64501);
        e.user_agent = Some(agent.clone().into());
        b.observe_event(&e);
        b.observe_event(&order(5, &name, "203.0.113.9", 1.0, &seller, &agent));
        let mut a = alert(Rule::CompromiseLogin, EntityKind::Account, &name, 0);
        a.summary = agent.clone();
        a.accounts = vec![seller.clone()];
        a.evidence = CompromiseLoginEvidence {
            reason: agent.clone(),
            stuffing_alerts: vec![seller.clone()],
            ..Default::default()
        }
        .into();
        b.observe_alert(&a);
        let stats = RunStats::default();
        let m = model(b, &stats);
        let page = html::render(&m);
        proptest::prop_assert!(check_balanced(&page).is_ok(), "{:?}", check_balanced(&page));
        proptest::prop_assert!(!page.to_ascii_lowercase().contains("<script"));
        let files = csv::render(&m).unwrap();
        proptest::prop_assert_eq!(files.len(), 4);
    }
}

/// The `[report]` section as documented for `credwatch.example.toml`.
const EXAMPLE_SECTION: &str = r#"
# html = "report.html"   # --report FILE: write the HTML report there (unset: no page)
# csv_dir = "report-csv" # --csv-dir DIR: write the four CSV files there (unset: no CSVs)
max_sources = 20000
max_asns = 50000
max_accounts = 100000
history_per_account = 16
pinned_history_per_account = 256
max_alerts = 5000
top_rows = 25
"#;

#[test]
fn the_documented_section_is_the_default_and_typos_are_errors() {
    let cfg: ReportConfig = toml::from_str(EXAMPLE_SECTION).unwrap();
    assert_eq!(cfg, ReportConfig::default());
    let cfg: ReportConfig = toml::from_str("html = \"r.html\"\ncsv_dir = \"out\"").unwrap();
    assert_eq!(cfg.html, Some(PathBuf::from("r.html")));
    assert_eq!(cfg.csv_dir, Some(PathBuf::from("out")));
    let err = toml::from_str::<ReportConfig>("max_source = 5").unwrap_err();
    assert!(err.to_string().contains("max_source"), "{err}");
}

#[test]
fn an_empty_run_still_gives_a_readable_page_and_csvs_with_headers() {
    let stats = RunStats::default();
    let m = model(ReportBuilder::new(ReportConfig::default()), &stats);
    let page = html::render(&m);
    check_balanced(&page).unwrap();
    assert!(page.contains("No logins were seen, so there is no timeline."));
    assert!(page.contains("No account was seen being broken into."));
    let files = csv::render(&m).unwrap();
    for (name, bytes) in files {
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text.lines().count(), 1, "{name}: header only");
    }
}

#[test]
fn finish_writes_the_files_it_was_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ReportConfig {
        html: Some(dir.path().join("r.html")),
        csv_dir: Some(dir.path().join("csv/nested")),
        ..ReportConfig::default()
    };
    let files = takeover_builder_with(cfg)
        .finish(&RunStats::default(), &|_| None)
        .unwrap();
    assert_eq!(files.html, Some(dir.path().join("r.html")));
    assert_eq!(
        files.csv,
        csv::FILES
            .iter()
            .map(|f| dir.path().join("csv/nested").join(f))
            .collect::<Vec<_>>()
    );
    assert!(
        std::fs::read_to_string(dir.path().join("r.html"))
            .unwrap()
            .contains("victim@example.com")
    );
    // A directory that cannot be created is an error naming it.
    let blocked = ReportConfig {
        csv_dir: Some(dir.path().join("r.html/sub")),
        ..ReportConfig::default()
    };
    let err = ReportBuilder::new(blocked)
        .finish(&RunStats::default(), &|_| None)
        .unwrap_err();
    assert!(err.to_string().contains("r.html/sub"), "{err}");
}

#[test]
fn places_come_from_the_engines_login_context() {
    let mut b = ReportBuilder::new(ReportConfig {
        history_per_account: 16,
        ..ReportConfig::default()
    });
    let mut h = history();
    let v = "places@example.com";
    b.observe_alert(&alert(Rule::BruteforceAccount, EntityKind::Account, v, 0));
    feed(&mut b, &mut h, login(1, true, v, "198.51.100.1", 64500));
    feed(&mut b, &mut h, login(2, true, v, "198.51.100.1", 64500));
    feed(&mut b, &mut h, login(3, true, v, "198.51.100.2", 64500));
    feed(&mut b, &mut h, login(4, true, v, "203.0.113.1", 64501));
    // A failed reset is not compared by the engine, and an event the engine never saw
    // carries no context: the report does not guess.
    feed(
        &mut b,
        &mut h,
        ev(
            5,
            EventKind::PasswordResetRequest,
            Outcome::Failure,
            v,
            "203.0.113.1",
        ),
    );
    b.observe_event(&login(6, true, v, "198.51.100.1", 64500));
    let key = b.hash(v);
    let places: Vec<Place> = b.trails[&key].events.iter().map(|e| e.place).collect();
    assert_eq!(
        places,
        vec![
            Place::NoHistory,
            Place::Known,
            Place::NewAddress,
            Place::New,
            Place::Unknown,
            Place::Unknown
        ]
    );
}
