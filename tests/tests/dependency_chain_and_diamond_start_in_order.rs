//! Dependencies start first; among plugins free to go in either order,
//! the lower priority number goes first; shutdown stops in reverse.

use sharelife_core::PluginState;
use sharelife_core::event::LIFECYCLE;
use sharelife_tests::Scratch;

const DIAMOND: &[&str] = &[
    "fixture-base",
    "fixture-left",
    "fixture-right",
    "fixture-top",
];

fn ids(list: &[sharelife_core::manifest::PluginId]) -> Vec<&str> {
    list.iter().map(|id| id.as_str()).collect()
}

#[tokio::test]
async fn a_diamond_starts_bottom_up_with_priority_breaking_ties() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", DIAMOND);
    // By id alone `left` would go before `right`; priority says otherwise.
    let host = dir.host_with(|b| {
        b.plugin_path(&plugins)
            .priority("fixtures.left", 90)
            .priority("fixtures.right", 10)
    });
    let mut lifecycle = host.events().listen(&LIFECYCLE).unwrap();

    let report = host.boot().await.unwrap();
    assert!(report.is_complete(), "{report}");
    assert_eq!(
        ids(&report.started),
        [
            "fixtures.base",
            "fixtures.right",
            "fixtures.left",
            "fixtures.top"
        ]
    );
    let mut activated = Vec::new();
    while let Some(event) = lifecycle.try_recv() {
        let event = event.unwrap();
        if event.to == PluginState::Active {
            activated.push(event.plugin);
        }
    }
    assert_eq!(
        activated,
        [
            "fixtures.base",
            "fixtures.right",
            "fixtures.left",
            "fixtures.top"
        ]
    );
    let top = host.plugins().status("fixtures.top").unwrap();
    let deps: Vec<String> = top
        .dependencies
        .iter()
        .map(|d| format!("{} {}", d.id, d.version))
        .collect();
    assert_eq!(deps, ["fixtures.left ^1", "fixtures.right ^1"]);
    assert_eq!(
        ids(&host.plugins().status("fixtures.base").unwrap().dependents),
        ["fixtures.top", "fixtures.left", "fixtures.right"],
        "dependents are listed in the order they would be stopped"
    );

    let shutdown = host.shutdown().await;
    assert_eq!(
        ids(&shutdown.stopped),
        [
            "fixtures.top",
            "fixtures.left",
            "fixtures.right",
            "fixtures.base"
        ]
    );
    assert!(shutdown.timed_out.is_empty() && shutdown.failed.is_empty());
    assert!(shutdown.unloaded.iter().all(|u| u.closed), "{shutdown:?}");
    assert!(host.plugins().list().is_empty());
}

#[tokio::test]
async fn starting_a_plugin_starts_its_chain_of_dependencies_first() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-base", "fixture-left"]);
    let host = dir.host();
    host.load(plugins.join(sharelife_tests::library_file_name("fixture-base")))
        .await
        .unwrap();
    host.load(plugins.join(sharelife_tests::library_file_name("fixture-left")))
        .await
        .unwrap();
    assert_eq!(
        host.plugins().state("fixtures.base"),
        Some(PluginState::Loaded)
    );

    host.start("fixtures.left").await.unwrap();
    assert_eq!(
        host.plugins().state("fixtures.base"),
        Some(PluginState::Active)
    );
    assert_eq!(
        host.plugins().state("fixtures.left"),
        Some(PluginState::Active)
    );
    assert_eq!(
        host.call("fixtures.left", "ping", b"").unwrap().as_slice(),
        b"pong"
    );
}
