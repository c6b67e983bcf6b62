//! A tiny CIDR matcher for the trusted-proxy list (a handful of networks, matched linearly).

use std::net::IpAddr;

/// An IPv4 or IPv6 network such as `10.0.0.0/8` or `2001:db8::/32`.
///
/// IPv4-mapped IPv6 networks (`::ffff:10.0.0.0/104`) are stored as IPv4, and addresses are
/// canonicalized before matching, so `::ffff:10.1.2.3` is inside `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    /// An IPv4 network: masked address and mask.
    V4 {
        /// The network address with host bits cleared.
        net: u32,
        /// The netmask.
        mask: u32,
    },
    /// An IPv6 network: masked address and mask.
    V6 {
        /// The network address with host bits cleared.
        net: u128,
        /// The netmask.
        mask: u128,
    },
}

fn mask_v4(prefix: u32) -> u32 {
    u32::MAX.checked_shl(32 - prefix).unwrap_or(0)
}

fn mask_v6(prefix: u32) -> u128 {
    u128::MAX.checked_shl(128 - prefix).unwrap_or(0)
}

impl Cidr {
    /// Parses `addr/prefix` or a bare address (a single host). Host bits set in the address are
    /// ignored (`10.1.2.3/8` is `10.0.0.0/8`), as most tools do. Returns `None` when the text is
    /// not a network.
    pub fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                (a, Some(p.parse::<u32>().ok()?))
            }
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        match addr {
            IpAddr::V4(v4) => {
                let prefix = prefix.unwrap_or(32);
                if prefix > 32 {
                    return None;
                }
                let mask = mask_v4(prefix);
                Some(Cidr::V4 {
                    net: u32::from(v4) & mask,
                    mask,
                })
            }
            IpAddr::V6(v6) => {
                let prefix = prefix.unwrap_or(128);
                if prefix > 128 {
                    return None;
                }
                if let (Some(v4), true) = (v6.to_ipv4_mapped(), prefix >= 96) {
                    let mask = mask_v4(prefix - 96);
                    return Some(Cidr::V4 {
                        net: u32::from(v4) & mask,
                        mask,
                    });
                }
                let mask = mask_v6(prefix);
                Some(Cidr::V6 {
                    net: u128::from(v6) & mask,
                    mask,
                })
            }
        }
    }

    /// True when `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip.to_canonical()) {
            (Cidr::V4 { net, mask }, IpAddr::V4(a)) => u32::from(a) & mask == *net,
            (Cidr::V6 { net, mask }, IpAddr::V6(a)) => u128::from(a) & mask == *net,
            _ => false,
        }
    }
}

/// A list of networks; an address matches when any network contains it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrSet(pub Vec<Cidr>);

impl CidrSet {
    /// True when no network is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when some network contains `ip`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_networks() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.255.1.2")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.1.2.3")));
        assert!(!c.contains(ip("2001:db8::1")));
        let host = Cidr::parse("192.0.2.7").unwrap();
        assert!(host.contains(ip("192.0.2.7")));
        assert!(!host.contains(ip("192.0.2.8")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        assert!(!all.contains(ip("::1")));
        // Host bits are ignored.
        assert_eq!(Cidr::parse("10.1.2.3/8"), Cidr::parse("10.0.0.0/8"));
    }

    #[test]
    fn v6_networks() {
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains(ip("2001:db8:ffff::1")));
        assert!(!c.contains(ip("2001:db9::1")));
        assert!(!c.contains(ip("10.0.0.1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("fe80::1")));
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        let mapped = Cidr::parse("::ffff:10.0.0.0/104").unwrap();
        assert_eq!(mapped, Cidr::parse("10.0.0.0/8").unwrap());
    }

    #[test]
    fn bad_networks() {
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0/8",
            "::/129",
            "x/8",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "10.0.0.0/-1",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
