//! [`HostError`]: why a host operation failed.

use std::path::PathBuf;

use super::boot::BootFailure;
use super::config::ConfigError;
use crate::event::EventError;
use crate::loader::LoadError;
use crate::manifest::ManifestError;
use crate::{IllegalTransition, PluginError};

/// Why a host operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The library could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The host config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The capability policy has rules that do not compile.
    #[error(transparent)]
    Policy(#[from] crate::capability::PolicyError),
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
    /// A manifest given to [`Host::add`](super::Host::add) is invalid.
    #[error("plugin {id:?}: {source}")]
    InvalidManifest {
        /// The plugin.
        id: String,
        /// The problems.
        source: ManifestError,
    },
    /// A plugin id given to the builder is not a plugin id.
    #[error("host builder: {0}")]
    InvalidPluginId(#[from] crate::manifest::InvalidPluginId),
    /// The config for a plugin does not match the plugin's config schema.
    #[error("{}", config_problems(file, id, problems))]
    PluginConfig {
        /// The host config file, or `host builder`.
        file: String,
        /// The plugin.
        id: String,
        /// Each mismatch: `key: what is wrong`.
        problems: Vec<String>,
    },
    /// A plugin directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Publishing or subscribing failed.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The operation needs a tokio runtime and none is running.
    #[error(
        "this host operation needs a tokio runtime; call it from within one (e.g. #[tokio::main])"
    )]
    NoRuntime,
    /// Loading or starting a plugin whose dependencies are not met.
    #[error("plugin {id:?} cannot {action}: {}", unmet.join("; "))]
    UnmetDependencies {
        /// The plugin.
        id: String,
        /// `load` or `start`.
        action: &'static str,
        /// Each dependency not met: `needs acme.a ^2, found acme.a 1.9.3`.
        unmet: Vec<String>,
    },
    /// A dependency failed to start; the plugin is left `Inactive`.
    #[error(
        "plugin {id:?} was not started: its dependency {dependency:?} failed to start: {source}"
    )]
    DependencyFailed {
        /// The plugin.
        id: String,
        /// The dependency.
        dependency: String,
        /// Why the dependency failed.
        source: Box<HostError>,
    },
    /// Stopping or unloading a plugin others depend on, with the host set
    /// to refuse.
    #[error("cannot {verb} plugin {id:?}: {} depend on it; {verb} them first, or set on_dependents = \"cascade\"", dependents.join(", "))]
    HasDependents {
        /// The plugin.
        id: String,
        /// `stop` or `unload`.
        verb: &'static str,
        /// The plugins that depend on it.
        dependents: Vec<String>,
    },
    /// The plugin was added in code; the host cannot make it again.
    #[error("plugin {0:?} was added in code and cannot be reloaded; unload it and add it again")]
    NotReloadable(String),
    /// Strict mode: an enabled plugin failed, so the host did not start.
    #[error("strict mode: the host did not start because {} enabled plugin{} failed:\n{}", failures.len(), if failures.len() == 1 { "" } else { "s" }, failures.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    Strict {
        /// Every failure.
        failures: Vec<BootFailure>,
    },
    /// The manifest requests capabilities the policy does not grant, and
    /// the policy refuses such plugins (`ungranted = "refuse"`).
    #[error("plugin {id:?} requests capabilities the policy does not grant: {}; grant them or remove them from the manifest", requests.join("; "))]
    Ungranted {
        /// The plugin.
        id: String,
        /// The requests no allow rule grants.
        requests: Vec<String>,
    },
    /// The audit log could not be opened.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// A hot reload was given a library that is already open in this
    /// process: `dlopen` would hand back the old code.
    #[error("{} is already loaded in this process, so opening it again would run the old code; copy the new build to a fresh path and reload from there", path.display())]
    AlreadyOpen {
        /// The library.
        path: PathBuf,
    },
    /// A hot reload was given a library of another plugin.
    #[error("{} holds plugin {found:?}, not {expected:?}", path.display())]
    WrongPlugin {
        /// The library.
        path: PathBuf,
        /// The plugin being reloaded.
        expected: String,
        /// The plugin the library holds.
        found: String,
    },
    /// The new version does not satisfy the plugins that depend on the one
    /// being replaced.
    #[error("version {version} of plugin {id:?} would break {}", dependents.join("; "))]
    BreaksDependents {
        /// The plugin.
        id: String,
        /// The new version.
        version: semver::Version,
        /// Each dependent with the range it needs.
        dependents: Vec<String>,
    },
    /// A hot reload failed before the swap; the old version keeps running.
    #[error("reload of plugin {id:?} from {} failed, version {kept} keeps running: {source}", path.display())]
    ReloadFailed {
        /// The plugin.
        id: String,
        /// The library of the new version.
        path: PathBuf,
        /// The version that keeps serving calls.
        kept: semver::Version,
        /// Why.
        source: Box<HostError>,
    },
}

fn config_problems(file: &str, id: &str, problems: &[String]) -> String {
    let mut text =
        format!("{file}: the config of plugin {id:?} does not match the plugin's config schema:");
    for p in problems {
        text.push_str("\n  ");
        text.push_str(p);
    }
    text
}
