//! The host runtime.
//!
//! [`Host`] is a conductor over separate parts, each in its own file:
//!
//! | part | does |
//! |---|---|
//! | [`config`] | the config file: TOML, `${VAR}`, unknown keys refused, JSON Schema |
//! | [`HostBuilder`] | every setting, in code or from a config |
//! | [`discovery`] | scans folders, reads manifests without running code |
//! | [`resolver`] | chooses versions, checks dependencies, orders the start |
//! | `registry` | the loaded plugins and who depends on whom |
//! | `slot` | one plugin: its lifecycle moves and hooks |
//! | `cascade` | start/stop/unload/reload respecting dependencies |
//! | `boot`, `shutdown` | bring everything up, and down in reverse |
//! | [`crate::event`] | the event bus; `delivery` feeds plugins from it |
//! | `health` | periodic checks and the restart policy |
//! | `metrics` | per-handler calls, errors, panics, latency |
//!
//! The loader checks and opens libraries and the lifecycle table decides
//! which moves are legal; the host only sequences them.
#![forbid(unsafe_code)]

mod binding;
mod boot;
mod builder;
mod cascade;
pub mod config;
mod delivery;
pub mod discovery;
mod error;
mod handle;
mod health;
mod loading;
mod metrics;
mod order;
mod plugin_config;
mod registry;
pub mod resolver;
mod shutdown;
mod slot;
mod status;
mod swap;

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

pub use self::boot::{BootError, BootFailure, BootReport, BootTimings, Stage};
pub use self::builder::HostBuilder;
use self::builder::Options;
pub use self::cascade::{DependentPolicy, ReloadReport};
pub use self::config::{ConfigError, HostConfig, PluginSettings};
pub use self::error::{HostError, Unmet};
pub use self::handle::PluginHandle;
pub use self::health::{
    CheckOutcome, HealthCheck, HealthOptions, HealthRecord, Recovery, RestartPolicy,
};
pub use self::metrics::{CallStats, LatencyBucket, LatencyHistogram, PluginMetricsSnapshot};
use self::registry::Registry;
pub use self::shutdown::ShutdownReport;
pub use self::slot::Origin;
pub use self::status::{PluginInfo, PluginStatus};
pub use self::swap::SwapReport;
use crate::event::{EventBus, Listener, PublishReport, Topic};
use crate::loader::{LibraryWatch, is_mapped};
use crate::manifest::PluginId;
use crate::{Buffer, Health};

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

/// The plugin host.
///
/// Every method takes `&self`; share a host between tasks with an `Arc`.
/// Lifecycle methods are `async` and expect a tokio runtime (plugins'
/// timers, event delivery and health checks run on it).
#[derive(Debug)]
pub struct Host {
    options: Options,
    registry: Arc<Registry>,
    events: Arc<EventBus>,
    monitor: Mutex<Option<tokio::task::JoinHandle<()>>>,
    lingering: Mutex<Vec<LibraryWatch>>,
}

impl Host {
    /// A builder with defaults: data and temp directories under the system
    /// temp dir, no plugin folders or settings, no periodic health checks,
    /// dependents cascaded, calls timed.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The event bus: publish, listen, read per-subscriber counters.
    pub fn events(&self) -> &Arc<EventBus> {
        &self.events
    }

    /// Publishes `payload` on `topic` to every active subscriber, without
    /// waiting for any of them.
    ///
    /// # Errors
    ///
    /// [`HostError::Event`] for a bad topic name.
    pub fn broadcast_event(&self, topic: &str, payload: &[u8]) -> Result<PublishReport, HostError> {
        Ok(self.events.publish_bytes(topic, payload)?)
    }

    /// Publishes `value` as JSON on a typed topic.
    ///
    /// # Errors
    ///
    /// [`HostError::Event`].
    pub fn publish<T: serde::Serialize>(
        &self,
        topic: &Topic<T>,
        value: &T,
    ) -> Result<PublishReport, HostError> {
        Ok(self.events.publish(topic, value)?)
    }

    /// A host-side listener on a typed topic (for example
    /// [`LIFECYCLE`](crate::event::LIFECYCLE)).
    ///
    /// # Errors
    ///
    /// [`HostError::Event`] for a bad topic name.
    pub fn listen<T>(&self, topic: &Topic<T>) -> Result<Listener<T>, HostError> {
        Ok(self.events.listen(topic)?)
    }

    /// Subscribes plugin `id` to `topic` at run time; `false` if it was
    /// subscribed already.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`], [`HostError::Event`], or
    /// [`HostError::NoRuntime`] outside a tokio runtime.
    pub fn subscribe(&self, id: &str, topic: &str) -> Result<bool, HostError> {
        self.bound(id)?.subscribe(topic)
    }

    /// Unsubscribes plugin `id` from `topic`; `false` if it was not
    /// subscribed.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`].
    pub fn unsubscribe(&self, id: &str, topic: &str) -> Result<bool, HostError> {
        Ok(self.bound(id)?.unsubscribe(topic))
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

    /// Delivers an event to plugin `id` directly (when active), bypassing
    /// the bus; [`Host::broadcast_event`] goes through subscriptions.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`] or [`HostError::Call`].
    pub async fn send_event(&self, id: &str, topic: &str, payload: &[u8]) -> Result<(), HostError> {
        let handle = self.handle(id)?;
        handle
            .send_event(topic, payload)
            .await
            .map_err(|error| HostError::Call {
                id: handle.id().clone(),
                handler: format!("event {topic}"),
                error,
            })
    }

    /// Runs plugin `id`'s health check now. A panic moves it to `Error`;
    /// nothing else changes (see [`Host::check_health`] for the policy).
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`].
    pub async fn health(&self, id: &str) -> Result<Health, HostError> {
        Ok(self.slot(id)?.health().await)
    }

    /// Runs one round of health checks now, as the periodic monitor does:
    /// every active plugin is checked within the health timeout, and a
    /// failure moves it to `Error` and applies the restart policy
    /// (including the backoff wait).
    pub async fn check_health(&self) -> Vec<HealthCheck> {
        health::round(&self.registry, self.options.health).await
    }

    /// Starts the periodic health checks if an interval is set and they
    /// are not running; [`Host::boot`] calls this.
    pub fn start_health_checks(&self) {
        let mut monitor = self.monitor.lock();
        if monitor.as_ref().is_some_and(|m| !m.is_finished()) {
            return;
        }
        *monitor = health::spawn(Arc::downgrade(&self.registry), self.options.health);
    }

    /// Plugin `id`'s metrics: per handler and for events, calls, errors,
    /// panics and a latency histogram.
    pub fn metrics(&self, id: &str) -> Option<PluginMetricsSnapshot> {
        self.registry
            .get(id)
            .map(|s| s.metrics.snapshot(s.manifest()))
    }

    /// Every loaded plugin's metrics, by id.
    pub fn all_metrics(&self) -> Vec<PluginMetricsSnapshot> {
        self.registry
            .slots()
            .iter()
            .map(|s| s.metrics.snapshot(s.manifest()))
            .collect()
    }

    /// Emits every plugin's metrics through `tracing` (target
    /// `sharelife::metrics`); the health monitor does this each round.
    pub fn emit_metrics(&self) {
        for m in self.all_metrics() {
            m.emit();
        }
    }

    /// Blocks until every audit record made so far is durable (written and
    /// `fsync`ed): read the log after this to see all of it.
    ///
    /// # Errors
    ///
    /// The sink's failure ([`AuditError::WriterStopped`](crate::audit::AuditError::WriterStopped)
    /// once it has stopped).
    pub fn flush_audit(&self) -> Result<(), crate::audit::AuditError> {
        self.options.audit.flush()
    }

    /// The audit sink's health: whether it is writing (a sink that failed
    /// stays failed, and decisions are then denied unless the host was
    /// built with [`AuditFailure::AllowAndAlert`](crate::audit::AuditFailure)),
    /// and how many records wait to be made durable.
    pub fn audit_health(&self) -> crate::audit::AuditHealth {
        self.options.audit.health()
    }

    /// Libraries that were closed but that the platform still keeps mapped,
    /// re-checked now (a library leaves this list once the threads holding
    /// it have exited).
    pub fn lingering_libraries(&self) -> Vec<PathBuf> {
        let mut lingering = self.lingering.lock();
        lingering.retain(|w| is_mapped(w.path()) == Some(true));
        lingering.iter().map(|w| w.path().to_owned()).collect()
    }
}

impl Drop for Host {
    /// Ends the background tasks (health monitor, event delivery), which
    /// hold plugins; plugins still loaded are then dropped with the host.
    /// Call [`Host::shutdown`] first to stop them in order.
    fn drop(&mut self) {
        if let Some(monitor) = self.monitor.lock().take() {
            monitor.abort();
        }
        for binding in self.registry.bindings() {
            binding.end_subscription();
        }
        self.events.close();
    }
}
