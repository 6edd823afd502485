//! Two libraries with one plugin id cannot both be in a host; the refused
//! one is not opened, and the loaded one keeps working.

use sharelife_core::HostError;
use sharelife_core::loader::is_mapped;
use sharelife_tests::Scratch;

#[tokio::test]
async fn the_second_library_with_the_same_id_is_refused() {
    let dir = Scratch::new();
    let host = dir.host();
    let first = dir.copy_library("example-echo", "first.so");
    let second = dir.copy_library("example-echo", "second.so");
    host.load(&first).await.unwrap();
    match host.load(&second).await {
        Err(err @ HostError::DuplicateId { .. }) => {
            let text = err.to_string();
            assert!(
                text.contains(r#"plugin "examples.echo" is already loaded (from "#)
                    && text.contains("first.so"),
                "{text}"
            );
        }
        other => panic!("expected DuplicateId, got {other:?}"),
    }
    assert_eq!(is_mapped(&second), Some(false));
    host.start("examples.echo").await.unwrap();
    assert_eq!(
        host.call("examples.echo", "echo", b"ok")
            .unwrap()
            .as_slice(),
        b"ok"
    );
}
