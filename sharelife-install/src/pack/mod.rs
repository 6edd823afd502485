//! Extension packs: a whole working setup (which plugins at which
//! versions, their configs, the capability policy, the host's settings,
//! pipelines) as one file another machine reproduces exactly or not at
//! all: **export → inspect → dry-run → apply / rollback**.
//!
//! A pack (`.slpack`) is a deterministic `tar.gz` (the registry's package
//! writer: entries in path order, mtime 0, uid/gid 0, mode 0644):
//!
//! ```text
//! pack.json                 the PackManifest: format, creation time, creator, plugins
//!                           (id, version, package digest, registry by name and root key ids),
//!                           required inputs, and the sha256 of every other entry
//! host.toml                 the host config: policy, plugin configs, settings; secrets redacted,
//!                           machine paths (plugin_paths, data_dir, audit_log, temp_dir) left out
//! pipelines/NAME            pipeline files (--include-pipelines)
//! packages/SHA256.slpkg     the packages themselves (--embed), for offline machines
//! signature.json            optional: a publisher key's signature over pack.json
//! ```
//!
//! Opening a pack checks it byte for byte: the archive must be canonical
//! (re-writing its entries gives the same bytes), every entry must be
//! listed in `pack.json` with its digest, and a signature must verify.
//! Applying one is a plan like any install ([`plan_pack`]): the same
//! confirmation, admin approval when it installs a high-risk plugin *or
//! widens the policy*, staging, smoke load, atomic flip, audit records,
//! and stale-plan refusal; the new generation carries the pack's host
//! config and pipelines, so [`rollback`](crate::rollback) restores the
//! previous policy and configs with the libraries.
//!
//! Secrets never leave the machine: the host config is exported as
//! *written*, never expanded, so a `${VAR}` stays `${VAR}`; values of keys
//! that look secret (install.toml `[packs] secret_keys`) become
//! `${SHARELIFE_PACK_<ID>_<KEY>}` placeholders. Both are listed in the
//! manifest as required inputs, and the host expands them from its
//! environment when it boots.

mod diff;
mod plan;
mod redact;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use semver::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sharelife_core::audit::Outcome;
use sharelife_core::capability::Policy;
use sharelife_manifest::{Capability, RiskLevel};
use sharelife_registry::keys::{self, SecretKey};
use sharelife_registry::package::{read_canonical_archive, write_archive};

pub use diff::{ConfigChange, GrantWidened, PackDiff, RequiredInputStatus};
pub use plan::{PackPlan, PackPlanRegistry, apply_pack, plan_pack};
pub(crate) use plan::{check_settings, embedded_package};

use crate::InstallError;
use crate::error::io;
use crate::generation::HOST_CONFIG_FILE;
use crate::root::{INSTALL_ACTOR, InstallRoot};

/// The pack format this crate writes.
pub const PACK_FORMAT: u32 = 1;
/// The manifest's entry name.
pub const PACK_MANIFEST: &str = "pack.json";
/// The signature's entry name.
pub const PACK_SIGNATURE: &str = "signature.json";

/// A registry as a pack names it: by its name where the pack was made and
/// the key ids of its root role (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackRegistry {
    /// The registry's name on the exporting machine.
    pub name: String,
    /// The key ids of its root role.
    pub root_key_ids: Vec<String>,
}

/// One plugin of a pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackPlugin {
    /// The plugin id.
    pub id: String,
    /// Its exact version.
    #[schemars(with = "String")]
    pub version: Version,
    /// sha256 of its package (what apply verifies whatever it fetches).
    pub package: String,
    /// The registry it came from.
    pub registry: PackRegistry,
    /// Its risk label when exported.
    pub risk: RiskLevel,
    /// The capabilities it requests.
    pub capabilities: Vec<Capability>,
    /// Asked for by name (not only a dependency).
    pub requested: bool,
}

/// Why a required input exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// The config said `${VAR}`; it still does.
    Reference,
    /// The value of a secret-looking key was replaced by a placeholder.
    Redacted,
}

/// An environment variable the pack's host config needs where it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequiredInput {
    /// The variable's name.
    pub var: String,
    /// The config key it stands in (`plugins."acme.bot".config.api_key`).
    pub key: String,
    /// Why it is needed.
    pub kind: InputKind,
}

/// `pack.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackManifest {
    /// [`PACK_FORMAT`].
    pub format: u32,
    /// When it was made (RFC 3339; `SOURCE_DATE_EPOCH` is honoured).
    pub created: String,
    /// Who made it (`--creator`, else `user@host`).
    pub creator: String,
    /// The generation it was exported from.
    pub source_generation: Option<u64>,
    /// The plugins, in the generation's start order.
    pub plugins: Vec<PackPlugin>,
    /// Environment variables its host config needs.
    pub required_inputs: Vec<RequiredInput>,
    /// Whether the packages are embedded (`packages/SHA256.slpkg`).
    pub embedded: bool,
    /// sha256 of every other entry but the signature, by path.
    pub entries: BTreeMap<String, String>,
}

impl PackManifest {
    /// The digest of what the pack *is*, apart from when, by whom and from
    /// which generation it was made: two exports of the same setup have
    /// the same content digest.
    pub fn content_digest(&self) -> String {
        let mut same = self.clone();
        same.created = String::new();
        same.creator = String::new();
        same.source_generation = None;
        hex::encode(Sha256::digest(
            serde_json::to_vec(&same).expect("a manifest serializes"),
        ))
    }
}

/// `signature.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackSignature {
    /// The signing key's id.
    pub key_id: String,
    /// Its signature over [`signature_message`] (hex).
    pub signature: String,
}

/// The bytes a pack signature signs: a fixed context and the sha256 of
/// `pack.json` (which holds the digest of every other entry).
pub fn signature_message(manifest_bytes: &[u8]) -> Vec<u8> {
    format!(
        "sharelife pack v1\n{}\n",
        hex::encode(Sha256::digest(manifest_bytes))
    )
    .into_bytes()
}

/// A pack, read and checked byte for byte (not yet trusted: see
/// [`Pack::check_trust`]).
#[derive(Debug, Clone)]
pub struct Pack {
    origin: String,
    digest: String,
    manifest: PackManifest,
    signature: Option<PackSignature>,
    signature_len: u64,
    manifest_bytes: Vec<u8>,
    entries: BTreeMap<String, Vec<u8>>,
}

/// Who signed a pack, and whether this root trusts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Signer {
    /// No signature.
    Unsigned,
    /// Signed by a key this root trusts, and the signature verifies.
    Trusted {
        /// The key id.
        key_id: String,
    },
    /// Signed by a key this root does not trust (not checked further).
    Untrusted {
        /// The key id.
        key_id: String,
    },
    /// Signed by a trusted key, but the signature does not verify.
    BadSignature {
        /// The key id.
        key_id: String,
    },
}

impl Pack {
    /// Reads and checks the pack at `path`.
    pub fn open(path: &Path) -> Result<Pack, InstallError> {
        let bytes = std::fs::read(path).map_err(io(path))?;
        Pack::from_bytes(&bytes, &path.display().to_string())
    }

    /// Checks a pack's bytes: canonical archive, a `pack.json` of this
    /// format, every other entry listed with its digest and nothing
    /// unlisted. `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Pack, InstallError> {
        let invalid = |reason: String| InstallError::PackInvalid {
            origin: origin.to_owned(),
            reason,
        };
        let mut entries =
            read_canonical_archive(bytes, origin).map_err(|e| invalid(e.to_string()))?;
        let manifest_bytes = entries
            .remove(PACK_MANIFEST)
            .ok_or_else(|| invalid(format!("it has no {PACK_MANIFEST}")))?;
        let manifest: PackManifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| invalid(format!("{PACK_MANIFEST}: {e}")))?;
        if manifest.format != PACK_FORMAT {
            return Err(invalid(format!(
                "format {} (this sharelife reads format {PACK_FORMAT})",
                manifest.format
            )));
        }
        let signature_bytes = entries.remove(PACK_SIGNATURE);
        let signature_len = signature_bytes.as_ref().map_or(0, |b| b.len() as u64);
        let signature = match signature_bytes {
            None => None,
            Some(b) => Some(
                serde_json::from_slice::<PackSignature>(&b)
                    .map_err(|e| invalid(format!("{PACK_SIGNATURE}: {e}")))?,
            ),
        };
        for (path, data) in &entries {
            let Some(listed) = manifest.entries.get(path) else {
                return Err(invalid(format!(
                    "entry {path} is not listed in {PACK_MANIFEST}"
                )));
            };
            let actual = hex::encode(Sha256::digest(data));
            if &actual != listed {
                return Err(invalid(format!(
                    "entry {path} has sha256 {actual}, {PACK_MANIFEST} lists {listed}"
                )));
            }
        }
        if let Some(missing) = manifest.entries.keys().find(|p| !entries.contains_key(*p)) {
            return Err(invalid(format!(
                "{PACK_MANIFEST} lists {missing}, the archive has no such entry"
            )));
        }
        if manifest.embedded {
            for p in &manifest.plugins {
                let path = package_entry(&p.package);
                if !entries.contains_key(&path) {
                    return Err(invalid(format!(
                        "it says its packages are embedded, but {path} ({} {}) is not there",
                        p.id, p.version
                    )));
                }
            }
        }
        Ok(Pack {
            origin: origin.to_owned(),
            digest: hex::encode(Sha256::digest(bytes)),
            manifest,
            signature,
            signature_len,
            manifest_bytes,
            entries,
        })
    }

    /// Where it was read from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// sha256 of the whole file.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Its manifest.
    pub fn manifest(&self) -> &PackManifest {
        &self.manifest
    }

    /// Its signature, if signed.
    pub fn signature(&self) -> Option<&PackSignature> {
        self.signature.as_ref()
    }

    /// The exported host config (TOML).
    pub fn host_config(&self) -> &str {
        self.entries
            .get(HOST_CONFIG_FILE)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// The pipeline files, by name.
    pub fn pipelines(&self) -> BTreeMap<String, String> {
        self.entries
            .iter()
            .filter_map(|(p, b)| {
                let name = p.strip_prefix("pipelines/")?;
                Some((name.to_owned(), String::from_utf8_lossy(b).into_owned()))
            })
            .collect()
    }

    /// The embedded package with this sha256, if any.
    pub fn package(&self, sha256: &str) -> Option<&[u8]> {
        self.entries.get(&package_entry(sha256)).map(Vec::as_slice)
    }

    /// Every entry's path and size (the manifest and signature included).
    pub fn contents(&self) -> Vec<(String, u64)> {
        let mut out = vec![(PACK_MANIFEST.to_owned(), self.manifest_bytes.len() as u64)];
        out.extend(
            self.entries
                .iter()
                .map(|(p, b)| (p.clone(), b.len() as u64)),
        );
        if self.signature.is_some() {
            out.push((PACK_SIGNATURE.to_owned(), self.signature_len));
        }
        out.sort();
        out
    }

    /// Who signed it, as far as `root` can tell (changes nothing).
    pub fn signer(&self, root: &InstallRoot) -> Result<Signer, InstallError> {
        let Some(sig) = &self.signature else {
            return Ok(Signer::Unsigned);
        };
        let trusted = root.trusted_keys()?;
        let Some((_, key)) = trusted.iter().find(|(id, _)| *id == sig.key_id) else {
            return Ok(Signer::Untrusted {
                key_id: sig.key_id.clone(),
            });
        };
        let signature = hex::decode(&sig.signature).unwrap_or_default();
        if keys::verify(key, &signature_message(&self.manifest_bytes), &signature) {
            Ok(Signer::Trusted {
                key_id: sig.key_id.clone(),
            })
        } else {
            Ok(Signer::BadSignature {
                key_id: sig.key_id.clone(),
            })
        }
    }

    /// Refuses the pack unless a key this root trusts signed it (or it is
    /// unsigned and install.toml `[packs] allow_unsigned` is set), and
    /// unless every registry it names is one this root trusts (a registry
    /// added here whose root has the same key ids). Returns the signer's
    /// key id and, per plugin id, the name of the registry here.
    pub fn check_trust(
        &self,
        root: &InstallRoot,
    ) -> Result<(Option<String>, BTreeMap<String, String>), InstallError> {
        let signer = match self.signer(root)? {
            Signer::Trusted { key_id } => Some(key_id),
            Signer::Unsigned if root.config().packs.allow_unsigned => None,
            Signer::Unsigned => {
                return Err(InstallError::PackUnsigned {
                    origin: self.origin.clone(),
                });
            }
            Signer::Untrusted { key_id } => {
                return Err(InstallError::PackSignature {
                    origin: self.origin.clone(),
                    reason: format!(
                        "signed by key {key_id}, which this root does not trust (`sharelife key trust PUBLIC_KEY` accepts it)"
                    ),
                    key_id,
                });
            }
            Signer::BadSignature { key_id } => {
                return Err(InstallError::PackSignature {
                    origin: self.origin.clone(),
                    reason: format!(
                        "the signature by key {key_id} does not verify: the pack was changed after it was signed"
                    ),
                    key_id,
                });
            }
        };
        let home = root.home();
        let here = home.registries()?;
        let mut ids_here: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for name in here.keys() {
            ids_here.insert(name.clone(), home.root_key_ids(name)?);
        }
        let mut sources = BTreeMap::new();
        for p in &self.manifest.plugins {
            let mut wanted = p.registry.root_key_ids.clone();
            wanted.sort();
            // The same name first, then any registry with the same root.
            let found = ids_here
                .get(&p.registry.name)
                .filter(|ids| **ids == wanted)
                .map(|_| p.registry.name.clone())
                .or_else(|| {
                    ids_here
                        .iter()
                        .find(|(_, ids)| **ids == wanted)
                        .map(|(n, _)| n.clone())
                });
            match found {
                Some(name) if !wanted.is_empty() => {
                    sources.insert(p.id.clone(), name);
                }
                _ => {
                    return Err(InstallError::PackRegistryUntrusted {
                        id: p.id.clone(),
                        registry: p.registry.name.clone(),
                        root_key_ids: p.registry.root_key_ids.clone(),
                    });
                }
            }
        }
        Ok((signer, sources))
    }
}

fn package_entry(sha256: &str) -> String {
    format!("packages/{sha256}.slpkg")
}

/// What to export.
#[derive(Debug, Default)]
pub struct ExportOptions<'a> {
    /// Pipeline files, or folders whose `*.yaml`, `*.yml` and `*.json`
    /// files are taken.
    pub pipelines: Vec<PathBuf>,
    /// Sign with this key.
    pub key: Option<&'a SecretKey>,
    /// Embed the packages (fetched and verified from their registries).
    pub embed: bool,
    /// Who made it (default `user@host`).
    pub creator: Option<String>,
}

/// An exported pack.
#[derive(Debug)]
pub struct ExportedPack {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its manifest.
    pub manifest: PackManifest,
    /// sha256 of the file.
    pub digest: String,
}

/// Exports the current generation of `root` as a pack.
pub fn export(root: &InstallRoot, opts: &ExportOptions<'_>) -> Result<ExportedPack, InstallError> {
    let current = root.current()?;
    let home = root.home();
    let mut plugins = Vec::new();
    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut clients: BTreeMap<String, sharelife_registry::Client> = BTreeMap::new();
    for p in current.iter().flat_map(|g| g.plugins.iter()) {
        let root_key_ids = home.root_key_ids(&p.registry)?;
        if opts.embed {
            if !clients.contains_key(&p.registry) {
                clients.insert(p.registry.clone(), home.open(&p.registry)?);
            }
            let exact = semver::VersionReq::parse(&format!("={}", p.version)).expect("valid");
            let verified = clients[&p.registry].verify(&p.id, Some(&exact))?;
            if verified.line.cksum != p.package {
                return Err(InstallError::Mismatch {
                    path: PathBuf::from(verified.line.package_target()),
                    reason: format!(
                        "registry `{}` now serves package {} for {} {}, the generation installed {}",
                        p.registry, verified.line.cksum, p.id, p.version, p.package
                    ),
                });
            }
            entries.insert(package_entry(&p.package), verified.bytes);
        }
        plugins.push(PackPlugin {
            id: p.id.clone(),
            version: p.version.clone(),
            package: p.package.clone(),
            registry: PackRegistry {
                name: p.registry.clone(),
                root_key_ids,
            },
            risk: p.risk,
            capabilities: p.capabilities.clone(),
            requested: p.requested,
        });
    }

    let host_path = root.host_config_path()?;
    let host_text = match &host_path {
        Some(path) => std::fs::read_to_string(path).map_err(io(path))?,
        None => String::new(),
    };
    let exported =
        redact::export_host_config(&host_text, &root.config().packs).map_err(|message| {
            InstallError::Config {
                path: host_path.unwrap_or_else(|| root.dir().join("install.toml")),
                message,
            }
        })?;
    entries.insert(HOST_CONFIG_FILE.to_owned(), exported.text.into_bytes());

    for given in &opts.pipelines {
        for file in pipeline_files(given)? {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| InstallError::Config {
                    path: file.clone(),
                    message: "a pipeline file name must be UTF-8".to_owned(),
                })?
                .to_owned();
            let text = std::fs::read(&file).map_err(io(&file))?;
            let entry = format!("pipelines/{name}");
            if entries.insert(entry.clone(), text).is_some() {
                return Err(InstallError::Config {
                    path: file,
                    message: format!("two pipeline files are named {name}"),
                });
            }
        }
    }

    let manifest = PackManifest {
        format: PACK_FORMAT,
        created: created_now(),
        creator: opts.creator.clone().unwrap_or_else(default_creator),
        source_generation: current.as_ref().map(|g| g.number),
        plugins,
        required_inputs: exported.inputs,
        embedded: opts.embed,
        entries: entries
            .iter()
            .map(|(p, b)| (p.clone(), hex::encode(Sha256::digest(b))))
            .collect(),
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    if let Some(key) = opts.key {
        let sig = PackSignature {
            key_id: key.key_id(),
            signature: hex::encode(key.sign(&signature_message(&manifest_bytes))),
        };
        entries.insert(
            PACK_SIGNATURE.to_owned(),
            serde_json::to_vec_pretty(&sig).expect("a signature serializes"),
        );
    }
    entries.insert(PACK_MANIFEST.to_owned(), manifest_bytes);
    let bytes = write_archive(
        entries
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice(), false)),
    );
    let digest = hex::encode(Sha256::digest(&bytes));
    root.record(
        "pack-export",
        INSTALL_ACTOR,
        "",
        format!(
            "pack {digest} of generation {}: {} plugins, {} pipelines, {} required inputs{}{}",
            manifest
                .source_generation
                .map_or("none".to_owned(), |g| g.to_string()),
            manifest.plugins.len(),
            manifest
                .entries
                .keys()
                .filter(|p| p.starts_with("pipelines/"))
                .count(),
            manifest.required_inputs.len(),
            if manifest.embedded { ", embedded" } else { "" },
            opts.key
                .map(|k| format!(", signed by {}", k.key_id()))
                .unwrap_or_default(),
        ),
        Outcome::Info,
    )?;
    root.flush_audit()?;
    Ok(ExportedPack {
        bytes,
        manifest,
        digest,
    })
}

/// The pipeline files a `--include-pipelines` path names.
fn pipeline_files(given: &Path) -> Result<Vec<PathBuf>, InstallError> {
    let meta = std::fs::metadata(given).map_err(io(given))?;
    if !meta.is_dir() {
        return Ok(vec![given.to_owned()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(given)
        .map_err(io(given))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    out.sort();
    Ok(out)
}

fn created_now() -> String {
    if let Some(secs) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        && let Ok(t) = jiff::Timestamp::from_second(secs)
    {
        return t.to_string();
    }
    crate::plan::now()
}

fn default_creator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "someone".to_owned());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    if host.is_empty() {
        user
    } else {
        format!("{user}@{host}")
    }
}

/// The rules of the `[policy]` of a host config (TOML as written), each
/// in words: `allow acme.bot: reads files under notes/*.txt [low risk]`.
pub fn policy_rules(text: &str) -> Result<Vec<String>, String> {
    Ok(policy_of(text)?.rules.iter().map(diff::describe).collect())
}

/// The `[policy]` of a host config as written (TOML), without expanding
/// `${VAR}`s anywhere; the default policy when it has none.
pub fn policy_of(text: &str) -> Result<Policy, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    match table.get("policy") {
        None => Ok(Policy::default()),
        Some(p) => p
            .clone()
            .try_into::<Policy>()
            .map_err(|e| format!("[policy]: {e}")),
    }
}
