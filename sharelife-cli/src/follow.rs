//! Following install generations: noticing that a host's plugin folders
//! now resolve to another generation, for `sharelife run --follow` and
//! `sharelife dev --config`.
//!
//! An install, upgrade, removal or rollback flips the install root's
//! `current` link (a new link renamed over the old one), and a host whose
//! plugin folder is `<root>/current/plugins` then reads another
//! generation. A [`Follower`] watches, for each plugin folder, the
//! directory that holds its nearest symlinked ancestor (where the link is
//! flipped; see [`watch_dir`]), or the folder itself when no ancestor is
//! a symlink. [`Follower::changed`] resolves once a burst of events has
//! settled and the folders resolve to other directories than before (for
//! folders reached through no symlink: once anything in them changed).
//! The caller then brings the host in line with
//! [`Host::sync_generation`](sharelife_core::Host::sync_generation) and
//! shows the report ([`sync_json`] for its JSON).

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use serde_json::{Value, json};
use sharelife_core::host::SyncReport;
use tokio::sync::mpsc;

/// How long a burst of events (a temporary link made, then renamed over
/// the old one) is given to settle before the folders are resolved.
const SETTLE: Duration = Duration::from_millis(50);

/// Why the plugin folders cannot be followed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FollowError {
    /// The file watcher could not be created.
    #[error("cannot watch the plugin folders: {0}")]
    Watcher(#[source] notify::Error),
    /// A directory could not be watched (it does not exist, or the
    /// system's watch limit is reached).
    #[error("cannot watch {}: {source}", .dir.display())]
    Watch {
        /// The directory.
        dir: PathBuf,
        /// Why not.
        #[source]
        source: notify::Error,
    },
    /// The watcher stopped delivering events.
    #[error("stopped watching the plugin folders")]
    Stopped,
}

/// A watch on a host's plugin folders that says when they resolve to
/// another generation.
pub(crate) struct Follower {
    /// Kept alive: dropping it ends the watch.
    _watcher: RecommendedWatcher,
    /// The watcher's events (their content does not matter: each is a
    /// reason to look again).
    events: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
    /// The plugin folders, as configured.
    folders: Vec<PathBuf>,
    /// The directories watched, each once.
    watched: Vec<PathBuf>,
    /// Whether some folder is reached through a symlink: then only a
    /// change of what the folders resolve to counts.
    linked: bool,
    /// What the folders resolved to at the last change (`None`: a folder
    /// that did not resolve).
    seen: Vec<Option<PathBuf>>,
    /// An event was taken that [`Follower::changed`] has not settled and
    /// compared yet (it was cancelled meanwhile): look at once next time.
    pending: bool,
}

impl Follower {
    /// Starts watching `folders`; what they resolve to now is the
    /// starting point.
    pub(crate) fn new(folders: &[PathBuf]) -> Result<Self, FollowError> {
        let (tx, events) = mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        })
        .map_err(FollowError::Watcher)?;
        let mut linked = false;
        let mut watched: Vec<PathBuf> = Vec::new();
        for folder in folders {
            let dir = watch_dir(folder);
            linked |= dir != *folder;
            if !watched.contains(&dir) {
                watcher
                    .watch(&dir, RecursiveMode::NonRecursive)
                    .map_err(|source| FollowError::Watch {
                        dir: dir.clone(),
                        source,
                    })?;
                watched.push(dir);
            }
        }
        let folders = folders.to_vec();
        let seen = resolve(&folders);
        Ok(Follower {
            _watcher: watcher,
            events,
            folders,
            watched,
            linked,
            seen,
            pending: false,
        })
    }

    /// The directories watched.
    pub(crate) fn watched(&self) -> &[PathBuf] {
        &self.watched
    }

    /// The directories watched, joined with `, ` for a message.
    pub(crate) fn watched_text(&self) -> String {
        self.watched
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Resolves when the folders resolve to other directories than at the
    /// last change (or, when none is reached through a symlink, when
    /// something in them changed), once the burst of events settled.
    ///
    /// Cancel-safe: a call dropped midway (in a `tokio::select!`) loses no
    /// flip; the next call picks it up.
    pub(crate) async fn changed(&mut self) -> Result<(), FollowError> {
        loop {
            if !self.pending {
                // What the event says does not matter (an error from the
                // watcher included): it is a reason to look again.
                if self.events.recv().await.is_none() {
                    return Err(FollowError::Stopped);
                }
                self.pending = true;
            }
            // A flip is a burst of events (temporary link, rename): let it
            // settle.
            tokio::time::sleep(SETTLE).await;
            while self.events.try_recv().is_ok() {}
            self.pending = false;
            let now = resolve(&self.folders);
            if now == self.seen && self.linked {
                continue;
            }
            self.seen = now;
            return Ok(());
        }
    }
}

/// What each folder resolves to now, through its symlinks.
fn resolve(folders: &[PathBuf]) -> Vec<Option<PathBuf>> {
    folders
        .iter()
        .map(|f| std::fs::canonicalize(f).ok())
        .collect()
}

/// The directory to watch for `folder`: the parent of its nearest
/// symlinked ancestor (where the `current` link is flipped), else the
/// folder itself.
pub(crate) fn watch_dir(folder: &Path) -> PathBuf {
    for a in folder.ancestors() {
        if a.as_os_str().is_empty() {
            break;
        }
        if std::fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink()) {
            return match a.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                _ => PathBuf::from("."),
            };
        }
    }
    folder.to_owned()
}

/// A sync report's fields as JSON: `folders`, `swapped` (`plugin`,
/// `from`, `to`), `added` (`plugin`, `version`), `removed`, `unchanged`
/// (ids) and `failed` (each failure's text).
pub(crate) fn sync_json(report: &SyncReport) -> Value {
    json!({
        "folders": report.folders,
        "swapped": report.swapped.iter().map(|s| json!({
            "plugin": s.id.as_str(),
            "from": s.old_version.to_string(),
            "to": s.new_version.to_string(),
        })).collect::<Vec<_>>(),
        "added": report.added.iter().map(|a| json!({
            "plugin": a.id.as_str(),
            "version": a.version.to_string(),
        })).collect::<Vec<_>>(),
        "removed": report.removed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        "unchanged": report.unchanged.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
        "failed": report.failed.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::watch_dir;

    #[cfg(unix)]
    #[test]
    fn the_directory_holding_the_link_is_watched() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("generations/1/plugins")).unwrap();
        std::os::unix::fs::symlink("generations/1", root.join("current")).unwrap();
        assert_eq!(watch_dir(&root.join("current/plugins")), root);
        // No symlinked ancestor: the folder itself.
        let plain = root.join("generations/1/plugins");
        assert_eq!(watch_dir(&plain), plain);
        // A relative folder that is not there: itself.
        assert_eq!(
            watch_dir(&PathBuf::from("no-such-link/plugins")),
            PathBuf::from("no-such-link/plugins")
        );
    }
}
