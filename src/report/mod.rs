//! The forensic report: one self-contained HTML page and CSV exports.
//!
//! A consumer at the very end of the pipeline: it sees every event (after enrichment,
//! de-duplicated, in event-time order) and every alert, keeps small bounded aggregates, and
//! renders everything once at the end. It depends only on `event`, `alert`, `time`, `error`,
//! `stats` and `window` (plus the `sink` trait for its adapter, [`ReportSink`]), never on
//! decoders or detectors, so data keeps flowing one way.
//!
//! It keeps no second analytics engine: distinct counts are the window module's counter, and
//! whether a login comes from a new place is what the engine's login history said of the event
//! (the [`LoginContext`] each event carries; see [`Place`]). What the report keeps of its own
//! has no engine counterpart: the timeline's buckets, per-address and per-ASN totals, and each
//! account's recent security-relevant events with its known ship-tos (no rule keeps a ship-to
//! history per account), from which the "what happened next" of a break-in is told.
//!
//! Memory is bounded whatever the input:
//! - the timeline keeps per-bucket counters; buckets start at one minute and are coarsened
//!   (5, 15, 60 min, …) when a run covers so long a range that more than
//!   [`MAX_TIMELINE_BUCKETS`] would be needed;
//! - per-address aggregates are kept for at most `max_sources` addresses: when the table is
//!   full, the half with the fewest failed logins is dropped (addresses named in alerts are
//!   pinned and never dropped) and the dropped addresses and their attempts are counted, so an
//!   attacker who floods with random addresses cannot grow it, and a heavy hitter that arrives
//!   late still lives long enough to climb to the top;
//! - distinct accounts per address, and distinct addresses and accounts per ASN, are the
//!   engine's own distinct counter ([`SlidingDistinctSketch`], over a window as long as the
//!   run): exact up to [`DISTINCT_EXACT`] values (16 bytes each), a HyperLogLog above (about
//!   1 % error, shown as `≈`); at most [`MAX_SKETCHES`] counters hold a sketch (about 8.5 KiB
//!   each) at once, and a counter that outgrows its exact tier when none is free shows a lower
//!   bound (`≥`) instead of growing;
//! - per-account histories (logins from new places, resets, changes, orders) are rings of
//!   `history_per_account` events for at most `max_accounts` accounts, each with up to four
//!   known ship-tos inline; when the table is full the least recently active half is dropped.
//!   Accounts named in alerts are pinned and keep `pinned_history_per_account` events, so
//!   "what happened next" survives for them. The places an account logged in from are not
//!   kept here: the engine's login history holds them (bounded by its own settings), and each
//!   kept event stores its 24-byte [`LoginContext`] so a later alert can re-read it.
//!
//! Everything in the page comes from attacker-controlled logs: the page is written with
//! `maud`, which escapes every interpolated value (see [`html`]), and every CSV cell goes
//! through [`csv::guard_cell`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::path::PathBuf;

use crate::alert::{Alert, EntityKind, Rule, Severity};
use crate::event::{
    AccountKey, AddressHash, Asn, AuthEvent, EventKind, FailureReason, LoginContext, Outcome,
};
use crate::stats::RunStats;
use crate::time::{DAY, HOUR, MINUTE, Millis, Timestamp};
use crate::window::distinct::SlidingDistinctSketch;

pub mod csv;
pub mod html;
mod sink;
pub mod svg;

pub use sink::ReportSink;

/// Distinct counts up to this many are exact; above, they are estimated.
pub const DISTINCT_EXACT: usize = 128;

/// Most distinct counters holding a sketch (about 8.5 KiB each) at once: about 35 MiB.
pub const MAX_SKETCHES: usize = 4_096;

/// The window of the report's distinct counters: longer than any run, so they count the whole
/// run.
const WHOLE_RUN: Millis = Millis::MAX;

/// The most timeline buckets kept while a run is read (about 35 days of minutes); beyond it
/// buckets are coarsened.
pub const MAX_TIMELINE_BUCKETS: usize = 50_000;

/// Bucket widths the timeline may use, finest first.
const BUCKET_WIDTHS: [Millis; 8] = [
    MINUTE,
    5 * MINUTE,
    15 * MINUTE,
    HOUR,
    6 * HOUR,
    DAY,
    7 * DAY,
    28 * DAY,
];

/// Ship-tos remembered per account to mark new ones (the engine keeps no ship-to history).
/// Kept inline (no allocation per account).
const KNOWN_PLACES: usize = 4;

/// Section `[report]`: where the report goes and how much it may remember.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Write the HTML report to this file (`--report FILE`).
    pub html: Option<PathBuf>,
    /// Write `alerts.csv`, `compromised_accounts.csv`, `attack_sources.csv` and `orders.csv`
    /// into this directory, created if missing (`--csv-dir DIR`).
    pub csv_dir: Option<PathBuf>,
    /// Most client addresses with per-address counters; when full, the half with the fewest
    /// failed logins is dropped (and counted).
    pub max_sources: usize,
    /// Most ASNs with per-ASN counters; later ASNs are counted only in the totals.
    pub max_asns: usize,
    /// Most accounts with a recent-history ring; when full, the least recently active half is
    /// dropped. Accounts named in alerts are never dropped.
    pub max_accounts: usize,
    /// Security-relevant events (logins from new places, resets, changes, orders) kept per
    /// account.
    pub history_per_account: usize,
    /// Events kept per account named in an alert (its "what happened next").
    pub pinned_history_per_account: usize,
    /// Most alerts kept for cards and `alerts.csv`; later ones are counted.
    pub max_alerts: usize,
    /// Rows in the page's "top" tables (addresses, ASNs); the CSVs hold every kept row.
    pub top_rows: usize,
}

impl Default for ReportConfig {
    fn default() -> ReportConfig {
        ReportConfig {
            html: None,
            csv_dir: None,
            max_sources: 20_000,
            max_asns: 50_000,
            max_accounts: 100_000,
            history_per_account: 16,
            pinned_history_per_account: 256,
            max_alerts: 5_000,
            top_rows: 25,
        }
    }
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Creating or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Building a CSV file failed.
    #[error("{file}: {source}")]
    Csv {
        /// The CSV file's name.
        file: &'static str,
        /// What the csv crate said.
        source: ::csv::Error,
    },
}

/// The files a report wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFiles {
    /// The HTML page, when one was asked for.
    pub html: Option<PathBuf>,
    /// The CSV files, in a fixed order.
    pub csv: Vec<PathBuf>,
}

/// A rendered report, not yet written: the page and each CSV file's bytes.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The HTML page, when `html` was configured.
    pub html: Option<String>,
    /// `(file name, bytes)` for each CSV file, when `csv_dir` was configured.
    pub csv: Vec<(&'static str, Vec<u8>)>,
}

impl Rendered {
    /// Writes the page and the CSV files where `cfg` says.
    pub fn write(&self, cfg: &ReportConfig) -> Result<ReportFiles, ReportError> {
        let mut files = ReportFiles::default();
        if let (Some(path), Some(page)) = (&cfg.html, &self.html) {
            write_file(path, page.as_bytes())?;
            files.html = Some(path.clone());
        }
        if let Some(dir) = &cfg.csv_dir {
            std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
                path: dir.clone(),
                source,
            })?;
            for (name, bytes) in &self.csv {
                let path = dir.join(name);
                write_file(&path, bytes)?;
                files.csv.push(path);
            }
        }
        Ok(files)
    }
}

fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A distinct count over the whole run: the engine's [`SlidingDistinctSketch`] (exact up to
/// [`DISTINCT_EXACT`] values, a HyperLogLog above) over a window as long as any run
/// ([`WHOLE_RUN`]), so nothing ever slides out.
///
/// The report may hold a counter for every kept address and three for every kept ASN, and a
/// counter beyond its exact tier costs a sketch of about 8.5 KiB; so at most [`MAX_SKETCHES`]
/// counters hold one at a time ([`SketchBudget`]). A counter that outgrows its exact tier when
/// none is free stops counting and reports a lower bound ([`Count::at_least`]).
#[derive(Debug, Clone)]
pub(crate) struct Distinct {
    counter: SlidingDistinctSketch,
    /// A value beyond the exact tier found no free sketch: the count stopped there.
    capped: bool,
}

impl Default for Distinct {
    fn default() -> Distinct {
        Distinct {
            counter: SlidingDistinctSketch::with_exact_limit(WHOLE_RUN, DISTINCT_EXACT),
            capped: false,
        }
    }
}

/// How many of the report's distinct counters hold a sketch; see [`Distinct`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SketchBudget {
    used: usize,
}

impl SketchBudget {
    /// A counter that held a sketch was dropped.
    fn release(&mut self, d: &Distinct) {
        if d.has_sketch() {
            self.used = self.used.saturating_sub(1);
        }
    }
}

impl Distinct {
    fn has_sketch(&self) -> bool {
        !self.counter.is_exact()
    }

    /// Counts the value hashed to `h`, seen at `ts`.
    fn insert(&mut self, ts: Timestamp, h: u64, budget: &mut SketchBudget) {
        if self.capped {
            return;
        }
        if self.has_sketch() || budget.used < MAX_SKETCHES {
            let had = self.has_sketch();
            self.counter.insert(ts, h);
            if !had && self.has_sketch() {
                budget.used += 1;
            }
            return;
        }
        // No sketch is free. Below the exact limit the value fits; at it, only a value
        // already counted does (tried on a copy, which happens only in this rare state).
        if self.counter.estimate(ts) < DISTINCT_EXACT as u64 {
            self.counter.insert(ts, h);
            return;
        }
        let mut probe = self.counter.clone();
        probe.insert(ts, h);
        if probe.is_exact() {
            self.counter = probe;
        } else {
            self.capped = true;
        }
    }

    /// The count at the end of the run (`now`: the run's last event time) and whether it is
    /// exact. Consumes the counter: a query builds the sketch's merged view (another 8 KiB),
    /// which is freed at once.
    pub(crate) fn count(self, now: Timestamp) -> Count {
        if self.capped {
            return Count {
                n: DISTINCT_EXACT as u64 + 1,
                exact: false,
                at_least: true,
            };
        }
        let n = self.counter.estimate(now);
        if self.counter.is_exact() {
            Count {
                n,
                exact: true,
                at_least: false,
            }
        } else {
            // More than the exact tier held, whatever the sketch says.
            Count {
                n: n.max(DISTINCT_EXACT as u64 + 1),
                exact: false,
                at_least: false,
            }
        }
    }
}

/// A count that may be an estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// The value.
    pub n: u64,
    /// False when estimated (or a lower bound).
    pub exact: bool,
    /// The counter ran out of room (see [`MAX_SKETCHES`]): the true count is at least `n`.
    pub at_least: bool,
}

/// Counters for one client address.
#[derive(Debug, Clone)]
pub(crate) struct SourceAgg {
    pub(crate) asn: Option<Asn>,
    pub(crate) attempts: u64,
    pub(crate) failures: u64,
    pub(crate) unknown_account: u64,
    pub(crate) successes: u64,
    pub(crate) resets: u64,
    pub(crate) first: Timestamp,
    pub(crate) last: Timestamp,
    pub(crate) accounts: Distinct,
    pub(crate) pinned: bool,
}

impl SourceAgg {
    fn new(ts: Timestamp, asn: Option<Asn>) -> SourceAgg {
        SourceAgg {
            asn,
            attempts: 0,
            failures: 0,
            unknown_account: 0,
            successes: 0,
            resets: 0,
            first: ts,
            last: ts,
            accounts: Distinct::default(),
            pinned: false,
        }
    }
}

/// Counters for one ASN.
#[derive(Debug, Clone, Default)]
pub(crate) struct AsnAgg {
    pub(crate) attempts: u64,
    pub(crate) failures: u64,
    pub(crate) unknown_account: u64,
    pub(crate) successes: u64,
    pub(crate) addresses: Distinct,
    pub(crate) failing_addresses: Distinct,
    pub(crate) accounts: Distinct,
}

/// Whether an event came from a place the account had used before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// An address the account had logged in from before.
    Known,
    /// A new address in an ASN the account had used before.
    NewAddress,
    /// A new address in a new ASN.
    New,
    /// No earlier login of the account was seen: nothing to compare with.
    NoHistory,
    /// The event has no address, or carries no [`LoginContext`]: the engine compares only
    /// successful events, and only while a rule that keeps the login history
    /// (`compromise.login`, `takeover.sequence`) is enabled.
    Unknown,
}

impl Place {
    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Place::Known => "known",
            Place::NewAddress => "new address (known ASN)",
            Place::New => "NEW",
            Place::NoHistory => "no earlier login",
            Place::Unknown => "",
        }
    }
}

/// Order fields kept in an account's history.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderInfo {
    /// The order id.
    pub order_id: Option<Box<str>>,
    /// The total.
    pub amount: Option<f64>,
    /// The currency.
    pub currency: Option<Box<str>>,
    /// True for marketplace (third-party seller) orders.
    pub marketplace: Option<bool>,
    /// The seller.
    pub seller: Option<Box<str>>,
    /// The hashed ship-to.
    pub ship_to: Option<AddressHash>,
    /// Whether the account had ordered to this ship-to before (`None`: no earlier orders).
    pub ship_to_known: Option<bool>,
}

/// One security-relevant event in an account's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistEvent {
    /// When.
    pub ts: Timestamp,
    /// What.
    pub kind: EventKind,
    /// Its outcome.
    pub outcome: Outcome,
    /// From where.
    pub ip: Option<IpAddr>,
    /// The address's ASN.
    pub asn: Option<Asn>,
    /// New or known place for the account (from `logins`, relative to the event or to the
    /// account's break-in once an alert names the account).
    pub place: Place,
    /// What the engine's login history said of the event's address and ASN.
    pub logins: Option<LoginContext>,
    /// The new (hashed) e-mail or shipping address of a change.
    pub new_value: Option<AddressHash>,
    /// Order fields, for orders.
    pub order: Option<Box<OrderInfo>>,
}

/// The last few places an account used, most recent last, each with when it was first seen.
/// Inline, so a history costs no allocation until it holds an event.
#[derive(Debug, Clone, Copy)]
struct Recent<T: Copy> {
    items: [Option<(T, Timestamp)>; KNOWN_PLACES],
}

impl<T: Copy> Default for Recent<T> {
    fn default() -> Recent<T> {
        Recent {
            items: [None; KNOWN_PLACES],
        }
    }
}

impl<T: Copy + PartialEq> Recent<T> {
    fn len(&self) -> usize {
        self.items.iter().take_while(|s| s.is_some()).count()
    }

    fn is_empty(&self) -> bool {
        self.items.first().is_none_or(|s| s.is_none())
    }

    fn knows(&self, v: &T) -> bool {
        self.items.iter().flatten().any(|(x, _)| x == v)
    }

    /// Marks `v` as most recently used, keeping when it was first seen; the least recently
    /// used place makes room when full.
    fn remember(&mut self, v: T, ts: Timestamp) {
        let len = self.len();
        let found = self
            .items
            .iter()
            .take(len)
            .position(|s| s.is_some_and(|(x, _)| x == v));
        let (from, first) = match found {
            Some(p) => (
                p,
                self.items
                    .get(p)
                    .copied()
                    .flatten()
                    .map_or(ts, |(_, f)| f.min(ts)),
            ),
            None if len < KNOWN_PLACES => {
                if let Some(slot) = self.items.get_mut(len) {
                    *slot = Some((v, ts));
                }
                return;
            }
            None => (0, ts),
        };
        if let Some(tail) = self.items.get_mut(from..len) {
            tail.rotate_left(1);
        }
        if let Some(last) = len.checked_sub(1).and_then(|i| self.items.get_mut(i)) {
            *last = Some((v, first));
        }
    }

    /// Forgets the places first seen at or after `since`.
    fn retain_before(&mut self, since: Timestamp) {
        let mut out = [None; KNOWN_PLACES];
        let kept = self.items.iter().flatten().filter(|(_, t)| *t < since);
        for (slot, item) in out.iter_mut().zip(kept) {
            *slot = Some(*item);
        }
        self.items = out;
    }
}

/// A successful login as a trail remembers it.
#[derive(Debug, Clone, Copy)]
struct LastLogin {
    ts: Timestamp,
    ip: Option<IpAddr>,
    asn: Option<Asn>,
    logins: Option<LoginContext>,
}

/// One account's recent security-relevant history. Keyed by a hash of the account: the name
/// itself is kept only once an alert names the account.
///
/// Whether an address or a network is new to the account comes from the engine's login
/// history: each event carries its [`LoginContext`] (when its address and ASN were first seen
/// among the account's successful logins), read relative to the event, or to `known_until`
/// once an alert named the account.
#[derive(Debug, Clone)]
pub(crate) struct Trail {
    account: Option<Box<str>>,
    /// Places first seen at or after this time count as new: the time the account was named in
    /// an alert, or earlier, when the alert says an attacker was in the account from then on,
    /// so the attacker's addresses stay "new" in its takeover timeline.
    known_until: Timestamp,
    known_ship_tos: Recent<AddressHash>,
    /// The last successful login, kept even when it is not in `events`, so a break-in that
    /// an alert names later can be put at the head of the timeline.
    last_login: Option<LastLogin>,
    pub(crate) events: VecDeque<HistEvent>,
    pub(crate) dropped: u64,
    last: Timestamp,
    pinned: bool,
}

impl Default for Trail {
    fn default() -> Trail {
        Trail {
            account: None,
            known_until: Timestamp(i64::MAX),
            known_ship_tos: Recent::default(),
            last_login: None,
            events: VecDeque::new(),
            dropped: 0,
            last: Timestamp::default(),
            pinned: false,
        }
    }
}

/// Where an event at `ts` from `ip`/`asn` stands for its account, by the engine's
/// [`LoginContext`], counting only places first seen before `known_until`.
fn place_of(
    ts: Timestamp,
    ip: Option<IpAddr>,
    asn: Option<Asn>,
    logins: Option<LoginContext>,
    known_until: Timestamp,
) -> Place {
    let (Some(ip), Some(ctx)) = (ip, logins) else {
        return Place::Unknown;
    };
    let before = ts.min(known_until);
    if !ctx.has_history(before) {
        return Place::NoHistory;
    }
    // `novelty` reads only the event's address and ASN: a bare event carries them.
    let mut probe = AuthEvent::new(ts, EventKind::Login, crate::event::LineMeta::default());
    probe.ip = Some(ip);
    probe.asn = asn;
    match ctx.novelty(&probe, before) {
        (false, _) => Place::Known,
        (true, false) => Place::NewAddress,
        (true, true) => Place::New,
    }
}

impl Trail {
    fn place(
        &self,
        ts: Timestamp,
        ip: Option<IpAddr>,
        asn: Option<Asn>,
        logins: Option<LoginContext>,
    ) -> Place {
        place_of(ts, ip, asn, logins, self.known_until)
    }

    fn ship_to_known(&self, ship_to: AddressHash) -> Option<bool> {
        (!self.known_ship_tos.is_empty()).then(|| self.known_ship_tos.knows(&ship_to))
    }

    /// The attacker was in the account from `since` on: forget the places first seen from
    /// then (they are the attacker's), and re-mark the events kept since then.
    fn unlearn_since(&mut self, since: Timestamp) {
        self.known_until = self.known_until.min(since);
        self.known_ship_tos.retain_before(since);
        // The break-in login itself may not have been kept (a first login has nothing to
        // compare with): put it back.
        if let Some(LastLogin {
            ts,
            ip,
            asn,
            logins,
        }) = self.last_login
            && ts >= since
            && !self
                .events
                .iter()
                .any(|e| e.ts == ts && e.kind == EventKind::Login)
        {
            let at = self.events.iter().take_while(|e| e.ts <= ts).count();
            self.events.insert(
                at,
                HistEvent {
                    ts,
                    kind: EventKind::Login,
                    outcome: Outcome::Success,
                    ip,
                    asn,
                    place: Place::Unknown,
                    logins,
                    new_value: None,
                    order: None,
                },
            );
        }
        let mut events = std::mem::take(&mut self.events);
        for e in events.iter_mut().filter(|e| e.ts >= since) {
            e.place = self.place(e.ts, e.ip, e.asn, e.logins);
            if let Some(o) = e.order.as_deref_mut()
                && let Some(st) = o.ship_to
            {
                o.ship_to_known = self.ship_to_known(st);
            }
        }
        self.events = events;
    }

    fn push(&mut self, ev: HistEvent, cap: usize) {
        while self.events.len() >= cap.max(1) {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(ev);
    }
}

/// Per-bucket counters of the timeline: successful logins, failed logins, failed logins for
/// accounts that do not exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Successful logins.
    pub ok: u64,
    /// Failed logins (all reasons).
    pub failed: u64,
    /// Failed logins for unknown accounts.
    pub unknown_account: u64,
    /// Logins whose outcome the log does not say.
    pub unsure: u64,
}

impl Bucket {
    fn add(&mut self, o: &Bucket) {
        self.ok += o.ok;
        self.failed += o.failed;
        self.unknown_account += o.unknown_account;
        self.unsure += o.unsure;
    }
}

#[derive(Debug, Clone)]
struct Timeline {
    width: Millis,
    buckets: BTreeMap<i64, Bucket>,
    /// The bucket being filled: events arrive in time order, so most events hit it.
    current: Option<(i64, Bucket)>,
}

impl Timeline {
    fn new() -> Timeline {
        Timeline {
            width: MINUTE,
            buckets: BTreeMap::new(),
            current: None,
        }
    }

    fn add(&mut self, ts: Timestamp, f: impl FnOnce(&mut Bucket)) {
        let key = ts.millis().div_euclid(self.width) * self.width;
        match &mut self.current {
            Some((k, b)) if *k == key => f(b),
            _ => {
                self.flush();
                let mut b = Bucket::default();
                f(&mut b);
                self.current = Some((key, b));
            }
        }
    }

    fn flush(&mut self) {
        if let Some((k, b)) = self.current.take() {
            self.buckets.entry(k).or_default().add(&b);
            if self.buckets.len() > MAX_TIMELINE_BUCKETS {
                self.coarsen();
            }
        }
    }

    fn coarsen(&mut self) {
        while self.buckets.len() > MAX_TIMELINE_BUCKETS {
            let Some(&next) = BUCKET_WIDTHS.iter().find(|&&w| w > self.width) else {
                return;
            };
            self.width = next;
            self.buckets = regroup(&self.buckets, next);
        }
    }
}

fn regroup(buckets: &BTreeMap<i64, Bucket>, width: Millis) -> BTreeMap<i64, Bucket> {
    let mut out: BTreeMap<i64, Bucket> = BTreeMap::new();
    for (k, b) in buckets {
        out.entry(k.div_euclid(width) * width).or_default().add(b);
    }
    out
}

/// Collects what the report needs while a run goes on; renders it at the end.
#[derive(Debug)]
pub struct ReportBuilder {
    cfg: ReportConfig,
    hasher: foldhash::quality::FixedState,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    events: u64,
    timeline: Timeline,
    sources: HashMap<IpAddr, SourceAgg, foldhash::fast::RandomState>,
    sources_dropped: u64,
    attempts_dropped: u64,
    asns: HashMap<Asn, AsnAgg, foldhash::fast::RandomState>,
    asns_untracked: u64,
    /// Distinct counters holding a sketch, over the address and ASN tables.
    sketches: SketchBudget,
    trails: HashMap<u64, Trail, foldhash::fast::RandomState>,
    trails_dropped: u64,
    alerts: Vec<Alert>,
    alert_index: HashMap<String, usize>,
    alerts_dropped: u64,
    pinned_ips: HashSet<IpAddr, foldhash::fast::RandomState>,
    pinned_accounts: usize,
    drop_addresses: Vec<String>,
}

impl ReportBuilder {
    /// A builder with nothing seen yet.
    pub fn new(cfg: ReportConfig) -> ReportBuilder {
        ReportBuilder {
            cfg,
            hasher: foldhash::quality::FixedState::with_seed(0x6372_6564_7761_7463),
            first: None,
            last: None,
            events: 0,
            timeline: Timeline::new(),
            sources: HashMap::default(),
            sources_dropped: 0,
            attempts_dropped: 0,
            asns: HashMap::default(),
            asns_untracked: 0,
            sketches: SketchBudget::default(),
            trails: HashMap::default(),
            trails_dropped: 0,
            alerts: Vec::new(),
            alert_index: HashMap::new(),
            alerts_dropped: 0,
            pinned_ips: HashSet::default(),
            pinned_accounts: 0,
            drop_addresses: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ReportConfig {
        &self.cfg
    }

    fn hash<T: Hash>(&self, v: T) -> u64 {
        self.hasher.hash_one(v)
    }

    /// Sees one event. Cheap: a timeline counter, one address and one ASN counter for logins
    /// and reset requests, and an account history entry only for security-relevant events.
    pub fn observe_event(&mut self, ev: &AuthEvent) {
        let w = u64::from(ev.repeat.max(1));
        self.events += w;
        self.first = Some(self.first.map_or(ev.ts, |f| f.min(ev.ts)));
        self.last = Some(self.last.map_or(ev.ts, |l| l.max(ev.ts)));
        let account_hash = ev.account.as_ref().map(|a| self.hash(a.as_str()));
        if ev.kind == EventKind::Login {
            let unknown = ev.reason == Some(FailureReason::UnknownAccount);
            self.timeline.add(ev.ts, |b| match ev.outcome {
                Outcome::Success => b.ok += w,
                Outcome::Failure => {
                    b.failed += w;
                    if unknown {
                        b.unknown_account += w;
                    }
                }
                Outcome::Unknown => b.unsure += w,
            });
            if let Some(ip) = ev.ip {
                let ip_hash = self.hash(ip);
                self.observe_asn(ev, w, ip_hash, account_hash, unknown);
            }
        }
        if matches!(ev.kind, EventKind::Login | EventKind::PasswordResetRequest)
            && let Some(ip) = ev.ip
        {
            self.observe_source(ip, ev, w, account_hash);
        }
        if let Some(h) = account_hash {
            self.observe_account(h, ev);
        }
    }

    fn observe_asn(
        &mut self,
        ev: &AuthEvent,
        w: u64,
        ip_hash: u64,
        account_hash: Option<u64>,
        unknown: bool,
    ) {
        let Some(asn) = ev.asn else { return };
        let max = self.cfg.max_asns;
        let len = self.asns.len();
        let agg = match self.asns.get_mut(&asn) {
            Some(a) => a,
            None if len < max => self.asns.entry(asn).or_default(),
            None => {
                self.asns_untracked += w;
                return;
            }
        };
        let budget = &mut self.sketches;
        agg.attempts += w;
        agg.addresses.insert(ev.ts, ip_hash, budget);
        match ev.outcome {
            Outcome::Success => agg.successes += w,
            Outcome::Failure => {
                agg.failures += w;
                agg.failing_addresses.insert(ev.ts, ip_hash, budget);
                if unknown {
                    agg.unknown_account += w;
                }
            }
            Outcome::Unknown => {}
        }
        if let Some(h) = account_hash {
            agg.accounts.insert(ev.ts, h, budget);
        }
    }

    fn observe_source(&mut self, ip: IpAddr, ev: &AuthEvent, w: u64, account_hash: Option<u64>) {
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.cfg.max_sources.max(2) {
            self.prune_sources();
        }
        let pinned = &self.pinned_ips;
        let agg = self.sources.entry(ip).or_insert_with(|| {
            let mut a = SourceAgg::new(ev.ts, ev.asn);
            // An address named in an alert and dropped earlier comes back pinned.
            a.pinned = pinned.contains(&ip);
            a
        });
        agg.first = agg.first.min(ev.ts);
        agg.last = agg.last.max(ev.ts);
        if agg.asn.is_none() {
            agg.asn = ev.asn;
        }
        if ev.kind == EventKind::PasswordResetRequest {
            agg.resets += w;
        } else {
            agg.attempts += w;
            match ev.outcome {
                Outcome::Success => agg.successes += w,
                Outcome::Failure => {
                    agg.failures += w;
                    if ev.reason == Some(FailureReason::UnknownAccount) {
                        agg.unknown_account += w;
                    }
                }
                Outcome::Unknown => {}
            }
        }
        if let Some(h) = account_hash {
            agg.accounts.insert(ev.ts, h, &mut self.sketches);
        }
    }

    /// Drops the unpinned half of the address table with the fewest failures (then resets,
    /// then the least recent), counting what was dropped.
    fn prune_sources(&mut self) {
        let mut ranked: Vec<(u64, u64, Timestamp, IpAddr)> = self
            .sources
            .iter()
            .filter(|(_, a)| !a.pinned)
            .map(|(ip, a)| (a.failures, a.resets, a.last, *ip))
            .collect();
        if ranked.len() < 2 {
            // (Almost) only pinned addresses: let the table grow; pins are capped.
            return;
        }
        let drop = ranked.len().div_ceil(2);
        ranked.select_nth_unstable_by(drop - 1, |a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        for (_, _, _, ip) in ranked.iter().take(drop) {
            if let Some(a) = self.sources.remove(ip) {
                self.sketches.release(&a.accounts);
                self.sources_dropped += 1;
                self.attempts_dropped += a.attempts;
            }
        }
    }

    fn observe_account(&mut self, account: u64, ev: &AuthEvent) {
        let relevant = match ev.kind {
            EventKind::Login => ev.outcome == Outcome::Success,
            EventKind::PasswordResetRequest
            | EventKind::PasswordResetComplete
            | EventKind::EmailChange
            | EventKind::AddressChange
            | EventKind::PaymentChange
            | EventKind::Order => true,
            EventKind::MfaChallenge | EventKind::Logout | EventKind::Signup => false,
        };
        if !relevant {
            return;
        }
        if !self.trails.contains_key(&account) && self.trails.len() >= self.cfg.max_accounts.max(2)
        {
            self.prune_trails();
        }
        let cap = self.cfg.history_per_account;
        let pinned_cap = self.cfg.pinned_history_per_account;
        let trail = self.trails.entry(account).or_default();
        trail.last = trail.last.max(ev.ts);
        let place = trail.place(ev.ts, ev.ip, ev.asn, ev.logins);
        let details = ev.details.as_deref();
        let order = (ev.kind == EventKind::Order).then(|| {
            let ship_to = details.and_then(|d| d.ship_to);
            let ship_to_known = ship_to.and_then(|s| trail.ship_to_known(s));
            Box::new(OrderInfo {
                order_id: details.and_then(|d| d.order_id.clone()),
                amount: details.and_then(|d| d.amount),
                currency: details.and_then(|d| d.currency.clone()),
                marketplace: details.and_then(|d| d.marketplace),
                seller: details.and_then(|d| d.seller.clone()),
                ship_to,
                ship_to_known,
            })
        });
        let new_value = details.and_then(|d| d.address.or(d.new_email));
        let is_login = ev.kind == EventKind::Login;
        // Routine logins from known places are noise in a history, and a first login has
        // nothing to compare with; after an alert every login is kept, since the attacker may
        // be coming back.
        let keep = !is_login || trail.pinned || matches!(place, Place::New | Place::NewAddress);
        if is_login {
            trail.last_login = Some(LastLogin {
                ts: ev.ts,
                ip: ev.ip,
                asn: ev.asn,
                logins: ev.logins,
            });
        }
        // Ship-tos are learned only before the account is named in an alert (as places are
        // counted only before `known_until`), so the attacker's stay "new".
        if let Some(s) = order.as_ref().and_then(|o| o.ship_to)
            && !trail.pinned
        {
            trail.known_ship_tos.remember(s, ev.ts);
        }
        if keep {
            let cap = if trail.pinned { pinned_cap } else { cap };
            trail.push(
                HistEvent {
                    ts: ev.ts,
                    kind: ev.kind,
                    outcome: ev.outcome,
                    ip: ev.ip,
                    asn: ev.asn,
                    place,
                    logins: ev.logins,
                    new_value,
                    order,
                },
                cap,
            );
        }
    }

    /// Drops the least recently active unpinned half of the account histories.
    fn prune_trails(&mut self) {
        let mut ranked: Vec<(Timestamp, u64)> = self
            .trails
            .iter()
            .filter(|(_, t)| !t.pinned)
            .map(|(k, t)| (t.last, *k))
            .collect();
        let drop = ranked.len().div_ceil(2);
        if drop == 0 {
            return;
        }
        ranked.select_nth_unstable_by(drop - 1, |a, b| a.0.cmp(&b.0));
        for (_, k) in ranked.iter().take(drop) {
            if self.trails.remove(k).is_some() {
                self.trails_dropped += 1;
            }
        }
    }

    /// Keeps an account's history for the report. `attacker_since`: the alert says an
    /// attacker was in the account from then on (a compromise or takeover), so places first
    /// seen since then are unlearned and stay "new" in its timeline.
    fn pin_account(&mut self, account: &str, attacker_since: Option<Timestamp>) {
        let Some(name) = AccountKey::normalize(account) else {
            return;
        };
        let key = self.hash(name.as_str());
        let cap = self.cfg.max_alerts;
        // The alert comes right after the event that raised it: places first seen later are
        // not learned (they may be the attacker's).
        let now = self
            .last
            .map_or(Timestamp(i64::MAX), |t| Timestamp(t.0.saturating_add(1)));
        let pinned = &mut self.pinned_accounts;
        let trail = match self.trails.get_mut(&key) {
            Some(t) => t,
            None if *pinned < cap => self.trails.entry(key).or_default(),
            None => return,
        };
        if !trail.pinned {
            if *pinned >= cap {
                // Pins are bounded like alerts; this account keeps an ordinary history.
                return;
            }
            *pinned += 1;
            trail.pinned = true;
            trail.account = Some(name.as_str().into());
            trail.known_until = trail.known_until.min(now);
        }
        if let Some(since) = attacker_since {
            trail.unlearn_since(since);
        }
    }

    fn pin_ip(&mut self, ip: IpAddr) {
        if self.pinned_ips.len() >= self.cfg.max_alerts && !self.pinned_ips.contains(&ip) {
            // Pins are bounded like alerts.
            return;
        }
        if let Some(a) = self.sources.get_mut(&ip) {
            a.pinned = true;
        }
        self.pinned_ips.insert(ip);
    }

    /// Sees one alert. A re-emission (same id, higher severity) replaces the earlier one.
    pub fn observe_alert(&mut self, alert: &Alert) {
        let ev_ip = evidence::ip(alert);
        match alert.rule {
            Rule::CompromiseLogin | Rule::TakeoverSequence => {
                if alert.entity.kind == EntityKind::Account {
                    self.pin_account(&alert.entity.value, Some(alert.first_seen));
                }
                if let Some(ip) = ev_ip {
                    self.pin_ip(ip);
                }
            }
            Rule::OrdersBulk | Rule::BruteforceAccount => {
                if alert.entity.kind == EntityKind::Account {
                    self.pin_account(&alert.entity.value, None);
                }
            }
            Rule::OrdersDropAddress => {
                if !self.drop_addresses.contains(&alert.entity.value) {
                    self.drop_addresses.push(alert.entity.value.clone());
                }
                for a in &alert.accounts {
                    self.pin_account(a, None);
                }
            }
            // The stuffing rules, reset.flood, and any rule added later: its entity is pinned
            // when it is an address or an account (adding a rule needs nothing here).
            _ => {
                if let Some(ip) = alert.entity.ip_addr() {
                    self.pin_ip(ip);
                } else if alert.entity.kind == EntityKind::Account {
                    self.pin_account(&alert.entity.value, None);
                }
            }
        }
        if let Some(&i) = self.alert_index.get(&alert.id) {
            if let Some(slot) = self.alerts.get_mut(i) {
                *slot = alert.clone();
            }
        } else if self.alerts.len() < self.cfg.max_alerts {
            self.alert_index.insert(alert.id.clone(), self.alerts.len());
            self.alerts.push(alert.clone());
        } else {
            self.alerts_dropped += 1;
        }
    }

    /// Renders the page and the CSV files (what `cfg` asks for) without writing them.
    pub fn render(
        mut self,
        stats: &RunStats,
        as_org: &dyn Fn(Asn) -> Option<String>,
    ) -> Result<Rendered, ReportError> {
        self.timeline.flush();
        let model = Model::build(self, stats, as_org);
        let html = model.cfg.html.as_ref().map(|_| html::render(&model));
        let csv = if model.cfg.csv_dir.is_some() {
            csv::render(&model)?
        } else {
            Vec::new()
        };
        Ok(Rendered { html, csv })
    }

    /// Renders and writes the report.
    pub fn finish(
        self,
        stats: &RunStats,
        as_org: &dyn Fn(Asn) -> Option<String>,
    ) -> Result<ReportFiles, ReportError> {
        let cfg = self.cfg.clone();
        self.render(stats, as_org)?.write(&cfg)
    }
}

/// One row of the attacking-addresses table.
#[derive(Debug, Clone)]
pub struct SourceRow {
    /// The address.
    pub ip: IpAddr,
    /// Its ASN.
    pub asn: Option<Asn>,
    /// The ASN's organisation.
    pub org: Option<String>,
    /// Login attempts.
    pub attempts: u64,
    /// Failed logins.
    pub failures: u64,
    /// Failed logins for accounts that do not exist.
    pub unknown_account: u64,
    /// Successful logins.
    pub successes: u64,
    /// Password reset requests.
    pub resets: u64,
    /// Distinct accounts tried.
    pub accounts: Count,
    /// First event.
    pub first: Timestamp,
    /// Last event.
    pub last: Timestamp,
    /// Named in an alert.
    pub flagged: bool,
}

/// One row of the attacking-ASNs table.
#[derive(Debug, Clone)]
pub struct AsnRow {
    /// The ASN.
    pub asn: Asn,
    /// Its organisation.
    pub org: Option<String>,
    /// Login attempts.
    pub attempts: u64,
    /// Failed logins.
    pub failures: u64,
    /// Failed logins for accounts that do not exist.
    pub unknown_account: u64,
    /// Successful logins.
    pub successes: u64,
    /// Distinct addresses with logins.
    pub addresses: Count,
    /// Distinct addresses with failed logins.
    pub failing_addresses: Count,
    /// Distinct accounts tried.
    pub accounts: Count,
}

/// One compromised account.
#[derive(Debug, Clone)]
pub struct CompromisedRow {
    /// The account.
    pub account: String,
    /// The login (or first takeover step) time.
    pub time: Timestamp,
    /// The address.
    pub ip: Option<String>,
    /// Its ASN.
    pub asn: Option<Asn>,
    /// The ASN's organisation.
    pub org: Option<String>,
    /// Why it counts as compromised.
    pub reason: String,
    /// The highest severity among its alerts.
    pub severity: Severity,
    /// The alerts naming it (ids).
    pub alert_ids: Vec<String>,
    /// A takeover sequence was seen.
    pub takeover: bool,
    /// Its history from the login on.
    pub next: Vec<HistEvent>,
    /// History events dropped from its ring.
    pub history_dropped: u64,
}

impl CompromisedRow {
    /// Counts of what happened after the login: resets, changes, orders, totals, sellers.
    pub fn aftermath(&self) -> Aftermath {
        let mut a = Aftermath::default();
        for e in &self.next {
            match e.kind {
                EventKind::PasswordResetRequest | EventKind::PasswordResetComplete => a.resets += 1,
                EventKind::EmailChange | EventKind::AddressChange | EventKind::PaymentChange => {
                    a.changes += 1
                }
                EventKind::Order => {
                    a.orders += 1;
                    if let Some(o) = &e.order {
                        if let Some(amount) = o.amount {
                            let cur = o.currency.as_deref().unwrap_or("?").to_string();
                            *a.totals.entry(cur).or_insert(0.0) += amount;
                        }
                        if let Some(s) = &o.seller
                            && !a.sellers.iter().any(|x| x.as_str() == &**s)
                        {
                            a.sellers.push(s.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        a
    }
}

/// What happened to an account after it was broken into.
#[derive(Debug, Clone, Default)]
pub struct Aftermath {
    /// Reset requests and completions.
    pub resets: u64,
    /// E-mail, address and payment changes.
    pub changes: u64,
    /// Orders.
    pub orders: u64,
    /// Order totals by currency.
    pub totals: BTreeMap<String, f64>,
    /// Sellers, in order of first appearance.
    pub sellers: Vec<String>,
}

/// One order of an account named in an alert.
#[derive(Debug, Clone)]
pub struct OrderRow {
    /// The account.
    pub account: String,
    /// The order event.
    pub event: HistEvent,
    /// The ASN's organisation.
    pub org: Option<String>,
    /// Shipped to an address flagged by `orders.drop_address`.
    pub to_drop: bool,
}

/// Everything the renderers need, sorted and resolved.
#[derive(Debug)]
pub struct Model<'a> {
    /// The configuration.
    pub cfg: ReportConfig,
    /// The run's counters.
    pub stats: &'a RunStats,
    /// First and last event time.
    pub range: Option<(Timestamp, Timestamp)>,
    /// Events seen (weighted by repeat).
    pub events: u64,
    /// The stored bucket width.
    pub bucket_width: Millis,
    /// Timeline buckets in time order.
    pub buckets: Vec<(Timestamp, Bucket)>,
    /// Every kept alert, most severe first, then by time.
    pub alerts: Vec<Alert>,
    /// Alerts beyond the cap.
    pub alerts_dropped: u64,
    /// Addresses with failed logins or resets, most failures first.
    pub sources: Vec<SourceRow>,
    /// Addresses dropped from the table and their login attempts.
    pub sources_dropped: (u64, u64),
    /// ASNs with failed logins, most failures first.
    pub asns: Vec<AsnRow>,
    /// Login attempts from ASNs beyond the cap.
    pub asns_untracked: u64,
    /// Compromised accounts, by time.
    pub compromised: Vec<CompromisedRow>,
    /// Orders of accounts named in alerts, by time.
    pub orders: Vec<OrderRow>,
    /// Ship-tos flagged by `orders.drop_address`.
    pub drop_addresses: Vec<String>,
    /// Account histories dropped to stay in bounds.
    pub trails_dropped: u64,
    /// Organisation names of the ASNs in the report.
    pub orgs: BTreeMap<Asn, String>,
}

impl<'a> Model<'a> {
    fn build(
        b: ReportBuilder,
        stats: &'a RunStats,
        as_org: &dyn Fn(Asn) -> Option<String>,
    ) -> Model<'a> {
        let mut orgs: HashMap<Asn, Option<String>> = HashMap::new();
        for a in &b.alerts {
            if let (Some(asn), Some(org)) = (a.asn, &a.as_org) {
                orgs.insert(asn, Some(org.clone()));
            }
        }
        let mut org = |asn: Option<Asn>| -> Option<String> {
            let asn = asn?;
            orgs.entry(asn).or_insert_with(|| as_org(asn)).clone()
        };
        // The networks in account histories, so the timelines can name them.
        for t in b.trails.values().filter(|t| t.pinned) {
            for e in &t.events {
                org(e.asn);
            }
        }

        let mut alerts = b.alerts;
        alerts.sort_by(|x, y| {
            y.severity
                .cmp(&x.severity)
                .then(x.first_seen.cmp(&y.first_seen))
                .then(x.id.cmp(&y.id))
        });

        // Counts at the run's last event; each counter is dropped once read.
        let now = b.last.unwrap_or(Timestamp(0));
        let pinned_ips = &b.pinned_ips;
        let mut sources: Vec<SourceRow> = b
            .sources
            .into_iter()
            .filter(|(_, a)| a.failures > 0 || a.resets > 0 || a.pinned)
            .map(|(ip, a)| SourceRow {
                ip,
                asn: a.asn,
                org: None,
                attempts: a.attempts,
                failures: a.failures,
                unknown_account: a.unknown_account,
                successes: a.successes,
                resets: a.resets,
                first: a.first,
                last: a.last,
                flagged: a.pinned || pinned_ips.contains(&ip),
                accounts: a.accounts.count(now),
            })
            .collect();
        sources.sort_by(|x, y| {
            (y.failures + y.resets)
                .cmp(&(x.failures + x.resets))
                .then(x.ip.cmp(&y.ip))
        });
        for s in &mut sources {
            s.org = org(s.asn);
        }

        let mut asns: Vec<AsnRow> = b
            .asns
            .into_iter()
            .filter(|(_, a)| a.failures > 0)
            .map(|(asn, a)| AsnRow {
                asn,
                org: None,
                attempts: a.attempts,
                failures: a.failures,
                unknown_account: a.unknown_account,
                successes: a.successes,
                addresses: a.addresses.count(now),
                failing_addresses: a.failing_addresses.count(now),
                accounts: a.accounts.count(now),
            })
            .collect();
        asns.sort_by(|x, y| y.failures.cmp(&x.failures).then(x.asn.cmp(&y.asn)));
        for a in &mut asns {
            a.org = org(Some(a.asn));
        }

        // Compromised accounts: compromise.login entities, then takeover.sequence entities
        // not already listed.
        let mut compromised: Vec<CompromisedRow> = Vec::new();
        let mut by_time: Vec<&Alert> = alerts.iter().collect();
        by_time.sort_by(|x, y| x.first_seen.cmp(&y.first_seen).then(x.id.cmp(&y.id)));
        for a in by_time.iter().filter(|a| a.rule == Rule::CompromiseLogin) {
            let account = a.entity.value.clone();
            if let Some(row) = compromised.iter_mut().find(|r| r.account == account) {
                row.alert_ids.push(a.id.clone());
                row.severity = row.severity.max(a.severity);
                continue;
            }
            let time = evidence::login_time(a).unwrap_or(a.first_seen);
            let asn = a.asn.or_else(|| evidence::asn(a));
            compromised.push(CompromisedRow {
                account,
                time,
                ip: evidence::ip(a).map(|ip| ip.to_string()),
                asn,
                org: a.as_org.clone().or_else(|| org(asn)),
                reason: evidence::reason(a).map_or_else(|| a.summary.clone(), str::to_string),
                severity: a.severity,
                alert_ids: vec![a.id.clone()],
                takeover: false,
                next: Vec::new(),
                history_dropped: 0,
            });
        }
        for a in by_time.iter().filter(|a| a.rule == Rule::TakeoverSequence) {
            let account = a.entity.value.clone();
            if let Some(row) = compromised.iter_mut().find(|r| r.account == account) {
                row.takeover = true;
                row.alert_ids.push(a.id.clone());
                row.severity = row.severity.max(a.severity);
                row.time = row.time.min(a.first_seen);
                continue;
            }
            let (ip, step_asn, what) = evidence::first_step(a);
            let ip = ip.map(|ip| ip.to_string());
            let asn = step_asn.or(a.asn);
            let what = what.unwrap_or("takeover");
            compromised.push(CompromisedRow {
                account,
                time: a.first_seen,
                ip,
                asn,
                org: org(asn),
                reason: format!(
                    "takeover sequence starting with {} from a new address",
                    what.replace('_', " ")
                ),
                severity: a.severity,
                alert_ids: vec![a.id.clone()],
                takeover: true,
                next: Vec::new(),
                history_dropped: 0,
            });
        }
        compromised.sort_by(|x, y| x.time.cmp(&y.time).then(x.account.cmp(&y.account)));
        for row in &mut compromised {
            if let Some(trail) = AccountKey::normalize(&row.account)
                .and_then(|k| b.trails.get(&b.hasher.hash_one(k.as_str())))
            {
                row.next = trail
                    .events
                    .iter()
                    .filter(|e| e.ts >= row.time)
                    .cloned()
                    .collect();
                row.history_dropped = trail.dropped;
            }
        }

        // Orders of every account named in an alert (pinned trails).
        let mut orders: Vec<OrderRow> = Vec::new();
        for t in b.trails.values().filter(|t| t.pinned) {
            let Some(name) = &t.account else { continue };
            for e in t.events.iter().filter(|e| e.kind == EventKind::Order) {
                let to_drop = e
                    .order
                    .as_ref()
                    .and_then(|o| o.ship_to)
                    .is_some_and(|s| b.drop_addresses.contains(&s.to_string()));
                orders.push(OrderRow {
                    account: name.to_string(),
                    event: e.clone(),
                    org: None,
                    to_drop,
                });
            }
        }
        orders.sort_by(|x, y| x.event.ts.cmp(&y.event.ts).then(x.account.cmp(&y.account)));
        for o in &mut orders {
            o.org = org(o.event.asn);
        }

        let orgs: BTreeMap<Asn, String> = orgs
            .into_iter()
            .filter_map(|(asn, o)| o.map(|o| (asn, o)))
            .collect();
        let buckets = b
            .timeline
            .buckets
            .iter()
            .map(|(k, v)| (Timestamp(*k), *v))
            .collect();
        Model {
            cfg: b.cfg,
            stats,
            range: b.first.zip(b.last),
            events: b.events,
            bucket_width: b.timeline.width,
            buckets,
            alerts,
            alerts_dropped: b.alerts_dropped,
            sources,
            sources_dropped: (b.sources_dropped, b.attempts_dropped),
            asns,
            asns_untracked: b.asns_untracked,
            compromised,
            orders,
            drop_addresses: b.drop_addresses,
            trails_dropped: b.trails_dropped,
            orgs,
        }
    }

    /// `stuffing.global` bursts: `(first, last, alert id)`, by time.
    pub fn bursts(&self) -> Vec<(Timestamp, Timestamp, &str)> {
        let mut v: Vec<_> = self
            .alerts
            .iter()
            .filter(|a| a.rule == Rule::StuffingGlobal)
            .map(|a| (a.first_seen, a.last_seen, a.id.as_str()))
            .collect();
        v.sort();
        v
    }

    /// Alerts of one rule, by time.
    pub fn alerts_of(&self, rule: Rule) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self.alerts.iter().filter(|a| a.rule == rule).collect();
        v.sort_by(|x, y| x.first_seen.cmp(&y.first_seen).then(x.id.cmp(&y.id)));
        v
    }

    /// Events by kind, summed over outcomes, from the run's counters.
    pub fn events_of(&self, kind: EventKind, outcome: Option<Outcome>) -> u64 {
        self.stats
            .events
            .iter()
            .filter(|((k, o), _)| *k == kind && outcome.is_none_or(|want| want.as_str() == *o))
            .map(|(_, n)| *n)
            .sum()
    }
}

/// What the report reads from alert evidence, one function per field, each from the rule's
/// typed evidence (never a JSON key).
mod evidence {
    use std::net::IpAddr;

    use crate::alert::Alert;
    use crate::event::Asn;
    use crate::rules::takeover_sequence::TakeoverStep;
    use crate::time::Timestamp;

    /// The login's address of a `compromise.login` (no other rule names one address in its
    /// evidence).
    pub(super) fn ip(a: &Alert) -> Option<IpAddr> {
        a.evidence.compromise_login().and_then(|e| e.ip)
    }

    /// `login_time` of a `compromise.login`.
    pub(super) fn login_time(a: &Alert) -> Option<Timestamp> {
        a.evidence.compromise_login().map(|e| e.login_time)
    }

    /// `asn` of a `compromise.login`.
    pub(super) fn asn(a: &Alert) -> Option<Asn> {
        a.evidence.compromise_login().and_then(|e| e.asn)
    }

    /// `reason` of a `compromise.login`.
    pub(super) fn reason(a: &Alert) -> Option<&str> {
        a.evidence.compromise_login().map(|e| e.reason.as_str())
    }

    /// The first of a `takeover.sequence`'s `steps`: its address, ASN and event (the orders,
    /// when they are the first step, have neither address nor ASN).
    pub(super) fn first_step(a: &Alert) -> (Option<IpAddr>, Option<Asn>, Option<&'static str>) {
        match a.evidence.takeover_sequence().and_then(|e| e.steps.first()) {
            Some(TakeoverStep::Event(s)) => (s.ip, s.asn, Some(s.event.as_str())),
            Some(step @ TakeoverStep::Orders(_)) => (None, None, Some(step.event().as_str())),
            None => (None, None, None),
        }
    }
}

/// Formats an event time for people: `2026-11-19 03:12:07`, in UTC.
pub fn fmt_time(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s, _) = t.to_civil();
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// Formats an amount with thousands separators and at most two decimals: `160,890`,
/// `12.50`.
pub fn fmt_amount(v: f64) -> String {
    if !v.is_finite() {
        return "?".to_string();
    }
    let neg = v < 0.0;
    let cents = (v.abs() * 100.0).round() as u64;
    let whole = crate::alert::thousands(cents / 100);
    let frac = cents % 100;
    let sign = if neg { "-" } else { "" };
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{frac:02}")
    }
}

/// Formats per-currency totals: `JPY 160,890 + USD 12.50`.
pub fn fmt_totals(totals: &BTreeMap<String, f64>) -> String {
    totals
        .iter()
        .map(|(c, v)| format!("{c} {}", fmt_amount(*v)))
        .collect::<Vec<_>>()
        .join(" + ")
}

#[cfg(test)]
mod tests;
