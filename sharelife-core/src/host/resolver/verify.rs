//! The second half of resolution: every dependency checked, failures
//! spread to what depends on them, cycles found, the rest ordered.

use std::collections::BTreeMap;

use semver::Version;

use super::{Chosen, Resolution, ResolveError, Resolver, Unresolved, requires_of};
use crate::host::config::{DEFAULT_PRIORITY, PluginSettings};
use crate::host::order::{Node, find_cycle, start_order};
use crate::manifest::{Dependency, PluginId};

impl Resolver<'_> {
    /// Every dependency of every chosen plugin: present, chosen in range,
    /// or an error saying which it is not.
    pub(super) fn check_dependencies(&mut self) {
        let mut errors: Vec<(PluginId, ResolveError)> = Vec::new();
        for id in self.chosen.keys() {
            let version = &self.file(id).manifest().version;
            for dep in self.requires(self.file(id)) {
                if let Some(e) = self.check(id, version, dep) {
                    errors.push((id.clone(), e));
                }
            }
        }
        for (id, e) in errors {
            self.errors.entry(id).or_default().push(e);
        }
    }

    fn check(&self, id: &PluginId, version: &Version, dep: Dependency) -> Option<ResolveError> {
        let (plugin, version) = (id.clone(), version.clone());
        let Dependency {
            id: needs,
            version: range,
        } = dep;
        if let Some(v) = self.input.present.get(&needs) {
            return (!range.matches(v)).then(|| ResolveError::OutOfRange {
                plugin,
                version,
                needs,
                range,
                found: vec![v.clone()],
            });
        }
        if self.chosen.contains_key(&needs) {
            let found = &self.file(&needs).manifest().version;
            return (!range.matches(found)).then(|| ResolveError::OutOfRange {
                found: self.groups[&needs].all_versions.clone(),
                plugin,
                version,
                needs,
                range,
            });
        }
        if self.disabled.contains(&needs) {
            return Some(ResolveError::Disabled {
                plugin,
                version,
                needs,
                range,
            });
        }
        if self.groups.contains_key(&needs) {
            let because = self
                .report
                .failed
                .iter()
                .find(|u| u.id == needs)
                .map(|u| u.errors.clone())
                .unwrap_or_default();
            return Some(ResolveError::DependencyUnavailable {
                plugin,
                version,
                needs,
                because,
            });
        }
        Some(ResolveError::Missing {
            plugin,
            version,
            needs,
            range,
        })
    }

    /// Fails every chosen plugin that needs a failed one, until none does.
    fn fail_dependents(&mut self) {
        loop {
            let mut more = Vec::new();
            for id in self
                .chosen
                .keys()
                .filter(|id| !self.errors.contains_key(*id))
            {
                let file = self.file(id);
                let failed_dep = self
                    .requires(file)
                    .into_iter()
                    .find_map(|d| self.errors.get(&d.id).map(|e| (d.id.clone(), e)));
                if let Some((needs, dep_errors)) = failed_dep {
                    let because = dep_errors.clone();
                    more.push((
                        id.clone(),
                        ResolveError::DependencyUnavailable {
                            plugin: id.clone(),
                            version: file.manifest().version.clone(),
                            needs,
                            because,
                        },
                    ));
                }
            }
            if more.is_empty() {
                return;
            }
            for (id, e) in more {
                self.errors.entry(id).or_default().push(e);
            }
        }
    }

    /// Orders the plugins that can be loaded; a cycle fails the plugins on
    /// it (and, through `fail_dependents`, those behind it), then the rest
    /// is ordered again.
    pub(super) fn order(&mut self) {
        loop {
            self.fail_dependents();
            let live: Vec<&PluginId> = self
                .chosen
                .keys()
                .filter(|id| !self.errors.contains_key(*id))
                .collect();
            let index: BTreeMap<&PluginId, usize> =
                live.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            let nodes: Vec<Node<'_>> = live
                .iter()
                .map(|id| Node {
                    name: id.as_str(),
                    priority: self
                        .input
                        .settings
                        .get(*id)
                        .map_or(DEFAULT_PRIORITY, PluginSettings::priority),
                    deps: self
                        .requires(self.file(id))
                        .iter()
                        .filter_map(|d| index.get(&d.id).copied())
                        .collect(),
                })
                .collect();
            let (order, stuck) = start_order(&nodes);
            if stuck.is_empty() {
                let picks: Vec<_> = order
                    .into_iter()
                    .map(|i| (live[i].clone(), nodes[i].priority))
                    .collect();
                // The chosen files move out of their groups (a file is a
                // whole manifest, not worth a copy): nothing reads the
                // group of a plugin in the order again.
                let order = picks
                    .into_iter()
                    .map(|(id, priority)| {
                        let pick = self.chosen[&id];
                        let group = self
                            .groups
                            .get_mut(&id)
                            .expect("chosen plugins have groups");
                        let file = group.files.swap_remove(pick);
                        Chosen {
                            priority,
                            requires: requires_of(self.input.settings, &file).cloned().collect(),
                            file,
                        }
                    })
                    .collect();
                self.report.order = order;
                return;
            }
            let cycle: Vec<(PluginId, Version)> = find_cycle(&nodes, &stuck)
                .into_iter()
                .map(|i| {
                    (
                        live[i].clone(),
                        self.file(live[i]).manifest().version.clone(),
                    )
                })
                .collect();
            for (id, _) in &cycle[..cycle.len().saturating_sub(1)] {
                self.errors
                    .entry(id.clone())
                    .or_default()
                    .push(ResolveError::Cycle {
                        cycle: cycle.clone(),
                    });
            }
        }
    }

    pub(super) fn finish(mut self) -> Resolution {
        for (id, errors) in std::mem::take(&mut self.errors) {
            let file = self.file(&id);
            self.report.failed.push(Unresolved {
                version: Some(file.manifest().version.clone()),
                path: Some(file.path().to_owned()),
                id,
                errors,
            });
        }
        self.report.failed.sort_by(|a, b| a.id.cmp(&b.id));
        self.report
    }
}
