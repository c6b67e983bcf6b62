//! The command line: inputs, formats, exit codes, summary, errors.

use std::io::Write;

use crate::util::*;

mod examples;

/// 30 failed logins from one address to 30 accounts in 30 s, amid a few normal logins.
fn burst_jsonl(ip: &str) -> String {
    let mut s = String::new();
    s.push_str(&json_login(
        "2026-11-20T10:00:00+09:00",
        "198.51.100.20",
        "alice@example.com",
        "success",
        "",
    ));
    for i in 0..30 {
        s.push_str(&json_login(
            &format!("2026-11-20T10:01:{i:02}+09:00"),
            ip,
            &format!("user{i}@example.net"),
            "failure",
            if i % 5 == 0 {
                "bad_password"
            } else {
                "unknown_account"
            },
        ));
    }
    s.push_str(&json_login(
        "2026-11-20T10:05:00+09:00",
        "198.51.100.21",
        "bob@example.jp",
        "failure",
        "bad_password",
    ));
    s
}

#[test]
fn stuffing_ip_from_json_lines() {
    let dir = Scratch::new("json");
    let f = dir.write("auth.jsonl", burst_jsonl("203.0.113.7").as_bytes());
    let out = run(&["scan", f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let alerts = json_lines(&out);
    assert_eq!(
        entities(&alerts, "stuffing.ip"),
        vec![("203.0.113.7".to_string(), "medium".to_string())]
    );
    let a = &alerts[0];
    assert_eq!(a["first_seen"], "2026-11-20T01:01:00Z");
    assert_eq!(a["last_seen"], "2026-11-20T01:01:19Z");
    assert_eq!(a["evidence"]["distinct_accounts"], 20);
    assert_eq!(a["evidence"]["unknown_account_ratio"], 0.8);
    // The sample starts with the third account: the first two were held as fingerprints while
    // the address was one of millions of light ones.
    assert_eq!(a["accounts"].as_array().unwrap().len(), 18);
    assert_eq!(a["entity"]["kind"], "ip");
    assert_eq!(a["id"].as_str().unwrap().len(), 16);
    let err = stderr(&out);
    assert!(err.contains("32 lines"), "{err}");
    assert!(err.contains("alerts: 1\n"), "{err}");
    assert!(
        err.contains(&format!(
            "stuffing.ip                         1  triggered by {} 1",
            f.display()
        )),
        "{err}"
    );
    assert!(err.contains("login 32 (failure 31, success 1)"), "{err}");
}

#[test]
fn ids_are_stable_across_runs() {
    let dir = Scratch::new("ids");
    let f = dir.write("auth.jsonl", burst_jsonl("203.0.113.8").as_bytes());
    let a = run(&["scan", "-q", f.to_str().unwrap()], None);
    let b = run(&["scan", "-q", f.to_str().unwrap()], None);
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
}

/// 30 failed `POST /login` from one address in each of two servers' logs, interleaved in time:
/// 60 failures in 10 minutes only when both logs are read together.
fn split_burst() -> (String, String) {
    let (mut a, mut b) = (String::new(), String::new());
    for i in 0..60 {
        let t = format!("20/Nov/2026:10:{:02}:{:02} +0900", i / 10, (i % 10) * 6);
        let line = nginx("192.0.2.44", &t, "POST", "/login", 401);
        if i % 2 == 0 {
            a.push_str(&line)
        } else {
            b.push_str(&line)
        }
        let bg = nginx("198.51.100.3", &t, "GET", "/products/42", 200);
        if i % 2 == 0 {
            b.push_str(&bg)
        } else {
            a.push_str(&bg)
        }
    }
    (a, b)
}

#[test]
fn two_servers_are_merged_in_event_time_order() {
    let dir = Scratch::new("merge");
    let (a, b) = split_burst();
    let fa = dir.write("web1/access.log", a.as_bytes());
    let fb = dir.write("web2/access.log", b.as_bytes());
    for single in [&fa, &fb] {
        let out = run(&["scan", single.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            json_lines(&out).is_empty(),
            "30 failures alone must not fire"
        );
    }
    let out = run(&["scan", dir.path().to_str().unwrap()], None);
    let alerts = json_lines(&out);
    assert_eq!(
        entities(&alerts, "stuffing.ip"),
        vec![("192.0.2.44".to_string(), "medium".to_string())]
    );
    assert_eq!(alerts[0]["evidence"]["failures"], 50);
    assert_eq!(alerts[0]["first_seen"], "2026-11-20T01:00:00Z");
}

#[test]
fn gzip_and_stdin_give_the_same_alerts_as_plain_files() {
    use flate2::{Compression, write::GzEncoder};
    let dir = Scratch::new("gz");
    let text = burst_jsonl("203.0.113.9");
    let plain = dir.write("plain/auth.jsonl", text.as_bytes());
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    let gz = dir.write("gz/auth.jsonl.1", &enc.finish().unwrap()); // no .gz suffix: sniffed
    let a = run(&["scan", "-q", plain.to_str().unwrap()], None);
    let b = run(&["scan", "-q", gz.to_str().unwrap()], None);
    let c = run(&["scan", "-q", "-"], Some(text.as_bytes()));
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stdout, c.stdout);
    let summary = run(&["scan", gz.to_str().unwrap()], None);
    assert!(
        stderr(&summary).contains("json   gz"),
        "{}",
        stderr(&summary)
    );
}

#[test]
fn dirty_lines_are_counted_and_the_run_goes_on() {
    let dir = Scratch::new("dirty");
    let mut data = burst_jsonl("203.0.113.10").into_bytes();
    data.extend_from_slice(
        b"{\"ts\":\"2026-11-20T10:06:00+09:00\",\"event\":\"login\",\"outcome\"\n",
    ); // cut
    data.extend_from_slice(b"\0\0\0\0\n");
    data.extend_from_slice(&vec![b'x'; 200_000]);
    data.push(b'\n');
    data.extend_from_slice(b"{\"ts\":\"2026-11-20T10:07:00+09:00\",\"event\":\"login\",\"outc"); // no newline
    let f = dir.write("auth.jsonl", &data);
    let out = run(&["scan", f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(entities(&json_lines(&out), "stuffing.ip").len(), 1);
    let err = stderr(&out);
    assert!(err.contains("rejected lines: 4"), "{err}");
    assert!(err.contains("line_too_long"), "{err}");
    assert!(err.contains(&format!("{}:35", f.display())), "{err}");
    assert!(err.contains("truncated_last_line"), "{err}");
}

#[test]
fn strict_stops_at_the_first_rejected_line_with_path_and_line() {
    let dir = Scratch::new("strict");
    let mut text = burst_jsonl("203.0.113.11");
    text.insert_str(0, "{\"ts\": broken\n");
    let f = dir.write("auth.jsonl", text.as_bytes());
    let out = run(&["scan", "--strict", f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:1: rejected", f.display())),
        "{err}"
    );
}

#[test]
fn fail_on_alert_gives_exit_code_one() {
    let dir = Scratch::new("fail");
    let f = dir.write("auth.jsonl", burst_jsonl("203.0.113.12").as_bytes());
    let out = run(
        &["scan", "-q", "--fail-on-alert", f.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let quiet = dir.write(
        "quiet.jsonl",
        json_login("2026-11-20T10:00:00Z", "198.51.100.1", "a", "success", "").as_bytes(),
    );
    let out = run(
        &["scan", "-q", "--fail-on-alert", quiet.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn output_file_receives_the_alerts() {
    let dir = Scratch::new("output");
    let f = dir.write("auth.jsonl", burst_jsonl("203.0.113.13").as_bytes());
    let dest = dir.path().join("alerts.jsonl");
    let out = run(
        &[
            "scan",
            "-q",
            "-o",
            dest.to_str().unwrap(),
            f.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&dest).unwrap();
    assert!(written.contains("\"rule\":\"stuffing.ip\""), "{written}");
}

#[test]
fn usage_and_input_errors_exit_two_with_a_clear_message() {
    let out = run(&["scan", "no/such/file.log"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no/such/file.log: no such file or directory"),
        "{}",
        stderr(&out)
    );

    let out = run(&["scan"], None);
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit 2");

    let dir = Scratch::new("errors");
    let notes = dir.write("notes.txt", b"just some prose\nnot a log\n");
    let out = run(&["scan", notes.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot tell the log format"),
        "{}",
        stderr(&out)
    );

    // Found while walking a directory, the same file is skipped and reported instead.
    dir.write("auth.jsonl", burst_jsonl("203.0.113.14").as_bytes());
    let out = run(&["scan", dir.path().to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("skipped: not a recognized log format"),
        "{}",
        stderr(&out)
    );

    // A usage error from clap, which lists the formats.
    let out = run(&["scan", "--format", "xml", notes.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'xml' for '--format <FORMAT>'")
            && stderr(&out).contains("auto, access, json, sshd, csv, tsv"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_config_names_the_key_and_line() {
    let dir = Scratch::new("config");
    let cfg = dir.write(
        "bad.toml",
        b"[detect.stuffing_ip]\nwindow = \"10m\"\nmin_distinct_acounts = 3\n",
    );
    let f = dir.write("auth.jsonl", burst_jsonl("203.0.113.15").as_bytes());
    let out = run(
        &["scan", "-c", cfg.to_str().unwrap(), f.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:3: detect.stuffing_ip.min_distinct_acounts: unknown field",
            cfg.display()
        )),
        "{err}"
    );

    let good = dir.write(
        "good.toml",
        b"[detect.stuffing_ip]\nmin_distinct_accounts = 40\n",
    );
    let out = run(
        &["scan", "-c", good.to_str().unwrap(), f.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        json_lines(&out).is_empty(),
        "30 accounts are below a threshold of 40"
    );
}

#[test]
fn parse_prints_events_with_source_and_line_and_rejects_on_request() {
    let dir = Scratch::new("parse");
    let mut text = json_login(
        "2026-11-20T10:00:00+09:00",
        "2001:db8::5",
        "Alice@Example.com ",
        "failure",
        "bad_password",
    );
    text.push_str("not json at all\n");
    let f = dir.write("auth.jsonl", text.as_bytes());
    let out = run(&["parse", "-q", f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    let ev = &lines[0];
    assert_eq!(ev["source"], f.to_str().unwrap());
    assert_eq!(ev["line"], 1);
    assert_eq!(ev["event"], "login");
    assert_eq!(ev["outcome"], "failure");
    assert_eq!(ev["reason"], "bad_password");
    assert_eq!(ev["account"], "alice@example.com");
    assert_eq!(ev["ip"], "2001:db8::5");
    assert_eq!(ev["ts"], "2026-11-20T01:00:00Z");

    let out = run(&["parse", "-q", "--rejects", f.to_str().unwrap()], None);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[1]["rejected"].as_str().is_some());
    assert_eq!(lines[1]["text"], "not json at all");
}

#[test]
fn asn_enrichment_from_the_shared_whole_internet_table() {
    let dir = Scratch::new("asn");
    let f = dir.write("auth.jsonl", burst_jsonl("1.0.0.1").as_bytes());
    let db = shared("asn/asn-ipv4.csv.gz");
    let out = run(
        &[
            "scan",
            "-q",
            "--asn-db",
            db.to_str().unwrap(),
            f.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let alerts = json_lines(&out);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["asn"], 13335);
    assert!(
        alerts[0]["as_org"].as_str().unwrap().contains("Cloudflare"),
        "{}",
        alerts[0]
    );

    let mmdb = shared("mmdb/GeoLite2-ASN-Test.mmdb");
    let out = run(
        &["parse", "-q", "--asn-db", mmdb.to_str().unwrap(), "-"],
        Some(json_login("2026-11-20T10:00:00Z", "1.128.0.1", "a", "success", "").as_bytes()),
    );
    let ev = &json_lines(&out)[0];
    assert_eq!(ev["asn"], 1221);
    assert_eq!(ev["as_org"], "Telstra Pty Ltd");
}

#[test]
fn corrupt_asn_databases_are_clear_errors() {
    let dir = Scratch::new("badasn");
    let f = dir.write("auth.jsonl", burst_jsonl("1.0.0.1").as_bytes());
    for name in [
        "mmdb/MaxMind-DB-test-broken-pointers-24.mmdb",
        "mmdb/MaxMind-DB-test-broken-search-tree-24.mmdb",
        "mmdb/GeoLite2-Country-Test.mmdb",
    ] {
        let db = shared(name);
        let out = run(
            &[
                "scan",
                "-q",
                "--asn-db",
                db.to_str().unwrap(),
                f.to_str().unwrap(),
            ],
            None,
        );
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{name}: {err}");
        // Either refused at load (exit 2, naming the file) or every lookup is a miss.
        match out.status.code() {
            Some(2) => assert!(
                err.contains(name.rsplit('/').next().unwrap()),
                "{name}: {err}"
            ),
            Some(0) => assert!(
                json_lines(&out).iter().all(|a| a.get("asn").is_none()),
                "{name}"
            ),
            other => panic!("{name}: exit {other:?}: {err}"),
        }
    }
}

#[test]
fn explain_prints_the_events_behind_an_alert() {
    let dir = Scratch::new("explain");
    let f = dir.write("auth.jsonl", burst_jsonl("203.0.113.16").as_bytes());
    let scan = run(&["scan", "-q", f.to_str().unwrap()], None);
    let alerts = json_lines(&scan);
    let id = alerts[0]["id"].as_str().unwrap();
    let out = run(&["explain", id, f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = json_lines(&out);
    // The alert spans the first 20 failures from the address (10:01:00 to 10:01:19).
    assert_eq!(events.len(), 20);
    assert!(
        events
            .iter()
            .all(|e| e["ip"] == "203.0.113.16" && e["outcome"] == "failure")
    );
    assert_eq!(events[0]["line"], 2);
    assert_eq!(events[19]["line"], 21);
    assert!(
        stderr(&out).contains("20 events of ip 203.0.113.16"),
        "{}",
        stderr(&out)
    );

    let out = run(&["explain", "0000000000000000", f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no alert with id 0000000000000000"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_memory_budget_evicts_and_reports() {
    // 70,000 failed logins from 70,000 addresses: far more state than a 1 MiB budget holds.
    let mut text = String::with_capacity(70_000 * 120);
    for i in 0u32..70_000 {
        let [_, b, c, d] = i.to_be_bytes();
        text.push_str(&json_login(
            &format!(
                "2026-11-20T10:{:02}:{:02}Z",
                (i / 1_200) % 60,
                (i / 20) % 60
            ),
            &format!("10.{b}.{c}.{d}"),
            &format!("user{i}@example.com"),
            "failure",
            "bad_password",
        ));
    }
    let dir = Scratch::new("budget");
    let f = dir.write("auth.jsonl", text.as_bytes());
    let out = run(&["scan", "--memory-budget", "1", f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("memory budget 1 MiB reached"), "{err}");
    let out = run(&["scan", f.to_str().unwrap()], None);
    assert!(
        !stderr(&out).contains("memory budget"),
        "the default budget holds this"
    );
    let out = run(&["scan", "--memory-budget", "0", f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn binary_files_are_named_as_such_and_nothing_panics() {
    let dir = Scratch::new("binary");
    let bytes: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let f = dir.write("blob.bin", &bytes);
    for args in [
        vec!["scan"],
        vec!["scan", "--format", "json"],
        vec!["parse", "--format", "sshd"],
    ] {
        let mut args = args.clone();
        args.push(f.to_str().unwrap());
        let out = run(&args, None);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("a binary file, not a text log"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // Inside a directory it is skipped and named instead.
    dir.write("auth.jsonl", burst_jsonl("203.0.113.17").as_bytes());
    let out = run(&["scan", dir.path().to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("skipped: binary file"),
        "{}",
        stderr(&out)
    );
}

/// The same alerts, in the same order, with the same ids, whatever the number of threads.
#[test]
fn alerts_do_not_depend_on_the_thread_count() {
    let one = run(
        &[
            "scan",
            "-q",
            "--threads",
            "1",
            "--asn-db",
            "sample-logs/asn/asn-extract.csv",
            "sample-logs/",
        ],
        None,
    );
    let four = run(
        &[
            "scan",
            "-q",
            "--threads",
            "4",
            "--asn-db",
            "sample-logs/asn/asn-extract.csv",
            "sample-logs/",
        ],
        None,
    );
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert_eq!(four.status.code(), Some(0), "{}", stderr(&four));
    assert!(json_lines(&one).len() >= 20);
    assert_eq!(
        String::from_utf8_lossy(&one.stdout),
        String::from_utf8_lossy(&four.stdout)
    );
    let zero = run(&["scan", "--threads", "0", "sample-logs/"], None);
    assert_eq!(zero.status.code(), Some(2));
    assert!(stderr(&zero).contains("--threads"), "{}", stderr(&zero));
}

/// A large input (over 4 MB) is split and decoded on several threads, and its events detected
/// by sharded rules in parallel, over more than one batch of each (65,536 lines, 32,768
/// events): the alerts are still the same, in the same order, as with one thread.
#[test]
fn a_large_input_decoded_on_several_threads_gives_the_same_alerts() {
    let dir = Scratch::new("threads-large");
    let one = std::fs::read(root().join("sample-logs/app/auth.jsonl")).unwrap();
    let mut big = Vec::new();
    for _ in 0..12 {
        big.extend_from_slice(&one);
    }
    assert!(big.len() > 4 << 20);
    let f = dir.write("auth.jsonl", &big);
    let scan = |threads: &str| {
        let out = run(
            &[
                "scan",
                "--threads",
                threads,
                "--asn-db",
                "sample-logs/asn/asn-extract.csv",
                f.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        out
    };
    let (a, b) = (scan("1"), scan("4"));
    assert!(json_lines(&a).len() >= 20);
    // stderr is a pipe here: the summary, and no progress bar before it.
    assert!(
        stderr(&a).starts_with("credwatch: 80,916 lines"),
        "{}",
        stderr(&a)
    );
    assert_eq!(a.stdout, b.stdout);
    // Every line is accounted for, and the rejected line is reported with its number.
    let (ea, eb) = (stderr(&a), stderr(&b));
    assert!(ea.contains("80,916 lines"), "{ea}");
    assert!(eb.contains("80,916 lines"), "{eb}");
    assert!(eb.contains("12 rejected"), "{eb}");
    assert!(eb.contains("auth.jsonl:5090"), "{eb}");
}
