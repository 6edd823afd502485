//! Shutdown stops everything in reverse start order, each plugin within
//! the shutdown timeout; one that does not stop in time is reported and
//! the shutdown goes on.

use std::time::Duration;

use sharelife_tests::Scratch;

#[tokio::test]
async fn a_plugin_that_hangs_in_stop_is_reported_and_the_rest_stop() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder(
        "plugins",
        &["fixture-base", "fixture-left", "fixture-stuck"],
    );
    let host = dir.host_with(|b| {
        b.plugin_path(&plugins)
            .plugin_config("fixtures.stuck", serde_json::json!({ "slow_stop": true }))
            .priority("fixtures.stuck", 1)
            .shutdown_timeout(Duration::from_millis(100))
    });
    let boot = host.boot().await.unwrap();
    let started: Vec<&str> = boot.started.iter().map(|id| id.as_str()).collect();
    assert_eq!(
        started,
        ["fixtures.stuck", "fixtures.base", "fixtures.left"]
    );

    let report = host.shutdown().await;

    let stopped: Vec<&str> = report.stopped.iter().map(|id| id.as_str()).collect();
    assert_eq!(stopped, ["fixtures.left", "fixtures.base"]);
    let timed_out: Vec<&str> = report.timed_out.iter().map(|id| id.as_str()).collect();
    assert_eq!(timed_out, ["fixtures.stuck"]);
    assert_eq!(
        report.unloaded.len(),
        3,
        "even the one that hung is unloaded"
    );
    assert!(host.plugins().list().is_empty());
}
