//! The shared real IP-to-ASN table (ip-location-db `asn` CSV: `start,end,asn,org`, inclusive
//! ranges, sorted). The generator picks client addresses from real ranges of chosen ASNs and
//! writes out the rows covering every address it used.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::rng::Rng;

/// One range of the table.
#[derive(Debug, Clone, Copy)]
struct Row<T> {
    start: T,
    end: T,
    asn: u32,
    /// Byte range of the raw CSV line in the decompressed text.
    line: (usize, usize),
}

/// Both halves of the table, kept as the raw text plus an index.
pub struct AsnTable {
    text4: String,
    rows4: Vec<Row<u32>>,
    text6: String,
    rows6: Vec<Row<u128>>,
    by_asn4: BTreeMap<u32, Vec<usize>>,
    by_asn6: BTreeMap<u32, Vec<usize>>,
}

fn read_gz(path: &Path) -> io::Result<String> {
    let f = std::fs::File::open(path)?;
    let mut s = String::new();
    MultiGzDecoder::new(io::BufReader::new(f)).read_to_string(&mut s)?;
    Ok(s)
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Splits `start,end,asn,org` and parses the first three fields.
fn parse_rows<T: std::str::FromStr + Copy, U: Copy + Ord>(
    text: &str,
    conv: impl Fn(T) -> U,
) -> io::Result<Vec<Row<U>>> {
    let mut rows = Vec::new();
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let here = (off, off + body.len());
        off += line.len();
        if body.is_empty() {
            continue;
        }
        let mut it = body.splitn(4, ',');
        let (Some(s), Some(e), Some(a)) = (it.next(), it.next(), it.next()) else {
            return Err(bad(format!("short ASN row: {body}")));
        };
        let (Ok(s), Ok(e), Ok(a)) = (s.parse::<T>(), e.parse::<T>(), a.parse::<u32>()) else {
            return Err(bad(format!("bad ASN row: {body}")));
        };
        rows.push(Row {
            start: conv(s),
            end: conv(e),
            asn: a,
            line: here,
        });
    }
    Ok(rows)
}

fn index<T>(rows: &[Row<T>]) -> BTreeMap<u32, Vec<usize>> {
    let mut m: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        m.entry(r.asn).or_default().push(i);
    }
    m
}

/// The row containing `x`: the last row starting at or before it, if it also ends after it.
fn find<T: Ord + Copy>(rows: &[Row<T>], x: T) -> Option<usize> {
    let i = rows.partition_point(|r| r.start <= x);
    let i = i.checked_sub(1)?;
    (rows[i].end >= x).then_some(i)
}

/// Unquotes a CSV field (`"PJSC ""Vimpelcom"""` → `PJSC "Vimpelcom"`).
fn unquote(f: &str) -> String {
    match f.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => f.to_string(),
    }
}

impl AsnTable {
    /// Loads `asn-ipv4.csv.gz` and `asn-ipv6.csv.gz` from `dir`.
    pub fn load(dir: &Path) -> io::Result<AsnTable> {
        let text4 = read_gz(&dir.join("asn-ipv4.csv.gz"))?;
        let text6 = read_gz(&dir.join("asn-ipv6.csv.gz"))?;
        let rows4 = parse_rows(&text4, |a: Ipv4Addr| u32::from(a))?;
        let rows6 = parse_rows(&text6, |a: Ipv6Addr| u128::from(a))?;
        let by_asn4 = index(&rows4);
        let by_asn6 = index(&rows6);
        Ok(AsnTable {
            text4,
            rows4,
            text6,
            rows6,
            by_asn4,
            by_asn6,
        })
    }

    /// True when the table has IPv4 ranges for `asn`.
    pub fn has_v4(&self, asn: u32) -> bool {
        self.by_asn4.contains_key(&asn)
    }

    /// True when the table has IPv6 ranges for `asn`.
    pub fn has_v6(&self, asn: u32) -> bool {
        self.by_asn6.contains_key(&asn)
    }

    /// The organization name of `asn` (from its first row).
    pub fn org(&self, asn: u32) -> String {
        let (text, line) = if let Some(i) = self.by_asn4.get(&asn).and_then(|v| v.first()) {
            (&self.text4, self.rows4[*i].line)
        } else if let Some(i) = self.by_asn6.get(&asn).and_then(|v| v.first()) {
            (&self.text6, self.rows6[*i].line)
        } else {
            return format!("AS{asn}");
        };
        let raw = &text[line.0..line.1];
        unquote(raw.splitn(4, ',').nth(3).unwrap_or(""))
    }

    /// The ASN of an address, if the table covers it.
    pub fn asn_of(&self, ip: IpAddr) -> Option<u32> {
        match ip {
            IpAddr::V4(a) => find(&self.rows4, u32::from(a)).map(|i| self.rows4[i].asn),
            IpAddr::V6(a) => find(&self.rows6, u128::from(a)).map(|i| self.rows6[i].asn),
        }
    }

    /// The raw CSV lines covering `ips`, IPv4 rows first, each once, in table order.
    pub fn extract(&self, ips: &BTreeSet<IpAddr>) -> String {
        let mut v4 = BTreeSet::new();
        let mut v6 = BTreeSet::new();
        for ip in ips {
            match ip {
                IpAddr::V4(a) => {
                    if let Some(i) = find(&self.rows4, u32::from(*a)) {
                        v4.insert(i);
                    }
                }
                IpAddr::V6(a) => {
                    if let Some(i) = find(&self.rows6, u128::from(*a)) {
                        v6.insert(i);
                    }
                }
            }
        }
        let mut out = String::new();
        for i in v4 {
            let (s, e) = self.rows4[i].line;
            out.push_str(&self.text4[s..e]);
            out.push('\n');
        }
        for i in v6 {
            let (s, e) = self.rows6[i].line;
            out.push_str(&self.text6[s..e]);
            out.push('\n');
        }
        out
    }
}

/// Hands out distinct client addresses from real ranges and remembers every address used.
pub struct AddrPool<'t> {
    table: &'t AsnTable,
    used: BTreeSet<IpAddr>,
    used24: BTreeSet<u32>,
    /// Per ASN: cumulative row weights for IPv4 picks.
    cum4: BTreeMap<u32, Vec<u64>>,
}

impl<'t> AddrPool<'t> {
    /// An empty pool over `table`.
    pub fn new(table: &'t AsnTable) -> AddrPool<'t> {
        AddrPool {
            table,
            used: BTreeSet::new(),
            used24: BTreeSet::new(),
            cum4: BTreeMap::new(),
        }
    }

    /// The table.
    pub fn table(&self) -> &'t AsnTable {
        self.table
    }

    /// Every address handed out or registered so far.
    pub fn used(&self) -> &BTreeSet<IpAddr> {
        &self.used
    }

    /// A fresh IPv4 address of `asn`. With `new24`, also in a /24 no earlier address used
    /// (hosting attackers rent servers in many subnets).
    pub fn v4(&mut self, rng: &mut Rng, asn: u32, new24: bool) -> IpAddr {
        let rows = match self.table.by_asn4.get(&asn) {
            Some(r) => r,
            None => panic!("AS{asn} has no IPv4 ranges in the table"),
        };
        // Rows weighted by size, capped at a /16: a network's own large blocks are where its
        // customers (or servers) are, not the odd /24 it announces for someone else.
        let table = self.table;
        let cum = self.cum4.entry(asn).or_insert_with(|| {
            let mut acc = 0u64;
            rows.iter()
                .map(|i| {
                    let r = table.rows4[*i];
                    acc += (u64::from(r.end - r.start) + 1).min(65_536);
                    acc
                })
                .collect()
        });
        let total = cum.last().copied().unwrap_or(1);
        for _ in 0..10_000 {
            let x = rng.below(total);
            let k = cum.partition_point(|c| *c <= x);
            let r = self.table.rows4[rows[k]];
            let span = u64::from(r.end - r.start) + 1;
            let a = r.start + rng.below(span) as u32;
            let last = a & 0xff;
            if last == 0 || last == 255 || last == 1 {
                continue;
            }
            let ip = IpAddr::V4(Ipv4Addr::from(a));
            if self.used.contains(&ip) || (new24 && self.used24.contains(&(a >> 8))) {
                continue;
            }
            // Guard against the table's few overlapping rows: the address must map back.
            if self.table.asn_of(ip) != Some(asn) {
                continue;
            }
            self.used.insert(ip);
            self.used24.insert(a >> 8);
            return ip;
        }
        panic!("no free IPv4 address left in AS{asn}")
    }

    /// A fresh IPv4 address in the same /24 as `near` (a carrier's CGNAT pool, an office block).
    pub fn v4_near(&mut self, rng: &mut Rng, near: IpAddr) -> IpAddr {
        let IpAddr::V4(n) = near else {
            panic!("v4_near needs an IPv4 address")
        };
        let base = u32::from(n) & 0xffff_ff00;
        let asn = self.table.asn_of(near);
        for _ in 0..10_000 {
            let a = base | rng.range(2, 254) as u32;
            let ip = IpAddr::V4(Ipv4Addr::from(a));
            if !self.used.contains(&ip) && self.table.asn_of(ip) == asn {
                self.used.insert(ip);
                return ip;
            }
        }
        panic!("no free address near {near}")
    }

    /// A fresh IPv6 address of `asn`: a random /64 inside one of its ranges and a random
    /// interface id (privacy addressing).
    pub fn v6(&mut self, rng: &mut Rng, asn: u32) -> IpAddr {
        let rows = match self.table.by_asn6.get(&asn) {
            Some(r) => r,
            None => panic!("AS{asn} has no IPv6 ranges in the table"),
        };
        for _ in 0..10_000 {
            let r = self.table.rows6[*rng.pick(rows)];
            let nets = ((r.end - r.start) >> 64) + 1;
            let net = if nets > u128::from(u64::MAX) {
                u128::from(rng.next_u64())
            } else {
                u128::from(rng.below(nets as u64))
            };
            let iid = u128::from(rng.next_u64() | 0x0200_0000_0000_0000);
            let a = r.start + (net << 64) + iid;
            if a > r.end {
                continue;
            }
            let ip = IpAddr::V6(Ipv6Addr::from(a));
            if self.used.contains(&ip) || self.table.asn_of(ip) != Some(asn) {
                continue;
            }
            self.used.insert(ip);
            return ip;
        }
        panic!("no free IPv6 address left in AS{asn}")
    }
}
