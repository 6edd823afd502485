//! Broadcasting an event to 10 subscribed plugins: the publisher's cost per
//! event (queueing for all ten, never waiting on them), and throughput end
//! to end (published until every subscriber has handled every event).
//!
//! The subscribers are plugins added in code whose `handle_event` counts
//! the event, so the figures are the bus's, not a plugin's work. The
//! runtime is single-threaded: delivery tasks run only while the bench
//! waits for them, so "publish" times the publisher alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sharelife_core::manifest::Manifest;
use sharelife_core::{Event, Host, Plugin, PluginContext, PluginError, async_trait};

const SUBSCRIBERS: usize = 10;
const PAYLOAD: &[u8] = br#"{"headline":"a broadcast to ten plugins"}"#;

struct Counter(Arc<AtomicU64>);

#[async_trait]
impl Plugin for Counter {
    async fn handle_event(&self, _: &PluginContext, _: Event<'_>) -> Result<(), PluginError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn event_broadcast(c: &mut Criterion) {
    let root = std::env::temp_dir().join(format!("sharelife-bench-events-{}", std::process::id()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let received = Arc::new(AtomicU64::new(0));
    let host = Host::builder()
        .data_root(root.join("data"))
        .temp_root(root.join("tmp"))
        .queue_capacity(1 << 16)
        .build()
        .expect("host builds");
    rt.block_on(async {
        for n in 0..SUBSCRIBERS {
            let mut manifest = Manifest::new(
                format!("bench.subscriber{n}").parse().unwrap(),
                "1.0.0".parse().unwrap(),
                "^0.1".parse().unwrap(),
            );
            manifest.subscriptions.push("bench.news".into());
            let id = host
                .add(manifest, Box::new(Counter(Arc::clone(&received))))
                .await
                .expect("add a subscriber");
            host.start(&id).await.expect("start a subscriber");
        }
    });
    let wait_for = |target: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        rt.block_on(async {
            while received.load(Ordering::Relaxed) < target {
                assert!(Instant::now() < deadline, "subscribers stopped receiving");
                tokio::task::yield_now().await;
            }
        });
    };

    let mut group = c.benchmark_group("event_broadcast_10");
    group.throughput(Throughput::Elements(1));
    // The publisher's side: queue one event for ten subscribers. Drained
    // between samples so queues never overflow.
    group.bench_function("publish_per_event", |b| {
        b.iter_custom(|iters| {
            let before = received.load(Ordering::Relaxed);
            let mut total = Duration::ZERO;
            for chunk in 0..iters.div_ceil(1000) {
                let n = (iters - chunk * 1000).min(1000);
                let started = Instant::now();
                for _ in 0..n {
                    let report = host.events().publish_bytes("bench.news", PAYLOAD).unwrap();
                    debug_assert_eq!(report.queued, SUBSCRIBERS);
                }
                total += started.elapsed();
                wait_for(before + (chunk * 1000 + n) * SUBSCRIBERS as u64);
            }
            total
        });
    });
    // End to end: publish in batches of 1000 (well under the queue
    // capacity, so nothing is dropped) and wait until all ten handled each.
    group.bench_function("delivered_to_all_per_event", |b| {
        b.iter_custom(|iters| {
            let mut target = received.load(Ordering::Relaxed);
            let started = Instant::now();
            for chunk in 0..iters.div_ceil(1000) {
                let n = (iters - chunk * 1000).min(1000);
                for _ in 0..n {
                    host.events().publish_bytes("bench.news", PAYLOAD).unwrap();
                }
                target += n * SUBSCRIBERS as u64;
                wait_for(target);
            }
            started.elapsed()
        });
    });
    group.finish();
    let lost: u64 = host
        .events()
        .stats()
        .iter()
        .map(|s| s.dropped_oldest + s.rejected)
        .sum();
    assert_eq!(lost, 0, "a bench queue overflowed");
    rt.block_on(host.shutdown());
    let _ = std::fs::remove_dir_all(&root);
}

criterion_group!(benches, event_broadcast);
criterion_main!(benches);
