//! Finding the runner binary.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use crate::SandboxError;

/// The runner's file name.
pub const RUNNER_NAME: &str = "sharelife-sandbox-runner";

/// The environment variable that names the runner explicitly.
pub const RUNNER_ENV: &str = "SHARELIFE_SANDBOX_RUNNER";

/// Finds the runner: the path in `SHARELIFE_SANDBOX_RUNNER` when it is
/// set (and nothing else then), otherwise `sharelife-sandbox-runner` next
/// to the current executable, otherwise one directory up (cargo puts test
/// and bench executables in `target/<profile>/deps/` and binaries in
/// `target/<profile>/`).
///
/// A host application ships the runner next to its own binary: `cargo
/// install` of the host and of `sharelife-sandbox` (or a build of the
/// workspace) puts both in the same `bin/`.
///
/// # Errors
///
/// [`SandboxError::RunnerNotFound`] listing the places looked at.
pub fn locate_runner() -> Result<PathBuf, SandboxError> {
    if let Some(path) = std::env::var_os(RUNNER_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(SandboxError::RunnerNotFound {
                searched: vec![path],
            })
        };
    }
    let mut searched = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        let mut dir = exe.parent();
        for _ in 0..2 {
            let Some(d) = dir else { break };
            let candidate = d.join(RUNNER_NAME);
            if candidate.is_file() {
                return Ok(candidate);
            }
            searched.push(candidate);
            dir = d.parent();
        }
    }
    Err(SandboxError::RunnerNotFound { searched })
}
