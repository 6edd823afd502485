//! One subscriber's bounded queue.
//!
//! The publisher never waits on it: a push takes a short lock, and when the
//! queue is full the topic's [`Overflow`] policy decides what is lost. The
//! one consumer (the plugin's delivery task, or a host [`Listener`]) waits
//! for events without holding the lock.
//!
//! [`Listener`]: super::Listener

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::Overflow;

/// An event in flight: the topic and payload are shared by every
/// subscriber's queue, never copied per subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The topic it was published on.
    pub topic: Arc<str>,
    /// The payload (JSON for typed topics).
    pub payload: Arc<[u8]>,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// Queued after dropping the oldest waiting event.
    DroppedOldest,
    /// Not queued: the queue was full and the topic rejects on overflow.
    Rejected,
    /// Not queued: the subscriber is gone.
    Closed,
}

#[derive(Debug)]
pub(crate) struct Mailbox {
    queue: Mutex<VecDeque<Envelope>>,
    capacity: usize,
    ready: Notify,
    closed: AtomicBool,
    pub(crate) dropped_oldest: AtomicU64,
    pub(crate) rejected: AtomicU64,
}

impl Mailbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Mailbox {
            queue: Mutex::new(VecDeque::with_capacity(capacity.min(64))),
            capacity: capacity.max(1),
            ready: Notify::new(),
            closed: AtomicBool::new(false),
            dropped_oldest: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.lock().len()
    }

    pub(crate) fn push(&self, envelope: Envelope, overflow: Overflow) -> Pushed {
        if self.closed.load(Ordering::Acquire) {
            return Pushed::Closed;
        }
        let pushed = {
            let mut queue = self.queue.lock();
            if queue.len() < self.capacity {
                queue.push_back(envelope);
                Pushed::Queued
            } else {
                match overflow {
                    Overflow::DropOldest => {
                        queue.pop_front();
                        queue.push_back(envelope);
                        Pushed::DroppedOldest
                    }
                    Overflow::Reject => Pushed::Rejected,
                }
            }
        };
        match pushed {
            Pushed::Queued => self.ready.notify_one(),
            Pushed::DroppedOldest => {
                self.dropped_oldest.fetch_add(1, Ordering::Relaxed);
                self.ready.notify_one();
            }
            Pushed::Rejected => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
            }
            Pushed::Closed => {}
        }
        pushed
    }

    /// The next event, waiting for one; `None` once the mailbox is closed.
    pub(crate) async fn pop(&self) -> Option<Envelope> {
        loop {
            if let Some(envelope) = self.try_pop() {
                return Some(envelope);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            // `notify_one` stores a permit when nobody waits, so a push
            // between the check above and this await is not missed.
            self.ready.notified().await;
        }
    }

    pub(crate) fn try_pop(&self) -> Option<Envelope> {
        self.queue.lock().pop_front()
    }

    /// Refuses further pushes, drops what is queued and wakes the consumer.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.queue.lock().clear();
        self.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(n: u8) -> Envelope {
        Envelope {
            topic: "t".into(),
            payload: vec![n].into(),
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest_or_rejects_the_newest() {
        let m = Mailbox::new(2);
        assert_eq!(m.push(env(1), Overflow::DropOldest), Pushed::Queued);
        assert_eq!(m.push(env(2), Overflow::DropOldest), Pushed::Queued);
        assert_eq!(m.push(env(3), Overflow::DropOldest), Pushed::DroppedOldest);
        assert_eq!(m.push(env(4), Overflow::Reject), Pushed::Rejected);
        assert_eq!(m.try_pop().unwrap().payload[..], [2]);
        assert_eq!(m.try_pop().unwrap().payload[..], [3]);
        assert_eq!(m.try_pop(), None);
        assert_eq!(m.dropped_oldest.load(Ordering::Relaxed), 1);
        assert_eq!(m.rejected.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn pop_waits_for_a_push_and_ends_on_close() {
        let m = Arc::new(Mailbox::new(4));
        let consumer = {
            let m = Arc::clone(&m);
            tokio::spawn(async move { m.pop().await })
        };
        tokio::task::yield_now().await;
        m.push(env(7), Overflow::Reject);
        assert_eq!(consumer.await.unwrap().unwrap().payload[..], [7]);
        m.close();
        assert_eq!(m.pop().await, None);
        assert_eq!(m.push(env(8), Overflow::Reject), Pushed::Closed);
    }
}
