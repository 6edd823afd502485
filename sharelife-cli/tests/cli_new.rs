//! `sharelife new` as a user runs it: scaffold, `cargo test` in the new
//! crate, `cargo build`, and a host loads the result.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::sharelife;

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sharelife-new-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs cargo in the generated crate, offline, pinned to the workspace's
/// lock file (so it resolves to versions already in the local cache), and
/// building into a shared target directory.
fn cargo(dir: &Path, args: &[&str]) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let target = workspace.join("target/scaffolded");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn names_are_validated_with_a_clear_message() {
    let dir = scratch("names");
    for bad in ["My-Plugin", "1plugin", "plug in", "plugin-"] {
        let (code, _, err) = sharelife(&["new", bad, "--path", dir.to_str().unwrap()]);
        assert_eq!(code, 1, "{bad}");
        assert_eq!(
            err,
            format!(
                "error: {bad:?} is not a valid plugin crate name\nhint: use lowercase letters, digits, '-' and '_', starting with a letter (like my-plugin)\n"
            )
        );
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing was written"
    );
}

#[test]
fn an_existing_directory_is_not_overwritten_unless_forced() {
    let dir = scratch("exists");
    std::fs::create_dir_all(dir.join("taken")).unwrap();
    std::fs::write(dir.join("taken/keep.txt"), "mine").unwrap();
    let (code, _, err) = sharelife(&["new", "taken", "--path", dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("taken/keep.txt")).unwrap(),
        "mine"
    );
    let (code, _, _) = sharelife(&["new", "taken", "--path", dir.to_str().unwrap(), "--force"]);
    assert_eq!(code, 0);
    assert!(!dir.join("taken/keep.txt").exists());
    assert!(dir.join("taken/src/lib.rs").exists());
}

#[tokio::test]
async fn a_new_plugin_builds_passes_its_test_and_loads_in_a_host() {
    let dir = scratch("full");
    for (name, is_async) in [("hello-sync", false), ("hello-async", true)] {
        let mut args = vec!["new", name, "--path", dir.to_str().unwrap()];
        if is_async {
            args.push("--async");
        }
        let (code, out, err) = sharelife(&args);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.starts_with(&format!(
                "created plugin local.{} in ",
                name.replace('-', "_")
            )),
            "{out}"
        );
    }
    for name in ["hello-sync", "hello-async"] {
        let krate = dir.join(name);
        cargo(&krate, &["test", "-q"]);
        cargo(&krate, &["build", "-q"]);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let host = sharelife_core::Host::builder()
        .data_root(dir.join("data"))
        .temp_root(dir.join("tmp"))
        .build()
        .unwrap();
    for (krate, asynchronous) in [("hello_sync", false), ("hello_async", true)] {
        let lib = workspace.join(format!("target/scaffolded/debug/lib{krate}.so"));
        let copy = dir.join(format!("{krate}.so"));
        std::fs::copy(&lib, &copy).unwrap();
        let id = host.load(&copy).await.unwrap();
        host.start(&id).await.unwrap();
        let out = if asynchronous {
            host.call_async(&id, "greet", b"host").await
        } else {
            host.call(&id, "greet", b"host")
        };
        assert_eq!(out.unwrap().as_slice(), b"hello, host");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
