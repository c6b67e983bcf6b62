//! Detection machinery: what every rule is made of, and what the engine runs them with.
//!
//! A detector receives normalized events in event-time order and emits alerts. It owns its
//! windows, never reads files or the wall clock, and never knows which log format an event came
//! from. The same events in the same order always give the same alerts.
//!
//! The rules themselves live in [`crate::rules`], one folder each. This module holds what is
//! shared and is no rule: the traits ([`Detector`], [`RuleState`], [`RuleConfig`]), episodes,
//! sharding, the snapshot envelope and the login history the engine keeps for the rules. It
//! stays a module of its own rather than `rules/common/` because the engine depends on it and
//! must not depend on any one rule: `detect` is the contract between the two, `rules` the
//! plug-ins. A rule imports from here; nothing here imports a rule.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use crate::alert::Alert;
use crate::error::{ConfigError, StateError};
use crate::event::AuthEvent;
use crate::time::Timestamp;

pub mod episode;
pub mod evidence;
pub mod history;
pub mod shard;
pub mod state;

pub use episode::{Episode, Episodes};
pub use evidence::ThresholdCrossed;
pub use history::{HistoryConfig, LoginHistories};
pub use shard::{SHARDS, ShardFactory, ShardKey, ShardedDetector, per_key_rule};

/// A single line repeated more often than this (sshd's `message repeated N times`) is observed
/// this many times: the count is attacker-influenced and must not stall the run.
pub const MAX_REPEAT: u32 = 10_000;

/// An alert of [`Detector::observe_batch`]: (index of its event in the batch, repeat, alert).
pub type TaggedAlert = (u32, u32, Alert);

/// A detection rule over the event stream: what it does with each event, with other rules'
/// alerts and with the passing of event time. What it keeps, and how that is saved and
/// bounded, is its [`RuleState`] (a supertrait, so that the engine can hand every rule to the
/// checkpoint and the memory budget as a `&dyn RuleState`).
pub trait Detector: RuleState {
    /// The rule id this detector emits (`stuffing.ip`).
    fn name(&self) -> &'static str;

    /// Called once per event, in event-time order. Alerts go to `out`.
    fn observe(&mut self, ev: &AuthEvent, out: &mut Vec<Alert>);

    /// [`Detector::observe`] over a batch, each event `repeat` times (at most [`MAX_REPEAT`]):
    /// alerts go to `out` tagged with (index of the event in `events`, repeat), in the order
    /// one call after the other gives them. A sharded rule ([`ShardedDetector`]) runs its
    /// shards in parallel here.
    fn observe_batch(&mut self, events: &[AuthEvent], out: &mut Vec<TaggedAlert>) {
        let mut alerts = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            for rep in 0..ev.repeat.clamp(1, MAX_REPEAT) {
                self.observe(ev, &mut alerts);
                if !alerts.is_empty() {
                    out.extend(alerts.drain(..).map(|a| (i as u32, rep, a)));
                }
            }
        }
    }

    /// Called with every alert any detector emitted, right after the event that caused it, so
    /// that a rule can build on another one (a successful login from an address that takes part
    /// in a stuffing alert is `compromise.login`). Alerts emitted here are delivered but not fed
    /// back again, so rules cannot loop.
    fn on_alert(&mut self, _alert: &Alert, _out: &mut Vec<Alert>) {}

    /// True for a detector that acts on other detectors' alerts in [`Detector::on_alert`]. A
    /// scan runs such detectors one batch behind the others, on a thread of their own, and
    /// hands them each event's alerts before its next event, so the result is the same as one
    /// detector after the other.
    fn consumes_alerts(&self) -> bool {
        false
    }

    /// Called when event time has advanced to `watermark` without an event for this detector
    /// (and at the end of input), so windows can expire. Calling it twice with the same
    /// watermark has no further effect.
    fn advance(&mut self, _watermark: Timestamp, _out: &mut Vec<Alert>) {}
}

/// State kept across events: saved in checkpoints, measured against the memory budget, counted
/// in the run summary. Every rule has one (through [`Detector`]); the engine's own services
/// (the shared [`LoginHistories`]) have only this.
///
/// The memory methods have no default: a state that forgot them would escape the budget.
pub trait RuleState: Send {
    /// The name the state goes by in checkpoints (`<name>.json`) and summaries: the rule id,
    /// or `login.history`.
    fn state_name(&self) -> &'static str;

    /// Approximate bytes held by the per-key state, for the memory budget.
    fn state_bytes(&self) -> usize;

    /// Evicts the least recently active keys until the state holds about `bytes` or less.
    /// Returns how many keys were evicted. Called by the engine when the states together
    /// exceed the memory budget. A state bounded otherwise may evict nothing (and say why).
    fn evict_to(&mut self, bytes: usize) -> u64;

    /// Counters for the run summary, such as keys tracked and keys evicted.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }

    /// The whole state (not its config), for a checkpoint: a JSON value
    /// `{"version": 2, "detector": "<name>", "state": ...}` (see [`state`]).
    fn snapshot(&self) -> Result<serde_json::Value, StateError>;

    /// Replaces the state with a snapshot taken by the same type (the config stays the one
    /// this value was built with). On error the state is unchanged; a snapshot of another
    /// format version is an error, and the caller then starts fresh.
    fn restore(&mut self, state: serde_json::Value) -> Result<(), StateError>;

    /// [`RuleState::snapshot`] written to `out` as JSON text (the same document), without
    /// building the value tree: for a large state that tree costs several times the text in
    /// memory and about half the time. Pass a buffered writer.
    fn write_snapshot(&self, out: &mut dyn std::io::Write) -> Result<(), StateError>;

    /// [`RuleState::restore`] from the JSON text of a snapshot, without a value tree.
    fn read_snapshot(&mut self, text: &[u8]) -> Result<(), StateError>;
}

/// A rule's settings (`[detect.<rule>]`): checked once when the config is loaded, then turned
/// into the rule's detector. The registry ([`crate::rules`]) calls these for every rule.
pub trait RuleConfig: Send + Sync {
    /// False when the section turns the rule off (`enabled = false`).
    fn enabled(&self) -> bool;

    /// Values that parse but make no sense, as an error naming the full key
    /// (`detect.stuffing_ip.min_distinct_accounts`).
    fn validate(&self) -> Result<(), ConfigError>;

    /// The rule's detector; a rule whose state is wholly per key is sharded when `shard` is
    /// true ([`per_key_rule`]), and one instance otherwise.
    fn build(&self, shard: bool) -> Box<dyn Detector>;

    /// What the rule needs of the shared login history (the engine keeps one, as large as the
    /// most demanding enabled rule asks), or `None` when it does not read it.
    fn history(&self) -> Option<HistoryConfig> {
        None
    }
}

/// A [`crate::error::ConfigError::BadValue`] for `key` (the full key, `detect.<rule>.<field>`).
pub fn bad_value(key: &str, message: &str) -> ConfigError {
    ConfigError::BadValue {
        key: key.to_string(),
        message: message.to_string(),
    }
}

/// The first check that failed, as (failed, full key, message) triples: a rule's list of
/// nonsense values reads as a table.
pub fn first_failed(checks: &[(bool, &str, &str)]) -> Result<(), ConfigError> {
    match checks.iter().find(|c| c.0) {
        Some((_, key, message)) => Err(bad_value(key, message)),
        None => Ok(()),
    }
}

/// Approximate heap bytes a value owns beyond its inline size, for the memory budget. Estimates
/// from capacities: close enough to keep a budget, cheap enough to run every 65,536 events.
pub(crate) trait HeapSize {
    /// Heap bytes owned.
    fn heap_bytes(&self) -> usize;
}

impl HeapSize for crate::event::AccountKey {
    fn heap_bytes(&self) -> usize {
        self.as_str().len()
    }
}

impl HeapSize for u64 {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapSize for std::net::IpAddr {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapSize for crate::event::Asn {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapSize for crate::event::AddressHash {
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// Entries whose heap is measured one by one; beyond, [`map_bytes`] extrapolates from a sample.
const MEASURED_ENTRIES: usize = 4096;

/// Bytes held by a map of per-key state: its table plus what keys and values own.
///
/// The budget check runs every few thousand events; walking millions of keys each time cost
/// more than the detection itself during a flood of new accounts. Above [`MEASURED_ENTRIES`]
/// the heap part is extrapolated from that many entries (the table's iteration order is
/// unrelated to the keys' age or size, so they are a fair sample).
pub(crate) fn map_bytes<K: HeapSize, V: HeapSize, S>(map: &HashMap<K, V, S>) -> usize {
    // A hash table is at most 7/8 full; counting by length (not capacity) means an evicted
    // table counts as smaller without being reallocated, which would only churn memory.
    let table = map.len() * (std::mem::size_of::<K>() + std::mem::size_of::<V>() + 1) * 8 / 7;
    let sampled: usize = map
        .iter()
        .take(MEASURED_ENTRIES)
        .map(|(k, v)| k.heap_bytes() + v.heap_bytes())
        .sum();
    let heap = if map.len() > MEASURED_ENTRIES {
        (sampled as u128 * map.len() as u128 / MEASURED_ENTRIES as u128) as usize
    } else {
        sampled
    };
    table + heap
}

/// Evicts the least recently active tenth beyond `max` keys (by `last`, event-time millis).
/// Returns how many keys were evicted.
pub(crate) fn evict_oldest<K: Eq + Hash, V, S: BuildHasher>(
    map: &mut HashMap<K, V, S>,
    max: usize,
    last: impl Fn(&V) -> i64,
) -> u64 {
    if map.len() <= max {
        return 0;
    }
    let mut ages: Vec<i64> = map.values().map(&last).collect();
    let cut = ages.len().saturating_sub(max * 9 / 10);
    if cut == 0 {
        return 0;
    }
    let (_, nth, _) = ages.select_nth_unstable(cut - 1);
    let cutoff = *nth;
    let before = map.len();
    map.retain(|_, v| last(v) > cutoff);
    (before - map.len()) as u64
}

/// Evicts the least recently active keys of `map` until it holds about `bytes` or less,
/// assuming keys of similar size. Returns how many keys were evicted.
pub(crate) fn evict_to_bytes<K: Eq + Hash + HeapSize, V: HeapSize, S: BuildHasher>(
    map: &mut HashMap<K, V, S>,
    bytes: usize,
    last: impl Fn(&V) -> i64,
) -> u64 {
    let current = map_bytes(map);
    if current <= bytes || map.is_empty() {
        return 0;
    }
    let keep = (map.len() as u128 * bytes as u128 / current as u128) as usize;
    evict_oldest(map, keep, last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    struct State {
        last: i64,
        heap: Vec<u8>,
    }
    impl HeapSize for State {
        fn heap_bytes(&self) -> usize {
            self.heap.capacity()
        }
    }

    #[test]
    fn map_bytes_extrapolates_a_large_map_within_a_few_percent() {
        let mut map: HashMap<IpAddr, State> = HashMap::new();
        for i in 0u32..100_000 {
            map.insert(
                IpAddr::from(i.to_be_bytes()),
                State {
                    last: i64::from(i),
                    heap: vec![0; (i % 200) as usize],
                },
            );
        }
        let table = map.len() * (size_of::<IpAddr>() + size_of::<State>() + 1) * 8 / 7;
        let exact = table + map.values().map(|s| s.heap.capacity()).sum::<usize>();
        let est = map_bytes(&map);
        let err = (est as f64 - exact as f64).abs() / exact as f64;
        assert!(err < 0.05, "estimate {est}, exact {exact}");
        // Small maps are measured exactly.
        map.retain(|_, s| s.last < 1_000);
        let exact = map.len() * (size_of::<IpAddr>() + size_of::<State>() + 1) * 8 / 7
            + map.values().map(|s| s.heap.capacity()).sum::<usize>();
        assert_eq!(map_bytes(&map), exact);
    }

    #[test]
    fn evict_to_bytes_keeps_the_most_recently_active_keys() {
        let mut map: HashMap<IpAddr, State> = HashMap::new();
        for i in 0u32..10_000 {
            map.insert(
                IpAddr::from(i.to_be_bytes()),
                State {
                    last: i64::from(i),
                    heap: vec![0; 100],
                },
            );
        }
        let before = map_bytes(&map);
        assert!(before > 10_000 * 100);
        let evicted = evict_to_bytes(&mut map, before / 4, |s| s.last);
        assert!(
            map_bytes(&map) <= before / 4,
            "{} > {}",
            map_bytes(&map),
            before / 4
        );
        assert_eq!(evicted as usize + map.len(), 10_000);
        // The survivors are the most recently active.
        let oldest_kept = map.values().map(|s| s.last).min().unwrap();
        assert!(oldest_kept >= 10_000 - map.len() as i64);
        assert_eq!(evict_to_bytes(&mut map, usize::MAX, |s| s.last), 0);
    }
}
