//! The event bus: typed topics, bounded per-subscriber queues, overflow
//! counted per subscriber.
//!
//! A plugin subscribes through its manifest (`#[plugin(subscribe("..."))]`),
//! through the host config (`plugins.<id>.subscriptions`) or at run time
//! ([`Events::subscribe`](crate::host::Events::subscribe)); host code listens with
//! [`EventBus::listen`]. Publishing never waits: each subscriber has its own
//! bounded queue drained by its own task, so a slow or stuck plugin only
//! loses its own events, by the topic's [`Overflow`] policy, and the loss
//! is counted against it ([`SubscriberStats`]).
#![forbid(unsafe_code)]

mod listener;
mod mailbox;
mod topic;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

pub use self::listener::Listener;
pub use self::mailbox::Envelope;
pub(crate) use self::mailbox::Mailbox;
use self::mailbox::Pushed;
pub use self::topic::{LIFECYCLE, LifecycleEvent, Overflow, Topic};

/// Why an event operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The topic name breaks the naming rule.
    #[error("{topic:?} {reason}")]
    BadTopic {
        /// The name given.
        topic: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A typed payload could not be encoded.
    #[error("cannot encode the event for topic {topic:?} as JSON: {message}")]
    Encode {
        /// The topic.
        topic: String,
        /// serde_json's message.
        message: String,
    },
    /// A payload is not the type the listener expects.
    #[error("an event on topic {topic:?} is not the {expected} this listener expects: {message}")]
    Decode {
        /// The topic.
        topic: String,
        /// The listener's type.
        expected: &'static str,
        /// serde_json's message.
        message: String,
    },
}

/// Checks a topic name, as an [`EventError`].
///
/// # Errors
///
/// [`EventError::BadTopic`].
pub fn check_topic(topic: &str) -> Result<(), EventError> {
    crate::manifest::check_topic(topic).map_err(|reason| EventError::BadTopic {
        topic: topic.to_owned(),
        reason,
    })
}

/// How the bus sizes queues and treats overflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOptions {
    /// Events each subscriber can have waiting (default 256).
    pub queue_capacity: usize,
    /// The overflow policy of topics not listed in `topics`.
    pub overflow: Overflow,
    /// Per-topic overflow policies.
    pub topics: BTreeMap<String, Overflow>,
}

impl Default for EventOptions {
    fn default() -> Self {
        EventOptions {
            queue_capacity: 256,
            overflow: Overflow::DropOldest,
            topics: BTreeMap::new(),
        }
    }
}

/// What one publish did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishReport {
    /// Subscribers the event was queued for.
    pub queued: usize,
    /// Subscribers whose oldest waiting event was dropped to make room.
    pub dropped_oldest: usize,
    /// Subscribers whose full queue refused the event.
    pub rejected: usize,
    /// Subscribed plugins that were not active, so got nothing.
    pub inactive: usize,
}

/// One subscriber's counters, as reported by [`EventBus::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriberStats {
    /// The plugin id, or `host listener #n`.
    pub subscriber: String,
    /// Its topics.
    pub topics: Vec<String>,
    /// Events waiting in its queue now.
    pub queued: usize,
    /// Its queue's capacity.
    pub capacity: usize,
    /// Events handed to it so far.
    pub delivered: u64,
    /// Events lost because its queue was full and the topic drops the
    /// oldest.
    pub dropped_oldest: u64,
    /// Events lost because its queue was full and the topic rejects.
    pub rejected: u64,
}

/// One party that receives events: a plugin's delivery task or a host
/// listener.
#[derive(Debug)]
pub(crate) struct Subscriber {
    name: String,
    pub(crate) mailbox: Mailbox,
    topics: Mutex<BTreeSet<Arc<str>>>,
    accepting: AtomicBool,
    delivered: AtomicU64,
}

impl Subscriber {
    /// Whether events are queued for it now (a plugin only while active).
    pub(crate) fn set_accepting(&self, accepting: bool) {
        self.accepting.store(accepting, Ordering::Release);
    }

    pub(crate) fn mark_delivered(&self) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn topics(&self) -> Vec<String> {
        self.topics.lock().iter().map(|t| t.to_string()).collect()
    }

    fn stats(&self) -> SubscriberStats {
        SubscriberStats {
            subscriber: self.name.clone(),
            topics: self.topics(),
            queued: self.mailbox.len(),
            capacity: self.mailbox.capacity(),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped_oldest: self.mailbox.dropped_oldest.load(Ordering::Relaxed),
            rejected: self.mailbox.rejected.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
struct Route {
    topic: Arc<str>,
    overflow: Overflow,
    subscribers: Vec<Arc<Subscriber>>,
}

/// The event bus. The host owns one; reach it with
/// [`Host::events`](crate::Host::events).
#[derive(Debug)]
pub struct EventBus {
    options: EventOptions,
    routes: RwLock<HashMap<Arc<str>, Route>>,
    subscribers: Mutex<Vec<Arc<Subscriber>>>,
    listeners: AtomicU64,
    published: AtomicU64,
}

impl EventBus {
    /// A bus with these options.
    pub fn new(options: EventOptions) -> Self {
        EventBus {
            options,
            routes: RwLock::new(HashMap::new()),
            subscribers: Mutex::new(Vec::new()),
            listeners: AtomicU64::new(0),
            published: AtomicU64::new(0),
        }
    }

    /// The options the bus was built with.
    pub fn options(&self) -> &EventOptions {
        &self.options
    }

    /// The overflow policy of `topic`.
    pub fn overflow(&self, topic: &str) -> Overflow {
        self.options
            .topics
            .get(topic)
            .copied()
            .unwrap_or(self.options.overflow)
    }

    /// Queues `payload` for every active subscriber of `topic`, without
    /// waiting for any of them.
    ///
    /// # Errors
    ///
    /// [`EventError::BadTopic`].
    pub fn publish_bytes(&self, topic: &str, payload: &[u8]) -> Result<PublishReport, EventError> {
        check_topic(topic)?;
        self.published.fetch_add(1, Ordering::Relaxed);
        let routes = self.routes.read();
        let mut report = PublishReport::default();
        let Some(route) = routes.get(topic) else {
            return Ok(report);
        };
        let envelope = Envelope {
            topic: Arc::clone(&route.topic),
            payload: Arc::from(payload),
        };
        for sub in &route.subscribers {
            if !sub.accepting.load(Ordering::Acquire) {
                report.inactive += 1;
                continue;
            }
            match sub.mailbox.push(envelope.clone(), route.overflow) {
                Pushed::Queued => report.queued += 1,
                Pushed::DroppedOldest => {
                    report.dropped_oldest += 1;
                    report.queued += 1;
                    warn_overflow(sub, route, &sub.mailbox.dropped_oldest);
                }
                Pushed::Rejected => {
                    report.rejected += 1;
                    warn_overflow(sub, route, &sub.mailbox.rejected);
                }
                Pushed::Closed => {}
            }
        }
        Ok(report)
    }

    /// Encodes `value` as JSON and publishes it on `topic`.
    ///
    /// # Errors
    ///
    /// [`EventError::BadTopic`] or [`EventError::Encode`].
    pub fn publish<T: serde::Serialize>(
        &self,
        topic: &Topic<T>,
        value: &T,
    ) -> Result<PublishReport, EventError> {
        let payload = serde_json::to_vec(value).map_err(|e| EventError::Encode {
            topic: topic.name().to_owned(),
            message: e.to_string(),
        })?;
        self.publish_bytes(topic.name(), &payload)
    }

    /// Whether anyone subscribes to `topic` (so that publishers can skip
    /// encoding an event nobody would receive).
    pub fn has_subscribers(&self, topic: &str) -> bool {
        self.routes.read().contains_key(topic)
    }

    /// Events published so far (on any topic, subscribed or not).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// A new subscriber with an empty queue, subscribed to nothing yet.
    pub(crate) fn register(&self, name: impl Into<String>, accepting: bool) -> Arc<Subscriber> {
        let sub = Arc::new(Subscriber {
            name: name.into(),
            mailbox: Mailbox::new(self.options.queue_capacity),
            topics: Mutex::new(BTreeSet::new()),
            accepting: AtomicBool::new(accepting),
            delivered: AtomicU64::new(0),
        });
        self.subscribers.lock().push(Arc::clone(&sub));
        sub
    }

    /// Adds `topic` to `sub`'s topics; `false` if it was there already.
    pub(crate) fn subscribe(&self, sub: &Arc<Subscriber>, topic: &str) -> Result<bool, EventError> {
        check_topic(topic)?;
        let mut routes = self.routes.write();
        let route = routes.entry(Arc::from(topic)).or_insert_with(|| Route {
            topic: Arc::from(topic),
            overflow: self.overflow(topic),
            subscribers: Vec::new(),
        });
        if route.subscribers.iter().any(|s| Arc::ptr_eq(s, sub)) {
            return Ok(false);
        }
        route.subscribers.push(Arc::clone(sub));
        sub.topics.lock().insert(Arc::clone(&route.topic));
        Ok(true)
    }

    /// Removes `topic` from `sub`'s topics; `false` if it was not there.
    pub(crate) fn unsubscribe(&self, sub: &Arc<Subscriber>, topic: &str) -> bool {
        let mut routes = self.routes.write();
        let Some(route) = routes.get_mut(topic) else {
            return false;
        };
        let before = route.subscribers.len();
        route.subscribers.retain(|s| !Arc::ptr_eq(s, sub));
        let removed = route.subscribers.len() != before;
        if route.subscribers.is_empty() {
            routes.remove(topic);
        }
        sub.topics.lock().remove(topic);
        removed
    }

    /// Unsubscribes `sub` from everything and closes its queue.
    pub(crate) fn remove(&self, sub: &Arc<Subscriber>) {
        let topics: Vec<Arc<str>> = sub.topics.lock().iter().cloned().collect();
        for topic in topics {
            self.unsubscribe(sub, &topic);
        }
        sub.mailbox.close();
        self.subscribers.lock().retain(|s| !Arc::ptr_eq(s, sub));
    }

    /// Closes every queue: listeners see the end of their stream.
    pub(crate) fn close(&self) {
        let subs: Vec<_> = self.subscribers.lock().clone();
        for sub in subs {
            self.remove(&sub);
        }
    }

    /// A host-side listener on `topic`, with its own bounded queue under
    /// the topic's overflow policy. Dropping it unsubscribes.
    ///
    /// # Errors
    ///
    /// [`EventError::BadTopic`].
    pub fn listen<T>(self: &Arc<Self>, topic: &Topic<T>) -> Result<Listener<T>, EventError> {
        check_topic(topic.name())?;
        let n = self.listeners.fetch_add(1, Ordering::Relaxed) + 1;
        let sub = self.register(format!("host listener #{n}"), true);
        self.subscribe(&sub, topic.name())?;
        Ok(Listener::new(sub, Arc::downgrade(self)))
    }

    /// Every subscriber's counters, plugins and host listeners.
    pub fn stats(&self) -> Vec<SubscriberStats> {
        let mut stats: Vec<_> = self.subscribers.lock().iter().map(|s| s.stats()).collect();
        stats.sort_by(|a, b| a.subscriber.cmp(&b.subscriber));
        stats
    }

    /// The counters of subscriber `name` (a plugin id), if it subscribed.
    pub fn stats_of(&self, name: &str) -> Option<SubscriberStats> {
        self.subscribers
            .lock()
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.stats())
    }
}

/// Logs an overflow at the 1st, 2nd, 4th, 8th... loss of one subscriber:
/// visible, without a stuck plugin flooding the log.
fn warn_overflow(sub: &Subscriber, route: &Route, counter: &AtomicU64) {
    let lost = counter.load(Ordering::Relaxed);
    if lost.is_power_of_two() {
        tracing::warn!(
            subscriber = %sub.name,
            topic = %route.topic,
            policy = %route.overflow,
            lost,
            capacity = sub.mailbox.capacity(),
            "event queue full: the subscriber is not keeping up"
        );
    }
}
