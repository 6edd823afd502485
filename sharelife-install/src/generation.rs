//! A generation: one complete set of installed plugins, immutable once
//! made, with a manifest of every file's digest and its parent.
//!
//! ```text
//! generations/N/
//!   generation.json      GenerationManifest (written last while staging)
//!   plugins/             the libraries: <id>-<version>.<so|dylib|dll>
//!   configs/             plugin configs carried from the parent
//!   evidence/            what build steps did (argv, status, output tails, digests)
//! ```

use std::fs;
use std::path::Path;

use semver::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sharelife_manifest::{Capability, RiskLevel};

use crate::InstallError;
use crate::error::io;
use crate::exec::StepEvidence;

/// The generation format this crate writes.
pub const GENERATION_FORMAT: u32 = 1;

/// The manifest's file name inside a generation.
pub const GENERATION_FILE: &str = "generation.json";

/// One installed plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstalledPlugin {
    /// The plugin id.
    pub id: String,
    /// Its version.
    pub version: Version,
    /// The registry it came from (by name).
    pub registry: String,
    /// sha256 of the package it came from.
    pub package: String,
    /// The library's file name under `plugins/`.
    pub library: String,
    /// sha256 of the library.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// Its risk label when installed.
    pub risk: RiskLevel,
    /// The capabilities it requests.
    pub capabilities: Vec<Capability>,
    /// Asked for by name (not only a dependency).
    pub requested: bool,
}

/// `generation.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationManifest {
    /// [`GENERATION_FORMAT`].
    pub format: u32,
    /// Its number.
    pub number: u64,
    /// The generation it was made from (what `rollback` returns to).
    pub parent: Option<u64>,
    /// When it was made (RFC 3339).
    pub created: String,
    /// What made it: `install`, `upgrade`, `remove`.
    pub operation: String,
    /// The digest of the plan it applied.
    pub plan_digest: String,
    /// The key ids of the admins who approved the plan.
    pub approvers: Vec<String>,
    /// The plugins, in start order.
    pub plugins: Vec<InstalledPlugin>,
    /// Build steps run for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepEvidence>,
}

impl GenerationManifest {
    /// Reads `generation.json` of the generation directory `dir`.
    pub fn read(dir: &Path) -> Result<GenerationManifest, InstallError> {
        let path = dir.join(GENERATION_FILE);
        let bytes = fs::read(&path).map_err(io(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| InstallError::Config {
            path,
            message: e.to_string(),
        })
    }

    /// The plugin by id.
    pub fn plugin(&self, id: &str) -> Option<&InstalledPlugin> {
        self.plugins.iter().find(|p| p.id == id)
    }

    /// Checks that `dir/plugins` holds exactly the listed libraries with
    /// their digests: the generation is byte-identical to when it was made.
    pub fn verify_files(&self, dir: &Path) -> Result<(), InstallError> {
        let plugins = dir.join("plugins");
        let mut names: Vec<String> = match fs::read_dir(&plugins) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(InstallError::Io {
                    path: plugins,
                    source,
                });
            }
        };
        names.sort();
        let mut listed: Vec<String> = self.plugins.iter().map(|p| p.library.clone()).collect();
        listed.sort();
        if names != listed {
            return Err(InstallError::Mismatch {
                path: plugins,
                reason: format!(
                    "holds [{}], generation.json lists [{}]",
                    names.join(", "),
                    listed.join(", ")
                ),
            });
        }
        for p in &self.plugins {
            let path = plugins.join(&p.library);
            let digest = sha256_file(&path)?;
            if digest != p.sha256 {
                return Err(InstallError::Mismatch {
                    path,
                    reason: format!("sha256 {digest}, generation.json says {}", p.sha256),
                });
            }
        }
        Ok(())
    }
}

/// sha256 of a file (hex).
pub(crate) fn sha256_file(path: &Path) -> Result<String, InstallError> {
    let bytes = fs::read(path).map_err(io(path))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// The library file name of a plugin version on this platform.
pub(crate) fn library_name(id: &str, version: &Version) -> String {
    format!("{id}-{version}{}", std::env::consts::DLL_SUFFIX)
}
