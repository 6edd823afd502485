//! When the audit log cannot be written, decisions fail closed: the
//! request is denied (unless the host chose `allow-and-alert`), and the
//! host reports the sink's health.
//!
//! The write failure is real: the directory the log's head anchor is
//! renamed into is taken by a directory, so the writer's commit fails
//! with an I/O error exactly as it would on a full or read-only disk.

mod common;

use std::sync::Arc;

use common::*;
use sharelife_core::audit::{AuditFailure, AuditSink, Durability, FileSink};
use sharelife_core::capability::Policy;
use sharelife_core::manifest::{Capability, FileAccess};
use sharelife_core::{ErrorKind, Host, Plugin, PluginContext, PluginError, async_trait};

struct Keeper(Arc<parking_lot::Mutex<Option<PluginContext>>>);

#[async_trait]
impl Plugin for Keeper {
    async fn initialize(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        *self.0.lock() = Some(ctx.clone());
        Ok(())
    }
}

async fn host_with_log(
    dir: &Scratch,
    durability: Durability,
    on_failure: AuditFailure,
) -> (Host, PluginContext, std::path::PathBuf) {
    let log = dir.path().join("audit.jsonl");
    let read = Capability::File {
        access: FileAccess::Read,
        path: "*.txt".into(),
    };
    std::fs::create_dir_all(dir.path().join("data/acme.tester")).unwrap();
    std::fs::write(dir.path().join("data/acme.tester/a.txt"), b"a").unwrap();
    let sink: Arc<dyn AuditSink> = Arc::new(FileSink::open(&log, durability).unwrap());
    let host = Host::builder()
        .data_root(dir.path().join("data"))
        .temp_root(dir.path().join("tmp"))
        .policy(Policy::new().allow(PLUGIN, read.clone()))
        .audit_sink(sink)
        .audit_failure(on_failure)
        .build()
        .unwrap();
    let kept = Arc::new(parking_lot::Mutex::new(None));
    host.add(manifest(vec![read]), Box::new(Keeper(Arc::clone(&kept))))
        .await
        .unwrap();
    let ctx = kept.lock().clone().unwrap();
    (host, ctx, log)
}

/// Makes the next commit of the log at `log` fail with an I/O error.
fn break_the_disk(log: &std::path::Path) {
    let tmp = log.with_file_name("audit.jsonl.head.tmp");
    std::fs::create_dir_all(tmp.join("occupied")).unwrap();
}

#[tokio::test]
async fn a_synchronous_log_that_cannot_be_written_denies_the_decision() {
    let dir = Scratch::new();
    let (host, ctx, log) = host_with_log(&dir, Durability::Sync, AuditFailure::Deny).await;
    assert_eq!(ctx.fs().read("a.txt").unwrap(), b"a");
    assert!(host.audit().health().is_healthy());

    break_the_disk(&log);
    let err = ctx.fs().read("a.txt").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    assert!(err.to_string().contains("audit record"), "{err}");
    assert!(!host.audit().health().is_healthy());
    assert!(host.audit().flush().is_err());
    // The sink stays failed: later decisions are denied too.
    assert_eq!(
        ctx.fs().read("a.txt").unwrap_err().kind(),
        ErrorKind::Denied
    );
}

#[tokio::test]
async fn a_group_commit_log_whose_writer_failed_denies_later_decisions() {
    let dir = Scratch::new();
    let (host, ctx, log) = host_with_log(&dir, Durability::GroupCommit, AuditFailure::Deny).await;
    assert_eq!(ctx.fs().read("a.txt").unwrap(), b"a");
    host.audit().flush().unwrap();

    break_the_disk(&log);
    // This decision is queued (within bounded memory) before the writer
    // finds out; the flush reports the failure.
    let _ = ctx.fs().read("a.txt");
    let flushed = host.audit().flush();
    assert!(flushed.is_err(), "{flushed:?}");
    assert!(host.audit().health().failure.is_some());
    let err = ctx.fs().read("a.txt").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
}

#[tokio::test]
async fn allow_and_alert_lets_decisions_stand() {
    let dir = Scratch::new();
    let (host, ctx, log) = host_with_log(&dir, Durability::Sync, AuditFailure::AllowAndAlert).await;
    break_the_disk(&log);
    assert_eq!(ctx.fs().read("a.txt").unwrap(), b"a");
    assert!(!host.audit().health().is_healthy());
}

#[test]
fn the_config_file_takes_audit_failure() {
    let config =
        sharelife_core::HostConfig::parse("audit_failure = \"allow-and-alert\"\n", None, &|_| None)
            .unwrap();
    assert_eq!(config.audit_failure, Some(AuditFailure::AllowAndAlert));
    let bad = sharelife_core::HostConfig::parse("audit_failure = \"ignore\"\n", None, &|_| None);
    assert!(bad.is_err());
}

#[test]
fn the_audit_log_is_complete_after_a_flush() {
    let dir = Scratch::new();
    let log = dir.path().join("a.jsonl");
    let sink = FileSink::open(&log, Durability::GroupCommit).unwrap();
    for i in 0..1000u32 {
        sink.try_record(sharelife_core::audit::AuditEvent {
            at: std::time::SystemTime::now(),
            plugin: "acme.tester".into(),
            version: "1.0.0".into(),
            what: sharelife_core::audit::What::Error {
                message: format!("event {i}"),
            },
        })
        .unwrap();
    }
    sink.flush().unwrap();
    assert_eq!(sharelife_core::audit::read_log(&log).unwrap().len(), 1000);
    assert_eq!(sink.health().pending, 0);
}
