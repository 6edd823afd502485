//! The wire between a host and its runner: length-prefixed frames over
//! one connected `SOCK_STREAM` Unix socket.
//!
//! Every frame is a 9-byte header, then its body:
//!
//! ```text
//! +-----+---------------------------+------------------+
//! | tag | body length (u64, LE)     | body             |
//! | 1 B | 8 B                       | length bytes     |
//! +-----+---------------------------+------------------+
//! ```
//!
//! | tag | direction | body |
//! |---|---|---|
//! | `CALL` (1) | host → runner | handler name length (u32 LE), the name (UTF-8), the payload (the rest) |
//! | `START` (3) | host → runner, once, first or after `INIT` | first: empty, or JSON of the host's context for the plugin (`config`, `data_dir`, `temp_dir`): create, initialize and start the plugin; after `INIT`: empty, start it; answered like a call |
//! | `EVENT` (4) | host → runner | topic length (u32 LE), the topic (UTF-8), the payload (the rest); answered like a call (`OK` empty) |
//! | `INIT` (5) | host → runner, once, first | as `START`'s first body: create and initialize the plugin, not start it; answered like a call (a failed one is the runner's last frame) |
//! | `RESTORE` (6) | host → runner, after `INIT`, before `START` | the state a predecessor saved (at most [`MAX_STATE`] bytes): the plugin's `restore_state`; answered like a call (`OK` empty) |
//! | `SAVE` (7) | host → runner, once the plugin is initialized | empty: the plugin's `save_state`; answered with `OK` carrying the state (at most [`MAX_STATE`] bytes; a larger one is an `ERROR` of kind `InvalidInput`) |
//! | `READY` (16) | runner → host, once | JSON [`Enforced`](crate::Enforced): the library is loaded and checked, the runner restricted |
//! | `FAILED` (17) | runner → host, instead of `READY` | JSON [`StartFailure`]: what failed before serving; the runner exits |
//! | `OK` (18) | runner → host | the handler's output |
//! | `ERROR` (19) | runner → host | error kind (u8), retryable (u8: 0 or 1), the message (UTF-8) |
//! | `SERVICE` (20) | runner → host, before `READY` or while a call is in flight | a service request (`sharelife_core::services::remote`'s encoding) |
//! | `ANSWER` (2) | host → runner, after each `SERVICE` | the encoded answer |
//!
//! Exactly one answer (`OK` or `ERROR`) follows each `INIT`, `START`,
//! `RESTORE`, `SAVE`, `CALL` or `EVENT`, in order (a failed `INIT` or
//! `START` is the runner's last frame); the
//! host sends the next call only after the answer (one call in flight per
//! connection). Before it, the runner may send any number of `SERVICE`
//! frames, each waiting for its `ANSWER` (the plugin asked the host for a
//! file, a fetch…, and goes on with the answer). Lengths are 64-bit, so a payload of any size fits one
//! frame; a reader grows its buffer as bytes arrive, never trusting a
//! length for an allocation up front.
#![forbid(unsafe_code)]

use std::io::{self, Read};

use serde::{Deserialize, Serialize};
use sharelife_core::{ErrorKind, PluginError};

/// The header's size.
pub(crate) const HEADER: usize = 9;

/// A call of a handler.
pub(crate) const CALL: u8 = 1;
/// The host's answer to a service request.
pub(crate) const ANSWER: u8 = 2;
/// Initialize and start the plugin.
pub(crate) const START: u8 = 3;
/// An event for the plugin (laid out as a `CALL`: topic, payload).
pub(crate) const EVENT: u8 = 4;
/// Create and initialize the plugin (not start it).
pub(crate) const INIT: u8 = 5;
/// Hand the plugin the state its predecessor saved.
pub(crate) const RESTORE: u8 = 6;
/// Ask the plugin for its state.
pub(crate) const SAVE: u8 = 7;
/// The runner serves.
pub(crate) const READY: u8 = 16;
/// The runner could not start.
pub(crate) const FAILED: u8 = 17;
/// A handler's output.
pub(crate) const OK: u8 = 18;
/// A handler's error.
pub(crate) const ERROR: u8 = 19;
/// A service request from the plugin.
pub(crate) const SERVICE: u8 = 20;

/// The most state a sandboxed plugin hands over across the process
/// boundary on a hot reload (`SAVE`'s answer, `RESTORE`'s body): 64 MiB.
/// The runner answers a larger `save_state` with an `ERROR`, the host
/// refuses to send or read a larger one.
pub const MAX_STATE: usize = 64 << 20;

/// The error for a state of `len` bytes, over [`MAX_STATE`]; `whose`
/// says which side had it.
pub(crate) fn state_too_large(whose: &str, len: usize) -> PluginError {
    PluginError::invalid_input(format!(
        "{whose} state is {len} bytes, more than the {} MiB a sandboxed plugin may hand over \
         across the process boundary",
        MAX_STATE >> 20
    ))
}

/// The largest frame the host reads from a runner: 1 GiB. A frame
/// announcing more (a handler's output, a service request, a state) is
/// a protocol error and the child is killed: without this bound a child
/// could stream one answer until the host runs out of memory whenever
/// no `call_timeout` cuts it short.
pub const MAX_FRAME: usize = 1 << 30;

/// How much a reader's buffer grows at most per read: a length claimed
/// by the peer is only allocated as its bytes arrive.
pub(crate) const GROWTH: usize = 1 << 20;

/// A header: `tag` and the body's length.
pub(crate) fn header(tag: u8, len: usize) -> [u8; HEADER] {
    let mut h = [0; HEADER];
    h[0] = tag;
    h[1..].copy_from_slice(&(len as u64).to_le_bytes());
    h
}

/// Splits a header into its tag and body length.
pub(crate) fn parse_header(h: &[u8; HEADER]) -> (u8, u64) {
    let mut len = [0; 8];
    len.copy_from_slice(&h[1..]);
    (h[0], u64::from_le_bytes(len))
}

/// The part of a `CALL` body before the payload.
pub(crate) fn call_prefix(handler: &str) -> [u8; 4] {
    (handler.len() as u32).to_le_bytes()
}

/// Splits a `CALL` body into handler name and payload.
pub(crate) fn split_call(body: &[u8]) -> Option<(&str, &[u8])> {
    let len = u32::from_le_bytes(body.get(..4)?.try_into().ok()?) as usize;
    let name = body.get(4..4 + len)?;
    Some((std::str::from_utf8(name).ok()?, &body[4 + len..]))
}

fn kind_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidInput => 1,
        ErrorKind::UnknownHandler => 2,
        ErrorKind::AsyncHandler => 3,
        ErrorKind::Panicked => 4,
        ErrorKind::NotActive => 5,
        ErrorKind::Denied => 6,
        ErrorKind::Timeout => 7,
        _ => 0,
    }
}

fn kind_of(code: u8) -> ErrorKind {
    match code {
        1 => ErrorKind::InvalidInput,
        2 => ErrorKind::UnknownHandler,
        3 => ErrorKind::AsyncHandler,
        4 => ErrorKind::Panicked,
        5 => ErrorKind::NotActive,
        6 => ErrorKind::Denied,
        7 => ErrorKind::Timeout,
        _ => ErrorKind::Failed,
    }
}

/// An `ERROR` body for `error`.
pub(crate) fn encode_error(error: &PluginError) -> Vec<u8> {
    let mut body = Vec::with_capacity(2 + error.message().len());
    body.push(kind_code(error.kind()));
    body.push(u8::from(error.is_retryable()));
    body.extend_from_slice(error.message().as_bytes());
    body
}

/// The error an `ERROR` body carries.
pub(crate) fn decode_error(body: &[u8]) -> PluginError {
    let kind = kind_of(body.first().copied().unwrap_or(0));
    let retryable = body.get(1) == Some(&1);
    let message = String::from_utf8_lossy(body.get(2..).unwrap_or_default()).into_owned();
    if retryable && kind == ErrorKind::Failed {
        PluginError::retryable(message)
    } else {
        PluginError::with_kind(kind, message)
    }
}

/// The body of a `START` frame from a host: the plain parts of the
/// context it gave the plugin (empty outside a host).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct StartContext {
    /// The plugin's config (`null` when the host gave none).
    pub(crate) config: serde_json::Value,
    /// Its data directory (on the host; reached through `ctx.fs()`).
    pub(crate) data_dir: std::path::PathBuf,
    /// Its temp directory (on the host).
    pub(crate) temp_dir: std::path::PathBuf,
}

impl StartContext {
    /// The `START` body for `ctx`.
    pub(crate) fn body(ctx: &sharelife_core::PluginContext) -> Vec<u8> {
        serde_json::to_vec(&StartContext {
            config: ctx.config().clone(),
            data_dir: ctx.data_dir().to_owned(),
            temp_dir: ctx.temp_dir().to_owned(),
        })
        .unwrap_or_default()
    }
}

/// Where a runner failed before it could serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StartStage {
    /// The runner's arguments.
    Arguments,
    /// Reading, checking or opening the library (the loader's checks).
    Load,
    /// Applying the restrictions.
    Restrict,
    /// The restrictions applied fall short of the requirements.
    Requirements,
    /// Creating, initializing or starting the plugin.
    Init,
}

/// The body of a `FAILED` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartFailure {
    /// Where it failed.
    pub stage: StartStage,
    /// What failed, for people.
    pub message: String,
    /// At [`StartStage::Requirements`]: the features not enforced.
    #[serde(default)]
    pub missing: Vec<crate::Feature>,
}

/// Reads one frame with blocking reads: its tag, and its body into
/// `body`. `Ok(None)` at a clean end of stream before a header.
pub(crate) fn read_frame(reader: &mut impl Read, body: &mut Vec<u8>) -> io::Result<Option<u8>> {
    let mut h = [0; HEADER];
    let mut filled = 0;
    while filled < HEADER {
        match reader.read(&mut h[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let (tag, len) = parse_header(&h);
    read_body(reader, len, body)?;
    Ok(Some(tag))
}

/// Reads a body of `len` bytes into `body`, growing it as bytes arrive.
pub(crate) fn read_body(reader: &mut impl Read, len: u64, body: &mut Vec<u8>) -> io::Result<()> {
    let len = usize::try_from(len).map_err(|_| io::Error::other("frame longer than memory"))?;
    body.clear();
    while body.len() < len {
        let start = body.len();
        body.resize(len.min(start + GROWTH), 0);
        reader.read_exact(&mut body[start..])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_round_trips() {
        let payload = vec![7_u8; 3 * GROWTH + 5];
        let mut wire = Vec::new();
        let prefix = call_prefix("echo");
        wire.extend_from_slice(&header(CALL, 4 + 4 + payload.len()));
        wire.extend_from_slice(&prefix);
        wire.extend_from_slice(b"echo");
        wire.extend_from_slice(&payload);
        let mut body = Vec::new();
        let mut reader = wire.as_slice();
        assert_eq!(read_frame(&mut reader, &mut body).unwrap(), Some(CALL));
        let (name, got) = split_call(&body).unwrap();
        assert_eq!(name, "echo");
        assert_eq!(got, payload.as_slice());
        assert_eq!(read_frame(&mut reader, &mut body).unwrap(), None);
    }

    #[test]
    fn a_short_frame_is_an_error_not_a_huge_allocation() {
        let wire = header(OK, usize::MAX >> 1);
        let mut body = Vec::new();
        let err = read_frame(&mut wire.as_slice(), &mut body).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(body.len() <= GROWTH);
    }

    #[test]
    fn errors_keep_their_kind() {
        let denied = PluginError::with_kind(ErrorKind::Denied, "no");
        let back = decode_error(&encode_error(&denied));
        assert_eq!(back.kind(), ErrorKind::Denied);
        assert_eq!(back.message(), "no");
        assert!(decode_error(&encode_error(&PluginError::retryable("again"))).is_retryable());
        assert!(split_call(&[9, 0, 0, 0, b'x']).is_none());
    }
}
