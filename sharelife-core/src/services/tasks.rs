//! Background tasks a plugin spawns through its context, tied to the
//! plugin version that spawned them.
//!
//! Each task's future sits in a [`Slot`] the runner polls under a lock.
//! [`Tasks::revoke`] takes every slot's future out and drops it *there*,
//! synchronously: once it returns, no future of the plugin is left
//! anywhere (a poll running on another thread finishes first), so the host
//! can close the plugin's library right after. The runner, woken, finds its
//! slot empty and ends. Nothing here depends on which runtime drives the
//! runner: tokio's when one is running, a thread of its own otherwise.

#![cfg_attr(
    not(feature = "host"),
    expect(
        dead_code,
        reason = "only the host revokes tasks; a plugin build only runs detached ones"
    )
)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use parking_lot::Mutex;

use crate::context::BoxFuture;
use crate::{ErrorKind, PluginError};

/// How many tasks one plugin version may run at once.
pub(crate) const MAX_TASKS: usize = 64;

/// One task: its future until it ends or is stopped, and the waker of the
/// runner that polls it.
struct Slot {
    future: Mutex<Option<BoxFuture<'static, ()>>>,
    waker: Mutex<Option<Waker>>,
    done: AtomicBool,
}

impl Slot {
    /// Drops the future (catching a panic in its drop) and wakes the
    /// runner so that it ends.
    fn stop(&self) {
        let future = self.future.lock().take();
        if catch_unwind(AssertUnwindSafe(move || drop(future))).is_err() {
            tracing::warn!(target: "sharelife::plugin", "a plugin task panicked while being stopped");
        }
        self.done.store(true, Ordering::Release);
        if let Some(waker) = self.waker.lock().take() {
            waker.wake();
        }
    }
}

/// Polls a slot's future; ends when it is done, panics, or is stopped.
struct Runner(Arc<Slot>);

impl Future for Runner {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let slot = &self.0;
        *slot.waker.lock() = Some(cx.waker().clone());
        let mut future = slot.future.lock();
        let Some(fut) = future.as_mut() else {
            return Poll::Ready(());
        };
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => {
                let ended = future.take();
                drop(future);
                drop(ended);
                slot.done.store(true, Ordering::Release);
                Poll::Ready(())
            }
            Err(_) => {
                tracing::warn!(target: "sharelife::plugin", "a plugin task panicked; it is stopped");
                let ended = future.take();
                drop(future);
                // Its state may be broken: dropping it could panic again.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(ended)));
                slot.done.store(true, Ordering::Release);
                Poll::Ready(())
            }
        }
    }
}

/// The tasks of one plugin version.
#[derive(Default)]
pub(crate) struct Tasks {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    revoked: bool,
    slots: Vec<Arc<Slot>>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Tasks")
            .field("revoked", &state.revoked)
            .field("running", &state.slots.len())
            .finish()
    }
}

impl Tasks {
    /// Starts `task` unless the tasks are revoked or [`MAX_TASKS`] run.
    pub(crate) fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), PluginError> {
        let slot = {
            let mut state = self.state.lock();
            if state.revoked {
                return Err(PluginError::with_kind(
                    ErrorKind::Denied,
                    "spawn denied: the plugin version was unloaded or replaced",
                ));
            }
            state.slots.retain(|s| !s.done.load(Ordering::Acquire));
            if state.slots.len() >= MAX_TASKS {
                return Err(PluginError::with_kind(
                    ErrorKind::Denied,
                    format!("spawn denied: the plugin already runs {MAX_TASKS} tasks"),
                ));
            }
            let slot = Arc::new(Slot {
                future: Mutex::new(Some(task)),
                waker: Mutex::new(None),
                done: AtomicBool::new(false),
            });
            state.slots.push(Arc::clone(&slot));
            slot
        };
        run(Runner(slot));
        Ok(())
    }

    /// Refuses later spawns and stops every running task: when this
    /// returns, their futures are dropped.
    pub(crate) fn revoke(&self) {
        let slots = {
            let mut state = self.state.lock();
            state.revoked = true;
            std::mem::take(&mut state.slots)
        };
        for slot in slots {
            slot.stop();
        }
    }

    /// Tasks running now.
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        let mut state = self.state.lock();
        state.slots.retain(|s| !s.done.load(Ordering::Acquire));
        state.slots.len()
    }
}

/// Runs `task` with no owner that could stop it (for services that are
/// never revoked, such as [`LocalServices`](crate::context::LocalServices)).
pub(crate) fn detached(task: BoxFuture<'static, ()>) {
    let slot = Arc::new(Slot {
        future: Mutex::new(Some(task)),
        waker: Mutex::new(None),
        done: AtomicBool::new(false),
    });
    run(Runner(slot));
}

/// Drives `runner` on tokio when a runtime is running, else on a thread.
fn run(runner: Runner) {
    #[cfg(feature = "host")]
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        drop(handle.spawn(runner));
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("sharelife-task".into())
        .spawn(move || block_on(runner));
    if let Err(e) = spawned {
        tracing::error!(target: "sharelife::plugin", error = %e, "cannot start a thread for a plugin task; it does not run");
    }
}

/// Wakes a parked thread.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` to completion on this thread.
fn block_on(fut: impl Future<Output = ()>) {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    while fut.as_mut().poll(&mut cx).is_pending() {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    struct CountDrop(Arc<AtomicUsize>);

    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn revoke_drops_running_tasks_before_it_returns() {
        let tasks = Tasks::default();
        let dropped = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicBool::new(false));
        let guard = CountDrop(Arc::clone(&dropped));
        let flag = Arc::clone(&ran);
        tasks
            .spawn(Box::pin(async move {
                let _guard = guard;
                flag.store(true, Ordering::SeqCst);
                std::future::pending::<()>().await;
            }))
            .unwrap();
        while !ran.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(tasks.running(), 1);
        tasks.revoke();
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(tasks.running(), 0);
        let e = tasks.spawn(Box::pin(async {})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Denied);
    }

    #[test]
    fn a_panicking_task_ends_alone() {
        let tasks = Tasks::default();
        tasks.spawn(Box::pin(async { panic!("boom") })).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let d = Arc::clone(&done);
        tasks
            .spawn(Box::pin(async move { d.store(true, Ordering::SeqCst) }))
            .unwrap();
        for _ in 0..2000 {
            if done.load(Ordering::SeqCst) && tasks.running() == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("tasks did not end");
    }

    #[test]
    fn at_most_max_tasks_run_at_once() {
        let tasks = Tasks::default();
        for _ in 0..MAX_TASKS {
            tasks.spawn(Box::pin(std::future::pending())).unwrap();
        }
        let e = tasks.spawn(Box::pin(async {})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Denied);
        tasks.revoke();
    }
}
