//! Host-level lifecycle that respects dependencies: start a plugin's
//! dependencies first, stop or unload its dependents first (or refuse),
//! reload it and bring its dependents back.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::binding::Binding;
use super::slot::{Slot, Source};
use super::{Host, HostError, StateReason, UnloadReport};
use crate::PluginState;
use crate::manifest::PluginId;

/// What stopping or unloading a plugin that others depend on does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DependentPolicy {
    /// Stop the dependents first, dependents of dependents before them.
    #[default]
    Cascade,
    /// Refuse with [`HostError::HasDependents`].
    Refuse,
}

/// What [`Host::reload_in_place`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReloadReport {
    /// The plugin.
    pub id: PluginId,
    /// The version before.
    pub old_version: semver::Version,
    /// The version now.
    pub new_version: semver::Version,
    /// The unload of the old instance.
    pub unload: UnloadReport,
    /// Dependents that were stopped for the reload and started again.
    pub restarted: Vec<PluginId>,
    /// Dependents that could not be started again, with the reason; they
    /// are left `Inactive`.
    pub not_restarted: Vec<(PluginId, HostError)>,
}

impl Host {
    pub(crate) fn slot(&self, id: &str) -> Result<Arc<Slot>, HostError> {
        self.registry()
            .get(id)
            .ok_or_else(|| HostError::NotFound(id.to_owned()))
    }

    pub(crate) fn bound(&self, id: &str) -> Result<Arc<Binding>, HostError> {
        self.registry()
            .bound(id)
            .ok_or_else(|| HostError::NotFound(id.to_owned()))
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
        let slot = self.slot(id)?;
        if !slot.state().can_move_to(PluginState::Active) {
            return slot.start().await;
        }
        let dependencies = match self.registry().dependencies_of(id) {
            Ok(deps) => deps,
            Err(unmet) => {
                slot.hold(StateReason::UnmetDependencies(unmet.clone()))
                    .await;
                return Err(HostError::UnmetDependencies {
                    id: slot.id().clone(),
                    action: "start",
                    unmet,
                });
            }
        };
        for dependency in dependencies {
            if dependency.state() == PluginState::Active {
                continue;
            }
            if let Err(e) = dependency.start().await {
                let reason = StateReason::DependencyFailed {
                    dependency: dependency.id().clone(),
                    error: Box::new(e.clone()),
                };
                for held in self.registry().dependents_of(dependency.id()) {
                    if held.state() == PluginState::Loaded || held.id().as_str() == id {
                        held.hold(reason.clone()).await;
                    }
                }
                return Err(HostError::DependencyFailed {
                    id: slot.id().clone(),
                    dependency: dependency.id().clone(),
                    source: Box::new(e),
                });
            }
        }
        slot.start().await?;
        slot.health.lock().started_by_hand();
        Ok(())
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
        let slot = self.slot(id)?;
        if slot.state() != PluginState::Active {
            return slot.stop(None).await;
        }
        let dependents: Vec<_> = self
            .registry()
            .dependents_of(id)
            .into_iter()
            .filter(|d| d.state() == PluginState::Active)
            .collect();
        self.stop_dependents(
            slot.id(),
            "stop",
            &dependents,
            &StateReason::DependencyStopped(slot.id().clone()),
        )
        .await?;
        slot.stop(None).await
    }

    async fn stop_dependents(
        &self,
        id: &PluginId,
        verb: &'static str,
        dependents: &[Arc<Slot>],
        reason: &StateReason,
    ) -> Result<(), HostError> {
        if dependents.is_empty() {
            return Ok(());
        }
        if self.options.on_dependents == super::DependentPolicy::Refuse {
            return Err(HostError::HasDependents {
                id: id.clone(),
                verb,
                dependents: dependents.iter().map(|d| d.id().clone()).collect(),
            });
        }
        for dependent in dependents {
            if dependent.state() != PluginState::Active {
                dependent.set_reason(reason.clone());
                continue;
            }
            tracing::info!(plugin = %dependent.id(), dependency = %id, "stopping a dependent first");
            if let Err(e) = dependent.stop(Some(reason.clone())).await {
                // Its stop hook failed: it is in Error, which stops it too.
                tracing::warn!(plugin = %dependent.id(), error = %e, "dependent failed to stop cleanly");
            }
        }
        Ok(())
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
        let slot = self.slot(id)?;
        let dependents = self.registry().dependents_of(id);
        let reason = StateReason::DependencyUnloaded(slot.id().clone());
        self.stop_dependents(slot.id(), "unload", &dependents, &reason)
            .await?;
        for dependent in &dependents {
            dependent.hold(reason.clone()).await;
        }
        self.unload_slot(slot).await
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
        let slot = self.slot(id)?;
        let source = slot.source().clone();
        if matches!(source, Source::Added) {
            return Err(HostError::NotReloadable(slot.id().clone()));
        }
        let was_active = slot.state() == PluginState::Active;
        let old_version = slot.manifest().version.clone();
        let active: Vec<_> = self
            .registry()
            .dependents_of(id)
            .into_iter()
            .filter(|d| d.state() == PluginState::Active)
            .collect();
        self.stop_dependents(
            slot.id(),
            "unload",
            &active,
            &StateReason::DependencyReloading(slot.id().clone()),
        )
        .await?;
        let stopped: Vec<PluginId> = active.iter().rev().map(|d| d.id().clone()).collect();
        drop(active);
        let unload = self.unload_slot(slot).await?;
        let new_id = match source {
            Source::Library(path) => self.load(&path).await?,
            Source::Registered(registered) => self.add_registered(registered).await?,
            Source::Added => unreachable!("refused above"),
        };
        if was_active {
            self.start(&new_id).await?;
        }
        let new_version = self.slot(&new_id)?.manifest().version.clone();
        let mut restarted = Vec::new();
        let mut not_restarted = Vec::new();
        for dependent in stopped {
            match self.start(&dependent).await {
                Ok(()) => restarted.push(dependent),
                Err(e) => not_restarted.push((dependent, e)),
            }
        }
        Ok(ReloadReport {
            id: new_id,
            old_version,
            new_version,
            unload,
            restarted,
            not_restarted,
        })
    }
}
