//! What the host reports about its plugins: [`Host::list`] and
//! [`Host::status`].

use std::path::PathBuf;

use super::health::HealthRecord;
use super::slot::Slot;
use super::{Host, Origin};
use crate::event::SubscriberStats;
use crate::manifest::{Dependency, PluginId};
use crate::{PluginError, PluginState};

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

/// Everything the host knows about one plugin.
#[derive(Debug, Clone, PartialEq)]
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
    pub reason: Option<String>,
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

impl Host {
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
            priority: self
                .options
                .plugins
                .get(id)
                .map_or(super::config::DEFAULT_PRIORITY, |s| s.priority()),
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
            if let Some(status) = self.status(&id) {
                if all.iter().all(|s| s.id != status.id) {
                    all.push(status);
                }
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
                .then(|| self.events.stats_of(slot.id()))
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
}
