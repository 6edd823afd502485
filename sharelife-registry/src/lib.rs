//! Plugin packages, a signed static registry, and the client that reads it.
//!
//! This crate is everything `sharelife package`, `publish`, `registry`,
//! `search`, `info`, `verify`, `yank` and `registry site` do, as a library
//! a host can embed.
//!
//! - [`package`]: the `.slpkg` format (a deterministic `tar.gz`).
//! - [`scan`]: what a library can reach around the gateway (its dynamic
//!   imports) and what its `Cargo.lock` is known to be vulnerable to.
//! - [`label`]: the risk label, capability summary and compatibility
//!   matrix, from the one capability vocabulary.
//! - [`seed`]: the seed platform's manifest contract (`plugin.manifest.v2`).
//! - [`index`]: the static catalog (sharded like cargo's sparse index).
//! - [`keys`], [`trust`], [`transport`]: TUF metadata through `tough`.
//! - [`registry`] and [`client`]: the two sides of a registry (the
//!   operator's `init`, `delegate`, `publish`, `yank`, `refresh`; the
//!   user's `search`, `info`, `verify`).
//! - [`site`]: the static web market generated from a registry's index.

pub mod client;
mod fsutil;
pub mod index;
pub mod keys;
pub mod label;
pub mod package;
pub mod registry;
pub mod scan;
pub mod seed;
pub mod site;
pub mod transport;
pub mod trust;

pub use client::{Client, ClientError, Home, Verified};
pub use registry::{PublishError, PublishOptions, Registry, RegistryError, Stage};
