//! A dependency that fails to start leaves its dependents `Inactive`, with
//! the reason in their status; the plugin that failed is in `Error`.

use sharelife_core::host::{BootError, Stage, StateReason};
use sharelife_core::{HostError, PluginState};
use sharelife_tests::Scratch;

#[tokio::test]
async fn boot_holds_back_what_depends_on_a_failed_start() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder(
        "plugins",
        &[
            "fixture-base",
            "fixture-left",
            "fixture-top",
            "fixture-right",
            "example-echo",
        ],
    );
    let host = dir.host_with(|b| {
        b.plugin_path(&plugins)
            .plugin_config("fixtures.base", serde_json::json!({ "fail_start": true }))
    });
    let report = host.boot().await.unwrap();

    assert_eq!(report.started.len(), 1, "{report}");
    assert_eq!(report.started[0].as_str(), "examples.echo");
    assert_eq!(report.failed.len(), 1, "{report}");
    assert_eq!(report.failed[0].stage, Stage::Start);
    assert!(
        report.failed[0]
            .error
            .to_string()
            .contains("fixtures.base was told to fail in start"),
        "{report}"
    );
    assert!(
        matches!(
            &report.failed[0].error,
            BootError::Host(HostError::Hook { id, hook: "start", .. }) if id.as_str() == "fixtures.base"
        ),
        "{report}"
    );

    let base = host.plugins().status("fixtures.base").unwrap();
    assert_eq!(base.state, PluginState::Error);
    let base_reason = base.reason.unwrap();
    assert!(base_reason.to_string().starts_with("start failed: "));
    assert!(
        matches!(base_reason, StateReason::Failed { ref place, .. } if place == "start failed")
    );
    for id in ["fixtures.left", "fixtures.right"] {
        let status = host.plugins().status(id).unwrap();
        assert_eq!(status.state, PluginState::Inactive, "{id}");
        let reason = status.reason.unwrap();
        assert!(
            matches!(
                &reason,
                StateReason::Boot(BootError::DependencyNotStarted { dependency, .. })
                    if dependency.as_str() == "fixtures.base"
            ),
            "{id}: {reason:?}"
        );
        let reason = reason.to_string();
        assert!(
            reason.starts_with(
                "dependency fixtures.base failed to start: plugin \"fixtures.base\" failed in start"
            ),
            "{id}: {reason}"
        );
    }
    let top = host.plugins().status("fixtures.top").unwrap();
    assert_eq!(top.state, PluginState::Inactive);
    assert!(
        top.reason
            .unwrap()
            .to_string()
            .starts_with("dependency fixtures.left failed to start: dependency fixtures.base")
    );
    let held: Vec<&str> = report.held.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(held, ["fixtures.left", "fixtures.right", "fixtures.top"]);
    // Why each was held, typed: the dependency, and why it did not start.
    let why: Vec<(&str, &str)> = report
        .held
        .iter()
        .map(|(id, why)| match why {
            BootError::DependencyNotStarted {
                dependency,
                source: Some(_),
            } => (id.as_str(), dependency.as_str()),
            other => panic!("{id}: expected a dependency that did not start, got {other:?}"),
        })
        .collect();
    assert_eq!(
        why,
        [
            ("fixtures.left", "fixtures.base"),
            ("fixtures.right", "fixtures.base"),
            ("fixtures.top", "fixtures.left"),
        ]
    );
}

#[tokio::test]
async fn starting_a_dependent_reports_the_failed_dependency() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-base", "fixture-left"]);
    let host = dir
        .host_with(|b| b.plugin_config("fixtures.base", serde_json::json!({ "fail_start": true })));
    host.load(plugins.join(sharelife_tests::library_file_name("fixture-base")))
        .await
        .unwrap();
    host.load(plugins.join(sharelife_tests::library_file_name("fixture-left")))
        .await
        .unwrap();

    match host.start("fixtures.left").await {
        Err(err @ HostError::DependencyFailed { .. }) => {
            let text = err.to_string();
            assert!(text.starts_with(r#"plugin "fixtures.left" was not started: its dependency "fixtures.base" failed to start: "#), "{text}");
        }
        other => panic!("expected a failed dependency, got {other:?}"),
    }
    assert_eq!(
        host.plugins().state("fixtures.base"),
        Some(PluginState::Error)
    );
    assert_eq!(
        host.plugins().state("fixtures.left"),
        Some(PluginState::Inactive)
    );
}
