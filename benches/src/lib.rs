//! Setup shared by the sharelife benches: the real plugin library cargo
//! built, private copies of it, and hosts and contexts with private
//! directories.
//!
//! `example-echo` is a dev-dependency of this crate, so `cargo bench` builds
//! its `cdylib` into `target/release/deps/`, next to the bench executables.
//! The benches `dlopen` copies of that file for real: a copy has a path of
//! its own, so opening it maps a library of its own instead of bumping the
//! reference count of one that is already open.
//!
//! Nothing here is timed; it runs before and between measurements.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sharelife_core::{ContextData, Host, PluginContext};

/// The crate of the plugin the benches load.
pub const ECHO_CRATE: &str = "example-echo";

/// The id in that plugin's manifest.
pub const ECHO_ID: &str = "examples.echo";

/// The built library of crate `name` (e.g. `example-echo`), found next to
/// the running executable.
///
/// # Panics
///
/// When the library was not built (run the benches through `cargo bench`).
pub fn built_library(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its executable");
    let deps = exe.parent().expect("the executable is in a directory");
    let file = library_file_name(&name.replace('-', "_"));
    let path = deps.join(file);
    assert!(
        path.exists(),
        "{} was not built; run the benches with `cargo bench`",
        path.display()
    );
    path
}

fn library_file_name(stem: &str) -> String {
    format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// A fresh directory under the system temp dir, removed when dropped. It
/// holds library copies and the data and temp directories of the plugins
/// a bench creates.
#[derive(Debug)]
pub struct BenchDir {
    root: PathBuf,
    copies: AtomicUsize,
}

impl BenchDir {
    /// Creates a new, empty directory; `label` names the bench it serves.
    ///
    /// # Panics
    ///
    /// When the directory cannot be created.
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "sharelife-bench-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create the bench directory");
        BenchDir {
            root,
            copies: AtomicUsize::new(0),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Copies crate `name`'s built library into this directory under a
    /// name no earlier call returned, and returns the copy's path.
    ///
    /// # Panics
    ///
    /// When the library was not built or cannot be copied.
    pub fn copy_library(&self, name: &str) -> PathBuf {
        let n = self.copies.fetch_add(1, Ordering::Relaxed);
        let to = self.root.join(library_file_name(&format!(
            "{}_{n}",
            name.replace('-', "_")
        )));
        std::fs::copy(built_library(name), &to).expect("copy the plugin library");
        to
    }

    /// A host whose plugins' data and temp directories live here.
    ///
    /// # Panics
    ///
    /// When the host cannot be built.
    pub fn host(&self) -> Host {
        Host::builder()
            .data_root(self.root.join("data"))
            .temp_root(self.root.join("tmp"))
            .build()
            .expect("the host builds")
    }

    /// A context for plugin `plugin_id` with local services, directories
    /// under this one and no config: what a host would hand the plugin.
    pub fn context(&self, plugin_id: &str) -> PluginContext {
        PluginContext::local(ContextData {
            plugin_id: plugin_id.to_owned(),
            config: Default::default(),
            data_dir: self.root.join("data").join(plugin_id),
            temp_dir: self.root.join("tmp").join(plugin_id),
        })
    }
}

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A ring of copies of one library, made up front so that copying is never
/// timed. Consecutive [`next_copy`](LibraryPool::next_copy) calls return
/// distinct paths; a path comes round again only after `len` others, by
/// which time a bench that closes every library it opens has closed it
/// (check with [`assert_unmapped`]).
#[derive(Debug)]
pub struct LibraryPool {
    copies: Vec<PathBuf>,
    next: usize,
}

impl LibraryPool {
    /// Makes `len` copies of crate `name`'s built library in `dir`.
    ///
    /// # Panics
    ///
    /// When `len` is zero, or as [`BenchDir::copy_library`].
    pub fn new(dir: &BenchDir, name: &str, len: usize) -> Self {
        assert!(len > 0, "a library pool needs at least one copy");
        LibraryPool {
            copies: (0..len).map(|_| dir.copy_library(name)).collect(),
            next: 0,
        }
    }

    /// The next copy in the ring.
    pub fn next_copy(&mut self) -> &Path {
        let path = &self.copies[self.next];
        self.next = (self.next + 1) % self.copies.len();
        path
    }
}

/// The baseline of the load benches: the platform's `dlopen` of `path`,
/// nothing else.
///
/// # Panics
///
/// When the library cannot be opened.
pub fn bare_dlopen(path: &Path) -> libloading::Library {
    // SAFETY: the benches only pass copies of plugins built by this
    // workspace (`boot_100` patches their id string, nothing else); their
    // initializers are the Rust runtime's and their
    // statics', which are sound to run. No symbol is looked up or called.
    unsafe { libloading::Library::new(path) }.expect("dlopen of a plugin library")
}

/// Checks that the library at `path` is no longer mapped into this
/// process, so that the next `dlopen` of it really maps it again.
///
/// # Panics
///
/// When the platform still maps the library (a thread-local destructor
/// registered by it pins it; see
/// [`UnloadReport::still_mapped`](sharelife_core::UnloadReport)).
pub fn assert_unmapped(path: &Path) {
    assert_ne!(
        sharelife_core::loader::is_mapped(path),
        Some(true),
        "{} is still mapped after being closed: a load of it would not map it again",
        path.display()
    );
}

/// The median of `values` (the upper one of an even count), for the
/// paired reports. Panics when `values` is empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Saves a paired measurement where `scripts/bench-table` reads it, in
/// criterion's own layout: each value (nanoseconds) as the median of
/// `<target>/criterion/paired/<group>/<name>/new/estimates.json`, and
/// under the run's `--save-baseline` name too when it has one.
pub fn save_paired(group: &str, values: &[(&str, f64)]) {
    let root = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("the bench knows its path");
            // <target>/<profile>/deps/<bench>
            match exe.ancestors().nth(3) {
                Some(target) => target.to_owned(),
                None => return,
            }
        }
    }
    .join("criterion")
    .join("paired")
    .join(group);
    let args: Vec<String> = std::env::args().collect();
    let mut baselines = vec!["new".to_owned()];
    if let Some(i) = args.iter().position(|a| a == "--save-baseline")
        && let Some(name) = args.get(i + 1)
    {
        baselines.push(name.clone());
    }
    for (name, ns) in values {
        for baseline in &baselines {
            let dir = root.join(name).join(baseline);
            let json = format!("{{\"median\":{{\"point_estimate\":{ns}}}}}\n");
            let saved = std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(dir.join("estimates.json"), json));
            if let Err(e) = saved {
                eprintln!(
                    "could not save the paired measurement in {}: {e}",
                    dir.display()
                );
            }
        }
    }
}

/// Whether a bench binary's own report after criterion's (the paired
/// measurements, named by `words`, e.g. `"paired noop_3"`) should run:
/// only under `cargo bench` (not `cargo test --benches`), and unless a
/// filter on the command line excludes it (a filter that is not part of
/// `words`).
pub fn extra_report_wanted(words: &str) -> bool {
    let args: Vec<String> = std::env::args().collect();
    let filtered_out = filters(&args).any(|f| !words.contains(f));
    args.iter().any(|a| a == "--bench") && !filtered_out
}

/// The filters among criterion's arguments: the words that are neither
/// options nor an option's value (`--save-baseline NAME` is no filter).
fn filters(args: &[String]) -> impl Iterator<Item = &str> {
    const TAKE_A_VALUE: &[&str] = &[
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--profile-time",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--plotting-backend",
        "--output-format",
        "--color",
        "--format",
        "--logfile",
    ];
    args.iter()
        .enumerate()
        .skip(1)
        .filter(|(i, a)| !a.starts_with('-') && !TAKE_A_VALUE.contains(&args[i - 1].as_str()))
        .map(|(_, a)| a.as_str())
}
