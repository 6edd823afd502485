//! Compiling a checked file into a [`Pipeline`]: plugins resolved to
//! handles, handlers to ids, inputs to slots, capability decisions made.
//! Done once; the result runs many times, concurrently.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::error::{PipelineError, Problem};
use super::file::PipelineFile;
use super::format::describe;
use super::gate::{self, GateRule, Grants};
use super::report::{Layout, StepInfo};
use super::target::{Plugins, StepPlugin};
use super::validate::{self, Failure, PlannedStep, Source};
use crate::audit::{AuditSink, What};
use crate::manifest::Manifest;
use crate::{Buffer, HandlerId, PluginError, PluginHandle};

/// A compiled pipeline: validated against a host, ready to run any number
/// of times, concurrently (`run` takes `&self`; share it with an `Arc`).
///
/// `P` is the plugin type steps call: [`PluginHandle`] for a [`Host`](crate::Host).
pub struct Pipeline<P: StepPlugin = PluginHandle> {
    pub(crate) layout: Arc<Layout>,
    pub(crate) steps: Box<[Step<P>]>,
    pub(crate) first_async: Option<usize>,
    pub(crate) audit: Arc<dyn AuditSink>,
}

/// One compiled step.
pub(crate) struct Step<P> {
    pub(crate) plugin: P,
    pub(crate) handler: HandlerId,
    pub(crate) is_async: bool,
    pub(crate) source: Source,
    pub(crate) failure: Failure,
    pub(crate) timeout: Option<Duration>,
    pub(crate) accepts_missing: bool,
    pub(crate) allowed: bool,
}

impl<P: StepPlugin> fmt::Debug for Pipeline<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("origin", &self.layout.origin)
            .field(
                "steps",
                &self
                    .layout
                    .steps
                    .iter()
                    .map(|s| s.step_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl PipelineFile {
    /// Checks everything that needs no host: names, references between
    /// steps, duplicates, retry bounds.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Invalid`] listing every problem with its line.
    pub fn check(&self) -> Result<(), PipelineError> {
        let mut problems = Vec::new();
        validate::check_file(self, &mut problems);
        self.fail_on(problems)
    }

    fn fail_on(&self, mut problems: Vec<Problem>) -> Result<(), PipelineError> {
        if problems.is_empty() {
            return Ok(());
        }
        problems.sort_by_key(|p| p.line);
        Err(PipelineError::Invalid {
            origin: self.origin().to_owned(),
            problems,
        })
    }
}

impl PipelineFile {
    /// Checks the file against plugins described by their manifests alone
    /// (read from built libraries without running them, e.g. with
    /// [`discover`](crate::host::discovery::discover)) and what `grants`
    /// allows: every check [`Pipeline::compile`] makes, nothing compiled.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Invalid`] listing every problem, as
    /// [`Pipeline::compile`] would report them.
    pub fn check_against(
        &self,
        manifests: &[Manifest],
        grants: &Grants,
    ) -> Result<(), PipelineError> {
        let described: Vec<Described> = manifests
            .iter()
            .map(|m| Described(Arc::new(m.clone())))
            .collect();
        check(self, described.as_slice(), grants).map(drop)
    }
}

/// What validation against plugins yields: the planned steps, one
/// resolved plugin per use and one capability decision per step.
struct Checked<P> {
    planned: Vec<PlannedStep>,
    resolved: Vec<Option<P>>,
    decisions: Vec<Option<(gate::StepDecision, Option<What>)>>,
}

/// Every check of `file` against `plugins` and `grants`, all problems at
/// once. The capability decisions are the ones runs apply: a step its own
/// pipeline's list would deny is reported here, at the step's line.
fn check<PL>(
    file: &PipelineFile,
    plugins: &PL,
    grants: &Grants,
) -> Result<Checked<PL::Plugin>, PipelineError>
where
    PL: Plugins + ?Sized,
{
    let mut problems = Vec::new();
    let mut planned = validate::check_file(file, &mut problems);
    let resolved = validate::check_host(file, plugins, grants, &mut planned, &mut problems);

    let spec = file.spec();
    // One gateway per plugin id, one decision per step: a step needs only
    // what its handler declares it uses (least privilege per step).
    let mut gateways = HashMap::new();
    let decisions: Vec<_> = planned
        .iter()
        .zip(&spec.steps)
        .map(|(p, step)| {
            let plugin = resolved.get(p.plugin_use)?.as_ref()?;
            let manifest = plugin.manifest();
            // A host's plugin brings the gateway the host compiled at load;
            // only stand-ins get one compiled from the grants here.
            let gateway = gateways.entry(manifest.id.clone()).or_insert_with(|| {
                plugin
                    .gateway()
                    .unwrap_or_else(|| Arc::new(grants.gateway(&manifest)))
            });
            Some(gate::decide(
                &manifest.capabilities_of(&step.handler),
                gateway,
                &grants.data_dir(manifest.id.as_str()),
                &spec.plugins[p.plugin_use].capabilities,
                p.plugin_use,
            ))
        })
        .collect();
    for i in 0..planned.len() {
        let Some(Some((decision, _))) = decisions.get(i) else {
            continue;
        };
        if let (GateRule::NotInPipeline { plugin_use }, Some(cap)) =
            (decision.rule, &decision.capability)
        {
            let list = file.problem(
                &format!("plugins[{plugin_use}].capabilities"),
                String::new(),
            );
            let id = resolved[plugin_use]
                .as_ref()
                .map(|p| p.manifest().id.to_string())
                .unwrap_or_default();
            problems.push(file.problem(
                &format!("steps[{i}].plugin_ref"),
                format!(
                    "plugin {id:?} requests {}, which the host grants but {} (line {}) does not allow, so this step would be denied at every start; add `{}` (or the exact capability) to that list",
                    describe(cap),
                    list.path,
                    list.line.unwrap_or_default(),
                    cap.class().as_str(),
                ),
            ));
        }
    }
    file.fail_on(problems)?;
    Ok(Checked {
        planned,
        resolved,
        decisions,
    })
}

/// A plugin known by its manifest only: enough to validate a pipeline
/// against, never called.
#[derive(Clone)]
struct Described(Arc<Manifest>);

impl StepPlugin for Described {
    fn manifest(&self) -> Arc<Manifest> {
        Arc::clone(&self.0)
    }

    fn call(&self, _: HandlerId, _: &[u8], _: &mut Buffer) -> Result<(), PluginError> {
        Err(PluginError::new(
            "a plugin known by its manifest only cannot be called",
        ))
    }

    fn call_async<'a>(
        &'a self,
        handler: HandlerId,
        input: &'a [u8],
        output: &'a mut Buffer,
    ) -> impl std::future::Future<Output = Result<(), PluginError>> + Send + 'a {
        std::future::ready(self.call(handler, input, output))
    }
}

impl Pipeline<PluginHandle> {
    /// Validates `file` against the plugins `host` has loaded and what
    /// **that host** grants (its capability policy, its plugins' data
    /// directories and its audit sink), and compiles it. A pipeline can
    /// only narrow what the host grants, never widen it.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::compile_with`].
    pub fn compile(file: &PipelineFile, host: &crate::Host) -> Result<Self, PipelineError> {
        Self::compile_with(file, &super::target::HostPlugins(host), &host.grants())
    }
}

impl<P: StepPlugin> Pipeline<P> {
    /// Validates `file` against the plugins of a registry of your own (or
    /// stand-ins) and the given grants, and compiles it. For a
    /// [`Host`](crate::Host) use [`Pipeline::compile`], which takes the
    /// host's own grants.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Invalid`] listing every problem, each with its
    /// path and line: the file's own (see [`PipelineFile::check`]), plus a
    /// plugin that is not loaded or out of the version range, a handler it
    /// does not have, a capability the host never granted, two uses of one
    /// plugin with different configs, and a step that this pipeline's own
    /// `capabilities` list would deny at every start (the host grants what
    /// the plugin requests, the pipeline does not allow it).
    pub fn compile_with<PL>(
        file: &PipelineFile,
        plugins: &PL,
        grants: &Grants,
    ) -> Result<Self, PipelineError>
    where
        PL: Plugins<Plugin = P> + ?Sized,
    {
        let Checked {
            planned,
            resolved,
            decisions,
        } = check(file, plugins, grants)?;
        let spec = file.spec();

        let mut infos = Vec::with_capacity(planned.len());
        let mut steps = Vec::with_capacity(planned.len());
        for (i, (s, p)) in spec.steps.iter().zip(planned).enumerate() {
            let plugin = resolved[p.plugin_use]
                .as_ref()
                .expect("validation resolved every plugin");
            let manifest = plugin.manifest();
            let (decision, audit) = decisions[i].clone().expect("validation decided every step");
            steps.push(Step {
                plugin: plugin.clone(),
                handler: p.handler,
                is_async: p.is_async,
                source: p.source,
                failure: p.failure,
                timeout: p.timeout,
                accepts_missing: s.accepts_missing,
                allowed: decision.allowed,
            });
            infos.push(StepInfo {
                step_id: s.step_id.clone(),
                output_key: p.output_key,
                alias: s.plugin_ref.clone(),
                plugin_id: manifest.id.as_str().into(),
                plugin_version: manifest.version.to_string().into(),
                handler: s.handler.clone(),
                input_from: s.input_from.clone(),
                decision,
                audit,
            });
        }
        let first_async = steps.iter().position(|s| s.is_async);
        Ok(Pipeline {
            layout: Arc::new(Layout {
                origin: file.origin().to_owned(),
                clock: quanta::Clock::new(),
                agent: spec.agent.clone(),
                steps: infos,
            }),
            steps: steps.into_boxed_slice(),
            first_async,
            audit: Arc::clone(grants.sink()),
        })
    }

    /// The file the pipeline was compiled from.
    pub fn origin(&self) -> &str {
        &self.layout.origin
    }

    /// The step ids, in order.
    pub fn step_ids(&self) -> impl ExactSizeIterator<Item = &str> {
        self.layout.steps.iter().map(|s| s.step_id.as_str())
    }

    /// Whether every step calls a synchronous handler, so that
    /// [`run_sync`](Self::run_sync) can run it.
    pub fn is_sync(&self) -> bool {
        self.first_async.is_none()
    }

    /// The capability decision of step `step_id`, made at compile time
    /// and applied at each start of the step.
    pub fn decision(&self, step_id: &str) -> Option<&gate::StepDecision> {
        self.layout
            .steps
            .iter()
            .find(|s| s.step_id == step_id)
            .map(|s| &s.decision)
    }
}
