//! Helpers shared by the integration tests: where the real plugin
//! libraries are, private copies of them, and hosts with private
//! directories.
//!
//! The example and fixture plugins are dev-dependencies of this crate, so
//! cargo builds their `cdylib`s into `target/<profile>/deps/` next to the
//! test executables; the tests load those files with `dlopen` for real.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sharelife_core::Host;

/// The platform's file name for crate `name`'s library
/// (`libexample_echo.so` on Linux).
pub fn library_file_name(name: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )
}

/// Waits until `done` holds, checking every few milliseconds; panics naming
/// `what` after ten seconds. An upper bound for liveness, not a timing
/// assertion.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting (10 s) for: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// The built library of crate `name` (e.g. `example-echo`).
///
/// # Panics
///
/// When the library was not built (run the tests through cargo).
pub fn built_library(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its executable");
    let deps = exe.parent().expect("the executable is in a directory");
    let path = deps.join(library_file_name(name));
    assert!(
        path.exists(),
        "{} was not built; run the tests with `cargo test`",
        path.display()
    );
    path
}

/// A fresh directory, removed when dropped.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// Creates a new, empty directory under the system temp dir.
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sharelife-it-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Copies crate `name`'s built library here as `file`, returning the
    /// copy's path. Each copy is a distinct file, so `dlopen` treats it as
    /// a library of its own.
    pub fn copy_library(&self, name: &str, file: &str) -> PathBuf {
        let to = self.0.join(file);
        std::fs::copy(built_library(name), &to).expect("copy library");
        to
    }

    /// A plugin folder `folder` here holding the libraries of `crates`,
    /// each under its platform file name; returns the folder.
    pub fn plugin_folder(&self, folder: &str, crates: &[&str]) -> PathBuf {
        let dir = self.0.join(folder);
        std::fs::create_dir_all(&dir).expect("create plugin folder");
        for name in crates {
            std::fs::copy(built_library(name), dir.join(library_file_name(name)))
                .expect("copy library");
        }
        dir
    }

    /// A host whose data and temp directories live here.
    pub fn host(&self) -> Host {
        self.host_with(|b| b)
    }

    /// A host built from a builder customised by `f`.
    pub fn host_with(
        &self,
        f: impl FnOnce(sharelife_core::HostBuilder) -> sharelife_core::HostBuilder,
    ) -> Host {
        f(Host::builder()
            .data_root(self.0.join("data"))
            .temp_root(self.0.join("tmp")))
        .build()
        .expect("host builds")
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub mod pipelines;
