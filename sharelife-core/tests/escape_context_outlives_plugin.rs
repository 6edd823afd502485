//! A context clone kept past its plugin's unload (a thread the plugin
//! started) is revoked: every later request is denied and audited as such.

mod common;

use std::sync::Arc;

use common::*;
use parking_lot::Mutex;
use sharelife_core::audit::{MemorySink, Outcome};
use sharelife_core::capability::Policy;
use sharelife_core::manifest::{Capability, FileAccess};
use sharelife_core::{ErrorKind, Host, Plugin, PluginContext, PluginError, async_trait};

/// Keeps a clone of its context, as a thread it started would.
struct Keeper(Arc<Mutex<Option<PluginContext>>>);

#[async_trait]
impl Plugin for Keeper {
    async fn initialize(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        *self.0.lock() = Some(ctx.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_context_kept_after_unload_is_denied_everything() {
    let dir = Scratch::new();
    std::fs::create_dir_all(dir.path().join("data/acme.tester")).unwrap();
    std::fs::write(dir.path().join("data/acme.tester/note.txt"), b"secret").unwrap();
    let read = Capability::File {
        access: FileAccess::Read,
        path: "*.txt".into(),
    };
    let audit = Arc::new(MemorySink::new());
    let host = Host::builder()
        .data_root(dir.path().join("data"))
        .temp_root(dir.path().join("tmp"))
        .policy(Policy::new().allow(PLUGIN, read.clone()))
        .audit_sink(audit.clone())
        .build()
        .unwrap();
    let kept = Arc::new(Mutex::new(None));
    host.add(manifest(vec![read]), Box::new(Keeper(Arc::clone(&kept))))
        .await
        .unwrap();
    host.start(PLUGIN).await.unwrap();
    let ctx = kept.lock().clone().expect("initialize kept the context");
    assert_eq!(ctx.fs().read("note.txt").unwrap(), b"secret");

    host.unload(PLUGIN).await.unwrap();

    // From another thread, as a plugin's worker would.
    let after = std::thread::spawn(move || ctx.fs().read("note.txt"))
        .join()
        .unwrap();
    let err = after.expect_err("a revoked context must be denied");
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    assert!(err.to_string().contains("revoked"), "{err}");
    let last = audit
        .records()
        .into_iter()
        .rev()
        .find(|r| r.event == "decision")
        .unwrap();
    assert_eq!(last.outcome, Outcome::Deny);
    assert!(last.rule.starts_with("revoked"), "{last:?}");
}

#[tokio::test]
async fn a_malformed_request_from_a_revoked_context_is_audited_as_revoked() {
    let dir = Scratch::new();
    let audit = Arc::new(MemorySink::new());
    let host = Host::builder()
        .data_root(dir.path().join("data"))
        .temp_root(dir.path().join("tmp"))
        .audit_sink(audit.clone())
        .build()
        .unwrap();
    let kept = Arc::new(Mutex::new(None));
    host.add(manifest(vec![]), Box::new(Keeper(Arc::clone(&kept))))
        .await
        .unwrap();
    let ctx = kept.lock().clone().unwrap();
    host.unload(PLUGIN).await.unwrap();
    let err = ctx.fs().read("").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    assert!(
        audit
            .records()
            .iter()
            .any(|r| r.rule.starts_with("revoked")),
        "{:?}",
        audit.records()
    );
}
