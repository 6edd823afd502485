//! Dependency resolution: which version of each plugin to load, whether
//! every dependency is there and in range, and the start order.

mod report;
mod verify;

use std::collections::{BTreeMap, BTreeSet};

use semver::{Version, VersionReq};

pub(crate) use self::report::join_errors;
pub use self::report::{
    Chosen, PassedOver, PassedOverReason, Resolution, ResolveError, Unresolved,
};
use super::config::PluginSettings;
use crate::loader::PluginFile;
use crate::manifest::{Dependency, PluginId};

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
    let mut resolver = Resolver {
        input,
        groups: BTreeMap::new(),
        disabled: BTreeSet::new(),
        chosen: BTreeMap::new(),
        errors: BTreeMap::new(),
        report: Resolution::default(),
    };
    resolver.group(found);
    resolver.choose_versions();
    resolver.report_passed_over();
    resolver.check_dependencies();
    resolver.order();
    resolver.finish()
}

/// The state of one resolution, step by step.
struct Resolver<'a> {
    input: ResolveInput<'a>,
    /// Enabled plugins, by id.
    groups: BTreeMap<PluginId, Group>,
    /// Plugins found but disabled.
    disabled: BTreeSet<PluginId>,
    /// The chosen library of each plugin: an index into its group's files.
    chosen: BTreeMap<PluginId, usize>,
    /// Chosen plugins that cannot be loaded after all.
    errors: BTreeMap<PluginId, Vec<ResolveError>>,
    report: Resolution,
}

impl Resolver<'_> {
    fn enabled(&self, id: &PluginId) -> bool {
        self.input
            .settings
            .get(id)
            .and_then(|s| s.enabled)
            .unwrap_or(self.input.auto_load)
    }

    /// The manifest's dependencies plus the host config's.
    fn requires(&self, file: &PluginFile) -> Vec<Dependency> {
        self.requires_iter(file).cloned().collect()
    }

    /// [`requires`](Self::requires) without allocating.
    fn requires_iter<'f>(&'f self, file: &'f PluginFile) -> impl Iterator<Item = &'f Dependency> {
        requires_of(self.input.settings, file)
    }

    fn file(&self, id: &PluginId) -> &PluginFile {
        &self.groups[id].files[self.chosen[id]]
    }

    /// Groups the libraries by id, sets aside disabled and already loaded
    /// plugins and libraries this host cannot run.
    fn group(&mut self, found: Vec<PluginFile>) {
        let mut by_id: BTreeMap<PluginId, Vec<PluginFile>> = BTreeMap::new();
        for file in found {
            by_id
                .entry(file.manifest().id.clone())
                .or_default()
                .push(file);
        }
        for (id, mut files) in by_id {
            files.sort_by(|a, b| b.manifest().version.cmp(&a.manifest().version));
            let all_versions = files.iter().map(|f| f.manifest().version.clone()).collect();
            if let Some(v) = self.input.present.get(&id) {
                for f in files {
                    let reason = PassedOverReason::AlreadyLoaded {
                        id: id.clone(),
                        version: v.clone(),
                    };
                    self.report.passed_over.push(passed(&f, reason));
                }
                continue;
            }
            if !self.enabled(&id) {
                self.disabled.insert(id.clone());
                self.report.disabled.push(id);
                continue;
            }
            let mut compatible = Vec::new();
            let mut errors = Vec::new();
            for f in files {
                match f.check_compatible() {
                    Ok(()) => compatible.push(f),
                    Err(e) => {
                        errors.push(ResolveError::Incompatible { reason: e.clone() });
                        let reason = PassedOverReason::Incompatible(e);
                        self.report.passed_over.push(passed(&f, reason));
                    }
                }
            }
            if compatible.is_empty() {
                self.report.failed.push(Unresolved {
                    id: id.clone(),
                    version: None,
                    path: None,
                    errors,
                });
            } else {
                self.chosen.insert(id.clone(), 0);
            }
            self.groups.insert(
                id,
                Group {
                    files: compatible,
                    all_versions,
                },
            );
        }
        for (id, s) in self.input.settings {
            let known = self.groups.contains_key(id) || self.input.present.contains_key(id);
            if s.enabled == Some(true) && !known {
                self.report.failed.push(Unresolved {
                    id: id.clone(),
                    version: None,
                    path: None,
                    errors: vec![ResolveError::NotFound { plugin: id.clone() }],
                });
            }
        }
    }

    /// For each plugin, the highest compatible version that every chosen
    /// dependent accepts, repeated until nothing changes (a change of one
    /// plugin's version changes the ranges it puts on others).
    fn choose_versions(&mut self) {
        let settings = self.input.settings;
        let ids: Vec<PluginId> = self.chosen.keys().cloned().collect();
        for _ in 0..=self.groups.len() {
            // Built once per pass and kept up to date as choices change
            // within it, so each plugin sees the choices made before it.
            let mut index = dependents(&self.groups, &self.chosen, settings);
            let mut changed = false;
            for id in &ids {
                let (id, group) = self
                    .groups
                    .get_key_value(id)
                    .expect("chosen plugins have groups");
                let best = group.files.iter().position(|f| {
                    constraints(&index, id).all(|(_, _, req)| req.matches(&f.manifest().version))
                });
                let current = self.chosen[id];
                if let Some(best) = best.filter(|b| *b != current) {
                    remove_dependent(&mut index, settings, id, &group.files[current]);
                    add_dependent(&mut index, settings, id, &group.files[best]);
                    self.chosen.insert(id.clone(), best);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn report_passed_over(&mut self) {
        let mut passed_over = Vec::new();
        let index = dependents(&self.groups, &self.chosen, self.input.settings);
        for (id, &pick) in &self.chosen {
            let files = &self.groups[id].files;
            let picked = &files[pick].manifest().version;
            let others = files.iter().enumerate().filter(|(i, _)| *i != pick);
            for (_, f) in others {
                let version = &f.manifest().version;
                let reason = if version > picked {
                    PassedOverReason::OutOfRange {
                        id: id.clone(),
                        chosen: picked.clone(),
                        needed_by: constraints(&index, id)
                            .filter(|(_, _, req)| !req.matches(version))
                            .map(|(by, v, req)| (by.clone(), v.clone(), req.clone()))
                            .collect(),
                    }
                } else if version == picked {
                    PassedOverReason::Duplicate {
                        chosen: files[pick].path().to_owned(),
                    }
                } else {
                    PassedOverReason::Lower {
                        id: id.clone(),
                        chosen: picked.clone(),
                    }
                };
                passed_over.push(passed(f, reason));
            }
        }
        self.report.passed_over.extend(passed_over);
    }
}

/// Dependency id → the chosen plugins that require it: dependent id → its
/// version and the ranges it puts on the dependency, in the order of its
/// requirements. Built once per pass instead of walking every chosen
/// plugin for every id (quadratic in the plugin count).
type Dependents<'r> =
    BTreeMap<&'r PluginId, BTreeMap<&'r PluginId, (&'r Version, Vec<&'r VersionReq>)>>;

/// The reverse index of the chosen plugins' dependencies.
fn dependents<'r>(
    groups: &'r BTreeMap<PluginId, Group>,
    chosen: &BTreeMap<PluginId, usize>,
    settings: &'r BTreeMap<PluginId, PluginSettings>,
) -> Dependents<'r> {
    let mut index = Dependents::new();
    for (id, &pick) in chosen {
        let (id, group) = groups
            .get_key_value(id)
            .expect("chosen plugins have groups");
        add_dependent(&mut index, settings, id, &group.files[pick]);
    }
    index
}

/// The ranges that chosen plugins put on `id`: (dependent, its version,
/// range), dependents in id order, each one's ranges in the order of its
/// requirements. A plugin's requirement on itself is not one.
fn constraints<'i, 'r>(
    index: &'i Dependents<'r>,
    id: &PluginId,
) -> impl Iterator<Item = (&'r PluginId, &'r Version, &'r VersionReq)> + 'i {
    index.get(id).into_iter().flat_map(|by| {
        by.iter()
            .flat_map(|(&by, (version, reqs))| reqs.iter().map(move |&req| (by, *version, req)))
    })
}

/// Adds the requirements of `file`, the chosen library of `id`, to `index`.
fn add_dependent<'r>(
    index: &mut Dependents<'r>,
    settings: &'r BTreeMap<PluginId, PluginSettings>,
    id: &'r PluginId,
    file: &'r PluginFile,
) {
    let version = &file.manifest().version;
    for d in requires_of(settings, file).filter(|d| &d.id != id) {
        index
            .entry(&d.id)
            .or_default()
            .entry(id)
            .or_insert_with(|| (version, Vec::new()))
            .1
            .push(&d.version);
    }
}

/// Takes the requirements of `file`, once the chosen library of `id`, out
/// of `index`.
fn remove_dependent(
    index: &mut Dependents<'_>,
    settings: &BTreeMap<PluginId, PluginSettings>,
    id: &PluginId,
    file: &PluginFile,
) {
    for d in requires_of(settings, file) {
        if let Some(by) = index.get_mut(&d.id) {
            by.remove(id);
        }
    }
}

/// The manifest's dependencies plus the host config's, without allocating.
fn requires_of<'f>(
    settings: &'f BTreeMap<PluginId, PluginSettings>,
    file: &'f PluginFile,
) -> impl Iterator<Item = &'f Dependency> {
    let m = file.manifest();
    let extra = settings.get(&m.id).map(|s| s.dependencies.iter());
    m.dependencies.iter().chain(extra.into_iter().flatten())
}

fn passed(file: &PluginFile, reason: PassedOverReason) -> PassedOver {
    PassedOver {
        id: file.manifest().id.clone(),
        version: file.manifest().version.clone(),
        path: file.path().to_owned(),
        reason,
    }
}
