//! The forensic report as a person sees it: rendered by headless Chromium.
//!
//! The report of `sample-logs/` (written by `credwatch scan --report`) is loaded
//! with `--dump-dom`; the test fails on any console message (the page has no scripts, and its
//! Content-Security-Policy turns any injected script or image into a logged violation), on a
//! hang (an `alert()` dialog blocks `--dump-dom`), and unless the timeline and the
//! compromised-accounts table name every account planted in `sample-logs/expected.toml`
//! under `[rules."compromise.login"]`. A screenshot is saved as `target/report.png`.
//! A second page, from a crafted log full of markup and invalid UTF-8, must load as cleanly.
//!
//! Ignored (`needs chromium`) when `build.rs` finds no Chromium, except in CI, where a missing
//! Chromium fails them; `.ci/run` installs Debian's.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Chromium `build.rs` found. The tests that call this are ignored when it found none,
/// except in CI (`CI` set), where they run and fail here.
fn chromium_bin() -> PathBuf {
    let bin = env!("CREDWATCH_CHROMIUM_BIN");
    assert!(
        !bin.is_empty(),
        "CI is set and no Chromium was found: apt-get install chromium, or set \
         CREDWATCH_CHROMIUM=/path/to/chromium (then rebuild)"
    );
    PathBuf::from(bin)
}

/// Runs `credwatch scan --report PAGE --csv-dir DIR` (the real binary) on `paths` and returns
/// the page.
fn render(paths: Vec<PathBuf>, asn_db: Option<PathBuf>, html: &Path) -> String {
    let csv_dir = html.with_extension("csv.d");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_credwatch"));
    cmd.arg("scan")
        .arg("-q")
        .arg("--report")
        .arg(html)
        .arg("--csv-dir")
        .arg(&csv_dir)
        .current_dir(root())
        .stdout(Stdio::null());
    if let Some(db) = asn_db {
        cmd.arg("--asn-db").arg(db);
    }
    let out = cmd.args(&paths).output().expect("run credwatch scan");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "alerts.csv",
        "compromised_accounts.csv",
        "attack_sources.csv",
        "orders.csv",
    ] {
        let text = std::fs::read_to_string(csv_dir.join(name)).expect(name);
        assert!(text.lines().count() >= 1, "{name} has no header");
    }
    std::fs::read_to_string(html).expect("report written")
}

struct Run {
    dom: String,
    console: Vec<String>,
}

/// Runs Chromium headless on a file with `extra` flags; fails on a hang (a dialog).
fn chromium(bin: &Path, page: &Path, extra: &[String], tag: &str) -> Run {
    let target = root().join("target");
    let profile = tempfile::tempdir().expect("profile dir");
    let out_path = target.join(format!("chromium-{tag}.out"));
    let err_path = target.join(format!("chromium-{tag}.err"));
    let url = format!(
        "file://{}",
        page.canonicalize().expect("page path").display()
    );
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match child.try_wait().expect("wait for chromium") {
            Some(status) => {
                assert!(
                    status.success(),
                    "chromium failed: {status}; see {err_path:?}"
                );
                break;
            }
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish: a dialog (alert) or a hang; see {err_path:?}");
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let dom = std::fs::read_to_string(&out_path).unwrap_or_default();
    let console = std::fs::read_to_string(&err_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Run { dom, console }
}

/// The text between `start` (first occurrence) and the next `end` after it.
fn section<'a>(dom: &'a str, start: &str, end: &str) -> &'a str {
    let i = dom
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in the page"));
    let rest = &dom[i..];
    let j = rest
        .find(end)
        .unwrap_or_else(|| panic!("{end} after {start}"));
    &rest[..j]
}

fn planted_compromises() -> Vec<String> {
    let text =
        std::fs::read_to_string(root().join("sample-logs/expected.toml")).expect("expected.toml");
    let v: toml::Value = toml::from_str(&text).expect("expected.toml parses");
    let list = v
        .get("rules")
        .and_then(|r| r.get("compromise.login"))
        .and_then(|r| r.get("entities"))
        .and_then(|e| e.as_array())
        .expect("rules.\"compromise.login\".entities");
    list.iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

#[test]
#[cfg_attr(
    not(has_chromium),
    ignore = "needs chromium (apt-get install chromium, or CREDWATCH_CHROMIUM=/path)"
)]
fn sample_report_renders_in_chromium_with_the_planted_compromises() {
    let bin = chromium_bin();
    let target = root().join("target");
    std::fs::create_dir_all(&target).unwrap();
    let page = target.join("report.html");
    let html = render(
        vec![root().join("sample-logs")],
        Some(root().join("sample-logs/asn/asn-extract.csv")),
        &page,
    );
    assert!(!html.contains("<script"), "the page has no scripts");

    let run = chromium(&bin, &page, &["--dump-dom".to_string()], "sample");
    assert!(
        run.console.is_empty(),
        "console messages: {:#?}",
        run.console
    );
    let planted = planted_compromises();
    assert_eq!(planted.len(), 7, "{planted:?}");
    let timeline = section(&run.dom, "<svg id=\"timeline-svg\"", "</svg>");
    let table = section(&run.dom, "<table id=\"compromised\"", "</table>");
    for account in &planted {
        assert!(
            timeline.contains(&format!("compromise.login {account} at ")),
            "timeline has no marker for {account}"
        );
        assert!(
            table.contains(&format!("<span class=\"acc\">{account}</span>")),
            "compromised-accounts table lacks {account}"
        );
    }
    // The stuffing.global swarm is shaded, the takeover marked.
    assert!(timeline.contains("class=\"burst\""), "no shaded burst");
    assert!(timeline.contains("takeover.sequence matsuda.mai4@example.net at "));
    assert!(run.dom.contains("What happened"));

    let shot = target.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let run = chromium(
        &bin,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400".to_string(),
        ],
        "screenshot",
    );
    assert!(run.console.is_empty(), "{:#?}", run.console);
    let len = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(len > 10_000, "screenshot {shot:?} has {len} bytes");
}

/// A stuffing run with hostile account names, user agents and invalid UTF-8, then a success.
fn crafted_access_log() -> Vec<u8> {
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
            _ => format!("u{i}\"><img%20src=x%20onerror=alert(1)>").into_bytes(),
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
#[cfg_attr(
    not(has_chromium),
    ignore = "needs chromium (apt-get install chromium, or CREDWATCH_CHROMIUM=/path)"
)]
fn hostile_report_loads_without_console_errors_or_dialogs() {
    let bin = chromium_bin();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, crafted_access_log()).unwrap();
    let page = root().join("target/report-hostile.html");
    let html = render(vec![log], None, &page);
    assert!(html.contains("203.0.113.66"));
    let run = chromium(&bin, &page, &["--dump-dom".to_string()], "hostile");
    assert!(
        run.console.is_empty(),
        "console messages: {:#?}",
        run.console
    );
    let dom = run.dom.to_ascii_lowercase();
    assert!(
        dom.contains("<h1>credwatch forensic report</h1>"),
        "page did not load"
    );
    assert!(!dom.contains("<script"), "a script element reached the DOM");
    assert!(!dom.contains("<img"), "an img element reached the DOM");
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}
