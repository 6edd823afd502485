//! The host's end of the socket: blocking reads and writes whose waits
//! are bounded by the call's deadline through the socket's own timeouts
//! (`SO_RCVTIMEO`, `SO_SNDTIMEO`), and writes with `MSG_NOSIGNAL` so a
//! dead child is an error, never a `SIGPIPE` in the host.
//!
//! A round trip is two syscalls on the host (`sendmsg`, `read`): the
//! timeouts are set once to the call timeout and changed only when a
//! wait armed with them could overshoot the deadline by more than
//! [`SLACK`] (a long transfer's later reads), so the common call sets
//! nothing. A wait that times out before the deadline is re-armed with
//! what is left.
#![forbid(unsafe_code)]

use std::io::{self, IoSlice, Read};
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};

use crate::frame;

/// How far past its deadline a wait may end: the kernel's socket
/// timeouts have the scheduler tick's granularity anyway.
const SLACK: Duration = Duration::from_millis(1);

/// Why an exchange stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The deadline passed.
    Deadline,
    /// The peer closed its end (it exited, or closed the socket).
    Closed,
    /// The peer sent more than one answer.
    Extra,
    /// A frame announced a body of `len` bytes, more than its bound
    /// `most` (the tag's bound for this read, or [`frame::MAX_FRAME`]);
    /// nothing of it was read.
    TooLong { len: u64, most: usize },
    /// Anything else.
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::UnexpectedEof => Stop::Closed,
            _ => Stop::Io(e),
        }
    }
}

/// Which of the socket's two timeouts.
#[derive(Clone, Copy)]
enum Direction {
    Receive,
    Send,
}

/// The host's end of one runner's socket.
#[derive(Debug)]
pub(crate) struct Channel {
    socket: UnixStream,
    /// What `SO_RCVTIMEO` and `SO_SNDTIMEO` are set to (`None`: wait
    /// forever).
    armed: [Option<Duration>; 2],
    /// Polls for a frame before sleeping in `read` ([`crate::poll`]).
    poller: crate::poll::Poller,
}

impl Channel {
    pub(crate) fn new(
        socket: UnixStream,
        call_timeout: Option<Duration>,
        poll: Duration,
    ) -> io::Result<Self> {
        socket.set_read_timeout(call_timeout)?;
        socket.set_write_timeout(call_timeout)?;
        Ok(Channel {
            socket,
            armed: [call_timeout; 2],
            poller: crate::poll::Poller::new(poll),
        })
    }

    /// Makes sure a wait in `direction` ends by the deadline (within
    /// [`SLACK`]); `Err(Deadline)` when it has passed.
    fn arm(&mut self, direction: Direction, deadline: Option<Instant>) -> Result<(), Stop> {
        let Some(deadline) = deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Stop::Deadline);
        }
        let armed = &mut self.armed[direction as usize];
        if armed.is_none_or(|a| a > left + SLACK) {
            match direction {
                Direction::Receive => self.socket.set_read_timeout(Some(left))?,
                Direction::Send => self.socket.set_write_timeout(Some(left))?,
            }
            *armed = Some(left);
        }
        Ok(())
    }

    /// After a wait timed out: `Err(Deadline)` when the deadline passed,
    /// otherwise the timeout is re-armed with what is left.
    fn rearm(&mut self, direction: Direction, deadline: Option<Instant>) -> Result<(), Stop> {
        let Some(deadline) = deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Stop::Deadline);
        }
        match direction {
            Direction::Receive => self.socket.set_read_timeout(Some(left))?,
            Direction::Send => self.socket.set_write_timeout(Some(left))?,
        }
        self.armed[direction as usize] = Some(left);
        Ok(())
    }

    /// Writes every byte of `parts`, in order.
    pub(crate) fn write_all(
        &mut self,
        parts: &mut [IoSlice<'_>],
        deadline: Option<Instant>,
    ) -> Result<(), Stop> {
        self.write_all_passing(parts, None, deadline)
    }

    /// Writes every byte of `parts`, in order, passing `descriptor`
    /// (`SCM_RIGHTS`) with the first bytes.
    pub(crate) fn write_all_passing(
        &mut self,
        parts: &mut [IoSlice<'_>],
        descriptor: Option<BorrowedFd<'_>>,
        deadline: Option<Instant>,
    ) -> Result<(), Stop> {
        self.arm(Direction::Send, deadline)?;
        let fds: Vec<BorrowedFd<'_>> = descriptor.into_iter().collect();
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut pending = !fds.is_empty();
        let mut parts = parts;
        while !parts.is_empty() {
            let mut control = SendAncillaryBuffer::new(&mut space);
            if pending {
                control.push(SendAncillaryMessage::ScmRights(&fds));
            }
            match sendmsg(&self.socket, parts, &mut control, SendFlags::NOSIGNAL) {
                Ok(n) => {
                    pending = false;
                    IoSlice::advance_slices(&mut parts, n);
                    if !parts.is_empty() {
                        self.arm(Direction::Send, deadline)?;
                    }
                }
                Err(rustix::io::Errno::AGAIN) => self.rearm(Direction::Send, deadline)?,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(io::Error::from(e).into()),
            }
        }
        Ok(())
    }

    /// One read into `buf`: how many bytes (at least one).
    fn read_some(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> Result<usize, Stop> {
        self.arm(Direction::Receive, deadline)?;
        loop {
            match (&self.socket).read(buf) {
                Ok(0) => return Err(Stop::Closed),
                Ok(n) => return Ok(n),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    self.rearm(Direction::Receive, deadline)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads one frame: its tag and body. The first read takes the header
    /// and, for a small answer, the whole body; a larger body grows as
    /// its bytes arrive (a length is never trusted for an allocation up
    /// front). Bytes past the frame are a protocol error: the runner
    /// answers each call once.
    pub(crate) fn read_frame(&mut self, deadline: Option<Instant>) -> Result<(u8, Vec<u8>), Stop> {
        self.read_frame_bounded(deadline, None)
    }

    /// [`read_frame`](Self::read_frame), refusing ([`Stop::TooLong`]) a
    /// frame of tag `bound.0` whose header announces more than `bound.1`
    /// bytes, and any frame announcing more than [`frame::MAX_FRAME`],
    /// before reading its body.
    pub(crate) fn read_frame_bounded(
        &mut self,
        deadline: Option<Instant>,
        bound: Option<(u8, usize)>,
    ) -> Result<(u8, Vec<u8>), Stop> {
        let mut first = [0_u8; 4096];
        let mut filled = 0;
        // Polls only within the deadline: the budget is microseconds, a
        // deadline seconds, and `read_some` checks it after.
        self.poller.wait(&self.socket);
        while filled < frame::HEADER {
            filled += self.read_some(&mut first[filled..], deadline)?;
        }
        let header: &[u8; frame::HEADER] = first[..frame::HEADER].try_into().expect("9 bytes");
        let (tag, len) = frame::parse_header(header);
        let most = match bound {
            Some((bounded, most)) if tag == bounded => most.min(frame::MAX_FRAME),
            _ => frame::MAX_FRAME,
        };
        if usize::try_from(len).is_ok_and(|len| len > most) {
            return Err(Stop::TooLong { len, most });
        }
        let len = usize::try_from(len)
            .map_err(|_| Stop::Io(io::Error::other("frame longer than memory")))?;
        let early = &first[frame::HEADER..filled];
        if early.len() > len {
            return Err(Stop::Extra);
        }
        let mut body = Vec::with_capacity(len.min(frame::GROWTH));
        body.extend_from_slice(early);
        while body.len() < len {
            let start = body.len();
            let end = len.min(start + frame::GROWTH);
            body.resize(end, 0);
            let mut at = start;
            while at < end {
                at += self.read_some(&mut body[at..end], deadline)?;
            }
        }
        Ok((tag, body))
    }

    /// Closes the host's sending side: the runner reads the end of the
    /// stream and stops.
    pub(crate) fn close_write(&self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Write);
    }

    /// Waits until the peer has closed its end (it exited), or the
    /// deadline. Anything it still sends is discarded.
    pub(crate) fn wait_closed(&mut self, deadline: Option<Instant>) -> Result<(), Stop> {
        let mut sink = [0; 4096];
        loop {
            match self.read_some(&mut sink, deadline) {
                Ok(_) => {}
                Err(Stop::Deadline) => return Err(Stop::Deadline),
                Err(_) => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use super::{Channel, Stop};
    use crate::frame::{self, MAX_FRAME, OK};

    #[test]
    fn a_frame_over_the_hard_bound_is_refused_from_its_header() {
        let (host, mut child) = UnixStream::pair().unwrap();
        let mut channel = Channel::new(host, None, Duration::ZERO).unwrap();
        child.write_all(&frame::header(OK, MAX_FRAME + 1)).unwrap();
        // Without the bound the read would wait for the body and find the
        // end of the stream instead.
        drop(child);
        match channel.read_frame(None) {
            Err(Stop::TooLong { len, most }) => {
                assert_eq!(len, (MAX_FRAME + 1) as u64);
                assert_eq!(most, MAX_FRAME);
            }
            other => panic!("expected TooLong, got {:?}", other.map(|(tag, _)| tag)),
        }
    }

    #[test]
    fn a_frame_at_the_bound_of_its_tag_is_read() {
        let (host, mut child) = UnixStream::pair().unwrap();
        let mut channel = Channel::new(host, None, Duration::ZERO).unwrap();
        child.write_all(&frame::header(OK, 3)).unwrap();
        child.write_all(b"abc").unwrap();
        let (tag, body) = channel.read_frame_bounded(None, Some((OK, 3))).unwrap();
        assert_eq!((tag, body.as_slice()), (OK, b"abc".as_slice()));
        child.write_all(&frame::header(OK, 4)).unwrap();
        assert!(matches!(
            channel.read_frame_bounded(None, Some((OK, 3))),
            Err(Stop::TooLong { len: 4, most: 3 })
        ));
    }
}
