//! Every road to the network is metered, normalized and audited alike:
//! a byte budget covers raw streams (by refusing them), `connect()` reads
//! addresses as `http()` does, and requests refused before the gateway
//! are audited as denials.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;

use common::*;
use sharelife_core::ErrorKind;
use sharelife_core::audit::Outcome;
use sharelife_core::capability::{Limits, Policy};
use sharelife_core::services::{Backends, HttpRequest};

/// A server on 127.0.0.1 that echoes what it receives and counts bytes.
fn echo_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(20) {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                counter.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                let _ = stream.write_all(&buf[..n]);
            }
        }
    });
    (port, seen)
}

#[test]
fn a_raw_stream_is_refused_under_a_byte_budget_and_granted_without_one() {
    let (port, seen) = echo_server();
    let dir = Scratch::new();
    let m = manifest(vec![net("127.0.0.1", &[port])]);
    let budgeted = Policy::new().allow_limited(
        PLUGIN,
        net("127.0.0.1", &[port]),
        Limits {
            bytes: Some(16),
            ..Limits::default()
        },
    );
    let (ctx, audit, _) = gated(&m, &budgeted, dir.path(), Backends::new());
    let err = ctx.connect("127.0.0.1", port).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    assert!(err.to_string().contains("byte budget"), "{err}");
    let rec = last(&audit);
    assert_eq!(rec.outcome, Outcome::Deny);
    assert!(rec.rule.contains("byte budget"), "{rec:?}");
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0);

    // The same grant without a budget hands out a working stream.
    let plain = Policy::new().allow(PLUGIN, net("127.0.0.1", &[port]));
    let (ctx, _, _) = gated(&m, &plain, dir.path(), Backends::new());
    let mut stream = ctx.connect("127.0.0.1", port).unwrap();
    stream.write_all(b"ping").unwrap();
    let mut back = [0u8; 4];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping");
}

#[test]
fn connect_reads_other_spellings_of_an_address_as_that_address() {
    let (port, _) = echo_server();
    let dir = Scratch::new();
    let m = manifest(vec![net("127.0.0.1", &[port])]);
    let policy = Policy::new().allow(PLUGIN, net("127.0.0.1", &[port]));
    let (ctx, audit, _) = gated(&m, &policy, dir.path(), Backends::new());
    for spelling in [
        "0x7f.0.0.1",
        "2130706433",
        "127.1",
        "::ffff:127.0.0.1",
        "[::ffff:127.0.0.1]",
    ] {
        ctx.connect(spelling, port)
            .unwrap_or_else(|e| panic!("{spelling}: {e}"));
        let rec = last(&audit);
        assert_eq!(
            rec.request,
            format!("connect 127.0.0.1:{port}"),
            "{spelling}"
        );
        assert_eq!(rec.outcome, Outcome::Allow);
    }
}

#[test]
fn a_name_grant_does_not_reach_an_address_spelled_as_a_name() {
    let dir = Scratch::new();
    let m = manifest(vec![net("*.example.com", &[])]);
    let policy = Policy::new().allow(PLUGIN, net("*.example.com", &[]));
    let (ctx, audit, _) = gated(&m, &policy, dir.path(), Backends::new());
    for spelling in [
        "0x7f.0.0.1",
        "2130706433",
        "64:ff9b::7f00:1",
        "2002:7f00:1::1",
    ] {
        let err = ctx.connect(spelling, 80).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Denied, "{spelling}: {err}");
        let rec = last(&audit);
        assert_eq!(rec.outcome, Outcome::Deny, "{spelling}");
        assert!(
            rec.name_is_absent(),
            "{spelling}: decided as an address: {rec:?}"
        );
    }
}

trait NoName {
    fn name_is_absent(&self) -> bool;
}

impl NoName for sharelife_core::audit::AuditRecord {
    /// Address requests are recorded as `connect <ip>:<port>`.
    fn name_is_absent(&self) -> bool {
        !self.request.contains('(')
    }
}

#[tokio::test]
async fn refusals_before_the_gateway_are_audited() {
    let dir = Scratch::new();
    let m = manifest(vec![net("*.example.com", &[])]);
    let policy = Policy::new().allow(PLUGIN, net("*.example.com", &[]));
    let (ctx, audit, _) = gated(&m, &policy, dir.path(), Backends::new());

    let before = decisions(&audit).len();
    assert!(ctx.connect("ex\u{0430}mple.com", 443).is_err());
    assert!(
        ctx.http(HttpRequest::get("ftp://files.example.com/x"))
            .await
            .is_err()
    );
    assert!(ctx.http(HttpRequest::get("not a url")).await.is_err());
    assert!(
        ctx.http(HttpRequest::get("http://user:hunter2@api.example.com/"))
            .await
            .is_err()
    );
    assert!(ctx.fs().read("").is_err());
    assert!(ctx.fs().read("a\0b").is_err());
    assert!(
        ctx.run(sharelife_core::services::CommandRequest::new(
            Vec::<String>::new()
        ))
        .await
        .is_err()
    );
    let after = decisions(&audit);
    let new = &after[before..];
    assert_eq!(new.len(), 7, "{new:?}");
    for (outcome, rule) in new {
        assert_eq!(*outcome, Outcome::Deny);
        assert_eq!(rule, "malformed request");
    }
    let records = audit.records();
    assert!(records.iter().all(|r| !r.request.contains("hunter2")));
    assert!(
        records
            .iter()
            .any(|r| r.request.contains("ftp://files.example.com"))
    );
    assert!(
        records
            .iter()
            .any(|r| r.request.contains("api.example.com"))
    );
}
