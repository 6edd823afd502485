//! A host in miniature for testing a plugin in-process.
//!
//! [`TestHost`] builds a plugin with a config of your choice, drives its
//! lifecycle through the same transition table as the real host, calls its
//! handlers by name and delivers events. Nothing is loaded from disk: the
//! plugin is your crate's own type.
//!
//! With the SDK's `testing` feature (enable it in `[dev-dependencies]`),
//! `TestHost::with_policy` runs the plugin behind a real capability
//! gateway, and `TestHost::audit` shows the decisions it caused:
//!
//! ```toml
//! [dev-dependencies]
//! sharelife-sdk = { path = "../sharelife/sharelife-sdk", features = ["testing"] }
//! ```
//!
//! (The SDK is not on crates.io yet: depend on it by path, as `sharelife
//! new` writes it, or by git.) The plugin's events
//! (`ctx.publish`) go to a bus of the test host's own; listen on it with
//! `TestHost::events`.
//!
//! Without a policy every service the plugin uses is denied, as in a host
//! that grants nothing.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sharelife_core::lifecycle::Lifecycle;
use sharelife_core::manifest::Manifest;
use sharelife_core::{
    ContextData, ErrorKind, Event, HandlerId, HasManifest, PluginContext, PluginError, PluginState,
};

/// An in-process host for one plugin of type `P`.
pub struct TestHost<P> {
    plugin: P,
    manifest: Manifest,
    ctx: PluginContext,
    lifecycle: Lifecycle,
    dirs: PathBuf,
    #[cfg(feature = "testing")]
    audit: Option<std::sync::Arc<sharelife_core::audit::MemorySink>>,
    #[cfg(feature = "testing")]
    events: Option<std::sync::Arc<sharelife_core::event::EventBus>>,
}

impl<P: HasManifest> TestHost<P> {
    /// The plugin built with `Default` and no config.
    pub fn new() -> Self {
        Self::with_config(serde_json::Value::Null)
    }

    /// The plugin built with `Default` and the given config.
    pub fn with_config(config: serde_json::Value) -> Self {
        let (manifest, dirs, data) = Self::prepare(config);
        let ctx = PluginContext::local(data);
        Self::assemble(manifest, dirs, ctx)
    }

    fn prepare(config: serde_json::Value) -> (Manifest, PathBuf, ContextData) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let manifest = P::manifest();
        let dirs = std::env::temp_dir().join(format!(
            "sharelife-test-{}-{}-{}",
            manifest.id,
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let data = ContextData {
            plugin_id: manifest.id.to_string(),
            config,
            data_dir: dirs.join("data"),
            temp_dir: dirs.join("tmp"),
        };
        let _ = std::fs::create_dir_all(&data.data_dir);
        let _ = std::fs::create_dir_all(&data.temp_dir);
        (manifest, dirs, data)
    }

    fn assemble(manifest: Manifest, dirs: PathBuf, ctx: PluginContext) -> Self {
        let lifecycle = Lifecycle::new(manifest.id.as_str());
        TestHost {
            plugin: P::default(),
            manifest,
            ctx,
            lifecycle,
            dirs,
            #[cfg(feature = "testing")]
            audit: None,
            #[cfg(feature = "testing")]
            events: None,
        }
    }

    /// The plugin behind a capability gateway compiled from its manifest and
    /// `policy`, with `backends` for providers and MCP servers; every
    /// decision is recorded for [`audit`](Self::audit). Relative file
    /// grants are under the plugin's data directory,
    /// [`data_dir`](Self::data_dir).
    #[cfg(feature = "testing")]
    pub fn with_policy(
        config: serde_json::Value,
        policy: &sharelife_core::capability::Policy,
        backends: sharelife_core::services::Backends,
    ) -> Self {
        use std::sync::Arc;

        use sharelife_core::audit::MemorySink;
        use sharelife_core::capability::Gateway;
        use sharelife_core::services::GatedServices;

        let (manifest, dirs, data) = Self::prepare(config);
        let gateway = Arc::new(
            Gateway::compile(&manifest, policy, &data.data_dir)
                .unwrap_or_else(|e| panic!("TestHost: {e}")),
        );
        let audit = Arc::new(MemorySink::new());
        let events = Arc::new(sharelife_core::event::EventBus::new(Default::default()));
        let services = GatedServices::new(gateway, audit.clone(), &data.data_dir, backends)
            .temp_dir(&data.temp_dir)
            .events(Arc::clone(&events));
        let ctx = PluginContext::new(data, Arc::new(services));
        let mut host = Self::assemble(manifest, dirs, ctx);
        host.audit = Some(audit);
        host.events = Some(events);
        host
    }

    /// The bus the plugin publishes to (with a policy; `None` without
    /// one, where publishing is denied like every other service).
    #[cfg(feature = "testing")]
    pub fn events(&self) -> Option<&std::sync::Arc<sharelife_core::event::EventBus>> {
        self.events.as_ref()
    }

    /// The audit records the plugin caused so far (empty without a policy).
    #[cfg(feature = "testing")]
    pub fn audit(&self) -> Vec<sharelife_core::audit::AuditRecord> {
        self.audit.as_ref().map(|a| a.records()).unwrap_or_default()
    }

    /// The plugin's data directory (where relative file grants point).
    pub fn data_dir(&self) -> &std::path::Path {
        self.ctx.data_dir()
    }

    /// The plugin's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The plugin instance.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }

    /// The plugin's context.
    pub fn context(&self) -> &PluginContext {
        &self.ctx
    }

    /// The plugin's state.
    pub fn state(&self) -> PluginState {
        self.lifecycle.state()
    }

    fn hook_result(
        &self,
        result: Result<(), PluginError>,
        then: PluginState,
    ) -> Result<(), PluginError> {
        let next = if result.is_ok() {
            then
        } else {
            PluginState::Error
        };
        self.lifecycle
            .move_to(next)
            .map_err(|e| PluginError::new(e.to_string()))?;
        result
    }

    /// Initializes (if not done yet) and starts the plugin.
    ///
    /// # Errors
    ///
    /// The plugin's error, or an illegal transition.
    pub async fn start(&self) -> Result<(), PluginError> {
        if self.state() == PluginState::Unloaded {
            self.lifecycle
                .move_to(PluginState::Loading)
                .map_err(|e| PluginError::new(e.to_string()))?;
            let r = self.plugin.initialize(&self.ctx).await;
            self.hook_result(r, PluginState::Loaded)?;
        }
        let r = self.plugin.start(&self.ctx).await;
        self.hook_result(r, PluginState::Active)
    }

    /// Stops the plugin.
    ///
    /// # Errors
    ///
    /// The plugin's error, or an illegal transition.
    pub async fn stop(&self) -> Result<(), PluginError> {
        self.lifecycle
            .move_to(PluginState::Inactive)
            .map_err(|e| PluginError::new(e.to_string()))?;
        let r = self.plugin.stop(&self.ctx).await;
        self.hook_result(r, PluginState::Inactive)
    }

    fn handler(&self, name: &str) -> Result<(HandlerId, bool), PluginError> {
        let id = HandlerId::by_name(&self.manifest, name).ok_or_else(|| {
            PluginError::with_kind(
                ErrorKind::UnknownHandler,
                format!("{} has no handler {name:?}", self.manifest.id),
            )
        })?;
        Ok((id, self.manifest.handlers[id.index()].is_async))
    }

    fn check_active(&self) -> Result<(), PluginError> {
        match self.state() {
            PluginState::Active => Ok(()),
            s => Err(PluginError::with_kind(
                ErrorKind::NotActive,
                format!("the plugin is {s}; call start() first"),
            )),
        }
    }

    /// Calls synchronous handler `name`.
    ///
    /// # Errors
    ///
    /// Unknown handler, not active, or the handler's error.
    pub fn call(&self, name: &str, input: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.check_active()?;
        let (id, _) = self.handler(name)?;
        let mut out = sharelife_core::Buffer::new();
        self.plugin.call(&self.ctx, id, input, &mut out)?;
        Ok(out.into_vec())
    }

    /// Calls handler `name`, sync or async.
    ///
    /// # Errors
    ///
    /// Unknown handler, not active, or the handler's error.
    pub async fn call_async(&self, name: &str, input: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.check_active()?;
        let (id, _) = self.handler(name)?;
        let mut out = sharelife_core::Buffer::new();
        self.plugin
            .call_async(&self.ctx, id, input, &mut out)
            .await?;
        Ok(out.into_vec())
    }

    /// Calls handler `name` with JSON in and out.
    ///
    /// # Errors
    ///
    /// As [`call_async`](Self::call_async), or a JSON error.
    pub async fn call_json<I: Serialize, O: DeserializeOwned>(
        &self,
        name: &str,
        input: &I,
    ) -> Result<O, PluginError> {
        let bytes = serde_json::to_vec(input)?;
        let out = self.call_async(name, &bytes).await?;
        Ok(serde_json::from_slice(&out)?)
    }

    /// Delivers an event.
    ///
    /// # Errors
    ///
    /// Not active, or the plugin's error.
    pub async fn send_event(&self, topic: &str, payload: &[u8]) -> Result<(), PluginError> {
        self.check_active()?;
        self.plugin
            .handle_event(&self.ctx, Event { topic, payload })
            .await
    }
}

impl<P: HasManifest> Default for TestHost<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> Drop for TestHost<P> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dirs);
    }
}
