//! The `orders.bulk` detector.


use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Entity, Rule, Severity, thousands};
use crate::detect::{
    Detector, Episodes, HeapSize, RuleState, ThresholdCrossed, evict_oldest, evict_to_bytes,
    map_bytes,
};
use crate::event::{AccountKey, AddressHash, AuthEvent, EventKind, Outcome};
use crate::time::Timestamp;

use super::{
    Amount, OrdersBulkConfig, OrdersBulkEvidence, OrdersBulkThresholds, ShipToSeen, ShipToStatus,
};


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
        let mut crossed = OrdersBulkThresholds {
            orders: (orders >= u64::from(self.cfg.min_orders)).then(|| ThresholdCrossed {
                exceeded_by: orders - u64::from(self.cfg.min_orders),
                threshold: self.cfg.min_orders,
                value: orders,
            }),
            totals: BTreeMap::new(),
        };
        for (cur, total) in &totals {
            if let Some(&min) = self.cfg.min_total.get(*cur)
                && *total >= min as f64
            {
                crossed.totals.insert(
                    cur.to_string(),
                    ThresholdCrossed {
                        exceeded_by: Amount(*total - min as f64),
                        threshold: min,
                        value: Amount(*total),
                    },
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
        let both = !crossed.totals.is_empty() && crossed.orders.is_some();
        let severity = match (is_marketplace, any_new) {
            (true, true) if both => Severity::Critical,
            (true, true) => Severity::High,
            (true, false) => Severity::Medium,
            (false, true) => Severity::Medium,
            (false, false) => Severity::Low,
        };
        let first = state.orders.front().map_or(ev.ts, |o| o.ts);
        let entity = Entity::account(account);
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
        let statuses: Vec<(AddressHash, ShipToStatus)> = ship_tos
            .iter()
            .map(|(h, new)| {
                let status = if *new {
                    ShipToStatus::New
                } else if state
                    .ship_tos
                    .iter()
                    .any(|m| m.hash == *h && m.first_seen < first)
                {
                    ShipToStatus::Known
                } else {
                    ShipToStatus::NoHistory
                };
                (*h, status)
            })
            .collect();
        let count = |s: ShipToStatus| statuses.iter().filter(|(_, x)| *x == s).count();
        let mut parts = Vec::new();
        for (status, text) in [
            (ShipToStatus::New, "new to the account"),
            (ShipToStatus::Known, "known"),
            (ShipToStatus::NoHistory, "without earlier ship-tos to compare"),
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
        let evidence = OrdersBulkEvidence {
            distinct_sellers: sellers.len(),
            marketplace_orders: marketplace,
            marketplace_share: (share * 100.0).round() / 100.0,
            orders,
            ship_tos: statuses
                .iter()
                .map(|&(ship_to, status)| ShipToSeen { ship_to, status })
                .collect(),
            thresholds_crossed: crossed,
            totals: totals
                .iter()
                .map(|(c, t)| (c.to_string(), Amount(*t)))
                .collect(),
            window: self.cfg.window.to_string(),
        };
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
            evidence: evidence.into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed evidence of a `orders_bulk` alert.
    fn ev(a: &Alert) -> &OrdersBulkEvidence {
        a.evidence.orders_bulk().expect("an orders_bulk alert")
    }
    use crate::time::{DAY};
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
        assert_eq!(ev(open).orders, 7);
        assert_eq!(ev(open).totals, BTreeMap::from([("JPY".into(), Amount(105_000.0))]));
        assert_eq!(ev(open).marketplace_share, 1.0);
        assert_eq!(ev(open).distinct_sellers, 3);
        let drop = AddressHash::of(DROP).unwrap();
        assert_eq!(
            ev(open).ship_tos,
            [ShipToSeen {
                ship_to: drop,
                status: ShipToStatus::New
            }]
        );
        // As the contract writes it: whole yen as integers, the total under `total_JPY`.
        assert_eq!(
            serde_json::to_value(&ev(open).thresholds_crossed).unwrap(),
            serde_json::json!({"total_JPY": {"value": 105_000, "threshold": 100_000, "exceeded_by": 5_000}})
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
        assert_eq!(ev(rise).orders, 10);
        assert_eq!(
            ev(rise).thresholds_crossed.orders.map(|o| o.exceeded_by),
            Some(0)
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
        assert_eq!(ev(&alerts[0]).totals, BTreeMap::from([("JPY".into(), Amount(58_080.0))]));
        assert_eq!(ev(&alerts[0]).marketplace_orders, 0);
        assert_eq!(ev(&alerts[0]).ship_tos[0].status, ShipToStatus::Known);
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
        assert_eq!(ev(&alerts[0]).orders, 10);
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
        assert_eq!(ev(&alerts[0]).orders, 10);
        assert_eq!(ev(&alerts[0]).totals, BTreeMap::from([("JPY".into(), Amount(0.0))]));
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
