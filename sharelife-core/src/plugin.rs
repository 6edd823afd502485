//! The [`Plugin`] trait, implemented the same way by statically linked and
//! dynamically loaded plugins.
#![forbid(unsafe_code)]

use async_trait::async_trait;

use crate::manifest::Manifest;
use crate::{PluginContext, PluginError};

/// The byte buffer handlers write their output into.
///
/// It is an FFI-safe vector: the host allocates it, a plugin in another
/// library appends to it through the host's allocator, and nothing a plugin
/// allocates outlives the call. Use `buffer.extend_from_copy_slice(..)` (one
/// copy; `extend_from_slice` pushes byte by byte),
/// `std::io::Write`, or `as_slice()` to read it.
pub type Buffer = abi_stable::std_types::RVec<u8>;

/// Index of a handler in its plugin's manifest (`manifest.handlers[id]`).
///
/// Hosts resolve a handler's name to an id once and call by id, so the hot
/// path never compares strings. Ids come from a manifest: from
/// [`HandlerId::by_name`], or from the host (`PluginHandle::handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandlerId(pub(crate) u32);

impl HandlerId {
    /// The id of the handler called `name` in `manifest`, if it has one.
    ///
    /// ```
    /// # use sharelife_core::HandlerId;
    /// # use sharelife_core::manifest::{Handler, Manifest};
    /// let mut manifest = Manifest::new("acme.upper".parse()?, "1.0.0".parse()?, "^0.1".parse()?);
    /// manifest.handlers.push(Handler::new("upper", false));
    /// assert_eq!(HandlerId::by_name(&manifest, "upper").map(HandlerId::index), Some(0));
    /// assert_eq!(HandlerId::by_name(&manifest, "lower"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn by_name(manifest: &Manifest, name: &str) -> Option<Self> {
        let i = manifest.handlers.iter().position(|h| h.name == name)?;
        u32::try_from(i).ok().map(HandlerId)
    }

    /// The index as `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The result of a health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Working normally.
    Healthy,
    /// Working, with a problem worth reporting.
    Degraded(String),
    /// Not working.
    Unhealthy(String),
}

/// An event delivered to [`Plugin::handle_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The topic, e.g. `chat.message`.
    pub topic: &'a str,
    /// The payload bytes (often JSON).
    pub payload: &'a [u8],
}

/// A sharelife plugin.
///
/// # Lifecycle
///
/// The host constructs the plugin (for `#[plugin]` types, with `Default`),
/// then drives it through these hooks, each at most once per transition:
///
/// 1. [`initialize`](Plugin::initialize) — read config, open resources
///    (`Loading → Loaded`);
/// 2. [`start`](Plugin::start) — begin serving (`Loaded/Inactive → Active`);
///    handlers and events are only delivered while `Active`;
/// 3. [`stop`](Plugin::stop) — stop serving (`Active → Inactive`);
/// 4. [`cleanup`](Plugin::cleanup) — release what `initialize` took, just
///    before the plugin is dropped and its library closed (`Unloading`).
///
/// On a hot reload the host calls [`save_state`](Plugin::save_state) on the
/// old instance and [`restore_state`](Plugin::restore_state) on the new one
/// (after `initialize`, before `start`); both default to "no state".
///
/// [`health`](Plugin::health) may be called at any time while active. Any
/// hook that returns an error or panics moves the plugin to `Error`; the
/// host and the other plugins go on.
///
/// Every hook receives the plugin's [`PluginContext`], the same one each
/// time: its config, its directories, host logging and timers.
///
/// # Handlers
///
/// Handlers are named in the plugin's manifest; [`HandlerId`] `i` is
/// `manifest.handlers[i]`. Synchronous handlers are served by
/// [`call`](Plugin::call), async ones by [`call_async`](Plugin::call_async).
/// With `#[plugin]` you never write these two by hand: mark methods with
/// `#[handler]` and the macro generates the dispatch.
///
/// # Concurrency
///
/// Hooks and handlers take `&self` and may run on any thread, handlers
/// concurrently with each other: keep mutable state behind a lock or an
/// atomic.
#[async_trait]
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `Plugin`",
    label = "`#[plugin]` needs an `impl Plugin for {Self}`",
    note = "put `#[plugin(id = \"...\")]` on an `impl Plugin for {Self} {{ ... }}` block"
)]
pub trait Plugin: Send + Sync + 'static {
    /// Prepares the plugin: read config, open resources.
    async fn initialize(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let _ = ctx;
        Ok(())
    }

    /// Begins serving handlers and events.
    async fn start(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let _ = ctx;
        Ok(())
    }

    /// Stops serving; the plugin may be started again.
    async fn stop(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let _ = ctx;
        Ok(())
    }

    /// Releases what `initialize` acquired, before the plugin is dropped.
    async fn cleanup(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let _ = ctx;
        Ok(())
    }

    /// Reports whether the plugin is working.
    async fn health(&self, ctx: &PluginContext) -> Health {
        let _ = ctx;
        Health::Healthy
    }

    /// Receives an event on a topic the plugin subscribed to.
    async fn handle_event(&self, ctx: &PluginContext, event: Event<'_>) -> Result<(), PluginError> {
        let _ = (ctx, event);
        Ok(())
    }

    /// Hands the plugin's state to its successor on a hot reload. The
    /// default has no state to hand over (the new version starts fresh).
    async fn save_state(&self, ctx: &PluginContext) -> Result<Vec<u8>, PluginError> {
        let _ = ctx;
        Ok(Vec::new())
    }

    /// Receives the state its predecessor saved, after `initialize` and
    /// before `start`. Called only with state a previous version saved;
    /// decide yourself whether an old format is acceptable.
    async fn restore_state(&self, ctx: &PluginContext, state: &[u8]) -> Result<(), PluginError> {
        let _ = (ctx, state);
        Ok(())
    }

    /// Calls synchronous handler `handler` with `input`, appending its
    /// output to `output`.
    fn call(
        &self,
        ctx: &PluginContext,
        handler: HandlerId,
        input: &[u8],
        output: &mut Buffer,
    ) -> Result<(), PluginError> {
        let _ = (ctx, input, output);
        Err(PluginError::with_kind(
            crate::ErrorKind::UnknownHandler,
            format!("this plugin has no handler #{}", handler.0),
        ))
    }

    /// Calls handler `handler` asynchronously. The default runs the
    /// synchronous [`call`](Plugin::call), so every handler can be called
    /// this way.
    async fn call_async(
        &self,
        ctx: &PluginContext,
        handler: HandlerId,
        input: &[u8],
        output: &mut Buffer,
    ) -> Result<(), PluginError> {
        self.call(ctx, handler, input, output)
    }
}
