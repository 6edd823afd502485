//! [`SandboxedPlugin`]: a sandboxed plugin the host drives like any other
//! (the host side of the process boundary, implementing
//! [`sharelife_core::Plugin`]), and [`load`], the one call that adds one
//! to a [`Host`].
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use sharelife_core::loader::{LoadError, PluginFile};
use sharelife_core::manifest::{Manifest, PluginId};
use sharelife_core::{
    Buffer, ErrorKind, Event, HandlerId, Health, Host, HostError, Plugin, PluginContext,
    PluginError,
};

use crate::frame::StartContext;
use crate::sandboxed::no_broker;
use crate::{Limits, Requirements, SandboxError, Sandboxed};

/// Why [`load`] could not add a sandboxed plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadSandboxedError {
    /// The library's manifest could not be read or failed its checks
    /// (nothing was started).
    #[error("reading the plugin library: {0}")]
    Library(#[source] LoadError),
    /// The child could not be started: the kernel lacks a required
    /// feature, the runner is missing, the plugin failed to start in the
    /// child…
    #[error(transparent)]
    Sandbox(SandboxError),
    /// The host refused the plugin (a duplicate id, unmet dependencies,
    /// its config); the child has been stopped.
    #[error(transparent)]
    Host(HostError),
}

/// Adds the plugin library at `path` to `host`, running out of process in
/// a sandbox restricted by `limits` and refused unless the kernel gives
/// `requirements`: reads its manifest with [`PluginFile::read`] (no plugin
/// code runs in the host), starts the child ([`Sandboxed::spawn`]), then
/// [`Host::add`]s a [`SandboxedPlugin`] with that manifest. The plugin
/// ends `Loaded`; start it with [`Host::start`] like any other.
///
/// ```no_run
/// # async fn demo(host: &sharelife_core::Host) -> Result<(), Box<dyn std::error::Error>> {
/// use sharelife_sandbox::{Feature, Limits, Requirements};
///
/// let limits = Limits::from_toml(r#"memory = "256MiB"
///                                   call_timeout = "2s""#)?;
/// let require = Requirements::new([Feature::Landlock, Feature::Seccomp]);
/// let id = sharelife_sandbox::load(host, "plugins/libacme_scraper.so", &limits, &require).await?;
/// host.start(&id).await?;
/// let page = host.call_async(&id, "scrape", b"https://example.org").await?;
/// # let _ = page;
/// # Ok(())
/// # }
/// ```
///
/// With a [`Provider`](crate::Provider) registered on the host,
/// [`Host::load_with`] and the host config's `isolation = "process"` do
/// the same (this call takes its requirements as an argument instead of
/// the host's `[sandbox] require`). Either way the plugin is one the host
/// "added in code", so [`Host::reload`] and [`Host::reload_in_place`]
/// refuse it. See [`SandboxedPlugin`] for what works across the
/// boundary and what does not yet.
///
/// # Errors
///
/// [`LoadSandboxedError::Library`], [`LoadSandboxedError::Sandbox`]
/// (with [`SandboxError::Unsupported`] naming what the kernel lacks),
/// [`LoadSandboxedError::Host`].
pub async fn load(
    host: &Host,
    path: impl AsRef<Path>,
    limits: &Limits,
    requirements: &Requirements,
) -> Result<PluginId, LoadSandboxedError> {
    let path = path.as_ref().to_owned();
    let limits = *limits;
    let requirements = requirements.clone();
    // Reading the file and starting the child block: off the runtime's
    // threads.
    let plugin = blocking(move || SandboxedPlugin::spawn(path, &limits, &requirements))
        .await
        .map_err(|e| LoadSandboxedError::Sandbox(SandboxError::Io(std::io::Error::other(e))))??;
    let manifest = plugin.manifest().clone();
    host.add(manifest, Box::new(plugin))
        .await
        .map_err(LoadSandboxedError::Host)
}

/// A plugin running in a sandboxed child process, as a
/// [`sharelife_core::Plugin`] the host drives like any other: handles,
/// pipelines, per-handler metrics, health checks and the restart policy
/// work on it unchanged.
///
/// * **Calls** ([`call`](Plugin::call), [`call_async`](Plugin::call_async))
///   go to the child by handler name (`manifest.handlers[id]`). A
///   synchronous call blocks its thread for the round trip, as an
///   in-process synchronous handler does; an asynchronous one runs the
///   round trip on tokio's blocking pool (`spawn_blocking`), so the
///   host's runtime threads go on. Calls take turns on the one
///   connection.
/// * **Errors** keep their type in the [`PluginError`]: the handler's own
///   error as it was (kind, retryable, message); a call that ran past
///   `call_timeout` is [`ErrorKind::Timeout`]; a child that died
///   ([`SandboxError::ChildDied`]) is [`ErrorKind::Failed`] with the cause
///   in the message (`the sandboxed plugin's process killed by signal 11
///   (SIGSEGV)`); a missing child is [`ErrorKind::NotActive`].
/// * **Health** is [`Health::Unhealthy`] with the cause once the child is
///   gone (found without waiting for a call in flight: its `/proc` entry),
///   so the host's health check moves the plugin to `Error` and the
///   restart policy applies.
/// * **Lifecycle**: [`spawn`](Self::spawn) starts the child (it loads and
///   checks the library and restricts itself); [`initialize`](Plugin::initialize)
///   creates the plugin there and runs its own `initialize`,
///   [`start`](Plugin::start) its `start` (creating and initializing it
///   first when that has not happened in this child); either starts a
///   new child first when none is running (a restart from `Error` gets a
///   fresh child); the child runs the plugin's `stop` (if it started) and
///   `cleanup` when the host closes the connection.
///   [`stop`](Plugin::stop) and [`cleanup`](Plugin::cleanup) shut the child
///   down (the plugin stops and cleans up in it), kill it if it lingers,
///   and reap it; dropping kills and reaps it. A stopped plugin started
///   again is a new child: nothing in its memory survives a stop.
///
/// * **Services**: the host's gateway is the plugin's broker. A service
///   request the plugin makes during a call (`ctx.fs()`, `ctx.http()`,
///   `ctx.connect()`, `ctx.run()`, providers, MCP, publishing, logs) is
///   answered through the context the host passes with that call
///   ([`sharelife_core::services::remote::serve_passing`]; a connected
///   socket is passed to the child): the same gateway, the
///   same policy, the same audit records as in-process; a refusal is the
///   same `Denied` error. The requests of the plugin's own `initialize`
///   and `start` are answered through the context of the host's
///   `initialize`/`start`.
/// * **Its context** in the child has the host's config, data and temp
///   directory for it (`ctx.config()`…; the directories are the host's
///   paths, reached through `ctx.fs()`).
/// * **Events** the plugin subscribed to are delivered to its
///   `handle_event` in the child (an `EVENT` frame), its service requests
///   answered as a call's.
///
/// * **Hot reload**: [`save_state`](Plugin::save_state) asks the plugin in
///   the child for its state (a `SAVE` frame; nothing when no child runs:
///   a stopped sandboxed plugin kept no memory) and
///   [`restore_state`](Plugin::restore_state) hands a new child's plugin
///   its predecessor's (`RESTORE`, between `INIT` and `START`), at most
///   [`MAX_STATE`](crate::MAX_STATE) bytes either way: so
///   [`Host::reload`] of a plugin started through the
///   [`Provider`](crate::Provider) prepares the new version in a new
///   child beside the old one, hands the state over, swaps it in and
///   retires the old child.
///
/// What does not cross the boundary yet (issue 15): background tasks
/// (`ctx.spawn()` is `Denied`).
#[derive(Debug)]
pub struct SandboxedPlugin {
    recipe: Recipe,
    manifest: Manifest,
    child: Mutex<Option<Arc<Child>>>,
}

/// A broker answering service requests through `ctx`'s own services (the
/// host's gateway for this plugin), or denying them all without one.
fn broker(
    ctx: Option<&PluginContext>,
) -> impl FnMut(&[u8]) -> (Vec<u8>, Option<std::os::fd::OwnedFd>) + '_ {
    move |request| match ctx {
        Some(ctx) => crate::runner::block_on(sharelife_core::services::remote::serve_passing(
            ctx, request,
        )),
        None => no_broker(request),
    }
}

/// One running child and, once it is known, why it is gone.
#[derive(Debug)]
struct Child {
    sandboxed: Sandboxed,
    gone: Mutex<Option<String>>,
    /// How far the plugin in it was brought.
    phase: Mutex<Phase>,
}

/// How far the plugin in a child was brought, in the lifecycle's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Loaded and restricted (`READY`); the plugin is not created yet.
    Ready,
    /// Created and initialized (`INIT`), not started: a predecessor's
    /// state may be restored now.
    Initialized,
    /// Started (`START`).
    Started,
}

/// What it takes to start a child (again).
#[derive(Debug, Clone)]
struct Recipe {
    path: PathBuf,
    limits: Limits,
    requirements: Requirements,
    runner: Option<PathBuf>,
}

impl Recipe {
    /// Starts a child that loads the library and restricts itself; the
    /// plugin is created in it by [`Child::advance`] once the host gives a
    /// context.
    fn start_child(&self) -> Result<Arc<Child>, SandboxError> {
        let sandboxed = Sandboxed::spawn_brokered(
            self.runner.as_deref(),
            &self.path,
            &self.limits,
            &self.requirements,
            None,
        )?;
        Ok(Arc::new(Child {
            sandboxed,
            gone: Mutex::new(None),
            phase: Mutex::new(Phase::Ready),
        }))
    }
}

impl SandboxedPlugin {
    /// Reads the manifest of the library at `path` (no plugin code runs
    /// here) and starts a child that loads it and restricts itself (as
    /// [`Sandboxed::spawn`] does, finding the runner with
    /// [`locate_runner`](crate::locate_runner)); the plugin is created,
    /// initialized and started there when the host initializes it.
    ///
    /// # Errors
    ///
    /// [`LoadSandboxedError::Library`] or [`LoadSandboxedError::Sandbox`].
    pub fn spawn(
        path: impl AsRef<Path>,
        limits: &Limits,
        requirements: &Requirements,
    ) -> Result<Self, LoadSandboxedError> {
        Self::with_runner(None, path.as_ref(), limits, requirements)
    }

    /// Like [`spawn`](Self::spawn) with the runner binary given (and
    /// used again for every restart).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    pub fn spawn_with_runner(
        runner: impl AsRef<Path>,
        path: impl AsRef<Path>,
        limits: &Limits,
        requirements: &Requirements,
    ) -> Result<Self, LoadSandboxedError> {
        Self::with_runner(
            Some(runner.as_ref().to_owned()),
            path.as_ref(),
            limits,
            requirements,
        )
    }

    fn with_runner(
        runner: Option<PathBuf>,
        path: &Path,
        limits: &Limits,
        requirements: &Requirements,
    ) -> Result<Self, LoadSandboxedError> {
        // The runner does not start in this process's working directory:
        // a relative path is made absolute here (`./plugins/…` from a
        // host config).
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let manifest = PluginFile::read(&path)
            .map_err(LoadSandboxedError::Library)?
            .manifest()
            .clone();
        let recipe = Recipe {
            path,
            limits: *limits,
            requirements: requirements.clone(),
            runner,
        };
        let child = recipe.start_child().map_err(LoadSandboxedError::Sandbox)?;
        Ok(SandboxedPlugin {
            recipe,
            manifest,
            child: Mutex::new(Some(child)),
        })
    }

    /// The plugin's manifest, as read from its library.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The library's path.
    pub fn path(&self) -> &Path {
        &self.recipe.path
    }

    /// The running child's process id (`None` when none runs).
    pub fn pid(&self) -> Option<u32> {
        self.lock().as_ref().map(|c| c.sandboxed.pid())
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<Child>>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The running child, if there is one.
    fn current(&self) -> Result<Arc<Child>, PluginError> {
        self.lock().clone().ok_or_else(|| {
            PluginError::with_kind(
                ErrorKind::NotActive,
                format!(
                    "the sandboxed plugin {:?} has no running process",
                    self.manifest.id.as_str()
                ),
            )
        })
    }

    fn handler_name(&self, handler: HandlerId) -> Result<&str, PluginError> {
        self.manifest
            .handlers
            .get(handler.index())
            .map(|h| h.name.as_str())
            .ok_or_else(|| {
                PluginError::with_kind(
                    ErrorKind::UnknownHandler,
                    format!("this plugin has no handler #{}", handler.index()),
                )
            })
    }

    /// Brings the plugin in the running child to `phase` (initialized, or
    /// started), starting a child first unless one runs (a dead one is
    /// replaced), off the runtime's threads (starting waits for the child
    /// to load and restrict itself).
    async fn ensure_running(&self, ctx: &PluginContext, phase: Phase) -> Result<(), PluginError> {
        let running = self.lock().clone().filter(|c| c.seems_alive());
        if let Some(child) = running {
            // Cheap when it is there already: no thread hop.
            if child.phase() >= phase {
                return Ok(());
            }
            // Created at load, before the host had a context (or
            // initialized, not started): the plugin goes on now, its
            // services answered through the host's context.
            let ctx = ctx.clone();
            return blocking(move || child.advance(&ctx, phase))
                .await
                .map_err(|e| PluginError::with_kind(ErrorKind::Panicked, e))?;
        }
        let recipe = self.recipe.clone();
        let ctx = ctx.clone();
        let fresh = blocking(move || {
            let child = recipe.start_child().map_err(|e| to_plugin_error(&e))?;
            // Dropped (killed and reaped) when the plugin fails in it.
            child.advance(&ctx, phase)?;
            Ok::<_, PluginError>(child)
        })
        .await
        .map_err(|e| PluginError::with_kind(ErrorKind::Panicked, e))??;
        let mut slot = self.lock();
        // Whoever got here first with a live child wins; ours is dropped
        // (killed and reaped).
        if slot.as_ref().is_some_and(|c| c.seems_alive()) {
            return Ok(());
        }
        // A dead child is dropped here (reaped: it has exited).
        *slot = Some(fresh);
        Ok(())
    }

    /// Shuts the child down (the plugin stops and cleans up in it; killed
    /// if it lingers) and reaps it, off the runtime's threads.
    async fn shut_down(&self) {
        let Some(child) = self.lock().take() else {
            return;
        };
        let id = self.manifest.id.clone();
        let _ = blocking(move || match Arc::try_unwrap(child) {
            Ok(child) => {
                let cause = child.sandboxed.shutdown();
                tracing::debug!(plugin = %id, %cause, "sandboxed plugin's process ended");
            }
            // A call in flight holds it; the last holder kills and reaps
            // it (dropping a `Sandboxed`).
            Err(shared) => drop(shared),
        })
        .await;
    }
}

impl Child {
    /// Calls `handler`; `ctx` (the host's context for the plugin) answers
    /// the service requests the call makes.
    fn call(
        &self,
        handler: &str,
        input: &[u8],
        ctx: Option<&PluginContext>,
    ) -> Result<Vec<u8>, PluginError> {
        let result = self
            .sandboxed
            .call_brokered(handler, input, &mut broker(ctx));
        result.map_err(|e| {
            if matches!(
                e,
                SandboxError::ChildDied { .. }
                    | SandboxError::Timeout { .. }
                    | SandboxError::Protocol { .. }
                    | SandboxError::Io(_)
            ) {
                self.record(e.to_string());
            }
            to_plugin_error(&e)
        })
    }

    /// Hands the plugin an event; `ctx` answers its service requests.
    fn deliver(&self, topic: &str, payload: &[u8], ctx: &PluginContext) -> Result<(), PluginError> {
        self.sandboxed
            .deliver_brokered(topic, payload, &mut broker(Some(ctx)))
            .map_err(|e| {
                if !matches!(e, SandboxError::Handler(_)) {
                    self.record(e.to_string());
                }
                to_plugin_error(&e)
            })
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings the plugin in the child to `to`, once: from `Ready`, `INIT`
    /// creates and initializes it or `START` creates, initializes and
    /// starts it (both with the host's context); from `Initialized`,
    /// `START` starts it. `ctx` answers its service requests. A plugin
    /// that fails here leaves a dead child (the runner's last frame).
    fn advance(&self, ctx: &PluginContext, to: Phase) -> Result<(), PluginError> {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        if *phase >= to {
            return Ok(());
        }
        let context = match *phase {
            Phase::Ready => StartContext::body(ctx),
            Phase::Initialized | Phase::Started => Vec::new(),
        };
        let mut answer = broker(Some(ctx));
        let brought = match to {
            Phase::Ready => Ok(()),
            Phase::Initialized => self.sandboxed.initialize_plugin(&context, &mut answer),
            Phase::Started => self.sandboxed.start_plugin(&context, &mut answer),
        };
        brought.map_err(|e| {
            self.record(e.to_string());
            to_plugin_error(&e)
        })?;
        *phase = to;
        Ok(())
    }

    /// The plugin's `save_state` in the child; nothing when it was never
    /// created there. `ctx` answers its service requests.
    fn save_state(&self, ctx: &PluginContext) -> Result<Vec<u8>, PluginError> {
        if self.phase() == Phase::Ready {
            return Ok(Vec::new());
        }
        self.sandboxed
            .save_state(&mut broker(Some(ctx)))
            .map_err(|e| self.failed(e))
    }

    /// Hands the plugin in the child its predecessor's `state` (between
    /// `INIT` and `START`). `ctx` answers its service requests.
    fn restore_state(&self, ctx: &PluginContext, state: &[u8]) -> Result<(), PluginError> {
        self.sandboxed
            .restore_state(state, &mut broker(Some(ctx)))
            .map_err(|e| self.failed(e))
    }

    /// `error` as the host reports it; a dead child is recorded.
    fn failed(&self, error: SandboxError) -> PluginError {
        if !matches!(error, SandboxError::Handler(_)) {
            self.record(error.to_string());
        }
        to_plugin_error(&error)
    }

    /// Whether the child seems to run: no death recorded and its process
    /// has not exited. Never calls.
    fn seems_alive(&self) -> bool {
        self.gone
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
            && !exited(self.sandboxed.pid())
    }

    fn record(&self, cause: String) {
        let mut gone = self.gone.lock().unwrap_or_else(|e| e.into_inner());
        gone.get_or_insert(cause);
    }

    /// Why the child is gone, once it is; never waits for a call in
    /// flight while the child lives.
    fn gone(&self) -> Option<String> {
        if let Some(cause) = self.gone.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Some(cause);
        }
        if !exited(self.sandboxed.pid()) {
            return None;
        }
        // It exited between calls (or a call in flight is finding out):
        // a call collects the cause and reaps it. No handler has the
        // empty name, so a live child would only answer `UnknownHandler`.
        match self.call("", b"", None) {
            Err(e) if e.kind() != ErrorKind::UnknownHandler => {
                self.record(e.message().to_owned());
                Some(e.message().to_owned())
            }
            _ => None,
        }
    }
}

/// Whether process `pid` (an unreaped child of this one) has exited: a
/// zombie, or already reaped.
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) state …`; comm may hold spaces and parentheses.
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// A [`SandboxError`] as the [`PluginError`] a host reports, the cause in
/// its message.
fn to_plugin_error(error: &SandboxError) -> PluginError {
    match error {
        SandboxError::Handler(e) => e.clone(),
        SandboxError::Timeout { .. } => {
            PluginError::with_kind(ErrorKind::Timeout, error.to_string())
        }
        SandboxError::Unsupported { .. } => {
            PluginError::with_kind(ErrorKind::Denied, error.to_string())
        }
        _ => PluginError::new(error.to_string()),
    }
}

/// Runs `work` on tokio's blocking pool when there is a runtime, here
/// otherwise.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime
            .spawn_blocking(work)
            .await
            .map_err(|e| format!("the sandbox call's thread failed: {e}")),
        Err(_) => Ok(work()),
    }
}

#[sharelife_core::async_trait]
impl Plugin for SandboxedPlugin {
    async fn initialize(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        self.ensure_running(ctx, Phase::Initialized).await
    }

    async fn start(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        self.ensure_running(ctx, Phase::Started).await
    }

    /// The state of the plugin in the running child (a `SAVE` frame);
    /// nothing when no child runs (a stopped sandboxed plugin has no
    /// memory left to hand over).
    async fn save_state(&self, ctx: &PluginContext) -> Result<Vec<u8>, PluginError> {
        let Some(child) = self.lock().clone() else {
            return Ok(Vec::new());
        };
        let ctx = ctx.clone();
        blocking(move || child.save_state(&ctx))
            .await
            .map_err(|e| PluginError::with_kind(ErrorKind::Panicked, e))?
    }

    /// Hands the plugin in the running child its predecessor's state (a
    /// `RESTORE` frame), after `initialize` and before `start`.
    async fn restore_state(&self, ctx: &PluginContext, state: &[u8]) -> Result<(), PluginError> {
        let child = self.current()?;
        let ctx = ctx.clone();
        let state = state.to_vec();
        blocking(move || child.restore_state(&ctx, &state))
            .await
            .map_err(|e| PluginError::with_kind(ErrorKind::Panicked, e))?
    }

    async fn stop(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        self.shut_down().await;
        Ok(())
    }

    async fn cleanup(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        self.shut_down().await;
        Ok(())
    }

    async fn handle_event(&self, ctx: &PluginContext, event: Event<'_>) -> Result<(), PluginError> {
        let child = self.current()?;
        let ctx = ctx.clone();
        let topic = event.topic.to_owned();
        let payload = event.payload.to_vec();
        blocking(move || child.deliver(&topic, &payload, &ctx))
            .await
            .map_err(|e| PluginError::with_kind(ErrorKind::Panicked, e))?
    }

    async fn health(&self, _ctx: &PluginContext) -> Health {
        let Some(child) = self.lock().clone() else {
            return Health::Unhealthy(format!(
                "the sandboxed plugin {:?} has no running process",
                self.manifest.id.as_str()
            ));
        };
        match blocking(move || child.gone()).await {
            Ok(None) => Health::Healthy,
            Ok(Some(cause)) => Health::Unhealthy(cause),
            Err(e) => Health::Unhealthy(e),
        }
    }

    fn call(
        &self,
        ctx: &PluginContext,
        handler: HandlerId,
        input: &[u8],
        output: &mut Buffer,
    ) -> Result<(), PluginError> {
        let name = self.handler_name(handler)?;
        let answer = self.current()?.call(name, input, Some(ctx))?;
        output.extend_from_copy_slice(&answer);
        Ok(())
    }

    async fn call_async(
        &self,
        ctx: &PluginContext,
        handler: HandlerId,
        input: &[u8],
        output: &mut Buffer,
    ) -> Result<(), PluginError> {
        let name = self.handler_name(handler)?.to_owned();
        let child = self.current()?;
        let input = input.to_vec();
        let ctx = ctx.clone();
        let answer = blocking(move || child.call(&name, &input, Some(&ctx)))
            .await
            .map_err(|e| PluginError::with_kind(ErrorKind::Panicked, e))??;
        output.extend_from_copy_slice(&answer);
        Ok(())
    }
}
