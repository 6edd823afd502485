//! Event delivery to one plugin: its subscription on the bus and the task
//! that drains its queue into `handle_event`, one event at a time.
//!
//! The task is the only party that waits on the plugin, so a plugin stuck
//! in `handle_event` holds up its own queue and nothing else.

use std::sync::Arc;

use super::HostError;
use super::handle::PluginHandle;
use super::slot::{Slot, Subscription};
use crate::PluginState;
use crate::event::Subscriber;

impl Slot {
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
        let mut slot_sub = self.subscription.lock();
        if let Some(sub) = &*slot_sub {
            return Ok(Arc::clone(&sub.subscriber));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| HostError::NoRuntime)?;
        let subscriber = self
            .events
            .register(self.id().to_string(), self.state() == PluginState::Active);
        let worker = runtime.spawn(drain(
            PluginHandle::new(Arc::clone(self)),
            Arc::clone(&subscriber),
        ));
        *slot_sub = Some(Subscription {
            subscriber: Arc::clone(&subscriber),
            worker: worker.abort_handle(),
        });
        Ok(subscriber)
    }
}

async fn drain(plugin: PluginHandle, subscriber: Arc<Subscriber>) {
    while let Some(event) = subscriber.mailbox.pop().await {
        if plugin.state() != PluginState::Active {
            // Stopped after the event was queued: the bus only queues for
            // active plugins, so this one is dropped, not delivered later.
            continue;
        }
        subscriber.mark_delivered();
        if let Err(error) = plugin.send_event(&event.topic, &event.payload).await {
            tracing::warn!(
                plugin = %plugin.id(),
                topic = %event.topic,
                error = %error,
                "event handler failed"
            );
        }
    }
}
