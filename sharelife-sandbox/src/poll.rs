//! Waiting for the other side's next message by polling before sleeping
//! (off unless `limits = { poll = "…" }` asks for it).
//!
//! A blocking `read` on the socket puts the reader to sleep, and the
//! writer's `write` must wake it: a trip through the scheduler that, on a
//! virtual machine, costs an inter-processor interrupt when the two run on
//! different CPUs (40–180 µs measured here; `benches/IPC.md`). With a poll
//! budget each side, before it blocks, peeks at the socket (`recv` with
//! `MSG_PEEK | MSG_DONTWAIT`, which takes nothing out of it) in a busy
//! loop for up to the budget, and sleeps in the kernel only when it is
//! spent. A call answered within the budget then pays no wake-up.
//!
//! It is off by default because it pays only when host and child run on
//! different CPUs that have nothing else to do. Measured with `benches/ipc.rs`
//! on the 2-vCPU VM while a build ran (`sandbox_noop` against
//! `sandbox_noop_poll_50us`): across CPUs 105 µs → 17 µs; on one CPU
//! 18 µs → 129 µs, since each side spins through the budget while the
//! other needs that CPU; and every wait that ends in sleep has burnt the
//! budget's CPU first. Yielding between peeks (`sched_yield`) instead of
//! spinning was worse still on a busy machine (3.9 ms across CPUs: the
//! yielding child waited out a compiler's time slice). A host that pins
//! its children to CPUs of their own is the one to turn it on.
#![forbid(unsafe_code)]

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::{RecvFlags, recv};

/// Returns once `socket` has a byte to read (or its end, or an error the
/// read that follows will report), or once `budget` has passed since the
/// call: whichever comes first. A zero budget returns at once.
pub(crate) fn until_readable(socket: &UnixStream, budget: Duration) {
    if budget.is_zero() {
        return;
    }
    let start = Instant::now();
    let mut probe = [0_u8; 1];
    loop {
        match recv(socket, &mut probe, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
            Err(Errno::AGAIN) => {}
            Err(Errno::INTR) => continue,
            // Bytes, the end of the stream (0) or an error: the read
            // sees them.
            _ => return,
        }
        if start.elapsed() >= budget {
            return;
        }
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use super::until_readable;

    #[test]
    fn a_waiting_byte_ends_the_poll_and_stays_in_the_socket() {
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"x").unwrap();
        // A budget the test would notice if it were spent.
        until_readable(&a, Duration::from_secs(3600));
        let mut byte = [0_u8; 1];
        std::io::Read::read_exact(&mut &a, &mut byte).unwrap();
        assert_eq!(&byte, b"x");
    }

    #[test]
    fn the_end_of_the_stream_ends_the_poll() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        until_readable(&a, Duration::from_secs(3600));
    }

    #[test]
    fn a_silent_peer_ends_the_poll_when_the_budget_is_spent() {
        let (a, _b) = UnixStream::pair().unwrap();
        let start = std::time::Instant::now();
        until_readable(&a, Duration::from_millis(2));
        assert!(start.elapsed() >= Duration::from_millis(2));
    }
}
