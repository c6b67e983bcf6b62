//! `compromise.login` and `takeover.sequence` against the sample logs' answer key: the binary
//! on the whole directory, and a library replay of `app/auth.jsonl` alone with a stand-in
//! `stuffing.global` alert (that rule is another detector; this checks the swarm ties from the
//! alert contract only).

use std::collections::BTreeSet;
use std::io::BufRead;
use std::sync::Arc;

use credwatch::alert::{Alert, Entity, Rule, Severity};
use credwatch::decode::Decoder;
use credwatch::decode::json::{JsonConfig, JsonDecoder};
use credwatch::detect::{Detector, HistoryConfig, LoginHistories};
use credwatch::enrich::Enricher;
use credwatch::enrich::asn::{AsnDb, AsnEnricher};
use credwatch::event::{Asn, LineMeta};
use credwatch::rules::compromise_login::{CompromiseConfig, CompromiseDetector};
use credwatch::rules::stuffing_global::StuffingGlobalEvidence;
use credwatch::rules::stuffing_ip::{StuffingIpConfig, StuffingIpDetector};
use credwatch::rules::takeover_sequence::{TakeoverConfig, TakeoverDetector};
use credwatch::time::{MINUTE, Timestamp, parse_rfc3339};

use crate::util::*;

fn expected() -> toml::Value {
    let text = std::fs::read_to_string(root().join("sample-logs/expected.toml")).unwrap();
    toml::Value::Table(text.parse().unwrap())
}

fn list(v: &toml::Value, path: &[&str]) -> BTreeSet<String> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn medium_plus(alerts: &[serde_json::Value], rule: &str) -> BTreeSet<String> {
    alerts
        .iter()
        .filter(|a| a["rule"] == rule)
        .filter(|a| matches!(a["severity"].as_str(), Some("medium" | "high" | "critical")))
        .map(|a| a["entity"]["value"].as_str().unwrap().to_string())
        .collect()
}

fn scan(path: &str) -> Vec<serde_json::Value> {
    let out = run(
        &[
            "scan",
            "-q",
            "--asn-db",
            "sample-logs/asn/asn-extract.csv",
            path,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json_lines(&out)
}

/// The swarm's three hits need a `stuffing.global` alert, which another detector emits: when
/// the scan has one, all seven accounts are required, otherwise the four of `stuffing.ip`.
fn check_compromise(alerts: &[serde_json::Value], exp: &toml::Value) {
    let want = list(exp, &["rules", "compromise.login", "entities"]);
    let got = medium_plus(alerts, "compromise.login");
    let has_global = alerts.iter().any(|a| a["rule"] == "stuffing.global");
    if has_global {
        assert_eq!(got, want);
    } else {
        let stuffing_ip: BTreeSet<String> = [
            "ikeda.miyu61@example.com",
            "ynomura63@example.com",
            "ren_otsuka1961@example.com",
            "takadananami191@example.net",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert!(stuffing_ip.is_subset(&want));
        assert_eq!(got, stuffing_ip);
    }
}

fn check_negatives(alerts: &[serde_json::Value], exp: &toml::Value) {
    for kind in ["ip", "asn", "account", "ship_to"] {
        for value in list(exp, &["negatives", kind]) {
            let hits: Vec<_> = alerts
                .iter()
                .filter(|a| a["entity"]["kind"] == kind && a["entity"]["value"] == value.as_str())
                .filter(|a| matches!(a["severity"].as_str(), Some("medium" | "high" | "critical")))
                .collect();
            assert!(hits.is_empty(), "{kind} {value} must stay silent: {hits:?}");
        }
    }
}

#[test]
fn whole_directory_gives_exactly_the_planted_takeovers_and_compromises() {
    let exp = expected();
    let alerts = scan("sample-logs/");
    assert_eq!(
        medium_plus(&alerts, "takeover.sequence"),
        list(&exp, &["rules", "takeover.sequence", "entities"])
    );
    check_compromise(&alerts, &exp);
    check_negatives(&alerts, &exp);
    // Both planted takeovers end in marketplace orders to the drop from new addresses.
    for a in alerts.iter().filter(|a| a["rule"] == "takeover.sequence") {
        assert_eq!(a["severity"], "critical", "{a}");
        let steps = a["evidence"]["steps"].as_array().unwrap();
        let last = steps.last().unwrap();
        assert_eq!(last["event"], "order");
        assert_eq!(last["ship_to"][0], "c36c6a6b1f42");
        assert_eq!(last["ship_to_new"], true);
        assert_eq!(steps[0]["ip_new"], true);
    }
}

#[test]
fn app_log_alone_gives_the_same_entities() {
    let exp = expected();
    let alerts = scan("sample-logs/app/auth.jsonl");
    assert_eq!(
        medium_plus(&alerts, "takeover.sequence"),
        list(&exp, &["rules", "takeover.sequence", "entities"])
    );
    check_compromise(&alerts, &exp);
    check_negatives(&alerts, &exp);
}

fn global_alert(n: usize, first: Timestamp, last: Timestamp) -> Alert {
    Alert {
        id: format!("{n:016x}"),
        rule: Rule::StuffingGlobal,
        severity: Severity::High,
        entity: Entity::global(),
        first_seen: first,
        last_seen: last,
        asn: None,
        as_org: None,
        summary: "stand-in".into(),
        evidence: StuffingGlobalEvidence::default().into(),
        accounts: Vec::new(),
    }
}

fn at(local: &str) -> Timestamp {
    parse_rfc3339(local.as_bytes()).unwrap()
}

/// Replays `app/auth.jsonl` through the library, delivering each hand-made `stuffing.global`
/// alert with the first event at or after its `last_seen`, as the pipeline would.
fn replay(globals: &[Alert]) -> Vec<Alert> {
    let mut dec = JsonDecoder::new(&JsonConfig::default()).unwrap();
    let db = AsnDb::open(&root().join("sample-logs/asn/asn-extract.csv")).unwrap();
    let mut enr = AsnEnricher::new(Arc::new(db));
    let mut dets: Vec<Box<dyn Detector>> = vec![
        Box::new(StuffingIpDetector::new(StuffingIpConfig::default())),
        Box::new(CompromiseDetector::new(CompromiseConfig::default())),
        Box::new(TakeoverDetector::new(TakeoverConfig::default())),
    ];
    // The login history the account rules share, kept ahead of them as the engine does.
    let mut history = LoginHistories::new(HistoryConfig {
        known_sources: 8,
        max_accounts: 1_000_000,
    });
    let mut pending: Vec<&Alert> = globals.iter().collect();
    let mut all = Vec::new();
    let file = std::fs::File::open(root().join("sample-logs/app/auth.jsonl")).unwrap();
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).unwrap() > 0 {
        let ev = dec.decode(&line, &LineMeta::default());
        line.clear();
        let Ok(Some(mut ev)) = ev else { continue };
        enr.enrich(&mut ev);
        history.annotate(&mut ev);
        let mut out = Vec::new();
        for d in &mut dets {
            d.observe(&ev, &mut out);
        }
        while pending.first().is_some_and(|a| a.last_seen <= ev.ts) {
            out.push(pending.remove(0).clone());
        }
        let mut derived = Vec::new();
        for a in &out {
            for d in &mut dets {
                d.on_alert(a, &mut derived);
            }
        }
        all.extend(out);
        all.extend(derived);
    }
    all
}

fn compromised(all: &[Alert]) -> BTreeSet<String> {
    all.iter()
        .filter(|a| a.rule == Rule::CompromiseLogin && a.severity >= Severity::Medium)
        .map(|a| a.entity.value.clone())
        .collect()
}

/// With a stand-in `stuffing.global` alert for the proxy swarm (2026-11-20 01:00–01:05 +09:00,
/// as a burst detector would first report it), every planted compromise is found, and nothing
/// else.
#[test]
fn swarm_hits_are_tied_to_a_global_alert() {
    let exp = expected();
    let start = at("2026-11-20T01:00:00+09:00");
    let g = global_alert(1, start, Timestamp(start.0 + 5 * MINUTE));
    let all = replay(&[g]);
    assert_eq!(
        compromised(&all),
        list(&exp, &["rules", "compromise.login", "entities"])
    );
    let swarm: Vec<&Alert> = all
        .iter()
        .filter(|a| a.rule == Rule::CompromiseLogin)
        .filter(|a| {
            a.evidence
                .compromise_login()
                .is_some_and(|e| e.stuffing_alerts == ["0000000000000001"])
        })
        .collect();
    assert_eq!(swarm.len(), 3, "{swarm:#?}");
    assert_eq!(swarm[0].entity.value, "yamamoto.shun20@example.com");
    let login = |a: &Alert| a.evidence.compromise_login().cloned().unwrap_or_default();
    assert_eq!(login(swarm[0]).ip, "201.17.27.87".parse().ok());
    assert_eq!(swarm[0].severity, Severity::High);
    assert_eq!(swarm[1].entity.value, "fujii.ryota75@example.jp");
    assert_eq!(swarm[2].entity.value, "yamaguchi.hina78@example.jp");
    assert_eq!(swarm[2].severity, Severity::Medium);
    assert_eq!(login(swarm[2]).asn, Some(Asn(30036)));
}

/// A burst detector may report the swarm only at its end, and may also report the other
/// bursts (the single-address run, the OVH run) as site-wide: the same seven accounts, no more.
#[test]
fn late_and_extra_global_alerts_tie_no_other_account() {
    let exp = expected();
    let want = list(&exp, &["rules", "compromise.login", "entities"]);
    let swarm_end = global_alert(
        1,
        at("2026-11-20T01:00:00+09:00"),
        at("2026-11-20T02:00:00+09:00"),
    );
    let others = [
        global_alert(
            2,
            at("2026-11-19T03:12:00+09:00"),
            at("2026-11-19T03:20:00+09:00"),
        ),
        global_alert(
            3,
            at("2026-11-19T14:05:00+09:00"),
            at("2026-11-19T14:32:00+09:00"),
        ),
    ];
    assert_eq!(compromised(&replay(std::slice::from_ref(&swarm_end))), want);
    let all = [others[0].clone(), others[1].clone(), swarm_end];
    assert_eq!(compromised(&replay(&all)), want);
}
