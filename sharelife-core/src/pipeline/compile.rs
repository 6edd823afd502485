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
use super::gate::{self, Grants};
use super::report::{Layout, StepInfo};
use super::target::{Plugins, StepPlugin};
use super::validate::{self, Failure, Source};
use crate::audit::AuditSink;
use crate::{HandlerId, PluginHandle};

/// A compiled pipeline: validated against a host, ready to run any number
/// of times, concurrently (`run` takes `&self`; share it with an `Arc`).
///
/// `P` is the plugin type steps call: [`PluginHandle`] for a [`Host`](crate::Host).
pub struct Pipeline<P: StepPlugin = PluginHandle> {
    pub(crate) layout: Arc<Layout>,
    pub(crate) steps: Box<[Step<P>]>,
    pub(crate) first_async: Option<usize>,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) clock: quanta::Clock,
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

impl<P: StepPlugin> Pipeline<P> {
    /// Validates `file` against the plugins there are and what the host
    /// grants, and compiles it.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Invalid`] listing every problem, each with its
    /// path and line: the file's own (see [`PipelineFile::check`]), plus a
    /// plugin that is not loaded or out of the version range, a handler it
    /// does not have, a capability the host never granted, two uses of one
    /// plugin with different configs.
    pub fn compile<PL>(
        file: &PipelineFile,
        plugins: &PL,
        grants: &Grants,
    ) -> Result<Self, PipelineError>
    where
        PL: Plugins<Plugin = P> + ?Sized,
    {
        let mut problems = Vec::new();
        let mut planned = validate::check_file(file, &mut problems);
        let resolved = validate::check_host(file, plugins, grants, &mut planned, &mut problems);
        file.fail_on(problems)?;

        let spec = file.spec();
        // One gateway per plugin id, one decision per plugin use.
        let mut gateways = HashMap::new();
        let decisions: Vec<_> = resolved
            .iter()
            .enumerate()
            .map(|(u, plugin)| {
                let plugin = plugin.as_ref().expect("validation resolved every plugin");
                let manifest = plugin.manifest();
                let gateway = gateways
                    .entry(manifest.id.clone())
                    .or_insert_with(|| grants.gateway(&manifest));
                gate::decide(
                    &manifest,
                    gateway,
                    &grants.data_dir(manifest.id.as_str()),
                    &spec.plugins[u].capabilities,
                    u,
                )
            })
            .collect();

        let mut infos = Vec::with_capacity(planned.len());
        let mut steps = Vec::with_capacity(planned.len());
        for (s, p) in spec.steps.iter().zip(planned) {
            let plugin = resolved[p.plugin_use]
                .as_ref()
                .expect("validation resolved every plugin");
            let manifest = plugin.manifest();
            let (decision, audit) = decisions[p.plugin_use].clone();
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
                agent: spec.agent.clone(),
                steps: infos,
            }),
            steps: steps.into_boxed_slice(),
            first_async,
            audit: Arc::clone(grants.sink()),
            clock: quanta::Clock::new(),
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
