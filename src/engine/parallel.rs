//! Detection of one batch on several threads, with the result of one rule after the other.
//!
//! The rules that only read events (producers) take a batch together, each rule (and each shard
//! of a sharded rule) as a task on rayon's pool. The rules that act on other rules' alerts
//! (consumers, `compromise.login`) must see each event's alerts before the next event, so they
//! run one batch behind, on a thread of their own, and are handed the producers' alerts of each
//! event in the order one rule after the other would give them.

use rayon::prelude::*;

use super::Detected;
use crate::alert::Alert;
use crate::detect::{Detector, MAX_REPEAT, TaggedAlert};
use crate::event::AuthEvent;

/// Per event: (repeat, rule index, its alerts) of the rules already run.
pub(super) type Produced = Vec<Vec<(u32, usize, Vec<Alert>)>>;

/// A batch between the producers and the consumers.
pub(super) struct StagedBatch {
    pub(super) events: Vec<AuthEvent>,
    pub(super) produced: Produced,
}

/// The producers over a batch, in parallel on rayon's pool (and a sharded rule's shards in
/// parallel within it). Per event: (repeat, rule index, alerts), in rule order, as one rule
/// after the other would give them.
pub(super) fn run_producers(
    detectors: &mut [(usize, &mut Box<dyn Detector>)],
    events: &[AuthEvent],
) -> Produced {
    let per_detector: Vec<(usize, Vec<TaggedAlert>)> = detectors
        .par_iter_mut()
        .map(|(i, d)| {
            let mut out = Vec::new();
            d.observe_batch(events, &mut out);
            (*i, out)
        })
        .collect();
    let mut produced: Produced = vec![Vec::new(); events.len()];
    for (i, tagged) in per_detector {
        for (ev, rep, alert) in tagged {
            let Some(slot) = produced.get_mut(ev as usize) else {
                continue;
            };
            match slot.last_mut() {
                Some((r, d, alerts)) if *r == rep && *d == i => alerts.push(alert),
                _ => slot.push((rep, i, vec![alert])),
            }
        }
    }
    for slot in &mut produced {
        // Stable: one rule's alerts keep their order.
        slot.sort_by_key(|(rep, i, _)| (*rep, *i));
    }
    produced
}

/// The consumers over a staged batch: each event, then every alert of that event (in the order
/// one rule after the other gives them), before the next event.
pub(super) fn run_consumers(
    detectors: &mut [(usize, &mut Box<dyn Detector>)],
    staged: StagedBatch,
) -> Detected {
    let StagedBatch { events, produced } = staged;
    // The events stay where they are (no copy of the batch): the alerts come back beside them.
    let alerts = events
        .iter()
        .zip(produced)
        .map(|(ev, mut produced)| {
            for rep in 0..ev.repeat.clamp(1, MAX_REPEAT) {
                for (i, d) in detectors.iter_mut() {
                    let mut out = Vec::new();
                    d.observe(ev, &mut out);
                    if !out.is_empty() {
                        produced.push((rep, *i, out));
                    }
                }
            }
            // Stable: one rule's alerts keep their order.
            produced.sort_by_key(|(rep, i, _)| (*rep, *i));
            let mut alerts: Vec<Alert> = produced.into_iter().flat_map(|p| p.2).collect();
            let mut derived = Vec::new();
            for alert in &alerts {
                for (_, d) in detectors.iter_mut() {
                    d.on_alert(alert, &mut derived);
                }
            }
            alerts.extend(derived);
            alerts
        })
        .collect();
    Detected { events, alerts }
}
