//! Installing plugins from a sharelife registry: **plan → confirm →
//! apply**, into atomic generations with rollback.
//!
//! - [`plan`]: resolve the requested plugins against a registry and the
//!   installed set with the host's own resolver, check compatibility, and
//!   describe every change (version, digest, risk, capabilities, scan
//!   evidence, what the host's policy grants, the capability diff of an
//!   upgrade). A plan is a file with a digest that pins the registry
//!   snapshot and the generation it was made against.
//! - [`approve`](mod@approve): an admin's signature over a plan's digest; plans with a
//!   plugin at or above the admin threshold, or an upgrade that widens
//!   capabilities, need one.
//! - [`apply`](mod@apply): stage a new generation beside the current one (verified
//!   downloads, build steps under the execution rules, a smoke load), then
//!   make it current with one symlink rename; `rollback` to the parent.
//! - [`pack`]: extension packs: a whole setup (plugins, configs, policy,
//!   pipelines) exported as one signed file and applied elsewhere as a
//!   plan, exactly or not at all.
//! - [`root`]: the install root: generations, `current`, staging, the lock
//!   and the audit log.
//!
//! Nothing is ever half-installed: `current` only ever changes by renaming
//! a symlink to a complete, fsynced generation.

pub mod apply;
pub mod approve;
pub mod config;
mod error;
pub mod exec;
pub mod failpoint;
pub mod generation;
pub mod pack;
pub mod plan;
pub mod root;
pub mod smoke;

pub use apply::{ApplyReport, RollbackReport, apply, rollback};
pub use approve::approve;
pub use config::InstallConfig;
pub use error::InstallError;
pub use pack::{Pack, apply_pack, plan_pack};
pub use plan::{Operation, Plan, PlanFile, PluginRequest, make_plan};
pub use root::InstallRoot;
