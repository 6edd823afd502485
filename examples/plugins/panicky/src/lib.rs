//! An example plugin that panics where it is told to, for the containment
//! demo and tests.
//!
//! Config: `{"panic_in": "<place>"}` with place one of `initialize`,
//! `start`, `stop`, `cleanup`, `health`, `event`, `drop`. The handlers
//! `boom` (sync) and `boom_async` always panic. The constructor panics when
//! the environment variable `PANICKY_PANIC_IN_DEFAULT` is set (the one
//! entry point that has no config). `pin_thread` registers a thread-local
//! destructor on the calling thread, which keeps the library mapped after
//! `dlclose` until that thread exits.

use std::sync::OnceLock;

use serde::Deserialize;
use sharelife_sdk::prelude::*;

/// Panics on request.
pub struct Panicky {
    panic_in: OnceLock<String>,
}

impl Default for Panicky {
    fn default() -> Self {
        if std::env::var_os("PANICKY_PANIC_IN_DEFAULT").is_some() {
            panic!("panicky: asked to panic in its constructor");
        }
        Panicky {
            panic_in: OnceLock::new(),
        }
    }
}

#[derive(Deserialize, Default)]
struct Config {
    #[serde(default)]
    panic_in: String,
}

impl Panicky {
    fn maybe_panic(&self, place: &str) {
        if self.panic_in.get().is_some_and(|p| p == place) {
            panic!("panicky: asked to panic in {place}");
        }
    }
}

struct Pin;

impl Drop for Pin {
    fn drop(&mut self) {}
}

thread_local! {
    static PIN: std::cell::RefCell<Option<Pin>> = const { std::cell::RefCell::new(None) };
}

#[plugin(id = "examples.panicky")]
impl Plugin for Panicky {
    async fn initialize(&self, ctx: &PluginContext) -> Result<(), PluginError> {
        let config: Config = if ctx.config().is_null() {
            Config::default()
        } else {
            ctx.config_as()?
        };
        let _ = self.panic_in.set(config.panic_in);
        self.maybe_panic("initialize");
        Ok(())
    }

    async fn start(&self, _: &PluginContext) -> Result<(), PluginError> {
        self.maybe_panic("start");
        Ok(())
    }

    async fn stop(&self, _: &PluginContext) -> Result<(), PluginError> {
        self.maybe_panic("stop");
        Ok(())
    }

    async fn cleanup(&self, _: &PluginContext) -> Result<(), PluginError> {
        self.maybe_panic("cleanup");
        Ok(())
    }

    async fn health(&self, _: &PluginContext) -> Health {
        self.maybe_panic("health");
        Health::Healthy
    }

    async fn handle_event(&self, _: &PluginContext, _: Event<'_>) -> Result<(), PluginError> {
        self.maybe_panic("event");
        Ok(())
    }

    /// Always panics.
    #[handler]
    fn boom(&self) -> &'static str {
        panic!("panicky: boom")
    }

    /// Always panics, after an await point.
    #[handler]
    async fn boom_async(&self, ctx: &PluginContext) -> &'static str {
        ctx.sleep(std::time::Duration::from_millis(1)).await;
        panic!("panicky: boom_async")
    }

    /// Answers normally.
    #[handler]
    fn ping(&self) -> &'static str {
        "pong"
    }

    /// Registers a thread-local destructor on the calling thread.
    #[handler]
    fn pin_thread(&self) -> &'static str {
        PIN.with(|p| *p.borrow_mut() = Some(Pin));
        "pinned"
    }
}

impl Drop for Panicky {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.maybe_panic("drop");
        }
    }
}
