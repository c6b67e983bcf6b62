//! The `bruteforce.account` detector.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Entity, Rule, Severity, thousands};
use crate::detect::{
    Detector, Episodes, HeapSize, RuleState, evict_oldest, evict_to_bytes, map_bytes,
    ThresholdCrossed,
};
use crate::event::{AccountKey, AuthEvent, EventKind, FailureReason, Outcome};
use crate::time::Timestamp;

use super::{BruteforceAccountConfig, BruteforceAccountEvidence, BruteforceAccountThresholds};

/// One failed login inside an account's window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Failure {
    ts: Timestamp,
    ip: Option<IpAddr>,
    reason: Option<FailureReason>,
}

/// Per-account state: one small queue of failures. Most failing accounts fail once or twice
/// (typos, list noise), so the state is a single allocation; counts by reason and distinct
/// addresses are derived from the queue, which is short until an account is hammered.
#[derive(Debug, Serialize, Deserialize)]
struct AccountWindow {
    failures: VecDeque<Failure>,
    last_seen: Timestamp,
}

impl HeapSize for AccountWindow {
    fn heap_bytes(&self) -> usize {
        self.failures.capacity() * std::mem::size_of::<Failure>()
    }
}

impl AccountWindow {
    /// Distinct addresses among the failures (a missing address counts as one), counting no
    /// further than `limit`.
    fn distinct_addresses(&self, limit: usize) -> usize {
        let mut seen: Vec<Option<IpAddr>> = Vec::new();
        for f in &self.failures {
            if !seen.contains(&f.ip) {
                seen.push(f.ip);
                if seen.len() >= limit {
                    break;
                }
            }
        }
        seen.len()
    }

    fn with_reason(&self, reason: FailureReason) -> usize {
        self.failures
            .iter()
            .filter(|f| f.reason == Some(reason))
            .count()
    }
}

/// The `bruteforce.account` detector.
#[derive(Debug, Serialize, Deserialize)]
pub struct BruteforceAccountDetector {
    #[serde(skip)]
    cfg: BruteforceAccountConfig,
    accounts: HashMap<AccountKey, AccountWindow, foldhash::quality::RandomState>,
    episodes: Episodes<AccountKey>,
    watermark: Timestamp,
    evicted: u64,
    events_since_sweep: u64,
}

impl BruteforceAccountDetector {
    /// A detector with the given settings.
    pub fn new(cfg: BruteforceAccountConfig) -> BruteforceAccountDetector {
        BruteforceAccountDetector {
            cfg,
            accounts: HashMap::default(),
            episodes: Episodes::new(Rule::BruteforceAccount),
            watermark: Timestamp(i64::MIN),
            evicted: 0,
            events_since_sweep: 0,
        }
    }

    fn sweep(&mut self) {
        let window = self.cfg.window.millis();
        let horizon = self.watermark.0.saturating_sub(window);
        self.accounts.retain(|_, w| w.last_seen.0 > horizon);
        self.episodes.close_quiet(self.watermark, window);
        self.evicted += evict_oldest(&mut self.accounts, self.cfg.max_tracked_accounts, |w| {
            w.last_seen.0
        });
    }
}

impl Detector for BruteforceAccountDetector {
    fn name(&self) -> &'static str {
        Rule::BruteforceAccount.as_str()
    }

    fn observe(&mut self, ev: &AuthEvent, out: &mut Vec<Alert>) {
        if !self.cfg.enabled || ev.kind != EventKind::Login || ev.outcome != Outcome::Failure {
            return;
        }
        let Some(account) = &ev.account else { return };
        if ev.ts > self.watermark {
            self.watermark = ev.ts;
        }
        self.events_since_sweep += 1;
        if self.events_since_sweep >= 65_536 || self.accounts.len() > self.cfg.max_tracked_accounts
        {
            self.events_since_sweep = 0;
            self.sweep();
        }
        let window = self.cfg.window.millis();
        let now = self.watermark;
        // An episode ends once the account has been quiet for a whole window.
        // An episode ends once its entity has been quiet for a whole window. Closing is a scan
        // of all open episodes, so do it only when this entity's episode is due.
        if self
            .episodes
            .get(account)
            .is_some_and(|ep| ep.last_seen.0 <= now.0.saturating_sub(window))
        {
            self.episodes.close_quiet(now, window);
        }
        let max = self.cfg.max_failures_per_account;
        // Look up before inserting: cloning the account for every failure would allocate.
        if !self.accounts.contains_key(account) {
            self.accounts.insert(
                account.clone(),
                AccountWindow {
                    failures: VecDeque::new(),
                    last_seen: ev.ts,
                },
            );
        }
        let Some(state) = self.accounts.get_mut(account) else {
            return;
        };
        state.last_seen = state.last_seen.max(ev.ts);
        let horizon = now.0.saturating_sub(window);
        while state.failures.front().is_some_and(|f| f.ts.0 <= horizon) {
            state.failures.pop_front();
        }
        if state.failures.len() >= max.max(1) {
            state.failures.pop_front();
        }
        state.failures.push_back(Failure {
            ts: ev.ts,
            ip: ev.ip,
            reason: ev.reason,
        });

        let failures = state.failures.len() as u32;
        // Below the threshold, or already high (the top severity): nothing new to say.
        if failures < self.cfg.min_failures
            || self
                .episodes
                .get(account)
                .is_some_and(|ep| ep.severity >= Severity::High)
        {
            self.episodes.touch(account, ev.ts);
            return;
        }
        // Counting stops at the high threshold, so a hammered account costs at most
        // `high_failures` steps per failure before its alert is high.
        let distinct =
            state.distinct_addresses(self.cfg.high_distinct_addresses.max(1) as usize) as u32;
        let by_addresses = distinct >= self.cfg.high_distinct_addresses;
        let by_failures = failures >= self.cfg.high_failures;
        let severity = if by_addresses || by_failures {
            Severity::High
        } else {
            Severity::Medium
        };
        let entity = Entity::account(account);
        let first = state.failures.front().map_or(ev.ts, |f| f.ts);
        let Some(ep) = self
            .episodes
            .crossed(account, &entity, first, ev.ts, severity)
        else {
            return;
        };
        // The full numbers for the evidence (an alert is rare; the queue is bounded).
        let distinct = state.distinct_addresses(usize::MAX) as u32;
        let mut sample: Vec<IpAddr> = Vec::new();
        for ip in state.failures.iter().filter_map(|f| f.ip) {
            if sample.len() >= self.cfg.addresses_sample {
                break;
            }
            if !sample.contains(&ip) {
                sample.push(ip);
            }
        }
        let window_text = self.cfg.window.to_string();
        let evidence = BruteforceAccountEvidence {
            addresses: sample,
            bad_password: state.with_reason(FailureReason::BadPassword),
            distinct_addresses: distinct,
            failures,
            locked: state.with_reason(FailureReason::Locked),
            thresholds_crossed: BruteforceAccountThresholds {
                distinct_addresses: by_addresses
                    .then(|| ThresholdCrossed::new(distinct, self.cfg.high_distinct_addresses)),
                failures: ThresholdCrossed::new(failures, self.cfg.min_failures),
                high_failures: by_failures
                    .then(|| ThresholdCrossed::new(failures, self.cfg.high_failures)),
            },
            unknown_account: state.with_reason(FailureReason::UnknownAccount),
            window: window_text.clone(),
        };
        let addresses_text = if distinct == 1 {
            "1 address".to_string()
        } else {
            format!("{} addresses", thousands(u64::from(distinct)))
        };
        out.push(Alert {
            id: ep.id,
            rule: Rule::BruteforceAccount,
            severity,
            summary: format!(
                "{} had {} failed logins from {} in {}",
                entity.value,
                thousands(u64::from(failures)),
                addresses_text,
                window_text
            ),
            entity,
            first_seen: ep.first_seen,
            last_seen: ev.ts,
            asn: None,
            as_org: None,
            evidence: evidence.into(),
            accounts: vec![account.as_str().to_string()],
        });
    }

    fn advance(&mut self, watermark: Timestamp, _out: &mut Vec<Alert>) {
        if watermark > self.watermark {
            self.watermark = watermark;
            self.sweep();
        }
    }
}

impl RuleState for BruteforceAccountDetector {
    fn state_name(&self) -> &'static str {
        self.name()
    }

    crate::detect::state::snapshot_methods!();

    fn state_bytes(&self) -> usize {
        map_bytes(&self.accounts)
    }

    fn evict_to(&mut self, bytes: usize) -> u64 {
        let n = evict_to_bytes(&mut self.accounts, bytes, |w| w.last_seen.0);
        self.evicted += n;
        n
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "bruteforce_account.tracked_accounts",
                self.accounts.len() as u64,
            ),
            ("bruteforce_account.evicted_accounts", self.evicted),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed evidence of a `bruteforce_account` alert.
    fn ev(a: &Alert) -> &BruteforceAccountEvidence {
        a.evidence.bruteforce_account().expect("a bruteforce_account alert")
    }
    use crate::time::{MINUTE};
    use crate::event::LineMeta;
    use crate::time::SECOND;

    fn fail(t: i64, ip: &str, account: &str, reason: FailureReason) -> AuthEvent {
        let mut ev = AuthEvent::new(Timestamp(t), EventKind::Login, LineMeta::default());
        ev.ip = Some(ip.parse().unwrap());
        ev.account = AccountKey::normalize(account);
        ev.outcome = Outcome::Failure;
        ev.reason = Some(reason);
        ev
    }

    fn run(events: &[AuthEvent]) -> Vec<Alert> {
        let mut d = BruteforceAccountDetector::new(BruteforceAccountConfig::default());
        let mut out = Vec::new();
        for ev in events {
            d.observe(ev, &mut out);
        }
        out
    }

    #[test]
    fn a_restart_keeps_windows_and_episodes() {
        use crate::detect::state::testing::{events, restart_anywhere, restart_at};
        // One address retrying (medium at 20, high at 100), then 12 addresses round robin on
        // another account, then the first account again after its episode closed.
        let mut evs: Vec<_> = (0..120)
            .map(|i| {
                fail(
                    i * SECOND,
                    "203.0.113.5",
                    "alice",
                    FailureReason::BadPassword,
                )
            })
            .collect();
        evs.extend((0..40).map(|i| {
            let ip = format!("198.51.100.{}", i % 12);
            let t = 200 * SECOND + i * 30 * SECOND;
            fail(t, &ip, "Myamamoto80@example.jp", FailureReason::Locked)
        }));
        evs.extend((0..25).map(|i| {
            let t = 4 * 3_600 * SECOND + i * SECOND;
            fail(t, "203.0.113.5", "alice", FailureReason::BadPassword)
        }));
        evs.sort_by_key(|e| e.ts);
        let inputs = events(&evs);
        let make = || BruteforceAccountDetector::new(BruteforceAccountConfig::default());
        let all = restart_anywhere(make, &inputs, 5);
        assert_eq!(all.len(), 4, "{all:#?}");
        // alice's episode is open at input 50: the rise keeps its id and nothing reopens.
        let (before, after) = restart_at(make, &inputs, 50);
        assert_eq!(before.len(), 1);
        assert_eq!(
            (after[0].severity, &after[0].id),
            (Severity::High, &before[0].id)
        );
        // The round robin's episode is open and at high: the restart must stay silent on it.
        let (_, after) = restart_at(make, &inputs, 145);
        assert_eq!(after.len(), 1, "only alice's new episode: {after:#?}");
    }

    #[test]
    fn distributed_guessing_fires_medium_then_high() {
        // 40 failures every 30 s from 12 addresses round robin, half typed with a capital.
        let events: Vec<_> = (0..40)
            .map(|i| {
                let ip = format!("198.51.100.{}", i % 12);
                let acct = if i % 2 == 0 {
                    "Myamamoto80@example.jp"
                } else {
                    "myamamoto80@example.jp"
                };
                let reason = if i < 10 {
                    FailureReason::BadPassword
                } else {
                    FailureReason::Locked
                };
                fail(i * 30 * SECOND, &ip, acct, reason)
            })
            .collect();
        let alerts = run(&events);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(a.rule, Rule::BruteforceAccount);
        assert_eq!(a.entity.value, "myamamoto80@example.jp");
        // The 10th failure crosses with 10 distinct addresses already: high at once.
        assert_eq!(a.severity, Severity::High);
        assert_eq!(ev(a).failures, 10);
        assert_eq!(ev(a).distinct_addresses, 10);
        assert_eq!(ev(a).bad_password, 10);
        assert_eq!(a.first_seen, Timestamp(0));
        assert_eq!(a.last_seen, Timestamp(9 * 30 * SECOND));
        assert_eq!(
            a.summary,
            "myamamoto80@example.jp had 10 failed logins from 10 addresses in 30m"
        );
    }

    #[test]
    fn one_address_retrying_is_medium_then_high_at_one_hundred() {
        let events: Vec<_> = (0..120)
            .map(|i| {
                fail(
                    i * SECOND,
                    "203.0.113.5",
                    "alice",
                    FailureReason::BadPassword,
                )
            })
            .collect();
        let alerts = run(&events);
        assert_eq!(alerts.len(), 2, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::Medium);
        assert_eq!(ev(&alerts[0]).distinct_addresses, 1);
        assert_eq!(alerts[1].severity, Severity::High);
        assert_eq!(ev(&alerts[1]).failures, 100);
        assert_eq!(alerts[0].id, alerts[1].id);
        assert_eq!(
            alerts[0].summary,
            "alice had 10 failed logins from 1 address in 30m"
        );
    }

    #[test]
    fn a_mistyping_user_is_a_near_miss() {
        let mut events: Vec<_> = (0..3)
            .map(|i| {
                fail(
                    i * 10 * SECOND,
                    "203.0.113.5",
                    "sota",
                    FailureReason::BadPassword,
                )
            })
            .collect();
        let mut ok = fail(40 * SECOND, "203.0.113.5", "sota", FailureReason::Other);
        ok.outcome = Outcome::Success;
        ok.reason = None;
        events.push(ok);
        assert!(run(&events).is_empty());
        // Nine failures is still below the threshold.
        let nine: Vec<_> = (0..9)
            .map(|i| fail(i * SECOND, "203.0.113.5", "bob", FailureReason::BadPassword))
            .collect();
        assert!(run(&nine).is_empty());
    }

    #[test]
    fn slow_failures_outside_the_window_stay_silent() {
        // One failure every 4 minutes: never 10 within 30 minutes.
        let events: Vec<_> = (0..30)
            .map(|i| {
                fail(
                    i * 4 * MINUTE,
                    "203.0.113.5",
                    "carol",
                    FailureReason::BadPassword,
                )
            })
            .collect();
        assert!(run(&events).is_empty());
    }

    #[test]
    fn a_new_episode_after_a_quiet_window_gets_a_new_id() {
        let mut events: Vec<_> = (0..10)
            .map(|i| {
                fail(
                    i * SECOND,
                    "203.0.113.5",
                    "dave",
                    FailureReason::BadPassword,
                )
            })
            .collect();
        events.extend((0..10).map(|i| {
            fail(
                HOUR_MS + i * SECOND,
                "203.0.113.5",
                "dave",
                FailureReason::BadPassword,
            )
        }));
        let alerts = run(&events);
        assert_eq!(alerts.len(), 2);
        assert_ne!(alerts[0].id, alerts[1].id);
        assert_eq!(alerts[1].first_seen, Timestamp(HOUR_MS));
    }

    const HOUR_MS: i64 = 60 * MINUTE;

    #[test]
    fn memory_is_bounded_by_max_tracked_accounts() {
        let cfg = BruteforceAccountConfig {
            max_tracked_accounts: 1_000,
            ..BruteforceAccountConfig::default()
        };
        let mut d = BruteforceAccountDetector::new(cfg);
        let mut out = Vec::new();
        for i in 0..20_000i64 {
            let ev = fail(
                i,
                "203.0.113.5",
                &format!("u{i}"),
                FailureReason::UnknownAccount,
            );
            d.observe(&ev, &mut out);
        }
        assert!(d.accounts.len() <= 1_001, "{}", d.accounts.len());
        assert!(d.evicted > 0);
        assert!(out.is_empty());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::event::LineMeta;
    use proptest::prelude::*;

    proptest! {
        /// Any sequence of logins never panics, and an alert's failures never exceed the
        /// account's failures in the input.
        #[test]
        fn arbitrary_logins_never_panic(
            evs in prop::collection::vec(
                (0i64..10_000_000, prop::option::of(0u8..20), 0u8..5, any::<bool>()),
                0..400,
            )
        ) {
            let cfg = BruteforceAccountConfig {
                min_failures: 3,
                high_failures: 6,
                max_failures_per_account: 10,
                ..BruteforceAccountConfig::default()
            };
            let mut d = BruteforceAccountDetector::new(cfg);
            let mut out = Vec::new();
            for (t, ip, acct, failure) in &evs {
                let mut ev = AuthEvent::new(Timestamp(*t), EventKind::Login, LineMeta::default());
                ev.ip = ip.map(|i| IpAddr::from([10, 0, 0, i]));
                ev.account = AccountKey::normalize(&format!("u{acct}"));
                ev.outcome = if *failure { Outcome::Failure } else { Outcome::Success };
                d.observe(&ev, &mut out);
            }
            d.advance(Timestamp(i64::MAX), &mut out);
            for a in &out {
                let n = evs.iter().filter(|e| e.3 && format!("u{}", e.2) == a.entity.value).count();
                prop_assert!(a.evidence.bruteforce_account().map_or(0, |e| e.failures) as usize <= n);
            }
        }
    }
}
