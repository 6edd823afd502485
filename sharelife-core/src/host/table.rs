//! The plugin table (`host.plugins()`): every plugin in the host, loaded
//! or held back, and what the host reports about each: [`PluginTable::list`]
//! and [`PluginTable::status`]. It owns the [`Registry`] the other parts
//! share, and the list of libraries the platform kept mapped.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use super::Origin;
use super::health::HealthRecord;
use super::reason::StateReason;
use super::registry::Registry;
use super::slot::Slot;
use crate::event::{EventBus, SubscriberStats};
use crate::loader::{LibraryWatch, is_mapped};
use crate::manifest::{Dependency, PluginId};
use crate::{PluginError, PluginState};

/// The plugins in a host (`host.plugins()`).
#[derive(Debug)]
pub struct PluginTable {
    registry: Arc<Registry>,
    bus: Arc<EventBus>,
    lingering: Mutex<Vec<LibraryWatch>>,
}

/// A line of [`PluginTable::list`].
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

/// Everything the host knows about one plugin.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PluginStatus {
    /// The id.
    pub id: PluginId,
    /// The version (of the library that would have been loaded, for a
    /// plugin that could not be).
    pub version: Option<semver::Version>,
    /// The state; `Unloaded` for an enabled plugin that could not be
    /// loaded.
    pub state: PluginState,
    /// Why it is in that state, when the host knows: a failed dependency,
    /// a failed health check, a resolution error.
    pub reason: Option<StateReason>,
    /// The last error from a hook, a panic or a health check.
    pub last_error: Option<PluginError>,
    /// Its library, or `None` for a static plugin.
    pub library: Option<PathBuf>,
    /// Its priority.
    pub priority: u8,
    /// What it depends on (manifest and host config).
    pub dependencies: Vec<Dependency>,
    /// Loaded plugins that depend on it, directly or not.
    pub dependents: Vec<PluginId>,
    /// Health checks and restarts.
    pub health: HealthRecord,
    /// Its event topics.
    pub subscriptions: Vec<String>,
    /// Its event queue's counters, if it subscribed to anything.
    pub events: Option<SubscriberStats>,
}

impl PluginTable {
    pub(crate) fn new(registry: Arc<Registry>, bus: Arc<EventBus>) -> Self {
        PluginTable {
            registry,
            bus,
            lingering: Mutex::new(Vec::new()),
        }
    }

    /// The registry the parts share.
    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Every plugin in the host, ordered by id.
    pub fn list(&self) -> Vec<PluginInfo> {
        self.registry
            .slots()
            .iter()
            .map(|s| PluginInfo {
                id: s.id().clone(),
                version: s.manifest().version.clone(),
                state: s.state(),
                origin: s.origin().clone(),
            })
            .collect()
    }

    /// The status of plugin `id`: a loaded plugin, or an enabled one that
    /// could not be loaded (state `Unloaded`, with the reason). `None` if
    /// the host knows nothing of it.
    pub fn status(&self, id: &str) -> Option<PluginStatus> {
        if let Some(slot) = self.registry.get(id) {
            return Some(self.status_of(&slot));
        }
        let held = self.registry.held(id)?;
        Some(PluginStatus {
            id: PluginId::new(id).ok()?,
            version: held.version,
            state: PluginState::Unloaded,
            reason: Some(held.reason),
            last_error: None,
            library: held.path,
            priority: held.priority,
            dependencies: Vec::new(),
            dependents: Vec::new(),
            health: HealthRecord::default(),
            subscriptions: Vec::new(),
            events: None,
        })
    }

    /// The status of every plugin, loaded or held back, ordered by id.
    pub fn statuses(&self) -> Vec<PluginStatus> {
        let mut all: Vec<PluginStatus> = self
            .registry
            .slots()
            .iter()
            .map(|s| self.status_of(s))
            .collect();
        for (id, _) in self.registry.all_held() {
            if let Some(status) = self.status(&id)
                && all.iter().all(|s| s.id != status.id)
            {
                all.push(status);
            }
        }
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    fn status_of(&self, slot: &Slot) -> PluginStatus {
        let subscriptions = self
            .registry
            .bound(slot.id())
            .map(|b| b.topics())
            .unwrap_or_default();
        PluginStatus {
            id: slot.id().clone(),
            version: Some(slot.manifest().version.clone()),
            state: slot.state(),
            reason: slot.reason(),
            last_error: slot.last_error(),
            library: slot.library_path().map(ToOwned::to_owned),
            priority: slot.priority(),
            dependencies: slot.requires().to_vec(),
            dependents: self
                .registry
                .dependents_of(slot.id())
                .iter()
                .map(|d| d.id().clone())
                .collect(),
            health: slot.health.lock().clone(),
            events: (!subscriptions.is_empty())
                .then(|| self.bus.stats_of(slot.id()))
                .flatten(),
            subscriptions,
        }
    }

    /// The state of plugin `id`, if loaded.
    pub fn state(&self, id: &str) -> Option<PluginState> {
        self.registry.get(id).map(|s| s.state())
    }

    /// The last error plugin `id` reported from a hook or a panic.
    pub fn last_error(&self, id: &str) -> Option<PluginError> {
        self.registry.get(id).and_then(|s| s.last_error())
    }

    /// What plugin `id`'s manifest requests that the policy does not
    /// grant (its uses will be denied). Empty for an unknown plugin.
    pub fn ungranted(&self, id: &str) -> Vec<crate::manifest::Capability> {
        self.registry
            .get(id)
            .map(|s| s.ungranted().to_vec())
            .unwrap_or_default()
    }

    /// Libraries that were closed but that the platform still keeps mapped,
    /// re-checked now (a library leaves this list once the threads holding
    /// it have exited).
    pub fn lingering_libraries(&self) -> Vec<PathBuf> {
        let mut lingering = self.lingering.lock();
        lingering.retain(|w| is_mapped(w.path()) == Some(true));
        lingering.iter().map(|w| w.path().to_owned()).collect()
    }

    /// Remembers a library the platform kept mapped after its close.
    pub(crate) fn linger(&self, watch: LibraryWatch) {
        self.lingering.lock().push(watch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventOptions;
    use crate::host::BootError;
    use crate::host::registry::Held;
    use crate::host::resolver::ResolveError;

    fn table() -> PluginTable {
        PluginTable::new(
            Arc::new(Registry::default()),
            Arc::new(EventBus::new(EventOptions::default())),
        )
    }

    #[test]
    fn an_empty_table_knows_nothing() {
        let t = table();
        assert!(t.list().is_empty() && t.statuses().is_empty());
        assert_eq!(t.state("acme.echo"), None);
        assert!(t.status("acme.echo").is_none());
        assert!(t.ungranted("acme.echo").is_empty());
        assert!(t.lingering_libraries().is_empty());
    }

    #[test]
    fn a_plugin_held_back_is_unloaded_with_its_reason_and_priority() {
        let t = table();
        for (id, priority) in [("acme.zeta", 7), ("acme.alpha", 90)] {
            t.registry().hold(
                PluginId::new(id).unwrap(),
                Held {
                    version: Some(semver::Version::new(1, 0, 0)),
                    path: Some(PathBuf::from(format!("/plugins/{id}.so"))),
                    reason: StateReason::Boot(BootError::Unresolved(vec![
                        ResolveError::NotFound {
                            plugin: PluginId::new("acme.base").unwrap(),
                        },
                    ])),
                    priority,
                },
            );
        }
        let status = t.status("acme.zeta").unwrap();
        assert_eq!(status.state, PluginState::Unloaded);
        assert_eq!(status.priority, 7);
        assert_eq!(status.library, Some(PathBuf::from("/plugins/acme.zeta.so")));
        assert!(matches!(
            status.reason,
            Some(StateReason::Boot(BootError::Unresolved(ref errors)))
                if matches!(&errors[..], [ResolveError::NotFound { plugin }] if plugin.as_str() == "acme.base")
        ));
        let ids: Vec<_> = t.statuses().into_iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            ["acme.alpha", "acme.zeta"].map(|i| PluginId::new(i).unwrap())
        );
        // Held back is not loaded.
        assert!(t.list().is_empty());
        assert_eq!(t.state("acme.zeta"), None);
    }
}
