//! A plugin's config checked against the JSON Schema in its manifest,
//! before any of its code runs.

use super::HostError;
use crate::manifest::{Manifest, Problem};

/// Checks `config` against `manifest.config_schema`, if the manifest has
/// one. Messages name each key as written in the host config and never
/// show a value: configs hold secrets.
pub(crate) fn check(
    file: &str,
    manifest: &Manifest,
    config: &serde_json::Value,
) -> Result<(), HostError> {
    let Some(schema) = &manifest.config_schema else {
        return Ok(());
    };
    let id = &manifest.id;
    let base = format!("plugins.{:?}.config", id.as_str());
    let validator = jsonschema::validator_for(schema).map_err(|e| HostError::PluginConfig {
        file: file.to_owned(),
        id: id.clone(),
        problems: vec![Problem::new(
            "",
            format!(
                "the plugin's config_schema is not a valid JSON Schema ({}); report this to the plugin's authors",
                e.masked()
            ),
        )],
    })?;
    let mut problems: Vec<Problem> = validator
        .iter_errors(config)
        .map(|e| {
            let mut key = base.clone();
            for segment in e.instance_path().as_str().split('/').skip(1) {
                let segment = segment.replace("~1", "/").replace("~0", "~");
                if segment.parse::<usize>().is_ok() {
                    key.push_str(&format!("[{segment}]"));
                } else {
                    key.push('.');
                    key.push_str(&segment);
                }
            }
            Problem::new(
                key,
                format!("{} (schema: {})", e.masked(), e.schema_path().as_str()),
            )
        })
        .collect();
    problems.sort_by_cached_key(ToString::to_string);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(HostError::PluginConfig {
            file: file.to_owned(),
            id: id.clone(),
            problems,
        })
    }
}
