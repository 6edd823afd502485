//! The pipeline file target.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use sharelife_core::capability::Policy;
use sharelife_core::manifest::{Capability, Handler, Manifest, PluginId};
use sharelife_core::pipeline::{
    CapabilityGrant, Grants, Pipeline, PipelineError, PipelineFile, StepPlugin,
};
use sharelife_core::{Buffer, HandlerId, PluginError};

/// Fuzzes pipeline files: [`PipelineFile::from_yaml`] and
/// [`PipelineFile::from_json`] never panic (nor overflow the stack, nor
/// hang); a file that parses is [checked](PipelineFile::check) and
/// [compiled](Pipeline::compile) against stand-in plugins built from the
/// file itself (so that plugin, handler and capability checks pass or fail
/// on the file's merits); every problem names a line of the text.
pub fn pipeline_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = line_count(text);
    let yaml = PipelineFile::from_yaml("fuzz.yaml", text);
    check_error(yaml.as_ref().err(), lines);
    if let Ok(file) = &yaml {
        compile(file, lines);
    }
    let json = PipelineFile::from_json("fuzz.json", text);
    check_error(json.as_ref().err(), lines);
    if let Ok(file) = &json {
        compile(file, lines);
    }
}

fn check_error(error: Option<&PipelineError>, lines: usize) {
    let Some(error) = error else { return };
    let _ = error.to_string();
    if let PipelineError::Syntax { line, .. } = error {
        assert!(
            (1..=lines + 1).contains(line),
            "line {line} of a {lines}-line text"
        );
    }
    if let PipelineError::Invalid { problems, .. } = error {
        assert!(!problems.is_empty(), "an invalid pipeline names a problem");
        for p in problems {
            // A line past the end is where "unexpected end of input" is.
            let line = p.line.expect("a pipeline problem names its line");
            assert!(
                (1..=lines + 1).contains(&line),
                "line {line} of a {lines}-line text: {p:?}"
            );
        }
    }
}

/// Lines as YAML counts them (`\r\n`, `\r` and `\n` end a line).
fn line_count(text: &str) -> usize {
    1 + text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count()
}

fn compile(file: &PipelineFile, lines: usize) {
    let _ = file.spec();
    let _ = file.plugins().count();
    check_error(file.check().err().as_ref(), lines);

    // One stand-in plugin per selector, with the handlers the steps call
    // and the exact capabilities the file grants; the policy allows them.
    let spec = file.spec();
    let mut manifests: BTreeMap<PluginId, Manifest> = BTreeMap::new();
    let mut policy = Policy::new();
    for use_ in &spec.plugins {
        let Some(id) = PluginId::new(use_.plugin.as_str())
            .or_else(|_| PluginId::new(format!("fuzz.{}", use_.plugin)))
            .ok()
        else {
            continue;
        };
        let manifest = manifests.entry(id.clone()).or_insert_with(|| {
            Manifest::new(
                id,
                "1.0.0".parse().expect("a version"),
                "*".parse().expect("a range"),
            )
        });
        for step in spec.steps.iter().filter(|s| s.plugin_ref == use_.alias) {
            if manifest.handler(&step.handler).is_none() {
                manifest.handlers.push(Handler::new(
                    step.handler.clone(),
                    step.handler.starts_with("async"),
                ));
            }
        }
        for grant in &use_.capabilities {
            if let CapabilityGrant::Exact(capability) = grant {
                add_capability(manifest, &mut policy, capability);
            }
        }
    }
    let plugins: Vec<Stand> = manifests
        .into_values()
        .map(|m| Stand(Arc::new(m)))
        .collect();
    let grants = Grants::new(policy, "/nonexistent/sharelife-fuzz/data");
    match Pipeline::compile_with(file, &plugins[..], &grants) {
        Ok(pipeline) => {
            let _ = format!("{pipeline:?}");
            let _ = pipeline.is_sync();
            let ids: Vec<String> = pipeline.step_ids().map(str::to_owned).collect();
            assert_eq!(ids.len(), spec.steps.len(), "one compiled step per step");
            for id in &ids {
                assert!(pipeline.decision(id).is_some(), "step {id} has a decision");
            }
        }
        Err(e) => check_error(Some(&e), lines),
    }
}

fn add_capability(manifest: &mut Manifest, policy: &mut Policy, capability: &Capability) {
    if !manifest.capabilities.contains(capability) {
        manifest.capabilities.push(capability.clone());
        *policy = std::mem::take(policy).allow(manifest.id.as_str(), capability.clone());
    }
}

/// A stand-in plugin: a manifest, and handlers that echo their input.
#[derive(Clone)]
struct Stand(Arc<Manifest>);

impl StepPlugin for Stand {
    fn manifest(&self) -> Arc<Manifest> {
        Arc::clone(&self.0)
    }

    fn call(&self, _: HandlerId, input: &[u8], output: &mut Buffer) -> Result<(), PluginError> {
        output.extend_from_slice(input);
        Ok(())
    }

    fn call_async<'a>(
        &'a self,
        handler: HandlerId,
        input: &'a [u8],
        output: &'a mut Buffer,
    ) -> impl Future<Output = Result<(), PluginError>> + Send + 'a {
        std::future::ready(self.call(handler, input, output))
    }
}
