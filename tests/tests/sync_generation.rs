//! A running host follows its plugin folder when an install flips the
//! `current` symlink to a new generation: `Host::sync_generation` swaps a
//! changed plugin in under live handles (no call fails), unloads a removed
//! one, loads and starts an added one, and leaves the rest alone. Files
//! are compared by what they are, not by the path string, which is the
//! same across generations (`current/plugins/versioned.so`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sharelife_core::host::SyncError;
use sharelife_core::loader::is_mapped;
use sharelife_core::{Buffer, Host, HostError, PluginState};
use sharelife_tests::{Scratch, built_library, library_file_name};

const VERSIONED: &str = "fixtures.versioned";

/// An install root: `generations/N/plugins` and `current`.
struct Root<'a> {
    dir: &'a Scratch,
}

impl Root<'_> {
    fn plugins(&self, generation: u32) -> PathBuf {
        self.dir
            .path()
            .join(format!("generations/{generation}/plugins"))
    }

    /// Generation `generation` holding `files` (file name, crate), each a
    /// copy of its own.
    fn generation(&self, generation: u32, files: &[(&str, &str)]) {
        let plugins = self.plugins(generation);
        std::fs::create_dir_all(&plugins).unwrap();
        for (file, krate) in files {
            std::fs::copy(built_library(krate), plugins.join(file)).unwrap();
        }
    }

    /// Makes `generation` current the way an install does: a new link at
    /// a temporary name, renamed over the old one.
    fn flip(&self, generation: u32) {
        let link = self.dir.path().join("current");
        let temp = self.dir.path().join("current.new");
        let _ = std::fs::remove_file(&temp);
        std::os::unix::fs::symlink(format!("generations/{generation}"), &temp).unwrap();
        std::fs::rename(&temp, &link).unwrap();
    }

    fn folder(&self) -> PathBuf {
        self.dir.path().join("current/plugins")
    }

    fn host(
        &self,
        f: impl FnOnce(sharelife_core::HostBuilder) -> sharelife_core::HostBuilder,
    ) -> Host {
        self.dir.host_with(|b| f(b.plugin_path(self.folder())))
    }
}

fn real(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap()
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    let mut ids: Vec<String> = items.iter().map(|i| id(i).to_owned()).collect();
    ids.sort();
    ids
}

#[derive(Debug)]
enum Seen {
    V1,
    V2,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_host_follows_a_generation_flip_without_a_failed_call() {
    let dir = Scratch::new();
    let root = Root { dir: &dir };
    let versioned = "versioned.so";
    let echo = library_file_name("example-echo");
    let upper = library_file_name("example-upper");
    let suffix = library_file_name("example-suffix");
    root.generation(
        1,
        &[
            (versioned, "fixture-versioned-v1"),
            (&echo, "example-echo"),
            (&upper, "example-upper"),
        ],
    );
    // 2: versioned swapped to 2.0.0, echo removed, suffix added, upper
    // the same build in a file of its own.
    root.generation(
        2,
        &[
            (versioned, "fixture-versioned-v2"),
            (&upper, "example-upper"),
            (&suffix, "example-suffix"),
        ],
    );
    root.flip(1);
    let host = root.host(|b| b);
    let boot = host.boot().await.unwrap();
    assert!(boot.is_complete(), "{boot}");
    assert_eq!(
        host.call(VERSIONED, "version", b"").unwrap().as_slice(),
        b"v1"
    );
    // A plugin loaded by hand from elsewhere is not the folders' business.
    let timer = dir.copy_library("example-timer", "timer.so");
    host.load(&timer).await.unwrap();
    host.start("examples.timer").await.unwrap();

    let handle = host.handle(VERSIONED).unwrap();
    let version = handle.handler("version").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let caller = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let (mut v1, mut v2, mut failures) = (0u64, 0u64, Vec::new());
            let mut out = Buffer::new();
            while !done.load(Ordering::Relaxed) {
                out.clear();
                match handle.call(version, b"", &mut out) {
                    Ok(()) if out.as_slice() == b"v1" => {
                        if v1 == 0 {
                            let _ = seen_tx.send(Seen::V1);
                        }
                        v1 += 1;
                    }
                    Ok(()) if out.as_slice() == b"v2" => {
                        if v2 == 0 {
                            let _ = seen_tx.send(Seen::V2);
                        }
                        v2 += 1;
                    }
                    Ok(()) => failures.push(format!("odd output {out:?}")),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (v1, v2, failures)
        })
    };
    assert!(matches!(seen.recv().await, Some(Seen::V1)));

    root.flip(2);
    let report = host.sync_generation().await.unwrap();
    assert_eq!(report.folders, [real(&root.plugins(2))], "{report}");
    assert!(report.failed.is_empty(), "{report}");
    assert_eq!(report.swapped.len(), 1, "{report}");
    let swap = &report.swapped[0];
    assert_eq!(swap.id.as_str(), VERSIONED);
    assert_eq!(swap.old_version.to_string(), "1.0.0");
    assert_eq!(swap.new_version.to_string(), "2.0.0");
    // Loaded from the real path, not the link the old one was opened by.
    assert_eq!(swap.library, real(&root.plugins(2).join(versioned)));
    assert!(swap.retired.closed, "{swap:?}");
    assert_eq!(ids(&report.added, |a| a.id.as_str()), ["examples.suffix"]);
    assert_eq!(ids(&report.removed, |r| r.id.as_str()), ["examples.echo"]);
    assert!(report.removed[0].closed, "{:?}", report.removed[0]);
    assert_eq!(ids(&report.unchanged, |i| i.as_str()), ["examples.upper"]);

    // The caller reaches the new version through the same handle.
    assert!(matches!(seen.recv().await, Some(Seen::V2)));
    done.store(true, Ordering::Relaxed);
    let (v1, v2, failures) = caller.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed calls, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(v1 > 0 && v2 > 0, "v1 {v1}, v2 {v2}");

    assert_eq!(
        host.call(VERSIONED, "version", b"").unwrap().as_slice(),
        b"v2"
    );
    assert_eq!(
        host.call(VERSIONED, "since", b"").unwrap().as_slice(),
        b"new in v2"
    );
    assert_eq!(host.plugins().state("examples.echo"), None);
    assert!(matches!(
        host.call("examples.echo", "echo", b"x"),
        Err(HostError::NotFound(_))
    ));
    for id in [
        VERSIONED,
        "examples.suffix",
        "examples.upper",
        "examples.timer",
    ] {
        assert_eq!(host.plugins().state(id), Some(PluginState::Active), "{id}");
    }
    assert_eq!(is_mapped(&root.plugins(1).join(versioned)), Some(false));
    assert_eq!(is_mapped(&root.plugins(1).join(&echo)), Some(false));
    assert_eq!(is_mapped(&root.plugins(2).join(versioned)), Some(true));
    // upper still runs generation 1's file: the same build.
    assert_eq!(is_mapped(&root.plugins(1).join(&upper)), Some(true));
    assert_eq!(is_mapped(&root.plugins(2).join(&upper)), Some(false));

    // Nothing moved: nothing to do.
    let again = host.sync_generation().await.unwrap();
    assert!(!again.changed() && again.is_complete(), "{again}");
    assert_eq!(
        ids(&again.unchanged, |i| i.as_str()),
        ["examples.suffix", "examples.upper", VERSIONED]
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_version_with_other_bytes_is_swapped_and_back_again() {
    let dir = Scratch::new();
    let root = Root { dir: &dir };
    let upper = library_file_name("example-upper");
    root.generation(1, &[(&upper, "example-upper")]);
    root.generation(2, &[(&upper, "example-upper")]);
    // Same version, other bytes (data after the end of the ELF file).
    let changed = root.plugins(2).join(&upper);
    let mut bytes = std::fs::read(&changed).unwrap();
    bytes.extend_from_slice(b"another build");
    std::fs::write(&changed, bytes).unwrap();
    root.flip(1);
    let host = root.host(|b| b);
    host.boot().await.unwrap();

    root.flip(2);
    let report = host.sync_generation().await.unwrap();
    assert_eq!(report.swapped.len(), 1, "{report}");
    assert_eq!(report.swapped[0].old_version, report.swapped[0].new_version);
    assert_eq!(report.swapped[0].library, real(&changed));
    assert_eq!(is_mapped(&root.plugins(1).join(&upper)), Some(false));

    // Back to generation 1 (a rollback): its file was closed, so it opens
    // afresh from its real path.
    root.flip(1);
    let back = host.sync_generation().await.unwrap();
    assert_eq!(back.swapped.len(), 1, "{back}");
    assert_eq!(back.swapped[0].library, real(&root.plugins(1).join(&upper)));
    assert_eq!(
        host.call("examples.upper", "run", b"abc")
            .unwrap()
            .as_slice(),
        b"ABC"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_that_fails_to_start_keeps_the_old_one_serving() {
    let dir = Scratch::new();
    let root = Root { dir: &dir };
    root.generation(1, &[("versioned.so", "fixture-versioned-v1")]);
    root.generation(2, &[("versioned.so", "fixture-versioned-v2")]);
    root.flip(1);
    // Version 1 ignores this; version 2 fails in `start`.
    let host = root.host(|b| b.plugin_config(VERSIONED, serde_json::json!({ "fail_start": true })));
    host.boot().await.unwrap();

    root.flip(2);
    let report = host.sync_generation().await.unwrap();
    assert!(report.swapped.is_empty() && !report.changed(), "{report}");
    assert_eq!(report.failed.len(), 1, "{report}");
    let failure = &report.failed[0];
    assert_eq!(failure.id.as_str(), VERSIONED);
    assert_eq!(
        failure.kept.as_ref().map(ToString::to_string).as_deref(),
        Some("1.0.0")
    );
    let new = real(&root.plugins(2).join("versioned.so"));
    assert_eq!(failure.library.as_deref(), Some(new.as_path()));
    match &failure.error {
        SyncError::NotSwapped(HostError::ReloadFailed { kept, source, .. }) => {
            assert_eq!(kept.to_string(), "1.0.0");
            assert!(
                matches!(**source, HostError::Hook { hook: "start", .. }),
                "{source}"
            );
        }
        other => panic!("not a failed swap: {other}"),
    }
    assert!(
        report.to_string().contains(
            "failed fixtures.versioned (keeps 1.0.0): reload of plugin \"fixtures.versioned\""
        ),
        "{report}"
    );
    assert_eq!(
        host.call(VERSIONED, "version", b"").unwrap().as_slice(),
        b"v1"
    );
    assert_eq!(host.plugins().state(VERSIONED), Some(PluginState::Active));
    assert_eq!(is_mapped(&new), Some(false), "the new version was closed");
    host.shutdown().await;
}

#[tokio::test]
async fn a_dangling_folder_changes_nothing() {
    let dir = Scratch::new();
    let root = Root { dir: &dir };
    root.generation(1, &[("versioned.so", "fixture-versioned-v1")]);
    root.flip(1);
    let host = root.host(|b| b);
    host.boot().await.unwrap();

    root.flip(9);
    let err = host.sync_generation().await.unwrap_err();
    assert!(
        matches!(&err, HostError::Load(sharelife_core::loader::LoadError::Io { path, .. }) if *path == root.folder()),
        "{err}"
    );
    assert_eq!(
        host.call(VERSIONED, "version", b"").unwrap().as_slice(),
        b"v1"
    );
    host.shutdown().await;
}
