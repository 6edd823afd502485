//! Shared by the hot-reload tests of a sandboxed plugin: a host with the
//! sandbox provider and an audit log, and copies of a fixture library
//! (a hot reload wants each version at a path of its own). Included with
//! `#[path = "support/reload.rs"] mod reload;` beside `mod support;`.

#![allow(dead_code, reason = "each test file uses part of this module")]
#![allow(unreachable_pub, reason = "a module of test helpers")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sharelife_core::Host;
use sharelife_core::host::isolation::SandboxSettings;
use sharelife_sandbox::{Limits, Provider};

use super::support::built_library;

/// A host that runs plugins out of process through [`Provider`] (Landlock
/// and seccomp required), logging to `dir/audit.log`, with `builder`
/// applied last.
pub fn sandboxing_host(
    dir: &Path,
    builder: impl FnOnce(sharelife_core::HostBuilder) -> sharelife_core::HostBuilder,
) -> Host {
    let mut sandbox = SandboxSettings::default();
    sandbox.require = vec!["landlock".to_owned(), "seccomp".to_owned()];
    builder(
        Host::builder()
            .data_root(dir.join("data"))
            .temp_root(dir.join("tmp"))
            .audit_log(audit_log(dir))
            .isolation_provider(Arc::new(Provider::new()))
            .sandbox(sandbox),
    )
    .build()
    .expect("a host")
}

/// Where [`sandboxing_host`] writes its audit log.
pub fn audit_log(dir: &Path) -> PathBuf {
    dir.join("audit.log")
}

/// A copy of the library of `crate_name` at `dir/file`.
pub fn copy(dir: &Path, crate_name: &str, file: &str) -> PathBuf {
    let to = dir.join(file);
    std::fs::copy(built_library(crate_name), &to).expect("the library copied");
    to
}

/// Loads the library at `path` out of process under `limits` and starts
/// it.
pub async fn load_sandboxed(host: &Host, path: &Path, limits: &Limits) -> String {
    let id = host
        .load_with(path, sharelife_core::host::Isolation::Process(*limits))
        .await
        .expect("loaded in a sandboxed child");
    host.start(&id).await.expect("started");
    id.to_string()
}

/// The process ids of this process's children, zombies included, sorted
/// (their run states change from one look to the next).
pub fn child_pids() -> Vec<u32> {
    let mut pids: Vec<u32> = super::support::children()
        .into_iter()
        .map(|(pid, _)| pid)
        .collect();
    pids.sort_unstable();
    pids
}
