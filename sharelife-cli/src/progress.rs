//! Progress on stderr, for people only.
//!
//! Every bar and spinner made here draws on **stderr**, and only when
//! stderr is a terminal: piped, redirected or run from a test, it is
//! hidden and writes nothing at all (no escape codes, no partial lines),
//! so stdout and stderr carry only what a command prints on purpose.
//!
//! ```ignore
//! let spinner = progress::spinner("building acme-upper");
//! // ... the slow part; spinner.set_message("linking") to say more ...
//! progress::done(&spinner, "built acme-upper in 2.1s");   // or spinner.finish_and_clear()
//! ```
//!
//! The returned [`ProgressBar`] is indicatif's: use its API for anything
//! else. Before printing to stderr while one is visible, call
//! [`ProgressBar::suspend`] (or finish it first) so the line is not drawn
//! over.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a visible spinner redraws itself.
const TICK: Duration = Duration::from_millis(100);

/// Whether progress is drawn: stderr is a terminal.
pub(crate) fn is_visible() -> bool {
    std::io::stderr().is_terminal()
}

/// A spinner with `message`, ticking on its own on stderr when stderr is a
/// terminal; hidden (and without a ticking thread) otherwise. Finish it
/// with [`done`], or [`ProgressBar::finish_and_clear`] to leave no trace.
pub(crate) fn spinner(message: impl Into<Cow<'static, str>>) -> ProgressBar {
    if !is_visible() {
        return ProgressBar::hidden().with_message(message);
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        .with_style(
            ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}")
                .expect("a valid template")
                .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✓"),
        )
        .with_message(message);
    bar.enable_steady_tick(TICK);
    bar
}

/// Finishes `bar`, replacing it with `message` on a terminal (one line
/// that stays); does nothing visible when the bar is hidden.
pub(crate) fn done(bar: &ProgressBar, message: impl Into<Cow<'static, str>>) {
    let hidden = bar.is_hidden();
    bar.finish_and_clear();
    if !hidden {
        eprintln!("{}", message.into());
    }
}
