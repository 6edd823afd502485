//! Booting a host from its settings: discover, resolve, load what is
//! enabled, start in dependency order; strict mode or a report.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::builder::Options;
use super::cascade::Lifecycle;
use super::discovery::{Skipped, discover};
use super::isolation::{Isolation, IsolationReason};
use super::loading::Loader;
use super::registry::{Held, Registry};
use super::resolver::{PassedOver, ResolveError, ResolveInput, join_errors, resolve};
use super::{HealthMonitor, HostError, StateReason};
use crate::PluginState;
use crate::manifest::PluginId;

/// The stage at which an enabled plugin failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Resolution: not found, incompatible, a dependency missing, out of
    /// range, or on a cycle.
    Resolve,
    /// Loading: the library would not open, its config does not match its
    /// schema, it must run out of process and cannot
    /// ([`HostError::Isolation`]), or `initialize` failed.
    Load,
    /// Starting: its `start` failed.
    Start,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Resolve => "resolve",
            Stage::Load => "load",
            Stage::Start => "start",
        })
    }
}

/// Why [`Host::boot`](super::Host::boot) did not bring up an enabled plugin: a typed cause
/// to `match` on; its text names plugins, versions and files.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BootError {
    /// Resolution refused it: not found, incompatible, a dependency
    /// missing, disabled, out of range, or on a cycle. Every reason.
    #[error("{}", join_errors(.0))]
    Unresolved(Vec<ResolveError>),
    /// Loading or starting it failed: the library, its config, a hook.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A dependency could not be loaded, so it was not loaded either.
    #[error("dependency {dependency} could not be loaded: {source}")]
    DependencyNotLoaded {
        /// The dependency.
        dependency: PluginId,
        /// Why the dependency could not be loaded.
        source: Box<BootError>,
    },
    /// A dependency is not active, so it was left `Inactive`.
    #[error("dependency {dependency} failed to start: {}", source.as_ref().map_or_else(|| "it is not active".to_owned(), ToString::to_string))]
    DependencyNotStarted {
        /// The dependency.
        dependency: PluginId,
        /// Why the dependency did not start, when boot knows it.
        source: Option<Box<BootError>>,
    },
}

/// An enabled plugin that [`Host::boot`](super::Host::boot) could not bring up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BootFailure {
    /// The plugin.
    pub id: PluginId,
    /// Where it failed.
    pub stage: Stage,
    /// Why.
    pub error: BootError,
}

impl fmt::Display for BootFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.id, self.stage, self.error)
    }
}

/// What [`Host::boot`](super::Host::boot) did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct BootReport {
    /// Files and folders discovery passed by, with the reason.
    pub skipped: Vec<Skipped>,
    /// Libraries of chosen plugins that were not chosen themselves.
    pub passed_over: Vec<PassedOver>,
    /// Plugins found but disabled.
    pub disabled: Vec<PluginId>,
    /// Plugins started, in start order.
    pub started: Vec<PluginId>,
    /// Plugins loaded out of process (through the isolation provider),
    /// with why: their `isolation`, or `[sandbox] auto` by risk.
    pub sandboxed: Vec<(PluginId, IsolationReason)>,
    /// Plugins loaded but left `Inactive` because a dependency failed to
    /// start, with the reason (a [`BootError::DependencyNotStarted`]).
    pub held: Vec<(PluginId, BootError)>,
    /// Enabled plugins that failed.
    pub failed: Vec<BootFailure>,
    /// How long each phase took.
    pub timings: BootTimings,
}

/// How long each phase of [`Host::boot`](super::Host::boot) took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BootTimings {
    /// Scanning folders and reading manifests.
    pub discover: Duration,
    /// Choosing versions, checking dependencies, ordering.
    pub resolve: Duration,
    /// Opening, checking, creating and initializing the enabled plugins.
    pub load: Duration,
    /// Starting them.
    pub start: Duration,
}

impl BootReport {
    /// Whether every enabled plugin started.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.held.is_empty()
    }
}

impl fmt::Display for BootReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.timings;
        writeln!(
            f,
            "started {} in {:?} (discover {:?}, resolve {:?}, load {:?}, start {:?}): {}",
            self.started.len(),
            t.discover + t.resolve + t.load + t.start,
            t.discover,
            t.resolve,
            t.load,
            t.start,
            join(&self.started)
        )?;
        for s in &self.skipped {
            writeln!(f, "skipped {}: {}", s.path.display(), s.reason)?;
        }
        for p in &self.passed_over {
            writeln!(
                f,
                "passed over {} {} ({}): {}",
                p.id,
                p.version,
                p.path.display(),
                p.reason
            )?;
        }
        if !self.disabled.is_empty() {
            writeln!(f, "disabled: {}", join(&self.disabled))?;
        }
        for (id, why) in &self.sandboxed {
            writeln!(f, "sandboxed {id} (out of process): {why}")?;
        }
        for (id, reason) in &self.held {
            writeln!(f, "inactive {id}: {reason}")?;
        }
        for failure in &self.failed {
            writeln!(f, "failed {failure}")?;
        }
        Ok(())
    }
}

/// Boot: discover, resolve, load what is enabled through the [`Loader`],
/// start in dependency order; on a strict failure, shut down through the
/// [`Lifecycle`]; then start the [`HealthMonitor`].
#[derive(Debug)]
pub(crate) struct Boot {
    pub(super) options: Arc<Options>,
    pub(super) registry: Arc<Registry>,
    pub(super) loader: Arc<Loader>,
    pub(super) lifecycle: Arc<Lifecycle>,
    pub(super) health: Arc<HealthMonitor>,
}

impl Boot {
    /// A plugin's priority, as its settings give it.
    fn priority_of(&self, id: &str) -> u8 {
        self.options
            .plugins
            .get(id)
            .map_or(super::config::DEFAULT_PRIORITY, |s| s.priority())
    }
}

fn join(ids: &[PluginId]) -> String {
    ids.iter()
        .map(PluginId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Boot {
    /// [`Host::boot`](super::Host::boot).
    pub(crate) async fn boot(&self) -> Result<BootReport, HostError> {
        let mut clock = Instant::now();
        let mut lap = || {
            let now = Instant::now();
            let elapsed = now - clock;
            clock = now;
            elapsed
        };
        let discovery = discover(&self.options.plugin_paths);
        let discover_time = lap();
        let present: BTreeMap<PluginId, semver::Version> = self
            .registry
            .slots()
            .iter()
            .map(|s| (s.id().clone(), s.manifest().version.clone()))
            .collect();
        let resolution = resolve(
            discovery.found,
            ResolveInput {
                settings: &self.options.plugins,
                auto_load: self.options.auto_load,
                present: &present,
            },
        );
        let mut report = BootReport {
            timings: BootTimings {
                discover: discover_time,
                resolve: lap(),
                ..BootTimings::default()
            },
            skipped: discovery.skipped,
            passed_over: resolution.passed_over,
            disabled: resolution.disabled,
            ..BootReport::default()
        };
        let mut broken: BTreeMap<PluginId, BootError> = BTreeMap::new();
        for u in resolution.failed {
            let error = BootError::Unresolved(u.errors);
            self.registry.hold(
                u.id.clone(),
                Held {
                    version: u.version,
                    path: u.path,
                    reason: StateReason::Boot(error.clone()),
                    priority: self.priority_of(&u.id),
                },
            );
            broken.insert(u.id.clone(), error.clone());
            report.failed.push(BootFailure {
                id: u.id,
                stage: Stage::Resolve,
                error,
            });
        }
        if self.options.strict && !report.failed.is_empty() {
            return Err(HostError::Strict {
                failures: report.failed,
            });
        }

        let mut loaded = Vec::new();
        let scope = self.loader.boot_scope();
        for chosen in resolution.order {
            let id = chosen.file.manifest().id.clone();
            let version = chosen.file.manifest().version.clone();
            let path: PathBuf = chosen.file.path().to_owned();
            let blocked = chosen
                .requires
                .iter()
                .find_map(|d| broken.get(&d.id).map(|why| (d.id.clone(), why.clone())));
            let result = match blocked {
                Some((dependency, why)) => Err(BootError::DependencyNotLoaded {
                    dependency,
                    source: Box::new(why),
                }),
                None => {
                    let (isolation, why) = super::isolation::decide(
                        self.options.plugins.get(&id),
                        &self.options.sandbox,
                        &chosen.file,
                    );
                    let sandboxed = matches!(isolation, Isolation::Process(_));
                    let loaded = self
                        .loader
                        .load_file_with(chosen.file, isolation)
                        .await
                        .map_err(BootError::Host);
                    if sandboxed && loaded.is_ok() {
                        report.sandboxed.push((id.clone(), why));
                    }
                    loaded
                }
            };
            match result {
                Ok(_) => loaded.push(id),
                Err(error) => {
                    // When `initialize` failed the plugin stays listed, in
                    // Error; otherwise it is held with the reason.
                    if self.registry.get(&id).is_none() {
                        self.registry.hold(
                            id.clone(),
                            Held {
                                version: Some(version),
                                path: Some(path),
                                reason: StateReason::Boot(error.clone()),
                                priority: self.priority_of(&id),
                            },
                        );
                    }
                    broken.insert(id.clone(), error.clone());
                    report.failed.push(BootFailure {
                        id,
                        stage: Stage::Load,
                        error,
                    });
                }
            }
        }
        drop(scope);
        report.timings.load = lap();
        if self.options.strict && !report.failed.is_empty() {
            self.lifecycle.shutdown().await;
            return Err(HostError::Strict {
                failures: report.failed,
            });
        }

        for id in loaded {
            let Some(slot) = self.registry.get(&id) else {
                continue;
            };
            let not_active = slot.requires().iter().find_map(|d| {
                let state = self.registry.get(&d.id).map(|s| s.state());
                (state != Some(PluginState::Active)).then(|| d.id.clone())
            });
            if let Some(dependency) = not_active {
                let source = broken.get(&dependency).cloned().map(Box::new);
                let reason = BootError::DependencyNotStarted { dependency, source };
                slot.hold(StateReason::Boot(reason.clone())).await;
                broken.insert(id.clone(), reason.clone());
                report.held.push((id, reason));
                continue;
            }
            match slot.start().await {
                Ok(()) => report.started.push(id),
                Err(e) => {
                    let error = BootError::Host(e);
                    broken.insert(id.clone(), error.clone());
                    report.failed.push(BootFailure {
                        id,
                        stage: Stage::Start,
                        error,
                    });
                }
            }
        }
        report.timings.start = lap();
        if self.options.strict && !report.is_complete() {
            let mut failures = report.failed;
            failures.extend(report.held.into_iter().map(|(id, error)| BootFailure {
                id,
                stage: Stage::Start,
                error,
            }));
            self.lifecycle.shutdown().await;
            return Err(HostError::Strict { failures });
        }
        self.health.start();
        // Formatting the report (a line per plugin) only for a subscriber
        // that takes it.
        if tracing::enabled!(target: "sharelife::boot", tracing::Level::INFO) {
            for line in report.to_string().lines() {
                tracing::info!(target: "sharelife::boot", "{line}");
            }
        }
        Ok(report)
    }
}
