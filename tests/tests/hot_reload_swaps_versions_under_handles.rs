//! `Host::reload(id, path)` swaps a new version in under the handles and
//! pipelines already holding the id; handler ids resolved before the swap
//! keep naming the same handler though the versions' tables differ; each
//! replaced library is really closed.

use sharelife_core::loader::is_mapped;
use sharelife_core::pipeline::{Pipeline, PipelineFile};
use sharelife_core::{Buffer, ErrorKind, PluginState};
use sharelife_tests::Scratch;

const ID: &str = "fixtures.versioned";

fn call(handle: &sharelife_core::PluginHandle, handler: sharelife_core::HandlerId) -> String {
    let mut out = Buffer::new();
    handle.call(handler, b"", &mut out).unwrap();
    String::from_utf8(out.to_vec()).unwrap()
}

#[tokio::test]
async fn handles_taken_before_a_reload_reach_the_new_version() {
    let dir = Scratch::new();
    let host = dir.host();
    let v1 = dir.copy_library("fixture-versioned-v1", "v1.so");
    host.load(&v1).await.unwrap();
    host.start(ID).await.unwrap();
    let handle = host.handle(ID).unwrap();
    let version = handle.handler("version").unwrap();
    assert_eq!(call(&handle, version), "v1");
    let err = handle.handler("since").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownHandler);

    // Version 2 lists `since` before `version`.
    let v2 = dir.copy_library("fixture-versioned-v2", "v2.so");
    let report = host.reload(ID, &v2).await.unwrap();
    assert_eq!(report.old_version.to_string(), "1.0.0");
    assert_eq!(report.new_version.to_string(), "2.0.0");
    assert_eq!(report.library, v2);
    assert_eq!(report.state, None, "versioned saves no state");
    assert!(report.retired.closed, "{report:?}");
    assert_eq!(report.retired.still_mapped, Some(false));
    assert_eq!(is_mapped(&v1), Some(false));
    assert_eq!(host.plugins().state(ID), Some(PluginState::Active));
    assert_eq!(handle.manifest().version.to_string(), "2.0.0");

    assert_eq!(call(&handle, version), "v2");
    let since = handle.handler("since").unwrap();
    assert_eq!(call(&handle, since), "new in v2");
    assert_eq!(
        host.call(ID, "version", b"").unwrap().as_slice(),
        b"v2",
        "lookups by name reach it too"
    );

    // Back to version 1, from a fresh file: `since` is gone again.
    let v1_again = dir.copy_library("fixture-versioned-v1", "v1-again.so");
    host.reload(ID, &v1_again).await.unwrap();
    assert_eq!(is_mapped(&v2), Some(false));
    assert_eq!(call(&handle, version), "v1");
    let err = handle.call(since, b"", &mut Buffer::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownHandler);
    assert_eq!(
        err.message(),
        r#"plugin "fixtures.versioned" 1.0.0 has no handler #1"#
    );
}

#[tokio::test]
async fn a_pipeline_compiled_before_a_reload_calls_the_new_version() {
    let dir = Scratch::new();
    let host = dir.host();
    host.load(dir.copy_library("fixture-versioned-v1", "v1.so"))
        .await
        .unwrap();
    host.start(ID).await.unwrap();
    let file = PipelineFile::from_json(
        "which.json",
        r#"{
  "schema_version": "sharelife.pipeline.v1",
  "plugins": [{ "alias": "v", "plugin": "fixtures.versioned" }],
  "steps": [{ "step_id": "which", "plugin_ref": "v", "handler": "version" }]
}"#,
    )
    .unwrap();
    let pipeline = Pipeline::compile(&file, &host).unwrap();
    let report = pipeline.run(b"").await;
    assert_eq!(report.final_output(), Some(&b"v1"[..]), "{report:?}");

    host.reload(ID, dir.copy_library("fixture-versioned-v2", "v2.so"))
        .await
        .unwrap();
    let report = pipeline.run(b"").await;
    assert_eq!(report.final_output(), Some(&b"v2"[..]), "{report:?}");
}

#[tokio::test]
async fn a_plugin_that_is_not_loaded_cannot_be_reloaded() {
    let dir = Scratch::new();
    let host = dir.host();
    let err = host
        .reload(ID, dir.copy_library("fixture-versioned-v2", "v2.so"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"no plugin "fixtures.versioned" is loaded"#
    );
}
