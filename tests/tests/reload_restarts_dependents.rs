//! Reloading a plugin stops its dependents, unloads it, loads its library
//! again (new code if the file changed), and starts them all again.

use sharelife_core::host::StateReason;
use sharelife_core::{HostError, PluginState};
use sharelife_tests::{Scratch, built_library, library_file_name};

#[tokio::test]
async fn a_reload_picks_up_a_rebuilt_library_and_restarts_dependents() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder(
        "plugins",
        &["fixture-versioned-v1", "fixture-versioned-user"],
    );
    let host = dir.host_with(|b| b.plugin_path(&plugins));
    host.boot().await.unwrap();
    assert_eq!(
        host.call("fixtures.versioned", "version", b"")
            .unwrap()
            .as_slice(),
        b"v1"
    );

    // "Rebuild" the library in place: same path, new bytes (a fresh inode,
    // as a linker writes it, so the old mapping is not modified).
    let path = plugins.join(library_file_name("fixture-versioned-v1"));
    std::fs::remove_file(&path).unwrap();
    std::fs::copy(built_library("fixture-versioned-v1"), &path).unwrap();

    let report = host.reload_in_place("fixtures.versioned").await.unwrap();
    assert!(report.unload.closed);
    assert_eq!(report.unload.still_mapped, Some(false));
    let restarted: Vec<&str> = report.restarted.iter().map(|id| id.as_str()).collect();
    assert_eq!(restarted, ["fixtures.versioned-user"]);
    assert!(report.not_restarted.is_empty());
    assert_eq!(
        host.plugins().state("fixtures.versioned"),
        Some(PluginState::Active)
    );
    assert_eq!(
        host.plugins().state("fixtures.versioned-user"),
        Some(PluginState::Active)
    );
}

#[tokio::test]
async fn a_reload_into_an_out_of_range_version_leaves_the_dependent_inactive() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder(
        "plugins",
        &["fixture-versioned-v1", "fixture-versioned-user"],
    );
    let host = dir.host_with(|b| b.plugin_path(&plugins));
    host.boot().await.unwrap();

    let path = plugins.join(library_file_name("fixture-versioned-v1"));
    std::fs::remove_file(&path).unwrap();
    std::fs::copy(built_library("fixture-versioned-v2"), &path).unwrap();

    let report = host.reload_in_place("fixtures.versioned").await.unwrap();
    assert_eq!(report.old_version.to_string(), "1.0.0");
    assert_eq!(report.new_version.to_string(), "2.0.0");
    assert_eq!(
        host.call("fixtures.versioned", "version", b"")
            .unwrap()
            .as_slice(),
        b"v2"
    );
    assert!(report.restarted.is_empty());
    assert_eq!(report.not_restarted.len(), 1);
    match &report.not_restarted[0].1 {
        HostError::UnmetDependencies { id, unmet, .. } => {
            assert_eq!(id.as_str(), "fixtures.versioned-user");
            assert_eq!(unmet.len(), 1);
            assert_eq!(unmet[0].dependency.id.as_str(), "fixtures.versioned");
            assert_eq!(
                unmet[0].found.as_ref().map(ToString::to_string).as_deref(),
                Some("2.0.0")
            );
        }
        other => panic!("expected unmet dependencies, got {other:?}"),
    }
    assert_eq!(
        report.not_restarted[0].1.to_string(),
        r#"plugin "fixtures.versioned-user" cannot start: it needs fixtures.versioned ^1, found fixtures.versioned 2.0.0"#
    );
    let user = host.plugins().status("fixtures.versioned-user").unwrap();
    assert_eq!(user.state, PluginState::Inactive);
    let reason = user.reason.unwrap();
    assert_eq!(
        reason.to_string(),
        "not started: it needs fixtures.versioned ^1, found fixtures.versioned 2.0.0"
    );
    match &reason {
        StateReason::UnmetDependencies(unmet) => {
            assert_eq!(unmet[0].dependency.id.as_str(), "fixtures.versioned");
            let found = unmet[0].found.as_ref().map(ToString::to_string);
            assert_eq!(found.as_deref(), Some("2.0.0"));
        }
        other => panic!("expected unmet dependencies, got {other:?}"),
    }
}

#[tokio::test]
async fn a_plugin_added_in_code_cannot_be_reloaded() {
    let dir = Scratch::new();
    let host = dir.host();
    let manifest = sharelife_core::manifest::Manifest::new(
        "acme.inline".parse().unwrap(),
        "1.0.0".parse().unwrap(),
        "^0.1".parse().unwrap(),
    );
    struct Inline;
    impl sharelife_core::Plugin for Inline {}
    host.add(manifest, Box::new(Inline)).await.unwrap();
    assert!(matches!(
        host.reload_in_place("acme.inline").await,
        Err(HostError::NotReloadable(_))
    ));
}
