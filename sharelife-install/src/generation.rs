//! A generation: one complete set of installed plugins, immutable once
//! made, with a manifest of every file's digest and its parent.
//!
//! ```text
//! generations/N/
//!   generation.json      GenerationManifest (written last while staging)
//!   plugins/             the libraries: <id>-<version>.<so|dylib|dll>
//!   host.toml            the generation's host config (policy, plugin configs, settings), if it has one
//!   pipelines/           pipeline files, if it has any
//!   configs/             plugin config files carried from the parent
//!   evidence/            what build steps did (argv, status, output tails, digests)
//! ```
//!
//! `host.toml`, `pipelines/` and `configs/` are the generation's
//! *settings*: an install, upgrade or removal carries them from the
//! parent unchanged, an extension pack ([`pack`](crate::pack)) brings its
//! own. Their digests are in `generation.json` like the libraries', so a
//! rollback restores the policy and configs byte-identically too. A host
//! that should follow them reads `~/.sharelife/current/host.toml` as its
//! config (its `plugin_paths` is `["plugins"]`, relative to the file).

use std::collections::BTreeMap;
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

/// The generation's host config, relative to its directory.
pub const HOST_CONFIG_FILE: &str = "host.toml";

/// The settings a generation carries besides its libraries: files and
/// folders relative to its directory, digested in `generation.json`.
pub const SETTINGS: &[&str] = &[HOST_CONFIG_FILE, "pipelines", "configs"];

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
    /// sha256 of each settings file ([`SETTINGS`]), by its path relative
    /// to the generation's directory (`host.toml`, `pipelines/x.yaml`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
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
        let files = settings_digests(dir)?;
        if files != self.files {
            let differ: Vec<&String> = files
                .keys()
                .chain(self.files.keys())
                .filter(|k| files.get(*k) != self.files.get(*k))
                .collect();
            return Err(InstallError::Mismatch {
                path: dir.to_owned(),
                reason: format!(
                    "its settings differ from generation.json: {}",
                    differ
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        Ok(())
    }

    /// What the generation *is*, apart from its number, parent, time and
    /// the plan that made it: sha256 over each plugin's id, version,
    /// package and library digest, and each settings file's digest. Two
    /// generations with the same content digest load the same libraries
    /// with the same settings.
    pub fn content_digest(&self) -> String {
        let mut h = Sha256::new();
        let mut plugins: Vec<&InstalledPlugin> = self.plugins.iter().collect();
        plugins.sort_by(|a, b| a.id.cmp(&b.id));
        for p in plugins {
            h.update(format!(
                "plugin {} {} {} {}\n",
                p.id, p.version, p.package, p.sha256
            ));
        }
        for (path, digest) in &self.files {
            h.update(format!("file {path} {digest}\n"));
        }
        hex::encode(h.finalize())
    }
}

/// sha256 of every settings file ([`SETTINGS`]) under the generation
/// directory `dir`, by relative path.
pub fn settings_digests(dir: &Path) -> Result<BTreeMap<String, String>, InstallError> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, String>) -> Result<(), InstallError> {
        let path = dir.join(rel);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(InstallError::Io { path, source }),
        };
        if meta.is_dir() {
            let mut names: Vec<String> = fs::read_dir(&path)
                .map_err(io(&path))?
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for name in names {
                walk(dir, &format!("{rel}/{name}"), out)?;
            }
        } else {
            out.insert(rel.to_owned(), sha256_file(&path)?);
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    for rel in SETTINGS {
        walk(dir, rel, &mut out)?;
    }
    Ok(out)
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
