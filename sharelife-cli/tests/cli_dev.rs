//! `sharelife dev` driven as a user drives it: scaffold a plugin, start
//! the loop, edit the source and see the new code answer; a broken edit
//! keeps the old version serving (and shows the compiler's error); `q`
//! stops it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

struct Dev {
    child: Child,
    events: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Dev {
    fn start(krate: &Path, stderr: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sharelife"))
            .args([
                "dev",
                "--json",
                "--debounce",
                "100",
                "--call",
                "greet",
                "--input",
                "dev",
            ])
            .arg(krate)
            // Offline, and sharing the build of the SDK with the other
            // scaffolding tests.
            .env("CARGO_NET_OFFLINE", "true")
            .env("CARGO_TARGET_DIR", workspace().join("target/scaffolded"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr).unwrap())
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
        }
    }

    /// The next event named `name`, skipping others; fails after `limit`.
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
                    assert_ne!(event["event"], "reload-failed", "{event}");
                }
                Err(e) => panic!("no {name:?} event ({e}); saw: {:#?}", self.seen),
            }
        }
    }

    fn key(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from:?} is not in {}", file.display());
    std::fs::write(file, text.replace(from, to)).unwrap();
}

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
    // Resolve to the versions in the local cache, offline.
    std::fs::copy(workspace().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    krate
}

#[test]
fn edits_are_swapped_in_and_a_broken_edit_keeps_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let krate = scaffold(dir.path(), "hot-dev");
    let lib = krate.join("src/lib.rs");
    let stderr = dir.path().join("dev.stderr");
    let mut dev = Dev::start(&krate, &stderr);

    let watching = dev.next("watching", Duration::from_secs(30));
    assert_eq!(watching["crate"], "hot-dev");
    // The first build compiles the SDK unless another test did already.
    let loaded = dev.next("loaded", Duration::from_secs(600));
    assert_eq!(loaded["id"], "local.hot_dev");
    assert_eq!(loaded["version"], "local.hot_dev 0.1.0");
    let call = dev.next("call", Duration::from_secs(10));
    assert_eq!(call["output"], "hello, dev");

    edit(
        &lib,
        r#"format!("hello, {name}")"#,
        r#"format!("howdy, {name}")"#,
    );
    let reloaded = dev.next("reloaded", Duration::from_secs(300));
    assert_eq!(reloaded["id"], "local.hot_dev");
    assert_eq!(reloaded["from"], "0.1.0");
    let first_copy = loaded["library"].as_str().unwrap().to_owned();
    assert_ne!(reloaded["library"].as_str().unwrap(), first_copy);
    assert!(
        !Path::new(&first_copy).exists(),
        "the replaced copy is deleted once its library is closed"
    );
    let call = dev.next("call", Duration::from_secs(10));
    assert_eq!(call["output"], "howdy, dev", "the new code answers");
    eprintln!(
        "edit to new code: {} ms (build {} ms, reload {} ms, swap {} µs)",
        reloaded["edit_to_new_code_ms"],
        reloaded["build_ms"],
        reloaded["reload_ms"],
        reloaded["swap_us"]
    );

    // A type error: the build fails, the old version keeps answering.
    edit(
        &lib,
        r#"format!("howdy, {name}")"#,
        r#"{ let n: u32 = "not a number"; format!("{n}, {name}") }"#,
    );
    let failed = dev.next("build-failed", Duration::from_secs(300));
    assert_eq!(failed["kept"], "local.hot_dev 0.1.0");
    let call = dev.next("call", Duration::from_secs(10));
    assert_eq!(call["output"], "howdy, dev", "the old version still serves");

    edit(
        &lib,
        r#"{ let n: u32 = "not a number"; format!("{n}, {name}") }"#,
        r#"format!("hola, {name}")"#,
    );
    dev.next("reloaded", Duration::from_secs(300));
    let call = dev.next("call", Duration::from_secs(10));
    assert_eq!(call["output"], "hola, dev");

    dev.key("q");
    dev.next("stopped", Duration::from_secs(30));
    let status = dev.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let errors = std::fs::read_to_string(&stderr).unwrap();
    assert!(
        errors.contains("error[E0308]: mismatched types"),
        "the compiler's error is shown as cargo shows it:\n{errors}"
    );
}

#[test]
fn a_directory_without_a_crate_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sharelife"))
        .arg("dev")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        format!(
            "error: {}: No such file or directory (os error 2)\nhint: pass the directory of a plugin crate (one with a Cargo.toml)\n",
            dir.path().join("Cargo.toml").display()
        )
    );
}
