//! Every lifecycle move is published on `sharelife.lifecycle`, to host
//! listeners and to plugins that subscribe to it.

use sharelife_core::PluginState::{self, *};
use sharelife_core::event::LIFECYCLE;
use sharelife_tests::{Scratch, eventually};

#[tokio::test]
async fn host_listeners_and_plugins_see_every_move() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-base", "example-echo"]);
    let host = dir.host_with(|b| {
        b.plugin_path(&plugins)
            .subscription("fixtures.base", "sharelife.lifecycle")
    });
    let mut listener = host.events().listen(&LIFECYCLE).unwrap();
    host.boot().await.unwrap();
    host.stop("examples.echo").await.unwrap();
    host.unload("examples.echo").await.unwrap();

    let mut echo_moves: Vec<(PluginState, PluginState)> = Vec::new();
    while let Some(event) = listener.try_recv() {
        let event = event.unwrap();
        if event.plugin == "examples.echo" {
            assert_eq!(event.version, "1.0.0");
            echo_moves.push((event.from, event.to));
        }
    }
    assert_eq!(
        echo_moves,
        [
            (Unloaded, Loading),
            (Loading, Loaded),
            (Loaded, Active),
            (Active, Inactive),
            (Inactive, Unloading),
            (Unloading, Unloaded),
        ]
    );
    // fixtures.base subscribed through the host config; it was active for
    // echo's last four moves (echo started after it).
    eventually("fixtures.base to receive lifecycle events", || {
        host.events().stats_of("fixtures.base").unwrap().delivered >= 4
    })
    .await;
}
