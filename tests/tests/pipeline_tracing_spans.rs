//! Every run is a `pipeline_run` span (run id, pipeline) and every step a
//! `pipeline_step` span inside it (run id, step id, plugin id, attempt).

use std::io::Write;
use std::sync::{Arc, Mutex};

use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{compile, host_with};
use tracing_subscriber::fmt::format::FmtSpan;

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
async fn runs_and_steps_are_spans_with_their_ids_and_attempt() {
    let dir = Scratch::new();
    let host = host_with(&dir, &["fixture-steps"], |b| {
        b.plugin_config("fixtures.steps", serde_json::json!({ "fail_times": 1 }))
    })
    .await;
    let pipeline = compile(
        &host,
        &dir,
        r#"
schema_version: sharelife.pipeline.v1
plugins: [ { alias: steps, plugin: fixtures.steps } ]
steps:
  - { step_id: first, plugin_ref: steps, handler: pass }
  - step_id: shaky
    plugin_ref: steps
    handler: flaky
    on_failure: retry
    retry: { retries: 2, backoff_ms: 1 }
"#,
    );

    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .finish();
    let report = {
        let _guard = tracing::subscriber::set_default(subscriber);
        pipeline.run_sync(b"x").unwrap()
    };
    let run = report.run_id();
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let run_span = format!("pipeline_run{{run={run} pipeline=test.yaml}}");
    let first =
        format!("{run_span}:pipeline_step{{run={run} step=first plugin=fixtures.steps attempt=1}}");
    // The attempt is recorded on the step's span at each attempt (the fmt
    // subscriber appends each recorded value).
    let shaky = format!(
        "{run_span}:pipeline_step{{run={run} step=shaky plugin=fixtures.steps attempt=1 attempt=2}}"
    );
    assert!(log.contains(&first), "no {first} in:\n{log}");
    assert!(log.contains(&shaky), "no {shaky} in:\n{log}");
    assert!(
        log.contains(&format!("{run_span}: sharelife_core::pipeline::run: close")),
        "{log}"
    );
}
