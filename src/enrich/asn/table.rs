//! Sorted IP-range tables loaded from `start,end,asn,org` CSV files (the ip-location-db "asn"
//! format), plain or gzip-compressed.
//!
//! Loading is strict: a database is configuration, not a log, so a malformed row stops the load
//! with the file and line instead of leaving a half-loaded table. The only rows skipped are
//! AS 0 rows, which mean "not routed".
//!
//! Overlaps are resolved at load time into disjoint ranges, so a lookup is one binary search:
//! where ranges overlap, the **narrower** range wins (the analogue of longest-prefix match in
//! routing); between ranges of equal width, the **later** row wins (later file, then later line).
//! The shared real IPv4 table has one such overlap (`214.95.0.0-215.0.255.255` AS749 and
//! `215.0.0.0-215.1.3.255` AS721), so rejecting overlaps would reject real data.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::net::IpAddr;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::EnrichError;
use crate::event::lossless_text;

/// The message for content that is neither format we read.
pub(super) const NOT_RECOGNIZED: &str = "not a MaxMind DB or a start,end,asn,org CSV";

/// What a range maps to: an ASN and an index into the interned organisation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Val {
    pub(super) asn: u32,
    pub(super) org: u32,
}

/// An address key: `u32` for IPv4, `u128` for IPv6.
pub(super) trait Key: Copy + Ord + std::fmt::Debug {
    const MIN: Self;
    const MAX: Self;
    fn widen(self) -> u128;
    /// Narrows a value known to be in range (saturating otherwise).
    fn from_wide(x: u128) -> Self;
}

impl Key for u32 {
    const MIN: u32 = 0;
    const MAX: u32 = u32::MAX;
    fn widen(self) -> u128 {
        u128::from(self)
    }
    fn from_wide(x: u128) -> u32 {
        u32::try_from(x).unwrap_or(u32::MAX)
    }
}

impl Key for u128 {
    const MIN: u128 = 0;
    const MAX: u128 = u128::MAX;
    fn widen(self) -> u128 {
        self
    }
    fn from_wide(x: u128) -> u128 {
        x
    }
}

/// Bits of the bucket index in front of the binary search: 2^16 buckets, 256 KB per family.
/// Tests use tiny tables, so they use 4 buckets to cross bucket edges often.
const INDEX_BITS: u32 = if cfg!(test) { 2 } else { 16 };

/// Disjoint, sorted inclusive ranges as a structure of arrays: the binary search touches only
/// `starts`, which keeps more of the search in cache.
///
/// In front of the search, a bucket index splits the span from the first to the last start
/// into at most 2^16 equal buckets (the /16s of IPv4) and records where each bucket's starts
/// begin, so a lookup is one index load and a binary search within one bucket instead of ~19
/// dependent loads over the whole table.
#[derive(Debug)]
pub(super) struct Ranges<K> {
    /// `index[b]`: how many starts lie in buckets before `b`; one more entry than buckets.
    index: Vec<u32>,
    /// The first start: bucket 0 begins here.
    base: u128,
    /// log2 of the bucket width.
    shift: u32,
    starts: Vec<K>,
    /// End and answer of each range, side by side: one cache miss for both.
    tails: Vec<Tail<K>>,
}

/// The rest of a range after its start.
#[derive(Debug, Clone, Copy)]
struct Tail<K> {
    end: K,
    val: Val,
}

/// The span of addresses around a lookup that share its answer: a range, or the gap between two
/// ranges (`val` is `None`). Used by the enricher's one-entry cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) lo: u128,
    pub(super) hi: u128,
    pub(super) val: Option<Val>,
}

impl<K: Key> Ranges<K> {
    /// How many ranges start at or before `x`.
    #[inline]
    fn rank(&self, x: K) -> usize {
        let Some(off) = x.widen().checked_sub(self.base) else {
            return 0;
        };
        // Past the last bucket (x beyond the last start), the last bucket's search gives the
        // right answer: every start is <= x.
        let last = self.index.len().saturating_sub(2);
        let b = usize::try_from(off >> self.shift).map_or(last, |b| b.min(last));
        let lo = self.index.get(b).map_or(0, |&i| i as usize);
        let hi = self
            .index
            .get(b + 1)
            .map_or(self.starts.len(), |&i| i as usize);
        lo + self
            .starts
            .get(lo..hi)
            .map_or(0, |w| w.partition_point(|&s| s <= x))
    }

    /// The range holding `x`.
    #[inline]
    pub(super) fn find(&self, x: K) -> Option<Val> {
        let i = self.rank(x).checked_sub(1)?;
        let t = self.tails.get(i)?;
        (t.end >= x).then_some(t.val)
    }

    /// The range or gap holding `x`, with its bounds.
    #[inline]
    pub(super) fn span(&self, x: K) -> Span {
        let next = self.rank(x);
        // The gap (or range) ends just before the next range starts.
        let gap_hi = match self.starts.get(next) {
            Some(s) => s.widen().saturating_sub(1),
            None => K::MAX.widen(),
        };
        let Some(i) = next.checked_sub(1) else {
            return Span {
                lo: K::MIN.widen(),
                hi: gap_hi,
                val: None,
            };
        };
        match (self.starts.get(i), self.tails.get(i)) {
            (Some(&s), Some(t)) if t.end >= x => Span {
                lo: s.widen(),
                hi: t.end.widen(),
                val: Some(t.val),
            },
            (_, Some(t)) => Span {
                lo: t.end.widen().saturating_add(1),
                hi: gap_hi,
                val: None,
            },
            _ => Span {
                lo: x.widen(),
                hi: x.widen(),
                val: None,
            },
        }
    }

    /// Number of ranges.
    pub(super) fn len(&self) -> usize {
        self.starts.len()
    }

    fn push(&mut self, lo: K, hi: K, val: Val) {
        // Adjacent ranges with the same answer are one range: fewer steps per search.
        if let Some(t) = self.tails.last_mut()
            && t.val == val
            && t.end.widen().checked_add(1) == Some(lo.widen())
        {
            t.end = hi;
            return;
        }
        self.starts.push(lo);
        self.tails.push(Tail { end: hi, val });
    }

    /// Builds the bucket index and releases spare capacity.
    fn seal(&mut self) {
        let (Some(first), Some(last)) = (self.starts.first(), self.starts.last()) else {
            return;
        };
        self.base = first.widen();
        let span = last.widen() - self.base;
        let bits = u128::BITS - span.leading_zeros();
        self.shift = bits.saturating_sub(INDEX_BITS);
        let buckets = usize::try_from(span >> self.shift).unwrap_or(0) + 1;
        self.index = Vec::with_capacity(buckets + 1);
        // One pass: starts are sorted, so each bucket's first position follows the previous.
        let mut pos = 0usize;
        for b in 0..buckets {
            // Fits: b << shift <= span for every bucket but the end marker pushed below.
            let bound = (b as u128) << self.shift;
            while self
                .starts
                .get(pos)
                .is_some_and(|s| s.widen() - self.base < bound)
            {
                pos += 1;
            }
            // Tables beyond 4 billion ranges cannot be loaded from files anyway.
            self.index.push(u32::try_from(pos).unwrap_or(u32::MAX));
        }
        self.index
            .push(u32::try_from(self.starts.len()).unwrap_or(u32::MAX));
        self.starts.shrink_to_fit();
        self.tails.shrink_to_fit();
    }
}

/// Counts from loading, for the run summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Data rows read (header and comment lines not counted).
    pub rows: u64,
    /// Rows skipped because their ASN is 0 ("not routed").
    pub unrouted: u64,
    /// Rows that overlap an earlier row (resolved: narrower wins, then later).
    pub overlapping: u64,
    /// Disjoint IPv4 ranges after resolving overlaps and merging neighbours.
    pub ranges_v4: usize,
    /// Disjoint IPv6 ranges after resolving overlaps and merging neighbours.
    pub ranges_v6: usize,
}

/// IPv4 and IPv6 range tables with interned organisation names.
#[derive(Debug)]
pub(super) struct RangeTable {
    pub(super) v4: Ranges<u32>,
    pub(super) v6: Ranges<u128>,
    orgs: Vec<Box<str>>,
    /// `(asn, org index)` sorted by ASN, for `as_org`.
    by_asn: Vec<(u32, u32)>,
    pub(super) stats: TableStats,
}

impl RangeTable {
    /// The organisation name behind an index from a [`Val`].
    #[inline]
    pub(super) fn org(&self, idx: u32) -> &str {
        self.orgs.get(idx as usize).map_or("", |s| s)
    }

    /// The organisation name of an ASN (the first one seen if rows disagree).
    pub(super) fn org_of(&self, asn: u32) -> Option<&str> {
        let i = self.by_asn.partition_point(|&(a, _)| a < asn);
        match self.by_asn.get(i) {
            Some(&(a, o)) if a == asn => Some(self.org(o)).filter(|s| !s.is_empty()),
            _ => None,
        }
    }
}

/// One parsed row, before overlaps are resolved.
struct Row<K> {
    start: K,
    end: K,
    val: Val,
    /// Global order of the row over all files: the tie-breaker (later wins).
    seq: u64,
}

/// Accumulates rows from one or more files.
pub(super) struct Loader {
    v4: Vec<Row<u32>>,
    v6: Vec<Row<u128>>,
    orgs: Vec<Box<str>>,
    org_ids: foldhash::HashMap<Box<str>, u32>,
    seq: u64,
    stats: TableStats,
}

/// A start/end pair of one family.
enum Pair {
    V4(u32, u32),
    V6(u128, u128),
}

/// Why one row is bad (turned into an error naming file and line by the caller).
type RowResult<T> = Result<T, String>;

fn parse_ip(field: &[u8], what: &str) -> RowResult<IpAddr> {
    let text = std::str::from_utf8(field.trim_ascii()).map_err(|_| format!("{what}: not UTF-8"))?;
    text.parse::<IpAddr>().map_err(|_| {
        let shown: String = text.chars().take(64).collect();
        format!("{what} {shown:?} is not an IP address")
    })
}

/// IPv4-mapped IPv6 addresses are looked up as IPv4, so mapped ranges are stored as IPv4.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn parse_pair(start: &[u8], end: &[u8]) -> RowResult<Pair> {
    let (s, e) = (parse_ip(start, "start")?, parse_ip(end, "end")?);
    // A range from ::ffff:a.b.c.d to a plain IPv6 address straddles the mapped block: it stays
    // IPv6 as written (and so never answers for mapped addresses, which are looked up as IPv4).
    let (s, e) = match (unmap(s), unmap(e)) {
        (a @ IpAddr::V4(_), b @ IpAddr::V4(_)) => (a, b),
        _ => (s, e),
    };
    let pair = match (s, e) {
        (IpAddr::V4(a), IpAddr::V4(b)) => Pair::V4(a.to_bits(), b.to_bits()),
        (IpAddr::V6(a), IpAddr::V6(b)) => Pair::V6(a.to_bits(), b.to_bits()),
        _ => return Err("start and end are of different address families".to_owned()),
    };
    let ordered = match pair {
        Pair::V4(a, b) => a <= b,
        Pair::V6(a, b) => a <= b,
    };
    if ordered {
        Ok(pair)
    } else {
        Err(format!("start {s} is after end {e}"))
    }
}

/// Parses an ASN field: digits, optionally prefixed with `AS`. Empty means "not routed" (0).
fn parse_asn(field: &[u8]) -> RowResult<u32> {
    let t = field.trim_ascii();
    let digits = match t {
        [b'A' | b'a', b'S' | b's', rest @ ..] => rest,
        _ => t,
    };
    if t.is_empty() {
        return Ok(0);
    }
    std::str::from_utf8(digits)
        .ok()
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u32>().ok())
        .ok_or_else(|| {
            let shown: String = lossless_text(t).chars().take(32).collect();
            format!("asn {shown:?} is not a number from 0 to 4294967295")
        })
}

fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

impl Loader {
    pub(super) fn new() -> Loader {
        Loader {
            v4: Vec::new(),
            v6: Vec::new(),
            orgs: Vec::new(),
            org_ids: foldhash::HashMap::default(),
            seq: 0,
            stats: TableStats::default(),
        }
    }

    fn intern(&mut self, org: &str) -> u32 {
        if let Some(&id) = self.org_ids.get(org) {
            return id;
        }
        // More than 4 billion distinct names cannot come from a file we could load anyway;
        // saturating keeps this total.
        let id = u32::try_from(self.orgs.len()).unwrap_or(u32::MAX);
        self.orgs.push(org.into());
        self.org_ids.insert(org.into(), id);
        id
    }

    /// Reads one file, detecting gzip by its magic bytes. `head` is the start of the file as
    /// already read by the caller for format detection.
    pub(super) fn load_file(&mut self, path: &Path, head: &[u8]) -> Result<(), EnrichError> {
        let io = |source| EnrichError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        if is_gzip(head) {
            self.load_reader(path, MultiGzDecoder::new(BufReader::new(file)))
        } else {
            self.load_reader(path, file)
        }
    }

    /// Reads CSV rows from `rdr`; `path` only names the source in errors.
    pub(super) fn load_reader<R: Read>(&mut self, path: &Path, rdr: R) -> Result<(), EnrichError> {
        let invalid = |message: String| EnrichError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .buffer_capacity(1 << 16)
            .from_reader(rdr);
        let mut rec = csv::ByteRecord::new();
        // Until the first data row has parsed, a failure means "this is not our format at
        // all" rather than "line N is bad".
        let mut recognized = false;
        let mut first = true;
        loop {
            match csv.read_byte_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    if !matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        return Err(invalid(format!("line {line}: {e}")));
                    }
                    return Err(match e.into_kind() {
                        csv::ErrorKind::Io(source) => EnrichError::Io {
                            path: path.to_path_buf(),
                            source,
                        },
                        other => invalid(format!("line {line}: {other:?}")),
                    });
                }
            }
            let line = rec.position().map_or(0, |p| p.line());
            let is_first = std::mem::replace(&mut first, false);
            // An optional header row: a first row whose start field is not an address.
            if is_first && parse_ip(rec.get(0).unwrap_or_default(), "start").is_err() {
                continue;
            }
            match self.add_row(&rec) {
                Ok(()) => recognized = true,
                Err(msg) if recognized => return Err(invalid(format!("line {line}: {msg}"))),
                Err(msg) => {
                    return Err(invalid(format!("{NOT_RECOGNIZED} (line {line}: {msg})")));
                }
            }
        }
        if !recognized {
            return Err(invalid(format!("{NOT_RECOGNIZED}: no data rows")));
        }
        Ok(())
    }

    fn add_row(&mut self, rec: &csv::ByteRecord) -> RowResult<()> {
        if rec.len() != 4 {
            return Err(format!(
                "expected 4 fields start,end,asn,org, found {}",
                rec.len()
            ));
        }
        let field = |i| rec.get(i).unwrap_or_default();
        let pair = parse_pair(field(0), field(1))?;
        let asn = parse_asn(field(2))?;
        self.stats.rows += 1;
        if asn == 0 {
            self.stats.unrouted += 1;
            return Ok(());
        }
        let org_text = lossless_text(field(3));
        let org = self.intern(org_text.trim());
        let val = Val { asn, org };
        let seq = self.seq;
        self.seq += 1;
        match pair {
            Pair::V4(start, end) => self.v4.push(Row {
                start,
                end,
                val,
                seq,
            }),
            Pair::V6(start, end) => self.v6.push(Row {
                start,
                end,
                val,
                seq,
            }),
        }
        Ok(())
    }

    /// Resolves overlaps and builds the lookup tables.
    pub(super) fn finish(mut self) -> RangeTable {
        let (v4, o4) = flatten(std::mem::take(&mut self.v4));
        let (v6, o6) = flatten(std::mem::take(&mut self.v6));
        self.stats.overlapping = o4 + o6;
        self.stats.ranges_v4 = v4.len();
        self.stats.ranges_v6 = v6.len();
        let mut by_asn: Vec<(u32, u32)> = v4
            .tails
            .iter()
            .map(|t| t.val)
            .chain(v6.tails.iter().map(|t| t.val))
            .map(|v| (v.asn, v.org))
            .collect();
        // Per ASN, keep the first non-empty name in load order (lowest intern index), or the
        // empty one if it has no other.
        by_asn.sort_unstable_by_key(|&(a, o)| {
            let empty = self.orgs.get(o as usize).is_none_or(|s| s.is_empty());
            (a, empty, o)
        });
        by_asn.dedup_by_key(|&mut (a, _)| a);
        by_asn.shrink_to_fit();
        drop(self.org_ids);
        self.orgs.shrink_to_fit();
        RangeTable {
            v4,
            v6,
            orgs: self.orgs,
            by_asn,
            stats: self.stats,
        }
    }
}

/// Turns possibly overlapping rows into disjoint sorted ranges: narrower wins, then later.
/// Returns the table and the number of rows that overlapped an earlier one.
///
/// A sweep over the rows sorted by start with a heap of the rows covering the current
/// position, ordered by priority. Rows that have ended are dropped lazily when they reach the
/// top, since only the top decides the answer.
fn flatten<K: Key>(mut rows: Vec<Row<K>>) -> (Ranges<K>, u64) {
    rows.sort_by_key(|r| (r.start, r.seq));
    let mut out = Ranges {
        index: Vec::new(),
        base: 0,
        shift: 0,
        starts: Vec::new(),
        tails: Vec::new(),
    };
    let mut overlapping = 0;
    let mut max_end: Option<K> = None;
    for r in &rows {
        if max_end.is_some_and(|m| r.start <= m) {
            overlapping += 1;
        }
        max_end = max_end.max(Some(r.end));
    }

    // Priority: narrower first, then later. Width is compared widened so IPv4 and IPv6 share
    // the code.
    let prio = |r: &Row<K>| (Reverse(r.end.widen() - r.start.widen()), r.seq);
    let mut heap: BinaryHeap<((Reverse<u128>, u64), usize)> = BinaryHeap::new();
    let mut i = 0;
    // `pos` is the first address not yet emitted; `None` once past the end of the space.
    let mut pos: Option<K> = rows.first().map(|r| r.start);
    while let Some(p) = pos {
        // Drop rows that ended before `p` from the top.
        while let Some(&(_, idx)) = heap.peek() {
            if rows.get(idx).is_some_and(|r| r.end < p) {
                heap.pop();
            } else {
                break;
            }
        }
        // Admit every row starting at or before `p`.
        while let Some(r) = rows.get(i) {
            if r.start > p {
                break;
            }
            if r.end >= p {
                heap.push((prio(r), i));
            }
            i += 1;
        }
        let next_start = rows.get(i).map(|r| r.start);
        let Some(top) = heap.peek().and_then(|&(_, idx)| rows.get(idx)) else {
            // Nothing covers `p`: jump to the next row, or stop.
            pos = next_start;
            continue;
        };
        match next_start {
            // A row starting inside the top's range may take over: emit up to it.
            Some(ns) if ns <= top.end => {
                out.push(p, predecessor(ns), top.val);
                pos = Some(ns);
            }
            _ => {
                out.push(p, top.end, top.val);
                pos = successor(top.end);
            }
        }
    }
    out.seal();
    (out, overlapping)
}

/// `x - 1` (saturating at the bottom, where it is never called).
fn predecessor<K: Key>(x: K) -> K {
    K::from_wide(x.widen().saturating_sub(1))
}

/// `x + 1`, or `None` past the end of the address space.
fn successor<K: Key>(x: K) -> Option<K> {
    (x < K::MAX).then(|| K::from_wide(x.widen().saturating_add(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn load(text: &[u8]) -> Result<RangeTable, EnrichError> {
        let mut l = Loader::new();
        l.load_reader(Path::new("test.csv"), text)?;
        Ok(l.finish())
    }

    fn err(text: &[u8]) -> String {
        load(text).expect_err("should fail").to_string()
    }

    fn v4<'t>(t: &'t RangeTable, ip: &str) -> Option<(u32, &'t str)> {
        let a: std::net::Ipv4Addr = ip.parse().expect("ipv4");
        t.v4.find(a.to_bits()).map(|v| (v.asn, t.org(v.org)))
    }

    fn v6<'t>(t: &'t RangeTable, ip: &str) -> Option<(u32, &'t str)> {
        let a: std::net::Ipv6Addr = ip.parse().expect("ipv6");
        t.v6.find(a.to_bits()).map(|v| (v.asn, t.org(v.org)))
    }

    #[test]
    fn reads_header_quotes_mixed_families_comments_and_as_prefix() {
        let t = load(
            b"start,end,asn,org\n\
              # a comment line\n\
              1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n\
              2001:200::, 2001:200:1b9:ffff:ffff:ffff:ffff:ffff ,AS2500,WIDE Project\n\
              2a0c:6d00::,2a0c:6d00:ffff:ffff:ffff:ffff:ffff:ffff,3218,\"Institute \"\"Space\"\"\"\n\
              ::ffff:5.0.0.0,::ffff:5.0.0.255,64500, Mapped Org \n",
        )
        .expect("load");
        assert_eq!(v4(&t, "1.0.0.1"), Some((13335, "Cloudflare, Inc.")));
        assert_eq!(v4(&t, "1.0.0.255"), Some((13335, "Cloudflare, Inc.")));
        assert_eq!(v4(&t, "1.0.1.0"), None);
        assert_eq!(v4(&t, "0.255.255.255"), None);
        assert_eq!(v6(&t, "2001:200:1b9::1"), Some((2500, "WIDE Project")));
        assert_eq!(v6(&t, "2001:200:1ba::"), None);
        assert_eq!(v6(&t, "2a0c:6d00::1"), Some((3218, "Institute \"Space\"")));
        // Mapped ranges are stored as IPv4 (and the org is trimmed).
        assert_eq!(v4(&t, "5.0.0.9"), Some((64500, "Mapped Org")));
        assert_eq!(t.stats.rows, 4);
        assert_eq!((t.stats.ranges_v4, t.stats.ranges_v6), (2, 2));
        assert_eq!(t.org_of(13335), Some("Cloudflare, Inc."));
        assert_eq!(t.org_of(1), None);
    }

    #[test]
    fn skips_as0_keeps_empty_org_and_escapes_non_utf8() {
        let t = load(
            b"10.0.0.0,10.255.255.255,0,Not routed\n\
              11.0.0.0,11.0.0.255,,\n\
              12.0.0.0,12.0.0.255,64501,\n\
              13.0.0.0,13.0.0.255,64502,Caf\xe9\n",
        )
        .expect("load");
        assert_eq!(t.stats.unrouted, 2);
        assert_eq!(v4(&t, "10.1.2.3"), None);
        assert_eq!(v4(&t, "11.0.0.1"), None);
        assert_eq!(v4(&t, "12.0.0.1"), Some((64501, "")));
        assert_eq!(t.org_of(64501), None);
        assert_eq!(v4(&t, "13.0.0.1"), Some((64502, "Caf\\xE9")));
    }

    #[test]
    fn bad_rows_name_the_line() {
        let good = "1.0.0.0,1.0.0.255,13335,Cloudflare\n";
        let cases: [(&str, &str); 7] = [
            (
                "1.2.3.0,1.2.3,64500,X\n",
                "line 2: end \"1.2.3\" is not an IP address",
            ),
            (
                "1.2.3.9,1.2.3.0,64500,X\n",
                "line 2: start 1.2.3.9 is after end 1.2.3.0",
            ),
            (
                "1.2.3.0,2001::,64500,X\n",
                "line 2: start and end are of different address families",
            ),
            (
                "1.2.3.0,1.2.3.9,64500\n",
                "line 2: expected 4 fields start,end,asn,org, found 3",
            ),
            ("1.2.3.0,1.2.3.9,64500,X,extra\n", "found 5"),
            (
                "1.2.3.0,1.2.3.9,12x,X\n",
                "line 2: asn \"12x\" is not a number",
            ),
            (
                "1.2.3.0,1.2.3.9,4294967296,X\n",
                "line 2: asn \"4294967296\"",
            ),
        ];
        for (row, want) in cases {
            let e = err(format!("{good}{row}").as_bytes());
            assert!(e.starts_with("test.csv: "), "{e}");
            assert!(e.contains(want), "{row:?}: {e}");
        }
        // After a header, the bad line is line 3.
        let e = err(b"start,end,asn,org\n1.0.0.0,1.0.0.9,1,A\n1.0.0.10,x,1,A\n");
        assert!(e.contains("line 3: end \"x\""), "{e}");
    }

    #[test]
    fn text_garbage_and_empty_are_not_recognized() {
        for text in [
            &b"hello world\nthis is a text file\n"[..],
            b"start,end,asn,org\n",
            b"",
            b"\x00\x01\x02\xff\xfe binary \"unterminated",
            b"# only a comment\n",
        ] {
            let e = err(text);
            assert!(e.contains(NOT_RECOGNIZED), "{text:?}: {e}");
        }
        let e = err(b"hello world\nthis is a text file\n");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn overlaps_narrower_wins_then_later() {
        let t = load(
            b"214.95.0.0,215.0.255.255,749,DoD\n\
              215.0.0.0,215.1.3.255,721,DoD NIC\n\
              20.0.0.0,20.255.255.255,1,Wide\n\
              20.1.0.0,20.1.0.255,2,Inner\n\
              30.0.0.0,30.0.0.255,3,First\n\
              30.0.0.0,30.0.0.255,4,Second\n",
        )
        .expect("load");
        // The real partial overlap from asn-ipv4.csv: the narrower second row takes over.
        assert_eq!(v4(&t, "214.95.0.1"), Some((749, "DoD")));
        assert_eq!(v4(&t, "214.255.255.255"), Some((749, "DoD")));
        assert_eq!(v4(&t, "215.0.0.0"), Some((721, "DoD NIC")));
        assert_eq!(v4(&t, "215.1.3.255"), Some((721, "DoD NIC")));
        assert_eq!(v4(&t, "215.1.4.0"), None);
        // Nested: the inner range is a hole punched in the outer one.
        assert_eq!(v4(&t, "20.0.255.255"), Some((1, "Wide")));
        assert_eq!(v4(&t, "20.1.0.7"), Some((2, "Inner")));
        assert_eq!(v4(&t, "20.1.1.0"), Some((1, "Wide")));
        // Equal width: later wins.
        assert_eq!(v4(&t, "30.0.0.1"), Some((4, "Second")));
        assert_eq!(t.stats.overlapping, 3);
        // 214.95/215.0 split in two, Wide split around Inner, Second alone.
        assert_eq!(t.stats.ranges_v4, 2 + 3 + 1);
    }

    #[test]
    fn later_file_wins_ties_and_unsorted_rows_are_sorted() {
        let mut l = Loader::new();
        l.load_reader(
            Path::new("a.csv"),
            &b"9.0.0.0,9.0.0.255,1,A\n8.0.0.0,8.0.0.255,5,E\n"[..],
        )
        .expect("a");
        l.load_reader(Path::new("b.csv"), &b"9.0.0.0,9.0.0.255,2,B\n"[..])
            .expect("b");
        let t = l.finish();
        assert_eq!(v4(&t, "9.0.0.1"), Some((2, "B")));
        assert_eq!(v4(&t, "8.0.0.1"), Some((5, "E")));
        // Per ASN, the name comes from the table.
        assert_eq!(t.org_of(1), None, "AS1 lost every range to AS2");
        assert_eq!(t.org_of(2), Some("B"));
    }

    #[test]
    fn adjacent_equal_ranges_merge_and_space_edges_work() {
        let t = load(
            b"0.0.0.0,0.0.0.255,7,Low\n\
              0.0.1.0,0.0.1.255,7,Low\n\
              255.255.255.0,255.255.255.255,8,High\n\
              ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,9,Top\n\
              ::,::ff,10,Bottom\n",
        )
        .expect("load");
        assert_eq!(t.stats.ranges_v4, 2);
        assert_eq!(v4(&t, "0.0.0.0"), Some((7, "Low")));
        assert_eq!(v4(&t, "0.0.1.255"), Some((7, "Low")));
        assert_eq!(v4(&t, "255.255.255.255"), Some((8, "High")));
        assert_eq!(
            v6(&t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            Some((9, "Top"))
        );
        assert_eq!(v6(&t, "::"), Some((10, "Bottom")));
        assert_eq!(
            t.v4.span(u32::MAX),
            Span {
                lo: 0xffff_ff00,
                hi: u128::from(u32::MAX),
                val: Some(Val { asn: 8, org: 1 }),
            }
        );
        // The gap between the two IPv4 ranges.
        let gap = t.v4.span(0x0001_0000);
        assert_eq!((gap.lo, gap.hi, gap.val), (0x200, 0xffff_feff, None));
        // A whole-space range in both families.
        let all =
            load(b"0.0.0.0,255.255.255.255,1,A\n::,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,2,B\n")
                .expect("load");
        assert_eq!(v4(&all, "128.0.0.1"), Some((1, "A")));
        assert_eq!(v6(&all, "2001::1"), Some((2, "B")));
    }

    #[test]
    fn extra_long_org_is_kept() {
        let org = "x".repeat(100_000);
        let t = load(format!("1.0.0.0,1.0.0.255,1,\"{org}\"\n").as_bytes()).expect("load");
        assert_eq!(v4(&t, "1.0.0.1").map(|(_, o)| o.len()), Some(100_000));
    }

    /// The definition the sweep must match: among the rows holding `x`, the narrowest, then
    /// the latest.
    fn reference(rows: &[(u32, u32, u32)], x: u32) -> Option<u32> {
        rows.iter()
            .enumerate()
            .filter(|(_, r)| r.0 <= x && x <= r.1)
            .max_by_key(|(i, r)| (Reverse(r.1 - r.0), *i))
            .map(|(_, r)| r.2)
    }

    fn rows_strategy() -> impl Strategy<Value = (u32, Vec<(u32, u32, u32)>)> {
        // Small tables over a 96-address window, placed at the bottom, middle or top of the
        // IPv4 space so the edges of the space are exercised.
        let base = prop_oneof![Just(0u32), Just(0x8000_0000u32), Just(u32::MAX - 95)];
        let row = (0u32..96, 0u32..24, 1u32..5);
        (base, proptest::collection::vec(row, 0..14)).prop_map(|(base, rows)| {
            let rows = rows
                .into_iter()
                .map(|(s, len, asn)| {
                    let s = base + s;
                    (s, s.saturating_add(len).min(base + 95), asn)
                })
                .collect();
            (base, rows)
        })
    }

    proptest! {
        #[test]
        fn table_lookup_equals_linear_scan((base, rows) in rows_strategy()) {
            let mk = |shift: u32| -> Vec<Row<u32>> {
                rows.iter()
                    .enumerate()
                    .map(|(i, &(s, e, asn))| Row {
                        start: s.wrapping_add(shift),
                        end: e.wrapping_add(shift),
                        val: Val { asn, org: 0 },
                        seq: i as u64,
                    })
                    .collect()
            };
            let (t4, _) = flatten(mk(0));
            // The same rows in IPv6 space, high in the address.
            // A one-address row at `::` widens the table's span to the whole space, so the
            // bucket index covers its edges.
            let mut rows6: Vec<Row<u128>> = mk(0)
                .into_iter()
                .map(|r| Row {
                    start: u128::from(r.start) << 96,
                    end: u128::from(r.end) << 96 | u128::from(u32::MAX) << 64,
                    val: r.val,
                    seq: r.seq,
                })
                .collect();
            rows6.push(Row { start: 0, end: 0, val: Val { asn: 99, org: 0 }, seq: 999 });
            let (t6, _) = flatten(rows6);
            // Disjoint and sorted.
            for i in 1..t4.len() {
                prop_assert!(t4.tails[i - 1].end < t4.starts[i]);
            }
            let lo = base.saturating_sub(3);
            let hi = base.saturating_add(98).max(base);
            for x in lo..=hi {
                let want = reference(&rows, x);
                prop_assert_eq!(t4.find(x).map(|v| v.asn), want, "x = {}", x);
                let y = u128::from(x) << 96 | 5;
                prop_assert_eq!(t6.find(y).map(|v| v.asn), want, "v6 x = {}", x);
                // The span around x holds x and has x's answer at both ends.
                let sp = t4.span(x);
                prop_assert!(sp.lo <= u128::from(x) && u128::from(x) <= sp.hi);
                prop_assert_eq!(sp.val.map(|v| v.asn), want);
                for edge in [sp.lo, sp.hi] {
                    let e = u32::try_from(edge).unwrap_or(u32::MAX);
                    prop_assert_eq!(t4.find(e).map(|v| v.asn), want);
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = load(&bytes);
        }

        #[test]
        fn mutated_rows_never_panic(
            pos in 0usize..200,
            byte in any::<u8>(),
        ) {
            let mut text = b"start,end,asn,org\n1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n2001:200::,2001:200:1b9:ffff:ffff:ffff:ffff:ffff,2500,WIDE Project\n".to_vec();
            if let Some(b) = text.get_mut(pos % 140) {
                *b = byte;
            }
            let _ = load(&text);
        }
    }
}
