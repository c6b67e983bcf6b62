//! ASN enrichment (`--asn-db FILE`): the client address's autonomous system and its
//! organisation name.
//!
//! Two database formats, recognized by content rather than by file name:
//!
//! - a **MaxMind DB** (`.mmdb`) in the GeoLite2-ASN or GeoIP2-ISP schema
//!   (`autonomous_system_number`, `autonomous_system_organization`), memory-mapped and fully
//!   verified when opened;
//! - an **IP-range CSV** `start,end,asn,org` with inclusive ranges (the ip-location-db "asn"
//!   format), IPv4 and IPv6 mixed or in separate files, an optional header row, plain or gzip.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are looked up as IPv4 in both.

mod mmdb;
mod table;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::enrich::Enricher;
use crate::error::EnrichError;
use crate::event::{Asn, AuthEvent};

pub use table::TableStats;

/// Configuration of ASN enrichment (the `[asn]` section).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AsnConfig {
    /// ASN databases: one MaxMind DB, or one or more `start,end,asn,org` CSV files (plain or
    /// gzip) loaded into one table. Empty (the default): no ASN enrichment.
    pub db: Vec<PathBuf>,
}

impl AsnConfig {
    /// Opens the configured databases; `None` when none is configured.
    pub fn open(&self) -> Result<Option<AsnDb>, EnrichError> {
        if self.db.is_empty() {
            return Ok(None);
        }
        AsnDb::open_many(&self.db).map(Some)
    }
}

/// The answer for one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsnRecord<'a> {
    /// The autonomous system number (never 0: AS 0 means "not routed" and is no answer).
    pub asn: Asn,
    /// The organisation name, borrowed from the database; empty when the database has none
    /// (GeoLite2-ASN has records with a number and no name).
    pub org: &'a str,
}

/// Which kind of database is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsnDbKind {
    /// A memory-mapped MaxMind DB.
    Mmdb,
    /// IP-range CSV files loaded into sorted tables.
    RangeTable,
}

/// An ASN database, shared read-only between threads (wrap it in an [`Arc`]).
///
/// **Updating a database file:** replace it by writing a new file and renaming it over the old
/// one (as `geoipupdate` does); never rewrite or truncate it in place. A MaxMind DB is
/// memory-mapped, and changing the mapped file under a running process is undefined
/// behaviour. After a rename the process keeps reading the old file until it reopens.
///
/// CSV tables resolve overlapping ranges at load time: the narrower range wins (like
/// longest-prefix match), and between equally wide ranges the later row wins (later file in
/// [`AsnDb::open_many`], then later line). Rows with AS 0 ("not routed") are skipped; any other
/// malformed row fails the load with its file and line.
#[derive(Debug)]
pub struct AsnDb {
    backend: Backend,
    paths: Vec<PathBuf>,
    lookup_errors: AtomicU64,
}

#[derive(Debug)]
enum Backend {
    Mmdb(mmdb::Mmdb),
    Table(table::RangeTable),
}

/// What the first and last bytes of a file say it is.
enum Sniffed {
    Mmdb,
    /// CSV, plain or gzip; carries the first bytes for the gzip check.
    Csv([u8; 2]),
}

fn sniff(path: &Path) -> Result<Sniffed, EnrichError> {
    let io = |source| EnrichError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if len == 0 {
        return Err(EnrichError::Invalid {
            path: path.to_path_buf(),
            message: format!("empty file: {}", table::NOT_RECOGNIZED),
        });
    }
    let mut head = [0u8; 2];
    let n = f.read(&mut head).map_err(io)?;
    if n == 2 && head == [0x1f, 0x8b] {
        return Ok(Sniffed::Csv(head));
    }
    let tail_len = len.min(mmdb::METADATA_MAX_SIZE);
    f.seek(SeekFrom::Start(len - tail_len)).map_err(io)?;
    let mut tail = Vec::new();
    f.take(tail_len).read_to_end(&mut tail).map_err(io)?;
    if memchr::memmem::rfind(&tail, mmdb::METADATA_MARKER).is_some() {
        Ok(Sniffed::Mmdb)
    } else {
        Ok(Sniffed::Csv(head))
    }
}

impl AsnDb {
    /// Opens one database, recognizing its format by content.
    ///
    /// Errors: [`EnrichError::Io`] if it cannot be read; [`EnrichError::Invalid`] if it is
    /// neither a MaxMind DB nor a `start,end,asn,org` CSV, if a MaxMind DB is corrupt or has no
    /// ASN fields (a Country or City database), or if a CSV row is malformed (the message
    /// names the line).
    pub fn open(path: &Path) -> Result<AsnDb, EnrichError> {
        AsnDb::open_many(&[path])
    }

    /// Opens several databases as one: any number of CSV files merged into one table (the
    /// shared data ships IPv4 and IPv6 in separate files), or exactly one MaxMind DB.
    pub fn open_many<P: AsRef<Path>>(paths: &[P]) -> Result<AsnDb, EnrichError> {
        let Some(first) = paths.first() else {
            return Err(EnrichError::Invalid {
                path: PathBuf::new(),
                message: "no ASN database given".to_owned(),
            });
        };
        let mut kinds = Vec::with_capacity(paths.len());
        for p in paths {
            kinds.push(sniff(p.as_ref())?);
        }
        let mmdb_path = paths
            .iter()
            .zip(&kinds)
            .find(|(_, k)| matches!(k, Sniffed::Mmdb))
            .map(|(p, _)| p.as_ref());
        let backend = match mmdb_path {
            Some(p) if paths.len() > 1 => {
                return Err(EnrichError::Invalid {
                    path: p.to_path_buf(),
                    message: "a MaxMind DB cannot be combined with other ASN databases; \
                              give it alone"
                        .to_owned(),
                });
            }
            Some(_) => Backend::Mmdb(mmdb::Mmdb::open(first.as_ref())?),
            None => {
                let mut loader = table::Loader::new();
                for (p, k) in paths.iter().zip(&kinds) {
                    if let Sniffed::Csv(head) = k {
                        loader.load_file(p.as_ref(), head)?;
                    }
                }
                Backend::Table(loader.finish())
            }
        };
        Ok(AsnDb {
            backend,
            paths: paths.iter().map(|p| p.as_ref().to_path_buf()).collect(),
            lookup_errors: AtomicU64::new(0),
        })
    }

    /// The ASN and organisation of an address; `None` if no range or record holds it.
    ///
    /// Never panics: a lookup that fails inside a (corrupt) MaxMind DB is counted in
    /// [`AsnDb::lookup_errors`] and answers `None`.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<AsnRecord<'_>> {
        let ip = unmap(ip);
        match &self.backend {
            Backend::Table(t) => {
                let v = match ip {
                    IpAddr::V4(a) => t.v4.find(a.to_bits()),
                    IpAddr::V6(a) => t.v6.find(a.to_bits()),
                }?;
                Some(AsnRecord {
                    asn: Asn(v.asn),
                    org: t.org(v.org),
                })
            }
            Backend::Mmdb(m) => match m.lookup(ip) {
                Ok(r) => r.map(|(asn, org)| AsnRecord { asn: Asn(asn), org }),
                Err(_) => {
                    self.lookup_errors.fetch_add(1, Ordering::Relaxed);
                    None
                }
            },
        }
    }

    /// How many lookups failed on a corrupt database (always 0 for CSV tables, and for a
    /// MaxMind DB that passed verification at open unless the file changed under us).
    pub fn lookup_errors(&self) -> u64 {
        self.lookup_errors.load(Ordering::Relaxed)
    }

    /// The organisation name of an ASN, from a CSV table (a MaxMind DB has no index by ASN;
    /// [`AsnEnricher::as_org`] remembers the names it has seen instead).
    pub fn org_of(&self, asn: Asn) -> Option<&str> {
        match &self.backend {
            Backend::Table(t) => t.org_of(asn.0),
            Backend::Mmdb(_) => None,
        }
    }

    /// Which kind of database this is.
    pub fn kind(&self) -> AsnDbKind {
        match self.backend {
            Backend::Mmdb(_) => AsnDbKind::Mmdb,
            Backend::Table(_) => AsnDbKind::RangeTable,
        }
    }

    /// Load counts of a CSV table; `None` for a MaxMind DB.
    pub fn table_stats(&self) -> Option<TableStats> {
        match &self.backend {
            Backend::Table(t) => Some(t.stats),
            Backend::Mmdb(_) => None,
        }
    }

    /// The files this database was loaded from.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// One line for the run summary, e.g. `MaxMind DB GeoLite2-ASN` or
    /// `range table: 411960 IPv4 + 103197 IPv6 ranges from 2 files (1 overlapping row)`.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Mmdb(m) => format!("MaxMind DB {}", m.database_type()),
            Backend::Table(t) => {
                let s = t.stats;
                let files = self.paths.len();
                format!(
                    "range table: {} IPv4 + {} IPv6 ranges from {} file{} ({} overlapping row{}, {} unrouted row{} skipped)",
                    s.ranges_v4,
                    s.ranges_v6,
                    files,
                    plural(files as u64),
                    s.overlapping,
                    plural(s.overlapping),
                    s.unrouted,
                    plural(s.unrouted),
                )
            }
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`) to IPv4: the same client, whichever way a dual-stack
/// server logged it.
#[inline]
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The enricher's memory of its last lookup. Consecutive lines often come from one client, so
/// a hit skips the search.
#[derive(Debug, Clone, Copy)]
enum Last {
    None,
    /// CSV table: the range or gap around the last address (so neighbours hit too).
    Span {
        v6: bool,
        lo: u128,
        hi: u128,
        asn: Option<Asn>,
    },
    /// MaxMind DB: the last exact address.
    Addr {
        ip: IpAddr,
        asn: Option<Asn>,
    },
}

/// Sets [`AuthEvent::asn`] from [`AuthEvent::ip`] using a shared [`AsnDb`].
///
/// One per pipeline thread: it keeps a one-entry cache and, for a MaxMind DB, the names of the
/// ASNs it has seen (bounded by the number of ASNs in the database).
#[derive(Debug)]
pub struct AsnEnricher {
    db: Arc<AsnDb>,
    last: Last,
    orgs: foldhash::HashMap<Asn, Box<str>>,
    /// The last ASN whose name is known to be in `orgs`.
    last_named: Option<Asn>,
}

impl AsnEnricher {
    /// An enricher over a shared database.
    pub fn new(db: Arc<AsnDb>) -> AsnEnricher {
        AsnEnricher {
            db,
            last: Last::None,
            orgs: foldhash::HashMap::default(),
            last_named: None,
        }
    }

    /// The database this enricher reads.
    pub fn db(&self) -> &Arc<AsnDb> {
        &self.db
    }

    /// The ASN of an address, through the one-entry cache.
    #[inline]
    pub fn asn_of(&mut self, ip: IpAddr) -> Option<Asn> {
        let ip = unmap(ip);
        match &self.db.backend {
            Backend::Table(t) => {
                let (v6, key) = match ip {
                    IpAddr::V4(a) => (false, u128::from(a.to_bits())),
                    IpAddr::V6(a) => (true, a.to_bits()),
                };
                if let Last::Span {
                    v6: lv6,
                    lo,
                    hi,
                    asn,
                } = self.last
                    && lv6 == v6
                    && lo <= key
                    && key <= hi
                {
                    return asn;
                }
                let span = match ip {
                    IpAddr::V4(a) => t.v4.span(a.to_bits()),
                    IpAddr::V6(a) => t.v6.span(a.to_bits()),
                };
                let asn = span.val.map(|v| Asn(v.asn));
                self.last = Last::Span {
                    v6,
                    lo: span.lo,
                    hi: span.hi,
                    asn,
                };
                asn
            }
            Backend::Mmdb(_) => {
                if let Last::Addr { ip: lip, asn } = self.last
                    && lip == ip
                {
                    return asn;
                }
                let rec = self.db.lookup(ip);
                let asn = rec.map(|r| r.asn);
                // Consecutive answers are often the same AS: skip the map probe then.
                if let Some(r) = rec
                    && !r.org.is_empty()
                    && self.last_named != Some(r.asn)
                {
                    self.orgs.entry(r.asn).or_insert_with(|| r.org.into());
                    self.last_named = Some(r.asn);
                }
                self.last = Last::Addr { ip, asn };
                asn
            }
        }
    }
}

impl Enricher for AsnEnricher {
    fn enrich(&mut self, ev: &mut AuthEvent) {
        if let Some(ip) = ev.ip {
            ev.asn = self.asn_of(ip);
        }
    }

    fn as_org(&self, asn: Asn) -> Option<&str> {
        match &self.db.backend {
            Backend::Table(t) => t.org_of(asn.0),
            Backend::Mmdb(_) => self.orgs.get(&asn).map(|s| &**s),
        }
    }

    /// A range table names every ASN it holds, so copies on the decoding threads can set the
    /// ASNs. A MaxMind DB names an ASN only through a looked-up address: its names are
    /// collected by the one instance that looks every address up.
    fn fork(&self) -> Option<Box<dyn Enricher>> {
        match &self.db.backend {
            Backend::Table(_) => Some(Box::new(AsnEnricher::new(Arc::clone(&self.db)))),
            Backend::Mmdb(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, LineMeta};
    use crate::time::Timestamp;
    use proptest::prelude::*;
    use std::io::Write;
    use std::sync::OnceLock;

    const ASN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/asn/");
    const MMDB_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/mmdb/");

    fn mmdb(name: &str) -> PathBuf {
        Path::new(MMDB_DIR).join(name)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    /// The whole-Internet table, loaded once for all tests (it takes a while in debug builds).
    fn internet() -> &'static Arc<AsnDb> {
        static DB: OnceLock<Arc<AsnDb>> = OnceLock::new();
        DB.get_or_init(|| {
            let dir = Path::new(ASN_DIR);
            let db = AsnDb::open_many(&[dir.join("asn-ipv4.csv.gz"), dir.join("asn-ipv6.csv.gz")])
                .expect("load shared ASN tables");
            Arc::new(db)
        })
    }

    /// A file in the temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, bytes: &[u8]) -> TempFile {
            let p =
                std::env::temp_dir().join(format!("credwatch-asn-{}-{name}", std::process::id()));
            std::fs::write(&p, bytes).expect("write temp file");
            TempFile(p)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text).expect("gzip");
        enc.finish().expect("gzip")
    }

    fn rec<'d>(db: &'d AsnDb, s: &str) -> Option<(u32, &'d str)> {
        db.lookup(ip(s)).map(|r| (r.asn.0, r.org))
    }

    #[test]
    fn whole_internet_csv_answers_v4_v6_and_mapped() {
        let db = internet();
        assert_eq!(db.kind(), AsnDbKind::RangeTable);
        assert_eq!(rec(db, "1.0.0.1"), Some((13335, "Cloudflare, Inc.")));
        assert_eq!(rec(db, "::ffff:1.0.0.1"), Some((13335, "Cloudflare, Inc.")));
        assert_eq!(
            rec(db, "223.255.254.77"),
            Some((55415, "Marina Bay Sands Pte Ltd"))
        );
        // Rows picked from asn-ipv6.csv.gz (lines 42446, 19773, 6329, 85320, last).
        assert_eq!(
            rec(db, "2606:dc00:ff00::1"),
            Some((16509, "Amazon.com, Inc."))
        );
        assert_eq!(
            rec(db, "2401:320:ff79:ffff:ffff:ffff:ffff:ffff"),
            Some((133724, "Swastik Internet and Cables pvt. ltd."))
        );
        assert_eq!(
            rec(db, "2001:678:bf4::abcd"),
            Some((34858, "Telezon-Seti LLC"))
        );
        assert_eq!(
            rec(db, "2a0c:6d00:1234::1"),
            Some((
                3218,
                "Federal State Budgetary Institution of Science \"Space Research Institute of the"
            ))
        );
        assert_eq!(rec(db, "2c0f:fff0::1"), Some((37125, "Layer3 Limited")));
        // In no range: private, a gap, loopback, documentation, past the last row.
        for s in [
            "10.1.2.3",
            "1.0.1.0",
            "127.0.0.1",
            "::1",
            "2001:db8::1",
            "2c0f:fff1::",
        ] {
            assert_eq!(rec(db, s), None, "{s}");
        }
        // The one overlap in the real data: the narrower AS721 row wins over AS749's tail.
        assert_eq!(rec(db, "215.0.0.1").map(|r| r.0), Some(721));
        assert_eq!(rec(db, "214.95.0.1").map(|r| r.0), Some(749));
        let s = db.table_stats().expect("table");
        assert_eq!(s.rows, 411_961 + 103_197);
        assert_eq!((s.ranges_v4, s.ranges_v6), (411_961, 103_197));
        assert_eq!((s.overlapping, s.unrouted), (1, 0));
        assert_eq!(db.org_of(Asn(13335)), Some("Cloudflare, Inc."));
        assert_eq!(
            db.describe(),
            "range table: 411961 IPv4 + 103197 IPv6 ranges from 2 files \
             (1 overlapping row, 0 unrouted rows skipped)"
        );
    }

    #[test]
    fn geolite2_asn_test_matches_its_json_listing() {
        let db = AsnDb::open(&mmdb("GeoLite2-ASN-Test.mmdb")).expect("open");
        assert_eq!(db.kind(), AsnDbKind::Mmdb);
        assert_eq!(db.describe(), "MaxMind DB GeoLite2-ASN");
        assert_eq!(rec(&db, "1.128.0.1"), Some((1221, "Telstra Pty Ltd")));
        assert_eq!(rec(&db, "1.159.255.255"), Some((1221, "Telstra Pty Ltd")));
        assert_eq!(
            rec(&db, "::ffff:1.128.0.1"),
            Some((1221, "Telstra Pty Ltd"))
        );
        assert_eq!(rec(&db, "10.0.0.1"), None);

        let json = std::fs::read(mmdb("GeoLite2-ASN-Test.json")).expect("json");
        let list: Vec<std::collections::BTreeMap<String, serde_json::Value>> =
            serde_json::from_slice(&json).expect("parse json");
        let mut checked = 0;
        for entry in &list {
            for (net, data) in entry {
                // Listed twice in the source data: no single right answer.
                if net == "12.81.92.0/22" {
                    continue;
                }
                let (addr, _) = net.split_once('/').expect("cidr");
                let want_asn = data["autonomous_system_number"].as_u64();
                let want_org = data
                    .get("autonomous_system_organization")
                    .and_then(|o| o.as_str())
                    .unwrap_or("");
                let got = db.lookup(ip(addr));
                assert_eq!(got.map(|r| u64::from(r.asn.0)), want_asn, "{net}");
                assert_eq!(got.map_or("", |r| r.org), want_org, "{net}");
                checked += 1;
            }
        }
        assert!(checked > 700, "checked {checked}");
        assert_eq!(db.lookup_errors(), 0);
    }

    #[test]
    fn wrong_schema_broken_text_and_empty_files_are_clear_errors() {
        let e = AsnDb::open(&mmdb("GeoLite2-Country-Test.mmdb"))
            .expect_err("country")
            .to_string();
        assert!(e.contains("has no autonomous_system_number field"), "{e}");
        for name in [
            "MaxMind-DB-test-broken-pointers-24.mmdb",
            "MaxMind-DB-test-broken-search-tree-24.mmdb",
        ] {
            let e = AsnDb::open(&mmdb(name)).expect_err(name).to_string();
            assert!(e.contains(name) && e.contains("corrupt MaxMind DB"), "{e}");
        }
        let text = TempFile::new("text.txt", b"This is not a database.\nJust text.\n");
        let e = AsnDb::open(&text.0).expect_err("text").to_string();
        assert!(
            e.contains("not a MaxMind DB or a start,end,asn,org CSV"),
            "{e}"
        );
        let empty = TempFile::new("empty.csv", b"");
        let e = AsnDb::open(&empty.0).expect_err("empty").to_string();
        assert!(e.contains("empty file: not a MaxMind DB"), "{e}");
        let missing = AsnDb::open(Path::new("no/such/asn.mmdb")).expect_err("missing");
        assert!(matches!(missing, EnrichError::Io { .. }), "{missing}");
        let none = AsnDb::open_many::<PathBuf>(&[])
            .expect_err("none")
            .to_string();
        assert!(none.contains("no ASN database given"), "{none}");
    }

    #[test]
    fn corrupt_mmdb_lookups_are_counted_not_panics() {
        let name = "MaxMind-DB-test-broken-pointers-24.mmdb";
        let db = AsnDb {
            backend: Backend::Mmdb(mmdb::Mmdb::open_unverified(&mmdb(name)).expect("map")),
            paths: vec![mmdb(name)],
            lookup_errors: AtomicU64::new(0),
        };
        for last in 0u32..=255 {
            let _ = db.lookup(IpAddr::V4(std::net::Ipv4Addr::from_bits(
                0x0101_0100 | last,
            )));
        }
        assert!(db.lookup_errors() > 0);
    }

    #[test]
    fn gzip_multi_member_csv_and_bad_row_with_file_and_line() {
        // Two gzip members back to back: a plain GzDecoder would stop after the first.
        let mut gz = gzip(b"start,end,asn,org\n1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n");
        gz.extend(gzip(b"2001:200::,2001:200::ffff,2500,WIDE Project\n"));
        let f = TempFile::new("multi.csv.gz", &gz);
        let db = AsnDb::open(&f.0).expect("gz");
        assert_eq!(rec(&db, "1.0.0.9"), Some((13335, "Cloudflare, Inc.")));
        assert_eq!(rec(&db, "2001:200::1"), Some((2500, "WIDE Project")));

        let bad = TempFile::new(
            "bad.csv",
            b"1.0.0.0,1.0.0.255,13335,Cloudflare\n1.0.4.0,1.0.7.255,38803,Gtelecom\n1.0.16.0,oops,2519,ARTERIA\n",
        );
        let e = AsnDb::open(&bad.0).expect_err("bad row").to_string();
        assert!(e.starts_with(&bad.0.display().to_string()), "{e}");
        assert!(
            e.contains(": line 3: end \"oops\" is not an IP address"),
            "{e}"
        );

        let trunc = TempFile::new("trunc.csv.gz", &gz[..gz.len() / 2]);
        let e = AsnDb::open(&trunc.0).expect_err("truncated gzip");
        assert!(matches!(e, EnrichError::Io { .. }), "{e}");

        let m = mmdb("GeoLite2-ASN-Test.mmdb");
        let e = AsnDb::open_many(&[f.0.clone(), m])
            .expect_err("mixed")
            .to_string();
        assert!(e.contains("cannot be combined"), "{e}");
    }

    fn event(ipaddr: Option<&str>) -> AuthEvent {
        let mut ev = AuthEvent::new(Timestamp(0), EventKind::Login, LineMeta::default());
        ev.ip = ipaddr.map(ip);
        ev
    }

    #[test]
    fn enricher_over_table_uses_span_cache_and_table_orgs() {
        let f = TempFile::new(
            "enrich.csv",
            b"1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n1.0.4.0,1.0.7.255,38803,Gtelecom\n2001:200::,2001:200::ffff,2500,WIDE\n",
        );
        let mut en = AsnEnricher::new(Arc::new(AsnDb::open(&f.0).expect("open")));
        // Known before any lookup: the table indexes names by ASN.
        assert_eq!(en.as_org(Asn(38803)), Some("Gtelecom"));
        let steps = [
            (Some("1.0.0.1"), Some(13335)),
            (Some("1.0.0.200"), Some(13335)), // cache hit, same range
            (Some("1.0.1.0"), None),          // gap
            (Some("1.0.3.255"), None),        // cache hit, same gap
            (Some("1.0.4.0"), Some(38803)),   // first address after the gap
            (Some("::ffff:1.0.0.3"), Some(13335)),
            (Some("2001:200::1"), Some(2500)),
            (Some("::1.0.0.1"), None), // IPv4-compatible is not mapped: IPv6 gap
            (Some("1.0.0.1"), Some(13335)),
            (None, None),
        ];
        // A copy for a decoding thread answers the same, from a cold cache.
        let mut copy = en.fork().expect("a range table can be copied");
        for (addr, want) in steps {
            let mut ev = event(addr);
            en.enrich(&mut ev);
            assert_eq!(ev.asn, want.map(Asn), "{addr:?}");
            let mut ev = event(addr);
            copy.enrich(&mut ev);
            assert_eq!(ev.asn, want.map(Asn), "copy: {addr:?}");
        }
        assert_eq!(en.as_org(Asn(13335)), Some("Cloudflare, Inc."));
        assert_eq!(copy.as_org(Asn(2500)), Some("WIDE"));
        assert_eq!(en.as_org(Asn(1)), None);
    }

    #[test]
    fn enricher_over_mmdb_remembers_orgs_it_has_seen() {
        let db = Arc::new(AsnDb::open(&mmdb("GeoLite2-ASN-Test.mmdb")).expect("open"));
        let mut en = AsnEnricher::new(Arc::clone(&db));
        assert_eq!(en.as_org(Asn(1221)), None, "not seen yet");
        // Names come from the addresses this instance looked up: no copies elsewhere.
        assert!(en.fork().is_none());
        for (addr, want) in [
            ("1.128.0.1", Some(1221)),
            ("1.128.0.1", Some(1221)), // cache hit
            ("10.0.0.1", None),
            ("10.0.0.1", None),
            ("2401:8800::1", Some(237)),
            ("12.81.96.7", Some(7018)), // no name in this record
        ] {
            let mut ev = event(Some(addr));
            en.enrich(&mut ev);
            assert_eq!(ev.asn, want.map(Asn), "{addr}");
        }
        assert_eq!(en.as_org(Asn(1221)), Some("Telstra Pty Ltd"));
        assert_eq!(en.as_org(Asn(237)), Some("Merit Network Inc."));
        assert_eq!(en.as_org(Asn(7018)), None);
    }

    #[test]
    fn shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<AsnDb>();
        send_sync::<AsnEnricher>();
    }

    #[test]
    fn config_defaults_to_no_database_and_rejects_unknown_keys() {
        let c: AsnConfig = toml::from_str("").expect("empty");
        assert!(c.db.is_empty());
        assert!(c.open().expect("no db").is_none());
        let c: AsnConfig = toml::from_str("db = [\"a.csv\", \"b.csv.gz\"]").expect("two");
        assert_eq!(c.db, [PathBuf::from("a.csv"), PathBuf::from("b.csv.gz")]);
        assert!(toml::from_str::<AsnConfig>("file = \"x\"").is_err());
    }

    proptest! {
        #[test]
        fn random_addresses_against_the_real_table_never_panic(
            a in any::<u32>(),
            b in any::<u128>(),
            step in 0u32..300,
        ) {
            let db = internet();
            let mut en = AsnEnricher::new(Arc::clone(db));
            // An address, a neighbour (often a cache hit) and the mapped form, in both
            // families: the cached answer must equal a fresh lookup.
            let addrs = [
                IpAddr::V4(a.into()),
                IpAddr::V4(a.saturating_add(step).into()),
                IpAddr::V6(std::net::Ipv4Addr::from(a).to_ipv6_mapped()),
                IpAddr::V6(b.into()),
                IpAddr::V6(b.saturating_add(u128::from(step)).into()),
            ];
            for addr in addrs {
                let fresh = db.lookup(addr);
                if let Some(r) = fresh {
                    prop_assert!(r.asn.0 != 0);
                }
                prop_assert_eq!(en.asn_of(addr), fresh.map(|r| r.asn), "{}", addr);
            }
        }
    }
}
