//! Waiting for the other side's next message by polling before sleeping.
//!
//! A blocking `read` on the socket puts the reader to sleep, and the
//! writer's `write` must wake it: a trip through the scheduler that, on a
//! virtual machine, costs an inter-processor interrupt when the two run on
//! different CPUs (40–180 µs measured here; `benches/IPC.md`). So each
//! side, before it blocks, peeks at the socket (`recv` with `MSG_PEEK |
//! MSG_DONTWAIT`, which takes nothing out of it) in a busy loop for up to
//! its budget ([`DEFAULT_POLL`](crate::DEFAULT_POLL), 50 µs; `limits =
//! { poll = "…" }`, `"0s"` turns it off), and sleeps in the kernel only
//! when the budget is spent. A call answered within it pays no wake-up.
//!
//! Spinning costs where it cannot pay: when host and child share a CPU
//! the spinner holds the CPU the other needs, and a child with no call
//! coming burns its budget after every answer. So each side keeps a
//! [`Poller`] that backs off like an adaptive mutex: a poll that finds
//! nothing makes the next 1, 2, 4 … 1024 waits sleep at once. Measured
//! with `benches/ipc.rs` on the 2-vCPU VM, quiet (`sandbox_noop` with
//! polling off against `sandbox_noop_poll_50us`): across CPUs the no-op
//! round trip fell from 47 µs to 5.7 µs; on one CPU it rose from 11.0 to
//! 11.9 µs (the peek itself). Without the back-off, on one CPU it was
//! 112 µs; yielding between peeks (`sched_yield`) instead of spinning was
//! worse still on a busy machine (3.9 ms across CPUs: the yielding child
//! waited out a compiler's time slice).
#![forbid(unsafe_code)]

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::{RecvFlags, recv};

/// How many waits a side sleeps through without polling, at most, after
/// polls that found nothing in their budget.
const MAX_BACKOFF: u32 = 1024;

/// One side's poll budget, which backs off where polling does not pay,
/// as an adaptive mutex does: a poll that finds nothing within its budget
/// (the peer shares this CPU and cannot run while we spin, or it is slow,
/// or no call follows) makes the next 1, 2, 4 … up to [`MAX_BACKOFF`]
/// waits sleep at once; a poll that catches the message after spinning
/// (what a sleep would have paid a wake-up for) starts over; one that
/// finds it already there changes nothing (a read would not have slept
/// either). So a side whose polls keep failing spends about one budget
/// per 1024 waits.
#[derive(Debug)]
pub(crate) struct Poller {
    budget: Duration,
    /// Waits left to sleep through without polling.
    skip: u32,
    /// What `skip` becomes at the next miss.
    backoff: u32,
}

impl Poller {
    /// A poller with `budget` (zero: never polls).
    pub(crate) fn new(budget: Duration) -> Poller {
        Poller {
            budget,
            skip: 0,
            backoff: 1,
        }
    }

    /// Before a blocking read of `socket`: polls for up to the budget,
    /// unless backing off.
    pub(crate) fn wait(&mut self, socket: &UnixStream) {
        if self.budget.is_zero() {
            return;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        self.record(until_readable(socket, self.budget));
    }

    /// What a poll's outcome teaches.
    fn record(&mut self, outcome: Poll) {
        match outcome {
            Poll::Ready => {}
            Poll::Caught => self.backoff = 1,
            Poll::Missed => {
                self.skip = self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// How a poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Poll {
    /// Something was there at the first look.
    Ready,
    /// Something came while polling.
    Caught,
    /// The budget passed with nothing.
    Missed,
}

/// Polls `socket` until it has a byte to read (or its end, or an error
/// the read that follows will report), or `budget` has passed since the
/// call.
pub(crate) fn until_readable(socket: &UnixStream, budget: Duration) -> Poll {
    let mut start = None;
    let mut probe = [0_u8; 1];
    loop {
        match recv(socket, &mut probe, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
            Err(Errno::AGAIN) => {}
            Err(Errno::INTR) => continue,
            // Bytes, the end of the stream (0) or an error: the read
            // sees them.
            _ if start.is_none() => return Poll::Ready,
            _ => return Poll::Caught,
        }
        let since = *start.get_or_insert_with(Instant::now);
        if since.elapsed() >= budget {
            return Poll::Missed;
        }
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use super::{MAX_BACKOFF, Poll, Poller, until_readable};

    #[test]
    fn a_waiting_byte_ends_the_poll_and_stays_in_the_socket() {
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"x").unwrap();
        // A budget the test would notice if it were spent.
        assert_eq!(until_readable(&a, Duration::from_secs(3600)), Poll::Ready);
        let mut byte = [0_u8; 1];
        std::io::Read::read_exact(&mut &a, &mut byte).unwrap();
        assert_eq!(&byte, b"x");
    }

    #[test]
    fn the_end_of_the_stream_ends_the_poll() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        assert_eq!(until_readable(&a, Duration::from_secs(3600)), Poll::Ready);
    }

    #[test]
    fn a_silent_peer_ends_the_poll_when_the_budget_is_spent() {
        let (a, _b) = UnixStream::pair().unwrap();
        let start = std::time::Instant::now();
        assert_eq!(until_readable(&a, Duration::from_millis(2)), Poll::Missed);
        assert!(start.elapsed() >= Duration::from_millis(2));
    }

    #[test]
    fn misses_back_off_and_a_catch_starts_over() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut poller = Poller::new(Duration::from_micros(10));
        poller.wait(&a); // a real miss: the next wait is skipped
        assert_eq!((poller.skip, poller.backoff), (1, 2));
        poller.wait(&a); // skipped, nothing polled
        assert_eq!((poller.skip, poller.backoff), (0, 2));
        poller.wait(&a); // a miss: the next two are skipped
        assert_eq!((poller.skip, poller.backoff), (2, 4));
        poller.skip = 0;
        b.write_all(b"x").unwrap();
        poller.wait(&a); // there at once: a read would not have slept
        assert_eq!((poller.skip, poller.backoff), (0, 4));
        poller.record(Poll::Caught);
        assert_eq!(poller.backoff, 1);
        poller.backoff = MAX_BACKOFF;
        poller.record(Poll::Missed);
        assert_eq!((poller.skip, poller.backoff), (MAX_BACKOFF, MAX_BACKOFF));
        // A zero budget never polls and never learns.
        let mut off = Poller::new(Duration::ZERO);
        off.wait(&a);
        assert_eq!((off.skip, off.backoff), (0, 1));
    }
}
