//! Two versions of one plugin, from two files: both can be open at once
//! through the loader (what a hot swap needs), the host keeps ids unique,
//! and after an unload a new version from a new path runs its new code.

use sharelife_core::loader::PluginFile;
use sharelife_core::{Buffer, ContextData, HandlerId, HostError, PluginContext};
use sharelife_tests::Scratch;

fn ctx(dir: &Scratch) -> PluginContext {
    PluginContext::local(ContextData {
        plugin_id: "fixtures.versioned".into(),
        config: serde_json::Value::Null,
        data_dir: dir.path().join("data"),
        temp_dir: dir.path().join("tmp"),
    })
}

#[tokio::test]
async fn both_versions_run_their_own_code_side_by_side() {
    let dir = Scratch::new();
    let v1 = PluginFile::read(dir.copy_library("fixture-versioned-v1", "v1.so"))
        .unwrap()
        .open()
        .unwrap();
    let v2 = PluginFile::read(dir.copy_library("fixture-versioned-v2", "v2.so"))
        .unwrap()
        .open()
        .unwrap();
    assert_eq!(v1.manifest().id, v2.manifest().id);
    assert_eq!(v1.manifest().version.to_string(), "1.0.0");
    assert_eq!(v2.manifest().version.to_string(), "2.0.0");

    let ctx = ctx(&dir);
    let p1 = v1.instantiate(&ctx).unwrap();
    let p2 = v2.instantiate(&ctx).unwrap();
    let (mut o1, mut o2) = (Buffer::new(), Buffer::new());
    // Version 2 has a handler before `version`: index by name.
    let version =
        |m: &sharelife_core::manifest::Manifest| HandlerId::by_name(m, "version").unwrap();
    p1.call(&ctx, version(v1.manifest()), b"", &mut o1).unwrap();
    p2.call(&ctx, version(v2.manifest()), b"", &mut o2).unwrap();
    assert_eq!((o1.as_slice(), o2.as_slice()), (&b"v1"[..], &b"v2"[..]));
}

#[tokio::test]
async fn the_host_refuses_a_second_version_then_runs_the_new_code_after_unload() {
    let dir = Scratch::new();
    let host = dir.host();
    host.load(dir.copy_library("fixture-versioned-v1", "v1.so"))
        .await
        .unwrap();
    host.start("fixtures.versioned").await.unwrap();
    assert_eq!(
        host.call("fixtures.versioned", "version", b"")
            .unwrap()
            .as_slice(),
        b"v1"
    );

    let v2 = dir.copy_library("fixture-versioned-v2", "v2.so");
    match host.load(&v2).await {
        Err(HostError::DuplicateId { id, existing }) => {
            assert_eq!(id.as_str(), "fixtures.versioned");
            assert!(existing.ends_with("v1.so"), "{existing}");
        }
        other => panic!("expected a duplicate id error, got {other:?}"),
    }

    let report = host.unload("fixtures.versioned").await.unwrap();
    assert_eq!(report.still_mapped, Some(false));
    host.load(&v2).await.unwrap();
    host.start("fixtures.versioned").await.unwrap();
    assert_eq!(
        host.call("fixtures.versioned", "version", b"")
            .unwrap()
            .as_slice(),
        b"v2"
    );
}
