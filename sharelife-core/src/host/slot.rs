//! One plugin in the host: its manifest, lifecycle, instance and context.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::HostError;
use crate::abi::catch::{CatchUnwind, catch};
use crate::loader::LibraryWatch;
use crate::manifest::{Manifest, PluginId};
use crate::{
    BoxFuture, Buffer, ErrorKind, Event, HandlerId, Health, Lifecycle, Plugin, PluginContext,
    PluginError, PluginState,
};

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Linked into the host binary, or added in code.
    Static,
    /// Loaded from this library file.
    Library(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Static => f.write_str("a static plugin"),
            Origin::Library(p) => write!(f, "{}", p.display()),
        }
    }
}

pub(crate) struct Slot {
    manifest: Manifest,
    lifecycle: Lifecycle,
    plugin: Box<dyn Plugin>,
    ctx: PluginContext,
    origin: Origin,
    watch: Option<LibraryWatch>,
    initialized: AtomicBool,
    last_error: Mutex<Option<PluginError>>,
    /// Serializes lifecycle moves of this plugin (hooks are async).
    moving: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("id", &self.manifest.id)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Slot {
    pub(crate) fn new(
        manifest: Manifest,
        plugin: Box<dyn Plugin>,
        ctx: PluginContext,
        origin: Origin,
        watch: Option<LibraryWatch>,
    ) -> Self {
        Slot {
            lifecycle: Lifecycle::new(manifest.id.as_str()),
            manifest,
            plugin,
            ctx,
            origin,
            watch,
            initialized: AtomicBool::new(false),
            last_error: Mutex::new(None),
            moving: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn id(&self) -> &PluginId {
        &self.manifest.id
    }

    pub(crate) fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    pub(crate) fn context(&self) -> &PluginContext {
        &self.ctx
    }

    pub(crate) fn watch(&self) -> Option<&LibraryWatch> {
        self.watch.as_ref()
    }

    pub(crate) fn library_path(&self) -> Option<&Path> {
        match &self.origin {
            Origin::Library(p) => Some(p),
            Origin::Static => None,
        }
    }

    pub(crate) fn state(&self) -> PluginState {
        self.lifecycle.state()
    }

    pub(crate) fn last_error(&self) -> Option<PluginError> {
        self.last_error.lock().clone()
    }

    /// Records `error` and moves to `Error` (when the table allows it).
    fn fail(&self, error: &PluginError) {
        tracing::error!(plugin = %self.manifest.id, error = %error, "plugin failed");
        *self.last_error.lock() = Some(error.clone());
        let _ = self.lifecycle.move_to(PluginState::Error);
    }

    /// Runs a hook with panics contained; a failure moves the plugin to
    /// `Error` and becomes a [`HostError::Hook`].
    async fn run_hook<'a>(
        &'a self,
        hook: &'static str,
        make: impl FnOnce() -> BoxFuture<'a, Result<(), PluginError>>,
    ) -> Result<(), HostError> {
        let _span = tracing::debug_span!("hook", plugin = %self.manifest.id, hook).entered();
        match CatchUnwind::new(make).await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.fail(&error);
                Err(HostError::Hook {
                    id: self.manifest.id.to_string(),
                    hook,
                    error,
                })
            }
        }
    }

    pub(crate) async fn initialize(&self) -> Result<(), HostError> {
        let _moving = self.moving.lock().await;
        self.lifecycle.move_to(PluginState::Loading)?;
        self.run_hook("initialize", || self.plugin.initialize(&self.ctx))
            .await?;
        self.initialized.store(true, Ordering::Release);
        self.lifecycle.move_to(PluginState::Loaded)?;
        Ok(())
    }

    pub(crate) async fn start(&self) -> Result<(), HostError> {
        let _moving = self.moving.lock().await;
        let from = self.state();
        if !from.can_move_to(PluginState::Active) {
            return Err(crate::IllegalTransition {
                plugin: self.manifest.id.to_string(),
                from,
                to: PluginState::Active,
            }
            .into());
        }
        if !self.initialized.load(Ordering::Acquire) {
            // Restarting a plugin whose initialize failed: initialize first.
            self.run_hook("initialize", || self.plugin.initialize(&self.ctx))
                .await?;
            self.initialized.store(true, Ordering::Release);
        }
        self.run_hook("start", || self.plugin.start(&self.ctx))
            .await?;
        self.lifecycle.move_to(PluginState::Active)?;
        *self.last_error.lock() = None;
        Ok(())
    }

    pub(crate) async fn stop(&self) -> Result<(), HostError> {
        let _moving = self.moving.lock().await;
        self.stop_locked().await
    }

    async fn stop_locked(&self) -> Result<(), HostError> {
        // Inactive first, so that no new call starts while `stop` runs.
        self.lifecycle.move_to(PluginState::Inactive)?;
        self.run_hook("stop", || self.plugin.stop(&self.ctx)).await
    }

    /// Stops and cleans up, ending in `Unloading`. Hook errors are returned
    /// as text; they do not stop the unload.
    pub(crate) async fn prepare_unload(&self) -> Result<Option<String>, HostError> {
        let _moving = self.moving.lock().await;
        let mut hook_error = None;
        if self.state() == PluginState::Active {
            if let Err(e) = self.stop_locked().await {
                hook_error = Some(e.to_string());
            }
        }
        self.lifecycle.move_to(PluginState::Unloading)?;
        if self.initialized.load(Ordering::Acquire) {
            let cleanup = CatchUnwind::new(|| self.plugin.cleanup(&self.ctx)).await;
            if let Err(e) = cleanup {
                tracing::warn!(plugin = %self.manifest.id, error = %e, "cleanup failed; unloading anyway");
                hook_error.get_or_insert_with(|| format!("cleanup: {e}"));
            }
        }
        Ok(hook_error)
    }

    /// The last step of an unload: the caller owns the only reference.
    pub(crate) fn finish_unload(self) {
        if let Err(e) = self.lifecycle.move_to(PluginState::Unloaded) {
            tracing::warn!(error = %e, "unexpected state at the end of unload");
        }
        // Dropping `self` drops the plugin, then (for a loaded plugin) the
        // last reference to its library, which closes it.
    }

    pub(crate) async fn health(&self) -> Health {
        match CatchUnwind::new(|| {
            let fut = self.plugin.health(&self.ctx);
            Box::pin(async move { Ok::<_, PluginError>(fut.await) }) as BoxFuture<'_, _>
        })
        .await
        {
            Ok(health) => health,
            Err(error) => {
                self.fail(&error);
                Health::Unhealthy(error.to_string())
            }
        }
    }

    fn check_active(&self) -> Result<(), PluginError> {
        match self.lifecycle.state() {
            PluginState::Active => Ok(()),
            state => Err(PluginError::with_kind(
                ErrorKind::NotActive,
                format!(
                    "plugin {:?} is {state}, not active",
                    self.manifest.id.as_str()
                ),
            )),
        }
    }

    fn after_call(&self, result: Result<(), PluginError>) -> Result<(), PluginError> {
        if let Err(e) = &result {
            if e.kind() == ErrorKind::Panicked {
                self.fail(e);
            }
        }
        result
    }
}

/// A cheap, cloneable reference to one plugin, for calling it repeatedly.
///
/// Holding a handle keeps the plugin (and its library) alive: `unload`
/// waits for handles to be dropped, up to its timeout.
#[derive(Clone, Debug)]
pub struct PluginHandle {
    slot: Arc<Slot>,
}

impl PluginHandle {
    pub(crate) fn new(slot: Arc<Slot>) -> Self {
        PluginHandle { slot }
    }

    /// The plugin's id.
    pub fn id(&self) -> &PluginId {
        self.slot.id()
    }

    /// The plugin's manifest.
    pub fn manifest(&self) -> &Manifest {
        self.slot.manifest()
    }

    /// The plugin's current state.
    pub fn state(&self) -> PluginState {
        self.slot.state()
    }

    /// Resolves a handler name to the id used for calls.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::UnknownHandler`] error listing the handlers there
    /// are.
    pub fn handler(&self, name: &str) -> Result<HandlerId, PluginError> {
        let handlers = &self.slot.manifest().handlers;
        match handlers.iter().position(|h| h.name == name) {
            Some(i) => Ok(HandlerId(
                u32::try_from(i).expect("manifests hold far fewer than 2^32 handlers"),
            )),
            None => Err(PluginError::with_kind(
                ErrorKind::UnknownHandler,
                format!(
                    "plugin {:?} has no handler {name:?}; it has: {}",
                    self.slot.id().as_str(),
                    handlers
                        .iter()
                        .map(|h| h.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Calls a synchronous handler, appending its output to `output`. A
    /// panic in the plugin is returned as an [`ErrorKind::Panicked`] error
    /// and moves the plugin to `Error`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotActive`] unless the plugin is active;
    /// [`ErrorKind::AsyncHandler`] for an async handler; whatever the
    /// handler returns.
    #[inline]
    pub fn call(
        &self,
        handler: HandlerId,
        input: &[u8],
        output: &mut Buffer,
    ) -> Result<(), PluginError> {
        let slot = &*self.slot;
        slot.check_active()?;
        if slot
            .manifest
            .handlers
            .get(handler.index())
            .is_some_and(|h| h.is_async)
        {
            return Err(PluginError::with_kind(
                ErrorKind::AsyncHandler,
                format!(
                    "handler #{} of {:?} is async: use call_async",
                    handler.0,
                    slot.id().as_str()
                ),
            ));
        }
        let result = catch(|| slot.plugin.call(&slot.ctx, handler, input, output));
        slot.after_call(result)
    }

    /// Calls any handler, sync or async.
    ///
    /// # Errors
    ///
    /// As [`PluginHandle::call`], without the async restriction.
    pub async fn call_async(
        &self,
        handler: HandlerId,
        input: &[u8],
        output: &mut Buffer,
    ) -> Result<(), PluginError> {
        let slot = &*self.slot;
        slot.check_active()?;
        let result =
            CatchUnwind::new(|| slot.plugin.call_async(&slot.ctx, handler, input, output)).await;
        slot.after_call(result)
    }

    /// Calls handler `name` (sync or async) with `input` encoded as JSON,
    /// decoding its output as JSON.
    ///
    /// # Errors
    ///
    /// As [`PluginHandle::call_async`], plus [`ErrorKind::InvalidInput`]
    /// when either side is not the JSON expected.
    pub async fn call_json<I: serde::Serialize + ?Sized, O: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        input: &I,
    ) -> Result<O, PluginError> {
        let handler = self.handler(name)?;
        let input = serde_json::to_vec(input)?;
        let mut out = Buffer::new();
        self.call_async(handler, &input, &mut out).await?;
        serde_json::from_slice(&out).map_err(|e| {
            PluginError::invalid_input(format!(
                "handler {name:?} of {:?} returned output that is not the expected {}: {e}",
                self.id().as_str(),
                std::any::type_name::<O>()
            ))
        })
    }

    /// Delivers an event.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotActive`] unless the plugin is active; whatever the
    /// plugin returns.
    pub async fn send_event(&self, topic: &str, payload: &[u8]) -> Result<(), PluginError> {
        let slot = &*self.slot;
        slot.check_active()?;
        let result = CatchUnwind::new(|| {
            slot.plugin
                .handle_event(&slot.ctx, Event { topic, payload })
        })
        .await;
        slot.after_call(result)
    }
}
