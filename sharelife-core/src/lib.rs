//! # sharelife-core
//!
//! The vocabulary of sharelife plugins and the runtime that hosts them.
//!
//! * [`Plugin`] — the one trait both statically linked and dynamically
//!   loaded plugins implement; its lifecycle is documented on the trait and
//!   enforced by [`lifecycle::Lifecycle`].
//! * [`PluginContext`] — config, directories, logging and timers for a
//!   plugin.
//! * [`manifest`] — the typed manifest (v2) with path-precise validation.
//! * [`loader`] — reads, checks, opens and really closes plugin libraries
//!   across a checked stable ABI (feature `host`).
//! * [`Host`] — loads plugins, drives their lifecycle, calls handlers,
//!   contains their panics; boots from a config file ([`host::config`]):
//!   discovery, dependency resolution and order, health checks, metrics
//!   (feature `host`).
//! * [`event`] — the event bus: typed topics, bounded per-subscriber queues
//!   (feature `host`).
//! * [`pipeline`] — pipeline files and the orchestrator that runs them
//!   with retry, skip, abort and per-step capability checks (feature
//!   `pipeline`).
//!
//! Plugin authors depend on `sharelife-sdk`, not on this crate directly.
//!
//! ## A host in twenty lines
//!
//! ```
//! use sharelife_core::{Buffer, Host, HandlerId, Plugin, PluginContext, PluginError};
//! use sharelife_core::manifest::{Handler, Manifest};
//!
//! // A plugin written by hand (with the SDK, `#[plugin]` writes this).
//! struct Upper;
//! impl Plugin for Upper {
//!     fn call(&self, _: &PluginContext, _: HandlerId, input: &[u8], out: &mut Buffer)
//!         -> Result<(), PluginError> {
//!         out.extend_from_copy_slice(&input.to_ascii_uppercase());
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut manifest = Manifest::new("acme.upper".parse()?, "1.0.0".parse()?, "^0.1".parse()?);
//! manifest.handlers.push(Handler::new("upper", false));
//!
//! let host = Host::builder().build()?;
//! let id = host.add(manifest, Box::new(Upper)).await?;
//! host.start(&id).await?;
//! assert_eq!(host.call(&id, "upper", b"hello")?.as_slice(), b"HELLO");
//! host.unload(&id).await?;
//! # Ok(()) }
//! ```
//!
//! Loading a library is the same with [`Host::load`] and a path; a whole
//! folder of them, in dependency order, with [`Host::boot`].
//!
//! ## Safety
//!
//! `unsafe` code lives only in the (private) `abi` module and [`loader`].
//! Note that a native plugin runs in the host's address space: the
//! capability services are the sanctioned road to the outside world, but a
//! plugin *can* bypass them with raw `std` calls. Load only libraries you
//! trust, or wait for the sandbox tier.

mod abi;
pub mod audit;
pub mod capability;
mod context;
mod error;
#[cfg(feature = "host")]
pub mod event;
#[cfg(feature = "host")]
pub mod host;
pub mod lifecycle;
#[cfg(feature = "host")]
pub mod loader;
mod payload;
#[cfg(feature = "pipeline")]
pub mod pipeline;
mod plugin;
mod registration;
pub mod services;
mod timer;

/// The plugin manifest (re-exported from `sharelife-manifest`).
pub mod manifest {
    pub use sharelife_manifest::*;
}

pub use context::{BoxFuture, ContextData, Fs, HostServices, LocalServices, PluginContext};
pub use error::{ErrorKind, PluginError};
#[cfg(feature = "host")]
pub use host::{Host, HostBuilder, HostConfig, HostError, PluginHandle, UnloadReport};
pub use lifecycle::{IllegalTransition, Lifecycle, PluginState};
pub use payload::{FromPayload, IntoOutput, Json};
#[cfg(feature = "pipeline")]
pub use pipeline::{Pipeline, PipelineFile, RunReport};
pub use plugin::{Buffer, Event, HandlerId, Health, Plugin};
pub use registration::{HasManifest, StaticPlugin, static_plugins};

/// Re-exported so generated code and hosts name one version.
pub use async_trait::async_trait;

/// What `#[plugin]`'s generated code names, through
/// `sharelife_sdk::__private_v1`: the library header and module of the
/// stable ABI. Not public API. The suffix is the version of this contract
/// between the SDK and core; an incompatible change is a new module, so a
/// mismatched pair fails to compile rather than to load.
/// The hazard-pointer cell a host's bindings keep the current version
/// in, for the benchmarks' floor of the host handle. Not public API.
#[doc(hidden)]
#[cfg(feature = "host")]
pub mod __bench {
    pub use crate::loader::hazard::{HazardCell, Protected, reclaim};
}

#[doc(hidden)]
pub mod __private_v1 {
    pub use crate::abi::fingerprint::layout_fingerprint;
    pub use crate::abi::{PluginHeader, PluginModule};
}
