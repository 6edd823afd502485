//! The host's gateway is a sandboxed plugin's broker (issue 15,
//! requirement 2): in its restricted child the escape fixture reads a
//! granted file through `ctx.fs()` and fetches from a real HTTP server on
//! 127.0.0.1 through `ctx.http()`; the host's policy decides and its audit
//! log (a real file, hash-chained) has an ALLOW record for each, and a
//! DENY record for each ungranted path or host, which comes back to the
//! plugin as a `Denied` error. Reading the same granted file by hand still
//! fails in the child: the gateway is the only road. Outside a host every
//! request is denied (answered, never hung); the plugin's logs reach the
//! host's `tracing` subscriber; its timer works in the child. A
//! `ctx.connect()` is decided and opened by the host and the connected
//! socket passed to the child (`SCM_RIGHTS`), which can use it though it
//! could not have opened it. Programs, providers, MCP tools and
//! publishing go the same road, and events reach its `handle_event`; its
//! context in the child has the host's config for it.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use sharelife_core::audit::{Outcome, read_log, verify};
use sharelife_core::capability::Policy;
use sharelife_core::manifest::{Capability, FileAccess};
use sharelife_core::{ErrorKind, Host, HostError};
use sharelife_sandbox::{Feature, SandboxError};
use support::{InProcess, add_sandboxed, kernel_gives, limits, sandboxed};

const BOTH: [Feature; 2] = [Feature::Landlock, Feature::Seccomp];
const ID: &str = "fixture.escape";

/// An HTTP server on 127.0.0.1 answering every request with `hello`;
/// its port.
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    port
}

/// A host whose policy grants the fixture `granted/note*.txt` for reading
/// and 127.0.0.1 on `port` (less than its manifest requests:
/// `granted/*.txt`, 127.0.0.1 on any port), auditing to `log`.
fn host_with_policy(dirs: &Path, port: u16, log: &Path) -> Host {
    let policy = Policy::new()
        .allow(
            ID,
            Capability::File {
                access: FileAccess::Read,
                path: "granted/note*.txt".into(),
            },
        )
        .allow(
            ID,
            Capability::Network {
                host: "127.0.0.1".into(),
                ports: vec![port],
            },
        );
    Host::builder()
        .data_root(dirs.join("data"))
        .temp_root(dirs.join("tmp"))
        .policy(policy)
        .audit_log(log)
        .build()
        .expect("a host")
}

fn denied(result: Result<sharelife_core::Buffer, HostError>) -> String {
    match result {
        Err(HostError::Call { error, .. }) => {
            assert_eq!(error.kind(), ErrorKind::Denied, "{error}");
            error.message().to_owned()
        }
        Err(other) => panic!("expected a denial, got {other}"),
        Ok(out) => panic!("expected a denial, got {:?}", String::from_utf8_lossy(&out)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandboxed_plugin_reads_and_fetches_through_the_hosts_gateway() {
    if !kernel_gives(
        "a_sandboxed_plugin_reads_and_fetches_through_the_hosts_gateway",
        &BOTH,
    ) {
        return;
    }
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let port = http_server();
    let other_port = http_server();
    let log = dirs.path().join("audit.jsonl");
    let host = host_with_policy(dirs.path(), port, &log);
    let data = dirs.path().join("data").join(ID);
    std::fs::create_dir_all(data.join("granted")).expect("the granted folder");
    std::fs::write(data.join("granted/note.txt"), "a granted note").expect("the note");
    // What its `initialize` reads: before it is added.
    std::fs::write(data.join("granted/note-at-start.txt"), "read at start").expect("a note");
    std::fs::write(data.join("granted/other.txt"), "not granted").expect("another note");
    std::fs::write(data.join("secret.txt"), "not requested").expect("the secret");
    let id = add_sandboxed(&host, &limits()).await;
    assert_eq!(id, ID);

    // Its `initialize` ran in the child with the host's context.
    let at_start = host.call(ID, "at_start", b"").expect("answers");
    assert_eq!(String::from_utf8_lossy(&at_start), "ok: read at start");

    // The granted roads, a sync handler and an async one.
    let note = host
        .call(ID, "gateway_read", b"granted/note.txt")
        .expect("the granted file is read through the gateway");
    assert_eq!(note.as_slice(), b"a granted note");
    let page = host
        .call_async(
            ID,
            "gateway_fetch",
            format!("http://127.0.0.1:{port}/page").as_bytes(),
        )
        .await
        .expect("the local page is fetched through the gateway");
    assert_eq!(page.as_slice(), b"hello");

    // Requested by the manifest, not granted by the policy: another
    // file, another port.
    let refusal = denied(host.call(ID, "gateway_read", b"granted/other.txt"));
    println!("an ungranted file: {refusal}");
    let refusal = denied(
        host.call_async(
            ID,
            "gateway_fetch",
            format!("http://127.0.0.1:{other_port}/page").as_bytes(),
        )
        .await,
    );
    println!("an ungranted port: {refusal}");
    // Not even requested: another path, another host.
    let refusal = denied(host.call(ID, "gateway_read", b"secret.txt"));
    println!("another path: {refusal}");
    let refusal = denied(
        host.call_async(
            ID,
            "gateway_fetch",
            format!("http://127.0.0.2:{port}/page").as_bytes(),
        )
        .await,
    );
    println!("another host: {refusal}");

    // The same file by hand, around the gateway: the walls stop it.
    let granted = data.join("granted/note.txt");
    let granted = granted.to_str().expect("a UTF-8 path").as_bytes();
    let raw = host.call(ID, "raw_read", granted).expect("answers");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    println!("raw read in the sandbox: {raw}");
    assert!(raw.starts_with("denied: "), "{raw}");
    // In process the same attempt works: the fixture is not broken.
    // (Its own runtime, so on a thread of its own.)
    let path = granted.to_vec();
    let outside = std::thread::spawn(move || InProcess::load().call("raw_read", &path))
        .join()
        .expect("the in-process call answers");
    assert_eq!(outside, "ok: a granted note");

    // The child is still serving after all of it.
    assert_eq!(host.call(ID, "noop", b"").expect("serving").as_slice(), b"");
    host.shutdown().await;

    let report = verify(&log).expect("the audit log's chain holds");
    println!("audit log: {report:?}");
    let decisions: Vec<(Outcome, String, String)> = read_log(&log)
        .expect("the audit log reads")
        .into_iter()
        .filter(|r| r.plugin == ID && r.event == "decision")
        .map(|r| (r.outcome, r.capability.unwrap_or_default(), r.request))
        .collect();
    for d in &decisions {
        println!("{d:?}");
    }
    let has = |outcome: Outcome, capability: &str, needle: &str| {
        decisions
            .iter()
            .any(|(o, c, r)| *o == outcome && c == capability && r.contains(needle))
    };
    assert!(
        has(Outcome::Allow, "file", "granted/note.txt"),
        "{decisions:?}"
    );
    assert!(
        has(Outcome::Allow, "file", "granted/note-at-start.txt"),
        "{decisions:?}"
    );
    assert!(has(Outcome::Allow, "network", "127.0.0.1"), "{decisions:?}");
    assert!(
        has(Outcome::Deny, "file", "granted/other.txt"),
        "{decisions:?}"
    );
    assert!(
        has(Outcome::Deny, "network", &format!("127.0.0.1:{other_port}")),
        "{decisions:?}"
    );
    assert!(has(Outcome::Deny, "file", "secret.txt"), "{decisions:?}");
    assert!(has(Outcome::Deny, "network", "127.0.0.2"), "{decisions:?}");
    // The raw read never reached the gateway: nothing recorded for it
    // beyond the one granted read.
    assert_eq!(
        decisions
            .iter()
            .filter(|(_, c, r)| c == "file" && r.contains("granted/note.txt"))
            .count(),
        1,
        "{decisions:?}"
    );
}

#[test]
fn without_a_host_every_service_request_is_denied_not_hung() {
    if !kernel_gives(
        "without_a_host_every_service_request_is_denied_not_hung",
        &BOTH,
    ) {
        return;
    }
    // `Sandboxed::call` has no broker: the request is answered, denied.
    let sandbox = sandboxed(&limits());
    match sandbox.call("gateway_read", b"granted/note.txt") {
        Err(SandboxError::Handler(e)) => assert_eq!(e.kind(), ErrorKind::Denied, "{e}"),
        other => panic!("expected a denial, got {other:?}"),
    }
    match sandbox.call("gateway_fetch", b"http://127.0.0.1:1/") {
        Err(SandboxError::Handler(e)) => assert_eq!(e.kind(), ErrorKind::Denied, "{e}"),
        other => panic!("expected a denial, got {other:?}"),
    }
    assert_eq!(sandbox.call("noop", b"").expect("still serving"), b"");
    // Its `initialize` ran too, its request denied.
    let at_start = String::from_utf8(sandbox.call("at_start", b"").expect("answers")).unwrap();
    assert!(at_start.starts_with("denied: "), "{at_start}");
}

/// The `sharelife::plugin` records this process's `tracing` saw, as
/// `plugin=… message`.
static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Keeps the plugin records' fields.
struct Capture;

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "sharelife::plugin" {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            SEEN.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(fields.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugins_logs_reach_the_hosts_subscriber() {
    if !kernel_gives("the_plugins_logs_reach_the_hosts_subscriber", &BOTH) {
        return;
    }
    // Global: the host answers on its runtime's and blocking pool's threads.
    tracing::subscriber::set_global_default(Capture).expect("the only subscriber");
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let log = dirs.path().join("audit.jsonl");
    let host = host_with_policy(dirs.path(), 1, &log);
    add_sandboxed(&host, &limits()).await;
    let _ = host.call(ID, "gateway_read", b"granted/missing.txt");
    host.shutdown().await;
    let seen = SEEN.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!("{seen:?}");
    assert!(
        seen.iter().any(|r| r.contains("plugin=\"fixture.escape\"")
            && r.contains("reading granted/missing.txt through the gateway")),
        "{seen:?}"
    );
}

#[test]
fn timers_stay_in_the_child() {
    if !kernel_gives("timers_stay_in_the_child", &BOTH) {
        return;
    }
    let sandbox = sandboxed(&limits());
    assert_eq!(sandbox.call("nap", b"").expect("it wakes up"), b"rested");
}

/// A TCP server on 127.0.0.1 answering `pong` to each connection after
/// reading 4 bytes, then closing it; its port.
fn pong_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut ping = [0_u8; 4];
            if std::io::Read::read_exact(&mut stream, &mut ping).is_ok() && &ping == b"ping" {
                let _ = stream.write_all(b"pong");
            }
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_gateway_opens_is_passed_to_the_child() {
    if !kernel_gives(
        "a_connection_the_gateway_opens_is_passed_to_the_child",
        &BOTH,
    ) {
        return;
    }
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let port = pong_server();
    let other_port = pong_server();
    let log = dirs.path().join("audit.jsonl");
    let host = host_with_policy(dirs.path(), port, &log);
    add_sandboxed(&host, &limits()).await;

    let address = format!("127.0.0.1:{port}");
    let answer = host
        .call(ID, "gateway_connect", address.as_bytes())
        .expect("the gateway connects and the child talks over the socket");
    assert_eq!(answer.as_slice(), b"pong");
    // Twice: a passed socket is the child's to close, and it has room.
    let answer = host
        .call(ID, "gateway_connect", address.as_bytes())
        .expect("again");
    assert_eq!(answer.as_slice(), b"pong");
    let refusal = denied(host.call(
        ID,
        "gateway_connect",
        format!("127.0.0.1:{other_port}").as_bytes(),
    ));
    println!("an ungranted port: {refusal}");
    // The child still cannot dial by itself, even where the gateway may.
    let raw = host
        .call(ID, "connect", address.as_bytes())
        .expect("answers");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    println!("raw connect in the sandbox: {raw}");
    assert!(raw.starts_with("denied: "), "{raw}");
    // Only stdin/out/err, the socket's duplicate: no passed socket lingers.
    let open = host.call(ID, "open_fds", b"").expect("answers");
    assert_eq!(String::from_utf8_lossy(&open), "0 1 2 3");
    host.shutdown().await;

    verify(&log).expect("the audit log's chain holds");
    let connects: Vec<(Outcome, String)> = read_log(&log)
        .expect("the audit log reads")
        .into_iter()
        .filter(|r| r.plugin == ID && r.capability.as_deref() == Some("network"))
        .map(|r| (r.outcome, r.request))
        .collect();
    println!("{connects:?}");
    assert_eq!(
        connects,
        [
            (Outcome::Allow, format!("connect 127.0.0.1:{port}")),
            (Outcome::Allow, format!("connect 127.0.0.1:{port}")),
            (Outcome::Deny, format!("connect 127.0.0.1:{other_port}")),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programs_providers_tools_and_events_go_through_the_gateway_too() {
    use sharelife_core::event::Topic;
    use sharelife_core::manifest::ProviderAccess;
    use sharelife_core::services::{InMemoryMcp, InMemoryProvider, definition_sha256};

    if !kernel_gives(
        "programs_providers_tools_and_events_go_through_the_gateway_too",
        &BOTH,
    ) {
        return;
    }
    let dirs = tempfile::tempdir().expect("a scratch directory");
    let log = dirs.path().join("audit.jsonl");
    let policy = Policy::new()
        .allow(
            ID,
            Capability::Command {
                argv: vec!["echo".into()],
            },
        )
        .allow(
            ID,
            Capability::Provider {
                name: "llm".into(),
                access: ProviderAccess::Read,
            },
        )
        .allow(
            ID,
            Capability::Mcp {
                server: "web".into(),
                tool: "search".into(),
                sha256: Some(definition_sha256("search v1")),
            },
        )
        .allow(
            ID,
            Capability::Event {
                topic: "fixture.escape.note".into(),
            },
        );
    let mcp = InMemoryMcp::new();
    mcp.define("search", "search v1", b"3 results");
    let host = Host::builder()
        .data_root(dirs.path().join("data"))
        .temp_root(dirs.path().join("tmp"))
        .policy(policy)
        .audit_log(&log)
        .provider(
            "llm",
            std::sync::Arc::new(InMemoryProvider::new(|_, q| [b"answer to ", q].concat())),
        )
        .mcp("web", std::sync::Arc::new(mcp))
        .build()
        .expect("a host");
    add_sandboxed(&host, &limits()).await;
    let note: Topic<String> = Topic::new("fixture.escape.note");
    let mut notes = host.events().listen(&note).expect("a listener");

    let out = host
        .call_async(ID, "gateway_run", b"hi")
        .await
        .expect("echo runs on the host");
    assert_eq!(out.as_slice(), b"hi\n");
    let out = host
        .call(ID, "gateway_provider", b"why")
        .expect("the provider answers");
    assert_eq!(out.as_slice(), b"answer to why");
    let out = host
        .call(ID, "gateway_mcp", b"{}")
        .expect("the tool answers");
    assert_eq!(out.as_slice(), b"3 results");
    host.call(ID, "gateway_publish", b"fixture.escape.note")
        .expect("a granted topic");
    // Published before the call returned: already queued.
    let got = notes.try_recv().expect("the event is there");
    assert_eq!(got.expect("it decodes"), "hello");
    let refusal = denied(host.call(ID, "gateway_publish", b"fixture.escape.other"));
    println!("an ungranted topic: {refusal}");
    // An event it subscribed to reaches its `handle_event` in the child,
    // which publishes it again through the gateway. (The wait is bounded
    // by the call timeout only so that a failure cannot hang the test.)
    host.events()
        .publish_bytes("fixture.escape.in", b"\"relayed\"")
        .expect("published");
    let relayed = tokio::time::timeout(limits().call_timeout.expect("set"), notes.recv())
        .await
        .expect("the relayed event arrives")
        .expect("the listener is open");
    assert_eq!(relayed.expect("it decodes"), "relayed");
    host.shutdown().await;

    verify(&log).expect("the audit log's chain holds");
    let decisions: Vec<(Outcome, String)> = read_log(&log)
        .expect("the audit log reads")
        .into_iter()
        // (Not the file its `initialize` reads: no file is granted here.)
        .filter(|r| {
            r.plugin == ID && r.event == "decision" && r.capability.as_deref() != Some("file")
        })
        .map(|r| (r.outcome, r.request))
        .collect();
    for d in &decisions {
        println!("{d:?}");
    }
    assert_eq!(decisions.len(), 6, "{decisions:?}");
    assert_eq!(
        decisions.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
        [
            Outcome::Allow,
            Outcome::Allow,
            Outcome::Allow,
            Outcome::Allow,
            Outcome::Deny,
            Outcome::Allow,
        ],
        "{decisions:?}"
    );
    assert!(
        decisions[4].1.contains("fixture.escape.other"),
        "{decisions:?}"
    );
    assert!(
        decisions[5].1.contains("fixture.escape.note"),
        "{decisions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_child_has_the_hosts_config_for_the_plugin() {
    if !kernel_gives("the_child_has_the_hosts_config_for_the_plugin", &BOTH) {
        return;
    }
    let (host, _dirs) =
        support::host(|b| b.plugin_config(ID, serde_json::json!({ "greeting": "hello" })));
    add_sandboxed(&host, &limits()).await;
    let config = host.call(ID, "config", b"").expect("answers");
    assert_eq!(
        String::from_utf8_lossy(&config),
        r#"{"greeting":"hello"} true"#
    );
    host.shutdown().await;
    // Outside a host there is none.
    let sandbox = sandboxed(&limits());
    let config = sandbox.call("config", b"").expect("answers");
    assert_eq!(String::from_utf8_lossy(&config), "null false");
}
