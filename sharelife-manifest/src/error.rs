use std::fmt;

/// One validation problem: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Path of the offending value, e.g. `dependencies[1].version`.
    pub path: String,
    /// What is wrong, e.g. `"^x" is not a version range`.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a manifest was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The text is not JSON of the manifest's shape: malformed JSON, an
    /// unknown key, a missing required key or a value of the wrong type.
    #[error("invalid manifest at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// serde's description of the error.
        message: String,
    },
    /// The shape is right but values break rules; every problem is listed.
    #[error("invalid manifest: {}", join(.0))]
    Invalid(Vec<Problem>),
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ManifestError {
    pub(crate) fn syntax(err: serde_json::Error) -> Self {
        ManifestError::Syntax {
            line: err.line(),
            column: err.column(),
            message: strip_position(&err.to_string()),
        }
    }

    /// The individual problems (one for a syntax error).
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ManifestError::Syntax {
                line,
                column,
                message,
            } => vec![Problem {
                path: format!("line {line}, column {column}"),
                message: message.clone(),
            }],
            ManifestError::Invalid(p) => p.clone(),
        }
    }
}

/// serde_json appends " at line L column C"; we report those separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
