//! Cancelling a run at its next step boundary.
#![forbid(unsafe_code)]

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

/// Asks runs to stop at their next step boundary (before a step starts,
/// before a retry, or during a backoff wait). A step already calling its
/// plugin finishes first. Clone it to cancel from elsewhere; one token may
/// serve many runs.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    notify: tokio::sync::Notify,
}

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        CancelToken::default()
    }

    /// Cancels every run using this token.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Acquire)
    }

    /// Completes once the token is cancelled.
    pub async fn cancelled(&self) {
        loop {
            let mut notified = pin!(self.inner.notify.notified());
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// Waits `duration` on the tokio timer, or less if `cancel` fires first;
/// returns whether it was cancelled.
pub(crate) async fn sleep(duration: Duration, cancel: Option<&CancelToken>) -> bool {
    let mut timer = pin!(tokio::time::sleep(duration));
    let Some(cancel) = cancel else {
        timer.await;
        return false;
    };
    let mut cancelled = pin!(cancel.cancelled());
    poll_fn(|cx| {
        if cancelled.as_mut().poll(cx).is_ready() {
            Poll::Ready(true)
        } else if timer.as_mut().poll(cx).is_ready() {
            Poll::Ready(false)
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Waits `duration` on this thread, waking every few milliseconds to
/// notice a cancellation; returns whether it was cancelled.
pub(crate) fn sleep_blocking(duration: Duration, cancel: Option<&CancelToken>) -> bool {
    const SLICE: Duration = Duration::from_millis(5);
    let deadline = std::time::Instant::now() + duration;
    loop {
        if cancel.is_some_and(CancelToken::is_cancelled) {
            return true;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep(left.min(SLICE));
    }
}
