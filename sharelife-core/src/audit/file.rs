//! The append-only, hash-chained JSON Lines audit log.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use sha2::{Digest, Sha256};

use super::{AuditError, AuditEvent, AuditHealth, AuditRecord, AuditSink};

/// Records a group-commit sink holds in memory before `try_record` waits
/// for the writer: memory stays bounded when the disk is slower than the
/// decisions.
const MAX_PENDING: usize = 1 << 16;

/// How long `try_record` waits for room in a full queue before refusing.
const FULL_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How durable each record is when `record` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A background thread writes batches and `fsync`s once per batch.
    /// `record` never blocks on I/O; `flush` (and dropping the sink) waits
    /// for everything recorded so far.
    GroupCommit,
    /// Every record is written and `fsync`ed before `record` returns:
    /// nothing is lost even if the process crashes right after.
    Sync,
}

/// The chain's state: what the next record links to.
#[derive(Debug)]
struct Chain {
    out: BufWriter<File>,
    seq: u64,
    last_hash: String,
    path: PathBuf,
    head: PathBuf,
}

impl Chain {
    fn append(&mut self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut record = event.to_record();
        self.seq += 1;
        record.seq = self.seq;
        record.prev = std::mem::take(&mut self.last_hash);
        let line = serde_json::to_string(&record).expect("records serialize");
        self.last_hash = hex::encode(Sha256::digest(line.as_bytes()));
        self.out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|e| self.io(e))
    }

    /// Makes everything appended durable and moves the head anchor.
    fn commit(&mut self) -> Result<(), AuditError> {
        self.out.flush().map_err(|e| self.io(e))?;
        self.out.get_ref().sync_data().map_err(|e| self.io(e))?;
        // The head anchor: count and hash of the last record, replaced
        // atomically. A log cut short no longer reaches it.
        let tmp = self.head.with_extension("head.tmp");
        std::fs::write(&tmp, format!("{} {}\n", self.seq, self.last_hash))
            .and_then(|()| File::open(&tmp)?.sync_data())
            .and_then(|()| std::fs::rename(&tmp, &self.head))
            .map_err(|e| self.io(e))
    }

    fn io(&self, source: std::io::Error) -> AuditError {
        AuditError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

#[derive(Debug, Default)]
struct Queue {
    pending: Vec<AuditEvent>,
    /// Sequence number of the last event handed to `record`.
    recorded: u64,
    /// Sequence number of the last event made durable.
    durable: u64,
    stop: bool,
    error: Option<String>,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    wake_writer: Condvar,
    wake_flushers: Condvar,
    wake_recorders: Condvar,
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
        writer: Mutex<Option<JoinHandle<()>>>,
    },
    Sync {
        chain: Mutex<SyncState>,
    },
}

/// A synchronous sink's chain, and the failure that stopped it.
#[derive(Debug)]
struct SyncState {
    chain: Chain,
    error: Option<String>,
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
            (report.records, report.last_hash)
        } else {
            (0, GENESIS.to_owned())
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let chain = Chain {
            out: BufWriter::with_capacity(1 << 16, file),
            seq,
            last_hash,
            head: head_path(&path),
            path: path.clone(),
        };
        let mode = match durability {
            Durability::Sync => Mode::Sync {
                chain: Mutex::new(SyncState { chain, error: None }),
            },
            Durability::GroupCommit => {
                let shared = Arc::new(Shared {
                    queue: Mutex::new(Queue::default()),
                    wake_writer: Condvar::new(),
                    wake_flushers: Condvar::new(),
                    wake_recorders: Condvar::new(),
                });
                let writer_shared = Arc::clone(&shared);
                let writer = std::thread::Builder::new()
                    .name("sharelife-audit".into())
                    .spawn(move || write_loop(&writer_shared, chain))
                    .map_err(io)?;
                Mode::Group {
                    shared,
                    writer: Mutex::new(Some(writer)),
                }
            }
        };
        Ok(FileSink { mode, path })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn write_loop(shared: &Shared, mut chain: Chain) {
    let mut batch = Vec::new();
    loop {
        let target;
        {
            let mut q = shared.queue.lock();
            while q.pending.is_empty() && !q.stop {
                shared.wake_writer.wait(&mut q);
            }
            if q.pending.is_empty() && q.stop {
                return;
            }
            std::mem::swap(&mut batch, &mut q.pending);
            target = q.recorded;
            shared.wake_recorders.notify_all();
        }
        let result = batch
            .iter()
            .try_for_each(|e| chain.append(e))
            .and_then(|()| chain.commit());
        batch.clear();
        let mut q = shared.queue.lock();
        match result {
            Ok(()) => q.durable = target,
            Err(e) => {
                // The chain cannot go on past records that may be half
                // written: the sink stops for good, and every later
                // record is refused (decisions fail closed).
                tracing::error!(target: "sharelife::audit", error = %e, "audit writer failed; the audit sink has stopped");
                q.error = Some(e.to_string());
                q.pending.clear();
                shared.wake_flushers.notify_all();
                shared.wake_recorders.notify_all();
                return;
            }
        }
        shared.wake_flushers.notify_all();
    }
}

impl AuditSink for FileSink {
    fn record(&self, event: AuditEvent) {
        if let Err(e) = self.try_record(event) {
            tracing::error!(target: "sharelife::audit", error = %e, "audit record lost");
        }
    }

    fn try_record(&self, event: AuditEvent) -> Result<(), AuditError> {
        match &self.mode {
            Mode::Group { shared, .. } => {
                let mut q = shared.queue.lock();
                if q.pending.len() >= MAX_PENDING && q.error.is_none() {
                    let deadline = std::time::Instant::now() + FULL_WAIT;
                    while q.pending.len() >= MAX_PENDING && q.error.is_none() {
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
                if q.pending.len() >= MAX_PENDING {
                    return Err(AuditError::QueueFull(q.pending.len()));
                }
                q.pending.push(event);
                q.recorded += 1;
                if q.pending.len() == 1 {
                    shared.wake_writer.notify_one();
                }
                Ok(())
            }
            Mode::Sync { chain } => {
                let mut state = chain.lock();
                if let Some(e) = &state.error {
                    return Err(AuditError::WriterStopped(e.clone()));
                }
                let result = state
                    .chain
                    .append(&event)
                    .and_then(|()| state.chain.commit());
                if let Err(e) = &result {
                    tracing::error!(target: "sharelife::audit", error = %e, "audit record could not be written; the audit sink has stopped");
                    state.error = Some(e.to_string());
                }
                result
            }
        }
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
            Mode::Sync { chain } => match &chain.lock().error {
                Some(e) => Err(AuditError::WriterStopped(e.clone())),
                None => Ok(()),
            },
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
            Mode::Sync { chain } => AuditHealth {
                failure: chain.lock().error.clone(),
                pending: 0,
            },
        }
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        if let Mode::Group { shared, writer } = &self.mode {
            let _ = self.flush();
            shared.queue.lock().stop = true;
            shared.wake_writer.notify_one();
            if let Some(handle) = writer.lock().take() {
                let _ = handle.join();
            }
        }
    }
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
    let mut last_hash = GENESIS.to_owned();
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
