//! What the orchestrator needs from a host: a way to find plugins by id,
//! and a way to call one. Two small traits, so that pipelines do not
//! depend on how the host keeps its plugins.
#![forbid(unsafe_code)]

use std::future::Future;

use std::sync::Arc;

use crate::manifest::Manifest;
use crate::{Buffer, HandlerId, Host, PluginError, PluginHandle};

/// A plugin a step can call: [`PluginHandle`] is the one hosts use.
///
/// Handlers are resolved by name with [`handler`](Self::handler) once,
/// when the pipeline is compiled; runs call by [`HandlerId`].
pub trait StepPlugin: Clone + Send + Sync + 'static {
    /// The plugin's manifest (id, version, handlers, requested
    /// capabilities).
    fn manifest(&self) -> Arc<Manifest>;

    /// The id calls use for handler `name`, and whether it is async;
    /// `None` if the plugin has no such handler. By default, the
    /// handler's position in the manifest.
    fn handler(&self, name: &str) -> Option<(HandlerId, bool)> {
        let manifest = self.manifest();
        let i = manifest.handlers.iter().position(|h| h.name == name)?;
        Some((
            HandlerId(u32::try_from(i).ok()?),
            manifest.handlers[i].is_async,
        ))
    }

    /// The gateway the plugin's own requests are decided by, when it has
    /// one (a plugin a host loaded); steps are then decided by the very
    /// same gateway. `None` (the default): the pipeline compiles one from
    /// the grants it was given.
    fn gateway(&self) -> Option<Arc<crate::capability::Gateway>> {
        None
    }

    /// Calls a synchronous handler, appending its output to `output`.
    ///
    /// # Errors
    ///
    /// Whatever the plugin (or the host, for a plugin that is not active)
    /// reports.
    fn call(
        &self,
        handler: HandlerId,
        input: &[u8],
        output: &mut Buffer,
    ) -> Result<(), PluginError>;

    /// Calls any handler, sync or async.
    fn call_async<'a>(
        &'a self,
        handler: HandlerId,
        input: &'a [u8],
        output: &'a mut Buffer,
    ) -> impl Future<Output = Result<(), PluginError>> + Send + 'a;
}

impl StepPlugin for PluginHandle {
    fn manifest(&self) -> Arc<Manifest> {
        PluginHandle::manifest(self)
    }

    /// The gateway the host compiled for the loaded version: a step is
    /// decided by exactly what decides the plugin's own requests.
    fn gateway(&self) -> Option<Arc<crate::capability::Gateway>> {
        PluginHandle::gateway(self)
    }

    /// The id stays valid across hot reloads (see [`PluginHandle`]).
    fn handler(&self, name: &str) -> Option<(HandlerId, bool)> {
        let id = PluginHandle::handler(self, name).ok()?;
        Some((id, self.is_async(id)?))
    }

    #[inline]
    fn call(
        &self,
        handler: HandlerId,
        input: &[u8],
        output: &mut Buffer,
    ) -> Result<(), PluginError> {
        PluginHandle::call(self, handler, input, output)
    }

    fn call_async<'a>(
        &'a self,
        handler: HandlerId,
        input: &'a [u8],
        output: &'a mut Buffer,
    ) -> impl Future<Output = Result<(), PluginError>> + Send + 'a {
        PluginHandle::call_async(self, handler, input, output)
    }
}

/// Where a pipeline finds its plugins: a registry of your own, or a slice
/// of [`StepPlugin`]s, for [`Pipeline::compile_with`](super::Pipeline::compile_with).
/// A [`Host`] is not one: a pipeline compiled against a host goes through
/// [`Pipeline::compile`](super::Pipeline::compile), which takes the host's
/// own grants, so that no pipeline runs a host's plugins under another
/// policy.
pub trait Plugins {
    /// The plugin type steps call.
    type Plugin: StepPlugin;

    /// The plugin with exactly this id, if there is one.
    fn get(&self, id: &str) -> Option<Self::Plugin>;

    /// The ids of every plugin there is (for bare-name lookups and for
    /// messages).
    fn ids(&self) -> Vec<String>;
}

/// A host's plugins, as only [`Pipeline::compile`](super::Pipeline::compile)
/// sees them.
pub(crate) struct HostPlugins<'a>(pub(crate) &'a Host);

impl Plugins for HostPlugins<'_> {
    type Plugin = PluginHandle;

    fn get(&self, id: &str) -> Option<PluginHandle> {
        self.0.handle(id).ok()
    }

    fn ids(&self) -> Vec<String> {
        self.0
            .plugins()
            .list()
            .into_iter()
            .map(|p| p.id.to_string())
            .collect()
    }
}

impl<P: StepPlugin> Plugins for [P] {
    type Plugin = P;

    fn get(&self, id: &str) -> Option<P> {
        self.iter()
            .find(|p| p.manifest().id.as_str() == id)
            .cloned()
    }

    fn ids(&self) -> Vec<String> {
        self.iter().map(|p| p.manifest().id.to_string()).collect()
    }
}

/// Finds the plugin a [`PluginUse::plugin`](super::PluginUse::plugin)
/// selector names: an exact id, or a bare name (no `.`) matching the one
/// plugin whose id ends in `.name`.
pub(crate) fn find<PL: Plugins + ?Sized>(
    plugins: &PL,
    selector: &str,
) -> Result<PL::Plugin, String> {
    if let Some(p) = plugins.get(selector) {
        return Ok(p);
    }
    let ids = plugins.ids();
    let loaded = || {
        if ids.is_empty() {
            "no plugin is loaded".to_owned()
        } else {
            format!("loaded: {}", ids.join(", "))
        }
    };
    if !selector.contains('.') {
        let suffix = format!(".{selector}");
        let matching: Vec<&String> = ids.iter().filter(|id| id.ends_with(&suffix)).collect();
        match matching.as_slice() {
            [one] => {
                if let Some(p) = plugins.get(one) {
                    return Ok(p);
                }
            }
            [] => {}
            many => {
                return Err(format!(
                    "{selector:?} matches several loaded plugins ({}); write the full id",
                    many.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        return Err(format!(
            "no loaded plugin has the id {selector:?} or an id ending in {suffix:?} ({}); load it or fix the name",
            loaded()
        ));
    }
    Err(format!(
        "plugin {selector:?} is not loaded in this host ({}); load it or fix the id",
        loaded()
    ))
}

/// Whether `selector` (an id or a bare name) names plugin `id`, by the
/// same rule as resolution; for hosts that configure plugins from a
/// pipeline file before loading them.
pub fn selects(selector: &str, id: &str) -> bool {
    selector == id
        || (!selector.contains('.')
            && id.len() > selector.len()
            && id.ends_with(selector)
            && id.as_bytes()[id.len() - selector.len() - 1] == b'.')
}
