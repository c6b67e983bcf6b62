use std::fs::OpenOptions;
use std::io::Write;
use std::time::{Duration, Instant};

use super::*;

const LINE_A: &str = "203.0.113.7 - - [24/Nov/2026:23:20:01 +0000] \"POST /login HTTP/1.1\" 401 53";
const LINE_B: &str = "2001:db8::1 - - [24/Nov/2026:23:20:02 +0000] \"POST /login HTTP/1.1\" 302 0";

fn cfg(paths: &[&Path], notify: bool) -> FollowConfig {
    FollowConfig {
        paths: paths.iter().map(|p| p.to_path_buf()).collect(),
        use_notify: notify,
        poll_interval: Span(20),
        rotate_grace: Span(300),
        ..FollowConfig::default()
    }
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Polls until `n` lines arrived or `timeout` passed.
fn collect(f: &mut Follower, n: usize, timeout: Duration) -> Vec<FollowedLine> {
    let deadline = Instant::now() + timeout;
    let mut all = Vec::new();
    while all.len() < n && Instant::now() < deadline {
        let mut out = Vec::new();
        f.poll(&mut out, 1000, Duration::from_millis(50)).unwrap();
        all.extend(out);
    }
    all
}

/// Polls for `d` and returns whatever arrived.
fn drain(f: &mut Follower, d: Duration) -> Vec<FollowedLine> {
    collect(f, usize::MAX, d)
}

fn texts(lines: &[FollowedLine]) -> Vec<String> {
    lines
        .iter()
        .map(|l| String::from_utf8_lossy(&l.bytes).into_owned())
        .collect()
}

const T: Duration = Duration::from_secs(3);

#[test]
fn defaults_are_the_documented_ones() {
    let d = FollowConfig::default();
    assert!(d.paths.is_empty());
    assert!(!d.from_start);
    assert!(d.use_notify);
    assert_eq!(d.poll_interval, Span(250));
    assert_eq!(d.rotate_grace, Span(2000));
    assert_eq!(d.max_line_bytes, 1 << 20);
    let parsed: FollowConfig = toml::from_str(
        "paths = [\"/var/log/nginx/*.log\", \"-\"]\nfrom_start = true\nuse_notify = false\n\
         poll_interval = \"100ms\"\nrotate_grace = \"5s\"\n",
    )
    .unwrap();
    assert_eq!(parsed.paths.len(), 2);
    assert_eq!(parsed.poll_interval, Span(100));
    assert_eq!(parsed.rotate_grace, Span(5000));
    assert!(toml::from_str::<FollowConfig>("poll = 1").is_err());
    // One line limit for every command: `[input] max_line_bytes`, not a key of `[tail]`.
    assert!(toml::from_str::<FollowConfig>("max_line_bytes = 4096").is_err());
}

#[test]
fn the_follower_can_run_on_its_own_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Follower>();
    assert_send::<FollowedLine>();
}

#[test]
fn fingerprint_is_fixed_fnv1a() {
    // Published FNV-1a 64 test vectors: the value must never change between builds.
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
}

#[test]
fn starts_at_the_end_and_hands_out_appended_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("access.log");
    append(&p, &format!("{LINE_A}\n"));
    let mut f = Follower::new(cfg(&[&p], true), &[]).unwrap();
    assert!(drain(&mut f, Duration::from_millis(100)).is_empty());
    append(&p, &format!("{LINE_B}\n{LINE_A}\r\n"));
    let lines = collect(&mut f, 2, T);
    assert_eq!(texts(&lines), vec![LINE_B, LINE_A]);
    let start = LINE_A.len() as u64 + 1;
    assert_eq!(lines[0].end_offset, start + LINE_B.len() as u64 + 1);
    assert_eq!(
        lines[1].end_offset,
        lines[0].end_offset + LINE_A.len() as u64 + 2
    );
    assert_eq!(lines[0].file, 0);
    let file = &f.files()[0];
    assert_eq!(file.path, p);
    assert_eq!(file.lines, 2);
    assert_eq!(file.offset, lines[1].end_offset);
    assert_eq!(file.bytes_read, lines[1].end_offset - start);
    assert!(file.open && file.current && !file.stdin);
    let meta = std::fs::metadata(&p).unwrap();
    assert_eq!(file.identity.ino, meta.ino());
    assert_eq!(file.identity.dev, meta.dev());
}

#[test]
fn from_start_reads_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("access.log");
    append(&p, &format!("{LINE_A}\n{LINE_B}\n"));
    let mut c = cfg(&[&p], true);
    c.from_start = true;
    let mut f = Follower::new(c, &[]).unwrap();
    assert_eq!(texts(&collect(&mut f, 2, T)), vec![LINE_A, LINE_B]);
}

#[test]
fn a_partial_line_waits_for_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("auth.log");
    append(&p, "");
    let mut f = Follower::new(cfg(&[&p], true), &[]).unwrap();
    append(&p, "Nov 24 23:20:01 host sshd[42]: Failed password for ");
    assert!(drain(&mut f, Duration::from_millis(150)).is_empty());
    append(
        &p,
        "root from 198.51.100.9 port 22 ssh2\nNov 24 23:20:02 host",
    );
    let lines = collect(&mut f, 1, T);
    assert_eq!(
        texts(&lines),
        vec![
            "Nov 24 23:20:01 host sshd[42]: Failed password for root from 198.51.100.9 port 22 ssh2"
        ]
    );
    assert!(drain(&mut f, Duration::from_millis(100)).is_empty());
    append(&p, " sshd[43]: Accepted\n");
    assert_eq!(
        texts(&collect(&mut f, 1, T)),
        vec!["Nov 24 23:20:02 host sshd[43]: Accepted"]
    );
}

#[test]
fn long_lines_are_cut_and_flagged_and_bytes_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("app.log");
    append(&p, "");
    let mut c = cfg(&[&p], false);
    c.max_line_bytes = 16;
    let mut f = Follower::new(c, &[]).unwrap();
    let mut data = vec![b'x'; 100_000];
    data.push(b'\n');
    data.extend_from_slice(b"\xff\xfe\x00bin\r\n");
    data.extend_from_slice(&[b'y'; 40]);
    OpenOptions::new()
        .append(true)
        .open(&p)
        .unwrap()
        .write_all(&data)
        .unwrap();
    let lines = collect(&mut f, 2, T);
    assert_eq!(lines.len(), 2);
    assert!(lines[0].too_long);
    assert_eq!(lines[0].bytes, vec![b'x'; 16]);
    assert_eq!(lines[0].end_offset, 100_001);
    assert!(!lines[1].too_long);
    assert_eq!(lines[1].bytes, b"\xff\xfe\x00bin");
    // The unterminated 40-byte tail is held (cut to 16) until its newline arrives.
    append(&p, "yy\n");
    let lines = collect(&mut f, 1, T);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].too_long);
    assert_eq!(lines[0].bytes, vec![b'y'; 16]);
    assert_eq!(f.files()[0].too_long_lines, 2);
    assert_eq!(f.files()[0].offset, data.len() as u64 + 3);
}

#[test]
fn max_lines_is_respected_and_order_kept() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.log");
    let text: String = (0..10).map(|i| format!("line {i}\n")).collect();
    append(&p, &text);
    let mut c = cfg(&[&p], true);
    c.from_start = true;
    let mut f = Follower::new(c, &[]).unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        let mut out = Vec::new();
        f.poll(&mut out, 3, Duration::from_millis(200)).unwrap();
        assert!(out.len() <= 3);
        got.extend(out);
    }
    let want: Vec<String> = (0..10).map(|i| format!("line {i}")).collect();
    assert_eq!(texts(&got), want);
}

#[test]
fn poll_times_out_empty() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.log");
    append(&p, "x\n");
    let mut f = Follower::new(cfg(&[&p], true), &[]).unwrap();
    let t = Instant::now();
    let mut out = Vec::new();
    f.poll(&mut out, 10, Duration::from_millis(120)).unwrap();
    assert!(out.is_empty());
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(120), "{took:?}");
    assert!(took < Duration::from_millis(600), "{took:?}");
}

#[test]
fn globs_pick_up_files_that_appear_later() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    append(&a, "old a\n");
    let pattern = dir.path().join("*.log");
    let mut f = Follower::new(cfg(&[&pattern], true), &[]).unwrap();
    append(&a, "new a\n");
    assert_eq!(texts(&collect(&mut f, 1, T)), vec!["new a"]);
    // A file created later is new: read from its first line.
    let b = dir.path().join("b.log");
    append(&b, "first b\nsecond b\n");
    append(&dir.path().join("c.txt"), "not matched\n");
    let lines = collect(&mut f, 2, T);
    assert_eq!(texts(&lines), vec!["first b", "second b"]);
    assert_eq!(f.files()[lines[0].file].path, b);
    assert!(drain(&mut f, Duration::from_millis(100)).is_empty());
    assert_eq!(f.files().len(), 2);
}

#[test]
fn glob_matching_rotations_reads_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "");
    let pattern = dir.path().join("app.log*");
    let mut f = Follower::new(cfg(&[&pattern], true), &[]).unwrap();
    append(&log, "1\n2\n");
    assert_eq!(texts(&collect(&mut f, 2, T)), vec!["1", "2"]);
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, "3\n");
    let got = drain(&mut f, Duration::from_millis(600));
    assert_eq!(texts(&got), vec!["3"]);
}

#[test]
fn rename_and_create_rotation_finishes_the_old_file_first() {
    for notify in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("access.log");
        append(&p, "");
        let mut f = Follower::new(cfg(&[&p], notify), &[]).unwrap();
        // A writer holding its descriptor, as nginx does until it is told to reopen.
        let mut writer = OpenOptions::new().append(true).open(&p).unwrap();
        writer.write_all(b"1\n2\n").unwrap();
        assert_eq!(texts(&collect(&mut f, 2, T)), vec!["1", "2"]);
        std::fs::rename(&p, dir.path().join("access.log.1")).unwrap();
        writer.write_all(b"3\n4 unterminated").unwrap();
        append(&p, "5\n");
        let lines = collect(&mut f, 2, T);
        assert_eq!(texts(&lines), vec!["3", "5"], "notify {notify}");
        assert_eq!(lines[0].file, 0);
        assert_eq!(lines[1].file, 1);
        assert_eq!(lines[1].end_offset, 2);
        std::thread::sleep(Duration::from_millis(50));
        let files = f.files();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].rotations, 1);
        assert!(!files[0].current);
        assert!(files[0].open, "still read during the grace period");
        assert_eq!(files[1].path, p);
        assert!(files[1].current);
        // The writer may still finish its line during the grace period; after it, the old
        // file is finished and its unterminated last line is handed out as it is.
        let lines = drain(&mut f, Duration::from_millis(500));
        assert_eq!(texts(&lines), vec!["4 unterminated"]);
        assert_eq!(lines[0].file, 0);
        assert_eq!(lines[0].end_offset, 20);
        assert!(!f.files()[0].open);
        assert!(f.files()[1].open);
    }
}

#[test]
fn late_writes_to_the_renamed_file_are_read_within_grace() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("access.log");
    append(&p, "");
    let mut f = Follower::new(cfg(&[&p], true), &[]).unwrap();
    let mut writer = OpenOptions::new().append(true).open(&p).unwrap();
    std::fs::rename(&p, dir.path().join("access.log.1")).unwrap();
    append(&p, "new 1\n");
    assert_eq!(texts(&collect(&mut f, 1, T)), vec!["new 1"]);
    writer.write_all(b"late old\n").unwrap();
    assert_eq!(texts(&collect(&mut f, 1, T)), vec!["late old"]);
}

#[test]
fn copytruncate_restarts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("access.log");
    append(&p, "");
    let mut f = Follower::new(cfg(&[&p], true), &[]).unwrap();
    let mut writer = OpenOptions::new().append(true).open(&p).unwrap();
    writer
        .write_all(format!("{LINE_A}\n{LINE_B}\n").as_bytes())
        .unwrap();
    assert_eq!(collect(&mut f, 2, T).len(), 2);
    std::fs::copy(&p, dir.path().join("access.log.1")).unwrap();
    writer.set_len(0).unwrap();
    writer.write_all(b"after truncate\n").unwrap();
    let lines = collect(&mut f, 1, T);
    assert_eq!(texts(&lines), vec!["after truncate"]);
    assert_eq!(lines[0].end_offset, 15);
    assert_eq!(f.files()[0].truncations, 1);
    assert_eq!(f.files().len(), 1);
}

#[test]
fn truncation_followed_by_growth_past_our_offset_is_caught_by_the_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("access.log");
    append(&p, "");
    let mut f = Follower::new(cfg(&[&p], false), &[]).unwrap();
    let mut writer = OpenOptions::new().append(true).open(&p).unwrap();
    writer.write_all(b"first 1\nfirst 2\n").unwrap();
    assert_eq!(collect(&mut f, 2, T).len(), 2);
    // Truncated and refilled beyond our offset before the next poll: the size never drops.
    writer.set_len(0).unwrap();
    writer.write_all(b"second 1\nsecond 2\nsecond 3\n").unwrap();
    let lines = collect(&mut f, 3, T);
    assert_eq!(texts(&lines), vec!["second 1", "second 2", "second 3"]);
    assert_eq!(f.files()[0].truncations, 1);
}

#[test]
fn delete_and_recreate() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("auth.log");
    append(&p, "");
    let mut f = Follower::new(cfg(&[&p], true), &[]).unwrap();
    append(&p, "before\n");
    assert_eq!(texts(&collect(&mut f, 1, T)), vec!["before"]);
    std::fs::remove_file(&p).unwrap();
    assert!(drain(&mut f, Duration::from_millis(100)).is_empty());
    append(&p, "after 1\nafter 2\n");
    let lines = collect(&mut f, 2, T);
    assert_eq!(texts(&lines), vec!["after 1", "after 2"]);
    assert_eq!(lines[0].file, 1);
    assert_eq!(f.files()[0].rotations, 1);
}

#[test]
fn a_missing_path_is_waited_for_and_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("later.log");
    let mut f = Follower::new(cfg(&[&p], true), &[]).unwrap();
    assert!(drain(&mut f, Duration::from_millis(100)).is_empty());
    assert!(f.files().is_empty());
    append(&p, "one\ntwo\n");
    assert_eq!(texts(&collect(&mut f, 2, T)), vec!["one", "two"]);
}

#[test]
fn several_files_keep_their_indices() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    append(&a, "");
    append(&b, "");
    let mut f = Follower::new(cfg(&[&a, &b], true), &[]).unwrap();
    append(&a, "a1\n");
    append(&b, "b1\nb2\n");
    append(&a, "a2\n");
    let lines = collect(&mut f, 4, T);
    let mut by_file: Vec<(usize, String)> = lines
        .iter()
        .map(|l| (l.file, String::from_utf8_lossy(&l.bytes).into_owned()))
        .collect();
    by_file.sort();
    assert_eq!(
        by_file,
        vec![
            (0, "a1".to_string()),
            (0, "a2".to_string()),
            (1, "b1".to_string()),
            (1, "b2".to_string())
        ]
    );
    assert_eq!(f.files()[0].path, a);
    assert_eq!(f.files()[1].path, b);
}

#[test]
fn errors_that_stop_following() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Follower::new(FollowConfig::default(), &[]),
        Err(FollowError::NoPaths)
    ));
    let err = Follower::new(cfg(&[dir.path()], false), &[]).unwrap_err();
    assert!(matches!(err, FollowError::IsDirectory { .. }), "{err}");
    assert!(err.to_string().contains("is a directory"));
    let bad = dir.path().join("[z-a");
    let err = Follower::new(cfg(&[&bad], false), &[]).unwrap_err();
    assert!(matches!(err, FollowError::BadPattern { .. }), "{err}");
    // A directory matched by a glob is skipped, not fatal.
    std::fs::create_dir(dir.path().join("sub.log")).unwrap();
    let pattern = dir.path().join("*.log");
    let mut f = Follower::new(cfg(&[&pattern], false), &[]).unwrap();
    assert!(drain(&mut f, Duration::from_millis(60)).is_empty());
}

/// Reads `n` lines from the start, returns them and drops the follower.
fn read_from_start(p: &Path, n: usize) -> Vec<FollowedLine> {
    let mut c = cfg(&[p], true);
    c.from_start = true;
    let mut f = Follower::new(c, &[]).unwrap();
    let mut got = Vec::new();
    while got.len() < n {
        let mut out = Vec::new();
        f.poll(&mut out, n - got.len(), Duration::from_millis(100))
            .unwrap();
        got.extend(out);
    }
    got
}

fn numbered(range: std::ops::Range<u32>) -> String {
    range.map(|i| format!("event {i:04}\n")).collect()
}

fn numbers(lines: &[FollowedLine]) -> Vec<u32> {
    texts(lines)
        .iter()
        .map(|t| t.trim_start_matches("event ").parse().unwrap())
        .collect()
}

#[test]
fn resume_on_the_same_file_continues_at_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("access.log");
    append(&p, &numbered(0..5));
    let got = read_from_start(&p, 3);
    let cp = got[2].checkpoint(&p);
    append(&p, &numbered(5..8));
    let json = serde_json::to_string(&[cp]).unwrap();
    let resume: Vec<FileCheckpoint> = serde_json::from_str(&json).unwrap();
    let mut f = Follower::new(cfg(&[&p], true), &resume).unwrap();
    let lines = collect(&mut f, 5, T);
    assert_eq!(numbers(&lines), (3..8).collect::<Vec<_>>());
    assert!(drain(&mut f, Duration::from_millis(100)).is_empty());
}

#[test]
fn resume_finds_a_rotated_file_and_then_reads_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("access.log");
    append(&p, &numbered(0..4));
    let got = read_from_start(&p, 2);
    let cp = got[1].checkpoint(&p);
    // While we were down: two more lines, rotated, a new file with more, and distractions.
    append(&p, &numbered(4..6));
    std::fs::write(dir.path().join("access.log.2.gz"), b"\x1f\x8b not really").unwrap();
    std::fs::write(dir.path().join("access.log.2"), numbered(0..2)).unwrap();
    std::fs::rename(&p, dir.path().join("access.log.1")).unwrap();
    append(&p, &numbered(6..9));
    let mut f = Follower::new(cfg(&[&p], true), &[cp]).unwrap();
    let lines = collect(&mut f, 7, T);
    assert_eq!(numbers(&lines), (2..9).collect::<Vec<_>>());
    assert!(drain(&mut f, Duration::from_millis(400)).is_empty());
    let files = f.files();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].path, p);
    assert!(!files[0].current);
    assert!(!files[0].open, "finished after the grace period");
    assert!(files[1].current);
}

#[test]
fn resume_on_a_truncated_file_starts_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("access.log");
    append(&p, &numbered(0..6));
    let got = read_from_start(&p, 6);
    let cp = got[5].checkpoint(&p);
    // copytruncate while we were down, then fewer bytes than our offset.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&p, &numbered(6..8));
    let mut f = Follower::new(cfg(&[&p], true), &[cp]).unwrap();
    assert_eq!(numbers(&collect(&mut f, 2, T)), vec![6, 7]);
    assert_eq!(f.files()[0].truncations, 1);
}

#[test]
fn resume_when_the_checkpointed_file_is_gone_reads_the_new_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("access.log");
    append(&p, &numbered(0..3));
    let got = read_from_start(&p, 3);
    let cp = got[2].checkpoint(&p);
    std::fs::remove_file(&p).unwrap();
    append(&p, &numbered(3..5));
    let mut f = Follower::new(cfg(&[&p], true), &[cp]).unwrap();
    assert_eq!(numbers(&collect(&mut f, 2, T)), vec![3, 4]);
}

#[test]
fn a_growing_small_file_keeps_matching_its_short_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("access.log");
    append(&p, "a\n");
    let got = read_from_start(&p, 1);
    assert_eq!(got[0].identity.fingerprint_len, 2);
    let cp = got[0].checkpoint(&p);
    append(&p, &numbered(0..40)); // now far beyond 256 bytes
    let mut f = Follower::new(cfg(&[&p], true), &[cp]).unwrap();
    let lines = collect(&mut f, 40, T);
    assert_eq!(numbers(&lines), (0..40).collect::<Vec<_>>());
    assert_eq!(
        f.files()[0].identity.fingerprint_len as usize,
        FINGERPRINT_BYTES
    );
    assert_eq!(
        lines[39].identity.fingerprint_len as usize,
        FINGERPRINT_BYTES
    );
}

#[test]
fn stdin_lines_and_unterminated_end() {
    let data = b"first\r\nsecond\nthird without newline".to_vec();
    let c = FollowConfig {
        paths: vec![PathBuf::from("-")],
        ..cfg(&[], false)
    };
    let mut f = Follower::with_stdin(c, &[], move || Box::new(io::Cursor::new(data))).unwrap();
    // One line per poll: the end of the input must not be reported before the last line.
    let mut lines = Vec::new();
    while !f.finished() {
        let mut out = Vec::new();
        f.poll(&mut out, 1, Duration::from_millis(100)).unwrap();
        lines.extend(out);
    }
    assert_eq!(
        texts(&lines),
        vec!["first", "second", "third without newline"]
    );
    assert_eq!(lines[2].end_offset, 35);
    assert!(f.files()[0].stdin);
    assert!(f.finished());
    let mut out = Vec::new();
    f.poll(&mut out, 10, Duration::MAX).unwrap();
    assert!(out.is_empty());
}

/// Median and worst time from a write (by another thread, while the follower waits in
/// `poll`) to the line being handed out.
fn measure_latency(notify: bool) -> (Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("access.log");
    append(&p, "");
    let mut c = cfg(&[&p], notify);
    c.poll_interval = Span(250);
    let mut f = Follower::new(c, &[]).unwrap();
    assert_eq!(f.uses_notify(), notify);
    let n = 12;
    let (tx, rx) = crossbeam_channel::unbounded();
    let path = p.clone();
    let writer = std::thread::spawn(move || {
        let mut w = OpenOptions::new().append(true).open(&path).unwrap();
        for i in 0..n {
            // Write at varying points of the poll cycle.
            std::thread::sleep(Duration::from_millis(31 + 17 * (i % 7)));
            let t = Instant::now();
            w.write_all(format!("{LINE_A} {i}\n").as_bytes()).unwrap();
            tx.send(t).unwrap();
        }
    });
    let mut samples = Vec::new();
    while samples.len() < n as usize {
        let mut out = Vec::new();
        f.poll(&mut out, 10, Duration::from_secs(2)).unwrap();
        let now = Instant::now();
        assert!(!out.is_empty(), "no line within 2 s");
        for _ in &out {
            samples.push(now - rx.recv().unwrap());
        }
    }
    writer.join().unwrap();
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

#[test]
fn latency_with_notify_and_with_polling() {
    let (median, worst) = measure_latency(true);
    eprintln!("follow latency with notify: median {median:?}, worst {worst:?}");
    assert!(median < Duration::from_millis(50), "{median:?}");
    let (median, worst) = measure_latency(false);
    eprintln!("follow latency polling every 250 ms: median {median:?}, worst {worst:?}");
    assert!(worst < Duration::from_millis(600), "{worst:?}");
}

/// Throughput of reading a large existing file from its start (lines handed out in batches of
/// 4096, as the lead's thread would). Run with
/// `cargo test --release --lib follow::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore = "measurement; run in release"]
fn throughput_from_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("access.log");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    let mut size = 0u64;
    let mut n = 0u64;
    while size < 256 * 1024 * 1024 {
        let l = format!("{LINE_A} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" {n}\n");
        w.write_all(l.as_bytes()).unwrap();
        size += l.len() as u64;
        n += 1;
    }
    w.flush().unwrap();
    drop(w);
    let mut c = cfg(&[&p], true);
    c.from_start = true;
    let mut f = Follower::new(c, &[]).unwrap();
    let t = Instant::now();
    let mut lines = 0u64;
    let mut out = Vec::with_capacity(4096);
    while lines < n {
        out.clear();
        f.poll(&mut out, 4096, Duration::from_secs(1)).unwrap();
        lines += out.len() as u64;
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "follow throughput: {} MB, {n} lines in {secs:.2} s: {:.0} MB/s, {:.2} M lines/s",
        size / 1_000_000,
        size as f64 / 1e6 / secs,
        n as f64 / 1e6 / secs
    );
    assert_eq!(f.files()[0].offset, size);
}
