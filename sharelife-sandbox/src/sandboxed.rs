//! [`Sandboxed`]: the host's connection to one plugin running in a
//! restricted child process.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, IoSlice};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::channel::{Channel, Stop};
use crate::frame::{self, StartFailure, StartStage};
use crate::restrict::Layers;
use crate::runner::RunnerConfig;
use crate::{Enforced, ExitCause, Limits, Requirements, SandboxError, locate_runner, probe};

/// How much of the child's standard error is kept for
/// [`SandboxError::ChildDied`].
const STDERR_TAIL: usize = 4096;

/// Answers the plugin's service requests during a call (or its start):
/// takes an encoded request, returns the encoded answer and a descriptor
/// to pass beside it (a `connect`'s socket) —
/// `sharelife_core::services::remote::serve_passing` through the plugin's
/// context, in a host.
pub type Broker<'a> = &'a mut dyn FnMut(&[u8]) -> (Vec<u8>, Option<OwnedFd>);

/// The broker of a plugin that has no host context: every service
/// request is denied.
pub(crate) fn no_broker(_request: &[u8]) -> (Vec<u8>, Option<OwnedFd>) {
    let answer =
        sharelife_core::services::remote::refusal(&sharelife_core::PluginError::with_kind(
            sharelife_core::ErrorKind::Denied,
            "denied: the sandboxed plugin has no host context here (its services are brokered \
         only through a host, once it has initialized or started the plugin)",
        ));
    (answer, None)
}

/// One plugin running in its own restricted child process, and the
/// connection to it.
///
/// [`call`](Self::call) may be used from several threads at once: calls
/// take turns on the one connection (a mutex around the socket; the
/// runner serves one call at a time), so a call's `call_timeout` runs from
/// the moment it holds the connection, not from when it started waiting
/// for it.
///
/// The plugin's service requests (`ctx.fs()`, `ctx.http()`,
/// `ctx.connect()`, …) come over the same connection while a call is in
/// flight: [`call`](Self::call)
/// denies them all, [`call_brokered`](Self::call_brokered) has a
/// [`Broker`] answer them (a host's gateway). They count against the
/// call's `call_timeout`.
///
/// When the child dies — a fault, a limit, a timeout — every call from
/// then on fails with [`SandboxError::ChildDied`] (a call that was in
/// flight with that error or [`SandboxError::Timeout`]); none hangs.
/// Dropping kills the child and reaps it; [`shutdown`](Self::shutdown)
/// lets it stop and clean up first.
#[derive(Debug)]
pub struct Sandboxed {
    connection: Mutex<Connection>,
    pid: u32,
    enforced: Enforced,
    call_timeout: Option<Duration>,
}

#[derive(Debug)]
struct Connection {
    channel: Channel,
    child: Child,
    stderr: Option<JoinHandle<String>>,
    /// Set once the child is gone (and reaped).
    dead: Option<(ExitCause, String)>,
}

impl Sandboxed {
    /// Starts the plugin library at `path` in a child process of the
    /// runner found by [`locate_runner`], restricted and limited by
    /// `limits`, after checking that the kernel can meet `requirements`.
    ///
    /// The start (load, restrict) is bounded by `limits.call_timeout`
    /// like a call, and so, again, is the plugin's creation, `initialize`
    /// and `start` (their service requests denied: there is no host
    /// context here).
    ///
    /// # Errors
    ///
    /// [`SandboxError::Unsupported`] naming what the kernel lacks (before
    /// any child is started, or from the runner, before the plugin is
    /// created); [`SandboxError::RunnerNotFound`],
    /// [`SandboxError::Spawn`]; [`SandboxError::Start`] when the library
    /// fails the loader's checks or the plugin fails to start;
    /// [`SandboxError::Timeout`] or [`SandboxError::ChildDied`] when the
    /// start itself hangs or crashes.
    pub fn spawn(
        path: impl AsRef<Path>,
        limits: &Limits,
        requirements: &Requirements,
    ) -> Result<Self, SandboxError> {
        let missing = probe().missing(&requirements.require);
        if !missing.is_empty() {
            return Err(SandboxError::Unsupported { missing });
        }
        Self::spawn_with_runner(&locate_runner()?, path, limits, requirements)
    }

    /// Like [`spawn`](Self::spawn), with the runner binary given (no
    /// search, no early probe: the runner still refuses to create the
    /// plugin when the requirements are not met).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    pub fn spawn_with_runner(
        runner: &Path,
        path: impl AsRef<Path>,
        limits: &Limits,
        requirements: &Requirements,
    ) -> Result<Self, SandboxError> {
        Self::spawn_layers(
            runner,
            path.as_ref(),
            limits,
            requirements,
            Layers::default(),
            Some((&[], &mut no_broker)),
        )
    }

    /// Like [`spawn_with_runner`](Self::spawn_with_runner) (or
    /// [`spawn`](Self::spawn) without a runner); with `start` (a `START`
    /// body and a broker), the plugin is created, initialized and started,
    /// the broker answering the service requests of its `initialize` and
    /// `start`; without, the child only loads and restricts itself
    /// ([`start_plugin`](Self::start_plugin) starts the plugin).
    pub(crate) fn spawn_brokered(
        runner: Option<&Path>,
        path: &Path,
        limits: &Limits,
        requirements: &Requirements,
        start: Option<(&[u8], Broker<'_>)>,
    ) -> Result<Self, SandboxError> {
        let found;
        let runner = match runner {
            Some(runner) => runner,
            None => {
                let missing = probe().missing(&requirements.require);
                if !missing.is_empty() {
                    return Err(SandboxError::Unsupported { missing });
                }
                found = locate_runner()?;
                &found
            }
        };
        Self::spawn_layers(runner, path, limits, requirements, Layers::default(), start)
    }

    /// Not public API: starts the runner with only some of its walls (and
    /// no early probe), so this crate's tests can prove each wall alone
    /// and the runner's own refusal.
    #[doc(hidden)]
    pub fn spawn_with_layers_for_tests(
        path: impl AsRef<Path>,
        limits: &Limits,
        requirements: &Requirements,
        layers: Layers,
    ) -> Result<Self, SandboxError> {
        Self::spawn_layers(
            &locate_runner()?,
            path.as_ref(),
            limits,
            requirements,
            layers,
            Some((&[], &mut no_broker)),
        )
    }

    fn spawn_layers(
        runner: &Path,
        path: &Path,
        limits: &Limits,
        requirements: &Requirements,
        layers: Layers,
        start: Option<(&[u8], Broker<'_>)>,
    ) -> Result<Self, SandboxError> {
        let config = serde_json::to_string(&RunnerConfig {
            limits: *limits,
            require: requirements.require.clone(),
            layers,
        })
        .map_err(|e| SandboxError::Io(e.into()))?;
        let (host_end, child_end) = UnixStream::pair().map_err(SandboxError::Io)?;
        // The child's end becomes its standard input: std duplicates it
        // onto fd 0 in the child only, so no other process the host
        // starts meanwhile inherits it. The environment is not passed on
        // (a plugin could read its own).
        let mut command: Command = crate::locate::runner_command(runner);
        command
            .arg("--config")
            .arg(config)
            .arg(path)
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::from(OwnedFd::from(child_end)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| SandboxError::Spawn {
            runner: runner.to_owned(),
            source,
        })?;
        // Closes the host's copy of the child's end: the child's exit is
        // then the end of the stream.
        drop(command);
        let pid = child.id();
        // A thread drains the child's standard error (a full pipe would
        // block the child) and keeps its end for `ChildDied`.
        let stderr = match child.stderr.take().map(|pipe| {
            std::thread::Builder::new()
                .name(format!("sandbox-{pid}-stderr"))
                .spawn(move || keep_tail(pid, pipe))
        }) {
            Some(Ok(reader)) => Some(reader),
            None => None,
            Some(Err(e)) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SandboxError::Io(e));
            }
        };
        let channel = match Channel::new(host_end, limits.call_timeout, limits.poll_budget()) {
            Ok(channel) => channel,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                if let Some(reader) = stderr {
                    let _ = reader.join();
                }
                return Err(SandboxError::Io(e));
            }
        };
        let mut connection = Connection {
            channel,
            child,
            stderr,
            dead: None,
        };
        let deadline = limits.call_timeout.map(|t| Instant::now() + t);
        // No plugin code but the library's ELF initializers runs before
        // READY; a service request then is denied (there is no context).
        let first = loop {
            match connection.channel.read_frame(deadline) {
                Ok((frame::SERVICE, request)) => {
                    if let Err(stop) = connection.answer(&request, &mut no_broker, deadline) {
                        break Err(stop);
                    }
                }
                other => break other,
            }
        };
        let enforced = match first {
            Ok((frame::READY, body)) => match serde_json::from_slice::<Enforced>(&body) {
                Ok(enforced) => enforced,
                Err(e) => return Err(connection.broken(format!("unreadable READY: {e}"))),
            },
            Ok((frame::FAILED, body)) => {
                let failure: StartFailure =
                    serde_json::from_slice(&body).unwrap_or_else(|e| StartFailure {
                        stage: StartStage::Init,
                        message: format!("unreadable FAILED frame: {e}"),
                        missing: Vec::new(),
                    });
                // Killed rather than waited for: after a failed
                // `initialize` the plugin's own drop code runs on the way
                // out, and it may not end.
                connection.kill_and_reap(None);
                return Err(if failure.stage == StartStage::Requirements {
                    SandboxError::Unsupported {
                        missing: failure.missing,
                    }
                } else {
                    SandboxError::Start {
                        stage: failure.stage,
                        message: failure.message,
                    }
                });
            }
            Ok((tag, _)) => return Err(connection.broken(format!("tag {tag} before READY"))),
            Err(stop) => return Err(connection.stopped(stop, limits.call_timeout)),
        };
        // The runner checked this before creating the plugin; checked
        // again so that a runner of another build cannot run it weaker.
        let missing = enforced.missing(&requirements.require);
        if !missing.is_empty() {
            connection.kill_and_reap(None);
            return Err(SandboxError::Unsupported { missing });
        }
        let sandboxed = Sandboxed {
            connection: Mutex::new(connection),
            pid,
            enforced,
            call_timeout: limits.call_timeout,
        };
        if let Some((context, broker)) = start {
            sandboxed.start_plugin(context, broker)?;
        }
        Ok(sandboxed)
    }

    /// Calls handler `handler` with `input`; its output.
    ///
    /// # Errors
    ///
    /// [`SandboxError::Handler`] with the handler's own error (an unknown
    /// handler is one, of kind `UnknownHandler`);
    /// [`SandboxError::Timeout`] when the answer did not come within
    /// `call_timeout` (the child has been killed and reaped);
    /// [`SandboxError::ChildDied`] when the child died during the call or
    /// before it; [`SandboxError::Protocol`] or [`SandboxError::Io`].
    pub fn call(&self, handler: &str, input: &[u8]) -> Result<Vec<u8>, SandboxError> {
        self.call_brokered(handler, input, &mut no_broker)
    }

    /// Initializes and starts the plugin in the child (a `START` frame
    /// with `context`, a [`StartContext`](frame::StartContext) body or
    /// empty), `broker` answering the service requests of its `initialize` and
    /// `start`. A plugin that fails to start is [`SandboxError::Start`] at
    /// [`StartStage::Init`], and its child is killed and reaped.
    pub(crate) fn start_plugin(
        &self,
        context: &[u8],
        broker: Broker<'_>,
    ) -> Result<(), SandboxError> {
        self.bring_up(frame::START, context, broker)
    }

    /// Creates and initializes the plugin in the child without starting
    /// it (an `INIT` frame with `context`, as [`start_plugin`](Self::start_plugin)'s);
    /// a later `START` (an empty `context`) starts it. A plugin that fails
    /// to initialize is [`SandboxError::Start`] at [`StartStage::Init`],
    /// and its child is killed and reaped.
    pub(crate) fn initialize_plugin(
        &self,
        context: &[u8],
        broker: Broker<'_>,
    ) -> Result<(), SandboxError> {
        self.bring_up(frame::INIT, context, broker)
    }

    /// `INIT` or `START`: a failure is the runner's last frame.
    fn bring_up(&self, tag: u8, context: &[u8], broker: Broker<'_>) -> Result<(), SandboxError> {
        let header = frame::header(tag, context.len());
        match self.exchange(
            &mut [IoSlice::new(&header), IoSlice::new(context)],
            broker,
            None,
        ) {
            Ok(_) => Ok(()),
            Err(SandboxError::Handler(e)) => {
                self.lock().kill_and_reap(None);
                Err(SandboxError::Start {
                    stage: StartStage::Init,
                    message: e.message().to_owned(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The plugin's `save_state` in the child (a `SAVE` frame): the state
    /// it hands its successor, at most [`MAX_STATE`](frame::MAX_STATE)
    /// bytes. The plugin's own error (a state over the bound is one, of
    /// kind `InvalidInput`) is [`SandboxError::Handler`] and the child goes
    /// on serving; a child announcing more than the bound breaks the
    /// protocol ([`SandboxError::Protocol`]: it is killed).
    pub(crate) fn save_state(&self, broker: Broker<'_>) -> Result<Vec<u8>, SandboxError> {
        let header = frame::header(frame::SAVE, 0);
        self.exchange(
            &mut [IoSlice::new(&header)],
            broker,
            Some((frame::OK, frame::MAX_STATE)),
        )
    }

    /// Hands the plugin `state` (its `restore_state` in the child, a
    /// `RESTORE` frame), between `INIT` and `START`. A state over
    /// [`MAX_STATE`](frame::MAX_STATE) is refused here, before anything is
    /// sent ([`SandboxError::Handler`] of kind `InvalidInput`).
    pub(crate) fn restore_state(
        &self,
        state: &[u8],
        broker: Broker<'_>,
    ) -> Result<(), SandboxError> {
        if state.len() > frame::MAX_STATE {
            return Err(SandboxError::Handler(frame::state_too_large(
                "the predecessor's",
                state.len(),
            )));
        }
        let header = frame::header(frame::RESTORE, state.len());
        self.exchange(
            &mut [IoSlice::new(&header), IoSlice::new(state)],
            broker,
            None,
        )
        .map(drop)
    }

    /// Like [`call`](Self::call), with `broker` answering the service
    /// requests the plugin makes during the call (each a `SERVICE` frame
    /// answered with an `ANSWER` frame before the call's own answer).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_brokered(
        &self,
        handler: &str,
        input: &[u8],
        broker: Broker<'_>,
    ) -> Result<Vec<u8>, SandboxError> {
        if u32::try_from(handler.len()).is_err() {
            return Err(SandboxError::Handler(
                sharelife_core::PluginError::with_kind(
                    sharelife_core::ErrorKind::UnknownHandler,
                    "a handler name longer than 4 GiB",
                ),
            ));
        }
        let header = frame::header(frame::CALL, 4 + handler.len() + input.len());
        let prefix = frame::call_prefix(handler);
        let mut parts = [
            IoSlice::new(&header),
            IoSlice::new(&prefix),
            IoSlice::new(handler.as_bytes()),
            IoSlice::new(input),
        ];
        self.exchange(&mut parts, broker, None)
    }

    /// Hands the plugin an event (its `handle_event`), `broker` answering
    /// the service requests it makes meanwhile.
    pub(crate) fn deliver_brokered(
        &self,
        topic: &str,
        payload: &[u8],
        broker: Broker<'_>,
    ) -> Result<(), SandboxError> {
        if u32::try_from(topic.len()).is_err() {
            return Err(SandboxError::Handler(
                sharelife_core::PluginError::invalid_input("a topic longer than 4 GiB"),
            ));
        }
        let header = frame::header(frame::EVENT, 4 + topic.len() + payload.len());
        let prefix = frame::call_prefix(topic);
        let mut parts = [
            IoSlice::new(&header),
            IoSlice::new(&prefix),
            IoSlice::new(topic.as_bytes()),
            IoSlice::new(payload),
        ];
        self.exchange(&mut parts, broker, None).map(drop)
    }

    /// Sends one frame (`parts`) and waits for its answer, `broker`
    /// answering the service requests in between; `bound` refuses a frame
    /// of that tag longer than that (see [`Channel::read_frame_bounded`]).
    fn exchange(
        &self,
        parts: &mut [IoSlice<'_>],
        broker: Broker<'_>,
        bound: Option<(u8, usize)>,
    ) -> Result<Vec<u8>, SandboxError> {
        let mut connection = self.lock();
        if let Some((cause, stderr)) = &connection.dead {
            return Err(SandboxError::ChildDied {
                cause: *cause,
                stderr: stderr.clone(),
            });
        }
        let deadline = self.call_timeout.map(|t| Instant::now() + t);
        if let Err(stop) = connection.channel.write_all(parts, deadline) {
            return Err(connection.stopped(stop, self.call_timeout));
        }
        loop {
            match connection.channel.read_frame_bounded(deadline, bound) {
                Ok((frame::OK, body)) => return Ok(body),
                Ok((frame::ERROR, body)) => {
                    return Err(SandboxError::Handler(frame::decode_error(&body)));
                }
                Ok((frame::SERVICE, request)) => {
                    if let Err(stop) = connection.answer(&request, broker, deadline) {
                        return Err(connection.stopped(stop, self.call_timeout));
                    }
                }
                Ok((tag, _)) => {
                    return Err(connection.broken(format!("tag {tag} where an answer belongs")));
                }
                Err(stop) => return Err(connection.stopped(stop, self.call_timeout)),
            }
        }
    }

    /// What the runner enforced on itself before it created the plugin
    /// (and the plugin's id and version).
    pub fn enforced(&self) -> &Enforced {
        &self.enforced
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Why the child is gone, once it is.
    pub fn exit_cause(&self) -> Option<ExitCause> {
        self.lock().dead.as_ref().map(|(cause, _)| *cause)
    }

    /// Stops the plugin: closes the connection so the runner stops and
    /// cleans up the plugin and exits, waits for that at most
    /// `call_timeout` (then kills it), and reaps the child. Returns how it
    /// ended (`Exited { code: 0 }` normally).
    pub fn shutdown(self) -> ExitCause {
        let mut connection = self.lock();
        if let Some((cause, _)) = &connection.dead {
            return *cause;
        }
        connection.channel.close_write();
        let deadline = self.call_timeout.map(|t| Instant::now() + t);
        // Killed either way: once its socket is closed the child is
        // exiting, and its exit status is already set (a kill does not
        // change it); a child that closed its socket and lingers is not
        // waited for.
        let _ = connection.channel.wait_closed(deadline);
        connection.kill_and_reap(None).0
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection in one of
        // its states (alive, or dead and reaped): usable.
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Sandboxed {
    fn drop(&mut self) {
        let connection = self.connection.get_mut().unwrap_or_else(|e| e.into_inner());
        if connection.dead.is_none() {
            connection.kill_and_reap(None);
        }
    }
}

impl Connection {
    /// Has `broker` answer one service request, and sends the answer.
    fn answer(
        &mut self,
        request: &[u8],
        broker: Broker<'_>,
        deadline: Option<Instant>,
    ) -> Result<(), Stop> {
        let (answer, descriptor) = broker(request);
        let header = frame::header(frame::ANSWER, answer.len());
        let mut parts = [IoSlice::new(&header), IoSlice::new(&answer)];
        // The host's copy of a passed descriptor is closed when this returns.
        self.channel
            .write_all_passing(&mut parts, descriptor.as_ref().map(AsFd::as_fd), deadline)
    }

    /// Waits for the child (which has exited or is about to), collects
    /// its standard error, and remembers why it ended.
    fn reap(&mut self) -> (ExitCause, String) {
        let cause = match self.child.wait() {
            Ok(status) => cause_of(status),
            // Already reaped or never ours: say what we know.
            Err(_) => ExitCause::Signaled {
                signal: libc::SIGKILL,
                core_dumped: false,
            },
        };
        self.finish(cause)
    }

    /// Kills and reaps the child; `timed_out` replaces the cause.
    fn kill_and_reap(&mut self, timed_out: Option<Duration>) -> (ExitCause, String) {
        // SIGKILL; harmless when it has exited already (not yet reaped,
        // the status it died with stays).
        let _ = self.child.kill();
        let (cause, stderr) = self.reap();
        match timed_out {
            Some(call_timeout) => self.finish_again(ExitCause::TimedOut { call_timeout }, stderr),
            None => (cause, stderr),
        }
    }

    fn finish(&mut self, cause: ExitCause) -> (ExitCause, String) {
        let stderr = self
            .stderr
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        self.finish_again(cause, stderr)
    }

    fn finish_again(&mut self, cause: ExitCause, stderr: String) -> (ExitCause, String) {
        self.dead = Some((cause, stderr.clone()));
        (cause, stderr)
    }

    /// The error for an exchange that stopped: the deadline kills the
    /// child; its end of the socket closing means it died (or closed it,
    /// and is killed).
    fn stopped(&mut self, stop: Stop, call_timeout: Option<Duration>) -> SandboxError {
        match (stop, call_timeout) {
            (Stop::Deadline, Some(after)) => {
                self.kill_and_reap(Some(after));
                SandboxError::Timeout { after }
            }
            (Stop::Closed, _) | (Stop::Deadline, None) => {
                let (cause, stderr) = self.kill_and_reap(None);
                SandboxError::ChildDied { cause, stderr }
            }
            (Stop::Extra, _) => self.broken("more than one answer to a call".to_owned()),
            (Stop::TooLong { len, most }, _) => self.broken(format!(
                "an answer of {len} bytes where at most {most} belong"
            )),
            (Stop::Io(e), _) => {
                self.kill_and_reap(None);
                SandboxError::Io(e)
            }
        }
    }

    /// The runner said something it should not: it is killed.
    fn broken(&mut self, reason: String) -> SandboxError {
        self.kill_and_reap(None);
        SandboxError::Protocol { reason }
    }
}

fn cause_of(status: ExitStatus) -> ExitCause {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCause::Exited { code },
        (None, Some(signal)) => ExitCause::Signaled {
            signal,
            core_dumped: status.core_dumped(),
        },
        (None, None) => ExitCause::Exited { code: -1 },
    }
}

/// Forwards the child's standard error to `tracing` line by line and
/// returns its last [`STDERR_TAIL`] bytes once the child has closed it
/// (it exited).
fn keep_tail(pid: u32, pipe: std::process::ChildStderr) -> String {
    let mut tail = String::new();
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        let text = String::from_utf8_lossy(&line);
        tracing::warn!(target: "sharelife_sandbox::child", pid, "{}", text.trim_end());
        tail.push_str(&text);
        if tail.len() > STDERR_TAIL {
            let mut cut = tail.len() - STDERR_TAIL;
            while !tail.is_char_boundary(cut) {
                cut += 1;
            }
            tail.drain(..cut);
        }
        line.clear();
    }
    tail
}
