//! `on_failure: skip` records the step as skipped and goes on; the run is
//! `completed_with_skips`, never plain `completed`.

use sharelife_core::pipeline::{RunStatus, StepStatus};
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{calls, compile, host_with};

#[tokio::test]
async fn a_skipped_step_lets_the_run_go_on_and_says_so() {
    let dir = Scratch::new();
    let host = host_with(&dir, &["fixture-steps"], |b| b).await;
    let pipeline = compile(
        &host,
        &dir,
        r#"
schema_version: sharelife.pipeline.v1
plugins: [ { alias: steps, plugin: fixtures.steps } ]
steps:
  - { step_id: maybe, plugin_ref: steps, handler: fail, on_failure: skip }
  - { step_id: after, plugin_ref: steps, handler: pass }
"#,
    );

    for report in [pipeline.run(b"in").await, pipeline.run_sync(b"in").unwrap()] {
        assert_eq!(report.status(), RunStatus::CompletedWithSkips, "{report}");
        assert_eq!(report.status().as_str(), "completed_with_skips");
        let maybe = report.step("maybe").unwrap();
        assert_eq!(maybe.status(), StepStatus::Skipped);
        assert_eq!(maybe.attempts(), 1);
        assert_eq!(maybe.error().unwrap().message(), "fixture failure");
        assert_eq!(maybe.output(), None);
        assert_eq!(
            report.step("after").unwrap().status(),
            StepStatus::Completed
        );
        assert_eq!(report.final_output(), Some(&b"in"[..]));
    }
    assert_eq!(calls(&host), serde_json::json!({ "fail": 2, "pass": 2 }));
}
