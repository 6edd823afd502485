//! A pipeline file read from text: the spec, plus where each of its
//! values is written, so that every problem names its line.
#![forbid(unsafe_code)]

use std::path::Path;

use serde::de::DeserializeOwned;

use super::astr::{self, AstrAgentFile};
use super::error::{PipelineError, Problem};
use super::format::{PipelineSpec, SCHEMA_VERSION};
use super::source::{self, Lines, SyntaxError};

/// Which format a file was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `sharelife.pipeline.v1`.
    Sharelife,
    /// The seed's `astr-agent.v1`, mapped onto the same spec.
    AstrAgentV1,
}

/// A parsed pipeline file: its [`PipelineSpec`] and the line of each
/// value. Shape errors (unknown keys, wrong types, a missing field, an
/// unknown schema version) are found here; everything that needs the host
/// is checked by [`Pipeline::compile`](super::Pipeline::compile).
#[derive(Debug, Clone)]
pub struct PipelineFile {
    spec: PipelineSpec,
    origin: String,
    dialect: Dialect,
    lines: Lines,
}

impl PipelineFile {
    /// Reads YAML text; `origin` names it in messages (a file name).
    ///
    /// # Errors
    ///
    /// [`PipelineError::Syntax`] or [`PipelineError::Invalid`].
    pub fn from_yaml(origin: &str, text: &str) -> Result<Self, PipelineError> {
        let (value, lines) = source::read_yaml(text).map_err(|e| syntax(origin, "YAML", e))?;
        Self::from_value(origin, value, lines)
    }

    /// Reads JSON text of the same structure.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Syntax`] or [`PipelineError::Invalid`].
    pub fn from_json(origin: &str, text: &str) -> Result<Self, PipelineError> {
        let (value, lines) = source::read_json(text).map_err(|e| syntax(origin, "JSON", e))?;
        Self::from_value(origin, value, lines)
    }

    /// Reads a file: JSON if its name ends in `.json`, YAML otherwise.
    ///
    /// # Errors
    ///
    /// [`PipelineError::Io`], [`PipelineError::Syntax`] or
    /// [`PipelineError::Invalid`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, PipelineError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PipelineError::Io {
            path: path.to_owned(),
            source,
        })?;
        let origin = path.display().to_string();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Self::from_json(&origin, &text)
        } else {
            Self::from_yaml(&origin, &text)
        }
    }

    fn from_value(
        origin: &str,
        value: serde_json::Value,
        lines: Lines,
    ) -> Result<Self, PipelineError> {
        let invalid = |problem: Problem| PipelineError::Invalid {
            origin: origin.to_owned(),
            problems: vec![problem],
        };
        let version = value.get("schema_version").cloned();
        let (spec, dialect) = match version.as_ref().and_then(|v| v.as_str()) {
            Some(SCHEMA_VERSION) => (
                typed::<PipelineSpec>(value, &lines).map_err(invalid)?,
                Dialect::Sharelife,
            ),
            Some(astr::SCHEMA_VERSION) => (
                typed::<AstrAgentFile>(value, &lines)
                    .map_err(invalid)?
                    .into_spec(),
                Dialect::AstrAgentV1,
            ),
            Some(other) => {
                return Err(invalid(
                    Problem::new(
                        "schema_version",
                        format!(
                            "unknown schema version {other:?}; write {SCHEMA_VERSION:?} (or {:?} for the seed format)",
                            astr::SCHEMA_VERSION
                        ),
                    )
                    .at_line(Some(lines.of("schema_version"))),
                ));
            }
            None => {
                let message = if value.is_object() {
                    format!("missing; the file must start with `schema_version: {SCHEMA_VERSION}`")
                } else {
                    "a pipeline file is a mapping with `schema_version`, `plugins` and `steps`"
                        .to_owned()
                };
                return Err(invalid(
                    Problem::new("schema_version", message).at_line(Some(lines.of(""))),
                ));
            }
        };
        Ok(PipelineFile {
            spec,
            origin: origin.to_owned(),
            dialect,
            lines,
        })
    }

    /// The pipeline as written (seed files mapped onto sharelife's format).
    pub fn spec(&self) -> &PipelineSpec {
        &self.spec
    }

    /// The file name given when reading.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The format it was written in.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Each plugin use as (plugin selector, config): what a host that
    /// configures plugins when loading them should be given. Match
    /// selectors to ids with [`selects`](super::selects).
    pub fn plugins(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.spec
            .plugins
            .iter()
            .map(|p| (p.plugin.as_str(), &p.config))
    }

    /// A problem at `path` (a path into the [`PipelineSpec`]), located in
    /// the file as written.
    pub(crate) fn problem(&self, path: &str, message: String) -> Problem {
        let path = match self.dialect {
            Dialect::Sharelife => path.to_owned(),
            Dialect::AstrAgentV1 => astr::seed_path(path),
        };
        let line = self.lines.of(&path);
        Problem::new(path, message).at_line(Some(line))
    }
}

fn syntax(origin: &str, format: &'static str, e: SyntaxError) -> PipelineError {
    PipelineError::Syntax {
        origin: origin.to_owned(),
        format,
        line: e.line,
        column: e.column,
        message: e.message,
    }
}

/// Deserializes `value` as `T`, locating the first error.
fn typed<T: DeserializeOwned>(value: serde_json::Value, lines: &Lines) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = e.path().to_string();
        if path == "." {
            path.clear();
        }
        let message = e.inner().to_string();
        // Point at the offending key itself where serde names it.
        if let Some(field) = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
        {
            let key = if path.is_empty() {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            };
            if lines.has(&key) {
                path = key;
            }
        }
        let line = lines.of(&path);
        if path.is_empty() {
            path = "(root)".into();
        }
        Problem::new(path, message).at_line(Some(line))
    })
}
