//! The risk label, capability summary and compatibility matrix.
//!
//! Every risk here comes from the one capability vocabulary in
//! `sharelife-manifest`: a capability's risk is [`Capability::risk`], the
//! declared label is [`Manifest::risk`], and the label only ever goes *up*
//! from there, by [`Raise`]s: evidence the scan found (a raw import around
//! the gateway, an advisory against a locked crate).
//!
//! ## Host versions
//!
//! A sharelife host is compatible with a plugin when the plugin's `api`
//! range accepts the host's plugin-API version
//! ([`sharelife_manifest::PLUGIN_API_VERSION`]). The host versions a label
//! talks about are therefore *plugin-API versions*, and the matrix pairs
//! the range with every version in [`known_host_api_versions`].
//!
//! `min_host_version` / `max_host_version` (the AITBC registry format's
//! `compatibility.min_…_version` / `max_…_version`) are derived from the
//! range:
//!
//! - **min**: the lowest known host API version the range accepts; when it
//!   accepts none of them, the range's own lower bound (`>=0.3` → `0.3.0`,
//!   `^1.2` → `1.2.0`, missing parts are zero), or `0.0.0` when the range has
//!   no lower bound.
//! - **max**: the range's upper bound in `x` notation, `None` when the
//!   range is open-ended (`>=0.1`, `*`): `^0.1` → `0.1.x`, `^1.2` → `1.x`,
//!   `~1.2.3` → `1.2.x`, `=0.1.0` → `0.1.0`, `0.1.*` → `0.1.x`, `<=0.3.0` →
//!   `0.3.0`, `<0.3.0` → `<0.3.0`. With several comparators, the first
//!   that bounds the range from above.

use semver::{Comparator, Op, Version, VersionReq};
use serde::{Deserialize, Serialize};
use sharelife_manifest::{Capability, Kind, Manifest, PLUGIN_API_VERSION, RiskLevel};

/// Evidence that raises a plugin's label above what its declared
/// capabilities imply (a raw import around the gateway, an advisory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Raise {
    /// The label this evidence raises the plugin to (at least).
    pub to: RiskLevel,
    /// Why, in plain words: "declares no network, imports `connect`".
    pub reason: String,
}

/// The risk at and above which installing a plugin needs an
/// administrator's confirmation (the install flow asks; the seed record's
/// `permissions.requires_admin_confirmation` says so).
pub const ADMIN_CONFIRMATION_AT: RiskLevel = RiskLevel::High;

/// The plugin-API versions sharelife hosts have shipped, oldest first.
/// Add each new version here when a release changes
/// [`PLUGIN_API_VERSION`]; [`known_host_api_versions`] adds the current one
/// in any case.
pub const KNOWN_HOST_API_VERSIONS: &[&str] = &["0.1.0"];

/// Every known host plugin-API version: [`KNOWN_HOST_API_VERSIONS`] plus
/// [`PLUGIN_API_VERSION`], sorted, without duplicates.
pub fn known_host_api_versions() -> Vec<Version> {
    let mut versions: Vec<Version> = KNOWN_HOST_API_VERSIONS
        .iter()
        .chain(std::iter::once(&PLUGIN_API_VERSION))
        .map(|v| Version::parse(v).expect("known host API versions are versions"))
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

/// What a user sees before installing a plugin: how risky it is and why,
/// what it asks for, and where it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Label {
    /// The final label: the highest of the declared risk and every
    /// [`Raise::to`].
    pub risk: RiskLevel,
    /// The risk the manifest's capabilities imply ([`Manifest::risk`]).
    pub declared_risk: RiskLevel,
    /// The evidence that raised the label (may be empty, or hold evidence
    /// that raises to no more than the declared risk).
    pub raised_by: Vec<Raise>,
    /// Each requested capability with its risk and plain words.
    pub capabilities: Vec<CapabilitySummary>,
    /// Where the plugin runs.
    pub compatibility: Compatibility,
}

/// One requested capability, summarised for a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CapabilitySummary {
    /// The request, serialized as in the manifest.
    pub capability: Capability,
    /// Its kind.
    pub kind: Kind,
    /// Its risk ([`Capability::risk`]).
    pub risk: RiskLevel,
    /// Plain words ([`Capability::plain`]).
    pub plain: String,
}

/// Where a plugin runs: API range against host versions, targets and
/// platforms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Compatibility {
    /// The plugin's API range (a semver `VersionReq`, e.g. `^0.1`).
    pub plugin_api: String,
    /// Each known host plugin-API version and whether the range accepts it.
    pub host_api: Vec<HostApiCompat>,
    /// The target triples the package ships a library for.
    pub targets: Vec<String>,
    /// The manifest's platforms (empty: every platform).
    pub platforms: Vec<String>,
    /// The lowest host plugin-API version the plugin runs on (see the
    /// module docs for the rule).
    pub min_host_version: String,
    /// The highest, in `x` notation; `None` when the range is open-ended.
    pub max_host_version: Option<String>,
}

/// One cell of the compatibility matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostApiCompat {
    /// A host plugin-API version.
    pub version: String,
    /// Whether the plugin's range accepts it.
    pub compatible: bool,
}

/// The label of a plugin with `manifest`, shipped for `targets`, given the
/// scan's `raises`.
pub fn label(manifest: &Manifest, targets: &[String], raises: &[Raise]) -> Label {
    let declared_risk = manifest.risk();
    let risk = raises
        .iter()
        .map(|r| r.to)
        .fold(declared_risk, RiskLevel::max);
    let capabilities = manifest
        .capabilities
        .iter()
        .map(|c| CapabilitySummary {
            capability: c.clone(),
            kind: c.kind(),
            risk: c.risk(),
            plain: c.plain(),
        })
        .collect();
    Label {
        risk,
        declared_risk,
        raised_by: raises.to_vec(),
        capabilities,
        compatibility: compatibility(&manifest.api, targets, &manifest.platforms),
    }
}

/// The compatibility of a plugin with API range `api`, shipped for
/// `targets`, supporting `platforms`.
pub fn compatibility(api: &VersionReq, targets: &[String], platforms: &[String]) -> Compatibility {
    let known = known_host_api_versions();
    let host_api = known
        .iter()
        .map(|v| HostApiCompat {
            version: v.to_string(),
            compatible: api.matches(v),
        })
        .collect();
    let min_host_version = known
        .iter()
        .find(|v| api.matches(v))
        .map(Version::to_string)
        .or_else(|| api.comparators.iter().find_map(lower_bound))
        .unwrap_or_else(|| "0.0.0".to_owned());
    Compatibility {
        plugin_api: api.to_string(),
        host_api,
        targets: targets.to_vec(),
        platforms: platforms.to_vec(),
        min_host_version,
        max_host_version: api.comparators.iter().find_map(upper_bound),
    }
}

/// The lowest version a comparator accepts, missing parts zero; `None`
/// for comparators without a lower bound.
fn lower_bound(c: &Comparator) -> Option<String> {
    let full = format!(
        "{}.{}.{}",
        c.major,
        c.minor.unwrap_or(0),
        c.patch.unwrap_or(0)
    );
    match c.op {
        Op::Exact | Op::GreaterEq | Op::Tilde | Op::Caret | Op::Wildcard => Some(full),
        Op::Greater => Some(format!(">{full}")),
        _ => None,
    }
}

/// The highest version a comparator accepts, in `x` notation; `None` for
/// comparators without an upper bound.
fn upper_bound(c: &Comparator) -> Option<String> {
    let exact = || {
        let mut v = c.major.to_string();
        for part in [c.minor, c.patch] {
            match part {
                Some(p) => v.push_str(&format!(".{p}")),
                None => return format!("{v}.x"),
            }
        }
        v
    };
    match c.op {
        Op::Exact | Op::Wildcard => Some(exact()),
        Op::LessEq => Some(format!(
            "{}.{}.{}",
            c.major,
            c.minor.unwrap_or(0),
            c.patch.unwrap_or(0)
        )),
        Op::Less => Some(format!(
            "<{}.{}.{}",
            c.major,
            c.minor.unwrap_or(0),
            c.patch.unwrap_or(0)
        )),
        Op::Tilde => Some(match c.minor {
            Some(minor) => format!("{}.{minor}.x", c.major),
            None => format!("{}.x", c.major),
        }),
        Op::Caret => Some(match (c.major, c.minor, c.patch) {
            (0, Some(0), Some(patch)) => format!("0.0.{patch}"),
            (0, Some(minor), _) => format!("0.{minor}.x"),
            (major, _, _) => format!("{major}.x"),
        }),
        _ => None,
    }
}
