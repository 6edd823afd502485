//! Typed topics, the overflow policy, and the lifecycle topic.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::PluginState;

/// A topic whose payloads are `T`, encoded as JSON on the wire.
///
/// Plugins receive the JSON bytes in [`Plugin::handle_event`]; the type
/// keeps host code that publishes and listens from mixing up payloads.
///
/// ```
/// use sharelife_core::event::Topic;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Message { text: String }
/// const CHAT: Topic<Message> = Topic::new("chat.message");
/// assert_eq!(CHAT.name(), "chat.message");
/// ```
///
/// [`Plugin::handle_event`]: crate::Plugin::handle_event
pub struct Topic<T> {
    name: Cow<'static, str>,
    payload: PhantomData<fn(T) -> T>,
}

impl<T> Topic<T> {
    /// A topic with a name known at compile time. The name is checked when
    /// the topic is first used (see [`check_topic`](crate::manifest::check_topic)).
    pub const fn new(name: &'static str) -> Self {
        Topic {
            name: Cow::Borrowed(name),
            payload: PhantomData,
        }
    }

    /// A topic with a name made at run time.
    pub fn named(name: impl Into<String>) -> Self {
        Topic {
            name: Cow::Owned(name.into()),
            payload: PhantomData,
        }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<T> Clone for Topic<T> {
    fn clone(&self) -> Self {
        Topic {
            name: self.name.clone(),
            payload: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Topic")
            .field(&self.name)
            .field(&std::any::type_name::<T>())
            .finish()
    }
}

/// What happens to an event when a subscriber's queue is full. Chosen per
/// topic; either way the publisher does not wait, and the loss is counted
/// against the subscriber.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// Drop the oldest waiting event to make room (fits state updates,
    /// where the newest matters most).
    #[default]
    DropOldest,
    /// Keep the queue and refuse the new event (fits work items, where
    /// order matters more than recency).
    Reject,
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Overflow::DropOldest => "drop-oldest",
            Overflow::Reject => "reject",
        })
    }
}

/// A plugin changed state. Published on [`LIFECYCLE`] for every move of
/// every plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// The plugin.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// The state it left.
    pub from: PluginState,
    /// The state it entered.
    pub to: PluginState,
    /// Why, when the host knows (a failed hook, a failed dependency, a
    /// health check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The topic on which the host publishes every lifecycle move. Plugins can
/// subscribe to it like to any other topic.
pub const LIFECYCLE: Topic<LifecycleEvent> = Topic::new("sharelife.lifecycle");
