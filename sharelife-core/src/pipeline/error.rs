//! Why a pipeline file was refused, and why a run could not start.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// One problem in a pipeline file: the validators' shared problem type.
/// A pipeline problem has its `line`, the `path` of the offending value
/// (e.g. `steps[1].plugin_ref`) and what to do about it; a syntax problem
/// has its `line` and `column` and no path. The file is the error's
/// `origin`. It reads `line L: path: message`.
pub use crate::manifest::Problem;

/// Why a pipeline file could not be read, validated or compiled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The file could not be read.
    #[error("cannot read pipeline file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not YAML (or JSON) at all.
    #[error("{origin}:{line}:{column}: not valid {format}: {message}")]
    Syntax {
        /// The file name, or `<text>`.
        origin: String,
        /// `YAML` or `JSON`.
        format: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// The file parses, but breaks the format's rules or does not fit the
    /// host: every problem found, each with its path and line.
    #[error("invalid pipeline {origin}:{}", list(.problems))]
    Invalid {
        /// The file name, or `<text>`.
        origin: String,
        /// The problems, in file order.
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    match problems {
        [one] => format!(" {one}"),
        many => many.iter().map(|p| format!("\n  {p}")).collect::<String>(),
    }
}

impl PipelineError {
    /// The individual problems (one for a syntax error, none for I/O).
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            PipelineError::Io { .. } => Vec::new(),
            PipelineError::Syntax {
                line,
                column,
                message,
                ..
            } => vec![
                Problem::new("", message.clone())
                    .at_line(Some(*line))
                    .at_column(Some(*column)),
            ],
            PipelineError::Invalid { problems, .. } => problems.clone(),
        }
    }
}

/// Why [`Pipeline::run_sync`](super::Pipeline::run_sync) refused to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A step calls an async handler, which needs an executor.
    #[error(
        "step {step:?} calls async handler {handler:?}; run this pipeline with `run(..).await`"
    )]
    NeedsAsync {
        /// The step.
        step: String,
        /// The handler.
        handler: String,
    },
}
