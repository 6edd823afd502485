//! `sharelife run` as a user runs it: a folder with a host config
//! (`sharelife.toml`), a plugin folder holding real built plugin
//! libraries, and pipeline files; the binary boots the host, runs the
//! pipeline or calls the handler, prints what happened and exits 0 or 1.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

mod common;

/// The example plugins copied into every plugin folder.
const PLUGINS: [&str; 3] = ["example_echo", "example_upper", "example_suffix"];

/// A pipeline: upper-case the input, then append the suffix that the
/// pipeline file configures.
const SHOUT: &str = "\
schema_version: sharelife.pipeline.v1
plugins:
  - { alias: upper, plugin: examples.upper, version: \"^1\" }
  - { alias: suffix, plugin: examples.suffix, config: { suffix: \"!\" } }
steps:
  - step_id: shout
    plugin_ref: upper
  - step_id: sign
    plugin_ref: suffix
    input_from: shout
";

/// A pipeline whose second step fails (the text is not signed yet) and
/// aborts the run, so the third never runs.
const CHECKED: &str = "\
schema_version: sharelife.pipeline.v1
plugins:
  - { alias: upper, plugin: examples.upper }
  - { alias: suffix, plugin: examples.suffix, config: { suffix: \" ::verified\" } }
steps:
  - step_id: shout
    plugin_ref: upper
  - step_id: check
    plugin_ref: suffix
    handler: verify
    input_from: shout
  - step_id: sign
    plugin_ref: suffix
    input_from: shout
";

/// A folder to run in: `sharelife.toml`, `plugins/` with the example
/// libraries, and whatever files a test adds.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    /// A workspace whose host config is `plugin_paths = ["plugins"]`, an
    /// audit log, and `extra`.
    fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        for name in PLUGINS {
            let file = format!(
                "{}{name}{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            );
            std::fs::copy(built(&file), plugins.join(&file)).unwrap();
        }
        let ws = Workspace { dir };
        ws.write(
            "sharelife.toml",
            &format!("plugin_paths = [\"plugins\"]\naudit_log = \"audit.jsonl\"\n{extra}"),
        );
        ws
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `sharelife ARGS` in the workspace.
    fn sharelife(&self, args: &[&str]) -> (i32, String, String) {
        self.sharelife_with_stdin(args, b"")
    }

    fn sharelife_with_stdin(&self, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sharelife"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        common::outcome(child.wait_with_output().unwrap())
    }
}

/// A library cargo built next to this test (the example plugins are
/// dev-dependencies, so their cdylibs are in `target/debug/deps`).
fn built(file: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().join(file);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The words of the report line of step `id`: id, plugin.handler,
/// status, `attempts`, count, duration.
fn step_line<'a>(out: &'a str, id: &str) -> Vec<&'a str> {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("no line for step {id} in:\n{out}"));
    assert!(line.starts_with("  "), "{line:?}");
    line.split_whitespace().collect()
}

/// Whether `text` is a duration as the report prints it.
fn is_duration(text: &str) -> bool {
    ["µs", "ms", "s"].iter().any(|unit| {
        text.strip_suffix(unit)
            .is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok())
    })
}

#[test]
fn a_pipeline_runs_and_the_report_shows_every_step_and_the_output() {
    let ws = Workspace::new("");
    ws.write("shout.yaml", SHOUT);
    // No --config: ./sharelife.toml is read.
    let (code, out, err) = ws.sharelife(&["run", "--pipeline", "shout.yaml", "--input", "hello"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "", "nothing on stderr when all is well");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let head = lines[0]
        .strip_prefix("pipeline shout.yaml: completed in ")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(is_duration(head), "{head}");
    let shout = step_line(&out, "shout");
    assert_eq!(
        shout[..5],
        ["shout", "upper.run", "completed", "attempts", "1"]
    );
    assert!(is_duration(shout[5]), "{shout:?}");
    let sign = step_line(&out, "sign");
    assert_eq!(
        sign[..5],
        ["sign", "suffix.run", "completed", "attempts", "1"]
    );
    // The suffix comes from the pipeline file's config for the plugin.
    assert_eq!(lines[3], "output: HELLO!");
}

#[test]
fn the_json_report_has_status_steps_outputs_and_the_boot() {
    let ws = Workspace::new("");
    ws.write("shout.yaml", SHOUT);
    let (code, out, err) = ws.sharelife(&[
        "run",
        "--config",
        "sharelife.toml",
        "--pipeline",
        "shout.yaml",
        "--input",
        "hi",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "completed");
    assert_eq!(v["pipeline"], "shout.yaml");
    assert_eq!(v["steps"].as_array().unwrap().len(), 2);
    assert_eq!(v["steps"][0]["step_id"], "shout");
    assert_eq!(v["steps"][0]["plugin"], "examples.upper");
    assert_eq!(v["steps"][0]["status"], "completed");
    assert_eq!(v["steps"][0]["attempts"], 1);
    assert!(v["steps"][1]["duration_us"].is_u64());
    assert_eq!(v["outputs"]["shout"], "HI");
    assert_eq!(v["outputs"]["sign"], "HI!");
    assert_eq!(v["final_output"], "HI!");
    assert_eq!(
        v["boot"]["started"],
        serde_json::json!(["examples.echo", "examples.suffix", "examples.upper"])
    );
    assert_eq!(v["boot"]["failed"], serde_json::json!([]));
}

#[test]
fn a_failed_step_fails_the_run_with_exit_1_and_says_which() {
    let ws = Workspace::new("");
    ws.write("checked.yaml", CHECKED);
    let (code, out, err) = ws.sharelife(&["run", "--pipeline", "checked.yaml", "--input", "hello"]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with("pipeline checked.yaml: failed in "),
        "{out}"
    );
    assert_eq!(
        step_line(&out, "check")[..5],
        ["check", "suffix.verify", "failed", "attempts", "1"]
    );
    assert!(
        out.contains("\n      error: \"HELLO\" does not end with \" ::verified\"\n"),
        "{out}"
    );
    assert_eq!(
        step_line(&out, "sign")[..5],
        ["sign", "suffix.run", "not_run", "attempts", "0"]
    );
    assert!(
        out.ends_with("output: none (the last step, \"sign\", is not_run)\n"),
        "{out}"
    );
    assert_eq!(
        err,
        "error: pipeline checked.yaml failed at step \"check\": \"HELLO\" does not end with \" ::verified\"\n\
         hint: the step's on_failure stopped the run; `on_failure: skip` or `retry` goes on past it\n"
    );

    // The JSON report of a failed run is still printed, with the outputs
    // produced before the failure.
    let (code, out, _) = ws.sharelife(&[
        "run",
        "--pipeline",
        "checked.yaml",
        "--input",
        "hello",
        "--json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "failed");
    assert_eq!(v["steps"][1]["status"], "failed");
    assert_eq!(v["steps"][2]["status"], "not_run");
    assert_eq!(v["outputs"], serde_json::json!({ "shout": "HELLO" }));
    assert_eq!(v["final_output"], serde_json::Value::Null);
}

#[test]
fn a_skipped_step_is_reported_but_the_run_succeeds() {
    let ws = Workspace::new("");
    ws.write(
        "skipping.yaml",
        &CHECKED.replace(
            "    input_from: shout\n  - step_id: sign",
            "    input_from: shout\n    on_failure: skip\n  - step_id: sign",
        ),
    );
    let (code, out, err) =
        ws.sharelife(&["run", "--pipeline", "skipping.yaml", "--input", "hello"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("pipeline skipping.yaml: completed_with_skips in "),
        "{out}"
    );
    assert_eq!(step_line(&out, "check")[2], "skipped");
    assert_eq!(step_line(&out, "sign")[2], "completed");
    assert!(out.ends_with("output: HELLO ::verified\n"), "{out}");
}

#[test]
fn a_pipeline_that_does_not_fit_the_host_lists_each_problem_with_its_line() {
    let ws = Workspace::new("");
    ws.write(
        "unfit.yaml",
        "schema_version: sharelife.pipeline.v1\nplugins:\n  - { alias: upper, plugin: examples.upper }\nsteps:\n  - step_id: shout\n    plugin_ref: upper\n    handler: whisper\n",
    );
    let (code, out, err) = ws.sharelife(&["run", "--pipeline", "unfit.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert_eq!(
        lines[0],
        "error: pipeline unfit.yaml cannot run on this host: 1 problem"
    );
    assert!(
        lines[1].starts_with("  unfit.yaml:7: steps[0].handler: ") && lines[1].contains("whisper"),
        "{err}"
    );
    assert!(
        lines[2].starts_with("hint: every plugin it uses must be in the plugin folders ("),
        "{err}"
    );
}

#[test]
fn an_invalid_pipeline_file_is_refused_before_the_host_boots() {
    let ws = Workspace::new("");
    ws.write(
        "typo.yaml",
        "schema_version: sharelife.pipeline.v1\nplugins:\n  - { alias: upper, plugin: examples.upper }\nsteps:\n  - step_id: shout\n    plugin_ref: uper\n",
    );
    let (code, out, err) = ws.sharelife(&["run", "--pipeline", "typo.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "error: invalid pipeline typo.yaml: 1 problem\n  \
         typo.yaml:6: steps[0].plugin_ref: no plugin has the alias \"uper\"; the aliases are: upper\n\
         hint: fix the file; `sharelife validate FILE` checks it without running anything\n"
    );
    assert!(
        !ws.path("audit.jsonl").exists(),
        "the host was never built, so no audit log was opened"
    );
}

#[test]
fn call_prints_the_handler_output_as_text_or_hex() {
    let ws = Workspace::new("");
    let (code, out, err) = ws.sharelife(&[
        "run",
        "--call",
        "examples.echo",
        "upper",
        "--input",
        "hi there",
    ]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "HI THERE\n", ""));

    // JSON input is passed as it is written.
    let (code, out, _) = ws.sharelife(&[
        "run",
        "--call",
        "examples.echo",
        "echo",
        "--input",
        r#"{"a": [1, 2]}"#,
    ]);
    assert_eq!((code, out.as_str()), (0, "{\"a\": [1, 2]}\n"));

    // @FILE passes a file's bytes; bytes that are not UTF-8 print as hex.
    std::fs::write(ws.path("input.bin"), [0x00, 0xff, 0x10]).unwrap();
    let (code, out, _) = ws.sharelife(&[
        "run",
        "--call",
        "examples.echo",
        "echo",
        "--input",
        "@input.bin",
    ]);
    assert_eq!((code, out.as_str()), (0, "<3 bytes, not UTF-8: 00ff10>\n"));

    // ... and long ones as a byte count.
    std::fs::write(ws.path("big.bin"), vec![0xffu8; 1000]).unwrap();
    let (code, out, _) = ws.sharelife(&[
        "run",
        "--call",
        "examples.echo",
        "echo",
        "--input",
        "@big.bin",
    ]);
    assert_eq!((code, out.as_str()), (0, "<1000 bytes, not UTF-8>\n"));

    // @- reads standard input.
    let (code, out, _) = ws.sharelife_with_stdin(
        &["run", "--call", "examples.echo", "upper", "--input", "@-"],
        b"from stdin",
    );
    assert_eq!((code, out.as_str()), (0, "FROM STDIN\n"));

    let (code, _, err) = ws.sharelife(&[
        "run",
        "--call",
        "examples.echo",
        "echo",
        "--input",
        "@missing.bin",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: cannot read input file missing.bin: ")
            && err.ends_with(
                "\nhint: --input takes the input itself, or @FILE for a file's bytes (@- for stdin)\n"
            ),
        "{err}"
    );
}

#[test]
fn call_json_has_the_output_or_the_error() {
    let ws = Workspace::new("[plugins.\"examples.suffix\"]\nconfig = { suffix = \"!\" }\n");
    let (code, out, err) = ws.sharelife(&["run", "--call", "examples.echo", "count", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["plugin"], "examples.echo");
    assert_eq!(v["handler"], "count");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["output"], r#"{"calls":1}"#);
    assert_eq!(v["error"], serde_json::Value::Null);

    let (code, out, err) = ws.sharelife(&[
        "run",
        "--call",
        "examples.suffix",
        "verify",
        "--input",
        "abc",
        "--json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "failed");
    assert_eq!(v["output"], serde_json::Value::Null);
    assert_eq!(v["error"], r#""abc" does not end with "!""#);
    assert_eq!(
        err,
        "error: examples.suffix.verify failed: \"abc\" does not end with \"!\"\n"
    );
}

#[test]
fn a_failing_handler_exits_1_with_its_error() {
    // The host config's plugin config reaches the plugin.
    let ws = Workspace::new("[plugins.\"examples.suffix\"]\nconfig = { suffix = \"!\" }\n");
    let (code, out, err) = ws.sharelife(&[
        "run",
        "--call",
        "examples.suffix",
        "verify",
        "--input",
        "abc!",
    ]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "abc!\n", ""));
    let (code, out, err) = ws.sharelife(&[
        "run",
        "--call",
        "examples.suffix",
        "verify",
        "--input",
        "abc",
    ]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "error: examples.suffix.verify failed: \"abc\" does not end with \"!\"\n"
    );
}

#[test]
fn an_unknown_handler_or_plugin_is_an_error_that_lists_what_there_is() {
    let ws = Workspace::new("");
    let (code, out, err) = ws.sharelife(&["run", "--call", "examples.echo", "shout"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "error: plugin \"examples.echo\" has no handler \"shout\"\nhint: its handlers: echo, upper, greet, count\n"
    );
    let (code, _, err) = ws.sharelife(&["run", "--call", "examples.nope", "run"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: no plugin \"examples.nope\" is loaded\nhint: loaded: examples.echo, examples.suffix, examples.upper\n"
    );
}

#[test]
fn a_missing_config_is_one_line_with_a_hint() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sharelife"))
        .args(["run", "--call", "examples.echo", "upper"])
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: no host config: ./sharelife.toml does not exist\nhint: pass --config FILE (a host config TOML; `sharelife validate FILE` checks one)\n"
    );

    let ws = Workspace::new("");
    let (code, _, err) = ws.sharelife(&[
        "run",
        "--config",
        "other.toml",
        "--call",
        "examples.echo",
        "upper",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: cannot read host config other.toml: ")
            && err.ends_with("\nhint: check the path given to --config (a host config TOML)\n"),
        "{err}"
    );
}

#[test]
fn an_invalid_config_is_refused_with_file_line_and_key() {
    let ws = Workspace::new("");
    ws.write(
        "bad.toml",
        "plugin_paths = [\"plugins\"]\nhealth_check_interval = \"soon\"\n",
    );
    let (code, out, err) = ws.sharelife(&[
        "run",
        "--config",
        "bad.toml",
        "--call",
        "examples.echo",
        "upper",
    ]);
    assert_eq!((code, out.as_str()), (1, ""));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0], "error: invalid host config bad.toml: 1 problem",
        "{err}"
    );
    assert!(
        lines[1].starts_with("  bad.toml:2: health_check_interval: "),
        "{err}"
    );
    assert_eq!(
        lines[2],
        "hint: fix the config; `sharelife validate FILE` checks it without running anything"
    );
}

#[test]
fn strict_mode_refuses_a_plugin_that_fails_to_load() {
    // examples.upper refuses this config in `initialize`.
    let broken = "[plugins.\"examples.upper\"]\nconfig = { transform = \"sideways\" }\n";
    let ws = Workspace::new(&format!("strict = true\n{broken}"));
    let (code, out, err) =
        ws.sharelife(&["run", "--call", "examples.echo", "upper", "--input", "x"]);
    assert_eq!((code, out.as_str()), (1, ""));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert_eq!(
        lines[0],
        "error: strict mode: the host did not start because 1 enabled plugin failed"
    );
    assert!(
        lines[1].starts_with("  examples.upper (load): ") && lines[1].contains("sideways"),
        "{err}"
    );
    assert_eq!(
        lines[2],
        "hint: fix or disable them ([plugins.\"ID\"] enabled = false), or set strict = false in the host config"
    );

    // Not strict: a warning, and the other plugins serve.
    let ws = Workspace::new(broken);
    let (code, out, err) =
        ws.sharelife(&["run", "--call", "examples.echo", "upper", "--input", "x"]);
    assert_eq!((code, out.as_str()), (0, "X\n"));
    assert!(
        err.starts_with("warning: plugin examples.upper did not start (load): ")
            && err.lines().count() == 1,
        "{err}"
    );
    // ... but the failed one says why when called.
    let (code, _, err) = ws.sharelife(&["run", "--call", "examples.upper", "run", "--input", "x"]);
    assert_eq!(code, 1);
    let last: Vec<&str> = err.lines().collect();
    assert!(
        last[1].starts_with("error: plugin \"examples.upper\" is not running (error): ")
            && last[1].contains("sideways"),
        "{err}"
    );
}

#[test]
fn the_host_shuts_down_cleanly_and_the_audit_log_is_flushed() {
    let ws = Workspace::new("");
    ws.write("shout.yaml", SHOUT);
    let (code, _, err) = ws.sharelife(&["run", "--pipeline", "shout.yaml", "--input", "x"]);
    assert_eq!(code, 0, "{err}");
    let log = ws.path("audit.jsonl");
    let verified = sharelife_core::audit::verify(&log).unwrap();
    let records = sharelife_core::audit::read_log(&log).unwrap();
    assert_eq!(verified.records, records.len() as u64);
    // Every plugin was started and, at the end, stopped and unloaded.
    for id in ["examples.echo", "examples.upper", "examples.suffix"] {
        let moves: Vec<&str> = records
            .iter()
            .filter(|r| r.plugin == id && r.event == "lifecycle")
            .map(|r| r.request.as_str())
            .collect();
        assert!(moves.contains(&"loaded -> active"), "{id}: {moves:?}");
        assert_eq!(
            moves.last(),
            Some(&"unloading -> unloaded"),
            "{id}: {moves:?}"
        );
    }
}

#[test]
fn exactly_one_of_pipeline_or_call_is_required() {
    let ws = Workspace::new("");
    let (code, _, err) = ws.sharelife(&["run"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("the following required arguments were not provided")
            && err.contains("<--pipeline <FILE>|--call <ID> <HANDLER>>"),
        "{err}"
    );
    let (code, _, err) = ws.sharelife(&[
        "run",
        "--pipeline",
        "p.yaml",
        "--call",
        "examples.echo",
        "upper",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
    let (code, _, err) = ws.sharelife(&["run", "--call", "examples.echo"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn plugin_folders_are_named_as_written_without_doubled_dot_slashes() {
    // `./empty` in `./sharelife.toml` (the default config) or in a config
    // given as `./host.toml` is the folder `./empty`, not `././empty`.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let config = "plugin_paths = [\"./empty\", \"./empty/./.\"]\n";
    std::fs::write(dir.path().join("sharelife.toml"), config).unwrap();
    std::fs::write(dir.path().join("host.toml"), config).unwrap();
    for extra in [&[][..], &["--config", "./host.toml"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_sharelife"))
            .arg("run")
            .args(extra)
            .args(["--call", "examples.echo", "upper"])
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let (code, _, err) = common::outcome(out);
        assert_eq!(code, 1);
        assert!(
            err.ends_with(
                "hint: no plugin was found in the plugin folders (./empty, ./empty); put built plugin libraries there\n"
            ),
            "{extra:?}: {err}"
        );
    }
}

/// `sharelife run` in `ws` with `SHARELIFE_SANDBOX_RUNNER` set to `runner`.
fn sharelife_with_runner(
    ws: &Workspace,
    runner: &std::path::Path,
    args: &[&str],
) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sharelife"))
        .args(args)
        .current_dir(ws.dir.path())
        .env_remove("RUST_LOG")
        .env("SHARELIFE_SANDBOX_RUNNER", runner)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    common::outcome(output)
}

#[test]
fn isolation_process_in_the_config_runs_the_plugin_through_the_sandbox() {
    let ws = Workspace::new(
        "strict = true\n[plugins.\"examples.echo\"]\nisolation = \"process\"\nlimits = { call_timeout = \"30s\", open_files = 64 }\n",
    );
    let call = ["run", "--call", "examples.echo", "echo", "--input", "boxed"];

    // The CLI hands the plugin to the sandbox provider: with no runner
    // where it is told to look, the plugin is refused (strict: the run
    // stops) and never runs in process.
    let nowhere = ws.path("no-runner-here");
    let (code, out, err) = sharelife_with_runner(&ws, &nowhere, &call);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("must run out of process, but the sandbox could not start it")
            && err.contains("no-runner-here"),
        "{err}"
    );

    // With the runner cargo built, the call is answered from the child.
    let Ok(runner) = sharelife_sandbox::locate_runner() else {
        println!(
            "SKIPPED the sandboxed call: the sandbox runner is not built next to the tests (cargo build -p sharelife-sandbox)"
        );
        return;
    };
    let missing = sharelife_sandbox::probe().missing(&[sharelife_sandbox::Feature::Seccomp]);
    if !missing.is_empty() {
        println!("SKIPPED the sandboxed call: this kernel lacks seccomp");
        return;
    }
    let (code, out, err) = sharelife_with_runner(&ws, &runner, &call);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "boxed\n", ""));
}
