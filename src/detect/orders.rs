//! Order rules: `orders.bulk` (one account orders a lot) and `orders.drop_address` (one ship-to
//! receives orders from many accounts).
//!
//! Both look only at `order` events that name an account and did not fail: an access-log order
//! (`POST /checkout`) carries neither account nor ship-to, and the app log has the same order
//! with both, so nothing is counted twice. A failed order placed nothing.
//!
//! What makes bulk ordering suspicious is not the volume alone (a shop wants bulk buyers) but
//! where the goods go and who sells them: a takeover resells through third-party (marketplace)
//! sellers and ships to an address the account never used, the drop. So severity is driven by
//! the marketplace share and by whether the ship-to is new to the account; first-party goods to
//! an address the account already knew stay `low`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::alert::{Alert, Entity, EntityKind, Rule, Severity, thousands};
use crate::detect::{
    Detector, Episodes, HeapSize, RuleState, evict_oldest, evict_to_bytes, map_bytes,
    threshold_json,
};
use crate::event::{AccountKey, AddressHash, AuthEvent, EventKind, Outcome};
use crate::time::{DAY, HOUR, Span, Timestamp};
use crate::window::{KeyHasher, SlidingCount, SlidingDistinct};

/// Settings of `orders.bulk` (section `[detect.orders_bulk]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrdersBulkConfig {
    /// Turn the rule off.
    pub enabled: bool,
    /// Length of the sliding window over one account's orders.
    pub window: Span,
    /// Orders by one account within the window that open an alert.
    pub min_orders: u32,
    /// Total per currency (ISO 4217 code, upper case) within the window that opens an alert.
    /// Currencies not listed are only counted by `min_orders`.
    pub min_total: BTreeMap<String, u64>,
    /// Share of marketplace (third-party seller) orders in the window from which the orders
    /// count as marketplace orders (medium and above instead of low).
    pub marketplace_share: f64,
    /// A ship-to first seen by the account less than this long ago counts as new, when the
    /// account had other ship-tos before it or it arrived by an `address_change`.
    pub new_ship_to_age: Span,
    /// Ship-tos remembered per account (least recently used forgotten first).
    pub max_known_ship_tos: usize,
    /// An account with no order or address change for this long is forgotten.
    pub ship_to_memory: Span,
    /// At most this many accounts are tracked; beyond it the least recently active are evicted
    /// (and counted).
    pub max_tracked_accounts: usize,
    /// At most this many orders are kept per account and window.
    pub max_orders_per_account: usize,
}

impl Default for OrdersBulkConfig {
    fn default() -> OrdersBulkConfig {
        OrdersBulkConfig {
            enabled: true,
            window: Span(24 * HOUR),
            min_orders: 10,
            min_total: BTreeMap::from([
                ("EUR".to_string(), 1_000),
                ("JPY".to_string(), 100_000),
                ("USD".to_string(), 1_000),
            ]),
            marketplace_share: 0.5,
            new_ship_to_age: Span(7 * DAY),
            max_known_ship_tos: 8,
            ship_to_memory: Span(90 * DAY),
            max_tracked_accounts: 1_000_000,
            max_orders_per_account: 1_000,
        }
    }
}

/// Settings of `orders.drop_address` (section `[detect.orders_drop_address]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrdersDropAddressConfig {
    /// Turn the rule off.
    pub enabled: bool,
    /// Length of the sliding window over one ship-to's orders.
    pub window: Span,
    /// Distinct accounts ordering to one ship-to within the window that open an alert.
    pub min_distinct_accounts: u32,
    /// Distinct accounts that raise the alert to high.
    pub high_distinct_accounts: u32,
    /// Share of marketplace orders at or above which the orders count as marketplace orders;
    /// below it (first-party goods) the severity is one step lower.
    pub marketplace_share: f64,
    /// Marketplace orders in the window (with `marketplace_share` reached) that raise the
    /// severity one step.
    pub high_orders: u32,
    /// At most this many ship-tos are tracked; beyond it the least recently active are evicted
    /// (and counted).
    pub max_tracked_ship_tos: usize,
    /// At most this many orders are kept per ship-to and window.
    pub max_orders_per_ship_to: usize,
    /// Accounts listed in an alert's `accounts` sample.
    pub accounts_sample: usize,
}

impl Default for OrdersDropAddressConfig {
    fn default() -> OrdersDropAddressConfig {
        OrdersDropAddressConfig {
            enabled: true,
            window: Span(7 * DAY),
            min_distinct_accounts: 3,
            high_distinct_accounts: 5,
            marketplace_share: 0.5,
            high_orders: 10,
            max_tracked_ship_tos: 1_000_000,
            max_orders_per_ship_to: 10_000,
            accounts_sample: 20,
        }
    }
}

/// An amount as JSON: an integer when it is whole (yen), else two decimals.
fn amount_json(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!((x * 100.0).round() / 100.0)
    }
}

/// An amount for a summary: thousands separators when whole.
fn amount_text(x: f64) -> String {
    if x.fract() == 0.0 && (0.0..9.0e15).contains(&x) {
        thousands(x as u64)
    } else {
        format!("{x:.2}")
    }
}

/// One order inside an account's window.
#[derive(Debug, Serialize, Deserialize)]
struct OrderRec {
    ts: Timestamp,
    #[serde(with = "crate::detect::state::exact_f64")]
    amount: f64,
    currency: Option<Box<str>>,
    marketplace: bool,
    seller: Option<Box<str>>,
    ship_to: Option<AddressHash>,
    new_ship_to: bool,
}

/// A ship-to the account has used or set.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ShipToMemo {
    hash: AddressHash,
    first_seen: Timestamp,
    last_used: Timestamp,
    /// It arrived by an address change, or while the account already had other ship-tos: if it
    /// is also recent, it is new to the account.
    novel: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AccountState {
    orders: VecDeque<OrderRec>,
    ship_tos: Vec<ShipToMemo>,
    last_seen: Timestamp,
}

impl AccountState {
    /// Remembers `hash`, returning whether it is new to the account at `ts`.
    fn note_ship_to(
        &mut self,
        hash: AddressHash,
        ts: Timestamp,
        via_change: bool,
        cfg: &OrdersBulkConfig,
    ) -> bool {
        if let Some(m) = self.ship_tos.iter_mut().find(|m| m.hash == hash) {
            m.last_used = m.last_used.max(ts);
            return m.novel && ts.0.saturating_sub(m.first_seen.0) < cfg.new_ship_to_age.millis();
        }
        let novel = via_change || !self.ship_tos.is_empty();
        if self.ship_tos.len() >= cfg.max_known_ship_tos.max(1)
            && let Some(i) = self
                .ship_tos
                .iter()
                .enumerate()
                .min_by_key(|(_, m)| m.last_used)
                .map(|(i, _)| i)
        {
            self.ship_tos.swap_remove(i);
        }
        self.ship_tos.push(ShipToMemo {
            hash,
            first_seen: ts,
            last_used: ts,
            novel,
        });
        novel
    }
}

impl HeapSize for AccountState {
    fn heap_bytes(&self) -> usize {
        let strings: usize = self
            .orders
            .iter()
            .map(|o| {
                o.currency.as_ref().map_or(0, |c| c.len())
                    + o.seller.as_ref().map_or(0, |c| c.len())
            })
            .sum();
        self.orders.capacity() * std::mem::size_of::<OrderRec>()
            + strings
            + self.ship_tos.capacity() * std::mem::size_of::<ShipToMemo>()
    }
}

/// The `orders.bulk` detector.
#[derive(Debug, Serialize, Deserialize)]
pub struct OrdersBulkDetector {
    #[serde(skip)]
    cfg: OrdersBulkConfig,
    accounts: HashMap<AccountKey, AccountState, foldhash::quality::RandomState>,
    episodes: Episodes<AccountKey>,
    watermark: Timestamp,
    evicted: u64,
    events_since_sweep: u64,
}

impl OrdersBulkDetector {
    /// A detector with the given settings.
    pub fn new(cfg: OrdersBulkConfig) -> OrdersBulkDetector {
        OrdersBulkDetector {
            cfg,
            accounts: HashMap::default(),
            episodes: Episodes::new(Rule::OrdersBulk),
            watermark: Timestamp(i64::MIN),
            evicted: 0,
            events_since_sweep: 0,
        }
    }

    fn sweep(&mut self) {
        let horizon = self.watermark.0.saturating_sub(
            self.cfg
                .ship_to_memory
                .millis()
                .max(self.cfg.window.millis()),
        );
        self.accounts.retain(|_, s| s.last_seen.0 > horizon);
        self.evicted += evict_oldest(&mut self.accounts, self.cfg.max_tracked_accounts, |s| {
            s.last_seen.0
        });
        self.episodes
            .close_quiet(self.watermark, self.cfg.window.millis());
    }
}

impl Detector for OrdersBulkDetector {
    fn name(&self) -> &'static str {
        Rule::OrdersBulk.as_str()
    }

    fn observe(&mut self, ev: &AuthEvent, out: &mut Vec<Alert>) {
        if !self.cfg.enabled
            || !matches!(ev.kind, EventKind::Order | EventKind::AddressChange)
            || ev.outcome == Outcome::Failure
        {
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
        let details = ev.details.as_deref();
        let state = self.accounts.entry(account.clone()).or_default();
        state.last_seen = state.last_seen.max(ev.ts);
        if ev.kind == EventKind::AddressChange {
            if let Some(addr) = details.and_then(|d| d.address) {
                state.note_ship_to(addr, ev.ts, true, &self.cfg);
            }
            return;
        }
        let ship_to = details.and_then(|d| d.ship_to);
        let new_ship_to = match ship_to {
            Some(h) => state.note_ship_to(h, ev.ts, false, &self.cfg),
            None => false,
        };
        let window = self.cfg.window.millis();
        let horizon = self.watermark.0.saturating_sub(window);
        while state.orders.front().is_some_and(|o| o.ts.0 <= horizon) {
            state.orders.pop_front();
        }
        if state.orders.len() >= self.cfg.max_orders_per_account.max(1) {
            state.orders.pop_front();
        }
        state.orders.push_back(OrderRec {
            ts: ev.ts,
            amount: details
                .and_then(|d| d.amount)
                .filter(|a| a.is_finite() && *a > 0.0)
                .unwrap_or(0.0),
            currency: details.and_then(|d| d.currency.clone()),
            marketplace: details.and_then(|d| d.marketplace).unwrap_or(false),
            seller: details.and_then(|d| d.seller.clone()),
            ship_to,
            new_ship_to,
        });

        let orders = state.orders.len() as u64;
        let mut totals: BTreeMap<&str, f64> = BTreeMap::new();
        let mut sellers: BTreeSet<&str> = BTreeSet::new();
        let mut ship_tos: BTreeMap<AddressHash, bool> = BTreeMap::new();
        let mut marketplace = 0u64;
        for o in &state.orders {
            if let Some(c) = &o.currency {
                *totals.entry(c).or_insert(0.0) += o.amount;
            }
            if let Some(s) = &o.seller {
                sellers.insert(s);
            }
            if let Some(h) = o.ship_to {
                *ship_tos.entry(h).or_insert(false) |= o.new_ship_to;
            }
            marketplace += u64::from(o.marketplace);
        }
        let mut crossed = Map::new();
        if orders >= u64::from(self.cfg.min_orders) {
            crossed.insert(
                "orders".into(),
                json!({"value": orders, "threshold": self.cfg.min_orders,
                       "exceeded_by": orders - u64::from(self.cfg.min_orders)}),
            );
        }
        let mut total_crossed = false;
        for (cur, total) in &totals {
            if let Some(&min) = self.cfg.min_total.get(*cur)
                && *total >= min as f64
            {
                total_crossed = true;
                crossed.insert(
                    format!("total_{cur}"),
                    json!({"value": amount_json(*total), "threshold": min,
                           "exceeded_by": amount_json(*total - min as f64)}),
                );
            }
        }
        if crossed.is_empty() {
            self.episodes.touch(account, ev.ts);
            return;
        }
        let share = marketplace as f64 / orders as f64;
        let is_marketplace = share >= self.cfg.marketplace_share;
        let any_new = ship_tos.values().any(|n| *n);
        let both = total_crossed && crossed.contains_key("orders");
        let severity = match (is_marketplace, any_new) {
            (true, true) if both => Severity::Critical,
            (true, true) => Severity::High,
            (true, false) => Severity::Medium,
            (false, true) => Severity::Medium,
            (false, false) => Severity::Low,
        };
        let first = state.orders.front().map_or(ev.ts, |o| o.ts);
        let entity = Entity {
            kind: EntityKind::Account,
            value: account.as_str().to_string(),
        };
        self.episodes
            .close_quiet(self.watermark, self.cfg.window.millis());
        let Some(ep) = self
            .episodes
            .crossed(account, &entity, first, ev.ts, severity)
        else {
            return;
        };

        let totals_text: Vec<String> = totals
            .iter()
            .map(|(c, t)| format!("{c} {}", amount_text(*t)))
            .collect();
        // Each ship-to: new to the account, known from before this window, or first used in it
        // by an account with no earlier ship-to to compare with.
        let statuses: Vec<(AddressHash, &'static str)> = ship_tos
            .iter()
            .map(|(h, new)| {
                let status = if *new {
                    "new"
                } else if state
                    .ship_tos
                    .iter()
                    .any(|m| m.hash == *h && m.first_seen < first)
                {
                    "known"
                } else {
                    "no_history"
                };
                (*h, status)
            })
            .collect();
        let count = |s: &str| statuses.iter().filter(|(_, x)| *x == s).count();
        let mut parts = Vec::new();
        for (status, text) in [
            ("new", "new to the account"),
            ("known", "known"),
            ("no_history", "without earlier ship-tos to compare"),
        ] {
            let n = count(status);
            if n > 0 {
                parts.push(format!(
                    "{n} ship-to{} {text}",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
        let ship_text = if parts.is_empty() {
            "no ship-to given".to_string()
        } else {
            format!("to {}", parts.join(", "))
        };
        let summary = format!(
            "{} placed {} orders ({} marketplace, {} seller{}) totalling {} in {}, {}",
            entity.value,
            thousands(orders),
            thousands(marketplace),
            sellers.len(),
            if sellers.len() == 1 { "" } else { "s" },
            if totals_text.is_empty() {
                "no amount".to_string()
            } else {
                totals_text.join(" + ")
            },
            self.cfg.window,
            ship_text
        );
        let mut evidence = Map::new();
        evidence.insert("orders".into(), json!(orders));
        evidence.insert(
            "totals".into(),
            Value::Object(
                totals
                    .iter()
                    .map(|(c, t)| (c.to_string(), amount_json(*t)))
                    .collect(),
            ),
        );
        evidence.insert("marketplace_orders".into(), json!(marketplace));
        evidence.insert(
            "marketplace_share".into(),
            json!((share * 100.0).round() / 100.0),
        );
        evidence.insert("distinct_sellers".into(), json!(sellers.len()));
        evidence.insert(
            "ship_tos".into(),
            Value::Array(
                statuses
                    .iter()
                    .map(|(h, s)| json!({"ship_to": h.to_string(), "status": s}))
                    .collect(),
            ),
        );
        evidence.insert("window".into(), json!(self.cfg.window.to_string()));
        evidence.insert("thresholds_crossed".into(), Value::Object(crossed));
        out.push(Alert {
            id: ep.id,
            rule: Rule::OrdersBulk,
            severity,
            entity,
            first_seen: ep.first_seen,
            last_seen: ev.ts,
            asn: None,
            as_org: None,
            summary,
            evidence,
            accounts: Vec::new(),
        });
    }

    fn advance(&mut self, watermark: Timestamp, _out: &mut Vec<Alert>) {
        if watermark > self.watermark {
            self.watermark = watermark;
            self.sweep();
        }
    }
}

impl RuleState for OrdersBulkDetector {
    fn state_name(&self) -> &'static str {
        self.name()
    }

    crate::detect::state::snapshot_methods!();

    fn state_bytes(&self) -> usize {
        map_bytes(&self.accounts)
    }

    fn evict_to(&mut self, bytes: usize) -> u64 {
        let n = evict_to_bytes(&mut self.accounts, bytes, |s| s.last_seen.0);
        self.evicted += n;
        n
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("orders_bulk.tracked_accounts", self.accounts.len() as u64),
            ("orders_bulk.evicted_accounts", self.evicted),
        ]
    }
}

/// Per-ship-to state.
#[derive(Debug, Serialize, Deserialize)]
struct ShipToState {
    /// Orders keyed by a seeded hash of the account.
    accounts: SlidingDistinct,
    marketplace: SlidingCount,
    /// Accounts with the time of their latest order here, so the sample lists only accounts
    /// still inside the window.
    sample: Vec<(AccountKey, Timestamp)>,
    last_seen: Timestamp,
}

impl HeapSize for ShipToState {
    fn heap_bytes(&self) -> usize {
        self.accounts.heap_bytes()
            + self.marketplace.heap_bytes()
            + self.sample.capacity() * std::mem::size_of::<(AccountKey, Timestamp)>()
            + self
                .sample
                .iter()
                .map(|(a, _)| a.heap_bytes())
                .sum::<usize>()
    }
}

/// The `orders.drop_address` detector.
#[derive(Debug, Serialize, Deserialize)]
pub struct OrdersDropAddressDetector {
    #[serde(skip)]
    cfg: OrdersDropAddressConfig,
    ship_tos: HashMap<AddressHash, ShipToState, foldhash::quality::RandomState>,
    episodes: Episodes<AddressHash>,
    hasher: KeyHasher,
    watermark: Timestamp,
    evicted: u64,
    events_since_sweep: u64,
}

impl OrdersDropAddressDetector {
    /// A detector with the given settings.
    pub fn new(cfg: OrdersDropAddressConfig) -> OrdersDropAddressDetector {
        OrdersDropAddressDetector {
            cfg,
            ship_tos: HashMap::default(),
            episodes: Episodes::new(Rule::OrdersDropAddress),
            hasher: KeyHasher::default(),
            watermark: Timestamp(i64::MIN),
            evicted: 0,
            events_since_sweep: 0,
        }
    }

    fn sweep(&mut self) {
        let window = self.cfg.window.millis();
        let horizon = self.watermark.0.saturating_sub(window);
        self.ship_tos.retain(|_, s| s.last_seen.0 > horizon);
        self.evicted += evict_oldest(&mut self.ship_tos, self.cfg.max_tracked_ship_tos, |s| {
            s.last_seen.0
        });
        self.episodes.close_quiet(self.watermark, window);
    }
}

/// One severity step up or down.
fn step(s: Severity, up: bool) -> Severity {
    use Severity::*;
    match (s, up) {
        (Info, true) => Low,
        (Low, true) => Medium,
        (Medium, true) => High,
        (High | Critical, true) => Critical,
        (Info | Low, false) => Info,
        (Medium, false) => Low,
        (High, false) => Medium,
        (Critical, false) => High,
    }
}

impl Detector for OrdersDropAddressDetector {
    fn name(&self) -> &'static str {
        Rule::OrdersDropAddress.as_str()
    }

    fn observe(&mut self, ev: &AuthEvent, out: &mut Vec<Alert>) {
        if !self.cfg.enabled || ev.kind != EventKind::Order || ev.outcome == Outcome::Failure {
            return;
        }
        let Some(account) = &ev.account else { return };
        let Some(details) = ev.details.as_deref() else {
            return;
        };
        let Some(ship_to) = details.ship_to else {
            return;
        };
        if ev.ts > self.watermark {
            self.watermark = ev.ts;
        }
        self.events_since_sweep += 1;
        if self.events_since_sweep >= 65_536 || self.ship_tos.len() > self.cfg.max_tracked_ship_tos
        {
            self.events_since_sweep = 0;
            self.sweep();
        }
        let window = self.cfg.window.millis();
        let max_orders = self.cfg.max_orders_per_ship_to;
        let state = self.ship_tos.entry(ship_to).or_insert_with(|| ShipToState {
            accounts: SlidingDistinct::new(max_orders),
            marketplace: SlidingCount::default(),
            sample: Vec::new(),
            last_seen: ev.ts,
        });
        let now = self.watermark;
        state.accounts.expire(now, window);
        state.marketplace.expire(now, window);
        let horizon = now.0.saturating_sub(window);
        state.sample.retain(|(_, t)| t.0 > horizon);
        state.last_seen = state.last_seen.max(ev.ts);
        state
            .accounts
            .push(ev.ts, self.hasher.hash_u64(account.hash64()));
        if details.marketplace == Some(true) {
            state.marketplace.push(ev.ts);
        }
        if let Some(slot) = state.sample.iter_mut().find(|(a, _)| a == account) {
            slot.1 = slot.1.max(ev.ts);
        } else if state.sample.len() < self.cfg.accounts_sample {
            state.sample.push((account.clone(), ev.ts));
        }
        let distinct = state.accounts.distinct() as u32;
        if distinct < self.cfg.min_distinct_accounts {
            self.episodes.touch(&ship_to, ev.ts);
            return;
        }
        let orders = state.accounts.len() as u64;
        let marketplace = state.marketplace.len() as u64;
        let share = marketplace as f64 / orders.max(1) as f64;
        let is_marketplace = share >= self.cfg.marketplace_share;
        let mut severity = if distinct >= self.cfg.high_distinct_accounts {
            Severity::High
        } else {
            Severity::Medium
        };
        if !is_marketplace {
            severity = step(severity, false);
        } else if marketplace >= u64::from(self.cfg.high_orders) {
            severity = step(severity, true);
        }
        let first = state.accounts.oldest().unwrap_or(ev.ts);
        let entity = Entity {
            kind: EntityKind::ShipTo,
            value: ship_to.to_string(),
        };
        self.episodes.close_quiet(now, window);
        let Some(ep) = self
            .episodes
            .crossed(&ship_to, &entity, first, ev.ts, severity)
        else {
            return;
        };
        let mut crossed = Map::new();
        crossed.insert(
            "distinct_accounts".into(),
            threshold_json(distinct, self.cfg.min_distinct_accounts),
        );
        if is_marketplace && marketplace >= u64::from(self.cfg.high_orders) {
            crossed.insert(
                "marketplace_orders".into(),
                json!({"value": marketplace, "threshold": self.cfg.high_orders,
                       "exceeded_by": marketplace - u64::from(self.cfg.high_orders)}),
            );
        }
        let summary = format!(
            "ship-to {} received {} orders from {} distinct accounts in {} ({}% marketplace)",
            entity.value,
            thousands(orders),
            distinct,
            self.cfg.window,
            (share * 100.0).round() as u32
        );
        let mut evidence = Map::new();
        evidence.insert("orders".into(), json!(orders));
        evidence.insert("distinct_accounts".into(), json!(distinct));
        evidence.insert("marketplace_orders".into(), json!(marketplace));
        evidence.insert(
            "marketplace_share".into(),
            json!((share * 100.0).round() / 100.0),
        );
        evidence.insert("window".into(), json!(self.cfg.window.to_string()));
        evidence.insert("thresholds_crossed".into(), Value::Object(crossed));
        let mut accounts: Vec<String> = state
            .sample
            .iter()
            .map(|(a, _)| a.as_str().to_string())
            .collect();
        accounts.sort();
        out.push(Alert {
            id: ep.id,
            rule: Rule::OrdersDropAddress,
            severity,
            entity,
            first_seen: ep.first_seen,
            last_seen: ev.ts,
            asn: None,
            as_org: None,
            summary,
            evidence,
            accounts,
        });
    }

    fn advance(&mut self, watermark: Timestamp, _out: &mut Vec<Alert>) {
        if watermark > self.watermark {
            self.watermark = watermark;
            self.sweep();
        }
    }
}

impl RuleState for OrdersDropAddressDetector {
    fn state_name(&self) -> &'static str {
        self.name()
    }

    crate::detect::state::snapshot_methods!();

    fn state_bytes(&self) -> usize {
        map_bytes(&self.ship_tos)
    }

    fn evict_to(&mut self, bytes: usize) -> u64 {
        let n = evict_to_bytes(&mut self.ship_tos, bytes, |s| s.last_seen.0);
        self.evicted += n;
        n
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "orders_drop_address.tracked_ship_tos",
                self.ship_tos.len() as u64,
            ),
            ("orders_drop_address.evicted_ship_tos", self.evicted),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LineMeta;
    use crate::time::MINUTE;

    const DROP: &str = "〒570-0819 大阪府東大阪市菱江1-26-4 第二倉庫 B棟";
    const HOME: &str = "〒132-8030 北海道札幌市中央区北一条1-2-3";

    fn order(t: i64, account: &str, amount: f64, marketplace: bool, ship_to: &str) -> AuthEvent {
        let mut ev = AuthEvent::new(Timestamp(t), EventKind::Order, LineMeta::default());
        ev.account = AccountKey::normalize(account);
        ev.ip = Some("61.193.172.34".parse().unwrap());
        ev.outcome = Outcome::Success;
        let d = ev.details_mut();
        d.amount = Some(amount);
        d.currency = Some("JPY".into());
        d.marketplace = Some(marketplace);
        d.seller = Some(if marketplace {
            format!("seller-{}", t % 3).into()
        } else {
            "example-shop".into()
        });
        d.ship_to = AddressHash::of(ship_to);
        ev
    }

    fn address_change(t: i64, account: &str, address: &str) -> AuthEvent {
        let mut ev = AuthEvent::new(Timestamp(t), EventKind::AddressChange, LineMeta::default());
        ev.account = AccountKey::normalize(account);
        ev.outcome = Outcome::Success;
        ev.details_mut().address = AddressHash::of(address);
        ev
    }

    fn run_bulk(events: &[AuthEvent]) -> Vec<Alert> {
        let mut d = OrdersBulkDetector::new(OrdersBulkConfig::default());
        let mut out = Vec::new();
        for ev in events {
            d.observe(ev, &mut out);
        }
        out
    }

    fn run_drop(events: &[AuthEvent]) -> Vec<Alert> {
        let mut d = OrdersDropAddressDetector::new(OrdersDropAddressConfig::default());
        let mut out = Vec::new();
        for ev in events {
            d.observe(ev, &mut out);
        }
        out
    }

    #[test]
    fn a_restart_keeps_bulk_windows_ship_tos_and_episodes() {
        use crate::detect::state::testing::{events, restart_anywhere, restart_at};
        let a = "Matsuda.Mai4@example.net";
        let mut evs = vec![address_change(0, a, DROP)];
        evs.extend(
            (1..=12).map(|i| order(13 * 3_600_000 + i * 6 * MINUTE, a, 15_000.0, true, DROP)),
        );
        // Amounts with no exact binary form: the totals must come back to the last bit.
        evs.extend((1..=12).map(|i| {
            order(
                13 * 3_600_000 + i * 7 * MINUTE,
                "b@example.com",
                8_333.33,
                false,
                HOME,
            )
        }));
        evs.push(order(
            14 * 3_600_000,
            "b@example.com",
            f64::NAN,
            false,
            HOME,
        ));
        evs.sort_by_key(|e| e.ts);
        let inputs = events(&evs);
        let make = || OrdersBulkDetector::new(OrdersBulkConfig::default());
        let all = restart_anywhere(make, &inputs, 2);
        assert_eq!(all.len(), 3, "{all:#?}");
        // Open at high after the 7th order: the 10th raises it to critical under the same id.
        let at = |t: i64| evs.iter().position(|e| e.ts.0 >= t).unwrap();
        let (before, after) = restart_at(make, &inputs, at(13 * 3_600_000 + 50 * MINUTE));
        let critical = after
            .iter()
            .find(|x| x.entity.value == "matsuda.mai4@example.net");
        assert_eq!(
            critical.map(|x| (x.severity, &x.id)),
            Some((Severity::Critical, &before[0].id))
        );
    }

    #[test]
    fn a_restart_keeps_drop_windows_samples_and_episodes() {
        use crate::detect::state::testing::{events, restart_anywhere, restart_at};
        let accounts = [
            "a@example.net",
            "b@example.jp",
            "c@example.com",
            "d@example.com",
        ];
        let evs: Vec<_> = "001020300101200000"
            .bytes()
            .enumerate()
            .map(|(t, c)| {
                let acct = accounts[usize::from(c - b'0')];
                order(t as i64 * 10 * MINUTE, acct, 9_000.0, true, DROP)
            })
            .collect();
        let inputs = events(&evs);
        let make = || OrdersDropAddressDetector::new(OrdersDropAddressConfig::default());
        let all = restart_anywhere(make, &inputs, 1);
        assert_eq!(all.len(), 2, "{all:#?}");
        let (before, after) = restart_at(make, &inputs, 6);
        assert_eq!((before.len(), after.len()), (1, 1));
        assert_eq!(
            (after[0].severity, &after[0].id),
            (Severity::High, &before[0].id)
        );
        assert_eq!(after[0].accounts.len(), 4);
    }

    #[test]
    fn takeover_marketplace_orders_to_a_changed_address_are_high_then_critical() {
        let a = "Matsuda.Mai4@example.net";
        let mut events = vec![address_change(0, a, DROP)];
        // The drop spelled differently (full-width space, lower-case b): same hash.
        let spelled = "〒570-0819　大阪府東大阪市菱江1-26-4 第二倉庫 b棟";
        events.extend((1..=12).map(|i| {
            let mut ev = order(13 * 3_600_000 + i * 6 * MINUTE, a, 15_000.0, true, spelled);
            ev.details_mut().seller = Some(format!("seller-{}", i % 3).into());
            ev
        }));
        let alerts = run_bulk(&events);
        assert_eq!(alerts.len(), 2, "{alerts:#?}");
        let (open, rise) = (&alerts[0], &alerts[1]);
        assert_eq!(open.rule, Rule::OrdersBulk);
        assert_eq!(open.entity.value, "matsuda.mai4@example.net");
        // The 7th order crosses ¥100,000 (105,000): marketplace + new ship-to = high.
        assert_eq!(open.severity, Severity::High);
        assert_eq!(open.evidence["orders"], json!(7));
        assert_eq!(open.evidence["totals"], json!({"JPY": 105_000}));
        assert_eq!(open.evidence["marketplace_share"], json!(1.0));
        assert_eq!(open.evidence["distinct_sellers"], json!(3));
        let drop = AddressHash::of(DROP).unwrap().to_string();
        assert_eq!(
            open.evidence["ship_tos"],
            json!([{"ship_to": drop, "status": "new"}])
        );
        assert_eq!(
            open.evidence["thresholds_crossed"],
            json!({"total_JPY": {"value": 105_000, "threshold": 100_000, "exceeded_by": 5_000}})
        );
        assert_eq!(open.first_seen, Timestamp(13 * 3_600_000 + 6 * MINUTE));
        assert_eq!(
            open.summary,
            "matsuda.mai4@example.net placed 7 orders (7 marketplace, 3 sellers) \
             totalling JPY 105,000 in 1d, to 1 ship-to new to the account"
        );
        // The 10th order crosses the count too: critical, same episode.
        assert_eq!(rise.severity, Severity::Critical);
        assert_eq!(rise.id, open.id);
        assert_eq!(rise.evidence["orders"], json!(10));
        assert_eq!(
            rise.evidence["thresholds_crossed"]["orders"]["exceeded_by"],
            json!(0)
        );
    }

    #[test]
    fn nine_orders_under_the_total_is_a_near_miss() {
        let events: Vec<_> = (0..9)
            .map(|i| order(i * MINUTE, "a@example.com", 11_111.0, true, DROP))
            .collect();
        assert_eq!(run_bulk(&events).len(), 0);
    }

    #[test]
    fn first_party_bulk_buyer_to_the_usual_ship_to_stays_low() {
        let b = "ryo.ishii@example.net";
        // An order to the usual ship-to a month ago, then 10 first-party orders (¥58,080).
        let mut events = vec![order(0, b, 3_000.0, false, HOME)];
        let amounts = [
            4770.0, 5990.0, 8640.0, 7650.0, 4430.0, 4230.0, 5370.0, 4990.0, 7960.0, 4050.0,
        ];
        let start = 30 * DAY;
        events.extend(
            amounts
                .iter()
                .enumerate()
                .map(|(i, a)| order(start + i as i64 * 4 * MINUTE, b, *a, false, HOME)),
        );
        let alerts = run_bulk(&events);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::Low);
        assert_eq!(alerts[0].evidence["totals"], json!({"JPY": 58_080}));
        assert_eq!(alerts[0].evidence["marketplace_orders"], json!(0));
        assert_eq!(alerts[0].evidence["ship_tos"][0]["status"], json!("known"));
    }

    #[test]
    fn a_ship_to_beside_an_earlier_one_is_new_and_failed_orders_do_not_count() {
        let a = "c@example.com";
        let mut events = vec![order(0, a, 1_000.0, false, HOME)];
        for i in 1..=10 {
            let mut ev = order(DAY + i * MINUTE, a, 2_000.0, true, DROP);
            events.push(ev.clone());
            ev.outcome = Outcome::Failure;
            events.push(ev);
        }
        let alerts = run_bulk(&events);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::High);
        assert_eq!(alerts[0].evidence["orders"], json!(10));
    }

    #[test]
    fn odd_amounts_and_missing_details_count_orders_but_no_total() {
        let mut events: Vec<_> = (0..10)
            .map(|i| {
                let mut ev = order(i * MINUTE, "o@example.com", f64::NAN, false, HOME);
                ev.ip = Some("2001:db8::5".parse().unwrap());
                ev
            })
            .collect();
        events[3].details = None;
        events[4].details_mut().amount = Some(-5.0);
        events[5].details_mut().currency = None;
        let alerts = run_bulk(&events);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].evidence["orders"], json!(10));
        assert_eq!(alerts[0].evidence["totals"], json!({"JPY": 0}));
        assert_eq!(alerts[0].severity, Severity::Low);
    }

    #[test]
    fn orders_without_an_account_are_ignored() {
        let events: Vec<_> = (0..50)
            .map(|i| {
                let mut ev = order(i * MINUTE, "x", 50_000.0, true, DROP);
                ev.account = None;
                ev
            })
            .collect();
        assert!(run_bulk(&events).is_empty());
        assert!(run_drop(&events).is_empty());
    }

    #[test]
    fn bulk_memory_is_bounded() {
        let cfg = OrdersBulkConfig {
            max_tracked_accounts: 1_000,
            ..OrdersBulkConfig::default()
        };
        let mut d = OrdersBulkDetector::new(cfg);
        let mut out = Vec::new();
        for i in 0..20_000 {
            d.observe(&order(i, &format!("u{i}"), 1.0, false, HOME), &mut out);
        }
        assert!(d.accounts.len() <= 1_001, "{}", d.accounts.len());
        assert!(d.evicted > 0);
        assert!(out.is_empty());
    }

    #[test]
    fn known_ship_tos_are_bounded_per_account() {
        let mut d = OrdersBulkDetector::new(OrdersBulkConfig::default());
        let mut out = Vec::new();
        for i in 0..100 {
            d.observe(
                &order(i * DAY, "m", 1.0, false, &format!("street {i}")),
                &mut out,
            );
        }
        let s = d.accounts.values().next().unwrap();
        assert_eq!(s.ship_tos.len(), 8);
    }

    #[test]
    fn drop_address_from_four_accounts_rises_with_marketplace_volume() {
        let accounts = [
            "a@example.net",
            "b@example.jp",
            "c@example.com",
            "d@example.com",
        ];
        // 18 marketplace orders: a 12, b 3, c 2, d 1; the third account comes with order 5.
        let evs: Vec<_> = "001020300101200000"
            .bytes()
            .enumerate()
            .map(|(t, c)| {
                let acct = accounts[usize::from(c - b'0')];
                order(t as i64 * 10 * MINUTE, acct, 9_000.0, true, DROP)
            })
            .collect();
        let alerts = run_drop(&evs);
        assert_eq!(alerts.len(), 2, "{alerts:#?}");
        let drop = AddressHash::of(DROP).unwrap().to_string();
        assert_eq!(alerts[0].entity.kind, EntityKind::ShipTo);
        assert_eq!(alerts[0].entity.value, drop);
        assert_eq!(alerts[0].severity, Severity::Medium);
        assert_eq!(alerts[0].evidence["distinct_accounts"], json!(3));
        assert_eq!(alerts[0].evidence["orders"], json!(5));
        assert_eq!(alerts[1].severity, Severity::High);
        assert_eq!(alerts[1].id, alerts[0].id);
        assert_eq!(alerts[1].evidence["orders"], json!(10));
        assert_eq!(alerts[1].evidence["distinct_accounts"], json!(4));
        assert_eq!(
            alerts[1].summary,
            format!(
                "ship-to {drop} received 10 orders from 4 distinct accounts in 7d (100% marketplace)"
            )
        );
        assert!(!alerts[1].summary.contains("大阪"));
        assert_eq!(alerts[1].accounts.len(), 4);
    }

    #[test]
    fn household_and_mover_are_not_drops_and_three_first_party_is_low() {
        let household = vec![
            order(0, "ikeda.ayaka10@example.com", 3_000.0, false, HOME),
            order(DAY, "jiro.fujiwara@example.com", 4_000.0, true, HOME),
            order(2 * DAY, "ikeda.ayaka10@example.com", 3_000.0, false, HOME),
        ];
        assert!(run_drop(&household).is_empty());
        let mut family = household.clone();
        family.push(order(3 * DAY, "third@example.com", 1_000.0, false, HOME));
        let alerts = run_drop(&family);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].severity, Severity::Low);
        // Three accounts, but spread over more than the 7-day window: nothing.
        let slow = vec![
            order(0, "a", 1.0, true, DROP),
            order(4 * DAY, "b", 1.0, true, DROP),
            order(8 * DAY, "c", 1.0, true, DROP),
        ];
        assert!(run_drop(&slow).is_empty());
    }

    #[test]
    fn the_accounts_sample_lists_only_accounts_inside_the_window() {
        let events = vec![
            order(0, "old@example.com", 1.0, true, DROP),
            order(8 * DAY, "b@example.com", 1.0, true, DROP),
            order(8 * DAY + 1, "c@example.com", 1.0, true, DROP),
            order(8 * DAY + 2, "d@example.com", 1.0, true, DROP),
        ];
        let alerts = run_drop(&events);
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            alerts[0].accounts,
            vec!["b@example.com", "c@example.com", "d@example.com"]
        );
        assert_eq!(alerts[0].first_seen, Timestamp(8 * DAY));
    }

    #[test]
    fn nonsense_config_values_name_their_key() {
        let parse = |t: &str| {
            crate::config::Config::from_toml(t, std::path::Path::new("t.toml"))
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        let err = parse("[detect.orders_bulk]\nmarketplace_share = 1.5\n");
        assert!(
            err.contains("detect.orders_bulk.marketplace_share"),
            "{err}"
        );
        let err = parse("[detect.orders_bulk.min_total]\nJPY = 0\n");
        assert!(err.contains("detect.orders_bulk.min_total.JPY"), "{err}");
        let err = parse("[detect.orders_drop_address]\nmin_distinct_accounts = 1\n");
        assert!(
            err.contains("detect.orders_drop_address.min_distinct_accounts"),
            "{err}"
        );
        let err = parse("[detect.reset_flood]\nmin_codes_per_account = 0\n");
        assert!(
            err.contains("detect.reset_flood.min_codes_per_account"),
            "{err}"
        );
    }
}
