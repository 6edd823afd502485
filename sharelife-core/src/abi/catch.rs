//! Turning panics into errors, for plain calls and for futures.
#![forbid(unsafe_code)]

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::panic_message;
use crate::{ErrorKind, PluginError};

/// The error a caught panic becomes.
pub(crate) fn panicked(payload: Box<dyn std::any::Any + Send>) -> PluginError {
    let message = panic_message(&*payload);
    // A payload whose drop panics would unwind out of here; leak it instead.
    std::mem::forget(payload);
    PluginError::with_kind(ErrorKind::Panicked, message)
}

/// Runs `f`, turning a panic into a `Panicked` error.
pub(crate) fn catch<R>(f: impl FnOnce() -> Result<R, PluginError>) -> Result<R, PluginError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(panicked(p)))
}

/// A future whose panics (while being created or polled) become
/// `Panicked` errors.
pub(crate) enum CatchUnwind<F> {
    Running(F),
    /// Creating the future panicked; the error is reported on first poll.
    FailedToStart(Option<PluginError>),
}

impl<F: Unpin> CatchUnwind<F> {
    /// Creates the inner future with `make`, catching a panic there too.
    pub(crate) fn new(make: impl FnOnce() -> F) -> Self {
        match catch_unwind(AssertUnwindSafe(make)) {
            Ok(fut) => CatchUnwind::Running(fut),
            Err(p) => CatchUnwind::FailedToStart(Some(panicked(p))),
        }
    }
}

impl<F, T> Future for CatchUnwind<F>
where
    F: Future<Output = Result<T, PluginError>> + Unpin,
{
    type Output = Result<T, PluginError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            CatchUnwind::Running(fut) => {
                match catch_unwind(AssertUnwindSafe(|| Pin::new(fut).poll(cx))) {
                    Ok(poll) => poll,
                    Err(p) => Poll::Ready(Err(panicked(p))),
                }
            }
            CatchUnwind::FailedToStart(err) => Poll::Ready(Err(err.take().unwrap_or_else(|| {
                PluginError::with_kind(
                    ErrorKind::Panicked,
                    "the plugin panicked while creating the future",
                )
            }))),
        }
    }
}
