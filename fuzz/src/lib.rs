//! Fuzz targets for sharelife's parsers.
//!
//! Each target is a plain function from bytes to `()` that panics only
//! when a property is broken (a parser panicked, or a round trip or
//! consistency check failed): the engines in `tests/targets.rs` (bolero's
//! random engine under `cargo test`, libFuzzer under `cargo bolero test`)
//! feed it inputs. See `fuzz/README.md` for the commands and results.
//!
//! | target | what is parsed |
//! | --- | --- |
//! | [`manifest_section`] | the `.sharelife` section record, and a library file around it |
//! | [`manifest_json`] | a plugin manifest (JSON), parsed and validated |
//! | [`host_config`] | a host config (TOML), parsed and checked |
//! | [`pipeline_file`] | a pipeline file (YAML or JSON), parsed, checked, compiled |
//! | [`policy`] | a capability policy (TOML or JSON), compiled into gateways and queried |
//! | [`package_file_list`] | a package's `sharelife-package.json`, and a whole `.slpkg` archive |
//! | [`index_file`] | a registry index file (JSON lines) and the search summary |
#![forbid(unsafe_code)]

mod config;
mod elf;
mod manifest;
mod package;
mod pipeline;
mod policy;
mod registry;
pub mod smoke;

pub use self::config::host_config;
pub use self::elf::elf_library;
pub use self::manifest::{manifest_json, manifest_section};
pub use self::package::package_file_list;
pub use self::pipeline::pipeline_file;
pub use self::policy::policy;
pub use self::registry::index_file;

// cargo-bolero's libFuzzer build also builds the (empty) unit-test binary
// of this crate, instrumented; linking bolero gives it the runtime.
#[cfg(test)]
use bolero as _;

/// The names of the targets, which are also the names of their corpus
/// folders under `fuzz/corpus/` and of their tests.
pub const TARGETS: &[&str] = &[
    "manifest_section",
    "manifest_json",
    "host_config",
    "pipeline_file",
    "policy",
    "package_file_list",
    "index_file",
];

/// The target function called `name` (one of [`TARGETS`]).
pub fn target(name: &str) -> Option<fn(&[u8])> {
    Some(match name {
        "manifest_section" => manifest_section,
        "manifest_json" => manifest_json,
        "host_config" => host_config,
        "pipeline_file" => pipeline_file,
        "policy" => policy,
        "package_file_list" => package_file_list,
        "index_file" => index_file,
        _ => return None,
    })
}
