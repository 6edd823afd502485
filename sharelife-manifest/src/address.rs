//! Network destinations: host patterns, name normalization and the one
//! answer to "is this address internal?".
//!
//! The manifest's risk labels, the gateway's decisions and the services'
//! request normalization all ask these functions, so that a request the
//! gateway treats as internal is never labelled as public risk elsewhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// A network destination pattern from a manifest or a policy rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// One DNS name, exactly (`api.example.com`).
    Name(String),
    /// Any name strictly below a suffix (`*.example.com` matches
    /// `a.example.com` and `a.b.example.com`, not `example.com` and never
    /// `evilexample.com`).
    Below(String),
    /// One address (IPv4-mapped IPv6 addresses are stored as IPv4).
    Ip(IpAddr),
    /// A block of addresses.
    Cidr(IpNet),
}

impl HostPattern {
    /// Parses a manifest/policy host (`name`, `*.suffix`, IP, `ip/prefix`).
    /// Names must be lowercase ASCII (punycode for international names):
    /// look-alike characters are refused, not folded. Anything else
    /// (`127.0.0.1:8080`, `10.0.0.0/33`, `Example.com`) is `None`.
    pub fn parse(text: &str) -> Option<HostPattern> {
        if text.contains('/') {
            let net: IpNet = text.parse().ok()?;
            return Some(HostPattern::Cidr(canonical_net(net)));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Some(HostPattern::Ip(canonical_ip(ip)));
        }
        let (below, name) = match text.strip_prefix("*.") {
            Some(suffix) => (true, suffix),
            None => (false, text),
        };
        // Patterns are written in the canonical form requests are
        // normalized to (lowercase, no trailing dot); anything else is
        // refused, so that a pattern means exactly what it says.
        let normalized = normalize_name(name).filter(|n| n == name)?;
        Some(if below {
            HostPattern::Below(normalized)
        } else {
            HostPattern::Name(normalized)
        })
    }

    /// Whether this pattern names addresses (IP or CIDR) rather than names.
    pub fn is_address(&self) -> bool {
        matches!(self, HostPattern::Ip(_) | HostPattern::Cidr(..))
    }

    /// Whether a (normalized) DNS name matches.
    pub fn matches_name(&self, name: &str) -> bool {
        match self {
            HostPattern::Name(n) => n == name,
            HostPattern::Below(suffix) => {
                name.len() > suffix.len() + 1
                    && name.ends_with(suffix.as_str())
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
            }
            HostPattern::Ip(_) | HostPattern::Cidr(..) => false,
        }
    }

    /// Whether an address matches (by IP or CIDR patterns only).
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        match self {
            HostPattern::Ip(p) => *p == ip,
            HostPattern::Cidr(net) => net.contains(&ip),
            HostPattern::Name(_) | HostPattern::Below(_) => false,
        }
    }

    /// Whether the pattern can reach an internal destination: an internal
    /// address, a block overlapping an internal range, or a name that is
    /// local by convention (`localhost`, `*.localhost`, `*.local`,
    /// `*.internal`).
    pub fn is_internal(&self) -> bool {
        match self {
            HostPattern::Ip(ip) => is_internal(*ip),
            HostPattern::Cidr(net) => internal_ranges().any(|r| overlaps(net, &r)),
            HostPattern::Name(n) => is_local_name(n),
            HostPattern::Below(n) => is_local_name(&format!("x.{n}")),
        }
    }
}

/// Names that are local by convention (RFC 6761 `localhost`, mDNS
/// `.local`, and the `.internal` top-level domain reserved for private use).
fn is_local_name(name: &str) -> bool {
    name == "localhost"
        || [".localhost", ".local", ".internal"]
            .iter()
            .any(|s| name.ends_with(s))
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Name(n) => f.write_str(n),
            HostPattern::Below(n) => write!(f, "*.{n}"),
            HostPattern::Ip(ip) => write!(f, "{ip}"),
            HostPattern::Cidr(net) => write!(f, "{net}"),
        }
    }
}

/// Lowercase-ASCII DNS name, trailing dot removed; `None` for anything
/// else (including non-ASCII look-alikes, empty labels, bad characters).
pub fn normalize_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then(|| name.to_ascii_lowercase())
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are their IPv4 address:
/// the kernel connects to the IPv4 address, so rules about `10.0.0.1` must
/// match them. (IPv4-compatible, NAT64 and 6to4 forms are distinct IPv6
/// destinations; [`is_internal`] classifies them by the IPv4 address they
/// embed.)
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other.trunc(),
    }
}

/// The IPv4 blocks that are not the public internet: this network,
/// private, CGNAT shared space, loopback, link-local, IETF protocol
/// assignments, the documentation and benchmarking nets, multicast,
/// reserved and broadcast.
const INTERNAL_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// The IPv6 blocks that are not the public internet: unspecified and
/// loopback (inside `::/96`, the deprecated IPv4-compatible block, whose
/// addresses are also classified by their embedded IPv4 address),
/// unique-local, link-local, site-local, multicast and documentation.
const INTERNAL_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 127),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
];

/// IPv6 blocks that embed an IPv4 destination: the address is internal
/// when the embedded IPv4 address is. (IPv4-mapped `::ffff:0:0/96` is
/// folded into IPv4 by [`canonical_ip`] first.)
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // IPv4-compatible (deprecated) ::a.b.c.d
        [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => Some(low),
        // 6to4 2002:a.b.c.d::/48
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

fn internal_ranges() -> impl Iterator<Item = IpNet> {
    let v4 = INTERNAL_V4
        .iter()
        .map(|&(a, p)| IpNet::V4(Ipv4Net::new(a, p).expect("valid prefix")));
    let v6 = INTERNAL_V6
        .iter()
        .map(|&(a, p)| IpNet::V6(Ipv6Net::new(a, p).expect("valid prefix")));
    let embedding = [
        (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96),
        (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96),
        (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),
        (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),
    ]
    .into_iter()
    .map(|(a, p)| IpNet::V6(Ipv6Net::new(a, p).expect("valid prefix")));
    v4.chain(v6).chain(embedding)
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Loopback, private, CGNAT, link-local, unique-local, unspecified,
/// broadcast, multicast, documentation and other non-public addresses, in
/// any spelling (IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms are
/// judged by the IPv4 address they carry): reachable only through an
/// explicit address grant, never through a name grant.
pub fn is_internal(ip: IpAddr) -> bool {
    // Prefix tests on the integer forms: the gateway asks this on every
    // network decision, so no `IpNet` is built per range per call (the
    // tests below check it against `ipnet`'s `contains`).
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let x = u32::from(v4);
            INTERNAL_V4.iter().any(|&(a, p)| {
                (x ^ u32::from(a))
                    .checked_shr(32 - u32::from(p))
                    .unwrap_or(0)
                    == 0
            })
        }
        IpAddr::V6(v6) => {
            let x = u128::from(v6);
            INTERNAL_V6.iter().any(|&(a, p)| {
                (x ^ u128::from(a))
                    .checked_shr(128 - u32::from(p))
                    .unwrap_or(0)
                    == 0
            }) || embedded_v4(v6).is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integer prefix test is `ipnet`'s `contains`, for addresses at
    /// and around every range's edges.
    #[test]
    fn prefix_tests_agree_with_ipnet() {
        let slow = |ip: IpAddr| match canonical_ip(ip) {
            IpAddr::V4(v4) => INTERNAL_V4
                .iter()
                .any(|&(a, p)| Ipv4Net::new(a, p).is_ok_and(|n| n.contains(&v4))),
            IpAddr::V6(v6) => {
                INTERNAL_V6
                    .iter()
                    .any(|&(a, p)| Ipv6Net::new(a, p).is_ok_and(|n| n.contains(&v6)))
                    || embedded_v4(v6).is_some_and(|v4| {
                        INTERNAL_V4
                            .iter()
                            .any(|&(a, p)| Ipv4Net::new(a, p).is_ok_and(|n| n.contains(&v4)))
                    })
            }
        };
        let mut probes: Vec<IpAddr> = Vec::new();
        for &(a, p) in INTERNAL_V4 {
            let net = Ipv4Net::new(a, p).unwrap();
            for x in [
                u32::from(net.network()),
                u32::from(net.broadcast()),
                u32::from(net.network()).wrapping_sub(1),
                u32::from(net.broadcast()).wrapping_add(1),
            ] {
                probes.push(IpAddr::V4(Ipv4Addr::from(x)));
            }
        }
        for &(a, p) in INTERNAL_V6 {
            let net = Ipv6Net::new(a, p).unwrap();
            for x in [
                u128::from(net.network()),
                u128::from(net.broadcast()),
                u128::from(net.network()).wrapping_sub(1),
                u128::from(net.broadcast()).wrapping_add(1),
            ] {
                probes.push(IpAddr::V6(Ipv6Addr::from(x)));
            }
        }
        probes.push("8.8.8.8".parse().unwrap());
        probes.push("2606:4700::1111".parse().unwrap());
        for ip in probes {
            assert_eq!(is_internal(ip), slow(ip), "{ip}");
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_spelling_of_an_internal_address_is_internal() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "255.255.255.255",
            "0.1.2.3",
            "169.254.169.254",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(is_internal(ip(s)), "{s} should be internal");
        }
        for s in [
            "93.184.216.34",
            "100.128.0.1",
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert!(!is_internal(ip(s)), "{s} should be public");
        }
    }

    #[test]
    fn patterns_parse_strictly() {
        assert_eq!(HostPattern::parse("127.0.0.1/33"), None);
        assert_eq!(HostPattern::parse("127.0.0.1:8080"), None);
        assert_eq!(HostPattern::parse("API.example.com"), None);
        assert_eq!(HostPattern::parse("api.example.com."), None);
        assert_eq!(HostPattern::parse("ex\u{0430}mple.com"), None);
        assert_eq!(HostPattern::parse("*."), None);
        assert!(matches!(
            HostPattern::parse("10.1.0.0/8"),
            Some(HostPattern::Cidr(n)) if n.to_string() == "10.0.0.0/8"
        ));
        assert!(matches!(
            HostPattern::parse("::ffff:10.0.0.0/104"),
            Some(HostPattern::Cidr(n)) if n.to_string() == "10.0.0.0/8"
        ));
    }

    #[test]
    fn patterns_that_reach_internal_ranges_are_internal() {
        for s in [
            "localhost",
            "*.localhost",
            "db.internal",
            "*.local",
            "0.0.0.0/0",
            "::/0",
            "100.64.0.0/10",
            "::ffff:127.0.0.1",
            "64:ff9b::/96",
        ] {
            assert!(HostPattern::parse(s).unwrap().is_internal(), "{s}");
        }
        for s in ["api.example.com", "*.example.com", "93.184.216.0/24"] {
            assert!(!HostPattern::parse(s).unwrap().is_internal(), "{s}");
        }
    }
}
