//! A subscriber stuck in `handle_event` only fills its own bounded queue:
//! the publisher never waits, the other subscribers keep receiving, and
//! what the stuck one loses is counted against it, by the topic's policy.

use sharelife_core::event::Overflow;
use sharelife_tests::{Scratch, eventually};

fn news(host: &sharelife_core::Host) -> u64 {
    let out = host.call("fixtures.base", "news", b"").unwrap();
    std::str::from_utf8(&out).unwrap().parse().unwrap()
}

#[tokio::test]
async fn one_stuck_plugin_loses_its_own_events_and_nobody_else_waits() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder(
        "plugins",
        &["fixture-base", "fixture-stuck", "example-echo"],
    );
    let host = dir.host_with(|b| {
        b.plugin_path(&plugins)
            .queue_capacity(4)
            .topic_overflow("jobs", Overflow::Reject)
            // A subscription from the host config, for a plugin whose
            // manifest has none.
            .subscription("examples.echo", "news")
    });
    host.boot().await.unwrap();
    // Both fixtures subscribe to `news` in their manifests.
    assert_eq!(
        host.plugins()
            .status("fixtures.stuck")
            .unwrap()
            .subscriptions,
        ["news"]
    );

    for i in 1..=20 {
        let report = host
            .events()
            .publish_bytes("news", format!("item {i}").as_bytes())
            .unwrap();
        assert_eq!(
            report.queued, 3,
            "queued for every subscriber, the stuck one too"
        );
        eventually("fixtures.base to receive the event", || news(&host) == i).await;
    }

    // The stuck plugin took the first event and never returned; four more
    // wait in its queue and the fifteen older ones were dropped.
    assert_eq!(
        host.call("fixtures.stuck", "entered", b"")
            .unwrap()
            .as_slice(),
        b"1"
    );
    let stuck = host
        .plugins()
        .status("fixtures.stuck")
        .unwrap()
        .events
        .unwrap();
    assert_eq!(
        (
            stuck.delivered,
            stuck.queued,
            stuck.dropped_oldest,
            stuck.rejected
        ),
        (1, 4, 15, 0)
    );
    let base = host.events().stats_of("fixtures.base").unwrap();
    assert_eq!(
        (base.delivered, base.dropped_oldest, base.rejected),
        (20, 0, 0)
    );
    eventually("echo to get all the news", || {
        host.events().stats_of("examples.echo").unwrap().delivered == 20
    })
    .await;
    assert_eq!(host.metrics().of("fixtures.base").unwrap().events.calls, 20);

    // A runtime subscription to a topic that rejects on overflow: the
    // stuck plugin's full queue refuses, the others still get the event.
    assert!(host.events().subscribe("fixtures.stuck", "jobs").unwrap());
    assert!(host.events().subscribe("fixtures.base", "jobs").unwrap());
    let report = host.events().publish_bytes("jobs", b"job 1").unwrap();
    assert_eq!((report.queued, report.rejected), (1, 1));
    let stuck = host.events().stats_of("fixtures.stuck").unwrap();
    assert_eq!(stuck.rejected, 1);
    assert_eq!(stuck.topics, ["jobs", "news"]);

    // Shutdown does not wait on the stuck handler: the plugin is unloaded
    // and its library closed.
    let shutdown = host.shutdown().await;
    assert!(shutdown.timed_out.is_empty(), "{shutdown:?}");
    assert!(shutdown.unloaded.iter().all(|u| u.closed), "{shutdown:?}");
}

#[tokio::test]
async fn stopped_plugins_get_no_events_and_unsubscribing_works() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-base"]);
    let host = dir.host_with(|b| b.plugin_path(&plugins));
    host.boot().await.unwrap();

    host.stop("fixtures.base").await.unwrap();
    let report = host.events().publish_bytes("news", b"missed").unwrap();
    assert_eq!((report.queued, report.inactive), (0, 1));

    host.start("fixtures.base").await.unwrap();
    assert!(host.events().unsubscribe("fixtures.base", "news").unwrap());
    assert_eq!(
        host.events()
            .publish_bytes("news", b"unheard")
            .unwrap()
            .queued,
        0
    );
    assert!(host.events().publish_bytes("bad topic", b"").is_err());
}
