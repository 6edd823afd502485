//! Stopping or unloading a plugin others depend on stops its dependents
//! first (dependents of dependents before them), or is refused when the
//! host is set to refuse.

use sharelife_core::event::LIFECYCLE;
use sharelife_core::host::{DependentPolicy, StateReason};
use sharelife_core::{HostError, PluginState};
use sharelife_tests::Scratch;

const CHAIN: &[&str] = &[
    "fixture-base",
    "fixture-left",
    "fixture-top",
    "fixture-right",
];

#[tokio::test]
async fn stopping_the_bottom_stops_the_chain_top_down() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", CHAIN);
    let host = dir.host_with(|b| b.plugin_path(&plugins));
    host.boot().await.unwrap();
    let mut lifecycle = host.events().listen(&LIFECYCLE).unwrap();

    host.stop("fixtures.base").await.unwrap();

    let mut stopped = Vec::new();
    while let Some(event) = lifecycle.try_recv() {
        let event = event.unwrap();
        if event.to == PluginState::Inactive {
            stopped.push((event.plugin, event.reason));
        }
    }
    let because = Some("stopped because its dependency fixtures.base stopped".to_owned());
    assert_eq!(
        stopped,
        [
            // The reverse of the start order (base, left, right, top).
            ("fixtures.top".to_owned(), because.clone()),
            ("fixtures.right".to_owned(), because.clone()),
            ("fixtures.left".to_owned(), because.clone()),
            ("fixtures.base".to_owned(), None),
        ]
    );
    assert_eq!(
        host.plugins()
            .status("fixtures.left")
            .unwrap()
            .reason
            .map(|r| r.to_string()),
        because
    );

    // Starting the top again brings its whole chain back.
    host.start("fixtures.top").await.unwrap();
    for id in [
        "fixtures.base",
        "fixtures.left",
        "fixtures.right",
        "fixtures.top",
    ] {
        assert_eq!(host.plugins().state(id), Some(PluginState::Active), "{id}");
    }
}

#[tokio::test]
async fn with_refuse_the_stop_is_refused_and_nothing_changes() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-base", "fixture-left"]);
    let host = dir.host_with(|b| {
        b.plugin_path(&plugins)
            .on_dependents(DependentPolicy::Refuse)
    });
    host.boot().await.unwrap();

    match host.stop("fixtures.base").await {
        Err(err @ HostError::HasDependents { .. }) => assert_eq!(
            err.to_string(),
            r#"cannot stop plugin "fixtures.base": fixtures.left depend on it; stop them first, or set on_dependents = "cascade""#
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        host.unload("fixtures.base").await,
        Err(HostError::HasDependents { .. })
    ));
    assert_eq!(
        host.plugins().state("fixtures.base"),
        Some(PluginState::Active)
    );
    assert_eq!(
        host.plugins().state("fixtures.left"),
        Some(PluginState::Active)
    );

    host.stop("fixtures.left").await.unwrap();
    host.stop("fixtures.base").await.unwrap();
}

#[tokio::test]
async fn unloading_a_dependency_leaves_dependents_inactive_with_the_reason() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-base", "fixture-left"]);
    let host = dir.host_with(|b| b.plugin_path(&plugins));
    host.boot().await.unwrap();

    let report = host.unload("fixtures.base").await.unwrap();
    assert!(report.closed);
    let left = host.plugins().status("fixtures.left").unwrap();
    assert_eq!(left.state, PluginState::Inactive);
    let reason = left.reason.unwrap();
    assert_eq!(
        reason.to_string(),
        "its dependency fixtures.base was unloaded"
    );
    assert!(matches!(&reason, StateReason::DependencyUnloaded(d) if d.as_str() == "fixtures.base"));

    match host.start("fixtures.left").await {
        Err(err @ HostError::UnmetDependencies { .. }) => assert_eq!(
            err.to_string(),
            r#"plugin "fixtures.left" cannot start: it needs fixtures.base ^1, which is not loaded"#
        ),
        other => panic!("expected unmet dependencies, got {other:?}"),
    }
}
