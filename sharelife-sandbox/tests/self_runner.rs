//! A host executable that calls `sharelife_sandbox::run_if_runner` first
//! in `main` is its own sandbox runner: this test executable is such a
//! host (no libtest harness, so that `main` is ours). The runner found is
//! this executable, ahead of the `sharelife-sandbox-runner` binary cargo
//! built beside it; a plugin started through it runs in a child of this
//! very image, under the walls; and a runner with a second thread
//! refuses to restrict itself.

mod support;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::ExitCode;

use sharelife_sandbox::{
    Feature, RUNNER_ARG, RUNNER_ENV, RUNNER_NAME, Requirements, Runner, RunnerSource, SandboxError,
    Sandboxed, StartStage,
};
use support::{escape_library, kernel_gives, limits, text};

/// A library under a folder of this name makes the runner start a thread
/// before `run_if_runner`, as a host that calls it inside
/// `#[tokio::main]` would (the test's one seam: the runner's environment
/// is cleared, its arguments are all that reaches it).
const THREADED: &str = "spawn-a-thread-first";

fn main() -> ExitCode {
    if std::env::args().any(|a| a.contains(THREADED)) {
        std::thread::spawn(|| {
            loop {
                std::thread::park();
            }
        });
    }
    sharelife_sandbox::run_if_runner();

    let tests: [(&str, fn()); 4] = [
        (
            "this_executable_is_the_runner_ahead_of_the_binary_beside_it",
            this_executable_is_the_runner_ahead_of_the_binary_beside_it,
        ),
        (
            "a_plugin_runs_under_the_walls_in_a_child_of_this_executable",
            a_plugin_runs_under_the_walls_in_a_child_of_this_executable,
        ),
        (
            "a_runner_with_a_second_thread_refuses_to_restrict_itself",
            a_runner_with_a_second_thread_refuses_to_restrict_itself,
        ),
        (
            "the_environment_wins_over_this_executable",
            the_environment_wins_over_this_executable,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = 0;
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match std::panic::catch_unwind(AssertUnwindSafe(test)) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn this_exe() -> PathBuf {
    std::env::current_exe().expect("the test knows its executable")
}

/// Whether the environment names a runner (then it wins, by design).
fn runner_named_by_environment(test: &str) -> bool {
    let named = std::env::var_os(RUNNER_ENV).is_some();
    if named {
        println!("SKIPPED {test}: {RUNNER_ENV} is set, and it wins over this executable");
    }
    named
}

fn this_executable_is_the_runner_ahead_of_the_binary_beside_it() {
    if runner_named_by_environment("this_executable_is_the_runner") {
        return;
    }
    // cargo built the separate runner one directory up: it would be found
    // if this executable had not registered itself.
    let beside = this_exe()
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join(RUNNER_NAME);
    assert!(beside.is_file(), "{} was not built", beside.display());

    let runner = Runner::locate().expect("a runner");
    assert_eq!(runner.source, RunnerSource::ThisExecutable);
    assert_eq!(runner.path, this_exe());
    assert_eq!(
        sharelife_sandbox::locate_runner().expect("a runner"),
        this_exe()
    );
}

fn a_plugin_runs_under_the_walls_in_a_child_of_this_executable() {
    if runner_named_by_environment("a_plugin_runs_under_the_walls")
        || !kernel_gives(
            "a_plugin_runs_under_the_walls",
            &[Feature::Landlock, Feature::Seccomp],
        )
    {
        return;
    }
    let sandbox = Sandboxed::spawn(
        escape_library(),
        &limits(),
        &Requirements::new([Feature::Landlock, Feature::Seccomp]),
    )
    .expect("the escape fixture starts in a child of this executable");

    // The child is this image, started with the reserved argument first.
    let pid = sandbox.pid();
    assert_ne!(pid, std::process::id());
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("the child's executable");
    assert_eq!(exe, this_exe());
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("the child's arguments");
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    assert_eq!(args.get(1).copied(), Some(RUNNER_ARG.as_bytes()));
    assert_eq!(args.get(2).copied(), Some(&b"--config"[..]));

    // Restricted before the plugin ran: what the runner enforced, and a
    // road out that works in process (tests/escape_attempts_fail_in_the_sandbox.rs)
    // is shut here too.
    let enforced = sandbox.enforced();
    assert!(enforced.seccomp && enforced.no_new_privs && enforced.capabilities_dropped);
    let inside = text(
        sandbox
            .call("read_hostname", b"")
            .expect("the call answers"),
    );
    assert!(inside.starts_with("denied: "), "{inside}");
    assert_eq!(
        sandbox
            .call("echo", b"still serving")
            .expect("still serving"),
        b"still serving"
    );
}

fn a_runner_with_a_second_thread_refuses_to_restrict_itself() {
    if runner_named_by_environment("a_runner_with_a_second_thread") {
        return;
    }
    let dir = tempfile::tempdir().expect("a scratch directory");
    let folder = dir.path().join(THREADED);
    std::fs::create_dir(&folder).expect("a folder");
    let library = folder.join(escape_library().file_name().expect("a file name"));
    std::fs::copy(escape_library(), &library).expect("a copy of the fixture");

    let error = Sandboxed::spawn(&library, &limits(), &Requirements::default())
        .expect_err("a runner with two threads must not serve");
    match error {
        SandboxError::Start {
            stage: StartStage::Restrict,
            message,
        } => assert!(
            message.contains("2 threads") && message.contains("run_if_runner"),
            "{message}"
        ),
        other => panic!("expected a refusal at the restrict stage, got {other:?}"),
    }
}

fn the_environment_wins_over_this_executable() {
    match std::env::var_os(RUNNER_ENV) {
        // In the child below: the variable names no file, and that is an
        // error naming it, not a fallback to this executable.
        Some(named) => {
            match Runner::locate() {
                Err(SandboxError::RunnerNotFound { searched }) => {
                    assert_eq!(searched, [PathBuf::from(&named)]);
                }
                other => panic!("expected RunnerNotFound, got {other:?}"),
            }
            let refused = Sandboxed::spawn(escape_library(), &limits(), &Requirements::default());
            assert!(
                matches!(refused, Err(SandboxError::RunnerNotFound { .. })),
                "{refused:?}"
            );
        }
        // Setting this process's environment takes `unsafe` in Rust 2024:
        // this test runs itself again with the variable set.
        None => {
            let out = std::process::Command::new(this_exe())
                .arg("the_environment_wins_over_this_executable")
                .env(RUNNER_ENV, "/nonexistent/sharelife-sandbox-runner")
                .output()
                .expect("this test runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success()
                    && stdout.contains("test the_environment_wins_over_this_executable ... ok"),
                "{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
