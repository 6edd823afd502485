//! A host built with `sharelife_sandbox::Provider` asks it once what the
//! kernel gives the sandbox: `host.sandbox_support()` returns it, and the
//! audit log's first record says it, in a chain that still verifies. A
//! host without a provider has none and records none.

use std::sync::Arc;

use sharelife_core::Host;
use sharelife_core::audit::{Outcome, read_log, verify};
use sharelife_core::host::SandboxSupport;

fn build(dir: &std::path::Path, provider: bool) -> Host {
    let mut builder = Host::builder()
        .data_root(dir.join("data"))
        .temp_root(dir.join("tmp"))
        .audit_log(dir.join("audit.jsonl"));
    if provider {
        builder = builder.isolation_provider(Arc::new(sharelife_sandbox::Provider::new()));
    }
    builder.build().expect("a host")
}

#[test]
fn without_a_provider_there_is_no_support_and_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let host = build(dir.path(), false);
    assert_eq!(host.sandbox_support(), None);
    host.audit().flush().unwrap();
    let log = dir.path().join("audit.jsonl");
    assert!(read_log(&log).unwrap().is_empty());
}

#[test]
fn with_a_provider_the_probe_is_kept_and_recorded_in_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let expected = SandboxSupport::from(&sharelife_sandbox::probe());

    let host = build(dir.path(), true);
    assert_eq!(host.sandbox_support(), Some(expected.clone()));
    host.audit().flush().unwrap();
    drop(host);

    let records = read_log(&log).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let probe = &records[0];
    assert_eq!(
        (
            probe.plugin.as_str(),
            probe.event.as_str(),
            probe.capability.as_deref(),
            probe.outcome
        ),
        (
            "sharelife.host",
            "operation",
            Some("sandbox-probe"),
            Outcome::Info
        )
    );
    let recorded: SandboxSupport = serde_json::from_str(&probe.request).unwrap();
    assert_eq!(recorded, expected);
    assert_eq!(verify(&log).unwrap().records, 1);

    // A second host on the same log appends its own record to the chain.
    let host = build(dir.path(), true);
    host.audit().flush().unwrap();
    drop(host);
    let records = read_log(&log).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].capability.as_deref(), Some("sandbox-probe"));
    assert_eq!(verify(&log).unwrap().records, 2);
}

#[test]
fn what_the_host_sees_matches_what_the_probe_found() {
    let found = sharelife_sandbox::probe();
    let support = SandboxSupport::from(&found);
    assert_eq!(support.seccomp, found.seccomp);
    assert_eq!(support.user_namespaces, found.user_namespaces);
    let abi = found.landlock.abi();
    assert_eq!(support.landlock_abi, (abi >= 1).then_some(abi));
    for feature in sharelife_sandbox::Feature::ALL {
        assert_eq!(
            support.features.contains(&feature.to_string()),
            found.has(feature),
            "{feature}"
        );
    }
}
