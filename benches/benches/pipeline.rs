//! The orchestrator's cost: a 3-step pipeline of no-op handlers in a real
//! plugin library, against a hand-written chain of the same three calls,
//! sync and async; how that cost grows per step; runs per second on one
//! core.
//!
//! `cargo bench -p sharelife-benches --bench pipeline`. The overhead per
//! step is `(pipeline − hand-written) / 3` from the `noop_3` group; the
//! `steps` group shows it growing linearly with the step count.
//!
//! `noop_3/hand_written_timed_sync` is the floor for a run that times its
//! steps: the hand-written chain plus the N + 1 raw clock reads (the TSC,
//! through the `quanta` clock the orchestrator uses) that give each of N
//! steps its own duration. No report, policy or span: what any orchestrator
//! reporting per-step durations must add at least.
//!
//! `noop_3/hand_written_reported_sync` adds to that floor what returning a
//! report of the run asks of any orchestrator: a record per step (status,
//! attempts, ticks, output), on the heap because the step count is known
//! only at run time, each step reading its input from the record before
//! it, and the report handed back to the caller, who drops it. No span,
//! policy, capability decision or cancellation, and no input taken from
//! any step but the one before: the difference between it and
//! `pipeline_sync` is the pipeline's spans and its own machinery.
//!
//! On a shared machine, other processes move criterion's medians by tens
//! of percent between benchmarks measured seconds apart. So the bench ends
//! with a *paired* measurement: the four variants and the two floors in
//! alternating batches, keeping each one's fastest batch (the one least
//! disturbed), and prints the overhead per step, the runs per second and
//! how far the pipeline is above its floor from those.

mod pipeline_common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use sharelife_core::Buffer;
use sharelife_core::pipeline::StepStatus;

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
    let clock = quanta::Clock::new();
    g.bench_function("hand_written_timed_sync", |b| {
        b.iter(|| black_box(timed_chain(&h, noop, &clock, black_box(input))));
    });
    // Once before timing: the reported floor's records say what the
    // pipeline's report says for the same input, step by step.
    let (_, records) = reported_chain(&h, noop, &clock, input);
    let report = sync.run_sync(input).unwrap();
    let pipeline: Vec<_> = report
        .steps()
        .map(|s| {
            (
                s.status() == StepStatus::Completed,
                s.attempts(),
                s.output(),
            )
        })
        .collect();
    let floor: Vec<_> = records
        .iter()
        .map(|r| (r.completed, r.attempts, r.output.as_deref()))
        .collect();
    assert_eq!(floor, pipeline);
    g.bench_function("hand_written_reported_sync", |b| {
        b.iter(|| black_box(reported_chain(&h, noop, &clock, black_box(input))));
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

/// The hand-written chain, timed per step as a report needs: a clock read
/// at the start and one after each call.
fn timed_chain(
    h: &sharelife_core::PluginHandle,
    noop: sharelife_core::HandlerId,
    clock: &quanta::Clock,
    input: &[u8],
) -> ([Buffer; 3], [u64; 4]) {
    let mut ticks = [0; 4];
    ticks[0] = clock.raw();
    let mut a = Buffer::new();
    h.call(noop, input, &mut a).unwrap();
    ticks[1] = clock.raw();
    let mut b = Buffer::new();
    h.call(noop, &a, &mut b).unwrap();
    ticks[2] = clock.raw();
    let mut c = Buffer::new();
    h.call(noop, &b, &mut c).unwrap();
    ticks[3] = clock.raw();
    ([a, b, c], ticks)
}

/// One step's line in [`reported_chain`]'s report.
struct Record {
    completed: bool,
    attempts: u32,
    #[expect(
        dead_code,
        reason = "kept as a report keeps a step's duration; nothing here reads it"
    )]
    ticks: u64,
    output: Option<Buffer>,
}

/// The timed chain that also returns a report: the run's wall ticks and a
/// heap record per step, each step's output moved into its record and
/// read from there by the next step.
fn reported_chain(
    h: &sharelife_core::PluginHandle,
    noop: sharelife_core::HandlerId,
    clock: &quanta::Clock,
    input: &[u8],
) -> (u64, Vec<Record>) {
    let began = clock.raw();
    let mut records: Vec<Record> = Vec::with_capacity(3);
    let mut last = began;
    for i in 0..3 {
        let input = match i {
            0 => input,
            _ => records[i - 1].output.as_deref().unwrap_or_default(),
        };
        let mut out = Buffer::new();
        h.call(noop, input, &mut out).unwrap();
        let now = clock.raw();
        records.push(Record {
            completed: true,
            attempts: 1,
            ticks: now - last,
            output: Some(out),
        });
        last = now;
    }
    (last - began, records)
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

/// The four `noop_3` variants and the timed floor in alternating batches;
/// each one's fastest batch, in nanoseconds per run.
fn paired() {
    const BATCH: u32 = 20_000;
    const ROUNDS: usize = 150;
    let rt = pipeline_common::runtime();
    let (host, h) = pipeline_common::host(&rt);
    let sync = pipeline_common::chain(&host, &["noop"; 3]);
    let asynch = pipeline_common::chain(&host, &["noop_async"; 3]);
    let noop = h.handler("noop").unwrap();
    let noop_async = h.handler("noop_async").unwrap();
    let input: &[u8] = b"hello";
    let clock = quanta::Clock::new();
    let mut best = [f64::MAX; 6];
    for _ in 0..ROUNDS {
        // `f(n)` does `n` runs; the async ones share one `block_on`.
        let mut time = |k: usize, f: &mut dyn FnMut(u32)| {
            let start = Instant::now();
            f(BATCH);
            best[k] = best[k].min(start.elapsed().as_nanos() as f64 / f64::from(BATCH));
        };
        time(0, &mut |n| {
            for _ in 0..n {
                let mut a = Buffer::new();
                h.call(noop, black_box(input), &mut a).unwrap();
                let mut b = Buffer::new();
                h.call(noop, &a, &mut b).unwrap();
                let mut c = Buffer::new();
                h.call(noop, &b, &mut c).unwrap();
                black_box((a, b, c));
            }
        });
        time(1, &mut |n| {
            for _ in 0..n {
                black_box(sync.run_sync(black_box(input)).unwrap());
            }
        });
        time(2, &mut |n| {
            rt.block_on(async {
                for _ in 0..n {
                    let mut a = Buffer::new();
                    h.call_async(noop_async, black_box(input), &mut a)
                        .await
                        .unwrap();
                    let mut b = Buffer::new();
                    h.call_async(noop_async, &a, &mut b).await.unwrap();
                    let mut c = Buffer::new();
                    h.call_async(noop_async, &b, &mut c).await.unwrap();
                    black_box((a, b, c));
                }
            });
        });
        time(3, &mut |n| {
            rt.block_on(async {
                for _ in 0..n {
                    black_box(asynch.run(black_box(input)).await);
                }
            });
        });
        time(4, &mut |n| {
            for _ in 0..n {
                black_box(timed_chain(&h, noop, &clock, black_box(input)));
            }
        });
        time(5, &mut |n| {
            for _ in 0..n {
                black_box(reported_chain(&h, noop, &clock, black_box(input)));
            }
        });
    }
    let [hand, pipe, hand_async, pipe_async, floor, reported] = best;
    sharelife_benches::save_paired(
        "noop_3",
        &[
            ("hand_written_sync", hand),
            ("pipeline_sync", pipe),
            ("hand_written_async", hand_async),
            ("pipeline_async", pipe_async),
            ("hand_written_timed_sync", floor),
            ("hand_written_reported_sync", reported),
        ],
    );
    println!("paired (fastest of {ROUNDS} alternating batches of {BATCH} runs, one core):");
    println!(
        "  sync:  hand-written {hand:.1} ns, pipeline {pipe:.1} ns ({:.2}x) -> {:.1} ns/step overhead, {:.2} M runs/s",
        pipe / hand,
        (pipe - hand) / 3.0,
        1e3 / pipe
    );
    println!(
        "  floor: hand-written with the 4 clock reads of a timed run {floor:.1} ns: at best {:.2} of the chain's runs/s; the pipeline is {:.1} ns above it",
        hand / floor,
        pipe - floor
    );
    println!(
        "  floor with a report: the timed chain returning a record per step {reported:.1} ns: at best {:.2} of the chain's runs/s; the pipeline (its spans, policies, decisions) is {:.1} ns above it",
        hand / reported,
        pipe - reported
    );
    println!(
        "  async: hand-written {hand_async:.1} ns, pipeline {pipe_async:.1} ns ({:.2}x) -> {:.1} ns/step overhead, {:.2} M runs/s",
        pipe_async / hand_async,
        (pipe_async - hand_async) / 3.0,
        1e3 / pipe_async
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = noop_3, steps
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if sharelife_benches::extra_report_wanted("paired noop_3") {
        paired();
    }
}
