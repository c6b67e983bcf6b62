//! The `compromise.login` detector.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Entity, Rule, Severity};
use crate::detect::{Detector, Episodes, RuleState, ThresholdCrossed, evict_oldest};
use crate::event::{AccountKey, Asn, AuthEvent, EventKind, FailureReason, Outcome};
use crate::time::{SECOND, Timestamp};
use crate::window::address::fingerprint;
use crate::window::split::SplitMap;
use crate::window::{KeyHasher, SlidingCount};

use super::{CompromiseConfig, CompromiseLoginEvidence, CompromiseLoginThresholds};

/// A remembered successful login.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Success {
    ts: Timestamp,
    account: AccountKey,
    ip: Option<IpAddr>,
    asn: Option<Asn>,
    ip_new: bool,
    asn_new: bool,
    has_history: bool,
    failures_before: u32,
}

/// A source named by a stuffing alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attack {
    rule: Rule,
    ids: Vec<String>,
    first: Timestamp,
    until: Timestamp,
    /// Site-wide failures in `failure_window` when the (global) alert arrived.
    rate_at_alert: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Source {
    Ip(IpAddr),
    Asn(Asn),
    Global,
}

/// Failures remembered per ASN: a swarm spreads over many addresses of one ASN, and a burst
/// alert may arrive an hour after the failures that tie a success to it.
const FAILS_PER_ASN: usize = 256;

/// The latest failures of one address, compact because a residential-proxy list brings
/// millions of addresses with one or two failures each: the two newest failures on different
/// accounts (fingerprints of the seeded account hash; 0 = no account), 24 bytes inline. That is
/// all a tie asks of an address: did it fail on an account other than the one that got in.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
struct IpFails {
    ts: [i64; 2],
    fp: [u32; 2],
}

impl IpFails {
    fn push(&mut self, ts: Timestamp, acct: u64) {
        let fp = fingerprint(acct);
        if self.ts[0] != 0 && self.fp[0] == fp {
            self.ts[0] = self.ts[0].max(ts.0);
            return;
        }
        self.ts[1] = self.ts[0];
        self.fp[1] = self.fp[0];
        self.ts[0] = ts.0;
        self.fp[0] = fp;
    }

    fn last(&self) -> i64 {
        self.ts[0].max(self.ts[1])
    }

    /// A failure in `[from, to]` on another named account.
    fn failed_on_other(&self, from: Timestamp, to: Timestamp, acct: u64) -> bool {
        let fp = fingerprint(acct);
        (0..2).any(|i| {
            let t = self.ts[i];
            t != 0 && t >= from.0 && t <= to.0 && self.fp[i] != 0 && self.fp[i] != fp
        })
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FailMem {
    /// (time, hash of the account or 0, address) of the latest failures.
    recent: VecDeque<(Timestamp, u64, Option<IpAddr>)>,
    last: Timestamp,
}

impl FailMem {
    fn push(&mut self, ts: Timestamp, acct: u64, ip: Option<IpAddr>, cap: usize) {
        if self.recent.len() >= cap {
            self.recent.pop_front();
        }
        self.recent.push_back((ts, acct, ip));
        self.last = self.last.max(ts);
    }

    /// A failure in `[from, to]` on another account (or from another address when `other_ip`).
    fn failed_on_other(
        &self,
        from: Timestamp,
        to: Timestamp,
        acct: u64,
        other_ip: Option<IpAddr>,
    ) -> bool {
        // Newest first: during an attack the latest failure is almost always on another
        // account, so this stops at once instead of walking a long attack's whole history.
        self.recent.iter().rev().any(|&(t, a, ip)| {
            t >= from && t <= to && a != 0 && a != acct && (other_ip.is_none() || ip != other_ip)
        })
    }
}

/// Recent failed logins of one account (kept apart from the login history so that a list of
/// unknown accounts cannot crowd out real accounts' histories).
#[derive(Debug, Default, Serialize, Deserialize)]
struct AccountFailures {
    times: SlidingCount,
    last: Timestamp,
}

/// The `compromise.login` detector.
#[derive(Debug, Serialize, Deserialize)]
pub struct CompromiseDetector {
    #[serde(skip)]
    cfg: CompromiseConfig,
    /// Per-account maps are keyed by a seeded 64-bit hash of the account (`acct_hash`): no key
    /// allocation per event; a collision (about 1 in 10^7 at a million accounts) only merges
    /// two histories.
    acct_fail: HashMap<u64, AccountFailures, foldhash::quality::RandomState>,
    /// Keyed by a seeded hash of the address (a collision merges two addresses' failures).
    ip_fail: SplitMap<IpFails>,
    asn_fail: HashMap<Asn, FailMem, foldhash::quality::RandomState>,
    site_failures: SlidingCount,
    recent: VecDeque<Success>,
    #[serde(with = "crate::detect::state::pairs")]
    attacks: HashMap<Source, Attack, foldhash::quality::RandomState>,
    episodes: Episodes<u64>,
    hasher: KeyHasher,
    watermark: Timestamp,
    /// Watermark of the last walk over `attacks`.
    attacks_expired_at: i64,
    evicted: u64,
    events_since_sweep: u32,
}

/// Why a success is tied.
struct Tie {
    severity: Severity,
    rule: Rule,
    reason: &'static str,
    ids: Vec<String>,
}

impl CompromiseDetector {
    /// A detector with the given settings.
    pub fn new(cfg: CompromiseConfig) -> CompromiseDetector {
        CompromiseDetector {
            cfg,
            acct_fail: HashMap::default(),
            ip_fail: SplitMap::default(),
            asn_fail: HashMap::default(),
            site_failures: SlidingCount::default(),
            recent: VecDeque::new(),
            attacks: HashMap::default(),
            episodes: Episodes::new(Rule::CompromiseLogin),
            hasher: KeyHasher::default(),
            watermark: Timestamp(i64::MIN),
            evicted: 0,
            attacks_expired_at: i64::MIN,
            events_since_sweep: 0,
        }
    }

    fn ip_hash(&self, ip: &IpAddr) -> u64 {
        match ip {
            IpAddr::V4(a) => self.hasher.hash(&a.octets()),
            IpAddr::V6(a) => self.hasher.hash(&a.octets()),
        }
    }

    fn acct_hash(&self, a: &AccountKey) -> u64 {
        // 0 means "no account" in the failure memory.
        self.hasher.hash_u64(a.hash64()) | 1
    }

    fn sweep(&mut self) {
        // Failure memory older than the longest span a tie looks at is never used again.
        let horizon = self
            .watermark
            .0
            .saturating_sub(self.cfg.success_memory.millis() + self.cfg.lookback.millis());
        self.ip_fail.retain(|_, f| f.last() > horizon);
        self.asn_fail.retain(|_, f| f.last.0 > horizon);
        let fw = self
            .watermark
            .0
            .saturating_sub(self.cfg.failure_window.millis());
        self.acct_fail.retain(|_, f| f.last.0 > fw);
        let max = self.cfg.max_tracked;
        self.evicted += evict_oldest(&mut self.acct_fail, max, |f| f.last.0);
        self.evicted += self.ip_fail.evict_oldest(max, IpFails::last);
        self.evicted += evict_oldest(&mut self.asn_fail, max, |f| f.last.0);
    }

    /// The strongest tie of `s` to an active attack, if any.
    fn tie(&self, s: &Success) -> Option<Tie> {
        let lookback = self.cfg.lookback.millis();
        let acct = self.acct_hash(&s.account);
        let mut best: Option<Tie> = None;
        let mut offer = |t: Tie| {
            if best.as_ref().is_none_or(|b| t.severity > b.severity) {
                best = Some(t);
            }
        };
        let in_span = |a: &Attack| s.ts.0 >= a.first.0.saturating_sub(lookback) && s.ts <= a.until;
        if let Some(ip) = s.ip
            && let Some(a) = self.attacks.get(&Source::Ip(ip))
            && in_span(a)
        {
            offer(Tie {
                severity: Severity::High,
                rule: a.rule,
                reason: "the address of a stuffing.ip alert",
                ids: a.ids.clone(),
            });
        }
        let ip_failed_other = |from: Timestamp| {
            s.ip.and_then(|ip| self.ip_fail.get(&self.ip_hash(&ip)))
                .is_some_and(|f| f.failed_on_other(from, s.ts, acct))
        };
        if let Some(asn) = s.asn
            && let Some(a) = self.attacks.get(&Source::Asn(asn))
            && in_span(a)
            && s.ip_new
        {
            let strong = ip_failed_other(Timestamp(a.first.0.saturating_sub(lookback)));
            offer(Tie {
                severity: if strong {
                    Severity::High
                } else {
                    Severity::Medium
                },
                rule: a.rule,
                reason: if strong {
                    "an address of a stuffing.asn alert's ASN that failed on other accounts"
                } else {
                    "an address new to the account in a stuffing.asn alert's ASN"
                },
                ids: a.ids.clone(),
            });
        }
        if let Some(a) = self.attacks.get(&Source::Global) {
            let from = Timestamp(a.first.0.saturating_sub(lookback));
            // The burst is still on while the site-wide failure rate stays at half of what
            // it was when the alert arrived, even after `hold`.
            let active = in_span(a)
                || (s.ts.0 >= from.0
                    && a.rate_at_alert > 0
                    && self.site_failures.len() * 2 >= a.rate_at_alert);
            if active {
                if ip_failed_other(from) {
                    offer(Tie {
                        severity: Severity::High,
                        rule: a.rule,
                        reason: "an address that failed on other accounts during a stuffing.global burst",
                        ids: a.ids.clone(),
                    });
                } else if s.ip_new
                    && s.asn_new
                    && s.has_history
                    && s.asn
                        .and_then(|asn| self.asn_fail.get(&asn))
                        .is_some_and(|f| f.failed_on_other(from, s.ts, acct, s.ip))
                {
                    offer(Tie {
                        severity: Severity::Medium,
                        rule: a.rule,
                        reason: "a new address in an ASN that failed on other accounts during a stuffing.global burst",
                        ids: a.ids.clone(),
                    });
                }
            }
        }
        // `offer` (which borrows `best`) is not used past this point.
        if best.is_none() && s.failures_before >= self.cfg.min_failures_before_success {
            best = Some(Tie {
                severity: Severity::Medium,
                rule: Rule::CompromiseLogin,
                reason: "many failed logins on the account just before",
                ids: Vec::new(),
            });
        }
        best
    }

    fn emit(&mut self, s: &Success, tie: Tie, out: &mut Vec<Alert>) {
        let entity = Entity::account(&s.account);
        let Some(ep) = self.episodes.crossed(
            &self.acct_hash(&s.account),
            &entity,
            s.ts,
            s.ts,
            tie.severity,
        ) else {
            return;
        };
        let ip = s.ip.map_or_else(|| "?".to_string(), |i| i.to_string());
        let summary = if tie.ids.is_empty() {
            format!(
                "{} logged in from {} after {} failed logins in {}",
                entity.value, ip, s.failures_before, self.cfg.failure_window
            )
        } else {
            format!(
                "{} logged in from {} ({}): lock and reset",
                entity.value, ip, tie.reason
            )
        };
        let evidence = CompromiseLoginEvidence {
            asn: s.asn,
            asn_new: s.asn_new,
            failures_before: s.failures_before,
            ip: s.ip,
            ip_new: s.ip_new,
            login_time: s.ts,
            reason: tie.reason.to_string(),
            stuffing_alerts: tie.ids.clone(),
            stuffing_rule: (tie.rule != Rule::CompromiseLogin).then_some(tie.rule),
            thresholds_crossed: tie.ids.is_empty().then(|| CompromiseLoginThresholds {
                failures_before: ThresholdCrossed::new(
                    s.failures_before,
                    self.cfg.min_failures_before_success,
                ),
            }),
        };
        out.push(Alert {
            id: ep.id,
            rule: Rule::CompromiseLogin,
            severity: tie.severity,
            entity,
            first_seen: ep.first_seen,
            last_seen: s.ts,
            asn: s.asn,
            as_org: None,
            summary,
            evidence: evidence.into(),
            accounts: vec![s.account.as_str().to_string()],
        });
    }

    fn expire(&mut self, now: Timestamp) {
        let keep = self.cfg.success_memory.millis();
        while self
            .recent
            .front()
            .is_some_and(|s| s.ts.0 < now.0.saturating_sub(keep))
        {
            self.recent.pop_front();
        }
        self.site_failures
            .expire(now, self.cfg.failure_window.millis());
        // Attacks end by the second at the finest; a walk over every attack per event would
        // cost more than the rest of the detector during a swarm with thousands of them.
        if now.0 >= self.attacks_expired_at.saturating_add(SECOND) {
            self.attacks_expired_at = now.0;
            let memory = self.cfg.success_memory.millis();
            self.attacks
                .retain(|_, a| a.until.0 >= now.0.saturating_sub(memory));
        }
    }
}

impl Detector for CompromiseDetector {
    fn name(&self) -> &'static str {
        Rule::CompromiseLogin.as_str()
    }

    fn observe(&mut self, ev: &AuthEvent, out: &mut Vec<Alert>) {
        if !self.cfg.enabled || ev.kind != EventKind::Login {
            return;
        }
        self.watermark = self.watermark.max(ev.ts);
        self.expire(self.watermark);
        self.events_since_sweep += 1;
        if self.events_since_sweep >= 65_536 {
            // A stream may run for weeks between `advance` calls.
            self.events_since_sweep = 0;
            self.episodes
                .close_quiet(self.watermark, self.cfg.episode_quiet.millis());
            self.sweep();
        } else if self.acct_fail.len() > self.cfg.max_tracked
            || self.ip_fail.len() > self.cfg.max_tracked
            || self.asn_fail.len() > self.cfg.max_tracked
        {
            self.sweep();
        }
        let fw = self.cfg.failure_window.millis();
        match ev.outcome {
            Outcome::Failure => {
                self.site_failures.push(ev.ts);
                let acct = ev.account.as_ref().map_or(0, |a| self.acct_hash(a));
                if let Some(ip) = ev.ip {
                    let key = self.ip_hash(&ip);
                    self.ip_fail.get_or_default(key).push(ev.ts, acct);
                    let hold = self.cfg.hold.millis();
                    if let Some(a) = self.attacks.get_mut(&Source::Ip(ip)) {
                        a.until = a.until.max(Timestamp(ev.ts.0.saturating_add(hold)));
                    }
                }
                if let Some(asn) = ev.asn {
                    self.asn_fail
                        .entry(asn)
                        .or_default()
                        .push(ev.ts, acct, ev.ip, FAILS_PER_ASN);
                }
                // An unknown account cannot log in next: not worth remembering.
                if ev.account.is_some() && ev.reason != Some(FailureReason::UnknownAccount) {
                    let f = self.acct_fail.entry(acct).or_default();
                    f.times.expire(ev.ts, fw);
                    f.times.push(ev.ts);
                    f.last = f.last.max(ev.ts);
                }
            }
            Outcome::Success => {
                let Some(account) = &ev.account else { return };
                // The failures are spent: a second success right after is not "after many
                // failures" again.
                let key = self.acct_hash(account);
                let failures_before = match self.acct_fail.remove(&key) {
                    Some(mut f) => {
                        f.times.expire(ev.ts, fw);
                        f.times.len() as u32
                    }
                    None => 0,
                };
                // Where the account logged in from before, from the shared login history.
                let logins = ev.logins.unwrap_or_default();
                let (ip_new, asn_new) = logins.novelty(ev, ev.ts);
                let s = Success {
                    ts: ev.ts,
                    account: account.clone(),
                    ip: ev.ip,
                    asn: ev.asn,
                    ip_new,
                    asn_new,
                    has_history: logins.has_history(ev.ts),
                    failures_before,
                };
                if let Some(t) = self.tie(&s) {
                    self.emit(&s, t, out);
                }
                // Only a success from a source new to the account, or from an address that has
                // failed recently, can be tied by a later alert (a stuffing source that already
                // logged in to this account was new to it then): the usual logins from home
                // are not kept.
                let keep = s.ip_new
                    || s.asn_new
                    || s.ip
                        .is_some_and(|ip| self.ip_fail.contains_key(&self.ip_hash(&ip)));
                if keep {
                    if self.recent.len() >= self.cfg.max_recent_successes {
                        self.recent.pop_front();
                        self.evicted += 1;
                    }
                    self.recent.push_back(s);
                }
            }
            Outcome::Unknown => {}
        }
    }

    fn consumes_alerts(&self) -> bool {
        true
    }

    fn on_alert(&mut self, alert: &Alert, out: &mut Vec<Alert>) {
        if !self.cfg.enabled {
            return;
        }
        let source = match alert.rule {
            Rule::StuffingIp => match alert.entity.ip_addr() {
                Some(ip) => Source::Ip(ip),
                None => return,
            },
            Rule::StuffingAsn => match alert.entity.asn_number() {
                Some(asn) => Source::Asn(asn),
                None => return,
            },
            Rule::StuffingGlobal => Source::Global,
            _ => return,
        };
        let hold = self.cfg.hold.millis();
        let until = Timestamp(alert.last_seen.0.saturating_add(hold));
        let rate = self.site_failures.len();
        let a = self.attacks.entry(source).or_insert_with(|| Attack {
            rule: alert.rule,
            ids: Vec::new(),
            first: alert.first_seen,
            until,
            rate_at_alert: 0,
        });
        a.first = a.first.min(alert.first_seen);
        a.until = a.until.max(until);
        if source == Source::Global {
            a.rate_at_alert = a.rate_at_alert.max(rate);
        }
        if !a.ids.contains(&alert.id) && a.ids.len() < 8 {
            a.ids.push(alert.id.clone());
        }
        // Successes that came before the alert crossed its threshold.
        let from = alert
            .first_seen
            .0
            .saturating_sub(self.cfg.lookback.millis());
        // `recent` is in arrival (event-time) order: jump to the span instead of walking
        // every remembered success for each alert.
        let start = self.recent.partition_point(|s| s.ts.0 < from);
        let candidates: Vec<Success> = self
            .recent
            .range(start..)
            .filter(|s| match source {
                Source::Ip(ip) => s.ip == Some(ip),
                Source::Asn(asn) => s.asn == Some(asn),
                Source::Global => true,
            })
            .cloned()
            .collect();
        let mut ties: Vec<(Success, Tie)> = candidates
            .into_iter()
            .filter_map(|s| self.tie(&s).map(|t| (s, t)))
            .filter(|(_, t)| t.rule != Rule::CompromiseLogin)
            .collect();
        ties.sort_by(|a, b| (a.0.ts, &a.0.account).cmp(&(b.0.ts, &b.0.account)));
        for (s, t) in ties {
            self.emit(&s, t, out);
        }
    }

    fn advance(&mut self, watermark: Timestamp, _out: &mut Vec<Alert>) {
        if watermark > self.watermark {
            self.watermark = watermark;
        }
        self.expire(self.watermark);
        self.episodes
            .close_quiet(self.watermark, self.cfg.episode_quiet.millis());
        self.sweep();
    }
}

impl RuleState for CompromiseDetector {
    fn state_name(&self) -> &'static str {
        self.name()
    }

    crate::detect::state::snapshot_methods!();

    fn state_bytes(&self) -> usize {
        // Estimated from lengths and typical per-entry heap (walking millions of keys at every
        // budget check would cost more than the detection): a failing account holds a few
        // failure times.
        fn table<K, V, S>(m: &HashMap<K, V, S>, heap_per_entry: usize) -> usize {
            m.len() * ((size_of::<(K, V)>() + 1) * 8 / 7 + heap_per_entry)
        }
        table(&self.acct_fail, 4 * size_of::<Timestamp>())
            + self.ip_fail.bytes(0)
            + table(
                &self.asn_fail,
                FAILS_PER_ASN * size_of::<(Timestamp, u64, Option<IpAddr>)>(),
            )
            + self.recent.len() * size_of::<Success>()
            + self.site_failures.heap_bytes()
    }

    fn evict_to(&mut self, bytes: usize) -> u64 {
        let current = self.state_bytes();
        if current <= bytes {
            return 0;
        }
        let keep = |len: usize| (len as u128 * bytes as u128 / current as u128) as usize;
        let lens = [
            keep(self.acct_fail.len()),
            keep(self.ip_fail.len()),
            keep(self.asn_fail.len()),
        ];
        let mut n = 0;
        n += evict_oldest(&mut self.acct_fail, lens[0], |f| f.last.0);
        n += self.ip_fail.evict_oldest(lens[1], IpFails::last);
        n += evict_oldest(&mut self.asn_fail, lens[2], |f| f.last.0);
        self.evicted += n;
        n
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "compromise_login.failing_accounts",
                self.acct_fail.len() as u64,
            ),
            ("compromise_login.tracked_ips", self.ip_fail.len() as u64),
            (
                "compromise_login.recent_successes",
                self.recent.len() as u64,
            ),
            ("compromise_login.evicted", self.evicted),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::EntityKind;

    /// The typed evidence of a `compromise_login` alert.
    fn ev(a: &Alert) -> &CompromiseLoginEvidence {
        a.evidence.compromise_login().expect("a compromise_login alert")
    }
    use crate::time::{HOUR, MINUTE};
    use crate::event::LineMeta;
    use crate::time::SECOND;

    const ATTACKER: &str = "165.232.90.82";

    fn login(t: i64, account: &str, ip: &str, asn: u32, outcome: Outcome) -> AuthEvent {
        let mut e = AuthEvent::new(Timestamp(t), EventKind::Login, LineMeta::default());
        e.account = AccountKey::normalize(account);
        e.ip = Some(ip.parse().unwrap());
        e.asn = Some(Asn(asn));
        e.outcome = outcome;
        if outcome == Outcome::Failure {
            e.reason = Some(FailureReason::BadPassword);
        }
        e
    }

    fn stuffing(rule: Rule, kind: EntityKind, value: &str, first: i64, last: i64) -> Alert {
        let entity = Entity {
            kind,
            value: value.into(),
        };
        Alert {
            id: Alert::episode_id(rule, &entity, Timestamp(first)),
            rule,
            severity: Severity::Medium,
            entity,
            first_seen: Timestamp(first),
            last_seen: Timestamp(last),
            asn: None,
            as_org: None,
            summary: String::new(),
            evidence: crate::alert::Evidence::empty(rule),
            accounts: Vec::new(),
        }
    }

    /// Feeds events (annotated by the shared login history, as the engine does); `alerts` are
    /// delivered through `on_alert` right after the event whose time they carry as
    /// `last_seen`.
    fn run(events: &[AuthEvent], alerts: &[Alert]) -> Vec<Alert> {
        let mut d = CompromiseDetector::new(CompromiseConfig::default());
        let mut out = Vec::new();
        let mut pending: Vec<&Alert> = alerts.iter().collect();
        for e in &crate::detect::history::annotated(events) {
            d.observe(e, &mut out);
            while pending.first().is_some_and(|a| a.last_seen <= e.ts) {
                let a = pending.remove(0);
                d.on_alert(a, &mut out);
            }
        }
        out
    }

    #[test]
    fn a_restart_keeps_failures_attacks_histories_and_episodes() {
        use crate::detect::state::testing::{Input, restart_anywhere, restart_at};
        let mut evs = Vec::new();
        // A usual login long before, so one success later has a history.
        evs.push(login(
            0,
            "ynomura63@example.com",
            "211.17.139.223",
            4713,
            Outcome::Success,
        ));
        for i in 0..30 {
            let t = HOUR + i * 10 * SECOND;
            evs.push(login(
                t,
                &format!("u{i}@x.jp"),
                ATTACKER,
                14061,
                Outcome::Failure,
            ));
        }
        evs.push(login(
            HOUR + 2 * MINUTE,
            "ikeda.miyu61@example.com",
            ATTACKER,
            14061,
            Outcome::Success,
        ));
        evs.push(login(
            HOUR + 6 * MINUTE,
            "ynomura63@example.com",
            ATTACKER,
            14061,
            Outcome::Success,
        ));
        // The same account again: the open episode says nothing more.
        evs.push(login(
            HOUR + 7 * MINUTE,
            "ynomura63@example.com",
            ATTACKER,
            14061,
            Outcome::Success,
        ));
        // Five failures then a success on one account, from an ordinary address.
        for i in 0..5 {
            let t = HOUR + 8 * MINUTE + i * 20 * SECOND;
            evs.push(login(
                t,
                "a@example.com",
                "198.51.100.7",
                4713,
                Outcome::Failure,
            ));
        }
        evs.push(login(
            HOUR + 11 * MINUTE,
            "a@example.com",
            "198.51.100.7",
            4713,
            Outcome::Success,
        ));
        // A new address in an ASN under a stuffing.asn alert.
        evs.push(login(
            HOUR + 12 * MINUTE,
            "z@example.com",
            "103.5.140.9",
            14061,
            Outcome::Success,
        ));
        evs.sort_by_key(|e| e.ts);
        let ip_alert = stuffing(
            Rule::StuffingIp,
            EntityKind::Ip,
            ATTACKER,
            HOUR,
            HOUR + 290 * SECOND,
        );
        let asn_alert = stuffing(
            Rule::StuffingAsn,
            EntityKind::Asn,
            "14061",
            HOUR,
            HOUR + 290 * SECOND,
        );
        let mut inputs = Vec::new();
        let mut pending = vec![ip_alert, asn_alert];
        for e in &crate::detect::history::annotated(&evs) {
            inputs.push(Input::Event(e.clone()));
            while pending.first().is_some_and(|a| a.last_seen <= e.ts) {
                inputs.push(Input::Alert(pending.remove(0)));
            }
        }
        let make = || CompromiseDetector::new(CompromiseConfig::default());
        let all = restart_anywhere(make, &inputs, 1);
        let got: Vec<&str> = all.iter().map(|a| a.entity.value.as_str()).collect();
        assert_eq!(
            got,
            [
                "ikeda.miyu61@example.com",
                "ynomura63@example.com",
                "a@example.com",
                "z@example.com"
            ]
        );
        // After the alerts arrived: the attacks and the failures before them are remembered.
        let split = inputs
            .iter()
            .position(|i| matches!(i, Input::Alert(_)))
            .unwrap()
            + 2;
        let (before, after) = restart_at(make, &inputs, split);
        assert_eq!((before.len(), after.len()), (1, 3));
        // Mid-way through the five failures.
        let split = inputs
            .iter()
            .position(|i| matches!(i, Input::Event(e) if e.ts.0 >= HOUR + 9 * MINUTE))
            .unwrap();
        restart_at(make, &inputs, split);
    }

    #[test]
    fn successes_before_and_after_a_stuffing_ip_alert_are_tied() {
        let mut evs = Vec::new();
        for i in 0..30 {
            evs.push(login(
                i * 10 * SECOND,
                &format!("u{i}@x.jp"),
                ATTACKER,
                14061,
                Outcome::Failure,
            ));
        }
        // A hit at 2 min, before the alert crosses at 5 min.
        evs.insert(
            12,
            login(
                2 * MINUTE,
                "ikeda.miyu61@example.com",
                ATTACKER,
                14061,
                Outcome::Success,
            ),
        );
        let alert = stuffing(Rule::StuffingIp, EntityKind::Ip, ATTACKER, 0, 290 * SECOND);
        // A hit after the alert while the source keeps failing, and another address.
        evs.push(login(
            6 * MINUTE,
            "ynomura63@example.com",
            ATTACKER,
            14061,
            Outcome::Success,
        ));
        evs.push(login(
            6 * MINUTE,
            "other@example.com",
            "203.0.113.9",
            64500,
            Outcome::Success,
        ));
        // Long after the source went quiet (hold is 30 min after its last failure).
        evs.push(login(
            2 * HOUR,
            "late@example.com",
            ATTACKER,
            14061,
            Outcome::Success,
        ));
        let out = run(&evs, std::slice::from_ref(&alert));
        let got: Vec<(&str, Severity)> = out
            .iter()
            .map(|a| (a.entity.value.as_str(), a.severity))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ikeda.miyu61@example.com", Severity::High),
                ("ynomura63@example.com", Severity::High)
            ]
        );
        let a = &out[0];
        assert_eq!(a.rule, Rule::CompromiseLogin);
        assert_eq!(a.first_seen, Timestamp(2 * MINUTE));
        assert_eq!(ev(a).ip, ATTACKER.parse().ok());
        assert_eq!(ev(a).asn, Some(Asn(14061)));
        assert_eq!(ev(a).stuffing_alerts, std::slice::from_ref(&alert.id));
        assert_eq!(ev(a).stuffing_rule, Some(Rule::StuffingIp));
        assert_eq!(ev(a).login_time.to_string(), "1970-01-01T00:02:00Z");
        assert_eq!(
            a.summary,
            "ikeda.miyu61@example.com logged in from 165.232.90.82 (the address of a \
             stuffing.ip alert): lock and reset"
        );
    }

    #[test]
    fn five_failures_then_success_fires_and_three_typos_do_not() {
        let mut evs: Vec<AuthEvent> = (0..5)
            .map(|i| {
                login(
                    i * 30 * SECOND,
                    "a@example.com",
                    "198.51.100.7",
                    4713,
                    Outcome::Failure,
                )
            })
            .collect();
        evs.push(login(
            3 * MINUTE,
            "a@example.com",
            "198.51.100.7",
            4713,
            Outcome::Success,
        ));
        let out = run(&evs, &[]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].severity, Severity::Medium);
        assert_eq!(ev(&out[0]).failures_before, 5);
        assert_eq!(
            ev(&out[0]).thresholds_crossed,
            Some(CompromiseLoginThresholds {
                failures_before: ThresholdCrossed::new(5, 5)
            })
        );
        // The mistyper: 3 bad passwords, then success. And 4 is a near miss.
        for n in [3, 4] {
            let mut evs: Vec<AuthEvent> = (0..n)
                .map(|i| {
                    login(
                        i * 30 * SECOND,
                        "sota.ueda@example.net",
                        "180.59.30.1",
                        4713,
                        Outcome::Failure,
                    )
                })
                .collect();
            evs.push(login(
                3 * MINUTE,
                "sota.ueda@example.net",
                "180.59.30.1",
                4713,
                Outcome::Success,
            ));
            assert!(run(&evs, &[]).is_empty(), "{n} failures");
        }
        // Five failures spread over more than the 10-minute window.
        let mut evs: Vec<AuthEvent> = (0..5)
            .map(|i| {
                login(
                    i * 3 * MINUTE,
                    "b@example.com",
                    "198.51.100.8",
                    4713,
                    Outcome::Failure,
                )
            })
            .collect();
        evs.push(login(
            13 * MINUTE,
            "b@example.com",
            "198.51.100.8",
            4713,
            Outcome::Success,
        ));
        assert!(run(&evs, &[]).is_empty());
    }

    #[test]
    fn corporate_nat_successes_with_a_few_typos_stay_silent() {
        let nat = "119.10.253.216";
        let mut evs = Vec::new();
        for i in 0..300 {
            let acct = format!("emp{i}@example.jp");
            if i % 50 == 0 {
                evs.push(login(i * 10 * SECOND, &acct, nat, 2497, Outcome::Failure));
            }
            evs.push(login(
                i * 10 * SECOND + SECOND,
                &acct,
                nat,
                2497,
                Outcome::Success,
            ));
        }
        assert!(run(&evs, &[]).is_empty());
    }

    #[test]
    fn stuffing_asn_ties_new_addresses_in_the_asn_only() {
        // The usual login is older than the alert's lookback.
        let b = 15 * MINUTE;
        let mut evs = vec![
            login(0, "home@example.com", "51.38.1.1", 16276, Outcome::Success),
            login(
                b + MINUTE,
                "x1@example.com",
                "37.59.183.248",
                16276,
                Outcome::Failure,
            ),
            login(
                b + 2 * MINUTE,
                "victim@example.com",
                "15.235.49.168",
                16276,
                Outcome::Success,
            ),
            // Their usual address, which happens to be in the ASN.
            login(
                b + 3 * MINUTE,
                "home@example.com",
                "51.38.1.1",
                16276,
                Outcome::Success,
            ),
        ];
        evs.push(login(
            b + 4 * MINUTE,
            "x2@example.com",
            "37.59.183.248",
            16276,
            Outcome::Failure,
        ));
        let alert = stuffing(
            Rule::StuffingAsn,
            EntityKind::Asn,
            "16276",
            b + MINUTE,
            b + 4 * MINUTE,
        );
        let out = run(&evs, &[alert]);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].entity.value, "victim@example.com");
        assert_eq!(out[0].severity, Severity::Medium);
        assert_eq!(ev(&out[0]).stuffing_rule, Some(Rule::StuffingAsn));
    }

    #[test]
    fn global_burst_ties_addresses_that_failed_and_new_addresses_in_failing_asns() {
        let mut evs = vec![
            // Account histories.
            login(
                0,
                "shun@example.com",
                "126.11.123.146",
                17676,
                Outcome::Success,
            ),
            login(
                0,
                "hina@example.jp",
                "150.71.189.49",
                2516,
                Outcome::Success,
            ),
            login(
                0,
                "kept@example.jp",
                "150.71.189.50",
                2516,
                Outcome::Success,
            ),
        ];
        let b = HOUR;
        evs.push(login(
            b,
            "list1@example.com",
            "201.17.27.87",
            28573,
            Outcome::Failure,
        ));
        evs.push(login(
            b + MINUTE,
            "list2@example.com",
            "2604:2d81:4d57::1",
            30036,
            Outcome::Failure,
        ));
        // From an address that failed on another account in the burst: high.
        evs.push(login(
            b + 12 * MINUTE,
            "shun@example.com",
            "201.17.27.87",
            28573,
            Outcome::Success,
        ));
        // From a new address in an ASN that failed on other accounts: medium.
        evs.push(login(
            b + 20 * MINUTE,
            "hina@example.jp",
            "2604:2d81:92f4::7",
            30036,
            Outcome::Success,
        ));
        // Same, but the account has no history: not tied.
        evs.push(login(
            b + 21 * MINUTE,
            "fresh@example.jp",
            "2604:2d81:92f4::8",
            30036,
            Outcome::Success,
        ));
        // The usual address during the burst: not tied.
        evs.push(login(
            b + 22 * MINUTE,
            "kept@example.jp",
            "150.71.189.50",
            2516,
            Outcome::Success,
        ));
        // After the burst (no failures, past hold): not tied.
        evs.push(login(
            3 * HOUR,
            "list2@example.com",
            "201.17.27.87",
            28573,
            Outcome::Success,
        ));
        let alert = stuffing(
            Rule::StuffingGlobal,
            EntityKind::Global,
            "*",
            b,
            b + 5 * MINUTE,
        );
        let out = run(&evs, &[alert]);
        let got: Vec<(&str, Severity)> = out
            .iter()
            .map(|a| (a.entity.value.as_str(), a.severity))
            .collect();
        assert_eq!(
            got,
            vec![
                ("shun@example.com", Severity::High),
                ("hina@example.jp", Severity::Medium)
            ]
        );
    }

    #[test]
    fn late_global_alert_ties_earlier_successes_in_time_order() {
        let b = HOUR;
        let evs = vec![
            login(
                b,
                "list1@example.com",
                "201.17.27.87",
                28573,
                Outcome::Failure,
            ),
            login(
                b + 1,
                "list2@example.com",
                "210.212.217.134",
                9829,
                Outcome::Failure,
            ),
            login(
                b + 2 * MINUTE,
                "zz@example.com",
                "210.212.217.134",
                9829,
                Outcome::Success,
            ),
            login(
                b + 3 * MINUTE,
                "aa@example.com",
                "201.17.27.87",
                28573,
                Outcome::Success,
            ),
            login(
                b + 50 * MINUTE,
                "noise@example.com",
                "192.0.2.1",
                1,
                Outcome::Failure,
            ),
        ];
        let alert = stuffing(
            Rule::StuffingGlobal,
            EntityKind::Global,
            "*",
            b,
            b + 50 * MINUTE,
        );
        let out = run(&evs, &[alert]);
        let got: Vec<&str> = out.iter().map(|a| a.entity.value.as_str()).collect();
        assert_eq!(got, vec!["zz@example.com", "aa@example.com"]);
    }

    #[test]
    fn repeated_ties_emit_once_per_episode_and_memory_is_bounded() {
        let cfg = CompromiseConfig {
            max_recent_successes: 10,
            ..CompromiseConfig::default()
        };
        let mut d = CompromiseDetector::new(cfg);
        let mut out = Vec::new();
        let mut evs: Vec<AuthEvent> = (0..3)
            .map(|i| login(i, "v@example.com", ATTACKER, 14061, Outcome::Success))
            .collect();
        evs.extend((0..20).map(|i| {
            login(
                10 + i,
                &format!("n{i}@example.com"),
                "192.0.2.9",
                1,
                Outcome::Success,
            )
        }));
        let mut history = crate::detect::LoginHistories::new(crate::detect::HistoryConfig {
            known_sources: 8,
            max_accounts: 1_000,
        });
        for mut e in evs {
            history.annotate(&mut e);
            d.observe(&e, &mut out);
        }
        // v's second and third logins come from an address already known to v: not kept.
        assert_eq!(d.recent.len(), 10);
        assert_eq!(d.evicted, 11);
        let a = stuffing(Rule::StuffingIp, EntityKind::Ip, ATTACKER, 0, 100);
        d.on_alert(&a, &mut out);
        assert!(
            out.is_empty(),
            "the hits were evicted from the bounded memory"
        );
        for t in [200, 300] {
            let mut e = login(t, "v@example.com", ATTACKER, 14061, Outcome::Success);
            history.annotate(&mut e);
            d.observe(&e, &mut out);
        }
        assert_eq!(out.len(), 1, "one alert per account and episode");
        // Other rules' alerts and its own are ignored.
        let mut c = a.clone();
        c.rule = Rule::CompromiseLogin;
        d.on_alert(&c, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn failure_memory_expires_with_event_time() {
        let mut d = CompromiseDetector::new(CompromiseConfig::default());
        let mut out = Vec::new();
        d.observe(
            &login(0, "a@x.jp", "192.0.2.1", 1, Outcome::Failure),
            &mut out,
        );
        d.observe(
            &login(HOUR, "b@x.jp", "192.0.2.2", 1, Outcome::Failure),
            &mut out,
        );
        d.advance(Timestamp(2 * HOUR + 10 * MINUTE), &mut out);
        assert_eq!((d.ip_fail.len(), d.asn_fail.len()), (1, 1));
        d.advance(Timestamp(3 * HOUR + 10 * MINUTE), &mut out);
        assert_eq!((d.ip_fail.len(), d.asn_fail.len()), (0, 0));
        assert!(out.is_empty());
        // Failures on unknown accounts (a list) are not remembered per account; others are,
        // for one failure window.
        let mut e = login(4 * HOUR, "nobody@x.jp", "192.0.2.3", 1, Outcome::Failure);
        e.reason = Some(FailureReason::UnknownAccount);
        d.observe(&e, &mut out);
        assert_eq!(d.acct_fail.len(), 0);
        d.observe(
            &login(4 * HOUR, "a@x.jp", "192.0.2.3", 1, Outcome::Failure),
            &mut out,
        );
        assert_eq!(d.acct_fail.len(), 1);
        d.advance(Timestamp(4 * HOUR + 10 * MINUTE), &mut out);
        assert_eq!(d.acct_fail.len(), 0);
    }

    #[test]
    fn nonsense_settings_are_rejected_with_their_key() {
        let parse = |t: &str| {
            crate::config::Config::from_toml(t, std::path::Path::new("t.toml"))
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let cases = [
            (
                "[detect.compromise_login]\nmin_failures_before_success = 0\n",
                "detect.compromise_login.min_failures_before_success",
            ),
            (
                "[detect.compromise_login]\nlookback = \"3h\"\n",
                "detect.compromise_login.success_memory",
            ),
            (
                "[detect.compromise_login]\nmax_tracked = 10\n",
                "detect.compromise_login.max_tracked",
            ),
            (
                "[detect.takeover_sequence]\nknown_sources = 0\n",
                "detect.takeover_sequence.known_sources",
            ),
        ];
        for (text, key) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
        let err = parse("[detect.takeover_sequence]\nmax_spam = \"1h\"\n").unwrap_err();
        assert!(err.contains("max_spam"), "{err}");
        assert!(parse("[detect.takeover_sequence]\nmax_span = \"24h\"\n").is_ok());
    }
}
