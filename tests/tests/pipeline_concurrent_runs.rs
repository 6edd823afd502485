//! One compiled pipeline runs many times at once, on many threads, each
//! run with its own input, outputs and report.

use std::collections::BTreeSet;
use std::sync::Arc;

use sharelife_core::pipeline::RunStatus;
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{compile, host_with};

const PIPELINE: &str = r#"
schema_version: sharelife.pipeline.v1
plugins:
  - { alias: up, plugin: examples.upper }
  - { alias: sfx, plugin: examples.suffix }
  - { alias: steps, plugin: fixtures.steps }
steps:
  - { step_id: shout, plugin_ref: up }
  - { step_id: wait, plugin_ref: steps, handler: nap, input_from: shout }
  - { step_id: sign, plugin_ref: sfx, input_from: wait }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_runs_of_one_pipeline_keep_their_own_data() {
    let dir = Scratch::new();
    let host = host_with(
        &dir,
        &["example-upper", "example-suffix", "fixture-steps"],
        |b| {
            b.plugin_config("examples.suffix", serde_json::json!({ "suffix": "." }))
                .plugin_config("fixtures.steps", serde_json::json!({ "nap_ms": 5 }))
        },
    )
    .await;
    let pipeline = Arc::new(compile(&host, &dir, PIPELINE));

    // Every run is in flight at once: each naps on the host timer in its
    // second step while the others proceed.
    let runs: Vec<_> = (0..64)
        .map(|i| {
            let pipeline = Arc::clone(&pipeline);
            tokio::spawn(async move {
                let input = format!("run {i}");
                // Owned: the report leaves the task that borrowed
                // the pipeline.
                (i, pipeline.run(input.as_bytes()).await.into_owned())
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for run in runs {
        let (i, report) = run.await.unwrap();
        assert_eq!(report.status(), RunStatus::Completed, "{report}");
        assert_eq!(report.final_output(), Some(format!("RUN {i}.").as_bytes()));
        assert_eq!(report.output("shout"), Some(format!("RUN {i}").as_bytes()));
        ids.insert(report.run_id());
    }
    assert_eq!(ids.len(), 64, "every run has its own id");
}

#[test]
fn sync_runs_from_many_threads() {
    let dir = Scratch::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let host = runtime.block_on(host_with(&dir, &["example-upper", "example-suffix"], |b| {
        b.plugin_config("examples.suffix", serde_json::json!({ "suffix": "!" }))
    }));
    let pipeline = compile(
        &host,
        &dir,
        r#"
schema_version: sharelife.pipeline.v1
plugins:
  - { alias: up, plugin: examples.upper }
  - { alias: sfx, plugin: examples.suffix }
steps:
  - { step_id: shout, plugin_ref: up }
  - { step_id: sign, plugin_ref: sfx, input_from: shout }
"#,
    );
    std::thread::scope(|s| {
        for t in 0..4 {
            let pipeline = &pipeline;
            s.spawn(move || {
                for i in 0..200 {
                    let report = pipeline.run_sync(format!("t{t} r{i}").as_bytes()).unwrap();
                    assert_eq!(
                        report.final_output(),
                        Some(format!("T{t} R{i}!").as_bytes())
                    );
                }
            });
        }
    });
}
