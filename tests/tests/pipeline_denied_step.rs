//! A step whose plugin requests capabilities is checked at its start:
//! the host's gateway must grant every request and the pipeline must
//! allow it. A denied step is not called, never retried, audited with the
//! rule that decided, and its `on_failure` decides what follows. A step
//! the pipeline's own list would deny is refused when compiling
//! (`pipeline_unlisted_capability_fails_to_compile.rs`).

use sharelife_core::ErrorKind;
use sharelife_core::audit::{AuditQuery, Outcome};
use sharelife_core::capability::{Policy, RuleRef};
use sharelife_core::manifest::{Capability, FileAccess};
use sharelife_core::pipeline::{GateRule, Pipeline, RunStatus, StepStatus};
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{decisions, host_granting, problems, yaml};

const ID: &str = "fixtures.guarded";

fn notes() -> Capability {
    Capability::File {
        access: FileAccess::Read,
        path: "notes/*.txt".into(),
    }
}

fn api(host: &str) -> Capability {
    Capability::Network {
        host: host.into(),
        ports: vec![443],
    }
}

fn pipeline(allowed: &str) -> String {
    format!(
        r#"
schema_version: sharelife.pipeline.v1
plugins:
  - {{ alias: guarded, plugin: fixtures.guarded, capabilities: {allowed} }}
steps:
  - {{ step_id: first, plugin_ref: guarded, on_failure: skip }}
  - step_id: second
    plugin_ref: guarded
    on_failure: retry
    retry: {{ retries: 3, backoff_ms: 1, then: skip }}
  - {{ step_id: third, plugin_ref: guarded, on_failure: abort }}
"#
    )
}

#[tokio::test]
async fn no_grant_denies_under_every_failure_policy() {
    let dir = Scratch::new();
    let (host, audit) = host_granting(&dir, &["fixture-guarded"], Policy::new()).await;
    let pipeline = Pipeline::compile(&yaml(&pipeline("[]")), &host).unwrap();

    let report = pipeline.run(b"x").await;
    assert_eq!(report.status(), RunStatus::Failed, "{report}");
    for step in report.steps() {
        assert_eq!(step.status(), StepStatus::Denied, "{}", step.step_id());
        assert_eq!(
            step.attempts(),
            0,
            "a denied step is never called nor retried"
        );
        assert_eq!(step.error().unwrap().kind(), ErrorKind::Denied);
        let decision = step.decision().unwrap();
        assert!(!decision.allowed);
        assert_eq!(decision.rule, GateRule::HostDenied(RuleRef::NoGrantOfKind));
        assert_eq!(decision.capability, Some(notes()));
    }
    assert_eq!(
        report.step("first").unwrap().error().unwrap().to_string(),
        r#"denied: step "first" may not run: file read "notes/*.txt" by default deny: no grant of this kind"#
    );
    assert_eq!(report.step("second").unwrap().waited().as_nanos(), 0);

    let records = audit.query(&AuditQuery {
        plugin: Some(ID.into()),
        outcome: Some(Outcome::Deny),
        ..AuditQuery::default()
    });
    assert_eq!(
        records.len(),
        3,
        "one denial audited per step start: {records:?}"
    );
    assert_eq!(records[0].event, "decision");
    assert_eq!(records[0].capability.as_deref(), Some("file"));
    assert_eq!(records[0].rule, "default deny: no grant of this kind");
    assert!(
        records[0]
            .request
            .ends_with("data/fixtures.guarded/notes/*.txt"),
        "{}",
        records[0].request
    );
}

#[tokio::test]
async fn a_grant_of_something_else_does_not_cover_the_request() {
    let dir = Scratch::new();
    let policy = Policy::new()
        .allow(ID, notes())
        .allow(ID, api("other.example.com"));
    let (host, audit) = host_granting(&dir, &["fixture-guarded"], policy).await;
    let pipeline =
        Pipeline::compile(&yaml(&pipeline("[file.read, network.outbound]")), &host).unwrap();

    let report = pipeline.run_sync(b"x").unwrap();
    assert_eq!(report.status(), RunStatus::Failed);
    let decision = report.step("first").unwrap().decision().unwrap();
    // The gateway's own answer: its network grant covers none of the
    // plugin's network requests.
    assert_eq!(decision.rule, GateRule::HostDenied(RuleRef::NoGrantOfKind));
    assert_eq!(decision.capability, Some(api("api.example.com")));
    let records = decisions(&audit);
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].request, "connect api.example.com:443");
    assert_eq!(records[0].rule, "default deny: no grant of this kind");
}

#[tokio::test]
async fn a_deny_rule_beats_the_grant() {
    let dir = Scratch::new();
    let policy = Policy::new()
        .allow(ID, notes())
        .allow(ID, api("api.example.com"))
        .deny("*", api("api.example.com"));
    let (host, audit) = host_granting(&dir, &["fixture-guarded"], policy).await;
    let pipeline =
        Pipeline::compile(&yaml(&pipeline("[file.read, network.outbound]")), &host).unwrap();

    let report = pipeline.run(b"x").await;
    let decision = report.step("third").unwrap().decision().unwrap();
    assert_eq!(decision.rule, GateRule::HostDenied(RuleRef::Deny(2)));
    assert_eq!(decisions(&audit)[2].rule, "policy.rules[2] (deny)");
}

#[tokio::test]
async fn the_pipeline_narrows_what_the_host_grants() {
    let dir = Scratch::new();
    let policy = Policy::new()
        .allow(ID, notes())
        .allow(ID, api("api.example.com"));
    let (host, audit) = host_granting(&dir, &["fixture-guarded"], policy).await;

    // The host grants both requests; this pipeline allows only file reads.
    // Every start of every step would be denied by the pipeline's own
    // list: compiling refuses it, at each step's line, before any run.
    let narrow = Pipeline::compile(&yaml(&pipeline("[file.read]")), &host);
    let found = problems(narrow);
    assert_eq!(found.len(), 3, "{found:?}");
    for (i, (found, line)) in found.iter().zip([6, 8, 11]).enumerate() {
        assert!(
            found.starts_with(&format!(
                "line {line}: steps[{i}].plugin_ref: plugin \"fixtures.guarded\" requests network api.example.com ports [443], which the host grants but plugins[0].capabilities (line 4) does not allow"
            )),
            "{found}"
        );
    }
    assert!(decisions(&audit).is_empty(), "nothing ran");

    // Allowing both (one as a class, one exactly), the steps run.
    let wide = Pipeline::compile(
        &yaml(&pipeline(
            "[file.read, {kind: network, host: api.example.com, ports: [443]}]",
        )),
        &host,
    )
    .unwrap();
    let report = wide.run(b"through").await;
    assert_eq!(report.status(), RunStatus::Completed, "{report}");
    let decision = report.step("first").unwrap().decision().unwrap();
    assert!(decision.allowed);
    assert_eq!(decision.rule, GateRule::Host(RuleRef::Allow(0)));
    assert_eq!(report.final_output(), Some(&b"through"[..]));
    let allowed = audit.query(&AuditQuery {
        outcome: Some(Outcome::Allow),
        ..AuditQuery::default()
    });
    assert_eq!(allowed.len(), 3, "each allowed start is audited too");
    assert_eq!(allowed[0].rule, "policy.rules[0] (allow)");
}
