//! The risk label: raises lift it, capabilities are summarised in plain
//! words, and the compatibility matrix pairs the API range with the known
//! host versions.

use semver::{Version, VersionReq};
use sharelife_manifest::{Capability, FileAccess, Kind, Manifest, PluginId, RiskLevel};
use sharelife_registry::label::{
    ADMIN_CONFIRMATION_AT, HostApiCompat, KNOWN_HOST_API_VERSIONS, Raise, compatibility,
    known_host_api_versions, label,
};

fn manifest(api: &str, capabilities: Vec<Capability>) -> Manifest {
    let mut m = Manifest::new(
        PluginId::new("acme.upper").unwrap(),
        Version::new(1, 2, 0),
        VersionReq::parse(api).unwrap(),
    );
    m.capabilities = capabilities;
    m
}

fn read(path: &str) -> Capability {
    Capability::File {
        access: FileAccess::Read,
        path: path.to_owned(),
    }
}

#[test]
fn without_evidence_the_label_is_the_declared_risk() {
    let m = manifest("^0.1", vec![read("notes/*.txt")]);
    let l = label(&m, &["x86_64-unknown-linux-gnu".to_owned()], &[]);
    assert_eq!(l.risk, RiskLevel::Low);
    assert_eq!(l.declared_risk, RiskLevel::Low);
    assert!(l.raised_by.is_empty());
}

#[test]
fn raises_lift_the_label_and_never_lower_it() {
    let m = manifest(
        "^0.1",
        vec![Capability::Network {
            host: "api.example.com".into(),
            ports: vec![443],
        }],
    );
    let connect = Raise {
        to: RiskLevel::High,
        reason: "declares no command, imports `execve`".into(),
    };
    let l = label(&m, &[], std::slice::from_ref(&connect));
    assert_eq!(l.declared_risk, RiskLevel::Medium);
    assert_eq!(l.risk, RiskLevel::High);
    assert_eq!(l.raised_by, vec![connect]);
    assert!(l.risk >= ADMIN_CONFIRMATION_AT);

    let lower = Raise {
        to: RiskLevel::Low,
        reason: "an advisory of low severity".into(),
    };
    let l = label(&m, &[], &[lower]);
    assert_eq!(l.risk, RiskLevel::Medium, "a raise never lowers the label");
}

#[test]
fn every_capability_is_summarised_with_its_risk_and_plain_words() {
    let m = manifest(
        "^0.1",
        vec![
            read("notes/*.txt"),
            Capability::Command {
                argv: vec!["git".into(), "status".into()],
            },
            Capability::Network {
                host: "api.example.com".into(),
                ports: vec![443],
            },
        ],
    );
    let l = label(&m, &[], &[]);
    let rows: Vec<(Kind, RiskLevel, &str)> = l
        .capabilities
        .iter()
        .map(|c| (c.kind, c.risk, c.plain.as_str()))
        .collect();
    assert_eq!(
        rows,
        vec![
            (Kind::File, RiskLevel::Low, "reads files under notes/*.txt"),
            (Kind::Command, RiskLevel::High, "runs `git status…`"),
            (
                Kind::Network,
                RiskLevel::Medium,
                "connects to api.example.com:443"
            ),
        ]
    );
    assert_eq!(l.risk, RiskLevel::High);
    // The capability is serialized as in the manifest.
    let json = serde_json::to_value(&l).unwrap();
    assert_eq!(
        json["capabilities"][1]["capability"],
        serde_json::json!({"kind": "command", "argv": ["git", "status"]})
    );
    assert_eq!(json["capabilities"][1]["risk"], "high");
    let back: sharelife_registry::label::Label = serde_json::from_value(json).unwrap();
    assert_eq!(back, l);
}

#[test]
fn the_matrix_pairs_the_range_with_every_known_host_version() {
    let known = known_host_api_versions();
    assert!(known.contains(&Version::parse(sharelife_manifest::PLUGIN_API_VERSION).unwrap()));
    for v in KNOWN_HOST_API_VERSIONS {
        assert!(known.contains(&Version::parse(v).unwrap()));
    }
    let targets = vec!["x86_64-unknown-linux-gnu".to_owned()];
    let platforms = vec!["linux".to_owned()];
    let mut m = manifest("^0.1", vec![]);
    m.platforms = platforms.clone();
    let c = label(&m, &targets, &[]).compatibility;
    assert_eq!(c.plugin_api, "^0.1");
    assert_eq!(c.targets, targets);
    assert_eq!(c.platforms, platforms);
    assert_eq!(c.host_api.len(), known.len());
    assert!(c.host_api.contains(&HostApiCompat {
        version: "0.1.0".into(),
        compatible: true
    }));
    assert_eq!(c.min_host_version, "0.1.0");
    assert_eq!(c.max_host_version.as_deref(), Some("0.1.x"));

    // A range no known host accepts: every cell says no; min is its own
    // lower bound.
    let c = compatibility(&VersionReq::parse("^2.3").unwrap(), &[], &[]);
    assert!(c.host_api.iter().all(|h| !h.compatible), "{c:?}");
    assert_eq!(c.min_host_version, "2.3.0");
    assert_eq!(c.max_host_version.as_deref(), Some("2.x"));
}

#[test]
fn min_and_max_host_versions_follow_the_documented_rule() {
    let bounds = |req: &str| {
        let c = compatibility(&VersionReq::parse(req).unwrap(), &[], &[]);
        (c.min_host_version, c.max_host_version)
    };
    assert_eq!(bounds(">=0.1"), ("0.1.0".into(), None));
    assert_eq!(bounds("*"), ("0.1.0".into(), None));
    assert_eq!(bounds("~1.2.3"), ("1.2.3".into(), Some("1.2.x".into())));
    assert_eq!(bounds("=0.1.0"), ("0.1.0".into(), Some("0.1.0".into())));
    assert_eq!(bounds("0.1.*"), ("0.1.0".into(), Some("0.1.x".into())));
    assert_eq!(
        bounds(">=0.3, <0.5"),
        ("0.3.0".into(), Some("<0.5.0".into()))
    );
    assert_eq!(bounds("^0.0.4"), ("0.0.4".into(), Some("0.0.4".into())));
    assert_eq!(bounds("<0.0.1"), ("0.0.0".into(), Some("<0.0.1".into())));
}
