//! The smoke load a generation passes before it becomes current: a scratch
//! host boots it (read, checks, `dlopen`, `initialize`, `start` in
//! dependency order), checks every plugin's health, and shuts down
//! (`stop`, `cleanup`, `dlclose`). Each plugin gets the config the host
//! config the generation runs with gives it (`[plugins."ID"] config`), so
//! a plugin whose config schema requires fields is checked with its real
//! config; nothing else of that file (policy, audit log, folders) applies
//! to the scratch host.

use std::collections::BTreeMap;
use std::path::Path;

use sharelife_core::Health;
use sharelife_core::host::{Host, HostConfig};

use crate::InstallError;

/// Boots `plugins_dir` in a scratch host and checks it: every plugin
/// loads, starts, reports healthy (or degraded) and unloads. No plugin
/// gets a config; [`smoke_load_configured`] gives them theirs.
pub fn smoke_load(plugins_dir: &Path) -> Result<(), InstallError> {
    smoke_load_with(plugins_dir, &BTreeMap::new())
}

/// [`smoke_load`] with each plugin configured as the host config at
/// `host_config` says, when there is one (`${VAR}` expanded from this
/// process's environment, as a host would). Apply passes the host config
/// the staged generation will run with: its own `host.toml` (from a pack),
/// else `install.toml [host] config`.
///
/// # Errors
///
/// [`InstallError::SmokeFailed`] (stage `config` when the host config
/// cannot be read or checked), as [`smoke_load`].
pub fn smoke_load_configured(
    plugins_dir: &Path,
    host_config: Option<&Path>,
) -> Result<(), InstallError> {
    let configs = if let Some(host_toml) = host_config {
        let config = HostConfig::load(host_toml).map_err(|e| InstallError::SmokeFailed {
            id: "(host)".to_owned(),
            stage: "config".to_owned(),
            reason: e.to_string(),
        })?;
        config
            .plugins
            .into_iter()
            .filter_map(|(id, s)| s.config.map(|c| (id.to_string(), c)))
            .collect()
    } else {
        BTreeMap::new()
    };
    smoke_load_with(plugins_dir, &configs)
}

fn smoke_load_with(
    plugins_dir: &Path,
    configs: &BTreeMap<String, serde_json::Value>,
) -> Result<(), InstallError> {
    let scratch = tempfile::tempdir().map_err(crate::error::io(plugins_dir))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(crate::error::io(plugins_dir))?;
    runtime.block_on(async {
        let fail = |id: String, stage: &str, reason: String| InstallError::SmokeFailed {
            id,
            stage: stage.to_owned(),
            reason,
        };
        let mut builder = Host::builder()
            .plugin_path(plugins_dir)
            .data_root(scratch.path().join("data"))
            .temp_root(scratch.path().join("tmp"));
        for (id, config) in configs {
            builder = builder.plugin_config(id.clone(), config.clone());
        }
        let host = builder
            .build()
            .map_err(|e| fail("(host)".to_owned(), "host", e.to_string()))?;
        let report = host
            .boot()
            .await
            .map_err(|e| fail("(host)".to_owned(), "boot", e.to_string()))?;
        let mut problem = None;
        if let Some(s) = report.skipped.first() {
            problem = Some(fail(
                format!("{s:?}"),
                "read",
                "a library in the generation could not be read".to_owned(),
            ));
        }
        if let Some(f) = report.failed.first() {
            problem = Some(fail(
                f.id.to_string(),
                &format!("{:?}", f.stage),
                f.error.to_string(),
            ));
        }
        if let Some((id, e)) = report.held.first() {
            problem = Some(fail(id.to_string(), "start", e.to_string()));
        }
        if problem.is_none() {
            for id in &report.started {
                match host.health().check(id.as_str()).await {
                    Ok(Health::Healthy | Health::Degraded(_)) => {}
                    Ok(Health::Unhealthy(why)) => {
                        problem = Some(fail(id.to_string(), "health", why));
                        break;
                    }
                    Err(e) => {
                        problem = Some(fail(id.to_string(), "health", e.to_string()));
                        break;
                    }
                }
            }
        }
        let shutdown = host.shutdown().await;
        if let Some(p) = problem {
            return Err(p);
        }
        if let Some((id, e)) = shutdown.failed.first() {
            return Err(fail(id.to_string(), "unload", e.to_string()));
        }
        Ok(())
    })
}
