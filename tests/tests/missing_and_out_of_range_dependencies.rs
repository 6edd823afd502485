//! A dependency that is nowhere, or only in versions out of range, keeps
//! the plugin out, with an error naming both plugins and their versions.

use sharelife_core::host::BootError;
use sharelife_core::host::resolver::ResolveError;
use sharelife_core::{HostError, PluginState};
use sharelife_tests::{Scratch, library_file_name};

#[tokio::test]
async fn boot_names_the_plugins_and_versions_involved() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder(
        "plugins",
        &[
            "fixture-base",
            "fixture-orphan",
            "fixture-picky",
            "fixture-left",
        ],
    );
    let host = dir.host_with(|b| {
        b.plugin_path(&plugins)
            // A dependency added by the host config counts like the manifest's.
            .dependency(
                "fixtures.left",
                sharelife_core::manifest::Dependency {
                    id: "fixtures.orphan".parse().unwrap(),
                    version: "^1".parse().unwrap(),
                },
            )
    });
    let report = host.boot().await.unwrap();

    let started: Vec<&str> = report.started.iter().map(|id| id.as_str()).collect();
    assert_eq!(started, ["fixtures.base"]);
    let texts: Vec<String> = report.failed.iter().map(|f| f.error.to_string()).collect();
    let errors: Vec<(&str, &str)> = report
        .failed
        .iter()
        .zip(&texts)
        .map(|(f, text)| (f.id.as_str(), text.as_str()))
        .collect();
    assert_eq!(
        errors,
        [
            (
                "fixtures.left",
                "fixtures.left 1.0.0 needs fixtures.orphan, which cannot be loaded: fixtures.orphan 1.0.0 needs fixtures.absent ^1, which is in no plugin folder and not loaded"
            ),
            (
                "fixtures.orphan",
                "fixtures.orphan 1.0.0 needs fixtures.absent ^1, which is in no plugin folder and not loaded"
            ),
            (
                "fixtures.picky",
                "fixtures.picky 1.0.0 needs fixtures.base ^2, found fixtures.base 1.0.0"
            ),
        ]
    );
    // Which dependency is unmet, typed: left needs orphan, which cannot be
    // loaded because absent is nowhere.
    match &report.failed[0].error {
        BootError::Unresolved(errors) => match &errors[..] {
            [ResolveError::DependencyUnavailable { needs, because, .. }] => {
                assert_eq!(needs.as_str(), "fixtures.orphan");
                assert!(matches!(
                    &because[..],
                    [ResolveError::Missing { needs, .. }] if needs.as_str() == "fixtures.absent"
                ));
            }
            other => panic!("expected an unavailable dependency, got {other:?}"),
        },
        other => panic!("expected a resolution error, got {other:?}"),
    }
    let picky = host.plugins().status("fixtures.picky").unwrap();
    assert_eq!(picky.state, PluginState::Unloaded);
    assert!(
        picky
            .library
            .unwrap()
            .ends_with(library_file_name("fixture-picky"))
    );
}

#[tokio::test]
async fn loading_by_path_checks_the_loaded_dependencies() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder(
        "plugins",
        &["fixture-base", "fixture-picky", "fixture-left"],
    );
    let host = dir.host();

    match host
        .load(plugins.join(library_file_name("fixture-left")))
        .await
    {
        Err(err @ HostError::UnmetDependencies { .. }) => assert_eq!(
            err.to_string(),
            r#"plugin "fixtures.left" cannot be loaded: it needs fixtures.base ^1, which is not loaded; load it first"#
        ),
        other => panic!("expected unmet dependencies, got {other:?}"),
    }
    host.load(plugins.join(library_file_name("fixture-base")))
        .await
        .unwrap();
    match host
        .load(plugins.join(library_file_name("fixture-picky")))
        .await
    {
        Err(err @ HostError::UnmetDependencies { .. }) => assert_eq!(
            err.to_string(),
            r#"plugin "fixtures.picky" cannot be loaded: it needs fixtures.base ^2, found fixtures.base 1.0.0"#
        ),
        other => panic!("expected unmet dependencies, got {other:?}"),
    }
    host.load(plugins.join(library_file_name("fixture-left")))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_plugin_enabled_in_the_config_but_found_nowhere_is_reported() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-base"]);
    let host = dir.host_with(|b| b.plugin_path(&plugins).enabled("acme.ghost", true));
    let report = host.boot().await.unwrap();
    assert_eq!(report.failed.len(), 1);
    assert!(
        matches!(
            &report.failed[0].error,
            BootError::Unresolved(errors)
                if matches!(&errors[..], [ResolveError::NotFound { plugin }] if plugin.as_str() == "acme.ghost")
        ),
        "{report}"
    );
    assert_eq!(
        report.failed[0].error.to_string(),
        r#"acme.ghost is enabled in the host config, but no plugin folder has it; add its library to a plugin_paths folder, or remove [plugins."acme.ghost"]"#
    );
}
