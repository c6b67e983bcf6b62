//! Per-address sliding windows that stay small for millions of addresses.
//!
//! Most addresses that fail a login do it once or twice (a residential proxy at 1–3 tries, a
//! user who mistyped); the addresses worth alerting on are few. So an address lives in one of
//! two tiers:
//!
//! - **light**: up to `light_capacity` (at most [`LIGHT_EVENTS`]) events inline in a 24-byte
//!   slot of a hash table keyed by a seeded 64-bit hash of the address: no allocation, about
//!   50 bytes per address with the table's spare room. Light addresses never alert (every
//!   threshold is above the light capacity; [`AddressTable::new`] caps the capacity below the
//!   smallest threshold the caller names).
//! - **heavy**: the next event promotes the address to an [`AddressWindow`] (exact event counts
//!   per tally and a [`SlidingDistinctSketch`] of accounts: exact up to 64, then HyperLogLog),
//!   keyed by the full address, with the caller's extra state `V` (a sample of accounts, an ASN).
//!
//! Account names are kept as 32-bit fingerprints in both tiers so that a value seen before and
//! after promotion counts once. The table is split into 64 sub-tables by hash, so growing it
//! never reallocates (and briefly doubles) the whole table at once.
//!
//! Two addresses whose seeded hashes collide share a light slot: the only effect is that one
//! may be promoted an event early. With 10 million addresses the chance of any collision is
//! about 3 in a million.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::time::{Millis, Timestamp};
use crate::window::distinct::SlidingDistinctSketch;
use crate::window::{KeyHasher, SlidingCount};

/// Most events an address keeps inline before it is promoted to an [`AddressWindow`].
pub const LIGHT_EVENTS: usize = 2;

const SHARDS: usize = 64;

/// The fingerprint of an account (or any value) as both tiers store it: the high half of a
/// seeded 64-bit hash.
pub fn fingerprint(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// Up to [`LIGHT_EVENTS`] events. `stamp` 0 is a free pair; otherwise
/// `(ts + 1) << 8 | has_account << 7 | tally`, with `ts` clamped to `0..2^55` (the years
/// 1970–3111; an earlier time counts as 1970).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct LightSlot {
    stamp: [u64; LIGHT_EVENTS],
    fp: [u32; LIGHT_EVENTS],
}

const MAX_TS: i64 = (1 << 55) - 2;

impl LightSlot {
    fn pack(ts: Timestamp, tally: u8, account: Option<u32>) -> (u64, u32) {
        let t = ts.0.clamp(0, MAX_TS) as u64 + 1;
        let flag = if account.is_some() { 0x80 } else { 0 };
        (
            t << 8 | flag | u64::from(tally & 0x7f),
            account.unwrap_or(0),
        )
    }

    fn unpack(stamp: u64, fp: u32) -> (Timestamp, u8, Option<u32>) {
        let ts = Timestamp((stamp >> 8) as i64 - 1);
        let tally = (stamp & 0x7f) as u8;
        (ts, tally, (stamp & 0x80 != 0).then_some(fp))
    }

    fn newest(&self) -> i64 {
        self.stamp
            .iter()
            .filter(|s| **s != 0)
            .map(|s| (s >> 8) as i64 - 1)
            .max()
            .unwrap_or(i64::MIN)
    }

    /// Frees the events at or before `horizon`; returns how many are still live.
    fn expire(&mut self, horizon: i64) -> usize {
        let mut live = 0;
        for s in &mut self.stamp {
            if *s != 0 && ((*s >> 8) as i64 - 1) <= horizon {
                *s = 0;
            }
            live += usize::from(*s != 0);
        }
        live
    }
}

/// One address's sliding window once it has more events than fit inline: counts per tally
/// (exact, the newest `max_events` per tally) and the distinct accounts among its events.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddressWindow<const T: usize> {
    window: Millis,
    max_events: usize,
    accounts: SlidingDistinctSketch,
    #[serde(with = "tallies")]
    tallies: [SlidingCount; T],
}

/// serde has no impl for arrays of a const-generic length: a sequence of exactly `T`.
mod tallies {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::window::SlidingCount;

    pub(super) fn serialize<S: Serializer, const T: usize>(
        t: &[SlidingCount; T],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        t.as_slice().serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, const T: usize>(
        d: D,
    ) -> Result<[SlidingCount; T], D::Error> {
        let v = Vec::<SlidingCount>::deserialize(d)?;
        let n = v.len();
        v.try_into()
            .map_err(|_| serde::de::Error::custom(format!("{n} tallies, expected {T}")))
    }
}

impl<const T: usize> AddressWindow<T> {
    fn new(window: Millis, max_events: usize, exact_distinct: usize) -> AddressWindow<T> {
        AddressWindow {
            window,
            max_events: max_events.max(1),
            accounts: SlidingDistinctSketch::with_exact_limit(window, exact_distinct),
            tallies: std::array::from_fn(|_| SlidingCount::default()),
        }
    }

    fn push(&mut self, ts: Timestamp, tally: u8, account: Option<u32>) {
        if let Some(t) = self.tallies.get_mut(usize::from(tally)) {
            if t.len() >= self.max_events {
                t.pop_front();
            }
            t.push(ts);
        }
        if let Some(fp) = account {
            self.accounts.insert(ts, u64::from(fp));
        }
    }

    fn expire(&mut self, now: Timestamp) {
        for t in &mut self.tallies {
            t.expire(now, self.window);
        }
        self.accounts.expire(now);
    }

    /// Events of tally `i` inside the window.
    pub fn tally(&self, i: usize) -> usize {
        self.tallies.get(i).map_or(0, SlidingCount::len)
    }

    /// Time of the oldest event inside the window among the given tallies.
    pub fn oldest(&self, tallies: &[usize]) -> Option<Timestamp> {
        tallies
            .iter()
            .filter_map(|i| self.tallies.get(*i).and_then(SlidingCount::oldest))
            .min()
    }

    /// Distinct accounts among the events inside the window ending at `now`: exact up to
    /// 64, then an estimate within about 1 % (see [`SlidingDistinctSketch`]).
    pub fn distinct_accounts(&self, now: Timestamp) -> u64 {
        self.accounts.estimate(now)
    }

    /// True while the distinct-account count is exact.
    pub fn accounts_exact(&self) -> bool {
        self.accounts.is_exact()
    }

    fn is_empty(&self) -> bool {
        self.tallies.iter().all(SlidingCount::is_empty) && self.accounts.is_empty()
    }

    fn bytes(&self) -> usize {
        size_of::<Self>() - size_of::<SlidingDistinctSketch>()
            + self.accounts.bytes()
            + self
                .tallies
                .iter()
                .map(SlidingCount::heap_bytes)
                .sum::<usize>()
    }
}

/// A promoted address: its window, when it was last active, and the caller's extra state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeavyAddress<V, const T: usize> {
    /// The address's window.
    pub window: AddressWindow<T>,
    /// Event time of its newest event.
    pub last_seen: Timestamp,
    /// The caller's state (a sample of accounts, the ASN, ...).
    pub extra: V,
}

/// Sliding windows for many addresses in two tiers (see the module documentation).
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "V: Serialize", deserialize = "V: Deserialize<'de>"))]
pub struct AddressTable<V, const T: usize> {
    window: Millis,
    light_capacity: usize,
    max_events: usize,
    /// Distinct accounts counted exactly per heavy address before its sketch takes over.
    #[serde(default = "default_exact_distinct")]
    exact_distinct: usize,
    hasher: KeyHasher,
    shards: Vec<HashMap<u64, LightSlot, foldhash::fast::FixedState>>,
    /// Entries over all shards, kept in step so `len` costs nothing.
    light_count: usize,
    heavy: HashMap<IpAddr, HeavyAddress<V, T>, foldhash::quality::RandomState>,
}

impl<V: Default, const T: usize> AddressTable<V, T> {
    /// Bytes of one light bucket: the hash key and the inline slot (plus one control byte).
    pub const LIGHT_BUCKET_BYTES: usize = size_of::<(u64, LightSlot)>();

    /// A table of windows `window` ms long. `smallest_threshold` is the smallest event count
    /// at which the caller may act on an address: addresses stay light only below it. Each
    /// tally keeps at most `max_events` events per address (older ones are dropped first, an
    /// undercount).
    pub fn new(window: Millis, smallest_threshold: usize, max_events: usize) -> AddressTable<V, T> {
        AddressTable {
            window: window.max(1),
            light_capacity: smallest_threshold.saturating_sub(1).min(LIGHT_EVENTS),
            max_events,
            exact_distinct: default_exact_distinct(),
            hasher: KeyHasher::default(),
            shards: (0..SHARDS).map(|_| HashMap::default()).collect(),
            light_count: 0,
            heavy: HashMap::default(),
        }
    }

    /// Counts distinct accounts exactly up to `n` per address (at least 64) before the sketch:
    /// give the highest threshold the caller compares them with, so that its decisions and
    /// numbers are exact and the same on every run.
    pub fn with_exact_distinct(mut self, n: usize) -> AddressTable<V, T> {
        self.exact_distinct = n.max(default_exact_distinct());
        self
    }

    /// Records an event of `tally` (below `T`) for `ip` at `ts`, with the account's
    /// [`fingerprint`] if the event names one; `now` is the watermark. Returns the address's
    /// window when it is heavy (after this event), `None` while it stays light.
    pub fn record(
        &mut self,
        ip: IpAddr,
        ts: Timestamp,
        now: Timestamp,
        tally: u8,
        account: Option<u32>,
    ) -> Option<&mut HeavyAddress<V, T>> {
        let horizon = now.0.saturating_sub(self.window);
        if self.heavy.contains_key(&ip) {
            let h = self.heavy.get_mut(&ip)?;
            h.window.expire(now);
            h.window.push(ts, tally, account);
            h.last_seen = h.last_seen.max(ts);
            return Some(h);
        }
        let key = self.hash(&ip);
        let shard = self.shards.get_mut(shard_of(key))?;
        let before = shard.len();
        let slot = shard.entry(key).or_default();
        let live = slot.expire(horizon);
        if live < self.light_capacity {
            let (stamp, fp) = LightSlot::pack(ts, tally, account);
            if let Some(i) = slot.stamp.iter().position(|s| *s == 0) {
                slot.stamp[i] = stamp;
                slot.fp[i] = fp;
                if shard.len() > before {
                    self.light_count += 1;
                }
                return None;
            }
        }
        // Promote: replay the live inline events (oldest first), then this one.
        let old = shard.remove(&key).unwrap_or_default();
        if shard.len() < before {
            self.light_count = self.light_count.saturating_sub(1);
        }
        let mut events: Vec<_> = old
            .stamp
            .iter()
            .zip(old.fp)
            .filter(|(s, _)| **s != 0)
            .map(|(s, fp)| LightSlot::unpack(*s, fp))
            .collect();
        events.sort_by_key(|e| e.0);
        let mut h = HeavyAddress {
            window: AddressWindow::new(self.window, self.max_events, self.exact_distinct),
            last_seen: ts,
            extra: V::default(),
        };
        for (t, tally, fp) in events {
            h.window.push(t, tally, fp);
            h.last_seen = h.last_seen.max(t);
        }
        h.window.push(ts, tally, account);
        Some(self.heavy.entry(ip).or_insert(h))
    }

    /// True when the table holds events for `ip` in either tier.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        if self.heavy.contains_key(ip) {
            return true;
        }
        let key = self.hash(ip);
        self.shards
            .get(shard_of(key))
            .is_some_and(|s| s.contains_key(&key))
    }

    /// The heavy entry of `ip`, if it has one.
    pub fn heavy_mut(&mut self, ip: &IpAddr) -> Option<&mut HeavyAddress<V, T>> {
        self.heavy.get_mut(ip)
    }

    /// Drops addresses with nothing left in the window ending at `now`; a heavy address whose
    /// window drained goes away entirely (it comes back light).
    pub fn sweep(&mut self, now: Timestamp) {
        let horizon = now.0.saturating_sub(self.window);
        for shard in &mut self.shards {
            shard.retain(|_, slot| slot.expire(horizon) > 0);
        }
        self.light_count = self.shards.iter().map(HashMap::len).sum();
        self.heavy.retain(|_, h| {
            h.window.expire(now);
            h.last_seen.0 > horizon && !h.window.is_empty()
        });
    }

    /// Addresses tracked (both tiers).
    pub fn len(&self) -> usize {
        self.light_len() + self.heavy.len()
    }

    /// True when no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Addresses in the light tier.
    pub fn light_len(&self) -> usize {
        self.light_count
    }

    /// Addresses in the heavy tier.
    pub fn heavy_len(&self) -> usize {
        self.heavy.len()
    }

    /// Bytes held: the light tables by capacity (cheap: no walk over the keys), the heavy
    /// entries one by one with `extra_bytes` for the caller's state.
    pub fn bytes(&self, extra_bytes: impl Fn(&V) -> usize) -> usize {
        let light = self.light_bytes();
        let heavy_bucket = size_of::<(IpAddr, HeavyAddress<V, T>)>() + 1;
        let heavy = table_buckets(self.heavy.capacity()) * heavy_bucket
            + self
                .heavy
                .values()
                .map(|h| h.window.bytes() - size_of::<AddressWindow<T>>() + extra_bytes(&h.extra))
                .sum::<usize>();
        light + heavy
    }

    /// Bytes of the light tier alone (its tables, by capacity).
    pub fn light_bytes(&self) -> usize {
        let light_bucket = size_of::<(u64, LightSlot)>() + 1;
        self.shards
            .iter()
            .map(|s| table_buckets(s.capacity()) * light_bucket)
            .sum()
    }

    /// Evicts the least recently active addresses beyond `max` (the oldest tenth more, so that
    /// the next events do not evict again at once). Returns how many were evicted.
    pub fn evict_over(&mut self, max: usize) -> u64 {
        let len = self.len();
        if len <= max {
            return 0;
        }
        let keep = max * 9 / 10;
        let mut ages: Vec<i64> = self
            .shards
            .iter()
            .flat_map(|s| s.values().map(LightSlot::newest))
            .chain(self.heavy.values().map(|h| h.last_seen.0))
            .collect();
        let cut = ages.len().saturating_sub(keep);
        if cut == 0 {
            return 0;
        }
        let (_, nth, _) = ages.select_nth_unstable(cut - 1);
        let cutoff = *nth;
        for shard in &mut self.shards {
            shard.retain(|_, slot| slot.newest() > cutoff);
            if shard.capacity() > 2 * shard.len() + 64 {
                shard.shrink_to_fit();
            }
        }
        self.light_count = self.shards.iter().map(HashMap::len).sum();
        self.heavy.retain(|_, h| h.last_seen.0 > cutoff);
        (len - self.len()) as u64
    }

    /// Evicts the least recently active addresses until the table holds about `bytes` or less
    /// (assuming addresses of similar size). Returns how many were evicted.
    pub fn evict_to_bytes(&mut self, bytes: usize, extra_bytes: impl Fn(&V) -> usize) -> u64 {
        let current = self.bytes(extra_bytes);
        let len = self.len();
        if current <= bytes || len == 0 {
            return 0;
        }
        let keep = (len as u128 * bytes as u128 / current as u128) as usize;
        // `evict_over` keeps nine tenths of its argument.
        self.evict_over(keep * 10 / 9)
    }

    fn hash(&self, ip: &IpAddr) -> u64 {
        match ip {
            IpAddr::V4(a) => self.hasher.hash(&a.octets()),
            IpAddr::V6(a) => self.hasher.hash(&a.octets()),
        }
    }
}

fn default_exact_distinct() -> usize {
    crate::window::distinct::EXACT_LIMIT
}

fn shard_of(key: u64) -> usize {
    (key >> 58) as usize % SHARDS
}

/// Buckets behind a hashbrown table of `capacity` (7/8 load, a power of two).
fn table_buckets(capacity: usize) -> usize {
    if capacity == 0 {
        0
    } else if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity * 8 / 7).next_power_of_two()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Table = AddressTable<u32, 3>;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn light_until_the_capacity_then_heavy_with_every_event() {
        let mut t = Table::new(10_000, 20, 1_000);
        let a = ip(7);
        assert!(
            t.record(a, Timestamp(1), Timestamp(1), 0, Some(11))
                .is_none()
        );
        assert!(t.record(a, Timestamp(2), Timestamp(2), 1, None).is_none());
        assert_eq!((t.light_len(), t.heavy_len()), (1, 0));
        let h = t
            .record(a, Timestamp(3), Timestamp(3), 0, Some(12))
            .unwrap();
        assert_eq!((h.window.tally(0), h.window.tally(1)), (2, 1));
        assert_eq!(h.window.distinct_accounts(Timestamp(3)), 2);
        assert_eq!(h.window.oldest(&[0, 1]), Some(Timestamp(1)));
        assert_eq!(h.last_seen, Timestamp(3));
        // The same account again (fingerprints agree across the promotion).
        let h = t
            .record(a, Timestamp(4), Timestamp(4), 0, Some(11))
            .unwrap();
        assert_eq!(h.window.distinct_accounts(Timestamp(4)), 2);
        assert_eq!((t.light_len(), t.heavy_len()), (0, 1));
        assert!(t.contains(&a));
        assert!(!t.contains(&ip(8)));
    }

    #[test]
    fn expired_inline_events_free_their_room() {
        let mut t = Table::new(10_000, 20, 1_000);
        let a = ip(7);
        t.record(a, Timestamp(0), Timestamp(0), 0, Some(1));
        t.record(a, Timestamp(1), Timestamp(1), 0, Some(2));
        // 10 s later both are outside the window: the address stays light.
        assert!(
            t.record(a, Timestamp(10_001), Timestamp(10_001), 0, Some(3))
                .is_none()
        );
        t.sweep(Timestamp(20_001));
        assert!(t.is_empty());
    }

    #[test]
    fn a_small_threshold_means_a_smaller_light_tier() {
        let mut t = Table::new(10_000, 2, 1_000);
        assert!(
            t.record(ip(1), Timestamp(0), Timestamp(0), 0, None)
                .is_none()
        );
        assert!(
            t.record(ip(1), Timestamp(1), Timestamp(1), 0, None)
                .is_some()
        );
        let mut t = Table::new(10_000, 1, 1_000);
        assert!(
            t.record(ip(1), Timestamp(0), Timestamp(0), 0, None)
                .is_some()
        );
    }

    #[test]
    fn heavy_addresses_drain_and_go() {
        let mut t = Table::new(10_000, 3, 1_000);
        for i in 0..5 {
            t.record(ip(1), Timestamp(i), Timestamp(i), 0, Some(i as u32));
        }
        assert_eq!(t.heavy_len(), 1);
        t.sweep(Timestamp(9_999));
        assert_eq!(t.heavy_len(), 1);
        t.sweep(Timestamp(10_004));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn eviction_keeps_the_most_recently_active() {
        let mut t = Table::new(i64::MAX / 4, 20, 1_000);
        for i in 0..10_000u32 {
            let ts = Timestamp(i64::from(i));
            t.record(ip(i), ts, ts, 0, Some(i));
        }
        let evicted = t.evict_over(1_000);
        assert_eq!(evicted as usize + t.len(), 10_000);
        assert!(t.len() <= 1_000);
        assert!(t.contains(&ip(9_999)));
        assert!(!t.contains(&ip(0)));
        let before = t.bytes(|_| 0);
        t.evict_to_bytes(before / 2, |_| 0);
        assert!(t.len() <= 500, "{}", t.len());
    }

    #[test]
    fn a_light_address_costs_about_fifty_bytes() {
        let mut t = Table::new(i64::MAX / 4, 20, 1_000);
        for i in 0..100_000u32 {
            t.record(ip(i), Timestamp(1), Timestamp(1), 0, Some(i));
        }
        let per_key = t.bytes(|_| 0) / t.len();
        assert!((33..=80).contains(&per_key), "{per_key} B per address");
    }

    proptest! {
        /// A restored table answers like the original: tiers, tallies, distinct counts, and
        /// the light slots found by the restored hash seed.
        #[test]
        fn a_restored_table_answers_like_the_original(
            events in prop::collection::vec((0i64..3, 0u32..40, 0u8..3, prop::option::of(0u32..90)), 1..300),
            split in 0usize..300,
            window in 1i64..60,
        ) {
            let mut t = 0;
            let events: Vec<_> = events
                .into_iter()
                .map(|(dt, ip_n, tally, acct)| {
                    t += dt;
                    (Timestamp(t), ip(ip_n), tally, acct)
                })
                .collect();
            let split = split % events.len();
            let mut a = Table::new(window, 4, 50);
            for &(ts, addr, tally, acct) in &events[..split] {
                a.record(addr, ts, ts, tally, acct);
            }
            let text = serde_json::to_string(&a).unwrap();
            let mut b: Table = serde_json::from_str(&text).unwrap();
            prop_assert_eq!((a.light_len(), a.heavy_len()), (b.light_len(), b.heavy_len()));
            for n in 0..40 {
                prop_assert_eq!(a.contains(&ip(n)), b.contains(&ip(n)));
            }
            let view = |h: &mut HeavyAddress<u32, 3>, ts: Timestamp| {
                let w = &h.window;
                (w.tally(0), w.tally(1), w.tally(2), w.distinct_accounts(ts), w.oldest(&[0, 1, 2]), h.last_seen)
            };
            for (i, &(ts, addr, tally, acct)) in events[split..].iter().enumerate() {
                let ha = a.record(addr, ts, ts, tally, acct).map(|h| view(h, ts));
                let hb = b.record(addr, ts, ts, tally, acct).map(|h| view(h, ts));
                prop_assert_eq!(ha, hb);
                if i % 17 == 0 {
                    a.sweep(ts);
                    b.sweep(ts);
                }
                prop_assert_eq!((a.light_len(), a.heavy_len()), (b.light_len(), b.heavy_len()));
            }
        }

        /// Whatever the tier, tallies equal a brute-force count over the events inside the
        /// window once an address is heavy, and the distinct count is exact below 64.
        #[test]
        fn tallies_match_brute_force(events in prop::collection::vec((0i64..40, 0u8..3, prop::option::of(0u32..30)), 1..200),
                                     window in 1i64..15) {
            let mut sorted = events.clone();
            sorted.sort_by_key(|e| e.0);
            let mut t = Table::new(window, 3, usize::MAX);
            let a = ip(42);
            for (i, &(ts, tally, acct)) in sorted.iter().enumerate() {
                let now = Timestamp(ts);
                let inside: Vec<_> = sorted[..=i].iter().filter(|e| e.0 > ts - window).collect();
                match t.record(a, now, now, tally, acct) {
                    Some(h) => {
                        for k in 0..3u8 {
                            let want = inside.iter().filter(|e| e.1 == k).count();
                            prop_assert_eq!(h.window.tally(usize::from(k)), want);
                        }
                        let mut accts: Vec<_> = inside.iter().filter_map(|e| e.2).collect();
                        accts.sort_unstable();
                        accts.dedup();
                        prop_assert_eq!(h.window.distinct_accounts(now), accts.len() as u64);
                    }
                    None => prop_assert!(inside.len() <= LIGHT_EVENTS),
                }
            }
        }
    }
}
