//! A hot reload of a sandboxed plugin that fails before the swap — the
//! new version fails to start in its child, the file is no plugin
//! library, or there is no file — says why, ends and reaps whatever
//! child it started, and leaves the old child serving. (One test in this
//! file, so no other test's children are counted.)

#[path = "support/reload.rs"]
mod reload;
mod support;

use reload::child_pids;
use sharelife_core::loader::is_mapped;
use sharelife_core::{HostError, PluginState};
use sharelife_sandbox::Feature;
use support::{kernel_gives, limits};

const ID: &str = "fixtures.versioned";

/// The error a failed reload wraps, checking that it says version 1
/// kept running.
fn cause(error: HostError) -> HostError {
    match error {
        HostError::ReloadFailed { kept, source, .. } => {
            assert_eq!(kept.to_string(), "1.0.0");
            *source
        }
        other => panic!("not a ReloadFailed: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_hot_reload_leaves_the_old_child_serving_and_no_new_one() {
    if !kernel_gives(
        "a_failed_hot_reload_leaves_the_old_child_serving_and_no_new_one",
        &[Feature::Landlock, Feature::Seccomp],
    ) {
        return;
    }
    let before = child_pids();
    let dirs = tempfile::tempdir().expect("a scratch directory");
    // Version 2 fails in `start` with this config; version 1 ignores it.
    let host = reload::sandboxing_host(dirs.path(), |b| {
        b.plugin_config(ID, serde_json::json!({ "fail_start": true }))
    });
    let v1 = reload::copy(dirs.path(), "fixture-versioned-v1", "v1.so");
    reload::load_sandboxed(&host, &v1, &limits()).await;
    let serving = child_pids();
    assert_eq!(serving.len(), before.len() + 1, "one child: {serving:?}");
    let still_serving = |when: &str| {
        assert_eq!(
            host.call(ID, "version", b"").unwrap().as_slice(),
            b"v1",
            "{when}"
        );
        assert_eq!(
            host.plugins().state(ID),
            Some(PluginState::Active),
            "{when}"
        );
        assert_eq!(child_pids(), serving, "the same one child, {when}");
    };
    still_serving("before");

    // The new version starts in a new child and fails there.
    let v2 = reload::copy(dirs.path(), "fixture-versioned-v2", "v2.so");
    let error = host.reload(ID, &v2).await.expect_err("v2 fails to start");
    println!("{error}");
    let message = error.to_string();
    match cause(error) {
        HostError::Hook {
            hook: "start",
            error,
            ..
        } => {
            assert!(
                error.message().contains("configured to fail in start"),
                "{error}"
            );
        }
        other => panic!("expected the start hook's failure, got {other:?}"),
    }
    assert!(message.contains("version 1.0.0 keeps running"), "{message}");
    assert_eq!(is_mapped(&v2), Some(false), "v2 never opened in the host");
    still_serving("after a failed start");

    // No plugin library at that path: refused before any child starts.
    let garbage = dirs.path().join("garbage.so");
    std::fs::write(&garbage, b"not an ELF file").unwrap();
    let error = host.reload(ID, &garbage).await.expect_err("garbage");
    assert!(
        matches!(cause(error), HostError::Load(_)),
        "a load error for a file that is no library"
    );
    still_serving("after a garbage file");

    let missing = dirs.path().join("missing.so");
    let error = host.reload(ID, &missing).await.expect_err("missing");
    assert!(
        matches!(cause(error), HostError::Load(_)),
        "a load error for a missing file"
    );
    still_serving("after a missing file");

    host.shutdown().await;
    assert_eq!(child_pids(), before, "after shutdown");
}
