//! Running programs: no shell, a clean environment, a timeout, bounded
//! output.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{CommandOutput, CommandRequest};
use crate::PluginError;

/// The only variable a command's environment holds.
const CLEAN_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

pub(super) fn run(
    req: &CommandRequest,
    timeout: Duration,
    dir: &Path,
) -> Result<CommandOutput, PluginError> {
    let (program, args) = req
        .argv
        .split_first()
        .ok_or_else(|| PluginError::invalid_input("an empty argv names no program"))?;
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", CLEAN_PATH)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| PluginError::new(format!("cannot run {program:?}: {e}")))?;

    let stdin = child.stdin.take();
    let input = req.stdin.clone();
    let feeder = std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(&input);
        }
    });
    let max = req.max_output;
    let stdout = child
        .stdout
        .take()
        .map(|s| std::thread::spawn(move || read_bounded(s, max)));
    let stderr = child
        .stderr
        .take()
        .map(|s| std::thread::spawn(move || read_bounded(s, max)));

    let deadline = Instant::now() + timeout;
    let (status, timed_out) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (status.code(), false),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break (None, true);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(PluginError::new(format!("waiting for {program:?}: {e}"))),
        }
    };
    let _ = feeder.join();
    let join = |h: Option<std::thread::JoinHandle<(Vec<u8>, bool)>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    let (stdout, cut_out) = join(stdout);
    let (stderr, cut_err) = join(stderr);
    Ok(CommandOutput {
        status,
        stdout,
        stderr,
        timed_out,
        truncated: cut_out || cut_err,
    })
}

/// Reads everything (so the child never blocks on a full pipe), keeping at
/// most `max` bytes.
fn read_bounded(mut from: impl Read, max: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return (kept, truncated),
            Ok(n) => {
                let room = max.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
}
