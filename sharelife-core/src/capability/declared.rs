//! What the handler running on this thread declared it uses
//! (`#[handler(uses(..))]`), so that the gateway can deny a request of
//! another class.
//!
//! How far this reaches in-process: the host marks the thread for the
//! duration of a synchronous handler call, and for each poll of an async
//! handler's future; the plugin's service calls made *on that thread
//! while it is marked* are attributed to the handler. Work the handler
//! hands to another thread (a `std::thread`, `ctx.spawn`, a task of its
//! own runtime) is not marked, and is decided by the plugin's grants
//! alone: a context belongs to the plugin, not to a call. The sandbox tier,
//! which sees every request as a message tagged with its call, can close
//! that gap.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::manifest::{CapabilityClass, Handler};

/// A set of capability classes as a bitmask; bit 31 means "declared".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Declared(u32);

const DECLARED: u32 = 1 << 31;

impl Declared {
    /// What `handler` declared, if it declared anything.
    #[inline]
    pub(crate) fn of(handler: &Handler) -> Option<Declared> {
        handler
            .uses
            .as_ref()
            .map(|uses| Declared(uses.iter().fold(DECLARED, |mask, class| mask | bit(*class))))
    }

    /// Whether `class` is among the declared classes.
    #[inline]
    pub(crate) fn allows(self, class: CapabilityClass) -> bool {
        self.0 & bit(class) != 0
    }
}

#[inline]
fn bit(class: CapabilityClass) -> u32 {
    1 << (class as u32)
}

thread_local! {
    static CURRENT: Cell<Option<Declared>> = const { Cell::new(None) };
}

/// What the handler running on this thread declared, if it declared
/// anything.
#[inline]
pub(crate) fn current() -> Option<Declared> {
    CURRENT.with(Cell::get)
}

/// Marks this thread until dropped (restoring the mark it had: a handler
/// may call another plugin's handler).
pub(crate) struct Scope(Option<Declared>);

impl Scope {
    #[inline]
    pub(crate) fn enter(declared: Option<Declared>) -> Scope {
        Scope(CURRENT.with(|c| c.replace(declared)))
    }
}

impl Drop for Scope {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// A future whose every poll runs with this thread marked.
pub(crate) struct Marked<F> {
    declared: Option<Declared>,
    inner: F,
}

impl<F> Marked<F> {
    pub(crate) fn new(declared: Option<Declared>, inner: F) -> Self {
        Marked { declared, inner }
    }
}

impl<F: Future + Unpin> Future for Marked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _scope = Scope::enter(self.declared);
        Pin::new(&mut self.inner).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_marks_and_restores() {
        let mut h = Handler::new("read", false);
        assert_eq!(Declared::of(&h), None);
        h.uses = Some(vec![CapabilityClass::FileRead]);
        let d = Declared::of(&h).unwrap();
        assert!(d.allows(CapabilityClass::FileRead));
        assert!(!d.allows(CapabilityClass::NetworkOutbound));
        assert_eq!(current(), None);
        {
            let _outer = Scope::enter(Some(d));
            assert_eq!(current(), Some(d));
            {
                let _inner = Scope::enter(None);
                assert_eq!(current(), None);
            }
            assert_eq!(current(), Some(d));
        }
        assert_eq!(current(), None);
        // Declaring nothing is declaring: every class is refused.
        h.uses = Some(vec![]);
        let none = Declared::of(&h).unwrap();
        assert!(!none.allows(CapabilityClass::FileRead));
    }
}
