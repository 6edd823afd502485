//! The child's side: what the `sharelife-sandbox-runner` binary runs.
//!
//! ```text
//! sharelife-sandbox-runner --config '<json>' <plugin library>
//! ```
//!
//! Standard input is the connected Unix stream socket to the host
//! (`socketpair(2)`; the host passes its end as the child's fd 0, so no
//! descriptor number travels and nothing else inherits it). `--config` is
//! the JSON form of [`RunnerConfig`]. The runner, in order:
//!
//! 0. closes every descriptor it inherited above standard error;
//! 1. reads the library's manifest from the file and checks it, then opens
//!    it and checks its header and layout — the host's own loader
//!    ([`sharelife_core::loader`]); opening runs the library's ELF
//!    initializers (the `#[plugin]` registration), the one piece of the
//!    library that runs before the restrictions;
//! 2. restricts itself: rlimits, capabilities dropped, `no_new_privs`,
//!    Landlock, seccomp;
//! 3. compares what it enforced with the requirements, and refuses to go
//!    on (a `FAILED` frame naming what is missing) when they are not met;
//! 4. sends `READY`;
//! 5. on the host's `START`, creates, initializes and starts the plugin
//!    with a context whose services are the host's ([`remote_services`]
//!    over the socket: each `ctx.fs()`, `ctx.http()`, … is a `SERVICE`
//!    frame the host answers through its gateway) and whose config and
//!    directories are the ones the `START` frame brings (or `INIT`
//!    creates and initializes it, `RESTORE` hands it a predecessor's
//!    state, and `START` then starts it: a hot reload's order);
//! 6. serves `CALL` (and `EVENT`, `SAVE`) frames one at a time until the host closes the
//!    socket, then stops the plugin (if it started), cleans it up (if it
//!    was initialized) and exits 0. A failed `INIT` or `START` is
//!    answered with `ERROR` and the runner exits.
//!
//! A host that prefers not to ship a second binary calls
//! [`run_if_runner`](crate::run_if_runner) first in its own `main`: the
//! host then starts its own executable as the runner, with
//! [`RUNNER_ARG`](crate::RUNNER_ARG) before these arguments, and that call
//! runs [`main`]. Either way the runner refuses to go on unless it is the
//! process's only thread.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufReader, IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
use serde::{Deserialize, Serialize};
use sharelife_core::loader::{OpenLibrary, PluginFile};
use sharelife_core::services::remote::{ServiceChannel, remote_services};
use sharelife_core::{Buffer, ContextData, HandlerId, Plugin, PluginContext, PluginError};

use crate::frame::{self, StartFailure, StartStage};
use crate::restrict::{Enforced, LandlockOutcome, Layers, restrict_self};
use crate::{Feature, Limits};

/// What the host tells the runner, as JSON in `--config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerConfig {
    /// The limits to set on itself.
    pub limits: Limits,
    /// The features it must have enforced before it creates the plugin.
    pub require: Vec<Feature>,
    /// Both walls unless a test of this crate says otherwise.
    #[doc(hidden)]
    #[serde(default)]
    pub layers: Layers,
}

/// The runner's entry point: parses the arguments, then loads, restricts
/// and serves as the module documentation says. Returns when the host
/// closes the socket (exit code 0) or when starting failed (exit code 2,
/// after a `FAILED` frame when the socket works).
pub fn main() -> ExitCode {
    if let Err(e) = crate::restrict::close_inherited_descriptors() {
        eprintln!("sharelife-sandbox-runner: closing inherited descriptors: {e}");
        return ExitCode::from(2);
    }
    let socket = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => UnixStream::from(fd),
        Err(e) => {
            eprintln!("sharelife-sandbox-runner: standard input is not usable: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = socket.peer_addr() {
        eprintln!(
            "sharelife-sandbox-runner: standard input must be a connected Unix socket \
             (this binary is started by a sharelife host): {e}"
        );
        return ExitCode::from(2);
    }
    let socket = Arc::new(socket);
    let link = Arc::new(Link {
        reader: Mutex::new(BufReader::with_capacity(
            64 << 10,
            Reading(Arc::clone(&socket)),
        )),
        socket,
    });
    let socket = &*link.socket;
    match start(&link) {
        Ok(serving) => {
            serving.serve(&link);
            ExitCode::SUCCESS
        }
        Err(failure) => {
            let body = serde_json::to_vec(&failure).unwrap_or_default();
            let _ = send(socket, frame::FAILED, &body);
            ExitCode::from(2)
        }
    }
}

fn fail(stage: StartStage, message: impl std::fmt::Display) -> StartFailure {
    StartFailure {
        stage,
        message: message.to_string(),
        missing: Vec::new(),
    }
}

fn arguments() -> Result<(RunnerConfig, PathBuf), StartFailure> {
    let mut args = std::env::args_os().skip(1).peekable();
    // A host executable re-executed as its own runner
    // (`crate::run_if_runner`) has the reserved argument first.
    if crate::locate::is_runner_invocation(args.peek().map(|a| a.as_os_str())) {
        args.next();
    }
    let usage = "usage: sharelife-sandbox-runner --config <json> <plugin library>";
    if args.next().as_deref() != Some("--config".as_ref()) {
        return Err(fail(StartStage::Arguments, usage));
    }
    let config = args
        .next()
        .ok_or_else(|| fail(StartStage::Arguments, usage))?;
    let config: RunnerConfig = serde_json::from_slice(config.as_encoded_bytes())
        .map_err(|e| fail(StartStage::Arguments, format!("--config: {e}")))?;
    let path = args
        .next()
        .map(PathBuf::from)
        .ok_or_else(|| fail(StartStage::Arguments, usage))?;
    Ok((config, path))
}

/// Refuses to go on unless this is the process's only thread: Landlock
/// restricts the thread that asks (and threads it starts later), not
/// threads already running, which plugin code could then use. A host
/// that re-executes itself as its runner and started a thread before
/// calling `run_if_runner` (a `#[tokio::main]` runtime) ends here.
fn only_thread() -> Result<(), StartFailure> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| {
        fail(
            StartStage::Restrict,
            format!("reading /proc/self/status: {e}"),
        )
    })?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse::<u64>().ok());
    match threads {
        Some(1) => Ok(()),
        Some(n) => Err(fail(
            StartStage::Restrict,
            format!(
                "the runner has {n} threads before restricting itself, and only the calling one \
                 would be restricted; call sharelife_sandbox::run_if_runner() first in main, \
                 before any thread is started (not inside #[tokio::main])"
            ),
        )),
        None => Err(fail(
            StartStage::Restrict,
            "/proc/self/status does not say how many threads the runner has",
        )),
    }
}

/// A plugin created under the restrictions, ready to serve.
struct Serving {
    library: OpenLibrary,
    /// Created on the host's `START`.
    plugin: Option<Box<dyn Plugin>>,
    ctx: PluginContext,
    handlers: HashMap<String, (HandlerId, bool)>,
    /// Whether the plugin was created and its `initialize` ran (on the
    /// host's `INIT`, or its `START`).
    initialized: bool,
    /// Whether its `start` ran (on the host's `START`).
    started: bool,
    /// The host's services, for the context rebuilt at `START`.
    services: Arc<dyn sharelife_core::HostServices>,
    /// Polls for the next call before sleeping in `read`
    /// ([`crate::poll`]).
    poller: crate::poll::Poller,
}

/// The runner's end of the socket, shared by the serving loop and the
/// plugin's services (the [`ServiceChannel`] of its context).
struct Link {
    socket: Arc<UnixStream>,
    /// Held across a service request and its answer, and by the serving
    /// loop while it waits for a call.
    reader: Mutex<BufReader<Reading>>,
}

/// Reads the shared socket (no second descriptor).
struct Reading(Arc<UnixStream>);

impl std::io::Read for Reading {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Link {
    fn reader(&self) -> std::sync::MutexGuard<'_, BufReader<Reading>> {
        self.reader.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ServiceChannel for Link {
    fn round_trip(&self, request: &[u8]) -> Result<Vec<u8>, PluginError> {
        // A descriptor passed with an answer that expects none is closed.
        self.round_trip_passing(request).map(|(answer, _)| answer)
    }

    fn round_trip_passing(
        &self,
        request: &[u8],
    ) -> Result<(Vec<u8>, Option<OwnedFd>), PluginError> {
        let gone = |e: &dyn std::fmt::Display| {
            PluginError::new(format!("the sandboxed plugin's host did not answer: {e}"))
        };
        let mut reader = self.reader();
        send(&self.socket, frame::SERVICE, request).map_err(|e| gone(&e))?;
        if !reader.buffer().is_empty() {
            return Err(gone(&"bytes ahead of the answer"));
        }
        // The header with `recvmsg`, so that a descriptor passed with the
        // answer is received (`read` would drop it).
        let mut header = [0_u8; frame::HEADER];
        let mut filled = 0;
        let mut descriptor = None;
        while filled < frame::HEADER {
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let received = recvmsg(
                &*self.socket,
                &mut [IoSliceMut::new(&mut header[filled..])],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            );
            for message in control.drain() {
                if let RecvAncillaryMessage::ScmRights(fds) = message {
                    for fd in fds {
                        descriptor.get_or_insert(fd);
                    }
                }
            }
            match received {
                Ok(msg) if msg.bytes == 0 => return Err(gone(&"the connection is closed")),
                Ok(msg) => filled += msg.bytes,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(gone(&e)),
            }
        }
        let (tag, len) = frame::parse_header(&header);
        if tag != frame::ANSWER {
            return Err(gone(&format!("tag {tag} where an answer belongs")));
        }
        let mut body = Vec::new();
        frame::read_body(&mut *reader, len, &mut body).map_err(|e| gone(&e))?;
        Ok((body, descriptor))
    }
}

fn start(link: &Arc<Link>) -> Result<Serving, StartFailure> {
    let socket = &link.socket;
    let (config, path) = arguments()?;
    only_thread()?;
    let library = PluginFile::read(&path)
        .and_then(PluginFile::open)
        .map_err(|e| fail(StartStage::Load, e))?;
    let manifest = library.manifest().clone();
    let mut enforced = Enforced {
        plugin_id: manifest.id.to_string(),
        plugin_version: manifest.version.to_string(),
        landlock: LandlockOutcome::NotEnforced,
        landlock_abi: 0,
        landlock_network: false,
        seccomp: false,
        capabilities_dropped: false,
        no_new_privs: false,
        rlimits: Vec::new(),
    };

    restrict_self(&config.limits, config.layers, &mut enforced)
        .map_err(|e| fail(StartStage::Restrict, e))?;
    // From here on nothing can open a file or a socket, or start a
    // process: only now may plugin code run.

    let missing = enforced.missing(&config.require);
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(Feature::to_string).collect();
        let mut failure = fail(
            StartStage::Requirements,
            format!("required but not enforced: {}", names.join(", ")),
        );
        failure.missing = missing;
        return Err(failure);
    }

    // The plugin's services are the host's: its gateway decides and
    // audits each request (see `sharelife_core::services::remote`).
    // The context the plugin is created with on `START` (outside a host;
    // a host's `START` brings its config and directories).
    let services = remote_services(Arc::clone(link) as Arc<dyn ServiceChannel>);
    let ctx = PluginContext::new(
        ContextData {
            plugin_id: manifest.id.to_string(),
            config: serde_json::Value::Null,
            data_dir: PathBuf::new(),
            temp_dir: PathBuf::new(),
        },
        Arc::clone(&services),
    );
    let handlers = manifest
        .handlers
        .iter()
        .filter_map(|h| {
            HandlerId::by_name(&manifest, &h.name).map(|id| (h.name.clone(), (id, h.is_async)))
        })
        .collect();

    let ready = serde_json::to_vec(&enforced).map_err(|e| fail(StartStage::Init, e))?;
    send(socket, frame::READY, &ready).map_err(|e| fail(StartStage::Init, e))?;
    Ok(Serving {
        library,
        plugin: None,
        ctx,
        handlers,
        initialized: false,
        started: false,
        services,
        poller: crate::poll::Poller::new(config.limits.poll_budget()),
    })
}

impl Serving {
    /// Answers calls until the host closes the socket or it fails.
    fn serve(mut self, link: &Link) {
        let socket = &link.socket;
        let mut body = Vec::new();
        let mut output = Buffer::new();
        loop {
            let mut reader = link.reader();
            if reader.buffer().is_empty() {
                self.poller.wait(socket);
            }
            let read = frame::read_frame(&mut *reader, &mut body);
            drop(reader);
            let Ok(Some(tag)) = read else { break };
            output.clear();
            let answer = match (tag, frame::split_call(&body)) {
                (frame::INIT | frame::START, _) => {
                    let brought_up = if tag == frame::INIT {
                        self.initialize(&body)
                    } else {
                        self.start(&body)
                    };
                    if let Err(error) = brought_up {
                        // Killed by the host; its drop code may not end.
                        let _ = send(socket, frame::ERROR, &frame::encode_error(&error));
                        return;
                    }
                    Ok(())
                }
                (frame::SAVE, _) => self.save_state(&mut output),
                (frame::RESTORE, _) => self.restore_state(&body),
                (frame::CALL, Some((name, input))) => self.call(name, input, &mut output),
                (frame::EVENT, Some((topic, payload))) => self.deliver(topic, payload),
                _ => Err(PluginError::invalid_input(format!(
                    "the runner expected a call frame, got tag {tag}"
                ))),
            };
            let sent = match answer {
                Ok(()) => send(socket, frame::OK, &output),
                Err(error) => send(socket, frame::ERROR, &frame::encode_error(&error)),
            };
            if sent.is_err() {
                break;
            }
        }
        if let Some(plugin) = &self.plugin {
            if self.started {
                let _ = block_on(plugin.stop(&self.ctx));
            }
            if self.initialized {
                let _ = block_on(plugin.cleanup(&self.ctx));
            }
        }
    }

    /// The plugin's `save_state`, into `output`: at most
    /// [`MAX_STATE`](frame::MAX_STATE) bytes.
    fn save_state(&self, output: &mut Buffer) -> Result<(), PluginError> {
        let plugin = self.initialized_plugin()?;
        let state = block_on(plugin.save_state(&self.ctx))?;
        if state.len() > frame::MAX_STATE {
            return Err(frame::state_too_large("the plugin's saved", state.len()));
        }
        output.extend_from_copy_slice(&state);
        Ok(())
    }

    /// The plugin's `restore_state` with `state`, before it starts.
    fn restore_state(&self, state: &[u8]) -> Result<(), PluginError> {
        let plugin = self.initialized_plugin()?;
        if self.started {
            return Err(PluginError::with_kind(
                sharelife_core::ErrorKind::InvalidInput,
                "the sandboxed plugin has started: state is restored between INIT and START",
            ));
        }
        block_on(plugin.restore_state(&self.ctx, state))
    }

    /// The plugin, once it was created and initialized.
    fn initialized_plugin(&self) -> Result<&dyn Plugin, PluginError> {
        match (self.initialized, &self.plugin) {
            (true, Some(plugin)) => Ok(plugin.as_ref()),
            _ => Err(PluginError::with_kind(
                sharelife_core::ErrorKind::NotActive,
                "the sandboxed plugin has not been initialized",
            )),
        }
    }

    /// Hands the plugin an event.
    fn deliver(&self, topic: &str, payload: &[u8]) -> Result<(), PluginError> {
        let plugin = self.started_plugin()?;
        block_on(plugin.handle_event(&self.ctx, sharelife_core::Event { topic, payload }))
    }

    /// Starts the plugin, once, creating and initializing it first unless
    /// `INIT` did (`body`: then as `INIT`'s, else ignored).
    fn start(&mut self, body: &[u8]) -> Result<(), PluginError> {
        if !self.started {
            self.initialize(body)?;
            let plugin = self.initialized_plugin()?;
            block_on(plugin.start(&self.ctx))?;
            self.started = true;
        }
        Ok(())
    }

    /// Creates and initializes the plugin, once, with the host's context
    /// (`body`: a [`StartContext`](frame::StartContext), or empty).
    fn initialize(&mut self, body: &[u8]) -> Result<(), PluginError> {
        if !self.initialized {
            if !body.is_empty() {
                let given: frame::StartContext = serde_json::from_slice(body).map_err(|e| {
                    PluginError::invalid_input(format!("an unreadable START frame: {e}"))
                })?;
                self.ctx = PluginContext::new(
                    ContextData {
                        plugin_id: self.ctx.plugin_id().to_owned(),
                        config: given.config,
                        data_dir: given.data_dir,
                        temp_dir: given.temp_dir,
                    },
                    Arc::clone(&self.services),
                );
            }
            let plugin = self
                .library
                .instantiate(&self.ctx)
                .map_err(|e| PluginError::new(e.to_string()))?;
            let plugin = self.plugin.insert(plugin);
            block_on(plugin.initialize(&self.ctx))?;
            self.initialized = true;
        }
        Ok(())
    }

    fn call(&self, name: &str, input: &[u8], output: &mut Buffer) -> Result<(), PluginError> {
        let Some(&(id, is_async)) = self.handlers.get(name) else {
            return Err(PluginError::with_kind(
                sharelife_core::ErrorKind::UnknownHandler,
                format!("plugin has no handler {name:?}"),
            ));
        };
        let plugin = self.started_plugin()?;
        if is_async {
            block_on(plugin.call_async(&self.ctx, id, input, output))
        } else {
            plugin.call(&self.ctx, id, input, output)
        }
    }

    /// The plugin, once it started.
    fn started_plugin(&self) -> Result<&dyn Plugin, PluginError> {
        match (self.started, &self.plugin) {
            (true, Some(plugin)) => Ok(plugin.as_ref()),
            _ => Err(PluginError::with_kind(
                sharelife_core::ErrorKind::NotActive,
                "the sandboxed plugin has not been started",
            )),
        }
    }
}

/// Sends one frame: header and body in one write when the body is small.
fn send(mut socket: &UnixStream, tag: u8, body: &[u8]) -> std::io::Result<()> {
    let header = frame::header(tag, body.len());
    if body.len() <= 4096 {
        let mut wire = [0_u8; frame::HEADER + 4096];
        wire[..frame::HEADER].copy_from_slice(&header);
        wire[frame::HEADER..frame::HEADER + body.len()].copy_from_slice(body);
        socket.write_all(&wire[..frame::HEADER + body.len()])
    } else {
        socket.write_all(&header)?;
        socket.write_all(body)
    }
}

/// Wakes the runner's one thread.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread (the runner has no async
/// runtime: hooks and async handlers are driven here, one at a time).
/// The host side drives the broker's `serve` with it too.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}
