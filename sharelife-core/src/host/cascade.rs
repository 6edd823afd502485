//! The [`Lifecycle`] part: lifecycle moves that respect dependencies.
//! Start a plugin's dependencies first, stop or unload its dependents
//! first (or refuse), reload it in place and bring its dependents back,
//! and shut everything down in order (`shutdown.rs`).

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::builder::Options;
use super::loading::Loader;
use super::registry::Registry;
use super::slot::{Slot, Source};
use super::{HealthMonitor, HostError, StateReason, UnloadReport};
use crate::PluginState;
use crate::event::EventBus;
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

/// What [`Host::reload_in_place`](super::Host::reload_in_place) did.
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

/// Starts, stops, unloads, reloads in place and shuts down, in dependency
/// order: dependencies before dependents on the way up, dependents first
/// (or a refusal) on the way down. Loads and retires through the
/// [`Loader`].
#[derive(Debug)]
pub(crate) struct Lifecycle {
    pub(super) options: Arc<Options>,
    pub(super) registry: Arc<Registry>,
    pub(super) loader: Arc<Loader>,
    pub(super) health: Arc<HealthMonitor>,
    pub(super) bus: Arc<EventBus>,
}

impl Lifecycle {
    fn slot(&self, id: &str) -> Result<Arc<Slot>, HostError> {
        self.registry.find(id)
    }

    /// [`Host::start`](super::Host::start).
    pub(crate) async fn start(&self, id: &str) -> Result<(), HostError> {
        let slot = self.slot(id)?;
        if !slot.state().can_move_to(PluginState::Active) {
            return slot.start().await;
        }
        let dependencies = match self.registry.dependencies_of(id) {
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
                for held in self.registry.dependents_of(dependency.id()) {
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

    /// [`Host::stop`](super::Host::stop).
    pub(crate) async fn stop(&self, id: &str) -> Result<(), HostError> {
        let slot = self.slot(id)?;
        if slot.state() != PluginState::Active {
            return slot.stop(None).await;
        }
        let dependents: Vec<_> = self
            .registry
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

    /// [`Host::unload`](super::Host::unload).
    pub(crate) async fn unload(&self, id: &str) -> Result<UnloadReport, HostError> {
        let slot = self.slot(id)?;
        let dependents = self.registry.dependents_of(id);
        let reason = StateReason::DependencyUnloaded(slot.id().clone());
        self.stop_dependents(slot.id(), "unload", &dependents, &reason)
            .await?;
        for dependent in &dependents {
            dependent.hold(reason.clone()).await;
        }
        self.loader.unload_slot(slot).await
    }

    /// [`Host::reload_in_place`](super::Host::reload_in_place).
    pub(crate) async fn reload_in_place(&self, id: &str) -> Result<ReloadReport, HostError> {
        let slot = self.slot(id)?;
        let source = slot.source().clone();
        if matches!(source, Source::Added) {
            return Err(HostError::NotReloadable(slot.id().clone()));
        }
        let was_active = slot.state() == PluginState::Active;
        let old_version = slot.manifest().version.clone();
        let active: Vec<_> = self
            .registry
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
        let unload = self.loader.unload_slot(slot).await?;
        let new_id = match source {
            Source::Library(path) => self.loader.load(&path).await?,
            Source::Isolated { path, limits } => {
                self.loader
                    .load_with(&path, super::Isolation::Process(limits))
                    .await?
            }
            Source::Registered(registered) => self.loader.add_registered(registered).await?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventOptions;
    use crate::host::{HostBuilder, PluginTable};
    use crate::manifest::{Dependency, Manifest};

    struct Nothing;

    #[async_trait::async_trait]
    impl crate::Plugin for Nothing {}

    fn manifest(id: &str, needs: Option<&str>) -> Manifest {
        let mut m = Manifest::new(
            id.parse().unwrap(),
            "1.0.0".parse().unwrap(),
            "^0.1".parse().unwrap(),
        );
        if let Some(needs) = needs {
            m.dependencies.push(Dependency {
                id: needs.parse().unwrap(),
                version: "^1".parse().unwrap(),
            });
        }
        m
    }

    /// A loader and a lifecycle over one registry, without a `Host`.
    fn parts(name: &str) -> (Arc<Registry>, Arc<Loader>, Lifecycle) {
        let root =
            std::env::temp_dir().join(format!("sharelife-parts-{}-{name}", std::process::id()));
        let options = Arc::new(
            HostBuilder::default()
                .data_root(root.join("data"))
                .temp_root(root.join("tmp"))
                .o,
        );
        let registry = Arc::new(Registry::default());
        let bus = Arc::new(EventBus::new(EventOptions::default()));
        let table = Arc::new(PluginTable::new(Arc::clone(&registry), Arc::clone(&bus)));
        let loader = Arc::new(Loader::new(Arc::clone(&options), table, Arc::clone(&bus)));
        let lifecycle = Lifecycle {
            health: Arc::new(HealthMonitor::new(Arc::clone(&registry), options.health)),
            options,
            registry: Arc::clone(&registry),
            loader: Arc::clone(&loader),
            bus,
        };
        (registry, loader, lifecycle)
    }

    #[tokio::test]
    async fn the_loader_admits_only_what_its_dependencies_allow() {
        let (registry, loader, _) = parts("loader");
        let err = loader
            .add(manifest("acme.top", Some("acme.base")), Box::new(Nothing))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, HostError::UnmetDependencies { unmet, .. } if unmet[0].found.is_none()),
            "{err}"
        );
        loader
            .add(manifest("acme.base", None), Box::new(Nothing))
            .await
            .unwrap();
        loader
            .add(manifest("acme.top", Some("acme.base")), Box::new(Nothing))
            .await
            .unwrap();
        assert_eq!(
            registry.find("acme.top").unwrap().state(),
            PluginState::Loaded
        );
        let report = loader
            .unload_slot(registry.find("acme.base").unwrap())
            .await
            .unwrap();
        assert!(report.closed && report.hook_error.is_none());
        assert!(matches!(
            registry.find("acme.base"),
            Err(HostError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn the_lifecycle_starts_dependencies_first_and_stops_dependents_first() {
        let (registry, loader, lifecycle) = parts("lifecycle");
        for (id, needs) in [("acme.base", None), ("acme.top", Some("acme.base"))] {
            loader
                .add(manifest(id, needs), Box::new(Nothing))
                .await
                .unwrap();
        }
        lifecycle.start("acme.top").await.unwrap();
        let state = |id| registry.find(id).unwrap().state();
        assert_eq!(state("acme.base"), PluginState::Active);

        lifecycle.stop("acme.base").await.unwrap();
        assert_eq!(state("acme.top"), PluginState::Inactive);
        assert!(matches!(
            registry.find("acme.top").unwrap().reason(),
            Some(StateReason::DependencyStopped(d)) if d.as_str() == "acme.base"
        ));

        lifecycle.unload("acme.base").await.unwrap();
        assert!(matches!(
            registry.find("acme.top").unwrap().reason(),
            Some(StateReason::DependencyUnloaded(d)) if d.as_str() == "acme.base"
        ));
        let report = lifecycle.shutdown().await;
        let unloaded: Vec<&str> = report.unloaded.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(unloaded, ["acme.top"]);
    }
}
