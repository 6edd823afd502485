//! `${VAR}` and `${VAR:-default}` in config strings.
//!
//! Values come from the environment and may be secrets: nothing here puts
//! a variable's *value* in an error, only its name.

use std::borrow::Cow;

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvProblem {
    /// `${VAR}` with `VAR` unset and no default.
    Unset(String),
    /// `${` without its `}`.
    Unterminated,
    /// `${...}` whose name is not a variable name.
    BadName(String),
}

impl EnvProblem {
    pub(crate) fn message(&self) -> String {
        match self {
            EnvProblem::Unset(var) => format!(
                "environment variable `{var}` is not set; set it, or give a default with `${{{var}:-default}}`"
            ),
            EnvProblem::Unterminated => {
                "`${` is not closed; write `${VAR}`, or `$${` for a literal `${`".into()
            }
            EnvProblem::BadName(name) => format!(
                "`${{{name}}}` does not name an environment variable (letters, digits and `_`, not starting with a digit); write `$${{` for a literal `${{`"
            ),
        }
    }

    /// The text to look for in the file to find the line of the problem.
    pub(crate) fn needle(&self) -> String {
        match self {
            EnvProblem::Unset(var) | EnvProblem::BadName(var) => format!("${{{var}"),
            EnvProblem::Unterminated => "${".into(),
        }
    }
}

/// Expands every `${VAR}` and `${VAR:-default}` in `text` (`$${` is a
/// literal `${`). `:-` uses the default when the variable is unset or
/// empty, as in the shell.
pub(crate) fn expand<'a>(
    text: &'a str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Cow<'a, str>, EnvProblem> {
    if !text.contains('$') {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or(EnvProblem::Unterminated)?;
            let inner = &tail[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inner, None),
            };
            if !is_var_name(name) {
                return Err(EnvProblem::BadName(name.to_owned()));
            }
            match (lookup(name), default) {
                (Some(value), Some(default)) if value.is_empty() => out.push_str(default),
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => return Err(EnvProblem::Unset(name.to_owned())),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn x(text: &str) -> Result<String, EnvProblem> {
        expand(text, &env).map(Cow::into_owned)
    }

    #[test]
    fn variables_defaults_and_literals() {
        assert_eq!(x("plain").unwrap(), "plain");
        assert_eq!(x("Bearer ${TOKEN}").unwrap(), "Bearer s3cret");
        assert_eq!(x("${MISSING:-fallback}").unwrap(), "fallback");
        assert_eq!(x("${EMPTY:-fallback}").unwrap(), "fallback");
        assert_eq!(x("[${EMPTY}]").unwrap(), "[]");
        assert_eq!(x("${TOKEN:-x}${TOKEN}").unwrap(), "s3crets3cret");
        assert_eq!(x("cost: $5, $${TOKEN}").unwrap(), "cost: $5, ${TOKEN}");
        assert_eq!(x("${MISSING:-}").unwrap(), "");
    }

    #[test]
    fn problems_name_the_variable_never_a_value() {
        assert_eq!(x("${MISSING}"), Err(EnvProblem::Unset("MISSING".into())));
        assert_eq!(x("${TOKEN"), Err(EnvProblem::Unterminated));
        assert_eq!(x("${1X}"), Err(EnvProblem::BadName("1X".into())));
        let message = EnvProblem::Unset("MISSING".into()).message();
        assert!(message.contains("`MISSING` is not set"), "{message}");
        assert!(message.contains("${MISSING:-default}"), "{message}");
    }
}
