//! Network access through the gateway against a real HTTP server bound to
//! 127.0.0.1 inside the test.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use sharelife_core::ErrorKind;
use sharelife_core::capability::Policy;
use sharelife_core::services::{Backends, HttpRequest};

/// A tiny HTTP/1.1 server on 127.0.0.1: `/hello` answers 200 "hi",
/// `/redirect` answers 302 to elsewhere, anything else 404. Counts requests.
struct Server {
    port: u16,
    hits: Arc<AtomicUsize>,
}

fn server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(100) {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() <= 2 {
                    break;
                }
            }
            let response = match path.as_str() {
                "/hello" => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi".to_owned(),
                "/redirect" => "HTTP/1.1 302 Found\r\nLocation: http://93.184.216.34/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
                "/echo" => "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\necho".to_owned(),
                _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned(),
            };
            let mut stream = stream;
            let _ = stream.write_all(response.as_bytes());
        }
    });
    Server { port, hits }
}

fn loopback_ctx(
    dir: &Scratch,
    port: u16,
) -> (
    sharelife_core::PluginContext,
    Arc<sharelife_core::audit::MemorySink>,
) {
    let m = manifest(vec![
        net("127.0.0.1", &[port]),
        net("localhost", &[port]),
        net("example.com", &[]),
    ]);
    let policy = Policy::new()
        .allow(PLUGIN, net("127.0.0.1", &[port]))
        .allow(PLUGIN, net("localhost", &[port]))
        .allow(PLUGIN, net("example.com", &[]));
    let (ctx, audit, _) = gated(&m, &policy, dir.path(), Backends::new());
    (ctx, audit)
}

fn denied<T: std::fmt::Debug>(r: Result<T, sharelife_core::PluginError>) -> String {
    match r {
        Err(e) if e.kind() == ErrorKind::Denied => e.message().to_owned(),
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn an_allowed_request_reaches_the_server_and_is_audited() {
    let srv = server();
    let dir = Scratch::new();
    let (ctx, audit) = loopback_ctx(&dir, srv.port);
    let resp = ctx
        .http(HttpRequest::get(format!(
            "http://127.0.0.1:{}/hello",
            srv.port
        )))
        .await
        .unwrap();
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"hi"[..]));
    let rec = last(&audit);
    assert_eq!(rec.outcome, sharelife_core::audit::Outcome::Allow);
    assert_eq!(rec.request, format!("connect 127.0.0.1:{}", srv.port));
    assert_eq!(rec.rule, "policy.rules[0] (allow)");
    assert_eq!(
        (rec.plugin.as_str(), rec.version.as_str()),
        (PLUGIN, "1.2.3")
    );
}

#[tokio::test]
async fn another_port_is_denied_and_never_contacted() {
    let srv = server();
    let other = server();
    let dir = Scratch::new();
    let (ctx, _) = loopback_ctx(&dir, srv.port);
    denied(
        ctx.http(HttpRequest::get(format!(
            "http://127.0.0.1:{}/hello",
            other.port
        )))
        .await,
    );
    assert_eq!(other.hits.load(Ordering::SeqCst), 0);
}

/// A plugin granted names only, no addresses.
fn names_only_ctx(
    dir: &Scratch,
    port: u16,
) -> (
    sharelife_core::PluginContext,
    Arc<sharelife_core::audit::MemorySink>,
) {
    let m = manifest(vec![net("localhost", &[port]), net("*.example.com", &[])]);
    let policy = Policy::new()
        .allow(PLUGIN, net("localhost", &[port]))
        .allow(PLUGIN, net("*.example.com", &[]));
    let (ctx, audit, _) = gated(&m, &policy, dir.path(), Backends::new());
    (ctx, audit)
}

#[tokio::test]
async fn a_name_with_an_address_grant_reaches_that_address() {
    let srv = server();
    let dir = Scratch::new();
    let (ctx, _) = loopback_ctx(&dir, srv.port);
    let resp = ctx
        .http(HttpRequest::get(format!(
            "http://localhost:{}/hello",
            srv.port
        )))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn a_granted_name_cannot_be_pointed_at_a_loopback_address() {
    let srv = server();
    let dir = Scratch::new();
    let (ctx, audit) = names_only_ctx(&dir, srv.port);
    // `localhost` is granted by name, but resolves to a loopback address,
    // which a name grant never covers.
    let why = denied(
        ctx.http(HttpRequest::get(format!(
            "http://localhost:{}/hello",
            srv.port
        )))
        .await,
    );
    assert!(
        why.contains("name grant does not cover internal address"),
        "{why}"
    );
    assert_eq!(srv.hits.load(Ordering::SeqCst), 0);
    // The name itself is granted (decided before any DNS query); every
    // address it resolved to was denied.
    let records = audit.records();
    let (name_level, per_address) = records.split_first().unwrap();
    assert_eq!(
        name_level.request,
        format!("connect localhost:{}", srv.port)
    );
    assert_eq!(name_level.outcome, sharelife_core::audit::Outcome::Allow);
    assert!(!per_address.is_empty());
    for r in per_address {
        assert_eq!(r.outcome, sharelife_core::audit::Outcome::Deny, "{r:?}");
        assert!(
            r.request
                .starts_with(&format!("connect localhost:{} (", srv.port)),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn other_spellings_of_a_denied_address_are_the_same_address() {
    let srv = server();
    let dir = Scratch::new();
    // Only 127.0.0.2 is granted; every spelling of 127.0.0.1 is denied.
    let m = manifest(vec![net("127.0.0.2", &[])]);
    let (ctx, _, _) = gated(
        &m,
        &Policy::new().allow(PLUGIN, net("127.0.0.2", &[])),
        dir.path(),
        Backends::new(),
    );
    for host in [
        "127.0.0.1",
        "2130706433",
        "0x7f.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "017700000001",
    ] {
        let url = format!("http://{host}:{}/hello", srv.port);
        denied(ctx.http(HttpRequest::get(url)).await);
    }
    assert_eq!(srv.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn look_alike_and_suffix_trick_names_are_denied() {
    let dir = Scratch::new();
    let (ctx, _) = loopback_ctx(&dir, 1);
    for url in [
        "http://ex\u{0430}mple.com/",
        "http://example.com.evil.net/",
        "http://evilexample.com/",
        "http://www.example.com/",
    ] {
        denied(ctx.http(HttpRequest::get(url)).await);
    }
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let srv = server();
    let dir = Scratch::new();
    let (ctx, _) = loopback_ctx(&dir, srv.port);
    let resp = ctx
        .http(HttpRequest::get(format!(
            "http://127.0.0.1:{}/redirect",
            srv.port
        )))
        .await
        .unwrap();
    assert_eq!(resp.status, 302);
    assert!(
        resp.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("location") && v == "http://93.184.216.34/")
    );
}

#[tokio::test]
async fn raw_tcp_connections_are_checked_too() {
    let srv = server();
    let dir = Scratch::new();
    let (ctx, _) = loopback_ctx(&dir, srv.port);
    let mut stream = ctx.connect("127.0.0.1", srv.port).unwrap();
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("echo"),
        "{text}"
    );
    denied(ctx.connect("127.0.0.1", srv.port.wrapping_add(1)));
    let (names_only, _) = names_only_ctx(&dir, srv.port);
    denied(names_only.connect("localhost", srv.port));
}
