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
//! | any other file | a plugin manifest (JSON) |
//!
//! A pipeline is checked on its own, without a host: its shape, names,
//! references between steps, duplicates and retry bounds. Whether its
//! plugins, handlers and capabilities exist is checked when it runs
//! (`sharelife run --pipeline`).

use std::path::Path;

use sharelife_core::host::{ConfigError, HostConfig};
use sharelife_core::manifest::{Manifest, ManifestError};
use sharelife_core::pipeline::{PipelineError, PipelineFile};

use crate::Failure;

/// One problem found in one file.
#[derive(Debug, serde::Serialize)]
struct Finding {
    file: String,
    line: Option<usize>,
    path: String,
    message: String,
}

pub(crate) fn run(files: &[std::path::PathBuf], as_json: bool) -> Result<(), Failure> {
    let mut findings = Vec::new();
    for file in files {
        findings.extend(check(file));
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
            println!("{} file(s) valid", files.len());
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

fn check(file: &Path) -> Vec<Finding> {
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
                .map(|p| finding(p.line, &p.key, p.message))
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
        return match parsed.and_then(|p| p.check()) {
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
                        .map(|p| finding(Some(p.line), &p.path, p.message))
                        .collect()
                }
            }
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
