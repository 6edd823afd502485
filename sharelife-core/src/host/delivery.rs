//! Event delivery to one plugin: the task that drains its queue into
//! `handle_event`, one event at a time. The queue and the task belong to
//! the plugin's [`Binding`](super::binding::Binding), so a hot reload
//! keeps them: events queued before a swap reach the new version.
//!
//! The task is the only party that waits on the plugin, so a plugin stuck
//! in `handle_event` holds up its own queue and nothing else.

use std::sync::Arc;

use super::handle::PluginHandle;
use crate::PluginState;
use crate::event::Subscriber;

pub(super) async fn drain(plugin: PluginHandle, subscriber: Arc<Subscriber>) {
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
