//! The host compiles each plugin's gateway from its manifest and the host
//! policy (in code or in the config file), records every decision and
//! lifecycle change in the audit log, and reports — or refuses — plugins
//! that request what the policy does not grant.

use std::sync::Arc;

use sharelife_core::audit::{AuditQuery, MemorySink, Outcome, verify};
use sharelife_core::capability::{Policy, Ungranted};
use sharelife_core::host::HostConfig;
use sharelife_core::manifest::{Capability, FileAccess};
use sharelife_core::{ErrorKind, HostError};
use sharelife_tests::Scratch;

const ID: &str = "examples.fetcher";

fn notes_read() -> Capability {
    Capability::File {
        access: FileAccess::Read,
        path: "notes/*.txt".into(),
    }
}

#[tokio::test]
async fn a_policy_in_code_grants_one_thing_and_the_audit_shows_everything() {
    let dir = Scratch::new();
    let audit = Arc::new(MemorySink::new());
    let host = dir.host_with(|b| {
        b.policy(Policy::new().allow(ID, notes_read()))
            .audit_sink(audit.clone())
    });
    let id = host
        .load(dir.copy_library("example-fetcher", "fetcher.so"))
        .await
        .unwrap();
    host.start(&id).await.unwrap();
    let data = dir.path().join("data").join(ID);
    std::fs::create_dir_all(data.join("notes")).unwrap();
    std::fs::write(data.join("notes/today.txt"), "a note").unwrap();

    assert_eq!(
        host.call(&id, "read", b"notes/today.txt")
            .unwrap()
            .as_slice(),
        b"a note"
    );
    match host.call_async(&id, "run", br#"["echo","hi"]"#).await {
        Err(HostError::Call { error, .. }) => assert_eq!(error.kind(), ErrorKind::Denied),
        other => panic!("expected a denial, got {other:?}"),
    }

    // Everything the manifest requests beyond the one grant is reported.
    assert_eq!(
        host.plugins().ungranted(&id).len(),
        7,
        "{:?}",
        host.plugins().ungranted(&id)
    );
    let decisions = audit.query(&AuditQuery {
        plugin: Some(ID.into()),
        ..AuditQuery::default()
    });
    let kinds: Vec<(&str, Outcome)> = decisions
        .iter()
        .map(|r| (r.event.as_str(), r.outcome))
        .collect();
    assert_eq!(
        kinds,
        [
            ("error", Outcome::Info),     // requested but not granted, at load
            ("lifecycle", Outcome::Info), // unloaded -> loading
            ("lifecycle", Outcome::Info), // loading -> loaded
            ("lifecycle", Outcome::Info), // loaded -> active
            ("decision", Outcome::Allow), // read notes/today.txt
            ("decision", Outcome::Deny),  // exec echo
        ]
    );
    assert!(
        decisions[0]
            .request
            .starts_with("requested but not granted: "),
        "{:?}",
        decisions[0]
    );
    assert_eq!(decisions[3].request, "loaded -> active");
    assert_eq!(decisions[4].rule, "policy.rules[0] (allow)");
    assert_eq!(decisions[5].rule, "default deny: no grant of this kind");
}

#[tokio::test]
async fn a_policy_that_refuses_ungranted_requests_refuses_the_plugin() {
    let dir = Scratch::new();
    let host = dir.host_with(|b| {
        b.policy(
            Policy::new()
                .allow(ID, notes_read())
                .on_ungranted(Ungranted::Refuse),
        )
    });
    match host
        .load(dir.copy_library("example-fetcher", "fetcher.so"))
        .await
    {
        Err(err @ HostError::Ungranted { .. }) => {
            let text = err.to_string();
            assert!(
                text.starts_with(
                    r#"plugin "examples.fetcher" requests capabilities the policy does not grant: "#
                ),
                "{text}"
            );
            assert!(
                text.contains(r#"{"kind":"command","argv":["rm"]}"#),
                "{text}"
            );
        }
        other => panic!("expected Ungranted, got {other:?}"),
    }
    assert!(host.plugins().list().is_empty());
}

#[tokio::test]
async fn the_config_file_carries_the_policy_and_the_audit_log() {
    let dir = Scratch::new();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        sharelife_tests::built_library("example-fetcher"),
        plugins.join("libfetcher.so"),
    )
    .unwrap();
    let config = dir.path().join("host.toml");
    std::fs::write(
        &config,
        r#"
plugin_paths = ["plugins"]
data_dir = "data"
temp_dir = "tmp"
audit_log = "audit.jsonl"

[[policy.rules]]
effect = "allow"
plugin = "examples.*"
kind = "file"
access = "read"
path = "notes/*.txt"

[[policy.rules]]
effect = "deny"
plugin = "*"
kind = "file"
access = "read"
path = "notes/secret.txt"
"#,
    )
    .unwrap();
    let host = sharelife_core::Host::builder()
        .config(HostConfig::load(&config).unwrap())
        .build()
        .unwrap();
    host.boot().await.unwrap();
    let data = dir.path().join("data").join(ID);
    std::fs::create_dir_all(data.join("notes")).unwrap();
    std::fs::write(data.join("notes/a.txt"), "fine").unwrap();
    std::fs::write(data.join("notes/secret.txt"), "no").unwrap();
    assert_eq!(
        host.call(ID, "read", b"notes/a.txt").unwrap().as_slice(),
        b"fine"
    );
    match host.call(ID, "read", b"notes/secret.txt") {
        Err(HostError::Call { error, .. }) => assert!(
            error
                .message()
                .ends_with("denied by policy.rules[1] (deny)"),
            "{error}"
        ),
        other => panic!("expected a denial, got {other:?}"),
    }
    host.shutdown().await;

    let log = dir.path().join("audit.jsonl");
    let report = verify(&log).unwrap();
    let records = sharelife_core::audit::read_log(&log).unwrap();
    assert_eq!(report.records, records.len() as u64);
    let outcomes: Vec<Outcome> = records
        .iter()
        .filter(|r| r.event == "decision")
        .map(|r| r.outcome)
        .collect();
    assert_eq!(outcomes, [Outcome::Allow, Outcome::Deny]);
    assert!(
        records
            .iter()
            .any(|r| r.event == "lifecycle" && r.request == "active -> inactive"),
        "shutdown is recorded"
    );
}

#[test]
fn an_unknown_key_in_a_policy_rule_is_an_error_naming_it() {
    let text = "[[policy.rules]]\neffect = \"allow\"\nplugin = \"*\"\nkind = \"file\"\naccess = \"read\"\npaht = \"x\"\n";
    let err = HostConfig::parse(text, None, &|_| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("paht"), "{err}");
}
