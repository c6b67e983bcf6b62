//! The `takeover.sequence` detector.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Entity, Rule, Severity};
use crate::detect::history::Recent;
use crate::detect::{
    Detector, Episodes, HeapSize, RuleState, evict_oldest, evict_to_bytes, map_bytes,
};
use crate::event::{AddressHash, Asn, AuthEvent, EventKind, Outcome};
use crate::time::{HOUR, Timestamp};
use crate::window::KeyHasher;

use super::{StepEvent, StepOrders, TakeoverConfig, TakeoverSequenceEvidence, TakeoverStep};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Stage {
    Started,
    Changed,
    Ordered,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Step {
    ts: Timestamp,
    kind: EventKind,
    ip: Option<IpAddr>,
    asn: Option<Asn>,
    ip_new: bool,
    asn_new: bool,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Orders {
    count: u64,
    marketplace: u64,
    #[serde(with = "crate::detect::state::exact_f64_pairs")]
    totals: Vec<(String, f64)>,
    sellers: Vec<String>,
    ship_to: Vec<AddressHash>,
    ship_to_new: bool,
    from_new: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Chain {
    start: Timestamp,
    stage: Stage,
    steps: Vec<Step>,
    omitted: u64,
    orders: Orders,
    /// Ship-to set by an address change inside the chain.
    changed_ship_to: Option<AddressHash>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AccountState {
    ship_to: Recent<AddressHash>,
    chain: Option<Box<Chain>>,
    last_seen: Timestamp,
}

impl HeapSize for AccountState {
    fn heap_bytes(&self) -> usize {
        let chain = self.chain.as_ref().map_or(0, |c| {
            size_of::<Chain>()
                + c.steps.capacity() * size_of::<Step>()
                + c.orders.totals.capacity() * size_of::<(String, f64)>()
                + c.orders
                    .totals
                    .iter()
                    .map(|(k, _)| k.capacity())
                    .sum::<usize>()
                + c.orders.sellers.capacity() * size_of::<String>()
                + c.orders.sellers.iter().map(String::capacity).sum::<usize>()
                + c.orders.ship_to.capacity() * size_of::<AddressHash>()
        });
        self.ship_to.heap_bytes() + chain
    }
}

/// The `takeover.sequence` detector.
#[derive(Debug, Serialize, Deserialize)]
pub struct TakeoverDetector {
    #[serde(skip)]
    cfg: TakeoverConfig,
    /// Keyed by a seeded 64-bit hash of the account: no key allocation per event, and a
    /// collision (about 1 in 10^7 at a million accounts) only merges two histories.
    accounts: HashMap<u64, AccountState, foldhash::quality::RandomState>,
    episodes: Episodes<u64>,
    hasher: KeyHasher,
    watermark: Timestamp,
    evicted: u64,
    chains: u64,
    events_since_sweep: u32,
}

impl TakeoverDetector {
    /// A detector with the given settings.
    pub fn new(cfg: TakeoverConfig) -> TakeoverDetector {
        TakeoverDetector {
            cfg,
            accounts: HashMap::default(),
            episodes: Episodes::new(Rule::TakeoverSequence),
            hasher: KeyHasher::default(),
            watermark: Timestamp(i64::MIN),
            evicted: 0,
            chains: 0,
            events_since_sweep: 0,
        }
    }

    /// Drops the least recently active tenth of the accounts when over the limit.
    fn sweep(&mut self) {
        self.evicted += evict_oldest(&mut self.accounts, self.cfg.max_accounts, |a| a.last_seen.0);
    }
}

fn severity(chain: &Chain) -> Severity {
    let any_new = chain.steps.iter().any(|s| s.ip_new) || chain.orders.from_new > 0;
    if !any_new {
        return Severity::Low;
    }
    let start_new = chain.steps.first().is_some_and(|s| s.ip_new && s.asn_new);
    let o = &chain.orders;
    if o.marketplace > 0 && o.ship_to_new && o.from_new > 0 && (start_new || o.from_new == o.count)
    {
        Severity::Critical
    } else if start_new || chain.steps.iter().any(|s| s.ip_new && s.asn_new) {
        Severity::High
    } else {
        Severity::Medium
    }
}

fn step_evidence(s: &Step) -> TakeoverStep {
    TakeoverStep::Event(StepEvent {
        asn: s.asn,
        asn_new: s.asn_new,
        event: s.kind,
        ip: s.ip,
        ip_new: s.ip_new,
        time: s.ts,
    })
}

fn orders_evidence(o: &Orders) -> TakeoverStep {
    TakeoverStep::Orders(StepOrders {
        count: o.count,
        event: EventKind::Order,
        from_new_address: o.from_new,
        last: o.last,
        marketplace: o.marketplace,
        sellers: o.sellers.clone(),
        ship_to: o.ship_to.clone(),
        ship_to_new: o.ship_to_new,
        time: o.first,
        total: o
            .totals
            .iter()
            .map(|(c, v)| (c.clone(), (v * 100.0).round() / 100.0))
            .collect(),
    })
}

impl Detector for TakeoverDetector {
    fn name(&self) -> &'static str {
        Rule::TakeoverSequence.as_str()
    }

    fn observe(&mut self, ev: &AuthEvent, out: &mut Vec<Alert>) {
        if !self.cfg.enabled || ev.outcome != Outcome::Success {
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
        if !relevant {
            return;
        }
        let Some(account) = &ev.account else { return };
        self.watermark = self.watermark.max(ev.ts);
        // A stream may run for weeks between `advance` calls: close quiet episodes as we go.
        self.events_since_sweep += 1;
        if self.events_since_sweep >= 65_536 {
            self.events_since_sweep = 0;
            self.episodes
                .close_quiet(self.watermark, self.cfg.max_span.millis());
        }
        let key = self.hasher.hash_u64(account.hash64());
        // Where the account logged in from before, from the shared login history.
        let logins = ev.logins.unwrap_or_default();
        if ev.kind == EventKind::Login && !self.accounts.contains_key(&key) {
            // A login that starts no chain has nothing to add for an account without one.
            let (ip_new, asn_new) = logins.novelty(ev, ev.ts);
            if !(ip_new && asn_new && logins.has_history(ev.ts)) {
                return;
            }
        }
        if self.accounts.len() >= self.cfg.max_accounts && !self.accounts.contains_key(&key) {
            self.sweep();
        }
        let cfg = &self.cfg;
        let max_span = cfg.max_span.millis();
        let st = self.accounts.entry(key).or_default();
        st.last_seen = st.last_seen.max(ev.ts);
        if st
            .chain
            .as_ref()
            .is_some_and(|c| ev.ts.0.saturating_sub(c.start.0) > max_span)
        {
            st.chain = None;
        }
        let before = st.chain.as_ref().map_or(ev.ts, |c| c.start);
        let (ip_new, asn_new) = logins.novelty(ev, before);
        let step = Step {
            ts: ev.ts,
            kind: ev.kind,
            ip: ev.ip,
            asn: ev.asn,
            ip_new,
            asn_new,
        };
        let mut emit = false;
        match ev.kind {
            EventKind::PasswordResetRequest | EventKind::PasswordResetComplete => {
                match &mut st.chain {
                    // A reset after the chain already ordered is the owner taking the account
                    // back (or a new chain): start over only once the old one has nothing new.
                    Some(c) if c.stage == Stage::Started => push_step(c, step, cfg.max_steps),
                    Some(_) => {}
                    None => {
                        st.chain = Some(Box::new(new_chain(step)));
                        self.chains += 1;
                    }
                }
            }
            EventKind::Login => {
                // A login from an address and an ASN the account has never used starts a
                // chain; a first-ever login (no history) does not.
                let risky = ip_new && asn_new && logins.has_history(ev.ts);
                match &mut st.chain {
                    Some(c) if ip_new => push_step(c, step, cfg.max_steps),
                    Some(_) => {}
                    None if risky => {
                        st.chain = Some(Box::new(new_chain(step)));
                        self.chains += 1;
                    }
                    None => {}
                }
            }
            EventKind::EmailChange | EventKind::AddressChange | EventKind::PaymentChange => {
                if let Some(c) = &mut st.chain {
                    if c.stage == Stage::Started {
                        c.stage = Stage::Changed;
                    }
                    if ev.kind == EventKind::AddressChange
                        && let Some(a) = ev.details.as_ref().and_then(|d| d.address)
                    {
                        c.changed_ship_to = Some(a);
                    }
                    push_step(c, step, cfg.max_steps);
                }
            }
            EventKind::Order => {
                let d = ev.details.as_deref();
                let ship_to = d.and_then(|d| d.ship_to);
                if let Some(c) = &mut st.chain
                    && c.stage >= Stage::Changed
                {
                    c.stage = Stage::Ordered;
                    let o = &mut c.orders;
                    o.count += 1;
                    o.first.get_or_insert(ev.ts);
                    o.last = Some(ev.ts);
                    if ip_new {
                        o.from_new += 1;
                    }
                    if d.and_then(|d| d.marketplace) == Some(true) {
                        o.marketplace += 1;
                    }
                    if let (Some(amount), Some(cur)) = (
                        d.and_then(|d| d.amount),
                        d.and_then(|d| d.currency.as_deref()),
                    ) {
                        if let Some(t) = o.totals.iter_mut().find(|(c, _)| c == cur) {
                            t.1 += amount;
                        } else if o.totals.len() < 8 {
                            o.totals.push((cur.to_string(), amount));
                        }
                    }
                    if let Some(s) = d.and_then(|d| d.seller.as_deref())
                        && o.sellers.len() < 8
                        && !o.sellers.iter().any(|x| x == s)
                    {
                        o.sellers.push(s.to_string());
                    }
                    if let Some(h) = ship_to {
                        if !st.ship_to.known_before(h, c.start) {
                            o.ship_to_new = true;
                        }
                        if o.ship_to.len() < 8 && !o.ship_to.contains(&h) {
                            o.ship_to.push(h);
                        }
                    }
                    emit = true;
                }
                if let Some(h) = ship_to {
                    st.ship_to.note(h, ev.ts, cfg.known_ship_to);
                }
            }
            _ => {}
        }
        if !emit {
            return;
        }
        let Some(c) = &mut st.chain else { return };
        let sev = severity(c);
        let entity = Entity::account(account);
        // One alert per episode: emitted when the chain reaches its first order and again (same
        // id) only when its severity rises, as for every rule; `explain` lists the later orders.
        let Some(ep) = self.episodes.crossed(&key, &entity, c.start, ev.ts, sev) else {
            return;
        };
        let c = &*c;
        let mut steps: Vec<TakeoverStep> = c.steps.iter().map(step_evidence).collect();
        steps.push(orders_evidence(&c.orders));
        let first_kind = c.steps.first().map_or("?", |s| s.kind.as_str());
        let first_ip = c
            .steps
            .first()
            .and_then(|s| s.ip)
            .map_or_else(|| "?".to_string(), |i| i.to_string());
        let hours = (ev.ts.0 - c.start.0) as f64 / HOUR as f64;
        let totals: Vec<String> = c
            .orders
            .totals
            .iter()
            .map(|(cur, v)| format!("{cur} {}", v.round() as i64))
            .collect();
        let mut changes: Vec<&str> = Vec::new();
        for s in &c.steps {
            let k = s.kind.as_str();
            if matches!(
                s.kind,
                EventKind::EmailChange | EventKind::AddressChange | EventKind::PaymentChange
            ) && !changes.contains(&k)
            {
                changes.push(k);
            }
        }
        let summary = format!(
            "{}: {} from {}{} → {} → {} order(s){}{} within {:.1} h",
            entity.value,
            first_kind,
            first_ip,
            if c.steps.first().is_some_and(|s| s.ip_new) {
                " (new to the account)"
            } else {
                " (usual address)"
            },
            if changes.is_empty() {
                "account change".to_string()
            } else {
                changes.join(" + ")
            },
            c.orders.count,
            if totals.is_empty() {
                String::new()
            } else {
                format!(" ({})", totals.join(", "))
            },
            if c.orders.ship_to_new {
                " to a new ship-to"
            } else {
                ""
            },
            hours
        );
        let evidence = TakeoverSequenceEvidence {
            changed_ship_to: c.changed_ship_to,
            marketplace_orders: c.orders.marketplace,
            max_span: self.cfg.max_span.to_string(),
            orders: c.orders.count,
            ship_to_new: c.orders.ship_to_new,
            span: crate::time::format_duration(ev.ts.0 - c.start.0),
            steps,
            steps_omitted: c.omitted,
        };
        out.push(Alert {
            id: ep.id,
            rule: Rule::TakeoverSequence,
            severity: ep.severity.max(sev),
            entity,
            first_seen: ep.first_seen,
            last_seen: ev.ts,
            asn: ev.asn,
            as_org: None,
            summary,
            evidence: evidence.into(),
            accounts: vec![account.as_str().to_string()],
        });
    }

    fn advance(&mut self, watermark: Timestamp, _out: &mut Vec<Alert>) {
        if watermark > self.watermark {
            self.watermark = watermark;
        }
        self.episodes
            .close_quiet(self.watermark, self.cfg.max_span.millis());
        self.sweep();
    }
}

impl RuleState for TakeoverDetector {
    fn state_name(&self) -> &'static str {
        self.name()
    }

    crate::detect::state::snapshot_methods!();

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
            (
                "takeover_sequence.tracked_accounts",
                self.accounts.len() as u64,
            ),
            ("takeover_sequence.evicted_accounts", self.evicted),
            ("takeover_sequence.chains_started", self.chains),
        ]
    }
}

fn new_chain(step: Step) -> Chain {
    Chain {
        start: step.ts,
        stage: Stage::Started,
        steps: vec![step],
        omitted: 0,
        orders: Orders::default(),
        changed_ship_to: None,
    }
}

fn push_step(c: &mut Chain, step: Step, max: usize) {
    if c.steps.len() < max {
        c.steps.push(step);
    } else {
        c.omitted += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed evidence of a `takeover_sequence` alert.
    fn evidence(a: &Alert) -> &TakeoverSequenceEvidence {
        a.evidence.takeover_sequence().expect("a takeover_sequence alert")
    }
    use crate::event::{AccountKey, LineMeta};
    use crate::time::MINUTE;

    const HOME: &str = "211.17.139.223";
    const HOME_ASN: u32 = 4713;

    fn ev(t: i64, kind: EventKind, ip: &str, asn: u32) -> AuthEvent {
        let mut e = AuthEvent::new(Timestamp(t), kind, LineMeta::default());
        e.outcome = Outcome::Success;
        e.account = AccountKey::normalize("Matsuda.Mai4@example.net");
        e.ip = Some(ip.parse().unwrap());
        e.asn = Some(Asn(asn));
        e
    }

    fn order(t: i64, ip: &str, asn: u32, ship: &str, marketplace: bool, amount: f64) -> AuthEvent {
        let mut e = ev(t, EventKind::Order, ip, asn);
        let d = e.details_mut();
        d.amount = Some(amount);
        d.currency = Some("JPY".into());
        d.marketplace = Some(marketplace);
        d.seller = Some(
            if marketplace {
                "star-deal-store"
            } else {
                "shop"
            }
            .into(),
        );
        d.ship_to = AddressHash::of(ship);
        e
    }

    fn address_change(t: i64, ip: &str, asn: u32, to: &str) -> AuthEvent {
        let mut e = ev(t, EventKind::AddressChange, ip, asn);
        e.details_mut().address = AddressHash::of(to);
        e
    }

    fn run_with(cfg: TakeoverConfig, events: &[AuthEvent]) -> (Vec<Alert>, TakeoverDetector) {
        let mut d = TakeoverDetector::new(cfg);
        let mut out = Vec::new();
        // Annotated by the shared login history, as the engine does.
        for e in &crate::detect::history::annotated(events) {
            d.observe(e, &mut out);
        }
        d.advance(Timestamp(i64::MAX / 2), &mut out);
        (out, d)
    }

    fn run(events: &[AuthEvent]) -> Vec<Alert> {
        run_with(TakeoverConfig::default(), events).0
    }

    /// A usual login from home and an earlier order to the usual ship-to.
    fn history() -> Vec<AuthEvent> {
        vec![
            ev(0, EventKind::Login, HOME, HOME_ASN),
            order(MINUTE, HOME, HOME_ASN, "Tokyo 1-2-3", false, 3000.0),
        ]
    }

    #[test]
    fn a_restart_keeps_histories_chains_and_episodes() {
        use crate::detect::state::testing::{Input, events, restart_anywhere, restart_at};
        let mut evs = history();
        evs.push(ev(
            HOUR,
            EventKind::PasswordResetRequest,
            "104.66.169.185",
            63949,
        ));
        evs.push(address_change(
            2 * HOUR,
            "104.66.169.185",
            63949,
            "Drop 9-9",
        ));
        evs.push(order(
            3 * HOUR,
            HOME,
            HOME_ASN,
            "Tokyo 1-2-3",
            false,
            3000.0,
        ));
        for i in 0..3 {
            let t = 3 * HOUR + (10 + i) * MINUTE;
            evs.push(order(t, "61.193.172.34", 17676, "Drop 9-9", true, 10_000.5));
        }
        let mut inputs = events(&evs);
        inputs.push(Input::Advance(Timestamp(i64::MAX / 2)));
        let make = || TakeoverDetector::new(TakeoverConfig::default());
        let all = restart_anywhere(make, &inputs, 1);
        assert_eq!(all.len(), 2, "{all:#?}");
        // Mid-chain (reset and change seen): the history and the chain come back.
        let (before, after) = restart_at(make, &inputs, 4);
        assert_eq!((before.len(), after.len()), (0, 2));
        // The chain's episode is open at high: marketplace orders to the drop raise it under
        // the same id.
        let (before, after) = restart_at(make, &inputs, 5);
        assert_eq!((before.len(), after.len()), (1, 1));
        assert_eq!(after[0].id, before[0].id);
        assert!(after[0].severity > before[0].severity);
    }

    #[test]
    fn reset_from_new_address_change_and_marketplace_orders_is_critical() {
        let h = HOUR;
        let mut evs = history();
        evs.push(ev(
            10 * h,
            EventKind::PasswordResetRequest,
            "104.66.169.185",
            63949,
        ));
        evs.push(ev(
            10 * h + MINUTE,
            EventKind::PasswordResetComplete,
            "104.66.169.185",
            63949,
        ));
        evs.push(address_change(12 * h, "104.66.169.185", 63949, "Drop 9-9"));
        for i in 0..5 {
            evs.push(order(
                25 * h + i * MINUTE,
                "61.193.172.34",
                17676,
                "Drop 9-9",
                true,
                10_000.0,
            ));
        }
        let alerts = run(&evs);
        // One alert: the chain reached its first order already critical, and later orders do not
        // raise the severity further.
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(a.rule, Rule::TakeoverSequence);
        assert_eq!(a.entity.value, "matsuda.mai4@example.net");
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.first_seen, Timestamp(10 * h));
        assert_eq!(a.last_seen, Timestamp(25 * h));
        let steps = &evidence(a).steps;
        assert_eq!(steps.len(), 4);
        let TakeoverStep::Event(first) = &steps[0] else {
            panic!("the first step is an event: {steps:?}")
        };
        assert_eq!(first.event, EventKind::PasswordResetRequest);
        assert!(first.ip_new);
        assert_eq!(first.asn, Some(Asn(63949)));
        assert_eq!(steps[2].event(), EventKind::AddressChange);
        let TakeoverStep::Orders(orders) = &steps[3] else {
            panic!("the last step is the orders: {steps:?}")
        };
        assert_eq!(orders.count, 1);
        assert!(orders.ship_to_new);
        assert_eq!(orders.total.get("JPY"), Some(&10000.0));
        assert_eq!(
            a.summary,
            "matsuda.mai4@example.net: password_reset_request from 104.66.169.185 (new to the \
             account) → address_change → 1 order(s) (JPY 10000) to a new ship-to within 15.0 h"
        );
    }

    #[test]
    fn risky_login_email_change_and_orders_is_critical() {
        let mut evs = history();
        let t = 20 * HOUR;
        evs.push(ev(t, EventKind::Login, "210.212.217.134", 9829));
        evs.push(ev(
            t + 14 * MINUTE,
            EventKind::EmailChange,
            "210.212.217.134",
            9829,
        ));
        evs.push(order(
            t + 31 * MINUTE,
            "210.212.217.134",
            9829,
            "Drop 9-9",
            true,
            6150.0,
        ));
        let alerts = run(&evs);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::Critical);
        assert_eq!(evidence(&alerts[0]).steps[0].event(), EventKind::Login);
        assert_eq!(evidence(&alerts[0]).steps[1].event(), EventKind::EmailChange);
    }

    #[test]
    fn reset_from_new_address_then_first_party_order_to_usual_ship_to_is_high() {
        let mut evs = history();
        evs.push(ev(
            HOUR,
            EventKind::PasswordResetRequest,
            "104.66.169.185",
            63949,
        ));
        evs.push(ev(
            2 * HOUR,
            EventKind::EmailChange,
            "104.66.169.185",
            63949,
        ));
        evs.push(order(
            3 * HOUR,
            HOME,
            HOME_ASN,
            "Tokyo 1-2-3",
            false,
            3000.0,
        ));
        let alerts = run(&evs);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].severity, Severity::High);
        assert!(!evidence(&alerts[0]).ship_to_new);
    }

    #[test]
    fn own_reset_change_and_order_from_home_is_low() {
        let mut evs = history();
        evs.push(ev(HOUR, EventKind::PasswordResetRequest, HOME, HOME_ASN));
        evs.push(address_change(2 * HOUR, HOME, HOME_ASN, "Osaka 4-5-6"));
        evs.push(order(
            3 * HOUR,
            HOME,
            HOME_ASN,
            "Osaka 4-5-6",
            false,
            3000.0,
        ));
        let alerts = run(&evs);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].severity, Severity::Low);
    }

    #[test]
    fn hard_negatives_stay_silent() {
        // The mover: address change and an order to it from home, no reset.
        let mut evs = history();
        evs.push(address_change(HOUR, HOME, HOME_ASN, "Osaka 4-5-6"));
        evs.push(order(
            2 * HOUR,
            HOME,
            HOME_ASN,
            "Osaka 4-5-6",
            false,
            3000.0,
        ));
        assert!(run(&evs).is_empty());
        // The resetter: reset, login, nothing else.
        let mut evs = history();
        evs.push(ev(HOUR, EventKind::PasswordResetRequest, HOME, HOME_ASN));
        evs.push(ev(
            HOUR + MINUTE,
            EventKind::PasswordResetComplete,
            HOME,
            HOME_ASN,
        ));
        evs.push(ev(HOUR + 2 * MINUTE, EventKind::Login, HOME, HOME_ASN));
        assert!(run(&evs).is_empty());
        // The bulk buyer: ten first-party orders from home to the usual ship-to.
        let mut evs = history();
        for i in 0..10 {
            evs.push(order(
                HOUR + i * MINUTE,
                HOME,
                HOME_ASN,
                "Tokyo 1-2-3",
                false,
                5808.0,
            ));
        }
        assert!(run(&evs).is_empty());
    }

    #[test]
    fn near_misses_out_of_order_too_slow_or_no_history() {
        // Order before the change: the chain never reaches an order after a change.
        let mut evs = history();
        evs.push(ev(
            HOUR,
            EventKind::PasswordResetRequest,
            "104.66.169.185",
            63949,
        ));
        evs.push(order(
            2 * HOUR,
            "104.66.169.185",
            63949,
            "Drop 9-9",
            true,
            9000.0,
        ));
        evs.push(address_change(
            3 * HOUR,
            "104.66.169.185",
            63949,
            "Drop 9-9",
        ));
        assert!(run(&evs).is_empty());
        // The order comes 73 h after the reset.
        let mut evs = history();
        evs.push(ev(
            HOUR,
            EventKind::PasswordResetRequest,
            "104.66.169.185",
            63949,
        ));
        evs.push(address_change(
            2 * HOUR,
            "104.66.169.185",
            63949,
            "Drop 9-9",
        ));
        evs.push(order(
            74 * HOUR,
            "104.66.169.185",
            63949,
            "Drop 9-9",
            true,
            9000.0,
        ));
        assert!(run(&evs).is_empty());
        // A first-ever login is not a risky login: nothing to compare it with.
        let evs = vec![
            ev(HOUR, EventKind::Login, "210.212.217.134", 9829),
            ev(2 * HOUR, EventKind::EmailChange, "210.212.217.134", 9829),
            order(3 * HOUR, "210.212.217.134", 9829, "Drop 9-9", true, 6150.0),
        ];
        assert!(run(&evs).is_empty());
        // A new address in the usual ASN (a dynamic home address) is not a risky login.
        let mut evs = history();
        evs.push(ev(HOUR, EventKind::Login, "211.17.139.5", HOME_ASN));
        evs.push(ev(
            2 * HOUR,
            EventKind::EmailChange,
            "211.17.139.5",
            HOME_ASN,
        ));
        evs.push(order(
            3 * HOUR,
            "211.17.139.5",
            HOME_ASN,
            "Tokyo 1-2-3",
            false,
            100.0,
        ));
        assert!(run(&evs).is_empty());
    }

    #[test]
    fn failures_and_events_without_account_are_ignored() {
        let mut e = ev(
            HOUR,
            EventKind::PasswordResetRequest,
            "104.66.169.185",
            63949,
        );
        e.account = None;
        let mut f = ev(
            HOUR,
            EventKind::PasswordResetRequest,
            "104.66.169.185",
            63949,
        );
        f.outcome = Outcome::Failure;
        let (alerts, d) = run_with(TakeoverConfig::default(), &[e, f]);
        assert!(alerts.is_empty());
        assert_eq!(d.chains, 0);
    }

    #[test]
    fn account_memory_is_bounded_and_evictions_counted() {
        let cfg = TakeoverConfig {
            max_accounts: 10,
            ..TakeoverConfig::default()
        };
        let evs: Vec<AuthEvent> = (0..50)
            .map(|i| {
                // Orders: a plain login leaves no state here (the history is shared).
                let mut e = order(i * MINUTE, HOME, HOME_ASN, "Tokyo 1-2-3", false, 1000.0);
                e.account = AccountKey::normalize(&format!("user{i}@example.com"));
                e
            })
            .collect();
        let (_, d) = run_with(cfg, &evs);
        assert!(d.accounts.len() <= 10, "{}", d.accounts.len());
        assert_eq!(d.evicted + d.accounts.len() as u64, 50);
        assert_eq!(
            d.counters()[1],
            ("takeover_sequence.evicted_accounts", d.evicted)
        );
    }

    #[test]
    fn the_memory_budget_sees_and_evicts_account_state() {
        let evs: Vec<AuthEvent> = (0..2_000)
            .map(|i| {
                // Orders: a plain login leaves no state here (the history is shared).
                let mut e = order(i * MINUTE, HOME, HOME_ASN, "Tokyo 1-2-3", false, 1000.0);
                e.account = AccountKey::normalize(&format!("user{i}@example.com"));
                e
            })
            .collect();
        let (_, mut d) = run_with(TakeoverConfig::default(), &evs);
        let before = d.state_bytes();
        // A ship-to remembered per account, at least.
        assert!(before > 2_000 * 64, "{before}");
        let evicted = d.evict_to(before / 2);
        assert!(d.state_bytes() <= before / 2, "{}", d.state_bytes());
        assert_eq!(evicted as usize + d.accounts.len(), 2_000);
        assert_eq!(d.evicted, evicted);
        // The most recently active accounts stay.
        let newest = d.hasher.hash_u64(
            AccountKey::normalize("user1999@example.com")
                .unwrap()
                .hash64(),
        );
        assert!(d.accounts.contains_key(&newest));
    }

    #[test]
    fn recent_keeps_the_most_recent_values() {
        let mut r = Recent::default();
        for i in 0..10u32 {
            r.note(Asn(i), Timestamp(i64::from(i)), 4);
        }
        r.note(Asn(7), Timestamp(20), 4);
        r.note(Asn(99), Timestamp(21), 4);
        assert!(r.known_before(Asn(7), Timestamp(100)));
        assert!(r.known_before(Asn(9), Timestamp(100)));
        assert!(
            !r.known_before(Asn(6), Timestamp(100)),
            "evicted as least recent"
        );
        assert!(!r.known_before(Asn(99), Timestamp(21)), "first seen at 21");
    }
}
