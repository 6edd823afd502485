//! Booting a host over a folder of 100 plugins (discover, resolve, open,
//! initialize, start), against 100 bare `dlopen`s of the same files.
//!
//! The folder holds 100 copies of the echo example, each patched to a
//! distinct id of the same length (`examples.e000` ... `examples.e099`):
//! the id lives in the `.sharelife` section *and* in the module's manifest
//! string, and the loader refuses a library whose two copies differ, so
//! every occurrence is patched alike. Each copy is a file of its own, so
//! each `dlopen` maps a library of its own.
//!
//! Nothing but the boot (or the dlopens) is timed: building the host and
//! shutting it down (which closes every library) run between measurements.
//!
//! `floor_100_loader_read_open_instantiate_initialize_start` is the same
//! 100 plugins brought up by the loader alone, with no host: read each
//! file's manifest, open it (`dlopen` and the loader's checks), create,
//! initialize and start the plugin. It is what any boot must do for these
//! libraries; the boot minus it is the host's own part (the folder scan,
//! resolution, directories, registry, states).
//!
//! `--bench` runs (filter `paired`) end with a **paired** measurement: the
//! boot, the 100 bare `dlopen`s and the loader floor one after the other
//! in each round, with the median of each and their ratios to the
//! `dlopen`s, steadier than the ratio of criterion's medians measured
//! seconds apart on a shared machine.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use sharelife_benches::bare_dlopen;
use sharelife_core::loader::PluginFile;
use sharelife_core::{ContextData, Host, PluginContext};

const PLUGINS: usize = 100;
const ECHO_ID: &[u8] = br#""id":"examples.echo""#;

fn echo_library() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its executable");
    let file = format!(
        "{}example_echo{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let path = exe.parent().expect("a directory").join(file);
    assert!(
        path.exists(),
        "{} was not built; run `cargo bench`",
        path.display()
    );
    path
}

/// Writes `PLUGINS` copies of the echo library with distinct ids into
/// `folder`.
fn stage(folder: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(folder).expect("create the plugin folder");
    let original = std::fs::read(echo_library()).expect("read the echo library");
    let at: Vec<usize> = original
        .windows(ECHO_ID.len())
        .enumerate()
        .filter(|(_, w)| *w == ECHO_ID)
        .map(|(i, _)| i)
        .collect();
    assert!(
        at.len() >= 2,
        "expected the id in the section and in the module"
    );
    (0..PLUGINS)
        .map(|n| {
            let mut bytes = original.clone();
            let id = format!(r#""id":"examples.e{n:03}""#);
            assert_eq!(id.len(), ECHO_ID.len(), "same length, so no offset moves");
            for &i in &at {
                bytes[i..i + ECHO_ID.len()].copy_from_slice(id.as_bytes());
            }
            let path = folder.join(format!(
                "{}echo_{n:03}.{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_EXTENSION
            ));
            std::fs::write(&path, bytes).expect("write a plugin copy");
            path
        })
        .collect()
}

/// The staged folder, its files and a runtime.
struct Setup {
    root: PathBuf,
    folder: PathBuf,
    files: Vec<PathBuf>,
    rt: tokio::runtime::Runtime,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let root =
            std::env::temp_dir().join(format!("sharelife-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let folder = root.join("plugins");
        let files = stage(&folder);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        Setup {
            root,
            folder,
            files,
            rt,
        }
    }

    /// A host over the folder, not booted.
    fn host(&self) -> Host {
        Host::builder()
            .plugin_path(&self.folder)
            .data_root(self.root.join("data"))
            .temp_root(self.root.join("tmp"))
            .build()
            .expect("host builds")
    }

    /// One boot of a new host, timed; the host is shut down after.
    fn boot(&self) -> Duration {
        let host = self.host();
        let started = Instant::now();
        let report = self.rt.block_on(host.boot()).expect("boot");
        let took = started.elapsed();
        debug_assert_eq!(report.started.len(), PLUGINS);
        self.rt.block_on(host.shutdown());
        took
    }

    /// The 100 bare `dlopen`s, timed; closed after.
    fn bare(&self) -> Duration {
        let started = Instant::now();
        let libraries: Vec<_> = self.files.iter().map(|f| bare_dlopen(f)).collect();
        let took = started.elapsed();
        drop(libraries);
        took
    }

    /// The loader floor, timed; dropped after.
    fn floor(&self) -> Duration {
        let started = Instant::now();
        let plugins = self.rt.block_on(load_each(&self.files, &self.root));
        let took = started.elapsed();
        drop(plugins);
        took
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn boot_100(c: &mut Criterion) {
    let s = Setup::new("boot");
    let rt = &s.rt;

    // Once, outside the measurements: the boot really starts 100 plugins.
    let check = s.host();
    let report = rt.block_on(check.boot()).expect("boot");
    assert_eq!(report.started.len(), PLUGINS, "{report}");
    eprintln!("one boot, by phase: {:?}", report.timings);
    let shutdown = rt.block_on(check.shutdown());
    assert!(shutdown.unloaded.iter().all(|u| u.closed));

    let mut group = c.benchmark_group("boot_100");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("sharelife_discover_resolve_load_start", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| s.boot()).sum());
    });
    group.bench_function("baseline_100_bare_dlopens", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| s.bare()).sum());
    });
    group.bench_function(
        "floor_100_loader_read_open_instantiate_initialize_start",
        |b| {
            b.iter_custom(|iters| (0..iters).map(|_| s.floor()).sum());
        },
    );
    group.finish();
}

/// The boot, the bare `dlopen`s and the floor in turn, round after round;
/// prints and saves each one's median (see `save_paired`).
fn paired() {
    const ROUNDS: usize = 40;
    let s = Setup::new("boot-paired");
    let (mut boot, mut bare, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        bare.push(s.bare().as_secs_f64());
        floor.push(s.floor().as_secs_f64());
        boot.push(s.boot().as_secs_f64());
    }
    let (bare, floor, boot) = (
        sharelife_benches::median(bare),
        sharelife_benches::median(floor),
        sharelife_benches::median(boot),
    );
    sharelife_benches::save_paired(
        "boot_100",
        &[
            ("baseline_100_bare_dlopens", bare * 1e9),
            (
                "floor_100_loader_read_open_instantiate_initialize_start",
                floor * 1e9,
            ),
            ("sharelife_discover_resolve_load_start", boot * 1e9),
        ],
    );
    println!("paired (medians of {ROUNDS} rounds, each: 100 bare dlopens, loader floor, boot):");
    println!(
        "  100 bare dlopens {:.2} ms, loader floor {:.2} ms ({:.2}x), boot {:.2} ms ({:.2}x)",
        bare * 1e3,
        floor * 1e3,
        floor / bare,
        boot * 1e3,
        boot / bare,
    );
}

/// Each library brought up by the loader alone: read, open, instantiate,
/// initialize, start; what a boot must do for it, with no host around.
async fn load_each(
    files: &[PathBuf],
    root: &Path,
) -> Vec<(
    sharelife_core::loader::OpenLibrary,
    Box<dyn sharelife_core::Plugin>,
)> {
    let mut plugins = Vec::with_capacity(files.len());
    for file in files {
        let file = PluginFile::read(file).expect("the manifest reads");
        let id = file.manifest().id.to_string();
        let ctx = PluginContext::local(ContextData {
            data_dir: root.join("floor-data").join(&id),
            temp_dir: root.join("floor-tmp").join(&id),
            plugin_id: id,
            config: Default::default(),
        });
        let library = file.open().expect("the library opens");
        let plugin = library.instantiate(&ctx).expect("the plugin is created");
        plugin
            .initialize(&ctx)
            .await
            .expect("the plugin initializes");
        plugin.start(&ctx).await.expect("the plugin starts");
        plugins.push((library, plugin));
    }
    plugins
}

criterion_group!(benches, boot_100);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if sharelife_benches::extra_report_wanted("paired boot_100") {
        paired();
    }
}
