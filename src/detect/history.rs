//! Where each account has logged in from: one table for every rule that asks whether an event
//! comes from an address or a network new to the account.
//!
//! `compromise.login` asks it of each successful login, `takeover.sequence` of each step of a
//! chain. Each used to keep its own copy of the same history, and looking an account up there
//! (a hash-table probe and a walk over its remembered addresses, both cache misses once there
//! are a few hundred thousand accounts) was the largest cost of either rule. The engine now
//! keeps the history once, in event order, ahead of the detectors ([`LoginHistories::annotate`])
//! and hands each event its [`LoginContext`]: when the event's address and ASN were first seen
//! among the account's successful logins, and when the earliest one was. A rule evaluates it
//! against a moment of its own (the event, or the start of a chain), exactly as it would have
//! asked its own copy.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::detect::{HeapSize, RuleState, evict_oldest, evict_to_bytes, map_bytes};
use crate::error::StateError;
use crate::event::{Asn, AuthEvent, EventKind, LoginContext, Outcome};
use crate::time::Timestamp;
use crate::window::KeyHasher;

/// A bounded most-recently-used list of values with the time each was last seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Recent<T> {
    items: Vec<(T, Timestamp, Timestamp)>,
}

impl<T> Default for Recent<T> {
    fn default() -> Recent<T> {
        Recent { items: Vec::new() }
    }
}

impl<T: PartialEq + Copy> Recent<T> {
    /// Records `v` at `ts`, evicting the least recently seen beyond `cap`.
    pub(crate) fn note(&mut self, v: T, ts: Timestamp, cap: usize) {
        if let Some(e) = self.items.iter_mut().find(|e| e.0 == v) {
            e.2 = e.2.max(ts);
            return;
        }
        if cap == 0 {
            return;
        }
        if self.items.len() >= cap
            && let Some(pos) = self
                .items
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.2)
                .map(|(i, _)| i)
        {
            self.items.swap_remove(pos);
        }
        self.items.push((v, ts, ts));
    }

    /// True when `v` was first seen strictly before `before`.
    pub(crate) fn known_before(&self, v: T, before: Timestamp) -> bool {
        self.items.iter().any(|e| e.0 == v && e.1 < before)
    }

    /// True when any value was first seen strictly before `before`.
    /// (The reference [`LoginContext`] is tested against.)
    #[cfg(test)]
    pub(crate) fn any_before(&self, before: Timestamp) -> bool {
        self.items.iter().any(|e| e.1 < before)
    }
}

/// Where an account usually logs in from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct LoginHistory {
    pub(crate) ips: Recent<IpAddr>,
    pub(crate) asns: Recent<Asn>,
}

impl LoginHistory {
    /// Records a successful login.
    pub(crate) fn note(&mut self, ev: &AuthEvent, cap: usize) {
        if let Some(ip) = ev.ip {
            self.ips.note(ip, ev.ts, cap);
        }
        if let Some(asn) = ev.asn {
            self.asns.note(asn, ev.ts, cap);
        }
    }

    /// True when the account has logged in successfully before `before`.
    /// (The reference [`LoginContext`] is tested against.)
    #[cfg(test)]
    pub(crate) fn has_history(&self, before: Timestamp) -> bool {
        self.ips.any_before(before)
    }

    /// (address new, ASN new) relative to logins before `before`. A missing ASN (no database)
    /// is "new" only when the address is.
    /// (The reference [`LoginContext`] is tested against.)
    #[cfg(test)]
    pub(crate) fn novelty(&self, ev: &AuthEvent, before: Timestamp) -> (bool, bool) {
        let ip_new = ev.ip.is_some_and(|ip| !self.ips.known_before(ip, before));
        let asn_new = match ev.asn {
            Some(a) => !self.asns.known_before(a, before),
            None => ip_new,
        };
        (ip_new, asn_new)
    }
}

impl<T: PartialEq + Copy> Recent<T> {
    /// When `v` was first seen, if it is remembered.
    pub(crate) fn first_seen(&self, v: T) -> Option<Timestamp> {
        self.items.iter().find(|e| e.0 == v).map(|e| e.1)
    }

    /// The earliest first-seen time of any remembered value.
    pub(crate) fn earliest(&self) -> Option<Timestamp> {
        self.items.iter().map(|e| e.1).min()
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.items.capacity() * size_of::<(T, Timestamp, Timestamp)>()
    }
}

impl LoginHistory {
    /// What the history says of `ev`'s address and ASN, before `ev` is noted.
    pub(crate) fn context(&self, ev: &AuthEvent) -> LoginContext {
        LoginContext::new(
            ev.ip.and_then(|ip| self.ips.first_seen(ip)),
            ev.asn.and_then(|a| self.asns.first_seen(a)),
            self.ips.earliest(),
        )
    }
}

/// The settings of the shared history, from the rules that use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Addresses (and ASNs) remembered per account.
    pub known_sources: usize,
    /// Accounts remembered; beyond it the least recently active tenth is dropped.
    pub max_accounts: usize,
}

/// One account's remembered logins.
#[derive(Debug, Default, Serialize, Deserialize)]
struct AccountLogins {
    logins: LoginHistory,
    last_seen: Timestamp,
}

impl HeapSize for AccountLogins {
    fn heap_bytes(&self) -> usize {
        self.logins.ips.heap_bytes() + self.logins.asns.heap_bytes()
    }
}

/// The shared login history (state name `login.history` in checkpoints and summaries).
#[derive(Debug, Serialize, Deserialize)]
pub struct LoginHistories {
    #[serde(skip, default = "default_cfg")]
    cfg: HistoryConfig,
    /// Keyed by the seeded hash of the account's [`crate::event::AccountKey::hash64`]: a
    /// collision (about 1 in 10^7 at a million accounts) only merges two histories.
    accounts: HashMap<u64, AccountLogins, foldhash::quality::RandomState>,
    hasher: KeyHasher,
    evicted: u64,
}

fn default_cfg() -> HistoryConfig {
    HistoryConfig {
        known_sources: 8,
        max_accounts: 1_000_000,
    }
}

/// The name the history's state goes by.
const NAME: &str = "login.history";

impl LoginHistories {
    /// An empty history.
    pub fn new(cfg: HistoryConfig) -> LoginHistories {
        LoginHistories {
            cfg,
            accounts: HashMap::default(),
            hasher: KeyHasher::default(),
            evicted: 0,
        }
    }

    /// Sets `ev.logins` for a successful event of an account (a login, a reset, a change, an
    /// order), then remembers a successful login's address and ASN. Call once per event, in
    /// event order, before the detectors see it.
    pub fn annotate(&mut self, ev: &mut AuthEvent) {
        ev.logins = None;
        if ev.outcome != Outcome::Success {
            return;
        }
        let relevant = matches!(
            ev.kind,
            EventKind::Login
                | EventKind::PasswordResetRequest
                | EventKind::PasswordResetComplete
                | EventKind::EmailChange
                | EventKind::AddressChange
                | EventKind::PaymentChange
                | EventKind::Order
        );
        let Some(account) = ev.account.as_ref().filter(|_| relevant) else {
            return;
        };
        let key = self.hasher.hash_u64(account.hash64());
        if ev.kind != EventKind::Login {
            // Only logins are remembered: other steps just read the history.
            ev.logins = Some(
                self.accounts
                    .get(&key)
                    .map_or_else(LoginContext::default, |a| a.logins.context(ev)),
            );
            return;
        }
        if self.accounts.len() >= self.cfg.max_accounts && !self.accounts.contains_key(&key) {
            self.evicted +=
                evict_oldest(&mut self.accounts, self.cfg.max_accounts, |a| a.last_seen.0);
        }
        let a = self.accounts.entry(key).or_default();
        let context = a.logins.context(ev);
        a.logins.note(ev, self.cfg.known_sources);
        a.last_seen = a.last_seen.max(ev.ts);
        ev.logins = Some(context);
    }
}

impl RuleState for LoginHistories {
    fn state_name(&self) -> &'static str {
        NAME
    }

    fn state_bytes(&self) -> usize {
        map_bytes(&self.accounts)
    }

    fn evict_to(&mut self, bytes: usize) -> u64 {
        let n = evict_to_bytes(&mut self.accounts, bytes, |a| a.last_seen.0);
        self.evicted += n;
        n
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("login_history.tracked_accounts", self.accounts.len() as u64),
            ("login_history.evicted_accounts", self.evicted),
        ]
    }

    fn snapshot(&self) -> Result<serde_json::Value, StateError> {
        crate::detect::state::snapshot(NAME, self)
    }

    fn restore(&mut self, state: serde_json::Value) -> Result<(), StateError> {
        let mut restored: LoginHistories = crate::detect::state::restore(NAME, state)?;
        restored.cfg = self.cfg;
        *self = restored;
        Ok(())
    }

    fn write_snapshot(&self, out: &mut dyn std::io::Write) -> Result<(), StateError> {
        crate::detect::state::write(NAME, self, out)
    }

    fn read_snapshot(&mut self, text: &[u8]) -> Result<(), StateError> {
        let mut restored: LoginHistories = crate::detect::state::read(NAME, text)?;
        restored.cfg = self.cfg;
        *self = restored;
        Ok(())
    }
}

/// Test support: events annotated as the engine would, for detectors tested on their own.
#[cfg(test)]
pub(crate) fn annotated(events: &[AuthEvent]) -> Vec<AuthEvent> {
    let mut h = LoginHistories::new(default_cfg());
    events
        .iter()
        .map(|e| {
            let mut e = e.clone();
            h.annotate(&mut e);
            e
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AccountKey, LineMeta};

    fn login(t: i64, ip: &str, asn: u32) -> AuthEvent {
        let mut e = AuthEvent::new(Timestamp(t), EventKind::Login, LineMeta::default());
        e.outcome = Outcome::Success;
        e.account = AccountKey::normalize("sato@example.jp");
        e.ip = Some(ip.parse().unwrap());
        e.asn = Some(Asn(asn));
        e
    }

    #[test]
    fn the_context_answers_as_the_history_itself_would() {
        let mut h = LoginHistories::new(default_cfg());
        let mut own = LoginHistory::default();
        let events = [
            login(1_000, "203.0.113.7", 4713),
            login(2_000, "203.0.113.7", 4713),
            login(3_000, "198.51.100.9", 4713),
            login(4_000, "192.0.2.1", 64500),
            login(3_500, "192.0.2.1", 64500),
            login(5_000, "203.0.113.7", 4713),
        ];
        for ev in &events {
            let mut ev = ev.clone();
            h.annotate(&mut ev);
            let ctx = ev.logins.expect("a successful login is annotated");
            for before in [0, 999, 1_000, 1_001, 3_000, 3_600, 4_000, 10_000] {
                let before = Timestamp(before);
                assert_eq!(ctx.novelty(&ev, before), own.novelty(&ev, before));
                assert_eq!(ctx.has_history(before), own.has_history(before));
            }
            own.note(&ev, 8);
        }
        // Every event carries one: keep it small.
        assert_eq!(size_of::<LoginContext>(), 24);
        // A failure, or an event without an account, carries no context.
        let mut fail = login(6_000, "203.0.113.7", 4713);
        fail.outcome = Outcome::Failure;
        h.annotate(&mut fail);
        assert_eq!(fail.logins, None);
    }

    #[test]
    fn other_steps_read_the_history_without_adding_to_it() {
        let mut h = LoginHistories::new(default_cfg());
        let mut first = login(1_000, "203.0.113.7", 4713);
        h.annotate(&mut first);
        let mut order = login(2_000, "198.51.100.9", 64500);
        order.kind = EventKind::Order;
        h.annotate(&mut order);
        assert_eq!(
            order.logins.unwrap().novelty(&order, order.ts),
            (true, true)
        );
        let mut again = login(3_000, "198.51.100.9", 64500);
        h.annotate(&mut again);
        assert_eq!(
            again.logins.unwrap().novelty(&again, again.ts),
            (true, true),
            "the order's address was not remembered as a login's"
        );
    }

    #[test]
    fn accounts_are_bounded_and_the_state_round_trips() {
        let mut h = LoginHistories::new(HistoryConfig {
            known_sources: 8,
            max_accounts: 10,
        });
        for i in 0..50 {
            let mut e = login(i * 1_000, "203.0.113.7", 4713);
            e.account = AccountKey::normalize(&format!("user{i}@example.jp"));
            h.annotate(&mut e);
        }
        assert!(h.accounts.len() <= 10);
        assert_eq!(h.evicted + h.accounts.len() as u64, 50);
        let mut text = Vec::new();
        h.write_snapshot(&mut text).unwrap();
        let mut back = LoginHistories::new(default_cfg());
        back.read_snapshot(&text).unwrap();
        assert_eq!(back.accounts.len(), h.accounts.len());
        assert_eq!(back.hasher.seed(), h.hasher.seed());
        let before = h.state_bytes();
        assert!(h.evict_to(before / 2) > 0);
        assert!(h.state_bytes() <= before / 2);
    }
}
