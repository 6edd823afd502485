//! The operator's side of a registry: `init`, `delegate`, `publish`,
//! `yank`, `refresh`, on a registry directory.
//!
//! A registry directory is what a static server serves, plus `private/`,
//! which it must not serve:
//!
//! ```text
//! registry/
//!   root.json                 the trust root clients pin (a copy of metadata/1.root.json)
//!   metadata/                 TUF metadata (N.root.json, N.targets.json, N.<role>.json, N.snapshot.json, timestamp.json)
//!   targets/                  <sha256>.index/…, <sha256>.packages/… (consistent snapshots)
//!   private/online.key        the online key (snapshot, timestamp, catalog); 0600
//!   private/registry.json     name and expiry settings
//! ```
//!
//! Every change is built in `private/staging-*`, verified by loading it,
//! and then moved in: new files first (all under new names), then
//! `metadata/timestamp.json` by one rename. A failed step leaves the
//! registry byte-identical.

use std::collections::HashMap;
use std::fs;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sharelife_manifest::PluginId;
use tough::Repository;
use tough::editor::RepositoryEditor;
use tough::editor::signed::SignedRole;
use tough::editor::targets::TargetsEditor;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::Key;
use tough::schema::{
    Hashes, KeyHolder, Metafile, PathSet, RoleKeys, RoleType, Root, Snapshot, Target, Timestamp,
};

use crate::fsutil;
use crate::index::{
    self, CONFIG_TARGET, IndexConfig, IndexDependency, IndexLine, SUMMARY_TARGET, Summary,
};
use crate::keys::{self, KeyError, SecretKey};
use crate::label;
use crate::package::{Package, PackageError};
use crate::scan::{self, ScanError};
use crate::seed;
use crate::transport::RegistryTransport;
use crate::trust::{self, Expiry, TrustError};

/// The role that signs the search summary with the online key.
pub const CATALOG_ROLE: &str = "catalog";

/// How long each kind of metadata stays valid after it is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiries {
    /// `root.json` and the top-level `targets.json` (offline, root key).
    #[serde(with = "secs")]
    pub root: Duration,
    /// Publisher roles and the catalog.
    #[serde(with = "secs")]
    pub roles: Duration,
    /// `snapshot.json`.
    #[serde(with = "secs")]
    pub snapshot: Duration,
    /// `timestamp.json`: how long a client trusts a registry nobody
    /// re-signed. Run `sharelife registry refresh` well within it.
    #[serde(with = "secs")]
    pub timestamp: Duration,
}

impl Default for Expiries {
    fn default() -> Self {
        const DAY: u64 = 24 * 60 * 60;
        Expiries {
            root: Duration::from_secs(365 * DAY),
            roles: Duration::from_secs(365 * DAY),
            snapshot: Duration::from_secs(30 * DAY),
            timestamp: Duration::from_secs(7 * DAY),
        }
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// `private/registry.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrySettings {
    /// The registry's display name.
    pub name: String,
    /// Expiry of each kind of metadata.
    pub expiries: Expiries,
}

/// The publish pipeline's stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Manifest v2; id, version and library agree; API range; config schema.
    Validate,
    /// The archive: every entry listed with its digest, nothing else.
    Package,
    /// Raw imports and advisories.
    Scan,
    /// Risk label, capability summary, compatibility, seed record.
    Label,
    /// Signed into the index and the registry's metadata.
    Catalog,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Validate => "validate",
            Stage::Package => "package",
            Stage::Scan => "scan",
            Stage::Label => "label",
            Stage::Catalog => "catalog",
        })
    }
}

/// Why `validate` refused a package.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// The package's manifest or library could not be read or disagree.
    #[error(transparent)]
    Manifest(PackageError),
    /// The file is not named `{id}-{version}.slpkg`.
    #[error("{file}: a package of {id} {version} must be named {expected}")]
    FileName {
        /// The file.
        file: String,
        /// The manifest's id.
        id: String,
        /// The manifest's version.
        version: String,
        /// The expected name.
        expected: String,
    },
    /// The package carries no library for the host's own triple and no
    /// source.
    #[error(
        "the package has no library for {triple} (it has: {have}) and no source to build one from (package with --include-source)"
    )]
    NoHostLibrary {
        /// The host's triple.
        triple: String,
        /// The triples it has.
        have: String,
    },
    /// The config schema is not a JSON Schema.
    #[error("the manifest's config_schema is not a valid JSON Schema: {0}")]
    ConfigSchema(String),
}

/// Why `label` refused.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The derived seed record does not validate against the seed schema.
    #[error("the seed-v2 record derived from the manifest is invalid: {0}")]
    SeedRecord(String),
}

/// Why `catalog` refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The key is not a publisher of this registry (nothing it signs would
    /// be trusted).
    #[error(
        "unsigned: key {key_id} ({key}) is not delegated any ids in this registry; ask the operator to run `sharelife registry delegate`"
    )]
    NotAPublisher {
        /// The key file.
        key: PathBuf,
        /// Its id.
        key_id: String,
    },
    /// The key's role is not delegated this id.
    #[error("publisher `{role}` may publish {ids}, not `{id}`")]
    NotDelegated {
        /// The id.
        id: String,
        /// The publisher role.
        role: String,
        /// The globs it was delegated.
        ids: String,
    },
    /// The version is already published (lines are immutable).
    #[error(
        "{id} {version} is already published; publish a new version (index lines never change, except `yanked`)"
    )]
    VersionExists {
        /// The id.
        id: String,
        /// The version.
        version: String,
    },
    /// The version is not in the index.
    #[error("{id} {version} is not published in this registry")]
    UnknownVersion {
        /// The id.
        id: String,
        /// The version.
        version: String,
    },
    /// The registry's own index did not parse.
    #[error(transparent)]
    Index(#[from] index::IndexError),
    /// Signing or building metadata failed.
    #[error("signing {what}: {detail}")]
    Sign {
        /// What was being signed.
        what: String,
        /// `tough`'s message.
        detail: String,
    },
    /// Writing the registry failed (the registry is unchanged).
    #[error("writing {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Why `sharelife publish` refused: one variant per stage.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Stage 1.
    #[error("validate: {0}")]
    Validate(#[from] ValidateError),
    /// Stage 2.
    #[error("package: {0}")]
    Package(#[from] PackageError),
    /// Stage 3.
    #[error("scan: {0}")]
    Scan(#[from] ScanError),
    /// Stage 4.
    #[error("label: {0}")]
    Label(#[from] LabelError),
    /// Stage 5.
    #[error("catalog: {0}")]
    Catalog(#[from] CatalogError),
    /// The registry itself could not be opened or verified.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl PublishError {
    /// The stage that refused, if one did.
    pub fn stage(&self) -> Option<Stage> {
        Some(match self {
            PublishError::Validate(_) => Stage::Validate,
            PublishError::Package(_) => Stage::Package,
            PublishError::Scan(_) => Stage::Scan,
            PublishError::Label(_) => Stage::Label,
            PublishError::Catalog(_) => Stage::Catalog,
            PublishError::Registry(_) => return None,
        })
    }
}

/// Errors of the registry operations other than publish.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// `init` on a directory that is not empty.
    #[error("{0} exists and is not empty; a registry is created in a new directory")]
    NotEmpty(PathBuf),
    /// Not a registry directory.
    #[error(
        "{path} is not a sharelife registry ({reason}); create one with `sharelife registry init`"
    )]
    NotARegistry {
        /// The directory.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// A key file.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The key given as root key is not the registry's root key.
    #[error("{key} (key id {key_id}) is not this registry's root key")]
    NotRootKey {
        /// The key file.
        key: PathBuf,
        /// Its id.
        key_id: String,
    },
    /// A bad role name or id glob for `delegate`.
    #[error("{0}")]
    BadDelegation(String),
    /// The registry's own metadata did not verify.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// Catalog work (signing, index) failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// I/O.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_owned(),
        source,
    }
}

fn sign_err(what: &str) -> impl FnOnce(tough::error::Error) -> CatalogError + '_ {
    move |e| CatalogError::Sign {
        what: what.to_owned(),
        detail: e.to_string(),
    }
}

/// Options for [`Registry::publish`].
#[derive(Default)]
pub struct PublishOptions<'a> {
    /// A RustSec advisory database directory to check the package's
    /// `Cargo.lock` against.
    pub advisory_db: Option<PathBuf>,
    /// Called as each stage starts.
    pub on_stage: Option<&'a dyn Fn(Stage)>,
}

/// What [`Registry::publish`] did.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    /// The index line written.
    pub line: IndexLine,
    /// The package's target name.
    pub target: String,
    /// Time spent in each stage.
    pub stages: Vec<(Stage, Duration)>,
}

/// A registry directory, opened for its operator.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
    settings: RegistrySettings,
}

/// A delegation as the registry records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delegation {
    /// The role name.
    pub role: String,
    /// The id globs.
    pub ids: Vec<String>,
    /// The key ids that may sign it.
    pub key_ids: Vec<String>,
}

impl Registry {
    /// Creates a registry in `dir` (new or empty) whose root (and top-level
    /// targets) is signed by `root_key`. Generates the online key in
    /// `dir/private/online.key`.
    pub fn init(
        dir: &Path,
        name: &str,
        root_key: &SecretKey,
        expiries: Expiries,
    ) -> Result<Registry, RegistryError> {
        if dir.exists() {
            let mut entries = fs::read_dir(dir).map_err(io_err(dir))?;
            if entries.next().is_some() {
                return Err(RegistryError::NotEmpty(dir.to_owned()));
            }
        }
        let private = dir.join("private");
        fs::create_dir_all(&private).map_err(io_err(&private))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&private, fs::Permissions::from_mode(0o700))
                .map_err(io_err(&private))?;
        }
        let result = Self::init_inner(dir, name, root_key, expiries);
        if result.is_err() {
            // Leave nothing half-made: the directory was new or empty.
            if let Ok(entries) = fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    let _ = if path.is_dir() {
                        fs::remove_dir_all(&path)
                    } else {
                        fs::remove_file(&path)
                    };
                }
            }
        }
        result
    }

    fn init_inner(
        dir: &Path,
        name: &str,
        root_key: &SecretKey,
        expiries: Expiries,
    ) -> Result<Registry, RegistryError> {
        let private = dir.join("private");
        let online = keys::generate(&private.join("online"))?;
        let online = SecretKey::open(&online.secret)?;
        let settings = RegistrySettings {
            name: name.to_owned(),
            expiries,
        };
        let settings_path = private.join("registry.json");
        fsutil::write_atomic(
            &settings_path,
            serde_json::to_string_pretty(&settings)
                .expect("settings serialize")
                .as_bytes(),
        )
        .map_err(io_err(&settings_path))?;

        let now = jiff::Timestamp::now();
        let root_id = key_id_decoded(root_key.public());
        let online_id = key_id_decoded(online.public());
        let mut root_keys = HashMap::new();
        root_keys.insert(root_id.clone(), root_key.public().clone());
        root_keys.insert(online_id.clone(), online.public().clone());
        let role = |id: &Decoded<Hex>| RoleKeys {
            keyids: vec![id.clone()],
            threshold: NonZeroU64::MIN,
            _extra: HashMap::new(),
        };
        let mut roles = HashMap::new();
        roles.insert(RoleType::Root, role(&root_id));
        roles.insert(RoleType::Targets, role(&root_id));
        roles.insert(RoleType::Snapshot, role(&online_id));
        roles.insert(RoleType::Timestamp, role(&online_id));
        let root = Root {
            spec_version: "1.0.0".to_owned(),
            consistent_snapshot: true,
            version: NonZeroU64::MIN,
            expires: expires_in(now, expiries.root),
            keys: root_keys,
            roles,
            _extra: HashMap::new(),
        };
        let staging = Staging::new(dir)?;
        let signed_root = trust::block_on(SignedRole::new(
            root.clone(),
            &KeyHolder::Root(root),
            &[root_key.source()],
            &aws_lc_rs::rand::SystemRandom::new(),
        ))
        .map_err(sign_err("root.json"))?;
        let root_path = staging.path.join("root.json");
        fs::write(&root_path, signed_root.buffer()).map_err(io_err(&root_path))?;

        let config = IndexConfig::new(name);
        let config_bytes = serde_json::to_vec_pretty(&config).expect("config serializes");
        let summary_bytes = serde_json::to_vec(&Summary::default()).expect("summary serializes");
        let config_target = staging.add_target(CONFIG_TARGET, &config_bytes)?;
        let summary_target = staging.add_target(SUMMARY_TARGET, &summary_bytes)?;

        let root_source = root_key.source();
        let online_source = online.source();
        trust::block_on(async {
            let mut ed = RepositoryEditor::new(&root_path).await?;
            ed.targets_version(NonZeroU64::MIN)?
                .targets_expires(expires_in(now, expiries.root))?
                .add_target(CONFIG_TARGET, config_target)?;
            ed.delegate_role(
                CATALOG_ROLE,
                std::slice::from_ref(&online_source),
                PathSet::Paths(vec![SUMMARY_TARGET.parse().map_err(bad_pattern)?]),
                true,
                NonZeroU64::MIN,
                expires_in(now, expiries.roles),
                NonZeroU64::MIN,
            )
            .await?;
            ed.sign_targets_editor(std::slice::from_ref(&root_source))
                .await?;
            ed.change_delegated_targets(CATALOG_ROLE)?
                .add_target(SUMMARY_TARGET, summary_target)?
                .targets_version(NonZeroU64::MIN)?
                .targets_expires(expires_in(now, expiries.roles))?;
            ed.sign_targets_editor(std::slice::from_ref(&online_source))
                .await?;
            ed.snapshot_version(NonZeroU64::MIN)
                .snapshot_expires(expires_in(now, expiries.snapshot))
                .timestamp_version(NonZeroU64::MIN)
                .timestamp_expires(expires_in(now, expiries.timestamp));
            let signed = ed.sign(&[root_source, online_source]).await?;
            signed.write(staging.path.join("out/metadata")).await
        })
        .map_err(sign_err("the new registry's metadata"))?;
        staging.copy_into_out("root.json", "root.json")?;
        let registry = Registry {
            dir: dir.to_owned(),
            settings,
        };
        staging.commit_verified(&registry)?;
        Ok(registry)
    }

    /// Opens an existing registry directory.
    pub fn open(dir: &Path) -> Result<Registry, RegistryError> {
        let settings_path = dir.join("private/registry.json");
        let not = |reason: &str| RegistryError::NotARegistry {
            path: dir.to_owned(),
            reason: reason.to_owned(),
        };
        if !dir.join("root.json").is_file() {
            return Err(not("no root.json"));
        }
        let text = fs::read(&settings_path).map_err(|_| {
            not("no private/registry.json: only the operator's copy of a registry can be changed")
        })?;
        let settings: RegistrySettings = serde_json::from_slice(&text)
            .map_err(|e| not(&format!("private/registry.json: {e}")))?;
        Ok(Registry {
            dir: dir.to_owned(),
            settings,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings.
    pub fn settings(&self) -> &RegistrySettings {
        &self.settings
    }

    /// The root clients pin (`root.json`).
    pub fn root_path(&self) -> PathBuf {
        self.dir.join("root.json")
    }

    fn label(&self) -> String {
        self.dir.display().to_string()
    }

    fn online_key(&self) -> Result<SecretKey, RegistryError> {
        Ok(SecretKey::open(&self.dir.join("private/online.key"))?)
    }

    /// Loads and verifies the registry's own metadata (signatures and
    /// hashes are checked; expiry is not, so an operator can re-sign an
    /// expired registry).
    pub(crate) fn load(&self) -> Result<trust::Trusted, RegistryError> {
        let root = fs::read(self.root_path()).map_err(io_err(&self.root_path()))?;
        let url = trust::dir_url(&self.dir).map_err(io_err(&self.dir))?;
        Ok(trust::load(
            &self.label(),
            &root,
            &url,
            RegistryTransport::default(),
            None,
            Expiry::Ignore,
        )?)
    }

    /// Loads and verifies the registry's own metadata; the `tough`
    /// repository.
    pub fn repository(&self) -> Result<Repository, RegistryError> {
        Ok(self.load()?.repo)
    }

    /// The publisher delegations.
    pub fn delegations(&self) -> Result<Vec<Delegation>, RegistryError> {
        let repo = self.load()?;
        Ok(delegations_of(&repo))
    }

    /// Delegates the ids matching `ids` (globs like `acme.*`) to a
    /// publisher key, under the role `role`. Needs the root key.
    ///
    /// The delegated role lists the publisher's key and the root key with a
    /// threshold of one: the root key signs the role's first, empty version
    /// (TUF needs every delegated role to exist), and it could re-delegate
    /// the ids anyway, so this grants it nothing new.
    pub fn delegate(
        &self,
        root_key: &SecretKey,
        publisher: &Key,
        role: &str,
        ids: &[String],
    ) -> Result<Delegation, RegistryError> {
        check_role_name(role)?;
        if ids.is_empty() {
            return Err(RegistryError::BadDelegation(
                "give at least one id glob (--ids 'acme.*')".to_owned(),
            ));
        }
        for glob in ids {
            check_id_glob(glob)?;
        }
        let repo = self.load()?;
        self.check_root_key(&repo, root_key)?;
        let root_id = key_id_decoded(root_key.public());
        for existing in delegations_of(&repo) {
            if existing.role == role {
                return Err(RegistryError::BadDelegation(format!(
                    "role `{role}` exists already (ids {})",
                    existing.ids.join(", ")
                )));
            }
            for a in &existing.ids {
                for b in ids {
                    if globs_overlap(a, b) {
                        return Err(RegistryError::BadDelegation(format!(
                            "ids `{b}` overlap `{a}`, delegated to `{}`: one id, one publisher",
                            existing.role
                        )));
                    }
                }
            }
        }
        let now = jiff::Timestamp::now();
        let exp = self.settings.expiries;
        let staging = Staging::new(&self.dir)?;
        let publisher_id = key_id_decoded(publisher);
        let root_source = root_key.source();
        let paths = ids.iter().flat_map(|g| id_paths(g)).collect::<Vec<_>>();
        let top_version = repo.targets().signed.version.get() + 1;
        let roles_dir = staging.path.join("roles");
        let repo2 = repo.repo.clone();
        trust::block_on(async {
            let mut new_role = TargetsEditor::new(role);
            new_role
                .version(NonZeroU64::MIN)
                .expires(expires_in(now, exp.roles));
            let new_role = new_role
                .create_signed(std::slice::from_ref(&root_source))
                .await?;
            let mut top = TargetsEditor::from_repo(repo2, "targets")?;
            let mut key_pairs = HashMap::new();
            key_pairs.insert(publisher_id.clone(), publisher.clone());
            key_pairs.insert(root_id.clone(), root_key.public().clone());
            let mut patterns = Vec::new();
            for p in &paths {
                patterns.push(p.parse().map_err(bad_pattern)?);
            }
            top.delegate_role(
                new_role,
                PathSet::Paths(patterns),
                true,
                key_pairs,
                vec![publisher_id.clone(), root_id.clone()],
                NonZeroU64::MIN,
            )?
            .version(NonZeroU64::new(top_version).expect("non-zero"))
            .expires(expires_in(now, exp.root));
            top.sign(std::slice::from_ref(&root_source))
                .await?
                .write(&roles_dir, false)
                .await
        })
        .map_err(sign_err("targets.json"))?;
        self.resign_snapshot(&staging, &repo, &["targets"])?;
        staging.commit_verified(self)?;
        Ok(Delegation {
            role: role.to_owned(),
            ids: ids.to_vec(),
            key_ids: vec![keys::key_id(publisher), root_key.key_id()],
        })
    }

    /// Replaces the publisher key of an existing role (a lost or rotated
    /// key). Needs the root key: it rewrites the delegation to list the new
    /// key (and the root key) and re-signs the role's current targets with
    /// the root key, so everything the role published stays valid and from
    /// now on only the new key (or the root key) can sign for its ids.
    pub fn rekey(
        &self,
        root_key: &SecretKey,
        role: &str,
        new_key: &Key,
    ) -> Result<Delegation, RegistryError> {
        let repo = self.load()?;
        self.check_root_key(&repo, root_key)?;
        let current = delegations_of(&repo)
            .into_iter()
            .find(|d| d.role == role)
            .ok_or_else(|| {
                RegistryError::BadDelegation(format!("no publisher role `{role}` to re-key"))
            })?;
        let root_id = key_id_decoded(root_key.public());
        let new_id = key_id_decoded(new_key);
        let now = jiff::Timestamp::now();
        let exp = self.settings.expiries;
        let staging = Staging::new(&self.dir)?;
        let roles_dir = staging.path.join("roles");
        let top_version = repo.targets().signed.version.get() + 1;
        let role_version = repo
            .delegated_role(role)
            .and_then(|r| r.targets.as_ref())
            .map_or(1, |t| t.signed.version.get() + 1);
        let root_source = root_key.source();
        let (repo_a, repo_b) = (repo.repo.clone(), repo.repo.clone());
        trust::block_on(async {
            let mut top = TargetsEditor::from_repo(repo_a, "targets")?;
            let old_ids: Vec<Decoded<Hex>> = top_role_keyids(&repo_b, role);
            for id in old_ids.iter().filter(|id| **id != root_id) {
                top.remove_key(id, Some(role))?;
            }
            let mut add = HashMap::new();
            add.insert(new_id.clone(), new_key.clone());
            top.add_key(add, Some(role))?;
            top.version(NonZeroU64::new(top_version).expect("non-zero"))
                .expires(expires_in(now, exp.root));
            top.sign(std::slice::from_ref(&root_source))
                .await?
                .write(&roles_dir, false)
                .await?;
            let mut editor = TargetsEditor::from_repo(repo_b, role)?;
            editor
                .version(NonZeroU64::new(role_version).expect("non-zero"))
                .expires(expires_in(now, exp.roles));
            editor
                .sign(std::slice::from_ref(&root_source))
                .await?
                .write(&roles_dir, false)
                .await
        })
        .map_err(sign_err("targets.json"))?;
        self.resign_snapshot(&staging, &repo, &["targets", role])?;
        staging.commit_verified(self)?;
        Ok(Delegation {
            role: role.to_owned(),
            ids: current.ids,
            key_ids: vec![keys::key_id(new_key), root_key.key_id()],
        })
    }

    fn check_root_key(&self, repo: &Repository, root_key: &SecretKey) -> Result<(), RegistryError> {
        let root_id = key_id_decoded(root_key.public());
        let is_root = repo
            .root()
            .signed
            .roles
            .get(&RoleType::Targets)
            .is_some_and(|r| r.keyids.contains(&root_id));
        if is_root {
            Ok(())
        } else {
            Err(RegistryError::NotRootKey {
                key: root_key.path().to_owned(),
                key_id: root_key.key_id(),
            })
        }
    }

    /// Publishes a package file signed by `key`: validate → package →
    /// scan → label → catalog. A refusal at any stage writes nothing.
    pub fn publish(
        &self,
        package_path: &Path,
        key: &SecretKey,
        options: &PublishOptions<'_>,
    ) -> Result<PublishReport, PublishError> {
        let mut stages = Vec::new();
        let mut started = Instant::now();
        let mut enter = |stage: Stage, stages: &mut Vec<(Stage, Duration)>| {
            if let Some(f) = options.on_stage {
                f(stage);
            }
            let now = Instant::now();
            if let Some(last) = stages.last_mut() {
                last.1 = now - started;
            }
            stages.push((stage, Duration::ZERO));
            started = now;
        };

        // 1. validate: the manifest as the library carries it.
        enter(Stage::Validate, &mut stages);
        let bytes = fs::read(package_path).map_err(|source| {
            PublishError::Package(PackageError::Io {
                path: package_path.to_owned(),
                source,
            })
        })?;
        let origin = package_path.display().to_string();
        let package = match Package::from_bytes(bytes.clone(), &origin) {
            Ok(p) => p,
            Err(e) if is_manifest_problem(&e) => {
                return Err(ValidateError::Manifest(e).into());
            }
            Err(e) => return Err(e.into()),
        };
        validate(&package, package_path)?;

        // 2. package: the archive was verified entry by entry when opened.
        enter(Stage::Package, &mut stages);

        // 3. scan.
        enter(Stage::Scan, &mut stages);
        let report = scan::scan(&package, options.advisory_db.as_deref())?;

        // 4. label.
        enter(Stage::Label, &mut stages);
        let targets: Vec<String> = package.libraries().map(|(t, _, _)| t.to_owned()).collect();
        let label = label::label(package.manifest(), &targets, &report.raises());
        let host = crate::package::host_triple();
        let (_, path, library) = package
            .libraries()
            .find(|(t, _, _)| *t == host)
            .or_else(|| package.libraries().next())
            .expect("a package has at least one library");
        let file = path.rsplit('/').next().unwrap_or(path);
        let entry = seed::Entry::of_library_bytes(file, library)
            .map_err(|e| LabelError::SeedRecord(e.to_string()))?;
        let seed = seed::record(package.manifest(), &label, &entry);
        if let Err(problems) = seed::validate_record(&seed) {
            let text = problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            return Err(LabelError::SeedRecord(text).into());
        }

        // 5. catalog.
        enter(Stage::Catalog, &mut stages);
        let line = self.catalog(&package, &bytes, key, label, report, seed)?;
        if let Some(last) = stages.last_mut() {
            last.1 = started.elapsed();
        }
        Ok(PublishReport {
            target: line.package_target(),
            line,
            stages,
        })
    }

    fn catalog(
        &self,
        package: &Package,
        bytes: &[u8],
        key: &SecretKey,
        label: label::Label,
        scan: scan::ScanReport,
        seed: serde_json::Value,
    ) -> Result<IndexLine, PublishError> {
        let m = package.manifest();
        let id = m.id.to_string();
        let repo = self.load()?;
        let role = publisher_role(&repo, key, &id)?;
        let index_name = index::index_target(&id);
        let mut lines = read_index(&self.label(), &repo, &id)?;
        if lines.iter().any(|l| l.vers == m.version) {
            return Err(CatalogError::VersionExists {
                id,
                version: m.version.to_string(),
            }
            .into());
        }
        let line = IndexLine {
            v: index::INDEX_FORMAT,
            id: id.clone(),
            vers: m.version.clone(),
            cksum: package.sha256().to_owned(),
            size: package.size(),
            yanked: false,
            name: m.name.clone(),
            description: m.description.clone(),
            authors: m.authors.clone(),
            license: m.license.clone(),
            repository: m.repository.clone(),
            keywords: m.keywords.clone(),
            api: m.api.to_string(),
            deps: m
                .dependencies
                .iter()
                .map(|d| IndexDependency {
                    id: d.id.to_string(),
                    req: d.version.to_string(),
                })
                .collect(),
            targets: package.libraries().map(|(t, _, _)| t.to_owned()).collect(),
            publisher: role.clone(),
            published: jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string()),
            label,
            scan,
            seed,
        };
        lines.push(line.clone());
        let staging = Staging::new(&self.dir).map_err(registry_to_catalog)?;
        let package_target = staging
            .add_target(&line.package_target(), bytes)
            .map_err(registry_to_catalog)?;
        self.write_index_change(
            &staging,
            &repo,
            key,
            &role,
            &id,
            &lines,
            vec![(line.package_target(), package_target)],
        )?;
        let _ = index_name;
        staging.commit_verified(self).map_err(registry_to_catalog)?;
        Ok(line)
    }

    /// Marks a published version yanked (or un-yanks it), signed by the
    /// publisher's key.
    pub fn yank(
        &self,
        id: &PluginId,
        version: &semver::Version,
        key: &SecretKey,
        yanked: bool,
    ) -> Result<IndexLine, PublishError> {
        let id = id.to_string();
        let repo = self.load()?;
        let role = publisher_role(&repo, key, &id)?;
        let mut lines = read_index(&self.label(), &repo, &id)?;
        let Some(line) = lines.iter_mut().find(|l| &l.vers == version) else {
            return Err(CatalogError::UnknownVersion {
                id,
                version: version.to_string(),
            }
            .into());
        };
        line.yanked = yanked;
        let changed = line.clone();
        let staging = Staging::new(&self.dir).map_err(registry_to_catalog)?;
        self.write_index_change(&staging, &repo, key, &role, &id, &lines, Vec::new())?;
        staging.commit_verified(self).map_err(registry_to_catalog)?;
        Ok(changed)
    }

    /// Re-signs the catalog, snapshot and timestamp with fresh expiry (run
    /// it from cron or CI well within [`Expiries::timestamp`]).
    /// `timestamp_expires` overrides the timestamp's expiry (tests use a
    /// past time to make a validly signed but expired timestamp).
    pub fn refresh(&self, timestamp_expires: Option<jiff::Timestamp>) -> Result<(), RegistryError> {
        let repo = self.load()?;
        let staging = Staging::new(&self.dir)?;
        let summary = read_summary(&self.label(), &repo)?;
        self.sign_catalog(&staging, &repo, &summary)?;
        self.resign_snapshot_at(&staging, &repo, &[CATALOG_ROLE], timestamp_expires)?;
        staging.commit_verified(self)
    }

    /// Replaces the search summary with `summary` and signs it like
    /// [`Registry::refresh`] does (catalog, snapshot, timestamp), without
    /// touching any index file. Only for benchmarks that need a catalog of
    /// synthetic plugins (`benches/benches/registry.rs`): a real summary is
    /// always derived from the signed index lines.
    #[doc(hidden)]
    pub fn replace_summary_for_bench(&self, summary: &Summary) -> Result<(), RegistryError> {
        let repo = self.load()?;
        let staging = Staging::new(&self.dir)?;
        self.sign_catalog(&staging, &repo, summary)?;
        self.resign_snapshot(&staging, &repo, &[CATALOG_ROLE])?;
        staging.commit_verified(self)
    }

    /// Signs `lines` as the index file of `id` with the publisher `key`
    /// (its role must be delegated `id`), with no package behind them.
    /// Only for benchmarks that need many plugins in an index (install
    /// plans over 50 plugins): a real index line is always written by
    /// [`Registry::publish`].
    #[doc(hidden)]
    pub fn write_index_for_bench(
        &self,
        key: &SecretKey,
        id: &str,
        lines: &[IndexLine],
    ) -> Result<(), PublishError> {
        let repo = self.load()?;
        let role = publisher_role(&repo, key, id)?;
        let staging = Staging::new(&self.dir).map_err(registry_to_catalog)?;
        self.write_index_change(&staging, &repo, key, &role, id, lines, Vec::new())?;
        staging.commit_verified(self).map_err(registry_to_catalog)
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one internal step with its whole context"
    )]
    fn write_index_change(
        &self,
        staging: &Staging,
        repo: &Repository,
        key: &SecretKey,
        role: &str,
        id: &str,
        lines: &[IndexLine],
        mut extra_targets: Vec<(String, Target)>,
    ) -> Result<(), PublishError> {
        let exp = self.settings.expiries;
        let now = jiff::Timestamp::now();
        let index_bytes = index::render_index_file(lines);
        let index_name = index::index_target(id);
        let index_target = staging
            .add_target(&index_name, index_bytes.as_bytes())
            .map_err(registry_to_catalog)?;
        extra_targets.push((index_name, index_target));
        let roles_dir = staging.path.join("roles");
        let version = repo
            .delegated_role(role)
            .and_then(|r| r.targets.as_ref())
            .map_or(1, |t| t.signed.version.get() + 1);
        let source = key.source();
        let repo2 = repo.clone();
        trust::block_on(async {
            let mut editor = TargetsEditor::from_repo(repo2, role)?;
            for (name, target) in extra_targets {
                editor.add_target(name.as_str(), target)?;
            }
            editor
                .version(NonZeroU64::new(version).expect("non-zero"))
                .expires(expires_in(now, exp.roles));
            editor
                .sign(std::slice::from_ref(&source))
                .await?
                .write(&roles_dir, false)
                .await
        })
        .map_err(|e| CatalogError::Sign {
            what: format!("{role}.json"),
            detail: e.to_string(),
        })?;
        let mut summary = read_summary(&self.label(), repo)?;
        summary.update(id, lines);
        self.sign_catalog(staging, repo, &summary)
            .map_err(registry_to_catalog)?;
        self.resign_snapshot(staging, repo, &[role, CATALOG_ROLE])
            .map_err(registry_to_catalog)?;
        Ok(())
    }

    fn sign_catalog(
        &self,
        staging: &Staging,
        repo: &Repository,
        summary: &Summary,
    ) -> Result<(), RegistryError> {
        // Compact: the summary is read whole by every search.
        let bytes = serde_json::to_vec(summary).expect("summary serializes");
        let target = staging.add_target(SUMMARY_TARGET, &bytes)?;
        let online = self.online_key()?.source();
        let version = repo
            .delegated_role(CATALOG_ROLE)
            .and_then(|r| r.targets.as_ref())
            .map_or(1, |t| t.signed.version.get() + 1);
        let exp = self.settings.expiries;
        let roles_dir = staging.path.join("roles");
        let repo = repo.clone();
        trust::block_on(async {
            let mut editor = TargetsEditor::from_repo(repo, CATALOG_ROLE)?;
            editor.add_target(SUMMARY_TARGET, target)?;
            editor
                .version(NonZeroU64::new(version).expect("non-zero"))
                .expires(expires_in(jiff::Timestamp::now(), exp.roles));
            editor
                .sign(std::slice::from_ref(&online))
                .await?
                .write(&roles_dir, false)
                .await
        })
        .map_err(|e| {
            RegistryError::Catalog(CatalogError::Sign {
                what: "catalog.json".to_owned(),
                detail: e.to_string(),
            })
        })
    }

    fn resign_snapshot(
        &self,
        staging: &Staging,
        repo: &Repository,
        updated_roles: &[&str],
    ) -> Result<(), RegistryError> {
        self.resign_snapshot_at(staging, repo, updated_roles, None)
    }

    /// Takes the role files signed into `staging/roles` (changed roles,
    /// under their plain names), places them under their consistent names
    /// in `staging/out/metadata`, and signs a new snapshot and timestamp
    /// over them with the online key.
    ///
    /// The snapshot is built here rather than by `tough`'s editor, which
    /// re-serializes every role (in `HashMap` order) and so would change
    /// the bytes of files already published under immutable names; roles
    /// that did not change keep their published bytes and snapshot entry.
    fn resign_snapshot_at(
        &self,
        staging: &Staging,
        repo: &Repository,
        updated_roles: &[&str],
        timestamp_expires: Option<jiff::Timestamp>,
    ) -> Result<(), RegistryError> {
        let online = self.online_key()?.source();
        let exp = self.settings.expiries;
        let now = jiff::Timestamp::now();
        let out = staging.path.join("out/metadata");
        fs::create_dir_all(&out).map_err(io_err(&out))?;
        let mut meta: HashMap<String, Metafile> = repo.snapshot().signed.meta.clone();
        let roles_dir = staging.path.join("roles");
        let mut roles: Vec<String> = updated_roles.iter().map(|r| (*r).to_owned()).collect();
        // Signing a role also writes the roles it newly delegates.
        for entry in fs::read_dir(&roles_dir).map_err(io_err(&roles_dir))? {
            let entry = entry.map_err(io_err(&roles_dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(role) = name.strip_suffix(".json")
                && !roles.iter().any(|r| r == role)
            {
                roles.push(role.to_owned());
            }
        }
        for role in &roles {
            let path = roles_dir.join(format!("{role}.json"));
            let bytes = fs::read(&path).map_err(io_err(&path))?;
            let version = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["signed"]["version"].as_u64())
                .and_then(NonZeroU64::new)
                .ok_or_else(|| {
                    RegistryError::Catalog(CatalogError::Sign {
                        what: format!("{role}.json"),
                        detail: "the signed role has no version".to_owned(),
                    })
                })?;
            let dest = out.join(format!("{version}.{role}.json"));
            fs::write(&dest, &bytes).map_err(io_err(&dest))?;
            meta.insert(format!("{role}.json"), metafile(&bytes, version));
        }
        let root = repo.root().signed.clone();
        let snapshot_version =
            NonZeroU64::new(repo.snapshot().signed.version.get() + 1).expect("non-zero");
        let timestamp_version =
            NonZeroU64::new(repo.timestamp().signed.version.get() + 1).expect("non-zero");
        let mut snapshot = Snapshot::new(
            "1.0.0".to_owned(),
            snapshot_version,
            expires_in(now, exp.snapshot),
        );
        snapshot.meta = meta;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        trust::block_on(async {
            let holder = KeyHolder::Root(root);
            let signed =
                SignedRole::new(snapshot, &holder, std::slice::from_ref(&online), &rng).await?;
            signed.write(&out, true).await?;
            let mut timestamp = Timestamp::new(
                "1.0.0".to_owned(),
                timestamp_version,
                timestamp_expires.unwrap_or_else(|| expires_in(now, exp.timestamp)),
            );
            timestamp.meta.insert(
                "snapshot.json".to_owned(),
                metafile(signed.buffer(), snapshot_version),
            );
            SignedRole::new(timestamp, &holder, std::slice::from_ref(&online), &rng)
                .await?
                .write(&out, true)
                .await
        })
        .map_err(|e| {
            RegistryError::Catalog(CatalogError::Sign {
                what: "snapshot.json and timestamp.json".to_owned(),
                detail: e.to_string(),
            })
        })
    }
}

fn metafile(bytes: &[u8], version: NonZeroU64) -> Metafile {
    Metafile {
        length: Some(bytes.len() as u64),
        hashes: Some(Hashes {
            sha256: Sha256::digest(bytes).to_vec().into(),
            _extra: HashMap::new(),
        }),
        version,
        _extra: HashMap::new(),
    }
}

fn bad_pattern(e: tough::schema::Error) -> tough::error::Error {
    tough::error::Error::InvalidPath { source: e }
}

/// Package errors that are about the manifest or the library (stage
/// `validate`), not the archive (stage `package`).
fn is_manifest_problem(e: &PackageError) -> bool {
    matches!(
        e,
        PackageError::MissingManifest { .. }
            | PackageError::InvalidManifest { .. }
            | PackageError::IdentityMismatch { .. }
            | PackageError::BadLibrary { .. }
            | PackageError::ManifestMismatch { .. }
            | PackageError::LibrariesDisagree { .. }
            | PackageError::NoLibrary { .. }
            | PackageError::Library { .. }
    )
}

fn registry_to_catalog(e: RegistryError) -> PublishError {
    match e {
        RegistryError::Catalog(c) => PublishError::Catalog(c),
        RegistryError::Io { path, source } => {
            PublishError::Catalog(CatalogError::Io { path, source })
        }
        other => PublishError::Registry(other),
    }
}

/// Stage 1's checks beyond what opening the package proved.
fn validate(package: &Package, path: &Path) -> Result<(), ValidateError> {
    let m = package.manifest();
    let expected = package.file_name();
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if file != expected {
        return Err(ValidateError::FileName {
            file,
            id: m.id.to_string(),
            version: m.version.to_string(),
            expected,
        });
    }
    let host = crate::package::host_triple();
    let have: Vec<&str> = package.libraries().map(|(t, _, _)| t).collect();
    let has_source = package
        .file_list()
        .files
        .iter()
        .any(|f| f.path.starts_with(crate::package::SOURCE));
    if !have.contains(&host) && !has_source {
        return Err(ValidateError::NoHostLibrary {
            triple: host.to_owned(),
            have: have.join(", "),
        });
    }
    if let Some(schema) = &m.config_schema {
        jsonschema::validator_for(schema)
            .map_err(|e| ValidateError::ConfigSchema(e.to_string()))?;
    }
    Ok(())
}

/// The publisher role `key` signs for, checked to cover `id`.
fn publisher_role(repo: &Repository, key: &SecretKey, id: &str) -> Result<String, CatalogError> {
    let key_id = key.key_id();
    let mine: Vec<Delegation> = delegations_of(repo)
        .into_iter()
        .filter(|d| d.key_ids.first() == Some(&key_id))
        .collect();
    if mine.is_empty() {
        return Err(CatalogError::NotAPublisher {
            key: key.path().to_owned(),
            key_id,
        });
    }
    let index_name = index::index_target(id);
    for d in &mine {
        let role = repo
            .targets()
            .signed
            .delegations
            .as_ref()
            .and_then(|ds| ds.roles.iter().find(|r| r.name == d.role));
        if let Some(role) = role
            && paths_match(&role.paths, &index_name)
            && paths_match(
                &role.paths,
                &index::package_target(id, &semver::Version::new(0, 0, 0)),
            )
        {
            return Ok(d.role.clone());
        }
    }
    Err(CatalogError::NotDelegated {
        id: id.to_owned(),
        role: mine[0].role.clone(),
        ids: mine
            .iter()
            .flat_map(|d| d.ids.iter().map(|g| format!("`{g}`")))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Matches a target name against a delegation's path patterns with the
/// same glob semantics `tough` uses (`globset`, `*` crossing `/`).
fn paths_match(paths: &PathSet, name: &str) -> bool {
    match paths {
        PathSet::Paths(patterns) => patterns.iter().any(|p| {
            globset::Glob::new(p.value())
                .map(|g| g.compile_matcher().is_match(name))
                .unwrap_or(false)
        }),
        PathSet::PathHashPrefixes(_) => false,
    }
}

/// The delegations of the top-level targets, publisher roles only, each
/// with the id globs recovered from its paths.
fn delegations_of(repo: &Repository) -> Vec<Delegation> {
    let Some(delegations) = repo.targets().signed.delegations.as_ref() else {
        return Vec::new();
    };
    delegations
        .roles
        .iter()
        .filter(|r| r.name != CATALOG_ROLE)
        .map(|r| Delegation {
            role: r.name.clone(),
            ids: match &r.paths {
                PathSet::Paths(p) => p
                    .iter()
                    .filter_map(|p| p.value().strip_prefix("index/*/").map(str::to_owned))
                    .collect(),
                PathSet::PathHashPrefixes(_) => Vec::new(),
            },
            // The publisher's key first, the root key last.
            key_ids: {
                let mut ids: Vec<String> = r.keyids.iter().map(hex::encode).collect();
                let root_ids: Vec<String> = repo
                    .root()
                    .signed
                    .roles
                    .get(&RoleType::Targets)
                    .map(|k| k.keyids.iter().map(hex::encode).collect())
                    .unwrap_or_default();
                ids.sort_by_key(|id| root_ids.contains(id));
                ids
            },
        })
        .collect()
}

/// The key ids the top-level targets lists for a delegated role.
fn top_role_keyids(repo: &Repository, role: &str) -> Vec<Decoded<Hex>> {
    repo.targets()
        .signed
        .delegations
        .as_ref()
        .and_then(|d| d.roles.iter().find(|r| r.name == role))
        .map(|r| r.keyids.clone())
        .unwrap_or_default()
}

/// The TUF path patterns of an id glob.
fn id_paths(glob: &str) -> [String; 2] {
    [format!("index/*/{glob}"), format!("packages/{glob}/*")]
}

fn check_role_name(role: &str) -> Result<(), RegistryError> {
    let ok = !role.is_empty()
        && role.len() <= 64
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !["root", "targets", "snapshot", "timestamp", CATALOG_ROLE].contains(&role);
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadDelegation(format!(
            "`{role}` is not a usable publisher role name: lowercase letters, digits, `-`, `_`, \
             at most 64, not root/targets/snapshot/timestamp/catalog"
        )))
    }
}

/// An id glob: id characters and `*` only (so its TUF path patterns mean
/// exactly "these ids").
fn check_id_glob(glob: &str) -> Result<(), RegistryError> {
    let ok = !glob.is_empty()
        && glob.len() <= 128
        && glob.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_' | b'*')
        });
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadDelegation(format!(
            "`{glob}` is not an id glob: use id characters (a-z 0-9 . - _) and `*`, e.g. `acme.*`"
        )))
    }
}

/// Conservative overlap: two globs overlap when the literal text before
/// their first `*` is a prefix of the other's (or both are literal and
/// equal).
fn globs_overlap(a: &str, b: &str) -> bool {
    let pa = a.split('*').next().unwrap_or("");
    let pb = b.split('*').next().unwrap_or("");
    match (a.contains('*'), b.contains('*')) {
        (false, false) => a == b,
        (true, false) => b.starts_with(pa),
        (false, true) => a.starts_with(pb),
        (true, true) => pa.starts_with(pb) || pb.starts_with(pa),
    }
}

fn read_index(registry: &str, repo: &Repository, id: &str) -> Result<Vec<IndexLine>, PublishError> {
    let name = index::index_target(id);
    match trust::read_target(registry, repo, &name).map_err(RegistryError::from)? {
        None => Ok(Vec::new()),
        Some(bytes) => Ok(index::parse_index_file(&name, id, &bytes).map_err(CatalogError::from)?),
    }
}

fn read_summary(registry: &str, repo: &Repository) -> Result<Summary, RegistryError> {
    match trust::read_target(registry, repo, SUMMARY_TARGET)? {
        None => Ok(Summary::default()),
        Some(bytes) => Ok(Summary::parse(&bytes).map_err(CatalogError::from)?),
    }
}

fn key_id_decoded(key: &Key) -> Decoded<Hex> {
    key.key_id().expect("a TUF key serializes")
}

fn expires_in(now: jiff::Timestamp, d: Duration) -> jiff::Timestamp {
    let signed = jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    now.checked_add(signed)
        .unwrap_or(jiff::Timestamp::MAX)
        .round(jiff::Unit::Second)
        .unwrap_or(now)
}

/// A staging directory inside `private/`: targets land in `out/targets`
/// under their consistent names, metadata in `out/metadata`.
struct Staging {
    path: PathBuf,
    added: std::cell::RefCell<Vec<String>>,
    _dir: tempfile::TempDir,
}

impl Staging {
    fn new(registry: &Path) -> Result<Staging, RegistryError> {
        let private = registry.join("private");
        fs::create_dir_all(&private).map_err(io_err(&private))?;
        let dir = tempfile::Builder::new()
            .prefix("staging-")
            .tempdir_in(&private)
            .map_err(io_err(&private))?;
        Ok(Staging {
            path: dir.path().to_owned(),
            added: std::cell::RefCell::new(Vec::new()),
            _dir: dir,
        })
    }

    /// Writes a target's bytes under its consistent name and returns its
    /// TUF description.
    fn add_target(&self, name: &str, bytes: &[u8]) -> Result<Target, RegistryError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let (dir, file) = match name.rsplit_once('/') {
            Some((d, f)) => (format!("{digest}.{d}"), f.to_owned()),
            None => (String::new(), format!("{digest}.{name}")),
        };
        let path = self.path.join("out/targets").join(dir).join(file);
        fs::create_dir_all(path.parent().expect("has a parent")).map_err(io_err(&path))?;
        fs::write(&path, bytes).map_err(io_err(&path))?;
        self.added.borrow_mut().push(name.to_owned());
        trust::block_on(Target::from_path(&path)).map_err(|e| {
            RegistryError::Catalog(CatalogError::Sign {
                what: name.to_owned(),
                detail: e.to_string(),
            })
        })
    }

    fn copy_into_out(&self, from: &str, to: &str) -> Result<(), RegistryError> {
        let src = self.path.join(from);
        let dst = self.path.join("out").join(to);
        fs::copy(&src, &dst).map_err(io_err(&dst))?;
        Ok(())
    }

    /// Verifies the registry as it will be once `out/` is moved in (every
    /// signature, delegation and hash, through `tough`, reading `out/`
    /// over the published files), then moves it in.
    fn commit_verified(self, registry: &Registry) -> Result<(), RegistryError> {
        let root_path = registry.root_path();
        let root = match fs::read(self.path.join("out/root.json")) {
            Ok(bytes) => bytes,
            Err(_) => fs::read(&root_path).map_err(io_err(&root_path))?,
        };
        let base = std::path::absolute(registry.dir()).map_err(io_err(registry.dir()))?;
        let url = trust::dir_url(&base).map_err(io_err(&base))?;
        let overlay = OverlayTransport {
            base,
            overlay: self.path.join("out"),
        };
        let trusted = trust::load(
            &registry.label(),
            &root,
            &url,
            overlay,
            None,
            Expiry::Ignore,
        )?;
        for name in self.added.borrow().iter() {
            trust::read_target(&registry.label(), &trusted, name)?;
        }
        drop(trusted);
        self.commit(registry.dir())
    }

    /// Moves `out/` into the registry: every file but the timestamp first
    /// (each under a name no published file has, or with identical bytes),
    /// then `metadata/timestamp.json` by one rename. Fsyncs as it goes.
    fn commit(self, registry: &Path) -> Result<(), RegistryError> {
        let out = self.path.join("out");
        let mut files = Vec::new();
        collect_files(&out, &mut files).map_err(io_err(&out))?;
        let timestamp = out.join("metadata/timestamp.json");
        // Check first: refuse before moving anything.
        for file in &files {
            let rel = file.strip_prefix(&out).expect("under out");
            let dest = registry.join(rel);
            if *file != timestamp && dest.exists() {
                let same = fs::read(&dest).map_err(io_err(&dest))?
                    == fs::read(file).map_err(io_err(file))?;
                if !same && rel != Path::new("root.json") {
                    return Err(RegistryError::Io {
                        path: dest,
                        source: std::io::Error::other(
                            "exists with different bytes; published files are never rewritten",
                        ),
                    });
                }
            }
        }
        for file in files.iter().filter(|f| **f != timestamp) {
            let rel = file.strip_prefix(&out).expect("under out");
            let dest = registry.join(rel);
            if dest.exists() {
                continue;
            }
            let parent = dest.parent().expect("has a parent");
            fs::create_dir_all(parent).map_err(io_err(parent))?;
            fs::File::open(file)
                .and_then(|f| f.sync_all())
                .map_err(io_err(file))?;
            fs::rename(file, &dest).map_err(io_err(&dest))?;
            fsutil::sync_dir(parent).map_err(io_err(parent))?;
        }
        if timestamp.exists() {
            let dest = registry.join("metadata/timestamp.json");
            fs::File::open(&timestamp)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&timestamp))?;
            fs::rename(&timestamp, &dest).map_err(io_err(&dest))?;
            fsutil::sync_parent(&dest).map_err(io_err(&dest))?;
        }
        Ok(())
    }
}

/// Serves the staged `out/` over the published registry, so a change can
/// be verified as clients will see it before it is moved in.
#[derive(Debug, Clone)]
struct OverlayTransport {
    base: PathBuf,
    overlay: PathBuf,
}

#[tough::async_trait]
impl tough::Transport for OverlayTransport {
    async fn fetch(&self, url: url::Url) -> Result<tough::TransportStream, tough::TransportError> {
        if let Ok(path) = url.to_file_path()
            && let Ok(rel) = path.strip_prefix(&self.base)
        {
            let staged = self.overlay.join(rel);
            if staged.is_file() {
                let staged_url = url::Url::from_file_path(&staged).map_err(|()| {
                    tough::TransportError::new(
                        tough::TransportErrorKind::Other,
                        staged.display().to_string(),
                    )
                })?;
                return RegistryTransport::default().fetch(staged_url).await;
            }
        }
        RegistryTransport::default().fetch(url).await
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_globs_are_detected() {
        assert!(globs_overlap("acme.*", "acme.upper"));
        assert!(globs_overlap("acme.*", "acme.x.*"));
        assert!(!globs_overlap("acme.*", "bob.*"));
        assert!(!globs_overlap("acme.a", "acme.b"));
    }

    /// Bob holds a valid publisher key and the online key (he can write to
    /// the registry's directory), and signs an index file for one of
    /// acme's ids into his own role. Verification refuses it, both before
    /// an operator commits it and in a client reading the result.
    #[test]
    fn a_publisher_signing_another_publishers_id_is_refused() {
        let scratch = tempfile::tempdir().unwrap();
        let key = |name: &str| {
            let k = keys::generate(&scratch.path().join(name)).unwrap();
            SecretKey::open(&k.secret).unwrap()
        };
        let (root, acme, bob) = (key("root"), key("acme"), key("bob"));
        let dir = scratch.path().join("registry");
        let reg = Registry::init(&dir, "t", &root, Expiries::default()).unwrap();
        reg.delegate(&root, acme.public(), "acme", &["acme.*".to_owned()])
            .unwrap();
        reg.delegate(&root, bob.public(), "bob", &["bob.*".to_owned()])
            .unwrap();

        let forge = |verify: bool| {
            let repo = reg.load().unwrap();
            let staging = Staging::new(&dir).unwrap();
            reg.write_index_change(&staging, &repo, &bob, "bob", "acme.x", &[], Vec::new())
                .unwrap();
            if verify {
                staging.commit_verified(&reg)
            } else {
                staging.commit(&dir)
            }
        };
        let before = fs::read(dir.join("metadata/timestamp.json")).unwrap();
        let err = forge(true).unwrap_err();
        assert!(
            matches!(
                err,
                RegistryError::Trust(TrustError::Refused {
                    attack: trust::Attack::Delegation,
                    ..
                })
            ),
            "{err}"
        );
        assert_eq!(
            before,
            fs::read(dir.join("metadata/timestamp.json")).unwrap()
        );

        // Written anyway, behind the tool's back: clients refuse it.
        forge(false).unwrap();
        let url = trust::dir_url(&dir).unwrap().to_string();
        let err = crate::client::Client::load("t", &url, &fs::read(reg.root_path()).unwrap())
            .unwrap_err();
        assert!(
            matches!(
                err,
                crate::client::ClientError::Trust(TrustError::Refused {
                    attack: trust::Attack::Delegation,
                    ..
                })
            ),
            "{err}"
        );
    }

    #[test]
    fn id_globs_are_id_characters_and_stars() {
        assert!(check_id_glob("acme.*").is_ok());
        assert!(check_id_glob("acme/*").is_err());
        assert!(check_id_glob("acme.[ab]").is_err());
    }
}
