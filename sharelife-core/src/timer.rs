//! A runtime-free timer: a future completed by a short-lived thread. Used
//! when no tokio runtime is running (test harnesses, plain executors).
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub(crate) struct ThreadSleep {
    deadline: Instant,
    shared: Arc<Mutex<Option<Waker>>>,
    started: bool,
}

impl ThreadSleep {
    pub(crate) fn new(duration: Duration) -> Self {
        ThreadSleep {
            deadline: Instant::now() + duration,
            shared: Arc::new(Mutex::new(None)),
            started: false,
        }
    }
}

impl Future for ThreadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        *self.shared.lock() = Some(cx.waker().clone());
        if !self.started {
            self.started = true;
            let shared = Arc::clone(&self.shared);
            let deadline = self.deadline;
            std::thread::spawn(move || {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                if let Some(waker) = shared.lock().take() {
                    waker.wake();
                }
            });
        }
        Poll::Pending
    }
}
