//! The matchers behind every scoped decision: host patterns, path globs,
//! argv prefixes. Pure functions over normalized input; property-tested.
#![forbid(unsafe_code)]

use std::net::IpAddr;

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
    Cidr(IpAddr, u8),
}

impl HostPattern {
    /// Parses a manifest/policy host (`name`, `*.suffix`, IP, `ip/prefix`).
    /// Names must be lowercase ASCII (punycode for international names):
    /// look-alike characters are refused, not folded.
    pub fn parse(text: &str) -> Option<HostPattern> {
        if let Some((ip, prefix)) = text.split_once('/') {
            let ip = canonical_ip(ip.parse().ok()?);
            let prefix: u8 = prefix.parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            return (prefix <= max).then_some(HostPattern::Cidr(ip, prefix));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Some(HostPattern::Ip(canonical_ip(ip)));
        }
        if let Some(suffix) = text.strip_prefix("*.") {
            return normalize_name(suffix).map(HostPattern::Below);
        }
        normalize_name(text).map(HostPattern::Name)
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
        match *self {
            HostPattern::Ip(p) => p == ip,
            HostPattern::Cidr(net, prefix) => cidr_contains(net, prefix, ip),
            HostPattern::Name(_) | HostPattern::Below(_) => false,
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

/// IPv4-mapped and IPv4-compatible IPv6 addresses are their IPv4 address:
/// `::ffff:10.0.0.1` must not slip past a rule about `10.0.0.1`.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn cidr_contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Loopback, private, link-local, unique-local, unspecified and other
/// non-public addresses: reachable only through an explicit address grant,
/// never through a name grant.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64) // 100.64/10 CGNAT
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// A path glob: literal segments, `*` (any run of characters within one
/// segment, never `/`), `?` (one character, never `/`), and `**` (any
/// number of whole segments). Matching is on exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGlob {
    segments: Vec<String>,
}

impl PathGlob {
    /// Parses a glob relative to its root (no leading `/`).
    pub fn new(glob: &str) -> Self {
        PathGlob {
            segments: glob
                .split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Whether `path` (relative, `/`-separated, already normalized: no
    /// `.`/`..`, no empty segments) matches.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match_segments(&self.segments, &parts)
    }
}

fn match_segments(glob: &[String], path: &[&str]) -> bool {
    match glob.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, path_rest)) => {
                match_one(first.as_bytes(), p.as_bytes()) && match_segments(rest, path_rest)
            }
            None => false,
        },
    }
}

/// `*` and `?` within one segment (the segment never contains `/`).
fn match_one(pat: &[u8], text: &[u8]) -> bool {
    match pat.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| match_one(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && match_one(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && match_one(rest, &text[1..]),
    }
}

/// Whether `argv` starts with `prefix`, element by element and exactly.
pub fn argv_has_prefix(argv: &[String], prefix: &[String]) -> bool {
    argv.len() >= prefix.len() && argv.iter().zip(prefix).all(|(a, p)| a == p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_suffix_tricks_do_not_match() {
        let below = HostPattern::parse("*.example.com").unwrap();
        assert!(below.matches_name("api.example.com"));
        assert!(below.matches_name("a.b.example.com"));
        assert!(!below.matches_name("example.com"));
        assert!(!below.matches_name("evilexample.com"));
        assert!(!below.matches_name("example.com.evil.net"));
        let exact = HostPattern::parse("example.com").unwrap();
        assert!(!exact.matches_name("example.com.evil.net"));
        assert!(!exact.matches_name("www.example.com"));
    }

    #[test]
    fn look_alike_and_uppercase_names_are_normalized_or_refused() {
        assert_eq!(
            normalize_name("API.Example.COM."),
            Some("api.example.com".into())
        );
        // Cyrillic 'е' in "exаmple": refused, not folded into "example".
        assert_eq!(normalize_name("ex\u{0430}mple.com"), None);
        assert_eq!(normalize_name("a..b"), None);
        assert_eq!(HostPattern::parse("Ex\u{0430}mple.com"), None);
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address() {
        let deny = HostPattern::parse("10.0.0.0/8").unwrap();
        assert!(deny.matches_ip("::ffff:10.1.2.3".parse().unwrap()));
        assert!(deny.matches_ip("10.255.0.1".parse().unwrap()));
        assert!(!deny.matches_ip("11.0.0.1".parse().unwrap()));
        assert!(is_internal("::ffff:127.0.0.1".parse().unwrap()));
        assert!(is_internal("fd12::1".parse().unwrap()));
        assert!(!is_internal("93.184.216.34".parse().unwrap()));
    }

    #[test]
    fn globs_never_cross_a_slash_with_star() {
        let g = PathGlob::new("data/*.json");
        assert!(g.matches("data/a.json"));
        assert!(!g.matches("data/sub/a.json"));
        assert!(!g.matches("data/a.jsonx"));
        let deep = PathGlob::new("data/**/*.json");
        assert!(deep.matches("data/a.json"));
        assert!(deep.matches("data/x/y/a.json"));
        assert!(!deep.matches("other/a.json"));
        assert!(PathGlob::new("**").matches("anything/at/all"));
        assert!(!PathGlob::new("a?c").matches("a/c"));
    }

    #[test]
    fn argv_prefix_is_exact_per_element() {
        let v = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(argv_has_prefix(
            &v(&["git", "status", "-s"]),
            &v(&["git", "status"])
        ));
        assert!(!argv_has_prefix(
            &v(&["gitx", "status"]),
            &v(&["git", "status"])
        ));
        assert!(!argv_has_prefix(
            &v(&["git", "-c", "x=y", "status"]),
            &v(&["git", "status"])
        ));
        assert!(!argv_has_prefix(&v(&["git"]), &v(&["git", "status"])));
        assert!(!argv_has_prefix(
            &v(&["/usr/bin/git", "status"]),
            &v(&["git", "status"])
        ));
    }
}
