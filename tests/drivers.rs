//! What every driver over the engine must agree on: `explain` finds the alerts `scan` prints,
//! from files and from standard input alike.

use crate::util::{Scratch, json_lines, root, run, stderr};

/// `explain ID -` reads standard input once (it used to run a scan that consumed it, then read
/// it again and find nothing), and prints the same events as `explain ID FILE`.
#[test]
fn explain_reads_standard_input_once_and_agrees_with_the_file() {
    let dir = Scratch::new("explain-stdin");
    let data = std::fs::read(root().join("sample-logs/app/auth.jsonl")).unwrap();
    let file = dir.write("auth.jsonl", &data);
    let scan = run(&["scan", "-q", file.to_str().unwrap()], None);
    assert_eq!(scan.status.code(), Some(0), "{}", stderr(&scan));
    let alerts = json_lines(&scan);
    assert!(alerts.len() >= 20, "{}", alerts.len());
    // One alert of each rule that fired.
    let mut seen = std::collections::BTreeSet::new();
    for a in &alerts {
        let (Some(id), Some(rule)) = (a["id"].as_str(), a["rule"].as_str()) else {
            panic!("alert without id or rule: {a}");
        };
        if !seen.insert(rule.to_string()) {
            continue;
        }
        let from_file = run(&["explain", id, file.to_str().unwrap()], None);
        assert_eq!(
            from_file.status.code(),
            Some(0),
            "{rule}: {}",
            stderr(&from_file)
        );
        let from_stdin = run(&["explain", id, "-"], Some(&data));
        assert_eq!(
            from_stdin.status.code(),
            Some(0),
            "{rule}: {}",
            stderr(&from_stdin)
        );
        let events = json_lines(&from_stdin);
        assert!(!events.is_empty(), "{rule}: no events from stdin");
        // Same events, only the source name differs (`-`).
        let strip = |v: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
            v.into_iter()
                .map(|mut e| {
                    e["source"] = serde_json::Value::Null;
                    e
                })
                .collect()
        };
        assert_eq!(strip(json_lines(&from_file)), strip(events), "{rule}");
        assert!(stderr(&from_stdin).contains(id), "{}", stderr(&from_stdin));
    }
    assert!(seen.len() >= 5, "{seen:?}");
}
