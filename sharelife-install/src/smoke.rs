//! The smoke load a generation passes before it becomes current: a scratch
//! host boots it (read, checks, `dlopen`, `initialize`, `start` in
//! dependency order), checks every plugin's health, and shuts down
//! (`stop`, `cleanup`, `dlclose`).
//!
//! The scratch host runs with the host config the generation will run
//! with, so plugins get their configs, disabled ones stay unloaded, and
//! `[sandbox]` places them as a real host would; only the places that
//! would touch the real host's state are its own: the plugin folder is the
//! staged one, data and temp directories are scratch, and nothing is
//! written to the real host's audit log.

use std::path::Path;

use sharelife_core::Health;
use sharelife_core::host::{Host, HostConfig};

use crate::InstallError;

/// Boots `plugins_dir` in a scratch host and checks it: every plugin
/// loads, starts, reports healthy (or degraded) and unloads. `host_config`
/// is the host config file the generation runs with, if it has one.
///
/// # Errors
///
/// [`InstallError::SmokeFailed`] naming the plugin and the stage that
/// failed (`config` when the host config itself cannot be read).
pub fn smoke_load(plugins_dir: &Path, host_config: Option<&Path>) -> Result<(), InstallError> {
    // The installer's environment is not the host's: a `${VAR}` it does
    // not set is taken as empty here (so `${VAR:-default}` takes its
    // default), and named if the smoke load then fails.
    let unset = std::cell::RefCell::new(Vec::<String>::new());
    let config = match host_config {
        Some(path) => {
            let config_error = |reason: String| InstallError::SmokeFailed {
                id: "(host)".to_owned(),
                stage: "config".to_owned(),
                reason,
            };
            let text = std::fs::read_to_string(path)
                .map_err(|e| config_error(format!("{}: {e}", path.display())))?;
            let lookup = |var: &str| {
                std::env::var(var).ok().or_else(|| {
                    unset.borrow_mut().push(var.to_owned());
                    Some(String::new())
                })
            };
            let mut config = HostConfig::parse(&text, Some(path), &lookup)
                .map_err(|e| config_error(e.to_string()))?;
            config.plugin_paths.clear();
            config.data_dir = None;
            config.temp_dir = None;
            config.audit_log = None;
            Some(config)
        }
        None => None,
    };
    let unset = unset.into_inner();
    boot_and_check(plugins_dir, config).map_err(|e| match e {
        InstallError::SmokeFailed { id, stage, reason } if !unset.is_empty() => {
            InstallError::SmokeFailed {
                id,
                stage,
                reason: format!(
                    "{reason} (the host config's {} unset in this environment: taken as empty, or as the default given)",
                    unset
                        .iter()
                        .map(|v| format!("${{{v}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        other => other,
    })
}

/// Boots `plugins_dir` with `config` in a scratch host and checks it.
fn boot_and_check(plugins_dir: &Path, config: Option<HostConfig>) -> Result<(), InstallError> {
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
        let mut builder = Host::builder();
        if let Some(config) = config {
            builder = builder.config(config);
        }
        let host = builder
            .plugin_path(plugins_dir)
            .data_root(scratch.path().join("data"))
            .temp_root(scratch.path().join("tmp"))
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
