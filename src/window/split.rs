//! A map from hashed 64-bit keys split over several tables.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Tables a [`SplitMap`] is split over.
const PARTS: usize = 16;

/// A map keyed by already-hashed 64-bit keys, split over 16 tables by the key's top
/// bits.
///
/// Lookups cost what they cost in one table. What changes is growth: a hash table doubles by
/// allocating the new buckets while it still holds the old ones, so one table of 10 million
/// addresses held some 800 MB of buckets at once for a moment (and the allocator may keep the
/// old ones). Split, each part grows a sixteenth at a time.
#[derive(Debug, Clone)]
pub struct SplitMap<V> {
    parts: Vec<HashMap<u64, V, foldhash::fast::FixedState>>,
}

impl<V> Default for SplitMap<V> {
    fn default() -> SplitMap<V> {
        SplitMap {
            parts: (0..PARTS).map(|_| HashMap::default()).collect(),
        }
    }
}

impl<V> SplitMap<V> {
    fn part(key: u64) -> usize {
        (key >> 60) as usize % PARTS
    }

    /// The value of `key`.
    pub fn get(&self, key: &u64) -> Option<&V> {
        self.parts[SplitMap::<V>::part(*key)].get(key)
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &u64) -> bool {
        self.parts[SplitMap::<V>::part(*key)].contains_key(key)
    }

    /// The value of `key`, inserted as `V::default()` if missing.
    pub fn get_or_default(&mut self, key: u64) -> &mut V
    where
        V: Default,
    {
        self.parts[SplitMap::<V>::part(key)].entry(key).or_default()
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.parts.iter().map(HashMap::len).sum()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(HashMap::is_empty)
    }

    /// Keeps the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&u64, &mut V) -> bool) {
        for p in &mut self.parts {
            p.retain(&mut keep);
        }
    }

    /// Approximate bytes: the tables (by length) plus `heap_per_entry` per entry.
    pub fn bytes(&self, heap_per_entry: usize) -> usize {
        self.len() * ((size_of::<(u64, V)>() + 1) * 8 / 7 + heap_per_entry)
    }

    /// Evicts the least recently active tenth beyond `max` entries (by `last`, event-time
    /// millis), over all parts at once. Returns how many were evicted.
    pub fn evict_oldest(&mut self, max: usize, last: impl Fn(&V) -> i64) -> u64 {
        let len = self.len();
        if len <= max {
            return 0;
        }
        let mut ages: Vec<i64> = self
            .parts
            .iter()
            .flat_map(|p| p.values().map(&last))
            .collect();
        let cut = ages.len().saturating_sub(max * 9 / 10);
        if cut == 0 {
            return 0;
        }
        let (_, nth, _) = ages.select_nth_unstable(cut - 1);
        let cutoff = *nth;
        self.retain(|_, v| last(v) > cutoff);
        (len - self.len()) as u64
    }
}

/// As one map (`{"<key>": value, ...}`), the shape of a single table's snapshot.
impl<V: Serialize> Serialize for SplitMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.parts.iter().flat_map(|p| p.iter()))
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SplitMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SplitMap<V>, D::Error> {
        let all: HashMap<u64, V, foldhash::fast::FixedState> = HashMap::deserialize(d)?;
        let mut m = SplitMap::default();
        for (k, v) in all {
            m.parts[SplitMap::<V>::part(k)].insert(k, v);
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_one_map_and_evicts_the_oldest_over_all_parts() {
        let mut m: SplitMap<i64> = SplitMap::default();
        let key = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for i in 0..10_000u64 {
            *m.get_or_default(key(i)) = i as i64;
        }
        assert_eq!(m.len(), 10_000);
        assert!(
            m.parts.iter().all(|p| p.len() > 400),
            "spread over every part"
        );
        assert_eq!(m.get(&key(77)), Some(&77));
        assert!(m.contains_key(&key(9_999)) && !m.contains_key(&1));
        let evicted = m.evict_oldest(1_000, |v| *v);
        assert_eq!(evicted as usize + m.len(), 10_000);
        assert!(m.len() <= 1_000);
        assert!(m.contains_key(&key(9_999)), "the newest stay");
        assert!(!m.contains_key(&key(0)), "the oldest go");
        let text = serde_json::to_string(&m).unwrap();
        let back: SplitMap<i64> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.len(), m.len());
        assert_eq!(back.get(&key(9_999)), Some(&9_999));
        m.retain(|_, v| *v % 2 == 0);
        assert!(m.get(&key(9_999)).is_none());
    }
}
