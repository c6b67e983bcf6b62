//! The follower against the real `logrotate` (Debian package `logrotate`), with a writer
//! appending numbered lines at a steady rate while logrotate rotates the file under it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::*;

const LOGROTATE: &str = "/usr/sbin/logrotate";

/// Lines the writer appends, one about every millisecond.
const LINES: u32 = 2500;
/// logrotate runs during the writing.
const ROTATIONS: usize = 4;

fn logrotate_available() -> bool {
    if Path::new(LOGROTATE).exists() {
        return true;
    }
    eprintln!("SKIPPED: {LOGROTATE} is missing (apt-get install logrotate); CI installs it");
    false
}

fn line(i: u32) -> String {
    format!(
        "line {i:06} 198.51.100.{} - - [24/Nov/2026:23:20:01 +0000] \"POST /login HTTP/1.1\" 401 53\n",
        i % 250
    )
}

fn parse_number(bytes: &[u8]) -> u32 {
    let text = std::str::from_utf8(bytes).unwrap();
    text.get(5..11)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line {text:?}"))
}

fn run_logrotate(dir: &Path, conf: &Path) {
    let out = Command::new(LOGROTATE)
        .arg("-s")
        .arg(dir.join("logrotate.state"))
        .arg("-f")
        .arg(conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "logrotate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the writer, logrotate and the follower together; returns the numbers handed out in
/// order and the directory (for the rotated copies).
fn run(method: &str, use_notify: bool) -> (Vec<u32>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, "").unwrap();
    let conf = dir.path().join("logrotate.conf");
    std::fs::write(
        &conf,
        format!(
            "\"{}\" {{\n    rotate 5\n    missingok\n    nocompress\n    {method}\n}}\n",
            log.display()
        ),
    )
    .unwrap();

    let cfg = FollowConfig {
        paths: vec![log.clone()],
        use_notify,
        poll_interval: Span(if use_notify { 250 } else { 50 }),
        rotate_grace: Span(500),
        ..FollowConfig::default()
    };
    let mut follower = Follower::new(cfg, &[]).unwrap();

    // The writer holds its descriptor (O_APPEND, as web servers do) and reopens the path only
    // when told to, like nginx after `postrotate kill -USR1`: for `create`, lines keep landing
    // in the renamed file until then.
    let reopen = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, reopen, done) = (log.clone(), reopen.clone(), done.clone());
        std::thread::spawn(move || {
            let open = || OpenOptions::new().append(true).create(true).open(&log);
            let mut w = open().unwrap();
            for i in 1..=LINES {
                if reopen.swap(false, Ordering::SeqCst) {
                    w = open().unwrap();
                }
                w.write_all(line(i).as_bytes()).unwrap();
                std::thread::sleep(Duration::from_micros(1000));
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let rotator = {
        let (dir, conf, reopen) = (dir.path().to_path_buf(), conf.clone(), reopen.clone());
        std::thread::spawn(move || {
            for _ in 0..ROTATIONS {
                std::thread::sleep(Duration::from_millis(450));
                run_logrotate(&dir, &conf);
                // The signalled writer reopens a little later.
                std::thread::sleep(Duration::from_millis(20));
                reopen.store(true, Ordering::SeqCst);
            }
        })
    };

    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut quiet_since: Option<Instant> = None;
    while Instant::now() < deadline {
        let mut out = Vec::new();
        follower
            .poll(&mut out, 512, Duration::from_millis(100))
            .unwrap();
        got.extend(out.iter().map(|l| parse_number(&l.bytes)));
        if done.load(Ordering::SeqCst) && out.is_empty() {
            // Writer finished: wait out the grace period so late lines are in.
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_millis(700) {
                break;
            }
        } else {
            quiet_since = None;
        }
    }
    writer.join().unwrap();
    rotator.join().unwrap();
    let rotations: u64 = follower.files().iter().map(|f| f.rotations).sum();
    let truncations: u64 = follower.files().iter().map(|f| f.truncations).sum();
    eprintln!(
        "logrotate {method} (notify {use_notify}): {} lines handed out, {} files, \
         {rotations} rotations, {truncations} truncations seen",
        got.len(),
        follower.files().len()
    );
    if method == "create" {
        assert_eq!(rotations as usize, ROTATIONS);
    } else {
        assert_eq!(truncations as usize, ROTATIONS);
    }
    (got, dir)
}

#[test]
fn logrotate_create_every_line_exactly_once_in_order() {
    if !logrotate_available() {
        return;
    }
    for use_notify in [true, false] {
        let (got, _dir) = run("create", use_notify);
        let want: Vec<u32> = (1..=LINES).collect();
        if got != want {
            let missing: Vec<u32> = want.iter().copied().filter(|n| !got.contains(n)).collect();
            panic!(
                "notify {use_notify}: {} lines, missing {missing:?}, first disorder at {:?}",
                got.len(),
                got.windows(2).position(|w| w[1] != w[0] + 1)
            );
        }
    }
}

/// copytruncate has an inherent race: lines written after logrotate's copy and before its
/// truncate exist only in the copy, and lines written before the copy that the follower had
/// not read yet when the truncate came are lost to it as well. `tail -F` loses them too, and
/// so does this follower: it does not go looking in the rotated copies. (Lines written after
/// the copy finished and before the truncate are in no file at all.) The follower reads
/// promptly, so usually few or none are lost. What the test asserts: no line is handed out
/// twice, the order is kept, and every run of missed lines sits at a copy/truncate point
/// (lost to the race, not to a bug); without a loss, that is exactly once.
#[test]
fn logrotate_copytruncate_never_duplicates_and_loses_only_the_race_window() {
    if !logrotate_available() {
        return;
    }
    let (got, dir) = run("copytruncate", true);
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "duplicated or out of order"
    );
    let missed: Vec<u32> = (1..=LINES)
        .filter(|n| got.binary_search(n).is_err())
        .collect();
    eprintln!(
        "logrotate copytruncate: {} lines lost to the copy/truncate race: {missed:?}",
        missed.len()
    );
    // The first line of each file's content: a truncate point is where the next copy (or the
    // live file) starts.
    let starts: Vec<u32> = [
        "access.log.1",
        "access.log.2",
        "access.log.3",
        "access.log.4",
        "access.log",
    ]
    .iter()
    .filter_map(|name| std::fs::read(dir.path().join(name)).ok())
    .filter_map(|content| {
        content
            .split(|&b| b == b'\n')
            .find(|l| !l.is_empty())
            .map(parse_number)
    })
    .collect();
    eprintln!("content after each truncate starts at lines {starts:?}");
    // Every run of missed lines must end right before a truncate point: lines written before
    // the truncate that we had not read yet (in the copy's tail, or written after the copy and
    // so in no file at all). A gap anywhere else would be a follower bug.
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &n in &missed {
        match runs.last_mut() {
            Some((_, b)) if *b + 1 == n => *b = n,
            _ => runs.push((n, n)),
        }
    }
    for (a, b) in &runs {
        assert!(
            starts.contains(&(b + 1)),
            "lines {a}..={b} missed away from any truncate point {starts:?}"
        );
    }
    assert!(runs.len() <= ROTATIONS);
    assert!(
        missed.len() < 50,
        "{} lines lost: the follower is not reading promptly",
        missed.len()
    );
}
