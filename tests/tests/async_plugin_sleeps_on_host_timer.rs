//! An async plugin in a library cannot use the host's runtime directly;
//! its sleeps go through the context to the host's timer, and work.

use std::time::{Duration, Instant};

use sharelife_tests::Scratch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sleeps_in_a_loaded_plugin_overlap() {
    let dir = Scratch::new();
    let host = std::sync::Arc::new(dir.host());
    host.load(dir.copy_library("example-timer", "timer.so"))
        .await
        .unwrap();
    host.start("examples.timer").await.unwrap();

    let started = Instant::now();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let host = std::sync::Arc::clone(&host);
            tokio::spawn(async move { host.call_async("examples.timer", "wait", b"100").await })
        })
        .collect();
    for call in calls {
        let out = call.await.unwrap().unwrap();
        let waited: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(waited["requested_ms"], 100);
        assert!(waited["elapsed_ms"].as_u64().unwrap() >= 100, "{waited}");
    }
    // Four 100 ms sleeps on the host timer run concurrently: far less than
    // the 400 ms they would take if the plugin blocked a thread each time
    // on a 2-thread runtime. (A generous bound: this checks concurrency,
    // not speed.)
    assert!(
        started.elapsed() < Duration::from_millis(390),
        "{:?}",
        started.elapsed()
    );
}
