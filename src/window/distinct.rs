//! Sliding distinct counting that stays exact for small sets and switches to a HyperLogLog
//! sketch once a key's set grows.
//!
//! Why our own sketch: the `hyperloglog` crate (1.0.4) has confirmed accuracy and merge defects
//! (see the engineering notes), and a per-key sketch that slides over a window needs panes,
//! which no crate we measured offers.
//!
//! Two tiers:
//! - exact: up to [`EXACT_LIMIT`] `(hash, last seen)` entries, so every decision below 64 distinct
//!   values is exact and a typical key costs a few dozen bytes;
//! - sketch: a ring of [`PANES`] panes of `window / PANES` each, every pane a dense HyperLogLog
//!   with 2^[`PRECISION`] one-byte registers (standard error 1.04 / √8192 ≈ 1.15 %; p = 12 would
//!   give 1.6 % but then single runs at 10,000 exceed 2 % about one time in five). A query merges
//!   the panes still inside the window by register-wise max.
//!
//! The estimator is Ertl's "improved" estimator (O. Ertl, *New cardinality estimation algorithms
//! for HyperLogLog sketches*, 2017). It plays the role of HLL++'s linear counting and empirical
//! bias tables: its `σ` term is the continuous form of linear counting for the small range, its
//! `τ` term removes the large-range bias, and it needs no tables, so the estimate is good from
//! 64 up to billions.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use crate::time::{Millis, Timestamp};

/// Distinct values counted exactly before a key switches to the sketch.
pub const EXACT_LIMIT: usize = 64;
/// HyperLogLog precision: 2^13 = 8192 registers per pane (≈ 1.15 % standard error).
pub const PRECISION: u32 = 13;
/// Panes in the ring: the window slides in steps of `window / PANES`.
pub const PANES: usize = 6;

const REGISTERS: usize = 1 << PRECISION;
/// Bits left for the rank after the register index; a register holds at most `Q + 1`.
const Q: u32 = 64 - PRECISION;

/// Distinct count of 64-bit hashes over a sliding event-time window, exact up to
/// [`EXACT_LIMIT`] values and a HyperLogLog beyond.
///
/// Window semantics: in the exact tier a value counts while its last sighting is newer than
/// `now - window`. In the sketch tier time is quantised into panes of `window / PANES`
/// milliseconds (at least 1): a value counts while its pane is one of the `PANES` newest at `now`.
/// So a counted value is never older than the window, and a value seen less than
/// `window - 2 * window / PANES` ago always counts (in practice `window - window / PANES` when
/// the window is a multiple of `PANES` ms): the sketch may undercount by at most one pane, never
/// overcount.
///
/// Once in the sketch tier a key stays there until all its panes have left the window; then it
/// returns to an empty exact tier. While in the sketch tier, counts below 64 are estimates (linear
/// counting at this size is almost always exact, but not guaranteed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlidingDistinctSketch {
    window: Millis,
    pane_len: Millis,
    /// Distinct values kept exactly before the switch to the sketch ([`EXACT_LIMIT`] unless the
    /// caller asked for more with [`SlidingDistinctSketch::with_exact_limit`]).
    #[serde(default = "default_exact_limit")]
    exact_limit: usize,
    exact: Vec<(u64, Timestamp)>,
    ring: Option<Box<Ring>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ring {
    panes: [Pane; PANES],
    /// The merged registers of the panes live at one query pane, kept up to date by inserts so a
    /// query after an insert costs a lookup, not a merge of every pane. Interior mutability
    /// because a query (`&self`) builds it; `try_borrow_mut` so a query never panics. Not part
    /// of a snapshot: a restored ring starts with an invalid view, rebuilt by the first query.
    #[serde(skip)]
    view: RefCell<View>,
}

/// Register-wise max of the panes live at `pane`, its histogram and estimate.
#[derive(Debug, Clone)]
struct View {
    valid: bool,
    pane: i64,
    regs: Vec<u8>,
    hist: Hist,
    est: u64,
}

impl Default for View {
    fn default() -> View {
        View {
            valid: false,
            pane: 0,
            regs: Vec::new(),
            hist: [0; Q as usize + 2],
            est: 0,
        }
    }
}

/// Count of registers per value `0..=Q + 1`.
type Hist = [u32; Q as usize + 2];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Pane {
    /// Pane index (`ts / pane_len`) whose values the registers hold; meaningless while `regs` is
    /// empty.
    index: i64,
    /// Empty until the pane is first used, then [`REGISTERS`] bytes.
    #[serde(with = "registers")]
    regs: Vec<u8>,
}

/// Registers as text, one printable character per register (`'0' + value`, values `0..=Q + 1`
/// give `'0'..='e'`): 8 KiB per pane instead of about 20 KiB as a JSON array of numbers, and
/// a damaged pane (wrong length, a value out of range) is an error, never a register that
/// would index out of the histogram.
mod registers {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Q, REGISTERS};

    pub(super) fn serialize<S: Serializer>(regs: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text: String = regs
            .iter()
            .map(|&r| char::from(b'0' + r.min(Q as u8 + 1)))
            .collect();
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if !text.is_empty() && text.len() != REGISTERS {
            return Err(serde::de::Error::custom(format!(
                "a pane has {} registers, expected {REGISTERS}",
                text.len()
            )));
        }
        text.bytes()
            .map(|c| match c.checked_sub(b'0') {
                Some(r) if u32::from(r) <= Q + 1 => Ok(r),
                _ => Err(serde::de::Error::custom("a register out of range")),
            })
            .collect()
    }
}

fn default_exact_limit() -> usize {
    EXACT_LIMIT
}

impl SlidingDistinctSketch {
    /// An empty counter over a window of `window` milliseconds (at least 1).
    pub fn new(window: Millis) -> SlidingDistinctSketch {
        SlidingDistinctSketch::with_exact_limit(window, EXACT_LIMIT)
    }

    /// A counter that stays exact up to `limit` distinct values (at least [`EXACT_LIMIT`]).
    /// A detector passes its highest threshold, so that every decision and every number it
    /// reports is exact — and the same on every run, whatever the per-run hash seed — while
    /// the rare key far beyond it still costs a bounded sketch.
    pub fn with_exact_limit(window: Millis, limit: usize) -> SlidingDistinctSketch {
        let window = window.max(1);
        SlidingDistinctSketch {
            window,
            pane_len: (window / PANES as i64).max(1),
            exact_limit: limit.max(EXACT_LIMIT),
            exact: Vec::new(),
            ring: None,
        }
    }

    /// The window length in milliseconds.
    pub fn window(&self) -> Millis {
        self.window
    }

    /// True while the counter is in the exact tier (its counts are exact).
    pub fn is_exact(&self) -> bool {
        self.ring.is_none()
    }

    /// Records `hash` seen at `ts`. `hash` should be a seeded hash of the value
    /// ([`crate::window::KeyHasher`]); it is remixed before it reaches the sketch, so a weaker hash
    /// (an IPv4 address as a number) still spreads over the registers.
    pub fn insert(&mut self, ts: Timestamp, hash: u64) {
        if self.ring.is_some() {
            if self.ring_is_stale(ts) {
                // Every pane left the window: back to the cheap exact tier.
                self.ring = None;
            } else {
                self.sketch_insert(ts, hash);
                return;
            }
        }
        if let Some(e) = self.exact.iter_mut().find(|e| e.0 == hash) {
            e.1 = e.1.max(ts);
            return;
        }
        if self.exact.len() >= self.exact_limit {
            let window = self.window;
            self.exact.retain(|e| inside(e.1, ts, window));
        }
        if self.exact.len() < self.exact_limit {
            self.exact.push((hash, ts));
            return;
        }
        // The 65th live value: move everything into panes by last sighting.
        self.ring = Some(Box::new(Ring {
            panes: Default::default(),
            view: RefCell::new(View::default()),
        }));
        let exact = std::mem::take(&mut self.exact);
        for (h, t) in exact {
            self.sketch_insert(t, h);
        }
        self.sketch_insert(ts, hash);
    }

    /// Drops what has left the window at `now`: exact entries at or before `now - window`, and
    /// the whole sketch once none of its panes is inside the window. Optional for correctness
    /// ([`Self::estimate`] ignores stale data); call it to give memory back.
    pub fn expire(&mut self, now: Timestamp) {
        if self.ring.is_some() {
            if self.ring_is_stale(now) {
                self.ring = None;
            }
            return;
        }
        let window = self.window;
        self.exact.retain(|e| inside(e.1, now, window));
        if self.exact.is_empty() {
            self.exact = Vec::new();
        } else if self.exact.capacity() > 2 * self.exact.len() + 4 {
            self.exact.shrink_to_fit();
        }
    }

    /// Distinct values inside the window ending at `now`.
    pub fn estimate(&self, now: Timestamp) -> u64 {
        let Some(ring) = &self.ring else {
            let window = self.window;
            return self
                .exact
                .iter()
                .filter(|e| inside(e.1, now, window))
                .count() as u64;
        };
        let now_pane = self.pane_of(now);
        let Ok(mut view) = ring.view.try_borrow_mut() else {
            // Unreachable (no re-entrant query), but a fresh view answers just as well.
            let mut v = View::default();
            v.rebuild(&ring.panes, now_pane);
            return v.est;
        };
        if !(view.valid && view.pane == now_pane) {
            view.rebuild(&ring.panes, now_pane);
        }
        view.est
    }

    /// True when nothing has been recorded (or everything was expired).
    pub fn is_empty(&self) -> bool {
        self.ring.is_none() && self.exact.is_empty()
    }

    /// Heap and inline bytes this counter holds, for memory accounting.
    pub fn bytes(&self) -> usize {
        let mut n = size_of::<Self>() + self.exact.capacity() * size_of::<(u64, Timestamp)>();
        if let Some(ring) = &self.ring {
            n += size_of::<Ring>();
            n += ring.panes.iter().map(|p| p.regs.capacity()).sum::<usize>();
            n += ring.view.try_borrow().map_or(0, |v| v.regs.capacity());
        }
        n
    }

    fn pane_of(&self, ts: Timestamp) -> i64 {
        ts.0.div_euclid(self.pane_len)
    }

    fn ring_is_stale(&self, now: Timestamp) -> bool {
        let now_pane = self.pane_of(now);
        self.ring
            .as_ref()
            .is_none_or(|r| !r.panes.iter().any(|p| pane_live(p, now_pane)))
    }

    fn sketch_insert(&mut self, ts: Timestamp, hash: u64) {
        let k = self.pane_of(ts);
        let Some(ring) = self.ring.as_mut() else {
            return;
        };
        let Some(pane) = ring.panes.get_mut(k.rem_euclid(PANES as i64) as usize) else {
            return;
        };
        let view = ring.view.get_mut();
        if pane.regs.is_empty() || pane.index < k {
            // A new pane replaces the one `PANES` steps older, which has left every window
            // that contains `ts`; the view stays right unless it still counted that pane.
            if pane.regs.is_empty() {
                pane.regs = vec![0; REGISTERS];
            } else {
                if pane_live(pane, view.pane) {
                    view.valid = false;
                }
                pane.regs.fill(0);
            }
            pane.index = k;
        } else if pane.index > k {
            // Older than every pane in the ring: outside any window the ring can still answer.
            return;
        }
        let h = mix(hash);
        let idx = (h >> Q) as usize;
        let rank = ((h << PRECISION).leading_zeros() + 1).min(Q + 1) as u8;
        if let Some(r) = pane.regs.get_mut(idx)
            && *r < rank
        {
            *r = rank;
            if view.valid && pane_live(pane, view.pane) {
                view.raise(idx, rank);
            }
        }
    }
}

impl View {
    /// Merges the panes live at `now_pane` from scratch (once per pane step, or after the
    /// switch to the sketch).
    fn rebuild(&mut self, panes: &[Pane], now_pane: i64) {
        self.regs.clear();
        self.regs.resize(REGISTERS, 0);
        for pane in panes {
            if pane_live(pane, now_pane) {
                for (m, r) in self.regs.iter_mut().zip(&pane.regs) {
                    *m = (*m).max(*r);
                }
            }
        }
        self.hist = histogram(&self.regs);
        self.est = estimate_hist(&self.hist);
        self.pane = now_pane;
        self.valid = true;
    }

    /// A live pane's register `idx` rose to `rank`: update the merged register, the histogram
    /// and the estimate incrementally.
    fn raise(&mut self, idx: usize, rank: u8) {
        let Some(m) = self.regs.get_mut(idx) else {
            return;
        };
        if *m >= rank {
            return;
        }
        if let Some(c) = self.hist.get_mut(usize::from(*m)) {
            *c = c.saturating_sub(1);
        }
        if let Some(c) = self.hist.get_mut(usize::from(rank)) {
            *c += 1;
        }
        *m = rank;
        self.est = estimate_hist(&self.hist);
    }
}

/// `ts` is inside the window `(now - window, now]` (or newer). Wide arithmetic so that times
/// near `i64::MIN` don't saturate into the wrong answer.
fn inside(ts: Timestamp, now: Timestamp, window: Millis) -> bool {
    i128::from(now.0) - i128::from(ts.0) < i128::from(window)
}

/// A used pane whose index is one of the `PANES` newest at `now_pane` (or newer).
fn pane_live(p: &Pane, now_pane: i64) -> bool {
    !p.regs.is_empty() && p.index > now_pane.saturating_sub(PANES as i64)
}

/// MurmurHash3's 64-bit finaliser: a bijection, so distinct inputs stay distinct.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn histogram(regs: &[u8]) -> Hist {
    let mut c = [0u32; Q as usize + 2];
    for &r in regs {
        if let Some(slot) = c.get_mut(usize::from(r).min(Q as usize + 1)) {
            *slot += 1;
        }
    }
    c
}

/// Ertl's improved raw estimator over dense registers.
#[cfg(test)]
fn estimate_registers(regs: &[u8]) -> u64 {
    estimate_hist(&histogram(regs))
}

/// Ertl's improved raw estimator from the register histogram `c` (`m = Σ c`).
fn estimate_hist(c: &Hist) -> u64 {
    let m = f64::from(c.iter().sum::<u32>());
    if m == 0.0 {
        return 0;
    }
    let count = |k: usize| f64::from(c.get(k).copied().unwrap_or(0));
    let mut z = m * tau(1.0 - count(Q as usize + 1) / m);
    for k in (1..=Q as usize).rev() {
        z = 0.5 * (z + count(k));
    }
    z += m * sigma(count(0) / m);
    let alpha_inf = 1.0 / (2.0 * std::f64::consts::LN_2);
    let e = alpha_inf * m * m / z;
    // `as` saturates: no register set gives +∞ / 0 (empty), all saturated gives u64::MAX.
    e.max(0.0).round() as u64
}

/// σ(x) = x + Σ_{k≥1} x^(2^k) 2^(k-1): the small-range (linear counting) term.
fn sigma(mut x: f64) -> f64 {
    if x >= 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_old = z;
        z += x * y;
        y += y;
        if z == z_old {
            return z;
        }
    }
}

/// τ(x) = (1 - x - Σ_{k≥1} (1 - x^(2^-k))² 2^-k) / 3: the large-range term.
fn tau(mut x: f64) -> f64 {
    if x <= 0.0 || x >= 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_old = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z == z_old {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// SplitMix64: independent pseudo-random hashes per seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    fn rel_err(est: u64, truth: u64) -> f64 {
        (est as f64 - truth as f64).abs() / truth as f64
    }

    #[test]
    fn damaged_registers_are_errors() {
        let mut s = SlidingDistinctSketch::new(HOUR);
        for i in 0..100u64 {
            s.insert(Timestamp(i as i64), mix(i));
        }
        assert!(!s.is_exact());
        let text = serde_json::to_string(&s).unwrap();
        let back: SlidingDistinctSketch = serde_json::from_str(&text).unwrap();
        assert_eq!(back.estimate(Timestamp(100)), s.estimate(Timestamp(100)));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let regs = v["ring"]["panes"][0]["regs"].as_str().unwrap().to_string();
        assert_eq!(regs.len(), REGISTERS);
        // A pane one register short, and a register past the largest rank.
        let mut short = v.clone();
        short["ring"]["panes"][0]["regs"] = serde_json::json!(regs[1..].to_string());
        let e = serde_json::from_value::<SlidingDistinctSketch>(short).unwrap_err();
        assert!(
            e.to_string().contains("8191 registers, expected 8192"),
            "{e}"
        );
        let mut high = v;
        high["ring"]["panes"][0]["regs"] = serde_json::json!(format!("f{}", &regs[1..]));
        let e = serde_json::from_value::<SlidingDistinctSketch>(high).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn exact_below_limit() {
        let mut s = SlidingDistinctSketch::new(HOUR);
        for i in 0..EXACT_LIMIT as u64 {
            // Each value twice: repeats must not count.
            s.insert(Timestamp(i as i64), i * 7919);
            s.insert(Timestamp(i as i64 + 1), i * 7919);
            assert_eq!(s.estimate(Timestamp(100)), i + 1);
        }
        assert!(s.is_exact());
        assert_eq!(s.estimate(Timestamp(100)), 64);
        // The 65th distinct value switches to the sketch, which still says 65 at this size.
        s.insert(Timestamp(200), 1);
        assert!(!s.is_exact());
        assert_eq!(s.estimate(Timestamp(200)), 65);
    }

    #[test]
    fn exact_tier_slides_exactly() {
        let mut s = SlidingDistinctSketch::new(10_000);
        for (t, h) in [(1_000, 1), (2_000, 2), (3_000, 1), (4_000, 3)] {
            s.insert(Timestamp(t), h);
        }
        assert_eq!(s.estimate(Timestamp(4_000)), 3);
        // Hash 2 was last seen at 2 s: gone at 12 s (window is (now - 10 s, now]).
        assert_eq!(s.estimate(Timestamp(11_999)), 3);
        assert_eq!(s.estimate(Timestamp(12_000)), 2);
        assert_eq!(s.estimate(Timestamp(13_000)), 1); // hash 1 renewed at 3 s
        assert_eq!(s.estimate(Timestamp(14_000)), 0);
        s.expire(Timestamp(14_000));
        assert!(s.is_empty());
        assert_eq!(s.bytes(), size_of::<SlidingDistinctSketch>());
    }

    #[test]
    fn exact_tier_recycles_expired_entries_instead_of_switching() {
        let mut s = SlidingDistinctSketch::new(10_000);
        for i in 0..64u64 {
            s.insert(Timestamp(0), i);
        }
        for i in 64..128u64 {
            s.insert(Timestamp(20_000), i);
        }
        assert!(s.is_exact());
        assert_eq!(s.estimate(Timestamp(20_000)), 64);
    }

    /// Issue 3: ≤ 2 % error at 10,000 distinct values, asserted for EVERY one of 20 fixed seeds,
    /// plus a root-mean-square error ≤ 1.5 %. (Measured once over 200 seeds at p = 13: mean
    /// absolute error 0.67 %, RMSE 0.86 %, worst 2.27 %; at p = 12: 1.19 %, 1.48 %, 4.55 %.)
    #[test]
    fn error_at_ten_thousand_within_two_percent() {
        let (mut total, mut sq) = (0.0, 0.0);
        let mut worst: f64 = 0.0;
        for seed in 0..20u64 {
            let mut rng = Rng(seed.wrapping_mul(0x1234_5678_9ABC_DEF1));
            let mut s = SlidingDistinctSketch::new(HOUR);
            let mut exact = std::collections::HashSet::new();
            let mut seen = Vec::new();
            // 10,000 distinct values among ~15,000 sightings spread over about 50 minutes.
            let mut t = 0;
            while exact.len() < 10_000 {
                let r = rng.next();
                let h = if seen.len() > 100 && r.is_multiple_of(3) {
                    // a repeat of an earlier value
                    seen[(r >> 8) as usize % seen.len()]
                } else {
                    rng.next()
                };
                if exact.insert(h) {
                    seen.push(h);
                }
                s.insert(Timestamp(t), h);
                t += 200;
            }
            let e = rel_err(s.estimate(Timestamp(t)), 10_000);
            worst = worst.max(e);
            total += e;
            sq += e * e;
        }
        let (mean, rmse) = (total / 20.0, (sq / 20.0).sqrt());
        eprintln!("10k: mean abs rel err {mean:.4}, rmse {rmse:.4}, max {worst:.4}");
        assert!(worst <= 0.02 && rmse <= 0.015, "{mean} {rmse} {worst}");
    }

    /// From the switch at 64 up to a million: mean absolute relative error across seeds stays
    /// within 2 % at every checkpoint (no bias hump in the mid range, unlike `hyperloglog` 1.0.4
    /// around 30k), and no single run is off by more than 5 %.
    #[test]
    fn error_across_the_range() {
        let checkpoints = [
            65u64, 100, 200, 500, 1_000, 3_000, 10_000, 30_000, 100_000, 1_000_000,
        ];
        let seeds = 5;
        let mut sum = [0.0f64; 10];
        for seed in 0..seeds {
            let mut rng = Rng(seed + 99);
            let mut s = SlidingDistinctSketch::new(HOUR);
            let mut n = 0u64;
            for (i, &c) in checkpoints.iter().enumerate() {
                while n < c {
                    s.insert(Timestamp(0), rng.next());
                    n += 1;
                }
                let e = rel_err(s.estimate(Timestamp(0)), c);
                assert!(e <= 0.05, "seed {seed} n {c}: {}", s.estimate(Timestamp(0)));
                if let Some(x) = sum.get_mut(i) {
                    *x += e;
                }
            }
        }
        for (c, s) in checkpoints.iter().zip(sum) {
            assert!(s / seeds as f64 <= 0.02, "n {c}: mean {}", s / seeds as f64);
        }
    }

    /// Window 60 min, 6 panes of 10 min. 5,000 values in minutes 0–9 and 5,000 other values in
    /// minutes 30–39: at minute 45 both count; at minute 60 the first pane (0–9) has left the
    /// window, although values from minute 9 are only 51 minutes old (the one-pane
    /// undercount tolerance); at minute 90 only the second batch remains... until minute 100.
    #[test]
    fn sketch_slides_by_pane() {
        let mut rng = Rng(7);
        let mut s = SlidingDistinctSketch::new(HOUR);
        for i in 0..5_000i64 {
            s.insert(Timestamp(i * 120), rng.next()); // 0 .. 10 min
        }
        for i in 0..5_000i64 {
            s.insert(Timestamp(30 * MIN + i * 120), rng.next());
        }
        let at = |s: &SlidingDistinctSketch, m: i64| s.estimate(Timestamp(m * MIN));
        assert!(rel_err(at(&s, 45), 10_000) <= 0.03, "{}", at(&s, 45));
        assert!(rel_err(at(&s, 59), 10_000) <= 0.03, "{}", at(&s, 59));
        assert!(rel_err(at(&s, 60), 5_000) <= 0.03, "{}", at(&s, 60));
        assert!(rel_err(at(&s, 89), 5_000) <= 0.03, "{}", at(&s, 89));
        assert_eq!(at(&s, 90), 0);
        assert!(!s.is_exact());
        s.expire(Timestamp(90 * MIN));
        assert!(s.is_exact() && s.is_empty());
        // And it counts exactly again afterwards.
        s.insert(Timestamp(91 * MIN), 42);
        assert_eq!(at(&s, 91), 1);
    }

    #[test]
    fn new_pane_replaces_the_oldest_and_late_events_are_ignored() {
        let mut s = SlidingDistinctSketch::new(6_000); // panes of 1 s
        for h in 0..1_000u64 {
            s.insert(Timestamp(500), h); // pane 0
        }
        for h in 1_000..1_100u64 {
            s.insert(Timestamp(6_500), h); // pane 6, same slot as pane 0
        }
        assert!(rel_err(s.estimate(Timestamp(6_500)), 100) <= 0.03);
        // A late event from pane 0 cannot revive it.
        s.insert(Timestamp(400), 5_000);
        assert!(rel_err(s.estimate(Timestamp(6_500)), 100) <= 0.03);
        // One pane plus the merged view.
        assert_eq!(
            s.bytes(),
            size_of::<SlidingDistinctSketch>() + size_of::<Ring>() + 2 * REGISTERS
        );
    }

    /// A query behind the newest pane, after that pane overwrote one the query still counted,
    /// answers from the panes the ring holds now, as a merge from scratch would.
    #[test]
    fn view_drops_an_overwritten_pane() {
        let mut s = SlidingDistinctSketch::new(600); // panes of 100 ms
        for h in 0..2_000u64 {
            s.insert(Timestamp(50), h); // pane 0
        }
        for h in 2_000..2_100u64 {
            s.insert(Timestamp(550), h); // pane 5
        }
        assert!(rel_err(s.estimate(Timestamp(550)), 2_100) <= 0.03);
        s.insert(Timestamp(650), 9_999); // pane 6 takes pane 0's slot
        assert_eq!(s.estimate(Timestamp(550)), 101);
        assert_eq!(s.estimate(Timestamp(650)), 101);
    }

    #[test]
    fn estimator_edges() {
        assert_eq!(estimate_registers(&[0u8; REGISTERS]), 0);
        // All registers saturated: huge but finite.
        assert!(estimate_registers(&[(Q + 1) as u8; REGISTERS]) > 1_000_000_000_000);
        assert_eq!(
            SlidingDistinctSketch::new(0).estimate(Timestamp(i64::MIN)),
            0
        );
    }

    proptest! {
        /// Never panics at extreme times, and the estimate within one pane (times jitter by a few
        /// ms, windows of at least 6 s) never drops by more than 3 % + 2 as values are added:
        /// registers only grow and the estimator is monotone in each register; the slack is for
        /// the switch from the exact count to the estimate at 65 values.
        #[test]
        fn no_panic_and_monotone(window in prop_oneof![6_000i64..100_000, Just(i64::MAX)],
                                 base in prop_oneof![Just(i64::MIN), Just(i64::MAX), -1_000_000i64..1_000_000],
                                 hashes in prop::collection::vec(any::<u64>(), 0..600),
                                 jitter in prop::collection::vec(0i64..3, 0..600)) {
            let mut s = SlidingDistinctSketch::new(window);
            let mut last = 0u64;
            for (i, h) in hashes.iter().enumerate() {
                let t = Timestamp(base.saturating_add(jitter.get(i).copied().unwrap_or(0)));
                s.insert(t, *h);
                let e = s.estimate(Timestamp(base));
                prop_assert!(e as f64 >= last as f64 * 0.97 - 2.0, "{} after {}", e, last);
                prop_assert!(e <= (i as u64 + 1) * 2 + 2);
                last = last.max(e);
                s.expire(Timestamp(base));
                let _ = s.bytes();
            }
        }

        /// Arbitrary (unsorted) times never panic and never give more than the values inserted.
        #[test]
        fn arbitrary_times(events in prop::collection::vec((any::<i64>(), any::<u64>()), 0..300),
                           window in any::<i64>(), now in any::<i64>()) {
            let mut s = SlidingDistinctSketch::new(window);
            for (t, h) in &events {
                s.insert(Timestamp(*t), *h);
            }
            let e = s.estimate(Timestamp(now));
            prop_assert!(e <= events.len() as u64 * 2 + 2);
            s.expire(Timestamp(now));
        }
    }

    proptest! {
        // Each case clones and re-merges the sketch three times per step: fewer cases in debug.
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// A snapshot taken in either tier answers every later query like the original, and
        /// keeps doing so as both go on taking the same values.
        #[test]
        fn a_restored_sketch_answers_like_the_original(
            steps in prop::collection::vec((0i64..5_000, 0u64..400), 1..600),
            split in 0usize..600,
            window in 1i64..20_000,
        ) {
            let mut t = 0i64;
            let steps: Vec<(Timestamp, u64)> = steps
                .into_iter()
                .map(|(dt, v)| {
                    t += dt / 50;
                    (Timestamp(t), mix(v))
                })
                .collect();
            let split = split % steps.len();
            let mut a = SlidingDistinctSketch::new(window);
            for &(ts, h) in &steps[..split] {
                a.insert(ts, h);
            }
            // Query first, so the original's view is warm and the restored one's is not.
            let now = steps[split].0;
            let _ = a.estimate(now);
            let text = serde_json::to_string(&a).unwrap();
            let mut b: SlidingDistinctSketch = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(b.is_exact(), a.is_exact());
            for &(ts, h) in &steps[split..] {
                a.insert(ts, h);
                b.insert(ts, h);
                for later in [ts, Timestamp(ts.0 + window / 2), Timestamp(ts.0 + window)] {
                    prop_assert_eq!(a.estimate(later), b.estimate(later));
                }
                if h % 7 == 0 {
                    a.expire(ts);
                    b.expire(ts);
                }
                prop_assert_eq!((a.is_exact(), a.is_empty()), (b.is_exact(), b.is_empty()));
            }
        }

        /// The incrementally maintained view always equals a merge from scratch, through pane
        /// rotations, late events and queries at older or newer times.
        #[test]
        fn view_matches_rebuild(steps in prop::collection::vec((0i64..2_000, any::<u64>(), 0u8..4), 0..300)) {
            let mut s = SlidingDistinctSketch::new(600); // panes of 100 ms
            let mut t = 0i64;
            for (i, &(dt, h, q)) in steps.iter().enumerate() {
                // Mostly forward in time (about 10 ms a step, so ~120 values per window: the sketch
                // tier), sometimes a late event.
                t = if q == 0 { (t - dt / 4).max(0) } else { t + dt / 100 };
                // Enough values to leave the exact tier early.
                s.insert(Timestamp(t), h);
                s.insert(Timestamp(t), h.wrapping_add(i as u64));
                // Query mostly at the insert's pane (so the incremental path is what answers),
                // sometimes ahead or behind (a rebuild for another pane, then inserts into it).
                let nows = match q {
                    1 => vec![t + 150],
                    2 => vec![t.saturating_sub(150)],
                    _ => vec![t],
                };
                for now in nows {
                    let got = s.estimate(Timestamp(now));
                    let mut fresh = s.clone();
                    if let Some(r) = fresh.ring.as_mut() {
                        r.view.get_mut().valid = false;
                    }
                    prop_assert_eq!(got, fresh.estimate(Timestamp(now)));
                }
            }
        }
    }
}
