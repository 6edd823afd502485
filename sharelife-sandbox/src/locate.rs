//! Finding the runner: a host executable that serves as its own runner
//! ([`run_if_runner`]), or the `sharelife-sandbox-runner` binary.
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::OnceLock;

use crate::SandboxError;

/// The runner's file name.
pub const RUNNER_NAME: &str = "sharelife-sandbox-runner";

/// The environment variable that names the runner explicitly.
pub const RUNNER_ENV: &str = "SHARELIFE_SANDBOX_RUNNER";

/// The first argument with which a host re-executes itself as a runner.
/// Reserved: [`run_if_runner`] treats a process whose first argument is
/// exactly this as a runner (and nothing else), so a command line of the
/// host must never start with it.
pub const RUNNER_ARG: &str = "--sharelife-sandbox-runner";

/// This executable, when its `main` called [`run_if_runner`] (and so
/// understands [`RUNNER_ARG`]): the path to report, as found at that call.
static THIS_EXECUTABLE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Makes this executable its own sandbox runner. Call it first thing in
/// `main` — before any thread is started, so not inside
/// `#[tokio::main]` (build the runtime after it):
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     sharelife_sandbox::run_if_runner();
///     // … the host's own main: build a runtime, a host with
///     // `sharelife_sandbox::Provider`, boot …
/// #   std::process::ExitCode::SUCCESS
/// }
/// ```
///
/// When the process was started as a runner — its first argument is
/// exactly [`RUNNER_ARG`], which only this crate passes, when it starts
/// this executable as the runner of a sandboxed plugin — it runs
/// [`runner::main`](crate::runner::main) and exits the process with its
/// code: this function does not return. Otherwise it records that this
/// executable can serve as its own runner and returns at once (it reads
/// only its arguments and, once, the executable's path): [`locate_runner`]
/// then finds this executable, so a host needs no second binary.
///
/// The runner still refuses to go on unless it is the process's only
/// thread (Landlock restricts the thread that asks and the threads it
/// starts later, not those already running), and with a `FAILED` frame the host
/// sees as a typed start error.
///
/// **The trade-off** against shipping `sharelife-sandbox-runner`: the
/// child is the whole host binary, so its ELF initializers
/// (constructors, `inventory`/`#[plugin]` registrations of plugins linked
/// into it) run in the child before the restrictions, as the plugin
/// library's do, and its image is larger (mapped, not resident: only the
/// pages the runner touches are read). The separate binary runs nothing
/// but this crate. Either way the plugin's own code runs only under the
/// restrictions.
pub fn run_if_runner() {
    if is_runner_invocation(std::env::args_os().nth(1).as_deref()) {
        let code: ExitCode = crate::runner::main();
        std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 2 });
    }
    THIS_EXECUTABLE.get_or_init(|| std::env::current_exe().ok());
}

/// Whether a process whose first argument is `first` was started as a
/// runner: only [`RUNNER_ARG`] itself, compared byte for byte.
pub(crate) fn is_runner_invocation(first: Option<&OsStr>) -> bool {
    first == Some(OsStr::new(RUNNER_ARG))
}

/// This executable's path when it registered itself with
/// [`run_if_runner`].
fn this_executable() -> Option<&'static Path> {
    THIS_EXECUTABLE.get()?.as_deref()
}

/// Where a runner was found ([`Runner::locate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunnerSource {
    /// The path in [`RUNNER_ENV`].
    Environment,
    /// This executable, which called [`run_if_runner`]: it re-executes
    /// itself with [`RUNNER_ARG`].
    ThisExecutable,
    /// `sharelife-sandbox-runner` next to this executable or one directory
    /// up.
    Beside,
}

impl std::fmt::Display for RunnerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunnerSource::Environment => "named by SHARELIFE_SANDBOX_RUNNER",
            RunnerSource::ThisExecutable => "this executable, re-executed as the runner",
            RunnerSource::Beside => "the sharelife-sandbox-runner binary beside this executable",
        })
    }
}

/// The runner a sandboxed plugin would be started with, and how it was
/// found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Runner {
    /// The executable.
    pub path: PathBuf,
    /// How it was found.
    pub source: RunnerSource,
}

impl Runner {
    /// Finds the runner, in this order:
    ///
    /// 1. the path in `SHARELIFE_SANDBOX_RUNNER` when it is set (and
    ///    nothing else then: a path that is not a file is an error);
    /// 2. this executable, when its `main` called [`run_if_runner`];
    /// 3. `sharelife-sandbox-runner` next to this executable, then one
    ///    directory up (cargo puts test and bench executables in
    ///    `target/<profile>/deps/` and binaries in `target/<profile>/`).
    ///
    /// # Errors
    ///
    /// [`SandboxError::RunnerNotFound`] listing the places looked at.
    pub fn locate() -> Result<Runner, SandboxError> {
        if let Some(path) = std::env::var_os(RUNNER_ENV) {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(Runner {
                    path,
                    source: RunnerSource::Environment,
                })
            } else {
                Err(SandboxError::RunnerNotFound {
                    searched: vec![path],
                })
            };
        }
        if let Some(exe) = this_executable() {
            return Ok(Runner {
                path: exe.to_owned(),
                source: RunnerSource::ThisExecutable,
            });
        }
        let mut searched = Vec::new();
        if let Ok(exe) = std::env::current_exe() {
            let mut dir = exe.parent();
            for _ in 0..2 {
                let Some(d) = dir else { break };
                let candidate = d.join(RUNNER_NAME);
                if candidate.is_file() {
                    return Ok(Runner {
                        path: candidate,
                        source: RunnerSource::Beside,
                    });
                }
                searched.push(candidate);
                dir = d.parent();
            }
        }
        Err(SandboxError::RunnerNotFound { searched })
    }
}

/// Finds the runner's path as [`Runner::locate`] does (the environment,
/// this executable if it called [`run_if_runner`], the binary beside it).
///
/// A host application either calls [`run_if_runner`] first in its
/// `main` (one binary), or ships `sharelife-sandbox-runner` next to its
/// own binary: `cargo install` of the host and of `sharelife-sandbox` (or
/// a build of the workspace) puts both in the same `bin/`.
///
/// # Errors
///
/// [`SandboxError::RunnerNotFound`] listing the places looked at.
pub fn locate_runner() -> Result<PathBuf, SandboxError> {
    Runner::locate().map(|runner| runner.path)
}

/// The command that starts `runner`: when it is this executable and this
/// executable called [`run_if_runner`], the running image itself
/// (`/proc/self/exe`, so the child is the very binary the host runs even
/// if the file was replaced since) with [`RUNNER_ARG`] first; otherwise
/// `runner` as it is.
pub(crate) fn runner_command(runner: &Path) -> Command {
    match this_executable() {
        Some(exe) if exe == runner => {
            let mut command = Command::new("/proc/self/exe");
            std::os::unix::process::CommandExt::arg0(&mut command, runner);
            command.arg(RUNNER_ARG);
            command
        }
        _ => Command::new(runner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_reserved_first_argument_makes_a_runner() {
        assert!(is_runner_invocation(Some(OsStr::new(RUNNER_ARG))));
        for ordinary in [
            None,
            Some(""),
            Some("run"),
            Some("--config"),
            Some("--help"),
            Some("--sharelife-sandbox-runner=1"),
            Some(" --sharelife-sandbox-runner"),
            Some("--Sharelife-Sandbox-Runner"),
            Some(RUNNER_NAME),
        ] {
            assert!(
                !is_runner_invocation(ordinary.map(OsStr::new)),
                "{ordinary:?}"
            );
        }
    }
}
