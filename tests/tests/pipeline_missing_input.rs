//! A skipped step leaves a missing input: a later step that reads it
//! fails (and its own policy applies) unless it accepts a missing input,
//! in which case it runs with an empty one.

use sharelife_core::ErrorKind;
use sharelife_core::pipeline::{RunStatus, StepStatus};
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{calls, compile, host_with};

#[tokio::test]
async fn a_missing_input_fails_a_step_that_refuses_it() {
    let dir = Scratch::new();
    let host = host_with(&dir, &["fixture-steps"], |b| b).await;
    let pipeline = compile(
        &host,
        &dir,
        r#"
schema_version: sharelife.pipeline.v1
plugins: [ { alias: steps, plugin: fixtures.steps } ]
steps:
  - { step_id: gone, plugin_ref: steps, handler: fail, on_failure: skip, output_key: data }
  - { step_id: tolerant, plugin_ref: steps, handler: measure, input_from: data, accepts_missing: true }
  - { step_id: also_gone, plugin_ref: steps, handler: pass, input_from: gone, on_failure: skip }
  - { step_id: strict, plugin_ref: steps, handler: pass, input_from: also_gone }
  - { step_id: never, plugin_ref: steps, handler: pass }
"#,
    );

    let report = pipeline.run(b"input").await;
    assert_eq!(report.status(), RunStatus::Failed, "{report}");
    let statuses: Vec<_> = report.steps().map(|s| (s.step_id(), s.status())).collect();
    assert_eq!(
        statuses,
        [
            ("gone", StepStatus::Skipped),
            ("tolerant", StepStatus::Completed),
            ("also_gone", StepStatus::Skipped),
            ("strict", StepStatus::Failed),
            ("never", StepStatus::NotRun),
        ]
    );
    // Accepting a missing input means running with an empty one.
    assert_eq!(report.output("tolerant"), Some(&b"got 0 bytes"[..]));
    // Refusing it: the step is not called, and says why.
    for id in ["also_gone", "strict"] {
        let step = report.step(id).unwrap();
        assert_eq!(step.attempts(), 0);
        assert_eq!(step.error().unwrap().kind(), ErrorKind::InvalidInput);
    }
    assert_eq!(
        report.step("strict").unwrap().error().unwrap().to_string(),
        r#"invalid input: input "also_gone" is missing (its step did not complete) and step "strict" does not accept a missing input; set `accepts_missing: true` to run it with an empty input"#
    );
    assert_eq!(
        calls(&host),
        serde_json::json!({ "fail": 1, "measure": 1 }),
        "steps with a missing input they refuse are never called"
    );
}
