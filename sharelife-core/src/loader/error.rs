use std::path::PathBuf;
use std::sync::Arc;

use crate::PluginError;
use crate::manifest::{ManifestError, section::SectionError};

/// Why a library could not be loaded. Each variant names the file.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: Arc<std::io::Error>,
    },
    /// The file is not a shared library at all.
    #[error("{} is not a shared library: {reason}", path.display())]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// The file looks like a library but cannot be parsed (truncated or
    /// corrupt).
    #[error("{} is a damaged library file: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser found.
        reason: String,
    },
    /// A library, but not a sharelife plugin.
    #[error("{} is not a sharelife plugin: it carries no sharelife record, neither a `.note.sharelife` note nor a `.sharelife` section (was it built with #[plugin]?)", path.display())]
    NotAPlugin {
        /// The file.
        path: PathBuf,
    },
    /// The plugin record in the section is malformed.
    #[error("{}: the plugin record is malformed: {source}", path.display())]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: SectionError,
    },
    /// The embedded manifest is invalid.
    #[error("{}: {source}", path.display())]
    InvalidManifest {
        /// The file.
        path: PathBuf,
        /// Every problem in the manifest.
        source: ManifestError,
    },
    /// The plugin was written for a plugin API this host does not provide.
    #[error("plugin {id:?} ({}) requires plugin API {required}, this host provides {host}", path.display())]
    IncompatibleApi {
        /// The file.
        path: PathBuf,
        /// The plugin id.
        id: String,
        /// The plugin's `api` range.
        required: semver::VersionReq,
        /// This host's plugin API version.
        host: semver::Version,
    },
    /// The plugin does not support this platform.
    #[error("plugin {id:?} ({}) supports {platforms:?}, not this {host} host", path.display())]
    UnsupportedPlatform {
        /// The file.
        path: PathBuf,
        /// The plugin id.
        id: String,
        /// The platforms it supports.
        platforms: Vec<String>,
        /// This platform.
        host: String,
    },
    /// `dlopen` failed.
    #[error("cannot open {}: {reason}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The header symbol named by the record is not exported.
    #[error("{}: the plugin header symbol {symbol:?} is missing", path.display())]
    MissingEntry {
        /// The file.
        path: PathBuf,
        /// The symbol looked for.
        symbol: String,
    },
    /// The header is not one this host reads.
    #[error("{}: unknown plugin header: {reason}", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What did not match.
        reason: String,
    },
    /// Built with an incompatible abi_stable.
    #[error("{}: built with abi_stable ABI {found}, this host uses {expected}", path.display())]
    AbiStableMismatch {
        /// The file.
        path: PathBuf,
        /// The plugin's abi_stable ABI version.
        found: String,
        /// The host's.
        expected: String,
    },
    /// The plugin's ABI types differ from the host's.
    #[error("{}: the plugin's ABI does not match this host's (rebuild it against this sharelife):\n{details}", path.display())]
    LayoutMismatch {
        /// The file.
        path: PathBuf,
        /// abi_stable's description of every difference.
        details: String,
    },
    /// The manifest in memory differs from the one read from the file.
    #[error("{}: the manifest in the loaded library differs from the one in its sharelife record", path.display())]
    ManifestMismatch {
        /// The file.
        path: PathBuf,
    },
    /// The plugin's constructor failed or panicked.
    #[error("plugin {id:?} ({}) could not be created: {error}", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// The plugin id.
        id: String,
        /// The constructor's error.
        error: PluginError,
    },
}
