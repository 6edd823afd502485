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
//! | `Loader` (`loading.rs`) | admission (id new, dependencies in range, config against its schema), the context and its gateway, the slot in the registry, and retiring a version (calls drained, `stop`/`cleanup`, services revoked, library closed and checked unmapped) |
//! | `Lifecycle` (`cascade.rs`, `shutdown.rs`) | start, stop, unload and cold reload in dependency order (dependents first or refused), and the ordered shutdown |
//! | `Reload` (`swap.rs`) | hot reload: the new version prepared beside the old, swapped in, the old retired |
//! | `Boot` (`boot.rs`) | discover, resolve, load (in process, or out of it when the config says so), start in order; strict mode; the report |
//! | [`isolation`] | where a plugin runs: [`Isolation`], the [`IsolationProvider`] that starts one out of process ([`HostBuilder::isolation_provider`]), the config's choice (`isolation`, `[sandbox] auto` by risk) and the limits' parser |
//! | `GenerationSync` (`sync.rs`) | the running host made to match its folders now (a new install generation): changed libraries hot-reloaded, new plugins loaded and started, removed ones unloaded; the report |
//!
//! The lifecycle parts hold `Arc`s of what they share (the settings, the
//! `Registry`, the bus, the health monitor, the `Loader`) and are tested
//! alone. The host's own methods are the verbs, each one line handing
//! over to its part: [`Host::load`], [`Host::add`], [`Host::load_static`]
//! (the loader), [`Host::start`], [`Host::stop`], [`Host::unload`],
//! [`Host::reload_in_place`], [`Host::shutdown`] (the lifecycle),
//! [`Host::reload`], [`Host::boot`], [`Host::sync_generation`], and the calls ([`Host::handle`],
//! [`Host::call`], [`Host::call_async`], through [`PluginHandle`]).
//!
//! A new part (install sync, the sandbox broker) is a struct in its own
//! file holding what it needs of the others (the shared `Registry`, the
//! `Loader`, the bus, the audit sink), made in `Host::from_parts` (called
//! by [`HostBuilder::build`]) and reached by an accessor or a one-line
//! verb, not another `impl Host` block.
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
pub mod isolation;
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
mod sync;
mod table;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use self::audit::Audit;

use self::boot::Boot;
pub use self::boot::{BootError, BootFailure, BootReport, BootTimings, Stage};
pub use self::builder::HostBuilder;
use self::builder::Options;
use self::cascade::Lifecycle;
pub use self::cascade::{DependentPolicy, ReloadReport};
pub use self::config::{ConfigError, HostConfig, PluginSettings};
pub use self::error::{HostError, Unmet};
pub use self::events::Events;
pub use self::handle::PluginHandle;
pub use self::health::{
    CheckOutcome, HealthCheck, HealthMonitor, HealthOptions, HealthRecord, Recovery, RestartPolicy,
};
pub use self::isolation::{
    Isolation, IsolationError, IsolationProvider, ProcessLimits, SandboxSupport,
};
use self::loading::Loader;
pub use self::metrics::{
    CallStats, LatencyBucket, LatencyHistogram, Metrics, PluginMetricsSnapshot,
};
pub use self::reason::StateReason;
use self::registry::Registry;
pub use self::shutdown::ShutdownReport;
pub use self::slot::Origin;
use self::swap::Reload;
pub use self::swap::SwapReport;
use self::sync::GenerationSync;
pub use self::sync::{Added, SyncError, SyncFailure, SyncReport};
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
/// verbs (load, start, stop, unload, reload, boot, shutdown) and calls,
/// each handed to the part that owns it.
///
/// Every method takes `&self`; share a host between tasks with an `Arc`.
/// Lifecycle methods are `async` and expect a tokio runtime (plugins'
/// timers, event delivery and health checks run on it).
#[derive(Debug)]
pub struct Host {
    options: Arc<Options>,
    table: Arc<PluginTable>,
    events: Events,
    health: Arc<HealthMonitor>,
    metrics: Metrics,
    audit: Audit,
    loader: Arc<Loader>,
    lifecycle: Arc<Lifecycle>,
    reload: Arc<Reload>,
    boot: Boot,
    sync: GenerationSync,
}

impl Host {
    /// A builder with defaults: data and temp directories under the system
    /// temp dir, no plugin folders or settings, no periodic health checks,
    /// dependents cascaded, calls timed.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The parts, from the builder's settings: each holds the shared
    /// pieces it needs (the registry, the bus, the settings, the loader).
    fn from_parts(options: Options) -> Host {
        let options = Arc::new(options);
        let registry = Arc::new(Registry::default());
        let bus = Arc::new(crate::event::EventBus::new(options.events.clone()));
        let table = Arc::new(PluginTable::new(Arc::clone(&registry), Arc::clone(&bus)));
        let health = Arc::new(HealthMonitor::new(Arc::clone(&registry), options.health));
        let loader = Arc::new(Loader::new(
            Arc::clone(&options),
            Arc::clone(&table),
            Arc::clone(&bus),
        ));
        let lifecycle = Arc::new(Lifecycle {
            options: Arc::clone(&options),
            registry: Arc::clone(&registry),
            loader: Arc::clone(&loader),
            health: Arc::clone(&health),
            bus: Arc::clone(&bus),
        });
        let reload = Arc::new(Reload {
            options: Arc::clone(&options),
            registry: Arc::clone(&registry),
            loader: Arc::clone(&loader),
            bus: Arc::clone(&bus),
        });
        Host {
            sync: GenerationSync::new(
                Arc::clone(&options),
                Arc::clone(&registry),
                Arc::clone(&loader),
                Arc::clone(&lifecycle),
                Arc::clone(&reload),
            ),
            reload,
            boot: Boot {
                options: Arc::clone(&options),
                registry: Arc::clone(&registry),
                loader: Arc::clone(&loader),
                lifecycle: Arc::clone(&lifecycle),
                health: Arc::clone(&health),
            },
            events: Events::new(bus, Arc::clone(&registry)),
            metrics: Metrics::new(registry),
            audit: Audit::new(Arc::clone(&options.audit)),
            table,
            health,
            loader,
            lifecycle,
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

    /// What the kernel gives the sandbox, as the
    /// [`IsolationProvider`] found it when the host was built (and
    /// recorded in the audit log); `None` without a provider.
    pub fn sandbox_support(&self) -> Option<SandboxSupport> {
        self.options.sandbox_support.clone()
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

    /// Loads the plugin library at `path`: reads and validates its manifest
    /// without running its code, checks that its id is new here, that the
    /// plugins it depends on are loaded in range, and its config against
    /// its config schema; then opens it, checks its ABI, creates and
    /// initializes the plugin. The plugin ends `Loaded` (or `Error` if
    /// `initialize` failed, in which case the error is returned and the
    /// plugin stays listed).
    ///
    /// # Errors
    ///
    /// [`HostError::Load`], [`HostError::DuplicateId`],
    /// [`HostError::UnmetDependencies`], [`HostError::PluginConfig`],
    /// [`HostError::Hook`].
    pub async fn load(&self, path: impl AsRef<Path>) -> Result<PluginId, HostError> {
        self.loader.load(path.as_ref()).await
    }

    /// Loads the plugin library at `path` where `isolation` says:
    /// [`Isolation::InProcess`] is [`Host::load`];
    /// [`Isolation::Process`] reads and checks its manifest (no plugin
    /// code runs in the host), runs the admission checks of
    /// [`Host::load`], asks the registered
    /// [`IsolationProvider`] to start it in a child under those limits
    /// (and the `[sandbox] require` of the host's settings), and adds the
    /// plugin it returns, which the host then drives like any other.
    /// [`Host::reload_in_place`] starts it again through the provider;
    /// [`Host::reload`] (hot) starts the new version in a new child
    /// through the provider, under the same limits, hands the old child's
    /// state across and swaps it in: it never opens it in the host's
    /// process.
    ///
    /// # Errors
    ///
    /// As [`Host::load`], and [`HostError::Isolation`] when there is no
    /// provider ([`IsolationError::NoProvider`]), the kernel cannot give
    /// what is required, or the child did not start: the plugin is never
    /// run in process instead.
    pub async fn load_with(
        &self,
        path: impl AsRef<Path>,
        isolation: Isolation,
    ) -> Result<PluginId, HostError> {
        self.loader.load_with(path.as_ref(), isolation).await
    }

    /// Adds a plugin constructed in code, with its manifest. It cannot be
    /// reloaded (the host cannot construct another).
    ///
    /// # Errors
    ///
    /// As [`Host::load`], with [`HostError::InvalidManifest`] instead of
    /// [`HostError::Load`].
    pub async fn add(
        &self,
        manifest: crate::manifest::Manifest,
        plugin: Box<dyn crate::Plugin>,
    ) -> Result<PluginId, HostError> {
        self.loader.add(manifest, plugin).await
    }

    /// Adds every plugin linked into this binary with `#[plugin]` (see
    /// [`crate::static_plugins`]) that is not loaded yet. Returns one result
    /// per registered plugin.
    pub async fn load_static(&self) -> Vec<Result<PluginId, HostError>> {
        self.loader.load_static().await
    }

    /// Starts plugin `id` (from `Loaded`, `Inactive`, or `Error` to restart
    /// it), starting the plugins it depends on first. If one of those fails
    /// to start, `id` is left `Inactive` with the reason. On failure of its
    /// own `start` the plugin is in `Error`.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`], [`HostError::Transition`],
    /// [`HostError::UnmetDependencies`] when a dependency is not loaded or
    /// out of range, [`HostError::DependencyFailed`], [`HostError::Hook`].
    pub async fn start(&self, id: &str) -> Result<(), HostError> {
        self.lifecycle.start(id).await
    }

    /// Stops plugin `id` (`Active → Inactive`). Active plugins that depend
    /// on it are stopped first (or, with [`DependentPolicy::Refuse`], the
    /// stop is refused). New calls are refused from the moment a stop
    /// begins.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`], [`HostError::Transition`],
    /// [`HostError::HasDependents`], [`HostError::Hook`].
    pub async fn stop(&self, id: &str) -> Result<(), HostError> {
        self.lifecycle.stop(id).await
    }

    /// Unloads plugin `id` (stopping it if active, then `cleanup`) and
    /// closes its library, checking that the platform unmapped it. Loaded
    /// plugins that depend on it are stopped first and left `Inactive` with
    /// the reason (or, with [`DependentPolicy::Refuse`], the unload is
    /// refused). Hook errors are reported in the [`UnloadReport`]; the
    /// unload goes on.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`], [`HostError::HasDependents`], or
    /// [`HostError::Transition`] if the plugin is mid-way through another
    /// lifecycle move.
    pub async fn unload(&self, id: &str) -> Result<UnloadReport, HostError> {
        self.lifecycle.unload(id).await
    }

    /// Hot-reloads plugin `id` from the library at `path`: a new version
    /// (or a rebuild) of the same plugin.
    ///
    /// The new version is read, checked (same id, its dependencies loaded,
    /// the plugins that depend on `id` still satisfied, its config valid),
    /// opened and initialized while the old one keeps serving calls. It is
    /// handed the old instance's [`save_state`](crate::Plugin::save_state)
    /// (unless the old one is in `Error`: a failed instance's state is not
    /// trusted; an empty state is not handed over), and started if the old
    /// one was active or in `Error` (left `Inactive` if the old one was).
    /// Then it is swapped in: every
    /// [`PluginHandle`], pipeline and event
    /// subscription of `id` reaches the new version from the next call on,
    /// calls in flight finish on the old one, and the old one is then
    /// stopped, cleaned up and its library closed (waiting for calls in
    /// flight at most the unload timeout). Event queues and subscriptions
    /// carry over; metrics and health records start afresh.
    ///
    /// The state is taken before the swap, so a change the old version
    /// makes while finishing calls in flight is not handed over.
    ///
    /// `path` must be a file not open in this process: `dlopen` of an open
    /// path returns the open library. Copy each build to a fresh path
    /// (`sharelife dev` does).
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`] if `id` is not loaded; otherwise
    /// [`HostError::ReloadFailed`], with the old version still serving,
    /// wrapping why: [`HostError::AlreadyOpen`], [`HostError::Load`],
    /// [`HostError::WrongPlugin`], [`HostError::BreaksDependents`],
    /// [`HostError::UnmetDependencies`], [`HostError::PluginConfig`],
    /// [`HostError::Hook`] (`initialize`, `save_state`, `restore_state` or
    /// `start` failed), [`HostError::Isolation`] (a plugin run out of
    /// process whose new child could not start), or a concurrent unload;
    /// [`HostError::NotReloadable`] for a plugin added in code.
    pub async fn reload(&self, id: &str, path: impl AsRef<Path>) -> Result<SwapReport, HostError> {
        self.reload.reload(id, path.as_ref()).await
    }

    /// A cold reload: unloads plugin `id` and loads it again from the same
    /// library path (picking up a rebuilt file) or static registration,
    /// then starts it if it was active, and starts again the dependents
    /// that were stopped for the reload. The plugin is down in between
    /// (calls fail with `NotActive`) and no state is carried; handles
    /// taken before work again after. [`Host::reload`] swaps a new version
    /// in without downtime instead.
    ///
    /// # Errors
    ///
    /// [`HostError::NotReloadable`] for a plugin added in code, the errors
    /// of [`Host::unload`], [`Host::load`] and [`Host::start`].
    pub async fn reload_in_place(&self, id: &str) -> Result<ReloadReport, HostError> {
        self.lifecycle.reload_in_place(id).await
    }

    /// Brings the host up from its settings: scans the plugin folders,
    /// reads every manifest (no plugin code runs), resolves versions and
    /// dependencies, opens and initializes only the enabled plugins, and
    /// starts them in dependency order (`priority` breaking ties). Then
    /// starts the periodic health checks, if an interval is set.
    ///
    /// A plugin that fails is reported and the others go on; what depends
    /// on it is not loaded, or is left `Inactive` with the reason. In
    /// strict mode any failure stops the boot instead, and everything
    /// started is shut down again.
    ///
    /// # Errors
    ///
    /// [`HostError::Strict`], in strict mode only.
    pub async fn boot(&self) -> Result<BootReport, HostError> {
        self.boot.boot().await
    }

    /// Makes the running host match what its plugin folders hold now,
    /// typically after an install tool flipped the `current` symlink of
    /// the folder (`~/.sharelife/current/plugins`) to a new generation.
    ///
    /// The folders are resolved through their symlinks once, discovered
    /// again (no plugin code runs) and resolved as at boot. Then, in
    /// dependency order: a plugin whose chosen library is another build
    /// than the one it runs (another version, or other bytes: compared by
    /// file identity and SHA-256, never by the path string) is swapped in
    /// through the hot reload (see [`Host::reload`]: under live handles,
    /// calls in flight finishing on the old version); a plugin new in the
    /// folders is loaded and started; a plugin the folders no longer hold
    /// is stopped and unloaded, dependents first; the rest is left alone.
    /// Libraries are loaded from their real paths, so a new generation's
    /// file is never mistaken for the open library under the same link.
    ///
    /// Only plugins that came from the folders are reconciled; plugins
    /// added in code, linked statically or loaded by hand from elsewhere
    /// are left alone. A change that fails (a swap, an addition, a
    /// removal) is reported in [`SyncReport::failed`] with the version
    /// that keeps serving; the others go on. One sync runs at a time.
    ///
    /// # Errors
    ///
    /// [`HostError::Load`] (a [`LoadError::Io`](crate::loader::LoadError::Io))
    /// when a plugin folder cannot be resolved or read (a dangling link):
    /// nothing is changed.
    pub async fn sync_generation(&self) -> Result<SyncReport, HostError> {
        self.sync.sync().await
    }

    /// Stops every active plugin in reverse start order (dependents before
    /// their dependencies), giving each the host's shutdown timeout, then
    /// unloads every plugin in the same order, each with the same bound. A
    /// plugin that does not finish in time is reported and the shutdown
    /// goes on. Health checks end and host listeners see the end of their
    /// streams.
    pub async fn shutdown(&self) -> ShutdownReport {
        self.lifecycle.shutdown().await
    }

    /// A handle for calling plugin `id` repeatedly without looking it up.
    /// It follows the id across reloads (see [`PluginHandle`]).
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`] if no version of `id` is loaded.
    pub fn handle(&self, id: &str) -> Result<PluginHandle, HostError> {
        PluginHandle::find(self.table.registry(), id)
    }

    /// Calls synchronous handler `handler` of plugin `id` and returns its
    /// output. For repeated calls, resolve a [`PluginHandle`] and a
    /// [`HandlerId`](crate::HandlerId) once instead.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`] or [`HostError::Call`].
    pub fn call(&self, id: &str, handler: &str, input: &[u8]) -> Result<Buffer, HostError> {
        self.handle(id)?.call_by_name(handler, input)
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
        self.handle(id)?.call_async_by_name(handler, input).await
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
