//! The `stuffing.global` detector.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Entity, Rule, Severity, thousands};
use crate::detect::{Detector, Episodes, HeapSize, RuleState, ThresholdCrossed, map_bytes};
use crate::event::{Asn, AuthEvent, EventKind, FailureReason, Outcome};
use crate::time::{MINUTE, Timestamp};

use super::{
    BurstAddress, BurstAsn, StuffingGlobalConfig, StuffingGlobalEvidence, StuffingGlobalThresholds,
};

/// Failures of one address in one minute.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct AddressMinute {
    failures: u32,
    asn: Option<Asn>,
}

impl HeapSize for AddressMinute {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapSize for (u64, Option<Asn>) {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapSize for (u64, u64) {
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// The open minute.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Minute {
    addresses: HashMap<IpAddr, AddressMinute, foldhash::quality::RandomState>,
    /// Failing addresses not tracked because the map was full (each counted as new).
    overflow: u32,
    failures: u64,
    unknown: u64,
    /// Unknown-account failures with each address capped.
    unknown_capped: u32,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl Minute {
    fn failing_addresses(&self) -> u32 {
        (self.addresses.len() as u32).saturating_add(self.overflow)
    }
}

/// Robust baseline of one measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Baseline {
    #[serde(with = "crate::detect::state::exact_f64")]
    median: f64,
    #[serde(with = "crate::detect::state::exact_f64")]
    mad: f64,
    #[serde(with = "crate::detect::state::exact_f64")]
    threshold: f64,
}

fn baseline(values: impl Iterator<Item = u32>, factor: f64, floor: u32) -> Baseline {
    let mut v: Vec<f64> = values.map(f64::from).collect();
    let median = median(&mut v);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
    let mad = median_of(&mut dev);
    let spread = (1.4826 * mad).max(1.0);
    Baseline {
        median,
        mad,
        threshold: (median + factor * spread).max(f64::from(floor)),
    }
}

fn median(v: &mut [f64]) -> f64 {
    median_of(v)
}

fn median_of(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let hi = v.get(n / 2).copied().unwrap_or(0.0);
    if n % 2 == 1 {
        hi
    } else {
        let lo = v.get(n / 2 - 1).copied().unwrap_or(0.0);
        (lo + hi) / 2.0
    }
}

/// A run of hot minutes, pending (fewer than `consecutive_minutes`) or open.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Burst {
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    hot_minutes: u32,
    cold_streak: u32,
    opened: bool,
    peak_addresses: u32,
    peak_failures: u64,
    failures: u64,
    unknown: u64,
    addresses: HashMap<IpAddr, (u64, Option<Asn>), foldhash::quality::RandomState>,
    overflow: u64,
    asns: HashMap<Asn, (u64, u64), foldhash::quality::RandomState>,
    addresses_base: Option<Baseline>,
    unknown_base: Option<Baseline>,
}

/// The `stuffing.global` detector.
#[derive(Debug, Serialize, Deserialize)]
pub struct StuffingGlobalDetector {
    #[serde(skip)]
    cfg: StuffingGlobalConfig,
    /// Index (minutes since the epoch) of the open minute.
    current: Option<i64>,
    minute: Minute,
    /// Closed minutes: (distinct failing addresses, capped unknown failures).
    history: VecDeque<(u32, u32)>,
    burst: Option<Burst>,
    episodes: Episodes<()>,
    evicted: u64,
    bursts: u64,
}

impl StuffingGlobalDetector {
    /// A detector with the given settings.
    pub fn new(cfg: StuffingGlobalConfig) -> StuffingGlobalDetector {
        StuffingGlobalDetector {
            cfg,
            current: None,
            minute: Minute::default(),
            history: VecDeque::new(),
            burst: None,
            episodes: Episodes::new(Rule::StuffingGlobal),
            evicted: 0,
            bursts: 0,
        }
    }

    /// Closes every minute before `target` (a minute index).
    fn roll_to(&mut self, target: i64, out: &mut Vec<Alert>) {
        let Some(cur) = self.current else {
            self.current = Some(target);
            return;
        };
        if target <= cur {
            return;
        }
        let minute = std::mem::take(&mut self.minute);
        self.close(minute, out);
        // After a long gap only the last minutes matter: enough empty ones to end any burst
        // and fill the baseline.
        let cap = i64::from(self.cfg.baseline_minutes) + i64::from(self.cfg.quiet_minutes) + 1;
        let empties = (target - cur - 1).min(cap);
        for _ in 0..empties {
            self.close(Minute::default(), out);
        }
        self.current = Some(target);
    }

    fn close(&mut self, minute: Minute, out: &mut Vec<Alert>) {
        let addresses = minute.failing_addresses();
        let unknown = minute.unknown_capped;
        let hot_bases = if self.history.len() >= self.cfg.warmup_minutes.max(1) as usize {
            let a = baseline(
                self.history.iter().map(|h| h.0),
                self.cfg.mad_factor,
                self.cfg.min_failing_addresses_per_minute,
            );
            let u = baseline(
                self.history.iter().map(|h| h.1),
                self.cfg.mad_factor,
                self.cfg.min_unknown_failures_per_minute,
            );
            let hot = f64::from(addresses) > a.threshold || f64::from(unknown) > u.threshold;
            hot.then_some((a, u))
        } else {
            // No trusted baseline yet: only an unmistakable level counts. The threshold reported
            // is that level (median and MAD of what little history there is, for context).
            let level = self.cfg.cold_start_failing_addresses_per_minute;
            (level > 0 && addresses >= level).then(|| {
                let mut a = baseline(self.history.iter().map(|h| h.0), 0.0, 0);
                let u = baseline(self.history.iter().map(|h| h.1), 0.0, 0);
                a.threshold = f64::from(level);
                (a, u)
            })
        };
        self.history.push_back((addresses, unknown));
        while self.history.len() > self.cfg.baseline_minutes.max(1) as usize {
            self.history.pop_front();
        }
        match hot_bases {
            Some((a, u)) => self.hot(minute, a, u, out),
            None => self.cold(),
        }
    }

    fn cold(&mut self) {
        let Some(b) = &mut self.burst else { return };
        if !b.opened {
            // Not enough hot minutes in a row: a blip, not a burst.
            self.burst = None;
            return;
        }
        b.cold_streak += 1;
        if b.cold_streak >= self.cfg.quiet_minutes.max(1) {
            self.burst = None;
            self.episodes.close_quiet(Timestamp(i64::MAX), 0);
        }
    }

    fn hot(&mut self, minute: Minute, a: Baseline, u: Baseline, out: &mut Vec<Alert>) {
        let max_tracked = self.cfg.max_tracked_addresses;
        let b = self.burst.get_or_insert_with(Burst::default);
        if b.addresses_base.is_none() {
            // The baseline before the burst: later minutes' baselines already contain it.
            b.addresses_base = Some(a);
            b.unknown_base = Some(u);
        }
        b.cold_streak = 0;
        b.hot_minutes += 1;
        b.peak_addresses = b.peak_addresses.max(minute.failing_addresses());
        b.peak_failures = b.peak_failures.max(minute.failures);
        b.failures += minute.failures;
        b.unknown += minute.unknown;
        b.first = b.first.or(minute.first);
        b.last = minute.last.or(b.last);
        b.overflow += u64::from(minute.overflow);
        for (ip, am) in &minute.addresses {
            let room = b.addresses.len() < max_tracked;
            match b.addresses.get_mut(ip) {
                Some(e) => e.0 += u64::from(am.failures),
                None if room => {
                    b.addresses.insert(*ip, (u64::from(am.failures), am.asn));
                    if let Some(asn) = am.asn {
                        b.asns.entry(asn).or_insert((0, 0)).0 += 1;
                    }
                }
                None => {
                    b.overflow += 1;
                    self.evicted += 1;
                }
            }
            if let Some(asn) = am.asn {
                b.asns.entry(asn).or_insert((0, 0)).1 += u64::from(am.failures);
            }
        }
        if b.hot_minutes < self.cfg.consecutive_minutes.max(1) {
            return;
        }
        if !b.opened {
            b.opened = true;
            self.bursts += 1;
        }
        let total_addresses = (b.addresses.len() as u64).saturating_add(b.overflow);
        let by_total = total_addresses >= u64::from(self.cfg.high_failing_addresses);
        let severity = if by_total {
            Severity::High
        } else {
            Severity::Medium
        };
        let entity = Entity::global();
        let first = b.first.unwrap_or(Timestamp(0));
        let last = b.last.unwrap_or(first);
        let Some(ep) = self.episodes.crossed(&(), &entity, first, last, severity) else {
            return;
        };
        let a = b.addresses_base.unwrap_or(a);
        let u = b.unknown_base.unwrap_or(u);
        let top = self.cfg.top;
        let mut top_asns: Vec<(Asn, u64, u64)> =
            b.asns.iter().map(|(k, v)| (*k, v.0, v.1)).collect();
        top_asns.sort_by(|x, y| y.1.cmp(&x.1).then(y.2.cmp(&x.2)).then(x.0.cmp(&y.0)));
        let failing_asns = top_asns.len();
        top_asns.truncate(top);
        let mut top_ips: Vec<(IpAddr, u64, Option<Asn>)> =
            b.addresses.iter().map(|(k, v)| (*k, v.0, v.1)).collect();
        top_ips.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        top_ips.truncate(top);
        let round2 = |x: f64| (x * 100.0).round() / 100.0;
        let unknown_ratio = if b.failures > 0 {
            round2(b.unknown as f64 / b.failures as f64)
        } else {
            0.0
        };
        let thresholds_crossed = StuffingGlobalThresholds {
            failing_addresses: by_total.then(|| ThresholdCrossed {
                exceeded_by: total_addresses - u64::from(self.cfg.high_failing_addresses),
                threshold: self.cfg.high_failing_addresses,
                value: total_addresses,
            }),
            failing_addresses_per_minute: ThresholdCrossed {
                exceeded_by: round2(f64::from(b.peak_addresses) - a.threshold),
                threshold: round2(a.threshold),
                value: b.peak_addresses,
            },
            hot_minutes: ThresholdCrossed {
                exceeded_by: b.hot_minutes - self.cfg.consecutive_minutes.max(1),
                threshold: self.cfg.consecutive_minutes,
                value: b.hot_minutes,
            },
        };
        let evidence = StuffingGlobalEvidence {
            baseline_failing_addresses_per_minute: round2(a.median),
            baseline_mad: round2(a.mad),
            baseline_unknown_failures_per_minute: round2(u.median),
            failing_addresses: total_addresses,
            failing_asns,
            failures: b.failures,
            hot_minutes: b.hot_minutes,
            peak_failing_addresses_per_minute: b.peak_addresses,
            peak_failures_per_minute: b.peak_failures,
            thresholds_crossed,
            top_addresses: top_ips
                .iter()
                .map(|&(ip, failures, asn)| BurstAddress { asn, failures, ip })
                .collect(),
            top_asns: top_asns
                .iter()
                .map(|&(asn, failing_addresses, failures)| BurstAsn {
                    asn,
                    failing_addresses,
                    failures,
                })
                .collect(),
            unknown_account_failures: b.unknown,
            unknown_account_ratio: unknown_ratio,
        };
        let asns_text = if failing_asns > 0 {
            format!(" in {} ASNs", thousands(failing_asns as u64))
        } else {
            String::new()
        };
        out.push(Alert {
            id: ep.id,
            rule: Rule::StuffingGlobal,
            severity,
            summary: format!(
                "site-wide failed logins jumped for {} min: {} failures from {} addresses{} \
                 (peak {} failing addresses/min, baseline {}; {}% unknown accounts)",
                b.hot_minutes,
                thousands(b.failures),
                thousands(total_addresses),
                asns_text,
                b.peak_addresses,
                round2(a.median),
                (unknown_ratio * 100.0).round() as u32
            ),
            entity,
            first_seen: ep.first_seen,
            last_seen: last,
            asn: None,
            as_org: None,
            evidence: evidence.into(),
            accounts: Vec::new(),
        });
    }
}

impl Detector for StuffingGlobalDetector {
    fn name(&self) -> &'static str {
        Rule::StuffingGlobal.as_str()
    }

    fn observe(&mut self, ev: &AuthEvent, out: &mut Vec<Alert>) {
        if !self.cfg.enabled || ev.kind != EventKind::Login {
            return;
        }
        // Every login moves time forward, so quiet minutes close even without failures.
        self.roll_to(ev.ts.0.div_euclid(MINUTE), out);
        if ev.outcome != Outcome::Failure {
            return;
        }
        let m = &mut self.minute;
        m.failures += 1;
        m.first = Some(m.first.map_or(ev.ts, |f| f.min(ev.ts)));
        m.last = Some(m.last.map_or(ev.ts, |l| l.max(ev.ts)));
        let unknown = ev.reason == Some(FailureReason::UnknownAccount);
        if unknown {
            m.unknown += 1;
        }
        let cap = self.cfg.max_failures_per_address_minute.max(1);
        let Some(ip) = ev.ip else {
            if unknown {
                m.unknown_capped = m.unknown_capped.saturating_add(1);
            }
            return;
        };
        let room = m.addresses.len() < self.cfg.max_tracked_addresses;
        let count = match m.addresses.get_mut(&ip) {
            Some(e) => {
                e.failures = e.failures.saturating_add(1);
                e.failures
            }
            None if room => {
                m.addresses.insert(
                    ip,
                    AddressMinute {
                        failures: 1,
                        asn: ev.asn,
                    },
                );
                1
            }
            None => {
                m.overflow = m.overflow.saturating_add(1);
                self.evicted += 1;
                1
            }
        };
        if unknown && count <= cap {
            m.unknown_capped = m.unknown_capped.saturating_add(1);
        }
    }

    fn advance(&mut self, watermark: Timestamp, out: &mut Vec<Alert>) {
        if !self.cfg.enabled {
            return;
        }
        self.roll_to(watermark.0.div_euclid(MINUTE), out);
    }
}

impl RuleState for StuffingGlobalDetector {
    fn state_name(&self) -> &'static str {
        self.name()
    }

    crate::detect::state::snapshot_methods!();

    fn state_bytes(&self) -> usize {
        let burst = self
            .burst
            .as_ref()
            .map_or(0, |b| map_bytes(&b.addresses) + map_bytes(&b.asns));
        map_bytes(&self.minute.addresses)
            + burst
            + self.history.capacity() * std::mem::size_of::<(u32, u32)>()
    }

    /// Nothing: the open minute and a burst are bounded by `max_tracked_addresses` (beyond it
    /// addresses are only counted), and dropping some would change the minute's counts.
    fn evict_to(&mut self, _bytes: usize) -> u64 {
        0
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("stuffing_global.bursts", self.bursts),
            ("stuffing_global.evicted_addresses", self.evicted),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed evidence of a `stuffing_global` alert.
    fn ev(a: &Alert) -> &StuffingGlobalEvidence {
        a.evidence.stuffing_global().expect("a stuffing_global alert")
    }
    use crate::event::LineMeta;
    use crate::time::SECOND;

    fn fail(t: i64, ip: IpAddr, asn: Option<u32>, reason: FailureReason) -> AuthEvent {
        let mut ev = AuthEvent::new(Timestamp(t), EventKind::Login, LineMeta::default());
        ev.ip = Some(ip);
        ev.asn = asn.map(Asn);
        ev.outcome = Outcome::Failure;
        ev.reason = Some(reason);
        ev
    }

    fn v4(n: u32) -> IpAddr {
        IpAddr::from((0x0a00_0000 + n).to_be_bytes())
    }

    /// `minutes` of background: one failure a minute from a rotating address at second 30.
    fn background(start_min: i64, minutes: i64) -> Vec<AuthEvent> {
        (start_min..start_min + minutes)
            .map(|m| {
                fail(
                    m * MINUTE + 30 * SECOND,
                    v4(1_000_000 + (m % 50) as u32),
                    Some(4713),
                    FailureReason::BadPassword,
                )
            })
            .collect()
    }

    fn run(events: &[AuthEvent], end: i64) -> Vec<Alert> {
        let mut d = StuffingGlobalDetector::new(StuffingGlobalConfig::default());
        let mut out = Vec::new();
        for ev in events {
            d.observe(ev, &mut out);
        }
        d.advance(Timestamp(end), &mut out);
        out
    }

    /// A swarm from minute `start` for `minutes`: `per_min` new addresses a minute, one
    /// unknown-account try each, spread over 20 ASNs.
    fn swarm(start: i64, minutes: i64, per_min: u32) -> Vec<AuthEvent> {
        let mut events = Vec::new();
        let mut n = 0u32;
        for m in start..start + minutes {
            for i in 0..per_min {
                let t = m * MINUTE + i64::from(i) * (60 * SECOND / i64::from(per_min));
                events.push(fail(
                    t,
                    v4(n),
                    Some(100 + n % 20),
                    FailureReason::UnknownAccount,
                ));
                n += 1;
            }
        }
        events
    }

    fn merged(mut a: Vec<AuthEvent>, b: Vec<AuthEvent>) -> Vec<AuthEvent> {
        a.extend(b);
        a.sort_by_key(|e| e.ts);
        a
    }

    #[test]
    fn a_restart_keeps_baselines_bursts_and_episodes() {
        use crate::detect::state::testing::{Input, events, restart_anywhere, restart_at};
        let evs = merged(background(0, 240), swarm(120, 60, 30));
        let mut inputs = events(&evs);
        inputs.push(Input::Advance(Timestamp(240 * MINUTE)));
        let at = |min: i64| evs.iter().position(|e| e.ts.0 >= min * MINUTE).unwrap();
        let make = || StuffingGlobalDetector::new(StuffingGlobalConfig::default());
        let all = restart_anywhere(make, &inputs, 50);
        assert_eq!(all.len(), 2, "{all:#?}");
        // Mid-minute inside a pending burst: the hot minutes so far still count.
        let (before, after) = restart_at(make, &inputs, at(121) + 7);
        assert_eq!((before.len(), after.len()), (0, 2));
        // The episode is open at medium: the rise keeps its id.
        let (before, after) = restart_at(make, &inputs, at(130) + 3);
        assert_eq!((before.len(), after.len()), (1, 1));
        assert_eq!(
            (after[0].severity, &after[0].id),
            (Severity::High, &before[0].id)
        );
    }

    #[test]
    fn a_proxy_swarm_fires_once_and_rises_to_high() {
        // 120 minutes of background, then 30 addresses a minute for 60 minutes.
        let events = merged(background(0, 240), swarm(120, 60, 30));
        let alerts = run(&events, 240 * MINUTE);
        assert_eq!(alerts.len(), 2, "{alerts:#?}");
        let (open, rise) = (&alerts[0], &alerts[1]);
        assert_eq!(open.rule, Rule::StuffingGlobal);
        assert_eq!(open.entity.value, "*");
        assert_eq!(open.severity, Severity::Medium);
        assert_eq!(open.first_seen, Timestamp(120 * MINUTE));
        // Opened when the third hot minute closed.
        assert_eq!(ev(open).hot_minutes, 3);
        assert_eq!(ev(open).peak_failing_addresses_per_minute, 31);
        assert_eq!(ev(open).failing_addresses, 93);
        assert_eq!(ev(open).baseline_failing_addresses_per_minute, 1.0);
        assert_eq!(ev(open).baseline_mad, 0.0);
        assert_eq!(
            ev(open)
                .thresholds_crossed
                .failing_addresses_per_minute
                .threshold,
            10.0
        );
        assert_eq!(ev(open).failing_asns, 21);
        assert_eq!(
            ev(open).top_asns[0],
            BurstAsn {
                asn: Asn(100),
                failing_addresses: 5,
                failures: 5
            }
        );
        assert_eq!(ev(open).top_asns.len(), 10);
        assert_eq!(
            open.summary,
            "site-wide failed logins jumped for 3 min: 93 failures from 93 addresses in 21 ASNs \
             (peak 31 failing addresses/min, baseline 1; 97% unknown accounts)"
        );
        assert_eq!(rise.severity, Severity::High);
        assert_eq!(rise.id, open.id);
        assert_eq!(rise.first_seen, open.first_seen);
        // 500 distinct addresses are reached in the 17th hot minute (17 × 31 = 527).
        assert_eq!(ev(rise).hot_minutes, 17);
    }

    #[test]
    fn one_address_bursting_is_not_global() {
        // 120 minutes of background, then one address failing 100 times a minute for 20 min.
        let burst: Vec<_> = (0..2_000)
            .map(|i| {
                fail(
                    120 * MINUTE + i * 600,
                    v4(7),
                    Some(14061),
                    FailureReason::UnknownAccount,
                )
            })
            .collect();
        let events = merged(background(0, 180), burst);
        assert!(run(&events, 180 * MINUTE).is_empty());
    }

    #[test]
    fn two_hot_minutes_are_a_near_miss() {
        let events = merged(background(0, 180), swarm(120, 2, 30));
        assert!(run(&events, 180 * MINUTE).is_empty());
    }

    #[test]
    fn no_alert_during_warm_up() {
        // The swarm starts after 30 minutes of baseline: fewer than the 60 needed.
        let events = merged(background(0, 120), swarm(30, 20, 30));
        assert!(run(&events, 120 * MINUTE).is_empty());
    }

    #[test]
    fn a_flood_at_the_start_of_the_input_fires_without_a_baseline() {
        // 1,000 new addresses a minute from the first minute: no baseline, but unmistakable.
        let alerts = run(&swarm(0, 4, 1_000), 20 * MINUTE);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(a.severity, Severity::High);
        assert_eq!(ev(a).hot_minutes, 3);
        assert_eq!(
            ev(a).thresholds_crossed.failing_addresses_per_minute,
            ThresholdCrossed {
                exceeded_by: 0.0,
                threshold: 1000.0,
                value: 1000
            }
        );
        // One address fewer a minute is a near miss.
        assert!(run(&swarm(0, 4, 999), 20 * MINUTE).is_empty());
    }

    #[test]
    fn a_second_burst_after_quiet_minutes_is_a_new_episode() {
        let events = merged(
            background(0, 300),
            merged(swarm(120, 5, 30), swarm(200, 5, 30)),
        );
        let alerts = run(&events, 300 * MINUTE);
        assert_eq!(alerts.len(), 2, "{alerts:#?}");
        assert_ne!(alerts[0].id, alerts[1].id);
        assert_eq!(alerts[1].first_seen, Timestamp(200 * MINUTE));
    }

    #[test]
    fn the_last_minutes_are_closed_by_advance() {
        // The swarm is the end of the input: advance past it closes its minutes.
        let events = merged(background(0, 120), swarm(120, 3, 30));
        let mut d = StuffingGlobalDetector::new(StuffingGlobalConfig::default());
        let mut out = Vec::new();
        for ev in &events {
            d.observe(ev, &mut out);
        }
        assert!(out.is_empty());
        d.advance(Timestamp(123 * MINUTE), &mut out);
        assert_eq!(out.len(), 1);
        d.advance(Timestamp(123 * MINUTE), &mut out);
        assert_eq!(out.len(), 1, "advance twice has no further effect");
    }

    #[test]
    fn memory_is_bounded_by_max_tracked_addresses() {
        let cfg = StuffingGlobalConfig {
            max_tracked_addresses: 1_000,
            ..StuffingGlobalConfig::default()
        };
        let mut d = StuffingGlobalDetector::new(cfg);
        let mut out = Vec::new();
        for i in 0..5_000u32 {
            let ev = fail(i64::from(i), v4(i), None, FailureReason::UnknownAccount);
            d.observe(&ev, &mut out);
        }
        assert_eq!(d.minute.addresses.len(), 1_000);
        assert_eq!(d.minute.failing_addresses(), 5_000);
        assert_eq!(d.evicted, 4_000);
        assert!(out.is_empty());
    }

    #[test]
    fn baseline_is_median_and_mad() {
        let b = baseline([1u32, 1, 2, 3, 9].into_iter(), 6.0, 10);
        assert_eq!(b.median, 2.0);
        assert_eq!(b.mad, 1.0);
        assert!((b.threshold - (2.0 + 6.0 * 1.4826)).abs() < 1e-9);
        let e = baseline(std::iter::empty(), 6.0, 10);
        assert_eq!((e.median, e.threshold), (0.0, 10.0));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use crate::event::LineMeta;
    use proptest::prelude::*;

    proptest! {
        /// Any sequence of logins, with times out of order and jumping far in either direction,
        /// never panics and closes each burst's episode at most once per alert id.
        #[test]
        fn arbitrary_logins_never_panic(
            evs in prop::collection::vec(
                (prop_oneof![0i64..20_000_000, any::<i64>()], 0u16..300, any::<bool>(), any::<bool>()),
                0..600,
            )
        ) {
            let cfg = StuffingGlobalConfig {
                warmup_minutes: 2,
                baseline_minutes: 5,
                min_failing_addresses_per_minute: 2,
                min_unknown_failures_per_minute: 2,
                consecutive_minutes: 1,
                quiet_minutes: 1,
                high_failing_addresses: 5,
                max_tracked_addresses: 20,
                ..StuffingGlobalConfig::default()
            };
            let mut d = StuffingGlobalDetector::new(cfg);
            let mut out = Vec::new();
            for (t, ip, failure, unknown) in evs {
                let mut ev = AuthEvent::new(Timestamp(t), EventKind::Login, LineMeta::default());
                ev.ip = (ip > 0).then(|| IpAddr::from([10, 0, (ip >> 8) as u8, ip as u8]));
                ev.asn = Some(Asn(u32::from(ip % 7)));
                ev.outcome = if failure { Outcome::Failure } else { Outcome::Success };
                ev.reason = unknown.then_some(FailureReason::UnknownAccount);
                d.observe(&ev, &mut out);
                prop_assert!(d.minute.addresses.len() <= 20);
            }
            d.advance(Timestamp(i64::MAX), &mut out);
            for a in &out {
                prop_assert_eq!(a.rule, Rule::StuffingGlobal);
                prop_assert!(a.first_seen <= a.last_seen);
            }
        }
    }
}
