//! An async plugin in a library cannot use the host's runtime directly;
//! its sleeps go through the context to the host's timer, and work.
//!
//! The runtime's clock is paused: time moves only when every task waits on
//! a timer, straight to the next deadline. So the virtual time a batch of
//! sleeps takes says whether they ran on the host's timer (a plugin that
//! blocked a thread instead would let no virtual time pass) and whether
//! they overlapped (four in a row would take four times as long), without
//! depending on how fast this machine is. How long things take on a real
//! clock is the benches' business.

use std::time::Duration;

use sharelife_tests::Scratch;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn concurrent_sleeps_in_a_loaded_plugin_overlap() {
    let dir = Scratch::new();
    let host = std::sync::Arc::new(dir.host());
    host.load(dir.copy_library("example-timer", "timer.so"))
        .await
        .unwrap();
    host.start("examples.timer").await.unwrap();

    let sleep = Duration::from_millis(100);
    let started = Instant::now();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let host = std::sync::Arc::clone(&host);
            tokio::spawn(async move {
                let t = Instant::now();
                let out = host.call_async("examples.timer", "wait", b"100").await;
                (out, t.elapsed())
            })
        })
        .collect();
    for call in calls {
        let (out, took) = call.await.unwrap();
        let waited: serde_json::Value = serde_json::from_slice(&out.unwrap()).unwrap();
        assert_eq!(waited["requested_ms"], 100);
        // Each call waited on the host's (paused) timer for its full sleep.
        assert!(took >= sleep, "{took:?}");
    }
    // All four together took one sleep, not four: they overlapped.
    let total = started.elapsed();
    assert!(total >= sleep && total < 2 * sleep, "{total:?}");
}
