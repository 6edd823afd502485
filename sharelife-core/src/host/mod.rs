//! The host runtime: a set of plugins, each in a [`Slot`], driven through
//! the lifecycle table.
//!
//! [`Host`] is a conductor: the loader checks and opens libraries, the
//! lifecycle table decides which moves are legal, each slot runs its
//! plugin's hooks; the host only sequences them.
#![forbid(unsafe_code)]

mod slot;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use self::slot::Slot;
pub use self::slot::{Origin, PluginHandle};
use crate::loader::{LibraryWatch, LoadError, PluginFile, is_mapped};
use crate::manifest::{Manifest, ManifestError, PluginId};
use crate::{
    Buffer, ContextData, Health, IllegalTransition, Plugin, PluginContext, PluginError, PluginState,
};

/// Why a host operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The library could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A plugin with this id is already in the host.
    #[error("plugin {id:?} is already loaded (from {existing}); unload it first")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where the loaded one came from.
        existing: String,
    },
    /// No plugin with this id is in the host.
    #[error("no plugin {0:?} is loaded")]
    NotFound(String),
    /// The lifecycle table does not allow the move.
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
    /// A lifecycle hook failed or panicked; the plugin is now in `Error`.
    #[error("plugin {id:?} failed in {hook}: {error}")]
    Hook {
        /// The plugin.
        id: String,
        /// The hook: `initialize`, `start`, `stop` or `cleanup`.
        hook: &'static str,
        /// What the plugin reported.
        error: PluginError,
    },
    /// A handler call failed.
    #[error("plugin {id:?}, handler {handler:?}: {error}")]
    Call {
        /// The plugin.
        id: String,
        /// The handler name.
        handler: String,
        /// What the plugin reported.
        error: PluginError,
    },
    /// A manifest given to [`Host::add`] is invalid.
    #[error("plugin {id:?}: {source}")]
    InvalidManifest {
        /// The plugin.
        id: String,
        /// The problems.
        source: ManifestError,
    },
    /// A plugin directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// What happened when a plugin was unloaded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UnloadReport {
    /// The plugin.
    pub id: PluginId,
    /// The library it came from, for a loaded plugin.
    pub library: Option<PathBuf>,
    /// An error `stop` or `cleanup` returned (the unload went on).
    pub hook_error: Option<String>,
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

/// Builds a [`Host`].
#[derive(Debug, Clone)]
pub struct HostBuilder {
    data_root: PathBuf,
    temp_root: PathBuf,
    configs: BTreeMap<String, serde_json::Value>,
    unload_timeout: Duration,
}

impl Default for HostBuilder {
    fn default() -> Self {
        let base = std::env::temp_dir().join(format!("sharelife-{}", std::process::id()));
        HostBuilder {
            data_root: base.join("data"),
            temp_root: base.join("tmp"),
            configs: BTreeMap::new(),
            unload_timeout: Duration::from_secs(5),
        }
    }
}

impl HostBuilder {
    /// Where each plugin's data directory is created (`<root>/<id>`).
    pub fn data_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.data_root = root.into();
        self
    }

    /// Where each plugin's temp directory is created (`<root>/<id>`).
    pub fn temp_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.temp_root = root.into();
        self
    }

    /// The config handed to plugin `id`.
    pub fn plugin_config(mut self, id: impl Into<String>, config: serde_json::Value) -> Self {
        self.configs.insert(id.into(), config);
        self
    }

    /// How long `unload` waits for outstanding handles before reporting
    /// the library as not yet closed.
    pub fn unload_timeout(mut self, timeout: Duration) -> Self {
        self.unload_timeout = timeout;
        self
    }

    /// Builds the host.
    ///
    /// # Errors
    ///
    /// Currently infallible; returns `Result` so that configuration checks
    /// can be added without breaking callers.
    pub fn build(self) -> Result<Host, HostError> {
        Ok(Host {
            options: self,
            slots: RwLock::new(BTreeMap::new()),
            lingering: Mutex::new(Vec::new()),
        })
    }
}

/// The plugin host.
///
/// Every method takes `&self`; share a host between tasks with an `Arc`.
/// Lifecycle methods are `async` and expect a tokio runtime (plugins'
/// timers run on it).
#[derive(Debug)]
pub struct Host {
    options: HostBuilder,
    slots: RwLock<BTreeMap<PluginId, Arc<Slot>>>,
    lingering: Mutex<Vec<LibraryWatch>>,
}

/// A line of [`Host::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The id.
    pub id: PluginId,
    /// The version.
    pub version: semver::Version,
    /// The current state.
    pub state: PluginState,
    /// Where it came from.
    pub origin: Origin,
}

impl Host {
    /// A builder with defaults: data and temp directories under the system
    /// temp dir, no plugin config, a five-second unload timeout.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// Loads the plugin library at `path`: reads and validates its manifest
    /// without running its code, checks compatibility and that its id is
    /// new here, opens it, checks its ABI, creates and initializes the
    /// plugin. The plugin ends `Loaded` (or `Error` if `initialize` failed,
    /// in which case the error is returned and the plugin stays listed).
    ///
    /// # Errors
    ///
    /// [`HostError::Load`], [`HostError::DuplicateId`], [`HostError::Hook`].
    pub async fn load(&self, path: impl AsRef<Path>) -> Result<PluginId, HostError> {
        let file = PluginFile::read(path.as_ref())?;
        self.ensure_new(&file.manifest().id)?;
        let library = file.open()?;
        let ctx = self.context_for(&library.manifest().id)?;
        let plugin = library.instantiate(&ctx)?;
        let origin = Origin::Library(library.path().to_owned());
        self.install(
            library.manifest().clone(),
            plugin,
            ctx,
            origin,
            Some(library.watch()),
        )
        .await
    }

    /// Adds a plugin constructed in code, with its manifest.
    ///
    /// # Errors
    ///
    /// [`HostError::InvalidManifest`], [`HostError::DuplicateId`],
    /// [`HostError::Hook`].
    pub async fn add(
        &self,
        manifest: Manifest,
        plugin: Box<dyn Plugin>,
    ) -> Result<PluginId, HostError> {
        // Re-validate: a `Manifest` built field by field skipped the checks.
        let manifest = Manifest::from_json(&manifest.to_json()).map_err(|source| {
            HostError::InvalidManifest {
                id: manifest.id.to_string(),
                source,
            }
        })?;
        self.ensure_new(&manifest.id)?;
        let ctx = self.context_for(&manifest.id)?;
        self.install(manifest, plugin, ctx, Origin::Static, None)
            .await
    }

    /// Adds every plugin linked into this binary with `#[plugin]` (see
    /// [`crate::static_plugins`]) that is not loaded yet. Returns one result
    /// per registered plugin.
    pub async fn load_static(&self) -> Vec<Result<PluginId, HostError>> {
        let mut results = Vec::new();
        for registered in crate::static_plugins() {
            let result = match registered.manifest() {
                Ok(manifest) => self.add(manifest, registered.create()).await,
                Err(source) => Err(HostError::InvalidManifest {
                    id: "<static>".into(),
                    source,
                }),
            };
            results.push(result);
        }
        results
    }

    async fn install(
        &self,
        manifest: Manifest,
        plugin: Box<dyn Plugin>,
        ctx: PluginContext,
        origin: Origin,
        watch: Option<LibraryWatch>,
    ) -> Result<PluginId, HostError> {
        let id = manifest.id.clone();
        let slot = Arc::new(Slot::new(manifest, plugin, ctx, origin, watch));
        {
            let mut slots = self.slots.write();
            if let Some(existing) = slots.get(&id) {
                return Err(HostError::DuplicateId {
                    id: id.to_string(),
                    existing: existing.origin().to_string(),
                });
            }
            slots.insert(id.clone(), Arc::clone(&slot));
        }
        slot.initialize().await?;
        Ok(id)
    }

    fn ensure_new(&self, id: &PluginId) -> Result<(), HostError> {
        match self.slots.read().get(id) {
            Some(existing) => Err(HostError::DuplicateId {
                id: id.to_string(),
                existing: existing.origin().to_string(),
            }),
            None => Ok(()),
        }
    }

    fn context_for(&self, id: &PluginId) -> Result<PluginContext, HostError> {
        let data_dir = self.options.data_root.join(id.as_str());
        let temp_dir = self.options.temp_root.join(id.as_str());
        for dir in [&data_dir, &temp_dir] {
            std::fs::create_dir_all(dir).map_err(|source| HostError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        let config = self
            .options
            .configs
            .get(id.as_str())
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        Ok(PluginContext::local(ContextData {
            plugin_id: id.to_string(),
            config,
            data_dir,
            temp_dir,
        }))
    }

    fn slot(&self, id: &str) -> Result<Arc<Slot>, HostError> {
        self.slots
            .read()
            .get(id)
            .map(Arc::clone)
            .ok_or_else(|| HostError::NotFound(id.to_owned()))
    }

    /// Starts plugin `id` (from `Loaded`, `Inactive`, or `Error` to restart
    /// it). On failure the plugin is in `Error`.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`], [`HostError::Transition`],
    /// [`HostError::Hook`].
    pub async fn start(&self, id: &str) -> Result<(), HostError> {
        self.slot(id)?.start().await
    }

    /// Stops plugin `id` (`Active → Inactive`). New calls are refused from
    /// the moment the stop begins.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`], [`HostError::Transition`],
    /// [`HostError::Hook`].
    pub async fn stop(&self, id: &str) -> Result<(), HostError> {
        self.slot(id)?.stop().await
    }

    /// Stops (if active), cleans up and drops plugin `id`, then closes its
    /// library and checks that the platform unmapped it. Hook errors are
    /// reported in the [`UnloadReport`]; the unload goes on.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`], or [`HostError::Transition`] if the plugin
    /// is mid-way through another lifecycle move.
    pub async fn unload(&self, id: &str) -> Result<UnloadReport, HostError> {
        let slot = self.slot(id)?;
        let hook_error = slot.prepare_unload().await?;
        let plugin_id = slot.id().clone();
        self.slots.write().remove(&plugin_id);
        let library = slot.library_path().map(Path::to_owned);
        let watch = slot.watch().cloned();
        let temp_dir = slot.context().temp_dir().to_owned();

        // Wait for calls in flight (and handles held elsewhere) to finish.
        let deadline = Instant::now() + self.options.unload_timeout;
        let mut slot = slot;
        let closed = loop {
            match Arc::try_unwrap(slot) {
                Ok(owned) => {
                    owned.finish_unload();
                    break true;
                }
                Err(shared) if Instant::now() >= deadline => {
                    tracing::warn!(plugin = %plugin_id, handles = Arc::strong_count(&shared) - 1, "unload timed out waiting for plugin handles; the library closes when the last is dropped");
                    break false;
                }
                Err(shared) => {
                    slot = shared;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        let _ = std::fs::remove_dir_all(&temp_dir);

        let still_mapped = match (&watch, closed) {
            (Some(w), true) if !w.is_open() => is_mapped(w.path()),
            _ => None,
        };
        if still_mapped == Some(true) {
            let path = watch
                .as_ref()
                .map(|w| w.path().display().to_string())
                .unwrap_or_default();
            tracing::warn!(plugin = %plugin_id, library = %path, "library closed but still mapped: the platform keeps it loaded (a live thread holds a thread-local destructor from it); reloading this path would run the old code");
            self.lingering.lock().extend(watch);
        }
        Ok(UnloadReport {
            id: plugin_id,
            library,
            hook_error,
            closed,
            still_mapped,
        })
    }

    /// Libraries that were closed but that the platform still keeps mapped,
    /// re-checked now (a library leaves this list once the threads holding
    /// it have exited).
    pub fn lingering_libraries(&self) -> Vec<PathBuf> {
        let mut lingering = self.lingering.lock();
        lingering.retain(|w| is_mapped(w.path()) == Some(true));
        lingering.iter().map(|w| w.path().to_owned()).collect()
    }

    /// A handle for calling plugin `id` repeatedly without looking it up.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`].
    pub fn handle(&self, id: &str) -> Result<PluginHandle, HostError> {
        self.slot(id).map(PluginHandle::new)
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
            id: id.to_owned(),
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
            id: id.to_owned(),
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

    /// Delivers an event to plugin `id` (when active).
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`] or [`HostError::Call`].
    pub async fn send_event(&self, id: &str, topic: &str, payload: &[u8]) -> Result<(), HostError> {
        self.handle(id)?
            .send_event(topic, payload)
            .await
            .map_err(|error| HostError::Call {
                id: id.to_owned(),
                handler: format!("event {topic}"),
                error,
            })
    }

    /// Runs plugin `id`'s health check. A panic moves it to `Error`.
    ///
    /// # Errors
    ///
    /// [`HostError::NotFound`].
    pub async fn health(&self, id: &str) -> Result<Health, HostError> {
        Ok(self.slot(id)?.health().await)
    }

    /// The state of plugin `id`, if loaded.
    pub fn state(&self, id: &str) -> Option<PluginState> {
        self.slot(id).ok().map(|s| s.state())
    }

    /// The last error plugin `id` reported from a hook or a panic.
    pub fn last_error(&self, id: &str) -> Option<PluginError> {
        self.slot(id).ok().and_then(|s| s.last_error())
    }

    /// Every plugin in the host, ordered by id.
    pub fn list(&self) -> Vec<PluginInfo> {
        self.slots
            .read()
            .values()
            .map(|s| PluginInfo {
                id: s.id().clone(),
                version: s.manifest().version.clone(),
                state: s.state(),
                origin: s.origin().clone(),
            })
            .collect()
    }
}
