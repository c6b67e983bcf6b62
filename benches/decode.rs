//! Decoder throughput, single-threaded, on generated in-memory lines (`cargo bench --bench
//! decode`). Criterion reports bytes/s (`Throughput::Bytes`); lines/s = bytes/s ÷ the average
//! line length printed at the start of each group. Figures go into BENCHMARKS.md.

use std::hint::black_box;

use credwatch::decode::Decoder;
use credwatch::decode::access::{AccessConfig, AccessDecoder, split_access_line};
use credwatch::decode::delimited::{CsvConfig, CsvDecoder};
use credwatch::decode::json::{JsonConfig, JsonDecoder};
use credwatch::decode::sshd::{SshdConfig, SshdDecoder};
use credwatch::detect::Detector;
use credwatch::event::{AccountKey, AuthEvent, EventKind, FailureReason, LineMeta, Outcome};
use credwatch::rules::stuffing_ip::{StuffingIpConfig, StuffingIpDetector};
use credwatch::time::Timestamp;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "rng.rs"]
mod rng;
use rng::Rng;

const LINES: usize = 20_000;

fn ip(r: &mut Rng) -> String {
    if r.below(10) == 0 {
        format!("2001:db8:{:x}::{:x}", r.below(65_536), r.below(65_536))
    } else {
        format!(
            "{}.{}.{}.{}",
            1 + r.below(222),
            r.below(256),
            r.below(256),
            1 + r.below(254)
        )
    }
}

fn nginx_lines() -> Vec<Vec<u8>> {
    let mut r = Rng(1);
    let paths = [
        "/",
        "/products/1234",
        "/static/app.js",
        "/cart",
        "/search?q=shoes",
        "/login",
    ];
    (0..LINES)
        .map(|i| {
            let (method, path, status) = if r.below(20) == 0 {
                ("POST", "/login", [302, 401][r.below(2) as usize])
            } else {
                ("GET", paths[r.below(paths.len() as u64) as usize], 200)
            };
            format!(
                "{} - - [20/Nov/2026:10:{:02}:{:02} +0900] \"{method} {path} HTTP/1.1\" {status} {} \"https://shop.example.jp/\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36\" 0.0{} \"-\"",
                ip(&mut r),
                (i / 60) % 60,
                i % 60,
                r.below(40_000),
                r.below(90)
            )
            .into_bytes()
        })
        .collect()
}

fn json_lines() -> Vec<Vec<u8>> {
    let mut r = Rng(2);
    (0..LINES)
        .map(|i| {
            let ok = r.below(10) > 2;
            format!(
                "{{\"ts\":\"2026-11-20T10:{:02}:{:02}.{:03}+09:00\",\"event\":\"login\",\"outcome\":\"{}\",\"reason\":\"{}\",\"account\":\"user{}@example.com\",\"ip\":\"{}\",\"user_agent\":\"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)\"}}",
                (i / 60) % 60,
                i % 60,
                r.below(1000),
                if ok { "success" } else { "failure" },
                if ok { "" } else { "unknown_account" },
                r.below(100_000),
                ip(&mut r)
            )
            .into_bytes()
        })
        .collect()
}

fn sshd_lines() -> Vec<Vec<u8>> {
    let mut r = Rng(3);
    (0..LINES)
        .map(|i| {
            let pid = 20_000 + r.below(5_000);
            let head = format!("Nov 20 10:{:02}:{:02} bastion sshd[{pid}]: ", (i / 60) % 60, i % 60);
            let ip = ip(&mut r);
            let msg = match r.below(6) {
                0 => format!("Failed password for root from {ip} port {} ssh2", r.below(65_535)),
                1 => format!("Invalid user admin{} from {ip} port {}", r.below(100), r.below(65_535)),
                2 => format!("Accepted publickey for deploy from {ip} port {} ssh2: ED25519 SHA256:abc", r.below(65_535)),
                3 => format!("Received disconnect from {ip} port {}:11: Bye Bye [preauth]", r.below(65_535)),
                4 => format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user=root"),
                _ => format!("Connection closed by {ip} port {} [preauth]", r.below(65_535)),
            };
            (head + &msg).into_bytes()
        })
        .collect()
}

fn csv_lines() -> Vec<Vec<u8>> {
    let mut r = Rng(4);
    let mut out = vec![b"ts,event,outcome,reason,account,ip".to_vec()];
    out.extend((0..LINES).map(|i| {
        format!(
            "2026-11-20T10:{:02}:{:02}Z,login,failure,bad_password,user{}@example.net,{}",
            (i / 60) % 60,
            i % 60,
            r.below(100_000),
            ip(&mut r)
        )
        .into_bytes()
    }));
    out
}

fn bench_decoder(
    c: &mut Criterion,
    name: &str,
    lines: &[Vec<u8>],
    mut make: impl FnMut() -> Box<dyn Decoder>,
) {
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    eprintln!(
        "{name}: {} lines, {:.0} bytes/line",
        lines.len(),
        bytes as f64 / lines.len() as f64
    );
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut d = make();
            let mut events = 0usize;
            for (i, l) in lines.iter().enumerate() {
                let meta = LineMeta {
                    line: i as u64 + 1,
                    ..LineMeta::default()
                };
                if let Ok(Some(ev)) = d.decode(black_box(l), &meta) {
                    events += 1;
                    black_box(ev);
                }
            }
            events
        })
    });
    g.finish();
}

fn decoders(c: &mut Criterion) {
    let nginx = nginx_lines();
    let bytes: usize = nginx.iter().map(|l| l.len() + 1).sum();
    let mut g = c.benchmark_group("split");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("access_split", |b| {
        b.iter(|| {
            nginx
                .iter()
                .filter(|l| split_access_line(black_box(l)).is_ok())
                .count()
        })
    });
    g.finish();

    let access = AccessDecoder::new(&AccessConfig::default()).unwrap();
    bench_decoder(c, "access", &nginx, || Box::new(access.clone()));
    let json = JsonDecoder::new(&JsonConfig::default()).unwrap();
    bench_decoder(c, "json", &json_lines(), || Box::new(json.clone()));
    bench_decoder(c, "sshd", &sshd_lines(), || {
        Box::new(SshdDecoder::new(&SshdConfig::default(), Timestamp(1_795_000_000_000)).unwrap())
    });
    bench_decoder(c, "csv", &csv_lines(), || {
        Box::new(CsvDecoder::new(&CsvConfig::default(), b',').unwrap())
    });
}

/// State update per event: the stuffing.ip detector over failed logins from 10,000 addresses.
fn detector(c: &mut Criterion) {
    let mut r = Rng(5);
    let events: Vec<AuthEvent> = (0..LINES)
        .map(|i| {
            let mut ev = AuthEvent::new(
                Timestamp(i as i64 * 50),
                EventKind::Login,
                LineMeta::default(),
            );
            ev.ip = Some(
                format!("10.{}.{}.{}", r.below(40), r.below(250), r.below(250))
                    .parse()
                    .unwrap(),
            );
            ev.account = AccountKey::normalize(&format!("user{}@example.com", r.below(50_000)));
            ev.outcome = Outcome::Failure;
            ev.reason = Some(FailureReason::UnknownAccount);
            ev
        })
        .collect();
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("stuffing_ip_observe", |b| {
        b.iter(|| {
            let mut d = StuffingIpDetector::new(StuffingIpConfig::default());
            let mut out = Vec::new();
            for ev in &events {
                d.observe(black_box(ev), &mut out);
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, decoders, detector);
criterion_main!(benches);
