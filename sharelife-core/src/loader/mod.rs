//! Opening plugin libraries.
//!
//! Loading is two steps, so that nothing in an untrusted file runs before
//! it has been read and checked:
//!
//! 1. [`PluginFile::read`] reads the library's sharelife record from
//!    the file (without `dlopen`, which would run the library's
//!    initializers) and validates the manifest in it;
//! 2. [`PluginFile::open`] checks API and platform compatibility, opens the
//!    library, finds the header the section names, and checks the header
//!    magic, abi_stable's version and the module's type layout.
//!
//! [`OpenLibrary::instantiate`] then creates the plugin behind an adapter
//! that implements [`Plugin`]. When the last object from a
//! library is dropped the library is closed (`dlclose`); [`is_mapped`] tells
//! whether the platform really unmapped it.

mod error;
mod file;
pub(crate) mod hazard;
mod imports;
mod maps;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use abi_stable::StableAbi;
use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::AbiHeader;

pub use self::error::LoadError;
pub use self::file::PluginFile;
pub(crate) use self::file::ReadAs;
#[cfg(test)]
pub(crate) use self::file::open_for_read;
pub use self::maps::is_mapped;
use crate::abi::import::DynamicPlugin;
use crate::abi::{HEADER_MAGIC, HEADER_VERSION, PluginHeader, PluginModule};
use crate::manifest::{Manifest, PLUGIN_API_VERSION};
use crate::{Plugin, PluginContext};

/// An open library. Closed (`dlclose`) when the last plugin created from it
/// and the last [`OpenLibrary`] are dropped.
#[derive(Debug)]
pub struct Library {
    // Declared first so that it is dropped (closing the library) last.
    inner: libloading::Library,
    path: PathBuf,
}

impl Library {
    /// The file the library was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A library that passed every check, ready to create its plugin.
pub struct OpenLibrary {
    library: Arc<Library>,
    module: *const PluginModule,
    manifest: Manifest,
}

// SAFETY: `module` points to immutable static data inside `library`, which
// this struct keeps open.
unsafe impl Send for OpenLibrary {}
// SAFETY: as above.
unsafe impl Sync for OpenLibrary {}

impl std::fmt::Debug for OpenLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenLibrary")
            .field("path", &self.library.path)
            .field("id", &self.manifest.id)
            .finish()
    }
}

impl PluginFile {
    /// Checks compatibility, opens the library and checks its header.
    ///
    /// # Errors
    ///
    /// [`LoadError::IncompatibleApi`], [`LoadError::UnsupportedPlatform`],
    /// [`LoadError::Open`], [`LoadError::MissingEntry`],
    /// [`LoadError::BadHeader`], [`LoadError::AbiStableMismatch`],
    /// [`LoadError::LayoutMismatch`] or [`LoadError::ManifestMismatch`].
    pub fn open(self) -> Result<OpenLibrary, LoadError> {
        self.check_compatible()?;
        let path = self.path().to_owned();
        if self.entry_symbol.is_empty() {
            // A described library (`PluginFile::described`): nothing was
            // read from `path`, so nothing there may run.
            return Err(LoadError::MissingEntry {
                path,
                symbol: "(none: described by an index entry, not read from the file)".to_owned(),
            });
        }
        // SAFETY: opening a library runs its initializers. This is the
        // point of no return the two-step design exists for: the file has
        // been read and its manifest validated; what runs now is code the
        // host chose to trust by loading it.
        let inner = unsafe { libloading::Library::new(&path) }.map_err(|e| LoadError::Open {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let library = Arc::new(Library { inner, path });
        let module = check_header(
            &library,
            &self.entry_symbol,
            self.build_id.as_deref(),
            self.layout_fingerprint.as_deref(),
        )?;
        // SAFETY: `check_header` verified the module's layout against ours.
        let in_memory = unsafe { (*module).manifest.as_str() };
        if in_memory != self.manifest_json {
            return Err(LoadError::ManifestMismatch {
                path: self.path().to_owned(),
            });
        }
        Ok(OpenLibrary {
            library,
            module,
            manifest: self.manifest,
        })
    }
}

/// Build ids of libraries whose module layout passed the check in this
/// process. The build id is the linker's hash of the whole output, so a
/// copy of an already-checked build has the same layout; re-checking it
/// would cost ~100 µs of abi_stable's structural comparison for nothing.
static CHECKED_BUILDS: parking_lot::Mutex<Vec<Vec<u8>>> = parking_lot::Mutex::new(Vec::new());

/// Finds and checks the library's header: magic and version, abi_stable's
/// version, then the module layout. The layout is compared structurally
/// (abi_stable's `check_layout_compatibility`, ~250 µs) unless either
///
/// * the record's build-time layout fingerprint equals this host's
///   ([`fingerprint`](crate::abi::fingerprint): SHA-256 over a canonical
///   description of the whole layout graph, so equal fingerprints are
///   equal layouts), or
/// * a library with the same build id passed the structural check in this
///   process before.
///
/// A fingerprint that differs, or none, means the full structural check.
fn check_header(
    library: &Arc<Library>,
    symbol: &str,
    build_id: Option<&[u8]>,
    fingerprint: Option<&[u8]>,
) -> Result<*const PluginModule, LoadError> {
    let path = || library.path.clone();
    // SAFETY: the symbol is a `static PluginHeader` in a library built with
    // `#[plugin]`; we only take its address here. Its first fields are
    // frozen across versions and are validated below before anything else
    // is read.
    let header: *const PluginHeader = unsafe {
        *library
            .inner
            .get::<*const PluginHeader>(symbol)
            .map_err(|_| LoadError::MissingEntry {
                path: path(),
                symbol: symbol.to_owned(),
            })?
    };
    // SAFETY: the symbol is at least a `PluginHeader` prefix: the section
    // that named it is only written by `#[plugin]` together with the header.
    let header = unsafe { &*header };
    if header.magic != HEADER_MAGIC || header.header_version != HEADER_VERSION {
        return Err(LoadError::BadHeader {
            path: path(),
            reason: format!(
                "header version {} (this host reads {HEADER_VERSION})",
                header.header_version
            ),
        });
    }
    if !header.abi_stable.is_valid() {
        return Err(LoadError::AbiStableMismatch {
            path: path(),
            found: format!(
                "{}.{}",
                header.abi_stable.abi_major, header.abi_stable.abi_minor
            ),
            expected: format!(
                "{}.{}",
                AbiHeader::VALUE.abi_major,
                AbiHeader::VALUE.abi_minor
            ),
        });
    }
    let same_layout = fingerprint.is_some_and(|f| f == crate::abi::fingerprint::host().as_slice());
    let known =
        same_layout || build_id.is_some_and(|id| CHECKED_BUILDS.lock().iter().any(|b| b == id));
    if !known {
        FULL_CHECKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        check_layout_compatibility(<PluginModule as StableAbi>::LAYOUT, header.module_layout)
            .map_err(|e| LoadError::LayoutMismatch {
                path: path(),
                details: e.to_string(),
            })?;
        if let Some(id) = build_id {
            CHECKED_BUILDS.lock().push(id.to_vec());
        }
    }
    Ok(header.module)
}

impl OpenLibrary {
    /// The plugin's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The validated manifest, by value: the library is closed with this
    /// handle unless a plugin [instantiated](Self::instantiate) from it
    /// keeps it open.
    pub fn into_manifest(self) -> Manifest {
        self.manifest
    }

    /// The library's path.
    pub fn path(&self) -> &Path {
        &self.library.path
    }

    /// The `sharelife-core` version the plugin was compiled against.
    pub fn core_version(&self) -> &str {
        // SAFETY: the module was checked in `open` and `self` keeps the
        // library open.
        unsafe { (*self.module).core_version.as_str() }
    }

    /// Creates the plugin with context `ctx`. The returned plugin keeps the
    /// library open.
    ///
    /// # Errors
    ///
    /// [`LoadError::Create`] when the plugin's constructor fails or panics.
    pub fn instantiate(&self, ctx: &PluginContext) -> Result<Box<dyn Plugin>, LoadError> {
        // SAFETY: `self.module` was checked in `open` and belongs to
        // `self.library`, which the new plugin keeps a reference to.
        let plugin = unsafe { DynamicPlugin::create(Arc::clone(&self.library), self.module, ctx) }
            .map_err(|error| LoadError::Create {
                path: self.library.path.clone(),
                id: self.manifest.id.to_string(),
                error,
            })?;
        Ok(Box::new(plugin))
    }

    /// A handle that tells when the library has been closed.
    pub fn watch(&self) -> LibraryWatch {
        LibraryWatch {
            library: Arc::downgrade(&self.library),
            path: self.library.path.clone(),
        }
    }
}

/// Observes a library without keeping it open.
#[derive(Debug, Clone)]
pub struct LibraryWatch {
    library: std::sync::Weak<Library>,
    path: PathBuf,
}

impl LibraryWatch {
    /// Whether any plugin or [`OpenLibrary`] still holds the library.
    pub fn is_open(&self) -> bool {
        self.library.strong_count() > 0
    }

    /// The library's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Once the library is closed: whether the platform still has it
    /// mapped, as [`is_mapped`] tells, but cheaply in the common case
    /// (asked of the dynamic linker's list, no file read). `None` where
    /// the platform offers no view.
    pub fn still_mapped(&self) -> Option<bool> {
        maps::is_loaded(&self.path)
    }
}

/// Forgets which library builds passed the layout check, so the next load
/// of each is checked again (in full unless its layout fingerprint matches
/// this host's). For benchmarks of the cold path; a host never needs it.
pub fn forget_checked_layouts() {
    CHECKED_BUILDS.lock().clear();
}

/// Structural layout checks run so far in this process.
static FULL_CHECKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many libraries got abi_stable's full structural layout check in
/// this process (the others matched this host's layout fingerprint or a
/// build already checked). For tests and diagnostics.
pub fn full_layout_checks() -> u64 {
    FULL_CHECKS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The plugin API version of this host, parsed.
pub fn host_api_version() -> semver::Version {
    semver::Version::parse(PLUGIN_API_VERSION).expect("PLUGIN_API_VERSION is a valid version")
}

impl DynamicPlugin {
    #[allow(dead_code, reason = "kept for diagnostics in later host features")]
    pub(crate) fn path(&self) -> &Path {
        &self.library().path
    }
}
