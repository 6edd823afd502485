//! The hash-chained audit log: written with group commit or synchronously,
//! continued across restarts, queried, and verified against every kind of
//! tampering.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::Scratch;
use sharelife_core::audit::{
    AuditError, AuditEvent, AuditQuery, AuditSink, Durability, FileSink, Outcome, RecordedRequest,
    What, read_log, verify,
};
use sharelife_core::capability::{Decision, Kind, RuleRef};

fn event(plugin: &str, allowed: bool, at_secs: u64) -> AuditEvent {
    AuditEvent {
        at: SystemTime::UNIX_EPOCH + Duration::from_secs(at_secs),
        plugin: Arc::from(plugin),
        version: Arc::from("1.0.0"),
        what: What::Decision {
            request: RecordedRequest::Command {
                argv: vec!["git".into(), "status".into()],
            },
            decision: Decision {
                allowed,
                rule: if allowed {
                    RuleRef::Allow(0)
                } else {
                    RuleRef::NotRequested
                },
            },
        },
    }
}

fn write_log(path: &std::path::Path, n: u64, durability: Durability) {
    let sink = FileSink::open(path, durability).unwrap();
    for i in 0..n {
        sink.record(event(
            if i % 2 == 0 { "acme.a" } else { "acme.b" },
            i % 3 != 0,
            1_800_000_000 + i,
        ));
    }
    sink.flush().unwrap();
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn rewrite(path: &std::path::Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

fn tampered_at(path: &std::path::Path) -> (u64, String) {
    match verify(path) {
        Err(AuditError::Tampered { line, reason, .. }) => (line, reason),
        other => panic!("expected tampering to be detected, got {other:?}"),
    }
}

#[test]
fn group_commit_writes_a_chain_that_verifies_and_continues_after_reopening() {
    let dir = Scratch::new();
    let log = dir.path().join("audit.jsonl");
    write_log(&log, 500, Durability::GroupCommit);
    assert_eq!(verify(&log).unwrap().records, 500);
    write_log(&log, 10, Durability::Sync);
    let report = verify(&log).unwrap();
    assert_eq!(report.records, 510);
    let records = read_log(&log).unwrap();
    assert_eq!(records[509].seq, 510);
    assert_eq!(records[0].prev, "0".repeat(64));
    assert_eq!(records[0].request, r#"exec ["git", "status"]"#);
    assert_eq!(records[0].capability.as_deref(), Some("command"));
}

/// Whether the page of `file` at `offset` is in the page cache: a read
/// that may not wait for the disk (`RWF_NOWAIT`) succeeds only then.
#[cfg(target_os = "linux")]
fn cached(file: &std::fs::File, offset: u64) -> bool {
    let mut buf = [0_u8; 16];
    match rustix::io::preadv2(
        file,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        offset,
        rustix::io::ReadWriteFlags::NOWAIT,
    ) {
        Ok(n) => {
            assert!(n > 0, "a read at {offset} inside the file read nothing");
            true
        }
        Err(rustix::io::Errno::AGAIN) => false,
        Err(e) => panic!("preadv2 at {offset}: {e}"),
    }
}

#[cfg(target_os = "linux")]
#[test]
fn synced_pages_leave_the_page_cache_and_the_page_being_appended_to_stays() {
    // Under the target directory, on the disk the build uses: a tmpfs
    // (often `/tmp`) keeps its pages whatever it is told.
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("audit-pages-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let page = rustix::param::page_size() as u64;
    for durability in [Durability::GroupCommit, Durability::Sync] {
        let log = root.join(format!("{durability:?}.jsonl"));
        write_log(&log, 300, durability);
        let file = std::fs::File::open(&log).unwrap();
        let len = file.metadata().unwrap().len();
        assert!(len > 4 * page, "{len} bytes: too few pages to tell");
        let whole = len - len % page;
        for offset in (0..whole).step_by(page as usize) {
            assert!(
                !cached(&file, offset),
                "{durability:?}: the page at {offset} of {len} bytes is still cached after its sync"
            );
        }
        // The events are fixed, so is the log's length; it ends inside a page.
        assert!(whole < len, "{len} bytes: no partial last page to check");
        assert!(
            cached(&file, whole),
            "{durability:?}: the partial last page (at {whole} of {len} bytes) was dropped; the next append would read it back"
        );
        assert_eq!(verify(&log).unwrap().records, 300);
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn dropping_the_sink_flushes_everything() {
    let dir = Scratch::new();
    let log = dir.path().join("audit.jsonl");
    {
        let sink = FileSink::open(&log, Durability::GroupCommit).unwrap();
        for i in 0..1000 {
            sink.record(event("acme.a", true, i));
        }
    }
    assert_eq!(verify(&log).unwrap().records, 1000);
}

/// The record count the log's head anchor names.
fn anchored(log: &std::path::Path) -> u64 {
    let head = std::fs::read_to_string(log.with_file_name("audit.jsonl.head")).unwrap();
    head.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_flush_returns_once_its_records_are_anchored_while_other_threads_go_on() {
    // The writer formats while the syncer syncs: a flush must still wait
    // for the sync and the head anchor that cover every record handed to
    // the sink before it, with other threads recording all along.
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = Scratch::new();
    let log = dir.path().join("audit.jsonl");
    let sink = FileSink::open(&log, Durability::GroupCommit).unwrap();
    let recorded = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..3 {
            let (sink, recorded, log) = (&sink, &recorded, &log);
            s.spawn(move || {
                for i in 0..4000u64 {
                    sink.try_record(event("acme.a", true, t * 10_000 + i)).unwrap();
                    recorded.fetch_add(1, Ordering::SeqCst);
                    if i % 400 == 399 {
                        let before = recorded.load(Ordering::SeqCst);
                        sink.flush().unwrap();
                        let head = anchored(log);
                        assert!(
                            head >= before,
                            "the flush returned with the head anchor at {head}, before {before} records recorded ahead of it"
                        );
                    }
                }
            });
        }
    });
    sink.flush().unwrap();
    assert_eq!(anchored(&log), 12_000);
    assert_eq!(sink.health().pending, 0);
    drop(sink);
    assert_eq!(verify(&log).unwrap().records, 12_000);
}

#[test]
fn on_flush_holds_records_until_the_flush_and_continues_the_chain() {
    let dir = Scratch::new();
    let log = dir.path().join("audit.jsonl");
    write_log(&log, 3, Durability::Sync);
    let sink = FileSink::open(&log, Durability::OnFlush).unwrap();
    for i in 0..4 {
        sink.try_record(event("acme.a", true, 1_900_000_000 + i))
            .unwrap();
    }
    // Chained, not yet written: the file still holds the first three.
    assert_eq!(sink.health().pending, 4);
    assert_eq!(verify(&log).unwrap().records, 3);
    sink.flush().unwrap();
    assert_eq!(sink.health().pending, 0);
    assert_eq!(verify(&log).unwrap().records, 7);
    // A flush with nothing new changes nothing; dropping the sink makes
    // what came after the last flush durable.
    sink.flush().unwrap();
    sink.try_record(event("acme.b", false, 1_900_000_010))
        .unwrap();
    drop(sink);
    let records = read_log(&log).unwrap();
    assert_eq!(records.len(), 8);
    assert_eq!(records[7].seq, 8);
    assert_eq!(records[7].plugin, "acme.b");
}

#[test]
fn an_edited_record_is_detected() {
    let dir = Scratch::new();
    let log = dir.path().join("audit.jsonl");
    write_log(&log, 20, Durability::Sync);
    let mut l = lines(&log);
    l[6] = l[6].replace(r#""outcome":"deny""#, r#""outcome":"allow""#);
    rewrite(&log, &l);
    let (line, reason) = tampered_at(&log);
    assert_eq!(
        line, 8,
        "the record after the edited one no longer links: {reason}"
    );
}

#[test]
fn an_edited_last_record_is_caught_by_the_head_anchor() {
    let dir = Scratch::new();
    let log = dir.path().join("audit.jsonl");
    write_log(&log, 5, Durability::Sync);
    let mut l = lines(&log);
    l[4] = l[4].replace("acme.a", "acme.z");
    rewrite(&log, &l);
    let (line, reason) = tampered_at(&log);
    assert_eq!(line, 5);
    assert!(reason.contains("head anchor"), "{reason}");
}

#[test]
fn a_deleted_record_is_detected() {
    let dir = Scratch::new();
    let log = dir.path().join("audit.jsonl");
    write_log(&log, 20, Durability::Sync);
    let mut l = lines(&log);
    l.remove(3);
    rewrite(&log, &l);
    assert_eq!(tampered_at(&log).0, 4);
}

#[test]
fn reordered_records_are_detected() {
    let dir = Scratch::new();
    let log = dir.path().join("audit.jsonl");
    write_log(&log, 20, Durability::Sync);
    let mut l = lines(&log);
    l.swap(10, 11);
    rewrite(&log, &l);
    assert_eq!(tampered_at(&log).0, 11);
}

#[test]
fn a_truncated_log_is_detected() {
    let dir = Scratch::new();
    let log = dir.path().join("audit.jsonl");
    write_log(&log, 20, Durability::Sync);
    let l = lines(&log);
    rewrite(&log, &l[..15]);
    let (_, reason) = tampered_at(&log);
    assert!(reason.contains("records were cut off the end"), "{reason}");
    // Cut in the middle of a record.
    let bytes = std::fs::read(&log).unwrap();
    std::fs::write(&log, &bytes[..bytes.len() - 7]).unwrap();
    let (_, reason) = tampered_at(&log);
    assert!(reason.contains("incomplete"), "{reason}");
    // A tampered log cannot be appended to.
    assert!(matches!(
        FileSink::open(&log, Durability::Sync),
        Err(AuditError::Tampered { .. })
    ));
}

#[test]
fn records_are_queried_by_plugin_capability_outcome_and_time() {
    let dir = Scratch::new();
    let log = dir.path().join("audit.jsonl");
    write_log(&log, 12, Durability::Sync);
    let records = read_log(&log).unwrap();
    let q = |query: AuditQuery| records.iter().filter(|r| query.matches(r)).count();
    assert_eq!(q(AuditQuery::default()), 12);
    assert_eq!(
        q(AuditQuery {
            plugin: Some("acme.a".into()),
            ..Default::default()
        }),
        6
    );
    assert_eq!(
        q(AuditQuery {
            outcome: Some(Outcome::Deny),
            ..Default::default()
        }),
        4
    );
    assert_eq!(
        q(AuditQuery {
            capability: Some(Kind::Command),
            ..Default::default()
        }),
        12
    );
    assert_eq!(
        q(AuditQuery {
            capability: Some(Kind::Network),
            ..Default::default()
        }),
        0
    );
    let since = records[4].time.clone();
    let until = records[8].time.clone();
    assert_eq!(
        q(AuditQuery {
            since: Some(since),
            until: Some(until),
            ..Default::default()
        }),
        4
    );
}
