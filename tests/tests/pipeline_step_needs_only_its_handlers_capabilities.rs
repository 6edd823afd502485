//! Least privilege per step: a handler that declares what it uses
//! (`#[handler(uses(file.read))]`, recorded in the manifest) needs only
//! that from a pipeline, while the plugin's request stays the union.

use std::sync::Arc;

use sharelife_core::audit::MemorySink;
use sharelife_core::capability::Policy;
use sharelife_core::manifest::{Capability, CapabilityClass, FileAccess, Handler, Manifest};
use sharelife_core::pipeline::{Pipeline, RunStatus};
use sharelife_core::{Buffer, HandlerId, Plugin, PluginContext, PluginError};
use sharelife_tests::Scratch;
use sharelife_tests::pipelines::{problems, yaml};

const ID: &str = "acme.notes";

struct Notes;

impl Plugin for Notes {
    fn call(
        &self,
        _: &PluginContext,
        _: HandlerId,
        input: &[u8],
        out: &mut Buffer,
    ) -> Result<(), PluginError> {
        out.extend_from_slice(input);
        Ok(())
    }
}

fn read_notes() -> Capability {
    Capability::File {
        access: FileAccess::Read,
        path: "notes/*.txt".into(),
    }
}

fn fetch_api() -> Capability {
    Capability::Network {
        host: "api.example.com".into(),
        ports: vec![443],
    }
}

fn manifest() -> Manifest {
    let mut m = Manifest::new(
        ID.parse().unwrap(),
        "1.0.0".parse().unwrap(),
        "^0.1".parse().unwrap(),
    );
    m.capabilities = vec![read_notes(), fetch_api()];
    let mut read = Handler::new("read", false);
    read.uses = Some(vec![CapabilityClass::FileRead]);
    m.handlers = vec![read, Handler::new("fetch", false)];
    m
}

async fn host(dir: &Scratch) -> (sharelife_core::Host, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::new());
    let recorder = Arc::clone(&sink);
    let host = dir.host_with(|b| {
        b.policy(Policy::new().allow(ID, read_notes()).allow(ID, fetch_api()))
            .audit_sink(recorder)
    });
    host.add(manifest(), Box::new(Notes)).await.unwrap();
    host.start(ID).await.unwrap();
    (host, sink)
}

fn pipeline(handler: &str) -> String {
    format!(
        "schema_version: sharelife.pipeline.v1\nplugins:\n  - {{ alias: notes, plugin: {ID}, capabilities: [file.read] }}\nsteps:\n  - {{ step_id: s, plugin_ref: notes, handler: {handler} }}\n"
    )
}

#[tokio::test]
async fn a_step_needs_only_what_its_handler_declares() {
    let dir = Scratch::new();
    let (host, _audit) = host(&dir).await;

    // `read` declares file.read: the pipeline's [file.read] is enough.
    let reading = Pipeline::compile(&yaml(&pipeline("read")), &host).unwrap();
    let report = reading.run(b"n").await;
    assert_eq!(report.status(), RunStatus::Completed, "{report}");

    // `fetch` declares nothing, so it needs every request of the plugin,
    // and the list lacks network.outbound: refused at compile time.
    let found = problems(Pipeline::compile(&yaml(&pipeline("fetch")), &host));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("requests network api.example.com ports [443]"),
        "{found:?}"
    );
    drop(reading);
    host.unload(ID).await.unwrap();
}

#[test]
fn a_handler_cannot_declare_a_class_the_plugin_does_not_request() {
    let mut m = manifest();
    m.handlers[0].uses = Some(vec![CapabilityClass::CommandExec]);
    let err = Manifest::from_json(&m.to_json()).unwrap_err();
    assert!(
        err.to_string()
            .contains("handlers[0].uses[0]: handler \"read\" uses command.exec, which the plugin does not request"),
        "{err}"
    );
}

#[test]
fn uses_round_trips_through_the_manifest() {
    let m = manifest();
    let back = Manifest::from_json(&m.to_json()).unwrap();
    assert_eq!(back.handlers[0].uses, Some(vec![CapabilityClass::FileRead]));
    assert_eq!(back.handlers[1].uses, None);
    assert_eq!(back.capabilities_of("read"), vec![read_notes()]);
    assert_eq!(
        back.capabilities_of("fetch"),
        vec![read_notes(), fetch_api()]
    );
}
