//! The `sharelife` binary alone sandboxes: copied by itself into an empty
//! folder — no `sharelife-sandbox-runner` beside it or above it, no
//! `SHARELIFE_SANDBOX_RUNNER` — it runs a plugin that its config puts out
//! of process, through itself re-executed as the runner; the same run
//! told to use a runner that is not there is refused, so the plugin did
//! not run in process. Its reserved runner argument is only that: in
//! any other place, or any other spelling, it is an ordinary argument.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use sharelife_core::audit::{read_log, verify};
use sharelife_sandbox::{RUNNER_ARG, RUNNER_ENV, RUNNER_NAME};

mod common;

/// The tests run in parallel, and each copies the binary and then runs its
/// copy. A child forked while another test's copy is open for writing
/// holds that descriptor until its exec closes it, and an exec of the
/// copy in that window fails with "Text file busy" (ETXTBSY). So copies
/// are written under the write side of this lock and children are
/// spawned (fork to exec: `spawn` returns after the exec) under the read
/// side: no child is ever forked with a copy's write descriptor open.
static WRITING_EXE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A folder holding only a copy of `sharelife` (in `bin/`), a plugin
/// folder with the echo example, and a config that runs it out of
/// process.
struct Alone {
    dir: tempfile::TempDir,
    exe: PathBuf,
}

impl Alone {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let exe = bin.join("sharelife");
        {
            let _no_spawn_in_progress = WRITING_EXE.write().unwrap();
            std::fs::copy(env!("CARGO_BIN_EXE_sharelife"), &exe).unwrap();
        }
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        let file = format!(
            "{}example_echo{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let built = std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .join(&file);
        std::fs::copy(&built, plugins.join(&file))
            .unwrap_or_else(|e| panic!("{}: {e}", built.display()));
        std::fs::write(
            dir.path().join("sharelife.toml"),
            "plugin_paths = [\"plugins\"]\naudit_log = \"audit.jsonl\"\nstrict = true\n\
             [plugins.\"examples.echo\"]\nisolation = \"process\"\n\
             limits = { call_timeout = \"30s\", open_files = 64 }\n",
        )
        .unwrap();
        // Nowhere the search would look holds a runner binary.
        for folder in [bin.as_path(), dir.path()] {
            assert!(!folder.join(RUNNER_NAME).exists());
        }
        Alone { dir, exe }
    }

    /// Runs the copy with `args`, `SHARELIFE_SANDBOX_RUNNER` set to
    /// `runner` or removed.
    fn sharelife(&self, runner: Option<&Path>, args: &[&str]) -> (i32, String, String) {
        let mut command = Command::new(&self.exe);
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match runner {
            Some(path) => command.env(RUNNER_ENV, path),
            None => command.env_remove(RUNNER_ENV),
        };
        // Spawned under the read side of `WRITING_EXE` (see there).
        let output = {
            let _no_copy_in_progress = WRITING_EXE.read().unwrap();
            command.spawn().unwrap()
        };
        common::outcome(output.wait_with_output().unwrap())
    }
}

const CALL: [&str; 6] = ["run", "--call", "examples.echo", "echo", "--input", "boxed"];

#[test]
fn the_sharelife_binary_alone_runs_a_plugin_in_its_sandbox() {
    let alone = Alone::new();

    // Told to use a runner that is not there, the plugin is refused
    // (strict: the run stops): it runs out of process or not at all.
    let nowhere = alone.dir.path().join("no-runner-here");
    let (code, out, err) = alone.sharelife(Some(&nowhere), &CALL);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("must run out of process, but the sandbox could not start it")
            && err.contains("no-runner-here"),
        "{err}"
    );

    // Left to find its runner, it finds itself, and the call is answered
    // from the child.
    let (code, out, err) = alone.sharelife(None, &["doctor", "--json"]);
    assert_eq!(code, 0, "{err}");
    let doctor: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doctor["runner"]["found"], true, "{doctor}");
    assert_eq!(doctor["runner"]["source"], "this-executable", "{doctor}");
    assert_eq!(
        doctor["runner"]["path"],
        alone.exe.to_str().unwrap(),
        "{doctor}"
    );

    let (code, out, err) = alone.sharelife(None, &CALL);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "boxed\n", ""));

    // The host recorded what the kernel gives before anything else, and
    // the chain of both runs verifies.
    let log = alone.dir.path().join("audit.jsonl");
    let records = read_log(&log).unwrap();
    let probes: Vec<_> = records
        .iter()
        .filter(|r| r.capability.as_deref() == Some("sandbox-probe"))
        .collect();
    assert_eq!(probes.len(), 2, "one per run: {records:?}");
    assert_eq!(records[0].capability.as_deref(), Some("sandbox-probe"));
    assert!(
        records
            .iter()
            .any(|r| r.plugin == "examples.echo" && r.request == "loaded -> active"),
        "{records:?}"
    );
    assert_eq!(verify(&log).unwrap().records, records.len() as u64);
}

#[test]
fn the_reserved_argument_starts_the_runner_and_nothing_else_does() {
    let alone = Alone::new();
    let runner_complaint = "standard input must be a connected Unix socket";

    // First, exactly: the runner, which refuses to serve without a host.
    let (code, _, err) = alone.sharelife(None, &[RUNNER_ARG]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(runner_complaint), "{err}");

    // Anywhere else, or spelled otherwise: an argument clap rejects.
    for args in [
        &["doctor", RUNNER_ARG][..],
        &["run", RUNNER_ARG, "--call", "examples.echo", "echo"][..],
        &["--sharelife-sandbox-runner=1"][..],
        &["--Sharelife-Sandbox-Runner"][..],
    ] {
        let (code, out, err) = alone.sharelife(None, args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(!err.contains(runner_complaint), "{args:?}: {err}");
        assert!(err.contains("unexpected argument"), "{args:?}: {err}");
    }

    // Ordinary commands are the CLI's.
    let (code, out, err) = alone.sharelife(None, &["doctor"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sandbox runner:"), "{out}");
}
