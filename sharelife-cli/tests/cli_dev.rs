//! `sharelife dev` driven as a user drives it: scaffold a plugin, start
//! the loop, edit the source and see the new code answer; a broken edit
//! keeps the old version serving (and shows the compiler's error); `q`
//! stops it. Without an edit nothing is rebuilt (the build's own reads and
//! writes are no change); with a host config that loaded the plugin
//! already, the first build takes that one over.

use std::ffi::OsStr;
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
        Self::start_with(krate, stderr, &[])
    }

    /// `sharelife dev` on `krate` with `extra` arguments.
    fn start_with(krate: &Path, stderr: &Path, extra: &[&OsStr]) -> Self {
        let mut child = scaffold_cargo_env(Command::new(env!("CARGO_BIN_EXE_sharelife")))
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
            .args(extra)
            .arg(krate)
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

    /// Takes in whatever events come during `period`.
    fn wait(&mut self, period: Duration) {
        let deadline = Instant::now() + period;
        while let Ok(event) = self
            .events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(event);
        }
    }

    /// `q`, then every event up to `stopped`; the exit status is success.
    fn stop(&mut self) {
        self.key("q");
        self.next("stopped", Duration::from_secs(60));
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }

    /// How many events named `name` came so far.
    fn count(&self, name: &str) -> usize {
        self.seen.iter().filter(|e| e["event"] == name).count()
    }

    /// How many builds ran so far: each ends in `built` or `build-failed`.
    fn builds(&self) -> usize {
        self.count("built") + self.count("build-failed")
    }
}

/// Cargo for scaffolded crates: offline, and sharing the build of the SDK
/// with the other scaffolding tests.
fn scaffold_cargo_env(mut command: Command) -> Command {
    command
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TARGET_DIR", workspace().join("target/scaffolded"));
    command
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

    dev.stop();
    assert_eq!(
        (dev.count("build-failed"), dev.count("change")),
        (1, 3),
        "a broken edit fails once, not on every event: {:#?}",
        dev.seen
    );
    let errors = std::fs::read_to_string(&stderr).unwrap();
    assert_eq!(
        errors.matches("error[E0308]: mismatched types").count(),
        1,
        "the compiler's error is shown as cargo shows it, once:\n{errors}"
    );
}

#[test]
fn without_an_edit_nothing_is_rebuilt_and_one_edit_is_one_build() {
    let dir = tempfile::tempdir().unwrap();
    let krate = scaffold(dir.path(), "quiet-dev");
    let lib = krate.join("src/lib.rs");
    let stderr = dir.path().join("dev.stderr");
    let mut dev = Dev::start(&krate, &stderr);

    dev.next("watching", Duration::from_secs(30));
    dev.next("loaded", Duration::from_secs(600));
    // The build read Cargo.toml and rewrote Cargo.lock; reading the
    // sources and saving one unchanged are no change either.
    std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, &text).unwrap();
    dev.wait(Duration::from_secs(6));
    assert_eq!(
        (dev.builds(), dev.count("change")),
        (1, 0),
        "one build, nothing since: {:#?}",
        dev.seen
    );

    edit(
        &lib,
        r#"format!("hello, {name}")"#,
        r#"format!("howdy, {name}")"#,
    );
    dev.next("reloaded", Duration::from_secs(300));
    let call = dev.next("call", Duration::from_secs(10));
    assert_eq!(call["output"], "howdy, dev");
    dev.wait(Duration::from_secs(6));
    dev.stop();
    assert_eq!(
        (dev.builds(), dev.count("change"), dev.count("reloaded")),
        (2, 1, 1),
        "one more build for the one edit: {:#?}",
        dev.seen
    );
    let change = dev.seen.iter().find(|e| e["event"] == "change").unwrap();
    assert_eq!(
        change["paths"],
        serde_json::json!([lib.canonicalize().unwrap()])
    );
}

#[test]
fn a_plugin_the_host_config_loaded_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let krate = scaffold(dir.path(), "taken-over");
    let lib = krate.join("src/lib.rs");
    // The host's plugin folder holds this plugin, as built now.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = scaffold_cargo_env(Command::new(cargo))
        .args(["build", "--lib", "--quiet", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = format!(
        "{}taken_over{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        workspace().join("target/scaffolded/debug").join(&file),
        plugins.join(&file),
    )
    .unwrap();
    let config = dir.path().join("host.toml");
    std::fs::write(
        &config,
        "plugin_paths = [\"plugins\"]\ndata_dir = \"data\"\ntemp_dir = \"tmp\"\n",
    )
    .unwrap();
    // What `dev` builds answers differently from the folder's copy.
    edit(
        &lib,
        r#"format!("hello, {name}")"#,
        r#"format!("howdy, {name}")"#,
    );

    let stderr = dir.path().join("dev.stderr");
    let mut dev = Dev::start_with(
        &krate,
        &stderr,
        &[OsStr::new("--config"), config.as_os_str()],
    );
    dev.next("watching", Duration::from_secs(30));
    let taken = dev.next("reloaded", Duration::from_secs(600));
    assert_eq!(taken["id"], "local.taken_over");
    assert_eq!(taken["took_over"], true, "{taken}");
    assert!(
        taken["replaced"]
            .as_str()
            .is_some_and(|p| p.ends_with(&format!("plugins/{file}"))),
        "{taken}"
    );
    let call = dev.next("call", Duration::from_secs(10));
    assert_eq!(call["output"], "howdy, dev", "the new build serves");

    // From then on it is this session's plugin, reloaded on each edit.
    edit(
        &lib,
        r#"format!("howdy, {name}")"#,
        r#"format!("hola, {name}")"#,
    );
    let reloaded = dev.next("reloaded", Duration::from_secs(300));
    assert_eq!(reloaded["took_over"], false, "{reloaded}");
    let call = dev.next("call", Duration::from_secs(10));
    assert_eq!(call["output"], "hola, dev");
    dev.stop();
    assert_eq!(dev.count("loaded"), 0, "{:#?}", dev.seen);
    let stopped = dev.seen.last().unwrap();
    assert_eq!(stopped["unloaded"], 1, "one plugin, not two");
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
