//! A plugin in `Error` (here after a panic in a handler) can be started
//! again; its status says why it failed until then.

use sharelife_core::PluginState;
use sharelife_tests::Scratch;

#[tokio::test]
async fn a_panicked_plugin_restarts_and_serves_again() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["example-panicky"]);
    let host = dir.host_with(|b| b.plugin_path(&plugins));
    host.boot().await.unwrap();

    assert!(host.call("examples.panicky", "boom", b"").is_err());
    let status = host.plugins().status("examples.panicky").unwrap();
    assert_eq!(status.state, PluginState::Error);
    assert_eq!(
        status.reason.as_ref().map(ToString::to_string).as_deref(),
        Some("handler panicked: panicked: panicky: boom")
    );
    assert!(status.last_error.is_some());

    host.start("examples.panicky").await.unwrap();
    let status = host.plugins().status("examples.panicky").unwrap();
    assert_eq!(status.state, PluginState::Active);
    assert!(status.reason.is_none());
    assert_eq!(status.last_error, None);
    assert_eq!(
        host.call("examples.panicky", "ping", b"")
            .unwrap()
            .as_slice(),
        b"pong"
    );
}
