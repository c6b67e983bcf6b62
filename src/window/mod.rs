//! Sliding event-time windows.
//!
//! A leaf module: it knows only [`Timestamp`]. Detectors own their windows and advance them with
//! event time, never with the wall clock.

pub mod address;
pub mod distinct;
pub mod split;

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{Millis, Timestamp};

/// Above this many distinct keys a [`SlidingDistinct`] switches from a vector to a hash map.
/// Most windows (one client, one or two accounts) never get there, and a small vector is both
/// smaller and faster than a map.
const SMALL_LIMIT: usize = 24;

/// Exact count of distinct 64-bit keys among the entries of a sliding window.
///
/// Each entry is `(time, key)`. Entries older than `now - length` leave the window when
/// [`SlidingDistinct::expire`] is called. Memory is proportional to the entries inside the
/// window; callers bound it with `max_entries` (the oldest entries are dropped first, which only
/// makes the count an undercount).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlidingDistinct {
    entries: VecDeque<(Timestamp, u64)>,
    counts: Counts,
    max_entries: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Counts {
    Small(Vec<(u64, u32)>),
    Large(HashMap<u64, u32, foldhash::fast::FixedState>),
}

impl SlidingDistinct {
    /// An empty window that holds at most `max_entries` entries.
    pub fn new(max_entries: usize) -> SlidingDistinct {
        SlidingDistinct {
            entries: VecDeque::new(),
            counts: Counts::Small(Vec::new()),
            max_entries: max_entries.max(1),
        }
    }

    /// Adds one entry.
    pub fn push(&mut self, ts: Timestamp, key: u64) {
        if self.entries.len() >= self.max_entries {
            self.pop_front();
        }
        self.entries.push_back((ts, key));
        match &mut self.counts {
            Counts::Small(v) => {
                if let Some(slot) = v.iter_mut().find(|(k, _)| *k == key) {
                    slot.1 += 1;
                } else if v.len() < SMALL_LIMIT {
                    v.push((key, 1));
                } else {
                    // Keys are already seeded hashes, so a fixed-state map is not floodable.
                    let mut m: HashMap<u64, u32, _> = HashMap::with_capacity_and_hasher(
                        64,
                        foldhash::fast::FixedState::default(),
                    );
                    m.extend(v.iter().copied());
                    m.insert(key, 1);
                    self.counts = Counts::Large(m);
                }
            }
            Counts::Large(m) => *m.entry(key).or_insert(0) += 1,
        }
    }

    /// Drops entries at or before `now - length`.
    pub fn expire(&mut self, now: Timestamp, length: Millis) {
        let horizon = now.0.saturating_sub(length);
        while let Some(&(ts, _)) = self.entries.front() {
            if ts.0 > horizon {
                break;
            }
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        let Some((_, key)) = self.entries.pop_front() else {
            return;
        };
        match &mut self.counts {
            Counts::Small(v) => {
                if let Some(i) = v.iter().position(|(k, _)| *k == key) {
                    v[i].1 -= 1;
                    if v[i].1 == 0 {
                        v.swap_remove(i);
                    }
                }
            }
            Counts::Large(m) => {
                if let Some(c) = m.get_mut(&key) {
                    *c -= 1;
                    if *c == 0 {
                        m.remove(&key);
                    }
                }
                if m.len() < SMALL_LIMIT / 2 {
                    self.counts = Counts::Small(m.iter().map(|(k, c)| (*k, *c)).collect());
                }
            }
        }
    }

    /// Number of distinct keys in the window.
    pub fn distinct(&self) -> usize {
        match &self.counts {
            Counts::Small(v) => v.len(),
            Counts::Large(m) => m.len(),
        }
    }

    /// Number of entries in the window.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the window holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Time of the oldest entry in the window.
    pub fn oldest(&self) -> Option<Timestamp> {
        self.entries.front().map(|e| e.0)
    }

    /// Approximate heap bytes held (for the memory budget).
    pub fn heap_bytes(&self) -> usize {
        let counts = match &self.counts {
            Counts::Small(v) => v.capacity() * std::mem::size_of::<(u64, u32)>(),
            Counts::Large(m) => m.capacity() * (std::mem::size_of::<(u64, u32)>() + 1),
        };
        self.entries.capacity() * std::mem::size_of::<(Timestamp, u64)>() + counts
    }
}

/// Count of events in a sliding window (no distinctness), as a queue of timestamps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SlidingCount {
    times: VecDeque<Timestamp>,
}

impl SlidingCount {
    /// Adds one event.
    pub fn push(&mut self, ts: Timestamp) {
        self.times.push_back(ts);
    }

    /// Drops the oldest event (to bound memory; the count becomes an undercount).
    pub fn pop_front(&mut self) {
        self.times.pop_front();
    }

    /// Drops events at or before `now - length`.
    pub fn expire(&mut self, now: Timestamp, length: Millis) {
        let horizon = now.0.saturating_sub(length);
        while self.times.front().is_some_and(|t| t.0 <= horizon) {
            self.times.pop_front();
        }
    }

    /// Events in the window.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// True when the window holds no event.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Time of the oldest event in the window.
    pub fn oldest(&self) -> Option<Timestamp> {
        self.times.front().copied()
    }

    /// Approximate heap bytes held (for the memory budget).
    pub fn heap_bytes(&self) -> usize {
        self.times.capacity() * std::mem::size_of::<Timestamp>()
    }
}

/// A seeded 64-bit hash for keys an attacker chooses (account names): seeded per run so nobody
/// can precompute colliding names.
///
/// The seed is serialized (as a bare number) with the detector state that holds the hasher,
/// so a restored detector hashes a name to the same key its maps were built with. It is a
/// secret only in the sense that the state file is: keep checkpoints as private as the logs.
#[derive(Debug, Clone)]
pub struct KeyHasher {
    seed: u64,
    state: foldhash::quality::FixedState,
}

impl Default for KeyHasher {
    /// A random seed, from foldhash's per-process random source (a fresh `RandomState` per
    /// call is seeded differently).
    fn default() -> KeyHasher {
        KeyHasher::with_seed(foldhash::quality::RandomState::default().hash_one(0x6372_6564_u64))
    }
}

impl KeyHasher {
    /// A hasher with a given seed: the same seed gives the same hashes in every process.
    pub fn with_seed(seed: u64) -> KeyHasher {
        KeyHasher {
            seed,
            state: foldhash::quality::FixedState::with_seed(seed),
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Hashes bytes.
    pub fn hash(&self, bytes: &[u8]) -> u64 {
        self.state.hash_one(bytes)
    }

    /// Re-hashes a 64-bit value (an [`crate::event::AccountKey::hash64`]) under this seed.
    pub fn hash_u64(&self, value: u64) -> u64 {
        self.state.hash_one(value)
    }
}

impl Serialize for KeyHasher {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.seed)
    }
}

impl<'de> Deserialize<'de> for KeyHasher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyHasher, D::Error> {
        u64::deserialize(d).map(KeyHasher::with_seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn key_hashers_are_random_per_run_and_restore_their_seed() {
        let (a, b) = (KeyHasher::default(), KeyHasher::default());
        assert_ne!(a.seed(), b.seed());
        assert_ne!(a.hash(b"alice"), b.hash(b"alice"));
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(text, a.seed().to_string());
        let back: KeyHasher = serde_json::from_str(&text).unwrap();
        assert_eq!(back.hash(b"alice"), a.hash(b"alice"));
        // Fixed per seed in every process (a restored map must find its keys).
        assert_eq!(
            KeyHasher::with_seed(7).hash(b"alice"),
            KeyHasher::with_seed(7).hash(b"alice")
        );
        assert!(serde_json::from_str::<KeyHasher>("-1").is_err());
        // Pinned: the same seed hashes the same in every process and build, so snapshots
        // written by this build restore in the next one. If a foldhash update changes this
        // value, old snapshots would restore with every per-key map unreachable: bump the
        // snapshot version (detect::state::VERSION) with it.
        assert_eq!(
            KeyHasher::with_seed(7).hash(b"alice"),
            6_846_068_006_126_955_641
        );
    }

    #[test]
    fn distinct_counts_and_expires() {
        let mut w = SlidingDistinct::new(1_000);
        for (t, k) in [(1, 1), (2, 2), (3, 1), (4, 3)] {
            w.push(Timestamp(t * 1_000), k);
        }
        assert_eq!((w.len(), w.distinct()), (4, 3));
        w.expire(Timestamp(12_000), 10_000); // drops t=1 and t=2
        assert_eq!((w.len(), w.distinct()), (2, 2));
        w.expire(Timestamp(100_000), 10_000);
        assert!(w.is_empty());
        assert_eq!(w.distinct(), 0);
    }

    #[test]
    fn bounded_entries() {
        let mut w = SlidingDistinct::new(10);
        for k in 0..100 {
            w.push(Timestamp(k), k as u64);
        }
        assert_eq!((w.len(), w.distinct()), (10, 10));
        assert_eq!(w.oldest(), Some(Timestamp(90)));
    }

    proptest! {
        /// The window's distinct count equals a brute-force count over the entries inside it,
        /// across the switch between the small and the large representation.
        #[test]
        fn matches_brute_force(events in prop::collection::vec((0i64..50, 0u64..60), 0..400),
                               length in 1i64..20) {
            let mut sorted = events.clone();
            sorted.sort();
            let mut w = SlidingDistinct::new(usize::MAX);
            for (i, &(t, k)) in sorted.iter().enumerate() {
                w.push(Timestamp(t), k);
                w.expire(Timestamp(t), length);
                let inside: Vec<_> = sorted[..=i].iter().filter(|(ts, _)| *ts > t - length).collect();
                let distinct: HashSet<_> = inside.iter().map(|(_, k)| *k).collect();
                prop_assert_eq!(w.len(), inside.len());
                prop_assert_eq!(w.distinct(), distinct.len());
            }
        }
    }
}
