//! What the CLI's integration tests share: running a binary and reading
//! what it did.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::process::{Command, Output};

/// The exit code (-1 for a signal), stdout and stderr of a finished run.
pub(crate) fn outcome(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs `exe` with `args` and waits for it.
pub(crate) fn run(exe: &str, args: &[&str]) -> (i32, String, String) {
    outcome(Command::new(exe).args(args).output().unwrap())
}

/// Runs `sharelife ARGS`.
pub(crate) fn sharelife(args: &[&str]) -> (i32, String, String) {
    run(env!("CARGO_BIN_EXE_sharelife"), args)
}
