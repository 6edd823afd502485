//! The [`Loader`] part: bringing plugins in and taking them out. Load a
//! library or add a static plugin (dependencies present, config checked
//! against its schema, a context with gated services), and retire a
//! version: the unload that really closes the library.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::builder::Options;
use super::dirs::{Directories, Surveyed};
use super::isolation::{Isolation, IsolationError};
use super::registry::Registry;
use super::slot::{Slot, SlotParts, Source};
use super::sync::LibraryFile;
use super::{HostError, PluginTable, StateReason, UnloadReport, Unmet, plugin_config};
use crate::audit::{AuditEvent, What};
use crate::capability::{Gateway, Ungranted};
use crate::event::EventBus;
use crate::loader::{LibraryWatch, PluginFile, ReadAs};
use crate::manifest::{Dependency, Manifest, PluginId};
use crate::services::GatedServices;
use crate::{ContextData, Plugin, PluginContext, StaticPlugin};

/// Loads and unloads plugin versions: admission checks, the context and
/// its gateway, the slot in the registry, and the retirement that closes
/// a library. The lifecycle, reload and boot parts load through it.
#[derive(Debug)]
pub(crate) struct Loader {
    options: Arc<Options>,
    table: Arc<PluginTable>,
    bus: Arc<EventBus>,
    dirs: Directories,
    /// While a boot runs: each plugin folder's real path (symlinks
    /// resolved), resolved once for all the libraries in it.
    real_folders: Mutex<Option<HashMap<PathBuf, Option<PathBuf>>>>,
}

/// What a boot keeps for the loads it makes (see [`Loader::boot_scope`]);
/// dropping it ends that.
pub(crate) struct BootScope<'l> {
    loader: &'l Loader,
    _dirs: Surveyed<'l>,
}

impl Drop for BootScope<'_> {
    fn drop(&mut self) {
        *self.loader.real_folders.lock() = None;
    }
}

impl Loader {
    pub(crate) fn new(options: Arc<Options>, table: Arc<PluginTable>, bus: Arc<EventBus>) -> Self {
        let dirs = Directories::new(options.data_root.clone(), options.temp_root.clone());
        Loader {
            options,
            table,
            bus,
            dirs,
            real_folders: Mutex::new(None),
        }
    }

    fn registry(&self) -> &Arc<Registry> {
        self.table.registry()
    }

    /// For a boot, which loads many plugins at once, until the guard
    /// drops: the plugin directories' roots are listed once (a load skips
    /// the `stat`s of directories already there), and each plugin folder's
    /// real path is resolved once (a library's real path is then one
    /// `lstat` instead of a `realpath` walk).
    pub(crate) fn boot_scope(&self) -> BootScope<'_> {
        *self.real_folders.lock() = Some(HashMap::new());
        BootScope {
            loader: self,
            _dirs: self.dirs.survey(),
        }
    }

    /// The library file behind `source`, as a sync compares it: its real
    /// path, and the identity of the file as it was read (`read_as`, from
    /// the read's own descriptor; a `stat` of the path when `None`).
    /// `None` for a plugin not from a library, or one whose file cannot be
    /// found now.
    pub(crate) fn library_file(
        &self,
        source: &Source,
        read_as: Option<&ReadAs>,
    ) -> Option<LibraryFile> {
        let (Source::Library(path) | Source::Isolated { path, .. }) = source else {
            return None;
        };
        if let Some(folder) = path.parent() {
            let mut scope = self.real_folders.lock();
            if let Some(folders) = scope.as_mut() {
                let real = folders
                    .entry(folder.to_owned())
                    .or_insert_with(|| std::fs::canonicalize(folder).ok());
                if let Some(real) = real {
                    return LibraryFile::in_folder(path, real, read_as).ok();
                }
            }
        }
        LibraryFile::read_as(path, read_as).ok()
    }

    /// [`Host::load`](super::Host::load).
    pub(crate) async fn load(&self, path: impl AsRef<Path>) -> Result<PluginId, HostError> {
        let file = PluginFile::read(path.as_ref())?;
        self.load_file(file).await
    }

    pub(crate) async fn load_file(&self, file: PluginFile) -> Result<PluginId, HostError> {
        let config = self.admit(file.manifest())?;
        let read_as = file.read_as().cloned();
        let library = file.open()?;
        let (ctx, gateway) = self.context_for(library.manifest(), config)?;
        let plugin = library.instantiate(&ctx)?;
        let source = Source::Library(library.path().to_owned());
        let watch = library.watch();
        // The plugin keeps the library open; only its manifest is left.
        let manifest = library.into_manifest();
        self.install(
            manifest,
            plugin,
            (ctx, gateway),
            Some(watch),
            source,
            read_as.as_ref(),
        )
        .await
    }

    /// [`Host::load_with`](super::Host::load_with).
    pub(crate) async fn load_with(
        &self,
        path: &Path,
        isolation: Isolation,
    ) -> Result<PluginId, HostError> {
        let file = PluginFile::read(path)?;
        self.load_file_with(file, isolation).await
    }

    /// Loads `file` in process, or through the isolation provider.
    pub(crate) async fn load_file_with(
        &self,
        file: PluginFile,
        isolation: Isolation,
    ) -> Result<PluginId, HostError> {
        let Isolation::Process(limits) = isolation else {
            return self.load_file(file).await;
        };
        let manifest = file.manifest().clone();
        if self.options.isolation_provider.is_none() {
            return Err(HostError::Isolation {
                id: manifest.id.clone(),
                error: IsolationError::NoProvider,
            });
        }
        // The checks that need no plugin code, before a child is started.
        self.admit(&manifest)?;
        let path = file.path().to_owned();
        let read_as = file.read_as().cloned();
        drop(file);
        let plugin = self.spawn_isolated(&path, &manifest, limits).await?;
        // A cold reload asks the provider again, and so does a hot reload
        // (a new child beside the old one): never a reload in process.
        self.add_from(
            manifest,
            plugin,
            Source::Isolated { path, limits },
            read_as.as_ref(),
        )
        .await
    }

    /// Starts the plugin library at `path` (whose manifest is `manifest`)
    /// out of process through the isolation provider, under `limits` and
    /// the host's `[sandbox] require`: the plugin the host drives. Nothing
    /// is added to the host.
    pub(crate) async fn spawn_isolated(
        &self,
        path: &Path,
        manifest: &Manifest,
        limits: super::isolation::ProcessLimits,
    ) -> Result<Box<dyn Plugin>, HostError> {
        let id = manifest.id.clone();
        let Some(provider) = self.options.isolation_provider.clone() else {
            return Err(HostError::Isolation {
                id,
                error: IsolationError::NoProvider,
            });
        };
        let require = self.options.sandbox.require.clone();
        let for_child = manifest.clone();
        let child_path = path.to_owned();
        // Starting a process and waiting for it blocks: off the runtime.
        let spawned = tokio::task::spawn_blocking(move || {
            provider.spawn(&child_path, &for_child, &limits, &require)
        })
        .await
        .map_err(|e| IsolationError::Failed(e.to_string()))
        .and_then(|r| r);
        spawned.map_err(|error| HostError::Isolation { id, error })
    }

    /// [`Host::add`](super::Host::add).
    pub(crate) async fn add(
        &self,
        manifest: Manifest,
        plugin: Box<dyn Plugin>,
    ) -> Result<PluginId, HostError> {
        self.add_from(manifest, plugin, Source::Added, None).await
    }

    async fn add_from(
        &self,
        manifest: Manifest,
        plugin: Box<dyn Plugin>,
        source: Source,
        read_as: Option<&ReadAs>,
    ) -> Result<PluginId, HostError> {
        // Re-validate: a `Manifest` built field by field skipped the checks.
        let manifest = Manifest::from_json(&manifest.to_json()).map_err(|source| {
            HostError::InvalidManifest {
                id: Some(manifest.id.clone()),
                source,
            }
        })?;
        let config = self.admit(&manifest)?;
        let (ctx, gateway) = self.context_for(&manifest, config)?;
        self.install(manifest, plugin, (ctx, gateway), None, source, read_as)
            .await
    }

    pub(crate) async fn add_registered(
        &self,
        registered: &'static StaticPlugin,
    ) -> Result<PluginId, HostError> {
        match registered.manifest() {
            Ok(manifest) => {
                self.add_from(
                    manifest,
                    registered.create(),
                    Source::Registered(registered),
                    None,
                )
                .await
            }
            Err(source) => Err(HostError::InvalidManifest { id: None, source }),
        }
    }

    /// [`Host::load_static`](super::Host::load_static).
    pub(crate) async fn load_static(&self) -> Vec<Result<PluginId, HostError>> {
        let mut results = Vec::new();
        for registered in crate::static_plugins() {
            results.push(self.add_registered(registered).await);
        }
        results
    }

    /// The checks before any code of the plugin runs; returns its config.
    fn admit(&self, manifest: &Manifest) -> Result<serde_json::Value, HostError> {
        if let Some(existing) = self.registry().get(&manifest.id) {
            return Err(HostError::DuplicateId {
                id: manifest.id.clone(),
                existing: existing.origin().to_string(),
            });
        }
        self.admit_version(manifest)
    }

    /// The checks of [`admit`](Self::admit) that also apply to a new
    /// version of a loaded plugin: its dependencies, its config.
    pub(crate) fn admit_version(
        &self,
        manifest: &Manifest,
    ) -> Result<serde_json::Value, HostError> {
        let unmet: Vec<Unmet> = self
            .requires(manifest)
            .iter()
            .filter_map(|dependency| {
                let found = self.registry().get(&dependency.id);
                Unmet::check(dependency, found.as_ref().map(|s| &s.manifest().version))
            })
            .collect();
        if !unmet.is_empty() {
            return Err(HostError::UnmetDependencies {
                id: manifest.id.clone(),
                action: "be loaded",
                unmet,
            });
        }
        let config = self
            .options
            .plugins
            .get(&manifest.id)
            .and_then(|s| s.config.clone())
            .unwrap_or(serde_json::Value::Null);
        if !config.is_null() {
            plugin_config::check(&self.config_label(), manifest, &config)?;
        }
        Ok(config)
    }

    /// The manifest's dependencies plus those the settings add.
    pub(crate) fn requires(&self, manifest: &Manifest) -> Vec<Dependency> {
        let mut deps = manifest.dependencies.clone();
        if let Some(s) = self.options.plugins.get(&manifest.id) {
            deps.extend(s.dependencies.iter().cloned());
        }
        deps
    }

    pub(crate) fn config_label(&self) -> String {
        self.options
            .config_source
            .as_ref()
            .map_or_else(|| "host builder".to_owned(), |p| p.display().to_string())
    }

    /// Adds a created plugin to the host. `read_as`: the metadata of its
    /// library file as it was read ([`library_file`](Self::library_file)).
    async fn install(
        &self,
        manifest: Manifest,
        plugin: Box<dyn Plugin>,
        (ctx, gateway): (PluginContext, Arc<Gateway>),
        watch: Option<LibraryWatch>,
        source: Source,
        read_as: Option<&ReadAs>,
    ) -> Result<PluginId, HostError> {
        let manifest = Arc::new(manifest);
        let id = manifest.id.clone();
        let settings = self.options.plugins.get(&id).cloned().unwrap_or_default();
        let mut topics = manifest.subscriptions.clone();
        topics.extend(settings.subscriptions.iter().cloned());
        let binding = self.registry().binding(&manifest, &self.bus);
        let slot = Arc::new(Slot::new(SlotParts {
            binding: Arc::clone(&binding),
            requires: self.requires(&manifest),
            priority: settings.priority(),
            manifest,
            plugin,
            ctx,
            watch,
            events: Arc::clone(&self.bus),
            timing: self.options.timing(),
            audit: Arc::clone(&self.options.audit),
            gateway,
            file: self.library_file(&source, read_as),
            source,
        }));
        self.registry()
            .insert(&binding, Arc::clone(&slot))
            .map_err(|existing| HostError::DuplicateId {
                id: id.clone(),
                existing: existing.origin().to_string(),
            })?;
        for topic in &topics {
            if let Err(e) = binding.subscribe(topic) {
                binding.end_subscription();
                self.registry().remove(&id);
                return Err(e);
            }
        }
        slot.initialize().await?;
        Ok(id)
    }

    /// The plugin's context: its directories and config, and services
    /// behind a gateway compiled from its manifest and the host's policy.
    /// Requests the policy does not grant are reported (audited and logged)
    /// or, if the policy says so, refused.
    pub(crate) fn context_for(
        &self,
        manifest: &Manifest,
        config: serde_json::Value,
    ) -> Result<(PluginContext, Arc<Gateway>), HostError> {
        let id = &manifest.id;
        let dirs = self.dirs.of(id.as_str());
        let (data_dir, temp_dir) = (dirs.data.clone(), dirs.temp.clone());
        let gateway = Arc::new(Gateway::compile(manifest, &self.options.policy, &data_dir)?);
        let ungranted = gateway.ungranted().to_vec();
        if !ungranted.is_empty() {
            if self.options.policy.ungranted == Ungranted::Refuse {
                return Err(HostError::Ungranted {
                    id: id.clone(),
                    requests: ungranted,
                });
            }
            let requests: Vec<String> = ungranted
                .iter()
                .map(|c| serde_json::to_string(c).unwrap_or_default())
                .collect();
            tracing::warn!(plugin = %id, requests = %requests.join("; "), "plugin requests capabilities the policy does not grant; they will be denied");
            self.options.audit.record(AuditEvent {
                at: std::time::SystemTime::now(),
                plugin: id.as_str().into(),
                version: manifest.version.to_string().into(),
                what: What::Error {
                    message: format!("requested but not granted: {}", requests.join("; ")),
                },
            });
        }
        dirs.create()?;
        let services = GatedServices::new(
            Arc::clone(&gateway),
            Arc::clone(&self.options.audit),
            &data_dir,
            self.options.backends.clone(),
        )
        .temp_dir(&temp_dir)
        .on_audit_failure(self.options.audit_failure)
        .events(Arc::clone(&self.bus));
        let ctx = PluginContext::new(
            ContextData {
                plugin_id: id.to_string(),
                config,
                data_dir,
                temp_dir,
            },
            Arc::new(services),
        );
        Ok((ctx, gateway))
    }

    /// Unbinds the plugin (new calls find it not loaded), ends its event
    /// subscription, and [retires](Self::retire) it. Does not look at
    /// dependents: callers do.
    pub(crate) async fn unload_slot(&self, slot: Arc<Slot>) -> Result<UnloadReport, HostError> {
        let deadline = Instant::now() + self.options.unload_timeout;
        if let Some(binding) = self.registry().bound(slot.id())
            && binding.is_current(&slot)
        {
            binding.end_subscription();
            self.registry().remove(slot.id());
        }
        let (report, temp_dir) = self.retire(slot, deadline, StateReason::Unloading).await?;
        Directories::clear_temp(&temp_dir);
        Ok(report)
    }

    /// Takes out a version no call can reach any more: waits (until
    /// `deadline`) for the calls in flight on it to return, then stops it
    /// if active (`reason` says why), cleans it up and drops it, closing
    /// its library and checking that the platform unmapped it. Returns
    /// the report and the plugin's temp directory.
    pub(crate) async fn retire(
        &self,
        slot: Arc<Slot>,
        deadline: Instant,
        reason: StateReason,
    ) -> Result<(UnloadReport, std::path::PathBuf), HostError> {
        let plugin_id = slot.id().clone();
        let library = slot.library_path().map(Path::to_owned);
        let watch = slot.watch().cloned();
        let temp_dir = slot.context().temp_dir().to_owned();

        // Calls in flight finish on this version before its `stop` runs.
        Slot::wait_for_calls(&slot, deadline).await;
        let hook_error = slot.prepare_unload(reason).await;
        // From here on the version is gone for the world too: a thread it
        // started that still holds a clone of its context is denied (and
        // audited) whatever it asks, even before the library closes.
        slot.context().services().revoke();
        let hook_error = hook_error?;

        // Anything still holding the version (a call stuck past the
        // deadline) keeps the library open until it lets go.
        let closed = Slot::release(slot, deadline).await;

        let still_mapped = match (&watch, closed) {
            (Some(w), true) if !w.is_open() => w.still_mapped(),
            _ => None,
        };
        if let (Some(true), Some(w)) = (still_mapped, watch) {
            tracing::warn!(plugin = %plugin_id, library = %w.path().display(), "library closed but still mapped: the platform keeps it loaded (a live thread holds a thread-local destructor from it); reloading this path would run the old code");
            self.table.linger(w);
        }
        Ok((
            UnloadReport {
                id: plugin_id,
                library,
                hook_error,
                closed,
                still_mapped,
            },
            temp_dir,
        ))
    }
}
