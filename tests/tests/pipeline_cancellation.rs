//! Cancelling a run stops it at the next step boundary and reports it as
//! `cancelled`; dropping a run stops it at once, runs no later step, and
//! says so in the log.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sharelife_core::pipeline::{CancelToken, RunStatus, StepStatus};
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{calls, compile, host_with};

const PIPELINE: &str = r#"
schema_version: sharelife.pipeline.v1
plugins: [ { alias: steps, plugin: fixtures.steps } ]
steps:
  - { step_id: first, plugin_ref: steps, handler: pass }
  - step_id: stubborn
    plugin_ref: steps
    handler: fail_retryable
    on_failure: retry
    retry: { retries: 3, backoff_ms: 60000, max_backoff_ms: 60000 }
  - { step_id: last, plugin_ref: steps, handler: pass }
"#;

#[tokio::test]
async fn a_cancelled_run_stops_at_the_next_boundary_and_reports_it() {
    let dir = Scratch::new();
    let host = host_with(&dir, &["fixture-steps"], |b| b).await;
    let pipeline = compile(&host, &dir, PIPELINE);

    // Cancelled before it starts: nothing runs.
    let cancel = CancelToken::new();
    cancel.cancel();
    let report = pipeline.run_with(b"x", Some(&cancel)).await;
    assert_eq!(report.status(), RunStatus::Cancelled);
    assert_eq!(
        report.step("first").unwrap().status(),
        StepStatus::Cancelled
    );
    assert_eq!(report.step("last").unwrap().status(), StepStatus::NotRun);

    // Cancelled while a step waits to retry: the wait ends, the step and
    // the run are reported cancelled, and the output before it is kept.
    let cancel = CancelToken::new();
    let run = pipeline.run_with(b"x", Some(&cancel));
    let canceller = async {
        while calls(&host).get("fail_retryable").is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        cancel.cancel();
    };
    let (report, ()) = tokio::join!(run, canceller);
    assert_eq!(report.status(), RunStatus::Cancelled, "{report}");
    assert_eq!(report.status().as_str(), "cancelled");
    let stubborn = report.step("stubborn").unwrap();
    assert_eq!(stubborn.status(), StepStatus::Cancelled);
    assert_eq!(stubborn.attempts(), 1);
    assert_eq!(report.output("first"), Some(&b"x"[..]));
    assert_eq!(report.step("last").unwrap().status(), StepStatus::NotRun);
    assert_eq!(
        calls(&host)["pass"],
        1,
        "the step after the boundary never ran"
    );
}

/// Log lines, captured.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_dropped_run_stops_and_says_where() {
    let log = Captured::default();
    let writer = log.clone();
    let _subscriber = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish(),
    );
    let dir = Scratch::new();
    let host = host_with(&dir, &["fixture-steps"], |b| b).await;
    let pipeline = compile(&host, &dir, PIPELINE);

    // The second step fails and waits a minute to retry: the run never
    // finishes on its own.
    let mut run = Box::pin(pipeline.run(b"x"));
    while calls(&host).get("fail_retryable").is_none() {
        assert!(poll_once(&mut run).await.is_none());
    }
    drop(run);

    assert_eq!(calls(&host)["pass"], 1, "the step after the drop never ran");
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("pipeline run dropped before it finished")
            && log.contains("step=\"stubborn\""),
        "{log}"
    );
}

/// Polls `future` once, yielding to the runtime: `Some` if it finished.
async fn poll_once<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
    let out = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut *future).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await;
    tokio::task::yield_now().await;
    out
}
