//! Install steps that run a program: off by default, an argv-prefix
//! allowlist, no shell, a clean environment, a timeout that kills the
//! whole process group, bounded output, and evidence kept.

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::InstallError;
use crate::config::ExecutionConfig;

/// The environment variables a step keeps (everything else is cleared):
/// what a toolchain needs to be found, nothing that carries secrets.
pub const KEPT_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "LANG",
    "TMPDIR",
];

/// What a step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepEvidence {
    /// The command.
    pub argv: Vec<String>,
    /// The working directory, relative to the staging directory.
    pub cwd: String,
    /// The process id, which is also its process group id (the group is
    /// killed at the timeout and when the step ends).
    pub pid: u32,
    /// The exit status (`None`: killed).
    pub status: Option<i32>,
    /// Whether it was killed at its timeout.
    pub timed_out: bool,
    /// Milliseconds it ran.
    pub duration_ms: u64,
    /// sha256 of the whole stdout.
    pub stdout_sha256: String,
    /// The tail of stdout (at most `max_output` bytes).
    pub stdout_tail: String,
    /// sha256 of the whole stderr.
    pub stderr_sha256: String,
    /// The tail of stderr.
    pub stderr_tail: String,
    /// Files the step produced that the install uses: path and sha256.
    #[serde(default)]
    pub produced: Vec<(String, String)>,
}

impl StepEvidence {
    /// Whether the step succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == Some(0) && !self.timed_out
    }
}

/// Checks `argv` against the allowlist: it must start with one of the
/// allowed prefixes, word for word.
pub fn check_allowed(argv: &[String], config: &ExecutionConfig) -> Result<(), InstallError> {
    let allowed = config
        .allow
        .iter()
        .any(|prefix| !prefix.is_empty() && argv.starts_with(prefix));
    if allowed {
        Ok(())
    } else {
        Err(InstallError::CommandNotAllowed {
            argv: argv.to_vec(),
            allowed: config.allow.clone(),
        })
    }
}

/// Runs a step in `cwd` (checked against the allowlist first), in its own
/// process group, with a clean environment; kills the group at the
/// timeout. Returns the evidence whatever happened.
pub fn run_step(
    argv: &[String],
    cwd: &Path,
    staging: &Path,
    config: &ExecutionConfig,
) -> Result<StepEvidence, InstallError> {
    check_allowed(argv, config)?;
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(cwd)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for key in KEPT_ENV {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let started = Instant::now();
    let mut child = command.spawn().map_err(|source| InstallError::Io {
        path: PathBuf::from(&argv[0]),
        source,
    })?;
    let pid = child.id();
    let max = config.max_output;
    let out = reader(child.stdout.take().expect("piped"), max);
    let err = reader(child.stderr.take().expect("piped"), max);
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let (status, timed_out) = match rx.recv_timeout(config.timeout) {
        Ok(status) => (status.ok().and_then(|s| s.code()), false),
        Err(_) => {
            kill_group(pid);
            let status = rx.recv().ok().and_then(Result::ok).and_then(|s| s.code());
            (status, true)
        }
    };
    let _ = waiter.join();
    // The step is over: anything it left running in its group goes too, so
    // no descendant holds the output pipes (or the staging directory).
    kill_group(pid);
    // A killed descendant is gone only once it is reaped, by whichever
    // process inherited it (init, or a subreaper): until then the group
    // still exists. Returning before that raced with the reaping.
    if !wait_group_gone(pid, GROUP_EXIT_BOUND) {
        tracing::warn!(
            pid,
            "the build step's process group is still there {GROUP_EXIT_BOUND:?} after it was killed (its processes are not reaped)"
        );
    }
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (stdout_sha256, stdout_tail) = finish(out, Duration::from_millis(500));
    let (stderr_sha256, stderr_tail) = finish(err, Duration::from_millis(500));
    Ok(StepEvidence {
        argv: argv.to_vec(),
        cwd: cwd
            .strip_prefix(staging)
            .unwrap_or(cwd)
            .display()
            .to_string(),
        pid,
        status,
        timed_out,
        duration_ms,
        stdout_sha256,
        stdout_tail,
        stderr_sha256,
        stderr_tail,
        produced: Vec::new(),
    })
}

/// How long a killed step's process group may take to be gone.
const GROUP_EXIT_BOUND: Duration = Duration::from_secs(5);

/// Waits, up to `bound`, until no process is left in the group whose
/// leader was `pid` (zombies included: a process is gone once reaped).
/// Whether it is gone.
fn wait_group_gone(pid: u32, bound: Duration) -> bool {
    #[cfg(unix)]
    {
        let Some(pgid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return true;
        };
        let deadline = Instant::now() + bound;
        let mut pause = Duration::from_micros(100);
        loop {
            if rustix::process::test_kill_process_group(pgid) == Err(rustix::io::Errno::SRCH) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (pid, bound);
        true
    }
}

fn kill_group(pid: u32) {
    #[cfg(unix)]
    {
        if let Some(pgid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

type Reader = mpsc::Receiver<(String, String)>;

/// Reads a stream to its end on a thread: the sha256 of everything and
/// the last `max` bytes.
fn reader(mut stream: impl Read + Send + 'static, max: usize) -> Reader {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut hasher = Sha256::new();
        let mut tail: VecDeque<u8> = VecDeque::new();
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    tail.extend(&buf[..n]);
                    while tail.len() > max {
                        tail.pop_front();
                    }
                }
            }
        }
        let tail: Vec<u8> = tail.into_iter().collect();
        let _ = tx.send((
            hex::encode(hasher.finalize()),
            String::from_utf8_lossy(&tail).into_owned(),
        ));
    });
    rx
}

fn finish(rx: Reader, grace: Duration) -> (String, String) {
    rx.recv_timeout(grace).unwrap_or_else(|_| {
        (
            String::new(),
            "(output still held open by an escaped process)".to_owned(),
        )
    })
}
