//! The seed platform's manifest contract, `plugin.manifest.v2`.
//!
//! The seed's Python market speaks the manifest format in
//! `schemas/seed/plugin.manifest.v2.schema.json` ([`SEED_SCHEMA`]). Every
//! catalog entry carries a record valid against it ([`record`]), and
//! `sharelife validate` accepts a file in that format
//! ([`check_seed_manifest`]).
//!
//! ## Field mapping (our manifest → seed record)
//!
//! | seed field | from | notes |
//! |---|---|---|
//! | `manifest_version` | — | always `"2.0"` |
//! | `plugin_id` | `id` | our id grammar is a subset of the seed's pattern |
//! | `version` | `version` | semver; when it has both a pre-release and build metadata, the build metadata is dropped (the seed's pattern allows one suffix) |
//! | `display_name` | `name`, else `id` | cut to 96 characters |
//! | `summary` | `description` | cut to 280 characters; absent without a description |
//! | `maintainer.name` / `.email` | the first of `authors` (`Name <email>`) | absent without authors; the name is cut to 120 characters |
//! | `maintainer.url` | `homepage`, else `repository` | absent without either |
//! | `entry.module` | the library's file name (`libacme_upper.so`) | |
//! | `entry.class_name` | the exported symbol of the library's header (`__sharelife_plugin_<crate>_<version>`, from the library's sharelife record, read by the loader's own reader) | |
//! | `entry.method` | — | absent: a host calls a native plugin's handlers by name, there is no single method |
//! | `capabilities` | `capabilities`, reduced (see below) | each list sorted, without duplicates |
//! | `risk_level` | the label's [`risk`](crate::label::Label::risk) | declared risk raised by scan evidence |
//! | `permissions.requires_admin_confirmation` | label risk ≥ [`ADMIN_CONFIRMATION_AT`] | |
//! | `compatibility.astrbot.min` / `.max` | the label's [`min_host_version`](crate::label::Compatibility::min_host_version) / [`max_host_version`](crate::label::Compatibility::max_host_version) (`*` when open-ended) | the sharelife **host plugin-API version** stands in for AstrBot's version: it is what decides whether a host can load the plugin |
//! | `compatibility.sharelife.plugin_api` | `api` (the range, e.g. `^0.1`) | |
//! | `compatibility.sharelife.sdk` | — | absent: `v3`/`v4` name AstrBot SDK generations, a native plugin uses neither |
//! | `tags` | `keywords` | each cut to 40 characters, empty ones and duplicates dropped |
//!
//! ## Capability reduction
//!
//! | our capability | seed class |
//! |---|---|
//! | `network` to a loopback destination (`127.0.0.0/8`, `::1`, `localhost`, `*.localhost`) | `network: loopback` |
//! | `network` to another internal destination ([`HostPattern::is_internal`], the one address classification the gateway uses) | `network: internal` (plus `loopback` for a block that also holds loopback addresses) |
//! | `network` to anything else | `network: outbound` |
//! | `file` read / write | `file: read` / `file: write` |
//! | `command` whose program is a shell (`sh`, `bash`, `zsh`, `dash`, `fish`, `cmd`, `powershell`, … also behind `env` or `busybox`) | `command: shell` |
//! | any other `command` | `command: exec` |
//! | `provider` read / write / rotate | `provider: read` / `write` / `rotate` |
//! | `mcp` | `mcp: invoke` |
//! | `event` | — (the seed has no event class; publishing reaches only the host's own bus, low risk) |
//!
//! `file: config`, `file: tmp` and `mcp: install` are never produced: a
//! sharelife plugin gets its config and its temp directory from the host
//! without asking, and cannot install MCP servers.
//!
//! ## What a seed manifest's capabilities imply
//!
//! [`check_seed_manifest`] refuses a manifest whose `risk_level` is lower
//! than its capabilities imply, and one at or above
//! [`ADMIN_CONFIRMATION_AT`] that does not require an administrator's
//! confirmation. Each seed class implies the risk our vocabulary
//! ([`Capability::risk`]) gives a representative capability of it
//! ([`implied_risk`]): outbound network medium, internal and loopback high,
//! file read and config low, file write and tmp medium, command exec and
//! shell high, provider read low / write medium / rotate high, mcp invoke
//! medium, mcp install high (installing a server runs new code, like a
//! command).

use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use sharelife_manifest::address::HostPattern;
use sharelife_manifest::{Capability, FileAccess, Manifest, ProviderAccess, RiskLevel};

use crate::label::{ADMIN_CONFIRMATION_AT, Label};

/// The seed's manifest JSON Schema (draft 2020-12), as shipped in
/// `schemas/seed/`.
pub const SEED_SCHEMA: &str = include_str!("../../schemas/seed/plugin.manifest.v2.schema.json");

/// The seed's `manifest_version`.
pub const SEED_MANIFEST_VERSION: &str = "2.0";

/// A record in the seed's manifest format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedManifest {
    /// Always [`SEED_MANIFEST_VERSION`].
    pub manifest_version: String,
    /// The plugin id.
    pub plugin_id: String,
    /// The plugin version.
    pub version: String,
    /// A name to show.
    pub display_name: String,
    /// One paragraph about the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Who maintains it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintainer: Option<SeedMaintainer>,
    /// How a host starts it.
    pub entry: SeedEntry,
    /// What it asks for, in the seed's coarse classes.
    pub capabilities: SeedCapabilities,
    /// The declared risk (`low` when absent).
    #[serde(default = "low")]
    pub risk_level: RiskLevel,
    /// What installing it needs.
    #[serde(default)]
    pub permissions: SeedPermissions,
    /// Which hosts run it.
    pub compatibility: SeedCompatibility,
    /// Search tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

fn low() -> RiskLevel {
    RiskLevel::Low
}

/// The seed's `maintainer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedMaintainer {
    /// A name.
    pub name: String,
    /// An email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A web page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The seed's `entry`: for a sharelife plugin, the library file and the
/// symbol its header is exported under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedEntry {
    /// The seed's module; for us the library's file name.
    pub module: String,
    /// The seed's class; for us the header symbol.
    pub class_name: String,
    /// The seed's method (never set by [`record`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// The seed's coarse capability classes, one list per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedCapabilities {
    /// `outbound`, `internal`, `loopback`.
    pub network: Vec<SeedNetwork>,
    /// `read`, `write`, `config`, `tmp`.
    pub file: Vec<SeedFile>,
    /// `exec`, `shell`.
    pub command: Vec<SeedCommand>,
    /// `read`, `write`, `rotate`.
    pub provider: Vec<ProviderAccess>,
    /// `invoke`, `install`.
    pub mcp: Vec<SeedMcp>,
}

/// A seed network class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedNetwork {
    /// Public destinations.
    Outbound,
    /// Internal (private, link-local, …) destinations.
    Internal,
    /// The machine itself.
    Loopback,
}

/// A seed file class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedFile {
    /// Reading files.
    Read,
    /// Writing files.
    Write,
    /// The plugin's config files.
    Config,
    /// Scratch files.
    Tmp,
}

/// A seed command class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedCommand {
    /// Running a program directly.
    Exec,
    /// Running a shell.
    Shell,
}

/// A seed MCP class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedMcp {
    /// Calling tools.
    Invoke,
    /// Installing servers.
    Install,
}

/// The seed's `permissions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedPermissions {
    /// Whether installing needs an administrator's confirmation.
    #[serde(default)]
    pub requires_admin_confirmation: bool,
}

/// The seed's `compatibility`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedCompatibility {
    /// AstrBot's version range; for us the host plugin-API versions.
    pub astrbot: SeedVersionRange,
    /// The sharelife plugin API.
    pub sharelife: SeedSharelife,
}

/// A min/max version pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedVersionRange {
    /// The lowest version.
    pub min: String,
    /// The highest version (`x` notation, `*` for no bound).
    pub max: String,
}

/// The seed's `compatibility.sharelife`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedSharelife {
    /// The plugin API range.
    pub plugin_api: String,
    /// The AstrBot SDK generation (never set by [`record`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<String>,
}

/// How a host starts a plugin library: its file and header symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The library's file name (`libacme_upper.so`).
    pub library: String,
    /// The exported symbol of the plugin's header.
    pub symbol: String,
}

impl Entry {
    /// The entry of the library at `path`: its file name and the header
    /// symbol named in its sharelife record (read from the
    /// file, no code run).
    ///
    /// # Errors
    ///
    /// [`SeedError::Library`] when the file cannot be read, is not an
    /// object file or holds no valid record.
    pub fn of_library(path: &Path) -> Result<Entry, SeedError> {
        let bytes = std::fs::read(path).map_err(|e| SeedError::Library {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Entry::of_library_bytes(&name, &bytes)
    }

    /// The entry of a library named `library` (its file name, e.g. in a
    /// package) whose contents are `bytes`.
    ///
    /// # Errors
    ///
    /// [`SeedError::Library`] when the bytes are not an object file or
    /// hold no valid record.
    pub fn of_library_bytes(library: &str, bytes: &[u8]) -> Result<Entry, SeedError> {
        let fail = |reason: String| SeedError::Library {
            path: library.to_owned(),
            reason,
        };
        // The host's own reader, so that the seed names the symbol the
        // host will look up, from the same record.
        let file = sharelife_core::loader::PluginFile::parse(bytes, library)
            .map_err(|e| fail(e.to_string()))?;
        Ok(Entry {
            library: library.to_owned(),
            symbol: file.entry_symbol().to_owned(),
        })
    }
}

/// One way a value breaks the seed's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedProblem {
    /// Where: a dotted path with indexes (`capabilities.network[0]`);
    /// empty for the top-level object.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for SeedProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "(top level): {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a seed manifest is refused, or a library's entry cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeedError {
    /// Not JSON.
    #[error("{origin}:{line}:{column}: not JSON: {message}")]
    Syntax {
        /// The file (or other origin) read.
        origin: String,
        /// The line of the error.
        line: usize,
        /// The column of the error.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// JSON that breaks the seed's schema.
    #[error("{origin}: not a valid seed manifest (plugin.manifest.v2): {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Schema {
        /// The file (or other origin) read.
        origin: String,
        /// Every problem, with its path.
        problems: Vec<SeedProblem>,
    },
    /// The declared `risk_level` is lower than the capabilities imply.
    #[error(
        "{origin}: risk_level: declared {declared}, but its capabilities imply {implied} ({because})"
    )]
    RiskUnderstated {
        /// The file (or other origin) read.
        origin: String,
        /// The declared `risk_level`.
        declared: RiskLevel,
        /// The risk the capabilities imply.
        implied: RiskLevel,
        /// The capability classes that imply it (`command: exec`).
        because: String,
    },
    /// Risk at or above [`ADMIN_CONFIRMATION_AT`] without
    /// `permissions.requires_admin_confirmation`.
    #[error(
        "{origin}: permissions.requires_admin_confirmation: risk {risk} needs an administrator's confirmation to install (risk {ADMIN_CONFIRMATION_AT} or above); set it to true"
    )]
    AdminConfirmationMissing {
        /// The file (or other origin) read.
        origin: String,
        /// The (declared or implied) risk.
        risk: RiskLevel,
    },
    /// A library's entry could not be read.
    #[error("cannot read the entry of {path}: {reason}")]
    Library {
        /// The library.
        path: String,
        /// Why.
        reason: String,
    },
}

impl SeedError {
    /// The problems, each with its path (one for the implication errors,
    /// none for the others).
    pub fn problems(&self) -> Vec<SeedProblem> {
        match self {
            SeedError::Schema { problems, .. } => problems.clone(),
            SeedError::RiskUnderstated {
                declared,
                implied,
                because,
                ..
            } => vec![SeedProblem {
                path: "risk_level".to_owned(),
                message: format!(
                    "declared {declared}, but its capabilities imply {implied} ({because})"
                ),
            }],
            SeedError::AdminConfirmationMissing { risk, .. } => vec![SeedProblem {
                path: "permissions.requires_admin_confirmation".to_owned(),
                message: format!(
                    "risk {risk} needs an administrator's confirmation to install; set it to true"
                ),
            }],
            SeedError::Syntax { .. } | SeedError::Library { .. } => Vec::new(),
        }
    }
}

/// The seed record of a plugin with `manifest`, labelled `label`, started
/// through `entry`: valid against [`SEED_SCHEMA`] (see the module docs
/// for the mapping).
pub fn record(manifest: &Manifest, label: &Label, entry: &Entry) -> serde_json::Value {
    serde_json::to_value(seed_manifest(manifest, label, entry)).expect("a seed record serializes")
}

/// The typed seed record behind [`record`].
pub fn seed_manifest(manifest: &Manifest, label: &Label, entry: &Entry) -> SeedManifest {
    let mut version = manifest.version.clone();
    if !version.pre.is_empty() && !version.build.is_empty() {
        version.build = semver::BuildMetadata::EMPTY;
    }
    let display_name = manifest
        .name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(manifest.id.as_str());
    let maintainer = manifest.authors.first().and_then(|author| {
        let (name, email) = split_author(author);
        let name = if name.is_empty() {
            email.clone()?
        } else {
            name
        };
        Some(SeedMaintainer {
            name: cut(&name, 120),
            email,
            url: manifest
                .homepage
                .clone()
                .or_else(|| manifest.repository.clone()),
        })
    });
    let mut tags: Vec<String> = Vec::new();
    for keyword in &manifest.keywords {
        let tag = cut(keyword.trim(), 40);
        if !tag.is_empty() && !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    SeedManifest {
        manifest_version: SEED_MANIFEST_VERSION.to_owned(),
        plugin_id: manifest.id.to_string(),
        version: version.to_string(),
        display_name: cut(display_name, 96),
        summary: manifest.description.as_deref().map(|d| cut(d, 280)),
        maintainer,
        entry: SeedEntry {
            module: entry.library.clone(),
            class_name: entry.symbol.clone(),
            method: None,
        },
        capabilities: reduce(&manifest.capabilities),
        risk_level: label.risk,
        permissions: SeedPermissions {
            requires_admin_confirmation: label.risk >= ADMIN_CONFIRMATION_AT,
        },
        compatibility: SeedCompatibility {
            astrbot: SeedVersionRange {
                min: label.compatibility.min_host_version.clone(),
                max: label
                    .compatibility
                    .max_host_version
                    .clone()
                    .unwrap_or_else(|| "*".to_owned()),
            },
            sharelife: SeedSharelife {
                plugin_api: manifest.api.to_string(),
                sdk: None,
            },
        },
        tags,
    }
}

/// `Name <email>` → (`Name`, `email`); anything else is a bare name.
fn split_author(author: &str) -> (String, Option<String>) {
    let author = author.trim();
    if let Some(open) = author.rfind('<')
        && let Some(email) = author[open + 1..].strip_suffix('>')
    {
        let email = email.trim();
        return (
            author[..open].trim().to_owned(),
            (!email.is_empty()).then(|| email.to_owned()),
        );
    }
    (author.to_owned(), None)
}

/// At most `max` characters of `text` (the last one `…` when cut).
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Our capabilities in the seed's coarse classes (see the module docs).
pub fn reduce(capabilities: &[Capability]) -> SeedCapabilities {
    let mut out = SeedCapabilities::default();
    for c in capabilities {
        match c {
            Capability::Network { host, .. } => out.network.extend(network_classes(host)),
            Capability::File { access, .. } => out.file.push(match access {
                FileAccess::Read => SeedFile::Read,
                FileAccess::Write => SeedFile::Write,
            }),
            Capability::Command { argv } => out.command.push(if runs_a_shell(argv) {
                SeedCommand::Shell
            } else {
                SeedCommand::Exec
            }),
            Capability::Provider { access, .. } => out.provider.push(*access),
            Capability::Mcp { .. } => out.mcp.push(SeedMcp::Invoke),
            Capability::Event { .. } => {}
        }
    }
    out.network.sort();
    out.network.dedup();
    out.file.sort();
    out.file.dedup();
    out.command.sort();
    out.command.dedup();
    out.provider.sort();
    out.provider.dedup();
    out.mcp.sort();
    out.mcp.dedup();
    out
}

/// The seed network classes a destination pattern reaches.
fn network_classes(host: &str) -> Vec<SeedNetwork> {
    let Some(pattern) = HostPattern::parse(host) else {
        return vec![SeedNetwork::Outbound];
    };
    let (reaches_loopback, only_loopback) = match &pattern {
        HostPattern::Ip(ip) => (ip.is_loopback(), ip.is_loopback()),
        HostPattern::Cidr(net) => {
            let (first, last) = (net.network(), net.broadcast());
            let within = first.is_loopback() && last.is_loopback();
            let loopback: std::net::IpAddr = if first.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            };
            (within || (first <= loopback && loopback <= last), within)
        }
        HostPattern::Name(n) => {
            let local = n == "localhost" || n.ends_with(".localhost");
            (local, local)
        }
        HostPattern::Below(n) => {
            let local = n == "localhost" || n.ends_with(".localhost");
            (local, local)
        }
    };
    let mut classes = Vec::new();
    if reaches_loopback {
        classes.push(SeedNetwork::Loopback);
    }
    if pattern.is_internal() && !only_loopback {
        classes.push(SeedNetwork::Internal);
    }
    let reaches_public = match &pattern {
        HostPattern::Cidr(net) => spans_public(net.network(), net.broadcast()),
        _ => !pattern.is_internal(),
    };
    if reaches_public {
        classes.push(SeedNetwork::Outbound);
    }
    classes
}

/// Whether the block `first..=last` holds a public address, by the one
/// classification ([`sharelife_manifest::address::is_internal`]) of its
/// ends and 255 addresses spread evenly between them (internal ranges are
/// large, aligned blocks: a block that is public anywhere is public at one
/// of these unless it is mostly internal; then it is also labelled
/// internal).
fn spans_public(first: std::net::IpAddr, last: std::net::IpAddr) -> bool {
    use sharelife_manifest::address::is_internal;
    use std::net::IpAddr;
    let (lo, hi, v4) = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(b)), true)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), false),
        _ => return true,
    };
    let step = (hi - lo) / 256;
    (0..=256u128).any(|i| {
        let n = if i == 256 { hi } else { lo + step * i };
        let ip: IpAddr = if v4 {
            std::net::Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)).into()
        } else {
            std::net::Ipv6Addr::from(n).into()
        };
        !is_internal(ip)
    })
}

/// Program names (lowercase, without a directory and `.exe`) that are
/// command interpreters: a capability to run one is a capability to run
/// anything.
pub const SHELLS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ash",
    "ksh",
    "mksh",
    "csh",
    "tcsh",
    "fish",
    "nu",
    "xonsh",
    "elvish",
    "cmd",
    "powershell",
    "pwsh",
];

/// Whether `argv` runs a shell: its program is one of [`SHELLS`], directly
/// or behind `env` or `busybox`.
pub fn runs_a_shell(argv: &[String]) -> bool {
    let program = |arg: &str| {
        let base = arg
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(arg)
            .to_ascii_lowercase();
        base.strip_suffix(".exe").map(str::to_owned).unwrap_or(base)
    };
    let is_shell = |arg: &str| SHELLS.contains(&program(arg).as_str());
    let Some(first) = argv.first() else {
        return false;
    };
    if is_shell(first) {
        return true;
    }
    if matches!(program(first).as_str(), "env" | "busybox") {
        // `env [-i] [NAME=value]... PROGRAM`, `busybox PROGRAM`.
        return argv[1..]
            .iter()
            .find(|w| !w.starts_with('-') && !w.contains('='))
            .is_some_and(|w| is_shell(w));
    }
    false
}

/// The risk a seed capability class implies, by the risk our vocabulary
/// gives a representative capability of it (see the module docs).
pub fn implied_risk(kind: &str, class: &str) -> RiskLevel {
    let network = |host: &str| Capability::Network {
        host: host.to_owned(),
        ports: Vec::new(),
    };
    let file = |access| Capability::File {
        access,
        path: "x".to_owned(),
    };
    let command = Capability::Command {
        argv: vec!["x".to_owned()],
    };
    let provider = |access| Capability::Provider {
        name: "x".to_owned(),
        access,
    };
    let representative = match (kind, class) {
        ("network", "internal") => network("10.0.0.0/8"),
        ("network", "loopback") => network("127.0.0.1"),
        ("network", _) => network("example.com"),
        ("file", "read" | "config") => file(FileAccess::Read),
        ("file", _) => file(FileAccess::Write),
        ("command", _) => command,
        ("provider", "read") => provider(ProviderAccess::Read),
        ("provider", "write") => provider(ProviderAccess::Write),
        ("provider", _) => provider(ProviderAccess::Rotate),
        ("mcp", "install") => command,
        _ => Capability::Mcp {
            server: "x".to_owned(),
            tool: "x".to_owned(),
            sha256: None,
        },
    };
    representative.risk()
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: serde_json::Value =
            serde_json::from_str(SEED_SCHEMA).expect("the seed schema is JSON");
        jsonschema::validator_for(&schema).expect("the seed schema is a schema")
    })
}

/// Checks `value` against [`SEED_SCHEMA`].
///
/// # Errors
///
/// Every problem, each with its path (`capabilities.network[0]`), sorted
/// by path.
pub fn validate_record(value: &serde_json::Value) -> Result<(), Vec<SeedProblem>> {
    let mut problems: Vec<SeedProblem> = validator()
        .iter_errors(value)
        .map(|e| {
            let mut path = String::new();
            for segment in e.instance_path().as_str().split('/').skip(1) {
                let segment = segment.replace("~1", "/").replace("~0", "~");
                if segment.parse::<usize>().is_ok() {
                    path.push_str(&format!("[{segment}]"));
                } else {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&segment);
                }
            }
            SeedProblem {
                path,
                message: e.to_string(),
            }
        })
        .collect();
    problems.sort_by(|a, b| (&a.path, &a.message).cmp(&(&b.path, &b.message)));
    problems.dedup();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Checks a seed-format manifest read from `origin` (for messages): JSON,
/// the seed's schema, then what the mapping implies: `risk_level` at
/// least what its capabilities imply, and an administrator's confirmation
/// at or above [`ADMIN_CONFIRMATION_AT`].
///
/// # Errors
///
/// [`SeedError::Syntax`], [`SeedError::Schema`] (every problem with its
/// path), [`SeedError::RiskUnderstated`] naming the declared and the
/// implied risk, or [`SeedError::AdminConfirmationMissing`].
pub fn check_seed_manifest(text: &str, origin: &str) -> Result<SeedManifest, SeedError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| SeedError::Syntax {
        origin: origin.to_owned(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    validate_record(&value).map_err(|problems| SeedError::Schema {
        origin: origin.to_owned(),
        problems,
    })?;
    let seed: SeedManifest = serde_json::from_value(value).map_err(|e| SeedError::Schema {
        origin: origin.to_owned(),
        problems: vec![SeedProblem {
            path: String::new(),
            message: e.to_string(),
        }],
    })?;
    let (implied, because) = seed_implied_risk(&seed.capabilities);
    if seed.risk_level < implied {
        return Err(SeedError::RiskUnderstated {
            origin: origin.to_owned(),
            declared: seed.risk_level,
            implied,
            because: because.join(", "),
        });
    }
    if seed.risk_level >= ADMIN_CONFIRMATION_AT && !seed.permissions.requires_admin_confirmation {
        return Err(SeedError::AdminConfirmationMissing {
            origin: origin.to_owned(),
            risk: seed.risk_level,
        });
    }
    Ok(seed)
}

/// The highest risk the classes imply and the classes that imply it
/// (`command: exec`).
fn seed_implied_risk(capabilities: &SeedCapabilities) -> (RiskLevel, Vec<String>) {
    let mut classes: Vec<(&str, String)> = Vec::new();
    classes.extend(capabilities.network.iter().map(|c| ("network", name(c))));
    classes.extend(capabilities.file.iter().map(|c| ("file", name(c))));
    classes.extend(capabilities.command.iter().map(|c| ("command", name(c))));
    classes.extend(capabilities.provider.iter().map(|c| ("provider", name(c))));
    classes.extend(capabilities.mcp.iter().map(|c| ("mcp", name(c))));
    let implied = classes
        .iter()
        .map(|(kind, class)| implied_risk(kind, class))
        .max()
        .unwrap_or(RiskLevel::Low);
    let because = classes
        .iter()
        .filter(|(kind, class)| implied_risk(kind, class) == implied)
        .map(|(kind, class)| format!("{kind}: {class}"))
        .collect();
    (implied, because)
}

/// A seed class's name as written in files.
fn name<T: Serialize>(class: &T) -> String {
    match serde_json::to_value(class) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
