//! Host-side listeners.

use std::marker::PhantomData;
use std::sync::{Arc, Weak};

use serde::de::DeserializeOwned;

use super::{Envelope, EventBus, EventError, Subscriber};

/// Receives the events of one topic in host code. Created by
/// [`EventBus::listen`]; its queue is bounded like a plugin's, so a
/// listener nobody reads never blocks publishers. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Listener<T> {
    sub: Arc<Subscriber>,
    bus: Weak<EventBus>,
    payload: PhantomData<fn() -> T>,
}

impl<T> Listener<T> {
    pub(super) fn new(sub: Arc<Subscriber>, bus: Weak<EventBus>) -> Self {
        Listener {
            sub,
            bus,
            payload: PhantomData,
        }
    }

    /// The next event as bytes, waiting for one; `None` once the bus is
    /// closed (the host shut down).
    pub async fn recv_envelope(&mut self) -> Option<Envelope> {
        let envelope = self.sub.mailbox.pop().await?;
        self.sub.mark_delivered();
        Some(envelope)
    }

    /// Events lost because this listener's queue was full.
    pub fn lost(&self) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        self.sub.mailbox.dropped_oldest.load(Relaxed) + self.sub.mailbox.rejected.load(Relaxed)
    }
}

impl<T: DeserializeOwned> Listener<T> {
    /// The next event, decoded; `None` once the bus is closed.
    pub async fn recv(&mut self) -> Option<Result<T, EventError>> {
        let envelope = self.recv_envelope().await?;
        Some(decode(&envelope))
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Result<T, EventError>> {
        let envelope = self.sub.mailbox.try_pop()?;
        self.sub.mark_delivered();
        Some(decode(&envelope))
    }
}

fn decode<T: DeserializeOwned>(envelope: &Envelope) -> Result<T, EventError> {
    serde_json::from_slice(&envelope.payload).map_err(|e| EventError::Decode {
        topic: envelope.topic.to_string(),
        expected: std::any::type_name::<T>(),
        message: e.to_string(),
    })
}

impl<T> Drop for Listener<T> {
    fn drop(&mut self) {
        if let Some(bus) = self.bus.upgrade() {
            bus.remove(&self.sub);
        }
    }
}
