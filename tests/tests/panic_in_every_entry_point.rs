//! A panic in any entry point of a loaded plugin becomes a typed error,
//! the plugin moves to `Error`, and the host and other plugins go on.

use sharelife_core::{ErrorKind, Health, Host, HostError, PluginState};
use sharelife_tests::Scratch;

const PANICKY: &str = "examples.panicky";

/// A host with the panicky plugin (configured to panic in `place`) and a
/// healthy echo plugin next to it.
async fn host_with_panicky(dir: &Scratch, place: &str) -> Host {
    let host =
        dir.host_with(|b| b.plugin_config(PANICKY, serde_json::json!({ "panic_in": place })));
    host.load(dir.copy_library("example-echo", "echo.so"))
        .await
        .unwrap();
    host.start("examples.echo").await.unwrap();
    let _ = host
        .load(dir.copy_library("example-panicky", "panicky.so"))
        .await;
    host
}

fn assert_hook_panicked(result: Result<(), HostError>, hook: &str, place: &str) {
    match result {
        Err(HostError::Hook { hook: h, error, .. }) => {
            assert_eq!(h, hook);
            assert_eq!(error.kind(), ErrorKind::Panicked);
            assert_eq!(
                error.message(),
                format!("panicky: asked to panic in {place}")
            );
        }
        other => panic!("expected a panic in {hook}, got {other:?}"),
    }
}

/// The host survived and the neighbour still answers.
fn assert_host_goes_on(host: &Host) {
    assert_eq!(
        host.call("examples.echo", "upper", b"still here")
            .unwrap()
            .as_slice(),
        b"STILL HERE"
    );
}

#[tokio::test]
async fn panic_in_initialize() {
    let dir = Scratch::new();
    let host = dir
        .host_with(|b| b.plugin_config(PANICKY, serde_json::json!({ "panic_in": "initialize" })));
    let result = host
        .load(dir.copy_library("example-panicky", "p.so"))
        .await
        .map(drop);
    assert_hook_panicked(result, "initialize", "initialize");
    assert_eq!(host.plugins().state(PANICKY), Some(PluginState::Error));
    assert_eq!(
        host.plugins().last_error(PANICKY).unwrap().kind(),
        ErrorKind::Panicked
    );
    // A plugin in Error can still be unloaded, and its library closed.
    let report = host.unload(PANICKY).await.unwrap();
    assert!(report.closed);
}

#[tokio::test]
async fn panic_in_start() {
    let dir = Scratch::new();
    let host = host_with_panicky(&dir, "start").await;
    assert_hook_panicked(host.start(PANICKY).await, "start", "start");
    assert_eq!(host.plugins().state(PANICKY), Some(PluginState::Error));
    assert_host_goes_on(&host);
}

#[tokio::test]
async fn panic_in_stop() {
    let dir = Scratch::new();
    let host = host_with_panicky(&dir, "stop").await;
    host.start(PANICKY).await.unwrap();
    assert_hook_panicked(host.stop(PANICKY).await, "stop", "stop");
    assert_eq!(host.plugins().state(PANICKY), Some(PluginState::Error));
    assert_host_goes_on(&host);
}

#[tokio::test]
async fn panic_in_cleanup_is_reported_and_the_unload_goes_on() {
    let dir = Scratch::new();
    let host = host_with_panicky(&dir, "cleanup").await;
    host.start(PANICKY).await.unwrap();
    let report = host.unload(PANICKY).await.unwrap();
    match &report.hook_error {
        Some(HostError::Hook { hook, error, .. }) => {
            assert_eq!(*hook, "cleanup");
            assert_eq!(error.kind(), ErrorKind::Panicked);
            assert_eq!(
                format!("{hook}: {error}"),
                "cleanup: panicked: panicky: asked to panic in cleanup"
            );
        }
        other => panic!("expected a cleanup hook error, got {other:?}"),
    }
    assert!(report.closed);
    assert_eq!(report.still_mapped, Some(false));
    assert_host_goes_on(&host);
}

#[tokio::test]
async fn panic_in_health() {
    let dir = Scratch::new();
    let host = host_with_panicky(&dir, "health").await;
    host.start(PANICKY).await.unwrap();
    match host.health().check(PANICKY).await.unwrap() {
        Health::Unhealthy(why) => {
            assert!(why.contains("panicky: asked to panic in health"), "{why}")
        }
        other => panic!("expected unhealthy, got {other:?}"),
    }
    assert_eq!(host.plugins().state(PANICKY), Some(PluginState::Error));
    assert_host_goes_on(&host);
}

#[tokio::test]
async fn panic_in_handle_event() {
    let dir = Scratch::new();
    let host = host_with_panicky(&dir, "event").await;
    host.start(PANICKY).await.unwrap();
    match host.events().send(PANICKY, "chat.message", b"{}").await {
        Err(HostError::Call { error, .. }) => assert_eq!(error.kind(), ErrorKind::Panicked),
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(host.plugins().state(PANICKY), Some(PluginState::Error));
    assert_host_goes_on(&host);
}

#[tokio::test]
async fn panic_in_a_sync_handler_then_restart_from_error() {
    let dir = Scratch::new();
    let host = host_with_panicky(&dir, "").await;
    host.start(PANICKY).await.unwrap();
    match host.call(PANICKY, "boom", b"") {
        Err(HostError::Call { error, .. }) => {
            assert_eq!(error.kind(), ErrorKind::Panicked);
            assert_eq!(error.message(), "panicky: boom");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(host.plugins().state(PANICKY), Some(PluginState::Error));
    assert_host_goes_on(&host);
    // A plugin in Error can be restarted.
    host.start(PANICKY).await.unwrap();
    assert_eq!(host.call(PANICKY, "ping", b"").unwrap().as_slice(), b"pong");
}

#[tokio::test]
async fn panic_in_an_async_handler_after_an_await() {
    let dir = Scratch::new();
    let host = host_with_panicky(&dir, "").await;
    host.start(PANICKY).await.unwrap();
    match host.call_async(PANICKY, "boom_async", b"").await {
        Err(HostError::Call { error, .. }) => {
            assert_eq!(error.kind(), ErrorKind::Panicked);
            assert_eq!(error.message(), "panicky: boom_async");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(host.plugins().state(PANICKY), Some(PluginState::Error));
    assert_host_goes_on(&host);
}

#[tokio::test]
async fn panic_in_drop_is_contained_and_the_library_still_closes() {
    let dir = Scratch::new();
    let host = host_with_panicky(&dir, "drop").await;
    let report = host.unload(PANICKY).await.unwrap();
    assert!(report.closed);
    assert_eq!(report.still_mapped, Some(false));
    assert_host_goes_on(&host);
}
