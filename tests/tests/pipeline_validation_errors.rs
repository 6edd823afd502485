//! Validation reports every problem before anything runs, each with its
//! line and path, in words that say what to change.

use sharelife_core::capability::Policy;
use sharelife_core::manifest::{Capability, FileAccess};
use sharelife_core::pipeline::{Pipeline, PipelineFile};
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{host_granting, problems, yaml};

const BROKEN: &str = r#"schema_version: sharelife.pipeline.v1
plugins:
  - alias: up
    plugin: examples.upper
    version: "^2"
  - alias: gone
    plugin: acme.missing
  - alias: sfx
    plugin: suffix
    capabilities: [file.read, network.outbound]
steps:
  - step_id: one
    plugin_ref: up
  - step_id: two
    plugin_ref: sufix
    input_from: three
  - step_id: one
    plugin_ref: sfx
    output_key: out
  - step_id: four
    plugin_ref: sfx
    output_key: out
    on_failure: retry
    retry: { retries: 11 }
  - step_id: five
    plugin_ref: sfx
    handler: shout
    on_failure: retry
    retry: { retries: 0 }
"#;

#[tokio::test]
async fn every_problem_is_reported_with_its_line_and_path() {
    let dir = Scratch::new();
    let policy = Policy::new().allow(
        "examples.suffix",
        Capability::File {
            access: FileAccess::Read,
            path: "**".into(),
        },
    );
    let (host, _) = host_granting(&dir, &["example-upper", "example-suffix"], policy).await;
    let result = Pipeline::compile(&yaml(BROKEN), &host);
    assert_eq!(
        problems(result),
        [
            r#"line 5: plugins[0].version: plugin "examples.upper" is version 1.0.0 here, outside the range ^2 this pipeline accepts; load a matching version or widen the range"#,
            r#"line 7: plugins[1].plugin: plugin "acme.missing" is not loaded in this host (loaded: examples.suffix, examples.upper); load it or fix the id"#,
            r#"line 10: plugins[2].capabilities[1]: the host never granted plugin "examples.suffix" network.outbound; a pipeline can only narrow what the host's policy allows"#,
            r#"line 15: steps[1].plugin_ref: no plugin has the alias "sufix"; the aliases are: up, gone, sfx"#,
            r#"line 16: steps[1].input_from: "three" is not "$input" nor the id or output key of an earlier step"#,
            r#"line 17: steps[2].step_id: duplicate step id "one": steps[0] already uses it as its step id; rename one"#,
            r#"line 22: steps[3].output_key: duplicate output key "out": steps[2] already uses it as its output key; rename one"#,
            r#"line 24: steps[3].retry.retries: 11 retries is out of bounds: on_failure is retry, so retry 1 to 10 times"#,
            r#"line 27: steps[4].handler: plugin "examples.suffix" has no handler "shout"; it has: run, verify"#,
            r#"line 29: steps[4].retry.retries: 0 retries is out of bounds: on_failure is retry, so retry 1 to 10 times"#,
        ]
    );
}

#[tokio::test]
async fn a_forward_reference_and_a_bare_name_matching_nothing() {
    let dir = Scratch::new();
    let (host, _) = host_granting(&dir, &["example-upper"], Policy::new()).await;
    let text = r#"schema_version: sharelife.pipeline.v1
plugins:
  - { alias: up, plugin: upper }
  - { alias: lower, plugin: lower }
steps:
  - { step_id: a, plugin_ref: up, input_from: b }
  - { step_id: b, plugin_ref: up, on_failure: skip, retry: { retries: 2 } }
"#;
    assert_eq!(
        problems(Pipeline::compile(&yaml(text), &host)),
        [
            r#"line 4: plugins[1].plugin: no loaded plugin has the id "lower" or an id ending in ".lower" (loaded: examples.upper); load it or fix the name"#,
            r#"line 6: steps[0].input_from: "b" is not "$input" nor the id or output key of an earlier step"#,
            r#"line 7: steps[1].retry: retry settings only apply with `on_failure: retry`; remove them or set on_failure to retry"#,
        ]
    );
}

#[test]
fn shape_errors_name_their_line() {
    let unknown_key = "schema_version: sharelife.pipeline.v1\nplugins: []\nsteps:\n  - step_id: a\n    plugin_ref: b\n    retries: 3\n";
    let err = PipelineFile::from_yaml("p.yaml", unknown_key).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid pipeline p.yaml: line 6: steps[0].retries: unknown field `retries`, expected one of `step_id`, `plugin_ref`, `handler`, `input_from`, `output_key`, `on_failure`, `retry`, `timeout_ms`, `accepts_missing`"
    );

    let wrong_type = "schema_version: sharelife.pipeline.v1\nplugins: []\nsteps:\n  - step_id: a\n    plugin_ref: b\n    timeout_ms: soon\n";
    let err = PipelineFile::from_yaml("p.yaml", wrong_type).unwrap_err();
    assert_eq!(
        err.problems()[0].to_string(),
        r#"line 6: steps[0].timeout_ms: invalid type: string "soon", expected u64"#
    );

    let missing = "schema_version: sharelife.pipeline.v1\nplugins: []\nsteps:\n  - plugin_ref: b\n";
    let err = PipelineFile::from_yaml("p.yaml", missing).unwrap_err();
    assert_eq!(
        err.problems()[0].to_string(),
        "line 4: steps[0]: missing field `step_id`"
    );

    let version = "schema_version: v9\nplugins: []\n";
    let err = PipelineFile::from_yaml("p.yaml", version).unwrap_err();
    assert_eq!(
        err.problems()[0].to_string(),
        r#"line 1: schema_version: unknown schema version "v9"; write "sharelife.pipeline.v1" (or "astr-agent.v1" for the seed format)"#
    );

    let class = "schema_version: sharelife.pipeline.v1\nplugins:\n  - alias: a\n    plugin: b\n    capabilities: [file.readx]\nsteps: []\n";
    let err = PipelineFile::from_yaml("p.yaml", class).unwrap_err();
    assert_eq!(
        err.problems()[0].to_string(),
        r#"line 5: plugins[0].capabilities[0]: "file.readx" is not a capability class; use one of network.outbound, file.read, file.write, command.exec, provider.access, mcp.invoke, event.publish"#
    );
}

#[test]
fn syntax_errors_name_their_line_and_column() {
    let err = PipelineFile::from_yaml("p.yaml", "steps:\n  - a: 1\n  b: [\n").unwrap_err();
    assert!(err.to_string().starts_with("p.yaml:3:"), "{err}");
    let err = PipelineFile::from_yaml("p.yaml", "a: 1\na: 2\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"p.yaml:2:1: not valid YAML: duplicate key "a" (first at line 1); keep one"#
    );
    let err = PipelineFile::from_json("p.json", "{\n  \"a\": 1,\n}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "p.json:3:1: not valid JSON: trailing comma"
    );
}

#[test]
fn checks_that_need_no_host_run_on_the_file_alone() {
    let text = "schema_version: sharelife.pipeline.v1\nplugins:\n  - { alias: a, plugin: x.y }\n  - { alias: a, plugin: x.z, version: \"^one\" }\nsteps:\n  - { step_id: s, plugin_ref: a, timeout_ms: 0 }\n";
    let err = yaml(text).check().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid pipeline test.yaml:\n  line 4: plugins[1].alias: duplicate alias \"a\" (first at plugins[0]); rename one\n  line 4: plugins[1].version: \"^one\" is not a version range; write e.g. \"^1.2\" or \"*\"\n  line 6: steps[0].timeout_ms: a timeout of 0 ms lets nothing run; remove it or raise it"
    );
}

#[tokio::test]
async fn problems_in_a_seed_file_point_at_the_seed_text() {
    let dir = Scratch::new();
    let (host, _) = host_granting(&dir, &["example-upper"], Policy::new()).await;
    let text = r#"schema_version: astr-agent.v1
agent: { id: seed-agent, name: Seed, persona: terse }
plugins:
  - id: upper
    manifest_ref: upper.json
    declared_capabilities: [file.read]
pipeline:
  steps:
    - step_id: a
      plugin_ref: upper
      on_failure: retry
      retry: 0
    - step_id: b
      plugin_ref: uper
"#;
    let file = PipelineFile::from_yaml("seed.yaml", text).unwrap();
    assert_eq!(
        problems(Pipeline::compile(&file, &host)),
        [
            r#"line 6: plugins[0].declared_capabilities[0]: the host never granted plugin "examples.upper" file.read; a pipeline can only narrow what the host's policy allows"#,
            r#"line 12: pipeline.steps[0].retry: 0 retries is out of bounds: on_failure is retry, so retry 1 to 10 times"#,
            r#"line 14: pipeline.steps[1].plugin_ref: no plugin has the alias "uper"; the aliases are: upper"#,
        ]
    );
}
