//! What a handler call costs on each road to the same plugin code.
//!
//! `example_echo::Echo` is linked into this executable as an rlib and also
//! loaded from its `cdylib`, so the same handler is measured
//!
//! * `direct` — `<Echo as Plugin>::call` on a concrete value: static
//!   dispatch, the floor;
//! * `box_dyn_plugin` — through a `Box<dyn Plugin>` holding an `Echo`: one
//!   virtual call;
//! * `dynamic_adapter` — through the `Box<dyn Plugin>` that
//!   `OpenLibrary::instantiate` returns for the loaded library: the raw
//!   dynamic path (adapter, `extern "C"` vtable, the plugin-side panic
//!   guard, the result crossing back as an `RResult`);
//! * `dynamic_host_handle` — through `PluginHandle::call` of a host that
//!   loaded and started the library: adds the version lookup through the
//!   swappable binding (what makes hot reload possible), the state check,
//!   the async handler check, the host-side panic guard and the per-call
//!   metrics with latency timing (two clock reads);
//! * `dynamic_host_handle_untimed` — the same with the host's call timing
//!   off (`HostBuilder::time_calls(false)`): counts only;
//! * `floor_adapter_swap_guard_count` — the floor of the host handle's
//!   design: `dynamic_adapter` reached through the hazard-pointer cell a
//!   binding keeps its version in (what lets hot reload swap versions
//!   under callers) with an exact call count (a load and a store: the
//!   handle counts in per-thread shards), and nothing else.
//!
//! `echo` copies 16 input bytes into the output buffer; `upper_*` repeat
//! the direct and dynamic roads with `upper`, which allocates a `String`
//! in the plugin. The output buffer is cleared before every call, so after
//! the first call no iteration allocates for it.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, criterion_group, measurement::WallTime};
use example_echo::Echo;
use sharelife_benches::{BenchDir, ECHO_CRATE, ECHO_ID};
use sharelife_core::__bench::HazardCell;
use sharelife_core::loader::PluginFile;
use sharelife_core::{
    Buffer, HandlerId, HasManifest, Host, Plugin, PluginContext, PluginError, PluginHandle,
};

/// The payload: 16 bytes of lower-case ASCII, valid input for both
/// handlers.
const INPUT: &[u8] = b"sixteen byte msg";

/// The same plugin on every road, set up once.
struct Roads {
    ctx: PluginContext,
    direct: Echo,
    boxed: Box<dyn Plugin>,
    dynamic: Box<dyn Plugin>,
    /// Another instance of the loaded library, behind what a handle's
    /// design needs at least: a swappable binding and a call count.
    guarded: HazardCell<Box<dyn Plugin>>,
    calls: AtomicU64,
    handle: PluginHandle,
    untimed: PluginHandle,
    // Kept alive for the handles; dropped (unloading their plugins) after.
    _host: Host,
    _untimed_host: Host,
    _runtime: tokio::runtime::Runtime,
    _dir: BenchDir,
}

impl Roads {
    fn new() -> Self {
        let dir = BenchDir::new("handler-call");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime");
        let ctx = dir.context(ECHO_ID);

        let raw_copy = dir.copy_library(ECHO_CRATE);
        let library = PluginFile::read(&raw_copy)
            .and_then(PluginFile::open)
            .expect("the echo library opens");
        let dynamic = library
            .instantiate(&ctx)
            .expect("the echo plugin is created");
        let guarded = library
            .instantiate(&ctx)
            .expect("a second echo plugin is created");
        for plugin in [&dynamic, &guarded] {
            runtime
                .block_on(plugin.initialize(&ctx))
                .expect("the echo plugin initializes");
        }

        let host = dir.host();
        let untimed_host = Host::builder()
            .data_root(dir.path().join("untimed-data"))
            .temp_root(dir.path().join("untimed-tmp"))
            .time_calls(false)
            .build()
            .expect("the host builds");
        let [handle, untimed] = [&host, &untimed_host].map(|host| {
            let copy = dir.copy_library(ECHO_CRATE);
            runtime.block_on(async {
                let id = host.load(&copy).await.expect("the host loads echo");
                host.start(id.as_str()).await.expect("the host starts echo");
                host.handle(id.as_str()).expect("echo is in the host")
            })
        });

        let direct = Echo::default();
        let boxed: Box<dyn Plugin> = Box::new(Echo::default());
        for plugin in [&direct as &dyn Plugin, &*boxed] {
            runtime
                .block_on(plugin.initialize(&ctx))
                .expect("echo initializes");
        }
        assert_eq!(
            Echo::manifest().handlers,
            handle.manifest().handlers,
            "the linked and the loaded echo have the same handlers, so handler ids mean the same on every road"
        );
        Roads {
            ctx,
            direct,
            boxed,
            dynamic,
            guarded: {
                let cell = HazardCell::new();
                cell.swap(Some(Arc::new(guarded)));
                cell
            },
            calls: AtomicU64::new(0),
            handle,
            untimed,
            _host: host,
            _untimed_host: untimed_host,
            _runtime: runtime,
            _dir: dir,
        }
    }

    /// The floor road: the guard, the count, the adapter's call.
    #[inline]
    fn guarded_call(
        &self,
        handler: HandlerId,
        input: &[u8],
        out: &mut Buffer,
    ) -> Result<(), PluginError> {
        let plugin = self.guarded.load().expect("the cell holds the plugin");
        // An exact count with one writer, as the handle's per-thread
        // shards keep it: a load and a store, no read-modify-write.
        let n = self.calls.load(Ordering::Relaxed);
        self.calls.store(n + 1, Ordering::Relaxed);
        plugin.call(&self.ctx, handler, input, out)
    }

    fn handler(&self, name: &str) -> HandlerId {
        self.handle.handler(name).expect("echo has the handler")
    }
}

/// Benchmarks `call`, first checking that it produces `expected`, so a
/// road that fails fast is not measured as a fast road.
fn bench_call(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    expected: &[u8],
    mut call: impl FnMut(&[u8], &mut Buffer) -> Result<(), PluginError>,
) {
    let mut out = Buffer::with_capacity(64);
    call(INPUT, &mut out).unwrap_or_else(|e| panic!("{name}: the call fails: {e}"));
    assert_eq!(out.as_slice(), expected, "{name}: wrong output");
    group.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            call(black_box(INPUT), &mut out)
        });
    });
}

fn handler_call(c: &mut Criterion) {
    let roads = Roads::new();
    let ctx = &roads.ctx;
    let echo = roads.handler("echo");
    let upper = roads.handler("upper");
    let shouted = INPUT.to_ascii_uppercase();

    let mut group = c.benchmark_group("handler_call");
    bench_call(&mut group, "direct", INPUT, |input, out| {
        <Echo as Plugin>::call(black_box(&roads.direct), ctx, black_box(echo), input, out)
    });
    bench_call(&mut group, "box_dyn_plugin", INPUT, |input, out| {
        black_box(&roads.boxed).call(ctx, black_box(echo), input, out)
    });
    bench_call(&mut group, "dynamic_adapter", INPUT, |input, out| {
        black_box(&roads.dynamic).call(ctx, black_box(echo), input, out)
    });
    bench_call(&mut group, "dynamic_host_handle", INPUT, |input, out| {
        black_box(&roads.handle).call(black_box(echo), input, out)
    });
    bench_call(
        &mut group,
        "floor_adapter_swap_guard_count",
        INPUT,
        |input, out| black_box(&roads).guarded_call(black_box(echo), input, out),
    );
    bench_call(
        &mut group,
        "dynamic_host_handle_untimed",
        INPUT,
        |input, out| black_box(&roads.untimed).call(black_box(echo), input, out),
    );
    bench_call(&mut group, "upper_direct", &shouted, |input, out| {
        <Echo as Plugin>::call(black_box(&roads.direct), ctx, black_box(upper), input, out)
    });
    bench_call(
        &mut group,
        "upper_dynamic_adapter",
        &shouted,
        |input, out| black_box(&roads.dynamic).call(ctx, black_box(upper), input, out),
    );
    group.finish();
}

/// `direct`, `dynamic_adapter` and `dynamic_host_handle` in alternating
/// batches, each one's fastest batch: on a shared machine the criterion
/// medians of benches measured seconds apart move by tens of percent, the
/// fastest of interleaved batches much less.
fn paired() {
    const BATCH: u32 = 50_000;
    const ROUNDS: usize = 100;
    let roads = Roads::new();
    let ctx = &roads.ctx;
    let echo = roads.handler("echo");
    let mut out = Buffer::with_capacity(64);
    let mut best = [f64::MAX; 4];
    for _ in 0..ROUNDS {
        // `f(n)` makes `n` calls.
        let mut time = |k: usize, f: &mut dyn FnMut(u32)| {
            let start = std::time::Instant::now();
            f(BATCH);
            best[k] = best[k].min(start.elapsed().as_nanos() as f64 / f64::from(BATCH));
        };
        time(0, &mut |n| {
            for _ in 0..n {
                out.clear();
                let r = <Echo as Plugin>::call(
                    black_box(&roads.direct),
                    ctx,
                    black_box(echo),
                    black_box(INPUT),
                    &mut out,
                );
                black_box(r).expect("the call works");
            }
        });
        time(1, &mut |n| {
            for _ in 0..n {
                out.clear();
                let r = black_box(&roads.dynamic).call(
                    ctx,
                    black_box(echo),
                    black_box(INPUT),
                    &mut out,
                );
                black_box(r).expect("the call works");
            }
        });
        time(2, &mut |n| {
            for _ in 0..n {
                out.clear();
                let r = black_box(&roads.handle).call(black_box(echo), black_box(INPUT), &mut out);
                black_box(r).expect("the call works");
            }
        });
        time(3, &mut |n| {
            for _ in 0..n {
                out.clear();
                let r = black_box(&roads).guarded_call(black_box(echo), black_box(INPUT), &mut out);
                black_box(r).expect("the call works");
            }
        });
    }
    let [direct, adapter, handle, floor] = best;
    sharelife_benches::save_paired(
        "handler_call",
        &[
            ("direct", direct),
            ("dynamic_adapter", adapter),
            ("dynamic_host_handle", handle),
            ("floor_adapter_swap_guard_count", floor),
        ],
    );
    println!("paired (fastest of {ROUNDS} alternating batches of {BATCH} calls):");
    println!(
        "  direct {direct:.1} ns, dynamic_adapter {adapter:.1} ns ({:.2}x), dynamic_host_handle {handle:.1} ns ({:.2}x)",
        adapter / direct,
        handle / direct
    );
    println!(
        "  floor of the handle's design (adapter + hazard-protected load + exact count) {floor:.1} ns ({:.2}x)",
        floor / direct
    );
}

criterion_group! {
    name = benches;
    // Calls take nanoseconds: a few seconds per road give tight intervals
    // and keep the whole suite within a few minutes on two cores.
    config = Criterion::default()
        .sample_size(60)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        // Plotting takes seconds per bench; ask for plots with
        // `-- --plotting-backend plotters`.
        .without_plots();
    targets = handler_call
}
fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if sharelife_benches::extra_report_wanted("paired handler_call") {
        paired();
    }
}
