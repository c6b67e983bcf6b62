//! The engine's promises: the same alerts whatever the batch size, the sharding or the driver.

use std::path::PathBuf;

use super::*;
use crate::drivers::RunOptions;
use crate::drivers::inspect_for_tests::{Visit, decode_in_order};

/// Every event of the sample shop (all inputs), decoded in input order, then sorted by time.
fn sample_events(cfg: &Config) -> Vec<AuthEvent> {
    let opts = RunOptions {
        paths: vec![PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sample-logs"
        ))],
        strict: false,
        progress: None,
    };
    let mut stats = RunStats::default();
    let mut events = Vec::new();
    decode_in_order(cfg, &opts, &mut stats, |_, _, v| {
        if let Visit::Event(ev) = v {
            events.push(ev);
        }
        Ok(())
    })
    .expect("sample-logs decode");
    events.sort_by_key(|e| (e.ts, e.origin.source, e.origin.line));
    events
}

fn config() -> Config {
    let mut cfg = Config::default();
    cfg.asn.db.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sample-logs/asn/asn-extract.csv"
    )));
    cfg
}

/// Pushes `events` through `engine`, flushing after every `flush_every` events (`0`: only at
/// the end), and returns every alert in delivery order.
fn run(mut engine: Engine, events: &[AuthEvent], flush_every: usize) -> Vec<Alert> {
    let mut stats = RunStats::default();
    let mut alerts = Vec::new();
    let mut take = |engine: &mut Engine| {
        while let Some(out) = engine.take() {
            match out {
                Output::Events(d) => {
                    assert_eq!(d.events.len(), d.alerts.len());
                    alerts.extend(d.alerts.into_iter().flatten());
                }
                Output::Alerts(a) => alerts.extend(a),
            }
        }
    };
    for (i, ev) in events.iter().enumerate() {
        engine.push(ev.clone(), &mut stats);
        if flush_every > 0 && (i + 1) % flush_every == 0 {
            engine.flush(&mut stats);
        }
        take(&mut engine);
    }
    engine.finish(&mut stats);
    take(&mut engine);
    alerts
}

fn json(v: &[Alert]) -> String {
    serde_json::to_string(v).expect("alerts serialize")
}

fn engine(cfg: &Config, batch_size: usize) -> Engine {
    let enricher = build_enricher(cfg).expect("asn extract");
    let mut e = Engine::new(cfg, enricher, EngineOptions::default());
    e.batch_size = batch_size;
    e
}

/// Tail-like use (a flush after every few events, tiny batches) and scan-like use (large
/// batches, the consuming rules one batch behind) give exactly the same alerts: same order,
/// ids and evidence.
#[test]
fn alerts_do_not_depend_on_batches_or_flushes() {
    let cfg = config();
    let events = sample_events(&cfg);
    assert!(events.len() > 10_000);
    let scan_like = run(engine(&cfg, DETECT_BATCH), &events, 0);
    assert!(scan_like.len() >= 20, "{}", scan_like.len());
    assert!(
        scan_like
            .iter()
            .any(|a| a.rule == crate::alert::Rule::CompromiseLogin),
        "the consuming rule must have fired"
    );
    // Odd sizes: alerts must not depend on where a batch ends.
    let odd = run(engine(&cfg, 777), &events, 0);
    let tail_like = run(engine(&cfg, 64), &events, 5);
    let one_by_one = run(engine(&cfg, 1), &events, 1);
    assert_eq!(json(&scan_like), json(&odd));
    assert_eq!(json(&scan_like), json(&tail_like));
    assert_eq!(json(&scan_like), json(&one_by_one));
}

/// The per-key rules split over shards give the alerts of one instance per rule (as long as no
/// key limit is reached: each shard evicts on its own share).
#[test]
fn sharded_rules_equal_one_instance_per_rule() {
    let cfg = config();
    let events = sample_events(&cfg);
    let with = |shard: bool| {
        let enricher = build_enricher(&cfg).expect("asn extract");
        let e = Engine::with_detectors(
            &cfg,
            enricher,
            EngineOptions::default(),
            crate::rules::detectors(&cfg.detect, shard),
        );
        run(e, &events, 0)
    };
    let sharded = with(true);
    let single = with(false);
    for rule in [
        "stuffing.ip",
        "orders.bulk",
        "orders.drop_address",
        "bruteforce.account",
        "takeover.sequence",
    ] {
        assert!(
            sharded.iter().any(|a| a.rule.as_str() == rule),
            "{rule} must fire on the sample logs"
        );
    }
    assert_eq!(json(&sharded), json(&single));
}

/// Idle ticks move the rules' windows, not the newest event time.
#[test]
fn advance_keeps_the_watermark_and_closes_windows() {
    let cfg = config();
    let events = sample_events(&cfg);
    let mut e = engine(&cfg, DETECT_BATCH);
    let mut stats = RunStats::default();
    for ev in events {
        e.push(ev, &mut stats);
    }
    e.release_held();
    e.flush(&mut stats);
    while e.take().is_some() {}
    let newest = e.watermark();
    e.advance(Timestamp(newest.0 + 86_400_000));
    assert_eq!(e.watermark(), newest);
    // A day later every open episode has closed: a second tick raises nothing more.
    while e.take().is_some() {}
    e.advance(Timestamp(newest.0 + 2 * 86_400_000));
    assert!(e.take().is_none());
}
