//! The matchers behind every scoped decision: host patterns, path globs,
//! argv prefixes. Pure functions over normalized input; property-tested.
#![forbid(unsafe_code)]

use std::borrow::Cow;

use globset::{GlobBuilder, GlobMatcher};

pub use crate::manifest::address::{HostPattern, canonical_ip, is_internal, normalize_name};

/// A path glob: literal segments, `*` (any run of bytes within one
/// segment, never `/`), `?` (one byte, never `/`), and `**` (any number of
/// whole segments, none included: `data/**` matches `data` itself). Every
/// other byte is literal, `[`, `]`, `{`, `}` and `\` included (no classes
/// or alternatives). Matching is on exact bytes.
///
/// Compiled once (with `globset`, to a finite automaton), so matching takes
/// time linear in the path whatever the pattern: `*a*a*a*b` cannot make a
/// decision backtrack.
#[derive(Debug, Clone)]
pub struct PathGlob {
    /// The normalized glob: segments joined by `/`, no empty or `.`
    /// segments, no repeated `**`.
    source: String,
    /// `None` only for a glob too large to compile: it matches nothing.
    full: Option<GlobMatcher>,
    /// For a glob ending in `/**`: the glob without it, since `**` may
    /// span zero segments (globset's `a/**` needs at least one).
    without_tail: Option<GlobMatcher>,
    /// Whether the empty path (the root itself) matches: only a glob of
    /// `**` or nothing does (globset's `*` would match an empty name).
    matches_root: bool,
}

impl PartialEq for PathGlob {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for PathGlob {}

impl PathGlob {
    /// Parses a glob relative to its root (no leading `/`). A glob too
    /// large to compile matches nothing; [`try_new`](Self::try_new) says so
    /// instead.
    pub fn new(glob: &str) -> Self {
        Self::try_new(glob).unwrap_or_else(|| PathGlob {
            source: glob.to_owned(),
            full: None,
            without_tail: None,
            matches_root: false,
        })
    }

    /// Parses a glob relative to its root, or `None` if it is too large to
    /// compile (the automaton's size is bounded).
    pub fn try_new(glob: &str) -> Option<Self> {
        let mut segments: Vec<&str> = Vec::new();
        for s in glob.split('/').filter(|s| !s.is_empty() && *s != ".") {
            if !(s == "**" && segments.last() == Some(&"**")) {
                segments.push(s);
            }
        }
        let without_tail = match segments.split_last() {
            Some((&"**", rest)) if !rest.is_empty() => Some(compile(rest)?),
            _ => None,
        };
        Some(PathGlob {
            matches_root: segments.iter().all(|s| *s == "**"),
            source: segments.join("/"),
            full: Some(compile(&segments)?),
            without_tail,
        })
    }

    /// Whether `path` (relative, `/`-separated, already normalized: no
    /// `.`/`..`, no empty segments) matches.
    pub fn matches(&self, path: &str) -> bool {
        let path = if path.starts_with('/') || path.ends_with('/') || path.contains("//") {
            Cow::Owned(
                path.split('/')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("/"),
            )
        } else {
            Cow::Borrowed(path)
        };
        let path = path.as_ref();
        if path.is_empty() {
            return self.matches_root;
        }
        self.full.as_ref().is_some_and(|g| g.is_match(path))
            || self.without_tail.as_ref().is_some_and(|g| g.is_match(path))
    }
}

/// The globset pattern for `segments`: `**` segments as they are, `*` and
/// `?` as they are, every other special character escaped.
fn compile(segments: &[&str]) -> Option<GlobMatcher> {
    let mut pattern = String::new();
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            pattern.push('/');
        }
        for c in seg.chars() {
            if matches!(c, '[' | ']' | '{' | '}' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
    }
    GlobBuilder::new(&pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
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
    fn a_double_star_may_span_no_segment() {
        let below = PathGlob::new("data/**");
        assert!(!below.matches(""));
        assert!(below.matches("data"));
        assert!(below.matches("data/a"));
        assert!(!below.matches("database"));
        assert!(PathGlob::new("**").matches(""));
        assert!(PathGlob::new("**/**").matches("a"));
        assert!(PathGlob::new("a/**/**/b").matches("a/b"));
        assert!(PathGlob::new("**/x").matches("x"));
        assert!(PathGlob::new("").matches(""));
        assert!(!PathGlob::new("").matches("a"));
        // The root itself is no name a `*` or `?` matches.
        assert!(!PathGlob::new("*").matches(""));
        assert!(!PathGlob::new("**/*").matches(""));
        // `**` inside a segment is two stars, never a `/`.
        assert!(PathGlob::new("a**b").matches("axyb"));
        assert!(!PathGlob::new("a**b").matches("a/b"));
    }

    #[test]
    fn brackets_braces_and_backslashes_are_literal() {
        assert!(PathGlob::new("[ab].txt").matches("[ab].txt"));
        assert!(!PathGlob::new("[ab].txt").matches("a.txt"));
        assert!(PathGlob::new("{a,b}").matches("{a,b}"));
        assert!(!PathGlob::new("{a,b}").matches("a"));
        assert!(PathGlob::new("a\\*").matches("a\\xyz"));
        assert!(!PathGlob::new("a\\*").matches("a*"));
        assert!(PathGlob::new("\u{e9}?").matches("\u{e9}x"));
    }

    #[test]
    fn a_pathological_pattern_is_decided_without_backtracking() {
        // The old recursive matcher took time exponential in the stars for
        // these; the compiled automaton is linear in the path.
        let name = "a".repeat(10_000);
        assert!(!PathGlob::new("*a*a*a*a*a*a*a*b").matches(&name));
        assert!(PathGlob::new("*a*a*a*a*a*a*a*").matches(&name));
        let deep = vec!["a"; 2_000].join("/");
        assert!(!PathGlob::new("**/a/**/a/**/a/**/a/**/b").matches(&deep));
        assert!(PathGlob::new("**/a/**/a/**/a/**/a/**").matches(&deep));
    }

    /// The matcher this type replaced: recursive, exponential in the worst
    /// case, but plainly the documented semantics; the reference for small
    /// inputs.
    fn reference(glob: &str, path: &str) -> bool {
        fn segments(glob: &[&str], path: &[&str]) -> bool {
            match glob.split_first() {
                None => path.is_empty(),
                Some((&"**", rest)) => (0..=path.len()).any(|skip| segments(rest, &path[skip..])),
                Some((first, rest)) => path.split_first().is_some_and(|(p, path_rest)| {
                    one(first.as_bytes(), p.as_bytes()) && segments(rest, path_rest)
                }),
            }
        }
        fn one(pat: &[u8], text: &[u8]) -> bool {
            match pat.split_first() {
                None => text.is_empty(),
                Some((b'*', rest)) => (0..=text.len()).any(|i| one(rest, &text[i..])),
                Some((b'?', rest)) => !text.is_empty() && one(rest, &text[1..]),
                Some((c, rest)) => text.first() == Some(c) && one(rest, &text[1..]),
            }
        }
        let glob: Vec<&str> = glob
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        let path: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        segments(&glob, &path)
    }

    proptest::proptest! {
        #[test]
        fn the_compiled_glob_agrees_with_the_reference(
            glob in "(a|b|\\*|\\?|\\[|\\]|\\{|,|\\\\|/|\\*\\*|/\\*\\*/|\\.){0,8}",
            path in "(a|b|\\[|\\]|\\{|,|\\\\|/|\\*|\\?){0,10}",
        ) {
            proptest::prop_assert_eq!(PathGlob::new(&glob).matches(&path), reference(&glob, &path));
        }
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
