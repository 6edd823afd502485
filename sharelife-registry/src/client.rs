//! The user's side: registries added to a client home (`SHARELIFE_HOME`),
//! each pinned to a root, and `search`, `info`, `verify` against them.
//!
//! ```text
//! $SHARELIFE_HOME/
//!   registries.json                 name → URL and pinned root digest
//!   registries/<name>/root.json     the pinned root (as given to `registry add`)
//!   registries/<name>/trust/        the newest metadata trusted so far (rollback protection)
//! ```
//!
//! The trust state changes only after a load verified completely: `tough`
//! works on a scratch copy, and the copy's files replace the stored ones
//! one atomic rename at a time once everything checked out. A refused
//! update leaves the state as it was.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tough::Repository;
use url::Url;

use crate::fsutil;
use crate::index::{self, IndexLine, SUMMARY_TARGET, Summary, SummaryEntry};
use crate::package::{Package, PackageError, UncheckedPackage};
use crate::transport::{RegistryTransport, TransferLimits};
use crate::trust::{self, Attack, Expiry, TrustError};

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No registry by that name.
    #[error(
        "no registry named `{0}`; add one with `sharelife registry add NAME URL --root ROOT.json`"
    )]
    UnknownRegistry(String),
    /// A registry by that name exists already.
    #[error("a registry named `{0}` exists already (remove it first to re-pin)")]
    Exists(String),
    /// A bad registry name.
    #[error("`{0}` is not a registry name: letters, digits, `-`, `_`, `.`, at most 64")]
    BadName(String),
    /// A bad URL.
    #[error("`{url}` is not a registry URL: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A verification failure or an unreachable registry.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// No such plugin.
    #[error("registry `{registry}` has no plugin `{id}`")]
    UnknownPlugin {
        /// The registry.
        registry: String,
        /// The id.
        id: String,
    },
    /// No version matching.
    #[error("registry `{registry}` has no version of `{id}` matching {req}{note}")]
    NoMatchingVersion {
        /// The registry.
        registry: String,
        /// The id.
        id: String,
        /// The requirement.
        req: String,
        /// "(yanked: …)" when only yanked versions match.
        note: String,
    },
    /// An index file did not parse.
    #[error(transparent)]
    Index(#[from] index::IndexError),
    /// A downloaded package is not what its signed index line says.
    #[error("registry `{registry}`: {file} ({attack}): {detail}")]
    PackageMismatch {
        /// The registry.
        registry: String,
        /// The package target.
        file: String,
        /// The attack.
        attack: Attack,
        /// What differs.
        detail: String,
    },
    /// The package failed its own verification.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// Client state I/O.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// `registries.json` is not readable.
    #[error("{path}: {reason}")]
    BadState {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
    move |source| ClientError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One added registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEntry {
    /// Its base URL (`file://…/` or `http(s)://…/`).
    pub url: String,
    /// sha256 of the pinned root as given (hex).
    pub root_sha256: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RegistriesFile {
    registries: BTreeMap<String, RegistryEntry>,
}

/// The client's home directory (`SHARELIFE_HOME`, default `~/.sharelife`).
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
    limits: TransferLimits,
}

impl Home {
    /// The home at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home {
            dir: dir.into(),
            limits: TransferLimits::default(),
        }
    }

    /// The home from `SHARELIFE_HOME`, else `~/.sharelife`.
    pub fn from_env() -> Home {
        let dir = std::env::var_os("SHARELIFE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".sharelife")))
            .unwrap_or_else(|| PathBuf::from(".sharelife"));
        Home::new(dir)
    }

    /// Sets the download limits.
    pub fn with_limits(mut self, limits: TransferLimits) -> Home {
        self.limits = limits;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn registries_path(&self) -> PathBuf {
        self.dir.join("registries.json")
    }

    fn read_registries(&self) -> Result<RegistriesFile, ClientError> {
        let path = self.registries_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ClientError::BadState {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RegistriesFile::default()),
            Err(e) => Err(ClientError::Io { path, source: e }),
        }
    }

    /// The added registries.
    pub fn registries(&self) -> Result<BTreeMap<String, RegistryEntry>, ClientError> {
        Ok(self.read_registries()?.registries)
    }

    /// Adds a registry, pinning `root` (a `root.json` file). The registry
    /// is loaded and verified against that root before it is added: never
    /// trust on first use.
    pub fn add(&self, name: &str, url: &str, root: &Path) -> Result<RegistryEntry, ClientError> {
        check_name(name)?;
        let url = parse_url(url)?;
        let mut file = self.read_registries()?;
        if file.registries.contains_key(name) {
            return Err(ClientError::Exists(name.to_owned()));
        }
        let root_bytes = fs::read(root).map_err(io_err(root))?;
        let dir = self.dir.join("registries").join(name);
        let trust_dir = dir.join("trust");
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let scratch = tempfile::tempdir().map_err(io_err(&self.dir))?;
        let trusted = trust::load(
            name,
            &root_bytes,
            &url,
            RegistryTransport::new(self.limits),
            Some(scratch),
            Expiry::Enforce,
        )?;
        fs::create_dir_all(&trust_dir).map_err(io_err(&trust_dir))?;
        let pinned = dir.join("root.json");
        fsutil::write_atomic(&pinned, &root_bytes).map_err(io_err(&pinned))?;
        commit_trust(trusted.datastore().expect("given"), &trust_dir)?;
        let entry = RegistryEntry {
            url: url.to_string(),
            root_sha256: hex::encode(Sha256::digest(&root_bytes)),
        };
        file.registries.insert(name.to_owned(), entry.clone());
        self.write_registries(&file)?;
        Ok(entry)
    }

    /// Removes a registry and its trust state.
    pub fn remove(&self, name: &str) -> Result<(), ClientError> {
        let mut file = self.read_registries()?;
        if file.registries.remove(name).is_none() {
            return Err(ClientError::UnknownRegistry(name.to_owned()));
        }
        self.write_registries(&file)?;
        let dir = self.dir.join("registries").join(name);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
        Ok(())
    }

    fn write_registries(&self, file: &RegistriesFile) -> Result<(), ClientError> {
        let path = self.registries_path();
        let text = serde_json::to_string_pretty(file).expect("registries serialize") + "\n";
        fsutil::write_atomic(&path, text.as_bytes()).map_err(io_err(&path))
    }

    /// Opens the named registry: loads and verifies its newest metadata
    /// (one round of TUF updates) and stores what it now trusts.
    pub fn open(&self, name: &str) -> Result<Client, ClientError> {
        let client = self.open_read_only(name)?;
        let trust_dir = self.dir.join("registries").join(name).join("trust");
        commit_trust(client.repo.datastore().expect("given"), &trust_dir)?;
        Ok(client)
    }
}

impl Home {
    /// The key ids of the named registry's root role, as this home trusts
    /// it now (the newest root verified so far, else the pinned one). Read
    /// from disk: no network, nothing written.
    pub fn root_key_ids(&self, name: &str) -> Result<Vec<String>, ClientError> {
        if !self.read_registries()?.registries.contains_key(name) {
            return Err(ClientError::UnknownRegistry(name.to_owned()));
        }
        let dir = self.dir.join("registries").join(name);
        let path = if dir.join("trust/root.json").is_file() {
            dir.join("trust/root.json")
        } else {
            dir.join("root.json")
        };
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        let bad = |reason: String| ClientError::BadState {
            path: path.clone(),
            reason,
        };
        let root: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let ids = root["signed"]["roles"]["root"]["keyids"]
            .as_array()
            .ok_or_else(|| bad("no signed.roles.root.keyids".to_owned()))?;
        let mut ids: Vec<String> = ids
            .iter()
            .map(|id| {
                id.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad("a root key id is not a string".to_owned()))
            })
            .collect::<Result<_, _>>()?;
        ids.sort();
        Ok(ids)
    }

    /// Opens the named registry like [`open`](Self::open) (its newest
    /// metadata loaded and verified) but stores nothing: what this home
    /// trusts on disk is left byte-identical. For dry runs.
    pub fn open_read_only(&self, name: &str) -> Result<Client, ClientError> {
        let file = self.read_registries()?;
        let entry = file
            .registries
            .get(name)
            .ok_or_else(|| ClientError::UnknownRegistry(name.to_owned()))?
            .clone();
        let url = parse_url(&entry.url)?;
        let dir = self.dir.join("registries").join(name);
        let trust_dir = dir.join("trust");
        let root_path = if trust_dir.join("root.json").is_file() {
            trust_dir.join("root.json")
        } else {
            dir.join("root.json")
        };
        let root = fs::read(&root_path).map_err(io_err(&root_path))?;
        let scratch = tempfile::tempdir().map_err(io_err(&self.dir))?;
        copy_dir(&trust_dir, scratch.path()).map_err(io_err(&trust_dir))?;
        let repo = trust::load(
            name,
            &root,
            &url,
            RegistryTransport::new(self.limits),
            Some(scratch),
            Expiry::Enforce,
        )?;
        Ok(Client {
            name: name.to_owned(),
            repo,
        })
    }
}

/// A registry whose metadata verified; reads its catalog and packages.
#[derive(Debug)]
pub struct Client {
    name: String,
    repo: trust::Trusted,
}

/// A package downloaded and verified, not installed.
#[derive(Debug)]
pub struct Verified {
    /// Its index line.
    pub line: IndexLine,
    /// The package, opened and checked entry by entry.
    pub package: Package,
    /// The package file's bytes exactly as downloaded and verified (what
    /// `sharelife verify --out` writes).
    pub bytes: Vec<u8>,
}

impl Client {
    /// Opens a client on a registry directory or URL with a root given
    /// directly (no client home; nothing persisted). For tools and tests.
    pub fn load(name: &str, url: &str, root: &[u8]) -> Result<Client, ClientError> {
        let url = parse_url(url)?;
        let repo = trust::load(
            name,
            root,
            &url,
            RegistryTransport::default(),
            None,
            Expiry::Enforce,
        )?;
        Ok(Client {
            name: name.to_owned(),
            repo,
        })
    }

    /// The registry's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verified `tough` repository.
    pub fn repository(&self) -> &Repository {
        &self.repo.repo
    }

    /// The snapshot version this client trusts (pin it in a plan).
    pub fn snapshot_version(&self) -> u64 {
        self.repo.snapshot().signed.version.get()
    }

    /// The search summary (one request).
    pub fn summary(&self) -> Result<Summary, ClientError> {
        let bytes = trust::read_target(&self.name, &self.repo, SUMMARY_TARGET)?.unwrap_or_default();
        if bytes.is_empty() {
            return Ok(Summary::default());
        }
        Ok(Summary::parse(&bytes)?)
    }

    /// Plugins whose id, name, description or keywords contain `query`.
    pub fn search(&self, query: &str) -> Result<Vec<SummaryEntry>, ClientError> {
        Ok(self.summary()?.search(query).into_iter().cloned().collect())
    }

    /// Every published version of a plugin (yanked ones too), oldest first.
    pub fn info(&self, id: &str) -> Result<Vec<IndexLine>, ClientError> {
        let name = index::index_target(id);
        let bytes = trust::read_target(&self.name, &self.repo, &name)?.ok_or_else(|| {
            ClientError::UnknownPlugin {
                registry: self.name.clone(),
                id: id.to_owned(),
            }
        })?;
        let mut lines = index::parse_index_file(&name, id, &bytes)?;
        lines.sort_by(|a, b| a.vers.cmp(&b.vers));
        Ok(lines)
    }

    /// The newest non-yanked version matching `req` (an exact version
    /// `=1.2.0` also matches a yanked one: it was asked for by name).
    pub fn resolve(&self, id: &str, req: Option<&VersionReq>) -> Result<IndexLine, ClientError> {
        let lines = self.info(id)?;
        let any = VersionReq::STAR;
        let req = req.unwrap_or(&any);
        let exact = exact_version(req);
        let pick = lines
            .iter()
            .filter(|l| req.matches(&l.vers) && (!l.yanked || exact.as_ref() == Some(&l.vers)))
            .max_by(|a, b| a.vers.cmp(&b.vers));
        match pick {
            Some(line) => Ok(line.clone()),
            None => {
                let yanked: Vec<String> = lines
                    .iter()
                    .filter(|l| l.yanked && req.matches(&l.vers))
                    .map(|l| l.vers.to_string())
                    .collect();
                Err(ClientError::NoMatchingVersion {
                    registry: self.name.clone(),
                    id: id.to_owned(),
                    req: req.to_string(),
                    note: if yanked.is_empty() {
                        String::new()
                    } else {
                        format!(" (yanked: {})", yanked.join(", "))
                    },
                })
            }
        }
    }

    /// Downloads a version's package and checks it against the trusted
    /// metadata only: its length and sha256 as signed in the publisher's
    /// targets, which must be the checksum of its signed index line. The
    /// bytes are hashed once, while they are read. These are the trust
    /// checks; [`verify`](Self::verify) also opens the archive.
    pub fn download(
        &self,
        id: &str,
        req: Option<&VersionReq>,
    ) -> Result<(IndexLine, Vec<u8>), ClientError> {
        let line = self.resolve(id, req)?;
        let bytes = self.read_package(&line.package_target(), &line.cksum, "the index line")?;
        Ok((line, bytes))
    }

    /// Reads package `target` after checking that the trusted metadata
    /// signs it with sha256 `cksum` (what `source`, an index line or a
    /// plan, says it is); the bytes are checked against the signed length
    /// and sha256 as they are read.
    fn read_package(
        &self,
        target: &str,
        cksum: &str,
        source: &str,
    ) -> Result<Vec<u8>, ClientError> {
        let missing = || ClientError::PackageMismatch {
            registry: self.name.clone(),
            file: target.to_owned(),
            attack: Attack::MixAndMatch,
            detail: format!("{source} names this version but the metadata has no such package"),
        };
        let name = tough::TargetName::new(target).map_err(|_| missing())?;
        let signed = self
            .repo
            .targets()
            .signed
            .find_target(&name, false)
            .map_err(|_| missing())?;
        let signed_sha256 = hex::encode(&signed.hashes.sha256);
        if signed_sha256 != cksum {
            return Err(ClientError::PackageMismatch {
                registry: self.name.clone(),
                file: target.to_owned(),
                attack: Attack::MixAndMatch,
                detail: format!("the metadata signs sha256 {signed_sha256}, {source} says {cksum}"),
            });
        }
        trust::read_target(&self.name, &self.repo, target)?.ok_or_else(missing)
    }

    /// Downloads a version's package and verifies it: against the signed
    /// metadata (length, sha256), against its signed index line (checksum,
    /// id, version), and entry by entry against its own file list.
    pub fn verify(&self, id: &str, req: Option<&VersionReq>) -> Result<Verified, ClientError> {
        let (line, bytes) = self.download(id, req)?;
        let package =
            self.open_package(&bytes, &line.cksum, &line.id, &line.vers, "the index line")?;
        Ok(Verified {
            line,
            package,
            bytes,
        })
    }

    /// Downloads and verifies the package of `id` `version` whose sha256
    /// was pinned earlier (by a plan made against this registry snapshot):
    /// the signed metadata must sign exactly `sha256`, and the package is
    /// checked entry by entry and must hold `id` `version`. The index is
    /// not read again: the signed target hash is the pin, and a caller
    /// that pinned it against a snapshot checks the snapshot
    /// ([`snapshot_version`](Self::snapshot_version)) did not move.
    ///
    /// # Errors
    ///
    /// [`ClientError::PackageMismatch`] when the metadata signs another
    /// digest, has no such package, or the package holds another plugin;
    /// the trust and package errors of [`verify`](Self::verify).
    pub fn verify_pinned(
        &self,
        id: &str,
        version: &Version,
        sha256: &str,
    ) -> Result<Package, ClientError> {
        let package = self.fetch_pinned(id, version, sha256)?;
        let proof = package.check_digests()?;
        Ok(package.into_checked(proof))
    }

    /// [`verify_pinned`](Self::verify_pinned) but for the entries'
    /// digests, which the caller checks with
    /// [`UncheckedPackage::check_digests`] (while it stages the bytes,
    /// say).
    ///
    /// # Errors
    ///
    /// As [`verify_pinned`](Self::verify_pinned), but for
    /// [`PackageError::DigestMismatch`].
    pub fn fetch_pinned(
        &self,
        id: &str,
        version: &Version,
        sha256: &str,
    ) -> Result<UncheckedPackage, ClientError> {
        let target = index::package_target(id, version);
        let bytes = self.read_package(&target, sha256, "the plan")?;
        let package = UncheckedPackage::open(&bytes, sha256.to_owned(), &target)?;
        self.check_identity(package.manifest(), &target, id, version, "the plan")?;
        Ok(package)
    }

    /// Opens downloaded package bytes (already checked against the signed
    /// sha256 `cksum`, so not hashed again) and checks they hold `id`
    /// `version`, as `source` names them.
    fn open_package(
        &self,
        bytes: &[u8],
        cksum: &str,
        id: &str,
        version: &Version,
        source: &str,
    ) -> Result<Package, ClientError> {
        let target = index::package_target(id, version);
        let package = Package::from_bytes_with_digest(bytes, Some(cksum.to_owned()), &target)?;
        self.check_identity(package.manifest(), &target, id, version, source)?;
        Ok(package)
    }

    /// Refuses a package whose manifest is not `id` `version`, as
    /// `source` names them.
    fn check_identity(
        &self,
        m: &sharelife_manifest::Manifest,
        target: &str,
        id: &str,
        version: &Version,
        source: &str,
    ) -> Result<(), ClientError> {
        if m.id.as_str() != id || m.version != *version {
            return Err(ClientError::PackageMismatch {
                registry: self.name.clone(),
                file: target.to_owned(),
                attack: Attack::Tampering,
                detail: format!(
                    "the package holds {} {}, {source} says {id} {version}",
                    m.id, m.version
                ),
            });
        }
        Ok(())
    }
}

fn exact_version(req: &VersionReq) -> Option<Version> {
    match req.comparators.as_slice() {
        [c] if c.op == semver::Op::Exact => Some(Version {
            major: c.major,
            minor: c.minor?,
            patch: c.patch?,
            pre: c.pre.clone(),
            build: semver::BuildMetadata::EMPTY,
        }),
        _ => None,
    }
}

fn check_name(name: &str) -> Result<(), ClientError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(ClientError::BadName(name.to_owned()))
    }
}

/// Parses a registry URL: `file://`, `http://`, `https://`, or a plain
/// directory path (made a `file://` URL).
pub fn parse_url(text: &str) -> Result<Url, ClientError> {
    let bad = |reason: &str| ClientError::BadUrl {
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    let url = match Url::parse(text) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            trust::dir_url(Path::new(text)).map_err(|e| bad(&e.to_string()))?
        }
        Err(e) => return Err(bad(&e.to_string())),
    };
    match url.scheme() {
        "file" | "http" | "https" => {}
        other => {
            return Err(bad(&format!(
                "scheme `{other}` (use file://, http:// or https://)"
            )));
        }
    }
    if url.cannot_be_a_base() {
        return Err(bad("not a base URL"));
    }
    Ok(url)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    if !from.exists() {
        return Ok(());
    }
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Replaces the stored trust files with the verified scratch copy's, one
/// atomic rename per file.
fn commit_trust(scratch: &Path, trust_dir: &Path) -> Result<(), ClientError> {
    fs::create_dir_all(trust_dir).map_err(io_err(trust_dir))?;
    for entry in fs::read_dir(scratch).map_err(io_err(scratch))? {
        let entry = entry.map_err(io_err(scratch))?;
        if !entry.file_type().map_err(io_err(scratch))?.is_file() {
            continue;
        }
        let bytes = fs::read(entry.path()).map_err(io_err(&entry.path()))?;
        let dest = trust_dir.join(entry.file_name());
        if fs::read(&dest).ok().as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        fsutil::write_atomic(&dest, &bytes).map_err(io_err(&dest))?;
    }
    Ok(())
}
