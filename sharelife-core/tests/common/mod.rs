//! Helpers for the gateway tests: manifests, gated contexts, scratch dirs.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sharelife_core::audit::{AuditQuery, AuditRecord, MemorySink, Outcome};
use sharelife_core::capability::{Gateway, Policy};
use sharelife_core::manifest::{Capability, Manifest};
use sharelife_core::services::{Backends, GatedServices};
use sharelife_core::{ContextData, PluginContext};

pub(crate) const PLUGIN: &str = "acme.tester";

/// A manifest for `acme.tester` requesting `caps`.
pub(crate) fn manifest(caps: Vec<Capability>) -> Manifest {
    let mut m = Manifest::new(
        PLUGIN.parse().unwrap(),
        "1.2.3".parse().unwrap(),
        "^0.1".parse().unwrap(),
    );
    m.capabilities = caps;
    m
}

pub(crate) fn net(host: &str, ports: &[u16]) -> Capability {
    Capability::Network {
        host: host.into(),
        ports: ports.to_vec(),
    }
}

pub(crate) fn cmd(argv: &[&str]) -> Capability {
    Capability::Command {
        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
    }
}

pub(crate) fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// A fresh directory, removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sharelife-gw-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(std::fs::canonicalize(dir).unwrap())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A plugin context whose services go through a gateway compiled from
/// `manifest` and `policy`, auditing into the returned sink.
pub(crate) fn gated(
    manifest: &Manifest,
    policy: &Policy,
    data_dir: &Path,
    backends: Backends,
) -> (PluginContext, Arc<MemorySink>, Arc<Gateway>) {
    let gateway = Arc::new(Gateway::compile(manifest, policy, data_dir).expect("policy compiles"));
    let audit = Arc::new(MemorySink::new());
    std::fs::create_dir_all(data_dir.join("tmp")).expect("temp dir");
    let services = GatedServices::new(Arc::clone(&gateway), audit.clone(), data_dir, backends)
        .temp_dir(data_dir.join("tmp"));
    let ctx = PluginContext::new(
        ContextData {
            plugin_id: manifest.id.to_string(),
            config: serde_json::Value::Null,
            data_dir: data_dir.to_owned(),
            temp_dir: data_dir.join("tmp"),
        },
        Arc::new(services),
    );
    (ctx, audit, gateway)
}

/// The decisions recorded, as (outcome, rule) pairs.
pub(crate) fn decisions(audit: &MemorySink) -> Vec<(Outcome, String)> {
    audit
        .records()
        .into_iter()
        .filter(|r| r.event == "decision")
        .map(|r| (r.outcome, r.rule))
        .collect()
}

pub(crate) fn last(audit: &MemorySink) -> AuditRecord {
    audit.query(&AuditQuery::default()).pop().expect("a record")
}
