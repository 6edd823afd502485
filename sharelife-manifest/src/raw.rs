use schemars::JsonSchema;
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use crate::{
    Capability, Dependency, Handler, MANIFEST_VERSION, Manifest, ManifestError, PluginId, Problem,
};

/// The manifest as it is written: every value still text, unknown keys
/// refused. [`RawManifest::validate`] turns it into a [`Manifest`].
///
/// This is also the type the JSON Schema is generated from, so the schema
/// describes exactly what the parser accepts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "sharelife plugin manifest v2",
    description = "What a sharelife plugin is, needs and asks for. Written by the #[plugin] macro into the library's sharelife record (on ELF the .note.sharelife note)."
)]
pub struct RawManifest {
    /// Manifest format version; must be "2".
    pub manifest_version: String,
    /// Unique plugin id, e.g. `acme.text.upper`.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9._-]{2,120}$"))]
    pub id: String,
    /// The plugin's semantic version.
    pub version: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// One-paragraph description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Authors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// SPDX license expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Project home page URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// Source repository URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Search keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// The sharelife plugin API range the plugin needs, e.g. `^0.1`.
    pub api: String,
    /// Other plugins needed, each with a version range.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<RawDependency>,
    /// Supported platforms (`linux`, `macos`, `windows`, `unix`, or a
    /// target triple); empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Requested capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    /// Handlers served.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handlers: Vec<RawHandler>,
    /// JSON Schema for the plugin's config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<serde_json::Value>,
    /// Event topics the plugin receives through `handle_event`, e.g.
    /// `chat.message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<String>,
}

/// A dependency as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDependency {
    /// The plugin id depended on.
    pub id: String,
    /// The accepted version range, e.g. `^1.2`.
    pub version: String,
}

/// A handler as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHandler {
    /// Handler name: ASCII letters, digits and `_`, not starting with a digit.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub name: String,
    /// Whether it is async.
    #[serde(rename = "async", default)]
    pub is_async: bool,
    /// The capability classes the handler uses (`file.read`, ...); each
    /// must cover a capability the plugin requests. Absent: undeclared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<Vec<crate::CapabilityClass>>,
}

const KNOWN_PLATFORMS: &[&str] = &[
    "linux", "macos", "windows", "unix", "android", "ios", "freebsd",
];

impl RawManifest {
    /// Checks every field and returns the typed manifest, or every problem
    /// found, each with its path.
    ///
    /// # Errors
    ///
    /// [`ManifestError::Invalid`] with one [`Problem`] per bad value.
    pub fn validate(&self) -> Result<Manifest, ManifestError> {
        self.clone().into_manifest()
    }

    /// [`validate`](Self::validate), moving the checked fields into the
    /// manifest instead of copying them: what a reader that has no further
    /// use for the raw form calls.
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate).
    pub fn into_manifest(self) -> Result<Manifest, ManifestError> {
        let mut problems = Vec::new();
        let bad = &mut |path: String, message: String| problems.push(Problem::new(path, message));

        if self.manifest_version != MANIFEST_VERSION {
            bad(
                "manifest_version".into(),
                format!(
                    "{:?} is not supported; this reader understands \"{MANIFEST_VERSION}\"",
                    self.manifest_version
                ),
            );
        }
        let id = PluginId::new(self.id.as_str())
            .map_err(|e| bad("id".into(), e.to_string()))
            .ok();
        let version = Version::parse(&self.version)
            .map_err(|_| {
                bad(
                    "version".into(),
                    format!("{:?} is not a semantic version (like 1.2.3)", self.version),
                )
            })
            .ok();
        let api = parse_req(&self.api).map_err(|m| bad("api".into(), m)).ok();

        for (field, value) in [
            ("name", &self.name),
            ("description", &self.description),
            ("license", &self.license),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                bad(field.into(), "must not be empty when present".into());
            }
        }
        for (field, value) in [
            ("homepage", &self.homepage),
            ("repository", &self.repository),
        ] {
            if let Some(url) = value
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                bad(field.into(), format!("{url:?} is not an http(s) URL"));
            }
        }
        for (i, keyword) in self.keywords.iter().enumerate() {
            if keyword.is_empty() || keyword.len() > 40 {
                bad(
                    format!("keywords[{i}]"),
                    format!("{keyword:?} must be 1 to 40 characters"),
                );
            }
        }

        let mut dependencies = Vec::new();
        for (i, dep) in self.dependencies.iter().enumerate() {
            let dep_id = PluginId::new(dep.id.as_str())
                .map_err(|e| bad(format!("dependencies[{i}].id"), e.to_string()))
                .ok();
            let range = parse_req(&dep.version)
                .map_err(|m| bad(format!("dependencies[{i}].version"), m))
                .ok();
            if dep_id.as_ref().is_some_and(|d| Some(d) == id.as_ref()) {
                bad(
                    format!("dependencies[{i}].id"),
                    "a plugin cannot depend on itself".into(),
                );
            }
            if self.dependencies[..i].iter().any(|d| d.id == dep.id) {
                bad(
                    format!("dependencies[{i}].id"),
                    format!("{:?} is listed twice", dep.id),
                );
            }
            if let (Some(id), Some(version)) = (dep_id, range) {
                dependencies.push(Dependency { id, version });
            }
        }

        for (i, platform) in self.platforms.iter().enumerate() {
            if !(KNOWN_PLATFORMS.contains(&platform.as_str()) || platform.matches('-').count() >= 2)
            {
                bad(
                    format!("platforms[{i}]"),
                    format!(
                        "{platform:?} is not a platform; use one of {} or a target triple",
                        KNOWN_PLATFORMS.join(", ")
                    ),
                );
            }
        }
        for (i, cap) in self.capabilities.iter().enumerate() {
            let mut found = Vec::new();
            cap.check(&format!("capabilities[{i}]"), &mut found);
            for p in found {
                bad(p.path, p.message);
            }
            if self.capabilities[..i].contains(cap) {
                bad(
                    format!("capabilities[{i}]"),
                    "the same capability is requested twice".into(),
                );
            }
        }
        for (i, handler) in self.handlers.iter().enumerate() {
            let valid = handler
                .name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && handler
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                bad(
                    format!("handlers[{i}].name"),
                    format!(
                        "{:?} is not a handler name (letters, digits, '_')",
                        handler.name
                    ),
                );
            }
            if self.handlers[..i].iter().any(|h| h.name == handler.name) {
                bad(
                    format!("handlers[{i}].name"),
                    format!("{:?} is declared twice", handler.name),
                );
            }
            for (j, class) in handler.uses.iter().flatten().enumerate() {
                if !self.capabilities.iter().any(|c| c.class() == *class) {
                    bad(
                        format!("handlers[{i}].uses[{j}]"),
                        format!(
                            "handler {:?} uses {}, which the plugin does not request: request a capability of that class, or drop it from `uses`",
                            handler.name,
                            class.as_str()
                        ),
                    );
                }
            }
        }
        for (i, topic) in self.subscriptions.iter().enumerate() {
            if let Err(reason) = crate::check_topic(topic) {
                bad(format!("subscriptions[{i}]"), format!("{topic:?} {reason}"));
            }
            if self.subscriptions[..i].contains(topic) {
                bad(
                    format!("subscriptions[{i}]"),
                    format!("{topic:?} is listed twice"),
                );
            }
        }
        if let Some(schema) = &self.config_schema
            && !(schema.is_object() || schema.is_boolean())
        {
            bad(
                "config_schema".into(),
                "a JSON Schema must be an object or a boolean".into(),
            );
        }

        match (id, version, api) {
            (Some(id), Some(version), Some(api)) if problems.is_empty() => Ok(Manifest {
                manifest_version: self.manifest_version,
                id,
                version,
                name: self.name,
                description: self.description,
                authors: self.authors,
                license: self.license,
                homepage: self.homepage,
                repository: self.repository,
                keywords: self.keywords,
                api,
                dependencies,
                platforms: self.platforms,
                capabilities: self.capabilities,
                handlers: self
                    .handlers
                    .into_iter()
                    .map(|h| Handler {
                        name: h.name,
                        is_async: h.is_async,
                        uses: h.uses,
                    })
                    .collect(),
                config_schema: self.config_schema,
                subscriptions: self.subscriptions,
            }),
            _ => Err(ManifestError::Invalid(problems)),
        }
    }
}

fn parse_req(text: &str) -> Result<VersionReq, String> {
    if text.trim().is_empty() {
        return Err("a version range must not be empty (use \"*\" for any version)".into());
    }
    VersionReq::parse(text).map_err(|_| format!("{text:?} is not a version range"))
}
