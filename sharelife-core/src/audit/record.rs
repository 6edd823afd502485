//! The file sink's two halves of a record.
//!
//! The deciding thread *encodes*: it copies what it was asked and what was
//! decided into the sink's queue as a few length-prefixed fields — no
//! allocation, no formatting, no hashing. The writer thread *formats*:
//! it turns each entry into the JSON line [`AuditRecord`](super::AuditRecord)
//! serializes to (byte for byte: a test holds it to `serde_json`), straight
//! into a reused buffer, with the hex of the chain hash from a table and
//! the timestamp's date and time of day computed once per second.
//!
//! An entry is its stamp and its *body*: who (plugin id and version) and
//! what (the request and the decision, or the event). The body's line
//! fragment depends on nothing else, and a host's entries repeat (the same
//! plugin asking for the same thing under the same rule), so the writer
//! keeps the fragments of recent bodies, keyed by their exact bytes: a
//! repeated body is a hash, a compare and a copy, not a decode, escape
//! and format.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::hash::BuildHasher as _;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use super::time::Anchor;
use super::{AuditEvent, Outcome, What};
use crate::capability::{Kind, Request, RuleRef};
use crate::manifest::{FileAccess, ProviderAccess};

/// When an entry happened, as the deciding thread read it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stamp {
    /// A wall-clock time.
    Wall(SystemTime),
    /// A reading of the cheap clock ([`time::ticks`]), converted to wall
    /// time by the writer once per group.
    Ticks(u64),
}

const WALL: u8 = 0;
const TICKS: u8 = 1;

const DECISION: u8 = 0;
const LIFECYCLE: u8 = 1;
const ERROR: u8 = 2;
const OPERATION: u8 = 3;

const CONNECT: u8 = 0;
const FILE: u8 = 1;
const COMMAND: u8 = 2;
const PROVIDER: u8 = 3;
const MCP: u8 = 4;
const PUBLISH: u8 = 5;

/// Appends one entry for `event`.
pub(super) fn encode_event(out: &mut Vec<u8>, stamp: Stamp, event: &AuditEvent) {
    let body = header(out, stamp, &event.plugin, &event.version);
    match &event.what {
        What::Decision { request, decision } => {
            body_decision(out, &request.as_request(), decision.allowed, decision.rule);
        }
        What::Lifecycle { from, to } => {
            out.push(LIFECYCLE);
            bytes(out, from.as_bytes());
            bytes(out, to.as_bytes());
        }
        What::Error { message } => {
            out.push(ERROR);
            bytes(out, message.as_bytes());
        }
        What::Operation {
            action,
            detail,
            outcome,
        } => {
            out.push(OPERATION);
            out.push(match outcome {
                Outcome::Allow => 0,
                Outcome::Deny => 1,
                Outcome::Info => 2,
            });
            bytes(out, action.as_bytes());
            bytes(out, detail.as_bytes());
        }
    }
    end_body(out, body);
}

/// Appends one entry for a gateway decision, without building an
/// [`AuditEvent`].
pub(super) fn encode_decision(
    out: &mut Vec<u8>,
    stamp: Stamp,
    plugin: &str,
    version: &str,
    request: &Request<'_>,
    allowed: bool,
    rule: RuleRef,
) {
    let body = header(out, stamp, plugin, version);
    body_decision(out, request, allowed, rule);
    end_body(out, body);
}

/// Appends the stamp, room for the body's length, and the body's first
/// fields; returns where the length goes ([`end_body`] writes it).
#[inline]
fn header(out: &mut Vec<u8>, stamp: Stamp, plugin: &str, version: &str) -> usize {
    match stamp {
        Stamp::Wall(at) => {
            let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
            out.push(WALL);
            out.extend_from_slice(&since.as_secs().to_le_bytes());
            out.extend_from_slice(&since.subsec_nanos().to_le_bytes());
        }
        Stamp::Ticks(t) => {
            out.push(TICKS);
            out.extend_from_slice(&t.to_le_bytes());
        }
    }
    let at = out.len();
    out.extend_from_slice(&[0; 8]);
    bytes(out, plugin.as_bytes());
    bytes(out, version.as_bytes());
    at
}

/// Writes the length of the body that began at `at`. (Eight bytes: a
/// body of fields cut to 4 GiB each can still be longer than four could
/// say.)
#[inline]
fn end_body(out: &mut [u8], at: usize) {
    let len = (out.len() - at - 8) as u64;
    out[at..at + 8].copy_from_slice(&len.to_le_bytes());
}

#[inline]
fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    // A field longer than 4 GiB is cut: the record stays well formed.
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&b[..len as usize]);
}

#[inline]
fn body_decision(out: &mut Vec<u8>, request: &Request<'_>, allowed: bool, rule: RuleRef) {
    out.push(DECISION);
    out.push(u8::from(allowed));
    let (tag, index) = rule_code(rule);
    out.push(tag);
    out.extend_from_slice(&(index as u64).to_le_bytes());
    match *request {
        Request::Connect { name, ip, port } => {
            out.push(CONNECT);
            match name {
                Some(n) => {
                    out.push(1);
                    bytes(out, n.as_bytes());
                }
                None => out.push(0),
            }
            match ip {
                None => out.push(0),
                Some(IpAddr::V4(v4)) => {
                    out.push(4);
                    out.extend_from_slice(&v4.octets());
                }
                Some(IpAddr::V6(v6)) => {
                    out.push(6);
                    out.extend_from_slice(&v6.octets());
                }
            }
            out.extend_from_slice(&port.to_le_bytes());
        }
        Request::File { access, path } => {
            out.push(FILE);
            out.push(access as u8);
            bytes(out, path.as_os_str().as_encoded_bytes());
        }
        Request::Command { argv } => {
            out.push(COMMAND);
            let n = u32::try_from(argv.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&n.to_le_bytes());
            for a in argv.iter().take(n as usize) {
                bytes(out, a.as_bytes());
            }
        }
        Request::Provider { name, access } => {
            out.push(PROVIDER);
            out.push(access as u8);
            bytes(out, name.as_bytes());
        }
        Request::Mcp {
            server,
            tool,
            definition_sha256,
        } => {
            out.push(MCP);
            bytes(out, server.as_bytes());
            bytes(out, tool.as_bytes());
            bytes(out, definition_sha256.as_bytes());
        }
        Request::Publish { topic } => {
            out.push(PUBLISH);
            bytes(out, topic.as_bytes());
        }
    }
}

fn rule_code(rule: RuleRef) -> (u8, usize) {
    match rule {
        RuleRef::Allow(i) => (0, i),
        RuleRef::Deny(i) => (1, i),
        RuleRef::NoGrantOfKind => (2, 0),
        RuleRef::NotRequested => (3, 0),
        RuleRef::NotGranted => (4, 0),
        RuleRef::InternalAddress => (5, 0),
        RuleRef::DefinitionChanged(i) => (6, i),
        RuleRef::RateLimited(i) => (7, i),
        RuleRef::BudgetExhausted(i) => (8, i),
        RuleRef::Unmetered(i) => (9, i),
        RuleRef::Revoked => (10, 0),
        RuleRef::Undeclared => (11, 0),
        RuleRef::Malformed => (12, 0),
    }
}

fn rule_of(tag: u8, i: usize) -> Option<RuleRef> {
    Some(match tag {
        0 => RuleRef::Allow(i),
        1 => RuleRef::Deny(i),
        2 => RuleRef::NoGrantOfKind,
        3 => RuleRef::NotRequested,
        4 => RuleRef::NotGranted,
        5 => RuleRef::InternalAddress,
        6 => RuleRef::DefinitionChanged(i),
        7 => RuleRef::RateLimited(i),
        8 => RuleRef::BudgetExhausted(i),
        9 => RuleRef::Unmetered(i),
        10 => RuleRef::Revoked,
        11 => RuleRef::Undeclared,
        12 => RuleRef::Malformed,
        _ => return None,
    })
}

/// Reads entries back. Every read is checked: a malformed queue (which
/// only a bug could produce) is an error, never a panic in the writer.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = u32::from_le_bytes(self.array()?);
        self.take(n as usize)
    }

    /// The next entry: its stamp, and its body undecoded (the formatter
    /// decodes a body it has not seen, with [`Body::decode`]).
    pub(super) fn entry(&mut self) -> Option<Entry<'a>> {
        let stamp = match self.u8()? {
            WALL => {
                let secs = u64::from_le_bytes(self.array()?);
                let nanos = u32::from_le_bytes(self.array()?);
                EntryTime::Wall(secs, nanos)
            }
            TICKS => EntryTime::Ticks(u64::from_le_bytes(self.array()?)),
            _ => return None,
        };
        let len = usize::try_from(u64::from_le_bytes(self.array()?)).ok()?;
        let body = self.take(len)?;
        Some(Entry { stamp, body })
    }

    /// What a body says after its plugin id and version.
    fn what(&mut self) -> Option<EntryWhat<'a>> {
        Some(match self.u8()? {
            DECISION => {
                let allowed = self.u8()? != 0;
                let tag = self.u8()?;
                let index = usize::try_from(u64::from_le_bytes(self.array()?)).ok()?;
                let rule = rule_of(tag, index)?;
                let request = self.request()?;
                EntryWhat::Decision {
                    allowed,
                    rule,
                    request,
                }
            }
            LIFECYCLE => EntryWhat::Lifecycle {
                from: self.bytes()?,
                to: self.bytes()?,
            },
            ERROR => EntryWhat::Error {
                message: self.bytes()?,
            },
            OPERATION => EntryWhat::Operation {
                outcome: match self.u8()? {
                    0 => Outcome::Allow,
                    1 => Outcome::Deny,
                    _ => Outcome::Info,
                },
                action: self.bytes()?,
                detail: self.bytes()?,
            },
            _ => return None,
        })
    }

    fn request(&mut self) -> Option<Req<'a>> {
        Some(match self.u8()? {
            CONNECT => {
                let name = match self.u8()? {
                    0 => None,
                    _ => Some(self.bytes()?),
                };
                let ip = match self.u8()? {
                    0 => None,
                    4 => Some(IpAddr::from(self.array::<4>()?)),
                    6 => Some(IpAddr::from(self.array::<16>()?)),
                    _ => return None,
                };
                let port = u16::from_le_bytes(self.array()?);
                Req::Connect { name, ip, port }
            }
            FILE => {
                let access = if self.u8()? == FileAccess::Read as u8 {
                    FileAccess::Read
                } else {
                    FileAccess::Write
                };
                Req::File {
                    access,
                    path: self.bytes()?,
                }
            }
            COMMAND => {
                let n = u32::from_le_bytes(self.array()?);
                let start = self.buf;
                for _ in 0..n {
                    self.bytes()?;
                }
                let used = start.len() - self.buf.len();
                Req::Command {
                    argv: Reader {
                        buf: &start[..used],
                    },
                }
            }
            PROVIDER => {
                let access = match self.u8()? {
                    a if a == ProviderAccess::Read as u8 => ProviderAccess::Read,
                    a if a == ProviderAccess::Write as u8 => ProviderAccess::Write,
                    _ => ProviderAccess::Rotate,
                };
                Req::Provider {
                    access,
                    name: self.bytes()?,
                }
            }
            MCP => Req::Mcp {
                server: self.bytes()?,
                tool: self.bytes()?,
                sha: self.bytes()?,
            },
            PUBLISH => Req::Publish {
                topic: self.bytes()?,
            },
            _ => return None,
        })
    }
}

/// An entry's time as encoded.
pub(super) enum EntryTime {
    Wall(u64, u32),
    Ticks(u64),
}

/// One entry, borrowing the queue's bytes.
pub(super) struct Entry<'a> {
    stamp: EntryTime,
    /// Plugin id, version and what happened, encoded.
    body: &'a [u8],
}

/// A decoded body.
struct Body<'a> {
    plugin: &'a [u8],
    version: &'a [u8],
    what: EntryWhat<'a>,
}

impl<'a> Body<'a> {
    /// `None` unless `body` is exactly one well-formed body.
    fn decode(body: &'a [u8]) -> Option<Self> {
        let mut r = Reader::new(body);
        let decoded = Body {
            plugin: r.bytes()?,
            version: r.bytes()?,
            what: r.what()?,
        };
        r.buf.is_empty().then_some(decoded)
    }
}

enum EntryWhat<'a> {
    Decision {
        allowed: bool,
        rule: RuleRef,
        request: Req<'a>,
    },
    Lifecycle {
        from: &'a [u8],
        to: &'a [u8],
    },
    Error {
        message: &'a [u8],
    },
    Operation {
        action: &'a [u8],
        detail: &'a [u8],
        outcome: Outcome,
    },
}

enum Req<'a> {
    Connect {
        name: Option<&'a [u8]>,
        ip: Option<IpAddr>,
        port: u16,
    },
    File {
        access: FileAccess,
        path: &'a [u8],
    },
    /// The arguments, each length-prefixed.
    Command {
        argv: Reader<'a>,
    },
    Provider {
        name: &'a [u8],
        access: ProviderAccess,
    },
    Mcp {
        server: &'a [u8],
        tool: &'a [u8],
        sha: &'a [u8],
    },
    Publish {
        topic: &'a [u8],
    },
}

impl Req<'_> {
    fn kind(&self) -> Kind {
        match self {
            Req::Connect { .. } => Kind::Network,
            Req::File { .. } => Kind::File,
            Req::Command { .. } => Kind::Command,
            Req::Provider { .. } => Kind::Provider,
            Req::Mcp { .. } => Kind::Mcp,
            Req::Publish { .. } => Kind::Event,
        }
    }
}

/// Text that was a `&str` when encoded (paths excepted, which are shown
/// as `Path::display` shows them).
fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// The writer's reused buffers and caches.
#[derive(Debug, Default)]
pub(super) struct Formatter {
    /// The request or rule text before escaping.
    scratch: String,
    /// `YYYY-MM-DDTHH:MM:SS.` for `cached_secs`.
    date: [u8; 20],
    cached_secs: Option<u64>,
    /// Recent bodies' fragments, [`BODY_CACHE`] places, a body's place
    /// chosen by its hash (empty until the first line). The hash is
    /// seeded per process: bodies a plugin shapes to share a place would
    /// only cost their own formatting, but cannot be aimed at one.
    bodies: Vec<CachedBody>,
    hasher: foldhash::fast::RandomState,
}

/// A body and its line fragment: `"plugin":…,` up to `"prev"`. The
/// buffers are reused when another body takes the place.
#[derive(Debug, Default)]
struct CachedBody {
    filled: bool,
    body: Vec<u8>,
    fragment: Vec<u8>,
}

/// How many body fragments the writer keeps.
const BODY_CACHE: usize = 64;

/// Bodies longer than this (a long path or command line) are formatted
/// every time rather than kept.
const CACHED_BODY_MAX: usize = 512;

/// The latest instant RFC 3339 with four-digit years can hold.
const LAST_SECS: u64 = 253_402_300_799;

impl Formatter {
    /// Appends the JSON line (without its newline) for `entry` with
    /// sequence number `seq` and previous hash `prev` to `out`.
    ///
    /// `None`, and `out` as it was, if the entry's body is malformed
    /// (which only a bug could make).
    pub(super) fn line(
        &mut self,
        out: &mut Vec<u8>,
        entry: &Entry<'_>,
        seq: u64,
        prev: &[u8; 64],
        anchor: &Anchor,
    ) -> Option<()> {
        let start = out.len();
        out.extend_from_slice(b"{\"seq\":");
        push_u64(out, seq);
        out.extend_from_slice(b",\"time\":\"");
        let (secs, nanos) = match entry.stamp {
            EntryTime::Wall(s, n) => (s, n),
            EntryTime::Ticks(t) => anchor.wall(t),
        };
        self.time(out, secs, nanos);
        out.extend_from_slice(b"\",");
        if self.body(out, entry.body).is_none() {
            out.truncate(start);
            return None;
        }
        out.extend_from_slice(b"\"prev\":\"");
        out.extend_from_slice(prev);
        out.extend_from_slice(b"\"}");
        Some(())
    }

    /// Appends the fragment of `body`, from the cache when it is there.
    fn body(&mut self, out: &mut Vec<u8>, body: &[u8]) -> Option<()> {
        if body.len() > CACHED_BODY_MAX {
            fragment(&mut self.scratch, out, &Body::decode(body)?);
            return Some(());
        }
        if self.bodies.is_empty() {
            self.bodies.resize_with(BODY_CACHE, CachedBody::default);
        }
        let place = self.hasher.hash_one(body) as usize % BODY_CACHE;
        let cached = &mut self.bodies[place];
        if !(cached.filled && cached.body == body) {
            cached.filled = false;
            cached.fragment.clear();
            fragment(
                &mut self.scratch,
                &mut cached.fragment,
                &Body::decode(body)?,
            );
            cached.body.clear();
            cached.body.extend_from_slice(body);
            cached.filled = true;
        }
        out.extend_from_slice(&cached.fragment);
        Some(())
    }

    /// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, UTC, clamped to what the format
    /// holds.
    fn time(&mut self, out: &mut Vec<u8>, secs: u64, nanos: u32) {
        let (secs, nanos) = if secs > LAST_SECS {
            (LAST_SECS, 999_999_999)
        } else {
            (secs, nanos.min(999_999_999))
        };
        if self.cached_secs != Some(secs) {
            self.date = date_time(secs);
            self.cached_secs = Some(secs);
        }
        out.extend_from_slice(&self.date);
        let mut digits = [b'0'; 9];
        let mut n = nanos;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        out.extend_from_slice(&digits);
        out.push(b'Z');
    }
}

/// Appends the line fragment of `body`: `"plugin":"…","version":"…",`,
/// then the event's fields, each followed by a comma.
fn fragment(scratch: &mut String, out: &mut Vec<u8>, body: &Body<'_>) {
    out.extend_from_slice(b"\"plugin\":\"");
    escape(out, text(body.plugin).as_bytes());
    out.extend_from_slice(b"\",\"version\":\"");
    escape(out, text(body.version).as_bytes());
    out.extend_from_slice(b"\",");
    match &body.what {
        EntryWhat::Decision {
            allowed,
            rule,
            request,
        } => {
            out.extend_from_slice(b"\"event\":\"decision\",\"capability\":\"");
            out.extend_from_slice(request.kind().as_str().as_bytes());
            out.extend_from_slice(b"\",\"request\":\"");
            scratch.clear();
            request_text(scratch, request);
            escape(out, scratch.as_bytes());
            out.extend_from_slice(if *allowed {
                b"\",\"outcome\":\"allow\",\"rule\":\""
            } else {
                b"\",\"outcome\":\"deny\",\"rule\":\""
            });
            scratch.clear();
            rule_text(scratch, *rule);
            escape(out, scratch.as_bytes());
            out.extend_from_slice(b"\",");
        }
        EntryWhat::Lifecycle { from, to } => {
            out.extend_from_slice(b"\"event\":\"lifecycle\",\"request\":\"");
            escape(out, text(from).as_bytes());
            out.extend_from_slice(b" -> ");
            escape(out, text(to).as_bytes());
            out.extend_from_slice(b"\",\"outcome\":\"info\",");
        }
        EntryWhat::Error { message } => {
            out.extend_from_slice(b"\"event\":\"error\",\"request\":\"");
            escape(out, text(message).as_bytes());
            out.extend_from_slice(b"\",\"outcome\":\"info\",");
        }
        EntryWhat::Operation {
            action,
            detail,
            outcome,
        } => {
            out.extend_from_slice(b"\"event\":\"operation\",\"capability\":\"");
            escape(out, text(action).as_bytes());
            out.extend_from_slice(b"\",\"request\":\"");
            escape(out, text(detail).as_bytes());
            out.extend_from_slice(match outcome {
                Outcome::Allow => b"\",\"outcome\":\"allow\",",
                Outcome::Deny => b"\",\"outcome\":\"deny\",",
                Outcome::Info => b"\",\"outcome\":\"info\",",
            });
        }
    }
}

/// The request as `Request`'s `Display` writes it.
fn request_text(out: &mut String, req: &Req<'_>) {
    match req {
        Req::Connect { name, ip, port } => {
            let name = name.map(text);
            let _ = write!(
                out,
                "{}",
                Request::Connect {
                    name: name.as_deref(),
                    ip: *ip,
                    port: *port,
                }
            );
        }
        Req::File { access, path } => {
            out.push_str(match access {
                FileAccess::Read => "read ",
                FileAccess::Write => "write ",
            });
            out.push_str(&text(path));
        }
        Req::Command { argv } => {
            out.push_str("exec [");
            let mut args = Reader { buf: argv.buf };
            let mut first = true;
            while let Some(a) = args.bytes() {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                let _ = write!(out, "{:?}", text(a));
            }
            out.push(']');
        }
        Req::Provider { name, access } => {
            out.push_str("provider ");
            out.push_str(&text(name));
            out.push_str(match access {
                ProviderAccess::Read => " Read",
                ProviderAccess::Write => " Write",
                ProviderAccess::Rotate => " Rotate",
            });
        }
        Req::Mcp { server, tool, sha } => {
            out.push_str("mcp ");
            out.push_str(&text(server));
            out.push('/');
            out.push_str(&text(tool));
            out.push_str(" (definition ");
            let sha = text(sha);
            let mut end = sha.len().min(12);
            while !sha.is_char_boundary(end) {
                end -= 1;
            }
            out.push_str(&sha[..end]);
            out.push(')');
        }
        Req::Publish { topic } => {
            out.push_str("publish ");
            out.push_str(&text(topic));
        }
    }
}

/// The rule as `RuleRef`'s `Display` writes it.
fn rule_text(out: &mut String, rule: RuleRef) {
    let (index, suffix) = match rule {
        RuleRef::Allow(i) => (i, "] (allow)"),
        RuleRef::Deny(i) => (i, "] (deny)"),
        other => {
            let _ = write!(out, "{other}");
            return;
        }
    };
    out.push_str("policy.rules[");
    let mut digits = [0u8; 20];
    let n = u64_digits(&mut digits, index as u64);
    out.push_str(std::str::from_utf8(&digits[20 - n..]).unwrap_or_default());
    out.push_str(suffix);
}

fn u64_digits(buf: &mut [u8; 20], mut v: u64) -> usize {
    let mut i = 20;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return 20 - i;
        }
    }
}

fn push_u64(out: &mut Vec<u8>, v: u64) {
    let mut digits = [0u8; 20];
    let n = u64_digits(&mut digits, v);
    out.extend_from_slice(&digits[20 - n..]);
}

/// `YYYY-MM-DDTHH:MM:SS.` for `secs` after the epoch (≤ [`LAST_SECS`]).
fn date_time(secs: u64) -> [u8; 20] {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let mut out = *b"0000-00-00T00:00:00.";
    let put = |out: &mut [u8; 20], at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(&mut out, 0, 4, y);
    put(&mut out, 5, 2, m);
    put(&mut out, 8, 2, d);
    put(&mut out, 11, 2, rem / 3600);
    put(&mut out, 14, 2, rem / 60 % 60);
    put(&mut out, 17, 2, rem % 60);
    out
}

/// Year, month, day of the proleptic Gregorian calendar for `days` after
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Which bytes JSON needs escaped, and how (`serde_json`'s choices).
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` (UTF-8) escaped as the inside of a JSON string.
fn escape(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let e = ESCAPE[b as usize];
        if e == 0 {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        start = i + 1;
        if e == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', e]);
        }
    }
    out.extend_from_slice(&s[start..]);
}

/// Each byte's two lowercase hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    t
};

/// Lowercase hex of a SHA-256, from a table of digit pairs.
pub(super) fn hex32(digest: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(digest) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::path::Path;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::audit::{AuditRecord, RecordedRequest, time};
    use crate::capability::Decision;

    fn events() -> Vec<AuditEvent> {
        let argv: Vec<String> = vec!["git".into(), "st\"a\ttus\u{7}\u{301}é".into(), "".into()];
        let requests = [
            RecordedRequest::Connect {
                name: Some("api.example.com".into()),
                ip: Some(IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34))),
                port: 443,
            },
            RecordedRequest::Connect {
                name: None,
                ip: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                port: 80,
            },
            RecordedRequest::Connect {
                name: Some("x".into()),
                ip: None,
                port: 1,
            },
            RecordedRequest::Connect {
                name: None,
                ip: None,
                port: 1,
            },
            RecordedRequest::File {
                access: FileAccess::Write,
                path: Path::new("/data/ü/\"q\"\\\n.json").to_owned(),
            },
            RecordedRequest::Command { argv: argv.clone() },
            RecordedRequest::Command { argv: vec![] },
            RecordedRequest::Provider {
                name: "llm".into(),
                access: ProviderAccess::Rotate,
            },
            RecordedRequest::Mcp {
                server: "s".into(),
                tool: "t/ö".into(),
                definition_sha256: "0123456789abcdef0123".into(),
            },
            RecordedRequest::Mcp {
                server: "s".into(),
                tool: "t".into(),
                definition_sha256: "unknown".into(),
            },
            RecordedRequest::Publish {
                topic: "acme.ping".into(),
            },
        ];
        let rules = [
            RuleRef::Allow(0),
            RuleRef::Allow(1234567),
            RuleRef::Deny(7),
            RuleRef::NoGrantOfKind,
            RuleRef::NotRequested,
            RuleRef::NotGranted,
            RuleRef::InternalAddress,
            RuleRef::DefinitionChanged(3),
            RuleRef::RateLimited(4),
            RuleRef::BudgetExhausted(5),
            RuleRef::Unmetered(6),
            RuleRef::Revoked,
            RuleRef::Undeclared,
            RuleRef::Malformed,
        ];
        let mut out = Vec::new();
        for (i, request) in requests.iter().enumerate() {
            for (j, rule) in rules.iter().enumerate() {
                out.push(AuditEvent {
                    at: UNIX_EPOCH + Duration::new(1_795_000_000 + (i * 97 + j) as u64 * 3_600, 5),
                    plugin: Arc::from(if j % 2 == 0 { "acme.a" } else { "acme.\"b\"" }),
                    version: Arc::from("1.0.0-rc.1"),
                    what: What::Decision {
                        request: request.clone(),
                        decision: Decision {
                            allowed: matches!(rule, RuleRef::Allow(_)),
                            rule: *rule,
                        },
                    },
                });
            }
        }
        out.push(AuditEvent {
            at: UNIX_EPOCH - Duration::from_secs(5),
            plugin: Arc::from("acme.a"),
            version: Arc::from("1"),
            what: What::Lifecycle {
                from: "Loaded".into(),
                to: "Running\u{1f}".into(),
            },
        });
        out.push(AuditEvent {
            at: UNIX_EPOCH + Duration::from_secs(300_000_000_000),
            plugin: Arc::from("acme.a"),
            version: Arc::from("1"),
            what: What::Error {
                message: "panicked at 'x'\r\n\u{0}\u{8}\u{c}/\u{7f}".into(),
            },
        });
        for outcome in [Outcome::Allow, Outcome::Deny, Outcome::Info] {
            out.push(AuditEvent {
                at: UNIX_EPOCH + Duration::new(1_795_000_000, 999_999_999),
                plugin: Arc::from("sharelife.install"),
                version: Arc::from("0.1.0"),
                what: What::Operation {
                    action: "apply".into(),
                    detail: "plan \"sha256:ab\"".into(),
                    outcome,
                },
            });
        }
        out
    }

    /// Formats `events` in turn with `f` and holds each line to what
    /// `serde_json` writes for the record.
    fn assert_lines_match_serde_json<'e>(
        f: &mut Formatter,
        events: impl IntoIterator<Item = &'e AuditEvent>,
    ) {
        let anchor = Anchor::now();
        let prev = hex32(&[0xab; 32]);
        for (n, event) in events.into_iter().enumerate() {
            let mut queue = Vec::new();
            encode_event(&mut queue, Stamp::Wall(event.at), event);
            let mut reader = Reader::new(&queue);
            let entry = reader.entry().expect("decodes");
            assert!(reader.buf.is_empty());
            let mut line = Vec::new();
            f.line(&mut line, &entry, n as u64 + 1, &prev, &anchor)
                .expect("formats");
            let mut record: AuditRecord = event.to_record();
            record.seq = n as u64 + 1;
            record.prev = String::from_utf8(prev.to_vec()).unwrap();
            let expected = serde_json::to_string(&record).unwrap();
            assert_eq!(String::from_utf8(line).unwrap(), expected);
        }
    }

    #[test]
    fn lines_are_what_serde_json_writes_for_the_record() {
        assert_lines_match_serde_json(&mut Formatter::default(), &events());
    }

    /// The body cache: bodies seen before (hits), bodies that share a
    /// place and push each other out (more distinct bodies than places),
    /// the same body under other stamps, and bodies too long to keep.
    #[test]
    fn repeated_and_displaced_bodies_format_as_when_first_seen() {
        let mut events = events();
        assert!(events.len() > 2 * BODY_CACHE, "enough bodies to displace");
        let long = "d/".repeat(CACHED_BODY_MAX);
        for access in [FileAccess::Read, FileAccess::Write] {
            events.push(AuditEvent {
                at: UNIX_EPOCH + Duration::new(1_795_000_000, 1),
                plugin: Arc::from("acme.a"),
                version: Arc::from("1"),
                what: What::Decision {
                    request: RecordedRequest::File {
                        access,
                        path: Path::new(&long).to_owned(),
                    },
                    decision: Decision {
                        allowed: true,
                        rule: RuleRef::Allow(2),
                    },
                },
            });
        }
        let mut f = Formatter::default();
        let forward = events.iter();
        let backward = events.iter().rev();
        let interleaved = events
            .iter()
            .zip(events.iter().rev())
            .flat_map(|(a, b)| [a, b]);
        let mut restamped = events.clone();
        for (i, e) in restamped.iter_mut().enumerate() {
            e.at += Duration::from_millis(i as u64 * 7_001);
        }
        assert_lines_match_serde_json(
            &mut f,
            forward.chain(backward).chain(interleaved).chain(&restamped),
        );
    }

    /// A body whose length holds but whose fields do not is refused,
    /// even right after a good body it begins with was cached.
    #[test]
    fn a_malformed_body_is_refused_and_the_line_left_as_it_was() {
        let event = &events()[0];
        let mut good = Vec::new();
        encode_event(&mut good, Stamp::Ticks(1), event);
        let mut f = Formatter::default();
        let anchor = Anchor::now();
        let prev = hex32(&[0; 32]);
        let mut out = b"earlier line\n".to_vec();
        let entry = Reader::new(&good).entry().expect("decodes");
        f.line(&mut out, &entry, 1, &prev, &anchor)
            .expect("formats");
        let kept = out.clone();
        // The stamp (tag and ticks), the body's length, then the body:
        // plugin id and version (each behind a 4-byte length), the event.
        let (length_at, body_at) = (1 + 8, 1 + 8 + 8);
        let mut trailing = good.clone();
        trailing.push(0);
        let len = (trailing.len() - body_at) as u64;
        trailing[length_at..body_at].copy_from_slice(&len.to_le_bytes());
        let mut bad_tag = good.clone();
        let tag_at = body_at + 4 + event.plugin.len() + 4 + event.version.len();
        assert_eq!(
            bad_tag[tag_at], DECISION,
            "the event's tag is where it is said to be"
        );
        bad_tag[tag_at] = 9;
        for queue in [trailing, bad_tag] {
            let entry = Reader::new(&queue).entry().expect("the framing holds");
            assert!(f.line(&mut out, &entry, 2, &prev, &anchor).is_none());
            assert_eq!(out, kept);
        }
    }

    #[test]
    fn decisions_encode_as_their_events_do() {
        for event in events() {
            let What::Decision { request, decision } = &event.what else {
                continue;
            };
            let mut a = Vec::new();
            encode_event(&mut a, Stamp::Ticks(7), &event);
            let mut b = Vec::new();
            encode_decision(
                &mut b,
                Stamp::Ticks(7),
                &event.plugin,
                &event.version,
                &request.as_request(),
                decision.allowed,
                decision.rule,
            );
            assert_eq!(a, b);
        }
    }

    #[test]
    fn a_truncated_entry_is_refused_not_a_panic() {
        let event = &events()[0];
        let mut queue = Vec::new();
        encode_event(&mut queue, Stamp::Ticks(1), event);
        for cut in 0..queue.len() {
            assert!(Reader::new(&queue[..cut]).entry().is_none());
        }
    }

    #[test]
    fn dates_agree_with_humantime() {
        let mut f = Formatter::default();
        let mut secs = 0u64;
        while secs <= LAST_SECS {
            let mut out = Vec::new();
            f.time(&mut out, secs, 123);
            let at = UNIX_EPOCH + Duration::new(secs, 123);
            assert_eq!(String::from_utf8(out).unwrap(), time::rfc3339(at));
            secs += 86_400 * 13 + 3_607;
        }
    }

    #[test]
    fn hex_is_lowercase_hex() {
        let d: Vec<u8> = (0..32).map(|i| i * 8 + 1).collect();
        assert_eq!(hex32(&d).to_vec(), hex::encode(&d).into_bytes());
    }
}
