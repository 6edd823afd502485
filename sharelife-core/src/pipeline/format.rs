//! The pipeline file, as written: the serde shape of
//! `sharelife.pipeline.v1`, from which the JSON Schema is generated.
#![forbid(unsafe_code)]

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use crate::manifest::Capability;

/// The `schema_version` of sharelife's own pipeline format.
pub const SCHEMA_VERSION: &str = "sharelife.pipeline.v1";

/// The handler a step calls when it names none. The seed's plugin
/// manifests name their entry method `run`, so does every example.
pub const DEFAULT_HANDLER: &str = "run";

/// The `input_from` that names the run's own input.
pub const RUN_INPUT: &str = "$input";

/// The most retries a step may ask for.
pub const MAX_RETRIES: u32 = 10;

/// A pipeline file (`sharelife.pipeline.v1`), in YAML or JSON.
///
/// A file in the seed's `astr-agent.v1` format reads into this same type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sharelife pipeline (sharelife.pipeline.v1)")]
pub struct PipelineSpec {
    /// Always `sharelife.pipeline.v1`.
    #[schemars(extend("const" = "sharelife.pipeline.v1"))]
    pub schema_version: String,
    /// Who runs the pipeline, for people and for audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Agent>,
    /// The plugins the steps use, each under a local alias.
    pub plugins: Vec<PluginUse>,
    /// The steps, run in order.
    pub steps: Vec<StepSpec>,
    /// Host-facing settings carried from the seed format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
}

/// Optional agent metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// A stable id, e.g. `acme-support-agent`.
    pub id: String,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How the agent presents itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// What the pipeline is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
}

/// Host-facing settings (from the seed format); kept, not enforced.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// Whether a person must confirm before the pipeline runs; the host
    /// decides what confirming means.
    #[serde(default)]
    pub requires_admin_confirmation: bool,
    /// Versions of the platforms the file was written for, as text.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub compatibility: std::collections::BTreeMap<String, String>,
}

/// One plugin used by the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginUse {
    /// The name steps use in `plugin_ref`.
    pub alias: String,
    /// The plugin: a full id (`examples.upper`), or a bare name (`upper`)
    /// that matches the one loaded plugin whose id is that name or ends
    /// in `.name`.
    pub plugin: String,
    /// The versions accepted (a semver range; default any).
    #[serde(default = "any_version")]
    pub version: String,
    /// Config for this use. A host holds one instance of each plugin,
    /// configured when loaded: the host is given this config when it
    /// loads the plugin, and two uses of one plugin must agree on it.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub config: serde_json::Value,
    /// What this pipeline allows the plugin: a narrowing of what the host
    /// granted. A step of a plugin whose manifest requests anything not
    /// allowed here is denied. Empty (the default) allows nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<CapabilityGrant>,
    /// The seed's `manifest_ref`, kept for reference; the loaded plugin's
    /// own manifest is authoritative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_ref: Option<String>,
}

fn any_version() -> String {
    "*".to_owned()
}

/// A capability this pipeline allows a plugin: a whole class, or one
/// capability exactly as the plugin's manifest requests it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum CapabilityGrant {
    /// Every request of a class (the seed's vocabulary).
    Class(CapabilityClass),
    /// One request, exactly as the manifest writes it.
    Exact(Capability),
}

impl<'de> Deserialize<'de> for CapabilityGrant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        match value {
            serde_json::Value::String(s) => s.parse().map(CapabilityGrant::Class).map_err(|()| {
                D::Error::custom(format!(
                    "{s:?} is not a capability class; use one of {}",
                    CapabilityClass::NAMES.join(", ")
                ))
            }),
            value @ serde_json::Value::Object(_) => serde_json::from_value(value)
                .map(CapabilityGrant::Exact)
                .map_err(|e| D::Error::custom(format!("not a capability: {e}"))),
            other => Err(D::Error::custom(format!(
                "expected a capability class (a string such as \"file.read\") or a capability object with a `kind`, found {other}"
            ))),
        }
    }
}

pub use crate::manifest::CapabilityClass;

impl CapabilityGrant {
    /// Whether this grant allows `capability` (a manifest request).
    pub fn covers(&self, capability: &Capability) -> bool {
        match self {
            CapabilityGrant::Class(class) => class.covers(capability),
            CapabilityGrant::Exact(exact) => exact == capability,
        }
    }
}

impl std::fmt::Display for CapabilityGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CapabilityGrant::Class(c) => f.write_str(c.as_str()),
            CapabilityGrant::Exact(c) => f.write_str(&describe(c)),
        }
    }
}

/// A capability in a few words, for messages.
pub(crate) fn describe(c: &Capability) -> String {
    c.to_string()
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Unique among the steps.
    pub step_id: String,
    /// The alias of the plugin to call.
    pub plugin_ref: String,
    /// The handler to call (default `run`).
    #[serde(default = "default_handler")]
    pub handler: String,
    /// `$input` (the default), or an earlier step's id or output key.
    #[serde(default = "run_input")]
    pub input_from: String,
    /// The key this step's output is kept under (default: the step id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_key: Option<String>,
    /// What a failure does (default `abort`).
    #[serde(default)]
    pub on_failure: OnFailure,
    /// Retry settings; required when `on_failure` is `retry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Longest one attempt may take, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Whether the step runs when its input is missing (the step it reads
    /// was skipped or denied); it then receives an empty input. Otherwise
    /// (the default) a missing input fails the step.
    #[serde(default)]
    pub accepts_missing: bool,
}

fn default_handler() -> String {
    DEFAULT_HANDLER.to_owned()
}

fn run_input() -> String {
    RUN_INPUT.to_owned()
}

/// What a step's failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Stop the run; it is `failed`.
    #[default]
    Abort,
    /// Record the step as skipped; later steps reading its output get a
    /// missing input; the run is `completed_with_skips`.
    Skip,
    /// Try again as `retry` says, then follow `retry.then`.
    Retry,
}

/// What a step does when its retries are spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinalPolicy {
    /// Stop the run.
    #[default]
    Abort,
    /// Skip the step.
    Skip,
}

/// Retry settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts after the first (1 to 10).
    pub retries: u32,
    /// Wait before the first retry, in milliseconds (default 100).
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// Each further wait is the previous one times this (default 2, at
    /// least 1).
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// No wait is longer than this, in milliseconds (default 10000).
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
    /// Retry only errors the plugin marked retryable (and timeouts);
    /// default `false`: retry any failure. A capability denial is never
    /// retried.
    #[serde(default)]
    pub retryable_only: bool,
    /// What to do when the retries are spent (default `abort`).
    #[serde(default)]
    pub then: FinalPolicy,
}

impl RetrySpec {
    /// `retries` retries with the default backoff.
    pub fn new(retries: u32) -> Self {
        RetrySpec {
            retries,
            backoff_ms: default_backoff(),
            factor: default_factor(),
            max_backoff_ms: default_max_backoff(),
            retryable_only: false,
            then: FinalPolicy::Abort,
        }
    }
}

fn default_backoff() -> u64 {
    100
}

fn default_factor() -> f64 {
    2.0
}

fn default_max_backoff() -> u64 {
    10_000
}

/// The JSON Schema of [`PipelineSpec`] (draft 2020-12), pretty-printed.
///
/// The repository keeps a copy in
/// `schemas/sharelife.pipeline.v1.schema.json`; a test fails when that copy
/// is out of date.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(PipelineSpec);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}
