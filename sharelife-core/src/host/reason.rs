//! [`StateReason`]: why a plugin is in its state, typed.

use std::path::PathBuf;

use super::boot::BootError;
use super::error::{HostError, Unmet};
use crate::PluginError;
use crate::manifest::PluginId;

/// Why a plugin is in its state, when the host knows
/// ([`PluginStatus::reason`](super::PluginStatus::reason)): a typed cause
/// to `match` on; its text (also the `reason` of lifecycle events) names
/// plugins, versions and files.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StateReason {
    /// Boot could not load it (resolution, the library, a dependency that
    /// could not be loaded) or left it `Inactive` (a dependency that did
    /// not start).
    #[error(transparent)]
    Boot(BootError),
    /// [`Host::start`](super::Host::start) found dependencies not met; it
    /// was not started.
    #[error("not started: {}", Unmet::describe(.0))]
    UnmetDependencies(Vec<Unmet>),
    /// A dependency failed to start; it was not started.
    #[error("dependency {dependency} failed to start: {error}")]
    DependencyFailed {
        /// The dependency.
        dependency: PluginId,
        /// Why the dependency failed.
        error: Box<HostError>,
    },
    /// It was stopped because a dependency was stopped.
    #[error("stopped because its dependency {0} stopped")]
    DependencyStopped(PluginId),
    /// It was stopped (or held) because a dependency was unloaded.
    #[error("its dependency {0} was unloaded")]
    DependencyUnloaded(PluginId),
    /// It was stopped because a dependency is being reloaded in place.
    #[error("its dependency {0} is reloading")]
    DependencyReloading(PluginId),
    /// [`Host::shutdown`](super::Host::shutdown) stopped it.
    #[error("the host is shutting down")]
    ShuttingDown,
    /// The version it replaced in a hot reload was stopped; it stays so.
    #[error("stopped before the reload")]
    StoppedBeforeReload,
    /// A hook, a call or a health check failed or panicked: it is in
    /// `Error`.
    #[error("{place}: {error}")]
    Failed {
        /// Where: `start failed`, `health check failed`, ….
        place: String,
        /// What the plugin reported.
        error: PluginError,
    },
    /// The restart policy gave up on it; it stays in `Error`.
    #[error("gave up after {restarts} restarts in a row; last: {}", last.as_ref().map(ToString::to_string).unwrap_or_default())]
    GaveUp {
        /// Restarts made in a row.
        restarts: u32,
        /// The reason before it gave up.
        last: Option<Box<StateReason>>,
    },
    /// It is being unloaded.
    #[error("unloading")]
    Unloading,
    /// A hot reload replaced this version.
    #[error("replaced by version {version} from {}", library.display())]
    Replaced {
        /// The new version.
        version: semver::Version,
        /// Its library.
        library: PathBuf,
    },
    /// The new version of a failed hot reload, taken out again.
    #[error("reload failed")]
    ReloadFailed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Dependency;

    fn id(s: &str) -> PluginId {
        PluginId::new(s).unwrap()
    }

    #[test]
    fn reasons_read_as_before_and_match_by_cause() {
        let unmet = Unmet::check(
            &Dependency {
                id: id("acme.base"),
                version: semver::VersionReq::parse("^1").unwrap(),
            },
            None,
        )
        .unwrap();
        let reason = StateReason::UnmetDependencies(vec![unmet]);
        assert_eq!(
            reason.to_string(),
            "not started: it needs acme.base ^1, which is not loaded"
        );
        assert!(matches!(
            &reason,
            StateReason::UnmetDependencies(u) if u[0].found.is_none()
        ));
        let gave_up = StateReason::GaveUp {
            restarts: 3,
            last: Some(Box::new(StateReason::DependencyStopped(id("acme.base")))),
        };
        assert_eq!(
            gave_up.to_string(),
            "gave up after 3 restarts in a row; last: stopped because its dependency acme.base stopped"
        );
        assert_eq!(
            StateReason::ShuttingDown.to_string(),
            "the host is shutting down"
        );
        assert_eq!(
            StateReason::DependencyUnloaded(id("acme.base")).to_string(),
            "its dependency acme.base was unloaded"
        );
    }
}
