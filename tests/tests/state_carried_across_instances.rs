//! A plugin's state, saved by one loaded instance, restores into a fresh
//! instance from another file: the mechanism hot reload hands state across
//! with. A malformed state is the plugin's typed error, not a crash.

use sharelife_core::loader::PluginFile;
use sharelife_core::{Buffer, ContextData, ErrorKind, HandlerId, PluginContext};
use sharelife_tests::Scratch;

fn ctx(dir: &Scratch) -> PluginContext {
    PluginContext::local(ContextData {
        plugin_id: "examples.echo".into(),
        config: serde_json::Value::Null,
        data_dir: dir.path().join("data"),
        temp_dir: dir.path().join("tmp"),
    })
}

#[tokio::test]
async fn saved_state_restores_into_a_new_instance_of_another_file() {
    let dir = Scratch::new();
    let ctx = ctx(&dir);
    let old_lib = PluginFile::read(dir.copy_library("example-echo", "old.so"))
        .unwrap()
        .open()
        .unwrap();
    let count = HandlerId::by_name(old_lib.manifest(), "count").unwrap();
    let old = old_lib.instantiate(&ctx).unwrap();
    old.initialize(&ctx).await.unwrap();
    for _ in 0..3 {
        old.call(&ctx, count, b"", &mut Buffer::new()).unwrap();
    }
    let state = old.save_state(&ctx).await.unwrap();
    assert_eq!(state, 3u64.to_le_bytes());
    drop(old);
    drop(old_lib);

    let new_lib = PluginFile::read(dir.copy_library("example-echo", "new.so"))
        .unwrap()
        .open()
        .unwrap();
    let new = new_lib.instantiate(&ctx).unwrap();
    new.initialize(&ctx).await.unwrap();
    new.restore_state(&ctx, &state).await.unwrap();
    let mut out = Buffer::new();
    new.call(&ctx, count, b"", &mut out).unwrap();
    assert_eq!(out.as_slice(), br#"{"calls":4}"#);

    let err = new.restore_state(&ctx, b"junk").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.message()
            .contains("expected an 8-byte counter, got 4 bytes"),
        "{err}"
    );
}
