//! Plugins linked into the host binary, found through `inventory`.
#![forbid(unsafe_code)]

use crate::Plugin;
use crate::manifest::{Manifest, ManifestError};

/// A plugin compiled into this binary. `#[plugin]` submits one for every
/// plugin type, so a plugin crate linked into a host (as an rlib) is found
/// by [`static_plugins`] without any file.
#[derive(Debug)]
pub struct StaticPlugin {
    manifest_json: &'static str,
    create: fn() -> Box<dyn Plugin>,
}

inventory::collect!(StaticPlugin);

impl StaticPlugin {
    /// A registration; used by generated code (through
    /// `sharelife_sdk::__private_v1`), not public API.
    #[doc(hidden)]
    pub const fn new(manifest_json: &'static str, create: fn() -> Box<dyn Plugin>) -> Self {
        StaticPlugin {
            manifest_json,
            create,
        }
    }

    /// The plugin's manifest.
    ///
    /// # Errors
    ///
    /// The manifest was validated at compile time, so this only fails if
    /// this crate's validation rules changed since.
    pub fn manifest(&self) -> Result<Manifest, ManifestError> {
        Manifest::from_json(self.manifest_json)
    }

    /// Constructs a new instance.
    pub fn create(&self) -> Box<dyn Plugin> {
        (self.create)()
    }
}

/// A plugin type that knows its manifest; `#[plugin]` implements it.
pub trait HasManifest: Plugin + Default {
    /// The manifest JSON, as embedded in the library.
    const MANIFEST_JSON: &'static str;

    /// The parsed manifest.
    fn manifest() -> Manifest {
        Manifest::from_json(Self::MANIFEST_JSON)
            .expect("#[plugin] validated this manifest at compile time")
    }
}

/// Every plugin linked into this binary.
///
/// The linker only keeps a plugin crate that the binary uses: reference
/// something from it (for example `use my_plugin as _;` together with
/// calling any of its items) if nothing else does.
pub fn static_plugins() -> impl Iterator<Item = &'static StaticPlugin> {
    inventory::iter::<StaticPlugin>.into_iter()
}
