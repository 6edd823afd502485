//! The matchers behind every scoped decision: host patterns, path globs,
//! argv prefixes. Pure functions over normalized input; property-tested.
#![forbid(unsafe_code)]

pub use crate::manifest::address::{HostPattern, canonical_ip, is_internal, normalize_name};

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
