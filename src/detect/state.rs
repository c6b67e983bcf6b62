//! Detector state snapshots: the versioned envelope and the serde helpers the detectors share.
//!
//! A snapshot is `{"version": 2, "detector": "stuffing.ip", "state": {...}}`, where `state` is
//! the detector struct serialized without its config, and `detector` its rule id (two detectors
//! can have state of the same shape: a snapshot restores only into its own type). Everything is serialized exactly: timestamps as millisecond
//! counts and address hashes as 64-bit numbers (their `Serialize`; people's forms are opt-in), floats as
//! their shortest round-trip text (serde_json's default float parsing can be off by one ulp),
//! hash maps whose keys are not strings or numbers as `[key, value]` pairs.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use serde::de::{DeserializeOwned, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::StateError;

/// The snapshot format version. Bump it when a detector's state changes shape: a snapshot of
/// another version is refused (the detector starts fresh) rather than misread.
///
/// Version 2: per-key rules sharded (their state is a list of shard snapshots), and account
/// hashes derived from [`crate::event::AccountKey::hash64`].
pub const VERSION: u64 = 2;

#[derive(Serialize)]
struct Envelope<'a, T> {
    version: u64,
    detector: &'static str,
    state: &'a T,
}

/// Serializes `state` in the envelope.
pub(crate) fn snapshot<T: Serialize>(
    detector: &'static str,
    state: &T,
) -> Result<Value, StateError> {
    serde_json::to_value(Envelope {
        version: VERSION,
        detector,
        state,
    })
    .map_err(|e| StateError {
        detector,
        message: format!("snapshot: {e}"),
    })
}

/// Writes `state` in the envelope as JSON text, without building a [`Value`] tree (which costs
/// several times the text in memory for a large state).
pub(crate) fn write<T: Serialize>(
    detector: &'static str,
    state: &T,
    out: &mut dyn std::io::Write,
) -> Result<(), StateError> {
    serde_json::to_writer(
        out,
        &Envelope {
            version: VERSION,
            detector,
            state,
        },
    )
    .map_err(|e| StateError {
        detector,
        message: format!("snapshot: {e}"),
    })
}

/// Refuses an envelope of another version or another detector.
pub(crate) fn check_header(
    detector: &'static str,
    version: Option<&Value>,
    name: Option<&Value>,
) -> Result<(), StateError> {
    let err = |message: String| Err(StateError { detector, message });
    match version {
        Some(Value::Number(n)) if n.as_u64() == Some(VERSION) => {}
        Some(v) => {
            return err(format!(
                "snapshot version {v}, this build reads version {VERSION}"
            ));
        }
        None => return err("not a snapshot: no version".into()),
    }
    match name {
        Some(Value::String(name)) if name == detector => Ok(()),
        Some(other) => err(format!("a snapshot of detector {other}")),
        None => err("not a snapshot: no detector".into()),
    }
}

/// Checks the envelope's version and detector and deserializes its state.
pub(crate) fn restore<T: DeserializeOwned>(
    detector: &'static str,
    snapshot: Value,
) -> Result<T, StateError> {
    let err = |message: String| StateError { detector, message };
    let Value::Object(mut map) = snapshot else {
        return Err(err("not a snapshot: expected an object".into()));
    };
    check_header(detector, map.get("version"), map.get("detector"))?;
    let state = map
        .remove("state")
        .ok_or_else(|| err("not a snapshot: no state".into()))?;
    serde_json::from_value(state).map_err(|e| err(format!("restore: {e}")))
}

/// [`restore`] from JSON text, without a [`Value`] tree: a first pass reads only the header
/// (skipping the state), so a snapshot of another version is reported as such rather than as
/// whatever its state's shape breaks first.
pub(crate) fn read<T: DeserializeOwned>(
    detector: &'static str,
    text: &[u8],
) -> Result<T, StateError> {
    #[derive(Deserialize)]
    struct Header {
        version: Option<Value>,
        detector: Option<Value>,
    }
    #[derive(Deserialize)]
    struct Body<T> {
        state: Option<T>,
    }
    let err = |message: String| StateError { detector, message };
    let header: Header =
        serde_json::from_slice(text).map_err(|e| err(format!("not a snapshot: {e}")))?;
    check_header(detector, header.version.as_ref(), header.detector.as_ref())?;
    serde_json::from_slice::<Body<T>>(text)
        .map_err(|e| err(format!("restore: {e}")))?
        .state
        .ok_or_else(|| err("not a snapshot: no state".into()))
}

/// A hash map as a sequence of `[key, value]` pairs, for keys JSON objects cannot hold
/// (`()`, enums with data) and for generic keys.
pub(crate) mod pairs {
    use super::*;

    pub(crate) fn serialize<K, V, H, S>(map: &HashMap<K, V, H>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: Serializer,
    {
        s.collect_seq(map.iter())
    }

    pub(crate) fn deserialize<'de, K, V, H, D>(d: D) -> Result<HashMap<K, V, H>, D::Error>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        H: BuildHasher + Default,
        D: Deserializer<'de>,
    {
        struct Pairs<K, V, H>(std::marker::PhantomData<(K, V, H)>);
        impl<'de, K, V, H> Visitor<'de> for Pairs<K, V, H>
        where
            K: Deserialize<'de> + Eq + Hash,
            V: Deserialize<'de>,
            H: BuildHasher + Default,
        {
            type Value = HashMap<K, V, H>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of [key, value] pairs")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // The size hint is untrusted input: cap the preallocation.
                let mut map = HashMap::with_capacity_and_hasher(
                    seq.size_hint().unwrap_or(0).min(1 << 16),
                    H::default(),
                );
                while let Some((k, v)) = seq.next_element::<(K, V)>()? {
                    map.insert(k, v);
                }
                Ok(map)
            }
        }
        d.deserialize_seq(Pairs(std::marker::PhantomData))
    }
}

/// An `f64` serialized as its shortest round-trip text (`"12.5"`, `"NaN"`), parsed back exactly.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExactF64(pub(crate) f64);

impl Serialize for ExactF64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ExactF64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ExactF64, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse()
            .map(ExactF64)
            .map_err(|_| serde::de::Error::custom(format!("not a number: {text:?}")))
    }
}

/// `#[serde(with)]` for an `f64` field, through [`ExactF64`].
pub(crate) mod exact_f64 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        ExactF64(*v).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        ExactF64::deserialize(d).map(|v| v.0)
    }
}

/// `#[serde(with)]` for `Vec<(String, f64)>` (totals per currency), through [`ExactF64`].
pub(crate) mod exact_f64_pairs {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(k, x)| (k, ExactF64(*x))))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, f64)>, D::Error> {
        let v = Vec::<(String, ExactF64)>::deserialize(d)?;
        Ok(v.into_iter().map(|(k, x)| (k, x.0)).collect())
    }
}

/// Implements [`super::RuleState`]'s snapshot methods for a detector
/// struct that derives `Serialize` and `Deserialize` with `#[serde(skip)] cfg`.
macro_rules! snapshot_methods {
    () => {
        fn snapshot(&self) -> Result<serde_json::Value, crate::error::StateError> {
            crate::detect::state::snapshot(self.name(), self)
        }

        fn restore(&mut self, state: serde_json::Value) -> Result<(), crate::error::StateError> {
            let mut restored: Self = crate::detect::state::restore(self.name(), state)?;
            // The config is the one this detector was built with, never the snapshot's.
            restored.cfg = self.cfg.clone();
            *self = restored;
            Ok(())
        }

        fn write_snapshot(
            &self,
            out: &mut dyn std::io::Write,
        ) -> Result<(), crate::error::StateError> {
            crate::detect::state::write(self.name(), self, out)
        }

        fn read_snapshot(&mut self, text: &[u8]) -> Result<(), crate::error::StateError> {
            let mut restored: Self = crate::detect::state::read(self.name(), text)?;
            restored.cfg = self.cfg.clone();
            *self = restored;
            Ok(())
        }
    };
}
pub(crate) use snapshot_methods;

/// A harness for restart tests: feed a scenario, snapshot to JSON text, restore into a fresh
/// detector, feed the rest, and compare with an uninterrupted run.
#[cfg(test)]
pub(crate) mod testing {
    use crate::alert::Alert;
    use crate::detect::Detector;
    use crate::event::AuthEvent;
    use crate::time::Timestamp;

    /// One call into a detector, as the engine makes them.
    #[derive(Debug, Clone)]
    pub(crate) enum Input {
        Event(AuthEvent),
        Alert(Alert),
        Advance(Timestamp),
    }

    /// Events only, annotated by the shared login history as the engine does.
    pub(crate) fn events(evs: &[AuthEvent]) -> Vec<Input> {
        crate::detect::history::annotated(evs)
            .into_iter()
            .map(Input::Event)
            .collect()
    }

    pub(crate) fn feed(d: &mut dyn Detector, inputs: &[Input]) -> Vec<Alert> {
        let mut out = Vec::new();
        for i in inputs {
            match i {
                Input::Event(e) => d.observe(e, &mut out),
                Input::Alert(a) => d.on_alert(a, &mut out),
                Input::Advance(t) => d.advance(*t, &mut out),
            }
        }
        out
    }

    /// Snapshot → JSON text → parse → restore into `fresh`.
    pub(crate) fn reload<D: Detector>(d: &D, mut fresh: D) -> D {
        let text = serde_json::to_string(&d.snapshot().unwrap()).unwrap();
        fresh.restore(serde_json::from_str(&text).unwrap()).unwrap();
        fresh
    }

    /// Restarts at `split` and asserts the alerts after the restart equal those of an
    /// uninterrupted run, and differ from those of a detector started fresh at the split (so
    /// the state at this split matters). Returns (alerts before the split, alerts after).
    pub(crate) fn restart_at<D: Detector>(
        make: impl Fn() -> D,
        inputs: &[Input],
        split: usize,
    ) -> (Vec<Alert>, Vec<Alert>) {
        let (head, tail) = inputs.split_at(split);
        let mut first = make();
        // The uninterrupted run shares the first run's hash seeds (a copy of its empty state):
        // sketch estimates depend on the seed.
        let mut whole = reload(&first, make());
        let before = feed(&mut whole, head);
        let want = feed(&mut whole, tail);
        assert_eq!(feed(&mut first, head), before);
        let mut restored = reload(&first, make());
        let got = feed(&mut restored, tail);
        assert_eq!(got, want, "alerts after a restart at input {split}");
        let forgetful = feed(&mut make(), tail);
        assert_ne!(
            forgetful, want,
            "a fresh detector at input {split} gives the same alerts: a weak split"
        );
        (before, got)
    }

    /// Restarts at every `stride`-th input (and at both ends) and asserts each restart gives
    /// the alerts of an uninterrupted run. Returns the uninterrupted run's alerts.
    pub(crate) fn restart_anywhere<D: Detector>(
        make: impl Fn() -> D,
        inputs: &[Input],
        stride: usize,
    ) -> Vec<Alert> {
        let mut running = make();
        // Same hash seeds as `running` (see `restart_at`).
        let mut whole = reload(&running, make());
        let all = feed(&mut whole, inputs);
        let mut so_far = Vec::new();
        let mut split = 0;
        loop {
            let mut restored = reload(&running, make());
            let mut got = so_far.clone();
            got.extend(feed(&mut restored, &inputs[split..]));
            assert_eq!(got, all, "alerts with a restart at input {split}");
            if split == inputs.len() {
                break;
            }
            // The run goes on from a restored detector too, so restarts chain.
            running = reload(&running, make());
            let next = (split + stride.max(1)).min(inputs.len());
            so_far.extend(feed(&mut running, &inputs[split..next]));
            split = next;
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::detect::Detector;
    use crate::engine::build_detectors;
    use proptest::prelude::*;
    use serde_json::json;

    fn all() -> Vec<Box<dyn Detector>> {
        let d = build_detectors(&Config::default());
        assert_eq!(d.len(), 9, "every detector is on by default");
        d
    }

    #[test]
    fn an_empty_detector_round_trips_and_names_the_version() {
        for mut d in all() {
            let snap = d.snapshot().unwrap();
            assert_eq!(snap["version"], json!(VERSION), "{}", d.name());
            assert_eq!(snap["detector"], json!(d.name()));
            assert!(snap["state"].is_object(), "{}", d.name());
            assert!(
                snap["state"].get("cfg").is_none(),
                "the config is not state"
            );
            d.restore(snap.clone()).unwrap();
            assert_eq!(d.snapshot().unwrap()["version"], json!(VERSION));
            // The text path writes the same document.
            let mut text = Vec::new();
            d.write_snapshot(&mut text).unwrap();
            assert_eq!(serde_json::from_slice::<Value>(&text).unwrap(), snap);
            d.read_snapshot(&text).unwrap();
        }
    }

    #[test]
    fn garbage_and_other_versions_are_state_errors() {
        for mut d in all() {
            let name = d.name();
            let good = d.snapshot().unwrap();
            let cases = [
                (json!(null), "expected an object"),
                (json!("text"), "expected an object"),
                (
                    json!({"detector": name, "state": good["state"].clone()}),
                    "no version",
                ),
                (
                    json!({"version": 1, "detector": name, "state": good["state"].clone()}),
                    "version 1",
                ),
                (
                    json!({"version": "1", "detector": name, "state": good["state"].clone()}),
                    "version \"1\"",
                ),
                (
                    json!({"version": 2, "state": good["state"].clone()}),
                    "no detector",
                ),
                (
                    json!({"version": 2, "detector": "x.y", "state": good["state"].clone()}),
                    "detector \"x.y\"",
                ),
                (json!({"version": 2, "detector": name}), "no state"),
                (
                    json!({"version": 2, "detector": name, "state": 7}),
                    "restore: ",
                ),
                (
                    json!({"version": 2, "detector": name, "state": {}}),
                    "missing field",
                ),
            ];
            for (bad, why) in cases {
                let e = d.restore(bad.clone()).unwrap_err();
                assert_eq!(e.detector, name);
                assert!(e.message.contains(why), "{name}: {bad} gave {e}");
                assert!(
                    e.to_string()
                        .starts_with(&format!("state of detector {name}: "))
                );
                // The same through the text path (whose first pass reads only the header).
                let e = d.read_snapshot(bad.to_string().as_bytes()).unwrap_err();
                let why = if why == "expected an object" {
                    "not a snapshot: "
                } else {
                    why
                };
                assert!(e.message.contains(why), "{name}: {bad} as text gave {e}");
            }
            for text in ["", "{", "[1,2]", "{\"version\":1,\"detector\":", "\u{0}"] {
                assert!(d.read_snapshot(text.as_bytes()).is_err(), "{text:?}");
            }
            // A failed restore leaves the detector as it was.
            assert_eq!(d.snapshot().unwrap()["state"], good["state"]);
        }
    }

    #[test]
    fn a_snapshot_of_another_detector_is_refused() {
        let snaps: Vec<_> = all().iter().map(|d| d.snapshot().unwrap()).collect();
        for (i, mut d) in all().into_iter().enumerate() {
            for (j, s) in snaps.iter().enumerate() {
                if i != j {
                    assert!(
                        d.restore(s.clone()).is_err(),
                        "{} took snapshot {j}",
                        d.name()
                    );
                }
            }
        }
    }

    #[test]
    fn floats_come_back_to_the_last_bit() {
        for x in [
            0.1 + 0.2,
            8_333.33 * 7.0,
            f64::MIN_POSITIVE,
            -0.0,
            f64::MAX,
            1e-300,
        ] {
            let text = serde_json::to_string(&ExactF64(x)).unwrap();
            let back: ExactF64 = serde_json::from_str(&text).unwrap();
            assert_eq!(back.0.to_bits(), x.to_bits(), "{text}");
        }
        let nan: ExactF64 = serde_json::from_str(r#""NaN""#).unwrap();
        assert!(nan.0.is_nan());
        assert!(serde_json::from_str::<ExactF64>(r#""12,5""#).is_err());
    }

    /// Every event of the sample logs, enriched, in the order the engine's rules see them.
    fn sample_events() -> Vec<crate::event::AuthEvent> {
        use crate::error::SinkError;
        use crate::event::AuthEvent;
        use crate::sink::Sink;
        use std::sync::{Arc, Mutex};

        struct Collect(Arc<Mutex<Vec<AuthEvent>>>);
        impl Sink for Collect {
            fn emit(&mut self, _: &crate::alert::Alert) -> Result<(), SinkError> {
                Ok(())
            }
            fn wants_events(&self) -> bool {
                true
            }
            fn observe_event(&mut self, ev: &AuthEvent) {
                self.0.lock().unwrap().push(ev.clone());
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
        let mut cfg = Config::default();
        cfg.asn.db.push(root.join("asn/asn-extract.csv"));
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(Collect(Arc::clone(&events)))];
        let opts = crate::drivers::RunOptions {
            paths: vec![root],
            strict: false,
            progress: None,
        };
        crate::drivers::scan(&cfg, &opts, &mut sinks).unwrap();
        drop(sinks);
        Arc::try_unwrap(events).unwrap().into_inner().unwrap()
    }

    /// Feeds the whole detector set as the engine does (each event to every detector, then
    /// its alerts to every detector's `on_alert`, one level).
    fn feed_set(
        ds: &mut [Box<dyn Detector>],
        events: &[crate::event::AuthEvent],
    ) -> Vec<crate::alert::Alert> {
        let mut all = Vec::new();
        for ev in events {
            let mut alerts = Vec::new();
            for d in ds.iter_mut() {
                d.observe(ev, &mut alerts);
            }
            let mut derived = Vec::new();
            for a in &alerts {
                for d in ds.iter_mut() {
                    d.on_alert(a, &mut derived);
                }
            }
            all.extend(alerts);
            all.extend(derived);
        }
        all
    }

    #[test]
    fn the_sample_logs_give_the_same_alerts_across_restarts() {
        let events = sample_events();
        assert!(events.len() > 5_000, "{}", events.len());
        // Through the text path here (the detectors' own tests use the value path), checking
        // on the way that both paths write the same document.
        let reload_set = |ds: &[Box<dyn Detector>]| -> Vec<Box<dyn Detector>> {
            let mut fresh = all();
            for (d, f) in ds.iter().zip(fresh.iter_mut()) {
                let mut text = Vec::new();
                d.write_snapshot(&mut text).unwrap();
                let value = d.snapshot().unwrap();
                assert_eq!(serde_json::from_slice::<Value>(&text).unwrap(), value);
                f.read_snapshot(&text).unwrap();
            }
            fresh
        };
        // The uninterrupted run shares the seeds of the restarted one (copies of its empty state).
        let mut restarted = all();
        let mut whole = reload_set(&restarted);
        let want = feed_set(&mut whole, &events);
        assert!(want.len() > 20, "{}", want.len());
        let mut got = Vec::new();
        let mut from = 0;
        for split in [
            events.len() / 7,
            events.len() / 3,
            events.len() / 2,
            events.len() * 5 / 6,
            events.len(),
        ] {
            got.extend(feed_set(&mut restarted, &events[from..split]));
            restarted = reload_set(&restarted);
            from = split;
        }
        assert_eq!(got.len(), want.len());
        assert_eq!(got, want);
    }

    proptest! {
        /// Damaged snapshot text never panics a restore: it is an error (or, when the damage
        /// happens to be well-formed, a state).
        #[test]
        fn damaged_snapshots_never_panic(which in 0usize..9, cut in 0usize..400, byte in any::<u8>()) {
            let mut ds = all();
            let d = &mut ds[which];
            let mut text = serde_json::to_string(&d.snapshot().unwrap()).unwrap().into_bytes();
            let i = cut % text.len();
            text[i] = byte;
            if let Ok(v) = serde_json::from_slice::<Value>(&text) {
                let _ = d.restore(v);
            }
            text.truncate(i);
            if let Ok(v) = serde_json::from_slice::<Value>(&text) {
                let _ = d.restore(v);
            }
        }
    }
}
