//! Property tests for the matchers under every scoped decision.

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use sharelife_core::capability::pattern::{
    HostPattern, PathGlob, argv_has_prefix, canonical_ip, normalize_name,
};

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"
}

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
}

proptest! {
    #[test]
    fn a_suffix_pattern_matches_exactly_the_names_strictly_below_it(suffix in name(), host in name()) {
        let p = HostPattern::parse(&format!("*.{suffix}")).unwrap();
        let expected = host.ends_with(&format!(".{suffix}"));
        prop_assert_eq!(p.matches_name(&host), expected);
        let appended = format!("{suffix}.evil.net");
        let glued = format!("evil{suffix}");
        prop_assert!(!p.matches_name(&suffix));
        prop_assert!(!p.matches_name(&appended));
        prop_assert!(!p.matches_name(&glued));
    }

    #[test]
    fn normalizing_a_name_is_idempotent(n in name(), upper in any::<bool>(), dot in any::<bool>()) {
        let mut text = if upper { n.to_uppercase() } else { n.clone() };
        if dot { text.push('.'); }
        let once = normalize_name(&text).unwrap();
        prop_assert_eq!(&once, &n);
        prop_assert_eq!(normalize_name(&once), Some(once.clone()));
    }

    #[test]
    fn non_ascii_names_are_refused(prefix in name(), c in "[\\u{80}-\\u{10ffff}]") {
        prop_assert_eq!(normalize_name(&format!("{prefix}{c}.com")), None);
    }

    #[test]
    fn cidr_membership_agrees_with_mask_arithmetic(net in any::<u32>(), prefix in 0u8..=32, addr in any::<u32>()) {
        let p = HostPattern::parse(&format!("{}/{prefix}", Ipv4Addr::from(net))).unwrap();
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
        let inside = net & mask == addr & mask;
        prop_assert_eq!(p.matches_ip(IpAddr::V4(Ipv4Addr::from(addr))), inside);
        // The IPv4-mapped IPv6 spelling is the same address.
        let mapped = IpAddr::V6(Ipv4Addr::from(addr).to_ipv6_mapped());
        prop_assert_eq!(p.matches_ip(mapped), inside);
        prop_assert_eq!(canonical_ip(mapped), IpAddr::V4(Ipv4Addr::from(addr)));
    }

    #[test]
    fn a_single_star_never_matches_across_a_slash(dir in "[a-z]{1,6}", a in "[a-z][a-z.]{0,5}", b in "[a-z][a-z.]{0,5}") {
        let glob = PathGlob::new(&format!("{dir}/*"));
        let flat = format!("{dir}/{a}{b}");
        let nested = format!("{dir}/{a}/{b}");
        prop_assert!(glob.matches(&flat));
        prop_assert!(!glob.matches(&nested));
    }

    #[test]
    fn a_double_star_matches_any_depth_below_its_root(dir in "[a-z]{1,6}", parts in prop::collection::vec("[a-z]{1,4}", 1..5)) {
        let path = format!("{dir}/{}", parts.join("/"));
        let below = PathGlob::new(&format!("{dir}/**"));
        let sibling = PathGlob::new(&format!("{dir}x/**"));
        prop_assert!(below.matches(&path));
        prop_assert!(!sibling.matches(&path));
    }

    #[test]
    fn argv_prefix_is_exactly_element_wise_prefix(prefix in prop::collection::vec("[a-z-]{1,4}", 0..4), rest in prop::collection::vec("[a-z-]{1,4}", 0..4), junk in "[a-z-]{1,4}") {
        let full: Vec<String> = prefix.iter().chain(&rest).cloned().collect();
        prop_assert!(argv_has_prefix(&full, &prefix));
        if let Some(first) = prefix.first() {
            // Anything inserted before the prefix breaks it.
            let mut shifted = vec![junk.clone()];
            shifted.extend(full.iter().cloned());
            if &junk != first {
                prop_assert!(!argv_has_prefix(&shifted, &prefix));
            }
            // A longer first word is not the program.
            let mut longer = full.clone();
            longer[0] = format!("{first}x");
            prop_assert!(!argv_has_prefix(&longer, &prefix));
        }
    }
}
