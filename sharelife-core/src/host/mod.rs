//! The host runtime.
//!
//! [`Host`] is a thin façade over parts that each own their state and
//! logic. The parts a host author reaches:
//!
//! | part | accessor | owns |
//! |---|---|---|
//! | [`PluginTable`] | `host.plugins()` | the plugins, loaded or held back: list, status, lingering libraries |
//! | [`Events`] | `host.events()` | the event bus; subscribing plugins, delivering to one |
//! | [`HealthMonitor`] | `host.health()` | checks now, the periodic monitor, the restart policy and its counters |
//! | [`Metrics`] | `host.metrics()` | per-handler calls, errors, panics, latency |
//! | [`Audit`] | `host.audit()` | the audit sink: flush, health |
//!
//! and inside, each in its own file:
//!
//! | part | owns |
//! |---|---|
//! | [`config`], [`HostBuilder`] | the config file and every setting |
//! | [`discovery`], [`resolver`] | scanning folders, choosing versions, the start order, [`Unmet`] and its wording |
//! | `registry`, `binding` | the table's storage: each id's binding (handles follow it across reloads) and who depends on whom |
//! | `slot` | one plugin version: its lifecycle moves, hooks, and waiting for its calls before it is released |
//! | `dirs` | each plugin's data and temp directories: made at load, the temp one removed at unload |
//! | `loading`, `cascade`, `swap`, `boot`, `shutdown` | the verbs below, which only sequence the parts |
//!
//! The host's own methods are the verbs: [`Host::load`], [`Host::add`],
//! [`Host::load_static`], [`Host::start`], [`Host::stop`],
//! [`Host::unload`], [`Host::reload`], [`Host::reload_in_place`],
//! [`Host::boot`], [`Host::shutdown`], and the calls ([`Host::handle`],
//! [`Host::call`], [`Host::call_async`]).
//!
//! A new part (install sync, the sandbox broker) is a struct in its own
//! file holding what it needs of the others (the shared `Registry`, the
//! bus, the audit sink), made in [`HostBuilder::build`] and reached by an
//! accessor, not another `impl Host` block.
#![forbid(unsafe_code)]

mod audit;
mod binding;
mod boot;
mod builder;
mod cascade;
pub mod config;
mod delivery;
mod dirs;
pub mod discovery;
mod error;
mod events;
mod handle;
mod health;
mod loading;
mod metrics;
mod order;
mod plugin_config;
mod reason;
mod registry;
pub mod resolver;
mod shutdown;
mod slot;
mod swap;
mod table;

use std::path::PathBuf;
use std::sync::Arc;

pub use self::audit::Audit;

pub use self::boot::{BootError, BootFailure, BootReport, BootTimings, Stage};
pub use self::builder::HostBuilder;
use self::builder::Options;
pub use self::cascade::{DependentPolicy, ReloadReport};
pub use self::config::{ConfigError, HostConfig, PluginSettings};
use self::dirs::Directories;
pub use self::error::{HostError, Unmet};
pub use self::events::Events;
pub use self::handle::PluginHandle;
pub use self::health::{
    CheckOutcome, HealthCheck, HealthMonitor, HealthOptions, HealthRecord, Recovery, RestartPolicy,
};
pub use self::metrics::{
    CallStats, LatencyBucket, LatencyHistogram, Metrics, PluginMetricsSnapshot,
};
pub use self::reason::StateReason;
use self::registry::Registry;
pub use self::shutdown::ShutdownReport;
pub use self::slot::Origin;
pub use self::swap::SwapReport;
pub use self::table::{PluginInfo, PluginStatus, PluginTable};
use crate::Buffer;
use crate::manifest::PluginId;

/// What happened when a plugin was unloaded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UnloadReport {
    /// The plugin.
    pub id: PluginId,
    /// The library it came from, for a loaded plugin.
    pub library: Option<PathBuf>,
    /// The first error `stop` or `cleanup` returned (the unload went on):
    /// a [`HostError::Hook`] naming the hook.
    pub hook_error: Option<HostError>,
    /// Whether every object from the library was dropped and the library
    /// closed. `false` when handles to the plugin were still held after
    /// the unload timeout; it closes when the last one is dropped.
    pub closed: bool,
    /// Whether the library is still mapped after closing (`None` where the
    /// platform cannot tell, or for static plugins). `Some(true)` means the
    /// platform kept it loaded, typically because a live thread holds a
    /// thread-local destructor registered by the library; reloading the
    /// same path would then run the *old* code.
    pub still_mapped: Option<bool>,
}

/// The plugin host: a façade over its parts ([`plugins`](Self::plugins),
/// [`events`](Self::events), [`health`](Self::health),
/// [`metrics`](Self::metrics), [`audit`](Self::audit)) with the lifecycle
/// verbs (load, start, stop, unload, reload, boot, shutdown) and calls.
///
/// Every method takes `&self`; share a host between tasks with an `Arc`.
/// Lifecycle methods are `async` and expect a tokio runtime (plugins'
/// timers, event delivery and health checks run on it).
#[derive(Debug)]
pub struct Host {
    options: Options,
    table: PluginTable,
    events: Events,
    health: HealthMonitor,
    metrics: Metrics,
    audit: Audit,
    dirs: Directories,
}

impl Host {
    /// A builder with defaults: data and temp directories under the system
    /// temp dir, no plugin folders or settings, no periodic health checks,
    /// dependents cascaded, calls timed.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The parts, from the builder's settings.
    fn from_parts(options: Options) -> Host {
        let registry = Arc::new(Registry::default());
        let bus = Arc::new(crate::event::EventBus::new(options.events.clone()));
        Host {
            table: PluginTable::new(Arc::clone(&registry), Arc::clone(&bus)),
            events: Events::new(bus, Arc::clone(&registry)),
            health: HealthMonitor::new(Arc::clone(&registry), options.health),
            metrics: Metrics::new(registry),
            audit: Audit::new(Arc::clone(&options.audit)),
            dirs: Directories::new(options.data_root.clone(), options.temp_root.clone()),
            options,
        }
    }

    /// The plugins: list, status, state, last error, ungranted requests,
    /// lingering libraries.
    pub fn plugins(&self) -> &PluginTable {
        &self.table
    }

    /// The events: publish, listen, subscribe plugins, deliver to one,
    /// read per-subscriber counters.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Health: check one plugin or all now, start the periodic monitor.
    pub fn health(&self) -> &HealthMonitor {
        &self.health
    }

    /// Call metrics: per plugin, all, emitted through `tracing`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The audit sink: flush, health.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// What this host grants, for pipelines compiled against it: its
    /// policy, data root and audit sink (never a copy built elsewhere).
    #[cfg(feature = "pipeline")]
    pub(crate) fn grants(&self) -> crate::pipeline::Grants {
        crate::pipeline::Grants::of_host(
            Arc::clone(&self.options.policy),
            self.options.data_root.clone(),
            Arc::clone(&self.options.audit),
        )
    }

    /// The registry the parts share.
    fn registry(&self) -> &Arc<Registry> {
        self.table.registry()
    }

    /// A handle for calling plugin `id` repeatedly without looking it up.
    /// It follows the id across reloads (see [`PluginHandle`]).
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`] if no version of `id` is loaded.
    pub fn handle(&self, id: &str) -> Result<PluginHandle, HostError> {
        self.bound(id).map(PluginHandle::new)
    }

    /// Calls synchronous handler `handler` of plugin `id` and returns its
    /// output. For repeated calls, resolve a [`PluginHandle`] and a
    /// [`HandlerId`](crate::HandlerId) once instead.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`] or [`HostError::Call`].
    pub fn call(&self, id: &str, handler: &str, input: &[u8]) -> Result<Buffer, HostError> {
        let handle = self.handle(id)?;
        let call_error = |error| HostError::Call {
            id: handle.id().clone(),
            handler: handler.to_owned(),
            error,
        };
        let hid = handle.handler(handler).map_err(call_error)?;
        let mut out = Buffer::new();
        handle.call(hid, input, &mut out).map_err(call_error)?;
        Ok(out)
    }

    /// Calls handler `handler` (sync or async) of plugin `id`.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`] or [`HostError::Call`].
    pub async fn call_async(
        &self,
        id: &str,
        handler: &str,
        input: &[u8],
    ) -> Result<Buffer, HostError> {
        let handle = self.handle(id)?;
        let call_error = |error| HostError::Call {
            id: handle.id().clone(),
            handler: handler.to_owned(),
            error,
        };
        let hid = handle.handler(handler).map_err(call_error)?;
        let mut out = Buffer::new();
        handle
            .call_async(hid, input, &mut out)
            .await
            .map_err(call_error)?;
        Ok(out)
    }
}

impl Drop for Host {
    /// Ends the background tasks (health monitor, event delivery), which
    /// hold plugins; plugins still loaded are then dropped with the host.
    /// Call [`Host::shutdown`] first to stop them in order.
    fn drop(&mut self) {
        self.health.stop();
        self.events.close();
    }
}
