//! The `orders.drop_address` detector.


use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Entity, Rule, Severity, thousands};
use crate::detect::{
    Detector, Episodes, HeapSize, RuleState, evict_oldest, evict_to_bytes, map_bytes,
    ThresholdCrossed,
};
use crate::event::{AccountKey, AddressHash, AuthEvent, EventKind, Outcome};
use crate::time::Timestamp;
use crate::window::{KeyHasher, SlidingCount, SlidingDistinct};

use super::{OrdersDropAddressConfig, OrdersDropAddressEvidence, OrdersDropAddressThresholds};

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
        let entity = Entity::ship_to(ship_to);
        self.episodes.close_quiet(now, window);
        let Some(ep) = self
            .episodes
            .crossed(&ship_to, &entity, first, ev.ts, severity)
        else {
            return;
        };
        let thresholds_crossed = OrdersDropAddressThresholds {
            distinct_accounts: ThresholdCrossed::new(distinct, self.cfg.min_distinct_accounts),
            marketplace_orders: (is_marketplace && marketplace >= u64::from(self.cfg.high_orders))
                .then(|| ThresholdCrossed {
                    exceeded_by: marketplace - u64::from(self.cfg.high_orders),
                    threshold: self.cfg.high_orders,
                    value: marketplace,
                }),
        };
        let summary = format!(
            "ship-to {} received {} orders from {} distinct accounts in {} ({}% marketplace)",
            entity.value,
            thousands(orders),
            distinct,
            self.cfg.window,
            (share * 100.0).round() as u32
        );
        let evidence = OrdersDropAddressEvidence {
            distinct_accounts: distinct,
            marketplace_orders: marketplace,
            marketplace_share: (share * 100.0).round() / 100.0,
            orders,
            thresholds_crossed,
            window: self.cfg.window.to_string(),
        };
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
            evidence: evidence.into(),
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
    use crate::alert::EntityKind;

    /// The typed evidence of a `orders_drop_address` alert.
    fn ev(a: &Alert) -> &OrdersDropAddressEvidence {
        a.evidence.orders_drop_address().expect("an orders_drop_address alert")
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

    fn run_drop(events: &[AuthEvent]) -> Vec<Alert> {
        let mut d = OrdersDropAddressDetector::new(OrdersDropAddressConfig::default());
        let mut out = Vec::new();
        for ev in events {
            d.observe(ev, &mut out);
        }
        out
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
        assert_eq!(ev(&alerts[0]).distinct_accounts, 3);
        assert_eq!(ev(&alerts[0]).orders, 5);
        assert_eq!(alerts[1].severity, Severity::High);
        assert_eq!(alerts[1].id, alerts[0].id);
        assert_eq!(ev(&alerts[1]).orders, 10);
        assert_eq!(ev(&alerts[1]).distinct_accounts, 4);
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
    fn orders_without_an_account_are_ignored() {
        let events: Vec<_> = (0..50)
            .map(|i| {
                let mut ev = order(i * MINUTE, "x", 50_000.0, true, DROP);
                ev.account = None;
                ev
            })
            .collect();
        assert!(run_drop(&events).is_empty());
    }
}
