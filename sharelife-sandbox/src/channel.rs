//! The host's end of the socket: non-blocking, every wait bounded by the
//! call's deadline (`poll(2)`), writes with `MSG_NOSIGNAL` so a dead
//! child is an error, never a `SIGPIPE` in the host.
#![forbid(unsafe_code)]

use std::io::{self, IoSlice, Read};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::net::{SendAncillaryBuffer, SendFlags, sendmsg};

use crate::frame;

/// Why an exchange stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The deadline passed.
    Deadline,
    /// The peer closed its end (it exited, or closed the socket).
    Closed,
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

/// The host's end of one runner's socket.
#[derive(Debug)]
pub(crate) struct Channel {
    socket: UnixStream,
}

impl Channel {
    pub(crate) fn new(socket: UnixStream) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Channel { socket })
    }

    /// Waits until the socket is ready for `flags`, or the deadline.
    fn wait(&self, flags: PollFlags, deadline: Option<Instant>) -> Result<(), Stop> {
        loop {
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Stop::Deadline);
                    }
                    Some(Timespec::try_from(left).map_err(|e| Stop::Io(io::Error::other(e)))?)
                }
            };
            let mut fds = [PollFd::new(&self.socket, flags)];
            match poll(&mut fds, timeout.as_ref()) {
                Ok(0) => continue,
                // Readable, writable, or hung up: the next read or write
                // tells which.
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(Stop::Io(e.into())),
            }
        }
    }

    /// Writes every byte of `parts`, in order.
    pub(crate) fn write_all(
        &self,
        parts: &mut [IoSlice<'_>],
        deadline: Option<Instant>,
    ) -> Result<(), Stop> {
        let mut parts = parts;
        while !parts.is_empty() {
            match sendmsg(
                &self.socket,
                parts,
                &mut SendAncillaryBuffer::default(),
                SendFlags::NOSIGNAL,
            ) {
                Ok(n) => IoSlice::advance_slices(&mut parts, n),
                Err(rustix::io::Errno::AGAIN) => self.wait(PollFlags::OUT, deadline)?,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(io::Error::from(e).into()),
            }
        }
        Ok(())
    }

    /// Fills `buf`. With `wait_first` the first step is a wait (an
    /// answer is never there the moment its call was sent), saving a
    /// read that would only say "not yet".
    fn read_exact(
        &self,
        buf: &mut [u8],
        deadline: Option<Instant>,
        mut wait_first: bool,
    ) -> Result<(), Stop> {
        let mut filled = 0;
        while filled < buf.len() {
            if wait_first {
                self.wait(PollFlags::IN, deadline)?;
                wait_first = false;
            }
            match (&self.socket).read(&mut buf[filled..]) {
                Ok(0) => return Err(Stop::Closed),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_first = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Reads one frame: its tag and body. The body grows as its bytes
    /// arrive (a length is never trusted for an allocation up front).
    pub(crate) fn read_frame(&self, deadline: Option<Instant>) -> Result<(u8, Vec<u8>), Stop> {
        let mut header = [0; frame::HEADER];
        self.read_exact(&mut header, deadline, true)?;
        let (tag, len) = frame::parse_header(&header);
        let len = usize::try_from(len)
            .map_err(|_| Stop::Io(io::Error::other("frame longer than memory")))?;
        let mut body = Vec::new();
        while body.len() < len {
            let start = body.len();
            body.resize(len.min(start + frame::GROWTH), 0);
            self.read_exact(&mut body[start..], deadline, false)?;
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
    pub(crate) fn wait_closed(&self, deadline: Option<Instant>) -> Result<(), Stop> {
        let mut sink = [0; 4096];
        loop {
            match (&self.socket).read(&mut sink) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(PollFlags::IN, deadline)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Ok(()),
            }
        }
    }
}
