//! [`PluginHandle`]: the caller's reference to one plugin, and the call
//! path (version lookup, state check, panic containment, metrics).

use std::sync::Arc;

use super::HostError;
use super::binding::Binding;
use super::registry::Registry;
use super::slot::{Route, Slot};
use crate::abi::catch::{CatchUnwind, catch};
use crate::capability::declared;
use crate::manifest::{Manifest, PluginId};
use crate::{Buffer, ErrorKind, Event, HandlerId, PluginError, PluginState};

/// A cheap, cloneable reference to one plugin id in a host, for calling
/// it repeatedly.
///
/// A handle follows the id, not a version: each call goes to the version
/// loaded when the call starts, so after [`Host::reload`](super::Host::reload)
/// new calls reach the new version while calls in flight finish on the
/// old one. Holding a handle does not keep a version (or its library)
/// loaded; only calls in flight do. While the id is unloaded, calls fail
/// with [`ErrorKind::NotActive`]; they work again if it is loaded again.
///
/// [`HandlerId`]s from [`PluginHandle::handler`] stay valid across
/// versions: they name the handler, and a version that no longer has it
/// answers [`ErrorKind::UnknownHandler`].
#[derive(Clone, Debug)]
pub struct PluginHandle {
    binding: Arc<Binding>,
}

impl Slot {
    #[inline]
    fn check_active(&self) -> Result<(), PluginError> {
        match self.state() {
            PluginState::Active => Ok(()),
            state => Err(self.not_active(state)),
        }
    }

    /// Out of line, so the check above stays a load and a compare in the
    /// caller (built inline, the message's formatting made every call
    /// set up a stack frame for it).
    #[cold]
    fn not_active(&self, state: PluginState) -> PluginError {
        PluginError::with_kind(
            ErrorKind::NotActive,
            format!("plugin {:?} is {state}, not active", self.id().as_str()),
        )
    }

    /// Where binding handler id `handler` goes in this version.
    #[inline]
    fn dispatch(&self, handler: HandlerId) -> Result<&Route, PluginError> {
        self.route(handler).ok_or_else(|| self.no_handler(handler))
    }

    #[cold]
    fn no_handler(&self, handler: HandlerId) -> PluginError {
        PluginError::with_kind(
            ErrorKind::UnknownHandler,
            format!(
                "plugin {:?} {} has no handler #{}",
                self.id().as_str(),
                self.manifest().version,
                handler.0
            ),
        )
    }

    #[cold]
    fn async_handler(&self, route: &Route) -> PluginError {
        let name = self
            .manifest()
            .handlers
            .get(route.local.index())
            .map_or("?", |h| h.name.as_str());
        PluginError::with_kind(
            ErrorKind::AsyncHandler,
            format!(
                "handler {name:?} of {:?} is async: use call_async",
                self.id().as_str()
            ),
        )
    }

    #[cold]
    fn after_call(&self, place: &str, result: Result<(), PluginError>) -> Result<(), PluginError> {
        if let Err(e) = &result
            && e.kind() == ErrorKind::Panicked
        {
            self.fail(place, e);
        }
        result
    }
}

/// A call's hold on a version. Letting go of it tells an unload waiting
/// for the calls in flight to drain ([`released`](super::slot::released)),
/// so the unload waits on that signal instead of polling.
///
/// Fields drop in order: the hold first, then the signal. (No `Option`
/// to take the hold out of: that moved the guard on every call.)
struct Hold<T> {
    held: T,
    _signal: Signal,
}

/// Sends the [`released`](super::slot::released) signal when dropped.
struct Signal;

impl Drop for Signal {
    #[inline]
    fn drop(&mut self) {
        super::slot::released();
    }
}

impl<T> Hold<T> {
    #[inline]
    fn new(held: T) -> Self {
        Hold {
            held,
            _signal: Signal,
        }
    }
}

impl<T> std::ops::Deref for Hold<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.held
    }
}

fn not_loaded(binding: &Binding) -> PluginError {
    PluginError::with_kind(
        ErrorKind::NotActive,
        format!("plugin {:?} is not loaded", binding.id().as_str()),
    )
}

impl PluginHandle {
    pub(crate) fn new(binding: Arc<Binding>) -> Self {
        PluginHandle { binding }
    }

    /// A handle to plugin `id` if a version of it is loaded
    /// ([`Host::handle`](super::Host::handle)).
    pub(crate) fn find(registry: &Registry, id: &str) -> Result<Self, HostError> {
        registry.find_bound(id).map(PluginHandle::new)
    }

    /// A failure of handler `handler` as the host reports it.
    fn call_error(&self, handler: &str, error: PluginError) -> HostError {
        HostError::Call {
            id: self.id().clone(),
            handler: handler.to_owned(),
            error,
        }
    }

    /// Calls synchronous handler `handler` by name
    /// ([`Host::call`](super::Host::call)).
    pub(crate) fn call_by_name(&self, handler: &str, input: &[u8]) -> Result<Buffer, HostError> {
        let call_error = |e| self.call_error(handler, e);
        let hid = self.handler(handler).map_err(call_error)?;
        let mut out = Buffer::new();
        self.call(hid, input, &mut out).map_err(call_error)?;
        Ok(out)
    }

    /// Calls handler `handler` (sync or async) by name
    /// ([`Host::call_async`](super::Host::call_async)).
    pub(crate) async fn call_async_by_name(
        &self,
        handler: &str,
        input: &[u8],
    ) -> Result<Buffer, HostError> {
        let call_error = |e| self.call_error(handler, e);
        let hid = self.handler(handler).map_err(call_error)?;
        let mut out = Buffer::new();
        self.call_async(hid, input, &mut out)
            .await
            .map_err(call_error)?;
        Ok(out)
    }

    /// The version calls go to now, held for a call.
    fn current(&self) -> Result<Hold<Arc<Slot>>, PluginError> {
        self.binding
            .current()
            .map(Hold::new)
            .ok_or_else(|| not_loaded(&self.binding))
    }

    /// The gateway of the version loaded now.
    #[cfg_attr(
        not(feature = "pipeline"),
        allow(dead_code, reason = "read by pipelines only")
    )]
    pub(crate) fn gateway(&self) -> Option<Arc<crate::capability::Gateway>> {
        self.binding
            .current()
            .map(|slot| Arc::clone(slot.gateway()))
    }

    /// The plugin's id.
    pub fn id(&self) -> &PluginId {
        self.binding.id()
    }

    /// The manifest of the version loaded now (or, while the id is
    /// unloaded, of the one loaded last).
    pub fn manifest(&self) -> Arc<Manifest> {
        self.binding.manifest()
    }

    /// The current version's state; [`PluginState::Unloaded`] while the id
    /// is unloaded.
    pub fn state(&self) -> PluginState {
        self.binding
            .guard()
            .as_deref()
            .map_or(PluginState::Unloaded, Slot::state)
    }

    /// Resolves a handler name to the id used for calls. The id stays
    /// valid across hot reloads.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::UnknownHandler`] error listing the handlers there
    /// are, when the current version has no handler `name`.
    pub fn handler(&self, name: &str) -> Result<HandlerId, PluginError> {
        let manifest = self.manifest();
        let known = manifest.handlers.iter().any(|h| h.name == name);
        match self.binding.handler(name).filter(|_| known) {
            Some(i) => Ok(HandlerId(i)),
            None => Err(PluginError::with_kind(
                ErrorKind::UnknownHandler,
                format!(
                    "plugin {:?} has no handler {name:?}; it has: {}",
                    self.id().as_str(),
                    manifest
                        .handlers
                        .iter()
                        .map(|h| h.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Whether handler `handler` of the current version is async (`None`
    /// if it has no such handler).
    pub fn is_async(&self, handler: HandlerId) -> Option<bool> {
        let guard = self.binding.guard();
        guard.as_deref()?.route(handler).map(|r| r.is_async)
    }

    /// Calls a synchronous handler, appending its output to `output`. A
    /// panic in the plugin is returned as an [`ErrorKind::Panicked`] error
    /// and moves the plugin to `Error`. The call is counted in the
    /// handler's metrics.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotActive`] unless the plugin is active;
    /// [`ErrorKind::UnknownHandler`] if the current version has no such
    /// handler; [`ErrorKind::AsyncHandler`] for an async handler; whatever
    /// the handler returns.
    #[inline]
    pub fn call(
        &self,
        handler: HandlerId,
        input: &[u8],
        output: &mut Buffer,
    ) -> Result<(), PluginError> {
        // The guard keeps this version alive until the call returns, even
        // if a reload swaps in another meanwhile.
        let guard = Hold::new(self.binding.guard());
        let Some(slot) = guard.as_deref() else {
            return Err(not_loaded(&self.binding));
        };
        slot.check_active()?;
        let route = slot.dispatch(handler)?;
        if route.is_async {
            return Err(slot.async_handler(route));
        }
        let (local, declared) = (route.local, route.declared);
        let metrics = slot.metrics.handler(local.index());
        let started = metrics.and_then(|m| m.begin(slot.metrics.timing()));
        let result = if declared.is_none() && declared::current().is_none() {
            // Nothing to mark and nothing to restore: leave the thread's
            // mark alone (writing it back is a store the next call's read
            // would wait on).
            catch(|| slot.plugin.call(&slot.ctx, local, input, output))
        } else {
            let _marked = declared::Scope::enter(declared);
            catch(|| slot.plugin.call(&slot.ctx, local, input, output))
        };
        if let Some(m) = metrics {
            m.end(started, &result);
        }
        // `after_call` is cold: the success path returns here.
        if result.is_ok() {
            return Ok(());
        }
        slot.after_call("handler panicked", result)
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
        // A counted reference, not a guard: it is held across awaits.
        let slot = self.current()?;
        slot.check_active()?;
        let &Route {
            local, declared, ..
        } = slot.dispatch(handler)?;
        let metrics = slot.metrics.handler(local.index());
        let started = metrics.and_then(|m| m.begin(slot.metrics.timing()));
        let result = declared::Marked::new(
            declared,
            CatchUnwind::new(|| slot.plugin.call_async(&slot.ctx, local, input, output)),
        )
        .await;
        if let Some(m) = metrics {
            m.end(started, &result);
        }
        if result.is_ok() {
            return Ok(());
        }
        slot.after_call("handler panicked", result)
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

    /// Delivers an event directly, bypassing the bus and its queue. Counted
    /// in the plugin's event metrics.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotActive`] unless the plugin is active; whatever the
    /// plugin returns.
    pub async fn send_event(&self, topic: &str, payload: &[u8]) -> Result<(), PluginError> {
        let slot = self.current()?;
        slot.check_active()?;
        let started = slot.metrics.events().begin(slot.metrics.timing());
        let result = CatchUnwind::new(|| {
            slot.plugin
                .handle_event(&slot.ctx, Event { topic, payload })
        })
        .await;
        slot.metrics.events().end(started, &result);
        slot.after_call("event handler panicked", result)
    }
}
