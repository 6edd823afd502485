//! `unload` drops every object from the library and closes it for real:
//! `/proc/self/maps` shows it gone.

use sharelife_core::loader::is_mapped;
use sharelife_tests::Scratch;

#[tokio::test]
async fn an_unloaded_library_is_no_longer_mapped() {
    let dir = Scratch::new();
    let host = dir.host();
    let path = dir.copy_library("example-timer", "timer.so");
    assert_eq!(is_mapped(&path), Some(false));
    host.load(&path).await.unwrap();
    assert_eq!(is_mapped(&path), Some(true));
    host.start("examples.timer").await.unwrap();
    // Exercise the async path and the host timer before unloading.
    host.call_async("examples.timer", "wait", b"2")
        .await
        .unwrap();
    assert!(host.health("examples.timer").await.is_ok());

    let report = host.unload("examples.timer").await.unwrap();
    assert!(report.closed);
    assert_eq!(report.still_mapped, Some(false));
    assert_eq!(
        is_mapped(&path),
        Some(false),
        "the maps still list {}",
        path.display()
    );
    assert!(host.lingering_libraries().is_empty());
}

#[tokio::test]
async fn a_held_handle_delays_the_close_until_it_is_dropped() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "held.so");
    let host = dir.host_with(|b| b.unload_timeout(std::time::Duration::from_millis(50)));
    host.load(&path).await.unwrap();
    let handle = host.handle("examples.echo").unwrap();

    let report = host.unload("examples.echo").await.unwrap();
    assert!(!report.closed, "a handle is still held: {report:?}");
    assert_eq!(report.still_mapped, None);
    assert_eq!(is_mapped(&path), Some(true));

    drop(handle);
    assert_eq!(is_mapped(&path), Some(false));
}
