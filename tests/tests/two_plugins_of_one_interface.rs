//! Any number of plugins of the one plugin interface load side by side
//! (abi_stable's `RootModule` loading would hand back the first one).

use sharelife_core::PluginState;
use sharelife_tests::Scratch;

#[tokio::test]
async fn three_libraries_load_and_answer_independently() {
    let dir = Scratch::new();
    let host = dir.host();
    for (krate, file) in [
        ("example-echo", "a.so"),
        ("example-timer", "b.so"),
        ("example-panicky", "c.so"),
    ] {
        host.load(dir.copy_library(krate, file))
            .await
            .unwrap_or_else(|e| panic!("{krate}: {e}"));
    }
    for id in ["examples.echo", "examples.timer", "examples.panicky"] {
        host.start(id).await.unwrap();
        assert_eq!(host.plugins().state(id), Some(PluginState::Active));
    }
    assert_eq!(
        host.call("examples.echo", "upper", b"one")
            .unwrap()
            .as_slice(),
        b"ONE"
    );
    assert_eq!(
        host.call("examples.panicky", "ping", b"")
            .unwrap()
            .as_slice(),
        b"pong"
    );
    let waited = host
        .call_async("examples.timer", "wait", b"1")
        .await
        .unwrap();
    assert!(
        waited.as_slice().starts_with(br#"{"requested_ms":1"#),
        "{waited:?}"
    );
    let ids: Vec<String> = host
        .plugins()
        .list()
        .into_iter()
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(ids, ["examples.echo", "examples.panicky", "examples.timer"]);
}
