//! The services a plugin reaches the outside world through: files, the
//! network, commands, providers, MCP tools and the host's event bus (plus
//! background tasks, `tasks`). Each asks the capability
//! gateway first and writes the decision to the audit log; see
//! [`crate::capability`].
//!
//! This module holds the vocabulary shared by both sides of the library
//! boundary and the backend traits a host implements for providers and MCP
//! servers (with in-memory implementations for tests).
#![forbid(unsafe_code)]

#[cfg(feature = "host")]
mod command;
#[cfg(feature = "host")]
mod fs;
#[cfg(feature = "host")]
mod gated;
#[cfg(feature = "host")]
mod net;
#[cfg(feature = "host")]
pub mod remote;
pub(crate) mod tasks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

#[cfg(feature = "host")]
pub use self::gated::{Backends, GatedServices};
use crate::manifest::ProviderAccess;
use crate::{ErrorKind, PluginError};

/// A file-system operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsOp<'a> {
    /// Read a whole file.
    Read,
    /// Write (create or replace) a file with these bytes.
    Write(&'a [u8]),
    /// List a directory's entry names.
    List,
    /// Remove a file.
    Remove,
}

/// What a file-system operation returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsOutput {
    /// File contents, for `Read`.
    pub bytes: Vec<u8>,
    /// Entry names, sorted, for `List`.
    pub names: Vec<String>,
}

/// An HTTP request the host performs for a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// An `http://` or `https://` URL.
    pub url: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// Give up after this long (the policy may set a shorter limit).
    pub timeout: Duration,
}

impl HttpRequest {
    /// A `GET` of `url` with a 30-second timeout.
    pub fn get(url: impl Into<String>) -> Self {
        HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// An HTTP response. Redirects are not followed: a 3xx comes back as is,
/// and following it is a new, separately checked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

/// A program to run. There is never a shell: `argv[0]` is the program,
/// the rest its arguments, passed as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRequest {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Bytes for its standard input.
    pub stdin: Vec<u8>,
    /// Kill it after this long (the policy may set a shorter limit).
    pub timeout: Duration,
    /// Keep at most this many bytes of stdout and of stderr each.
    pub max_output: usize,
    /// The working directory (relative paths are under the plugin's data
    /// directory). It is checked like a file the plugin reads: the policy
    /// must grant `file` `read` on the directory itself (e.g. `notes/**`
    /// or `notes`). `None` runs the program in the plugin's own temp
    /// directory, which holds nothing but the plugin's scratch files.
    pub cwd: Option<String>,
}

impl CommandRequest {
    /// `argv` with no input, a 30-second timeout, 1 MiB of output, in the
    /// plugin's temp directory.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(argv: I) -> Self {
        CommandRequest {
            argv: argv.into_iter().map(Into::into).collect(),
            stdin: Vec::new(),
            timeout: Duration::from_secs(30),
            max_output: 1 << 20,
            cwd: None,
        }
    }

    /// Runs the program in `dir` (which the policy must let the plugin
    /// read).
    #[must_use]
    pub fn in_dir(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }
}

/// What a finished (or killed) program produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code; `None` when killed by a signal or the timeout.
    pub status: Option<i32>,
    /// Standard output (up to the limit).
    pub stdout: Vec<u8>,
    /// Standard error (up to the limit).
    pub stderr: Vec<u8>,
    /// Whether the timeout killed it.
    pub timed_out: bool,
    /// Whether output beyond the limit was dropped.
    pub truncated: bool,
}

/// A model or service provider the host offers plugins.
pub trait ProviderBackend: Send + Sync + 'static {
    /// Serves one call.
    ///
    /// # Errors
    ///
    /// The provider's failure.
    fn call(&self, access: ProviderAccess, input: &[u8]) -> Result<Vec<u8>, PluginError>;
}

/// An MCP server the host offers plugins.
pub trait McpBackend: Send + Sync + 'static {
    /// The tool's current definition (its JSON description), whose SHA-256
    /// a policy may pin; `None` if there is no such tool.
    fn definition(&self, tool: &str) -> Option<String>;

    /// Calls a tool.
    ///
    /// # Errors
    ///
    /// The tool's failure.
    fn call(&self, tool: &str, args: &[u8]) -> Result<Vec<u8>, PluginError>;
}

/// How an [`InMemoryProvider`] answers.
type Answer = Box<dyn Fn(ProviderAccess, &[u8]) -> Vec<u8> + Send + Sync>;

/// A provider that answers with a fixed function of the input; for tests.
pub struct InMemoryProvider {
    answer: Answer,
    calls: Mutex<Vec<(ProviderAccess, Vec<u8>)>>,
}

impl std::fmt::Debug for InMemoryProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryProvider")
            .field("calls", &self.calls.lock().len())
            .finish_non_exhaustive()
    }
}

impl InMemoryProvider {
    /// A provider answering `answer(access, input)`.
    pub fn new(answer: impl Fn(ProviderAccess, &[u8]) -> Vec<u8> + Send + Sync + 'static) -> Self {
        InMemoryProvider {
            answer: Box::new(answer),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The calls served so far.
    pub fn calls(&self) -> Vec<(ProviderAccess, Vec<u8>)> {
        self.calls.lock().clone()
    }
}

impl ProviderBackend for InMemoryProvider {
    fn call(&self, access: ProviderAccess, input: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.calls.lock().push((access, input.to_vec()));
        Ok((self.answer)(access, input))
    }
}

/// An MCP server with tools defined in memory; for tests.
#[derive(Debug, Default, Clone)]
pub struct InMemoryMcp {
    tools: Arc<Mutex<BTreeMap<String, Tool>>>,
}

/// An in-memory tool: its definition and its fixed answer.
#[derive(Debug, Clone)]
struct Tool {
    definition: String,
    answer: Vec<u8>,
}

impl InMemoryMcp {
    /// An empty server.
    pub fn new() -> Self {
        InMemoryMcp::default()
    }

    /// Defines (or redefines) `tool` with a definition and a fixed answer.
    pub fn define(&self, tool: &str, definition: &str, answer: &[u8]) {
        self.tools.lock().insert(
            tool.to_owned(),
            Tool {
                definition: definition.to_owned(),
                answer: answer.to_vec(),
            },
        );
    }
}

impl McpBackend for InMemoryMcp {
    fn definition(&self, tool: &str) -> Option<String> {
        self.tools.lock().get(tool).map(|t| t.definition.clone())
    }

    fn call(&self, tool: &str, _args: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.tools
            .lock()
            .get(tool)
            .map(|t| t.answer.clone())
            .ok_or_else(|| PluginError::new(format!("no MCP tool {tool:?}")))
    }
}

/// Lowercase hex SHA-256 of an MCP tool definition, as policies pin it.
pub fn definition_sha256(definition: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(definition.as_bytes()))
}

/// The error for a service used where no gateway was configured.
pub(crate) fn no_gateway(service: &str) -> PluginError {
    PluginError::with_kind(
        ErrorKind::Denied,
        format!(
            "{service} denied: this host has no capability gateway for the plugin (default deny)"
        ),
    )
}
