//! Detector state sharded by key, so that one rule's work spreads over the cores.
//!
//! A rule whose state is wholly per key (per account for `takeover.sequence`, per client
//! address for `stuffing.ip`) gives the same alerts when its keys are split over several
//! independent instances, each seeing only the events of its keys, in order. A
//! [`ShardedDetector`] holds [`SHARDS`] such instances and routes each event by a fixed hash of
//! its key; over a batch of events ([`Detector::observe_batch`]) the shards run in parallel on
//! rayon's pool and their alerts are put back in event order.
//!
//! The shard count is a constant, not the thread count: which instance holds which key, and so
//! every eviction and every alert, is the same for `--threads 1` and `--threads 64`. Limits on
//! tracked keys are divided among the shards, the memory budget is shared in proportion to
//! what each holds.

use rayon::prelude::*;

use crate::alert::Alert;
use crate::error::StateError;
use crate::event::AuthEvent;
use crate::time::Timestamp;

use super::{Detector, RuleState, TaggedAlert};

/// Instances per sharded rule. Eight keeps both cores of a small machine busy with room for
/// uneven shards, and is cheap on one core (a shard costs a few empty tables).
pub const SHARDS: usize = 8;

/// Which key a rule's state is kept under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardKey {
    /// The normalized account.
    Account,
    /// The client address.
    ClientAddress,
    /// The order's ship-to (an address hash).
    ShipTo,
}

/// Fixed, so that a key lands in the same shard in every run (shard assignment must not depend
/// on anything but the input). A key chosen to collide only shares a shard's table with others.
const SHARD_SEED: u64 = 0x6372_6564_7368_6172;

impl ShardKey {
    /// The shard of `ev`; events without the key go to shard 0 (where the rule ignores them,
    /// as it would unsharded).
    pub fn shard_of(self, ev: &AuthEvent) -> usize {
        use std::hash::BuildHasher;
        let state = foldhash::fast::FixedState::with_seed(SHARD_SEED);
        let hash = match self {
            // Already a keyed hash of the text, computed when the line was decoded.
            ShardKey::Account => ev.account.as_ref().map(|a| a.hash64()),
            ShardKey::ClientAddress => ev.ip.map(|ip| match ip {
                std::net::IpAddr::V4(a) => state.hash_one(a.octets()),
                std::net::IpAddr::V6(a) => state.hash_one(a.octets()),
            }),
            ShardKey::ShipTo => ev
                .details
                .as_ref()
                .and_then(|d| d.ship_to)
                .map(|h| state.hash_one(h.0)),
        };
        // The high bits: foldhash's low bits are weaker for short keys.
        hash.map_or(0, |h| (h >> 32) as usize % SHARDS)
    }
}

/// A rule whose state is wholly per `key`: as [`SHARDS`] instances, each with its share of the
/// rule's key limit (`limit`), or (`shard` false) as one.
pub fn per_key_rule<C: Clone + Send + Sync + 'static>(
    shard: bool,
    key: ShardKey,
    cfg: &C,
    limit: fn(&mut C) -> &mut usize,
    make: fn(C) -> Box<dyn Detector>,
) -> Box<dyn Detector> {
    if !shard {
        return make(cfg.clone());
    }
    let mut share = cfg.clone();
    let n = limit(&mut share);
    *n = n.div_ceil(SHARDS);
    Box::new(ShardedDetector::new(
        key,
        Box::new(move || make(share.clone())),
    ))
}

/// Builds one shard's instance (with its share of the rule's key limits).
pub type ShardFactory = Box<dyn Fn() -> Box<dyn Detector> + Send + Sync>;

/// One rule as [`SHARDS`] instances, each holding the state of the keys that hash to it.
pub struct ShardedDetector {
    name: &'static str,
    key: ShardKey,
    shards: Vec<Box<dyn Detector>>,
    make: ShardFactory,
}

impl ShardedDetector {
    /// [`SHARDS`] instances from `make`, routed by `key`. The rule must keep all its state per
    /// key and must not act on other rules' alerts.
    pub fn new(key: ShardKey, make: ShardFactory) -> ShardedDetector {
        let shards: Vec<Box<dyn Detector>> = (0..SHARDS).map(|_| make()).collect();
        let name = shards[0].name();
        debug_assert!(
            !shards[0].consumes_alerts(),
            "{name} acts on alerts: not shardable"
        );
        ShardedDetector {
            name,
            key,
            shards,
            make,
        }
    }

    /// Fresh instances with `snapshots` restored into them, or the first error (the detector is
    /// then unchanged).
    fn restored(
        &self,
        snapshots: Vec<ShardSnapshot<'_>>,
    ) -> Result<Vec<Box<dyn Detector>>, StateError> {
        if snapshots.len() != SHARDS {
            return Err(StateError {
                detector: self.name,
                message: format!(
                    "a snapshot of {} shards, this build keeps {SHARDS}",
                    snapshots.len()
                ),
            });
        }
        snapshots
            .into_iter()
            .map(|snap| {
                let mut d = (self.make)();
                match snap {
                    ShardSnapshot::Value(v) => d.restore(v)?,
                    ShardSnapshot::Text(t) => d.read_snapshot(t)?,
                }
                Ok(d)
            })
            .collect()
    }
}

enum ShardSnapshot<'a> {
    Value(serde_json::Value),
    Text(&'a [u8]),
}

impl Detector for ShardedDetector {
    fn name(&self) -> &'static str {
        self.name
    }

    fn observe(&mut self, ev: &AuthEvent, out: &mut Vec<Alert>) {
        let s = self.key.shard_of(ev);
        self.shards[s].observe(ev, out);
    }

    fn observe_batch(&mut self, events: &[AuthEvent], out: &mut Vec<TaggedAlert>) {
        // One pass to route, then each shard walks only its own events.
        let mut routed: Vec<Vec<u32>> = (0..SHARDS)
            .map(|_| Vec::with_capacity(events.len() / SHARDS * 2))
            .collect();
        for (i, ev) in events.iter().enumerate() {
            routed[self.key.shard_of(ev)].push(i as u32);
        }
        let per_shard: Vec<Vec<TaggedAlert>> = self
            .shards
            .par_iter_mut()
            .zip(routed)
            .map(|(d, mine)| {
                let mut tagged = Vec::new();
                let mut alerts = Vec::new();
                for i in mine {
                    let ev = &events[i as usize];
                    for rep in 0..ev.repeat.clamp(1, super::MAX_REPEAT) {
                        d.observe(ev, &mut alerts);
                        if !alerts.is_empty() {
                            tagged.extend(alerts.drain(..).map(|a| (i, rep, a)));
                        }
                    }
                }
                tagged
            })
            .collect();
        let start = out.len();
        out.extend(per_shard.into_iter().flatten());
        // An event's alerts all come from its one shard: a stable sort by event and repeat
        // gives exactly the order of one instance after the other.
        out[start..].sort_by_key(|(i, rep, _)| (*i, *rep));
    }

    fn advance(&mut self, watermark: Timestamp, out: &mut Vec<Alert>) {
        for d in &mut self.shards {
            d.advance(watermark, out);
        }
    }
}

impl RuleState for ShardedDetector {
    fn state_name(&self) -> &'static str {
        self.name()
    }

    fn state_bytes(&self) -> usize {
        self.shards.iter().map(|d| d.state_bytes()).sum()
    }

    fn evict_to(&mut self, bytes: usize) -> u64 {
        let sizes: Vec<usize> = self.shards.iter().map(|d| d.state_bytes()).collect();
        let total: usize = sizes.iter().sum();
        if total <= bytes {
            return 0;
        }
        self.shards
            .iter_mut()
            .zip(sizes)
            .map(|(d, size)| {
                let share = (size as u128 * bytes as u128 / total.max(1) as u128) as usize;
                d.evict_to(share)
            })
            .sum()
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut sum: Vec<(&'static str, u64)> = Vec::new();
        for d in &self.shards {
            for (name, n) in d.counters() {
                match sum.iter_mut().find(|(k, _)| *k == name) {
                    Some((_, total)) => *total += n,
                    None => sum.push((name, n)),
                }
            }
        }
        sum
    }

    /// `{"version": 2, "detector": "<rule>", "state": {"shards": [<each shard's snapshot>]}}`.
    fn snapshot(&self) -> Result<serde_json::Value, StateError> {
        let shards = self
            .shards
            .iter()
            .map(|d| d.snapshot())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(serde_json::json!({
            "version": super::state::VERSION,
            "detector": self.name,
            "state": {"shards": shards},
        }))
    }

    fn restore(&mut self, snapshot: serde_json::Value) -> Result<(), StateError> {
        #[derive(serde::Deserialize)]
        struct Shards {
            shards: Vec<serde_json::Value>,
        }
        let err = |message: String| StateError {
            detector: self.name,
            message,
        };
        let serde_json::Value::Object(mut map) = snapshot else {
            return Err(err("not a snapshot: expected an object".into()));
        };
        super::state::check_header(self.name, map.get("version"), map.get("detector"))?;
        let state = map
            .remove("state")
            .ok_or_else(|| err("not a snapshot: no state".into()))?;
        let shards: Shards =
            serde_json::from_value(state).map_err(|e| err(format!("restore: {e}")))?;
        self.shards = self.restored(
            shards
                .shards
                .into_iter()
                .map(ShardSnapshot::Value)
                .collect(),
        )?;
        Ok(())
    }

    fn write_snapshot(&self, out: &mut dyn std::io::Write) -> Result<(), StateError> {
        let io = |e: std::io::Error| StateError {
            detector: self.name,
            message: format!("snapshot: {e}"),
        };
        write!(
            out,
            "{{\"version\":{},\"detector\":\"{}\",\"state\":{{\"shards\":[",
            super::state::VERSION,
            self.name
        )
        .map_err(io)?;
        for (i, d) in self.shards.iter().enumerate() {
            if i > 0 {
                out.write_all(b",").map_err(io)?;
            }
            d.write_snapshot(out)?;
        }
        out.write_all(b"]}}").map_err(io)
    }

    fn read_snapshot(&mut self, text: &[u8]) -> Result<(), StateError> {
        #[derive(serde::Deserialize)]
        struct Header {
            version: Option<serde_json::Value>,
            detector: Option<serde_json::Value>,
        }
        #[derive(serde::Deserialize)]
        struct Body<'a> {
            #[serde(borrow)]
            state: Option<Shards<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Shards<'a> {
            #[serde(borrow)]
            shards: Vec<&'a serde_json::value::RawValue>,
        }
        let err = |message: String| StateError {
            detector: self.name,
            message,
        };
        // Header first, as for one detector: a snapshot of another version is reported as such.
        let header: Header =
            serde_json::from_slice(text).map_err(|e| err(format!("not a snapshot: {e}")))?;
        super::state::check_header(self.name, header.version.as_ref(), header.detector.as_ref())?;
        let body: Body<'_> =
            serde_json::from_slice(text).map_err(|e| err(format!("restore: {e}")))?;
        let shards = body
            .state
            .ok_or_else(|| err("not a snapshot: no state".into()))?
            .shards;
        self.shards = self.restored(
            shards
                .into_iter()
                .map(|raw| ShardSnapshot::Text(raw.get().as_bytes()))
                .collect(),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AccountKey, EventKind, LineMeta, Outcome};
    use crate::rules::takeover_sequence::{TakeoverConfig, TakeoverDetector};
    use crate::time::Timestamp;

    fn login(t: i64, account: &str) -> AuthEvent {
        let mut e = AuthEvent::new(Timestamp(t), EventKind::Login, LineMeta::default());
        e.outcome = Outcome::Success;
        e.account = AccountKey::normalize(account);
        e
    }

    #[test]
    fn keys_spread_over_every_shard_and_stay_put() {
        let mut seen = [0usize; SHARDS];
        for i in 0..8_000 {
            let ev = login(0, &format!("user{i}@example.com"));
            let s = ShardKey::Account.shard_of(&ev);
            assert_eq!(s, ShardKey::Account.shard_of(&ev));
            seen[s] += 1;
        }
        // 1,000 expected per shard.
        assert!(seen.iter().all(|&n| (800..1_200).contains(&n)), "{seen:?}");
        let mut no_account = login(0, "x");
        no_account.account = None;
        assert_eq!(ShardKey::Account.shard_of(&no_account), 0);
    }

    #[test]
    fn a_snapshot_of_another_shard_count_is_refused_and_changes_nothing() {
        let make: ShardFactory =
            Box::new(|| Box::new(TakeoverDetector::new(TakeoverConfig::default())));
        let mut d = ShardedDetector::new(ShardKey::Account, make);
        let mut snap = d.snapshot().unwrap();
        snap["state"]["shards"].as_array_mut().unwrap().pop();
        let e = d.restore(snap).unwrap_err();
        assert!(e.message.contains("7 shards"), "{}", e.message);
        let mut text = Vec::new();
        d.write_snapshot(&mut text).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(doc, d.snapshot().unwrap());
        assert_eq!(doc["state"]["shards"].as_array().unwrap().len(), SHARDS);
        d.read_snapshot(&text).unwrap();
    }
}
