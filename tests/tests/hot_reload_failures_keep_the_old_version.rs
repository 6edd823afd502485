//! Every way a hot reload can fail before the swap leaves the old version
//! serving, says why, and closes whatever it opened of the new one.

use sharelife_core::loader::is_mapped;
use sharelife_core::{HostError, PluginState};
use sharelife_tests::Scratch;

const ID: &str = "fixtures.versioned";

async fn serving_v1(dir: &Scratch, host: &sharelife_core::Host) {
    host.load(dir.copy_library("fixture-versioned-v1", "v1.so"))
        .await
        .unwrap();
    host.start(ID).await.unwrap();
}

fn still_v1(host: &sharelife_core::Host) {
    assert_eq!(host.call(ID, "version", b"").unwrap().as_slice(), b"v1");
    assert_eq!(host.plugins().state(ID), Some(PluginState::Active));
}

/// The error a failed reload wraps, checking the wrapper says what kept
/// running.
fn cause(err: HostError) -> HostError {
    match err {
        HostError::ReloadFailed { kept, source, .. } => {
            assert_eq!(kept.to_string(), "1.0.0");
            *source
        }
        other => panic!("not a ReloadFailed: {other}"),
    }
}

#[tokio::test]
async fn a_failing_start_keeps_the_old_version_and_closes_the_new_library() {
    let dir = Scratch::new();
    let host = dir.host_with(|b| b.plugin_config(ID, serde_json::json!({ "fail_start": true })));
    serving_v1(&dir, &host).await;
    let v2 = dir.copy_library("fixture-versioned-v2", "v2.so");

    let err = host.reload(ID, &v2).await.unwrap_err();
    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            r#"reload of plugin "fixtures.versioned" from {} failed, version 1.0.0 keeps running: plugin "fixtures.versioned" failed in start: configured to fail in start"#,
            v2.display()
        )
    );
    assert!(matches!(cause(err), HostError::Hook { hook: "start", .. }));
    still_v1(&host);
    assert_eq!(is_mapped(&v2), Some(false), "the new version was closed");
}

#[tokio::test]
async fn reloading_from_the_open_library_is_refused() {
    let dir = Scratch::new();
    let host = dir.host();
    serving_v1(&dir, &host).await;
    let open = dir.path().join("v1.so");
    let err = cause(host.reload(ID, &open).await.unwrap_err());
    assert_eq!(
        err.to_string(),
        format!(
            "{} is already loaded in this process, so opening it again would run the old code; copy the new build to a fresh path and reload from there",
            open.display()
        )
    );
    still_v1(&host);
}

#[tokio::test]
async fn a_library_of_another_plugin_is_refused() {
    let dir = Scratch::new();
    let host = dir.host();
    serving_v1(&dir, &host).await;
    let echo = dir.copy_library("example-echo", "echo.so");
    let err = cause(host.reload(ID, &echo).await.unwrap_err());
    assert_eq!(
        err.to_string(),
        format!(
            r#"{} holds plugin "examples.echo", not "fixtures.versioned""#,
            echo.display()
        )
    );
    still_v1(&host);
    assert_eq!(is_mapped(&echo), Some(false), "never opened");
}

#[tokio::test]
async fn a_version_its_dependents_cannot_use_is_refused() {
    let dir = Scratch::new();
    let host = dir.host();
    serving_v1(&dir, &host).await;
    host.load(dir.copy_library("fixture-versioned-user", "user.so"))
        .await
        .unwrap();
    host.start("fixtures.versioned-user").await.unwrap();

    let v2 = dir.copy_library("fixture-versioned-v2", "v2.so");
    let err = cause(host.reload(ID, &v2).await.unwrap_err());
    assert_eq!(
        err.to_string(),
        r#"version 2.0.0 of plugin "fixtures.versioned" would break fixtures.versioned-user (it needs fixtures.versioned ^1)"#
    );
    still_v1(&host);
    assert_eq!(
        host.plugins().state("fixtures.versioned-user"),
        Some(PluginState::Active)
    );
    assert_eq!(is_mapped(&v2), Some(false), "never opened");
}

#[tokio::test]
async fn a_file_that_is_not_a_plugin_is_refused() {
    let dir = Scratch::new();
    let host = dir.host();
    serving_v1(&dir, &host).await;
    let junk = dir.path().join("junk.so");
    std::fs::write(&junk, b"not a library").unwrap();
    let err = cause(host.reload(ID, &junk).await.unwrap_err());
    assert!(matches!(err, HostError::Load(_)), "{err}");
    still_v1(&host);
}
