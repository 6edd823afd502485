//! The event part of a host (`host.events()`): the bus, plus what only the
//! host can do with it: subscribe a plugin by id, deliver to one plugin.

use std::sync::Arc;

use super::HostError;
use super::binding::Binding;
use super::registry::Registry;
use crate::event::{EventBus, Listener, PublishReport, SubscriberStats, Topic};

/// The host's events (`host.events()`): publish, listen, subscribe plugins,
/// read per-subscriber counters.
#[derive(Debug)]
pub struct Events {
    bus: Arc<EventBus>,
    registry: Arc<Registry>,
}

impl Events {
    pub(crate) fn new(bus: Arc<EventBus>, registry: Arc<Registry>) -> Self {
        Events { bus, registry }
    }

    /// The bus itself.
    pub fn bus(&self) -> &Arc<EventBus> {
        &self.bus
    }

    /// Publishes `payload` on `topic` to every active subscriber, without
    /// waiting for any of them.
    ///
    /// # Errors
    ///
    /// [`HostError::Event`] for a bad topic name.
    pub fn publish_bytes(&self, topic: &str, payload: &[u8]) -> Result<PublishReport, HostError> {
        Ok(self.bus.publish_bytes(topic, payload)?)
    }

    /// Publishes `value` as JSON on a typed topic.
    ///
    /// # Errors
    ///
    /// [`HostError::Event`].
    pub fn publish<T: serde::Serialize>(
        &self,
        topic: &Topic<T>,
        value: &T,
    ) -> Result<PublishReport, HostError> {
        Ok(self.bus.publish(topic, value)?)
    }

    /// A host-side listener on a typed topic (for example
    /// [`LIFECYCLE`](crate::event::LIFECYCLE)).
    ///
    /// # Errors
    ///
    /// [`HostError::Event`] for a bad topic name.
    pub fn listen<T>(&self, topic: &Topic<T>) -> Result<Listener<T>, HostError> {
        Ok(self.bus.listen(topic)?)
    }

    /// Subscribes plugin `id` to `topic` at run time; `false` if it was
    /// subscribed already.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`], [`HostError::Event`], or
    /// [`HostError::NoRuntime`] outside a tokio runtime.
    pub fn subscribe(&self, id: &str, topic: &str) -> Result<bool, HostError> {
        self.bound(id)?.subscribe(topic)
    }

    /// Unsubscribes plugin `id` from `topic`; `false` if it was not
    /// subscribed.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`].
    pub fn unsubscribe(&self, id: &str, topic: &str) -> Result<bool, HostError> {
        Ok(self.bound(id)?.unsubscribe(topic))
    }

    /// Delivers an event to plugin `id` directly (when active), bypassing
    /// the bus; [`publish_bytes`](Self::publish_bytes) goes through
    /// subscriptions.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`] or [`HostError::Call`].
    pub async fn send(&self, id: &str, topic: &str, payload: &[u8]) -> Result<(), HostError> {
        let handle = super::PluginHandle::new(self.bound(id)?);
        handle
            .send_event(topic, payload)
            .await
            .map_err(|error| HostError::Call {
                id: handle.id().clone(),
                handler: format!("event {topic}"),
                error,
            })
    }

    /// Every subscriber's queue counters.
    pub fn stats(&self) -> Vec<SubscriberStats> {
        self.bus.stats()
    }

    /// Subscriber `name`'s queue counters (a plugin id, or a listener's
    /// name).
    pub fn stats_of(&self, name: &str) -> Option<SubscriberStats> {
        self.bus.stats_of(name)
    }

    fn bound(&self, id: &str) -> Result<Arc<Binding>, HostError> {
        self.registry
            .bound(id)
            .ok_or_else(|| HostError::NotFound(id.to_owned()))
    }

    /// Ends every plugin's delivery and closes the bus: host listeners see
    /// the end of their streams.
    pub(crate) fn close(&self) {
        for binding in self.registry.bindings() {
            binding.end_subscription();
        }
        self.bus.close();
    }
}
