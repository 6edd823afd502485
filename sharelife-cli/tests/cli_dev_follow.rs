//! `sharelife dev --config` follows install generations as `sharelife run
//! --follow` does: a flip of the `current` link its plugin folder goes
//! through syncs the host (plugins added and removed, a `synced` event),
//! leaves the plugin being developed alone, and a flip to a generation
//! that cannot be read is a `sync-failed` event the loop goes on after.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use support::{built_library, s};

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// `sharelife dev --json` running, its events read line by line; killed
/// when dropped (a failing test leaves nothing running).
struct Dev {
    child: Child,
    events: mpsc::Receiver<Value>,
    seen: Vec<Value>,
    stderr: PathBuf,
}

impl Dev {
    /// `sharelife dev --json --config CONFIG --call greet --input dev KRATE`.
    fn start(krate: &Path, config: &Path, stderr: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sharelife"))
            // Offline, sharing the SDK's build with the other dev tests.
            .env("CARGO_NET_OFFLINE", "true")
            .env("CARGO_TARGET_DIR", workspace().join("target/scaffolded"))
            .env_remove("RUST_LOG")
            .args(["dev", "--json", "--config", s(config)])
            .args(["--call", "greet", "--input", "dev"])
            .arg(krate)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let event: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        Dev {
            child,
            events,
            seen: Vec::new(),
            stderr: stderr.to_owned(),
        }
    }

    /// The next event named `name`, skipping others; fails after `limit`
    /// (a deadline for a hung process, not a measure of speed).
    fn next(&mut self, name: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if event["event"] == name {
                        return event;
                    }
                    for bad in ["reload-failed", "build-failed"] {
                        assert_ne!(event["event"], bad, "{event}\n{}", self.errors());
                    }
                }
                Err(e) => panic!(
                    "no {name:?} event ({e}); saw: {:#?}\nstderr:\n{}",
                    self.seen,
                    self.errors()
                ),
            }
        }
    }

    fn key(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
    }

    fn errors(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// `q`, then every event up to `stopped`; the exit status is success.
    fn stop(&mut self) -> Value {
        self.key("q");
        let stopped = self.next("stopped", Duration::from_secs(60));
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}\n{}", self.errors());
        stopped
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sharelife new NAME` in `dir`, resolving offline to the workspace's
/// locked versions.
fn scaffold(dir: &Path, name: &str) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_sharelife"))
        .args(["new", name, "--path"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let krate = dir.join(name);
    fs::copy(workspace().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    krate
}

/// Makes `<root>/generations/N/plugins` holding the built libraries of
/// `crates`.
fn generation(root: &Path, n: u32, crates: &[&str]) {
    let plugins = root.join(format!("generations/{n}/plugins"));
    fs::create_dir_all(&plugins).unwrap();
    for name in crates {
        let lib = built_library(name);
        fs::copy(&lib, plugins.join(lib.file_name().unwrap())).unwrap();
    }
}

/// Points `<root>/current` at `target` as an install does: a new link
/// renamed over the old one.
fn flip(root: &Path, target: &str) {
    let temp = root.join("current.tmp");
    std::os::unix::fs::symlink(target, &temp).unwrap();
    fs::rename(&temp, root.join("current")).unwrap();
}

/// The ids in a JSON array of ids, or of objects with a `plugin`.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v["plugin"].as_str().or(v.as_str()).unwrap().to_owned())
        .collect()
}

#[test]
fn dev_follows_a_flip_of_the_current_link() {
    let dir = tempfile::tempdir().unwrap();
    // The install root: generation 1 holds echo, generation 2 upper.
    let root = dir.path().join("home");
    generation(&root, 1, &["example-echo"]);
    generation(&root, 2, &["example-upper"]);
    std::os::unix::fs::symlink("generations/1", root.join("current")).unwrap();
    let config = dir.path().join("host.toml");
    fs::write(
        &config,
        format!(
            "plugin_paths = [\"{}\"]\ndata_dir = \"data\"\ntemp_dir = \"tmp\"\n",
            root.join("current/plugins").display()
        ),
    )
    .unwrap();
    let krate = scaffold(dir.path(), "followed-dev");
    let mut dev = Dev::start(&krate, &config, &dir.path().join("dev.stderr"));

    let watching = dev.next("watching", Duration::from_secs(30));
    assert_eq!(
        watching["following"],
        serde_json::json!([root]),
        "the directory holding the link is watched: {watching}"
    );
    // The first build compiles the SDK unless another test did already.
    let loaded = dev.next("loaded", Duration::from_secs(600));
    assert_eq!(loaded["id"], "local.followed_dev");
    assert_eq!(
        dev.next("call", Duration::from_secs(30))["output"],
        "hello, dev"
    );

    // An install flips `current` to generation 2: upper added, echo removed.
    flip(&root, "generations/2");
    let synced = dev.next("synced", Duration::from_secs(60));
    assert!(
        synced["folders"][0]
            .as_str()
            .is_some_and(|f| f.ends_with("generations/2/plugins")),
        "{synced}"
    );
    assert_eq!(ids(&synced["added"]), ["examples.upper"], "{synced}");
    assert_eq!(synced["added"][0]["version"], "1.0.0", "{synced}");
    assert_eq!(ids(&synced["removed"]), ["examples.echo"], "{synced}");
    assert_eq!(ids(&synced["swapped"]), Vec::<String>::new(), "{synced}");
    assert_eq!(ids(&synced["failed"]), Vec::<String>::new(), "{synced}");
    // The plugin being developed is not the folders': left alone.
    assert!(
        !synced.to_string().contains("local.followed_dev"),
        "{synced}"
    );

    // A flip to a generation that is not there: nothing changes, the
    // loop goes on, and the next flip is followed.
    flip(&root, "generations/9");
    let failed = dev.next("sync-failed", Duration::from_secs(60));
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("current/plugins") || e.contains("generations/9")),
        "{failed}"
    );
    flip(&root, "generations/1");
    let synced = dev.next("synced", Duration::from_secs(60));
    assert_eq!(ids(&synced["added"]), ["examples.echo"], "{synced}");
    assert_eq!(ids(&synced["removed"]), ["examples.upper"], "{synced}");

    // The plugin being developed still serves, and still hot-reloads.
    dev.key("r");
    let reloaded = dev.next("reloaded", Duration::from_secs(300));
    assert_eq!(reloaded["id"], "local.followed_dev", "{reloaded}");
    assert_eq!(
        dev.next("call", Duration::from_secs(30))["output"],
        "hello, dev"
    );

    // echo and the plugin being developed.
    assert_eq!(dev.stop()["unloaded"], 2, "{:#?}", dev.seen);
}
