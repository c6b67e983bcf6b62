//! Alert latency of `credwatch tail`: from the moment the line that crosses a threshold is
//! written to the log to the moment the alert arrives at a webhook receiver.
//!
//! ```sh
//! cargo build --release && cargo run --release --example latency -- [--alerts 60] [--gap-ms 1200] [--poll]
//! ```
//!
//! Starts a real HTTP receiver on 127.0.0.1, runs `target/release/credwatch tail --webhook` on a
//! fresh log, and plays `--alerts` single-address credential-stuffing bursts one after another:
//! 19 failed logins on distinct accounts, a pause, then the 20th, which opens a `stuffing.ip`
//! alert. The write time of each 20th line is kept; the receiver notes when each alert arrives.
//! Prints p50, p90, p99 and the maximum in milliseconds.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn now_ms() -> i64 {
    credwatch::time::wall_clock_now().0
}

fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let ts = jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!(
        "{}.{:03}Z",
        ts.strftime("%Y-%m-%dT%H:%M:%S"),
        ms.rem_euclid(1000)
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let alerts: usize = args
        .iter()
        .position(|a| a == "--alerts")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let poll = args.iter().any(|a| a == "--poll");
    // Between one burst's alert and the next burst's: above the webhook's batch_wait (1 s) each
    // alert travels alone; below it alerts share batches and wait for the next one.
    let gap_ms: u64 = args
        .iter()
        .position(|a| a == "--gap-ms")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_200);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var("CREDWATCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/release/credwatch"));
    let dir = root.join("target/latency");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("target/latency");
    let log = dir.join("auth.jsonl");
    std::fs::write(&log, b"").expect("log");

    // The receiver: arrival time of each alert id, and the alert's entity.
    let arrivals: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = arrivals.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut len = 0usize;
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let at = now_ms();
            if let Ok(serde_json::Value::Array(batch)) = serde_json::from_slice(&body) {
                let mut s = seen.lock().expect("lock");
                for a in batch {
                    if a["rule"] == "stuffing.ip" {
                        s.push((at, a["entity"]["value"].as_str().unwrap_or("").to_string()));
                    }
                }
            }
            let mut conn = conn;
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });

    let mut cmd = Command::new(&bin);
    cmd.arg("tail")
        .arg("-q")
        .arg("--webhook")
        .arg(format!("http://127.0.0.1:{port}/hook"))
        .arg("-o")
        .arg(dir.join("alerts.jsonl"));
    if poll {
        cmd.arg("--poll");
    }
    let mut child = cmd
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (cargo build --release first)", bin.display()));
    std::thread::sleep(Duration::from_millis(800));

    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open log");
    let mut written: HashMap<String, i64> = HashMap::new();
    for a in 0..alerts {
        let ip = format!("198.51.{}.{}", 100 + a / 250, 1 + a % 250);
        let line = |n: usize| {
            format!(
                "{{\"ts\":\"{}\",\"event\":\"login\",\"outcome\":\"failure\",\"reason\":\"unknown_account\",\"account\":\"list{a}-{n}@example.net\",\"ip\":\"{ip}\"}}\n",
                rfc3339(now_ms())
            )
        };
        let burst: String = (0..19).map(line).collect();
        file.write_all(burst.as_bytes()).expect("write");
        std::thread::sleep(Duration::from_millis(200));
        let last = line(19);
        file.write_all(last.as_bytes()).expect("write");
        written.insert(ip, now_ms());
        std::thread::sleep(Duration::from_millis(gap_ms.saturating_sub(200)));
    }
    std::thread::sleep(Duration::from_secs(3));
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let _ = child.wait();

    let got = arrivals.lock().expect("lock").clone();
    let mut lat: Vec<i64> = got
        .iter()
        .filter_map(|(at, ip)| written.get(ip).map(|w| at - w))
        .collect();
    lat.sort_unstable();
    let pct = |p: f64| -> i64 {
        if lat.is_empty() {
            return -1;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i]
    };
    println!(
        "latency ({} alerts of {} planted, {} ms apart, {}): p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        lat.len(),
        alerts,
        gap_ms,
        if poll { "polling" } else { "inotify" },
        pct(0.5),
        pct(0.9),
        pct(0.99),
        lat.last().copied().unwrap_or(-1)
    );
}
