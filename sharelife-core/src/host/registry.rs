//! The plugins in the host, and the dependency questions asked of them:
//! who depends on whom, in what order to start and stop them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;

use super::binding::Binding;
use super::error::{HostError, Unmet};
use super::order::{Node, start_order};
use super::reason::StateReason;
use super::slot::Slot;
use crate::event::EventBus;
use crate::manifest::{Manifest, PluginId};

/// A plugin the host was asked to run but could not load, and why.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) version: Option<semver::Version>,
    pub(crate) path: Option<PathBuf>,
    pub(crate) reason: StateReason,
    /// Its priority, as its settings give it.
    pub(crate) priority: u8,
}

/// Every id ever loaded keeps its [`Binding`] (empty while unloaded), so
/// handles taken before an unload work again once the id is loaded again.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    bindings: RwLock<BTreeMap<PluginId, Arc<Binding>>>,
    held: RwLock<BTreeMap<PluginId, Held>>,
}

impl Registry {
    /// The version of `id` loaded now.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Slot>> {
        self.bindings.read().get(id).and_then(|b| b.current())
    }

    /// The version of `id` loaded now, or [`HostError::NotFound`].
    pub(crate) fn find(&self, id: &str) -> Result<Arc<Slot>, HostError> {
        self.get(id)
            .ok_or_else(|| HostError::NotFound(id.to_owned()))
    }

    /// The binding of `id` if a version is loaded now, or
    /// [`HostError::NotFound`].
    pub(crate) fn find_bound(&self, id: &str) -> Result<Arc<Binding>, HostError> {
        self.bound(id)
            .ok_or_else(|| HostError::NotFound(id.to_owned()))
    }

    /// The binding of `id` if a version is loaded now.
    pub(crate) fn bound(&self, id: &str) -> Option<Arc<Binding>> {
        self.bindings
            .read()
            .get(id)
            .filter(|b| b.is_bound())
            .map(Arc::clone)
    }

    /// The binding of `manifest`'s id, made if it is new.
    pub(crate) fn binding(&self, manifest: &Arc<Manifest>, events: &Arc<EventBus>) -> Arc<Binding> {
        if let Some(b) = self.bindings.read().get(&manifest.id) {
            return Arc::clone(b);
        }
        Arc::clone(
            self.bindings
                .write()
                .entry(manifest.id.clone())
                .or_insert_with(|| {
                    Arc::new(Binding::new(Arc::clone(manifest), Arc::clone(events)))
                }),
        )
    }

    /// Every binding, loaded or not.
    pub(crate) fn bindings(&self) -> Vec<Arc<Binding>> {
        self.bindings.read().values().map(Arc::clone).collect()
    }

    /// Every loaded plugin, by id.
    pub(crate) fn slots(&self) -> Vec<Arc<Slot>> {
        self.bindings
            .read()
            .values()
            .filter_map(|b| b.current())
            .collect()
    }

    /// Binds `slot` to its id, or returns the version bound already.
    pub(crate) fn insert(&self, binding: &Binding, slot: Arc<Slot>) -> Result<(), Arc<Slot>> {
        // The write lock orders this against other inserts of the id.
        let bindings = self.bindings.write();
        debug_assert!(bindings.contains_key(slot.id()));
        if let Some(existing) = binding.current() {
            return Err(existing);
        }
        self.held.write().remove(slot.id());
        binding.bind(Some(slot));
        Ok(())
    }

    /// Binds `new` in place of `old`; `false` (and nothing changed) if
    /// `old` is no longer the version bound.
    pub(crate) fn replace(&self, binding: &Binding, old: &Arc<Slot>, new: Arc<Slot>) -> bool {
        let _bindings = self.bindings.write();
        if !binding.is_current(old) {
            return false;
        }
        binding.bind(Some(new));
        true
    }

    /// Unbinds `id`: from now on calls find it not loaded.
    pub(crate) fn remove(&self, id: &str) -> Option<Arc<Slot>> {
        let bindings = self.bindings.write();
        bindings.get(id).and_then(|b| b.bind(None))
    }

    pub(crate) fn hold(&self, id: PluginId, held: Held) {
        self.held.write().insert(id, held);
    }

    pub(crate) fn held(&self, id: &str) -> Option<Held> {
        self.held.read().get(id).cloned()
    }

    pub(crate) fn all_held(&self) -> Vec<(PluginId, Held)> {
        self.held
            .read()
            .iter()
            .map(|(id, h)| (id.clone(), h.clone()))
            .collect()
    }

    /// Every loaded plugin in start order.
    pub(crate) fn start_order(&self) -> Vec<Arc<Slot>> {
        let slots = self.slots();
        let index: BTreeMap<&str, usize> = slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id().as_str(), i))
            .collect();
        let nodes: Vec<Node<'_>> = slots
            .iter()
            .map(|s| Node {
                name: s.id().as_str(),
                priority: s.priority(),
                deps: s
                    .requires()
                    .iter()
                    .filter_map(|d| index.get(d.id.as_str()).copied())
                    .collect(),
            })
            .collect();
        let (mut order, stuck) = start_order(&nodes);
        // Loaded plugins cannot form a cycle (each is loaded after its
        // dependencies), but a reload could swap one in: keep them, last.
        order.extend(stuck);
        order.into_iter().map(|i| Arc::clone(&slots[i])).collect()
    }

    /// The loaded plugins that depend on `id`, directly or through others,
    /// in the order to stop them: dependents of dependents first.
    pub(crate) fn dependents_of(&self, id: &str) -> Vec<Arc<Slot>> {
        let slots = self.slots();
        let mut found: BTreeSet<PluginId> = BTreeSet::new();
        let mut frontier = vec![id.to_owned()];
        while let Some(current) = frontier.pop() {
            for s in &slots {
                if s.requires().iter().any(|d| d.id.as_str() == current)
                    && found.insert(s.id().clone())
                {
                    frontier.push(s.id().to_string());
                }
            }
        }
        let mut order: Vec<_> = self
            .start_order()
            .into_iter()
            .filter(|s| found.contains(s.id()))
            .collect();
        order.reverse();
        order
    }

    /// The loaded plugins `id` depends on, directly or not, in start order;
    /// or every dependency that no loaded plugin satisfies.
    pub(crate) fn dependencies_of(&self, id: &str) -> Result<Vec<Arc<Slot>>, Vec<Unmet>> {
        let mut found: BTreeSet<PluginId> = BTreeSet::new();
        let mut unmet = Vec::new();
        let mut frontier: Vec<Arc<Slot>> = self.get(id).into_iter().collect();
        while let Some(current) = frontier.pop() {
            for dep in current.requires() {
                let slot = self.get(&dep.id);
                if let Some(missing) =
                    Unmet::check(dep, slot.as_ref().map(|s| &s.manifest().version))
                {
                    unmet.push(missing);
                } else if let Some(s) = slot
                    && found.insert(s.id().clone())
                {
                    frontier.push(s);
                }
            }
        }
        if !unmet.is_empty() {
            return Err(unmet);
        }
        Ok(self
            .start_order()
            .into_iter()
            .filter(|s| found.contains(s.id()))
            .collect())
    }
}
