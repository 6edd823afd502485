//! [`SandboxError`] and [`ExitCause`]: what can go wrong with a sandboxed
//! plugin, typed so a host can match.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use sharelife_core::PluginError;

use crate::Feature;
use crate::frame::StartStage;

/// Why the child is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitCause {
    /// It exited with `code` (`std::process::exit`, or the runner after
    /// the host closed the socket: 0).
    Exited {
        /// The exit status.
        code: i32,
    },
    /// A signal ended it: `SIGSEGV` (a bad memory access), `SIGABRT`
    /// (`abort()`, a stack overflow, an allocation over the memory
    /// limit), `SIGXCPU`/`SIGKILL` (the CPU-time limit), `SIGKILL` from
    /// elsewhere.
    Signaled {
        /// The signal number.
        signal: i32,
        /// Whether the kernel tried to dump core (the runner sets the
        /// core size limit to 0, so no file is written).
        core_dumped: bool,
    },
    /// The host killed it because a call ran past `call_timeout`.
    TimedOut {
        /// The limit that was exceeded.
        call_timeout: Duration,
    },
}

impl ExitCause {
    /// The signal's name (`SIGSEGV`), for a [`Signaled`](Self::Signaled)
    /// cause.
    pub fn signal_name(&self) -> Option<&'static str> {
        let ExitCause::Signaled { signal, .. } = self else {
            return None;
        };
        Some(match *signal {
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGABRT => "SIGABRT",
            libc::SIGKILL => "SIGKILL",
            libc::SIGBUS => "SIGBUS",
            libc::SIGILL => "SIGILL",
            libc::SIGFPE => "SIGFPE",
            libc::SIGXCPU => "SIGXCPU",
            libc::SIGSYS => "SIGSYS",
            libc::SIGTERM => "SIGTERM",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGTRAP => "SIGTRAP",
            _ => "a signal",
        })
    }
}

impl fmt::Display for ExitCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitCause::Exited { code } => write!(f, "exited with status {code}"),
            ExitCause::Signaled { signal, .. } => write!(
                f,
                "killed by signal {signal} ({})",
                self.signal_name().unwrap_or("a signal")
            ),
            ExitCause::TimedOut { call_timeout } => write!(
                f,
                "killed by the host after a call ran past its call_timeout of {}",
                humantime::format_duration(*call_timeout)
            ),
        }
    }
}

/// What went wrong with a sandboxed plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The kernel cannot give features the host requires; the plugin was
    /// not started (or, when the runner found out, not created).
    #[error(
        "the sandbox cannot enforce what is required: {} missing",
        list(missing)
    )]
    Unsupported {
        /// The features missing.
        missing: Vec<Feature>,
    },
    /// No runner binary was found.
    #[error(
        "the sandbox runner `sharelife-sandbox-runner` was not found (looked at {}); \
         build it with `cargo build -p sharelife-sandbox`, set SHARELIFE_SANDBOX_RUNNER, \
         or call sharelife_sandbox::run_if_runner() first in the host's main",
        paths(searched)
    )]
    RunnerNotFound {
        /// Where it was looked for.
        searched: Vec<PathBuf>,
    },
    /// The runner could not be started.
    #[error("starting the sandbox runner {}: {source}", runner.display())]
    Spawn {
        /// The runner.
        runner: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The runner started but the plugin did not: its library failed the
    /// loader's checks, the restrictions could not be applied, or its
    /// constructor, `initialize` or `start` failed.
    #[error("the sandboxed plugin did not start ({stage:?}): {message}")]
    Start {
        /// The step that failed.
        stage: StartStage,
        /// What failed.
        message: String,
    },
    /// The call ran past `call_timeout`: the whole child was killed.
    #[error(
        "the call ran past its call_timeout of {}; the sandboxed plugin's process was killed",
        humantime::format_duration(*after)
    )]
    Timeout {
        /// The limit.
        after: Duration,
    },
    /// The child is gone: this call, and every later one, fails with the
    /// cause.
    #[error("the sandboxed plugin's process {cause}{}", last_words(stderr))]
    ChildDied {
        /// How it ended.
        cause: ExitCause,
        /// The end of what it wrote to its standard error (the panic or
        /// allocation-failure message, when there was one).
        stderr: String,
    },
    /// The handler returned an error (or panicked, which the runner
    /// contains like the in-process tier does).
    #[error(transparent)]
    Handler(PluginError),
    /// The runner broke the protocol; it has been killed.
    #[error("the sandbox runner broke the protocol ({reason}); it was killed")]
    Protocol {
        /// What was wrong.
        reason: String,
    },
    /// Talking to the runner failed in a way that is not its death.
    #[error("talking to the sandbox runner: {0}")]
    Io(#[source] std::io::Error),
}

fn list(features: &[Feature]) -> String {
    let names: Vec<String> = features.iter().map(Feature::to_string).collect();
    names.join(", ")
}

fn paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

fn last_words(stderr: &str) -> String {
    // The last line that says something (std's "note: run with
    // `RUST_BACKTRACE=1`" says nothing about the cause).
    match stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("note: "))
    {
        Some(line) => format!("; it last wrote: {line}"),
        None => String::new(),
    }
}
