//! The whole life of a real plugin library: load, start, call, stop,
//! unload, with the state checked at every step.

use sharelife_core::{ErrorKind, HostError, PluginState};
use sharelife_tests::Scratch;

#[tokio::test]
async fn a_loaded_library_goes_through_its_whole_lifecycle() {
    let dir = Scratch::new();
    let lib = dir.copy_library("example-echo", "libecho.so");
    let host = dir
        .host_with(|b| b.plugin_config("examples.echo", serde_json::json!({ "greeting": "ahoy" })));

    let id = host.load(&lib).await.expect("echo loads");
    assert_eq!(id.as_str(), "examples.echo");
    assert_eq!(
        host.plugins().state("examples.echo"),
        Some(PluginState::Loaded)
    );

    // Handlers are refused until the plugin is started.
    match host.call("examples.echo", "upper", b"x") {
        Err(HostError::Call { error, .. }) => assert_eq!(error.kind(), ErrorKind::NotActive),
        other => panic!("expected a not-active error, got {other:?}"),
    }

    host.start("examples.echo").await.expect("starts");
    assert_eq!(
        host.plugins().state("examples.echo"),
        Some(PluginState::Active)
    );
    assert_eq!(
        host.call("examples.echo", "echo", b"bytes")
            .unwrap()
            .as_slice(),
        b"bytes"
    );
    assert_eq!(
        host.call("examples.echo", "upper", b"shout")
            .unwrap()
            .as_slice(),
        b"SHOUT"
    );
    // The config reached the plugin inside the library.
    assert_eq!(
        host.call("examples.echo", "greet", b"ada")
            .unwrap()
            .as_slice(),
        b"ahoy, ada"
    );
    // Plugin state lives in the library and persists between calls.
    host.call("examples.echo", "count", b"").unwrap();
    assert_eq!(
        host.call("examples.echo", "count", b"").unwrap().as_slice(),
        br#"{"calls":2}"#
    );

    // A plugin error crosses the boundary typed.
    match host.call("examples.echo", "upper", &[0xff, 0xfe]) {
        Err(HostError::Call { error, .. }) => {
            assert_eq!(error.kind(), ErrorKind::InvalidInput);
            assert!(error.message().contains("UTF-8"), "{error}");
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
    match host.call("examples.echo", "nope", b"") {
        Err(HostError::Call { error, .. }) => {
            assert_eq!(error.kind(), ErrorKind::UnknownHandler);
            assert!(
                error.message().contains("echo, upper, greet, count"),
                "{error}"
            );
        }
        other => panic!("expected unknown handler, got {other:?}"),
    }

    host.stop("examples.echo").await.expect("stops");
    assert_eq!(
        host.plugins().state("examples.echo"),
        Some(PluginState::Inactive)
    );
    host.start("examples.echo").await.expect("restarts");
    assert_eq!(
        host.plugins().state("examples.echo"),
        Some(PluginState::Active)
    );

    let report = host.unload("examples.echo").await.expect("unloads");
    assert!(report.closed, "{report:?}");
    assert!(report.hook_error.is_none(), "{:?}", report.hook_error);
    assert_eq!(report.still_mapped, Some(false), "{report:?}");
    assert_eq!(host.plugins().state("examples.echo"), None);
    assert!(host.plugins().list().is_empty());
}

#[tokio::test]
async fn typed_json_calls_round_trip_through_a_library() {
    let dir = Scratch::new();
    let host = dir.host();
    host.load(dir.copy_library("example-timer", "timer.so"))
        .await
        .unwrap();
    host.start("examples.timer").await.unwrap();
    let handle = host.handle("examples.timer").unwrap();
    let waited: serde_json::Value = handle.call_json("wait", &3u64).await.unwrap();
    assert_eq!(waited["requested_ms"], 3);
    let err = handle
        .call_json::<_, serde_json::Value>("wait", "not a number")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().contains("u64"), "{err}");
}
