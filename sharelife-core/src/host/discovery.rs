//! Finding plugins: scan folders for libraries and read each one's
//! manifest from the file, without running any of its code.

use std::path::{Path, PathBuf};

use crate::loader::{LoadError, PluginFile};

/// What a scan of the plugin folders found.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Discovery {
    /// Plugin libraries whose manifest was read and validated, in folder
    /// order, then file name order.
    pub found: Vec<PluginFile>,
    /// Files with the platform's library extension that are not usable
    /// plugins, and folders that could not be read, each with the reason.
    pub skipped: Vec<Skipped>,
    /// Files ignored because they do not have the library extension.
    pub ignored: usize,
}

/// A file (or folder) that discovery passed by.
#[derive(Debug)]
#[non_exhaustive]
pub struct Skipped {
    /// The file or folder.
    pub path: PathBuf,
    /// Why: the loader's error, which names the file.
    pub reason: LoadError,
}

/// Scans each folder in `paths` (not recursively) for files with this
/// platform's library extension (`.so`, `.dylib`, `.dll`) and reads their
/// manifests. Nothing fails the scan as a whole: unreadable folders, and
/// files that are not plugins, are listed in [`Discovery::skipped`].
pub fn discover(paths: &[PathBuf]) -> Discovery {
    let mut discovery = Discovery::default();
    for folder in paths {
        let entries = match std::fs::read_dir(folder) {
            Ok(entries) => entries,
            Err(source) => {
                tracing::warn!(folder = %folder.display(), error = %source, "plugin folder skipped");
                discovery.skipped.push(Skipped {
                    path: folder.clone(),
                    reason: LoadError::Io {
                        path: folder.clone(),
                        source: source.into(),
                    },
                });
                continue;
            }
        };
        // The entry's type comes with the directory listing on most file
        // systems: a `stat` only for a symlink (followed) or where the
        // listing does not say.
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| match e.file_type() {
                Ok(t) if t.is_file() => true,
                Ok(t) if t.is_dir() => false,
                _ => e.path().is_file(),
            })
            .map(|e| e.path())
            .collect();
        files.sort();
        for path in files {
            if !is_library(&path) {
                discovery.ignored += 1;
                continue;
            }
            match PluginFile::read(&path) {
                Ok(file) => {
                    tracing::debug!(plugin = %file.manifest().id, version = %file.manifest().version, path = %path.display(), "plugin found");
                    discovery.found.push(file);
                }
                Err(reason) => {
                    tracing::warn!(error = %reason, "not a usable plugin; skipped");
                    discovery.skipped.push(Skipped { path, reason });
                }
            }
        }
    }
    discovery
}

fn is_library(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
}
