//! Counting each action once when several inputs log it.
//!
//! Sites log the same login twice: in the application's auth events (with the account) and as
//! `POST /login` in every web server's access log (usually without it). Counted twice, one list
//! replay looks like two, and a rule's failure counts depend on how many log files the user
//! passed. This stage sits between the time-ordered merge and the detectors and drops the poorer
//! copy of a pair:
//!
//! - two events are copies when they come from **different inputs**, have the same client
//!   address and event kind, compatible outcomes (equal, or one of them unknown, as a `POST
//!   /login` answered 200 is), and times within the tolerance;
//! - of a pair, the copy without an account is dropped when the other has one; when both name the
//!   same account the later one is dropped; when neither names an account nothing is dropped,
//!   because two web servers behind a load balancer log *different* requests;
//! - each event pairs at most once, so a burst of identical attempts is matched one to one.
//!
//! Events are held back for the tolerance (in event time) to see their partner, and released in
//! the order they arrived. With a single input the stage is not used at all.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::event::{AuthEvent, EventKind, Outcome, SourceId};
use crate::time::Millis;

/// One held-back event.
#[derive(Debug)]
struct Held {
    seq: u64,
    ev: AuthEvent,
    /// Already paired with a copy from another input.
    paired: bool,
    /// Dropped as the poorer copy of a pair; not released.
    dropped: bool,
}

/// The de-duplication stage.
#[derive(Debug)]
pub struct OverlapDedup {
    tolerance: Millis,
    held: VecDeque<Held>,
    next_seq: u64,
    /// Held events by (address, kind), as sequence numbers.
    index: HashMap<(IpAddr, EventKind), Vec<u64>, foldhash::quality::RandomState>,
    /// Dropped copies per input.
    dropped: HashMap<SourceId, u64>,
}

fn outcomes_compatible(a: Outcome, b: Outcome) -> bool {
    a == b || a == Outcome::Unknown || b == Outcome::Unknown
}

impl OverlapDedup {
    /// A stage that pairs copies up to `tolerance` apart in event time.
    pub fn new(tolerance: Millis) -> OverlapDedup {
        OverlapDedup {
            tolerance: tolerance.max(0),
            held: VecDeque::new(),
            next_seq: 0,
            index: HashMap::default(),
            dropped: HashMap::default(),
        }
    }

    /// Takes the next event of the merged stream; appends to `out` the events that can no longer
    /// get a partner.
    pub fn push(&mut self, ev: AuthEvent, out: &mut Vec<AuthEvent>) {
        let newest = ev.ts;
        let mut keep_new = true;
        let mut paired_new = false;
        if let Some(ip) = ev.ip
            && let Some(seqs) = self.index.get(&(ip, ev.kind))
        {
            let front = self.held.front().map_or(0, |h| h.seq);
            for &s in seqs {
                let Some(h) = self.held.get_mut((s - front) as usize) else {
                    continue;
                };
                if h.paired
                    || h.dropped
                    || h.ev.origin.source == ev.origin.source
                    || !outcomes_compatible(h.ev.outcome, ev.outcome)
                    || (h.ev.ts.0 - ev.ts.0).abs() > self.tolerance
                {
                    continue;
                }
                match (&h.ev.account, &ev.account) {
                    (Some(_), None) => {
                        keep_new = false;
                    }
                    (None, Some(_)) => {
                        h.dropped = true;
                        *self.dropped.entry(h.ev.origin.source).or_insert(0) += 1;
                    }
                    (Some(a), Some(b)) if a == b => {
                        keep_new = false;
                    }
                    _ => continue,
                }
                h.paired = true;
                paired_new = true;
                break;
            }
        }
        if keep_new {
            // Sequence numbers are given only to held events, so that a held event's position
            // in the queue is its sequence number minus the front's.
            let seq = self.next_seq;
            self.next_seq += 1;
            if let Some(ip) = ev.ip {
                self.index.entry((ip, ev.kind)).or_default().push(seq);
            }
            self.held.push_back(Held {
                seq,
                ev,
                paired: paired_new,
                dropped: false,
            });
        } else {
            *self.dropped.entry(ev.origin.source).or_insert(0) += 1;
        }
        self.release(newest.0.saturating_sub(self.tolerance), out);
    }

    /// Releases every held event (end of input).
    pub fn flush(&mut self, out: &mut Vec<AuthEvent>) {
        self.release(i64::MAX, out);
    }

    /// Releases held events older than `horizon`, in arrival order. An out-of-order event that
    /// is older than the horizon waits for the events before it: release order is arrival order.
    fn release(&mut self, horizon: i64, out: &mut Vec<AuthEvent>) {
        while let Some(front) = self.held.front() {
            if front.ev.ts.0 >= horizon && horizon != i64::MAX {
                break;
            }
            let Some(h) = self.held.pop_front() else {
                break;
            };
            if let Some(ip) = h.ev.ip {
                let key = (ip, h.ev.kind);
                if let Some(seqs) = self.index.get_mut(&key) {
                    seqs.retain(|&s| s != h.seq);
                    if seqs.is_empty() {
                        self.index.remove(&key);
                    }
                }
            }
            if !h.dropped {
                out.push(h.ev);
            }
        }
    }

    /// Copies dropped per input, in input order.
    pub fn dropped(&self) -> Vec<(SourceId, u64)> {
        let mut v: Vec<_> = self.dropped.iter().map(|(s, n)| (*s, *n)).collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AccountKey, LineMeta};
    use crate::time::{SECOND, Timestamp};

    fn ev(t: i64, src: u32, ip: &str, account: Option<&str>, outcome: Outcome) -> AuthEvent {
        let mut e = AuthEvent::new(
            Timestamp(t),
            EventKind::Login,
            LineMeta {
                source: SourceId(src),
                line: t as u64,
            },
        );
        e.ip = Some(ip.parse().unwrap());
        e.account = account.and_then(AccountKey::normalize);
        e.outcome = outcome;
        e
    }

    fn run(events: Vec<AuthEvent>) -> (Vec<AuthEvent>, Vec<(SourceId, u64)>) {
        let mut d = OverlapDedup::new(2 * SECOND);
        let mut out = Vec::new();
        for e in events {
            d.push(e, &mut out);
        }
        d.flush(&mut out);
        (out, d.dropped())
    }

    #[test]
    fn access_log_copy_without_account_is_dropped_whichever_comes_first() {
        let (out, dropped) = run(vec![
            ev(1_000, 1, "203.0.113.7", None, Outcome::Failure), // web log first
            ev(
                1_400,
                0,
                "203.0.113.7",
                Some("a@example.com"),
                Outcome::Failure,
            ),
            ev(
                5_000,
                0,
                "203.0.113.7",
                Some("b@example.com"),
                Outcome::Failure,
            ), // app first
            ev(5_300, 1, "203.0.113.7", None, Outcome::Failure),
        ]);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|e| e.account.is_some()));
        assert_eq!(dropped, vec![(SourceId(1), 2)]);
    }

    #[test]
    fn bursts_pair_one_to_one() {
        let mut events = Vec::new();
        for i in 0..10 {
            events.push(ev(
                i * 100,
                0,
                "203.0.113.7",
                Some(&format!("u{i}")),
                Outcome::Failure,
            ));
        }
        for i in 0..12 {
            events.push(ev(i * 100 + 50, 1, "203.0.113.7", None, Outcome::Failure));
        }
        events.sort_by_key(|e| e.ts);
        let (out, _) = run(events);
        // 10 pairs collapse to 10 app events; the 2 unmatched web events stay.
        assert_eq!(out.len(), 12);
        assert_eq!(out.iter().filter(|e| e.account.is_none()).count(), 2);
    }

    #[test]
    fn two_web_servers_are_not_copies_of_each_other() {
        let (out, dropped) = run(vec![
            ev(1_000, 1, "203.0.113.7", None, Outcome::Failure),
            ev(1_100, 2, "203.0.113.7", None, Outcome::Failure),
        ]);
        assert_eq!(out.len(), 2);
        assert!(dropped.is_empty());
    }

    #[test]
    fn same_input_far_apart_or_conflicting_outcomes_are_kept() {
        let (out, _) = run(vec![
            ev(1_000, 0, "203.0.113.7", Some("a"), Outcome::Failure),
            ev(1_100, 0, "203.0.113.7", None, Outcome::Failure), // same input
            ev(9_000, 1, "203.0.113.7", None, Outcome::Failure), // too late
            ev(9_500, 0, "203.0.113.8", Some("a"), Outcome::Success),
            ev(9_600, 1, "203.0.113.8", None, Outcome::Failure), // conflicting outcome
        ]);
        assert_eq!(out.len(), 5);
    }

    #[test]
    fn unknown_outcome_pairs_with_either() {
        let (out, _) = run(vec![
            ev(1_000, 0, "203.0.113.7", Some("a"), Outcome::Success),
            ev(1_200, 1, "203.0.113.7", None, Outcome::Unknown),
        ]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].outcome, Outcome::Success);
    }

    #[test]
    fn dropped_copies_do_not_confuse_later_pairing() {
        let mut events = Vec::new();
        for i in 0..50 {
            let t = i * 300;
            events.push(ev(
                t,
                0,
                "203.0.113.7",
                Some(&format!("u{i}")),
                Outcome::Failure,
            ));
            events.push(ev(t + 10, 1, "203.0.113.7", None, Outcome::Failure));
            events.push(ev(t + 20, 2, "198.51.100.9", None, Outcome::Failure));
        }
        let (out, dropped) = run(events);
        assert_eq!(out.len(), 100);
        assert_eq!(dropped, vec![(SourceId(1), 50)]);
    }

    #[test]
    fn release_keeps_arrival_order() {
        let (out, _) = run(vec![
            ev(1_000, 0, "198.51.100.1", Some("a"), Outcome::Success),
            ev(3_000, 0, "198.51.100.2", Some("b"), Outcome::Success),
            ev(2_500, 1, "198.51.100.3", Some("c"), Outcome::Success),
            ev(9_000, 0, "198.51.100.4", Some("d"), Outcome::Success),
        ]);
        let times: Vec<i64> = out.iter().map(|e| e.ts.0).collect();
        assert_eq!(times, vec![1_000, 3_000, 2_500, 9_000]);
    }
}
