//! TUF through `tough`: loading a registry's metadata against a pinned
//! root, and naming each refusal by the file and the attack it stops.
//!
//! The roles (see the README's "Running a registry"):
//!
//! | role | key | signs |
//! |---|---|---|
//! | `root` | the operator's root key (offline) | the keys of every top-level role |
//! | `targets` | the root key | `index/config.json`, and the delegations: one role per publisher, scoped by id globs, plus `catalog` |
//! | publisher roles | the publisher's key | the publisher's packages and per-plugin index files |
//! | `catalog` | the registry's online key | `index/summary.json` (the search summary) |
//! | `snapshot`, `timestamp` | the registry's online key | the versions of every targets file; freshness |
//!
//! Consistent snapshots are on: every file but `timestamp.json` is written
//! under a new name (`N.role.json`, `<sha256>.<target>`), so a static server
//! never serves a half-published state.

use std::future::Future;
use std::path::{Path, PathBuf};

use tough::schema::RoleType;
use tough::{ExpirationEnforcement, Limits, Repository, RepositoryLoader};
use url::Url;

/// Runs a future to completion on a private current-thread runtime.
///
/// `tough` is async; this crate's API is blocking, so a host or CLI that
/// has no runtime can call it, and one that has a runtime can call it from
/// `spawn_blocking`.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    thread_local! {
        // One runtime per thread, made on first use: building one costs
        // more than a small verified read.
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime builds");
    }
    RUNTIME.with(|rt| rt.block_on(future))
}

/// The attack a refusal stops (TUF's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attack {
    /// A file's bytes differ from what the signed metadata says.
    Tampering,
    /// An older version than one already trusted.
    Rollback,
    /// Metadata past its expiry: the server is stuck or held back.
    Freeze,
    /// Metadata files that do not belong to the same snapshot.
    MixAndMatch,
    /// A signature missing, invalid or below the role's threshold.
    ArbitrarySigning,
    /// A role signed files outside the ids it was delegated.
    Delegation,
    /// A file larger than its signed length or the client's limit.
    EndlessData,
}

impl std::fmt::Display for Attack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Attack::Tampering => "tampering",
            Attack::Rollback => "rollback",
            Attack::Freeze => "freeze",
            Attack::MixAndMatch => "mix-and-match",
            Attack::ArbitrarySigning => "bad or missing signature",
            Attack::Delegation => "delegation breach",
            Attack::EndlessData => "endless data",
        })
    }
}

/// Why a registry's metadata or a file in it was not trusted.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A verification failure: the metadata or a file would let an attack
    /// through. Names the file and the attack.
    #[error("registry `{registry}`: refused {file} ({attack}): {detail}")]
    Refused {
        /// The registry's name or path.
        registry: String,
        /// The file refused (`timestamp.json`, `index/ac/me/acme.upper`…).
        file: String,
        /// The attack this refusal stops.
        attack: Attack,
        /// What exactly did not verify.
        detail: String,
    },
    /// The registry could not be reached or a file could not be fetched.
    #[error("registry `{registry}`: cannot fetch {url}: {detail}")]
    Unreachable {
        /// The registry's name or path.
        registry: String,
        /// The URL.
        url: String,
        /// The transport's error.
        detail: String,
    },
    /// A metadata file is not valid TUF metadata.
    #[error("registry `{registry}`: {file} is not valid metadata: {detail}")]
    Malformed {
        /// The registry's name or path.
        registry: String,
        /// The file.
        file: String,
        /// The parser's error.
        detail: String,
    },
    /// The client's stored trust state could not be read or written.
    #[error("trust state {path}: {source}")]
    State {
        /// The state file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Anything else `tough` reported.
    #[error("registry `{registry}`: {detail}")]
    Other {
        /// The registry's name or path.
        registry: String,
        /// `tough`'s message.
        detail: String,
    },
}

impl TrustError {
    /// The attack this refusal stops, if it is one.
    pub fn attack(&self) -> Option<Attack> {
        match self {
            TrustError::Refused { attack, .. } => Some(*attack),
            _ => None,
        }
    }

    /// Classifies a `tough` error.
    pub(crate) fn from_tough(registry: &str, error: tough::error::Error) -> TrustError {
        use tough::error::Error as E;
        let registry = registry.to_owned();
        let detail = error.to_string();
        let refused = |file: String, attack: Attack| TrustError::Refused {
            registry: registry.clone(),
            file,
            attack,
            detail: detail.clone(),
        };
        match &error {
            E::ExpiredMetadata { role, .. } => refused(role_file(*role), Attack::Freeze),
            E::OlderMetadata { role, .. } => refused(role_file(*role), Attack::Rollback),
            E::OlderSnapshotInTimestamp { .. } => refused("snapshot.json".into(), Attack::Rollback),
            E::SnapshotRoleRollback { role, .. } => {
                refused(format!("{role}.json"), Attack::Rollback)
            }
            E::VersionMismatch { role, .. } => refused(role_file(*role), Attack::MixAndMatch),
            E::MetaMissing { file, .. } => refused((*file).to_owned(), Attack::MixAndMatch),
            E::SnapshotRoleMissing { role, .. } => {
                refused(format!("{role}.json"), Attack::MixAndMatch)
            }
            E::SnapshotTargetsMetaMissing { .. } | E::MissingSnapshotMeta { .. } => {
                refused("snapshot.json".into(), Attack::MixAndMatch)
            }
            E::RoleNotInMeta { name, .. } => refused(format!("{name}.json"), Attack::MixAndMatch),
            E::VerifyMetadata { role, .. } => refused(role_file(*role), Attack::ArbitrarySigning),
            E::VerifyRoleMetadata { role, .. } => {
                refused(format!("{role}.json"), Attack::ArbitrarySigning)
            }
            E::VerifyTrustedMetadata { .. } => {
                refused("root.json".into(), Attack::ArbitrarySigning)
            }
            E::HashMismatch { context, .. } => {
                refused(context.clone(), hash_mismatch_attack(context))
            }
            E::InvalidPath { .. } | E::InvalidPathPermission { .. } => {
                refused("targets metadata".into(), Attack::Delegation)
            }
            E::MaxSizeExceeded { specifier, .. } => {
                refused((*specifier).to_owned(), Attack::EndlessData)
            }
            E::ParseMetadata { role, source, .. } => TrustError::Malformed {
                registry,
                file: role_file(*role),
                detail: source.to_string(),
            },
            E::ParseTrustedMetadata { source, .. } => TrustError::Malformed {
                registry,
                file: "root.json".into(),
                detail: source.to_string(),
            },
            // A verification failure inside a download stream reaches us
            // wrapped as a transport error: classify the cause.
            E::Transport { url, source, .. }
                if std::error::Error::source(source)
                    .and_then(|c| c.downcast_ref::<tough::error::Error>())
                    .is_some() =>
            {
                let cause = std::error::Error::source(source)
                    .and_then(|c| c.downcast_ref::<tough::error::Error>())
                    .expect("checked");
                let attack = match cause {
                    E::HashMismatch { .. } => Some(hash_mismatch_attack(url.as_str())),
                    E::MaxSizeExceeded { .. } => Some(Attack::EndlessData),
                    _ => None,
                };
                match attack {
                    Some(attack) => TrustError::Refused {
                        registry,
                        file: url.to_string(),
                        attack,
                        detail: cause.to_string(),
                    },
                    None => TrustError::Unreachable {
                        registry,
                        url: url.to_string(),
                        detail: cause.to_string(),
                    },
                }
            }
            E::Transport { url, source, .. } => TrustError::Unreachable {
                registry,
                url: url.to_string(),
                detail: source.to_string(),
            },
            _ => TrustError::Other { registry, detail },
        }
    }
}

/// A metadata file whose bytes are not the ones the snapshot or timestamp
/// names is a file from another snapshot (or a forged one): mix-and-match.
/// A target whose bytes differ from its signed hash was tampered with.
fn hash_mismatch_attack(url: &str) -> Attack {
    if url.contains("/metadata/") {
        Attack::MixAndMatch
    } else {
        Attack::Tampering
    }
}

fn role_file(role: RoleType) -> String {
    format!("{role}.json")
}

/// The URLs of a registry's metadata and targets under its base URL.
pub(crate) fn urls(base: &Url) -> (Url, Url) {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    (
        base.join("metadata/").expect("a relative path joins"),
        base.join("targets/").expect("a relative path joins"),
    )
}

/// The `file://` URL of a local registry directory.
pub(crate) fn dir_url(dir: &Path) -> Result<Url, std::io::Error> {
    let abs = std::path::absolute(dir)?;
    Url::from_directory_path(&abs)
        .map_err(|()| std::io::Error::other(format!("{} cannot be a file:// URL", abs.display())))
}

/// How the client treats expiry (tests and `refresh` may need to see
/// expired metadata; everything else enforces it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    Enforce,
    #[allow(
        dead_code,
        reason = "used by the operator side to re-sign an expired registry"
    )]
    Ignore,
}

/// A verified repository and the datastore directory `tough` keeps using
/// while it is read (it records the latest time it saw there).
#[derive(Debug)]
pub(crate) struct Trusted {
    pub(crate) repo: Repository,
    _scratch: Option<tempfile::TempDir>,
}

impl std::ops::Deref for Trusted {
    type Target = Repository;

    fn deref(&self) -> &Repository {
        &self.repo
    }
}

/// Loads and verifies a registry's metadata starting from `root`.
///
/// `datastore` is where `tough` keeps the newest trusted metadata for
/// rollback checks; `None` uses a throwaway directory (operator-side
/// loads, which trust their own files). With `Some`, the caller keeps the
/// directory alive as long as it reads targets.
pub(crate) fn load(
    registry: &str,
    root: &[u8],
    base: &Url,
    transport: impl tough::Transport + 'static,
    datastore: Option<tempfile::TempDir>,
    expiry: Expiry,
) -> Result<Trusted, TrustError> {
    let (metadata, targets) = urls(base);
    let scratch = match datastore {
        Some(dir) => dir,
        None => tempfile::tempdir().map_err(|source| TrustError::State {
            path: std::env::temp_dir(),
            source,
        })?,
    };
    let path = scratch.path().to_owned();
    let limits = Limits {
        max_targets_size: 64 * 1024 * 1024,
        ..Limits::default()
    };
    let root = root.to_vec();
    let repo = block_on(async move {
        RepositoryLoader::new(&root, metadata, targets)
            .transport(transport)
            .limits(limits)
            .datastore(path)
            .expiration_enforcement(match expiry {
                Expiry::Enforce => ExpirationEnforcement::Safe,
                Expiry::Ignore => ExpirationEnforcement::Unsafe,
            })
            .load()
            .await
    })
    .map_err(|e| TrustError::from_tough(registry, e))?;
    Ok(Trusted {
        repo,
        _scratch: Some(scratch),
    })
}

impl Trusted {
    /// The datastore directory.
    pub(crate) fn datastore(&self) -> Option<&Path> {
        self._scratch.as_ref().map(tempfile::TempDir::path)
    }
}

/// Reads a target whole through the verified metadata: its length and
/// sha256 are checked before a byte is returned. `Ok(None)` when the
/// metadata lists no such target.
pub(crate) fn read_target(
    registry: &str,
    repo: &Repository,
    name: &str,
) -> Result<Option<Vec<u8>>, TrustError> {
    use tough::IntoVec;
    let target = tough::TargetName::new(name).map_err(|e| TrustError::Other {
        registry: registry.to_owned(),
        detail: format!("`{name}` is not a valid target name: {e}"),
    })?;
    block_on(async {
        match repo.read_target(&target).await? {
            None => Ok(None),
            Some(stream) => stream.into_vec().await.map(Some),
        }
    })
    .map_err(|e| match TrustError::from_tough(registry, e) {
        TrustError::Refused {
            registry,
            attack,
            detail,
            ..
        } => TrustError::Refused {
            registry,
            file: name.to_owned(),
            attack,
            detail,
        },
        other => other,
    })
}
