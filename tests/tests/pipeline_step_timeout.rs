//! `timeout_ms` bounds one attempt: an async handler is interrupted; a
//! sync handler (which cannot be) has its late answer discarded. Either
//! way the attempt is a retryable `Timeout`.

use sharelife_core::ErrorKind;
use sharelife_core::pipeline::{RunStatus, StepStatus};
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{calls, compile, host_with};

#[tokio::test]
async fn an_async_step_past_its_timeout_is_interrupted() {
    let dir = Scratch::new();
    // `nap` sleeps a minute on the host timer; the step allows 20 ms.
    let host = host_with(&dir, &["fixture-steps"], |b| b).await;
    let pipeline = compile(
        &host,
        &dir,
        r#"
schema_version: sharelife.pipeline.v1
plugins: [ { alias: steps, plugin: fixtures.steps } ]
steps:
  - step_id: sleepy
    plugin_ref: steps
    handler: nap
    timeout_ms: 20
    on_failure: retry
    retry: { retries: 1, backoff_ms: 1 }
  - { step_id: never, plugin_ref: steps, handler: pass }
"#,
    );
    assert!(!pipeline.is_sync());
    assert_eq!(
        pipeline.run_sync(b"").unwrap_err().to_string(),
        r#"step "sleepy" calls async handler "nap"; run this pipeline with `run(..).await`"#
    );

    let report = pipeline.run(b"zzz").await;
    assert_eq!(report.status(), RunStatus::Failed, "{report}");
    let step = report.step("sleepy").unwrap();
    assert_eq!(step.status(), StepStatus::Failed);
    assert_eq!(step.attempts(), 2, "a timeout is retryable");
    let error = step.error().unwrap();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert!(error.is_retryable());
    assert_eq!(
        error.to_string(),
        "timed out: the step took longer than its timeout of 20ms"
    );
    assert_eq!(calls(&host), serde_json::json!({ "nap": 2 }));
}

#[tokio::test]
async fn a_sync_step_that_answers_late_counts_as_timed_out() {
    let dir = Scratch::new();
    let host = host_with(&dir, &["fixture-steps"], |b| {
        b.plugin_config("fixtures.steps", serde_json::json!({ "slow_ms": 30 }))
    })
    .await;
    let pipeline = compile(
        &host,
        &dir,
        r#"
schema_version: sharelife.pipeline.v1
plugins: [ { alias: steps, plugin: fixtures.steps } ]
steps:
  - { step_id: slow, plugin_ref: steps, handler: slow, timeout_ms: 5, on_failure: skip }
  - { step_id: next, plugin_ref: steps, handler: pass }
"#,
    );
    let report = pipeline.run_sync(b"late").unwrap();
    assert_eq!(report.status(), RunStatus::CompletedWithSkips);
    let slow = report.step("slow").unwrap();
    assert_eq!(slow.status(), StepStatus::Skipped);
    assert_eq!(slow.error().unwrap().kind(), ErrorKind::Timeout);
    assert_eq!(slow.output(), None, "the late answer is discarded");
    assert_eq!(report.final_output(), Some(&b"late"[..]));
}
