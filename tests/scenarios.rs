//! The bundled sample logs: every planted attack the implemented rules cover is found, every
//! look-alike stays silent, dirty lines are counted, and the generator still writes exactly the
//! committed files.

use std::collections::BTreeSet;
use std::process::Command;

use crate::util::*;

fn expected() -> toml::Table {
    let text = std::fs::read_to_string(root().join("sample-logs/expected.toml")).unwrap();
    text.parse().unwrap()
}

fn list<'a>(v: &'a toml::Value, path: &[&str]) -> Vec<&'a str> {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

fn scan_samples(extra: &[&str]) -> (Vec<serde_json::Value>, String) {
    let mut args = vec!["scan"];
    args.extend_from_slice(extra);
    args.push("sample-logs/");
    let out = run(&args, None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (json_lines(&out), stderr(&out))
}

#[test]
fn every_planted_stuffing_ip_is_found_and_nothing_else() {
    let exp = toml::Value::Table(expected());
    let want: BTreeSet<&str> = list(&exp, &["rules", "stuffing.ip", "entities"])
        .into_iter()
        .collect();
    assert_eq!(
        want.len(),
        2,
        "the generator plants an HTTP and an sshd burst"
    );
    let (alerts, _) = scan_samples(&[]);
    let got: BTreeSet<String> = entities(&alerts, "stuffing.ip")
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    let got: BTreeSet<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(got, want);
    // The HTTP burst (380 accounts) reaches high; its re-emission keeps the episode id.
    let burst: Vec<_> = alerts
        .iter()
        .filter(|a| a["entity"]["value"] == "165.232.90.82")
        .collect();
    assert_eq!(burst.len(), 2);
    assert_eq!(
        (burst[0]["severity"].as_str(), burst[1]["severity"].as_str()),
        (Some("medium"), Some("high"))
    );
    assert_eq!(burst[0]["id"], burst[1]["id"]);
    // 03:12:07 +09:00; the app's record of the first attempt (with milliseconds) is the one
    // counted, its access-log copy is dropped as the same action.
    assert_eq!(burst[0]["first_seen"], "2026-11-18T18:12:07.029Z");
    // Each attempt is counted once although the app and both web servers log it.
    assert_eq!(burst[0]["evidence"]["failures"], 22);
    assert!(
        burst[1]["evidence"]["thresholds_crossed"]
            .get("failures_without_account")
            .is_none()
    );
}

#[test]
fn look_alikes_stay_silent() {
    let exp = toml::Value::Table(expected());
    let (alerts, _) = scan_samples(&["--asn-db", "sample-logs/asn/asn-extract.csv"]);
    for kind in ["ip", "asn", "account", "ship_to"] {
        for value in list(&exp, &["negatives", kind]) {
            let hits: Vec<_> = alerts
                .iter()
                .filter(|a| a["entity"]["kind"] == kind && a["entity"]["value"] == value)
                .filter(|a| matches!(a["severity"].as_str(), Some("medium" | "high" | "critical")))
                .collect();
            assert!(hits.is_empty(), "{kind} {value} must stay silent: {hits:?}");
        }
    }
}

#[test]
fn asn_extract_names_the_attackers_network() {
    let (alerts, _) = scan_samples(&["-q", "--asn-db", "sample-logs/asn/asn-extract.csv"]);
    let a = alerts
        .iter()
        .find(|a| a["entity"]["value"] == "165.232.90.82")
        .unwrap();
    assert_eq!(a["asn"], 14061);
    assert_eq!(a["as_org"], "DigitalOcean, LLC");
    let b = alerts
        .iter()
        .find(|a| a["entity"]["value"] == "129.226.1.140")
        .unwrap();
    assert_eq!(b["asn"], 132203);
}

#[test]
fn every_line_is_accounted_for_and_dirty_lines_are_reported() {
    let (_, summary) = scan_samples(&[]);
    // Each input's lines = events + irrelevant + rejected (the summary's columns).
    for (file, lines) in [
        ("app/auth.jsonl", 6_743),
        ("sshd/auth.log", 1_316),
        ("web1/access.log", 5_807),
        ("web2/access.log", 5_790),
    ] {
        let row = summary
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("{file} in {summary}"));
        let nums: Vec<u64> = row
            .split_whitespace()
            .filter_map(|w| w.replace(',', "").parse().ok())
            .collect();
        assert_eq!(nums.len(), 4, "{row}");
        assert_eq!(nums[0], lines, "{row}");
        assert_eq!(nums[1] + nums[2] + nums[3], nums[0], "{row}");
    }
    for skipped in ["README.md", "expected.toml", "asn/asn-extract.csv"] {
        assert!(
            summary.contains(&format!("sample-logs/{skipped}")),
            "{skipped} listed as skipped: {summary}"
        );
    }
    assert!(summary.contains("rejected lines: 3"), "{summary}");
    assert!(
        summary.contains("sample-logs/app/auth.jsonl:5090 (102568 bytes, limit 65536)"),
        "{summary}"
    );
    assert!(
        summary.contains("sample-logs/web1/access.log:1117"),
        "{summary}"
    );
    assert!(
        summary.contains("sample-logs/sshd/auth.log:982"),
        "{summary}"
    );
}

#[test]
fn dirty_lines_decode_or_are_rejected_never_lost() {
    let exp = toml::Value::Table(expected());
    let out = run(&["parse", "-q", "--rejects", "sample-logs/"], None);
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out);
    let find = |src: &str, line: i64| {
        lines
            .iter()
            .find(|l| l["source"] == format!("sample-logs/{src}") && l["line"] == line)
            .cloned()
    };
    for d in exp["dirty"]["lines"].as_array().unwrap() {
        let (src, line) = (
            d["source"].as_str().unwrap(),
            d["line"].as_integer().unwrap(),
        );
        let got = find(src, line);
        match (src, line) {
            // Shift-JIS account: kept losslessly as \xNN escapes, still one account.
            ("app/auth.jsonl", 2022) => {
                let ev = got.expect("Shift-JIS JSON line decodes");
                assert!(ev["account"].as_str().unwrap().contains("\\x"), "{ev}");
            }
            ("app/auth.jsonl", 5090) => assert_eq!(got.unwrap()["rejected"], "line_too_long"),
            ("sshd/auth.log", 982) => assert_eq!(got.unwrap()["rejected"], "not_syslog"),
            ("web1/access.log", 1117) => {
                assert_eq!(got.unwrap()["rejected"], "malformed_access_line")
            }
            // A Shift-JIS user agent or a missing final newline do not lose the line; they are
            // events or irrelevant (a GET), never rejected.
            _ => assert!(
                got.is_none_or(|g| g.get("rejected").is_none()),
                "{src}:{line}"
            ),
        }
    }
}

#[test]
fn the_generator_writes_exactly_the_committed_sample_logs() {
    // `cargo test` builds examples next to the test binaries' target directory.
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_credwatch"))
        .parent()
        .unwrap()
        .join("examples/gen-sample-logs");
    let dir = Scratch::new("gen");
    let status = Command::new(&exe)
        .args(["--out", dir.path().to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut files = Vec::new();
    collect(&root().join("sample-logs"), &mut files);
    assert!(files.len() >= 7);
    for f in files {
        let rel = f.strip_prefix(root().join("sample-logs")).unwrap();
        let fresh = std::fs::read(dir.path().join(rel))
            .unwrap_or_else(|_| panic!("{} not generated", rel.display()));
        assert!(
            fresh == std::fs::read(&f).unwrap(),
            "{} differs from the generator's output",
            rel.display()
        );
    }
}

fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out)
        } else {
            out.push(p)
        }
    }
}

#[test]
fn every_rule_finds_exactly_its_planted_entities() {
    let exp = toml::Value::Table(expected());
    let (alerts, summary) = scan_samples(&["--asn-db", "sample-logs/asn/asn-extract.csv"]);
    let rules = exp["rules"].as_table().unwrap();
    assert_eq!(
        rules.len(),
        9,
        "expected.toml covers every rule of alerts.md"
    );
    for (rule, spec) in rules {
        let want: BTreeSet<&str> = list(spec, &["entities"]).into_iter().collect();
        let got: BTreeSet<String> = alerts
            .iter()
            .filter(|a| a["rule"] == rule.as_str())
            .filter(|a| matches!(a["severity"].as_str(), Some("medium" | "high" | "critical")))
            .map(|a| a["entity"]["value"].as_str().unwrap().to_string())
            .collect();
        let got: BTreeSet<&str> = got.iter().map(String::as_str).collect();
        assert_eq!(got, want, "{rule}");
    }
    // Every alert belongs to a rule of the contract and has its fields.
    for a in &alerts {
        assert!(rules.contains_key(a["rule"].as_str().unwrap()), "{a}");
        for field in [
            "id",
            "severity",
            "entity",
            "first_seen",
            "last_seen",
            "summary",
            "evidence",
        ] {
            assert!(a.get(field).is_some(), "{field} missing in {a}");
        }
    }
    // The takeover ends in marketplace orders to a new ship-to from new addresses: critical.
    let takeover = alerts
        .iter()
        .rfind(|a| {
            a["rule"] == "takeover.sequence" && a["entity"]["value"] == "matsuda.mai4@example.net"
        })
        .unwrap();
    assert_eq!(takeover["severity"], "critical");
    assert!(summary.contains("compromise.login"), "{summary}");
}
