//! `install.toml`, the install root's settings: who may approve, what may
//! run, what a generation must pass before it becomes current.
//!
//! ```toml
//! [admin]
//! keys = ["keys/admin.pub"]            # public keys (paths relative to the root) whose approval counts
//! threshold = "high"                   # a plan with a plugin at or above this risk needs an approval
//!
//! [execution]
//! enabled = false                      # build steps run only when enabled
//! allow = [["cargo", "build", "--release", "--locked"]]   # argv prefixes a step may start with
//! timeout = "10m"                      # per step; the whole process group is killed after it
//! max_output = 1048576                 # bytes of stdout/stderr kept per stream (the tail)
//! target_dir = "build-cache"           # a cargo target dir shared by builds (optional)
//!
//! [apply]
//! require_success_before_apply = true  # every step succeeded and every plugin passed a smoke load
//! keep = 10                            # generations kept (never the current one or its parent)
//!
//! [host]
//! config = "host.toml"                 # the host config whose policy plans report and the smoke
//!                                      # load runs with (optional; a generation's own
//!                                      # host.toml, from a pack, wins)
//!
//! [packs]
//! allow_unsigned = false               # apply packs nobody signed (refused by default)
//! secret_keys = ["*key*", "*token*", "*secret*", "*password*"]   # config keys whose values export redacts
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sharelife_manifest::RiskLevel;

use crate::InstallError;

/// The install root's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct InstallConfig {
    /// Who approves.
    pub admin: AdminConfig,
    /// Build steps.
    pub execution: ExecutionConfig,
    /// Applying a plan.
    pub apply: ApplyConfig,
    /// The host whose policy plans report.
    pub host: HostRef,
    /// Extension packs.
    pub packs: PacksConfig,
}

/// `[packs]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PacksConfig {
    /// Apply packs that carry no signature.
    pub allow_unsigned: bool,
    /// Config keys whose values `pack export` replaces by a
    /// `${SHARELIFE_PACK_<ID>_<KEY>}` placeholder: `*` matches any run of
    /// characters, case is ignored.
    pub secret_keys: Vec<String>,
}

impl Default for PacksConfig {
    fn default() -> Self {
        PacksConfig {
            allow_unsigned: false,
            secret_keys: ["*key*", "*token*", "*secret*", "*password*"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }
}

impl PacksConfig {
    /// Whether the config key `key` looks secret.
    pub fn is_secret(&self, key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        self.secret_keys
            .iter()
            .any(|p| glob(&p.to_ascii_lowercase(), &key))
    }
}

/// `*`-only glob match.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Public key files (relative to the root) of the admins.
    pub keys: Vec<PathBuf>,
    /// Plans with a plugin at or above this risk need an admin approval.
    pub threshold: RiskLevel,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            keys: Vec::new(),
            threshold: sharelife_registry::label::ADMIN_CONFIRMATION_AT,
        }
    }
}

/// `[execution]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutionConfig {
    /// Whether build steps may run at all.
    pub enabled: bool,
    /// The argv prefixes a step may start with (exact words, no shell).
    pub allow: Vec<Vec<String>>,
    /// The time a step may take before its process group is killed.
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Bytes of each output stream kept (the tail).
    pub max_output: usize,
    /// A cargo target directory shared by build steps (`--target-dir`),
    /// relative to the root; none: each build starts from scratch in its
    /// staging directory.
    pub target_dir: Option<PathBuf>,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        ExecutionConfig {
            enabled: false,
            allow: vec![vec![
                "cargo".to_owned(),
                "build".to_owned(),
                "--release".to_owned(),
                "--locked".to_owned(),
            ]],
            timeout: Duration::from_secs(600),
            max_output: 1024 * 1024,
            target_dir: None,
        }
    }
}

/// `[apply]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApplyConfig {
    /// A generation becomes current only after every step succeeded and
    /// every plugin passed a smoke load.
    pub require_success_before_apply: bool,
    /// Generations kept.
    pub keep: usize,
}

impl Default for ApplyConfig {
    fn default() -> Self {
        ApplyConfig {
            require_success_before_apply: true,
            keep: 10,
        }
    }
}

/// `[host]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct HostRef {
    /// The host config (relative to the root) whose `[policy]` plans
    /// report; none: the default policy (everything denied).
    pub config: Option<PathBuf>,
}

impl InstallConfig {
    /// Reads `install.toml` from `root`; a missing file is the defaults.
    pub fn load(root: &Path) -> Result<InstallConfig, InstallError> {
        let path = root.join("install.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| InstallError::Config {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(InstallConfig::default()),
            Err(source) => Err(InstallError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_keys() {
        let p = PacksConfig::default();
        for k in [
            "api_key",
            "KEY",
            "token",
            "auth_token",
            "client_secret",
            "password",
            "db_Password",
        ] {
            assert!(p.is_secret(k), "{k}");
        }
        for k in ["greeting", "suffix", "transform", "url", "tokn"] {
            assert!(!p.is_secret(k), "{k}");
        }
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxc"));
        assert!(glob("exact", "exact"));
        assert!(!glob("ab*ba", "aba"));
    }
}

mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}
