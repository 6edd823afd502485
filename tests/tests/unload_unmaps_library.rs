//! `unload` drops every object from the library and closes it for real:
//! `/proc/self/maps` shows it gone.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use sharelife_core::loader::is_mapped;
use sharelife_core::{Buffer, ErrorKind, PluginState};
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
    assert!(host.health().check("examples.timer").await.is_ok());

    let report = host.unload("examples.timer").await.unwrap();
    assert!(report.closed);
    assert_eq!(report.still_mapped, Some(false));
    assert_eq!(
        is_mapped(&path),
        Some(false),
        "the maps still list {}",
        path.display()
    );
    assert!(host.plugins().lingering_libraries().is_empty());
}

#[tokio::test]
async fn a_held_handle_does_not_keep_the_library_and_works_again_after_a_new_load() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "held.so");
    let host = dir.host();
    host.load(&path).await.unwrap();
    host.start("examples.echo").await.unwrap();
    let handle = host.handle("examples.echo").unwrap();
    let echo = handle.handler("echo").unwrap();

    let report = host.unload("examples.echo").await.unwrap();
    assert!(
        report.closed,
        "a held handle is not a call in flight: {report:?}"
    );
    assert_eq!(is_mapped(&path), Some(false));
    let err = handle.call(echo, b"hi", &mut Buffer::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotActive);
    assert_eq!(err.message(), r#"plugin "examples.echo" is not loaded"#);
    assert_eq!(handle.state(), PluginState::Unloaded);

    // The handle names the id: it reaches the next load of it.
    let again = dir.copy_library("example-echo", "again.so");
    host.load(&again).await.unwrap();
    host.start("examples.echo").await.unwrap();
    let mut out = Buffer::new();
    handle.call(echo, b"hi", &mut out).unwrap();
    assert_eq!(out.as_slice(), b"hi");
}

#[tokio::test]
async fn a_call_in_flight_finishes_and_delays_the_close_until_it_returns() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-timer", "in-flight.so");
    let host = dir.host_with(|b| b.unload_timeout(Duration::from_millis(50)));
    host.load(&path).await.unwrap();
    host.start("examples.timer").await.unwrap();
    let handle = host.handle("examples.timer").unwrap();
    let wait = handle.handler("wait").unwrap();

    let mut call = Box::pin(async move {
        let mut out = Buffer::new();
        let result = handle.call_async(wait, b"400", &mut out).await;
        (result, out)
    });
    // Poll the call once: it enters the plugin and parks on the host's
    // timer, holding this version. Not polled again until after `unload`,
    // it is in flight for as long as the unload takes, however slow or fast
    // this machine is.
    let pending = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx).is_pending())).await;
    assert!(pending, "a 400 ms sleep does not finish on its first poll");
    let report = host.unload("examples.timer").await.unwrap();
    assert!(!report.closed, "a call is in flight: {report:?}");
    assert_eq!(report.still_mapped, None);
    assert_eq!(is_mapped(&path), Some(true));

    let (result, out) = call.await;
    result.expect("the call in flight finished on its version");
    assert!(out.starts_with(br#"{"requested_ms":400,"#), "{out:?}");
    assert_eq!(is_mapped(&path), Some(false));
}
