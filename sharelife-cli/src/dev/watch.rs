//! Noticing that the crate changed: file events are hints, the content of
//! the crate's sources is the judge.
//!
//! File events alone cannot say "the code changed". On Linux the watcher
//! also reports *access* (cargo opening `Cargo.toml` on every build, an
//! editor or indexer reading a file), metadata changes (`touch`, `chmod`),
//! and writes that leave the content as it was (cargo rewriting
//! `Cargo.lock`, an editor saving an unchanged buffer). Treating each as a
//! change made `dev` rebuild in a loop: the build's own reads and writes
//! set off the next build.
//!
//! So it goes in two steps:
//!
//! 1. [`Watch`] turns the watcher's events into *hints*: only creates,
//!    removes, renames and content modifications (never `Access`, never
//!    `Modify(Metadata)`) of files that are the crate's [`Sources`] (its
//!    manifests, `build.rs`, `src/` and the like, never `target/`). Hints
//!    are debounced: a burst of them (an editor's save) is one.
//! 2. After the burst, a [`Fingerprint`] (a hash of the content of every
//!    source file) is compared with the one of the last build. Only files
//!    whose content differs are a change; no difference, no build. An
//!    event that slipped through step 1 costs a rescan, never a build.
//!
//! A build changes sources itself (cargo writes `Cargo.lock`: pruned,
//! resolved, created) while the person developing may also save. The
//! sources are fingerprinted before and after each build, and
//! [`Fingerprint::after_build`] decides what the build has seen: a lock
//! file that changed meanwhile is cargo's doing (its new content is taken
//! as built); any other file that changed meanwhile keeps its content
//! from before the build, so it still counts as a change, and the next
//! build picks it up.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use notify::event::ModifyKind;
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Top-level directories of a crate that `cargo build --lib` does not
/// read: its build output and its other targets.
const NOT_SOURCES: [&str; 4] = ["target", "tests", "benches", "examples"];

/// A file modified this recently may change again within the same mtime
/// tick (coarse on some file systems), so its hash is not cached: the
/// next fingerprint reads it again ("racily clean" files, as git says).
const RACY: Duration = Duration::from_secs(2);

/// The files of a crate that its library build reads: everything under
/// the crate's root except the target directory (and any other: one that
/// holds a `CACHEDIR.TAG`), top-level `tests/`, `benches/` and
/// `examples/`, hidden files and directories other than `.cargo/` (`.git`,
/// editor settings), and editor swap and backup files; plus, for a member
/// of a workspace, the workspace's `Cargo.toml` and `Cargo.lock`.
#[derive(Debug, Clone)]
pub(super) struct Sources {
    root: PathBuf,
    target_dir: PathBuf,
    /// Files outside `root` that count: the workspace's manifest and lock.
    workspace: Vec<PathBuf>,
}

impl Sources {
    pub(super) fn new(root: &Path, target_dir: &Path, workspace_root: &Path) -> Self {
        let workspace = if workspace_root == root {
            Vec::new()
        } else {
            vec![
                workspace_root.join("Cargo.toml"),
                workspace_root.join("Cargo.lock"),
            ]
        };
        Sources {
            root: root.to_owned(),
            target_dir: target_dir.to_owned(),
            workspace,
        }
    }

    /// Whether `path` is (or, for a directory, may hold) a source file.
    /// By its path only: [`Scanner`] also skips target directories named
    /// otherwise, which it recognizes by their `CACHEDIR.TAG`.
    pub(super) fn contains(&self, path: &Path) -> bool {
        if self.workspace.iter().any(|w| w == path) {
            return true;
        }
        if path.starts_with(&self.target_dir) {
            return false;
        }
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return false;
        };
        let names: Vec<&OsStr> = relative
            .components()
            .filter_map(|c| match c {
                Component::Normal(name) => Some(name),
                _ => None,
            })
            .collect();
        let Some((&first, _)) = names.split_first() else {
            return false;
        };
        if NOT_SOURCES.iter().any(|n| first == *n) {
            return false;
        }
        let hidden = |name: &&OsStr| name.to_str().is_some_and(|n| n.starts_with('.'));
        if names.iter().any(|n| hidden(n) && *n != ".cargo") {
            return false;
        }
        !names.last().is_some_and(|n| is_editor_noise(n))
    }

    /// The directories to watch: the root itself, without its
    /// subdirectories (so not `target/`), and each source directory at
    /// its top, with theirs; the workspace root (without its
    /// subdirectories) for a workspace member.
    fn watched(&self) -> Vec<(PathBuf, RecursiveMode)> {
        let mut dirs = vec![(self.root.clone(), RecursiveMode::NonRecursive)];
        if let Some(workspace) = self.workspace.first().and_then(|m| m.parent()) {
            dirs.push((workspace.to_owned(), RecursiveMode::NonRecursive));
        }
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir())
                    && self.contains(&path)
                    && !is_target_dir(&path)
                {
                    dirs.push((path, RecursiveMode::Recursive));
                }
            }
        }
        dirs
    }
}

/// Editor swap, backup and probe files are not changes to the crate.
fn is_editor_noise(name: &OsStr) -> bool {
    let name = name.to_str().unwrap_or("");
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.starts_with(".#")
        // Vim creates and deletes it to test that a directory is writable.
        || name == "4913"
}

/// A directory cargo builds into (cargo tags each target directory).
fn is_target_dir(dir: &Path) -> bool {
    dir.join("CACHEDIR.TAG").is_file()
}

/// Whether an event of this kind may have changed a file's content:
/// creates, removes, renames, writes, and whatever the platform could not
/// classify; not reads, opens and closes, nor metadata changes.
fn may_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Create(_)
        | EventKind::Remove(_)
        | EventKind::Modify(_)
        | EventKind::Any
        | EventKind::Other => true,
    }
}

/// The file watcher, and the hints it sends.
pub(super) struct Watch {
    watcher: RecommendedWatcher,
    sources: Sources,
    /// The directories watched now.
    watching: BTreeSet<PathBuf>,
    hints: mpsc::UnboundedReceiver<()>,
}

impl Watch {
    /// Starts watching `sources`.
    pub(super) fn start(sources: &Sources) -> Result<Watch, String> {
        let (tx, hints) = mpsc::unbounded_channel();
        let filter = sources.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            // An error is no hint: the next event is.
            let Ok(event) = event else { return };
            let hint = event.need_rescan()
                || (may_change_content(&event.kind)
                    && event.paths.iter().any(|p| filter.contains(p)));
            if hint {
                let _ = tx.send(());
            }
        })
        .map_err(|e| format!("cannot watch files: {e}"))?;
        let mut watch = Watch {
            watcher,
            sources: sources.clone(),
            watching: BTreeSet::new(),
            hints,
        };
        watch.refresh()?;
        Ok(watch)
    }

    /// Watches the source directories made since the last call (a new
    /// top-level directory), forgets those removed.
    fn refresh(&mut self) -> Result<(), String> {
        let now = self.sources.watched();
        let gone: Vec<PathBuf> = self
            .watching
            .iter()
            .filter(|w| !now.iter().any(|(d, _)| d == *w))
            .cloned()
            .collect();
        for dir in gone {
            let _ = self.watcher.unwatch(&dir);
            self.watching.remove(&dir);
        }
        for (dir, mode) in now {
            if !self.watching.contains(&dir) {
                self.watcher
                    .watch(&dir, mode)
                    .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
                self.watching.insert(dir);
            }
        }
        Ok(())
    }

    /// Waits for a hint that a source may have changed.
    pub(super) async fn hint(&mut self) -> Option<()> {
        self.hints.recv().await
    }

    /// Waits until no hint has come for `quiet` (the burst of events of
    /// one save is one change), then watches any new source directory.
    pub(super) async fn settle(&mut self, quiet: Duration) {
        while let Ok(Some(())) = tokio::time::timeout(quiet, self.hints.recv()).await {}
        if let Err(why) = self.refresh() {
            tracing::warn!("{why}");
        }
    }
}

/// What the source files held at one moment: a hash of each one's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Fingerprint(BTreeMap<PathBuf, u64>);

impl Fingerprint {
    /// The files added, removed or changed from `self` to `now`.
    pub(super) fn changes(&self, now: &Fingerprint) -> Vec<PathBuf> {
        let mut changed: Vec<PathBuf> = now
            .0
            .iter()
            .filter(|(path, hash)| self.0.get(*path) != Some(hash))
            .map(|(path, _)| path.clone())
            .collect();
        changed.extend(
            self.0
                .keys()
                .filter(|path| !now.0.contains_key(*path))
                .cloned(),
        );
        changed.sort();
        changed
    }

    /// The sources as a build saw them, from their fingerprints `before`
    /// and `after` it: `after`, except that a file other than a
    /// `Cargo.lock` that changed during the build keeps its `before`
    /// state. A lock file is cargo's to write as it builds; any other
    /// change meanwhile was someone's edit, which the build may have
    /// missed: it stays a change, for the next build.
    pub(super) fn after_build(before: &Fingerprint, after: Fingerprint) -> Fingerprint {
        let mut seen = after;
        for path in before.changes(&seen) {
            if path.file_name() == Some(OsStr::new("Cargo.lock")) {
                continue;
            }
            match before.0.get(&path) {
                Some(hash) => seen.0.insert(path, *hash),
                None => seen.0.remove(&path),
            };
        }
        seen
    }
}

/// Fingerprints the sources, reading only what may have changed since
/// the last time.
pub(super) struct Scanner {
    sources: Sources,
    /// Per file: its length and mtime when it was hashed, and the hash.
    cache: HashMap<PathBuf, (u64, SystemTime, u64)>,
}

impl Scanner {
    pub(super) fn new(sources: Sources) -> Self {
        Scanner {
            sources,
            cache: HashMap::new(),
        }
    }

    /// The sources' fingerprint now. A file whose length and mtime are as
    /// when it was last hashed (and which was not racily new then) is not
    /// read again.
    pub(super) fn fingerprint(&mut self) -> Fingerprint {
        let mut files = Vec::new();
        walk(&self.sources.root, &self.sources, &mut files);
        files.extend(
            self.sources
                .workspace
                .iter()
                .filter(|p| p.is_file())
                .cloned(),
        );
        let mut hashes = BTreeMap::new();
        for path in files {
            if let Some(hash) = self.hash(&path) {
                hashes.insert(path, hash);
            }
        }
        self.cache.retain(|path, _| hashes.contains_key(path));
        Fingerprint(hashes)
    }

    fn hash(&mut self, path: &Path) -> Option<u64> {
        let metadata = std::fs::metadata(path).ok()?;
        let modified = metadata.modified().ok();
        if let (Some(modified), Some(&(len, stamp, hash))) = (modified, self.cache.get(path))
            && len == metadata.len()
            && stamp == modified
        {
            return Some(hash);
        }
        let read_at = SystemTime::now();
        // Gone meanwhile: not a source any more.
        let content = std::fs::read(path).ok()?;
        let mut hasher = DefaultHasher::new();
        hasher.write(&content);
        let hash = hasher.finish();
        match modified {
            Some(modified) if read_at.duration_since(modified).is_ok_and(|age| age > RACY) => {
                self.cache
                    .insert(path.to_owned(), (metadata.len(), modified, hash));
            }
            _ => {
                self.cache.remove(path);
            }
        }
        Some(hash)
    }
}

/// Collects the source files under `dir` (not following links to
/// directories, which could loop).
fn walk(dir: &Path, sources: &Sources, files: &mut Vec<PathBuf>) {
    if dir != sources.root && is_target_dir(dir) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !sources.contains(&path) {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(&path, sources, files);
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            files.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Sources {
        Sources::new(
            Path::new("/w/plugin"),
            Path::new("/w/plugin/target"),
            Path::new("/w/plugin"),
        )
    }

    #[test]
    fn sources_are_the_manifests_and_the_code_not_the_build_output() {
        let s = sources();
        for yes in [
            "/w/plugin/Cargo.toml",
            "/w/plugin/Cargo.lock",
            "/w/plugin/build.rs",
            "/w/plugin/src/lib.rs",
            "/w/plugin/src/target/mod.rs",
            "/w/plugin/.cargo/config.toml",
            "/w/plugin/README.md",
        ] {
            assert!(s.contains(Path::new(yes)), "{yes}");
        }
        for no in [
            "/w/plugin",
            "/w/plugin/target/debug/libplugin.so",
            "/w/plugin/tests/it.rs",
            "/w/plugin/.git/index",
            "/w/plugin/src/.lib.rs.swp",
            "/w/plugin/src/lib.rs~",
            "/w/plugin/src/4913",
            "/w/Cargo.toml",
        ] {
            assert!(!s.contains(Path::new(no)), "{no}");
        }
        let member = Sources::new(
            Path::new("/w/plugin"),
            Path::new("/w/target"),
            Path::new("/w"),
        );
        assert!(member.contains(Path::new("/w/Cargo.lock")));
        assert!(!member.contains(Path::new("/w/other/src/lib.rs")));
    }

    #[test]
    fn reads_and_metadata_changes_are_no_hint() {
        use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, MetadataKind};
        assert!(!may_change_content(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!may_change_content(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(!may_change_content(&EventKind::Modify(
            ModifyKind::Metadata(MetadataKind::WriteTime)
        )));
        assert!(may_change_content(&EventKind::Modify(ModifyKind::Data(
            DataChange::Any
        ))));
        assert!(may_change_content(&EventKind::Create(CreateKind::File)));
    }

    fn print(files: &[(&str, u64)]) -> Fingerprint {
        Fingerprint(files.iter().map(|(p, h)| (PathBuf::from(p), *h)).collect())
    }

    #[test]
    fn a_lock_file_the_build_wrote_is_no_change_an_edit_meanwhile_is() {
        let before = print(&[("/c/Cargo.lock", 1), ("/c/src/lib.rs", 2)]);
        let after = print(&[
            ("/c/Cargo.lock", 3),
            ("/c/src/lib.rs", 4),
            ("/c/src/new.rs", 5),
        ]);
        let seen = Fingerprint::after_build(&before, after.clone());
        assert_eq!(
            seen,
            print(&[("/c/Cargo.lock", 3), ("/c/src/lib.rs", 2)]),
            "the build's lock file is taken, the edits are not"
        );
        assert_eq!(
            seen.changes(&after),
            [
                PathBuf::from("/c/src/lib.rs"),
                PathBuf::from("/c/src/new.rs")
            ]
        );
        let quiet = Fingerprint::after_build(&before, before.clone());
        assert!(quiet.changes(&before).is_empty());
    }

    #[test]
    fn a_touched_file_is_no_change_an_edit_of_the_same_length_is() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("target/debug")).unwrap();
        std::fs::write(root.join("Cargo.toml"), "[package]").unwrap();
        std::fs::write(root.join("src/lib.rs"), "hello").unwrap();
        std::fs::write(root.join("target/debug/out"), "x").unwrap();
        let mut scanner = Scanner::new(Sources::new(&root, &root.join("target"), &root));
        let first = scanner.fingerprint();
        assert_eq!(first.0.len(), 2, "{first:?}");

        std::fs::write(root.join("target/debug/out"), "y").unwrap();
        std::fs::write(root.join("Cargo.toml"), "[package]").unwrap();
        assert!(first.changes(&scanner.fingerprint()).is_empty());

        std::fs::write(root.join("src/lib.rs"), "howdy").unwrap();
        assert_eq!(
            first.changes(&scanner.fingerprint()),
            [root.join("src/lib.rs")]
        );
    }
}
