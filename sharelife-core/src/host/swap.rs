//! The [`Reload`] part. Hot reload: a new version of a loaded plugin, from a new library file,
//! swapped in while calls go on.
//!
//! The new version is loaded, checked, initialized, handed the old one's
//! state and started *beside* the old one, which serves calls meanwhile.
//! Only then is it bound to the id (one atomic pointer swap): calls that
//! start after the swap reach it, calls in flight finish on the old
//! version, and then the old one is stopped, cleaned up and its library
//! closed. Anything that fails before the swap discards the new version
//! and leaves the old one running.
//!
//! A plugin running out of process (started through the isolation
//! provider) is reloaded the same way, one process over: the new version
//! is started in a new child through the provider, under the old one's
//! limits and the host's `[sandbox] require`; its state crosses the
//! process boundary (the old child's `save_state` to the host, the host
//! to the new child's `restore_state`, between its `initialize` and
//! `start`); retiring the old version ends and reaps the old child. The
//! new version is never opened in the host's process; nor is one of a
//! plugin added in code (the host cannot tell where it runs).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::binding::Binding;
use super::builder::Options;
use super::loading::Loader;
use super::registry::Registry;
use super::slot::{Slot, SlotParts, Source};
use super::{HostError, Isolation, StateReason, UnloadReport};
use crate::PluginState;
use crate::event::EventBus;
use crate::loader::{PluginFile, is_mapped};
use crate::manifest::PluginId;

/// What [`Host::reload`](super::Host::reload) did.
#[derive(Debug)]
#[non_exhaustive]
pub struct SwapReport {
    /// The plugin.
    pub id: PluginId,
    /// The version replaced.
    pub old_version: semver::Version,
    /// The version serving calls now.
    pub new_version: semver::Version,
    /// The new version's library.
    pub library: PathBuf,
    /// Bytes of state handed from the old instance to the new one; `None`
    /// when none was (the old one saved nothing, or was in `Error`).
    pub state: Option<usize>,
    /// Reading, checking, opening, initializing and starting the new
    /// version, and handing it the state, all while the old one served.
    pub prepare: Duration,
    /// The swap itself: from the new version being ready to it being the
    /// one calls reach.
    pub swap: Duration,
    /// Waiting for the old version's calls in flight, then its `stop`,
    /// `cleanup` and the close of its library.
    pub retire: Duration,
    /// The old version's unload.
    pub retired: UnloadReport,
}

/// Hot reload: prepares a new version beside the old one, swaps it in,
/// and retires the old one through the [`Loader`].
#[derive(Debug)]
pub(crate) struct Reload {
    pub(super) options: Arc<Options>,
    pub(super) registry: Arc<Registry>,
    pub(super) loader: Arc<Loader>,
    pub(super) bus: Arc<EventBus>,
}

impl Reload {
    /// [`Host::reload`](super::Host::reload).
    pub(crate) async fn reload(
        &self,
        id: &str,
        path: impl AsRef<Path>,
    ) -> Result<SwapReport, HostError> {
        let path = path.as_ref();
        let binding = self.registry.find_bound(id)?;
        let _one_at_a_time = binding.swapping.lock().await;
        let old = binding
            .current()
            .ok_or_else(|| HostError::NotFound(id.to_owned()))?;
        let failed = |source: HostError| HostError::ReloadFailed {
            id: old.id().clone(),
            path: path.to_owned(),
            kept: old.manifest().version.clone(),
            source: Box::new(source),
        };

        let started = Instant::now();
        let (new, state) = self
            .prepare_version(&binding, &old, path)
            .await
            .map_err(failed)?;
        let prepare = started.elapsed();

        let swapped = Instant::now();
        if !self.registry.replace(&binding, &old, Arc::clone(&new)) {
            self.discard(new).await;
            return Err(failed(HostError::UnloadedDuringReload(old.id().clone())));
        }
        let swap = swapped.elapsed();
        self.follow_topics(&binding, &old, &new);
        tracing::info!(plugin = id, from = %old.manifest().version, to = %new.manifest().version, library = %path.display(), "hot-reloaded");

        let retiring = Instant::now();
        let old_version = old.manifest().version.clone();
        let reason = StateReason::Replaced {
            version: new.manifest().version.clone(),
            library: path.to_owned(),
        };
        let deadline = retiring + self.options.unload_timeout;
        let (retired, _temp_dir) = self.loader.retire(old, deadline, reason).await?;
        Ok(SwapReport {
            id: new.id().clone(),
            old_version,
            new_version: new.manifest().version.clone(),
            library: path.to_owned(),
            state,
            prepare,
            swap,
            retire: retiring.elapsed(),
            retired,
        })
    }

    /// Everything before the swap: the new version loaded, checked,
    /// initialized, given the old one's state and started, not yet bound.
    async fn prepare_version(
        &self,
        binding: &Arc<Binding>,
        old: &Arc<Slot>,
        path: &Path,
    ) -> Result<(Arc<Slot>, Option<usize>), HostError> {
        if matches!(old.source(), Source::Added) {
            // The host cannot tell where a plugin added in code runs (one
            // added by `sharelife_sandbox::load` runs out of process), so
            // it does not open a new version of it in its own process.
            return Err(HostError::NotReloadable(old.id().clone()));
        }
        let file = PluginFile::read(path)?;
        let manifest = file.manifest();
        // Where the new version runs: out of process, under the same
        // limits, when the old one does (the decision it was loaded with
        // is kept); otherwise where the host's settings put this library
        // (out of process when they say so, or when `[sandbox] auto` finds
        // a scan mismatch in it). Never back in process.
        let isolation = match old.source() {
            Source::Isolated { limits, .. } => Isolation::Process(*limits),
            _ => {
                super::isolation::decide(
                    self.options.plugins.get(&manifest.id),
                    &self.options.sandbox,
                    &file,
                )
                .0
            }
        };
        if matches!(isolation, Isolation::InProcess) && is_mapped(path) == Some(true) {
            return Err(HostError::AlreadyOpen {
                path: path.to_owned(),
            });
        }
        if manifest.id != *old.id() {
            return Err(HostError::WrongPlugin {
                path: path.to_owned(),
                expected: old.id().clone(),
                found: manifest.id.clone(),
            });
        }
        let broken: Vec<(PluginId, semver::VersionReq)> = self
            .registry
            .slots()
            .iter()
            .flat_map(|s| {
                s.requires()
                    .iter()
                    .filter(|d| d.id == manifest.id && !d.version.matches(&manifest.version))
                    .map(|d| (s.id().clone(), d.version.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        if !broken.is_empty() {
            return Err(HostError::BreaksDependents {
                id: manifest.id.clone(),
                version: manifest.version.clone(),
                dependents: broken,
            });
        }
        let config = self.loader.admit_version(manifest)?;
        let settings = self
            .options
            .plugins
            .get(&manifest.id)
            .cloned()
            .unwrap_or_default();
        // In process the library is opened here and kept open until the
        // slot holds the plugin; out of process a new child opens it.
        let read_as = file.read_as().cloned();
        let (manifest, plugin, ctx, gateway, watch, source, library) = match isolation {
            Isolation::Process(limits) => {
                let manifest = manifest.clone();
                drop(file);
                let (ctx, gateway) = self.loader.context_for(&manifest, config)?;
                let plugin = self.loader.spawn_isolated(path, &manifest, limits).await?;
                let source = Source::Isolated {
                    path: path.to_owned(),
                    limits,
                };
                (manifest, plugin, ctx, gateway, None, source, None)
            }
            Isolation::InProcess => {
                let library = file.open()?;
                let (ctx, gateway) = self.loader.context_for(library.manifest(), config)?;
                let plugin = library.instantiate(&ctx)?;
                let source = Source::Library(library.path().to_owned());
                let watch = Some(library.watch());
                let manifest = library.manifest().clone();
                (manifest, plugin, ctx, gateway, watch, source, Some(library))
            }
        };
        let new = Arc::new(Slot::new(SlotParts {
            binding: Arc::clone(binding),
            requires: self.loader.requires(&manifest),
            priority: settings.priority(),
            manifest: Arc::new(manifest),
            plugin,
            ctx,
            watch,
            events: Arc::clone(&self.bus),
            timing: self.options.timing(),
            audit: Arc::clone(&self.options.audit),
            gateway,
            file: self.loader.library_file(&source, read_as.as_ref()),
            source,
        }));
        drop(library);
        match self.bring_up(old, &new).await {
            Ok(state) => Ok((new, state)),
            Err(e) => {
                self.discard(new).await;
                Err(e)
            }
        }
    }

    /// Initializes `new`, hands it `old`'s state and starts it if `old`
    /// was meant to run.
    async fn bring_up(&self, old: &Slot, new: &Slot) -> Result<Option<usize>, HostError> {
        new.initialize().await?;
        let from = old.state();
        let mut handed = None;
        if from != PluginState::Error {
            let state = old.save_state().await.map_err(|error| HostError::Hook {
                id: old.id().clone(),
                hook: "save_state",
                error,
            })?;
            if !state.is_empty() {
                new.restore_state(&state)
                    .await
                    .map_err(|error| HostError::Hook {
                        id: new.id().clone(),
                        hook: "restore_state",
                        error,
                    })?;
                handed = Some(state.len());
            }
        }
        match from {
            PluginState::Active | PluginState::Error => new.start().await?,
            // Stopped stays stopped, for the same reason.
            PluginState::Inactive => {
                new.hold(old.reason().unwrap_or(StateReason::StoppedBeforeReload))
                    .await;
            }
            _ => {}
        }
        Ok(handed)
    }

    /// Takes out a new version that was never bound. Its temp directory is
    /// the old version's too, so it stays.
    async fn discard(&self, new: Arc<Slot>) {
        let version = new.manifest().version.clone();
        match self
            .loader
            .retire(new, Instant::now(), StateReason::ReloadFailed)
            .await
        {
            Ok((report, _)) if !report.closed => {
                tracing::warn!(plugin = %report.id, %version, "the discarded version is still referenced; its library closes when it is dropped");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%version, error = %e, "discarding the new version failed"),
        }
    }

    /// The subscriptions carry over; topics the new manifest adds are
    /// subscribed, topics only the old manifest had are dropped (topics
    /// subscribed at run time or in the host config stay).
    fn follow_topics(&self, binding: &Arc<Binding>, old: &Slot, new: &Slot) {
        let configured: Vec<String> = self
            .options
            .plugins
            .get(new.id())
            .map(|s| s.subscriptions.clone())
            .unwrap_or_default();
        for topic in &old.manifest().subscriptions {
            if !new.manifest().subscriptions.contains(topic) && !configured.contains(topic) {
                binding.unsubscribe(topic);
            }
        }
        for topic in &new.manifest().subscriptions {
            if let Err(e) = binding.subscribe(topic) {
                tracing::warn!(plugin = %new.id(), topic, error = %e, "not subscribed after the reload");
            }
        }
    }
}
