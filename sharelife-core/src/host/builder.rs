//! [`HostBuilder`]: every host setting, in code or from a [`HostConfig`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::config::{HostConfig, PluginSettings};
use super::health::{HealthOptions, RestartPolicy};
use super::isolation::{IsolationProvider, SandboxSettings, SandboxSupport};
use super::{DependentPolicy, Host, HostError};
use crate::audit::{
    AuditEvent, AuditFailure, AuditSink, Durability, FileSink, NullSink, Outcome, What,
};
use crate::capability::Policy;
use crate::event::{EventOptions, Overflow};
use crate::manifest::{Dependency, PluginId};
use crate::services::{Backends, McpBackend, ProviderBackend};

/// Builds a [`Host`]: in code, from a config file, or both (later calls
/// override earlier ones).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use sharelife_core::host::{Host, HostConfig};
/// let host = Host::builder()
///     .config(HostConfig::load("host.toml")?)
///     .strict(true)
///     .build()?;
/// let report = host.boot().await?;
/// println!("{report}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HostBuilder {
    pub(super) o: Options,
    plugins: BTreeMap<String, PluginSettings>,
}

/// The built host's settings.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) data_root: PathBuf,
    pub(crate) temp_root: PathBuf,
    pub(crate) unload_timeout: Duration,
    pub(crate) plugin_paths: Vec<PathBuf>,
    pub(crate) auto_load: bool,
    pub(crate) strict: bool,
    pub(crate) plugins: BTreeMap<PluginId, PluginSettings>,
    pub(crate) health: HealthOptions,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) on_dependents: DependentPolicy,
    pub(crate) events: EventOptions,
    pub(crate) time_calls: bool,
    /// One call in this many is timed (after each handler's first ones).
    pub(crate) time_every: u32,
    /// The config file, named in errors about plugin configs.
    pub(crate) config_source: Option<PathBuf>,
    /// What plugins are granted.
    pub(crate) policy: Arc<Policy>,
    /// Where gateway decisions and lifecycle changes are recorded.
    pub(crate) audit: Arc<dyn AuditSink>,
    /// A log file to open as the audit sink at build time.
    pub(crate) audit_log: Option<PathBuf>,
    /// Providers and MCP servers offered to plugins.
    pub(crate) backends: Backends,
    /// What a decision does when its audit record cannot be written.
    pub(crate) audit_failure: AuditFailure,
    /// Starts plugins out of process.
    pub(crate) isolation_provider: Option<Arc<dyn IsolationProvider>>,
    /// The `[sandbox]` table.
    pub(crate) sandbox: SandboxSettings,
    /// What the isolation provider found the kernel gives, asked once at
    /// build time (none without a provider).
    pub(crate) sandbox_support: Option<SandboxSupport>,
}

/// The audit record's plugin field for what the host itself records.
pub(crate) const HOST_AUDIT_ID: &str = "sharelife.host";

/// The audit record's action for the sandbox probe at build time.
pub(crate) const SANDBOX_PROBE_ACTION: &str = "sandbox-probe";

/// Where a host puts its plugins' directories when told nothing: a
/// folder of this process under the system temp dir.
fn default_base() -> PathBuf {
    std::env::temp_dir().join(format!("sharelife-{}", std::process::id()))
}

/// The data root a host uses when its builder or config sets none.
pub(crate) fn default_data_root() -> PathBuf {
    default_base().join("data")
}

impl Options {
    /// Which calls the slots time.
    pub(crate) fn timing(&self) -> super::metrics::Timing {
        super::metrics::Timing::new(self.time_calls, self.time_every)
    }
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder {
            o: Options {
                data_root: default_data_root(),
                temp_root: default_base().join("tmp"),
                unload_timeout: Duration::from_secs(5),
                plugin_paths: Vec::new(),
                auto_load: true,
                strict: false,
                plugins: BTreeMap::new(),
                health: HealthOptions::default(),
                shutdown_timeout: Duration::from_secs(5),
                on_dependents: DependentPolicy::Cascade,
                events: EventOptions::default(),
                time_calls: true,
                time_every: super::metrics::Timing::DEFAULT_EVERY,
                config_source: None,
                policy: Arc::new(Policy::new()),
                audit: Arc::new(NullSink),
                audit_log: None,
                backends: Backends::new(),
                audit_failure: AuditFailure::Deny,
                isolation_provider: None,
                sandbox: SandboxSettings::default(),
                sandbox_support: None,
            },
            plugins: BTreeMap::new(),
        }
    }
}

impl HostBuilder {
    /// Applies a config file's settings: what it sets replaces what was
    /// set before; what it leaves out is kept.
    pub fn config(mut self, config: HostConfig) -> Self {
        let o = &mut self.o;
        o.config_source = config.source;
        o.plugin_paths.extend(config.plugin_paths);
        if let Some(v) = config.auto_load {
            o.auto_load = v;
        }
        if let Some(v) = config.strict {
            o.strict = v;
        }
        if let Some(v) = config.health_check_interval {
            o.health.interval = Some(v);
        }
        if let Some(v) = config.health_check_timeout {
            o.health.timeout = v;
        }
        if let Some(v) = config.restart {
            o.health.restart = v;
        }
        if let Some(v) = config.shutdown_timeout {
            o.shutdown_timeout = v;
        }
        if let Some(v) = config.on_dependents {
            o.on_dependents = v;
        }
        if let Some(v) = config.data_dir {
            o.data_root = v;
        }
        if let Some(v) = config.temp_dir {
            o.temp_root = v;
        }
        if let Some(v) = config.queue_capacity {
            o.events.queue_capacity = v;
        }
        if let Some(v) = config.overflow {
            o.events.overflow = v;
        }
        o.events.topics.extend(config.topics);
        if let Some(policy) = config.policy {
            o.policy = Arc::new(policy);
        }
        if let Some(log) = config.audit_log {
            o.audit_log = Some(log);
        }
        if let Some(v) = config.audit_failure {
            o.audit_failure = v;
        }
        for (id, settings) in config.plugins {
            self.plugins.insert(id.to_string(), settings);
        }
        if config.sandbox.auto.is_some() {
            o.sandbox.auto = config.sandbox.auto;
        }
        if !config.sandbox.require.is_empty() {
            o.sandbox.require = config.sandbox.require;
        }
        self
    }

    /// Registers what starts plugins out of process
    /// ([`Isolation::Process`](super::Isolation::Process),
    /// `isolation = "process"`, `[sandbox] auto`):
    /// `sharelife_sandbox::Provider` for the project's sandbox. Without
    /// one, such plugins are refused with
    /// [`HostError::Isolation`](super::HostError::Isolation).
    pub fn isolation_provider(mut self, provider: Arc<dyn IsolationProvider>) -> Self {
        self.o.isolation_provider = Some(provider);
        self
    }

    /// The `[sandbox]` table in code: plugins whose risk label is at or
    /// above `auto`, or below it with a scan mismatch, run out of process;
    /// `require` names what the kernel must give them.
    pub fn sandbox(mut self, sandbox: SandboxSettings) -> Self {
        self.o.sandbox = sandbox;
        self
    }

    /// Where each plugin's data directory is created (`<root>/<id>`).
    pub fn data_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.o.data_root = root.into();
        self
    }

    /// Where each plugin's temp directory is created (`<root>/<id>`).
    pub fn temp_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.o.temp_root = root.into();
        self
    }

    /// Adds a folder that [`Host::boot`] scans for plugin libraries.
    pub fn plugin_path(mut self, folder: impl Into<PathBuf>) -> Self {
        self.o.plugin_paths.push(folder.into());
        self
    }

    /// Whether plugins the settings do not mention are loaded (default
    /// true).
    pub fn auto_load(mut self, auto_load: bool) -> Self {
        self.o.auto_load = auto_load;
        self
    }

    /// Refuse to boot when any enabled plugin fails (default false: boot
    /// the others and report).
    pub fn strict(mut self, strict: bool) -> Self {
        self.o.strict = strict;
        self
    }

    /// All settings of plugin `id` at once.
    pub fn plugin(mut self, id: impl Into<String>, settings: PluginSettings) -> Self {
        self.plugins.insert(id.into(), settings);
        self
    }

    fn settings(&mut self, id: impl Into<String>) -> &mut PluginSettings {
        self.plugins.entry(id.into()).or_default()
    }

    /// The config handed to plugin `id`.
    pub fn plugin_config(mut self, id: impl Into<String>, config: serde_json::Value) -> Self {
        self.settings(id).config = Some(config);
        self
    }

    /// Whether plugin `id` is loaded by [`Host::boot`].
    pub fn enabled(mut self, id: impl Into<String>, enabled: bool) -> Self {
        self.settings(id).enabled = Some(enabled);
        self
    }

    /// Plugin `id`'s priority: 1 starts first, 100 last (clamped to that).
    pub fn priority(mut self, id: impl Into<String>, priority: u8) -> Self {
        self.settings(id).priority = Some(priority.clamp(1, 100));
        self
    }

    /// Adds a dependency of plugin `id` to those in its manifest.
    pub fn dependency(mut self, id: impl Into<String>, dependency: Dependency) -> Self {
        self.settings(id).dependencies.push(dependency);
        self
    }

    /// Subscribes plugin `id` to `topic` when it is loaded.
    pub fn subscription(mut self, id: impl Into<String>, topic: impl Into<String>) -> Self {
        self.settings(id).subscriptions.push(topic.into());
        self
    }

    /// How long `unload` waits for outstanding handles before reporting
    /// the library as not yet closed.
    pub fn unload_timeout(mut self, timeout: Duration) -> Self {
        self.o.unload_timeout = timeout;
        self
    }

    /// Time between health checks (none by default).
    pub fn health_check_interval(mut self, interval: Duration) -> Self {
        self.o.health.interval = Some(interval);
        self
    }

    /// How long a health check (or a restart) may take (default 5 s).
    pub fn health_check_timeout(mut self, timeout: Duration) -> Self {
        self.o.health.timeout = timeout;
        self
    }

    /// What to do after a failed health check.
    pub fn restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.o.health.restart = policy;
        self
    }

    /// How long each plugin may take to stop during
    /// [`Host::shutdown`] (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.o.shutdown_timeout = timeout;
        self
    }

    /// Cascade to, or refuse because of, dependents (default cascade).
    pub fn on_dependents(mut self, policy: DependentPolicy) -> Self {
        self.o.on_dependents = policy;
        self
    }

    /// Events each subscriber can have waiting (default 256).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.o.events.queue_capacity = capacity.max(1);
        self
    }

    /// The overflow policy of `topic`.
    pub fn topic_overflow(mut self, topic: impl Into<String>, overflow: Overflow) -> Self {
        self.o.events.topics.insert(topic.into(), overflow);
        self
    }

    /// Whether calls are timed into latency histograms (default true).
    /// Calls are sampled: see [`time_calls_every`](Self::time_calls_every).
    pub fn time_calls(mut self, time_calls: bool) -> Self {
        self.o.time_calls = time_calls;
        self
    }

    /// Times the first `n` calls of each handler on each calling thread,
    /// then one call in `n` (two clock reads each), rounded up to a power
    /// of two; default 64, 1 times every call. Counts of calls, errors and
    /// panics stay exact.
    pub fn time_calls_every(mut self, n: u32) -> Self {
        self.o.time_every = n;
        self
    }

    /// The capability policy: what each plugin may do through its
    /// context's services. The default policy denies everything.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.o.policy = Arc::new(policy);
        self
    }

    /// Where every gateway decision, lifecycle change and plugin failure is
    /// recorded (default: nowhere). Overrides `audit_log`.
    pub fn audit_sink(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.o.audit = sink;
        self.o.audit_log = None;
        self
    }

    /// Records to a hash-chained JSON Lines file, opened (and verified, if
    /// it exists) when the host is built, written with group commit: a
    /// record is durable once [`Audit::flush`](super::Audit::flush) (or shutdown, or
    /// dropping the host) returns; a batch is written and `fsync`ed as soon
    /// as the writer thread wakes, typically well under a millisecond
    /// after the decision.
    pub fn audit_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.o.audit_log = Some(path.into());
        self
    }

    /// What a gateway decision does when its audit record cannot be
    /// written or queued (disk full, file size limit, read-only file
    /// system, a writer that cannot keep up): [`AuditFailure::Deny`] (the
    /// default) denies it; [`AuditFailure::AllowAndAlert`] lets it stand
    /// and logs an error. [`Audit::health`](super::Audit::health) reports the sink's state.
    pub fn audit_failure(mut self, what: AuditFailure) -> Self {
        self.o.audit_failure = what;
        self
    }

    /// Offers provider `name` to plugins (subject to the policy).
    pub fn provider(mut self, name: impl Into<String>, backend: Arc<dyn ProviderBackend>) -> Self {
        self.o.backends = self.o.backends.provider(name, backend);
        self
    }

    /// Offers MCP server `name` to plugins (subject to the policy).
    pub fn mcp(mut self, name: impl Into<String>, backend: Arc<dyn McpBackend>) -> Self {
        self.o.backends = self.o.backends.mcp(name, backend);
        self
    }

    /// Builds the host. With an isolation provider, asks it once what the
    /// kernel gives its sandbox
    /// ([`IsolationProvider::support`]), keeps the answer for
    /// [`Host::sandbox_support`] and records it in the audit log: an
    /// `operation` record of plugin `sharelife.host`, action
    /// `sandbox-probe`, whose request is the answer as JSON.
    ///
    /// # Errors
    ///
    /// [`HostError::InvalidPluginId`] for a plugin setting under a string
    /// that is not a plugin id; [`HostError::Audit`] when the audit log
    /// cannot be opened or does not take the probe's record.
    pub fn build(self) -> Result<Host, HostError> {
        let HostBuilder { mut o, plugins } = self;
        // Every rule compiles, or the host is not built: a rule that was
        // skipped would deny (or allow) nothing.
        o.policy.validate()?;
        if let Some(log) = o.audit_log.take() {
            o.audit = Arc::new(FileSink::open(&log, Durability::GroupCommit)?);
        }
        if let Some(provider) = &o.isolation_provider {
            let support = provider.support();
            o.audit.try_record(AuditEvent {
                at: std::time::SystemTime::now(),
                plugin: Arc::from(HOST_AUDIT_ID),
                version: Arc::from(env!("CARGO_PKG_VERSION")),
                what: What::Operation {
                    action: SANDBOX_PROBE_ACTION.to_owned(),
                    detail: serde_json::to_string(&support).unwrap_or_else(|_| support.to_string()),
                    outcome: Outcome::Info,
                },
            })?;
            o.sandbox_support = Some(support);
        }
        for (id, settings) in plugins {
            o.plugins.insert(PluginId::new(id)?, settings);
        }
        Ok(Host::from_parts(o))
    }
}
