//! What resolution reports: the chosen libraries, the ones passed over,
//! and why an enabled plugin cannot be loaded.

use std::fmt;
use std::path::PathBuf;

use semver::{Version, VersionReq};

use crate::loader::{LoadError, PluginFile};
use crate::manifest::{Dependency, PluginId};

/// A plugin chosen to load.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Chosen {
    /// The library, manifest read, code not run.
    pub file: PluginFile,
    /// Its priority.
    pub priority: u8,
    /// Its manifest's dependencies plus the host config's.
    pub requires: Vec<Dependency>,
}

/// A library not chosen although its plugin was.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PassedOver {
    /// The plugin.
    pub id: PluginId,
    /// The version in this file.
    pub version: Version,
    /// The file.
    pub path: PathBuf,
    /// Why another was chosen, or why this one cannot run here.
    pub reason: PassedOverReason,
}

/// Why a library was passed over: a typed cause to `match` on; its text
/// names plugins, versions and files.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PassedOverReason {
    /// A version of the plugin is in the host already.
    #[error("{id} {version} is already loaded in the host")]
    AlreadyLoaded {
        /// The plugin.
        id: PluginId,
        /// The version loaded.
        version: Version,
    },
    /// This library cannot run on this host (plugin API, platform).
    #[error(transparent)]
    Incompatible(LoadError),
    /// A higher version, passed over because plugins chosen need a range
    /// it is not in.
    #[error("{id} {chosen} was chosen instead: {}", needs_text(id, needed_by))]
    OutOfRange {
        /// The plugin.
        id: PluginId,
        /// The version chosen instead.
        chosen: Version,
        /// Each chosen plugin (and its version) whose range excludes this
        /// version, with that range.
        needed_by: Vec<(PluginId, Version, VersionReq)>,
    },
    /// The same version, found again in another file.
    #[error("the same version from {} was chosen (found first)", chosen.display())]
    Duplicate {
        /// The file chosen.
        chosen: PathBuf,
    },
    /// A lower version: the chosen one is higher and compatible.
    #[error("{id} {chosen} is higher and compatible")]
    Lower {
        /// The plugin.
        id: PluginId,
        /// The version chosen.
        chosen: Version,
    },
}

fn needs_text(id: &PluginId, needed_by: &[(PluginId, Version, VersionReq)]) -> String {
    needed_by
        .iter()
        .map(|(dep, dv, req)| format!("{dep} {dv} needs {id} {req}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An enabled plugin that will not be loaded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Unresolved {
    /// The plugin.
    pub id: PluginId,
    /// The version that would have been loaded, if one was found.
    pub version: Option<Version>,
    /// Its file, if one was found.
    pub path: Option<PathBuf>,
    /// Every reason.
    pub errors: Vec<ResolveError>,
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&join_errors(&self.errors))
    }
}

/// Errors in one line, `; ` between them.
pub(crate) fn join_errors(errors: &[ResolveError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn versions(found: &[Version]) -> String {
    found
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn path_of(cycle: &[(PluginId, Version)]) -> String {
    cycle
        .iter()
        .map(|(id, v)| format!("{id} {v}"))
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// Why an enabled plugin cannot be loaded.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The config enables a plugin that no folder has.
    #[error(
        "{plugin} is enabled in the host config, but no plugin folder has it; add its library to a plugin_paths folder, or remove [plugins.\"{plugin}\"]"
    )]
    NotFound {
        /// The plugin.
        plugin: PluginId,
    },
    /// No version of the plugin can run on this host.
    #[error("{reason}")]
    Incompatible {
        /// The loader's reason (naming the file): an
        /// [`IncompatibleApi`](LoadError::IncompatibleApi) or
        /// [`UnsupportedPlatform`](LoadError::UnsupportedPlatform).
        reason: LoadError,
    },
    /// A dependency is nowhere.
    #[error(
        "{plugin} {version} needs {needs} {range}, which is in no plugin folder and not loaded"
    )]
    Missing {
        /// The plugin.
        plugin: PluginId,
        /// Its version.
        version: Version,
        /// The dependency.
        needs: PluginId,
        /// The range required.
        range: VersionReq,
    },
    /// A dependency is there but disabled.
    #[error(
        "{plugin} {version} needs {needs} {range}, which is disabled in the host config; enable {needs} or disable {plugin}"
    )]
    Disabled {
        /// The plugin.
        plugin: PluginId,
        /// Its version.
        version: Version,
        /// The dependency.
        needs: PluginId,
        /// The range required.
        range: VersionReq,
    },
    /// A dependency is there, in versions out of range.
    #[error(
        "{plugin} {version} needs {needs} {range}, found {needs} {}",
        versions(found)
    )]
    OutOfRange {
        /// The plugin.
        plugin: PluginId,
        /// Its version.
        version: Version,
        /// The dependency.
        needs: PluginId,
        /// The range required.
        range: VersionReq,
        /// The versions found.
        found: Vec<Version>,
    },
    /// The plugin is on a dependency cycle.
    #[error(
        "dependency cycle: {}; remove one of these dependencies",
        path_of(cycle)
    )]
    Cycle {
        /// The cycle, first plugin repeated at the end.
        cycle: Vec<(PluginId, Version)>,
    },
    /// A dependency cannot be loaded itself.
    #[error(
        "{plugin} {version} needs {needs}, which cannot be loaded: {}",
        join_errors(because)
    )]
    DependencyUnavailable {
        /// The plugin.
        plugin: PluginId,
        /// Its version.
        version: Version,
        /// The dependency.
        needs: PluginId,
        /// Why the dependency cannot be loaded: its own errors.
        because: Vec<ResolveError>,
    },
}

/// The outcome of resolution.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Resolution {
    /// The plugins to load, in start order (stop in reverse).
    pub order: Vec<Chosen>,
    /// Libraries not chosen, with the reason.
    pub passed_over: Vec<PassedOver>,
    /// Enabled plugins that cannot be loaded, with the reasons.
    pub failed: Vec<Unresolved>,
    /// Plugins found but disabled.
    pub disabled: Vec<PluginId>,
}
