//! `on_failure: retry` calls again after a growing wait, counts every
//! attempt, and follows `retry.then` when the retries are spent.

use std::time::Duration;

use sharelife_core::pipeline::{RunStatus, StepStatus};
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{calls, compile, host_with};

#[tokio::test]
async fn a_flaky_step_succeeds_on_its_third_attempt() {
    let dir = Scratch::new();
    let host = host_with(&dir, &["fixture-steps"], |b| {
        b.plugin_config("fixtures.steps", serde_json::json!({ "fail_times": 2 }))
    })
    .await;
    let pipeline = compile(
        &host,
        &dir,
        r#"
schema_version: sharelife.pipeline.v1
plugins: [ { alias: steps, plugin: fixtures.steps } ]
steps:
  - step_id: flaky
    plugin_ref: steps
    handler: flaky
    on_failure: retry
    retry: { retries: 5, backoff_ms: 2, factor: 3, max_backoff_ms: 100 }
"#,
    );

    let report = pipeline.run(b"payload").await;
    assert_eq!(report.status(), RunStatus::Completed, "{report}");
    let step = report.step("flaky").unwrap();
    assert_eq!(step.attempts(), 3);
    // Two waits: 2 ms, then 2 × 3 = 6 ms.
    assert_eq!(step.waited(), Duration::from_millis(8));
    assert!(step.duration() >= step.waited());
    assert_eq!(step.error(), None, "a step that completed carries no error");
    assert_eq!(report.final_output(), Some(&b"payload"[..]));
    assert_eq!(calls(&host)["flaky"], 3);
}

#[tokio::test]
async fn spent_retries_follow_then() {
    let dir = Scratch::new();
    let host = host_with(&dir, &["fixture-steps"], |b| b).await;
    let pipeline = compile(
        &host,
        &dir,
        r#"
schema_version: sharelife.pipeline.v1
plugins: [ { alias: steps, plugin: fixtures.steps } ]
steps:
  - step_id: skipped
    plugin_ref: steps
    handler: fail
    on_failure: retry
    retry: { retries: 2, backoff_ms: 1, factor: 10, max_backoff_ms: 5, then: skip }
  - step_id: aborted
    plugin_ref: steps
    handler: fail_retryable
    on_failure: retry
    retry: { retries: 3, backoff_ms: 1, factor: 1 }
  - { step_id: never, plugin_ref: steps, handler: pass }
"#,
    );

    let report = pipeline.run_sync(b"").unwrap();
    assert_eq!(report.status(), RunStatus::Failed, "{report}");
    let skipped = report.step("skipped").unwrap();
    assert_eq!(skipped.status(), StepStatus::Skipped);
    assert_eq!(skipped.attempts(), 3);
    // 1 ms, then 10 ms capped at 5 ms.
    assert_eq!(skipped.waited(), Duration::from_millis(6));
    let aborted = report.step("aborted").unwrap();
    assert_eq!(aborted.status(), StepStatus::Failed);
    assert_eq!(aborted.attempts(), 4);
    assert_eq!(aborted.waited(), Duration::from_millis(3));
    assert_eq!(
        aborted.error().unwrap().message(),
        "fixture failure, try again"
    );
    assert_eq!(report.step("never").unwrap().status(), StepStatus::NotRun);
    assert_eq!(
        calls(&host),
        serde_json::json!({ "fail": 3, "fail_retryable": 4 })
    );
}
