//! Running programs: no shell, a clean environment, a timeout, bounded
//! output.
//!
//! Each program runs in a process group of its own. The time limit, a
//! cancelled call and the end of the call all kill the *whole group*: a
//! granted program that forks (`sh -c "(sleep 100) &"`) leaves nothing
//! running past its call. Output is read by threads that the call never
//! waits on for longer than a short grace after the group is killed, so a
//! descendant that escaped the group (with `setsid`) and still holds the
//! pipes cannot hold the call either.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{CommandOutput, CommandRequest};
use crate::{ErrorKind, PluginError};

/// The only variable a command's environment holds.
const CLEAN_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How long output readers get to see the pipes close once the group is
/// gone.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// Kills the process group when dropped, whatever the way out of `run`.
struct Group<'a> {
    child: &'a mut Child,
}

impl Group<'_> {
    fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(pgid) = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            // The group id is the child's pid (`process_group(0)`); the
            // group outlives the child as long as a member does.
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
    }
}

impl Drop for Group<'_> {
    fn drop(&mut self) {
        self.kill();
        let _ = self.child.wait();
    }
}

/// Runs `req` in `dir` for at most `timeout`, or until `cancelled` is set.
pub(super) fn run(
    req: &CommandRequest,
    timeout: Duration,
    dir: &Path,
    cancelled: &AtomicBool,
) -> Result<CommandOutput, PluginError> {
    let (program, args) = req
        .argv
        .split_first()
        .ok_or_else(|| PluginError::invalid_input("an empty argv names no program"))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PATH", CLEAN_PATH)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| PluginError::new(format!("cannot run {program:?}: {e}")))?;

    let stdin = child.stdin.take();
    let input = req.stdin.clone();
    std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(&input);
        }
    });
    let max = req.max_output;
    let (done_tx, done_rx) = mpsc::channel();
    let stdout = Reader::start(child.stdout.take(), max, done_tx.clone());
    let stderr = Reader::start(child.stderr.take(), max, done_tx);

    let mut group = Group { child: &mut child };
    let deadline = Instant::now() + timeout;
    let (status, timed_out) = loop {
        match group.child.try_wait() {
            Ok(Some(status)) => break (status.code(), false),
            Ok(None) if Instant::now() >= deadline || cancelled.load(Ordering::Acquire) => {
                break (None, true);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(PluginError::new(format!("waiting for {program:?}: {e}"))),
        }
    };
    // The call is over: whatever the program left running in its group
    // goes with it (and closes the pipes it held).
    group.kill();
    drop(group);
    let grace = Instant::now() + DRAIN_GRACE;
    let readers = usize::from(stdout.is_some()) + usize::from(stderr.is_some());
    for _ in 0..readers {
        let left = grace.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let (stdout, cut_out) = stdout.map(|r| r.take()).unwrap_or_default();
    let (stderr, cut_err) = stderr.map(|r| r.take()).unwrap_or_default();
    if timed_out && cancelled.load(Ordering::Acquire) {
        return Err(PluginError::with_kind(
            ErrorKind::Timeout,
            format!("{program:?} was killed: its call was cancelled"),
        ));
    }
    Ok(CommandOutput {
        status,
        stdout,
        stderr,
        timed_out,
        truncated: cut_out || cut_err,
    })
}

/// One output stream, read to its end by a thread of its own (so the
/// program never blocks on a full pipe), keeping at most `max` bytes.
struct Reader {
    kept: Arc<Mutex<(Vec<u8>, bool)>>,
}

impl Reader {
    fn start(
        from: Option<impl Read + Send + 'static>,
        max: usize,
        done: mpsc::Sender<()>,
    ) -> Option<Self> {
        let mut from = from?;
        let kept = Arc::new(Mutex::new((Vec::new(), false)));
        let sink = Arc::clone(&kept);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut kept = sink.lock();
                        let room = max.saturating_sub(kept.0.len());
                        kept.0.extend_from_slice(&buf[..n.min(room)]);
                        kept.1 |= n > room;
                    }
                }
            }
            let _ = done.send(());
        });
        Some(Reader { kept })
    }

    /// What was read so far, and whether any was dropped.
    fn take(self) -> (Vec<u8>, bool) {
        std::mem::take(&mut *self.kept.lock())
    }
}
