//! A health check that reports unhealthy, panics or times out moves the
//! plugin to `Error`; the restart policy restarts it with backoff, up to
//! its limit, or leaves it. All of it is visible through `status`.

use std::time::Duration;

use sharelife_core::host::{CheckOutcome, Recovery, RestartPolicy};
use sharelife_core::{Health, PluginState};
use sharelife_tests::{Scratch, eventually};

fn quick_backoff(max_restarts: u32) -> RestartPolicy {
    RestartPolicy::Backoff {
        max_restarts,
        backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(4),
    }
}

#[tokio::test]
async fn an_unhealthy_plugin_is_restarted_until_the_policy_gives_up() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-base", "example-echo"]);
    let host = dir.host_with(|b| {
        b.plugin_path(&plugins)
            .plugin_config("fixtures.base", serde_json::json!({ "unhealthy": true }))
            .restart_policy(quick_backoff(2))
    });
    host.boot().await.unwrap();

    for attempt in 1..=2 {
        let checks = host.health().check_all().await;
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[1].plugin.as_str(), "fixtures.base");
        assert!(
            matches!(checks[0].outcome, CheckOutcome::Healthy),
            "echo is fine"
        );
        match &checks[1].outcome {
            CheckOutcome::Failed { reason, recovery } => {
                assert_eq!(
                    reason.to_string(),
                    "health check failed: reported unhealthy: told to be unhealthy"
                );
                match recovery {
                    Recovery::Restarted { attempt: a, after } => {
                        assert_eq!(*a, attempt);
                        assert_eq!(*after, Duration::from_millis(1 << (attempt - 1)));
                    }
                    other => panic!("expected a restart, got {other:?}"),
                }
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        let status = host.plugins().status("fixtures.base").unwrap();
        assert_eq!(status.state, PluginState::Active);
        assert_eq!(status.health.restarts, attempt);
    }

    let checks = host.health().check_all().await;
    assert!(matches!(
        &checks[1].outcome,
        CheckOutcome::Failed {
            recovery: Recovery::GaveUp { restarts: 2 },
            ..
        }
    ));
    let status = host.plugins().status("fixtures.base").unwrap();
    assert_eq!(status.state, PluginState::Error);
    assert!(status.health.gave_up);
    assert_eq!(
        status.health.last,
        Some(Health::Unhealthy(
            "reported unhealthy: told to be unhealthy".into()
        ))
    );
    assert!(
        status
            .reason
            .unwrap()
            .to_string()
            .starts_with("gave up after 2 restarts in a row; last: health check failed")
    );
    // A plugin the monitor gave up on is no longer checked or restarted...
    assert_eq!(host.health().check_all().await.len(), 1);
    // ...but can be restarted by hand, and the policy counts afresh.
    host.start("fixtures.base").await.unwrap();
    let status = host.plugins().status("fixtures.base").unwrap();
    assert_eq!(status.state, PluginState::Active);
    assert!(!status.health.gave_up);
    let checks = host.health().check_all().await;
    assert!(matches!(
        &checks[1].outcome,
        CheckOutcome::Failed {
            recovery: Recovery::Restarted { attempt: 1, .. },
            ..
        }
    ));
}

#[tokio::test]
async fn a_check_that_times_out_or_panics_is_a_failure() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-stuck", "example-panicky"]);
    let host = dir.host_with(|b| {
        b.plugin_path(&plugins)
            .plugin_config("fixtures.stuck", serde_json::json!({ "slow_health": true }))
            .plugin_config(
                "examples.panicky",
                serde_json::json!({ "panic_in": "health" }),
            )
            .health_check_timeout(Duration::from_millis(50))
            .restart_policy(RestartPolicy::Leave)
    });
    host.boot().await.unwrap();

    let checks = host.health().check_all().await;
    let reasons: Vec<(&str, String, &Recovery)> = checks
        .iter()
        .map(|c| match &c.outcome {
            CheckOutcome::Failed { reason, recovery } => {
                // Typed: a host can match on why the check failed.
                let sharelife_core::host::StateReason::Failed { error, .. } = &**reason else {
                    panic!("{}: expected a failed check, got {reason:?}", c.plugin);
                };
                let expected = if c.plugin.as_str() == "fixtures.stuck" {
                    sharelife_core::ErrorKind::Timeout
                } else {
                    sharelife_core::ErrorKind::Panicked
                };
                assert_eq!(error.kind(), expected, "{}", c.plugin);
                (c.plugin.as_str(), reason.to_string(), recovery)
            }
            other => panic!("{}: expected a failure, got {other:?}", c.plugin),
        })
        .collect();
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0].0, "examples.panicky");
    assert_eq!(
        reasons[0].1,
        "health check failed: panicked: panicky: asked to panic in health"
    );
    assert_eq!(reasons[1].0, "fixtures.stuck");
    assert_eq!(
        reasons[1].1,
        "health check failed: timed out: did not answer within 50ms"
    );
    assert!(reasons.iter().all(|r| matches!(r.2, Recovery::Left)));
    for id in ["examples.panicky", "fixtures.stuck"] {
        assert_eq!(host.plugins().state(id), Some(PluginState::Error), "{id}");
    }
    host.start("fixtures.stuck").await.unwrap();
    assert_eq!(
        host.plugins().state("fixtures.stuck"),
        Some(PluginState::Active)
    );
}

#[tokio::test]
async fn the_periodic_monitor_runs_at_the_configured_interval() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-base"]);
    let host = dir.host_with(|b| {
        b.plugin_path(&plugins)
            .plugin_config("fixtures.base", serde_json::json!({ "unhealthy": true }))
            .health_check_interval(Duration::from_millis(5))
            .restart_policy(quick_backoff(1))
    });
    host.boot().await.unwrap();
    eventually("the monitor to restart, then give up", || {
        host.plugins()
            .status("fixtures.base")
            .unwrap()
            .health
            .gave_up
    })
    .await;
    let status = host.plugins().status("fixtures.base").unwrap();
    assert_eq!(status.health.restarts, 1);
    assert_eq!(status.state, PluginState::Error);
}
