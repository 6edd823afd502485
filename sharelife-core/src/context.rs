//! [`PluginContext`]: what a plugin knows about its host and may ask of it.
#![forbid(unsafe_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tracing::Level;

use crate::PluginError;
use crate::manifest::ProviderAccess;
use crate::services::{
    CommandOutput, CommandRequest, FsOp, FsOutput, HttpRequest, HttpResponse, no_gateway,
};

/// A boxed `Send` future, the shape of every host service that waits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The plugin's view of its host: its config, its directories, logging
/// that lands in the host's `tracing` subscriber, timers, the gated
/// services (files, network, commands, providers, MCP tools), publishing
/// events and background tasks.
///
/// A dynamically loaded plugin has its own copy of every static, so it
/// cannot use the host's async runtime or `tracing` dispatcher directly:
/// sleep with [`PluginContext::sleep`] and log with [`PluginContext::log`]
/// (or plain `tracing` macros, which the SDK forwards here).
///
/// Cloning is cheap; every clone is the same context.
#[derive(Clone)]
pub struct PluginContext {
    inner: Arc<Inner>,
}

struct Inner {
    plugin_id: String,
    config: serde_json::Value,
    data_dir: PathBuf,
    temp_dir: PathBuf,
    services: Arc<dyn HostServices>,
}

/// What the host does for a plugin beyond handing it data. Implemented by
/// the host runtime ([`LocalServices`], `GatedServices`), on the plugin
/// side of a library boundary by a proxy that forwards across it, and in a
/// sandboxed plugin's process by one that forwards over a byte channel to
/// the host (`services::remote`).
///
/// Sealed: only this crate implements it, so methods can be added without
/// breaking anyone. A host customises what plugins may reach through its
/// policy and the backends ([`ProviderBackend`](crate::services::ProviderBackend),
/// [`McpBackend`](crate::services::McpBackend)), and what is recorded
/// through an [`AuditSink`](crate::audit::AuditSink).
pub trait HostServices: sealed::Sealed + Send + Sync + 'static {
    /// Emits a log record for the plugin.
    fn log(&self, plugin_id: &str, level: Level, target: &str, message: &str);
    /// The most verbose level the host records.
    fn max_level(&self) -> Level;
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// A file-system operation on `path` (relative paths are under the
    /// plugin's data directory).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Denied`](crate::ErrorKind::Denied) when the gateway
    /// refuses; the operation's failure otherwise.
    fn fs(&self, op: FsOp<'_>, path: &str) -> Result<FsOutput, PluginError> {
        let _ = (op, path);
        Err(no_gateway("file access"))
    }

    /// Performs an HTTP request.
    fn http(&self, request: HttpRequest) -> BoxFuture<'static, Result<HttpResponse, PluginError>> {
        let _ = request;
        Box::pin(std::future::ready(Err(no_gateway("network access"))))
    }

    /// Opens a TCP connection.
    ///
    /// # Errors
    ///
    /// As [`fs`](Self::fs).
    fn connect(&self, host: &str, port: u16) -> Result<std::net::TcpStream, PluginError> {
        let _ = (host, port);
        Err(no_gateway("network access"))
    }

    /// Runs a program.
    fn command(
        &self,
        request: CommandRequest,
    ) -> BoxFuture<'static, Result<CommandOutput, PluginError>> {
        let _ = request;
        Box::pin(std::future::ready(Err(no_gateway("running commands"))))
    }

    /// Calls a provider.
    ///
    /// # Errors
    ///
    /// As [`fs`](Self::fs).
    fn provider(
        &self,
        name: &str,
        access: ProviderAccess,
        input: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        let _ = (name, access, input);
        Err(no_gateway("provider access"))
    }

    /// Calls an MCP tool.
    ///
    /// # Errors
    ///
    /// As [`fs`](Self::fs).
    fn mcp(&self, server: &str, tool: &str, args: &[u8]) -> Result<Vec<u8>, PluginError> {
        let _ = (server, tool, args);
        Err(no_gateway("MCP access"))
    }

    /// Publishes `payload` on the host's event bus under `topic`.
    ///
    /// # Errors
    ///
    /// As [`fs`](Self::fs); a malformed topic is an invalid-input error.
    fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), PluginError> {
        let _ = (topic, payload);
        Err(no_gateway("publishing events"))
    }

    /// Runs `task` in the background on the host's runtime, tied to the
    /// plugin version these services belong to: [`revoke`](Self::revoke)
    /// stops (drops) it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Denied`](crate::ErrorKind::Denied) when the services
    /// are revoked or the plugin already runs as many tasks as it may.
    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), PluginError> {
        drop(task);
        Err(no_gateway("spawning tasks"))
    }

    /// Denies every later request through these services, and stops the
    /// tasks spawned through them: the host calls this when the plugin
    /// version they belong to is unloaded or replaced. Services without a
    /// gateway deny everything already.
    fn revoke(&self) {}
}

/// The plain parts of a context, used to build one.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextData {
    /// The plugin's id.
    pub plugin_id: String,
    /// The plugin's config.
    pub config: serde_json::Value,
    /// A directory that persists across runs, owned by the plugin.
    pub data_dir: PathBuf,
    /// A scratch directory, emptied by the host when the plugin unloads.
    pub temp_dir: PathBuf,
}

impl PluginContext {
    /// Builds a context over the given host services.
    pub fn new(data: ContextData, services: Arc<dyn HostServices>) -> Self {
        PluginContext {
            inner: Arc::new(Inner {
                plugin_id: data.plugin_id,
                config: data.config,
                data_dir: data.data_dir,
                temp_dir: data.temp_dir,
                services,
            }),
        }
    }

    /// A context whose services run in this process: logs go to this
    /// process's `tracing` subscriber, timers to tokio when a runtime is
    /// running (and a timer thread otherwise). Hosts and test harnesses
    /// use this.
    pub fn local(data: ContextData) -> Self {
        Self::new(data, Arc::new(LocalServices))
    }

    /// The plugin's id.
    pub fn plugin_id(&self) -> &str {
        &self.inner.plugin_id
    }

    /// The plugin's config as JSON (`null` when the host gave none).
    pub fn config(&self) -> &serde_json::Value {
        &self.inner.config
    }

    /// The plugin's config decoded into `T`.
    ///
    /// # Errors
    ///
    /// An invalid-input error naming `T` and what did not fit.
    pub fn config_as<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        T::deserialize(&self.inner.config).map_err(|e| {
            PluginError::invalid_input(format!(
                "config of plugin {:?} does not fit {}: {e}",
                self.inner.plugin_id,
                std::any::type_name::<T>()
            ))
        })
    }

    /// A directory that persists across runs, owned by this plugin.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// A scratch directory, emptied when the plugin unloads.
    pub fn temp_dir(&self) -> &Path {
        &self.inner.temp_dir
    }

    /// Logs `message` at `level` through the host's `tracing` subscriber,
    /// with this plugin's id as the `plugin` field.
    pub fn log(&self, level: Level, message: &str) {
        self.log_with_target(level, "plugin", message);
    }

    /// Like [`log`](Self::log), naming the module the record comes from.
    pub fn log_with_target(&self, level: Level, target: &str, message: &str) {
        if level <= self.inner.services.max_level() {
            self.inner
                .services
                .log(&self.inner.plugin_id, level, target, message);
        }
    }

    /// The most verbose level the host records; skip building messages
    /// above it.
    pub fn max_log_level(&self) -> Level {
        self.inner.services.max_level()
    }

    /// Waits for `duration` on the host's timer.
    pub fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.services.sleep(duration)
    }

    /// Files, through the capability gateway.
    pub fn fs(&self) -> Fs<'_> {
        Fs { ctx: self }
    }

    /// Performs an HTTP request on the host, through the gateway: the URL's
    /// host and every address it resolves to are checked.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Denied`](crate::ErrorKind::Denied) when refused; the
    /// request's failure otherwise.
    pub async fn http(&self, request: HttpRequest) -> Result<HttpResponse, PluginError> {
        self.inner.services.http(request).await
    }

    /// Opens a TCP connection to `host:port` through the gateway.
    ///
    /// # Errors
    ///
    /// As [`http`](Self::http).
    pub fn connect(&self, host: &str, port: u16) -> Result<std::net::TcpStream, PluginError> {
        self.inner.services.connect(host, port)
    }

    /// Runs a program (never through a shell, with a clean environment)
    /// through the gateway.
    ///
    /// # Errors
    ///
    /// As [`http`](Self::http).
    pub async fn run(&self, request: CommandRequest) -> Result<CommandOutput, PluginError> {
        self.inner.services.command(request).await
    }

    /// Calls the host's provider `name`.
    ///
    /// # Errors
    ///
    /// As [`http`](Self::http).
    pub fn provider(
        &self,
        name: &str,
        access: ProviderAccess,
        input: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        self.inner.services.provider(name, access, input)
    }

    /// Calls tool `tool` of the host's MCP server `server`.
    ///
    /// # Errors
    ///
    /// As [`http`](Self::http).
    pub fn mcp(&self, server: &str, tool: &str, args: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.inner.services.mcp(server, tool, args)
    }

    /// Publishes `payload` on the host's event bus under `topic`, without
    /// waiting for any subscriber (each has its own bounded queue).
    ///
    /// Gated like every service: the manifest must request the capability
    /// `event` with a matching topic pattern (`#[plugin(publish("orders.*"))]`)
    /// and the host's policy must grant it; every publish is audited.
    /// Topics under `sharelife.` belong to the host and are refused.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Denied`](crate::ErrorKind::Denied) when refused
    /// (also after the plugin was unloaded); invalid input for a malformed
    /// topic.
    pub fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), PluginError> {
        self.inner.services.publish(topic, payload)
    }

    /// Encodes `value` as JSON and [publishes](Self::publish) it.
    ///
    /// # Errors
    ///
    /// As [`publish`](Self::publish); an encoding failure is invalid input.
    pub fn publish_json<T: serde::Serialize + ?Sized>(
        &self,
        topic: &str,
        value: &T,
    ) -> Result<(), PluginError> {
        let payload = serde_json::to_vec(value).map_err(|e| {
            PluginError::invalid_input(format!("cannot encode the event for {topic:?}: {e}"))
        })?;
        self.publish(topic, &payload)
    }

    /// Runs `task` in the background on the host's async runtime (a thread
    /// of its own when the host runs none), for as long as this plugin
    /// version is loaded: when the host unloads or replaces it, the task is
    /// stopped (dropped at its next `.await`, or right away if idle) before
    /// the plugin's library is closed. A panic in the task ends the task
    /// only.
    ///
    /// Spawning needs no capability (a task reaches nothing the plugin
    /// could not reach in a handler), but a plugin may run at most 64 tasks
    /// at once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Denied`](crate::ErrorKind::Denied) after the plugin
    /// was unloaded, or when it already runs 64 tasks.
    pub fn spawn(
        &self,
        task: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), PluginError> {
        self.inner.services.spawn(Box::pin(task))
    }

    #[cfg(feature = "host")]
    pub(crate) fn data(&self) -> ContextData {
        ContextData {
            plugin_id: self.inner.plugin_id.clone(),
            config: self.inner.config.clone(),
            data_dir: self.inner.data_dir.clone(),
            temp_dir: self.inner.temp_dir.clone(),
        }
    }

    #[cfg(feature = "host")]
    pub(crate) fn services(&self) -> &Arc<dyn HostServices> {
        &self.inner.services
    }
}

impl std::fmt::Debug for PluginContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginContext")
            .field("plugin_id", &self.inner.plugin_id)
            .field("data_dir", &self.inner.data_dir)
            .field("temp_dir", &self.inner.temp_dir)
            .finish_non_exhaustive()
    }
}

/// The seal on [`HostServices`]: public so it can bound a public trait, in
/// a private module so no other crate can name it. Every implementation of
/// `HostServices` is listed here.
pub(crate) mod sealed {
    pub trait Sealed {}

    impl Sealed for super::LocalServices {}
    #[cfg(feature = "host")]
    impl Sealed for crate::services::GatedServices {}
    #[cfg(feature = "host")]
    impl Sealed for crate::services::remote::ChannelServices {}
    impl Sealed for crate::abi::export::RemoteServices {}
}

/// Host services of this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalServices;

impl HostServices for LocalServices {
    fn log(&self, plugin_id: &str, level: Level, target: &str, message: &str) {
        // `tracing` macros need a constant level.
        match level {
            Level::ERROR => {
                tracing::error!(target: "sharelife::plugin", plugin = plugin_id, module = target, "{message}")
            }
            Level::WARN => {
                tracing::warn!(target: "sharelife::plugin", plugin = plugin_id, module = target, "{message}")
            }
            Level::INFO => {
                tracing::info!(target: "sharelife::plugin", plugin = plugin_id, module = target, "{message}")
            }
            Level::DEBUG => {
                tracing::debug!(target: "sharelife::plugin", plugin = plugin_id, module = target, "{message}")
            }
            Level::TRACE => {
                tracing::trace!(target: "sharelife::plugin", plugin = plugin_id, module = target, "{message}")
            }
        }
    }

    fn max_level(&self) -> Level {
        tracing::level_filters::LevelFilter::current()
            .into_level()
            .unwrap_or(Level::ERROR)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        #[cfg(feature = "host")]
        if tokio::runtime::Handle::try_current().is_ok() {
            return Box::pin(tokio::time::sleep(duration));
        }
        Box::pin(crate::timer::ThreadSleep::new(duration))
    }

    /// Runs the task on tokio when a runtime is running, on a thread
    /// otherwise. Local services are never revoked, so nothing stops it
    /// but its own end.
    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), PluginError> {
        crate::services::tasks::detached(task);
        Ok(())
    }
}

/// File access through the capability gateway. Paths are relative to the
/// plugin's data directory unless absolute; every use is checked after
/// `..` and symlinks are resolved, and performed through a directory
/// handle no path can escape.
#[derive(Debug, Clone, Copy)]
pub struct Fs<'a> {
    ctx: &'a PluginContext,
}

impl Fs<'_> {
    /// Reads a whole file.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Denied`](crate::ErrorKind::Denied) when refused; the
    /// I/O failure otherwise.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, PluginError> {
        Ok(self.ctx.inner.services.fs(FsOp::Read, path)?.bytes)
    }

    /// Creates or replaces a file (and its missing parent directories).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn write(&self, path: &str, bytes: &[u8]) -> Result<(), PluginError> {
        self.ctx
            .inner
            .services
            .fs(FsOp::Write(bytes), path)
            .map(drop)
    }

    /// Lists a directory's entry names, sorted.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn list(&self, path: &str) -> Result<Vec<String>, PluginError> {
        Ok(self.ctx.inner.services.fs(FsOp::List, path)?.names)
    }

    /// Removes a file.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn remove(&self, path: &str) -> Result<(), PluginError> {
        self.ctx.inner.services.fs(FsOp::Remove, path).map(drop)
    }
}
