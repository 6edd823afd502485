//! A loaded plugin reaches files, the network, programs, providers and
//! MCP tools only through its context, across the library boundary; the
//! host's gateway decides and audits every use, and a denial arrives in
//! the plugin as a typed error.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;

use sharelife_core::audit::{AuditQuery, MemorySink, Outcome};
use sharelife_core::capability::{Gateway, Policy};
use sharelife_core::loader::PluginFile;
use sharelife_core::manifest::{Capability, FileAccess, ProviderAccess};
use sharelife_core::services::{
    Backends, GatedServices, InMemoryMcp, InMemoryProvider, definition_sha256,
};
use sharelife_core::{Buffer, ContextData, ErrorKind, Plugin, PluginContext, PluginError};
use sharelife_tests::Scratch;

const ID: &str = "examples.fetcher";

fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(20) {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let mut stream = stream;
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    port
}

struct Loaded {
    plugin: Box<dyn Plugin>,
    ctx: PluginContext,
    audit: Arc<MemorySink>,
    manifest: sharelife_core::manifest::Manifest,
    _library: sharelife_core::loader::OpenLibrary,
}

impl Loaded {
    async fn call(&self, handler: &str, input: &[u8]) -> Result<Vec<u8>, PluginError> {
        let id =
            sharelife_core::HandlerId::by_name(&self.manifest, handler).expect("handler exists");
        let mut out = Buffer::new();
        self.plugin
            .call_async(&self.ctx, id, input, &mut out)
            .await?;
        Ok(out.to_vec())
    }
}

async fn load(dir: &Scratch, port: u16) -> Loaded {
    let library = PluginFile::read(dir.copy_library("example-fetcher", "fetcher.so"))
        .unwrap()
        .open()
        .unwrap();
    let manifest = library.manifest().clone();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("notes")).unwrap();
    std::fs::write(data.join("notes/hello.txt"), "a note").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "top secret").unwrap();
    let policy = Policy::new()
        .allow(
            ID,
            Capability::File {
                access: FileAccess::Read,
                path: "notes/*.txt".into(),
            },
        )
        .allow(
            ID,
            Capability::Network {
                host: "127.0.0.1".into(),
                ports: vec![port],
            },
        )
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
        );
    let gateway = Arc::new(Gateway::compile(&manifest, &policy, &data).expect("policy compiles"));
    let audit = Arc::new(MemorySink::new());
    let mcp = InMemoryMcp::new();
    mcp.define("search", "search v1", b"3 results");
    let backends = Backends::new()
        .provider(
            "llm",
            Arc::new(InMemoryProvider::new(|_, q| [b"answer to ", q].concat())),
        )
        .mcp("web", Arc::new(mcp));
    std::fs::create_dir_all(data.join("tmp")).unwrap();
    let services =
        GatedServices::new(gateway, audit.clone(), &data, backends).temp_dir(data.join("tmp"));
    let ctx = PluginContext::new(
        ContextData {
            plugin_id: ID.into(),
            config: serde_json::Value::Null,
            data_dir: data.clone(),
            temp_dir: data.join("tmp"),
        },
        Arc::new(services),
    );
    let plugin = library.instantiate(&ctx).unwrap();
    plugin.initialize(&ctx).await.unwrap();
    Loaded {
        plugin,
        ctx,
        audit,
        manifest,
        _library: library,
    }
}

fn denied(r: Result<Vec<u8>, PluginError>) -> String {
    match r {
        Err(e) if e.kind() == ErrorKind::Denied => e.message().to_owned(),
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn allowed_uses_work_and_denied_ones_fail_typed_and_audited() {
    let dir = Scratch::new();
    let port = http_server();
    let p = load(&dir, port).await;

    assert_eq!(p.call("read", b"notes/hello.txt").await.unwrap(), b"a note");
    let why = denied(p.call("read", b"../secret.txt").await);
    assert!(why.contains("secret.txt"), "{why}");
    // Requested in the manifest, not granted by the policy.
    denied(
        p.call("write", br#"{"path":"notes/new.txt","text":"x"}"#)
            .await,
    );
    assert!(!dir.path().join("data/notes/new.txt").exists());

    let fetched = p
        .call("fetch", format!("http://127.0.0.1:{port}/").as_bytes())
        .await
        .unwrap();
    assert_eq!(fetched, br#"{"status":200,"body":"hello"}"#);
    denied(p.call("fetch", b"https://api.example.com/").await);

    let ran = p
        .call("run", br#"["echo","from","a","plugin"]"#)
        .await
        .unwrap();
    assert_eq!(ran, br#"{"status":0,"stdout":"from a plugin\n"}"#);
    denied(p.call("run", br#"["rm","-rf","/tmp/x"]"#).await);

    assert_eq!(p.call("ask", b"life").await.unwrap(), b"answer to life");
    assert_eq!(p.call("search", b"rust").await.unwrap(), b"3 results");

    let answer = p
        .call(
            "connect",
            format!(r#"{{"host":"127.0.0.1","port":{port},"send":"GET / HTTP/1.0\r\n\r\n"}}"#)
                .as_bytes(),
        )
        .await
        .unwrap();
    assert!(String::from_utf8(answer).unwrap().ends_with("hello"));

    let all = p.audit.query(&AuditQuery {
        plugin: Some(ID.into()),
        ..AuditQuery::default()
    });
    let denies = p.audit.query(&AuditQuery {
        outcome: Some(Outcome::Deny),
        ..AuditQuery::default()
    });
    assert_eq!(denies.len(), 4, "{denies:#?}");
    assert!(all.len() > denies.len());
    assert!(
        all.iter()
            .all(|r| r.plugin == ID && r.version == "1.0.0" && !r.rule.is_empty())
    );
    let rm = denies.iter().find(|r| r.request.contains("rm")).unwrap();
    assert_eq!(rm.rule, "default deny: requested but no allow rule matches");
}
