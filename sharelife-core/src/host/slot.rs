//! One plugin in the host: its manifest, lifecycle, instance and context,
//! and what the host keeps about it (why it is in its state, its metrics,
//! its health record). What outlives a version (its event subscription,
//! its handler ids) is in its [`Binding`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::HostError;
use super::binding::{Binding, NO_HANDLER};
use super::health::HealthRecord;
use super::metrics::PluginMetrics;
use super::reason::StateReason;
use super::sync::LibraryFile;
use crate::abi::catch::CatchUnwind;
use crate::audit::{AuditEvent, AuditSink, What};
use crate::capability::Gateway;
use crate::capability::declared::Declared;
use crate::event::{EventBus, LIFECYCLE, LifecycleEvent};
use crate::loader::LibraryWatch;
use crate::loader::hazard::reclaim;
use crate::manifest::{Capability, Dependency, Manifest, PluginId};
use crate::{
    BoxFuture, HandlerId, Health, IllegalTransition, Lifecycle, Plugin, PluginContext, PluginError,
    PluginState, StaticPlugin,
};

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Linked into the host binary, or added in code.
    Static,
    /// Loaded from this library file.
    Library(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Static => f.write_str("a static plugin"),
            Origin::Library(p) => write!(f, "{}", p.display()),
        }
    }
}

/// How to make the plugin again, for `reload_in_place`.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Library(PathBuf),
    Registered(&'static StaticPlugin),
    /// Added in code: the host cannot make another one.
    Added,
    /// Loaded from this library out of process, through the host's
    /// isolation provider, under these limits: a cold reload asks the
    /// provider again, and so does a hot reload (a new child under the
    /// same limits; never the host's process).
    Isolated {
        path: PathBuf,
        limits: super::isolation::ProcessLimits,
    },
}

/// Everything a slot is made from.
pub(crate) struct SlotParts {
    /// Shared with the binding when the slot is its first version.
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) plugin: Box<dyn Plugin>,
    pub(crate) ctx: PluginContext,
    pub(crate) watch: Option<LibraryWatch>,
    pub(crate) source: Source,
    pub(crate) priority: u8,
    /// The manifest's dependencies plus those the host config adds.
    pub(crate) requires: Vec<Dependency>,
    pub(crate) events: Arc<EventBus>,
    /// Which calls are timed into the latency histograms.
    pub(crate) timing: super::metrics::Timing,
    /// Where lifecycle changes and failures are recorded.
    pub(crate) audit: Arc<dyn AuditSink>,
    /// The plugin's gateway, compiled once at load: its context's services
    /// and the pipelines compiled against the host decide by it.
    pub(crate) gateway: Arc<Gateway>,
    /// The id's binding (the slot is not bound to it yet).
    pub(crate) binding: Arc<Binding>,
    /// The library's file as it is on disk, for a plugin from one: a sync
    /// tells an unchanged build by it (a changed one is hot-reloaded, an
    /// isolated plugin's in a new child). See [`Loader::library_file`](super::loading::Loader::library_file).
    pub(crate) file: Option<LibraryFile>,
}

pub(crate) struct Slot {
    manifest: Arc<Manifest>,
    binding: Weak<Binding>,
    /// For each binding handler id: this version's handler, and what a
    /// call needs to know of it.
    routes: Box<[Option<Route>]>,
    lifecycle: Lifecycle,
    pub(super) plugin: Box<dyn Plugin>,
    pub(super) ctx: PluginContext,
    origin: Origin,
    /// The real file behind `origin` when the version was made (symlinks
    /// resolved then): what the generation sync (`sync.rs`) compares.
    file: Option<LibraryFile>,
    watch: Option<LibraryWatch>,
    source: Source,
    priority: u8,
    requires: Vec<Dependency>,
    initialized: AtomicBool,
    last_error: Mutex<Option<PluginError>>,
    reason: Mutex<Option<StateReason>>,
    pub(crate) metrics: PluginMetrics,
    pub(crate) health: Mutex<HealthRecord>,
    pub(super) events: Arc<EventBus>,
    /// Serializes lifecycle moves of this plugin (hooks are async).
    moving: tokio::sync::Mutex<()>,
    audit: Arc<dyn AuditSink>,
    audit_id: (Arc<str>, Arc<str>),
    gateway: Arc<Gateway>,
}

/// Where a binding handler id goes in one version: the version's own
/// handler index, and what the call path needs to know of that handler
/// (kept beside the index, so a call reads them in one load instead of
/// going through the manifest each time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) local: HandlerId,
    pub(crate) is_async: bool,
    /// What the handler declared it uses (`#[handler(uses(..))]`).
    pub(crate) declared: Option<Declared>,
}

impl Route {
    /// The routes of a version with `manifest`, from its dispatch table
    /// ([`Binding::dispatch_table`]).
    fn table(dispatch: &[u32], manifest: &Manifest) -> Box<[Option<Route>]> {
        dispatch
            .iter()
            .map(|&i| {
                if i == NO_HANDLER {
                    return None;
                }
                let h = manifest.handlers.get(usize::try_from(i).ok()?)?;
                Some(Route {
                    local: HandlerId(i),
                    is_async: h.is_async,
                    declared: Declared::of(h),
                })
            })
            .collect()
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("id", &self.manifest.id)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Slot {
    pub(crate) fn new(parts: SlotParts) -> Self {
        let origin = match &parts.source {
            Source::Library(p) | Source::Isolated { path: p, .. } => Origin::Library(p.clone()),
            Source::Registered(_) | Source::Added => Origin::Static,
        };
        Slot {
            file: parts.file,
            audit_id: (
                parts.manifest.id.as_str().into(),
                parts.manifest.version.to_string().into(),
            ),
            audit: parts.audit,
            gateway: parts.gateway,
            lifecycle: Lifecycle::new(parts.manifest.id.as_str()),
            metrics: PluginMetrics::new(&parts.manifest, parts.timing),
            routes: Route::table(
                &parts.binding.dispatch_table(&parts.manifest),
                &parts.manifest,
            ),
            binding: Arc::downgrade(&parts.binding),
            manifest: parts.manifest,
            plugin: parts.plugin,
            ctx: parts.ctx,
            origin,
            watch: parts.watch,
            source: parts.source,
            priority: parts.priority,
            requires: parts.requires,
            initialized: AtomicBool::new(false),
            last_error: Mutex::new(None),
            reason: Mutex::new(None),
            health: Mutex::new(HealthRecord::default()),
            events: parts.events,
            moving: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn id(&self) -> &PluginId {
        &self.manifest.id
    }

    pub(crate) fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub(crate) fn manifest_arc(&self) -> &Arc<Manifest> {
        &self.manifest
    }

    /// Where binding handler id `handler` goes in this version, if it has
    /// that handler. A reference into the table, not a copy: the call
    /// path reads the fields it needs where they are (copying the route
    /// out through an `Option` or a `Result` wrote it in pieces and read
    /// it back whole, a store-forwarding stall that cost ~5 ns a call).
    #[inline]
    pub(crate) fn route(&self, handler: HandlerId) -> Option<&Route> {
        self.routes.get(handler.index())?.as_ref()
    }

    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    pub(crate) fn source(&self) -> &Source {
        &self.source
    }

    pub(crate) fn priority(&self) -> u8 {
        self.priority
    }

    pub(crate) fn requires(&self) -> &[Dependency] {
        &self.requires
    }

    pub(crate) fn context(&self) -> &PluginContext {
        &self.ctx
    }

    pub(crate) fn watch(&self) -> Option<&LibraryWatch> {
        self.watch.as_ref()
    }

    /// The real file this version was loaded from, as it was at load.
    pub(crate) fn file(&self) -> Option<&LibraryFile> {
        self.file.as_ref()
    }

    pub(crate) fn library_path(&self) -> Option<&Path> {
        match &self.origin {
            Origin::Library(p) => Some(p),
            Origin::Static => None,
        }
    }

    #[inline]
    pub(crate) fn state(&self) -> PluginState {
        self.lifecycle.state()
    }

    pub(crate) fn last_error(&self) -> Option<PluginError> {
        self.last_error.lock().clone()
    }

    /// Why the plugin is in its state, when the host knows.
    pub(crate) fn reason(&self) -> Option<StateReason> {
        self.reason.lock().clone()
    }

    pub(crate) fn set_reason(&self, reason: StateReason) {
        *self.reason.lock() = Some(reason);
    }

    /// The one way a slot changes state: through the lifecycle table, then
    /// recording `reason`, gating event delivery, and publishing the move.
    pub(crate) fn move_to(
        &self,
        to: PluginState,
        reason: Option<StateReason>,
    ) -> Result<PluginState, IllegalTransition> {
        let from = self.lifecycle.move_to(to)?;
        self.record(What::Lifecycle {
            from: from.to_string(),
            to: to.to_string(),
        });
        let text = reason.as_ref().map(ToString::to_string);
        *self.reason.lock() = reason;
        if let Some(binding) = self.binding.upgrade() {
            binding.state_changed(self, to);
        }
        if self.events.has_subscribers(LIFECYCLE.name()) {
            let event = LifecycleEvent {
                plugin: self.manifest.id.to_string(),
                version: self.manifest.version.to_string(),
                from,
                to,
                reason: text,
            };
            if let Err(e) = self.events.publish(&LIFECYCLE, &event) {
                tracing::warn!(plugin = %self.manifest.id, error = %e, "lifecycle event not published");
            }
        }
        Ok(from)
    }

    /// Records `error` and moves to `Error` (when the table allows it).
    pub(crate) fn fail(&self, place: &str, error: &PluginError) {
        tracing::error!(plugin = %self.manifest.id, place, error = %error, "plugin failed");
        *self.last_error.lock() = Some(error.clone());
        self.record(What::Error {
            message: format!("{place}: {error}"),
        });
        let reason = StateReason::Failed {
            place: place.to_owned(),
            error: error.clone(),
        };
        let _ = self.move_to(PluginState::Error, Some(reason));
    }

    fn record(&self, what: What) {
        self.audit.record(AuditEvent {
            at: std::time::SystemTime::now(),
            plugin: Arc::clone(&self.audit_id.0),
            version: Arc::clone(&self.audit_id.1),
            what,
        });
    }

    /// Manifest requests the policy does not grant.
    pub(crate) fn ungranted(&self) -> &[Capability] {
        self.gateway.ungranted()
    }

    /// The gateway this version's requests are decided by.
    #[cfg_attr(
        not(feature = "pipeline"),
        allow(dead_code, reason = "read by pipelines only")
    )]
    pub(crate) fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Runs a hook with panics contained; a failure moves the plugin to
    /// `Error` and becomes a [`HostError::Hook`].
    async fn run_hook<'a>(
        &'a self,
        hook: &'static str,
        make: impl FnOnce() -> BoxFuture<'a, Result<(), PluginError>>,
    ) -> Result<(), HostError> {
        // Instrumented, not entered: an entered span held across an await
        // would tag whatever else the thread runs meanwhile (and is !Send).
        let span = tracing::debug_span!("hook", plugin = %self.manifest.id, hook);
        match tracing::Instrument::instrument(CatchUnwind::new(make), span).await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.fail(&format!("{hook} failed"), &error);
                Err(HostError::Hook {
                    id: self.manifest.id.clone(),
                    hook,
                    error,
                })
            }
        }
    }

    pub(crate) async fn initialize(&self) -> Result<(), HostError> {
        let _moving = self.moving.lock().await;
        self.move_to(PluginState::Loading, None)?;
        self.run_hook("initialize", || self.plugin.initialize(&self.ctx))
            .await?;
        self.initialized.store(true, Ordering::Release);
        self.move_to(PluginState::Loaded, None)?;
        Ok(())
    }

    /// Starts the plugin from `Loaded`, `Inactive` or `Error`.
    pub(crate) async fn start(&self) -> Result<(), HostError> {
        let _moving = self.moving.lock().await;
        let from = self.state();
        if !from.can_move_to(PluginState::Active) {
            return Err(self.illegal(from, PluginState::Active).into());
        }
        if !self.initialized.load(Ordering::Acquire) {
            // Restarting a plugin whose initialize failed: initialize first.
            self.run_hook("initialize", || self.plugin.initialize(&self.ctx))
                .await?;
            self.initialized.store(true, Ordering::Release);
        }
        self.run_hook("start", || self.plugin.start(&self.ctx))
            .await?;
        self.move_to(PluginState::Active, None)?;
        *self.last_error.lock() = None;
        Ok(())
    }

    /// Stops an active plugin; `reason` says why, when it was not asked for
    /// directly (a dependency stopped, the host is shutting down).
    pub(crate) async fn stop(&self, reason: Option<StateReason>) -> Result<(), HostError> {
        let _moving = self.moving.lock().await;
        let from = self.state();
        if from != PluginState::Active {
            return Err(self.illegal(from, PluginState::Inactive).into());
        }
        self.stop_locked(reason).await
    }

    async fn stop_locked(&self, reason: Option<StateReason>) -> Result<(), HostError> {
        // Inactive first, so that no new call starts while `stop` runs.
        self.move_to(PluginState::Inactive, reason)?;
        self.run_hook("stop", || self.plugin.stop(&self.ctx)).await
    }

    /// Keeps a plugin that was never started from starting: `Loaded →
    /// Inactive` with the reason (a dependency failed). An already inactive
    /// plugin only gets the new reason.
    pub(crate) async fn hold(&self, reason: StateReason) {
        let _moving = self.moving.lock().await;
        match self.state() {
            PluginState::Loaded => {
                let _ = self.move_to(PluginState::Inactive, Some(reason));
            }
            PluginState::Inactive => self.set_reason(reason),
            _ => {}
        }
    }

    fn illegal(&self, from: PluginState, to: PluginState) -> IllegalTransition {
        IllegalTransition {
            plugin: self.manifest.id.to_string(),
            from,
            to,
        }
    }

    /// Stops and cleans up, ending in `Unloading`. The first hook error is
    /// returned; hook errors do not stop the unload.
    pub(crate) async fn prepare_unload(
        &self,
        reason: StateReason,
    ) -> Result<Option<HostError>, HostError> {
        let _moving = self.moving.lock().await;
        let mut hook_error = None;
        if self.state() == PluginState::Active
            && let Err(e) = self.stop_locked(Some(reason)).await
        {
            hook_error = Some(e);
        }
        self.move_to(PluginState::Unloading, None)?;
        if self.initialized.load(Ordering::Acquire) {
            let cleanup = CatchUnwind::new(|| self.plugin.cleanup(&self.ctx)).await;
            if let Err(e) = cleanup {
                tracing::warn!(plugin = %self.manifest.id, error = %e, "cleanup failed; unloading anyway");
                hook_error.get_or_insert_with(|| HostError::Hook {
                    id: self.manifest.id.clone(),
                    hook: "cleanup",
                    error: e,
                });
            }
        }
        Ok(hook_error)
    }

    /// Waits (until `deadline`) for the calls in flight on this version to
    /// return: each holds a reference to it.
    pub(crate) async fn wait_for_calls(slot: &Arc<Slot>, deadline: Instant) {
        wait_until_sole(slot, deadline).await;
    }

    /// The last step of an unload: once nothing else holds this version
    /// (waiting until `deadline`), moves it to `Unloaded` and drops it,
    /// closing its library; `false` if it is still held then (it closes
    /// when the last holder lets go).
    pub(crate) async fn release(slot: Arc<Slot>, deadline: Instant) -> bool {
        match take_sole(slot, deadline).await {
            Ok(owned) => {
                owned.finish_unload();
                true
            }
            Err(shared) => {
                tracing::warn!(plugin = %shared.id(), handles = Arc::strong_count(&shared) - 1, "unload timed out waiting for calls in flight; the library closes when the last returns");
                false
            }
        }
    }

    fn finish_unload(self) {
        if let Err(e) = self.move_to(PluginState::Unloaded, None) {
            tracing::warn!(error = %e, "unexpected state at the end of unload");
        }
        // Dropping `self` drops the plugin, then (for a loaded plugin) the
        // last reference to its library, which closes it.
    }

    /// The plugin's `save_state`, panics contained.
    pub(crate) async fn save_state(&self) -> Result<Vec<u8>, PluginError> {
        CatchUnwind::new(|| self.plugin.save_state(&self.ctx)).await
    }

    /// The plugin's `restore_state`, panics contained.
    pub(crate) async fn restore_state(&self, state: &[u8]) -> Result<(), PluginError> {
        CatchUnwind::new(|| self.plugin.restore_state(&self.ctx, state)).await
    }

    /// Runs the plugin's health check, panics contained. Does not change
    /// the state: the health monitor decides what a failure means.
    pub(crate) async fn check_health(&self) -> Result<Health, PluginError> {
        CatchUnwind::new(|| {
            let fut = self.plugin.health(&self.ctx);
            Box::pin(async move { Ok::<_, PluginError>(fut.await) }) as BoxFuture<'_, _>
        })
        .await
    }

    /// [`check_health`](Self::check_health), with a panic moving the plugin
    /// to `Error` (what [`HealthMonitor::check`](super::HealthMonitor::check) does).
    pub(crate) async fn health(&self) -> Health {
        match self.check_health().await {
            Ok(health) => health,
            Err(error) => {
                self.fail("health check panicked", &error);
                Health::Unhealthy(error.to_string())
            }
        }
    }
}

/// Unloads (process-wide) waiting for a version's other holders to let go.
static WAITING: AtomicUsize = AtomicUsize::new(0);
/// Signalled by the call paths each time they let go of a version while an
/// unload is waiting.
static RELEASED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// How often a waiting unload looks again without a signal: only holders
/// that are not calls (a health check, a registry snapshot) let go without
/// signalling; every call path signals.
const UNSIGNALLED_RECHECK: Duration = Duration::from_millis(1);

/// Tells waiting unloads that a hold on a version was just dropped. The
/// call paths call it right after dropping their hold: one load of an
/// atomic when no unload waits.
#[inline]
pub(crate) fn released() {
    if WAITING.load(Ordering::SeqCst) != 0 {
        RELEASED.notify_waiters();
    }
}

/// Counts a waiting unload in [`WAITING`] while it lives.
struct Waiting;

impl Waiting {
    fn new() -> Self {
        WAITING.fetch_add(1, Ordering::SeqCst);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits until `arc` is the only reference, or `deadline`. Returns at once
/// (no yield, no timer) when nothing else holds it, the common case;
/// otherwise waits for a [`released`] signal from the calls in flight,
/// looking again every [`UNSIGNALLED_RECHECK`] for holders that do not
/// signal.
async fn wait_until_sole<T>(arc: &Arc<T>, deadline: Instant) {
    wait_until_sole_rechecking(arc, deadline, UNSIGNALLED_RECHECK).await;
}

async fn wait_until_sole_rechecking<T>(arc: &Arc<T>, deadline: Instant, every: Duration) {
    // A version swapped out of its binding keeps a reference in the
    // retire list while synchronous calls still hold it by hazard
    // pointer; a reclaim drops that reference once none does.
    reclaim();
    if Arc::strong_count(arc) == 1 {
        return;
    }
    let _waiting = Waiting::new();
    loop {
        // Registered before the count is read (and the hazards scanned),
        // so a release between the read and the await is not missed.
        let notified = RELEASED.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        reclaim();
        if Arc::strong_count(arc) == 1 {
            return;
        }
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let recheck = (deadline - now).min(every);
        let _ = tokio::time::timeout(recheck, notified).await;
    }
}

/// The value, once `arc` is its only reference; the `Arc` back if it is
/// still shared at `deadline`.
async fn take_sole<T>(mut arc: Arc<T>, deadline: Instant) -> Result<T, Arc<T>> {
    loop {
        wait_until_sole(&arc, deadline).await;
        match Arc::try_unwrap(arc) {
            Ok(owned) => return Ok(owned),
            Err(shared) if Instant::now() >= deadline => return Err(shared),
            // Taken again between the wait and the unwrap.
            Err(shared) => arc = shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_signalled_release_wakes_the_wait_without_a_timer() {
        let arc = Arc::new(7_u8);
        let call = Arc::clone(&arc);
        let release = tokio::spawn(async move {
            drop(call);
            released();
        });
        // No recheck and no deadline within the test's lifetime: only the
        // signal can end this wait (were it missed, the test would hang).
        let day = Duration::from_secs(86_400);
        wait_until_sole_rechecking(&arc, Instant::now() + day, day).await;
        assert_eq!(Arc::strong_count(&arc), 1);
        release.await.unwrap();
        assert_eq!(take_sole(arc, Instant::now()).await, Ok(7));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_sole_holder_returns_at_once_and_an_unsignalled_one_is_seen() {
        let arc = Arc::new(7_u8);
        wait_until_sole(&arc, Instant::now() + Duration::from_secs(60)).await;
        let other = Arc::clone(&arc);
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            // A holder that does not signal (not a call path).
            drop(other);
        });
        wait_until_sole(&arc, Instant::now() + Duration::from_secs(60)).await;
        assert_eq!(Arc::strong_count(&arc), 1);
        release.await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_holder_past_the_deadline_gets_the_arc_back() {
        let arc = Arc::new(7_u8);
        let stuck = Arc::clone(&arc);
        let deadline = Instant::now() + Duration::from_millis(3);
        wait_until_sole(&arc, deadline).await;
        let back = take_sole(arc, deadline).await.unwrap_err();
        assert_eq!(Arc::strong_count(&back), 2);
        drop(stuck);
    }
}
