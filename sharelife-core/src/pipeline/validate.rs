//! Validation before anything runs: every problem in the file, and every
//! way it does not fit the host, each reported with its path and line.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::time::Duration;

use semver::VersionReq;

use super::error::Problem;
use super::file::PipelineFile;
use super::format::{FinalPolicy, MAX_RETRIES, OnFailure, RUN_INPUT};
use super::gate::Grants;
use super::target::{Plugins, StepPlugin, find};
use crate::HandlerId;

/// Where a step's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The run's input.
    Run,
    /// Step `i`'s output.
    Step(usize),
}

/// What a step's failure does, compiled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Failure {
    Abort,
    Skip,
    Retry {
        retries: u32,
        backoff: Duration,
        factor: f64,
        cap: Duration,
        retryable_only: bool,
        then: FinalPolicy,
    },
}

/// A checked step, ready to compile.
#[derive(Debug)]
pub(crate) struct PlannedStep {
    pub(crate) plugin_use: usize,
    pub(crate) handler: HandlerId,
    pub(crate) is_async: bool,
    pub(crate) source: Source,
    pub(crate) failure: Failure,
    pub(crate) timeout: Option<Duration>,
    pub(crate) output_key: String,
}

/// Checks the file on its own (no host needed).
pub(crate) fn check_file(file: &PipelineFile, problems: &mut Vec<Problem>) -> Vec<PlannedStep> {
    let spec = file.spec();
    let mut bad = |path: String, message: String| problems.push(file.problem(&path, message));

    if spec.plugins.is_empty() {
        bad("plugins".into(), "list at least one plugin".into());
    }
    if spec.steps.is_empty() {
        bad("steps".into(), "list at least one step".into());
    }
    let mut aliases: HashMap<&str, usize> = HashMap::new();
    for (i, p) in spec.plugins.iter().enumerate() {
        if !is_name(&p.alias) {
            bad(
                format!("plugins[{i}].alias"),
                format!(
                    "{:?} is not an alias: use 1 to 64 of a-z, A-Z, 0-9, '_' and '-'",
                    p.alias
                ),
            );
        }
        if let Some(first) = aliases.insert(&p.alias, i) {
            bad(
                format!("plugins[{i}].alias"),
                format!(
                    "duplicate alias {:?} (first at plugins[{first}]); rename one",
                    p.alias
                ),
            );
        }
        if p.version.parse::<VersionReq>().is_err() {
            bad(
                format!("plugins[{i}].version"),
                format!(
                    "{:?} is not a version range; write e.g. \"^1.2\" or \"*\"",
                    p.version
                ),
            );
        }
    }

    let mut names: HashMap<&str, (usize, &'static str)> = HashMap::new();
    let mut planned = Vec::with_capacity(spec.steps.len());
    for (i, s) in spec.steps.iter().enumerate() {
        let at = |field: &str| format!("steps[{i}].{field}");
        if !is_name(&s.step_id) {
            bad(
                at("step_id"),
                format!(
                    "{:?} is not a step id: use 1 to 64 of a-z, A-Z, 0-9, '_' and '-'",
                    s.step_id
                ),
            );
        }
        let output_key: &str = s.output_key.as_deref().unwrap_or(&s.step_id);
        let source = resolve_input(&s.input_from, &names, i);
        if let Err(message) = &source {
            bad(at("input_from"), message.clone());
        }
        // A step id and an output key share one namespace (input_from
        // names either), except that a step's own pair may coincide.
        for (name, what) in [(s.step_id.as_str(), "step id"), (output_key, "output key")] {
            match names.get(name) {
                Some(&(first, _)) if first == i => {}
                Some(&(first, first_what)) => bad(
                    at(if what == "step id" {
                        "step_id"
                    } else {
                        "output_key"
                    }),
                    format!(
                        "duplicate {what} {name:?}: steps[{first}] already uses it as its {first_what}; rename one"
                    ),
                ),
                None => {
                    names.insert(name, (i, what));
                }
            }
        }
        let plugin_use = match aliases.get(s.plugin_ref.as_str()) {
            Some(&u) => u,
            None => {
                let known: Vec<&str> = spec.plugins.iter().map(|p| p.alias.as_str()).collect();
                bad(
                    at("plugin_ref"),
                    format!(
                        "no plugin has the alias {:?}; the aliases are: {}",
                        s.plugin_ref,
                        known.join(", ")
                    ),
                );
                usize::MAX
            }
        };
        if s.handler.is_empty() {
            bad(at("handler"), "the handler name must not be empty".into());
        }
        let failure = match (s.on_failure, &s.retry) {
            (OnFailure::Abort, None) => Failure::Abort,
            (OnFailure::Skip, None) => Failure::Skip,
            (OnFailure::Retry, None) => {
                bad(
                    at("retry"),
                    "on_failure is retry but no retry settings are given; add `retry: {retries: 3}`".into(),
                );
                Failure::Abort
            }
            (OnFailure::Abort | OnFailure::Skip, Some(_)) => {
                bad(
                    at("retry"),
                    "retry settings only apply with `on_failure: retry`; remove them or set on_failure to retry".into(),
                );
                Failure::Abort
            }
            (OnFailure::Retry, Some(r)) => {
                if r.retries == 0 || r.retries > MAX_RETRIES {
                    bad(
                        at("retry.retries"),
                        format!(
                            "{} retries is out of bounds: on_failure is retry, so retry 1 to {MAX_RETRIES} times",
                            r.retries
                        ),
                    );
                }
                if !(r.factor.is_finite() && r.factor >= 1.0) {
                    bad(
                        at("retry.factor"),
                        format!("backoff factor {} must be a number of at least 1", r.factor),
                    );
                }
                if r.max_backoff_ms < r.backoff_ms {
                    bad(
                        at("retry.max_backoff_ms"),
                        format!(
                            "the cap ({} ms) is below the first wait ({} ms); raise it",
                            r.max_backoff_ms, r.backoff_ms
                        ),
                    );
                }
                Failure::Retry {
                    retries: r.retries,
                    backoff: Duration::from_millis(r.backoff_ms),
                    factor: r.factor,
                    cap: Duration::from_millis(r.max_backoff_ms),
                    retryable_only: r.retryable_only,
                    then: r.then,
                }
            }
        };
        if s.timeout_ms == Some(0) {
            bad(
                at("timeout_ms"),
                "a timeout of 0 ms lets nothing run; remove it or raise it".into(),
            );
        }
        planned.push(PlannedStep {
            plugin_use,
            handler: HandlerId(0),
            is_async: false,
            source: source.unwrap_or(Source::Run),
            failure,
            timeout: s.timeout_ms.map(Duration::from_millis),
            output_key: output_key.to_owned(),
        });
    }
    planned
}

/// `$input`, or a name an earlier step declared.
fn resolve_input(
    from: &str,
    names: &HashMap<&str, (usize, &'static str)>,
    step: usize,
) -> Result<Source, String> {
    if from == RUN_INPUT {
        return Ok(Source::Run);
    }
    match names.get(from) {
        Some(&(j, _)) if j < step => Ok(Source::Step(j)),
        Some(_) => Err(format!(
            "{from:?} is this step's own output; read \"$input\" or an earlier step"
        )),
        None => Err(format!(
            "{from:?} is not \"$input\" nor the id or output key of an earlier step"
        )),
    }
}

fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks the file against a host: plugins loaded and in range, handlers
/// present, capabilities granted. Returns one resolved plugin per use
/// (`None` where resolution failed) and fills in the steps' handlers.
pub(crate) fn check_host<PL: Plugins + ?Sized>(
    file: &PipelineFile,
    plugins: &PL,
    grants: &Grants,
    steps: &mut [PlannedStep],
    problems: &mut Vec<Problem>,
) -> Vec<Option<PL::Plugin>> {
    let spec = file.spec();
    let mut bad = |path: String, message: String| problems.push(file.problem(&path, message));
    let mut resolved = Vec::with_capacity(spec.plugins.len());
    for (i, u) in spec.plugins.iter().enumerate() {
        let plugin = match find(plugins, &u.plugin) {
            Ok(p) => p,
            Err(message) => {
                bad(format!("plugins[{i}].plugin"), message);
                resolved.push(None);
                continue;
            }
        };
        let manifest = plugin.manifest();
        if let Ok(range) = u.version.parse::<VersionReq>()
            && !range.matches(&manifest.version)
        {
            bad(
                format!("plugins[{i}].version"),
                format!(
                    "plugin {:?} is version {} here, outside the range {range} this pipeline accepts; load a matching version or widen the range",
                    manifest.id.as_str(),
                    manifest.version
                ),
            );
        }
        for (j, grant) in u.capabilities.iter().enumerate() {
            if !grants.grants(&manifest.id, grant) {
                bad(
                    format!("plugins[{i}].capabilities[{j}]"),
                    format!(
                        "the host never granted plugin {:?} {grant}; a pipeline can only narrow what the host's policy allows",
                        manifest.id.as_str()
                    ),
                );
            }
        }
        resolved.push(Some(plugin));
    }
    for (i, (s, planned)) in spec.steps.iter().zip(steps.iter_mut()).enumerate() {
        let Some(Some(plugin)) = resolved.get(planned.plugin_use) else {
            continue;
        };
        let manifest = plugin.manifest();
        match plugin.handler(&s.handler) {
            Some((handler, is_async)) => {
                planned.handler = handler;
                planned.is_async = is_async;
            }
            None => bad(
                format!("steps[{i}].handler"),
                format!(
                    "plugin {:?} has no handler {:?}; it has: {}",
                    manifest.id.as_str(),
                    s.handler,
                    manifest
                        .handlers
                        .iter()
                        .map(|h| h.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }
    // One host instance per plugin id holds one config.
    let mut configs: HashMap<String, usize> = HashMap::new();
    for (i, u) in spec.plugins.iter().enumerate() {
        let Some(Some(plugin)) = resolved.get(i) else {
            continue;
        };
        let manifest = plugin.manifest();
        let id = manifest.id.as_str();
        match configs.get(id) {
            Some(&first) if spec.plugins[first].config != u.config => bad(
                format!("plugins[{i}].config"),
                format!(
                    "plugin {id:?} is also used as {:?} (plugins[{first}]) with a different config; a host holds one instance per plugin, so give both uses the same config",
                    spec.plugins[first].alias
                ),
            ),
            Some(_) => {}
            None => {
                configs.insert(id.to_owned(), i);
            }
        }
    }
    resolved
}
