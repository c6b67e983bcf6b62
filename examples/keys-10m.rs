//! Memory for 10 million idle keys (issue 3, item 2): `cargo run --release --example keys-10m`.
//!
//! Loads 10 million distinct IPv4 addresses, each touching one account once (the idle key most
//! addresses are), plus a few heavy addresses that spill into [`SlidingDistinctSketch`], into a
//! keyed table of per-address "distinct accounts" state, and prints bytes per key and the peak
//! RSS (VmHWM). Run the binary under `/usr/bin/time -v` for an outside view of the peak.
//!
//! The table is the detectors' own [`AddressTable`] (`stuffing.ip` keeps its addresses in one):
//! a 24-byte inline slot per light address keyed by a seeded 64-bit hash, in 64 sub-tables so a
//! resize never doubles the whole table; an address with a third event in the window is promoted
//! to an exact window with a [`credwatch::window::distinct::SlidingDistinctSketch`] of accounts.

use std::time::Instant;

use credwatch::time::Timestamp;
use credwatch::window::KeyHasher;
use credwatch::window::address::{AddressTable, fingerprint};

const KEYS: u32 = 10_000_000;
const WINDOW: i64 = 60 * 60_000;

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let hasher = KeyHasher::default();
    let rss0 = status_kb("VmRSS:");
    // stuffing.ip's shape: 5 tallies, promotion below its smallest threshold (20).
    let mut t: AddressTable<(), 5> = AddressTable::new(WINDOW, 20, 100_000);
    let start = Instant::now();
    for i in 0..KEYS {
        // A bijection on u32: 10 M distinct addresses in a scattered order, all inside the window.
        let ip = std::net::IpAddr::from(
            i.wrapping_mul(0x9E37_79B1)
                .wrapping_add(0x0A00_0000)
                .to_be_bytes(),
        );
        let account = fingerprint(hasher.hash(&(u64::from(i) % 500_000).to_le_bytes()));
        let ts = Timestamp(i64::from(i) / 4);
        t.record(ip, ts, ts, 0, Some(account));
    }
    let load = start.elapsed();
    let rss1 = status_kb("VmRSS:");
    let idle_keys = t.len();
    let idle_table = t.bytes(|_| 0);

    // Heavy addresses: 1,000 touching 200 accounts, 20 touching 20,000 accounts.
    let now = Timestamp(i64::from(KEYS) / 4);
    let mut est = Vec::new();
    for (count, per) in [(1_000u64, 200u64), (20, 20_000)] {
        for a in 0..count {
            let ip = std::net::IpAddr::from(
                (0xFD00_0000_0000_0000_0000_0000_0000_0000u128 + u128::from(a * 100_000 + per))
                    .to_be_bytes(),
            );
            for v in 0..per {
                let fp = fingerprint(hasher.hash(&(a * 1_000_000 + v).to_le_bytes()));
                t.record(ip, now, now, 0, Some(fp));
            }
            if a == 0
                && let Some(h) = t.heavy_mut(&ip)
            {
                est.push((per, h.window.distinct_accounts(now)));
            }
        }
    }
    let heavy_bytes = t.bytes(|_| 0) - t.light_bytes();
    let rss2 = status_kb("VmRSS:");
    let hwm = status_kb("VmHWM:");

    println!(
        "keys-10m: {} idle keys loaded in {:.2?} ({:.0} ns/key)",
        idle_keys,
        load,
        load.as_nanos() as f64 / f64::from(KEYS)
    );
    println!(
        "  entry: key u64 + inline slot = {} B per bucket (+1 control byte); 64 shards",
        AddressTable::<(), 5>::LIGHT_BUCKET_BYTES
    );
    println!(
        "  table bytes (computed): {:.1} MB = {:.1} B per idle key",
        idle_table as f64 / 1e6,
        idle_table as f64 / idle_keys as f64
    );
    println!(
        "  RSS growth while loading idle keys: {:.1} MB = {:.1} B per idle key",
        (rss1 - rss0) as f64 / 1e3,
        ((rss1 - rss0) * 1024) as f64 / idle_keys as f64
    );
    println!(
        "  heavy keys: {} windows, {:.1} MB ({:.0} B each); distinct accounts (true, est): {:?}",
        t.heavy_len(),
        heavy_bytes as f64 / 1e6,
        heavy_bytes as f64 / t.heavy_len().max(1) as f64,
        est
    );
    println!(
        "  RSS after heavy keys: {:.1} MB; peak RSS (VmHWM): {:.1} MB",
        rss2 as f64 / 1e3,
        hwm as f64 / 1e3
    );
}
