//! The `stuffing.ip` detector.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Entity, Rule, Severity, thousands};
use crate::detect::{Detector, Episodes, HeapSize, RuleState, ThresholdCrossed};
use crate::event::{AccountKey, Asn, AuthEvent, EventKind, FailureReason, Outcome};
use crate::time::Timestamp;
use crate::window::KeyHasher;
use crate::window::address::{AddressTable, fingerprint};

use super::{StuffingIpConfig, StuffingIpEvidence, StuffingIpThresholds};

/// Tallies of an address's window (`AddressWindow` counts each separately).
const NAMED: u8 = 0;
/// Failed logins with reason `unknown_account` (named, counted apart from `NAMED`).
const UNKNOWN: u8 = 1;
/// Failed logins that named no account.
const ANONYMOUS: u8 = 2;
/// Login attempts that named no account and whose outcome the log does not say.
const UNDETERMINED: u8 = 3;
/// Successful logins.
const SUCCESS: u8 = 4;
const TALLIES: usize = 5;

/// What a heavy address keeps beside its window.
#[derive(Debug, Default, Serialize, Deserialize)]
struct IpExtra {
    asn: Option<Asn>,
    /// Accounts named since the address was promoted to the heavy tier (the one or two before
    /// are known only by fingerprint).
    sample: Vec<AccountKey>,
}

impl HeapSize for IpExtra {
    fn heap_bytes(&self) -> usize {
        self.sample.capacity() * std::mem::size_of::<AccountKey>()
            + self.sample.iter().map(|a| a.heap_bytes()).sum::<usize>()
    }
}

/// The `stuffing.ip` detector.
#[derive(Debug, Serialize, Deserialize)]
pub struct StuffingIpDetector {
    #[serde(skip)]
    cfg: StuffingIpConfig,
    ips: AddressTable<IpExtra, TALLIES>,
    episodes: Episodes<IpAddr>,
    hasher: KeyHasher,
    watermark: Timestamp,
    last_sweep: Timestamp,
    evicted: u64,
    events_since_sweep: u64,
}

impl StuffingIpDetector {
    /// A detector with the given settings.
    pub fn new(cfg: StuffingIpConfig) -> StuffingIpDetector {
        let smallest = cfg
            .min_distinct_accounts
            .min(cfg.min_failures_without_account)
            .min(cfg.min_attempts_without_outcome) as usize;
        StuffingIpDetector {
            // Exact up to the high threshold: every alert's numbers are exact and the same on
            // every run; only an address far beyond it is counted by the sketch.
            ips: AddressTable::new(cfg.window.millis(), smallest, cfg.max_failures_per_ip)
                .with_exact_distinct(
                    cfg.high_distinct_accounts.max(cfg.min_distinct_accounts) as usize
                ),
            cfg,
            episodes: Episodes::new(Rule::StuffingIp),
            hasher: KeyHasher::default(),
            watermark: Timestamp(i64::MIN),
            last_sweep: Timestamp(i64::MIN),
            evicted: 0,
            events_since_sweep: 0,
        }
    }

    fn window_ms(&self) -> i64 {
        self.cfg.window.millis()
    }

    /// Drops addresses with nothing left in their window, then, if still over the limit, the
    /// least recently active tenth.
    fn sweep(&mut self) {
        self.last_sweep = self.watermark;
        self.ips.sweep(self.watermark);
        self.evicted += self.ips.evict_over(self.cfg.max_tracked_ips);
        self.episodes.close_quiet(self.watermark, self.window_ms());
    }
}

impl Detector for StuffingIpDetector {
    fn name(&self) -> &'static str {
        Rule::StuffingIp.as_str()
    }

    fn observe(&mut self, ev: &AuthEvent, out: &mut Vec<Alert>) {
        if !self.cfg.enabled || ev.kind != EventKind::Login {
            return;
        }
        let Some(ip) = ev.ip else { return };
        if ev.ts > self.watermark {
            self.watermark = ev.ts;
        }
        self.events_since_sweep += 1;
        // Sweeping walks every address, so it follows event time (six times a window), with a
        // count check in between so a flood of new addresses cannot outgrow the limit for long.
        if self.watermark.0.saturating_sub(self.last_sweep.0) >= self.window_ms() / 6
            || self.ips.len() > self.cfg.max_tracked_ips
        {
            self.events_since_sweep = 0;
            self.sweep();
        }
        let window = self.window_ms();
        // Only a failure opens state for an address: successes from an address with no failure
        // in the window add nothing to a stuffing alert, and tracking them would let ordinary
        // traffic (or a flood of successful logins from random addresses) fill the table.
        let opens_state = ev.outcome == Outcome::Failure
            || (ev.outcome == Outcome::Unknown && ev.account.is_none());
        if !opens_state && !self.ips.contains(&ip) {
            return;
        }
        let (tally, account) = match (ev.outcome, &ev.account) {
            (Outcome::Success, _) => (SUCCESS, None),
            (Outcome::Unknown, Some(_)) => return,
            (Outcome::Unknown, None) => (UNDETERMINED, None),
            (Outcome::Failure, Some(a)) => {
                let fp = fingerprint(self.hasher.hash_u64(a.hash64()));
                if ev.reason == Some(FailureReason::UnknownAccount) {
                    (UNKNOWN, Some(fp))
                } else {
                    (NAMED, Some(fp))
                }
            }
            (Outcome::Failure, None) => (ANONYMOUS, None),
        };
        // An episode ends once a whole window has passed without activity from the address.
        let closed = self.episodes.close_if_quiet(&ip, ev.ts, window);
        self.episodes.touch(&ip, ev.ts);
        let now = self.watermark;
        let Some(state) = self.ips.record(ip, ev.ts, now, tally, account) else {
            return;
        };
        if closed {
            state.extra.sample.clear();
        }
        if ev.asn.is_some() {
            state.extra.asn = ev.asn;
        }
        if tally == SUCCESS {
            return;
        }
        if let (Some(a), NAMED | UNKNOWN) = (&ev.account, tally)
            && state.extra.sample.len() < self.cfg.accounts_sample
            && !state.extra.sample.contains(a)
        {
            state.extra.sample.push(a.clone());
        }

        let w = &state.window;
        let distinct = w.distinct_accounts(now).min(u64::from(u32::MAX)) as u32;
        let anonymous = w.tally(ANONYMOUS.into()) as u32;
        let by_accounts = distinct >= self.cfg.min_distinct_accounts;
        let by_failures = anonymous >= self.cfg.min_failures_without_account;
        let undetermined = w.tally(UNDETERMINED.into()) as u32;
        let attempts_without_outcome = anonymous + undetermined;
        let by_attempts =
            undetermined > 0 && attempts_without_outcome >= self.cfg.min_attempts_without_outcome;
        if !by_accounts && !by_failures && !by_attempts {
            return;
        }
        let severity = if distinct >= self.cfg.high_distinct_accounts
            || anonymous >= self.cfg.min_failures_without_account.saturating_mul(5)
            || (by_attempts
                && attempts_without_outcome
                    >= self.cfg.min_attempts_without_outcome.saturating_mul(5))
        {
            Severity::High
        } else {
            Severity::Medium
        };
        let first_in_window = w
            .oldest(&[
                NAMED.into(),
                UNKNOWN.into(),
                ANONYMOUS.into(),
                UNDETERMINED.into(),
            ])
            .unwrap_or(ev.ts);
        let entity = Entity::ip(ip);
        let Some(episode) = self
            .episodes
            .crossed(&ip, &entity, first_in_window, ev.ts, severity)
        else {
            return;
        };
        let (id, first_seen) = (episode.id, episode.first_seen);

        let unknown = w.tally(UNKNOWN.into());
        let named = w.tally(NAMED.into()) + unknown;
        let failures = named + w.tally(ANONYMOUS.into());
        let successes = w.tally(SUCCESS.into());
        let unknown_ratio = if named > 0 {
            unknown as f64 / named as f64
        } else {
            0.0
        };
        let unknown_ratio = (unknown_ratio * 100.0).round() / 100.0;
        let window_text = self.cfg.window.to_string();
        let summary = if by_accounts {
            format!(
                "{} failed logins to {} distinct accounts in {} ({}% unknown accounts)",
                entity.value,
                thousands(u64::from(distinct)),
                window_text,
                (unknown_ratio * 100.0).round() as u32
            )
        } else if by_failures {
            format!(
                "{} failed {} logins in {} (the log names no accounts)",
                entity.value,
                thousands(u64::from(anonymous)),
                window_text
            )
        } else {
            format!(
                "{} made {} login attempts in {} (the log names no accounts and does not say whether they failed)",
                entity.value,
                thousands(u64::from(attempts_without_outcome)),
                window_text
            )
        };
        let thresholds_crossed = StuffingIpThresholds {
            attempts_without_outcome: by_attempts.then(|| {
                ThresholdCrossed::new(
                    attempts_without_outcome,
                    self.cfg.min_attempts_without_outcome,
                )
            }),
            distinct_accounts: by_accounts
                .then(|| ThresholdCrossed::new(distinct, self.cfg.min_distinct_accounts)),
            failures_without_account: by_failures.then(|| {
                ThresholdCrossed::new(anonymous, self.cfg.min_failures_without_account)
            }),
        };
        let evidence = StuffingIpEvidence {
            attempts: failures + successes + undetermined as usize,
            attempts_without_outcome: (undetermined > 0).then_some(undetermined),
            distinct_accounts: distinct,
            // Above 64 distinct accounts the count is a HyperLogLog estimate (about 1 %).
            distinct_accounts_estimated: !w.accounts_exact(),
            failures,
            successes,
            thresholds_crossed,
            unknown_account_ratio: unknown_ratio,
            window: window_text,
        };

        out.push(Alert {
            id,
            rule: Rule::StuffingIp,
            severity,
            entity,
            first_seen,
            last_seen: ev.ts,
            asn: state.extra.asn,
            as_org: None,
            summary,
            evidence: evidence.into(),
            accounts: state
                .extra
                .sample
                .iter()
                .map(|a| a.as_str().to_string())
                .collect(),
        });
    }

    fn advance(&mut self, watermark: Timestamp, _out: &mut Vec<Alert>) {
        if watermark > self.watermark {
            self.watermark = watermark;
            self.sweep();
        }
    }
}

impl RuleState for StuffingIpDetector {
    fn state_name(&self) -> &'static str {
        self.name()
    }

    crate::detect::state::snapshot_methods!();

    fn state_bytes(&self) -> usize {
        self.ips.bytes(HeapSize::heap_bytes)
    }

    fn evict_to(&mut self, bytes: usize) -> u64 {
        let n = self.ips.evict_to_bytes(bytes, HeapSize::heap_bytes);
        self.evicted += n;
        n
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("stuffing_ip.tracked_ips", self.ips.len() as u64),
            ("stuffing_ip.heavy_ips", self.ips.heavy_len() as u64),
            ("stuffing_ip.evicted_ips", self.evicted),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed evidence of a `stuffing.ip` alert.
    fn ev(a: &Alert) -> &StuffingIpEvidence {
        a.evidence.stuffing_ip().expect("a stuffing.ip alert")
    }
    use crate::time::{MINUTE};
    use crate::event::LineMeta;
    use crate::time::SECOND;

    fn login(t: i64, ip: &str, account: Option<&str>, outcome: Outcome) -> AuthEvent {
        let mut ev = AuthEvent::new(Timestamp(t), EventKind::Login, LineMeta::default());
        ev.ip = Some(ip.parse().unwrap());
        ev.account = account.and_then(AccountKey::normalize);
        ev.outcome = outcome;
        if outcome == Outcome::Failure {
            ev.reason = Some(FailureReason::UnknownAccount);
        }
        ev
    }

    fn run(events: &[AuthEvent]) -> Vec<Alert> {
        let mut d = StuffingIpDetector::new(StuffingIpConfig::default());
        let mut out = Vec::new();
        for ev in events {
            d.observe(ev, &mut out);
        }
        out
    }

    #[test]
    fn a_restart_keeps_windows_and_episodes() {
        use crate::detect::state::testing::{events, restart_anywhere, restart_at};
        // 150 accounts from one address (the distinct count goes past the exact tier into the
        // sketch), then a second, separate episode after a quiet spell.
        let mut evs: Vec<_> = (0..150)
            .map(|i| {
                let acct = format!("user{i}@example.com");
                login(i * SECOND, "203.0.113.7", Some(&acct), Outcome::Failure)
            })
            .collect();
        evs.extend((0..25).map(|i| {
            let acct = format!("late{i}@example.com");
            login(
                3_600 * SECOND + i * SECOND,
                "203.0.113.7",
                Some(&acct),
                Outcome::Failure,
            )
        }));
        let inputs = events(&evs);
        let make = || StuffingIpDetector::new(StuffingIpConfig::default());
        let all = restart_anywhere(make, &inputs, 7);
        assert_eq!(all.len(), 3, "{all:#?}");
        // The episode opened at 20 accounts is open at the restart: the rise at 100 keeps its
        // id, and the restored detector does not open it again.
        let (before, after) = restart_at(make, &inputs, 60);
        assert_eq!(before.len(), 1);
        assert_eq!(after[0].severity, Severity::High);
        assert_eq!(after[0].id, before[0].id);
        // Mid-window in the light tier and in the sketch tier.
        restart_at(make, &inputs, 10);
        restart_at(make, &inputs, 120);
    }

    #[test]
    fn fires_at_twenty_distinct_accounts_and_rises_at_one_hundred() {
        let events: Vec<_> = (0..150)
            .map(|i| {
                let acct = format!("user{i}@example.com");
                login(i * SECOND, "203.0.113.7", Some(&acct), Outcome::Failure)
            })
            .collect();
        let alerts = run(&events);
        assert_eq!(alerts.len(), 2, "{alerts:#?}");
        let (open, rise) = (&alerts[0], &alerts[1]);
        assert_eq!(open.rule, Rule::StuffingIp);
        assert_eq!(open.entity.value, "203.0.113.7");
        assert_eq!(open.severity, Severity::Medium);
        assert_eq!(ev(open).distinct_accounts, 20);
        assert_eq!(ev(open).unknown_account_ratio, 1.0);
        assert_eq!(open.first_seen, Timestamp(0));
        assert_eq!(open.last_seen, Timestamp(19 * SECOND));
        // The sample names the accounts seen since the address left the light tier: the first
        // two are known there only by fingerprint.
        assert_eq!(open.accounts.len(), 18);
        assert_eq!(open.accounts[0], "user2@example.com");
        assert_eq!(rise.severity, Severity::High);
        assert_eq!(rise.id, open.id, "a rise keeps the episode id");
        assert_eq!(ev(rise).distinct_accounts, 100);
        assert_eq!(
            open.summary,
            "203.0.113.7 failed logins to 20 distinct accounts in 10m (100% unknown accounts)"
        );
    }

    #[test]
    fn nineteen_accounts_is_a_near_miss() {
        let events: Vec<_> = (0..19)
            .map(|i| {
                login(
                    i * SECOND,
                    "198.51.100.1",
                    Some(&format!("u{i}")),
                    Outcome::Failure,
                )
            })
            .collect();
        assert!(run(&events).is_empty());
    }

    #[test]
    fn one_account_retrying_is_not_stuffing() {
        let events: Vec<_> = (0..500)
            .map(|i| login(i * SECOND, "198.51.100.1", Some("alice"), Outcome::Failure))
            .collect();
        assert!(run(&events).is_empty());
    }

    #[test]
    fn slow_list_outside_the_window_stays_silent() {
        // 40 accounts, one every minute: never 20 within 10 minutes.
        let events: Vec<_> = (0..40)
            .map(|i| {
                login(
                    i * MINUTE,
                    "198.51.100.9",
                    Some(&format!("u{i}")),
                    Outcome::Failure,
                )
            })
            .collect();
        assert!(run(&events).is_empty());
    }

    #[test]
    fn successful_logins_from_a_nat_are_not_failures() {
        let events: Vec<_> = (0..300)
            .map(|i| {
                login(
                    i * SECOND,
                    "192.0.2.10",
                    Some(&format!("staff{i}")),
                    Outcome::Success,
                )
            })
            .collect();
        assert!(run(&events).is_empty());
    }

    #[test]
    fn access_log_without_accounts_uses_failure_count() {
        let events: Vec<_> = (0..60)
            .map(|i| login(i * SECOND, "2001:db8::7", None, Outcome::Failure))
            .collect();
        let alerts = run(&events);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].entity.value, "2001:db8::7");
        assert_eq!(ev(&alerts[0]).failures, 50);
        assert!(alerts[0].summary.contains("the log names no accounts"));
    }

    #[test]
    fn form_logins_answered_200_count_as_attempts_without_outcome() {
        // 150 `POST /login` answered 200 (the form shown again): no account, no outcome.
        let events: Vec<_> = (0..150)
            .map(|i| login(i * SECOND, "198.51.100.77", None, Outcome::Unknown))
            .collect();
        let alerts = run(&events);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(a.severity, Severity::Medium);
        assert_eq!(ev(a).attempts_without_outcome, Some(100));
        assert_eq!(
            ev(a).thresholds_crossed.attempts_without_outcome,
            Some(ThresholdCrossed::new(100, 100))
        );
        assert_eq!(
            a.summary,
            "198.51.100.77 made 100 login attempts in 10m (the log names no accounts and does not say whether they failed)"
        );
        // 99 in the window is a near miss; attempts that name an account are left to the
        // account-aware thresholds.
        assert!(run(&events[..99]).is_empty());
        let named: Vec<_> = (0..150)
            .map(|i| login(i * SECOND, "198.51.100.78", Some("alice"), Outcome::Unknown))
            .collect();
        assert!(run(&named).is_empty());
    }

    #[test]
    fn a_new_episode_after_a_quiet_window_gets_a_new_id() {
        let mut events: Vec<_> = (0..25)
            .map(|i| {
                login(
                    i * SECOND,
                    "203.0.113.9",
                    Some(&format!("a{i}")),
                    Outcome::Failure,
                )
            })
            .collect();
        events.extend((0..25).map(|i| {
            login(
                3_600 * SECOND + i * SECOND,
                "203.0.113.9",
                Some(&format!("b{i}")),
                Outcome::Failure,
            )
        }));
        let alerts = run(&events);
        assert_eq!(alerts.len(), 2);
        assert_ne!(alerts[0].id, alerts[1].id);
    }

    #[test]
    fn memory_is_bounded_by_max_tracked_ips() {
        let cfg = StuffingIpConfig {
            max_tracked_ips: 1_000,
            ..StuffingIpConfig::default()
        };
        let mut d = StuffingIpDetector::new(cfg);
        let mut out = Vec::new();
        for i in 0u32..20_000 {
            let ip = IpAddr::from(i.to_be_bytes());
            let mut ev = login(i64::from(i), "0.0.0.0", Some("x"), Outcome::Failure);
            ev.ip = Some(ip);
            d.observe(&ev, &mut out);
        }
        assert!(d.ips.len() <= 1_001, "{}", d.ips.len());
        assert!(d.evicted > 0);
        assert!(out.is_empty());
    }
}
