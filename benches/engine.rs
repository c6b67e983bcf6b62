//! Hot paths past decoding (`cargo bench --bench engine`): ASN lookups, the state update of all
//! nine rules per event, and a whole scan through the library. Throughput in elements (lookups,
//! events) or bytes. The ASN tables are the real ones in `../shared/testdata`.

use std::hint::black_box;
use std::net::IpAddr;
use std::path::PathBuf;

use credwatch::alert::Alert;
use credwatch::config::Config;
use credwatch::drivers::{self, RunOptions};
use credwatch::engine;
use credwatch::enrich::asn::AsnDb;
use credwatch::error::SinkError;
use credwatch::event::{AccountKey, AuthEvent, EventKind, FailureReason, LineMeta, Outcome};
use credwatch::sink::Sink;
use credwatch::time::Timestamp;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "rng.rs"]
mod rng;
use rng::Rng;

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata")
        .join(rel)
}

fn addresses(n: usize) -> Vec<IpAddr> {
    let mut r = Rng(11);
    (0..n)
        .map(|_| IpAddr::from((r.next() as u32).to_be_bytes()))
        .collect()
}

fn asn_lookup(c: &mut Criterion) {
    let ips = addresses(100_000);
    let mut g = c.benchmark_group("asn");
    g.throughput(Throughput::Elements(ips.len() as u64));
    for (name, path) in [
        ("lookup_range_csv", shared("asn/asn-ipv4.csv.gz")),
        ("lookup_mmdb", shared("mmdb/GeoLite2-ASN-Test.mmdb")),
    ] {
        let Ok(db) = AsnDb::open(&path) else {
            eprintln!("skipped {name}: {} missing", path.display());
            continue;
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                ips.iter()
                    .filter(|ip| db.lookup(black_box(**ip)).is_some())
                    .count()
            })
        });
    }
    g.finish();
}

/// A shop's mixed stream: logins (8 in 10 succeed), failures on known and unknown accounts,
/// resets, changes and orders, from 20,000 addresses and 50,000 accounts.
fn mixed_events(n: usize) -> Vec<AuthEvent> {
    let mut r = Rng(5);
    (0..n)
        .map(|i| {
            let sel = r.below(100);
            let kind = match sel {
                0..=84 => EventKind::Login,
                85..=89 => EventKind::PasswordResetRequest,
                90..=91 => EventKind::AddressChange,
                _ => EventKind::Order,
            };
            let mut ev = AuthEvent::new(Timestamp(i as i64 * 20), kind, LineMeta::default());
            ev.ip = Some(IpAddr::from(
                (0x0A00_0000u32 + r.below(20_000) as u32).to_be_bytes(),
            ));
            ev.account = AccountKey::normalize(&format!("user{}@example.com", r.below(50_000)));
            ev.outcome = if kind == EventKind::Login && sel >= 68 {
                ev.reason = Some(if sel >= 80 {
                    FailureReason::UnknownAccount
                } else {
                    FailureReason::BadPassword
                });
                Outcome::Failure
            } else {
                Outcome::Success
            };
            ev
        })
        .collect()
}

fn all_rules(c: &mut Criterion) {
    let mut events = mixed_events(50_000);
    let cfg = Config::default();
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("all_rules_observe", |b| {
        b.iter(|| {
            let mut detectors = engine::build_detectors(&cfg);
            // The login history the account rules share, kept ahead of them as in a scan.
            let mut history = engine::build_history(&cfg);
            let mut out: Vec<Alert> = Vec::new();
            for ev in &mut events {
                if let Some(h) = &mut history {
                    h.annotate(ev);
                }
                for d in &mut detectors {
                    d.observe(black_box(ev), &mut out);
                }
            }
            out.len()
        })
    });
    g.finish();
}

#[derive(Debug)]
struct Count(usize);
impl Sink for Count {
    fn emit(&mut self, _alert: &Alert) -> Result<(), SinkError> {
        self.0 += 1;
        Ok(())
    }
}

fn whole_scan(c: &mut Criterion) {
    // 200,000 JSON lines of the mixed stream, written once to a temporary file.
    let dir = std::env::temp_dir().join(format!("credwatch-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("auth.jsonl");
    let mut text = String::new();
    for ev in mixed_events(200_000) {
        if let Ok(line) = serde_json::to_string(&ev) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    if std::fs::write(&path, &text).is_err() {
        eprintln!("skipped pipeline: cannot write {}", path.display());
        return;
    }
    let cfg = Config::default();
    let opts = RunOptions {
        paths: vec![path.clone()],
        strict: false,
        progress: None,
    };
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("scan_json_200k", |b| {
        b.iter(|| {
            let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(Count(0))];
            let stats = drivers::scan(&cfg, &opts, &mut sinks).map(|s| s.total_lines());
            black_box(stats.ok())
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, asn_lookup, all_rules, whole_scan);
criterion_main!(benches);
