//! The seed's `astr-agent.v1` pipeline contract, read as it is and mapped
//! onto [`PipelineSpec`].
//!
//! | astr-agent.v1 | sharelife.pipeline.v1 |
//! |---|---|
//! | `plugins[].id` | both `alias` and `plugin` (a bare name: see [`PluginUse::plugin`]) |
//! | `plugins[].declared_capabilities` | `capabilities` (classes) |
//! | `plugins[].manifest_ref` | kept as `manifest_ref`, not read |
//! | `pipeline.steps[]` | `steps[]`, with handler `run` |
//! | `retry: N` with `on_failure: retry` | `retry.retries: N`, then `abort` |
//! | `retry: N > 0` with `on_failure: abort` or `skip` | `on_failure: retry`, `retry.retries: N`, then `abort` or `skip` |
//! | `runtime` | `runtime`, kept, not enforced |
#![forbid(unsafe_code)]

use serde::Deserialize;

use super::format::{
    Agent, CapabilityClass, CapabilityGrant, DEFAULT_HANDLER, FinalPolicy, OnFailure, PipelineSpec,
    PluginUse, RUN_INPUT, RetrySpec, Runtime, StepSpec,
};

/// The seed format's `schema_version`.
pub(crate) const SCHEMA_VERSION: &str = "astr-agent.v1";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AstrAgentFile {
    schema_version: String,
    agent: AstrAgent,
    plugins: Vec<AstrPlugin>,
    pipeline: AstrPipeline,
    #[serde(default)]
    runtime: Option<AstrRuntime>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AstrAgent {
    id: String,
    name: String,
    persona: String,
    #[serde(default)]
    objective: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AstrPlugin {
    id: String,
    manifest_ref: String,
    declared_capabilities: Vec<CapabilityClass>,
    #[serde(default)]
    config: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AstrPipeline {
    steps: Vec<AstrStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AstrStep {
    step_id: String,
    plugin_ref: String,
    #[serde(default)]
    input_from: Option<String>,
    #[serde(default)]
    output_key: Option<String>,
    #[serde(default)]
    on_failure: OnFailure,
    #[serde(default)]
    retry: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AstrRuntime {
    #[serde(default)]
    requires_admin_confirmation: bool,
    #[serde(default)]
    compatibility: std::collections::BTreeMap<String, String>,
}

impl AstrAgentFile {
    /// The same pipeline in sharelife's format.
    pub(crate) fn into_spec(self) -> PipelineSpec {
        PipelineSpec {
            schema_version: self.schema_version,
            agent: Some(Agent {
                id: self.agent.id,
                name: Some(self.agent.name),
                persona: Some(self.agent.persona),
                objective: self.agent.objective,
            }),
            plugins: self
                .plugins
                .into_iter()
                .map(|p| PluginUse {
                    alias: p.id.clone(),
                    plugin: p.id,
                    version: "*".to_owned(),
                    config: p.config.map_or(serde_json::Value::Null, Into::into),
                    capabilities: p
                        .declared_capabilities
                        .into_iter()
                        .map(CapabilityGrant::Class)
                        .collect(),
                    manifest_ref: Some(p.manifest_ref),
                })
                .collect(),
            steps: self
                .pipeline
                .steps
                .into_iter()
                .map(|s| {
                    let (on_failure, retry) = match (s.on_failure, s.retry) {
                        (OnFailure::Retry, n) => (OnFailure::Retry, Some(RetrySpec::new(n))),
                        (OnFailure::Abort, 0) => (OnFailure::Abort, None),
                        (OnFailure::Skip, 0) => (OnFailure::Skip, None),
                        (then, n) => (
                            OnFailure::Retry,
                            Some(RetrySpec {
                                then: if then == OnFailure::Skip {
                                    FinalPolicy::Skip
                                } else {
                                    FinalPolicy::Abort
                                },
                                ..RetrySpec::new(n)
                            }),
                        ),
                    };
                    StepSpec {
                        step_id: s.step_id,
                        plugin_ref: s.plugin_ref,
                        handler: DEFAULT_HANDLER.to_owned(),
                        input_from: s.input_from.unwrap_or_else(|| RUN_INPUT.to_owned()),
                        output_key: s.output_key,
                        on_failure,
                        retry,
                        timeout_ms: None,
                        accepts_missing: false,
                    }
                })
                .collect(),
            runtime: self.runtime.map(|r| Runtime {
                requires_admin_confirmation: r.requires_admin_confirmation,
                compatibility: r.compatibility,
            }),
        }
    }
}

/// Where a field of the mapped [`PipelineSpec`] is written in an
/// `astr-agent.v1` file, so that problems point at the user's own text.
pub(crate) fn seed_path(native: &str) -> String {
    if let Some(rest) = native.strip_prefix("steps") {
        let rest = match rest.find(".retry.") {
            Some(i) => &rest[..i + ".retry".len()],
            None => rest,
        };
        let rest = rest.strip_suffix(".handler").unwrap_or(rest);
        return format!("pipeline.steps{rest}");
    }
    if native.starts_with("plugins[")
        && let Some((head, field)) = native.split_once("].")
    {
        let field = match field.split_once(['.', '[']) {
            Some((f, _)) => f,
            None => field,
        };
        return match field {
            "alias" | "plugin" | "version" => format!("{head}].id"),
            "capabilities" => native.replacen("].capabilities", "].declared_capabilities", 1),
            _ => native.to_owned(),
        };
    }
    native.to_owned()
}

#[cfg(test)]
mod tests {
    use super::seed_path;

    #[test]
    fn native_paths_map_to_seed_paths() {
        assert_eq!(
            seed_path("steps[1].retry.retries"),
            "pipeline.steps[1].retry"
        );
        assert_eq!(seed_path("steps[0].handler"), "pipeline.steps[0]");
        assert_eq!(
            seed_path("steps[0].input_from"),
            "pipeline.steps[0].input_from"
        );
        assert_eq!(seed_path("plugins[1].plugin"), "plugins[1].id");
        assert_eq!(
            seed_path("plugins[1].capabilities[0]"),
            "plugins[1].declared_capabilities[0]"
        );
        assert_eq!(seed_path("agent.id"), "agent.id");
    }
}
