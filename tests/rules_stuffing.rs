//! `stuffing.asn`, `stuffing.global` and `bruteforce.account` on the bundled sample logs: every
//! planted entity of `expected.toml` is found, nothing else is, and the look-alikes stay below
//! medium. Run on the whole directory (web lines count the app's logins twice until the
//! pipeline de-duplicates them) and on `app/auth.jsonl` alone.

use std::collections::BTreeSet;

use crate::util::*;

const RULES: [&str; 3] = ["stuffing.asn", "stuffing.global", "bruteforce.account"];

fn expected() -> toml::Value {
    let text = std::fs::read_to_string(root().join("sample-logs/expected.toml")).unwrap();
    toml::Value::Table(text.parse().unwrap())
}

fn strings(v: &toml::Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn scan(input: &str, asn_db: bool) -> Vec<serde_json::Value> {
    let mut args = vec!["scan", "-q"];
    if asn_db {
        args.extend(["--asn-db", "sample-logs/asn/asn-extract.csv"]);
    }
    args.push(input);
    let out = run(&args, None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json_lines(&out)
}

fn of_rule<'a>(alerts: &'a [serde_json::Value], rule: &str) -> Vec<&'a serde_json::Value> {
    alerts.iter().filter(|a| a["rule"] == rule).collect()
}

fn check_planted_and_negatives(alerts: &[serde_json::Value]) {
    let exp = expected();
    for rule in RULES {
        let want = strings(&exp["rules"][rule]["entities"]);
        let got: BTreeSet<String> = entities(alerts, rule).into_iter().map(|e| e.0).collect();
        assert_eq!(got, want, "{rule}");
    }
    for kind in ["ip", "asn", "account"] {
        for value in strings(&exp["negatives"][kind]) {
            let hits: Vec<_> = alerts
                .iter()
                .filter(|a| RULES.contains(&a["rule"].as_str().unwrap_or("")))
                .filter(|a| a["entity"]["kind"] == kind && a["entity"]["value"] == value.as_str())
                .collect();
            assert!(hits.is_empty(), "{kind} {value}: {hits:?}");
        }
    }
}

fn check_details(alerts: &[serde_json::Value]) {
    // OVH: opens medium at 20 low addresses, rises to high at 50; each address stays low.
    let asn = of_rule(alerts, "stuffing.asn");
    assert_eq!(asn.len(), 2, "{asn:?}");
    assert_eq!(asn[0]["severity"], "medium");
    assert_eq!(asn[1]["severity"], "high");
    assert_eq!(asn[0]["id"], asn[1]["id"]);
    assert_eq!(asn[0]["as_org"], "OVH SAS");
    assert_eq!(asn[0]["evidence"]["failing_addresses"], 20);
    assert_eq!(asn[1]["evidence"]["failing_addresses"], 50);
    assert!(
        asn[1]["evidence"]["max_failures_per_address"]
            .as_u64()
            .unwrap()
            < 20
    );
    assert!(
        asn[0]["first_seen"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-19T05:05:31")
    ); // 14:05:31 +09:00

    // The swarm (01:00 +09:00 = 16:00Z) is one episode: medium at 3 hot minutes, then high.
    let swarm: Vec<_> = of_rule(alerts, "stuffing.global")
        .into_iter()
        .filter(|a| {
            a["first_seen"]
                .as_str()
                .unwrap()
                .starts_with("2026-11-19T16:00:01")
        })
        .collect();
    assert_eq!(swarm.len(), 2, "{swarm:?}");
    assert_eq!(swarm[0]["id"], swarm[1]["id"]);
    assert_eq!(
        (swarm[0]["severity"].as_str(), swarm[1]["severity"].as_str()),
        (Some("medium"), Some("high"))
    );
    let ev = &swarm[1]["evidence"];
    assert!(ev["failing_addresses"].as_u64().unwrap() >= 500, "{ev}");
    assert_eq!(ev["baseline_failing_addresses_per_minute"], 1.0);
    assert_eq!(ev["top_asns"].as_array().unwrap().len(), 10);
    // The single-address burst (03:12 +09:00) makes no global alert; the only other one is the
    // OVH run at 14:05 +09:00, whose top ASN is OVH.
    let others: Vec<_> = of_rule(alerts, "stuffing.global")
        .into_iter()
        .filter(|a| {
            !a["first_seen"]
                .as_str()
                .unwrap()
                .starts_with("2026-11-19T16:00")
        })
        .collect();
    assert_eq!(others.len(), 1, "{others:?}");
    assert_eq!(others[0]["evidence"]["top_asns"][0]["asn"], 16276);

    // One account, 12 addresses, capitalized or not: high at the 10th failure.
    let bf = of_rule(alerts, "bruteforce.account");
    assert_eq!(bf.len(), 1, "{bf:?}");
    assert_eq!(bf[0]["severity"], "high");
    assert_eq!(bf[0]["evidence"]["failures"], 10);
    assert_eq!(bf[0]["evidence"]["distinct_addresses"], 10);
    assert_eq!(bf[0]["first_seen"], "2026-11-20T13:10:00.299Z");
}

#[test]
fn whole_directory_gives_exactly_the_planted_entities() {
    let alerts = scan("sample-logs/", true);
    check_planted_and_negatives(&alerts);
    check_details(&alerts);
}

#[test]
fn app_log_alone_gives_exactly_the_planted_entities() {
    let alerts = scan("sample-logs/app/auth.jsonl", true);
    check_planted_and_negatives(&alerts);
    check_details(&alerts);
    // Single-counted logins: OVH's addresses fail at most 5 times each, 89% unknown accounts.
    let asn = of_rule(&alerts, "stuffing.asn");
    assert_eq!(asn[0]["evidence"]["max_failures_per_address"], 5);
    assert_eq!(asn[0]["evidence"]["unknown_account_ratio"], 0.89);
    // One address per /24: rented servers, not one subnet.
    assert_eq!(asn[0]["evidence"]["distinct_prefixes"], 20);
    assert_eq!(asn[0]["evidence"]["distinct_accounts"], 62);
}

#[test]
fn without_an_asn_database_stuffing_asn_is_silent() {
    let alerts = scan("sample-logs/app/auth.jsonl", false);
    assert!(of_rule(&alerts, "stuffing.asn").is_empty());
    assert_eq!(of_rule(&alerts, "bruteforce.account").len(), 1);
    assert!(!of_rule(&alerts, "stuffing.global").is_empty());
}

#[test]
fn the_same_input_gives_the_same_alerts() {
    let a = scan("sample-logs/app/auth.jsonl", true);
    let b = scan("sample-logs/app/auth.jsonl", true);
    let pick = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter()
            .filter(|a| RULES.contains(&a["rule"].as_str().unwrap_or("")))
            .map(|a| a.to_string())
            .collect()
    };
    assert_eq!(pick(&a), pick(&b));
}

#[test]
fn nonsense_settings_are_rejected_with_their_key() {
    let dir = Scratch::new("stuffing-config");
    for (text, key) in [
        (
            "[detect.stuffing_global]\nmad_factor = -1.0\n",
            "detect.stuffing_global.mad_factor",
        ),
        (
            "[detect.stuffing_asn]\nmin_failure_ratio = 1.5\n",
            "detect.stuffing_asn.min_failure_ratio",
        ),
        (
            "[detect.bruteforce_account]\nmin_failures = 20\nhigh_failures = 10\n",
            "detect.bruteforce_account.high_failures",
        ),
    ] {
        let cfg = dir.write("bad.toml", text.as_bytes());
        let out = run(
            &[
                "scan",
                "-c",
                cfg.to_str().unwrap(),
                "sample-logs/app/auth.jsonl",
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(stderr(&out).contains(key), "{}", stderr(&out));
    }
}

#[test]
fn access_logs_alone_find_the_asn_run_and_the_swarm() {
    // Form logins: the web logs name no accounts, so stuffing.asn counts failures instead.
    let mut args = vec!["scan", "-q", "--asn-db", "sample-logs/asn/asn-extract.csv"];
    args.extend(["sample-logs/web1/", "sample-logs/web2/"]);
    let out = run(&args, None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let alerts = json_lines(&out);
    let asn: BTreeSet<String> = entities(&alerts, "stuffing.asn")
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(asn, BTreeSet::from(["16276".to_string()]));
    let asn = of_rule(&alerts, "stuffing.asn");
    assert_eq!(asn[0]["evidence"]["failures_without_account"], 100);
    let global = of_rule(&alerts, "stuffing.global");
    assert!(
        global
            .iter()
            .any(|a| a["severity"] == "high" && a["first_seen"] == "2026-11-19T16:00:01Z"),
        "{global:?}"
    );
    assert!(of_rule(&alerts, "bruteforce.account").is_empty());
}
