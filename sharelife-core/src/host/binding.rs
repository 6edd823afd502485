//! A plugin id's place in the host: which loaded version calls go to.
//!
//! A [`Binding`] outlives the versions bound to it. [`PluginHandle`]s,
//! compiled pipelines and the event delivery task hold the binding, not a
//! version, so a hot reload is one pointer swap: calls that start after it
//! reach the new version, calls in flight hold the old one until they
//! return. A synchronous call holds it by a hazard pointer
//! ([`HazardCell`]: two plain stores, no atomic read-modify-write), an
//! async call by a reference count.
//!
//! Handler ids are the binding's, not a version's: the first version's
//! handlers get ids in manifest order, and each name a later version adds
//! gets the next id, so an id resolved once names the same handler in
//! every version (each [`Slot`] maps the ids to its own indices).
//!
//! [`PluginHandle`]: super::PluginHandle

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::HostError;
use super::handle::PluginHandle;
use super::slot::Slot;
use crate::PluginState;
use crate::event::{EventBus, Subscriber};
use crate::loader::hazard::{HazardCell, Protected};
use crate::manifest::{Manifest, PluginId};

/// The handler-table entry of a slot for a binding id the version does
/// not have.
pub(crate) const NO_HANDLER: u32 = u32::MAX;

/// A plugin's event subscription: its queue and the task draining it.
pub(crate) struct Subscription {
    pub(crate) subscriber: Arc<Subscriber>,
    pub(crate) worker: tokio::task::AbortHandle,
}

pub(crate) struct Binding {
    id: PluginId,
    current: HazardCell<Slot>,
    /// The manifest of the version bound last (kept after an unload, for
    /// messages and for [`PluginHandle::manifest`]).
    manifest: Mutex<Arc<Manifest>>,
    /// Handler names by binding handler id; only ever appended to.
    handlers: RwLock<Vec<Box<str>>>,
    /// The plugin's event subscription, which every version shares.
    subscription: Mutex<Option<Subscription>>,
    events: Arc<EventBus>,
    /// One hot reload of this id at a time.
    pub(super) swapping: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binding")
            .field("id", &self.id)
            .field("current", &self.current.load().as_deref())
            .finish_non_exhaustive()
    }
}

impl Binding {
    pub(crate) fn new(manifest: Arc<Manifest>, events: Arc<EventBus>) -> Self {
        Binding {
            id: manifest.id.clone(),
            current: HazardCell::new(),
            handlers: RwLock::new(Vec::new()),
            manifest: Mutex::new(manifest),
            subscription: Mutex::new(None),
            events,
            swapping: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn id(&self) -> &PluginId {
        &self.id
    }

    /// The version calls go to now.
    pub(crate) fn current(&self) -> Option<Arc<Slot>> {
        self.current.load_full()
    }

    /// The version calls go to now, without touching its reference count
    /// (the call path). Held on this thread only.
    #[inline]
    pub(crate) fn guard(&self) -> Option<Protected<'_, Slot>> {
        self.current.load()
    }

    /// Whether a version is bound.
    pub(crate) fn is_bound(&self) -> bool {
        self.current.is_some()
    }

    pub(crate) fn is_current(&self, slot: &Slot) -> bool {
        self.current.holds(slot)
    }

    /// Makes `slot` the version calls go to and returns the one before.
    /// Event delivery follows the new version's state from here on. Calls
    /// still on the old version keep it alive: the binding's own
    /// reference to it goes when the last of them returns, and only then
    /// can the returned one be the last.
    pub(crate) fn bind(&self, slot: Option<Arc<Slot>>) -> Option<Arc<Slot>> {
        if let Some(s) = &slot {
            *self.manifest.lock() = Arc::clone(s.manifest_arc());
        }
        let accepting = slot
            .as_ref()
            .is_some_and(|s| s.state() == PluginState::Active);
        let old = self.current.swap(slot);
        self.set_accepting(accepting);
        old
    }

    /// The manifest of the version bound now, or last.
    pub(crate) fn manifest(&self) -> Arc<Manifest> {
        Arc::clone(&self.manifest.lock())
    }

    /// The binding handler id of `name`.
    pub(crate) fn handler(&self, name: &str) -> Option<u32> {
        self.handlers
            .read()
            .iter()
            .position(|h| &**h == name)
            .map(|i| u32::try_from(i).expect("far fewer than 2^32 handler names"))
    }

    /// The table a version with `manifest` dispatches by: its own handler
    /// index for each binding handler id ([`NO_HANDLER`] where it has no
    /// such handler). Gives ids to the names it is the first to have.
    pub(crate) fn dispatch_table(&self, manifest: &Manifest) -> Box<[u32]> {
        let mut names = self.handlers.write();
        for h in &manifest.handlers {
            if !names.iter().any(|n| **n == *h.name) {
                names.push(h.name.as_str().into());
            }
        }
        names
            .iter()
            .map(|n| {
                manifest
                    .handlers
                    .iter()
                    .position(|h| *h.name == **n)
                    .map_or(NO_HANDLER, |i| {
                        u32::try_from(i).expect("far fewer than 2^32 handlers")
                    })
            })
            .collect()
    }

    fn set_accepting(&self, accepting: bool) {
        if let Some(sub) = &*self.subscription.lock() {
            sub.subscriber.set_accepting(accepting);
        }
    }

    /// Called by a slot that changed state: event delivery follows the
    /// version bound now, and only it.
    pub(crate) fn state_changed(&self, slot: &Slot, to: PluginState) {
        if self.is_current(slot) {
            self.set_accepting(to == PluginState::Active);
        }
    }

    /// Subscribes the plugin to `topic`, creating its queue and delivery
    /// task on first use. `false` if it was subscribed already.
    pub(crate) fn subscribe(self: &Arc<Self>, topic: &str) -> Result<bool, HostError> {
        let subscriber = self.subscriber()?;
        Ok(self.events.subscribe(&subscriber, topic)?)
    }

    /// Unsubscribes the plugin from `topic`; `false` if it was not
    /// subscribed.
    pub(crate) fn unsubscribe(&self, topic: &str) -> bool {
        match &*self.subscription.lock() {
            Some(sub) => self.events.unsubscribe(&sub.subscriber, topic),
            None => false,
        }
    }

    /// The plugin's topics.
    pub(crate) fn topics(&self) -> Vec<String> {
        self.subscription
            .lock()
            .as_ref()
            .map(|s| s.subscriber.topics())
            .unwrap_or_default()
    }

    fn subscriber(self: &Arc<Self>) -> Result<Arc<Subscriber>, HostError> {
        let mut subscription = self.subscription.lock();
        if let Some(sub) = &*subscription {
            return Ok(Arc::clone(&sub.subscriber));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| HostError::NoRuntime)?;
        let active = self
            .current
            .load()
            .as_deref()
            .is_some_and(|s| s.state() == PluginState::Active);
        let subscriber = self.events.register(self.id.to_string(), active);
        let worker = runtime.spawn(super::delivery::drain(
            PluginHandle::new(Arc::clone(self)),
            Arc::clone(&subscriber),
        ));
        *subscription = Some(Subscription {
            subscriber: Arc::clone(&subscriber),
            worker: worker.abort_handle(),
        });
        Ok(subscriber)
    }

    /// Unsubscribes from every topic and stops the delivery task.
    pub(crate) fn end_subscription(&self) {
        if let Some(sub) = self.subscription.lock().take() {
            self.events.remove(&sub.subscriber);
            sub.worker.abort();
        }
    }
}
