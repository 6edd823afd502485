use std::fmt;

/// One problem a validator found: where it is and what is wrong.
///
/// The one problem type of the three validators: the manifest (this
/// crate), the host config and pipeline files (`sharelife-core`). Each
/// fills what it knows: a manifest problem has a path; a config problem
/// names its file and, when known, its line; a pipeline problem its line;
/// a syntax problem its line and column and no path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Problem {
    /// The file, when the validator knows it (`<host config>` for text).
    pub file: Option<String>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Path of the offending value, e.g. `dependencies[1].version`; empty
    /// when the problem is not at a value (a syntax error).
    pub path: String,
    /// What is wrong, e.g. `"^x" is not a version range`.
    pub message: String,
}

impl Problem {
    /// A problem at the value at `path` (empty for none).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
            ..Problem::default()
        }
    }

    /// The same problem, in `file`.
    #[must_use]
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// The same problem, at `line` (if known).
    #[must_use]
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    /// The same problem, at `column` (if known).
    #[must_use]
    pub fn at_column(mut self, column: Option<usize>) -> Self {
        self.column = column;
        self
    }
}

/// `file:line:column: path: message`, each part only when known; without
/// a file, the place reads `line L, column C`.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line, self.column) {
            (Some(file), line, column) => {
                f.write_str(file)?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                    if let Some(column) = column {
                        write!(f, ":{column}")?;
                    }
                }
                f.write_str(": ")?;
            }
            (None, Some(line), Some(column)) => write!(f, "line {line}, column {column}: ")?,
            (None, Some(line), None) => write!(f, "line {line}: ")?,
            (None, None, _) => {}
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
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
    /// A syntax error at `line` and `column` (1-based) with serde's
    /// `message`.
    pub fn syntax_at(line: usize, column: usize, message: impl Into<String>) -> Self {
        ManifestError::Syntax {
            line,
            column,
            message: message.into(),
        }
    }

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
            } => vec![
                Problem::new("", message.clone())
                    .at_line(Some(*line))
                    .at_column(Some(*column)),
            ],
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
