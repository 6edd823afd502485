//! A plugin publishes events and spawns work through its context: a
//! granted topic reaches a host listener, an ungranted one is denied, both
//! audited; after unload its context publishes nothing and its tasks are
//! stopped.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use parking_lot::Mutex;
use sharelife_core::audit::{MemorySink, Outcome};
use sharelife_core::capability::Policy;
use sharelife_core::event::Topic;
use sharelife_core::manifest::Capability;
use sharelife_core::{ErrorKind, Host, Plugin, PluginContext, PluginError, async_trait};

fn event(topic: &str) -> Capability {
    Capability::Event {
        topic: topic.into(),
    }
}

/// Keeps a clone of its context for the test to drive.
struct Keeper(Arc<Mutex<Option<PluginContext>>>);

#[async_trait]
impl Plugin for Keeper {
    async fn initialize(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        *self.0.lock() = Some(ctx.clone());
        Ok(())
    }
}

async fn host_with(
    requested: Vec<Capability>,
    policy: Policy,
) -> (Host, PluginContext, Arc<MemorySink>, Scratch) {
    let dir = Scratch::new();
    let audit = Arc::new(MemorySink::new());
    let host = Host::builder()
        .data_root(dir.path().join("data"))
        .temp_root(dir.path().join("tmp"))
        .policy(policy)
        .audit_sink(audit.clone())
        .build()
        .unwrap();
    let kept = Arc::new(Mutex::new(None));
    host.add(manifest(requested), Box::new(Keeper(Arc::clone(&kept))))
        .await
        .unwrap();
    host.start(PLUGIN).await.unwrap();
    let ctx = kept.lock().clone().expect("initialize kept the context");
    (host, ctx, audit, dir)
}

fn last_decision(audit: &MemorySink) -> sharelife_core::audit::AuditRecord {
    audit
        .records()
        .into_iter()
        .rev()
        .find(|r| r.event == "decision")
        .expect("a decision was audited")
}

#[tokio::test]
async fn a_granted_topic_reaches_a_host_listener_and_is_audited() {
    let (host, ctx, audit, _dir) = host_with(
        vec![event("orders.*")],
        Policy::new().allow(PLUGIN, event("orders.*")),
    )
    .await;
    let topic: Topic<serde_json::Value> = Topic::new("orders.created");
    let mut listener = host.events().listen(&topic).unwrap();

    ctx.publish_json("orders.created", &serde_json::json!({"id": 7}))
        .unwrap();

    let got = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("the event arrives")
        .expect("the bus is open")
        .unwrap();
    assert_eq!(got, serde_json::json!({"id": 7}));
    let record = last_decision(&audit);
    assert_eq!(record.outcome, Outcome::Allow, "{record:?}");
    assert_eq!(record.capability.as_deref(), Some("event"), "{record:?}");
    assert!(record.request.contains("orders.created"), "{record:?}");
}

#[tokio::test]
async fn an_ungranted_topic_is_denied_and_audited() {
    let (host, ctx, audit, _dir) = host_with(
        vec![event("orders.*"), event("billing.charged")],
        Policy::new().allow(PLUGIN, event("orders.*")),
    )
    .await;
    let topic: Topic<serde_json::Value> = Topic::new("billing.charged");
    let mut listener = host.events().listen(&topic).unwrap();

    // Requested but not granted.
    let err = ctx.publish("billing.charged", b"{}").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    let record = last_decision(&audit);
    assert_eq!(record.outcome, Outcome::Deny, "{record:?}");
    assert!(record.request.contains("billing.charged"), "{record:?}");

    // Neither requested nor granted.
    let err = ctx.publish("users.deleted", b"{}").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    assert_eq!(last_decision(&audit).outcome, Outcome::Deny);

    // The host's own topics are refused, audited too.
    let before = audit.records().len();
    let err = ctx.publish("sharelife.lifecycle", b"{}").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    assert_eq!(audit.records().len(), before + 1);
    assert_eq!(last_decision(&audit).outcome, Outcome::Deny);

    // A malformed topic: invalid input, audited.
    let err = ctx.publish("no spaces", b"{}").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(last_decision(&audit).outcome, Outcome::Deny);

    assert!(listener.try_recv().is_none(), "nothing was published");
}

#[tokio::test]
async fn a_plugin_without_the_capability_publishes_nothing() {
    let (_host, ctx, audit, _dir) = host_with(vec![], Policy::new()).await;
    let err = ctx.publish("orders.created", b"{}").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    assert_eq!(last_decision(&audit).outcome, Outcome::Deny);
}

/// Counts its drops.
struct OnDrop(Arc<AtomicUsize>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn after_unload_nothing_is_published_and_tasks_are_stopped() {
    let (host, ctx, audit, _dir) = host_with(
        vec![event("orders.*")],
        Policy::new().allow(PLUGIN, event("orders.*")),
    )
    .await;
    let topic: Topic<serde_json::Value> = Topic::new("orders.tick");
    let mut listener = host.events().listen(&topic).unwrap();

    // A task that publishes, then waits forever (on the host's timer).
    let dropped = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicBool::new(false));
    let (guard, flag, task_ctx) = (OnDrop(Arc::clone(&dropped)), Arc::clone(&ran), ctx.clone());
    ctx.spawn(async move {
        let _guard = guard;
        task_ctx.publish("orders.tick", b"1").unwrap();
        flag.store(true, Ordering::SeqCst);
        loop {
            task_ctx.sleep(Duration::from_secs(3600)).await;
        }
    })
    .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("the spawned task ran and published")
        .unwrap()
        .unwrap();
    assert_eq!(got, serde_json::json!(1));
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        0,
        "the task is still running"
    );

    let report = host.unload(PLUGIN).await.unwrap();
    assert!(report.closed, "{report:?}");
    // Stopped (its future dropped) by the time unload returns.
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the task was stopped");

    let err = ctx.publish("orders.tick", b"2").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    let record = last_decision(&audit);
    assert_eq!(record.outcome, Outcome::Deny);
    assert!(record.rule.starts_with("revoked"), "{record:?}");

    let err = ctx.spawn(async {}).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
}

#[tokio::test]
async fn spawned_tasks_are_limited() {
    let (_host, ctx, _audit, _dir) = host_with(vec![], Policy::new()).await;
    let mut refused = None;
    for i in 0..100 {
        if let Err(e) = ctx.spawn(std::future::pending()) {
            refused = Some((i, e));
            break;
        }
    }
    let (i, e) = refused.expect("a limit on concurrent tasks");
    assert_eq!(i, 64);
    assert_eq!(e.kind(), ErrorKind::Denied, "{e}");
}
