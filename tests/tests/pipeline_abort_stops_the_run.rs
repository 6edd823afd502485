//! `on_failure: abort` stops the run: it is `failed`, the failing step
//! says why, later steps are not run (nor called), and every output
//! produced before the failure is still in the report.

use sharelife_core::ErrorKind;
use sharelife_core::pipeline::{RunStatus, StepStatus};
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{calls, compile, host_with};

#[tokio::test]
async fn a_failed_step_with_abort_fails_the_run_and_keeps_earlier_outputs() {
    let dir = Scratch::new();
    let host = host_with(&dir, &["fixture-steps", "example-upper"], |b| b).await;
    let pipeline = compile(
        &host,
        &dir,
        r#"
schema_version: sharelife.pipeline.v1
plugins:
  - { alias: steps, plugin: fixtures.steps }
  - { alias: up, plugin: examples.upper }
steps:
  - { step_id: first, plugin_ref: up }
  - { step_id: second, plugin_ref: steps, handler: pass, input_from: first }
  - { step_id: boom, plugin_ref: steps, handler: fail, on_failure: abort }
  - { step_id: never, plugin_ref: steps, handler: pass }
"#,
    );

    let report = pipeline.run(b"kept").await;
    assert_eq!(report.status(), RunStatus::Failed, "{report}");
    let statuses: Vec<_> = report.steps().map(|s| s.status()).collect();
    assert_eq!(
        statuses,
        [
            StepStatus::Completed,
            StepStatus::Completed,
            StepStatus::Failed,
            StepStatus::NotRun
        ]
    );
    let boom = report.step("boom").unwrap();
    assert_eq!(boom.attempts(), 1);
    assert_eq!(boom.error().unwrap().message(), "fixture failure");
    assert_eq!(boom.error().unwrap().kind(), ErrorKind::Failed);
    let never = report.step("never").unwrap();
    assert_eq!((never.attempts(), never.decision()), (0, None));

    // The outputs produced before the failure survive it.
    assert_eq!(report.output("first"), Some(&b"KEPT"[..]));
    assert_eq!(report.output("second"), Some(&b"KEPT"[..]));
    assert_eq!(report.output("boom"), None);
    assert_eq!(report.final_output(), None);
    assert_eq!(
        calls(&host),
        serde_json::json!({ "fail": 1, "pass": 1 }),
        "the step after the abort was never called"
    );

    // The default policy is abort too.
    let pipeline = compile(
        &host,
        &dir,
        r#"
schema_version: sharelife.pipeline.v1
plugins: [ { alias: steps, plugin: fixtures.steps } ]
steps:
  - { step_id: boom, plugin_ref: steps, handler: fail }
  - { step_id: never, plugin_ref: steps, handler: pass }
"#,
    );
    let report = pipeline.run_sync(b"").unwrap();
    assert_eq!(report.status(), RunStatus::Failed);
    assert_eq!(report.step("never").unwrap().status(), StepStatus::NotRun);
}
