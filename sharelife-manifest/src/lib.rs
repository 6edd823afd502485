//! The sharelife plugin manifest, version 2.
//!
//! A [`Manifest`] says who a plugin is (id, version, authors, ...), what it
//! needs (the plugin API range it was written against, other plugins with
//! version ranges, platforms) and what it asks for (typed capability
//! requests that the host's capability gateway grants or denies).
//!
//! The `#[plugin]` macro builds the manifest at compile time, validates it
//! with this very crate, and embeds it in the plugin library, where the host
//! and the `sharelife` CLI read it without running any plugin code.
//!
//! Parsing happens in two passes. [`RawManifest`] is the serde shape:
//! unknown keys and wrong types fail there, with the line and column.
//! [`RawManifest::validate`] then checks every field and reports *all*
//! problems at once, each with its path:
//!
//! ```
//! use sharelife_manifest::Manifest;
//!
//! let json = r#"{
//!     "manifest_version": "2",
//!     "id": "acme.echo",
//!     "version": "1.2.0",
//!     "api": "^0.1",
//!     "dependencies": [
//!         { "id": "acme.store", "version": "^1" },
//!         { "id": "acme.clock", "version": "^x" }
//!     ]
//! }"#;
//! let err = Manifest::from_json(json).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#"invalid manifest: dependencies[1].version: "^x" is not a version range"#
//! );
//! ```
#![forbid(unsafe_code)]

pub mod address;
mod capability;
mod error;
mod id;
mod raw;
pub mod roads;
mod schema;
pub mod section;

pub use capability::{
    Capability, CapabilityClass, FileAccess, Kind, ProviderAccess, RiskLevel, check_topic_pattern,
    topic_matches,
};
pub use error::{ManifestError, Problem};
pub use id::{InvalidPluginId, PluginId};
pub use raw::{RawDependency, RawHandler, RawManifest};
pub use schema::json_schema;

use semver::{Version, VersionReq};
use serde::Serialize;

/// The manifest format version this crate reads and writes.
pub const MANIFEST_VERSION: &str = "2";

/// A validated plugin manifest.
///
/// Build one with [`Manifest::from_json`], [`RawManifest::validate`] or
/// [`Manifest::new`]; every value of this type has passed validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    /// Always [`MANIFEST_VERSION`].
    pub manifest_version: String,
    /// The plugin's unique id, e.g. `acme.echo`.
    pub id: PluginId,
    /// The plugin's own version.
    pub version: Version,
    /// Human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// One-paragraph description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Authors, `Name <email>` or just a name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// SPDX license expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Project home page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// Source repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Search keywords.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// The sharelife plugin API range this plugin was written against.
    pub api: VersionReq,
    /// Other plugins this one needs, with version ranges.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    /// Platforms the plugin supports (`linux`, `macos`, `windows`, or a
    /// Rust target triple); empty means every platform.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Capabilities the plugin asks the host for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    /// The handlers the plugin serves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handlers: Vec<Handler>,
    /// JSON Schema that the plugin's config must satisfy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<serde_json::Value>,
    /// Event topics the plugin receives (see [`check_topic`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<String>,
}

/// A dependency on another plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    /// The id of the plugin depended on.
    pub id: PluginId,
    /// The versions of it that are accepted.
    pub version: VersionReq,
}

/// A handler the plugin serves, as declared in its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handler {
    /// The handler's name, unique within the plugin.
    pub name: String,
    /// Whether the handler completes synchronously or returns a future.
    #[serde(rename = "async")]
    pub is_async: bool,
    /// The capability classes the handler uses, when it declares them
    /// (`#[handler(uses(file.read))]`): a pipeline step calling it needs
    /// only the plugin's requests of these classes. `None`: undeclared, the
    /// step needs every request of the plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uses: Option<Vec<CapabilityClass>>,
}

impl Handler {
    /// A handler that declares no capability use.
    pub fn new(name: impl Into<String>, is_async: bool) -> Self {
        Handler {
            name: name.into(),
            is_async,
            uses: None,
        }
    }

    /// Whether a call of this handler may use `capability`: it belongs to a
    /// class the handler declared, or the handler declared none.
    pub fn may_use(&self, capability: &Capability) -> bool {
        self.uses
            .as_ref()
            .is_none_or(|uses| uses.contains(&capability.class()))
    }
}

impl Manifest {
    /// The plugin's requests that a call of `handler` may use (all of them
    /// for a handler that declares no `uses`, or one not in the manifest).
    pub fn capabilities_of(&self, handler: &str) -> Vec<Capability> {
        let handler = self.handlers.iter().find(|h| h.name == handler);
        self.capabilities
            .iter()
            .filter(|c| handler.is_none_or(|h| h.may_use(c)))
            .cloned()
            .collect()
    }
}

impl Manifest {
    /// A minimal manifest: id, version and API range, everything else empty.
    pub fn new(id: PluginId, version: Version, api: VersionReq) -> Self {
        Manifest {
            manifest_version: MANIFEST_VERSION.to_owned(),
            id,
            version,
            name: None,
            description: None,
            authors: Vec::new(),
            license: None,
            homepage: None,
            repository: None,
            keywords: Vec::new(),
            api,
            dependencies: Vec::new(),
            platforms: Vec::new(),
            capabilities: Vec::new(),
            handlers: Vec::new(),
            config_schema: None,
            subscriptions: Vec::new(),
        }
    }

    /// Parses and validates a manifest from JSON text.
    ///
    /// # Errors
    ///
    /// [`ManifestError::Syntax`] for malformed JSON, an unknown key or a
    /// value of the wrong type (with line and column);
    /// [`ManifestError::Invalid`] listing every field that fails validation.
    pub fn from_json(text: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = serde_json::from_str(text).map_err(ManifestError::syntax)?;
        raw.into_manifest()
    }

    /// The manifest as compact JSON, the form embedded in plugin libraries.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a manifest always serializes")
    }

    /// The highest risk among the requested capabilities: the plugin's
    /// risk label. A plugin that requests nothing is [`RiskLevel::Low`].
    pub fn risk(&self) -> RiskLevel {
        self.capabilities
            .iter()
            .map(Capability::risk)
            .max()
            .unwrap_or(RiskLevel::Low)
    }

    /// Whether this manifest says the plugin runs on the platform the
    /// caller was compiled for.
    pub fn supports_current_platform(&self) -> bool {
        self.platforms.is_empty()
            || self.platforms.iter().any(|p| {
                p == std::env::consts::OS
                    || p == std::env::consts::FAMILY
                    || p.starts_with(std::env::consts::ARCH) && p.contains(std::env::consts::OS)
            })
    }

    /// Looks up a handler by name.
    pub fn handler(&self, name: &str) -> Option<&Handler> {
        self.handlers.iter().find(|h| h.name == name)
    }
}

/// The plugin API version this release of sharelife implements. A plugin's
/// manifest `api` range must accept it.
pub const PLUGIN_API_VERSION: &str = "0.1.0";

/// The `api` range the `#[plugin]` macro writes when none is given: any
/// host compatible with the API version the plugin was built against.
pub const DEFAULT_API_REQ: &str = "^0.1";

/// The longest event topic name accepted.
pub const MAX_TOPIC_LEN: usize = 128;

/// Checks an event topic name: 1 to [`MAX_TOPIC_LEN`] characters of ASCII
/// letters, digits, `.`, `_`, `-` and `/`, starting with a letter or digit
/// (`chat.message`, `sharelife.lifecycle`).
///
/// # Errors
///
/// The rule the name breaks, phrased to follow the name:
/// `"chat message" is not a topic: ...`.
pub fn check_topic(topic: &str) -> Result<(), &'static str> {
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
        return Err("is not a topic: it must be 1 to 128 characters long");
    }
    if !topic.as_bytes()[0].is_ascii_alphanumeric() {
        return Err("is not a topic: it must start with a letter or a digit");
    }
    if !topic
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
    {
        return Err("is not a topic: only letters, digits, '.', '_', '-' and '/' are allowed");
    }
    Ok(())
}
