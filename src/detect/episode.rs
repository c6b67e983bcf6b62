//! The alert lifecycle shared by every detector.
//!
//! One alert per rule and entity per episode: an episode opens when a threshold is crossed (an
//! alert is emitted), emits again only when its severity rises (same id), and closes once the
//! entity has been quiet for a given span, after which a new crossing opens a new episode with a
//! new id. Ids are [`Alert::episode_id`] of rule, entity and the episode's first event time, so a
//! re-run of the same input gives the same ids.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Entity, Rule, Severity};
use crate::time::{Millis, Timestamp};

/// One open episode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    /// The alert id, stable for the episode.
    pub id: String,
    /// Event time of the first event in the episode's evidence.
    pub first_seen: Timestamp,
    /// Event time of the latest activity of the entity.
    pub last_seen: Timestamp,
    /// The highest severity emitted so far.
    pub severity: Severity,
}

/// Open episodes of one rule, keyed by entity.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize",
    deserialize = "K: Deserialize<'de> + Eq + Hash"
))]
pub struct Episodes<K> {
    rule: Rule,
    #[serde(with = "crate::detect::state::pairs")]
    open: HashMap<K, Episode, foldhash::quality::RandomState>,
}

impl<K: Eq + Hash + Clone> Episodes<K> {
    /// No open episode.
    pub fn new(rule: Rule) -> Episodes<K> {
        Episodes {
            rule,
            open: HashMap::default(),
        }
    }

    /// Records that `key` is above a threshold at `now` with `severity`. Returns the episode when
    /// an alert must be emitted: a new episode (whose evidence starts at `first_seen`), or an open
    /// one whose severity rises. Returns `None` when the open episode already said as much.
    pub fn crossed(
        &mut self,
        key: &K,
        entity: &Entity,
        first_seen: Timestamp,
        now: Timestamp,
        severity: Severity,
    ) -> Option<Episode> {
        match self.open.get_mut(key) {
            Some(ep) => {
                ep.last_seen = ep.last_seen.max(now);
                if severity > ep.severity {
                    ep.severity = severity;
                    Some(ep.clone())
                } else {
                    None
                }
            }
            None => {
                let ep = Episode {
                    id: Alert::episode_id(self.rule, entity, first_seen),
                    first_seen,
                    last_seen: now,
                    severity,
                };
                self.open.insert(key.clone(), ep.clone());
                Some(ep)
            }
        }
    }

    /// Notes activity of `key` below the threshold, which keeps an open episode alive.
    pub fn touch(&mut self, key: &K, now: Timestamp) {
        if let Some(ep) = self.open.get_mut(key) {
            ep.last_seen = ep.last_seen.max(now);
        }
    }

    /// Closes `key`'s episode if its latest activity is at or before `now - quiet` (checked when
    /// the entity shows up again, so a new burst after a quiet spell is a new episode even
    /// between sweeps). Returns true when an episode was closed.
    pub fn close_if_quiet(&mut self, key: &K, now: Timestamp, quiet: Millis) -> bool {
        let quiet_now = self
            .open
            .get(key)
            .is_some_and(|ep| ep.last_seen.0 <= now.0.saturating_sub(quiet));
        if quiet_now {
            self.open.remove(key);
        }
        quiet_now
    }

    /// Closes the episodes whose latest activity is at or before `now - quiet`. Returns how many
    /// were closed.
    pub fn close_quiet(&mut self, now: Timestamp, quiet: Millis) -> usize {
        let horizon = now.0.saturating_sub(quiet);
        let before = self.open.len();
        self.open.retain(|_, ep| ep.last_seen.0 > horizon);
        before - self.open.len()
    }

    /// The open episode of `key`, if any.
    pub fn get(&self, key: &K) -> Option<&Episode> {
        self.open.get(key)
    }

    /// Number of open episodes.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// True when no episode is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::EntityKind;
    use crate::time::MINUTE;

    fn entity() -> Entity {
        Entity {
            kind: EntityKind::Account,
            value: "alice@example.com".into(),
        }
    }

    #[test]
    fn opens_once_rises_once_and_reopens_after_quiet() {
        let mut eps = Episodes::new(Rule::BruteforceAccount);
        let e = entity();
        let k = "alice".to_string();
        let open = eps
            .crossed(&k, &e, Timestamp(0), Timestamp(10), Severity::Medium)
            .unwrap();
        assert!(
            eps.crossed(&k, &e, Timestamp(5), Timestamp(20), Severity::Medium)
                .is_none()
        );
        assert!(
            eps.crossed(&k, &e, Timestamp(5), Timestamp(30), Severity::Low)
                .is_none()
        );
        let rise = eps
            .crossed(&k, &e, Timestamp(5), Timestamp(40), Severity::High)
            .unwrap();
        assert_eq!(rise.id, open.id);
        assert_eq!(rise.first_seen, Timestamp(0));
        eps.touch(&k, Timestamp(10 * MINUTE));
        assert_eq!(eps.close_quiet(Timestamp(15 * MINUTE), 10 * MINUTE), 0);
        assert_eq!(eps.close_quiet(Timestamp(21 * MINUTE), 10 * MINUTE), 1);
        let again = eps
            .crossed(
                &k,
                &e,
                Timestamp(22 * MINUTE),
                Timestamp(22 * MINUTE),
                Severity::Medium,
            )
            .unwrap();
        assert_ne!(again.id, open.id);
    }

    #[test]
    fn close_if_quiet_closes_one_key_only_after_a_quiet_spell() {
        let mut eps = Episodes::new(Rule::StuffingIp);
        let e = entity();
        let (a, b) = ("a".to_string(), "b".to_string());
        eps.crossed(&a, &e, Timestamp(0), Timestamp(0), Severity::Medium);
        eps.crossed(&b, &e, Timestamp(0), Timestamp(0), Severity::Medium);
        assert!(!eps.close_if_quiet(&a, Timestamp(9 * MINUTE), 10 * MINUTE));
        assert!(eps.close_if_quiet(&a, Timestamp(10 * MINUTE), 10 * MINUTE));
        assert!(eps.get(&a).is_none());
        assert!(eps.get(&b).is_some(), "other keys stay open");
        assert!(!eps.close_if_quiet(&a, Timestamp(20 * MINUTE), 10 * MINUTE));
    }
}
