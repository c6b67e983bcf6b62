//! `credwatch tail` end to end: a real process following real files, a real HTTP receiver,
//! real signals (`SIGTERM`, `kill -9`) and the real `logrotate`.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::receiver::{Receiver, Reply};
use crate::util::{Scratch, root, run};

const ASN_DB: &str = "sample-logs/asn/asn-extract.csv";

/// The sample shop's application log: every rule fires on it.
fn app_log() -> Vec<u8> {
    std::fs::read(root().join("sample-logs/app/auth.jsonl")).expect("sample-logs/app/auth.jsonl")
}

/// `(id, severity)` of every alert a scan of `path` gives: what tail must deliver too.
fn scan_alerts(path: &Path) -> Vec<(String, String)> {
    let out = run(
        &["scan", "-q", "--asn-db", ASN_DB, path.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    crate::util::json_lines(&out).iter().map(pair).collect()
}

fn pair(a: &serde_json::Value) -> (String, String) {
    (
        a["id"].as_str().unwrap_or_default().to_string(),
        a["severity"].as_str().unwrap_or_default().to_string(),
    )
}

fn spawn_tail(args: &[&str], stderr_to: &Path) -> Child {
    let err = std::fs::File::create(stderr_to).unwrap();
    Command::new(env!("CARGO_BIN_EXE_credwatch"))
        .arg("tail")
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn credwatch tail")
}

fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on our own child's pid; no memory is shared.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// Sends SIGTERM and waits (at most 20 s) for a clean exit.
fn terminate(mut child: Child) {
    signal(&child, libc::SIGTERM);
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "tail exited with {status}");
            return;
        }
        assert!(Instant::now() < end, "tail did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill9(mut child: Child) {
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
}

fn lines_of(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn append(path: &Path, data: &[u8]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(data).unwrap();
}

/// `(id, severity)` pairs of every alert the receiver answered 2xx, in delivery order.
fn delivered(rx: &Receiver) -> Vec<(String, String)> {
    rx.requests()
        .iter()
        .filter(|r| r.reply.is_success())
        .flat_map(|r| {
            r.json()
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(pair)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The line boundary nearest to the middle of `data`.
fn halves(data: &[u8]) -> (&[u8], &[u8]) {
    let mid = data.len() / 2;
    let cut = data[mid..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(data.len(), |i| mid + i + 1);
    data.split_at(cut)
}

#[test]
fn tail_and_scan_give_the_same_alerts() {
    let dir = Scratch::new("tail-same");
    let log = dir.write("auth.jsonl", &app_log());
    let want = scan_alerts(&log);
    assert!(want.len() >= 20, "{want:?}");
    let out = dir.path().join("alerts.jsonl");
    let child = spawn_tail(
        &[
            "--from-start",
            "--asn-db",
            ASN_DB,
            "-o",
            out.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        &dir.path().join("stderr.txt"),
    );
    wait_for("tail's alerts", Duration::from_secs(60), || {
        lines_of(&out).len() >= want.len()
    });
    terminate(child);
    let got: Vec<_> = lines_of(&out).iter().map(pair).collect();
    assert_eq!(got, want);
    let err = std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap();
    assert!(err.contains("6,743 lines"), "{err}");
}

/// A receiver outage, a `kill -9` in the middle of the log and a logrotate while credwatch is
/// down: after the restart nothing is read twice, nothing is skipped, and every alert of a scan
/// of the whole log is delivered exactly once.
#[test]
fn kill_9_and_a_receiver_outage_lose_nothing_and_send_nothing_twice() {
    let dir = Scratch::new("tail-kill9");
    let data = app_log();
    let (first, second) = halves(&data);
    let log = dir.path().join("auth.jsonl");
    append(&log, b"");
    let whole = dir.write("whole.jsonl", &data);
    let want: BTreeSet<_> = scan_alerts(&whole).into_iter().collect();

    // The receiver is down (503) while the first half is written.
    let rx = Receiver::start([]);
    rx.set_default(Reply::Status(503));
    let state = dir.path().join("state");
    let out = dir.path().join("alerts.jsonl");
    let args = [
        "--asn-db",
        ASN_DB,
        "--state-dir",
        state.to_str().unwrap(),
        "--checkpoint-interval",
        "0.2",
        "--webhook",
        &rx.url(),
        "-o",
        out.to_str().unwrap(),
        log.to_str().unwrap(),
    ];
    let child = spawn_tail(&args, &dir.path().join("stderr1.txt"));
    std::thread::sleep(Duration::from_millis(500));
    append(&log, first);
    // Wait until the first half is through detection and checkpointed (the alerts are in the
    // JSON-lines output and the spool), with the receiver still refusing.
    wait_for("the first half's alerts", Duration::from_secs(60), || {
        !lines_of(&out).is_empty()
    });
    std::thread::sleep(Duration::from_millis(1_500));
    let before_kill = lines_of(&out).len();
    assert!(delivered(&rx).is_empty());
    kill9(child);

    // While credwatch is down, logrotate rotates the log (`create`) and the writer goes on in
    // the new file; then the receiver recovers and credwatch restarts. It must finish nothing of
    // the rotated file twice and read the new one from its start.
    let (third, fourth) = halves(second);
    append(&log, third);
    // Without logrotate (outside CI) the restart is still worth testing, without a rotation;
    // `logrotate_create_while_nginx_writes_loses_no_alert` shows as ignored then.
    if cfg!(has_logrotate) {
        rotate(&logrotate_bin(), &dir, &log);
        assert!(dir.path().join("auth.jsonl.1").exists());
    }
    append(&log, fourth);
    rx.set_default(Reply::Status(200));
    let child = spawn_tail(&args, &dir.path().join("stderr2.txt"));
    // (On a timeout the assertions below show what is missing.)
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end && delivered(&rx).iter().cloned().collect::<BTreeSet<_>>() != want {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1_500));
    terminate(child);

    let got = delivered(&rx);
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(unique, want, "the alerts of a scan of the whole log");
    assert_eq!(
        got.len(),
        unique.len(),
        "an alert was delivered twice: {got:?}"
    );
    assert!(before_kill > 0 && before_kill < want.len(), "{before_kill}");
    let err = std::fs::read_to_string(dir.path().join("stderr2.txt")).unwrap();
    assert!(err.contains("1 files resumed"), "{err}");
}

/// An nginx access log that the real logrotate rotates twice (`create`, Debian's default) while
/// the writer appends and reopens: tail delivers to a real webhook receiver the same alerts as a
/// scan of the whole log.
#[test]
#[cfg_attr(
    not(has_logrotate),
    ignore = "needs logrotate (apt-get install logrotate, or CREDWATCH_LOGROTATE=/path)"
)]
fn logrotate_create_while_nginx_writes_loses_no_alert() {
    let logrotate = logrotate_bin();
    let logrotate = logrotate.as_path();
    let dir = Scratch::new("tail-logrotate");
    let data = std::fs::read(root().join("sample-logs/web1/access.log")).unwrap();
    let whole = dir.write("whole.log", &data);
    let want = scan_alerts(&whole);
    assert!(want.len() >= 5, "{want:?}");
    let logdir = dir.path().join("log");
    std::fs::create_dir_all(&logdir).unwrap();
    let log = logdir.join("access.log");
    append(&log, b"");
    let rx = Receiver::start([]);
    let child = spawn_tail(
        &[
            "--asn-db",
            ASN_DB,
            "--webhook",
            &rx.url(),
            "-o",
            dir.path().join("alerts.jsonl").to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        &dir.path().join("stderr.txt"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let chunks: Vec<&[u8]> = split_lines(&data, 3);
    for (i, chunk) in chunks.iter().enumerate() {
        // The writer reopens its log after each rotation, as nginx does on USR1.
        append(&log, chunk);
        std::thread::sleep(Duration::from_millis(300));
        if i + 1 < chunks.len() {
            rotate(logrotate, &dir, &log);
        }
    }
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end && delivered(&rx).len() < want.len() {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    terminate(child);
    assert_eq!(delivered(&rx), want);
    assert!(logdir.join("access.log.2").exists());
}

/// The logrotate `build.rs` found. The tests that need it are ignored when it found none,
/// except in CI (`CI` set), where they run and fail here.
fn logrotate_bin() -> std::path::PathBuf {
    let bin = env!("CREDWATCH_LOGROTATE_BIN");
    assert!(
        !bin.is_empty(),
        "CI is set and logrotate was not found: apt-get install logrotate, or set \
         CREDWATCH_LOGROTATE=/path/to/logrotate (then rebuild)"
    );
    std::path::PathBuf::from(bin)
}

/// Rotates `log` once with the real logrotate, Debian's default `create` mode.
fn rotate(logrotate: &Path, dir: &Scratch, log: &Path) {
    let conf = dir.write(
        "logrotate.conf",
        format!(
            "{} {{\n  rotate 5\n  create\n  missingok\n  nocompress\n}}\n",
            log.display()
        )
        .as_bytes(),
    );
    let st = Command::new(logrotate)
        .arg("-f")
        .arg("-s")
        .arg(dir.path().join("logrotate.state"))
        .arg(&conf)
        .status()
        .unwrap();
    assert!(st.success(), "logrotate failed");
}

/// `data` cut into `n` pieces at line boundaries.
fn split_lines(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for k in 1..=n {
        let target = data.len() * k / n;
        let end = if k == n {
            data.len()
        } else {
            data[target..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(data.len(), |i| target + i + 1)
        };
        out.push(&data[start..end]);
        start = end;
    }
    out
}

#[test]
fn metrics_are_served_while_tailing() {
    let dir = Scratch::new("tail-metrics");
    let log = dir.write("auth.jsonl", &app_log());
    let port = Receiver::free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = spawn_tail(
        &[
            "--from-start",
            "--metrics",
            &addr,
            "-o",
            dir.path().join("alerts.jsonl").to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        &dir.path().join("stderr.txt"),
    );
    let mut body = String::new();
    wait_for("metrics", Duration::from_secs(30), || {
        body = get(&addr, "/metrics").unwrap_or_default();
        body.contains("credwatch_lines_read_total 6743\n")
    });
    terminate(child);
    assert!(body.contains("credwatch_events_total "), "{body}");
    assert!(
        body.contains("credwatch_alerts_total{rule=\"stuffing.ip\"} "),
        "{body}"
    );
    assert!(body.contains("credwatch_lag_seconds "), "{body}");
}

fn get(addr: &str, path: &str) -> Option<String> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// A forensic scan can post its alerts too: signed, every alert delivered before it exits.
#[test]
fn scan_posts_signed_alerts_to_a_webhook() {
    use hmac::{Hmac, KeyInit, Mac};
    let rx = Receiver::start([]);
    let log = root().join("sample-logs/app/auth.jsonl");
    let want = scan_alerts(&log);
    let out = Command::new(env!("CARGO_BIN_EXE_credwatch"))
        .args(["scan", "-q", "--asn-db", ASN_DB, "--webhook", &rx.url()])
        .arg(&log)
        .current_dir(root())
        .env("CREDWATCH_WEBHOOK_SECRET", "s3cret")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(delivered(&rx), want);
    for r in rx.requests() {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(&r.body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            r.header("X-Credwatch-Signature"),
            Some(format!("sha256={hex}").as_str())
        );
        assert_eq!(r.header("Content-Type"), Some("application/json"));
    }
}

/// `scan` and `tail` share one line path: the same over-long line is rejected by both with the
/// same reason and length under the default `[input] max_line_bytes`, and decoded by both when
/// the config raises the limit (before, `tail` kept its own 1 MiB limit and decoded a line that
/// `scan` rejected).
#[test]
fn scan_and_tail_treat_an_over_long_line_alike() {
    let dir = Scratch::new("tail-long-line");
    let mut data = app_log();
    // A login whose user agent (attacker-controlled) makes the line 70,000 bytes long.
    let head = r#"{"ts":"2026-11-18T18:00:00Z","event":"login","outcome":"failure","user":"long@example.jp","ip":"203.0.113.9","user_agent":""#;
    let agent = "A".repeat(70_000 - head.len() - 2);
    let long = format!("{head}{agent}\"}}\n");
    assert_eq!(long.len(), 70_001);
    // After the first lines: a first line this long hides the format today (issue #14).
    let at = data
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(49)
        .map_or(0, |(i, _)| i + 1);
    data.splice(at..at, long.bytes());
    let log = dir.write("auth.jsonl", &data);
    let raised = dir.write("raised.toml", b"[input]\nmax_line_bytes = 1048576\n");
    for (config, want_rejected) in [(None, true), (Some(&raised), false)] {
        let mut common: Vec<&str> = vec!["--asn-db", ASN_DB];
        if let Some(c) = config {
            common.extend(["--config", c.to_str().unwrap()]);
        }
        let mut args = vec!["scan"];
        args.extend(&common);
        args.push(log.to_str().unwrap());
        let out = run(&args, None);
        assert_eq!(out.status.code(), Some(0), "{}", crate::util::stderr(&out));
        let scan_err = crate::util::stderr(&out);
        let scan_alerts: Vec<_> = crate::util::json_lines(&out).iter().map(pair).collect();

        let alerts = dir.path().join("tail-alerts.jsonl");
        let _ = std::fs::remove_file(&alerts);
        let mut tail_args = vec!["--from-start", "-o", alerts.to_str().unwrap()];
        tail_args.extend(&common);
        tail_args.push(log.to_str().unwrap());
        let err_path = dir.path().join("tail-stderr.txt");
        let child = spawn_tail(&tail_args, &err_path);
        wait_for("tail's alerts", Duration::from_secs(60), || {
            lines_of(&alerts).len() >= scan_alerts.len()
        });
        // Let the reader reach the end of the file before stopping.
        std::thread::sleep(Duration::from_millis(1_000));
        terminate(child);
        let tail_err = std::fs::read_to_string(&err_path).unwrap();
        let tail_alerts: Vec<_> = lines_of(&alerts).iter().map(pair).collect();
        assert_eq!(tail_alerts, scan_alerts);
        // The sample log's own 102,568-byte line is over the default limit too.
        for (who, err) in [("scan", &scan_err), ("tail", &tail_err)] {
            if want_rejected {
                assert!(
                    err.contains("line_too_long                       2"),
                    "{who}: {err}"
                );
                assert!(
                    err.contains("auth.jsonl:51 (70000 bytes, limit 65536)"),
                    "{who}: {err}"
                );
            } else {
                assert!(!err.contains("line_too_long"), "{who}: {err}");
            }
        }
    }
}
