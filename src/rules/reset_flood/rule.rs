//! The `reset.flood` detector.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Entity, Rule, Severity, thousands};
use crate::detect::{
    Detector, Episodes, HeapSize, RuleState, evict_oldest, evict_to_bytes, map_bytes,
    ThresholdCrossed,
};
use crate::event::{AccountKey, Asn, AuthEvent, EventKind, FailureReason, Outcome};
use crate::time::Timestamp;
use crate::window::{KeyHasher, SlidingCount, SlidingDistinct};

use super::{
    ResetFloodConfig, ResetFloodAccount, ResetFloodAccountThresholds, ResetFloodAddress,
    ResetFloodAddressThresholds, ResetFloodEvidence,
};

/// The episode key: the entity kind is part of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum FloodKey {
    Ip(IpAddr),
    Account(AccountKey),
}

#[derive(Debug, Serialize, Deserialize)]
struct IpState {
    accounts: SlidingDistinct,
    unknown: SlidingCount,
    anonymous: SlidingCount,
    /// Accounts with the time of their latest request, so the sample stays inside the window.
    sample: Vec<(AccountKey, Timestamp)>,
    asn: Option<Asn>,
    last_seen: Timestamp,
}

#[derive(Debug, Serialize, Deserialize)]
struct AccountState {
    codes: SlidingCount,
    failed: SlidingCount,
    /// Addresses of the codes and entries, by seeded hash.
    ips: SlidingDistinct,
    last_seen: Timestamp,
}

impl HeapSize for IpState {
    fn heap_bytes(&self) -> usize {
        self.accounts.heap_bytes()
            + self.unknown.heap_bytes()
            + self.anonymous.heap_bytes()
            + self.sample.capacity() * std::mem::size_of::<(AccountKey, Timestamp)>()
            + self
                .sample
                .iter()
                .map(|(a, _)| a.heap_bytes())
                .sum::<usize>()
    }
}

impl HeapSize for AccountState {
    fn heap_bytes(&self) -> usize {
        self.codes.heap_bytes() + self.failed.heap_bytes() + self.ips.heap_bytes()
    }
}

/// The `reset.flood` detector.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResetFloodDetector {
    #[serde(skip)]
    cfg: ResetFloodConfig,
    ips: HashMap<IpAddr, IpState, foldhash::quality::RandomState>,
    accounts: HashMap<AccountKey, AccountState, foldhash::quality::RandomState>,
    episodes: Episodes<FloodKey>,
    hasher: KeyHasher,
    watermark: Timestamp,
    evicted_ips: u64,
    evicted_accounts: u64,
    events_since_sweep: u64,
}

impl ResetFloodDetector {
    /// A detector with the given settings.
    pub fn new(cfg: ResetFloodConfig) -> ResetFloodDetector {
        ResetFloodDetector {
            cfg,
            ips: HashMap::default(),
            accounts: HashMap::default(),
            episodes: Episodes::new(Rule::ResetFlood),
            hasher: KeyHasher::default(),
            watermark: Timestamp(i64::MIN),
            evicted_ips: 0,
            evicted_accounts: 0,
            events_since_sweep: 0,
        }
    }

    fn quiet(&self) -> i64 {
        self.cfg
            .ip_window
            .millis()
            .max(self.cfg.account_window.millis())
    }

    fn sweep(&mut self) {
        let ip_h = self.watermark.0.saturating_sub(self.cfg.ip_window.millis());
        let acct_h = self
            .watermark
            .0
            .saturating_sub(self.cfg.account_window.millis());
        self.ips.retain(|_, s| s.last_seen.0 > ip_h);
        self.accounts.retain(|_, s| s.last_seen.0 > acct_h);
        let max = self.cfg.max_tracked_keys;
        self.evicted_ips += evict_oldest(&mut self.ips, max, |s| s.last_seen.0);
        self.evicted_accounts += evict_oldest(&mut self.accounts, max, |s| s.last_seen.0);
        self.episodes.close_quiet(self.watermark, self.quiet());
    }

    fn observe_ip(&mut self, ev: &AuthEvent, ip: IpAddr, out: &mut Vec<Alert>) {
        let window = self.cfg.ip_window.millis();
        let max = self.cfg.max_events_per_key;
        let now = self.watermark;
        let state = self.ips.entry(ip).or_insert_with(|| IpState {
            accounts: SlidingDistinct::new(max),
            unknown: SlidingCount::default(),
            anonymous: SlidingCount::default(),
            sample: Vec::new(),
            asn: None,
            last_seen: ev.ts,
        });
        state.accounts.expire(now, window);
        state.unknown.expire(now, window);
        state.anonymous.expire(now, window);
        let horizon = now.0.saturating_sub(window);
        state.sample.retain(|(_, t)| t.0 > horizon);
        state.last_seen = state.last_seen.max(ev.ts);
        if ev.asn.is_some() {
            state.asn = ev.asn;
        }
        match &ev.account {
            Some(a) => {
                state.accounts.push(ev.ts, self.hasher.hash_u64(a.hash64()));
                if ev.reason == Some(FailureReason::UnknownAccount) {
                    state.unknown.push(ev.ts);
                }
                if let Some(slot) = state.sample.iter_mut().find(|(s, _)| s == a) {
                    slot.1 = slot.1.max(ev.ts);
                } else if state.sample.len() < self.cfg.accounts_sample {
                    state.sample.push((a.clone(), ev.ts));
                }
            }
            None => state.anonymous.push(ev.ts),
        }
        let distinct = state.accounts.distinct() as u32;
        let anonymous = state.anonymous.len() as u32;
        let by_accounts = distinct >= self.cfg.min_accounts_per_ip;
        let by_requests = anonymous >= self.cfg.min_requests_without_account;
        let key = FloodKey::Ip(ip);
        if !by_accounts && !by_requests {
            self.episodes.touch(&key, ev.ts);
            return;
        }
        let severity = if distinct >= self.cfg.high_accounts_per_ip
            || anonymous >= self.cfg.min_requests_without_account.saturating_mul(5)
        {
            Severity::High
        } else {
            Severity::Medium
        };
        let first = [state.accounts.oldest(), state.anonymous.oldest()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(ev.ts);
        let entity = Entity::ip(ip);
        let named = state.accounts.len();
        let unknown = state.unknown.len();
        let unknown_pct = if named > 0 {
            (unknown as f64 * 100.0 / named as f64).round() as u32
        } else {
            0
        };
        let thresholds_crossed = ResetFloodAddressThresholds {
            distinct_accounts: by_accounts
                .then(|| ThresholdCrossed::new(distinct, self.cfg.min_accounts_per_ip)),
            requests_without_account: by_requests.then(|| {
                ThresholdCrossed::new(anonymous, self.cfg.min_requests_without_account)
            }),
        };
        let summary = if by_accounts {
            format!(
                "{} requested password resets for {} distinct accounts in {} ({} requests, {}% unknown accounts)",
                entity.value,
                thousands(u64::from(distinct)),
                self.cfg.ip_window,
                thousands((named + state.anonymous.len()) as u64),
                unknown_pct
            )
        } else {
            format!(
                "{} requested {} password resets in {} (the log names no accounts)",
                entity.value,
                thousands(u64::from(anonymous)),
                self.cfg.ip_window
            )
        };
        let evidence = ResetFloodEvidence::Address(ResetFloodAddress {
            distinct_accounts: distinct,
            requests: named + state.anonymous.len(),
            requests_without_account: anonymous,
            thresholds_crossed,
            unknown_accounts: unknown,
            window: self.cfg.ip_window.to_string(),
        });
        let accounts = state
            .sample
            .iter()
            .map(|(a, _)| a.as_str().to_string())
            .collect();
        let asn = state.asn;
        self.episodes.close_quiet(now, self.quiet());
        let Some(ep) = self.episodes.crossed(&key, &entity, first, ev.ts, severity) else {
            return;
        };
        out.push(Alert {
            id: ep.id,
            rule: Rule::ResetFlood,
            severity,
            entity,
            first_seen: ep.first_seen,
            last_seen: ev.ts,
            asn,
            as_org: None,
            summary,
            evidence: evidence.into(),
            accounts,
        });
    }

    fn observe_account(&mut self, ev: &AuthEvent, account: &AccountKey, out: &mut Vec<Alert>) {
        let is_code = ev.kind == EventKind::PasswordResetRequest
            && ev.outcome != Outcome::Failure
            && ev.reason != Some(FailureReason::UnknownAccount);
        let is_failed_entry =
            ev.kind == EventKind::PasswordResetComplete && ev.outcome == Outcome::Failure;
        if !is_code && !is_failed_entry {
            return;
        }
        let window = self.cfg.account_window.millis();
        let max = self.cfg.max_events_per_key;
        let now = self.watermark;
        let state = self
            .accounts
            .entry(account.clone())
            .or_insert_with(|| AccountState {
                codes: SlidingCount::default(),
                failed: SlidingCount::default(),
                ips: SlidingDistinct::new(max),
                last_seen: ev.ts,
            });
        state.codes.expire(now, window);
        state.failed.expire(now, window);
        state.ips.expire(now, window);
        state.last_seen = state.last_seen.max(ev.ts);
        if is_code {
            if state.codes.len() < max {
                state.codes.push(ev.ts);
            }
        } else if state.failed.len() < max {
            state.failed.push(ev.ts);
        }
        if let Some(ip) = ev.ip {
            let h = match ip {
                IpAddr::V4(v4) => self.hasher.hash(&v4.octets()),
                IpAddr::V6(v6) => self.hasher.hash(&v6.octets()),
            };
            state.ips.push(ev.ts, h);
        }
        let codes = state.codes.len() as u32;
        let failed = state.failed.len() as u32;
        let key = FloodKey::Account(account.clone());
        let by_codes = codes >= self.cfg.min_codes_per_account;
        let by_failed = failed >= self.cfg.min_failed_codes_per_account;
        if !by_codes && !by_failed {
            self.episodes.touch(&key, ev.ts);
            return;
        }
        let severity = if codes + failed >= self.cfg.high_events_per_account {
            Severity::High
        } else {
            Severity::Medium
        };
        let first = [state.codes.oldest(), state.failed.oldest()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(ev.ts);
        let entity = Entity::account(account);
        let ips = state.ips.distinct();
        let thresholds_crossed = ResetFloodAccountThresholds {
            codes: by_codes.then(|| ThresholdCrossed::new(codes, self.cfg.min_codes_per_account)),
            failed_code_entries: by_failed
                .then(|| ThresholdCrossed::new(failed, self.cfg.min_failed_codes_per_account)),
        };
        let summary = format!(
            "{} received {} reset codes and {} failed code entries in {} from {} addresses",
            entity.value, codes, failed, self.cfg.account_window, ips
        );
        let evidence = ResetFloodEvidence::Account(ResetFloodAccount {
            codes,
            distinct_ips: ips,
            failed_code_entries: failed,
            thresholds_crossed,
            window: self.cfg.account_window.to_string(),
        });
        self.episodes.close_quiet(now, self.quiet());
        let Some(ep) = self.episodes.crossed(&key, &entity, first, ev.ts, severity) else {
            return;
        };
        out.push(Alert {
            id: ep.id,
            rule: Rule::ResetFlood,
            severity,
            entity,
            first_seen: ep.first_seen,
            last_seen: ev.ts,
            asn: None,
            as_org: None,
            summary,
            evidence: evidence.into(),
            accounts: Vec::new(),
        });
    }
}

impl Detector for ResetFloodDetector {
    fn name(&self) -> &'static str {
        Rule::ResetFlood.as_str()
    }

    fn observe(&mut self, ev: &AuthEvent, out: &mut Vec<Alert>) {
        if !self.cfg.enabled
            || !matches!(
                ev.kind,
                EventKind::PasswordResetRequest | EventKind::PasswordResetComplete
            )
        {
            return;
        }
        if ev.ts > self.watermark {
            self.watermark = ev.ts;
        }
        self.events_since_sweep += 1;
        if self.events_since_sweep >= 65_536
            || self.ips.len() > self.cfg.max_tracked_keys
            || self.accounts.len() > self.cfg.max_tracked_keys
        {
            self.events_since_sweep = 0;
            self.sweep();
        }
        if ev.kind == EventKind::PasswordResetRequest
            && let Some(ip) = ev.ip
        {
            self.observe_ip(ev, ip, out);
        }
        if let Some(account) = &ev.account {
            self.observe_account(ev, account, out);
        }
    }

    fn advance(&mut self, watermark: Timestamp, _out: &mut Vec<Alert>) {
        if watermark > self.watermark {
            self.watermark = watermark;
            self.sweep();
        }
    }
}

impl RuleState for ResetFloodDetector {
    fn state_name(&self) -> &'static str {
        self.name()
    }

    crate::detect::state::snapshot_methods!();

    fn state_bytes(&self) -> usize {
        map_bytes(&self.ips) + map_bytes(&self.accounts)
    }

    fn evict_to(&mut self, bytes: usize) -> u64 {
        // Shared between the two maps in proportion to what each holds now.
        let (ips, accounts) = (map_bytes(&self.ips), map_bytes(&self.accounts));
        let total = (ips + accounts).max(1);
        let ip_share = (bytes as u128 * ips as u128 / total as u128) as usize;
        let a = evict_to_bytes(&mut self.ips, ip_share, |s| s.last_seen.0);
        let b = evict_to_bytes(&mut self.accounts, bytes - ip_share.min(bytes), |s| {
            s.last_seen.0
        });
        self.evicted_ips += a;
        self.evicted_accounts += b;
        a + b
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("reset_flood.tracked_ips", self.ips.len() as u64),
            ("reset_flood.evicted_ips", self.evicted_ips),
            ("reset_flood.tracked_accounts", self.accounts.len() as u64),
            ("reset_flood.evicted_accounts", self.evicted_accounts),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::EntityKind;

    /// The typed evidence of a `reset.flood` alert about an address.
    fn addr(a: &Alert) -> &ResetFloodAddress {
        match a.evidence.reset_flood() {
            Some(ResetFloodEvidence::Address(e)) => e,
            other => panic!("not a reset.flood alert about an address: {other:?}"),
        }
    }

    /// The typed evidence of a `reset.flood` alert about an account.
    fn acct(a: &Alert) -> &ResetFloodAccount {
        match a.evidence.reset_flood() {
            Some(ResetFloodEvidence::Account(e)) => e,
            other => panic!("not a reset.flood alert about an account: {other:?}"),
        }
    }
    use crate::time::{MINUTE};
    use crate::event::LineMeta;
    use crate::time::SECOND;

    fn ev(t: i64, kind: EventKind, ip: &str, account: Option<&str>, outcome: Outcome) -> AuthEvent {
        let mut e = AuthEvent::new(Timestamp(t), kind, LineMeta::default());
        e.ip = Some(ip.parse().unwrap());
        e.account = account.and_then(AccountKey::normalize);
        e.outcome = outcome;
        e
    }

    fn run(events: &[AuthEvent]) -> Vec<Alert> {
        let mut d = ResetFloodDetector::new(ResetFloodConfig::default());
        let mut out = Vec::new();
        for e in events {
            d.observe(e, &mut out);
        }
        out
    }

    /// 64 requests for 60 accounts (48 unknown) in about 9 minutes from one address.
    fn ip_flood() -> Vec<AuthEvent> {
        (0..64)
            .map(|i| {
                let acct = format!("victim{}@example.com", i % 60);
                let unknown = i % 60 < 48;
                let mut e = ev(
                    i * 8 * SECOND,
                    EventKind::PasswordResetRequest,
                    "136.243.216.222",
                    Some(&acct),
                    if unknown {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    },
                );
                if unknown {
                    e.reason = Some(FailureReason::UnknownAccount);
                }
                e
            })
            .collect()
    }

    #[test]
    fn a_restart_keeps_windows_and_episodes() {
        use crate::detect::state::testing::{events, restart_anywhere, restart_at};
        let mut evs = ip_flood();
        evs.extend(account_flood());
        evs.sort_by_key(|e| e.ts);
        let inputs = events(&evs);
        let at = |t: i64| evs.iter().position(|e| e.ts.0 >= t).unwrap();
        let make = || ResetFloodDetector::new(ResetFloodConfig::default());
        let all = restart_anywhere(make, &inputs, 3);
        assert_eq!(all.len(), 4, "{all:#?}");
        // The address's episode is open at high (a fresh detector would open a new one), the
        // account's at medium: it rises under its id.
        let (before, after) = restart_at(make, &inputs, at(400 * SECOND));
        assert_eq!(
            (before.len(), after.len()),
            (3, 1),
            "{before:#?} {after:#?}"
        );
        assert_eq!(after[0].severity, Severity::High);
        assert!(
            before
                .iter()
                .any(|b| b.id == after[0].id && b.entity == after[0].entity)
        );
    }

    #[test]
    fn one_address_resetting_many_accounts_is_medium_then_high() {
        let alerts = run(&ip_flood());
        assert_eq!(alerts.len(), 2, "{alerts:#?}");
        let (open, rise) = (&alerts[0], &alerts[1]);
        assert_eq!(open.rule, Rule::ResetFlood);
        assert_eq!(open.entity.kind, EntityKind::Ip);
        assert_eq!(open.entity.value, "136.243.216.222");
        assert_eq!(open.severity, Severity::Medium);
        assert_eq!(addr(open).distinct_accounts, 10);
        assert_eq!(addr(open).unknown_accounts, 10);
        assert_eq!(
            addr(open).thresholds_crossed,
            ResetFloodAddressThresholds {
                distinct_accounts: Some(ThresholdCrossed::new(10, 10)),
                requests_without_account: None
            }
        );
        assert_eq!(open.first_seen, Timestamp(0));
        assert_eq!(open.accounts.len(), 10);
        assert_eq!(
            open.summary,
            "136.243.216.222 requested password resets for 10 distinct accounts in 10m \
             (10 requests, 100% unknown accounts)"
        );
        assert_eq!(rise.severity, Severity::High);
        assert_eq!(rise.id, open.id);
        assert_eq!(addr(rise).distinct_accounts, 30);
        // The 12 real customers each got one unrequested code: not an account flood.
        assert!(alerts.iter().all(|a| a.entity.kind == EntityKind::Ip));
    }

    #[test]
    fn nine_accounts_from_one_address_is_a_near_miss() {
        let events: Vec<_> = (0..9)
            .map(|i| {
                ev(
                    i * SECOND,
                    EventKind::PasswordResetRequest,
                    "2001:db8::1",
                    Some(&format!("u{i}")),
                    Outcome::Success,
                )
            })
            .collect();
        assert!(run(&events).is_empty());
    }

    #[test]
    fn access_log_resets_without_accounts_count_requests() {
        let events: Vec<_> = (0..30)
            .map(|i| {
                ev(
                    i * SECOND,
                    EventKind::PasswordResetRequest,
                    "2001:db8::9",
                    None,
                    Outcome::Success,
                )
            })
            .collect();
        let alerts = run(&events);
        assert_eq!(alerts.len(), 1);
        assert_eq!(addr(&alerts[0]).requests_without_account, 30);
        assert!(alerts[0].summary.contains("the log names no accounts"));
        assert!(run(&events[..29]).is_empty());
    }

    /// 15 codes from 5 addresses (3 each) and 10 failed entries in 23 minutes.
    fn account_flood() -> Vec<AuthEvent> {
        let a = Some("Saki.Lucky45@example.net");
        let mut events = Vec::new();
        for i in 0..25 {
            let ip = format!("96.30.213.{}", 30 + i % 5);
            let e = if i % 5 < 3 {
                ev(
                    i * 55 * SECOND,
                    EventKind::PasswordResetRequest,
                    &ip,
                    a,
                    Outcome::Success,
                )
            } else {
                ev(
                    i * 55 * SECOND,
                    EventKind::PasswordResetComplete,
                    &ip,
                    a,
                    Outcome::Failure,
                )
            };
            events.push(e);
        }
        events
    }

    #[test]
    fn one_account_receiving_many_codes_is_medium_then_high() {
        let alerts = run(&account_flood());
        assert_eq!(alerts.len(), 2, "{alerts:#?}");
        let (open, rise) = (&alerts[0], &alerts[1]);
        assert_eq!(open.entity.kind, EntityKind::Account);
        assert_eq!(open.entity.value, "saki.lucky45@example.net");
        assert_eq!(open.severity, Severity::Medium);
        // Events 0..=7: codes at 0,1,2,5,6,7 → the 5th code is event 6 (failed entries 3, 4).
        assert_eq!(acct(open).codes, 5);
        assert_eq!(acct(open).failed_code_entries, 2);
        assert_eq!(acct(open).distinct_ips, 5);
        assert_eq!(
            open.summary,
            "saki.lucky45@example.net received 5 reset codes and 2 failed code entries in 30m from 5 addresses"
        );
        assert_eq!(rise.severity, Severity::High);
        assert_eq!(rise.id, open.id);
        assert_eq!(acct(rise).codes, 12);
        assert_eq!(acct(rise).failed_code_entries, 8);
    }

    #[test]
    fn four_codes_and_four_wrong_entries_is_a_near_miss() {
        let a = Some("x@example.com");
        let mut events = Vec::new();
        for i in 0..4 {
            events.push(ev(
                i * MINUTE,
                EventKind::PasswordResetRequest,
                "192.0.2.1",
                a,
                Outcome::Success,
            ));
            events.push(ev(
                i * MINUTE + 1,
                EventKind::PasswordResetComplete,
                "192.0.2.1",
                a,
                Outcome::Failure,
            ));
        }
        assert!(run(&events).is_empty());
    }

    #[test]
    fn a_user_resetting_once_and_background_resets_are_silent() {
        let a = Some("kohei.tiger73@example.com");
        let mut events = vec![
            ev(
                0,
                EventKind::PasswordResetRequest,
                "180.59.30.189",
                a,
                Outcome::Success,
            ),
            ev(
                MINUTE,
                EventKind::PasswordResetComplete,
                "180.59.30.189",
                a,
                Outcome::Success,
            ),
            ev(
                2 * MINUTE,
                EventKind::Login,
                "180.59.30.189",
                a,
                Outcome::Success,
            ),
        ];
        // Background: one reset per customer every few minutes from a shared CGNAT address.
        for i in 0..50 {
            events.push(ev(
                3 * MINUTE + i * 5 * MINUTE,
                EventKind::PasswordResetRequest,
                "49.103.20.112",
                Some(&format!("c{i}@example.jp")),
                Outcome::Success,
            ));
        }
        assert!(run(&events).is_empty());
    }

    #[test]
    fn ip_and_account_episodes_are_separate() {
        let mut events = ip_flood();
        events.extend(account_flood().into_iter().map(|mut e| {
            e.ts = Timestamp(e.ts.0 + 3_600 * SECOND);
            e
        }));
        let alerts = run(&events);
        let kinds: Vec<_> = alerts.iter().map(|a| (a.entity.kind, a.severity)).collect();
        assert_eq!(
            kinds,
            vec![
                (EntityKind::Ip, Severity::Medium),
                (EntityKind::Ip, Severity::High),
                (EntityKind::Account, Severity::Medium),
                (EntityKind::Account, Severity::High),
            ]
        );
    }

    #[test]
    fn memory_is_bounded() {
        let cfg = ResetFloodConfig {
            max_tracked_keys: 1_000,
            ..ResetFloodConfig::default()
        };
        let mut d = ResetFloodDetector::new(cfg);
        let mut out = Vec::new();
        for i in 0u32..20_000 {
            let mut e = ev(
                i64::from(i),
                EventKind::PasswordResetRequest,
                "0.0.0.0",
                Some(&format!("a{i}")),
                Outcome::Success,
            );
            e.ip = Some(IpAddr::from(i.to_be_bytes()));
            d.observe(&e, &mut out);
        }
        assert!(d.ips.len() <= 1_001 && d.accounts.len() <= 1_001);
        assert!(d.evicted_ips > 0 && d.evicted_accounts > 0);
        assert!(out.is_empty());
    }
}
