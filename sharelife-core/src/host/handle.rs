//! [`PluginHandle`]: the caller's reference to one plugin, and the call
//! path (state check, panic containment, metrics).

use std::sync::Arc;

use super::slot::Slot;
use crate::abi::catch::{CatchUnwind, catch};
use crate::manifest::{Manifest, PluginId};
use crate::{Buffer, ErrorKind, Event, HandlerId, PluginError, PluginState};

/// A cheap, cloneable reference to one plugin, for calling it repeatedly.
///
/// Holding a handle keeps the plugin (and its library) alive: `unload`
/// waits for handles to be dropped, up to its timeout.
#[derive(Clone, Debug)]
pub struct PluginHandle {
    slot: Arc<Slot>,
}

impl Slot {
    fn check_active(&self) -> Result<(), PluginError> {
        match self.state() {
            PluginState::Active => Ok(()),
            state => Err(PluginError::with_kind(
                ErrorKind::NotActive,
                format!("plugin {:?} is {state}, not active", self.id().as_str()),
            )),
        }
    }

    fn after_call(&self, place: &str, result: Result<(), PluginError>) -> Result<(), PluginError> {
        if let Err(e) = &result {
            if e.kind() == ErrorKind::Panicked {
                self.fail(place, e);
            }
        }
        result
    }
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
    /// and moves the plugin to `Error`. The call is counted in the
    /// handler's metrics.
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
            .manifest()
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
        let started = slot.metrics.start();
        let result = catch(|| slot.plugin.call(&slot.ctx, handler, input, output));
        if let Some(m) = slot.metrics.handler(handler.index()) {
            m.record(started, &result);
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
        let slot = &*self.slot;
        slot.check_active()?;
        let started = slot.metrics.start();
        let result =
            CatchUnwind::new(|| slot.plugin.call_async(&slot.ctx, handler, input, output)).await;
        if let Some(m) = slot.metrics.handler(handler.index()) {
            m.record(started, &result);
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
        let slot = &*self.slot;
        slot.check_active()?;
        let started = slot.metrics.start();
        let result = CatchUnwind::new(|| {
            slot.plugin
                .handle_event(&slot.ctx, Event { topic, payload })
        })
        .await;
        slot.metrics.events().record(started, &result);
        slot.after_call("event handler panicked", result)
    }
}
