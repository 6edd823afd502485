//! Helpers for the pipeline tests: a host with real plugin libraries
//! loaded and started, grants rooted in the scratch directory, and
//! pipeline files from text.

use std::sync::Arc;

use sharelife_core::audit::{AuditRecord, MemorySink};
use sharelife_core::capability::Policy;
use sharelife_core::pipeline::{Pipeline, PipelineError, PipelineFile};
use sharelife_core::{Host, HostBuilder};

use crate::Scratch;

/// Loads and starts crate `name`'s library (e.g. `example-upper`) in
/// `host`, from a private copy in `dir`.
///
/// # Panics
///
/// When it does not load or start.
pub async fn load(host: &Host, dir: &Scratch, name: &str) {
    let lib = dir.copy_library(name, &format!("{name}.so"));
    let id = host.load(&lib).await.expect("plugin loads");
    host.start(&id).await.expect("plugin starts");
}

/// A host (configured by `f`) with these crates' plugins loaded and
/// started.
pub async fn host_with(
    dir: &Scratch,
    crates: &[&str],
    f: impl FnOnce(HostBuilder) -> HostBuilder,
) -> Host {
    let host = dir.host_with(f);
    for name in crates {
        load(&host, dir, name).await;
    }
    host
}

/// A host granting `policy`, recording into a fresh memory sink (returned
/// too), with these crates' plugins loaded and started. Pipelines
/// compiled against it use exactly that policy and sink.
pub async fn host_granting(
    dir: &Scratch,
    crates: &[&str],
    policy: Policy,
) -> (Host, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::new());
    let recorder = Arc::clone(&sink);
    let host = host_with(dir, crates, move |b| b.policy(policy).audit_sink(recorder)).await;
    (host, sink)
}

/// The gateway decisions `sink` recorded (not lifecycle records).
pub fn decisions(sink: &MemorySink) -> Vec<AuditRecord> {
    sink.records()
        .into_iter()
        .filter(|r| r.event == "decision")
        .collect()
}

/// Reads YAML text named `test.yaml`.
///
/// # Panics
///
/// When it does not parse.
pub fn yaml(text: &str) -> PipelineFile {
    PipelineFile::from_yaml("test.yaml", text).unwrap_or_else(|e| panic!("{e}"))
}

/// Compiles YAML text against `host` (and so under its policy).
///
/// # Panics
///
/// When it does not compile.
pub fn compile(host: &Host, _dir: &Scratch, text: &str) -> Pipeline {
    Pipeline::compile(&yaml(text), host).unwrap_or_else(|e| panic!("{e}"))
}

/// The problems of a file that must not compile, as `line N: path: message`.
///
/// # Panics
///
/// When it compiles.
pub fn problems(result: Result<Pipeline, PipelineError>) -> Vec<String> {
    match result {
        Ok(p) => panic!("expected validation problems, got {p:?}"),
        Err(e) => e.problems().iter().map(ToString::to_string).collect(),
    }
}

/// How often each handler of `fixtures.steps` was called.
///
/// # Panics
///
/// When the fixture is not loaded.
pub fn calls(host: &Host) -> serde_json::Value {
    let out = host
        .call("fixtures.steps", "calls", b"")
        .expect("fixtures.steps is loaded");
    serde_json::from_slice(&out).expect("calls is JSON")
}
