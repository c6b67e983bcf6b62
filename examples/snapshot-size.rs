//! Size and cost of detector state snapshots (issue 4, item 5):
//!
//! ```sh
//! cargo run --release --example snapshot-size -- sample-logs/ --asn-db sample-logs/asn/asn-extract.csv
//! cargo run --release --example gen-sample-logs -- bench --format json --lines 1000000 --out /tmp/b.jsonl
//! cargo run --release --example snapshot-size -- /tmp/b.jsonl
//! ```
//!
//! Scans the inputs with the default config; a sink that sees every event feeds a second set of
//! detectors (`build_detectors`) the same events, in the same order, and passes their alerts
//! through `on_alert` as the pipeline does. Then, per detector, it times `snapshot()`, the
//! serialization of that value to JSON text (what the checkpoint writes), the parse of the text
//! and `restore()`, then the text path (`write_snapshot` to a `Vec`, `read_snapshot`), and
//! prints the sizes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use credwatch::alert::Alert;
use credwatch::config::Config;
use credwatch::detect::Detector;
use credwatch::drivers::{RunOptions, scan};
use credwatch::engine::build_detectors;
use credwatch::error::SinkError;
use credwatch::event::AuthEvent;
use credwatch::sink::Sink;

type Detectors = Arc<Mutex<Vec<Box<dyn Detector>>>>;

/// Feeds every event to its own detectors, as the pipeline feeds its detectors.
struct Feed {
    detectors: Detectors,
    alerts: Vec<Alert>,
}

impl Sink for Feed {
    fn emit(&mut self, _alert: &Alert) -> Result<(), SinkError> {
        Ok(())
    }

    fn wants_events(&self) -> bool {
        true
    }

    fn observe_event(&mut self, ev: &AuthEvent) {
        let Ok(mut ds) = self.detectors.lock() else {
            return;
        };
        self.alerts.clear();
        for d in ds.iter_mut() {
            d.observe(ev, &mut self.alerts);
        }
        let emitted = self.alerts.len();
        for i in 0..emitted {
            let a = self.alerts[i].clone();
            let mut extra = Vec::new();
            for d in ds.iter_mut() {
                d.on_alert(&a, &mut extra);
            }
            self.alerts.extend(extra);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = Config::default();
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--asn-db" {
            cfg.asn
                .db
                .push(PathBuf::from(args.next().ok_or("--asn-db FILE")?));
        } else {
            paths.push(PathBuf::from(a));
        }
    }
    let detectors: Detectors = Arc::new(Mutex::new(build_detectors(&cfg)));
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(Feed {
        detectors: Arc::clone(&detectors),
        alerts: Vec::new(),
    })];
    let started = Instant::now();
    let opts = RunOptions {
        paths,
        strict: false,
        progress: None,
    };
    let stats = scan(&cfg, &opts, &mut sinks)?;
    eprintln!(
        "scanned {} events in {:.1} s",
        stats.events.values().sum::<u64>(),
        started.elapsed().as_secs_f64()
    );
    let ds = detectors.lock().map_err(|_| "poisoned")?;
    println!(
        "{:<20} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "detector", "state_bytes", "json_bytes", "snap_ms", "write_ms", "parse_ms", "restore_ms"
    );
    let (mut total_bytes, mut total_ms) = (0usize, 0f64);
    let mut direct_total = (0usize, 0f64, 0f64);
    for d in ds.iter() {
        let t = Instant::now();
        let value = d.snapshot()?;
        let snap = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let text = serde_json::to_vec(&value)?;
        let write = t.elapsed().as_secs_f64() * 1e3;
        drop(value);
        let t = Instant::now();
        let parsed: serde_json::Value = serde_json::from_slice(&text)?;
        let parse = t.elapsed().as_secs_f64() * 1e3;
        let mut fresh = build_detectors(&cfg)
            .into_iter()
            .find(|x| x.name() == d.name())
            .ok_or("no such detector")?;
        let t = Instant::now();
        fresh.restore(parsed)?;
        let restore = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{:<20} {:>12} {:>12} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
            d.name(),
            d.state_bytes(),
            text.len(),
            snap,
            write,
            parse,
            restore
        );
        total_bytes += text.len();
        total_ms += snap + write;
        // The text path: no value tree.
        let t = Instant::now();
        let mut direct = Vec::with_capacity(text.len());
        d.write_snapshot(&mut direct)?;
        let direct_write = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        fresh.read_snapshot(&direct)?;
        let direct_read = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{:<20} {:>12} {:>12} {:>21.1} {:>21.1}   (write_snapshot, read_snapshot)",
            "",
            "",
            direct.len(),
            direct_write,
            direct_read
        );
        direct_total.0 += direct.len();
        direct_total.1 += direct_write;
        direct_total.2 += direct_read;
    }
    println!(
        "total: {total_bytes} bytes of JSON, {total_ms:.1} ms to snapshot and serialize ({:.0} MB/s)",
        total_bytes as f64 / 1e6 / (total_ms / 1e3)
    );
    println!(
        "text path: {} bytes, write_snapshot {:.1} ms ({:.0} MB/s), read_snapshot {:.1} ms ({:.0} MB/s)",
        direct_total.0,
        direct_total.1,
        direct_total.0 as f64 / 1e6 / (direct_total.1 / 1e3),
        direct_total.2,
        direct_total.0 as f64 / 1e6 / (direct_total.2 / 1e3)
    );
    Ok(())
}
