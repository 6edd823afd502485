//! The [`GenerationSync`] part: a running host made to match what its
//! plugin folders hold now.
//!
//! An install tool flips a symlink (`~/.sharelife/current ->
//! generations/N`) and the host's plugin folder is
//! `~/.sharelife/current/plugins`. After the flip,
//! [`Host::sync_generation`](super::Host::sync_generation) discovers the
//! folders again (manifests read, no plugin code run), resolves them with
//! the host's resolver, and then, in dependency order:
//!
//! - a plugin whose chosen library is another file than the one it runs
//!   (another version, or the same version with other bytes) is swapped in
//!   through the hot reload ([`Reload`]): prepared beside the old version,
//!   swapped under live handles, calls in flight finishing on the old one;
//!   a failed swap leaves the old version serving and is reported;
//! - a plugin new in the folders is loaded and started;
//! - a plugin the folders no longer hold is stopped and unloaded through
//!   the [`Lifecycle`] (dependents first);
//! - anything else is left alone.
//!
//! Files are compared by what they are, never by the path string: the
//! folders are resolved through their symlinks once, at the start of a
//! sync (so one sync reads one generation, even if the link flips again
//! meanwhile), every library is loaded from its real path (so `dlopen`
//! sees a new generation's file as a new library, not the one it has open
//! under the same link), and a loaded version remembers the real file it
//! came from ([`LibraryFile`]). Two files are the same plugin build when
//! they are the same file (device, inode, size, modification time) or
//! when their SHA-256 digests are equal.
//!
//! Only plugins that came from the plugin folders are reconciled: those
//! loaded from a folder as configured (by boot) or from a folder a sync
//! resolved it to. Plugins added in code, linked statically or loaded by
//! hand from elsewhere are left alone (the folders' libraries with their
//! ids are passed over, as at boot).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::builder::Options;
use super::cascade::Lifecycle;
use super::discovery::{Skipped, discover};
use super::registry::Registry;
use super::resolver::{PassedOver, ResolveError, ResolveInput, join_errors, resolve};
use super::slot::Slot;
use super::swap::Reload;
use super::{HostError, SwapReport, UnloadReport, loading::Loader};
use crate::loader::{LoadError, PluginFile, ReadAs, is_mapped};
use crate::manifest::PluginId;

/// Why [`Host::sync_generation`](super::Host::sync_generation) did not
/// bring one plugin in line with the folders: a typed cause to `match`
/// on; its text names plugins, versions and files.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Resolution refused the folders' libraries of this plugin (not
    /// found, incompatible, a dependency missing or out of range, a
    /// cycle). Every reason. A loaded version stays as it was.
    #[error("{}", join_errors(.0))]
    Unresolved(Vec<ResolveError>),
    /// The hot reload to the new library failed; the old version keeps
    /// serving. A [`HostError::ReloadFailed`] naming the version kept and
    /// wrapping why (a hook, a dependent the new version would break, …).
    #[error(transparent)]
    NotSwapped(HostError),
    /// The new plugin could not be loaded: its library, its config, its
    /// dependencies, `initialize`, or the file is already open in this
    /// process ([`HostError::AlreadyOpen`]).
    #[error("not loaded: {0}")]
    NotLoaded(HostError),
    /// The new plugin was loaded but did not start; it stays listed, in
    /// `Error` or `Inactive` with the reason.
    #[error("not started: {0}")]
    NotStarted(HostError),
    /// A dependency of the new plugin could not be loaded, so it was not
    /// loaded either.
    #[error("not loaded: its dependency {dependency} could not be loaded")]
    DependencyNotLoaded {
        /// The dependency.
        dependency: PluginId,
    },
    /// The plugin the folders no longer hold could not be unloaded (its
    /// dependents refuse it, or it is mid-way through another move); it
    /// stays loaded.
    #[error("not unloaded: {0}")]
    NotUnloaded(HostError),
}

/// A plugin [`Host::sync_generation`](super::Host::sync_generation) could
/// not bring in line with the folders.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyncFailure {
    /// The plugin.
    pub id: PluginId,
    /// The version still serving, if one is loaded.
    pub kept: Option<semver::Version>,
    /// The library the folders offered, if one was chosen.
    pub library: Option<PathBuf>,
    /// Why.
    pub error: SyncError,
}

impl fmt::Display for SyncFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)?;
        if let Some(kept) = &self.kept {
            write!(f, " (keeps {kept})")?;
        }
        write!(f, ": {}", self.error)
    }
}

/// A plugin the sync loaded and started.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Added {
    /// The plugin.
    pub id: PluginId,
    /// Its version.
    pub version: semver::Version,
    /// Its library (the real path).
    pub library: PathBuf,
}

/// What [`Host::sync_generation`](super::Host::sync_generation) did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SyncReport {
    /// The plugin folders as this sync read them: each configured folder
    /// with its symlinks resolved (`…/generations/N/plugins`).
    pub folders: Vec<PathBuf>,
    /// Plugins whose library changed, hot-reloaded, in the order swapped.
    pub swapped: Vec<SwapReport>,
    /// Plugins new in the folders, loaded and started, in start order.
    pub added: Vec<Added>,
    /// Plugins the folders no longer hold, stopped and unloaded, in the
    /// order unloaded (dependents first).
    pub removed: Vec<UnloadReport>,
    /// Plugins whose library is the same build as the one they run: left
    /// alone.
    pub unchanged: Vec<PluginId>,
    /// Plugins not brought in line, with the reason; a loaded version
    /// stays as it was ([`SyncFailure::kept`]).
    pub failed: Vec<SyncFailure>,
    /// Files and folders discovery passed by, with the reason.
    pub skipped: Vec<Skipped>,
    /// Libraries not chosen, with the reason (libraries of plugins this
    /// host did not load from its folders among them).
    pub passed_over: Vec<PassedOver>,
    /// Plugins found but disabled.
    pub disabled: Vec<PluginId>,
}

impl SyncReport {
    /// Whether every plugin the folders hold now is what the host runs.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }

    /// Whether the sync changed anything.
    pub fn changed(&self) -> bool {
        !(self.swapped.is_empty() && self.added.is_empty() && self.removed.is_empty())
    }
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let folders: Vec<String> = self
            .folders
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        writeln!(
            f,
            "synced with {}: {} swapped, {} added, {} removed, {} unchanged, {} failed",
            folders.join(", "),
            self.swapped.len(),
            self.added.len(),
            self.removed.len(),
            self.unchanged.len(),
            self.failed.len()
        )?;
        for s in &self.swapped {
            writeln!(
                f,
                "swapped {} {} -> {} ({})",
                s.id,
                s.old_version,
                s.new_version,
                s.library.display()
            )?;
        }
        for a in &self.added {
            writeln!(f, "added {} {} ({})", a.id, a.version, a.library.display())?;
        }
        for r in &self.removed {
            writeln!(f, "removed {}", r.id)?;
        }
        for s in &self.skipped {
            writeln!(f, "skipped {}: {}", s.path.display(), s.reason)?;
        }
        for failure in &self.failed {
            writeln!(f, "failed {failure}")?;
        }
        Ok(())
    }
}

/// A library file as it is on disk: its real path (symlinks resolved) and
/// what tells one file from another without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LibraryFile {
    /// The real path.
    pub(crate) path: PathBuf,
    key: FileKey,
}

/// What tells one file from another without reading it: the same key is
/// the same file, unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileKey {
    /// Device and inode where the platform has them, else the real path.
    place: (u64, u64, Option<PathBuf>),
    len: u64,
    modified: Option<SystemTime>,
}

impl LibraryFile {
    /// The file at `path`, through its symlinks, as it is now.
    pub(crate) fn of(path: &Path) -> std::io::Result<LibraryFile> {
        Self::read_as(path, None)
    }

    /// The file at `path` as it was read: `read_as`, what the read saw
    /// through its own descriptor ([`PluginFile::read_as`](crate::loader::PluginFile)),
    /// gives its identity and, when the read proved the path symlink-free,
    /// its real path; what it does not give is taken now (a `stat`, a
    /// `realpath`).
    ///
    /// Keyed by what was read, a file replaced at the path after the read
    /// is another file to the next sync, which loads it. A `stat` of the
    /// path after the load would take a file replaced while the host opened
    /// the old one for what runs, and the sync would never load it.
    pub(crate) fn read_as(path: &Path, read_as: Option<&ReadAs>) -> std::io::Result<LibraryFile> {
        let real = match read_as.and_then(|r| r.real_path.as_ref()) {
            Some(real) => real.clone(),
            None => std::fs::canonicalize(path)?,
        };
        let meta = match read_as {
            Some(r) => &r.metadata,
            None => &std::fs::metadata(&real)?,
        };
        Ok(Self::at(real, meta))
    }

    /// [`read_as`](Self::read_as) for a file whose folder's real path is
    /// `real_folder` (known already): one `lstat` instead of a `realpath`
    /// walk, when the file itself is no symlink; none when the read proved
    /// the path real.
    pub(crate) fn in_folder(
        path: &Path,
        real_folder: &Path,
        read_as: Option<&ReadAs>,
    ) -> std::io::Result<LibraryFile> {
        if let Some(ReadAs {
            metadata,
            real_path: Some(real),
        }) = read_as
        {
            return Ok(Self::at(real.clone(), metadata));
        }
        let Some(name) = path.file_name() else {
            return Self::read_as(path, read_as);
        };
        let real = real_folder.join(name);
        let meta = std::fs::symlink_metadata(&real)?;
        if meta.file_type().is_symlink() {
            return Self::read_as(path, read_as);
        }
        Ok(Self::at(real, read_as.map_or(&meta, |r| &r.metadata)))
    }

    /// The file at real path `real`, with its metadata.
    fn at(real: PathBuf, meta: &std::fs::Metadata) -> LibraryFile {
        #[cfg(unix)]
        let place = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino(), None)
        };
        #[cfg(not(unix))]
        let place = (0, 0, Some(real.clone()));
        LibraryFile {
            key: FileKey {
                place,
                len: meta.len(),
                modified: meta.modified().ok(),
            },
            path: real,
        }
    }
}

/// A loaded version of a plugin from the folders, as the sync compares it.
#[derive(Debug)]
struct Loaded {
    version: semver::Version,
    file: Option<LibraryFile>,
}

/// What the sync remembers between runs.
#[derive(Debug, Default)]
struct Memory {
    /// The real folders syncs have read: libraries loaded from them came
    /// from the plugin folders.
    folders: BTreeSet<PathBuf>,
    /// Digests of files computed before, by key: a loaded version's file
    /// may be gone (its generation removed) by the next sync.
    digests: HashMap<FileKey, [u8; 32]>,
}

/// Reconciles a running host with its plugin folders: discovery and the
/// resolver as at boot, changed libraries through the hot [`Reload`],
/// new plugins through the [`Loader`] and the [`Lifecycle`]'s start,
/// removed ones through the [`Lifecycle`]'s unload.
#[derive(Debug)]
pub(crate) struct GenerationSync {
    pub(super) options: Arc<Options>,
    pub(super) registry: Arc<Registry>,
    pub(super) loader: Arc<Loader>,
    pub(super) lifecycle: Arc<Lifecycle>,
    pub(super) reload: Arc<Reload>,
    /// One sync at a time; what it remembers.
    memory: tokio::sync::Mutex<Memory>,
}

impl GenerationSync {
    pub(crate) fn new(
        options: Arc<Options>,
        registry: Arc<Registry>,
        loader: Arc<Loader>,
        lifecycle: Arc<Lifecycle>,
        reload: Arc<Reload>,
    ) -> Self {
        GenerationSync {
            options,
            registry,
            loader,
            lifecycle,
            reload,
            memory: tokio::sync::Mutex::default(),
        }
    }

    /// [`Host::sync_generation`](super::Host::sync_generation).
    pub(crate) async fn sync(&self) -> Result<SyncReport, HostError> {
        let mut memory = self.memory.lock().await;
        let mut report = SyncReport::default();

        // One generation: every folder resolved through its links now.
        for folder in &self.options.plugin_paths {
            let real = std::fs::canonicalize(folder).map_err(|source| LoadError::Io {
                path: folder.clone(),
                source: source.into(),
            })?;
            report.folders.push(real);
        }
        let mut discovery = discover(&report.folders);
        if let Some(i) = discovery
            .skipped
            .iter()
            .position(|s| report.folders.contains(&s.path))
        {
            // An unreadable folder is not an empty one: change nothing.
            return Err(discovery.skipped.swap_remove(i).reason.into());
        }
        memory.folders.extend(report.folders.iter().cloned());
        report.skipped = discovery.skipped;
        let found = real_files(discovery.found, &mut report.skipped);
        let in_folders: BTreeSet<PluginId> =
            found.iter().map(|f| f.manifest().id.clone()).collect();

        // Loaded plugins from the folders are resolved afresh; the others
        // count as present, as at boot. No version is held here: a swap
        // waits for every reference to the old one to be let go.
        let mut managed: BTreeMap<PluginId, Loaded> = BTreeMap::new();
        let mut present = BTreeMap::new();
        for slot in self.registry.slots() {
            let version = slot.manifest().version.clone();
            if self.came_from_folders(&slot, &memory.folders) {
                let file = slot.file().cloned();
                managed.insert(slot.id().clone(), Loaded { version, file });
            } else {
                present.insert(slot.id().clone(), version);
            }
        }
        let resolution = resolve(
            found,
            ResolveInput {
                settings: &self.options.plugins,
                auto_load: self.options.auto_load,
                present: &present,
            },
        );
        report.passed_over = resolution.passed_over;
        report.disabled = resolution.disabled;
        let mut unresolved = BTreeSet::new();
        for u in resolution.failed {
            let kept = managed.get(&u.id).map(|l| l.version.clone());
            unresolved.insert(u.id.clone());
            report.failed.push(SyncFailure {
                id: u.id,
                kept,
                library: u.path,
                error: SyncError::Unresolved(u.errors),
            });
        }

        // Up, in dependency order: swaps and additions.
        let chosen: BTreeSet<PluginId> = resolution
            .order
            .iter()
            .map(|c| c.file.manifest().id.clone())
            .collect();
        let mut not_loaded: BTreeSet<PluginId> = unresolved.clone();
        for c in resolution.order {
            let id = c.file.manifest().id.clone();
            let library = c.file.path().to_owned();
            match managed.get(&id) {
                Some(loaded) if same_build(loaded, &c.file, &mut memory) => {
                    report.unchanged.push(id);
                }
                Some(loaded) => match self.reload.reload(&id, &library).await {
                    Ok(swap) => report.swapped.push(swap),
                    Err(e) => {
                        tracing::warn!(plugin = %id, error = %e, "sync: the new version was not swapped in; the old one keeps serving");
                        report.failed.push(SyncFailure {
                            id,
                            kept: Some(loaded.version.clone()),
                            library: Some(library),
                            error: SyncError::NotSwapped(e),
                        });
                    }
                },
                None => {
                    let version = c.file.manifest().version.clone();
                    let blocked = c
                        .requires
                        .iter()
                        .find(|d| not_loaded.contains(&d.id))
                        .map(|d| d.id.clone());
                    let outcome = match blocked {
                        Some(dependency) => Err(SyncError::DependencyNotLoaded { dependency }),
                        None => self.add(c.file).await,
                    };
                    match outcome {
                        Ok(()) => report.added.push(Added {
                            id,
                            version,
                            library,
                        }),
                        Err(error) => {
                            if !matches!(error, SyncError::NotStarted(_)) {
                                not_loaded.insert(id.clone());
                            }
                            report.failed.push(SyncFailure {
                                id,
                                kept: None,
                                library: Some(library),
                                error,
                            });
                        }
                    }
                }
            }
        }

        // Down, dependents first: what the folders no longer hold (or
        // hold disabled). A plugin whose libraries are there but did not
        // resolve keeps running as it is.
        let gone: BTreeSet<&PluginId> = managed
            .keys()
            .filter(|id| {
                !chosen.contains(*id)
                    && (!in_folders.contains(*id) || report.disabled.contains(*id))
            })
            .collect();
        let mut order: Vec<PluginId> = self
            .registry
            .start_order()
            .into_iter()
            .map(|s| s.id().clone())
            .filter(|id| gone.contains(id))
            .collect();
        order.reverse();
        for id in order {
            let kept = managed.get(&id).map(|l| l.version.clone());
            match self.lifecycle.unload(&id).await {
                Ok(unloaded) => report.removed.push(unloaded),
                // Unloaded meanwhile by someone else: gone all the same.
                Err(HostError::NotFound(_)) => {}
                Err(e) => report.failed.push(SyncFailure {
                    id,
                    kept,
                    library: None,
                    error: SyncError::NotUnloaded(e),
                }),
            }
        }

        // Remember digests only of files loaded versions came from.
        let live: Vec<FileKey> = self
            .registry
            .slots()
            .iter()
            .filter_map(|s| s.file().map(|f| f.key.clone()))
            .collect();
        memory.digests.retain(|k, _| live.contains(k));
        for line in report.to_string().lines() {
            tracing::info!(target: "sharelife::sync", "{line}");
        }
        Ok(report)
    }

    /// Whether `slot`'s library came from the plugin folders: from a
    /// folder as configured (boot), or a real folder a sync read.
    fn came_from_folders(&self, slot: &Slot, folders: &BTreeSet<PathBuf>) -> bool {
        let Some(path) = slot.library_path() else {
            return false;
        };
        let in_folder = |p: &Path| {
            p.parent().is_some_and(|dir| {
                folders.contains(dir) || self.options.plugin_paths.iter().any(|f| f == dir)
            })
        };
        in_folder(path) || slot.file().is_some_and(|f| in_folder(&f.path))
    }

    /// Loads a plugin new in the folders and starts it (its dependencies,
    /// earlier in the order, are up already).
    async fn add(&self, file: PluginFile) -> Result<(), SyncError> {
        let path = file.path().to_owned();
        if is_mapped(&path) == Some(true) {
            return Err(SyncError::NotLoaded(HostError::AlreadyOpen { path }));
        }
        let (isolation, _) = super::isolation::decide(
            self.options.plugins.get(&file.manifest().id),
            &self.options.sandbox,
            &file,
        );
        let id = self
            .loader
            .load_file_with(file, isolation)
            .await
            .map_err(SyncError::NotLoaded)?;
        self.lifecycle
            .start(&id)
            .await
            .map_err(SyncError::NotStarted)
    }
}

/// Whether `file` is the build `loaded` runs: the same file, unchanged,
/// or the same version with the same digest.
fn same_build(loaded: &Loaded, file: &PluginFile, memory: &mut Memory) -> bool {
    let Some(old) = &loaded.file else {
        return false;
    };
    let Ok(new) = LibraryFile::read_as(file.path(), file.read_as()) else {
        return false;
    };
    if old.key == new.key {
        return true;
    }
    if loaded.version != file.manifest().version {
        return false;
    }
    let old_digest = match memory.digests.get(&old.key) {
        Some(d) => Some(*d),
        // Only the file as it was at load tells what runs.
        None => LibraryFile::of(&old.path)
            .ok()
            .filter(|now| now.key == old.key)
            .and_then(|_| digest(&old.path).ok()),
    };
    let Some(old_digest) = old_digest else {
        return false;
    };
    memory.digests.insert(old.key.clone(), old_digest);
    digest(&new.path).is_ok_and(|d| d == old_digest)
}

/// The files, each read from its real path (a library in the folder may
/// itself be a link).
fn real_files(found: Vec<PluginFile>, skipped: &mut Vec<Skipped>) -> Vec<PluginFile> {
    let mut files = Vec::with_capacity(found.len());
    for file in found {
        match std::fs::canonicalize(file.path()) {
            Ok(real) if real == file.path() => files.push(file),
            Ok(real) => match PluginFile::read(&real) {
                Ok(file) => files.push(file),
                Err(reason) => skipped.push(Skipped { path: real, reason }),
            },
            Err(source) => skipped.push(Skipped {
                path: file.path().to_owned(),
                reason: LoadError::Io {
                    path: file.path().to_owned(),
                    source: source.into(),
                },
            }),
        }
    }
    files
}

/// The SHA-256 of the file at `path`.
fn digest(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_known_through_its_links_and_a_copy_is_another_file() {
        let root = std::env::temp_dir().join(format!("sharelife-sync-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("g1")).unwrap();
        std::fs::write(root.join("g1/lib.so"), b"one").unwrap();
        std::fs::copy(root.join("g1/lib.so"), root.join("g1/copy.so")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("g1"), root.join("current")).unwrap();
        #[cfg(unix)]
        {
            let through = LibraryFile::of(&root.join("current/lib.so")).unwrap();
            let direct = LibraryFile::of(&root.join("g1/lib.so")).unwrap();
            assert_eq!(through, direct);
            assert_eq!(
                through.path,
                std::fs::canonicalize(root.join("g1/lib.so")).unwrap()
            );
        }
        #[cfg(unix)]
        {
            // Known through the folder's real path, by one `lstat`: the
            // same file as through `realpath`, for a file in a linked
            // folder and for a file that is itself a link.
            std::os::unix::fs::symlink(root.join("g1/lib.so"), root.join("g1/link.so")).unwrap();
            let real_folder = std::fs::canonicalize(root.join("current")).unwrap();
            for name in ["lib.so", "link.so"] {
                let path = root.join("current").join(name);
                assert_eq!(
                    LibraryFile::in_folder(&path, &real_folder, None).unwrap(),
                    LibraryFile::of(&path).unwrap(),
                    "{name}"
                );
            }
            assert!(
                LibraryFile::in_folder(&root.join("current/none.so"), &real_folder, None).is_err()
            );
        }
        let copy = LibraryFile::of(&root.join("g1/copy.so")).unwrap();
        let original = LibraryFile::of(&root.join("g1/lib.so")).unwrap();
        assert_ne!(copy.key, original.key);
        assert_eq!(digest(&copy.path).unwrap(), digest(&original.path).unwrap());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_loaded_file_is_known_as_it_was_read_not_as_its_path_names_it_after() {
        let root = std::env::temp_dir().join(format!("sharelife-sync-read-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let path = root.join("lib.so");
        std::fs::write(&path, b"one").unwrap();
        // What `PluginFile::read` keeps: the metadata of its descriptor
        // (and here no real path, so the key's path is resolved now).
        let read = ReadAs {
            metadata: std::fs::File::open(&path).unwrap().metadata().unwrap(),
            real_path: None,
        };
        // Then, while the host opens what it read, a build replaces the
        // file the way builds and installs do: written beside, renamed over.
        std::fs::write(root.join("lib.so.new"), b"two").unwrap();
        std::fs::rename(root.join("lib.so.new"), &path).unwrap();

        let loaded = LibraryFile::read_as(&path, Some(&read)).unwrap();
        let on_disk = LibraryFile::of(&path).unwrap();
        assert_eq!(loaded.path, on_disk.path);
        assert_ne!(
            loaded.key, on_disk.key,
            "the file on disk is not the one loaded: the next sync must load it"
        );
        // Known through the folder's real path, the same.
        let real_folder = std::fs::canonicalize(&root).unwrap();
        assert_eq!(
            LibraryFile::in_folder(&path, &real_folder, Some(&read)).unwrap(),
            loaded
        );
        // Without what the read saw, the path's file now.
        assert_eq!(LibraryFile::read_as(&path, None).unwrap(), on_disk);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_file_read_by_a_real_path_is_known_as_realpath_knows_it() {
        let root = std::env::temp_dir().join(format!("sharelife-sync-real-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("g1")).unwrap();
        std::fs::write(root.join("g1/lib.so"), b"one").unwrap();
        std::os::unix::fs::symlink("g1", root.join("current")).unwrap();
        let real = std::fs::canonicalize(&root).unwrap().join("g1/lib.so");
        let linked = root.join("current/lib.so");
        // Read by its real path and through a symlinked folder: keyed
        // alike, and alike to what `realpath` and a `stat` give for the
        // unchanged file (or every sync would reload it). Only the first
        // read proves its path real.
        for (path, proved) in [
            (real.clone(), cfg!(target_os = "linux")),
            (linked.clone(), false),
        ] {
            let (file, real_path) = crate::loader::open_for_read(&path).unwrap();
            assert_eq!(real_path.is_some(), proved, "{}", path.display());
            let read = ReadAs {
                metadata: file.metadata().unwrap(),
                real_path,
            };
            assert_eq!(
                LibraryFile::read_as(&path, Some(&read)).unwrap(),
                LibraryFile::of(&path).unwrap()
            );
            assert_eq!(LibraryFile::read_as(&path, Some(&read)).unwrap().path, real);
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
