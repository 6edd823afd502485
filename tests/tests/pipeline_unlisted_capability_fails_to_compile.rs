//! A step whose plugin requests a capability the host grants but the
//! pipeline's own `capabilities` list does not allow would be denied at
//! every start: it is known when the pipeline is compiled, so compiling
//! refuses it, with the step's line. The decision is the gate's own (the
//! one runs apply), also when only the plugins' manifests are known.

use sharelife_core::capability::Policy;
use sharelife_core::loader::PluginFile;
use sharelife_core::manifest::{Capability, FileAccess};
use sharelife_core::pipeline::{GateRule, Grants, Pipeline, RunStatus};
use sharelife_tests::pipelines::{decisions, host_granting, problems, yaml};
use sharelife_tests::{Scratch, built_library};

const ID: &str = "fixtures.guarded";

/// Both of the guarded fixture's requests.
fn both() -> Policy {
    Policy::new()
        .allow(
            ID,
            Capability::File {
                access: FileAccess::Read,
                path: "notes/*.txt".into(),
            },
        )
        .allow(
            ID,
            Capability::Network {
                host: "api.example.com".into(),
                ports: vec![443],
            },
        )
}

/// Two steps of the guarded plugin, allowed `allowed`; line 4 holds the
/// list, lines 6 and 8 the steps' `plugin_ref`.
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
    input_from: first
"#
    )
}

const NOT_ALLOWED: &str = "plugin \"fixtures.guarded\" requests network api.example.com ports [443], which the host grants but plugins[0].capabilities (line 4) does not allow, so this step would be denied at every start; add `network.outbound` (or the exact capability) to that list";

#[tokio::test]
async fn a_request_the_pipeline_does_not_list_is_a_compile_error_at_each_step() {
    let dir = Scratch::new();
    let (host, audit) = host_granting(&dir, &["fixture-guarded"], both()).await;

    let found = problems(Pipeline::compile(&yaml(&pipeline("[file.read]")), &host));
    assert_eq!(
        found,
        [
            format!("line 6: steps[0].plugin_ref: {NOT_ALLOWED}"),
            format!("line 8: steps[1].plugin_ref: {NOT_ALLOWED}"),
        ]
    );
    assert!(decisions(&audit).is_empty(), "nothing ran, nothing audited");

    // With no list at all, the first request is the one named.
    let found = problems(Pipeline::compile(&yaml(&pipeline("[]")), &host));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("line 6: steps[0].plugin_ref: plugin \"fixtures.guarded\" requests file read \"notes/*.txt\", which the host grants but plugins[0].capabilities (line 4) does not allow")
            && found[0].ends_with("add `file.read` (or the exact capability) to that list"),
        "{found:?}"
    );

    // Listing both, it compiles and runs.
    let pipeline =
        Pipeline::compile(&yaml(&pipeline("[file.read, network.outbound]")), &host).unwrap();
    assert_eq!(pipeline.run(b"x").await.status(), RunStatus::Completed);
}

#[tokio::test]
async fn it_is_reported_with_every_other_problem_at_once() {
    let dir = Scratch::new();
    let (host, _) = host_granting(&dir, &["fixture-guarded"], both()).await;
    let text = pipeline("[file.read]").replace("input_from: first", "input_from: nowhere");
    let found = problems(Pipeline::compile(&yaml(&text), &host));
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].starts_with("line 6: steps[0].plugin_ref: "));
    assert!(found[1].starts_with("line 8: steps[1].plugin_ref: "));
    assert!(found[2].starts_with("line 9: steps[1].input_from: "));
}

#[tokio::test]
async fn a_request_the_host_denies_stays_the_gateways_decision_at_run_time() {
    // The host grants nothing: the gateway denies the first request
    // before the pipeline's list is consulted. That denial is the host
    // policy's, applied and audited at each start, as before.
    let dir = Scratch::new();
    let (host, audit) = host_granting(&dir, &["fixture-guarded"], Policy::new()).await;
    let pipeline = Pipeline::compile(&yaml(&pipeline("[]")), &host).unwrap();
    assert!(matches!(
        pipeline.decision("first").unwrap().rule,
        GateRule::HostDenied(_)
    ));
    let report = pipeline.run(b"x").await;
    assert_eq!(report.status(), RunStatus::Failed);
    assert_eq!(decisions(&audit).len(), 2);
}

#[test]
fn manifests_alone_are_checked_by_the_same_rules() {
    let dir = Scratch::new();
    let grants = Grants::new(both(), dir.path().join("data"));
    let manifest = PluginFile::read(built_library("fixture-guarded"))
        .unwrap()
        .manifest()
        .clone();

    let err = yaml(&pipeline("[file.read]"))
        .check_against(std::slice::from_ref(&manifest), &grants)
        .unwrap_err();
    let found: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            format!("line 6: steps[0].plugin_ref: {NOT_ALLOWED}"),
            format!("line 8: steps[1].plugin_ref: {NOT_ALLOWED}"),
        ]
    );

    // Handlers and plugins are checked too.
    let text = pipeline("[file.read, network.outbound]")
        .replace("    input_from: first", "    handler: walk")
        .replace("plugin: fixtures.guarded", "plugin: fixtures.gaurded");
    let err = yaml(&text)
        .check_against(std::slice::from_ref(&manifest), &grants)
        .unwrap_err();
    let found: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .starts_with("line 4: plugins[0].plugin: plugin \"fixtures.gaurded\" is not loaded"),
        "{found:?}"
    );
    let text = pipeline("[file.read, network.outbound]")
        .replace("    input_from: first", "    handler: walk");
    let err = yaml(&text)
        .check_against(std::slice::from_ref(&manifest), &grants)
        .unwrap_err();
    let found: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            "line 9: steps[1].handler: plugin \"fixtures.guarded\" has no handler \"walk\"; it has: run"
        ]
    );

    assert!(
        yaml(&pipeline("[file.read, network.outbound]"))
            .check_against(&[manifest], &grants)
            .is_ok()
    );
}
