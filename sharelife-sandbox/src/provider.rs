//! [`Provider`]: the host's [`IsolationProvider`] for this tier, so that
//! `isolation = "process"`, `[sandbox] auto` and
//! [`Host::load_with`](sharelife_core::Host::load_with) with
//! [`Isolation::Process`](sharelife_core::host::Isolation::Process) run a
//! plugin in a sandboxed child.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use sharelife_core::Plugin;
use sharelife_core::host::isolation::{
    IsolationError, IsolationProvider, ProcessLimits, SandboxSupport,
};
use sharelife_core::manifest::Manifest;

use crate::{Feature, LoadSandboxedError, Requirements, SandboxError, SandboxedPlugin};

/// Starts plugins in sandboxed children ([`SandboxedPlugin`]) for a
/// host. Register it once:
///
/// ```no_run
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use sharelife_core::host::{Host, HostConfig};
///
/// let host = Host::builder()
///     .config(HostConfig::load("host.toml")?) // isolation = "process", [sandbox] …
///     .isolation_provider(Arc::new(sharelife_sandbox::Provider::new()))
///     .build()?;
/// # let _ = host;
/// # Ok(()) }
/// ```
///
/// The runner binary is found with [`locate_runner`](crate::locate_runner)
/// at each start unless [`with_runner`](Self::with_runner) names it. The
/// `require` names are [`Feature`]s; one the kernel cannot give is
/// [`IsolationError::Unmet`] before any child is started (and the runner
/// checks again after restricting itself).
#[derive(Debug, Clone, Default)]
pub struct Provider {
    runner: Option<PathBuf>,
}

impl Provider {
    /// A provider that finds the runner with
    /// [`locate_runner`](crate::locate_runner).
    pub fn new() -> Self {
        Provider::default()
    }

    /// A provider that starts the runner at `runner`.
    pub fn with_runner(runner: impl Into<PathBuf>) -> Self {
        Provider {
            runner: Some(runner.into()),
        }
    }
}

/// `require` names as features; an unknown name is unmet.
fn requirements(require: &[String]) -> Result<Requirements, IsolationError> {
    let mut features = Vec::new();
    let mut unknown = Vec::new();
    for name in require {
        match serde_json::from_value::<Feature>(serde_json::Value::String(name.clone())) {
            Ok(f) => features.push(f),
            Err(_) => unknown.push(format!("{name} (not a sandbox feature)")),
        }
    }
    if unknown.is_empty() {
        Ok(Requirements::new(features))
    } else {
        Err(IsolationError::Unmet { missing: unknown })
    }
}

fn unmet(missing: &[Feature]) -> IsolationError {
    IsolationError::Unmet {
        missing: missing.iter().map(ToString::to_string).collect(),
    }
}

impl IsolationProvider for Provider {
    fn spawn(
        &self,
        path: &Path,
        manifest: &Manifest,
        limits: &ProcessLimits,
        require: &[String],
    ) -> Result<Box<dyn Plugin>, IsolationError> {
        let requirements = requirements(require)?;
        let missing = crate::probe().missing(&requirements.require);
        if !missing.is_empty() {
            return Err(unmet(&missing));
        }
        let spawned = match &self.runner {
            Some(runner) => SandboxedPlugin::spawn_with_runner(runner, path, limits, &requirements),
            None => SandboxedPlugin::spawn(path, limits, &requirements),
        };
        let plugin = spawned.map_err(|e| match e {
            LoadSandboxedError::Sandbox(SandboxError::Unsupported { missing }) => unmet(&missing),
            other => IsolationError::Failed(other.to_string()),
        })?;
        if plugin.manifest().id != manifest.id || plugin.manifest().version != manifest.version {
            return Err(IsolationError::Failed(format!(
                "{} changed while it was being started: it now holds {} {}",
                path.display(),
                plugin.manifest().id,
                plugin.manifest().version
            )));
        }
        Ok(Box::new(plugin))
    }

    /// [`probe`](crate::probe), as the host sees it.
    fn support(&self) -> SandboxSupport {
        SandboxSupport::from(&crate::probe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_host_config_feature_name_is_a_feature() {
        let names: Vec<String> = Feature::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(names, sharelife_core::host::isolation::SANDBOX_FEATURES);
    }

    #[test]
    fn every_feature_is_a_name_the_host_config_accepts() {
        for feature in Feature::ALL {
            let name = feature.to_string();
            assert!(
                sharelife_core::host::isolation::SANDBOX_FEATURES.contains(&name.as_str()),
                "{name}"
            );
            assert_eq!(requirements(&[name]).unwrap().require, vec![feature]);
        }
        assert_eq!(
            requirements(&["apparmor".to_owned()]).unwrap_err(),
            IsolationError::Unmet {
                missing: vec!["apparmor (not a sandbox feature)".to_owned()]
            }
        );
    }
}
