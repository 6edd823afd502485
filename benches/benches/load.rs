//! What loading a plugin library costs, against a bare `dlopen` of the
//! same file measured in the same run, and what closing it costs.
//!
//! Group `load` times the way in:
//!
//! * `bare_dlopen` — `libloading::Library::new`: the platform's `dlopen`
//!   (mapping, relocation, the library's initializers), the floor;
//! * `read_check_open_instantiate_initialize` — the loader's raw path:
//!   `PluginFile::read` (manifest from the `.sharelife` section, validated),
//!   `open` (compatibility, `dlopen`, header and layout checks),
//!   `instantiate`, and the plugin's `initialize` hook awaited;
//! * `host_load` — `Host::load`: the same plus the duplicate-id check, the
//!   plugin's directories and its slot in the lifecycle table.
//!
//! Group `unload` times the way out of each: `bare_dlclose`,
//! `drop_plugin_and_library` (the plugin's `drop` across the boundary,
//! then `dlclose`), and `host_unload` (`cleanup`, `dlclose`, the temp
//! directory removed and the unmapping checked).
//!
//! Group `load_phases` times each step of the loader's raw path on its
//! own, still on a library not open before: `file_read`, `open`,
//! `instantiate`, `initialize`. `open` minus `bare_dlopen` is what the
//! loader's checks add to the platform's `dlopen` (almost all of it
//! abi_stable's structural check of the `PluginModule` layout).
//!
//! After criterion's groups, `--bench` runs (filter `paired`) also print a
//! **paired** measurement: `bare_dlopen`, the loader's raw path and
//! `host_load` one after the other in each of many rounds, with the
//! median of each and their ratios, saved for `scripts/bench-table`.
//! Criterion measures the groups seconds apart, and on a shared machine
//! the `host_load ÷ bare_dlopen` ratio of its medians moves by tens of
//! percent from run to run; the ratio of neighbours in time moves much
//! less.
//!
//! Every iteration opens a library and closes it before the next one, and
//! checks (untimed) that the platform really unmapped it, so that every
//! measured open maps the file afresh instead of bumping a reference count.
//! The files are copies made before measuring, taken in turn from a pool.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group};
use sharelife_benches::{BenchDir, ECHO_CRATE, ECHO_ID, LibraryPool, assert_unmapped, bare_dlopen};
use sharelife_core::loader::{OpenLibrary, PluginFile};
use sharelife_core::{Host, Plugin, PluginContext};

/// How many copies of the library each bench cycles through.
const POOL: usize = 8;

/// Everything the load benches share.
struct Setup {
    runtime: tokio::runtime::Runtime,
    pool: LibraryPool,
    ctx: PluginContext,
    host: Host,
    // Removed last: it holds the copies and the plugins' directories.
    _dir: BenchDir,
}

impl Setup {
    fn new() -> Self {
        let dir = BenchDir::new("load");
        Setup {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a tokio runtime"),
            pool: LibraryPool::new(&dir, ECHO_CRATE, POOL),
            ctx: dir.context(ECHO_ID),
            host: dir.host(),
            _dir: dir,
        }
    }
}

/// The steps of [`raw_load`], named as in group `load_phases`.
const STEPS: [&str; 4] = ["file_read", "open", "instantiate", "initialize"];

/// How long each of the [`STEPS`] took.
struct Phases([Duration; 4]);

impl Phases {
    fn total(&self) -> Duration {
        self.0.iter().sum()
    }
}

/// The loader's raw path on a library not open yet, timing each step.
async fn raw_load(path: &Path, ctx: &PluginContext) -> ((OpenLibrary, Box<dyn Plugin>), Phases) {
    let t0 = Instant::now();
    let file = PluginFile::read(path).expect("the echo manifest reads");
    let t1 = Instant::now();
    let library = file.open().expect("the echo library opens");
    let t2 = Instant::now();
    let plugin = library
        .instantiate(ctx)
        .expect("the echo plugin is created");
    let t3 = Instant::now();
    plugin
        .initialize(ctx)
        .await
        .expect("the echo plugin initializes");
    let t4 = Instant::now();
    (
        (library, plugin),
        Phases([t1 - t0, t2 - t1, t3 - t2, t4 - t3]),
    )
}

async fn host_unload(host: &Host) {
    let report = host.unload(ECHO_ID).await.expect("echo unloads");
    assert!(
        report.closed && report.still_mapped == Some(false),
        "echo was not unmapped: {report:?}"
    );
}

fn load(c: &mut Criterion) {
    let mut s = Setup::new();
    let mut group = c.benchmark_group("load");
    // Each iteration takes hundreds of microseconds: flat sampling, fewer
    // samples.
    group.sampling_mode(SamplingMode::Flat).sample_size(30);

    group.bench_function("bare_dlopen", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let path = s.pool.next_copy();
                let start = Instant::now();
                let library = bare_dlopen(path);
                timed += start.elapsed();
                library.close().expect("dlclose of the echo library");
                assert_unmapped(path);
            }
            timed
        });
    });

    // Cold: the first load of a build in this process, with abi_stable's
    // full structural layout check. Warm: another copy of a build already
    // checked in this process (the check is remembered by its build id).
    for (name, cold) in [
        ("read_check_open_instantiate_initialize_cold", true),
        ("read_check_open_instantiate_initialize", false),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                s.runtime.block_on(async {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let path = s.pool.next_copy();
                        if cold {
                            sharelife_core::loader::forget_checked_layouts();
                        }
                        let (loaded, phases) = raw_load(path, &s.ctx).await;
                        timed += phases.total();
                        drop(loaded);
                        assert_unmapped(path);
                    }
                    timed
                })
            });
        });
    }

    group.bench_function("host_load", |b| {
        b.iter_custom(|iters| {
            s.runtime.block_on(async {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let path = s.pool.next_copy();
                    let start = Instant::now();
                    let id = s.host.load(path).await.expect("the host loads echo");
                    timed += start.elapsed();
                    assert_eq!(id.as_str(), ECHO_ID);
                    host_unload(&s.host).await;
                }
                timed
            })
        });
    });
    group.finish();

    let mut group = c.benchmark_group("unload");
    group.sampling_mode(SamplingMode::Flat).sample_size(30);

    group.bench_function("bare_dlclose", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let path = s.pool.next_copy();
                let library = bare_dlopen(path);
                let start = Instant::now();
                library.close().expect("dlclose of the echo library");
                timed += start.elapsed();
                assert_unmapped(path);
            }
            timed
        });
    });

    group.bench_function("drop_plugin_and_library", |b| {
        b.iter_custom(|iters| {
            s.runtime.block_on(async {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let path = s.pool.next_copy();
                    let ((library, plugin), _) = raw_load(path, &s.ctx).await;
                    let start = Instant::now();
                    drop(plugin);
                    drop(library);
                    timed += start.elapsed();
                    assert_unmapped(path);
                }
                timed
            })
        });
    });

    group.bench_function("host_unload", |b| {
        b.iter_custom(|iters| {
            s.runtime.block_on(async {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let path = s.pool.next_copy();
                    s.host.load(path).await.expect("the host loads echo");
                    let start = Instant::now();
                    host_unload(&s.host).await;
                    timed += start.elapsed();
                }
                timed
            })
        });
    });
    group.finish();
}

fn load_phases(c: &mut Criterion) {
    let mut s = Setup::new();
    let mut group = c.benchmark_group("load_phases");
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    for (step, name) in STEPS.into_iter().enumerate() {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                s.runtime.block_on(async {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let path = s.pool.next_copy();
                        let (loaded, phases) = raw_load(path, &s.ctx).await;
                        timed += phases.0[step];
                        drop(loaded);
                        assert_unmapped(path);
                    }
                    timed
                })
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        // Plotting takes seconds per bench; ask for plots with
        // `-- --plotting-backend plotters`.
        .without_plots();
    targets = load, load_phases
}

/// `bare_dlopen`, the raw path and `host_load` in turn, round after round;
/// prints and saves each one's median (see `save_paired`).
fn paired() {
    const ROUNDS: usize = 1_500;
    let mut s = Setup::new();
    let mut bare = Vec::with_capacity(ROUNDS);
    let mut raw = Vec::with_capacity(ROUNDS);
    let mut hosted = Vec::with_capacity(ROUNDS);
    s.runtime.block_on(async {
        for _ in 0..ROUNDS {
            let path = s.pool.next_copy();
            let start = Instant::now();
            let library = bare_dlopen(path);
            bare.push(start.elapsed().as_secs_f64());
            library.close().expect("dlclose of the echo library");
            assert_unmapped(path);

            let path = s.pool.next_copy();
            let (loaded, phases) = raw_load(path, &s.ctx).await;
            raw.push(phases.total().as_secs_f64());
            drop(loaded);
            assert_unmapped(path);

            let path = s.pool.next_copy();
            let start = Instant::now();
            s.host.load(path).await.expect("the host loads echo");
            hosted.push(start.elapsed().as_secs_f64());
            host_unload(&s.host).await;
        }
    });
    let (bare, raw, hosted) = (
        sharelife_benches::median(bare),
        sharelife_benches::median(raw),
        sharelife_benches::median(hosted),
    );
    sharelife_benches::save_paired(
        "load",
        &[
            ("bare_dlopen", bare * 1e9),
            ("read_check_open_instantiate_initialize", raw * 1e9),
            ("host_load", hosted * 1e9),
        ],
    );
    println!("paired (medians of {ROUNDS} rounds, each: bare_dlopen, raw path, host_load):");
    println!(
        "  bare_dlopen {:.1} µs, raw path {:.1} µs ({:.2}x), host_load {:.1} µs ({:.2}x)",
        bare * 1e6,
        raw * 1e6,
        raw / bare,
        hosted * 1e6,
        hosted / bare,
    );
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if sharelife_benches::extra_report_wanted("paired load host_load bare_dlopen") {
        paired();
    }
}
