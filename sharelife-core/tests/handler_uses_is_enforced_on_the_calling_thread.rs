//! A handler that declares what it uses (`uses(file.read)`) is denied any
//! other class while it runs on the calling thread, even where the
//! plugin's grants would allow it; a handler that declares nothing is
//! decided by the grants alone.

mod common;

use std::sync::Arc;

use common::*;
use sharelife_core::audit::MemorySink;
use sharelife_core::capability::Policy;
use sharelife_core::manifest::{Capability, CapabilityClass, FileAccess, Handler};
use sharelife_core::{
    BoxFuture, Buffer, ErrorKind, HandlerId, Host, Plugin, PluginContext, PluginError, async_trait,
};

/// Handler 0 `read` (declares file.read), 1 `write` (declares file.read
/// only, but writes), 2 `anything` (declares nothing, writes), 3 `later`
/// (async, declares file.read, writes after an await).
struct Notes;

fn attempt_write(ctx: &PluginContext, out: &mut Buffer) -> Result<(), PluginError> {
    ctx.fs().write("notes/out.txt", b"x")?;
    out.extend_from_slice(b"written");
    Ok(())
}

#[async_trait]
impl Plugin for Notes {
    fn call(
        &self,
        ctx: &PluginContext,
        handler: HandlerId,
        _: &[u8],
        out: &mut Buffer,
    ) -> Result<(), PluginError> {
        match handler.index() {
            0 => {
                out.extend_from_slice(&ctx.fs().read("notes/a.txt")?);
                Ok(())
            }
            1 | 2 => attempt_write(ctx, out),
            _ => Err(PluginError::new("no such handler")),
        }
    }

    async fn call_async(
        &self,
        ctx: &PluginContext,
        handler: HandlerId,
        input: &[u8],
        out: &mut Buffer,
    ) -> Result<(), PluginError> {
        if handler.index() == 3 {
            let pause: BoxFuture<'static, ()> = ctx.sleep(std::time::Duration::from_millis(1));
            pause.await;
            return attempt_write(ctx, out);
        }
        self.call(ctx, handler, input, out)
    }
}

fn read() -> Capability {
    Capability::File {
        access: FileAccess::Read,
        path: "notes/*.txt".into(),
    }
}

fn write() -> Capability {
    Capability::File {
        access: FileAccess::Write,
        path: "notes/*.txt".into(),
    }
}

async fn host(dir: &Scratch) -> (Host, Arc<MemorySink>) {
    std::fs::create_dir_all(dir.path().join("data/acme.tester/notes")).unwrap();
    std::fs::write(dir.path().join("data/acme.tester/notes/a.txt"), b"hello").unwrap();
    let audit = Arc::new(MemorySink::new());
    let host = Host::builder()
        .data_root(dir.path().join("data"))
        .temp_root(dir.path().join("tmp"))
        .policy(Policy::new().allow(PLUGIN, read()).allow(PLUGIN, write()))
        .audit_sink(audit.clone())
        .build()
        .unwrap();
    let mut m = manifest(vec![read(), write()]);
    let declares_read = |name: &str, is_async: bool| {
        let mut h = Handler::new(name, is_async);
        h.uses = Some(vec![CapabilityClass::FileRead]);
        h
    };
    m.handlers = vec![
        declares_read("read", false),
        declares_read("write", false),
        Handler::new("anything", false),
        declares_read("later", true),
    ];
    host.add(m, Box::new(Notes)).await.unwrap();
    host.start(PLUGIN).await.unwrap();
    (host, audit)
}

#[tokio::test]
async fn a_declared_handler_is_denied_other_classes() {
    let dir = Scratch::new();
    let (host, audit) = host(&dir).await;

    assert_eq!(host.call(PLUGIN, "read", b"").unwrap().as_slice(), b"hello");

    let err = host.call(PLUGIN, "write", b"").unwrap_err().to_string();
    assert!(err.contains("undeclared"), "{err}");
    let last = last(&audit);
    assert_eq!(last.outcome, sharelife_core::audit::Outcome::Deny);
    assert!(last.rule.starts_with("undeclared"), "{last:?}");

    // Undeclared: the grants decide, and they allow the write.
    assert_eq!(
        host.call(PLUGIN, "anything", b"").unwrap().as_slice(),
        b"written"
    );

    // Async: each poll is marked, so the write after an await is caught.
    let handle = host.handle(PLUGIN).unwrap();
    let later = handle.handler("later").unwrap();
    let mut out = Buffer::new();
    let err = handle.call_async(later, b"", &mut out).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    assert!(err.to_string().contains("undeclared"), "{err}");
    // An async handler is refused on the sync call path, by name.
    assert_eq!(handle.is_async(later), Some(true));
    assert_eq!(
        handle.is_async(handle.handler("read").unwrap()),
        Some(false)
    );
    let err = handle.call(later, b"", &mut out).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AsyncHandler, "{err}");
    assert!(
        err.message()
            .contains(r#"handler "later" of "acme.tester" is async"#),
        "{err}"
    );

    // The mark does not outlive the call.
    assert_eq!(
        host.call(PLUGIN, "anything", b"").unwrap().as_slice(),
        b"written"
    );
    host.unload(PLUGIN).await.unwrap();
}
