//! The error a plugin returns from its hooks and handlers.
#![forbid(unsafe_code)]

use std::fmt;

/// What kind of failure a [`PluginError`] is.
///
/// Hosts match on this; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The plugin tried and failed.
    Failed,
    /// The input could not be decoded (bad UTF-8, bad JSON, wrong shape).
    InvalidInput,
    /// No handler has that id or name.
    UnknownHandler,
    /// The handler is async; call it through the async path.
    AsyncHandler,
    /// The plugin panicked; it has been moved to `Error`.
    Panicked,
    /// The plugin is not in a state that accepts this call.
    NotActive,
    /// A host service refused the request.
    Denied,
    /// The operation ran out of time.
    Timeout,
}

impl ErrorKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            ErrorKind::Failed => 0,
            ErrorKind::InvalidInput => 1,
            ErrorKind::UnknownHandler => 2,
            ErrorKind::AsyncHandler => 3,
            ErrorKind::Panicked => 4,
            ErrorKind::NotActive => 5,
            ErrorKind::Denied => 6,
            ErrorKind::Timeout => 7,
        }
    }

    /// Codes from a newer plugin that this host does not know read as
    /// [`ErrorKind::Failed`].
    pub(crate) fn from_code(code: u8) -> Self {
        match code {
            1 => ErrorKind::InvalidInput,
            2 => ErrorKind::UnknownHandler,
            3 => ErrorKind::AsyncHandler,
            4 => ErrorKind::Panicked,
            5 => ErrorKind::NotActive,
            6 => ErrorKind::Denied,
            7 => ErrorKind::Timeout,
            _ => ErrorKind::Failed,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Failed => "failed",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::UnknownHandler => "unknown handler",
            ErrorKind::AsyncHandler => "async handler",
            ErrorKind::Panicked => "panicked",
            ErrorKind::NotActive => "not active",
            ErrorKind::Denied => "denied",
            ErrorKind::Timeout => "timed out",
        })
    }
}

/// An error returned by a plugin hook or handler.
///
/// It crosses the library boundary as plain data (kind, message, whether
/// retrying may help), so a host can match on it whichever side raised it.
///
/// It is one pointer wide (its parts live in one allocation, made when
/// the error is), so a `Result<(), PluginError>` comes back from a call
/// in a register: the success path writes and reads no memory for it.
#[derive(Clone, PartialEq, Eq)]
pub struct PluginError(Box<Parts>);

#[derive(Clone, PartialEq, Eq)]
struct Parts {
    kind: ErrorKind,
    message: String,
    retryable: bool,
}

impl fmt::Debug for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginError")
            .field("kind", &self.0.kind)
            .field("message", &self.0.message)
            .field("retryable", &self.0.retryable)
            .finish()
    }
}

impl PluginError {
    /// A plain failure with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::Failed, message)
    }

    /// An error of a given kind.
    pub fn with_kind(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::from_parts(kind, message.into(), false)
    }

    /// A failure that may succeed if tried again (a pipeline's `retry`
    /// policy only retries these).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::from_parts(ErrorKind::Failed, message.into(), true)
    }

    /// Bad input.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::with_kind(ErrorKind::InvalidInput, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The message, for people.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Whether retrying may help.
    pub fn is_retryable(&self) -> bool {
        self.0.retryable
    }

    pub(crate) fn from_parts(kind: ErrorKind, message: String, retryable: bool) -> Self {
        PluginError(Box::new(Parts {
            kind,
            message,
            retryable,
        }))
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.kind {
            ErrorKind::Failed => f.write_str(&self.0.message),
            kind => write!(f, "{kind}: {}", self.0.message),
        }
    }
}

impl std::error::Error for PluginError {}

impl From<serde_json::Error> for PluginError {
    fn from(err: serde_json::Error) -> Self {
        PluginError::invalid_input(format!("json: {err}"))
    }
}

impl From<std::io::Error> for PluginError {
    fn from(err: std::io::Error) -> Self {
        PluginError::new(format!("io: {err}"))
    }
}

impl From<String> for PluginError {
    fn from(message: String) -> Self {
        PluginError::new(message)
    }
}

impl From<&str> for PluginError {
    fn from(message: &str) -> Self {
        PluginError::new(message)
    }
}

/// The text of a panic payload (`panic!("...")` carries a `&str` or a
/// `String`; anything else is reported generically).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_result_is_one_pointer_wide_so_it_returns_in_a_register() {
        assert_eq!(
            size_of::<Result<(), PluginError>>(),
            size_of::<usize>(),
            "Ok(()) must come back in a register, not through memory the caller rereads"
        );
    }

    #[test]
    fn debug_shows_the_parts() {
        let e = PluginError::retryable("try again");
        assert_eq!(
            format!("{e:?}"),
            r#"PluginError { kind: Failed, message: "try again", retryable: true }"#
        );
        assert_eq!(e.clone(), e);
        assert_ne!(e, PluginError::new("try again"));
    }
}
