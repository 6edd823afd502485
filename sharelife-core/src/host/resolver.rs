//! Dependency resolution: which version of each plugin to load, whether
//! every dependency is there and in range, and the start order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use semver::{Version, VersionReq};

use super::config::PluginSettings;
use super::order::{Node, find_cycle, start_order};
use crate::loader::PluginFile;
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
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PassedOver {
    /// The plugin.
    pub id: PluginId,
    /// The version in this file.
    pub version: Version,
    /// The file.
    pub path: PathBuf,
    /// Why another was chosen, or why this one cannot run here.
    pub reason: String,
}

/// An enabled plugin that will not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        let errors: Vec<String> = self.errors.iter().map(ToString::to_string).collect();
        f.write_str(&errors.join("; "))
    }
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
        /// The loader's reason (naming the file).
        reason: String,
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
    #[error("{plugin} {version} needs {needs}, which cannot be loaded: {because}")]
    DependencyUnavailable {
        /// The plugin.
        plugin: PluginId,
        /// Its version.
        version: Version,
        /// The dependency.
        needs: PluginId,
        /// Why the dependency cannot be loaded.
        because: String,
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

/// What resolution needs to know besides the libraries found.
#[derive(Debug, Clone, Copy)]
pub struct ResolveInput<'a> {
    /// Per-plugin settings from the host config.
    pub settings: &'a BTreeMap<PluginId, PluginSettings>,
    /// Whether plugins the config does not mention are enabled.
    pub auto_load: bool,
    /// Plugins already in the host, and their versions: dependencies on
    /// them count as met, and libraries with their ids are passed over.
    pub present: &'a BTreeMap<PluginId, Version>,
}

struct Group {
    /// Compatible libraries, highest version first.
    files: Vec<PluginFile>,
    /// Every version found, compatible or not, highest first.
    all_versions: Vec<Version>,
}

/// Chooses one library per enabled plugin, checks every dependency, and
/// orders the result: dependencies first, lower `priority` first among
/// plugins that could go either way.
pub fn resolve(found: Vec<PluginFile>, input: ResolveInput<'_>) -> Resolution {
    let mut r = Resolution::default();
    let enabled = |id: &PluginId| {
        input
            .settings
            .get(id)
            .and_then(|s| s.enabled)
            .unwrap_or(input.auto_load)
    };
    let mut by_id: BTreeMap<PluginId, Vec<PluginFile>> = BTreeMap::new();
    for file in found {
        by_id
            .entry(file.manifest().id.clone())
            .or_default()
            .push(file);
    }
    let mut groups: BTreeMap<PluginId, Group> = BTreeMap::new();
    let mut disabled_ids = BTreeSet::new();
    for (id, mut files) in by_id {
        files.sort_by(|a, b| b.manifest().version.cmp(&a.manifest().version));
        let all_versions = files.iter().map(|f| f.manifest().version.clone()).collect();
        if let Some(v) = input.present.get(&id) {
            for f in files {
                r.passed_over.push(passed(
                    &f,
                    format!("{id} {v} is already loaded in the host"),
                ));
            }
            continue;
        }
        if !enabled(&id) {
            disabled_ids.insert(id.clone());
            r.disabled.push(id);
            continue;
        }
        let mut compatible = Vec::new();
        for f in files {
            match f.check_compatible() {
                Ok(()) => compatible.push(f),
                Err(e) => r.passed_over.push(passed(&f, e.to_string())),
            }
        }
        groups.insert(
            id,
            Group {
                files: compatible,
                all_versions,
            },
        );
    }
    for (id, s) in input.settings {
        if s.enabled == Some(true) && !groups.contains_key(id) && !input.present.contains_key(id) {
            r.failed.push(Unresolved {
                id: id.clone(),
                version: None,
                path: None,
                errors: vec![ResolveError::NotFound { plugin: id.clone() }],
            });
        }
    }

    let requires = |file: &PluginFile| -> Vec<Dependency> {
        let m = file.manifest();
        let mut deps = m.dependencies.clone();
        if let Some(s) = input.settings.get(&m.id) {
            deps.extend(s.dependencies.iter().cloned());
        }
        deps
    };

    // Choose versions: the highest compatible one that satisfies every
    // chosen dependent, until nothing changes.
    let mut chosen: BTreeMap<PluginId, usize> = groups
        .iter()
        .filter(|(_, g)| !g.files.is_empty())
        .map(|(id, _)| (id.clone(), 0))
        .collect();
    for _ in 0..=groups.len() {
        let mut changed = false;
        let ids: Vec<PluginId> = chosen.keys().cloned().collect();
        for id in &ids {
            let constraints = constraints_on(id, &chosen, &groups, &requires);
            let files = &groups[id].files;
            if let Some(best) = files.iter().position(|f| {
                constraints
                    .iter()
                    .all(|(_, _, req)| req.matches(&f.manifest().version))
            }) {
                if chosen[id] != best {
                    chosen.insert(id.clone(), best);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    for (id, g) in &groups {
        if g.files.is_empty() {
            let errors = r
                .passed_over
                .iter()
                .filter(|p| &p.id == id)
                .map(|p| ResolveError::Incompatible {
                    reason: p.reason.clone(),
                })
                .collect();
            r.failed.push(Unresolved {
                id: id.clone(),
                version: None,
                path: None,
                errors,
            });
            continue;
        }
        let pick = chosen[id];
        let picked = &g.files[pick].manifest().version;
        let constraints = constraints_on(id, &chosen, &groups, &requires);
        for (_, f) in g.files.iter().enumerate().filter(|(i, _)| *i != pick) {
            let version = &f.manifest().version;
            let reason = if version > picked {
                let unmet: Vec<String> = constraints
                    .iter()
                    .filter(|(_, _, req)| !req.matches(version))
                    .map(|(dep, dv, req)| format!("{dep} {dv} needs {id} {req}"))
                    .collect();
                format!("{id} {picked} was chosen instead: {}", unmet.join(", "))
            } else {
                format!("{id} {picked} is higher and compatible")
            };
            r.passed_over.push(passed(f, reason));
        }
    }

    // Check every dependency of every chosen plugin.
    let mut errors: BTreeMap<PluginId, Vec<ResolveError>> = BTreeMap::new();
    for (id, &pick) in &chosen {
        let file = &groups[id].files[pick];
        let version = &file.manifest().version;
        for dep in requires(file) {
            let needs = dep.id.clone();
            let range = dep.version.clone();
            let error = if let Some(v) = input.present.get(&needs) {
                (!range.matches(v)).then(|| ResolveError::OutOfRange {
                    plugin: id.clone(),
                    version: version.clone(),
                    needs,
                    range,
                    found: vec![v.clone()],
                })
            } else if let Some(&dpick) = chosen.get(&needs) {
                let g = &groups[&needs];
                (!range.matches(&g.files[dpick].manifest().version)).then(|| {
                    ResolveError::OutOfRange {
                        plugin: id.clone(),
                        version: version.clone(),
                        needs,
                        range,
                        found: g.all_versions.clone(),
                    }
                })
            } else if disabled_ids.contains(&needs) {
                Some(ResolveError::Disabled {
                    plugin: id.clone(),
                    version: version.clone(),
                    needs,
                    range,
                })
            } else if groups.contains_key(&needs) {
                let because = r
                    .failed
                    .iter()
                    .find(|u| u.id == needs)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                Some(ResolveError::DependencyUnavailable {
                    plugin: id.clone(),
                    version: version.clone(),
                    needs,
                    because,
                })
            } else {
                Some(ResolveError::Missing {
                    plugin: id.clone(),
                    version: version.clone(),
                    needs,
                    range,
                })
            };
            if let Some(e) = error {
                errors.entry(id.clone()).or_default().push(e);
            }
        }
    }

    // Fail what depends on failures, and what sits on or behind a cycle,
    // until an order exists for the rest.
    loop {
        loop {
            let mut more = Vec::new();
            for (id, &pick) in &chosen {
                if errors.contains_key(id) {
                    continue;
                }
                let file = &groups[id].files[pick];
                for dep in requires(file) {
                    if let Some(dep_errors) = errors.get(&dep.id) {
                        let because = dep_errors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ");
                        more.push((
                            id.clone(),
                            ResolveError::DependencyUnavailable {
                                plugin: id.clone(),
                                version: file.manifest().version.clone(),
                                needs: dep.id.clone(),
                                because,
                            },
                        ));
                        break;
                    }
                }
            }
            if more.is_empty() {
                break;
            }
            for (id, e) in more {
                errors.entry(id).or_default().push(e);
            }
        }
        let live: Vec<(&PluginId, &PluginFile)> = chosen
            .iter()
            .filter(|(id, _)| !errors.contains_key(*id))
            .map(|(id, &pick)| (id, &groups[id].files[pick]))
            .collect();
        let index: BTreeMap<&PluginId, usize> = live
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        let nodes: Vec<Node<'_>> = live
            .iter()
            .map(|(id, file)| Node {
                name: id.as_str(),
                priority: input
                    .settings
                    .get(*id)
                    .map_or(super::config::DEFAULT_PRIORITY, PluginSettings::priority),
                deps: requires(file)
                    .iter()
                    .filter_map(|d| index.get(&d.id).copied())
                    .collect(),
            })
            .collect();
        let (order, stuck) = start_order(&nodes);
        if stuck.is_empty() {
            r.order = order
                .into_iter()
                .map(|i| {
                    let file = live[i].1.clone();
                    Chosen {
                        priority: nodes[i].priority,
                        requires: requires(&file),
                        file,
                    }
                })
                .collect();
            break;
        }
        let cycle: Vec<(PluginId, Version)> = find_cycle(&nodes, &stuck)
            .into_iter()
            .map(|i| (live[i].0.clone(), live[i].1.manifest().version.clone()))
            .collect();
        for (id, _) in &cycle[..cycle.len().saturating_sub(1)] {
            errors
                .entry(id.clone())
                .or_default()
                .push(ResolveError::Cycle {
                    cycle: cycle.clone(),
                });
        }
    }
    for (id, errors) in errors {
        let file = &groups[&id].files[chosen[&id]];
        r.failed.push(Unresolved {
            id,
            version: Some(file.manifest().version.clone()),
            path: Some(file.path().to_owned()),
            errors,
        });
    }
    r.failed.sort_by(|a, b| a.id.cmp(&b.id));
    r
}

/// The ranges that chosen plugins put on `id`: (dependent, its version,
/// range).
fn constraints_on(
    id: &PluginId,
    chosen: &BTreeMap<PluginId, usize>,
    groups: &BTreeMap<PluginId, Group>,
    requires: &dyn Fn(&PluginFile) -> Vec<Dependency>,
) -> Vec<(PluginId, Version, VersionReq)> {
    chosen
        .iter()
        .filter(|(other, _)| *other != id)
        .flat_map(|(other, &pick)| {
            let file = &groups[other].files[pick];
            requires(file)
                .into_iter()
                .filter(|d| &d.id == id)
                .map(|d| (other.clone(), file.manifest().version.clone(), d.version))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn passed(file: &PluginFile, reason: String) -> PassedOver {
    PassedOver {
        id: file.manifest().id.clone(),
        version: file.manifest().version.clone(),
        path: file.path().to_owned(),
        reason,
    }
}
