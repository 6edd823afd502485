//! The host drives plugins only along the lifecycle table; anything else
//! is a typed error naming both states, and the state does not change.

use sharelife_core::{HostError, IllegalTransition, PluginState};
use sharelife_tests::Scratch;

#[tokio::test]
async fn illegal_moves_are_refused_with_both_states_named() {
    let dir = Scratch::new();
    let host = dir.host();
    host.load(dir.copy_library("example-echo", "echo.so"))
        .await
        .unwrap();

    // Loaded -> Inactive is not a move.
    match host.stop("examples.echo").await {
        Err(HostError::Transition(IllegalTransition { from, to, .. })) => {
            assert_eq!((from, to), (PluginState::Loaded, PluginState::Inactive));
        }
        other => panic!("expected an illegal transition, got {other:?}"),
    }
    assert_eq!(
        host.plugins().state("examples.echo"),
        Some(PluginState::Loaded)
    );

    host.start("examples.echo").await.unwrap();
    match host.start("examples.echo").await {
        Err(err @ HostError::Transition(_)) => {
            assert_eq!(
                err.to_string(),
                r#"plugin "examples.echo" cannot move from active to active"#
            );
        }
        other => panic!("expected an illegal transition, got {other:?}"),
    }
    assert_eq!(
        host.plugins().state("examples.echo"),
        Some(PluginState::Active)
    );

    match host.start("examples.missing").await {
        Err(err @ HostError::NotFound(_)) => {
            assert_eq!(err.to_string(), r#"no plugin "examples.missing" is loaded"#)
        }
        other => panic!("expected not found, got {other:?}"),
    }
}
