//! Steps chain through output keys: each reads `$input`, an earlier
//! step's id or an earlier output key, and the report keeps every output.

use sharelife_core::pipeline::{PipelineFile, RunStatus, StepStatus};
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{compile, host_with};

const CHAIN: &str = r#"
schema_version: sharelife.pipeline.v1
agent: { id: chain-test }
plugins:
  - { alias: up, plugin: examples.upper, version: "^1" }
  - { alias: sfx, plugin: suffix }
steps:
  - { step_id: shout, plugin_ref: up, output_key: loud }
  - { step_id: sign, plugin_ref: sfx, input_from: loud }
  - { step_id: again, plugin_ref: sfx, input_from: shout, output_key: twice }
  - { step_id: raw, plugin_ref: sfx, input_from: $input }
"#;

#[tokio::test]
async fn each_step_reads_the_output_it_names() {
    let dir = Scratch::new();
    let host = host_with(&dir, &["example-upper", "example-suffix"], |b| {
        b.plugin_config("examples.suffix", serde_json::json!({ "suffix": "!" }))
    })
    .await;
    let pipeline = compile(&host, &dir, CHAIN);

    let report = pipeline.run(b"hi there").await;
    assert_eq!(report.status(), RunStatus::Completed, "{report}");
    assert_eq!(report.output("loud"), Some(&b"HI THERE"[..]));
    assert_eq!(report.output("sign"), Some(&b"HI THERE!"[..]));
    assert_eq!(report.output("twice"), Some(&b"HI THERE!"[..]));
    assert_eq!(report.output("raw"), Some(&b"hi there!"[..]));
    assert_eq!(report.final_output(), Some(&b"hi there!"[..]));
    let steps: Vec<_> = report
        .steps()
        .map(|s| (s.step_id(), s.plugin_id(), s.status(), s.attempts()))
        .collect();
    assert_eq!(
        steps,
        [
            ("shout", "examples.upper", StepStatus::Completed, 1),
            ("sign", "examples.suffix", StepStatus::Completed, 1),
            ("again", "examples.suffix", StepStatus::Completed, 1),
            ("raw", "examples.suffix", StepStatus::Completed, 1),
        ]
    );
    // The synchronous driver gives the same result.
    let report = pipeline.run_sync(b"abc").unwrap();
    assert_eq!(report.final_output(), Some(&b"abc!"[..]));
    assert_eq!(report.output("sign"), Some(&b"ABC!"[..]));
    let outputs: Vec<_> = report.into_outputs();
    assert_eq!(outputs.len(), 4);
    assert_eq!(outputs[0].0, "loud");
    assert_eq!(outputs[0].1.as_slice(), b"ABC");
}

#[tokio::test]
async fn the_same_structure_as_json_runs_the_same() {
    let dir = Scratch::new();
    let host = host_with(&dir, &["example-upper", "example-suffix"], |b| b).await;
    let json = r#"{
  "schema_version": "sharelife.pipeline.v1",
  "plugins": [
    { "alias": "up", "plugin": "examples.upper" },
    { "alias": "sfx", "plugin": "examples.suffix" }
  ],
  "steps": [
    { "step_id": "shout", "plugin_ref": "up" },
    { "step_id": "sign", "plugin_ref": "sfx", "input_from": "shout" }
  ]
}"#;
    let file = PipelineFile::from_json("chain.json", json).unwrap();
    let pipeline = sharelife_core::Pipeline::compile(&file, &host).unwrap();
    let report = pipeline.run(b"json").await;
    assert_eq!(report.status(), RunStatus::Completed);
    assert_eq!(report.final_output(), Some(&b"JSON"[..]));
    assert_eq!(report.to_json()["outputs"]["sign"], "JSON");
    assert_eq!(report.to_json()["status"], "completed");
}
