//! The decision table: default deny, manifest ∩ policy, deny beats allow,
//! and the rule that decided named in every decision.

mod common;

use std::net::IpAddr;
use std::path::Path;

use common::*;
use sharelife_core::capability::{Kind, Policy, Request, RuleRef, Ungranted};
use sharelife_core::manifest::{Capability, FileAccess, ProviderAccess};

fn connect(name: Option<&str>, ip: &str, port: u16) -> (Option<String>, IpAddr, u16) {
    (name.map(str::to_owned), ip.parse().unwrap(), port)
}

fn decide_connect(
    gw: &sharelife_core::capability::Gateway,
    c: &(Option<String>, IpAddr, u16),
) -> RuleRef {
    let d = gw.decide(&Request::Connect {
        name: c.0.as_deref(),
        ip: Some(c.1),
        port: c.2,
    });
    assert_eq!(d.allowed, matches!(d.rule, RuleRef::Allow(_)));
    d.rule
}

#[test]
fn no_grant_or_empty_policy_means_deny() {
    let m = manifest(vec![net("api.example.com", &[443])]);
    let gw = sharelife_core::capability::Gateway::compile(&m, &Policy::new(), Path::new("/data"))
        .expect("policy compiles");
    assert_eq!(
        decide_connect(&gw, &connect(Some("api.example.com"), "93.184.216.34", 443)),
        RuleRef::NoGrantOfKind
    );
    assert!(!gw.grants_kind(Kind::Network));
    assert_eq!(gw.ungranted(), &[net("api.example.com", &[443])]);
}

#[test]
fn the_effective_grant_is_the_intersection_of_manifest_and_policy() {
    let m = manifest(vec![net("api.example.com", &[443])]);
    let policy = Policy::new()
        .allow(PLUGIN, net("*.example.com", &[]))
        .allow(PLUGIN, net("other.org", &[]));
    let gw = sharelife_core::capability::Gateway::compile(&m, &policy, Path::new("/data"))
        .expect("policy compiles");
    assert_eq!(
        decide_connect(&gw, &connect(Some("api.example.com"), "93.184.216.34", 443)),
        RuleRef::Allow(0)
    );
    // Granted by policy, never requested by the manifest.
    assert_eq!(
        decide_connect(&gw, &connect(Some("other.org"), "93.184.216.35", 443)),
        RuleRef::NotRequested
    );
    assert_eq!(
        decide_connect(&gw, &connect(Some("www.example.com"), "93.184.216.34", 443)),
        RuleRef::NotRequested
    );
    // Requested port only.
    assert_eq!(
        decide_connect(&gw, &connect(Some("api.example.com"), "93.184.216.34", 80)),
        RuleRef::NotRequested
    );
    assert!(gw.ungranted().is_empty());
}

#[test]
fn deny_rules_beat_allow_rules_by_name_or_by_address() {
    let m = manifest(vec![net("*.example.com", &[]), net("10.0.0.0/8", &[])]);
    let policy = Policy::new()
        .allow("*", net("*.example.com", &[]))
        .allow(PLUGIN, net("10.0.0.0/8", &[]))
        .deny(PLUGIN, net("admin.example.com", &[]))
        .deny("acme.*", net("10.9.0.0/16", &[]));
    let gw = sharelife_core::capability::Gateway::compile(&m, &policy, Path::new("/data"))
        .expect("policy compiles");
    assert_eq!(
        decide_connect(&gw, &connect(Some("www.example.com"), "93.184.216.34", 443)),
        RuleRef::Allow(0)
    );
    assert_eq!(
        decide_connect(
            &gw,
            &connect(Some("admin.example.com"), "93.184.216.34", 443)
        ),
        RuleRef::Deny(2)
    );
    assert_eq!(
        decide_connect(&gw, &connect(None, "10.1.2.3", 22)),
        RuleRef::Allow(1)
    );
    assert_eq!(
        decide_connect(&gw, &connect(None, "10.9.2.3", 22)),
        RuleRef::Deny(3)
    );
    // The IPv4-mapped IPv6 form of a denied address is the same address.
    assert_eq!(
        decide_connect(&gw, &connect(None, "::ffff:10.9.2.3", 22)),
        RuleRef::Deny(3)
    );
}

#[test]
fn a_name_grant_never_reaches_an_internal_address() {
    let m = manifest(vec![net("*.example.com", &[]), net("localhost", &[])]);
    let policy = Policy::new()
        .allow(PLUGIN, net("*.example.com", &[]))
        .allow(PLUGIN, net("localhost", &[]));
    let gw = sharelife_core::capability::Gateway::compile(&m, &policy, Path::new("/data"))
        .expect("policy compiles");
    for ip in [
        "127.0.0.1",
        "10.0.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
    ] {
        assert_eq!(
            decide_connect(&gw, &connect(Some("evil.example.com"), ip, 80)),
            RuleRef::InternalAddress,
            "{ip}"
        );
    }
    assert_eq!(
        decide_connect(&gw, &connect(Some("localhost"), "127.0.0.1", 80)),
        RuleRef::InternalAddress
    );
    // Before resolution, a granted name passes and an ungranted one is
    // refused without any DNS query.
    let pre = |name| {
        gw.decide(&Request::Connect {
            name: Some(name),
            ip: None,
            port: 80,
        })
        .rule
    };
    assert_eq!(pre("evil.example.com"), RuleRef::Allow(0));
    assert_eq!(pre("example.org"), RuleRef::NotRequested);
    // ... while an explicit address grant does.
    let m = manifest(vec![net("127.0.0.1", &[8080])]);
    let gw = sharelife_core::capability::Gateway::compile(
        &m,
        &Policy::new().allow(PLUGIN, net("127.0.0.1", &[8080])),
        Path::new("/d"),
    )
    .expect("policy compiles");
    assert_eq!(
        decide_connect(&gw, &connect(None, "127.0.0.1", 8080)),
        RuleRef::Allow(0)
    );
    assert_eq!(
        decide_connect(&gw, &connect(None, "127.0.0.1", 8081)),
        RuleRef::NotRequested
    );
    assert_eq!(
        decide_connect(&gw, &connect(None, "127.0.0.2", 8080)),
        RuleRef::NotRequested
    );
}

#[test]
fn policy_rules_select_plugins_by_id_prefix_or_star() {
    let m = manifest(vec![cmd(&["echo"])]);
    let other = Policy::new()
        .allow("acme.other", cmd(&["echo"]))
        .allow("acme", cmd(&["echo"]))
        .allow("acm.*", cmd(&["echo"]));
    let gw = sharelife_core::capability::Gateway::compile(&m, &other, Path::new("/d"))
        .expect("policy compiles");
    let echo = argv(&["echo", "hi"]);
    assert_eq!(
        gw.decide(&Request::Command { argv: &echo }).rule,
        RuleRef::NoGrantOfKind
    );
    let prefix = Policy::new().allow("acme.*", cmd(&["echo"]));
    let gw = sharelife_core::capability::Gateway::compile(&m, &prefix, Path::new("/d"))
        .expect("policy compiles");
    assert_eq!(
        gw.decide(&Request::Command { argv: &echo }).rule,
        RuleRef::Allow(0)
    );
}

#[test]
fn undeclared_high_risk_use_is_denied_even_when_the_policy_allows_everything() {
    let m = manifest(vec![]);
    let policy = Policy::new().allow("*", cmd(&["rm"])).allow(
        "*",
        Capability::Provider {
            name: "keys".into(),
            access: ProviderAccess::Rotate,
        },
    );
    let gw = sharelife_core::capability::Gateway::compile(&m, &policy, Path::new("/d"))
        .expect("policy compiles");
    let rm = argv(&["rm", "-rf", "/"]);
    assert!(!gw.decide(&Request::Command { argv: &rm }).allowed);
    assert!(
        !gw.decide(&Request::Provider {
            name: "keys",
            access: ProviderAccess::Rotate
        })
        .allowed
    );
}

#[test]
fn file_grants_are_root_plus_globs() {
    let m = manifest(vec![
        Capability::File {
            access: FileAccess::Read,
            path: "notes/**/*.md".into(),
        },
        Capability::File {
            access: FileAccess::Write,
            path: "/srv/out/*.txt".into(),
        },
    ]);
    let policy = Policy::new()
        .allow(
            PLUGIN,
            Capability::File {
                access: FileAccess::Read,
                path: "notes/**".into(),
            },
        )
        .allow(
            PLUGIN,
            Capability::File {
                access: FileAccess::Write,
                path: "/srv/out/*".into(),
            },
        );
    let gw = sharelife_core::capability::Gateway::compile(&m, &policy, Path::new("/data/acme"))
        .expect("policy compiles");
    let d = |access, path: &str| {
        gw.decide(&Request::File {
            access,
            path: Path::new(path),
        })
        .rule
    };
    assert_eq!(
        d(FileAccess::Read, "/data/acme/notes/a/b.md"),
        RuleRef::Allow(0)
    );
    assert_eq!(
        d(FileAccess::Read, "/data/acme/notes/b.txt"),
        RuleRef::NotRequested
    );
    assert_eq!(
        d(FileAccess::Write, "/data/acme/notes/a.md"),
        RuleRef::NotRequested
    );
    assert_eq!(d(FileAccess::Write, "/srv/out/r.txt"), RuleRef::Allow(1));
    // `*` never crosses `/`.
    assert_eq!(
        d(FileAccess::Write, "/srv/out/sub/r.txt"),
        RuleRef::NotRequested
    );
    // Paths are compared as given (already resolved): a sibling with a
    // shared prefix is not under the root.
    assert_eq!(
        d(FileAccess::Read, "/data/acme/notes-evil/a.md"),
        RuleRef::NotRequested
    );
    assert_eq!(
        d(FileAccess::Read, "/data/acmex/notes/a.md"),
        RuleRef::NotRequested
    );
}

#[test]
fn mcp_tools_are_pinned_to_a_definition_hash() {
    let pin = "a".repeat(64);
    let m = manifest(vec![Capability::Mcp {
        server: "fs".into(),
        tool: "read".into(),
        sha256: None,
    }]);
    let policy = Policy::new().allow(
        PLUGIN,
        Capability::Mcp {
            server: "fs".into(),
            tool: "read".into(),
            sha256: Some(pin.clone()),
        },
    );
    let gw = sharelife_core::capability::Gateway::compile(&m, &policy, Path::new("/d"))
        .expect("policy compiles");
    let req = |sha: &str| {
        gw.decide(&Request::Mcp {
            server: "fs",
            tool: "read",
            definition_sha256: sha,
        })
        .rule
    };
    assert_eq!(req(&pin), RuleRef::Allow(0));
    assert_eq!(req(&"b".repeat(64)), RuleRef::DefinitionChanged(0));
    assert_eq!(
        gw.decide(&Request::Mcp {
            server: "fs",
            tool: "write",
            definition_sha256: &pin
        })
        .rule,
        RuleRef::NotRequested
    );
}

#[test]
fn ungranted_requests_are_listed_and_the_policy_can_refuse_them() {
    let m = manifest(vec![cmd(&["git", "status"]), net("api.example.com", &[])]);
    let policy = Policy::new()
        .allow(PLUGIN, cmd(&["git"]))
        .on_ungranted(Ungranted::Refuse);
    let gw = sharelife_core::capability::Gateway::compile(&m, &policy, Path::new("/d"))
        .expect("policy compiles");
    assert_eq!(gw.ungranted(), &[net("api.example.com", &[])]);
    assert_eq!(policy.ungranted, Ungranted::Refuse);
}

#[test]
fn decisions_name_their_rule_in_words() {
    assert_eq!(RuleRef::Allow(3).to_string(), "policy.rules[3] (allow)");
    assert_eq!(RuleRef::Deny(0).to_string(), "policy.rules[0] (deny)");
    assert_eq!(
        RuleRef::NoGrantOfKind.to_string(),
        "default deny: no grant of this kind"
    );
    assert_eq!(
        RuleRef::InternalAddress.to_string(),
        "name grant does not cover internal address"
    );
}

#[test]
fn a_name_reaches_an_internal_address_only_with_both_grants() {
    let m = manifest(vec![
        net("db.internal", &[5432]),
        net("10.0.0.0/8", &[5432]),
    ]);
    let policy = Policy::new()
        .allow(PLUGIN, net("db.internal", &[5432]))
        .allow(PLUGIN, net("10.0.0.0/8", &[5432]));
    let gw = sharelife_core::capability::Gateway::compile(&m, &policy, Path::new("/d"))
        .expect("policy compiles");
    assert_eq!(
        decide_connect(&gw, &connect(Some("db.internal"), "10.1.1.1", 5432)),
        RuleRef::Allow(1)
    );
    assert_eq!(
        decide_connect(&gw, &connect(Some("db.internal"), "192.168.1.1", 5432)),
        RuleRef::InternalAddress
    );
    // The address grant alone does not make an ungranted name reachable.
    assert_eq!(
        decide_connect(&gw, &connect(Some("other.internal"), "10.1.1.1", 5432)),
        RuleRef::NotRequested
    );
}
