//! A plugin awaiting a host timer hands the host a waker whose code lives
//! in the plugin's library, and tokio's timer may still hold (and call) it
//! just after the plugin's future finished. Unloading right after such a
//! call must not leave the host to wake into a closed library: repeated
//! load → timed call → unload cycles on a multi-threaded runtime, where
//! the timer fires on another thread than the one polling the call, run
//! without a crash (before the host shimmed these wakers, this crashed the
//! process with SIGSEGV within a few dozen cycles), and every library is
//! closed for real.

use sharelife_core::loader::is_mapped;
use sharelife_tests::Scratch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_calls_then_unloads_do_not_crash() {
    let dir = Scratch::new();
    let host = dir.host();
    for i in 0..60 {
        let path = dir.copy_library("example-timer", &format!("timer-{i}.so"));
        host.load(&path).await.unwrap();
        host.start("examples.timer").await.unwrap();
        for ms in [1u8, 0, 2] {
            host.call_async("examples.timer", "wait", &[b'0' + ms])
                .await
                .unwrap();
        }
        let report = host.unload("examples.timer").await.unwrap();
        assert!(report.closed, "{report:?}");
        // A wake running on the timer's thread at the unload holds the
        // library open until it returns; then it closes there.
        let mut waits = 0;
        while is_mapped(&path) == Some(true) && waits < 1_000 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            waits += 1;
        }
        assert_eq!(is_mapped(&path), Some(false), "cycle {i}");
    }
}
