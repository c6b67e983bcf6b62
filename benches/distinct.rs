//! Insert and estimate throughput of `SlidingDistinctSketch`, single-threaded
//! (`cargo bench --bench distinct`). Criterion reports elements/s (one insert or one query per
//! element). Figures go into BENCHMARKS.md.

use std::hint::black_box;

use credwatch::time::Timestamp;
use credwatch::window::distinct::SlidingDistinctSketch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "rng.rs"]
mod rng;
use rng::Rng;

const N: u64 = 10_000;
const HOUR: i64 = 3_600_000;

fn hashes(n: u64) -> Vec<u64> {
    let mut r = Rng(1);
    (0..n).map(|_| r.next()).collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("distinct");
    g.throughput(Throughput::Elements(N));

    // Exact tier: 40 distinct values repeated (a typical busy-but-benign key).
    let small: Vec<u64> = hashes(40);
    g.bench_function("insert_exact_tier", |b| {
        let mut s = SlidingDistinctSketch::new(HOUR);
        let mut t = 0i64;
        b.iter(|| {
            for i in 0..N {
                t += 10;
                s.insert(Timestamp(t), small[(i % 40) as usize]);
            }
            black_box(&s);
        })
    });

    // Sketch tier: fresh values every 10 ms, so panes rotate every 10 minutes of event time.
    let big = hashes(1_000_000);
    g.bench_function("insert_sketch_tier", |b| {
        let mut s = SlidingDistinctSketch::new(HOUR);
        let mut t = 0i64;
        let mut j = 0usize;
        b.iter(|| {
            for _ in 0..N {
                t += 10;
                j = (j + 1) % big.len();
                s.insert(Timestamp(t), big[j]);
            }
            black_box(&s);
        })
    });

    // Estimate after every insert: the detectors' pattern. Most queries hit the cache (no
    // register changed); a register change costs a merge of the panes.
    g.bench_function("insert_then_estimate_sketch_tier", |b| {
        let mut s = SlidingDistinctSketch::new(HOUR);
        let mut t = 0i64;
        let mut j = 0usize;
        for h in big.iter().take(100_000) {
            s.insert(Timestamp(t), *h);
            t += 10;
        }
        b.iter(|| {
            let mut acc = 0u64;
            for _ in 0..N {
                t += 10;
                j = (j + 1) % big.len();
                s.insert(Timestamp(t), big[j]);
                acc = acc.wrapping_add(s.estimate(Timestamp(t)));
            }
            black_box(acc)
        })
    });
    g.finish();

    // Uncached estimate: a full merge of 6 panes plus the estimator, each query at a new pane.
    let mut g = c.benchmark_group("distinct_estimate");
    g.throughput(Throughput::Elements(1));
    let mut s = SlidingDistinctSketch::new(HOUR);
    for (i, h) in big.iter().take(200_000).enumerate() {
        s.insert(Timestamp(i as i64 * 18), *h); // spread over the hour: all 6 panes used
    }
    g.bench_function("estimate_uncached_6_panes", |b| {
        let mut q = 0i64;
        b.iter(|| {
            // A fresh clone per query would dominate; alternate between two pane indexes so the
            // cache always misses.
            q ^= 1;
            black_box(s.estimate(Timestamp(HOUR - 1 + q * HOUR / 6)))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(std::time::Duration::from_secs(3))
        .warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
