//! A loaded plugin publishes events and spawns a task through its context,
//! across the library boundary: a granted publish reaches a host listener,
//! an ungranted one is denied in the plugin, both audited; the task runs
//! on the host's runtime and is stopped at unload before the library is
//! closed and unmapped.

use std::sync::Arc;
use std::time::Duration;

use sharelife_core::audit::{MemorySink, Outcome};
use sharelife_core::capability::Policy;
use sharelife_core::event::Topic;
use sharelife_core::loader::is_mapped;
use sharelife_core::manifest::Capability;
use sharelife_core::{ErrorKind, HostError};
use sharelife_tests::Scratch;

const ID: &str = "fixtures.publisher";

fn event(topic: &str) -> Capability {
    Capability::Event {
        topic: topic.into(),
    }
}

#[tokio::test]
async fn a_loaded_plugin_publishes_and_its_task_stops_at_unload() {
    let dir = Scratch::new();
    let audit = Arc::new(MemorySink::new());
    let host = dir.host_with(|b| {
        b.policy(Policy::new().allow(ID, event("orders.*")))
            .audit_sink(audit.clone())
    });
    let path = dir.copy_library("fixture-publisher", "publisher.so");
    host.load(&path).await.unwrap();
    host.start(ID).await.unwrap();

    let created: Topic<String> = Topic::new("orders.created");
    let tick: Topic<u32> = Topic::new("orders.tick");
    let mut created_events = host.events().listen(&created).unwrap();
    let mut ticks = host.events().listen(&tick).unwrap();

    // A granted topic, from a handler in the library.
    host.call_async(ID, "publish", b"orders.created")
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), created_events.recv())
        .await
        .expect("the event arrives")
        .unwrap()
        .unwrap();
    assert_eq!(got, "hello");

    // An ungranted one: the plugin gets a typed denial.
    match host.call_async(ID, "publish", b"billing.charged").await {
        Err(HostError::Call { error, .. }) => {
            assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
        }
        other => panic!("expected a denied call, got {other:?}"),
    }

    let decisions: Vec<_> = audit
        .records()
        .into_iter()
        .filter(|r| r.event == "decision")
        .collect();
    assert!(
        decisions
            .iter()
            .any(|r| r.request == "publish orders.created"
                && r.outcome == Outcome::Allow
                && r.capability.as_deref() == Some("event")),
        "{decisions:#?}"
    );
    assert!(
        decisions
            .iter()
            .any(|r| r.request == "publish billing.charged" && r.outcome == Outcome::Deny),
        "{decisions:#?}"
    );

    // A task spawned in the library runs on the host's runtime.
    host.call_async(ID, "spawn_ticker", b"").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), ticks.recv())
        .await
        .expect("the spawned task ran")
        .unwrap()
        .unwrap();
    assert_eq!(got, 1);

    // Unload stops it (its future, the library's code, is dropped) before
    // the library is closed: closed and unmapped.
    let report = host.unload(ID).await.unwrap();
    assert!(report.closed, "{report:?}");
    assert_eq!(report.still_mapped, Some(false), "{report:?}");
    assert_eq!(is_mapped(&path), Some(false));
    // The task's drop ran while the library was still open, after the
    // context was revoked: its last publish was denied as revoked.
    let stopped = audit
        .records()
        .into_iter()
        .find(|r| r.request == "publish orders.stopped")
        .expect("the task was dropped at unload");
    assert_eq!(stopped.outcome, Outcome::Deny);
    assert!(stopped.rule.starts_with("revoked"), "{stopped:?}");
}
