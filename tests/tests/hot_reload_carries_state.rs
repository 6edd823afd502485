//! A hot reload hands the old instance's `save_state` to the new one's
//! `restore_state`: the echo plugin's call counter goes on counting.

use sharelife_core::loader::is_mapped;
use sharelife_tests::Scratch;

type Count = serde_json::Value;

#[tokio::test]
async fn the_call_counter_survives_a_reload() {
    let dir = Scratch::new();
    let host = dir.host();
    let old = dir.copy_library("example-echo", "echo-1.so");
    host.load(&old).await.unwrap();
    host.start("examples.echo").await.unwrap();
    let handle = host.handle("examples.echo").unwrap();
    for _ in 0..3 {
        let _: Count = handle.call_json("count", &()).await.unwrap();
    }

    let new = dir.copy_library("example-echo", "echo-2.so");
    let report = host.reload("examples.echo", &new).await.unwrap();
    assert_eq!(report.state, Some(8), "an 8-byte counter: {report:?}");
    assert_eq!(is_mapped(&old), Some(false));

    let count: Count = handle.call_json("count", &()).await.unwrap();
    assert_eq!(count["calls"], 4, "the new instance went on from 3");
    // And the new instance is a new instance: its metrics start afresh.
    let metrics = host.metrics().of("examples.echo").unwrap();
    assert_eq!(metrics.handler("count").unwrap().calls, 1);
}

#[tokio::test]
async fn a_stopped_plugin_hands_its_state_over_and_stays_stopped() {
    let dir = Scratch::new();
    let host = dir.host();
    host.load(dir.copy_library("example-echo", "echo-1.so"))
        .await
        .unwrap();
    host.start("examples.echo").await.unwrap();
    let handle = host.handle("examples.echo").unwrap();
    let _: Count = handle.call_json("count", &()).await.unwrap();
    host.stop("examples.echo").await.unwrap();
    let report = host
        .reload(
            "examples.echo",
            dir.copy_library("example-echo", "echo-2.so"),
        )
        .await
        .unwrap();
    assert_eq!(
        report.state,
        Some(8),
        "an inactive plugin's state is handed over"
    );
    assert_eq!(
        host.plugins().state("examples.echo"),
        Some(sharelife_core::PluginState::Inactive),
        "a stopped plugin stays stopped"
    );
}
