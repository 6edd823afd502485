//! A realistic pipeline: a ~1 KiB JSON document through three transforms
//! (enrich, redact, summarize), each parsing and writing JSON in a real
//! plugin library, against the same three calls written by hand.
//!
//! `cargo bench -p sharelife-benches --bench pipeline_realistic`. Copy
//! this file to bench your own pipeline: change the handlers and the
//! input.

mod pipeline_common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sharelife_core::Buffer;

/// A chat transcript of about 1 KiB.
fn document() -> Vec<u8> {
    let messages: Vec<_> = (0..10)
        .map(|i| {
            serde_json::json!({
                "from": format!("user{i}"),
                "email": format!("user{i}@example.com"),
                "text": "the quick brown fox jumps over the lazy dog",
            })
        })
        .collect();
    let doc = serde_json::json!({
        "id": "conversation-42",
        "channel": "support",
        "messages": messages,
    });
    serde_json::to_vec(&doc).unwrap()
}

fn json_3(c: &mut Criterion) {
    let rt = pipeline_common::runtime();
    let (host, h) = pipeline_common::host(&rt);
    let pipeline = pipeline_common::chain(&host, &["enrich", "redact", "summarize"]);
    let [enrich, redact, summarize] =
        ["enrich", "redact", "summarize"].map(|n| h.handler(n).unwrap());
    let input = document();
    assert!((900..=1200).contains(&input.len()), "{} bytes", input.len());

    let mut g = c.benchmark_group("json_1k_3");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("hand_written_sync", |b| {
        b.iter(|| {
            let mut a = Buffer::new();
            h.call(enrich, black_box(&input), &mut a).unwrap();
            let mut b2 = Buffer::new();
            h.call(redact, &a, &mut b2).unwrap();
            let mut c3 = Buffer::new();
            h.call(summarize, &b2, &mut c3).unwrap();
            black_box((a, b2, c3))
        });
    });
    g.bench_function("pipeline_sync", |b| {
        b.iter(|| black_box(pipeline.run_sync(black_box(&input)).unwrap()));
    });
    g.bench_function("pipeline_async", |b| {
        b.to_async_runtime(&rt, &pipeline, &input);
    });
    g.finish();

    let report = pipeline.run_sync(&input).unwrap();
    let summary: serde_json::Value =
        serde_json::from_slice(report.final_output().unwrap()).unwrap();
    assert_eq!(summary["messages"], 10);
    assert_eq!(summary["stage"], "enriched");
}

/// Runs the pipeline asynchronously on `rt` for criterion.
trait AsyncRuns {
    fn to_async_runtime(
        &mut self,
        rt: &tokio::runtime::Runtime,
        pipeline: &sharelife_core::Pipeline,
        input: &[u8],
    );
}

impl AsyncRuns for criterion::Bencher<'_> {
    fn to_async_runtime(
        &mut self,
        rt: &tokio::runtime::Runtime,
        pipeline: &sharelife_core::Pipeline,
        input: &[u8],
    ) {
        self.iter_custom(|iters| {
            rt.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    black_box(pipeline.run(black_box(input)).await);
                }
                start.elapsed()
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = json_3
}
criterion_main!(benches);
