//! `sharelife validate`: every problem in every file, with file, line and
//! path; non-zero exit on any.
//!
//! What a file is checked as is decided by its name, then its content:
//!
//! | file | checked as |
//! |---|---|
//! | `*.toml` | a host config |
//! | `*.yaml`, `*.yml` | a pipeline |
//! | `*.json`, a JSON object with a `steps` or `schema_version` key | a pipeline (manifests have neither) |
//! | a JSON object with a `plugin_id` key | a seed-format manifest (`plugin.manifest.v2` of the seed market): its schema, then `risk_level` at least what its capabilities imply and an administrator's confirmation for high risk (see `sharelife_registry::seed`) |
//! | any other file | a plugin manifest (JSON) |
//!
//! A pipeline is checked on its own: its shape, names, references between
//! steps, duplicates and retry bounds. With `--config HOST.toml` and/or
//! `--plugins DIR`, it is also checked against real plugins, exactly as
//! `sharelife run` compiles it: each plugin found and in its version range,
//! each handler present, each capability the pipeline lists granted by the
//! config's `[policy]`, and no step its own `capabilities` list would deny.
//! The plugins are the built libraries in the config's `plugin_paths` (the
//! ones it enables) and in each `--plugins DIR`; their manifests are read
//! from the files, none of their code runs. Without `--config` the policy
//! is empty: a host that grants nothing.

use std::path::{Path, PathBuf};

use sharelife_core::capability::Policy;
use sharelife_core::host::discovery::discover;
use sharelife_core::host::{ConfigError, HostConfig};
use sharelife_core::manifest::{Manifest, ManifestError};
use sharelife_core::pipeline::{Grants, PipelineError, PipelineFile};
use sharelife_registry::seed::{self, SeedError};

use crate::Failure;

/// The plugins and the policy pipelines are checked against.
struct Target {
    /// The manifests of the plugins a host would load.
    manifests: Vec<Manifest>,
    /// The config's policy and data root.
    grants: Grants,
    /// What the plugins and policy were taken from, for the summary.
    what: String,
}

/// One problem found in one file.
#[derive(Debug, serde::Serialize)]
struct Finding {
    file: String,
    line: Option<usize>,
    path: String,
    message: String,
}

pub(crate) fn run(
    files: &[PathBuf],
    config: Option<&Path>,
    plugins: &[PathBuf],
    as_json: bool,
) -> Result<(), Failure> {
    let target = if config.is_some() || !plugins.is_empty() {
        Some(target(config, plugins)?)
    } else {
        None
    };
    let mut findings = Vec::new();
    for file in files {
        findings.extend(check(file, target.as_ref()));
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&findings).expect("json"));
    } else {
        for f in &findings {
            match f.line {
                Some(line) => println!("{}:{line}: {}: {}", f.file, f.path, f.message),
                None => println!("{}: {}: {}", f.file, f.path, f.message),
            }
        }
    }
    let bad = findings
        .iter()
        .map(|f| &f.file)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if findings.is_empty() {
        if !as_json {
            match &target {
                Some(t) => println!(
                    "{} file(s) valid; pipelines checked against {}",
                    files.len(),
                    t.what
                ),
                None => println!("{} file(s) valid", files.len()),
            }
        }
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{} problem(s) in {bad} of {} file(s)",
            findings.len(),
            files.len()
        )))
    }
}

/// The plugins a host booted from `config` (plus `plugins` folders) would
/// load, read from their files, and the config's policy.
fn target(config: Option<&Path>, plugins: &[PathBuf]) -> Result<Target, Failure> {
    let config = match config {
        Some(path) => Some(HostConfig::load(path).map_err(|e| {
            Failure::new(format!(
                "cannot check pipelines against {}: {e}",
                path.display()
            ))
            .hint(format!(
                "`sharelife validate {}` lists the config's problems",
                path.display()
            ))
        })?),
        None => None,
    };
    let mut folders: Vec<PathBuf> = config
        .as_ref()
        .map(|c| c.plugin_paths.clone())
        .unwrap_or_default();
    folders.extend(plugins.iter().cloned());
    // Lexically, without the `.` components joining to the config's own
    // folder adds (`././plugins`), as `sharelife run` names them.
    let folders: Vec<PathBuf> = folders.iter().map(|p| p.components().collect()).collect();
    let discovery = discover(&folders);
    for skipped in &discovery.skipped {
        eprintln!(
            "warning: skipped {}: {}",
            skipped.path.display(),
            skipped.reason
        );
    }
    // What a host's boot would open: the files this host can load, that
    // the config enables, the highest version of each id.
    let auto_load = config.as_ref().and_then(|c| c.auto_load).unwrap_or(true);
    let mut manifests: Vec<Manifest> = Vec::new();
    for found in &discovery.found {
        if let Err(e) = found.check_compatible() {
            eprintln!("warning: skipped {}: {e}", found.path().display());
            continue;
        }
        let m = found.manifest();
        let enabled = config
            .as_ref()
            .and_then(|c| c.plugins.get(&m.id))
            .and_then(|s| s.enabled)
            .unwrap_or(auto_load);
        if !enabled {
            continue;
        }
        match manifests.iter_mut().find(|known| known.id == m.id) {
            Some(known) if known.version < m.version => *known = m.clone(),
            Some(_) => {}
            None => manifests.push(m.clone()),
        }
    }
    // The policy and data root a host booted on this config would use (a
    // host's default data root when the config sets none).
    let grants = Grants::new(
        config
            .as_ref()
            .and_then(|c| c.policy.clone())
            .unwrap_or_else(Policy::new),
        config
            .as_ref()
            .map_or_else(|| HostConfig::default().data_root(), HostConfig::data_root),
    );
    let plugins = match manifests.len() {
        1 => "1 plugin".to_owned(),
        n => format!("{n} plugins"),
    };
    let folders = folders
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let what = match config.as_ref().and_then(|c| c.source.as_ref()) {
        Some(source) => format!(
            "{plugins} in {folders} and the policy of {}",
            source.display()
        ),
        None => format!("{plugins} in {folders} and an empty policy"),
    };
    Ok(Target {
        manifests,
        grants,
        what,
    })
}

fn check(file: &Path, target: Option<&Target>) -> Vec<Finding> {
    let name = file.display().to_string();
    let finding = |line, path: &str, message: String| Finding {
        file: name.clone(),
        line,
        path: path.to_owned(),
        message,
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return vec![finding(None, "-", format!("cannot read: {e}"))],
    };
    if file.extension().is_some_and(|e| e == "toml") {
        return match HostConfig::load(file) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Syntax { line, message, .. }) => {
                vec![finding(Some(line), "-", message)]
            }
            Err(ConfigError::Invalid { problems, .. }) => problems
                .into_iter()
                .map(|p| finding(p.line, &p.path, p.message))
                .collect(),
            Err(other) => vec![finding(None, "-", other.to_string())],
        };
    }
    if is_pipeline(file, &text) {
        let is_json = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let parsed = if is_json {
            PipelineFile::from_json(&name, &text)
        } else {
            PipelineFile::from_yaml(&name, &text)
        };
        let checked = parsed.and_then(|p| match target {
            Some(t) => p.check_against(&t.manifests, &t.grants),
            None => p.check(),
        });
        return match checked {
            Ok(()) => Vec::new(),
            Err(PipelineError::Syntax {
                line,
                column,
                message,
                format,
                ..
            }) => vec![finding(
                Some(line),
                "-",
                format!("not valid {format} (column {column}): {message}"),
            )],
            Err(e) => {
                let problems = e.problems();
                if problems.is_empty() {
                    vec![finding(None, "-", e.to_string())]
                } else {
                    problems
                        .into_iter()
                        .map(|p| finding(p.line, &p.path, p.message))
                        .collect()
                }
            }
        };
    }
    if is_seed_manifest(&text) {
        return match seed::check_seed_manifest(&text, &name) {
            Ok(_) => Vec::new(),
            Err(SeedError::Syntax { line, message, .. }) => {
                vec![finding(Some(line), "-", message)]
            }
            Err(e) => e
                .problems()
                .into_iter()
                .map(|p| {
                    if p.path.is_empty() {
                        finding(None, "-", p.message)
                    } else {
                        // The seed's arrays hold strings, not objects: the
                        // line of the key holding the array.
                        let key = p
                            .path
                            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '[' || c == ']');
                        finding(line_of(&text, key), &p.path, p.message)
                    }
                })
                .collect(),
        };
    }
    match Manifest::from_json(&text) {
        Ok(_) => Vec::new(),
        Err(ManifestError::Syntax { line, message, .. }) => vec![finding(Some(line), "-", message)],
        Err(ManifestError::Invalid(problems)) => problems
            .into_iter()
            .map(|p| finding(line_of(&text, &p.path), &p.path, p.message))
            .collect(),
    }
}

/// Whether `text` is a seed-format manifest: a JSON object with a
/// `plugin_id` key (ours says `id`).
fn is_seed_manifest(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|v| v.as_object().is_some_and(|o| o.contains_key("plugin_id")))
}

/// Whether `file` is a pipeline: named `*.yaml` / `*.yml`, or a `*.json`
/// object with a `steps` or `schema_version` key.
fn is_pipeline(file: &Path, text: &str) -> bool {
    let extension = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("yaml" | "yml") => true,
        Some("json") => serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| {
            v.as_object()
                .is_some_and(|o| o.contains_key("steps") || o.contains_key("schema_version"))
        }),
        _ => false,
    }
}

/// The line where the value at `path` (`a.b[2].c`) starts, found by
/// walking the JSON text: the line of the last key named on the path.
fn line_of(text: &str, path: &str) -> Option<usize> {
    let key = path.rsplit('.').next()?.split('[').next()?;
    let needle = format!("\"{key}\"");
    let mut from = 0;
    // Walk the path's keys in order, so `dependencies[1].version` finds the
    // `version` after `dependencies`, and the index-th object for `[i]`.
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let at = text[from..].find(&format!("\"{name}\""))? + from;
        from = at;
        if let Some(i) = index {
            for _ in 0..=i {
                from = text[from..].find('{').map(|p| p + from + 1)?;
            }
        }
    }
    let at = text[from..].find(&needle).map_or(from, |p| p + from);
    Some(text[..at].matches('\n').count() + 1)
}
