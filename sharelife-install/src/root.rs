//! The install root: generations, the `current` symlink, staging, the
//! lock, the audit log.
//!
//! ```text
//! $SHARELIFE_HOME/                (default ~/.sharelife; --root overrides)
//!   install.toml                  settings (see `config`)
//!   registries.json, registries/  the registry client's state (sharelife-registry's Home)
//!   generations/N/                complete generations (see `generation`)
//!   current -> generations/N      flipped atomically; hosts read current/plugins
//!   staging/                      generations being made; cleaned when the root is opened
//!   audit.log                     hash-chained, one record per plan, approval, refusal, step, apply, rollback, removal
//!   keys/trusted/KEYID.pub        keys whose signed packs this root accepts (`sharelife key trust`)
//!   lock                          held (flock) while the root is open for changes
//! ```

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use sharelife_core::audit::{AuditEvent, AuditSink, Durability, FileSink, Outcome, What};

use crate::InstallError;
use crate::config::InstallConfig;
use crate::error::io;
use crate::generation::GenerationManifest;

/// The plugin name install records are filed under when they are about
/// the install root as a whole.
pub const INSTALL_ACTOR: &str = "sharelife.install";

/// An install root, opened and locked for changes.
#[derive(Debug)]
pub struct InstallRoot {
    dir: PathBuf,
    config: InstallConfig,
    /// None: opened read-only (a dry run), nothing may be recorded.
    audit: Option<Arc<FileSink>>,
    _lock: Option<File>,
}

/// A generation as listed by [`InstallRoot::generations`].
#[derive(Debug, Clone, Serialize)]
pub struct GenerationInfo {
    /// Its number.
    pub number: u64,
    /// Its parent.
    pub parent: Option<u64>,
    /// When it was made.
    pub created: String,
    /// What made it.
    pub operation: String,
    /// The plan's digest.
    pub plan_digest: String,
    /// Who approved the plan.
    pub approvers: Vec<String>,
    /// `id version` of each plugin.
    pub plugins: Vec<String>,
    /// Whether it is `current`.
    pub current: bool,
}

impl InstallRoot {
    /// The root from `--root`, else `SHARELIFE_HOME`, else `~/.sharelife`.
    pub fn default_dir(root: Option<&Path>) -> PathBuf {
        match root {
            Some(r) => r.to_owned(),
            None => sharelife_registry::Home::from_env().dir().to_owned(),
        }
    }

    /// Opens (creating if needed) the install root at `dir`: takes its
    /// lock (waiting for another install to finish), cleans what a killed
    /// install left in `staging/`, and opens its audit log.
    pub fn open(dir: &Path) -> Result<InstallRoot, InstallError> {
        fs::create_dir_all(dir.join("generations")).map_err(io(dir))?;
        let lock_path = dir.join("lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).map_err(|e| {
            InstallError::Io {
                path: lock_path.clone(),
                source: e.into(),
            }
        })?;
        let config = InstallConfig::load(dir)?;
        let root_dir = dir.to_owned();
        recover(&root_dir)?;
        // An operation's records are chained as it goes and made durable
        // together by `flush_audit` when it ends: one commit per operation,
        // not one per record, and no writer thread.
        let audit = Arc::new(FileSink::open(dir.join("audit.log"), Durability::OnFlush)?);
        Ok(InstallRoot {
            dir: root_dir,
            config,
            audit: Some(audit),
            _lock: Some(lock),
        })
    }

    /// Opens the install root at `dir` to read it, changing nothing: no
    /// directory or lock file is created, nothing is cleaned, the audit
    /// log is not opened (recording fails with
    /// [`InstallError::ReadOnly`]). Waits for an install in progress to
    /// finish (a shared lock) when the lock file exists. For dry runs.
    pub fn open_read_only(dir: &Path) -> Result<InstallRoot, InstallError> {
        let lock_path = dir.join("lock");
        let lock = match File::open(&lock_path) {
            Ok(f) => {
                rustix::fs::flock(&f, rustix::fs::FlockOperation::LockShared).map_err(|e| {
                    InstallError::Io {
                        path: lock_path.clone(),
                        source: e.into(),
                    }
                })?;
                Some(f)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(InstallError::Io {
                    path: lock_path,
                    source,
                });
            }
        };
        Ok(InstallRoot {
            dir: dir.to_owned(),
            config: InstallConfig::load(dir)?,
            audit: None,
            _lock: lock,
        })
    }

    /// The host config whose policy and settings the current generation
    /// runs with: the generation's own `host.toml` (from a pack) if it has
    /// one, else `install.toml [host] config`, else none (the default
    /// policy: nothing granted).
    pub fn host_config_path(&self) -> Result<Option<PathBuf>, InstallError> {
        Ok(match self.current_number()? {
            Some(n) => self.host_config_in(&self.generation_dir(n)),
            None => self.config.host.config.as_ref().map(|p| self.dir.join(p)),
        })
    }

    /// The host config a generation (complete or staged) at `dir` runs
    /// with: its own `host.toml` if it has one, else `install.toml [host]
    /// config`.
    pub(crate) fn host_config_in(&self, dir: &Path) -> Option<PathBuf> {
        let own = dir.join(crate::generation::HOST_CONFIG_FILE);
        if own.is_file() {
            return Some(own);
        }
        self.config.host.config.as_ref().map(|p| self.dir.join(p))
    }

    /// The folder of the keys whose signed packs this root accepts.
    pub fn trusted_keys_dir(&self) -> PathBuf {
        self.dir.join("keys").join("trusted")
    }

    /// The keys whose signed packs this root accepts: (key id, key).
    pub fn trusted_keys(&self) -> Result<Vec<(String, tough::schema::key::Key)>, InstallError> {
        let dir = self.trusted_keys_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(InstallError::Io { path: dir, source }),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(io(&dir))?.path();
            if path.extension().and_then(|e| e.to_str()) == Some("pub") {
                let key = sharelife_registry::keys::read_public(&path)?;
                out.push((sharelife_registry::keys::key_id(&key), key));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Accepts packs signed by the public key at `path` from now on:
    /// copies it to `keys/trusted/KEYID.pub` (durably) and records it.
    /// Returns its key id.
    pub fn trust_key(&self, path: &Path) -> Result<String, InstallError> {
        let key = sharelife_registry::keys::read_public(path)?;
        let id = sharelife_registry::keys::key_id(&key);
        let bytes = fs::read(path).map_err(io(path))?;
        let dir = self.trusted_keys_dir();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let dest = dir.join(format!("{id}.pub"));
        let tmp = dir.join(format!(".{id}.pub.tmp"));
        write_synced(&tmp, &bytes)?;
        fs::rename(&tmp, &dest).map_err(io(&dest))?;
        sync_dir(&dir)?;
        self.record(
            "trust",
            INSTALL_ACTOR,
            "",
            format!("packs signed by key {id} ({}) are accepted", path.display()),
            Outcome::Allow,
        )?;
        self.flush_audit()?;
        Ok(id)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings.
    pub fn config(&self) -> &InstallConfig {
        &self.config
    }

    /// The registry client state kept in the same directory.
    pub fn home(&self) -> sharelife_registry::Home {
        sharelife_registry::Home::new(&self.dir)
    }

    /// The folder a host's `plugin_paths` points at:
    /// `<root>/current/plugins`.
    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.join("current").join("plugins")
    }

    /// The audit log's path.
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    /// The directory of generation `n`.
    pub fn generation_dir(&self, n: u64) -> PathBuf {
        self.dir.join("generations").join(n.to_string())
    }

    /// The number of the current generation, if any.
    pub fn current_number(&self) -> Result<Option<u64>, InstallError> {
        let link = self.dir.join("current");
        match fs::read_link(&link) {
            Ok(target) => {
                let n = target
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.parse::<u64>().ok())
                    .ok_or_else(|| InstallError::Mismatch {
                        path: link.clone(),
                        reason: format!("points at {}, not generations/N", target.display()),
                    })?;
                Ok(Some(n))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(InstallError::Io { path: link, source }),
        }
    }

    /// The current generation's manifest, if any.
    pub fn current(&self) -> Result<Option<GenerationManifest>, InstallError> {
        match self.current_number()? {
            Some(n) => Ok(Some(self.generation(n)?)),
            None => Ok(None),
        }
    }

    /// A generation's manifest.
    pub fn generation(&self, n: u64) -> Result<GenerationManifest, InstallError> {
        let dir = self.generation_dir(n);
        if !dir.join(crate::generation::GENERATION_FILE).is_file() {
            return Err(InstallError::UnknownGeneration(n));
        }
        GenerationManifest::read(&dir)
    }

    /// Every generation, oldest first.
    pub fn generations(&self) -> Result<Vec<GenerationInfo>, InstallError> {
        let current = self.current_number()?;
        let mut out = Vec::new();
        for n in self.numbers()? {
            let g = self.generation(n)?;
            out.push(GenerationInfo {
                number: g.number,
                parent: g.parent,
                created: g.created.clone(),
                operation: g.operation.clone(),
                plan_digest: g.plan_digest.clone(),
                approvers: g.approvers.clone(),
                plugins: g
                    .plugins
                    .iter()
                    .map(|p| format!("{} {}", p.id, p.version))
                    .collect(),
                current: current == Some(n),
            });
        }
        Ok(out)
    }

    /// The numbers of the complete generations, oldest first.
    pub fn numbers(&self) -> Result<Vec<u64>, InstallError> {
        let dir = self.dir.join("generations");
        let mut numbers: Vec<u64> = fs::read_dir(&dir)
            .map_err(io(&dir))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .filter(|n| {
                self.generation_dir(*n)
                    .join(crate::generation::GENERATION_FILE)
                    .is_file()
            })
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    pub(crate) fn next_number(&self) -> Result<u64, InstallError> {
        let dir = self.dir.join("generations");
        let max = fs::read_dir(&dir)
            .map_err(io(&dir))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()))
            .max()
            .unwrap_or(0);
        Ok(max + 1)
    }

    /// A fresh staging directory for generation `n`.
    pub(crate) fn staging(&self, n: u64) -> Result<tempfile::TempDir, InstallError> {
        let staging = self.dir.join("staging");
        fs::create_dir_all(&staging).map_err(io(&staging))?;
        tempfile::Builder::new()
            .prefix(&format!("{n}-"))
            .tempdir_in(&staging)
            .map_err(io(&staging))
    }

    /// Moves a complete staged generation into `generations/N` (one
    /// rename) and fsyncs the directory.
    pub(crate) fn commit_generation(
        &self,
        staged: tempfile::TempDir,
        n: u64,
    ) -> Result<(), InstallError> {
        let dest = self.generation_dir(n);
        let staged = staged.keep();
        fs::rename(&staged, &dest).map_err(io(&dest))?;
        // The destination's directory makes the rename durable; the
        // staging directory losing the entry needs no fsync (recovery
        // cleans whatever a crash leaves there).
        sync_dir(&self.dir.join("generations"))
    }

    /// Makes generation `n` current: a new symlink under a temporary name,
    /// renamed over `current`, then the directory fsynced.
    pub(crate) fn flip(&self, n: u64) -> Result<(), InstallError> {
        let tmp = self.dir.join(format!("current.tmp-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        symlink(Path::new("generations").join(n.to_string()), &tmp)?;
        crate::failpoint::hit("symlink_created");
        let current = self.dir.join("current");
        fs::rename(&tmp, &current).map_err(io(&current))?;
        sync_dir(&self.dir)
    }

    /// Makes every record so far durable (one fsync).
    pub(crate) fn flush_audit(&self) -> Result<(), InstallError> {
        if let Some(audit) = &self.audit {
            audit.flush()?;
        }
        Ok(())
    }

    /// Records an operation in the install root's audit log: queued, and
    /// durable at the operation's [`flush_audit`](Self::flush_audit). A
    /// record the log cannot take fails the operation (fail closed).
    pub(crate) fn record(
        &self,
        action: &str,
        plugin: &str,
        version: &str,
        detail: String,
        outcome: Outcome,
    ) -> Result<(), InstallError> {
        let audit = self.audit.as_ref().ok_or(InstallError::ReadOnly)?;
        audit.try_record(AuditEvent {
            at: SystemTime::now(),
            plugin: plugin.into(),
            version: version.into(),
            what: What::Operation {
                action: action.to_owned(),
                detail,
                outcome,
            },
        })?;
        Ok(())
    }

    /// Removes generations beyond the `keep` newest, never the current one
    /// or its parent.
    pub(crate) fn collect_garbage(&self) -> Result<Vec<u64>, InstallError> {
        let keep = self.config.apply.keep.max(2);
        let numbers = self.numbers()?;
        let current = self.current_number()?;
        let parent = match current {
            Some(n) => self.generation(n)?.parent,
            None => None,
        };
        let mut removed = Vec::new();
        if numbers.len() <= keep {
            return Ok(removed);
        }
        let excess = numbers.len() - keep;
        for n in numbers.into_iter().take(excess) {
            if Some(n) == current || Some(n) == parent {
                continue;
            }
            let dir = self.generation_dir(n);
            // Renamed out of `generations/` first, so a crash never leaves
            // a half-deleted generation listed.
            let trash = self.dir.join("staging").join(format!("gc-{n}"));
            fs::create_dir_all(self.dir.join("staging")).map_err(io(&self.dir))?;
            fs::rename(&dir, &trash).map_err(io(&dir))?;
            fs::remove_dir_all(&trash).map_err(io(&trash))?;
            removed.push(n);
        }
        sync_dir(&self.dir.join("generations"))?;
        Ok(removed)
    }
}

/// Cleans what a killed install left behind: staging directories and a
/// temporary symlink. `current` itself is always a complete generation
/// (it only ever changes by one rename of a symlink to a committed one).
fn recover(dir: &Path) -> Result<(), InstallError> {
    let staging = dir.join("staging");
    if staging.exists() {
        for entry in fs::read_dir(&staging).map_err(io(&staging))? {
            let entry = entry.map_err(io(&staging))?;
            let path = entry.path();
            if path.is_dir() {
                fs::remove_dir_all(&path).map_err(io(&path))?;
            } else {
                fs::remove_file(&path).map_err(io(&path))?;
            }
        }
    }
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("current.tmp-")
        {
            fs::remove_file(entry.path()).map_err(io(entry.path()))?;
        }
    }
    Ok(())
}

fn symlink(target: PathBuf, link: &Path) -> Result<(), InstallError> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&target, link).map_err(io(link))
    }
    #[cfg(not(unix))]
    {
        let _ = target;
        Err(InstallError::Io {
            path: link.to_owned(),
            source: std::io::Error::other("generations need symlinks (unix)"),
        })
    }
}

/// Fsyncs a directory so a rename or create in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), InstallError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// Writes `bytes` to a new file at `path` and fsyncs it (inside staging,
/// where nothing reads until the directory is committed).
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), InstallError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut f = File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}
