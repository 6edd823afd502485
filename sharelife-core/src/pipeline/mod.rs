//! Pipelines: a file that chains plugin handlers, and the orchestrator
//! that runs it (feature `pipeline`, on by default).
//!
//! ```
//! use sharelife_core::{Buffer, Host, HandlerId, Plugin, PluginContext, PluginError};
//! use sharelife_core::manifest::{Handler, Manifest};
//! use sharelife_core::pipeline::{Pipeline, PipelineFile, RunStatus};
//!
//! struct Upper;
//! impl Plugin for Upper {
//!     fn call(&self, _: &PluginContext, _: HandlerId, input: &[u8], out: &mut Buffer)
//!         -> Result<(), PluginError> {
//!         out.extend_from_copy_slice(&input.to_ascii_uppercase());
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut manifest = Manifest::new("acme.upper".parse()?, "1.2.0".parse()?, "^0.1".parse()?);
//! manifest.handlers.push(Handler::new("run", false));
//! let host = Host::builder().build()?;
//! let id = host.add(manifest, Box::new(Upper)).await?;
//! host.start(&id).await?;
//!
//! let file = PipelineFile::from_yaml("shout.yaml", r#"
//! schema_version: sharelife.pipeline.v1
//! plugins:
//!   - { alias: up, plugin: acme.upper, version: "^1" }
//! steps:
//!   - { step_id: once, plugin_ref: up }
//!   - { step_id: twice, plugin_ref: up, input_from: once, on_failure: skip }
//! "#)?;
//! // The host's own policy, data directories and audit sink apply.
//! let pipeline = Pipeline::compile(&file, &host)?;
//! let report = pipeline.run(b"hello").await;
//! assert_eq!(report.status(), RunStatus::Completed);
//! assert_eq!(report.output("twice"), Some(&b"HELLO"[..]));
//! # host.unload(&id).await?;
//! # Ok(()) }
//! ```
//!
//! # The file
//!
//! YAML, or JSON of the same structure; its JSON Schema is
//! [`json_schema`] (kept in `schemas/sharelife.pipeline.v1.schema.json`).
//! [`PipelineSpec`] documents every field. In short: `schema_version:
//! sharelife.pipeline.v1`; optional `agent` (id, name, persona, objective);
//! `plugins`, each with an `alias`, the `plugin` (an id, or a bare name
//! matching the one loaded plugin whose id ends in `.name`), a `version`
//! range, a `config`, and the `capabilities` the pipeline allows it;
//! `steps`, each with `step_id`, `plugin_ref` (an alias), `handler`
//! (default [`DEFAULT_HANDLER`], `run`, the entry method of the seed's
//! manifests), `input_from` (`$input`, or an earlier step's id or output
//! key), `output_key` (default: the step id), `on_failure` (`abort`,
//! `skip` or `retry`), `retry` (`retries`, `backoff_ms`, `factor`,
//! `max_backoff_ms`, `retryable_only`, `then`), `timeout_ms` and
//! `accepts_missing`.
//!
//! Files in the seed's `astr-agent.v1` format load as they are; the
//! mapping is tabled in the `astr` module's source and summed up here:
//! a plugin's `id` is both its alias and a bare plugin name, its
//! `declared_capabilities` are capability classes, steps call `run`, and
//! the bare `retry: N` becomes `N` retries with the default backoff.
//!
//! # Validation
//!
//! Nothing runs until the whole file checks out. [`PipelineFile`] finds
//! shape errors; [`Pipeline::compile`] finds the rest, and reports every
//! problem at once, each with its path and line (of the file as written,
//! seed files included): an unknown alias, a plugin not loaded or outside
//! the version range, a handler the plugin lacks, an `input_from` naming
//! nothing earlier, duplicate step ids or output keys, a capability the
//! host never granted, a step its own pipeline's list would deny (below),
//! retry settings out of bounds. [`PipelineFile::check_against`] makes the
//! same checks against plugins known by their manifests alone (as
//! `sharelife validate --config` does, without running plugin code).
//!
//! # Running
//!
//! [`Pipeline::run`] (async; any handler) and [`Pipeline::run_sync`]
//! (sync handlers only) take `&self`: run one compiled pipeline as often
//! and as concurrently as you like. Each step reads its input by
//! reference — from the run's input or an earlier step's output buffer —
//! and writes a fresh buffer; nothing is copied between steps.
//!
//! * `retry` calls again after `backoff_ms`, multiplying the wait by
//!   `factor` up to `max_backoff_ms`, then follows `then`. A capability
//!   denial — the step's, or an [`ErrorKind::Denied`](crate::ErrorKind)
//!   from the plugin's own service use — is never retried; with
//!   `retryable_only`, only errors the plugin marked retryable (and
//!   timeouts) are.
//! * `skip` records the step as skipped. A later step reading its output
//!   has a *missing* input: it fails (and its own policy applies) unless
//!   it says `accepts_missing: true`, in which case it runs with an empty
//!   input.
//! * `abort` stops the run: `failed`, with every output produced so far.
//! * `timeout_ms` interrupts an async handler. A sync handler cannot be
//!   interrupted: if it answers late its answer is discarded and the
//!   attempt counts as timed out (retryable).
//! * A [`CancelToken`] stops a run at its next step boundary, reported as
//!   `cancelled`; dropping the run future stops it at once and logs where.
//!
//! A compiled pipeline holds a handle to each plugin it calls: drop it
//! before unloading them, or the unload waits for it. A [`RunReport`]
//! borrows its pipeline (a run then touches no reference count); keep one
//! past the pipeline, or send it to another task, with
//! [`RunReport::into_owned`].
//!
//! The [`RunReport`] says `completed`, `completed_with_skips` or `failed`
//! (or `cancelled`), and per step its status, attempts, duration, backoff,
//! error, capability decision and output. Each run is a `pipeline_run`
//! `tracing` span (`run`, `pipeline`) and each step a `pipeline_step` span
//! (`run`, `step`, `plugin`, `attempt`).
//!
//! # Capabilities
//!
//! A step's capability check happens at the step's start, before any
//! call, and goes through the host's [`Gateway`](crate::capability::Gateway)
//! for the plugin — the very gateway the host compiled when it loaded the
//! plugin, from its manifest and **the host's own**
//! [`Policy`](crate::capability::Policy); [`Pipeline::compile`] also takes
//! the host's data directories and audit sink: there is no second policy. [`Grants`] exist only for [`Pipeline::compile_with`] over
//! plugins of your own registry or stand-ins):
//!
//! 1. *Validation* refuses a pipeline capability the host never granted
//!    the plugin: a pipeline only ever narrows.
//! 2. *Each step's decision* is made when the pipeline is compiled: every
//!    capability the plugin's manifest requests, in the manifest's order,
//!    must be granted by the host's gateway (a deny rule beats an allow;
//!    no grant is a denial) **and** allowed by the pipeline's list for
//!    that plugin. The first request that fails decides.
//! 3. *A denial by the pipeline's own list* (the host grants the request,
//!    the list does not allow it) depends on nothing but the file and the
//!    policy, so compiling refuses it: a problem at each step of that
//!    plugin, with the step's line, naming the request and the list.
//! 4. *A denial by the host's gateway* is the host policy's decision: the
//!    pipeline compiles, and at each start the step is `denied`: not
//!    called, never retried (`retry` does not apply), audited with the
//!    rule that decided; its `on_failure` (or `retry.then`) only decides
//!    whether the run goes on without it. Granting the request in the
//!    host's policy is what lets it run.
//!
//! Limits, stated plainly. The check is per plugin, not per call: a
//! plugin whose manifest requests more than the pipeline allows is denied
//! even if this handler would not use it — the pipeline refuses what it
//! cannot bound. A pipeline `capabilities` entry is a class (`file.read`)
//! or a capability equal to a manifest request; scopes are not
//! intersected. The decision is made when the pipeline is compiled (a
//! compiled gateway's grants do not change; recompile after a policy
//! change) and applied and audited at every start. Denials by the host
//! are audited as gateway decisions. Because the first failing request
//! decides, a request the host denies hides a later one only the list
//! would deny: that one is reported once the host grants the first. Once
//! inside the plugin, each service
//! use is decided by the host's gateway as usual; the pipeline's list is
//! not consulted again. Per-use `config` cannot reach a plugin per call
//! (the ABI carries none): a host holds one configured instance per
//! plugin, so validation refuses two uses of one plugin with different
//! configs, and [`PipelineFile::plugins`] lists the configs to load with.
#![forbid(unsafe_code)]

mod astr;
mod attempt;
mod cancel;
mod compile;
mod error;
mod file;
mod format;
mod gate;
mod progress;
mod report;
mod run;
mod source;
mod target;
mod validate;

pub use self::cancel::CancelToken;
pub use self::compile::Pipeline;
pub use self::error::{PipelineError, Problem, RunError};
pub use self::file::{Dialect, PipelineFile};
pub use self::format::{
    Agent, CapabilityClass, CapabilityGrant, DEFAULT_HANDLER, FinalPolicy, MAX_RETRIES, OnFailure,
    PipelineSpec, PluginUse, RUN_INPUT, RetrySpec, Runtime, SCHEMA_VERSION, StepSpec, json_schema,
};
pub use self::gate::{GateRule, Grants, StepDecision};
pub use self::report::{RunReport, RunStatus, StepReport, StepStatus, human_duration, output_text};
pub use self::target::{Plugins, StepPlugin, selects};
