//! By default the host starts what it can and reports the rest; in strict
//! mode any failed enabled plugin stops the boot, and nothing is left
//! running half-configured.

use sharelife_core::{HostError, PluginState};
use sharelife_tests::Scratch;

#[tokio::test]
async fn the_default_starts_the_rest_and_reports() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-base", "fixture-orphan"]);
    let host = dir.host_with(|b| b.plugin_path(&plugins));
    let report = host.boot().await.unwrap();
    assert!(!report.is_complete());
    assert_eq!(
        host.plugins().state("fixtures.base"),
        Some(PluginState::Active)
    );
    assert_eq!(report.failed[0].id.as_str(), "fixtures.orphan");
}

#[tokio::test]
async fn strict_mode_refuses_a_missing_dependency_before_loading_anything() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-base", "fixture-orphan"]);
    let host = dir.host_with(|b| b.plugin_path(&plugins).strict(true));
    match host.boot().await {
        Err(HostError::Strict { failures }) => {
            assert_eq!(failures.len(), 1);
            assert_eq!(
                failures[0].to_string(),
                "fixtures.orphan (resolve): fixtures.orphan 1.0.0 needs fixtures.absent ^1, which is in no plugin folder and not loaded"
            );
        }
        other => panic!("expected a strict refusal, got {other:?}"),
    }
    assert!(host.plugins().list().is_empty());
}

#[tokio::test]
async fn strict_mode_shuts_down_what_started_when_a_start_fails() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-base", "fixture-left", "example-echo"]);
    let host = dir.host_with(|b| {
        b.plugin_path(&plugins)
            .strict(true)
            .plugin_config("fixtures.base", serde_json::json!({ "fail_start": true }))
    });
    match host.boot().await {
        Err(HostError::Strict { failures }) => {
            let ids: Vec<&str> = failures.iter().map(|f| f.id.as_str()).collect();
            assert_eq!(ids, ["fixtures.base", "fixtures.left"]);
        }
        other => panic!("expected a strict refusal, got {other:?}"),
    }
    assert!(
        host.plugins().list().is_empty(),
        "echo was started, then shut down again"
    );
}
