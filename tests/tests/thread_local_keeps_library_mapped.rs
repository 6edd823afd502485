//! glibc keeps a library mapped after `dlclose` while a live thread holds a
//! thread-local destructor the library registered. The host detects this
//! and says so, instead of pretending the library is gone.

use std::sync::mpsc;

use sharelife_core::loader::is_mapped;
use sharelife_tests::Scratch;

#[tokio::test]
async fn a_pinned_library_is_reported_as_still_mapped() {
    let dir = Scratch::new();
    let host = std::sync::Arc::new(dir.host());
    let path = dir.copy_library("example-panicky", "pinned.so");
    host.load(&path).await.unwrap();
    host.start("examples.panicky").await.unwrap();

    // A thread that calls the plugin (registering a TLS destructor from the
    // library on itself) and then stays alive until told to exit.
    let (pinned_tx, pinned_rx) = mpsc::channel();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    let caller = {
        let host = std::sync::Arc::clone(&host);
        std::thread::spawn(move || {
            let out = host.call("examples.panicky", "pin_thread", b"").unwrap();
            pinned_tx.send(out.as_slice().to_vec()).unwrap();
            let _ = exit_rx.recv();
        })
    };
    assert_eq!(pinned_rx.recv().unwrap(), b"pinned");

    let report = host.unload("examples.panicky").await.unwrap();
    assert!(report.closed, "every object was dropped: {report:?}");
    assert_eq!(
        report.still_mapped,
        Some(true),
        "glibc keeps it mapped: {report:?}"
    );
    assert_eq!(host.plugins().lingering_libraries(), vec![path.clone()]);
    assert_eq!(is_mapped(&path), Some(true));

    exit_tx.send(()).unwrap();
    caller.join().unwrap();
}
