//! The append-only, hash-chained JSON Lines audit log.
//!
//! Group commit: a deciding thread copies its entry into a bounded queue
//! (a ring of byte chunks under a short lock; see [`super::record`]) and
//! returns; the writer thread takes the oldest chunk (up to [`MAX_GROUP`]
//! entries), formats and hashes each line into one reused buffer and
//! writes it, then hands "durable up to here" to the syncer thread, which
//! `fdatasync`s the log and moves the head anchor while the writer goes
//! on with the next chunk. A request the syncer has not taken yet is
//! replaced by the newer one, so under a backlog one sync covers every
//! chunk written while the last one ran. Chunks and buffers keep their
//! capacity, so a steady stream of decisions allocates nothing. When the
//! queue is full a decision waits (at most [`FULL_WAIT`]) for the writer,
//! then is refused: memory stays bounded and no record is dropped
//! silently.
//!
//! Once a sync has made a stretch of the log durable, its whole pages are
//! released from the page cache ([`release_synced`]): an append-only log
//! is not read back by its writer, and a busy host's log would otherwise
//! fill the cache by gigabytes, and make every write land on fresh pages.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use parking_lot::{Condvar, Mutex};
use sha2::{Digest, Sha256};

use super::record::{self, Formatter, Reader, Stamp};
use super::time::{self, Anchor};
use super::{AuditError, AuditEvent, AuditHealth, AuditRecord, AuditSink};
use crate::capability::{Decision, Request};

/// Records a group-commit sink holds in memory before `try_record` waits
/// for the writer: memory stays bounded when the disk is slower than the
/// decisions.
const MAX_PENDING: usize = 1 << 16;

/// Bytes of queued entries past which `try_record` waits as well (for
/// records carrying very long paths or argv).
const MAX_PENDING_BYTES: usize = 32 << 20;

/// Entries per chunk of the queue: the writer takes one chunk at a time,
/// so a full queue gets room again after one chunk is formatted.
const MAX_GROUP: usize = 8192;

/// How long `try_record` waits for room in a full queue before refusing.
const FULL_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Formatted lines the writer buffers before writing them out (a group is
/// written in pieces of about this size, then synced once).
const WRITE_CHUNK: usize = 1 << 20;

const GENESIS: [u8; 64] = [b'0'; 64];

/// How durable each record is when `record` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A background thread writes batches, and a second one `fsync`s
    /// behind it, once per batch or for every batch written while the
    /// last sync ran. `record` never blocks on I/O (it waits only while
    /// the bounded queue is full); `flush` (and dropping the sink) waits
    /// for everything recorded so far.
    GroupCommit,
    /// Every record is written and `fsync`ed before `record` returns:
    /// nothing is lost even if the process crashes right after.
    Sync,
    /// Records are formatted and chained in the recording thread and held
    /// in memory; `flush` (and dropping the sink) writes them and makes
    /// them durable together: one `fsync` per flush, no writer thread.
    /// For a short operation that records a handful of events and then
    /// flushes (the install root's operations); a crash before the flush
    /// loses that operation's records, and nothing else.
    OnFlush,
}

/// The chain's state: what the next record links to.
#[derive(Debug)]
struct Chain {
    file: File,
    /// Formatted lines not yet written to `file`.
    out: Vec<u8>,
    seq: u64,
    last_hash: [u8; 64],
    /// The log's length: what it held when opened and what `write_out`
    /// has written since.
    len: u64,
    /// How far the log's cached pages were released after a sync (see
    /// [`release_synced`]).
    released: u64,
    format: Formatter,
    path: PathBuf,
    head: PathBuf,
}

impl Chain {
    /// Appends the records of the next `count` entries of `entries`.
    fn append(
        &mut self,
        entries: &mut Reader<'_>,
        count: usize,
        anchor: &Anchor,
    ) -> Result<(), AuditError> {
        for _ in 0..count {
            let start = self.out.len();
            entries
                .entry()
                .and_then(|entry| {
                    self.format
                        .line(&mut self.out, &entry, self.seq + 1, &self.last_hash, anchor)
                })
                .ok_or_else(|| {
                    AuditError::WriterStopped("the audit queue holds a malformed entry".into())
                })?;
            self.seq += 1;
            self.last_hash = record::hex32(&Sha256::digest(&self.out[start..]));
            self.out.push(b'\n');
            if self.out.len() >= WRITE_CHUNK {
                self.write_out()?;
            }
        }
        Ok(())
    }

    fn write_out(&mut self) -> Result<(), AuditError> {
        let result = self.file.write_all(&self.out);
        if result.is_ok() {
            self.len += self.out.len() as u64;
        }
        self.out.clear();
        result.map_err(|e| self.io(e))
    }

    /// Makes everything appended durable and moves the head anchor.
    fn commit(&mut self) -> Result<(), AuditError> {
        self.write_out()?;
        self.file.sync_data().map_err(|e| self.io(e))?;
        write_head(&self.head, self.seq, &self.last_hash).map_err(|e| self.io(e))?;
        release_synced(&self.file, &mut self.released, self.len);
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> AuditError {
        AuditError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

/// Encoded entries, filled by deciding threads and taken whole by the
/// writer.
#[derive(Debug, Default)]
struct Chunk {
    entries: Vec<u8>,
    count: usize,
}

/// The bounded queue: a ring of chunks of at most [`MAX_GROUP`] entries.
/// The writer takes the oldest chunk at a time, so a full queue gets room
/// again after one group is written, not after the whole queue is; chunks
/// go back to `free` with their capacity, so nothing is allocated once
/// the ring is warm.
#[derive(Debug, Default)]
struct Queue {
    chunks: std::collections::VecDeque<Chunk>,
    free: Vec<Chunk>,
    /// Entries in `chunks`.
    count: usize,
    /// Their bytes.
    bytes: usize,
    /// Sequence number of the last event handed to `record`.
    recorded: u64,
    /// Sequence number of the last event made durable.
    durable: u64,
    /// What the syncer makes durable next (the newest request wins).
    sync: Option<SyncRequest>,
    stop: bool,
    /// Set by the writer once it has posted its last request.
    syncer_stop: bool,
    error: Option<String>,
}

/// Everything the writer has written up to log record `seq` (whose hash
/// is `hash`), which is queue entry `target`: what one sync makes
/// durable.
#[derive(Debug, Clone, Copy)]
struct SyncRequest {
    seq: u64,
    hash: [u8; 64],
    target: u64,
    /// The log's length after that record.
    len: u64,
}

impl Queue {
    fn new() -> Queue {
        let chunks = MAX_PENDING / MAX_GROUP + 2;
        Queue {
            chunks: std::collections::VecDeque::with_capacity(chunks),
            free: Vec::with_capacity(chunks),
            ..Queue::default()
        }
    }

    fn is_full(&self) -> bool {
        self.count >= MAX_PENDING || self.bytes >= MAX_PENDING_BYTES
    }

    /// Appends one entry that `encode` writes.
    #[inline]
    fn push(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        if self.chunks.back().is_none_or(|c| c.count >= MAX_GROUP) {
            let chunk = self.free.pop().unwrap_or_default();
            self.chunks.push_back(chunk);
        }
        let Some(chunk) = self.chunks.back_mut() else {
            return;
        };
        let before = chunk.entries.len();
        encode(&mut chunk.entries);
        chunk.count += 1;
        self.bytes += chunk.entries.len() - before;
        self.count += 1;
        self.recorded += 1;
    }
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    wake_writer: Condvar,
    wake_flushers: Condvar,
    wake_recorders: Condvar,
    wake_syncer: Condvar,
}

impl Shared {
    /// Stops the sink for good after `error`: every later record is
    /// refused (decisions fail closed), and every waiting thread is told.
    fn fail(&self, q: &mut Queue, error: &AuditError) {
        tracing::error!(target: "sharelife::audit", error = %error, "audit writer failed; the audit sink has stopped");
        q.error = Some(error.to_string());
        q.chunks.clear();
        q.count = 0;
        q.bytes = 0;
        q.sync = None;
        self.wake_flushers.notify_all();
        self.wake_recorders.notify_all();
        self.wake_writer.notify_one();
        self.wake_syncer.notify_one();
    }
}

/// The default audit sink: append-only JSON Lines, each record linked to
/// the previous one by its SHA-256, plus a `<log>.head` anchor file with
/// the count and last hash.
#[derive(Debug)]
pub struct FileSink {
    mode: Mode,
    path: PathBuf,
}

#[derive(Debug)]
enum Mode {
    Group {
        shared: Arc<Shared>,
        /// The writer, then the syncer.
        threads: Mutex<Vec<JoinHandle<()>>>,
    },
    /// [`Durability::Sync`], or [`Durability::OnFlush`] when `deferred`.
    Sync {
        chain: Box<Mutex<SyncState>>,
        deferred: bool,
    },
}

/// A synchronous sink's chain, and the failure that stopped it.
#[derive(Debug)]
struct SyncState {
    chain: Chain,
    entry: Vec<u8>,
    error: Option<String>,
    /// The sequence number of the last durable record.
    durable: u64,
}

impl FileSink {
    /// Opens (creating if needed) the log at `path`. An existing log must
    /// verify; new records continue its chain.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`], or [`AuditError::Tampered`] if the existing log
    /// does not verify.
    pub fn open(path: impl AsRef<Path>, durability: Durability) -> Result<Self, AuditError> {
        let path = path.as_ref().to_owned();
        let io = |source| AuditError::Io {
            path: path.display().to_string(),
            source,
        };
        let (seq, last_hash) = if path.exists() {
            let report = verify(&path)?;
            let hash = <[u8; 64]>::try_from(report.last_hash.as_bytes()).map_err(|_| {
                AuditError::Tampered {
                    path: path.display().to_string(),
                    line: report.records,
                    reason: "the last hash is not 64 hex digits".into(),
                }
            })?;
            (report.records, hash)
        } else {
            (0, GENESIS)
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        time::warm_up();
        let chain = Chain {
            file,
            out: Vec::with_capacity(WRITE_CHUNK + (64 << 10)),
            seq,
            last_hash,
            len,
            released: 0,
            format: Formatter::default(),
            head: head_path(&path),
            path: path.clone(),
        };
        let mode = match durability {
            Durability::Sync | Durability::OnFlush => Mode::Sync {
                chain: Box::new(Mutex::new(SyncState {
                    chain,
                    entry: Vec::new(),
                    error: None,
                    durable: seq,
                })),
                deferred: durability == Durability::OnFlush,
            },
            Durability::GroupCommit => {
                let shared = Arc::new(Shared {
                    queue: Mutex::new(Queue::new()),
                    wake_writer: Condvar::new(),
                    wake_flushers: Condvar::new(),
                    wake_recorders: Condvar::new(),
                    wake_syncer: Condvar::new(),
                });
                // The syncer's own handle on the log: the same open file.
                let sync_file = chain.file.try_clone().map_err(io)?;
                let head = chain.head.clone();
                let syncer_shared = Arc::clone(&shared);
                let syncer_path = path.clone();
                let syncer = std::thread::Builder::new()
                    .name("sharelife-audit-sync".into())
                    .spawn(move || sync_loop(&syncer_shared, &sync_file, &head, &syncer_path))
                    .map_err(io)?;
                let writer_shared = Arc::clone(&shared);
                let writer = std::thread::Builder::new()
                    .name("sharelife-audit".into())
                    .spawn(move || write_loop(&writer_shared, chain));
                let writer = match writer {
                    Ok(writer) => writer,
                    Err(e) => {
                        shared.queue.lock().syncer_stop = true;
                        shared.wake_syncer.notify_one();
                        let _ = syncer.join();
                        return Err(io(e));
                    }
                };
                Mode::Group {
                    shared,
                    threads: Mutex::new(vec![writer, syncer]),
                }
            }
        };
        Ok(FileSink { mode, path })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues (group commit) or writes (sync) one entry that `encode`
    /// appends to a buffer.
    #[inline]
    fn accept(
        &self,
        wall: impl FnOnce() -> Stamp,
        encode: impl FnOnce(&mut Vec<u8>, Stamp),
    ) -> Result<(), AuditError> {
        match &self.mode {
            Mode::Group { shared, .. } => {
                // Read before the entry is queued: the writer's anchor,
                // taken after it takes the queue, is later than every
                // reading in the group.
                let stamp = Stamp::Ticks(time::ticks());
                let mut q = shared.queue.lock();
                if q.is_full() && q.error.is_none() {
                    let deadline = std::time::Instant::now() + FULL_WAIT;
                    while q.is_full() && q.error.is_none() {
                        if shared
                            .wake_recorders
                            .wait_until(&mut q, deadline)
                            .timed_out()
                        {
                            break;
                        }
                    }
                }
                if let Some(e) = &q.error {
                    return Err(AuditError::WriterStopped(e.clone()));
                }
                if q.is_full() {
                    return Err(AuditError::QueueFull(q.count));
                }
                q.push(|out| encode(out, stamp));
                if q.count == 1 {
                    shared.wake_writer.notify_one();
                }
                Ok(())
            }
            Mode::Sync { chain, deferred } => {
                let mut state = chain.lock();
                if let Some(e) = &state.error {
                    return Err(AuditError::WriterStopped(e.clone()));
                }
                let SyncState {
                    chain,
                    entry,
                    error,
                    durable,
                } = &mut *state;
                entry.clear();
                encode(entry, wall());
                let result = chain
                    .append(&mut Reader::new(entry), 1, &Anchor::now())
                    .and_then(|()| {
                        if *deferred {
                            return Ok(());
                        }
                        chain.commit()?;
                        *durable = chain.seq;
                        Ok(())
                    });
                if let Err(e) = &result {
                    tracing::error!(target: "sharelife::audit", error = %e, "audit record could not be written; the audit sink has stopped");
                    *error = Some(e.to_string());
                }
                result
            }
        }
    }
}

fn write_loop(shared: &Shared, mut chain: Chain) {
    // The last chunk appended goes back to the free list, and its sync
    // request to the syncer, under the next lock the loop takes anyway.
    let mut spent: Option<Chunk> = None;
    let mut written: Option<SyncRequest> = None;
    loop {
        let (mut chunk, target) = {
            let mut q = shared.queue.lock();
            if let Some(chunk) = spent.take() {
                q.free.push(chunk);
            }
            if let Some(request) = written.take() {
                q.sync = Some(request);
                shared.wake_syncer.notify_one();
            }
            loop {
                if q.error.is_some() {
                    // The syncer failed: the chain stops here.
                    return;
                }
                if let Some(chunk) = q.chunks.pop_front() {
                    q.count -= chunk.count;
                    q.bytes -= chunk.entries.len();
                    // Entries still queued were recorded after this chunk's.
                    let target = q.recorded - q.count as u64;
                    shared.wake_recorders.notify_all();
                    break (chunk, target);
                }
                if q.stop {
                    q.syncer_stop = true;
                    shared.wake_syncer.notify_one();
                    return;
                }
                shared.wake_writer.wait(&mut q);
            }
        };
        // Every entry of the chunk was stamped before it was queued, so
        // before this anchor.
        let anchor = Anchor::now();
        let result = chain
            .append(&mut Reader::new(&chunk.entries), chunk.count, &anchor)
            .and_then(|()| chain.write_out());
        chunk.entries.clear();
        chunk.count = 0;
        spent = Some(chunk);
        match result {
            Ok(()) => {
                written = Some(SyncRequest {
                    seq: chain.seq,
                    hash: chain.last_hash,
                    target,
                    len: chain.len,
                });
            }
            Err(e) => {
                // The chain cannot go on past records that may be half
                // written.
                shared.fail(&mut shared.queue.lock(), &e);
                return;
            }
        }
    }
}

/// The syncer: makes what the writer has written durable, one request at
/// a time, while the writer formats the next chunk. An `fdatasync` that
/// starts after the writer's `write` returned covers every line that
/// `write` wrote, so the head anchor and `durable` move only as far as
/// the request says.
fn sync_loop(shared: &Shared, file: &File, head: &Path, path: &Path) {
    let mut released = 0;
    loop {
        let request = {
            let mut q = shared.queue.lock();
            loop {
                if q.error.is_some() {
                    return;
                }
                if let Some(request) = q.sync.take() {
                    break request;
                }
                if q.syncer_stop {
                    return;
                }
                shared.wake_syncer.wait(&mut q);
            }
        };
        let result = file
            .sync_data()
            .and_then(|()| write_head(head, request.seq, &request.hash));
        if result.is_ok() {
            release_synced(file, &mut released, request.len);
        }
        let mut q = shared.queue.lock();
        match result {
            Ok(()) => {
                q.durable = q.durable.max(request.target);
                shared.wake_flushers.notify_all();
            }
            Err(source) => {
                let error = AuditError::Io {
                    path: path.display().to_string(),
                    source,
                };
                shared.fail(&mut q, &error);
                return;
            }
        }
    }
}

impl AuditSink for FileSink {
    fn record(&self, event: AuditEvent) {
        if let Err(e) = self.try_record(event) {
            tracing::error!(target: "sharelife::audit", error = %e, "audit record lost");
        }
    }

    fn try_record(&self, event: AuditEvent) -> Result<(), AuditError> {
        let at = event.at;
        // An event brings its own time.
        self.accept(
            || Stamp::Wall(at),
            |out, _| record::encode_event(out, Stamp::Wall(at), &event),
        )
    }

    #[inline]
    fn try_record_decision(
        &self,
        plugin: &Arc<str>,
        version: &Arc<str>,
        request: &Request<'_>,
        decision: Decision,
    ) -> Result<(), AuditError> {
        self.accept(
            || Stamp::Wall(SystemTime::now()),
            |out, stamp| {
                record::encode_decision(
                    out,
                    stamp,
                    plugin,
                    version,
                    request,
                    decision.allowed,
                    decision.rule,
                );
            },
        )
    }

    fn flush(&self) -> Result<(), AuditError> {
        match &self.mode {
            Mode::Group { shared, .. } => {
                let mut q = shared.queue.lock();
                let target = q.recorded;
                while q.durable < target && q.error.is_none() {
                    shared.wake_flushers.wait(&mut q);
                }
                match &q.error {
                    Some(e) => Err(AuditError::WriterStopped(e.clone())),
                    None => Ok(()),
                }
            }
            Mode::Sync { chain, deferred } => {
                let mut state = chain.lock();
                if let Some(e) = &state.error {
                    return Err(AuditError::WriterStopped(e.clone()));
                }
                if !*deferred || state.durable == state.chain.seq {
                    return Ok(());
                }
                let result = state.chain.commit();
                if result.is_ok() {
                    state.durable = state.chain.seq;
                }
                if let Err(e) = &result {
                    tracing::error!(target: "sharelife::audit", error = %e, "audit records could not be made durable; the audit sink has stopped");
                    state.error = Some(e.to_string());
                }
                result
            }
        }
    }

    fn health(&self) -> AuditHealth {
        match &self.mode {
            Mode::Group { shared, .. } => {
                let q = shared.queue.lock();
                AuditHealth {
                    failure: q.error.clone(),
                    pending: usize::try_from(q.recorded - q.durable).unwrap_or(usize::MAX),
                }
            }
            Mode::Sync { chain, .. } => {
                let state = chain.lock();
                AuditHealth {
                    failure: state.error.clone(),
                    pending: usize::try_from(state.chain.seq - state.durable).unwrap_or(usize::MAX),
                }
            }
        }
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        match &self.mode {
            Mode::Group { shared, threads } => {
                let _ = self.flush();
                shared.queue.lock().stop = true;
                shared.wake_writer.notify_one();
                // The writer first: it stops the syncer once its last
                // request is posted (or the sink failed).
                for handle in threads.lock().drain(..) {
                    let _ = handle.join();
                }
            }
            // What was recorded since the last flush is made durable.
            Mode::Sync { deferred: true, .. } => {
                let _ = self.flush();
            }
            Mode::Sync {
                deferred: false, ..
            } => {}
        }
    }
}

/// Lets the kernel drop the log's cached pages that a sync has just made
/// durable: the whole pages of its first `synced` bytes not released yet.
///
/// The log is only appended to: its written pages are read again only by
/// a reader of the log, which can read them from disk. Kept, they fill the
/// page cache as the log grows (a busy host writes gigabytes), crowding
/// out the host's own cached files, and each write copies into a page the
/// kernel has to find afresh; released, they are reused by the next
/// writes. The page the log is still being appended to is kept (the range
/// ends at a page boundary), so no write waits to read it back.
///
/// Advice only: if the kernel does not take it, nothing is lost but the
/// cache.
fn release_synced(file: &File, released: &mut u64, synced: u64) {
    #[cfg(all(feature = "host", any(target_os = "linux", target_os = "android")))]
    {
        let page = rustix::param::page_size() as u64;
        let end = synced - synced % page;
        if let Some(len) = std::num::NonZeroU64::new(end.saturating_sub(*released)) {
            let _ = rustix::fs::fadvise(file, *released, Some(len), rustix::fs::Advice::DontNeed);
            *released = end;
        }
    }
    #[cfg(not(all(feature = "host", any(target_os = "linux", target_os = "android"))))]
    let _ = (file, released, synced);
}

/// The head anchor: count and hash of the last durable record, replaced
/// atomically (a temporary file, synced, renamed over the old anchor). A
/// log cut short no longer reaches it.
fn write_head(head: &Path, seq: u64, hash: &[u8; 64]) -> std::io::Result<()> {
    let tmp = head.with_extension("head.tmp");
    let mut anchor = Vec::with_capacity(90);
    anchor.extend_from_slice(seq.to_string().as_bytes());
    anchor.push(b' ');
    anchor.extend_from_slice(hash);
    anchor.push(b'\n');
    std::fs::write(&tmp, anchor)
        .and_then(|()| File::open(&tmp)?.sync_data())
        .and_then(|()| std::fs::rename(&tmp, head))
}

fn head_path(log: &Path) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_owned();
    name.push(".head");
    log.with_file_name(name)
}

/// What [`verify`] found in a sound log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of records.
    pub records: u64,
    /// Hash of the last record (the genesis hash for an empty log).
    pub last_hash: String,
}

/// Checks a log: every line parses, sequence numbers run 1, 2, 3, ...,
/// every record's `prev` is the SHA-256 of the line before it, and the
/// `.head` anchor (when present) names the last record. Detects an edited,
/// deleted, reordered or inserted record, and a log cut short.
///
/// The chain protects against accidental damage and naive tampering; an
/// attacker who can rewrite the whole file and its anchor can forge it.
/// Ship the head hash elsewhere for stronger guarantees.
///
/// # Errors
///
/// [`AuditError::Tampered`] naming the first bad record, or
/// [`AuditError::Io`].
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport, AuditError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let io = |source| AuditError::Io {
        path: name.clone(),
        source,
    };
    let tampered = |line: u64, reason: String| AuditError::Tampered {
        path: name.clone(),
        line,
        reason,
    };
    let text = std::fs::read(path).map_err(io)?;
    if !text.is_empty() && !text.ends_with(b"\n") {
        let lines = text.iter().filter(|&&b| b == b'\n').count() as u64;
        return Err(tampered(
            lines + 1,
            "the last record is incomplete (the log was cut mid-record)".into(),
        ));
    }
    let mut last_hash = "0".repeat(64);
    let mut count = 0u64;
    for (i, line) in text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let n = i as u64 + 1;
        let record: AuditRecord =
            serde_json::from_slice(line).map_err(|e| tampered(n, format!("not a record: {e}")))?;
        if record.seq != n {
            return Err(tampered(
                n,
                format!(
                    "sequence number {} where {n} was expected (a record was removed, inserted or moved)",
                    record.seq
                ),
            ));
        }
        if record.prev != last_hash {
            return Err(tampered(n, "its `prev` hash does not match the record before it (that record was edited, removed or moved)".into()));
        }
        last_hash = hex::encode(Sha256::digest(line));
        count = n;
    }
    let head = head_path(path);
    if let Ok(anchor) = std::fs::read_to_string(&head) {
        let (seq, hash) = anchor.trim().split_once(' ').unwrap_or(("", ""));
        let seq: u64 = seq
            .parse()
            .map_err(|_| tampered(count, format!("{} is not a head anchor", head.display())))?;
        if seq > count {
            return Err(tampered(
                count,
                format!(
                    "the log ends at record {count} but its head anchor names record {seq}: records were cut off the end"
                ),
            ));
        }
        if seq == count && hash != last_hash {
            return Err(tampered(
                count,
                "the last record does not match the head anchor (it was edited)".into(),
            ));
        }
    }
    Ok(VerifyReport {
        records: count,
        last_hash,
    })
}

/// Reads every record of a log (without verifying it; call [`verify`]
/// first when it matters).
///
/// # Errors
///
/// [`AuditError::Io`] or [`AuditError::Tampered`] for a line that does not
/// parse.
pub fn read_log(path: impl AsRef<Path>) -> Result<Vec<AuditRecord>, AuditError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| AuditError::Io {
        path: name.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| AuditError::Io {
            path: name.clone(),
            source,
        })?;
        if line.is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line).map_err(|e| AuditError::Tampered {
                path: name.clone(),
                line: i as u64 + 1,
                reason: format!("not a record: {e}"),
            })?,
        );
    }
    Ok(out)
}
