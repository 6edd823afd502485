//! The orchestrator's cost: a 3-step pipeline of no-op handlers in a real
//! plugin library, against a hand-written chain of the same three calls,
//! sync and async; how that cost grows per step; runs per second on one
//! core.
//!
//! `cargo bench -p sharelife-benches --bench pipeline`. The overhead per
//! step is `(pipeline − hand-written) / 3` from the `noop_3` group; the
//! `steps` group shows it growing linearly with the step count.

mod pipeline_common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sharelife_core::Buffer;

fn noop_3(c: &mut Criterion) {
    let rt = pipeline_common::runtime();
    let (host, h) = pipeline_common::host(&rt);
    let sync = pipeline_common::chain(&host, &["noop"; 3]);
    let asynch = pipeline_common::chain(&host, &["noop_async"; 3]);
    let noop = h.handler("noop").unwrap();
    let noop_async = h.handler("noop_async").unwrap();
    let input = b"hello";

    let mut g = c.benchmark_group("noop_3");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hand_written_sync", |b| {
        b.iter(|| {
            // What a host author would write: three calls, each reading
            // the last one's output.
            let mut a = Buffer::new();
            h.call(noop, black_box(input), &mut a).unwrap();
            let mut b2 = Buffer::new();
            h.call(noop, &a, &mut b2).unwrap();
            let mut c3 = Buffer::new();
            h.call(noop, &b2, &mut c3).unwrap();
            black_box((a, b2, c3))
        });
    });
    g.bench_function("pipeline_sync", |b| {
        b.iter(|| black_box(sync.run_sync(black_box(input)).unwrap()));
    });
    g.bench_function("hand_written_async", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut a = Buffer::new();
                    h.call_async(noop_async, black_box(input), &mut a)
                        .await
                        .unwrap();
                    let mut b2 = Buffer::new();
                    h.call_async(noop_async, &a, &mut b2).await.unwrap();
                    let mut c3 = Buffer::new();
                    h.call_async(noop_async, &b2, &mut c3).await.unwrap();
                    black_box((a, b2, c3));
                }
                start.elapsed()
            })
        });
    });
    g.bench_function("pipeline_async", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(asynch.run(black_box(input)).await);
                }
                start.elapsed()
            })
        });
    });
    g.finish();
}

fn steps(c: &mut Criterion) {
    let rt = pipeline_common::runtime();
    let (host, _h) = pipeline_common::host(&rt);
    let mut g = c.benchmark_group("steps");
    for n in [1usize, 3, 9] {
        let p = pipeline_common::chain(&host, &vec!["noop"; n]);
        g.bench_function(format!("pipeline_sync_{n}"), |b| {
            b.iter(|| black_box(p.run_sync(black_box(b"x")).unwrap()));
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = noop_3, steps
}
criterion_main!(benches);
