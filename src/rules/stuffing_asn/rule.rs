//! The `stuffing.asn` detector.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Entity, Rule, Severity, thousands};
use crate::detect::{
    Detector, Episodes, HeapSize, RuleState, evict_oldest, evict_to_bytes, map_bytes,
    ThresholdCrossed,
};
use crate::event::{AccountKey, Asn, AuthEvent, EventKind, FailureReason, Outcome};
use crate::time::Timestamp;
use crate::window::{KeyHasher, SlidingCount};

use super::{AddressFailures, StuffingAsnConfig, StuffingAsnEvidence, StuffingAsnThresholds};

/// One failure inside an ASN's window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Failure {
    ts: Timestamp,
    ip: Option<IpAddr>,
    /// Seeded hash of the account; `None` when the event names none.
    account: Option<u64>,
    unknown: bool,
}

/// Per-ASN sliding window with per-address and per-account counts kept in step.
#[derive(Debug, Default, Serialize, Deserialize)]
struct AsnWindow {
    failures: VecDeque<Failure>,
    ips: HashMap<IpAddr, u32, foldhash::fast::FixedState>,
    accounts: HashMap<u64, u32, foldhash::fast::FixedState>,
    /// Addresses with at least one and fewer than `max_failures_per_address` failures.
    low_ips: u32,
    unknown: u32,
    /// Failures that named no account.
    anonymous: u32,
    successes: SlidingCount,
    sample: Vec<AccountKey>,
    last_seen: Timestamp,
    /// The ASN's episode is at its highest severity: nothing more can be emitted before it
    /// closes, so the per-failure detail was dropped and only activity is tracked.
    saturated: bool,
}

impl HeapSize for AsnWindow {
    fn heap_bytes(&self) -> usize {
        self.failures.capacity() * std::mem::size_of::<Failure>()
            + self.ips.capacity() * (std::mem::size_of::<(IpAddr, u32)>() + 1)
            + self.accounts.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
            + self.successes.heap_bytes()
            + self.sample.capacity() * std::mem::size_of::<AccountKey>()
            + self.sample.iter().map(|a| a.heap_bytes()).sum::<usize>()
    }
}

impl AsnWindow {
    fn push(&mut self, f: Failure, cap: u32, max: usize) {
        if self.failures.len() >= max {
            self.pop(cap);
        }
        if let Some(ip) = f.ip {
            let c = self.ips.entry(ip).or_insert(0);
            *c += 1;
            if *c == 1 {
                self.low_ips += 1;
            } else if *c == cap {
                self.low_ips = self.low_ips.saturating_sub(1);
            }
        }
        match f.account {
            Some(a) => *self.accounts.entry(a).or_insert(0) += 1,
            None => self.anonymous += 1,
        }
        if f.unknown {
            self.unknown += 1;
        }
        self.failures.push_back(f);
    }

    fn pop(&mut self, cap: u32) {
        let Some(f) = self.failures.pop_front() else {
            return;
        };
        if let Some(ip) = f.ip
            && let Some(c) = self.ips.get_mut(&ip)
        {
            if *c == cap {
                self.low_ips += 1;
            }
            *c -= 1;
            if *c == 0 {
                self.ips.remove(&ip);
                self.low_ips = self.low_ips.saturating_sub(1);
            }
        }
        match f.account {
            Some(a) => {
                if let Some(c) = self.accounts.get_mut(&a) {
                    *c -= 1;
                    if *c == 0 {
                        self.accounts.remove(&a);
                    }
                }
            }
            None => self.anonymous = self.anonymous.saturating_sub(1),
        }
        if f.unknown {
            self.unknown = self.unknown.saturating_sub(1);
        }
    }

    fn expire(&mut self, now: Timestamp, window: i64, cap: u32) {
        let horizon = now.0.saturating_sub(window);
        while self.failures.front().is_some_and(|f| f.ts.0 <= horizon) {
            self.pop(cap);
        }
        self.successes.expire(now, window);
        if self.failures.is_empty() {
            self.sample.clear();
        }
    }
}

/// The `stuffing.asn` detector.
#[derive(Debug, Serialize, Deserialize)]
pub struct StuffingAsnDetector {
    #[serde(skip)]
    cfg: StuffingAsnConfig,
    asns: HashMap<Asn, AsnWindow, foldhash::quality::RandomState>,
    episodes: Episodes<Asn>,
    hasher: KeyHasher,
    watermark: Timestamp,
    evicted: u64,
    events_since_sweep: u64,
}

impl StuffingAsnDetector {
    /// A detector with the given settings.
    pub fn new(cfg: StuffingAsnConfig) -> StuffingAsnDetector {
        StuffingAsnDetector {
            cfg,
            asns: HashMap::default(),
            episodes: Episodes::new(Rule::StuffingAsn),
            hasher: KeyHasher::default(),
            watermark: Timestamp(i64::MIN),
            evicted: 0,
            events_since_sweep: 0,
        }
    }

    fn sweep(&mut self) {
        let window = self.cfg.window.millis();
        let horizon = self.watermark.0.saturating_sub(window);
        self.asns.retain(|_, w| w.last_seen.0 > horizon);
        self.episodes.close_quiet(self.watermark, window);
        self.evicted += evict_oldest(&mut self.asns, self.cfg.max_tracked_asns, |w| w.last_seen.0);
    }
}

/// The /24 of an IPv4 address or the /48 of an IPv6 address, tagged by family.
fn prefix(ip: IpAddr) -> [u8; 7] {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            [4, o[0], o[1], o[2], 0, 0, 0]
        }
        IpAddr::V6(a) => {
            let o = a.octets();
            [6, o[0], o[1], o[2], o[3], o[4], o[5]]
        }
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        ((n as f64 / d as f64) * 100.0).round() / 100.0
    }
}

impl Detector for StuffingAsnDetector {
    fn name(&self) -> &'static str {
        Rule::StuffingAsn.as_str()
    }

    fn observe(&mut self, ev: &AuthEvent, out: &mut Vec<Alert>) {
        if !self.cfg.enabled || ev.kind != EventKind::Login {
            return;
        }
        let Some(asn) = ev.asn else { return };
        if ev.ts > self.watermark {
            self.watermark = ev.ts;
        }
        self.events_since_sweep += 1;
        if self.events_since_sweep >= 65_536 || self.asns.len() > self.cfg.max_tracked_asns {
            self.events_since_sweep = 0;
            self.sweep();
        }
        let window = self.cfg.window.millis();
        // At least 2, so that an address's first failure always makes it low.
        let cap = self.cfg.max_failures_per_address.max(2);
        let max = self.cfg.max_events_per_asn.max(1);
        let now = self.watermark;
        // Only a failure opens state: successes of ASNs without failures say nothing.
        if ev.outcome != Outcome::Failure {
            if ev.outcome == Outcome::Success
                && let Some(w) = self.asns.get_mut(&asn)
                && !w.saturated
            {
                w.successes.expire(now, window);
                if w.successes.len() < max {
                    w.successes.push(ev.ts);
                }
            }
            return;
        }
        // An episode ends once its entity has been quiet for a whole window. Closing is a scan
        // of all open episodes, so do it only when this entity's episode is due.
        if self
            .episodes
            .get(&asn)
            .is_some_and(|ep| ep.last_seen.0 <= now.0.saturating_sub(window))
        {
            self.episodes.close_quiet(now, window);
        }
        let at_top = self
            .episodes
            .get(&asn)
            .is_some_and(|ep| ep.severity >= Severity::High);
        let state = self.asns.entry(asn).or_insert_with(|| AsnWindow {
            last_seen: ev.ts,
            ..AsnWindow::default()
        });
        if at_top {
            // A swarm over thousands of ASNs would otherwise keep every failure of each of
            // them; the alert's evidence stays as of its last emission.
            self.episodes.touch(&asn, ev.ts);
            state.last_seen = state.last_seen.max(ev.ts);
            if !state.saturated {
                *state = AsnWindow {
                    last_seen: state.last_seen,
                    saturated: true,
                    ..AsnWindow::default()
                };
            }
            return;
        }
        if state.saturated {
            // The episode closed: start counting afresh.
            *state = AsnWindow {
                last_seen: ev.ts,
                ..AsnWindow::default()
            };
        }
        state.last_seen = state.last_seen.max(ev.ts);
        state.expire(now, window, cap);
        let account = ev.account.as_ref().map(|a| {
            if state.sample.len() < self.cfg.accounts_sample && !state.sample.contains(a) {
                state.sample.push(a.clone());
            }
            self.hasher.hash_u64(a.hash64())
        });
        state.push(
            Failure {
                ts: ev.ts,
                ip: ev.ip,
                account,
                unknown: ev.reason == Some(FailureReason::UnknownAccount),
            },
            cap,
            max,
        );

        let low = state.low_ips;
        let accounts = state.accounts.len() as u32;
        let failures = state.failures.len();
        let successes = state.successes.len();
        let anonymous = state.anonymous;
        let failure_ratio = failures as f64 / (failures + successes) as f64;
        let by_named = accounts >= self.cfg.min_distinct_accounts;
        let by_anonymous = anonymous >= self.cfg.min_failures_without_account;
        if low < self.cfg.min_failing_addresses
            || !(by_named || by_anonymous)
            || failure_ratio < self.cfg.min_failure_ratio
        {
            self.episodes.touch(&asn, ev.ts);
            return;
        }
        let by_addresses = low >= self.cfg.high_failing_addresses;
        let by_accounts = accounts >= self.cfg.high_distinct_accounts;
        let severity = if by_addresses || by_accounts {
            Severity::High
        } else {
            Severity::Medium
        };
        let entity = Entity::asn(asn);
        let first = state.failures.front().map_or(ev.ts, |f| f.ts);
        let Some(ep) = self.episodes.crossed(&asn, &entity, first, ev.ts, severity) else {
            return;
        };

        let mut top: Vec<(IpAddr, u32)> = state.ips.iter().map(|(ip, c)| (*ip, *c)).collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let max_per_address = top.iter().map(|t| t.1).filter(|c| *c < cap).max();
        // Rented servers sit in many networks; one subnet's hosts would share a prefix.
        let mut prefixes: Vec<[u8; 7]> = top.iter().map(|t| prefix(t.0)).collect();
        prefixes.sort_unstable();
        prefixes.dedup();
        top.truncate(self.cfg.top_addresses);
        let window_text = self.cfg.window.to_string();
        // Only failures that name an account can say whether it exists.
        let unknown_ratio = ratio(state.unknown as usize, failures - anonymous as usize);
        let fr = ratio(failures, failures + successes);
        let thresholds_crossed = StuffingAsnThresholds {
            distinct_accounts: by_named
                .then(|| ThresholdCrossed::new(accounts, self.cfg.min_distinct_accounts)),
            failing_addresses: ThresholdCrossed::new(low, self.cfg.min_failing_addresses),
            failure_ratio: ThresholdCrossed {
                exceeded_by: ((fr - self.cfg.min_failure_ratio) * 100.0).round() / 100.0,
                threshold: self.cfg.min_failure_ratio,
                value: fr,
            },
            failures_without_account: by_anonymous.then(|| {
                ThresholdCrossed::new(anonymous, self.cfg.min_failures_without_account)
            }),
            high_distinct_accounts: by_accounts
                .then(|| ThresholdCrossed::new(accounts, self.cfg.high_distinct_accounts)),
            high_failing_addresses: by_addresses
                .then(|| ThresholdCrossed::new(low, self.cfg.high_failing_addresses)),
        };
        let evidence = StuffingAsnEvidence {
            distinct_accounts: accounts,
            distinct_prefixes: prefixes.len(),
            failing_addresses: low,
            failure_ratio: fr,
            failures,
            failures_without_account: anonymous,
            max_failures_per_address: max_per_address.unwrap_or(0),
            successes,
            thresholds_crossed,
            top_addresses: top
                .iter()
                .map(|&(ip, failures)| AddressFailures { failures, ip })
                .collect(),
            unknown_account_ratio: unknown_ratio,
            window: window_text.clone(),
        };
        out.push(Alert {
            id: ep.id,
            rule: Rule::StuffingAsn,
            severity,
            summary: if by_named {
                format!(
                    "AS{} failed logins from {} addresses to {} distinct accounts in {} \
                     (at most {} per address, {}% unknown accounts)",
                    asn,
                    thousands(u64::from(low)),
                    thousands(u64::from(accounts)),
                    window_text,
                    max_per_address.unwrap_or(0),
                    (unknown_ratio * 100.0).round() as u32
                )
            } else {
                format!(
                    "AS{} failed {} logins from {} addresses in {} \
                     (at most {} per address; the log names no accounts)",
                    asn,
                    thousands(anonymous as u64),
                    thousands(u64::from(low)),
                    window_text,
                    max_per_address.unwrap_or(0)
                )
            },
            entity,
            first_seen: ep.first_seen,
            last_seen: ev.ts,
            asn: Some(asn),
            as_org: None,
            evidence: evidence.into(),
            accounts: state
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

impl RuleState for StuffingAsnDetector {
    fn state_name(&self) -> &'static str {
        self.name()
    }

    crate::detect::state::snapshot_methods!();

    fn state_bytes(&self) -> usize {
        map_bytes(&self.asns)
    }

    fn evict_to(&mut self, bytes: usize) -> u64 {
        let n = evict_to_bytes(&mut self.asns, bytes, |w| w.last_seen.0);
        self.evicted += n;
        n
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("stuffing_asn.tracked_asns", self.asns.len() as u64),
            ("stuffing_asn.evicted_asns", self.evicted),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed evidence of a `stuffing_asn` alert.
    fn ev(a: &Alert) -> &StuffingAsnEvidence {
        a.evidence.stuffing_asn().expect("a stuffing_asn alert")
    }
    use crate::time::{MINUTE};
    use crate::event::LineMeta;
    use crate::time::SECOND;

    fn login(t: i64, ip: &str, asn: u32, account: &str, outcome: Outcome) -> AuthEvent {
        let mut ev = AuthEvent::new(Timestamp(t), EventKind::Login, LineMeta::default());
        ev.ip = Some(ip.parse().unwrap());
        ev.asn = Some(Asn(asn));
        ev.account = AccountKey::normalize(account);
        ev.outcome = outcome;
        if outcome == Outcome::Failure {
            ev.reason = Some(FailureReason::UnknownAccount);
        }
        ev
    }

    fn run(events: &[AuthEvent]) -> Vec<Alert> {
        let mut d = StuffingAsnDetector::new(StuffingAsnConfig::default());
        let mut out = Vec::new();
        for ev in events {
            d.observe(ev, &mut out);
        }
        out
    }

    /// `n` addresses of one ASN, each failing `per` times on fresh accounts, one try every 5 s.
    fn spread(asn: u32, n: u32, per: u32) -> Vec<AuthEvent> {
        let mut events = Vec::new();
        let mut t = 0;
        for round in 0..per {
            for a in 0..n {
                let ip = format!("10.{}.{}.7", a / 200, a % 200);
                let acct = format!("victim{round}-{a}@example.com");
                events.push(login(t, &ip, asn, &acct, Outcome::Failure));
                t += 5 * SECOND;
            }
        }
        events
    }

    #[test]
    fn a_restart_keeps_windows_and_episodes() {
        use crate::detect::state::testing::{events, restart_anywhere, restart_at};
        let evs = spread(16276, 25, 16);
        let inputs = events(&evs);
        let make = || StuffingAsnDetector::new(StuffingAsnConfig::default());
        let all = restart_anywhere(make, &inputs, 9);
        assert_eq!(all.len(), 2, "{all:#?}");
        // Open at medium at input 100: the rise keeps its id.
        let (before, after) = restart_at(make, &inputs, 100);
        assert_eq!(before.len(), 1);
        assert_eq!(after.len(), 1);
        assert_eq!(
            (after[0].severity, &after[0].id),
            (Severity::High, &before[0].id)
        );
        // Saturated at high (the failure detail dropped): nothing more, and no reopening.
        let (before, after) = restart_at(make, &inputs, 300);
        assert_eq!((before.len(), after.len()), (2, 0));
    }

    #[test]
    fn spread_over_one_asn_fires_medium_then_high() {
        let alerts = run(&spread(16276, 25, 10));
        assert_eq!(alerts.len(), 2, "{alerts:#?}");
        let (open, rise) = (&alerts[0], &alerts[1]);
        assert_eq!(open.rule, Rule::StuffingAsn);
        assert_eq!(open.entity.value, "16276");
        assert_eq!(open.asn, Some(Asn(16276)));
        assert_eq!(open.severity, Severity::Medium);
        // The accounts gate opens at the 50th failure: 25 addresses with 2 failures each.
        assert_eq!(ev(open).failing_addresses, 25);
        assert_eq!(ev(open).distinct_accounts, 50);
        assert_eq!(ev(open).failures, 50);
        assert_eq!(ev(open).failure_ratio, 1.0);
        assert_eq!(ev(open).unknown_account_ratio, 1.0);
        assert_eq!(ev(open).max_failures_per_address, 2);
        // 10.0.a.7 for a < 200: every address in its own /24.
        assert_eq!(ev(open).distinct_prefixes, 25);
        assert_eq!(open.first_seen, Timestamp(0));
        assert_eq!(open.last_seen, Timestamp(49 * 5 * SECOND));
        assert_eq!(
            ev(open).top_addresses[0],
            AddressFailures {
                failures: 2,
                ip: "10.0.0.7".parse().unwrap()
            }
        );
        assert_eq!(
            open.summary,
            "AS16276 failed logins from 25 addresses to 50 distinct accounts in 30m \
             (at most 2 per address, 100% unknown accounts)"
        );
        assert_eq!(rise.severity, Severity::High);
        assert_eq!(rise.id, open.id);
        assert_eq!(ev(rise).distinct_accounts, 200);
    }

    #[test]
    fn at_high_the_asn_keeps_no_failures_until_its_episode_closes() {
        let mut d = StuffingAsnDetector::new(StuffingAsnConfig::default());
        let mut out = Vec::new();
        // 200 addresses x 10 rounds: high at once (50 low addresses), then 1,950 more failures.
        let events = spread(16276, 200, 10);
        for ev in &events {
            d.observe(ev, &mut out);
        }
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].severity, Severity::High);
        let w = &d.asns[&Asn(16276)];
        assert!(w.saturated);
        assert_eq!((w.failures.len(), w.ips.len(), w.accounts.len()), (0, 0, 0));
        // Quiet for a whole window, then the same swarm again: a new episode.
        let t0 = events.last().unwrap().ts.0 + 31 * MINUTE;
        for ev in spread(16276, 25, 10) {
            let mut ev = ev;
            ev.ts = Timestamp(ev.ts.0 + t0);
            d.observe(&ev, &mut out);
        }
        assert_eq!(out.len(), 3, "{out:#?}");
        assert_ne!(out[1].id, out[0].id);
        assert_eq!(ev(&out[1]).failures, 50);
    }

    #[test]
    fn few_addresses_are_a_near_miss() {
        // 19 addresses failing 5 times each on 95 accounts: one address short.
        assert!(run(&spread(209, 19, 5)).is_empty());
    }

    #[test]
    fn a_carrier_with_mostly_successful_logins_is_silent() {
        // 30 failing CGNAT/home addresses on 60 accounts, among 500 successful logins.
        let mut events = Vec::new();
        for i in 0..600i64 {
            let ip = format!("49.103.{}.{}", i % 30, i % 7);
            let acct = format!("customer{i}@example.jp");
            let outcome = if i % 10 == 0 || i < 10 {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            events.push(login(i * SECOND, &ip, 9605, &acct, outcome));
        }
        assert!(run(&events).is_empty());
    }

    #[test]
    fn heavy_addresses_do_not_count_as_low() {
        // 30 addresses failing 25 times each, one after another: each is stuffing.ip's
        // business once it reaches 20, so at most one low address is ever in the window.
        let mut events = Vec::new();
        for a in 0..30i64 {
            for round in 0..25i64 {
                let acct = format!("v{a}-{round}");
                let t = (a * 25 + round) * SECOND;
                events.push(login(
                    t,
                    &format!("10.0.{a}.1"),
                    14061,
                    &acct,
                    Outcome::Failure,
                ));
            }
        }
        assert!(run(&events).is_empty());
    }

    #[test]
    fn access_logs_without_accounts_use_the_failure_count() {
        let mut events = spread(16276, 25, 5);
        for ev in &mut events {
            ev.account = None;
            ev.reason = None;
        }
        let alerts = run(&events);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(a.severity, Severity::Medium);
        assert_eq!(ev(a).failures_without_account, 100);
        assert_eq!(ev(a).distinct_accounts, 0);
        assert_eq!(ev(a).unknown_account_ratio, 0.0);
        assert_eq!(
            a.summary,
            "AS16276 failed 100 logins from 25 addresses in 30m \
             (at most 4 per address; the log names no accounts)"
        );
        // 99 failures is a near miss.
        assert!(run(&events[..99]).is_empty());
    }

    #[test]
    fn without_an_asn_database_the_rule_is_silent() {
        let mut events = spread(16276, 62, 4);
        for ev in &mut events {
            ev.asn = None;
        }
        assert!(run(&events).is_empty());
    }

    #[test]
    fn memory_is_bounded_by_max_tracked_asns() {
        let cfg = StuffingAsnConfig {
            max_tracked_asns: 1_000,
            ..StuffingAsnConfig::default()
        };
        let mut d = StuffingAsnDetector::new(cfg);
        let mut out = Vec::new();
        for i in 0..20_000u32 {
            let ev = login(i64::from(i), "192.0.2.1", i, "x", Outcome::Failure);
            d.observe(&ev, &mut out);
        }
        assert!(d.asns.len() <= 1_001, "{}", d.asns.len());
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
        /// Any sequence of logins (times out of order, repeated addresses and accounts, with and
        /// without accounts) never panics, and the low-address count matches a recount.
        #[test]
        fn arbitrary_logins_never_panic(
            evs in prop::collection::vec(
                (0i64..4_000_000, 0u8..40, 0u8..4, prop::option::of(0u8..30), 0u8..3, any::<bool>()),
                0..400,
            )
        ) {
            let cfg = StuffingAsnConfig {
                min_failing_addresses: 3,
                min_distinct_accounts: 3,
                min_failures_without_account: 3,
                max_failures_per_address: 2,
                max_events_per_asn: 50,
                ..StuffingAsnConfig::default()
            };
            let mut d = StuffingAsnDetector::new(cfg);
            let mut out = Vec::new();
            for (t, ip, asn, acct, outcome, unknown) in evs {
                let mut ev = AuthEvent::new(Timestamp(t), EventKind::Login, LineMeta::default());
                ev.ip = Some(IpAddr::from([10, 0, 0, ip]));
                ev.asn = Some(Asn(u32::from(asn)));
                ev.account = acct.and_then(|a| AccountKey::normalize(&format!("u{a}")));
                ev.outcome = [Outcome::Failure, Outcome::Success, Outcome::Unknown][usize::from(outcome)];
                ev.reason = unknown.then_some(FailureReason::UnknownAccount);
                d.observe(&ev, &mut out);
                for w in d.asns.values() {
                    let low = w.ips.values().filter(|c| **c < 2).count() as u32;
                    prop_assert_eq!(w.low_ips, low);
                }
            }
            d.advance(Timestamp(i64::MAX), &mut out);
        }
    }
}
