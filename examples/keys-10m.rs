//! Memory for 10 million idle keys (issue 3, item 2): `cargo run --release --example keys-10m`.
//!
//! Loads 10 million distinct IPv4 addresses, each touching one account once (the idle key most
//! addresses are), plus a few heavy addresses that spill into [`SlidingDistinctSketch`], into a
//! keyed table of per-address "distinct accounts" state, and prints bytes per key and the peak
//! RSS (VmHWM). Run the binary under `/usr/bin/time -v` for an outside view of the peak.
//!
//! The compact entry below is a BENCHMARK DESIGN: the detectors still keep `SlidingDistinct`
//! per key. It follows "Sliding distinct counts for 10 million keys" in the engineering notes:
//! key = 64-bit seeded hash of the address; a 16-byte slot with two inline (fingerprint, minute)
//! pairs; a third distinct value moves the key to a `SlidingDistinctSketch` in a side arena
//! (exact up to 64, then HLL panes); 64 sub-tables by hash so a resize never doubles the whole
//! table.

use std::collections::HashMap;
use std::time::Instant;

use credwatch::time::Timestamp;
use credwatch::window::KeyHasher;
use credwatch::window::distinct::SlidingDistinctSketch;

const KEYS: u32 = 10_000_000;
const SHARDS: usize = 64;
const WINDOW: i64 = 60 * 60_000;

/// 16 bytes: two inline (u32 fingerprint, u16 minute + 1) pairs, and `heavy` = index + 1 into the
/// side arena once a third distinct value arrives (0 = still inline). Minute 0 marks a free pair.
#[derive(Clone, Copy, Default)]
struct Slot {
    fp: [u32; 2],
    minute: [u16; 2],
    heavy: u32,
}

struct Table {
    shards: Vec<HashMap<u64, Slot, foldhash::fast::FixedState>>,
    heavy: Vec<SlidingDistinctSketch>,
}

impl Table {
    fn new() -> Table {
        Table {
            shards: (0..SHARDS)
                .map(|_| HashMap::with_hasher(foldhash::fast::FixedState::default()))
                .collect(),
            heavy: Vec::new(),
        }
    }

    /// Records that address `key` touched account `value` at `ts`.
    fn touch(&mut self, key: u64, ts: Timestamp, value: u64) {
        let shard = &mut self.shards[(key >> 58) as usize];
        let slot = shard.entry(key).or_default();
        // The key's sketch sees only the 32-bit fingerprint too, so the inline pairs and later
        // sightings of the same value agree after a spill.
        let fp = (value >> 32) as u32;
        if slot.heavy != 0 {
            self.heavy[slot.heavy as usize - 1].insert(ts, u64::from(fp));
            return;
        }
        let minute = (ts.0 / 60_000) as u16 + 1;
        for i in 0..2 {
            if slot.minute[i] == 0 || slot.fp[i] == fp {
                slot.fp[i] = fp;
                slot.minute[i] = minute;
                return;
            }
        }
        // Third distinct value: spill to the sketch (inline pairs re-enter by fingerprint).
        let mut s = SlidingDistinctSketch::new(WINDOW);
        for i in 0..2 {
            s.insert(
                Timestamp(i64::from(slot.minute[i] - 1) * 60_000),
                u64::from(slot.fp[i]),
            );
        }
        s.insert(ts, u64::from(fp));
        self.heavy.push(s);
        slot.heavy = self.heavy.len() as u32;
    }

    fn table_bytes(&self) -> usize {
        // hashbrown: one (key, slot) bucket plus one control byte per bucket of capacity.
        let bucket = size_of::<(u64, Slot)>() + 1;
        self.shards
            .iter()
            .map(|m| {
                // capacity() is 7/8 of the bucket count (power of two) once past small sizes.
                (m.capacity() * 8 / 7).next_power_of_two() * bucket
            })
            .sum()
    }

    fn heavy_bytes(&self) -> usize {
        self.heavy.iter().map(|s| s.bytes()).sum::<usize>()
            + self.heavy.capacity() * size_of::<SlidingDistinctSketch>()
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|m| m.len()).sum()
    }
}

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
    let mut t = Table::new();
    let start = Instant::now();
    for i in 0..KEYS {
        // A bijection on u32: 10 M distinct addresses in a scattered order.
        let ip = i.wrapping_mul(0x9E37_79B1).wrapping_add(0x0A00_0000);
        let key = hasher.hash(&ip.to_be_bytes());
        let account = hasher.hash(&(u64::from(i) % 500_000).to_le_bytes());
        t.touch(key, Timestamp(i64::from(i) * 300), account);
    }
    let load = start.elapsed();
    let rss1 = status_kb("VmRSS:");
    let idle_keys = t.len();
    let idle_table = t.table_bytes();

    // Heavy addresses: 1,000 touching 200 accounts, 20 touching 20,000 accounts.
    let now = Timestamp(i64::from(KEYS) * 300);
    let mut est = Vec::new();
    for (count, per) in [(1_000u64, 200u64), (20, 20_000)] {
        for a in 0..count {
            let key = hasher.hash(&(0xFFFF_0000u64 + a + per).to_be_bytes());
            for v in 0..per {
                t.touch(key, now, hasher.hash(&(a * 1_000_000 + v).to_le_bytes()));
            }
            if a == 0 {
                let slot = t.shards[(key >> 58) as usize][&key];
                est.push((per, t.heavy[slot.heavy as usize - 1].estimate(now)));
            }
        }
    }
    let rss2 = status_kb("VmRSS:");
    let hwm = status_kb("VmHWM:");

    println!(
        "keys-10m: {} idle keys loaded in {:.2?} ({:.0} ns/key)",
        idle_keys,
        load,
        load.as_nanos() as f64 / f64::from(KEYS)
    );
    println!(
        "  entry: key u64 + slot {} B = bucket {} B (+1 control byte); {} shards",
        size_of::<Slot>(),
        size_of::<(u64, Slot)>(),
        SHARDS
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
        "  heavy keys: {} sketches, {:.1} MB ({:.0} B each); estimates (true, est): {:?}",
        t.heavy.len(),
        t.heavy_bytes() as f64 / 1e6,
        t.heavy_bytes() as f64 / t.heavy.len().max(1) as f64,
        est
    );
    println!(
        "  RSS after heavy keys: {:.1} MB; peak RSS (VmHWM): {:.1} MB",
        rss2 as f64 / 1e3,
        hwm as f64 / 1e3
    );
}
