//! The directories a plugin gets: a data directory and a temp directory,
//! one of each per plugin id under the host's roots. This part makes them
//! when a plugin is loaded and removes the temp one when it is unloaded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::HostError;

/// The host's data and temp roots.
#[derive(Debug, Clone)]
pub(crate) struct Directories {
    data_root: PathBuf,
    temp_root: PathBuf,
}

/// One plugin's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PluginDirs {
    pub(crate) data: PathBuf,
    pub(crate) temp: PathBuf,
}

impl Directories {
    pub(crate) fn new(data_root: PathBuf, temp_root: PathBuf) -> Self {
        Directories {
            data_root,
            temp_root,
        }
    }

    /// Plugin `id`'s directories (not made yet).
    pub(crate) fn of(&self, id: &str) -> PluginDirs {
        PluginDirs {
            data: self.data_root.join(id),
            temp: self.temp_root.join(id),
        }
    }

    /// Removes a plugin's temp directory and what is in it, after its
    /// unload. Best effort: an unload does not fail for it.
    pub(crate) fn remove_temp(temp: &Path) {
        let _ = std::fs::remove_dir_all(temp);
    }
}

impl PluginDirs {
    /// Makes both directories (and the roots if need be).
    pub(crate) fn create(&self) -> Result<(), HostError> {
        for dir in [&self.data, &self.temp] {
            make(dir).map_err(|source| HostError::Io {
                path: dir.clone(),
                source: Arc::new(source),
            })?;
        }
        Ok(())
    }
}

/// One mkdir in the common case (the root exists); the full walk only when
/// it does not. A boot makes two directories per plugin.
fn make(dir: &Path) -> std::io::Result<()> {
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
        Directories::remove_temp(&mine.temp);
        assert!(!mine.temp.exists() && mine.data.is_dir());
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
