//! The audit log: every gateway decision, lifecycle change and error, as a
//! record naming the plugin, what it asked, the outcome and the rule.
//!
//! Services hand each decision to an [`AuditSink`]
//! ([`AuditSink::try_record_decision`], which borrows the request: the
//! default file sink copies it into its queue without allocating), and
//! other events as an [`AuditEvent`]; formatting and I/O happen elsewhere.
//! The default sink, [`FileSink`], appends JSON Lines in which each record
//! carries the SHA-256 of the one before it, written by a background
//! thread with group commit behind a bounded queue; [`verify`] detects an
//! edited, deleted, reordered or truncated record.
#![forbid(unsafe_code)]

mod file;
mod record;
mod time;

use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

pub use self::file::{Durability, FileSink, VerifyReport, read_log, verify};

use crate::capability::{Decision, Kind, Request};
use crate::manifest::{FileAccess, ProviderAccess};

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Reading or writing the log failed.
    #[error("audit log {path}: {source}")]
    Io {
        /// The log file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The log does not verify.
    #[error("audit log {path} is corrupt at record {line}: {reason}")]
    Tampered {
        /// The log file.
        path: String,
        /// 1-based line number.
        line: u64,
        /// What does not match.
        reason: String,
    },
    /// The background writer has stopped.
    #[error("the audit writer has stopped: {0}")]
    WriterStopped(String),
    /// The sink's bounded queue stayed full: the writer cannot keep up.
    #[error("the audit queue is full ({0} records waiting) and did not drain in time")]
    QueueFull(usize),
}

/// What a gateway decision does when its audit record cannot be made
/// durable (or queued within the sink's bounded memory).
#[cfg_attr(feature = "host", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditFailure {
    /// Deny the request (the default): no decision goes unrecorded.
    #[default]
    Deny,
    /// Let the decision stand and log an error (`tracing` target
    /// `sharelife::audit`) for each record lost.
    AllowAndAlert,
}

/// A sink's health, as [`AuditSink::health`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditHealth {
    /// The first failure that stopped the sink, if any. A failed sink
    /// stays failed: its chain cannot continue past lost records.
    pub failure: Option<String>,
    /// Records accepted but not yet durable.
    pub pending: usize,
}

impl AuditHealth {
    /// Whether records are being written.
    pub fn is_healthy(&self) -> bool {
        self.failure.is_none()
    }
}

/// A request, owned, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    missing_docs,
    reason = "mirrors `Request`, whose fields are documented"
)]
pub enum RecordedRequest {
    Connect {
        name: Option<String>,
        ip: Option<std::net::IpAddr>,
        port: u16,
    },
    File {
        access: FileAccess,
        path: std::path::PathBuf,
    },
    Command {
        argv: Vec<String>,
    },
    Provider {
        name: String,
        access: ProviderAccess,
    },
    Mcp {
        server: String,
        tool: String,
        definition_sha256: String,
    },
    Publish {
        topic: String,
    },
}

impl RecordedRequest {
    /// Captures a request.
    pub fn of(req: &Request<'_>) -> Self {
        match *req {
            Request::Connect { name, ip, port } => RecordedRequest::Connect {
                name: name.map(str::to_owned),
                ip,
                port,
            },
            Request::File { access, path } => RecordedRequest::File {
                access,
                path: path.to_owned(),
            },
            Request::Command { argv } => RecordedRequest::Command {
                argv: argv.to_vec(),
            },
            Request::Provider { name, access } => RecordedRequest::Provider {
                name: name.to_owned(),
                access,
            },
            Request::Mcp {
                server,
                tool,
                definition_sha256,
            } => RecordedRequest::Mcp {
                server: server.to_owned(),
                tool: tool.to_owned(),
                definition_sha256: definition_sha256.to_owned(),
            },
            Request::Publish { topic } => RecordedRequest::Publish {
                topic: topic.to_owned(),
            },
        }
    }

    /// The request this record captured.
    pub fn as_request(&self) -> Request<'_> {
        match self {
            RecordedRequest::Connect { name, ip, port } => Request::Connect {
                name: name.as_deref(),
                ip: *ip,
                port: *port,
            },
            RecordedRequest::File { access, path } => Request::File {
                access: *access,
                path,
            },
            RecordedRequest::Command { argv } => Request::Command { argv },
            RecordedRequest::Provider { name, access } => Request::Provider {
                name,
                access: *access,
            },
            RecordedRequest::Mcp {
                server,
                tool,
                definition_sha256,
            } => Request::Mcp {
                server,
                tool,
                definition_sha256,
            },
            RecordedRequest::Publish { topic } => Request::Publish { topic },
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A gateway decision.
    Decision {
        /// What was asked.
        request: RecordedRequest,
        /// The decision.
        decision: Decision,
    },
    /// A lifecycle change.
    Lifecycle {
        /// From state.
        from: String,
        /// To state.
        to: String,
    },
    /// An error or a panic.
    Error {
        /// What went wrong.
        message: String,
    },
    /// An operator's action outside any plugin's calls: an install plan,
    /// an approval, a refusal, an execution step, an apply, a rollback, a
    /// removal. `plugin` is the plugin acted on (or the tool, e.g.
    /// `sharelife.install`).
    Operation {
        /// The action (`plan`, `approve`, `apply`, …): the record's
        /// `capability` field.
        action: String,
        /// What was done, with its plan digest and approver key id.
        detail: String,
        /// Allow (done), deny (refused) or info.
        outcome: Outcome,
    },
}

/// An event as created on the hot path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When.
    pub at: SystemTime,
    /// The plugin.
    pub plugin: Arc<str>,
    /// Its version.
    pub version: Arc<str>,
    /// What happened.
    pub what: What,
}

impl AuditEvent {
    /// The event as a record (without sequence number and chain hash).
    pub fn to_record(&self) -> AuditRecord {
        let (event, capability, request, outcome, rule) = match &self.what {
            What::Decision { request, decision } => (
                "decision",
                Some(request.as_request().kind().as_str().to_owned()),
                request.as_request().to_string(),
                if decision.allowed {
                    Outcome::Allow
                } else {
                    Outcome::Deny
                },
                decision.rule.to_string(),
            ),
            What::Lifecycle { from, to } => (
                "lifecycle",
                None,
                format!("{from} -> {to}"),
                Outcome::Info,
                String::new(),
            ),
            What::Error { message } => {
                ("error", None, message.clone(), Outcome::Info, String::new())
            }
            What::Operation {
                action,
                detail,
                outcome,
            } => (
                "operation",
                Some(action.clone()),
                detail.clone(),
                *outcome,
                String::new(),
            ),
        };
        AuditRecord {
            seq: 0,
            time: time::rfc3339(self.at),
            plugin: self.plugin.to_string(),
            version: self.version.to_string(),
            event: event.to_owned(),
            capability,
            request,
            outcome,
            rule,
            prev: String::new(),
        }
    }
}

/// The outcome field of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
    /// Not a decision (lifecycle, error, an informational operation).
    Info,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// 1-based position in the log.
    pub seq: u64,
    /// RFC 3339 UTC time.
    pub time: String,
    /// Plugin id.
    pub plugin: String,
    /// Plugin version.
    pub version: String,
    /// `decision`, `lifecycle`, `error` or `operation`.
    pub event: String,
    /// Capability kind, for decisions; the action, for operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    /// The request as normalized (or the lifecycle move, or the error).
    pub request: String,
    /// Allow, deny, or info.
    pub outcome: Outcome,
    /// The rule that decided.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rule: String,
    /// Hex SHA-256 of the previous line (64 zeros for the first).
    pub prev: String,
}

/// Where audit events go.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Records an event. Must be cheap: do I/O elsewhere.
    fn record(&self, event: AuditEvent);
    /// Records an event and says whether it was accepted: written (for a
    /// synchronous sink) or queued within the sink's bounded memory (for
    /// group commit). Gateway decisions are recorded with this, and a
    /// refusal denies the decision (see [`AuditFailure`]).
    ///
    /// # Errors
    ///
    /// Why the record was not accepted: the sink has failed, or its
    /// queue stayed full.
    fn try_record(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.record(event);
        Ok(())
    }
    /// Records a gateway decision on `request`, made now, like
    /// [`try_record`](Self::try_record). The gated services call this on
    /// every decision; the default builds an [`AuditEvent`] (which owns a
    /// copy of the request), while [`FileSink`] and [`NullSink`] take the
    /// request as borrowed and allocate nothing.
    ///
    /// # Errors
    ///
    /// As [`try_record`](Self::try_record).
    fn try_record_decision(
        &self,
        plugin: &Arc<str>,
        version: &Arc<str>,
        request: &Request<'_>,
        decision: Decision,
    ) -> Result<(), AuditError> {
        self.try_record(AuditEvent {
            at: SystemTime::now(),
            plugin: Arc::clone(plugin),
            version: Arc::clone(version),
            what: What::Decision {
                request: RecordedRequest::of(request),
                decision,
            },
        })
    }
    /// Whether the sink is writing, and how much is waiting.
    fn health(&self) -> AuditHealth {
        AuditHealth::default()
    }
    /// Blocks until every event recorded so far is durable.
    ///
    /// # Errors
    ///
    /// The sink's I/O failure.
    fn flush(&self) -> Result<(), AuditError>;
}

/// A filter over records. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this plugin.
    pub plugin: Option<String>,
    /// Only this capability kind.
    pub capability: Option<Kind>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// At or after this time (RFC 3339, compared as text, which orders
    /// correctly for the UTC format we write).
    pub since: Option<String>,
    /// Before this time.
    pub until: Option<String>,
}

impl AuditQuery {
    /// Whether `record` passes the filter.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.plugin.as_ref().is_none_or(|p| *p == record.plugin)
            && self
                .capability
                .is_none_or(|k| record.capability.as_deref() == Some(k.as_str()))
            && self.outcome.is_none_or(|o| o == record.outcome)
            && self
                .since
                .as_ref()
                .is_none_or(|s| record.time.as_str() >= s.as_str())
            && self
                .until
                .as_ref()
                .is_none_or(|u| record.time.as_str() < u.as_str())
    }
}

/// Keeps records in memory; for tests and for hosts that ship the log
/// elsewhere.
#[derive(Debug, Default)]
pub struct MemorySink {
    records: Mutex<Vec<AuditRecord>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        MemorySink::default()
    }

    /// Every record so far.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.records.lock().clone()
    }

    /// The records matching `query`.
    pub fn query(&self, query: &AuditQuery) -> Vec<AuditRecord> {
        self.records
            .lock()
            .iter()
            .filter(|r| query.matches(r))
            .cloned()
            .collect()
    }
}

impl AuditSink for MemorySink {
    fn record(&self, event: AuditEvent) {
        let mut record = event.to_record();
        let mut records = self.records.lock();
        record.seq = records.len() as u64 + 1;
        records.push(record);
    }

    fn flush(&self) -> Result<(), AuditError> {
        Ok(())
    }
}

/// Discards everything; the default when a host configures no sink.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl AuditSink for NullSink {
    fn record(&self, _: AuditEvent) {}
    fn try_record_decision(
        &self,
        _: &Arc<str>,
        _: &Arc<str>,
        _: &Request<'_>,
        _: Decision,
    ) -> Result<(), AuditError> {
        Ok(())
    }
    fn flush(&self) -> Result<(), AuditError> {
        Ok(())
    }
}
