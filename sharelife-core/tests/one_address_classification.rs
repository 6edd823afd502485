//! The risk label a manifest gets and the gateway's treatment of the same
//! destination come from one classification: for every spelling of an
//! address (IPv4, IPv6, IPv4-mapped, IPv4-compatible, NAT64, 6to4, CIDR
//! blocks), a network request is labelled high risk exactly when the
//! gateway treats its address as internal (a name grant does not reach
//! it), and host names are accepted or refused alike by both.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use common::*;
use proptest::prelude::*;
use sharelife_core::capability::{Gateway, Policy, Request, RuleRef};
use sharelife_core::manifest::{Capability, RiskLevel};

/// An IPv4 address biased towards the edges of the internal ranges.
fn v4() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        any::<u32>().prop_map(Ipv4Addr::from),
        (
            prop::sample::select(vec![
                0u8, 9, 10, 11, 100, 126, 127, 128, 169, 172, 192, 198, 203, 223, 224, 239, 240,
                255
            ]),
            any::<u8>(),
            any::<u8>(),
            any::<u8>()
        )
            .prop_map(|(a, b, c, d)| Ipv4Addr::new(a, b, c, d)),
    ]
}

/// Every way we know to write an address.
fn spellings(v4: Ipv4Addr, raw6: u128) -> Vec<IpAddr> {
    let [a, b, c, d] = v4.octets();
    let hi = u16::from_be_bytes([a, b]);
    let lo = u16::from_be_bytes([c, d]);
    vec![
        IpAddr::V4(v4),
        IpAddr::V6(v4.to_ipv6_mapped()),
        IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, hi, lo)),
        IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo)),
        IpAddr::V6(Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::from(raw6)),
    ]
}

fn risk_of(host: &str) -> RiskLevel {
    Capability::Network {
        host: host.to_owned(),
        ports: vec![],
    }
    .risk()
}

/// What the gateway does with `ip` reached through a granted name.
fn reached_by_name(ip: IpAddr) -> RuleRef {
    let m = manifest(vec![net("*.example.com", &[])]);
    let gw = Gateway::compile(
        &m,
        &Policy::new().allow(PLUGIN, net("*.example.com", &[])),
        Path::new("/d"),
    )
    .unwrap();
    gw.decide(&Request::Connect {
        name: Some("api.example.com"),
        ip: Some(ip),
        port: 443,
    })
    .rule
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_risk_label_and_the_gateway_agree_on_every_address(v4 in v4(), raw6 in any::<u128>()) {
        for ip in spellings(v4, raw6) {
            let high = risk_of(&ip.to_string()) == RiskLevel::High;
            let internal = reached_by_name(ip) == RuleRef::InternalAddress;
            prop_assert_eq!(high, internal, "{} labelled high = {}, gateway internal = {}", ip, high, internal);
        }
    }

    #[test]
    fn a_block_is_high_risk_when_its_first_address_is_internal_to_the_gateway(v4 in v4(), prefix in 8u8..=32) {
        let net = ipnet::Ipv4Net::new(v4, prefix).unwrap().trunc();
        let first = IpAddr::V4(net.network());
        if reached_by_name(first) == RuleRef::InternalAddress {
            prop_assert_eq!(risk_of(&net.to_string()), RiskLevel::High, "{}", net);
        }
    }

    #[test]
    fn names_are_accepted_or_refused_alike(
        name in "[a-zA-Z0-9-]{1,10}(\\.[a-zA-Z0-9-]{1,10}){0,2}\\.?",
    ) {
        let manifest_ok = Capability::Network { host: name.clone(), ports: vec![] }
            .problems("capabilities[0]")
            .is_empty();
        let policy_ok = Policy::new().allow(PLUGIN, net(&name, &[])).validate().is_ok();
        prop_assert_eq!(manifest_ok, policy_ok, "{:?}", name);
        // Accepted names are exactly the canonical ones: lowercase, no
        // trailing dot, as requests are normalized.
        let canonical = name == name.to_ascii_lowercase() && !name.ends_with('.');
        if manifest_ok {
            prop_assert!(canonical, "{:?} accepted but not canonical", name);
        }
    }
}

#[test]
fn the_known_disagreements_of_before_now_agree() {
    for host in [
        "100.64.0.1",
        "255.255.255.255",
        "0.1.2.3",
        "::ffff:127.0.0.1",
        "64:ff9b::a00:1",
        "2002:a00:1::",
    ] {
        assert_eq!(risk_of(host), RiskLevel::High, "{host}");
        assert_eq!(
            reached_by_name(host.parse().unwrap()),
            RuleRef::InternalAddress,
            "{host}"
        );
    }
}
