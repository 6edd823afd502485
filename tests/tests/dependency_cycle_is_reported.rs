//! A dependency cycle is an error that prints the cycle; the plugins on it
//! are not loaded, the others start.

use sharelife_core::host::resolver::ResolveError;
use sharelife_core::host::{BootError, Stage, StateReason};
use sharelife_core::{HostError, PluginState};
use sharelife_tests::Scratch;

#[tokio::test]
async fn the_cycle_is_printed_and_the_rest_starts() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder(
        "plugins",
        &["fixture-cycle-a", "fixture-cycle-b", "fixture-base"],
    );
    let host = dir.host_with(|b| b.plugin_path(&plugins));
    let report = host.boot().await.unwrap();

    assert_eq!(report.started.len(), 1);
    assert_eq!(report.started[0].as_str(), "fixtures.base");
    let cycle = "dependency cycle: fixtures.cycle-a 1.0.0 -> fixtures.cycle-b 1.0.0 -> fixtures.cycle-a 1.0.0; remove one of these dependencies";
    let failed: Vec<(&str, Stage, String)> = report
        .failed
        .iter()
        .map(|f| (f.id.as_str(), f.stage, f.error.to_string()))
        .collect();
    assert_eq!(
        failed,
        [
            ("fixtures.cycle-a", Stage::Resolve, cycle.to_owned()),
            ("fixtures.cycle-b", Stage::Resolve, cycle.to_owned()),
        ]
    );
    let status = host.plugins().status("fixtures.cycle-b").unwrap();
    assert_eq!(status.state, PluginState::Unloaded);
    let reason = status.reason.unwrap();
    assert_eq!(reason.to_string(), cycle);
    assert!(matches!(
        reason,
        StateReason::Boot(BootError::Unresolved(ref errors))
            if matches!(&errors[..], [ResolveError::Cycle { cycle }] if cycle.len() == 3)
    ));
    assert_eq!(status.version.unwrap().to_string(), "1.0.0");
}

#[tokio::test]
async fn strict_mode_refuses_to_boot_on_a_cycle() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder(
        "plugins",
        &["fixture-cycle-a", "fixture-cycle-b", "fixture-base"],
    );
    let host = dir.host_with(|b| b.plugin_path(&plugins).strict(true));
    match host.boot().await {
        Err(err @ HostError::Strict { .. }) => {
            let text = err.to_string();
            assert!(
                text.starts_with(
                    "strict mode: the host did not start because 2 enabled plugins failed:"
                ),
                "{text}"
            );
            assert!(
                text.contains("fixtures.cycle-a 1.0.0 -> fixtures.cycle-b 1.0.0"),
                "{text}"
            );
        }
        other => panic!("expected a strict-mode refusal, got {other:?}"),
    }
    assert!(host.plugins().list().is_empty(), "nothing was loaded");
}
