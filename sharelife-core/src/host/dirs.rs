//! The directories a plugin gets: a data directory and a temp directory,
//! one of each per plugin id under the host's roots. This part makes them
//! when a plugin is loaded and empties the temp one when it is unloaded.
//!
//! Making and removing directories was most of what `Host::load` cost
//! (83 % of it, measured, on the overlay file systems containers run on):
//! the temp directory was removed at every unload and made again at every
//! load. Now each load costs one `stat` per directory when it is there
//! already, and an unload empties the temp directory (nothing to do when
//! the plugin left nothing in it) instead of removing it. A version still
//! starts with an empty temp directory.
//!
//! A boot loads many plugins at once: it lists each root once
//! ([`Directories::survey`]) and skips the `stat` of every directory the
//! listing showed, two system calls per plugin fewer.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::HostError;

/// The host's data and temp roots.
#[derive(Debug)]
pub(crate) struct Directories {
    data_root: PathBuf,
    temp_root: PathBuf,
    /// While a boot runs: the directories the roots held when it began.
    survey: Mutex<Option<Survey>>,
}

/// The names of the directories directly under the data and the temp
/// root at one moment.
#[derive(Debug, Default)]
struct Survey {
    data: HashSet<OsString>,
    temp: HashSet<OsString>,
}

/// Ends a survey when dropped: later loads `stat` their directories again.
pub(crate) struct Surveyed<'d>(&'d Directories);

impl Drop for Surveyed<'_> {
    fn drop(&mut self) {
        *self.0.survey.lock() = None;
    }
}

/// One plugin's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PluginDirs {
    pub(crate) data: PathBuf,
    pub(crate) temp: PathBuf,
    /// Whether a survey saw each (data, temp) as a directory already.
    seen: [bool; 2],
}

impl Directories {
    pub(crate) fn new(data_root: PathBuf, temp_root: PathBuf) -> Self {
        Directories {
            data_root,
            temp_root,
            survey: Mutex::new(None),
        }
    }

    /// Lists both roots once; until the returned guard drops, a plugin
    /// directory the listing showed is taken as there without a `stat`.
    /// A root that cannot be listed (not made yet) shows nothing.
    pub(crate) fn survey(&self) -> Surveyed<'_> {
        let list = |root: &Path| -> HashSet<OsString> {
            std::fs::read_dir(root)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.file_name())
                        .collect()
                })
                .unwrap_or_default()
        };
        *self.survey.lock() = Some(Survey {
            data: list(&self.data_root),
            temp: list(&self.temp_root),
        });
        Surveyed(self)
    }

    /// Plugin `id`'s directories (not made yet).
    pub(crate) fn of(&self, id: &str) -> PluginDirs {
        let name = OsStr::new(id);
        let seen = self.survey.lock().as_ref().map_or([false; 2], |s| {
            [s.data.contains(name), s.temp.contains(name)]
        });
        PluginDirs {
            data: self.data_root.join(id),
            temp: self.temp_root.join(id),
            seen,
        }
    }

    /// Empties a plugin's temp directory after its unload, keeping the
    /// directory itself for the next load. Best effort: an unload does not
    /// fail for it.
    pub(crate) fn clear_temp(temp: &Path) {
        let Ok(entries) = std::fs::read_dir(temp) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let _ = if is_dir {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

impl PluginDirs {
    /// Makes both directories (and the roots if need be); nothing to do
    /// for one a survey saw.
    pub(crate) fn create(&self) -> Result<(), HostError> {
        for (dir, seen) in [(&self.data, self.seen[0]), (&self.temp, self.seen[1])] {
            if seen {
                continue;
            }
            make(dir).map_err(|source| HostError::Io {
                path: dir.clone(),
                source: Arc::new(source),
            })?;
        }
        Ok(())
    }
}

/// One `stat` in the common case (the directory is there from a load
/// before); one `mkdir` when the root exists; the full walk only when it
/// does not. A first boot makes two directories per plugin.
fn make(dir: &Path) -> std::io::Result<()> {
    if std::fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sharelife-dirs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn each_plugin_gets_a_data_and_a_temp_dir_under_the_roots() {
        let root = scratch("roots");
        let dirs = Directories::new(root.join("data"), root.join("tmp"));
        let mine = dirs.of("acme.echo");
        assert_eq!(mine.data, root.join("data/acme.echo"));
        assert_eq!(mine.temp, root.join("tmp/acme.echo"));
        // The roots do not exist yet: made on the way.
        mine.create().unwrap();
        assert!(mine.data.is_dir() && mine.temp.is_dir());
        // Again: nothing to do, and what is inside stays.
        std::fs::write(mine.data.join("kept"), b"x").unwrap();
        mine.create().unwrap();
        assert!(mine.data.join("kept").is_file());
        // Unloaded: the temp directory is emptied, and kept for next time.
        std::fs::write(mine.temp.join("scratch"), b"x").unwrap();
        std::fs::create_dir(mine.temp.join("sub")).unwrap();
        std::fs::write(mine.temp.join("sub/deep"), b"x").unwrap();
        Directories::clear_temp(&mine.temp);
        assert!(mine.temp.is_dir() && mine.data.is_dir());
        assert_eq!(std::fs::read_dir(&mine.temp).unwrap().count(), 0);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_survey_spares_the_stat_of_directories_it_saw_until_it_ends() {
        let root = scratch("survey");
        let dirs = Directories::new(root.join("data"), root.join("tmp"));
        dirs.of("acme.seen").create().unwrap();
        std::fs::write(root.join("data/acme.file"), b"not a dir").unwrap();
        {
            let _surveyed = dirs.survey();
            // Removed behind the survey's back: it is still taken as
            // there, which is what spares the `stat`.
            std::fs::remove_dir(root.join("data/acme.seen")).unwrap();
            dirs.of("acme.seen").create().unwrap();
            assert!(!root.join("data/acme.seen").exists());
            // What the listing did not show is made as always; a file of
            // that name is no directory and is still an error.
            dirs.of("acme.new").create().unwrap();
            assert!(root.join("data/acme.new").is_dir() && root.join("tmp/acme.new").is_dir());
            assert!(matches!(
                dirs.of("acme.file").create(),
                Err(HostError::Io { .. })
            ));
        }
        // The survey ended: directories are checked (and made) again.
        dirs.of("acme.seen").create().unwrap();
        assert!(root.join("data/acme.seen").is_dir());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_file_in_the_way_is_an_error_naming_the_path() {
        let root = scratch("blocked");
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/acme.echo"), b"not a dir").unwrap();
        let mine = Directories::new(root.join("data"), root.join("tmp")).of("acme.echo");
        match mine.create() {
            Err(HostError::Io { path, .. }) => assert_eq!(path, mine.data),
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(root).unwrap();
    }
}
