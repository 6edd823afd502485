//! With `retryable_only`, only errors a plugin marked retryable (and
//! timeouts) are retried; a capability denial is never retried, whatever
//! the settings.

use sharelife_core::ErrorKind;
use sharelife_core::pipeline::{RunStatus, StepStatus};
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{calls, compile, host_with};

const PIPELINE: &str = r#"
schema_version: sharelife.pipeline.v1
plugins: [ { alias: steps, plugin: fixtures.steps } ]
steps:
  - step_id: retryable
    plugin_ref: steps
    handler: flaky
    on_failure: retry
    retry: { retries: 3, backoff_ms: 1, retryable_only: true }
  - step_id: fatal
    plugin_ref: steps
    handler: flaky_fatal
    on_failure: retry
    retry: { retries: 3, backoff_ms: 1, retryable_only: true, then: skip }
  - step_id: refused
    plugin_ref: steps
    handler: refused
    on_failure: retry
    retry: { retries: 3, backoff_ms: 1, retryable_only: false, then: skip }
"#;

#[tokio::test]
async fn only_retryable_errors_are_retried_and_denials_never() {
    let dir = Scratch::new();
    let host = host_with(&dir, &["fixture-steps"], |b| {
        b.plugin_config("fixtures.steps", serde_json::json!({ "fail_times": 1 }))
    })
    .await;
    let pipeline = compile(&host, &dir, PIPELINE);

    let report = pipeline.run(b"x").await;
    assert_eq!(report.status(), RunStatus::CompletedWithSkips, "{report}");

    let retryable = report.step("retryable").unwrap();
    assert_eq!(
        (retryable.status(), retryable.attempts()),
        (StepStatus::Completed, 2)
    );

    let fatal = report.step("fatal").unwrap();
    assert_eq!((fatal.status(), fatal.attempts()), (StepStatus::Skipped, 1));
    let error = fatal.error().unwrap();
    assert!(!error.is_retryable());
    assert_eq!(error.message(), "fatal failure 1");

    let refused = report.step("refused").unwrap();
    assert_eq!(
        (refused.status(), refused.attempts()),
        (StepStatus::Skipped, 1)
    );
    assert_eq!(refused.error().unwrap().kind(), ErrorKind::Denied);

    assert_eq!(
        calls(&host),
        serde_json::json!({ "flaky": 2, "flaky_fatal": 1, "refused": 1 })
    );
}
