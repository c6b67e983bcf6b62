//! MaxMind DB files in the GeoLite2-ASN or GeoIP2-ISP schema, memory-mapped with `maxminddb`.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{MaxMindDbError, Mmap, Reader, WithinOptions};

use crate::error::EnrichError;

/// The metadata marker of a MaxMind DB; the metadata lives in the last 128 KiB of the file.
pub(super) const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

/// How far from the end the marker may be (the format's own bound).
pub(super) const METADATA_MAX_SIZE: u64 = 128 * 1024;

/// How many records to probe for ASN fields when the database type does not say.
const PROBE_RECORDS: usize = 64;

/// The two fields we read. GeoLite2-ASN and GeoIP2-ISP use the same names; other fields in the
/// record (ISP's `isp`, `organization`, ...) are skipped without being decoded.
#[derive(serde::Deserialize)]
struct AsnFields<'a> {
    autonomous_system_number: Option<u32>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
}

/// An open, verified MaxMind DB with ASN fields.
pub(super) struct Mmdb {
    reader: Reader<Mmap>,
    /// An IPv4-only database answers nothing for IPv6 (maxminddb would return an error).
    v4_only: bool,
}

impl std::fmt::Debug for Mmdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mmdb")
            .field("database_type", &self.reader.metadata().database_type)
            .field("v4_only", &self.v4_only)
            .finish_non_exhaustive()
    }
}

impl Mmdb {
    /// Maps, verifies and schema-checks a database.
    pub(super) fn open(path: &Path) -> Result<Mmdb, EnrichError> {
        let invalid = |message: String| EnrichError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        // SAFETY: `open_mmap` is unsafe because the mapping is undefined behaviour if the file
        // is truncated or rewritten in place while mapped. ASN databases are updated by
        // writing a new file and renaming it over the old one (geoipupdate does this, and
        // `AsnDb`'s docs require it); a rename leaves our mapping on the old inode, untouched.
        let reader = unsafe { Reader::open_mmap(path) }.map_err(|e| match e {
            MaxMindDbError::Io(source) | MaxMindDbError::Mmap(source) => EnrichError::Io {
                path: path.to_path_buf(),
                source,
            },
            other => invalid(format!("invalid MaxMind DB: {other}")),
        })?;
        // A full walk of the search tree and data section: corrupt pointers and trees fail
        // here, at startup, instead of as lookups that quietly answer nothing.
        reader
            .verify()
            .map_err(|e| invalid(format!("corrupt MaxMind DB: {e}")))?;
        let md = reader.metadata();
        let db_type = md.database_type.clone();
        let v4_only = md.ip_version == 4;
        let db = Mmdb { reader, v4_only };
        if !db.has_asn_fields() {
            return Err(invalid(format!(
                "MaxMind DB of type {db_type:?} has no autonomous_system_number field; \
                 an ASN database (GeoLite2-ASN or GeoIP2-ISP) is needed"
            )));
        }
        Ok(db)
    }

    /// Maps a database without verifying it, to exercise lookups on corrupt files in tests.
    #[cfg(test)]
    pub(super) fn open_unverified(path: &Path) -> Result<Mmdb, MaxMindDbError> {
        // SAFETY: as in `open`; the test data is read-only.
        let reader = unsafe { Reader::open_mmap(path) }?;
        let v4_only = reader.metadata().ip_version == 4;
        Ok(Mmdb { reader, v4_only })
    }

    /// Whether the schema has our fields: by the type name when it says, otherwise by looking
    /// at the first records.
    fn has_asn_fields(&self) -> bool {
        let t = self.reader.metadata().database_type.to_ascii_lowercase();
        if t.contains("asn") || t.contains("isp") {
            return true;
        }
        let Ok(networks) = self.reader.networks(WithinOptions::default()) else {
            return false;
        };
        networks
            .take(PROBE_RECORDS)
            .filter_map(Result::ok)
            .filter_map(|r| r.decode::<AsnFields<'_>>().ok().flatten())
            .any(|f| f.autonomous_system_number.is_some())
    }

    /// The database type from the metadata (`GeoLite2-ASN`).
    pub(super) fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// Looks an address up. `Ok(None)`: no data, or a record without an ASN (or ASN 0).
    #[inline]
    pub(super) fn lookup(&self, ip: IpAddr) -> Result<Option<(u32, &str)>, MaxMindDbError> {
        if self.v4_only && ip.is_ipv6() {
            return Ok(None);
        }
        let Some(f) = self.reader.lookup(ip)?.decode::<AsnFields<'_>>()? else {
            return Ok(None);
        };
        Ok(f.autonomous_system_number
            .filter(|&a| a != 0)
            .map(|a| (a, f.autonomous_system_organization.unwrap_or(""))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/mmdb/");

    fn path(name: &str) -> std::path::PathBuf {
        Path::new(DIR).join(name)
    }

    #[test]
    fn country_database_is_rejected_as_having_no_asn_fields() {
        let err = Mmdb::open(&path("GeoLite2-Country-Test.mmdb"))
            .expect_err("country db")
            .to_string();
        assert!(
            err.contains("\"GeoLite2-Country\" has no autonomous_system_number field"),
            "{err}"
        );
    }

    #[test]
    fn asn_database_answers_v4_v6_and_records_without_org() {
        let db = Mmdb::open(&path("GeoLite2-ASN-Test.mmdb")).expect("open");
        assert_eq!(db.database_type(), "GeoLite2-ASN");
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(
            db.lookup(ip("1.128.0.1")).expect("lookup"),
            Some((1221, "Telstra Pty Ltd"))
        );
        assert_eq!(
            db.lookup(ip("2401:8800::1")).expect("lookup"),
            Some((237, "Merit Network Inc."))
        );
        // 12.81.96.0/19 has a number and no name.
        assert_eq!(
            db.lookup(ip("12.81.96.7")).expect("lookup"),
            Some((7018, ""))
        );
        assert_eq!(db.lookup(ip("10.0.0.1")).expect("lookup"), None);
    }

    /// Addresses spread over both families: every /8 of IPv4 at a few offsets, and IPv6
    /// prefixes across the space.
    fn many_addresses() -> Vec<IpAddr> {
        let mut out = Vec::new();
        for a in 0u32..=255 {
            for off in [0u32, 0x0001_0203, 0x0080_0000, 0x00ff_ffff] {
                out.push(IpAddr::V4(std::net::Ipv4Addr::from_bits((a << 24) | off)));
            }
        }
        // Where the MaxMind-DB test databases (ipv4-24 family) keep their records.
        for last in 0u32..=255 {
            out.push(IpAddr::V4(std::net::Ipv4Addr::from_bits(
                0x0101_0100 | last,
            )));
        }
        for h in (0u32..=0xffff).step_by(97) {
            out.push(IpAddr::V6(std::net::Ipv6Addr::from_bits(
                u128::from(h) << 112 | 1,
            )));
        }
        out
    }

    #[test]
    fn broken_databases_fail_verification_and_lookups_never_panic() {
        for name in [
            "MaxMind-DB-test-broken-pointers-24.mmdb",
            "MaxMind-DB-test-broken-search-tree-24.mmdb",
        ] {
            let err = Mmdb::open(&path(name)).expect_err(name).to_string();
            assert!(err.contains("corrupt MaxMind DB"), "{name}: {err}");
            assert!(err.contains(name), "{name}: error names the file: {err}");
            // Without verification, lookups still never panic; some of them fail.
            let db = Mmdb::open_unverified(&path(name)).expect(name);
            let errors = many_addresses()
                .into_iter()
                .filter(|&ip| db.lookup(ip).is_err())
                .count();
            if name.contains("pointers") {
                // The bad pointers sit in records of 1.1.1.0/26.
                assert!(errors > 0, "{name}: expected failing lookups");
            }
        }
    }
}
