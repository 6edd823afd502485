//! # sharelife-sdk
//!
//! Everything a plugin author needs, and nothing a host needs: this crate
//! pulls in no dynamic loader and no multi-threaded runtime.
//!
//! ## A plugin
//!
//! ```
//! use sharelife_sdk::prelude::*;
//! use std::time::Duration;
//!
//! #[derive(Default)]
//! pub struct Greeter;
//!
//! #[plugin(id = "acme.greeter", capability(file, access = "read", path = "greetings/*.txt"))]
//! impl Plugin for Greeter {
//!     async fn start(&self, ctx: &PluginContext) -> Result<(), PluginError> {
//!         ctx.log(Level::INFO, "greeter ready");
//!         Ok(())
//!     }
//!
//!     /// A synchronous handler: UTF-8 text in, text out.
//!     #[handler]
//!     fn greet(&self, name: &str) -> String {
//!         format!("hello, {name}")
//!     }
//!
//!     /// An async handler using the host's timer and typed JSON.
//!     #[handler]
//!     async fn later(&self, ctx: &PluginContext, Json(ms): Json<u64>) -> Result<&'static str, PluginError> {
//!         ctx.sleep(Duration::from_millis(ms)).await;
//!         Ok("done")
//!     }
//! }
//!
//! // Test it in-process with the harness:
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use sharelife_sdk::testing::TestHost;
//! let host = TestHost::<Greeter>::new();
//! host.start().await.unwrap();
//! assert_eq!(host.call("greet", b"ada").unwrap(), b"hello, ada");
//! assert_eq!(host.call_async("later", b"1").await.unwrap(), b"done");
//! # }
//! ```
//!
//! Build the crate as a `cdylib` (add `crate-type = ["cdylib", "rlib"]` to
//! `[lib]`) and a host loads it with `Host::load`; link it as an `rlib` and
//! `Host::load_static` finds it.
//!
//! ## `#[plugin(...)]`
//!
//! Goes on `impl Plugin for YourType`; `YourType` must implement `Default`.
//! The manifest's name, version, description, authors, license, homepage
//! and repository come from `Cargo.toml`. Arguments:
//!
//! | argument | meaning |
//! |---|---|
//! | `id = "acme.name"` | required: the plugin id |
//! | `api = "^0.1"` | plugin API range needed (default: this SDK's) |
//! | `name`, `description`, `homepage` | override Cargo's |
//! | `keywords("a", "b")`, `platforms("linux")` | lists |
//! | `dependency(id = "acme.other", version = "^1")` | repeatable |
//! | `capability(network, host = "api.example.com", ports = [443])` | repeatable; kinds: `network`, `file` (`access`, `path`), `command` (`argv`), `provider` (`name`, `access`), `mcp` (`server`, `tool`, `sha256`), `event` (`topic`) |
//! | `subscribe("chat.message", "jobs/done")` | event topics delivered to [`Plugin::handle_event`] (letters, digits, `.`, `_`, `-`, `/`); a host config's `subscriptions` adds more |
//! | `publish("orders.*", "jobs/done")` | event topics the plugin may publish with [`PluginContext::publish`]: a topic, `prefix.*` (every topic under `prefix.`) or `*`; each is the capability `event` with that `topic`, which the host's policy must grant. Topics under `sharelife.` are the host's |
//! | `config_schema = "config.schema.json"` | JSON Schema file, relative to the crate; the host checks the plugin's config against it before opening the library |
//!
//! `sharelife inspect` on the built library shows all of it, subscriptions
//! and config schema included, without running the plugin.
//!
//! ## Events
//!
//! ```
//! use sharelife_sdk::prelude::*;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! #[derive(Default)]
//! pub struct Ears { heard: AtomicUsize }
//!
//! #[plugin(id = "acme.ears", subscribe("chat.message"))]
//! impl Plugin for Ears {
//!     async fn handle_event(&self, _: &PluginContext, event: Event<'_>) -> Result<(), PluginError> {
//!         assert_eq!(event.topic, "chat.message");
//!         self.heard.fetch_add(1, Ordering::Relaxed);
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use sharelife_sdk::testing::TestHost;
//! let host = TestHost::<Ears>::new();
//! assert_eq!(host.manifest().subscriptions, ["chat.message"]);
//! host.start().await.unwrap();
//! host.send_event("chat.message", b"hi").await.unwrap();
//! assert_eq!(host.plugin().heard.load(Ordering::Relaxed), 1);
//! # }
//! ```
//!
//! A plugin publishes through its context, gated like every service: the
//! manifest requests the topics (`publish(..)` above), the host's policy
//! grants them (a rule of kind `event`), and every publish is audited.
//! `ctx.spawn(future)` runs background work on the host's runtime (a
//! loaded plugin cannot use it directly) until the plugin is unloaded or
//! replaced: then the task is dropped, before its library is closed. At
//! most 64 tasks run per plugin.
//!
//! ```
//! use sharelife_sdk::prelude::*;
//!
//! #[derive(Default)]
//! pub struct Orders;
//!
//! #[plugin(id = "acme.orders", publish("orders.*"))]
//! impl Plugin for Orders {
//!     #[handler]
//!     fn create(&self, ctx: &PluginContext, id: &str) -> Result<(), PluginError> {
//!         ctx.publish("orders.created", id.as_bytes())
//!     }
//! }
//! ```
//!
//! ## Handlers
//!
//! Mark methods of the block with `#[handler]` (or `#[handler(name =
//! "other")]`). A handler takes `&self`, optionally `ctx: &PluginContext`,
//! and at most one input whose type implements [`FromPayload`] (`&[u8]`,
//! `Vec<u8>`, `&str`, `String`, `()`, [`Json<T>`]); it returns an
//! [`IntoOutput`] (`()`, bytes, text, `Json<T>`, or a `Result` of those).
//! Handlers may be `async`.
//!
//! A handler may declare the capability classes it uses:
//! `#[handler(uses(file.read, network.outbound))]` (classes:
//! `network.outbound`, `file.read`, `file.write`, `command.exec`,
//! `provider.access`, `mcp.invoke`, `event.publish`). The manifest records
//! it; each class must cover a capability the plugin requests. A pipeline
//! step calling the handler then needs only those of the plugin's requests,
//! and while the handler runs, a request of another class made on the
//! calling thread is denied (audited as `undeclared`). A handler without
//! `uses` may use everything the plugin is granted.
//!
//! ## Logging and timers
//!
//! A loaded plugin has its own copy of every static: log with
//! [`PluginContext::log`] or plain `tracing` macros (both land in the
//! host's subscriber with the plugin id), and sleep with
//! [`PluginContext::sleep`] — never with a runtime of your own.
//!
//! ## Your crate's settings
//!
//! * The SDK may be renamed in `Cargo.toml` (`sdk = { package =
//!   "sharelife-sdk", .. }`): `#[plugin]` reads your manifest to find it.
//! * `#![forbid(unsafe_code)]` works: the library header and manifest
//!   section need `#[unsafe(export_name)]` and `#[unsafe(link_section)]`,
//!   but the `unsafe_code` lint does not look into code a procedural macro
//!   from another crate generates, so your own code stays free of `unsafe`
//!   and a plugin crate can prove it.
//!
//! ## What a plugin can do
//!
//! A native plugin runs in the host's process. The context's services are
//! the sanctioned way to reach the outside world, but nothing stops a
//! plugin from calling `std::fs` directly: the host must trust the
//! libraries it loads.

pub mod testing;

/// Audit records (for tests: `TestHost::audit`).
pub use sharelife_core::audit;
/// Policies (for tests: `TestHost::with_policy`).
pub use sharelife_core::capability;
/// Event topics and the bus (for tests: `TestHost::events`).
#[cfg(feature = "testing")]
pub use sharelife_core::event;
pub use sharelife_core::manifest;
/// Request and response types of the context's services.
pub use sharelife_core::services;
pub use sharelife_core::{
    Buffer, ErrorKind, Event, FromPayload, HandlerId, HasManifest, Health, IntoOutput, Json,
    Plugin, PluginContext, PluginError, PluginState, async_trait,
};
pub use sharelife_macros::{handler, plugin};
/// The `tracing` crate, for plugins that log through it.
pub use tracing;

/// The names a plugin crate needs: `use sharelife_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Buffer, ErrorKind, Event, FromPayload, HandlerId, Health, IntoOutput, Json, Plugin,
        PluginContext, PluginError, handler, plugin,
    };
    pub use tracing::Level;
}

/// Items the `#[plugin]` macro's generated code names. Not public API. The
/// suffix versions the contract between the macro and this crate: an
/// incompatible change is a new module, so a plugin crate that somehow
/// pairs a macro and an SDK of different versions fails to compile, naming
/// the module it misses. The macro finds this crate under whatever name the
/// plugin crate depends on it (`proc-macro-crate`).
#[doc(hidden)]
pub mod __private_v1 {
    pub use async_trait::async_trait;
    pub use inventory;
    pub use sharelife_core::__private_v1::{PluginHeader, PluginModule};
    pub use sharelife_core::{
        Buffer, FromPayload, HandlerId, HasManifest, IntoOutput, Plugin, PluginContext,
        PluginError, StaticPlugin,
    };

    /// The error for a handler id the plugin does not have.
    pub fn unknown_handler(handler: HandlerId) -> PluginError {
        PluginError::with_kind(
            sharelife_core::ErrorKind::UnknownHandler,
            format!("this plugin has no handler #{}", handler.index()),
        )
    }

    /// The error for calling an async handler through the sync path.
    pub fn async_handler(name: &str) -> PluginError {
        PluginError::with_kind(
            sharelife_core::ErrorKind::AsyncHandler,
            format!("handler {name:?} is async: call it through call_async"),
        )
    }
}
