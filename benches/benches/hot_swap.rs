//! What a hot reload costs, measured while another thread calls the
//! plugin as fast as it can (millions of calls a second; the target is
//! "under 100 k calls/s" and the run asserts at least that rate), and
//! checking that none of those calls fails.
//!
//! * `hot_swap/swap` — [`SwapReport::swap`](sharelife_core::SwapReport):
//!   from the new version being ready to it being the one calls reach;
//! * `hot_swap/reload` — the whole `Host::reload` (build excluded): read,
//!   check, `dlopen`, initialize, state handed over, start, swap, then
//!   waiting for the old version's calls in flight, its stop, cleanup and
//!   `dlclose`;
//! * `hot_swap/bare_dlopen_dlclose` — the baseline: `libloading` opening
//!   and closing a copy of the same library.
//!
//! Each iteration reloads `examples.echo` from a copy of its library not
//! open at the time (a ring of copies made up front, so copying is never
//! timed). Call the swappable handle's cost per call `handler_call`'s
//! `dynamic_host_handle`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sharelife_benches::{BenchDir, ECHO_CRATE, ECHO_ID, LibraryPool, assert_unmapped, bare_dlopen};
use sharelife_core::{Buffer, Host};

/// Calls `echo` in a loop on another thread, counting successes and
/// failures, until stopped.
struct Caller {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    first_failure: Arc<parking_lot::Mutex<Option<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    started: Instant,
}

impl Caller {
    fn start(host: &Host) -> Self {
        let handle = host.handle(ECHO_ID).expect("echo is loaded");
        let echo = handle.handler("echo").expect("echo has `echo`");
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let first_failure = Arc::new(parking_lot::Mutex::new(None));
        let thread = {
            let (stop, ok, failed, first_failure) = (
                Arc::clone(&stop),
                Arc::clone(&ok),
                Arc::clone(&failed),
                Arc::clone(&first_failure),
            );
            std::thread::spawn(move || {
                let mut out = Buffer::new();
                let (mut n_ok, mut n_failed) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    out.clear();
                    match handle.call(echo, black_box(b"sixteen byte msg"), &mut out) {
                        Ok(()) => n_ok += 1,
                        Err(e) => {
                            n_failed += 1;
                            first_failure.lock().get_or_insert_with(|| e.to_string());
                        }
                    }
                    if (n_ok + n_failed) % 1024 == 0 {
                        ok.store(n_ok, Ordering::Relaxed);
                        failed.store(n_failed, Ordering::Relaxed);
                    }
                }
                ok.store(n_ok, Ordering::Relaxed);
                failed.store(n_failed, Ordering::Relaxed);
            })
        };
        Caller {
            stop,
            ok,
            failed,
            first_failure,
            thread: Some(thread),
            started: Instant::now(),
        }
    }

    /// Stops the caller and checks the run: no failed call, and at least
    /// 100 k calls a second.
    fn finish(mut self, reloads: u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("the caller thread");
        }
        let elapsed = self.started.elapsed();
        let ok = self.ok.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        let rate = ok as f64 / elapsed.as_secs_f64();
        eprintln!(
            "hot_swap: {reloads} reloads under {ok} calls in {:.1} s ({:.2} M calls/s), {failed} failed",
            elapsed.as_secs_f64(),
            rate / 1e6
        );
        assert_eq!(
            failed,
            0,
            "calls failed during reloads; first: {:?}",
            self.first_failure.lock()
        );
        assert!(rate >= 100_000.0, "only {rate:.0} calls/s");
    }
}

fn hot_swap(c: &mut Criterion) {
    let dir = BenchDir::new("hot-swap");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let host = dir.host();
    let mut pool = LibraryPool::new(&dir, ECHO_CRATE, 8);
    runtime.block_on(async {
        host.load(pool.next_copy()).await.expect("echo loads");
        host.start(ECHO_ID).await.expect("echo starts");
    });
    let caller = Caller::start(&host);
    let mut reloads = 0u64;

    let mut group = c.benchmark_group("hot_swap");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("swap", |b| {
        b.iter_custom(|iters| {
            let mut swapping = Duration::ZERO;
            for _ in 0..iters {
                let path = pool.next_copy().to_owned();
                let report = runtime
                    .block_on(host.reload(ECHO_ID, &path))
                    .expect("the reload succeeds");
                assert!(report.retired.closed, "{report:?}");
                swapping += report.swap;
                reloads += 1;
            }
            swapping
        });
    });
    group.bench_function("reload", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let path = pool.next_copy().to_owned();
                let started = Instant::now();
                let report = runtime
                    .block_on(host.reload(ECHO_ID, &path))
                    .expect("the reload succeeds");
                total += started.elapsed();
                assert!(report.retired.closed, "{report:?}");
                if let Some(old) = &report.retired.library {
                    assert_unmapped(old);
                }
                reloads += 1;
            }
            total
        });
    });
    let mut baseline_pool = LibraryPool::new(&dir, ECHO_CRATE, 8);
    group.bench_function("bare_dlopen_dlclose", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let path = baseline_pool.next_copy().to_owned();
                let started = Instant::now();
                let library = bare_dlopen(&path);
                library.close().expect("dlclose");
                total += started.elapsed();
                assert_unmapped(&path);
            }
            total
        });
    });
    group.finish();
    caller.finish(reloads);
    runtime.block_on(host.shutdown());
}

criterion_group!(benches, hot_swap);
criterion_main!(benches);
