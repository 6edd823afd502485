//! [`HostError`]: why a host operation failed.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::boot::BootFailure;
use super::config::ConfigError;
use crate::event::EventError;
use crate::loader::LoadError;
use crate::manifest::{Capability, Dependency, ManifestError, PluginId, Problem};
use crate::{IllegalTransition, PluginError};

/// Why a host operation failed.
///
/// Plugins are named by [`PluginId`] and every cause is typed, so a host
/// can `match` on why; the `Display` text is for people. `Clone`, so the
/// reports that carry these errors can be cloned.
#[derive(Debug, Clone, thiserror::Error)]
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
    #[error("plugin {:?} is already loaded (from {existing}); unload it first", id.as_str())]
    DuplicateId {
        /// The id.
        id: PluginId,
        /// Where the loaded one came from.
        existing: String,
    },
    /// No plugin with this name is in the host. The name is the one asked
    /// for, which need not be a valid plugin id.
    #[error("no plugin {:?} is loaded", .0.as_str())]
    NotFound(String),
    /// The plugin was unloaded while a hot reload of it was under way.
    #[error("no plugin \"{0} (unloaded during the reload)\" is loaded")]
    UnloadedDuringReload(PluginId),
    /// The lifecycle table does not allow the move.
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
    /// A lifecycle hook failed or panicked; the plugin is now in `Error`.
    #[error("plugin {:?} failed in {hook}: {error}", id.as_str())]
    Hook {
        /// The plugin.
        id: PluginId,
        /// The hook: `initialize`, `start`, `stop` or `cleanup`.
        hook: &'static str,
        /// What the plugin reported.
        error: PluginError,
    },
    /// A handler call failed.
    #[error("plugin {:?}, handler {handler:?}: {error}", id.as_str())]
    Call {
        /// The plugin.
        id: PluginId,
        /// The handler name.
        handler: String,
        /// What the plugin reported.
        error: PluginError,
    },
    /// A manifest given to [`Host::add`](super::Host::add) is invalid.
    #[error("plugin {}: {source}", id.as_ref().map_or_else(|| "\"<static>\"".to_owned(), |id| format!("{:?}", id.as_str())))]
    InvalidManifest {
        /// The plugin; `None` for a statically registered plugin whose
        /// manifest does not parse.
        id: Option<PluginId>,
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
        id: PluginId,
        /// Each mismatch: the key as written in the host config (path) and
        /// what is wrong (message).
        problems: Vec<Problem>,
    },
    /// A plugin directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: Arc<std::io::Error>,
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
    #[error("plugin {:?} cannot {action}: {}", id.as_str(), unmet_text(action, unmet))]
    UnmetDependencies {
        /// The plugin.
        id: PluginId,
        /// `be loaded` or `start`.
        action: &'static str,
        /// Each dependency not met.
        unmet: Vec<Unmet>,
    },
    /// A dependency failed to start; the plugin is left `Inactive`.
    #[error(
        "plugin {:?} was not started: its dependency {:?} failed to start: {source}",
        id.as_str(),
        dependency.as_str()
    )]
    DependencyFailed {
        /// The plugin.
        id: PluginId,
        /// The dependency.
        dependency: PluginId,
        /// Why the dependency failed.
        source: Box<HostError>,
    },
    /// Stopping or unloading a plugin others depend on, with the host set
    /// to refuse.
    #[error("cannot {verb} plugin {:?}: {} depend on it; {verb} them first, or set on_dependents = \"cascade\"", id.as_str(), join(dependents, ", "))]
    HasDependents {
        /// The plugin.
        id: PluginId,
        /// `stop` or `unload`.
        verb: &'static str,
        /// The plugins that depend on it.
        dependents: Vec<PluginId>,
    },
    /// The plugin was added in code; the host cannot make it again.
    #[error("plugin {:?} was added in code and cannot be reloaded; unload it and add it again", .0.as_str())]
    NotReloadable(PluginId),
    /// Strict mode: an enabled plugin failed, so the host did not start.
    #[error("strict mode: the host did not start because {} enabled plugin{} failed:\n{}", failures.len(), if failures.len() == 1 { "" } else { "s" }, failures.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    Strict {
        /// Every failure.
        failures: Vec<BootFailure>,
    },
    /// The manifest requests capabilities the policy does not grant, and
    /// the policy refuses such plugins (`ungranted = "refuse"`).
    #[error("plugin {:?} requests capabilities the policy does not grant: {}; grant them or remove them from the manifest", id.as_str(), requests_text(requests))]
    Ungranted {
        /// The plugin.
        id: PluginId,
        /// The requests no allow rule grants.
        requests: Vec<Capability>,
    },
    /// The audit log could not be opened.
    #[error(transparent)]
    Audit(Arc<crate::audit::AuditError>),
    /// A hot reload was given a library that is already open in this
    /// process: `dlopen` would hand back the old code.
    #[error("{} is already loaded in this process, so opening it again would run the old code; copy the new build to a fresh path and reload from there", path.display())]
    AlreadyOpen {
        /// The library.
        path: PathBuf,
    },
    /// A hot reload was given a library of another plugin.
    #[error("{} holds plugin {:?}, not {:?}", path.display(), found.as_str(), expected.as_str())]
    WrongPlugin {
        /// The library.
        path: PathBuf,
        /// The plugin being reloaded.
        expected: PluginId,
        /// The plugin the library holds.
        found: PluginId,
    },
    /// The new version does not satisfy the plugins that depend on the one
    /// being replaced.
    #[error("version {version} of plugin {:?} would break {}", id.as_str(), broken_text(id, dependents))]
    BreaksDependents {
        /// The plugin.
        id: PluginId,
        /// The new version.
        version: semver::Version,
        /// Each dependent with the range of `id` it needs.
        dependents: Vec<(PluginId, semver::VersionReq)>,
    },
    /// A hot reload failed before the swap; the old version keeps running.
    #[error("reload of plugin {:?} from {} failed, version {kept} keeps running: {source}", id.as_str(), path.display())]
    ReloadFailed {
        /// The plugin.
        id: PluginId,
        /// The library of the new version.
        path: PathBuf,
        /// The version that keeps serving calls.
        kept: semver::Version,
        /// Why.
        source: Box<HostError>,
    },
    /// The plugin must run out of process (`isolation = "process"`,
    /// `[sandbox] auto`, or [`Isolation::Process`](super::Isolation::Process))
    /// and could not: no provider, an unmet `[sandbox] require`, or the
    /// child did not start. Never run in process instead.
    #[error("plugin {:?} must run out of process, but {error}", id.as_str())]
    Isolation {
        /// The plugin.
        id: PluginId,
        /// What is missing.
        error: super::IsolationError,
    },
}

impl From<crate::audit::AuditError> for HostError {
    fn from(e: crate::audit::AuditError) -> Self {
        HostError::Audit(Arc::new(e))
    }
}

/// A dependency of a plugin that the plugins loaded now do not satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unmet {
    /// The dependency: its id and the range required.
    pub dependency: Dependency,
    /// The version of it that is loaded, if one is (out of range then).
    pub found: Option<semver::Version>,
}

impl Unmet {
    /// Whether `found` (the version of the dependency loaded now, if any)
    /// satisfies `dependency`; the unmet dependency if it does not.
    pub(crate) fn check(dependency: &Dependency, found: Option<&semver::Version>) -> Option<Unmet> {
        match found {
            Some(v) if dependency.version.matches(v) => None,
            found => Some(Unmet {
                dependency: dependency.clone(),
                found: found.cloned(),
            }),
        }
    }

    /// Every unmet dependency in one line, the one wording of them all
    /// (errors, held plugins' reasons).
    pub(crate) fn describe(unmet: &[Unmet]) -> String {
        join(unmet, "; ")
    }
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Dependency { id, version } = &self.dependency;
        match &self.found {
            Some(v) => write!(f, "it needs {id} {version}, found {id} {v}"),
            None => write!(f, "it needs {id} {version}, which is not loaded"),
        }
    }
}

fn unmet_text(action: &str, unmet: &[Unmet]) -> String {
    let mut text = Unmet::describe(unmet);
    if action == "be loaded" && unmet.iter().any(|u| u.found.is_none()) {
        text.push_str("; load it first");
    }
    text
}

fn join<T: fmt::Display>(items: &[T], separator: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

/// Each request in its manifest (JSON) form.
fn requests_text(requests: &[Capability]) -> String {
    requests
        .iter()
        .map(|c| serde_json::to_string(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("; ")
}

fn broken_text(id: &PluginId, dependents: &[(PluginId, semver::VersionReq)]) -> String {
    dependents
        .iter()
        .map(|(dependent, range)| format!("{dependent} (it needs {id} {range})"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn config_problems(file: &str, id: &PluginId, problems: &[Problem]) -> String {
    let mut text = format!(
        "{file}: the config of plugin {:?} does not match the plugin's config schema:",
        id.as_str()
    );
    for p in problems {
        text.push_str("\n  ");
        text.push_str(&p.to_string());
    }
    text
}

#[cfg(test)]
mod unmet_tests {
    use super::*;

    fn dep(id: &str, range: &str) -> Dependency {
        Dependency {
            id: PluginId::new(id).unwrap(),
            version: semver::VersionReq::parse(range).unwrap(),
        }
    }

    #[test]
    fn check_and_describe() {
        let d = dep("acme.base", "^1.2");
        assert_eq!(Unmet::check(&d, Some(&semver::Version::new(1, 3, 0))), None);
        let out = Unmet::check(&d, Some(&semver::Version::new(2, 0, 0))).unwrap();
        let missing = Unmet::check(&d, None).unwrap();
        assert_eq!(
            Unmet::describe(&[out, missing]),
            "it needs acme.base ^1.2, found acme.base 2.0.0; \
             it needs acme.base ^1.2, which is not loaded"
        );
    }
}
