//! The static catalog, modelled on cargo's sparse index.
//!
//! Every file here is a TUF target of the registry (see [`crate::trust`]):
//!
//! | target | signed by | holds |
//! |---|---|---|
//! | `index/config.json` | the root key | [`IndexConfig`]: format, name, where packages live |
//! | `index/<shard>/<id>` | the publisher | one [`IndexLine`] per version, JSON lines; lines are immutable except `yanked` |
//! | `index/summary.json` | the registry's online key | [`Summary`]: every plugin's newest version, for `search` in one request |
//! | `packages/<id>/<id>-<version>.slpkg` | the publisher | the package |
//!
//! Shards follow cargo: `1/a`, `2/ab`, `3/a/abc`, then `ac/me/acme.upper`
//! (first two characters / next two). The schemas are in
//! `schemas/registry.index-line.v1.schema.json` and
//! `schemas/registry.summary.v1.schema.json`.

use std::collections::BTreeSet;

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::label::Label;
use crate::scan::ScanReport;

/// The index format this crate reads and writes.
pub const INDEX_FORMAT: u32 = 1;

/// The target name of the registry's config.
pub const CONFIG_TARGET: &str = "index/config.json";

/// The target name of the search summary.
pub const SUMMARY_TARGET: &str = "index/summary.json";

/// The longest index file accepted (bytes): a bound on what one plugin's
/// history may cost a client.
pub const MAX_INDEX_FILE: usize = 16 * 1024 * 1024;

/// What was wrong with an index file or summary.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A line is not a valid index line.
    #[error("{file}:{line}: {message}")]
    Line {
        /// The index file (target name).
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file as a whole is wrong (too large, not UTF-8).
    #[error("{file}: {message}")]
    File {
        /// The file (target name).
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// `index/config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// [`INDEX_FORMAT`].
    pub format: u32,
    /// The registry's display name.
    pub name: String,
    /// Where a version's package lives, with `{id}` and `{version}`
    /// markers, relative to the registry's targets.
    pub dl: String,
    /// The search summary's target name.
    pub summary: String,
}

impl IndexConfig {
    /// The config of a new registry called `name`.
    pub fn new(name: &str) -> Self {
        IndexConfig {
            format: INDEX_FORMAT,
            name: name.to_owned(),
            dl: "packages/{id}/{id}-{version}.slpkg".to_owned(),
            summary: SUMMARY_TARGET.to_owned(),
        }
    }
}

/// A dependency in an index line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexDependency {
    /// The plugin depended on.
    pub id: String,
    /// Its version range.
    pub req: String,
}

/// One published version: one line of `index/<shard>/<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexLine {
    /// [`INDEX_FORMAT`].
    pub v: u32,
    /// The plugin id.
    pub id: String,
    /// The version.
    #[schemars(with = "String")]
    pub vers: Version,
    /// sha256 of the `.slpkg` (hex).
    pub cksum: String,
    /// Size of the `.slpkg` in bytes.
    pub size: u64,
    /// Withdrawn by its publisher: kept for reproducibility, never chosen
    /// for a new install.
    pub yanked: bool,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Authors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// SPDX license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Source repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// The plugin API range.
    pub api: String,
    /// Plugin dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<IndexDependency>,
    /// Target triples the package carries a library for.
    pub targets: Vec<String>,
    /// The publisher role that signed it.
    pub publisher: String,
    /// When it was published (RFC 3339, UTC).
    pub published: String,
    /// Risk label, capability summary, compatibility.
    pub label: Label,
    /// Review evidence: raw imports, mismatches, advisories, digests.
    pub scan: ScanReport,
    /// The record in the seed platform's manifest format
    /// (`schemas/seed/plugin.manifest.v2.schema.json`).
    pub seed: serde_json::Value,
}

impl IndexLine {
    /// The package's target name.
    pub fn package_target(&self) -> String {
        package_target(&self.id, &self.vers)
    }
}

/// The sharded index path of a plugin id (`index/ac/me/acme.upper`).
pub fn index_target(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let shard = match chars.len() {
        0 | 1 => "1".to_owned(),
        2 => "2".to_owned(),
        3 => format!("3/{}", chars[0]),
        _ => format!(
            "{}/{}",
            chars[..2].iter().collect::<String>(),
            chars[2..4].iter().collect::<String>()
        ),
    };
    format!("index/{shard}/{id}")
}

/// The package target of a version.
pub fn package_target(id: &str, version: &Version) -> String {
    format!("packages/{id}/{id}-{version}.slpkg")
}

/// Parses an index file: JSON lines, each for `id`, versions unique.
pub fn parse_index_file(file: &str, id: &str, bytes: &[u8]) -> Result<Vec<IndexLine>, IndexError> {
    if bytes.len() > MAX_INDEX_FILE {
        return Err(IndexError::File {
            file: file.to_owned(),
            message: format!(
                "{} bytes is over the {MAX_INDEX_FILE}-byte limit",
                bytes.len()
            ),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| IndexError::File {
        file: file.to_owned(),
        message: format!("not UTF-8: {e}"),
    })?;
    let mut seen = BTreeSet::new();
    let mut lines = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let bad = |message: String| IndexError::Line {
            file: file.to_owned(),
            line: n + 1,
            message,
        };
        let line: IndexLine = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        if line.v != INDEX_FORMAT {
            return Err(bad(format!(
                "index format {} (this client reads {INDEX_FORMAT})",
                line.v
            )));
        }
        if line.id != id {
            return Err(bad(format!(
                "line for `{}` in the index file of `{id}`",
                line.id
            )));
        }
        if line.cksum.len() != 64 || !line.cksum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!(
                "cksum `{}` is not a sha256 in hex",
                line.cksum
            )));
        }
        if !seen.insert(line.vers.clone()) {
            return Err(bad(format!("version {} appears twice", line.vers)));
        }
        lines.push(line);
    }
    Ok(lines)
}

/// Renders an index file (one line per version, in the given order).
pub fn render_index_file(lines: &[IndexLine]) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(&serde_json::to_string(line).expect("an index line serializes"));
        out.push('\n');
    }
    out
}

/// Compatibility in the AITBC registry format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SummaryCompatibility {
    /// The lowest host plugin-API version the plugin loads on.
    pub min_sharelife_version: String,
    /// The highest, if bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sharelife_version: Option<String>,
}

/// A capability in the summary: what it is and its risk, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SummaryCapability {
    /// Its kind (`file`, `net`…).
    pub kind: String,
    /// Its risk.
    pub risk: String,
    /// In plain words: "connects to api.example.com:443".
    pub plain: String,
}

/// One plugin in the search summary: the AITBC spec's registry entry,
/// extended with ours (`id`, `risk`, `capabilities`, `mismatch`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SummaryEntry {
    /// AITBC `name`: the plugin id.
    pub name: String,
    /// Newest non-yanked version (the newest version when all are yanked).
    pub version: String,
    /// Description.
    pub description: String,
    /// Authors, comma-separated.
    pub author: String,
    /// SPDX license.
    pub license: String,
    /// Source repository.
    pub repository: String,
    /// The package's target path, relative to the registry's targets.
    pub download_url: String,
    /// `sha256:<hex>` of the package.
    pub checksum: String,
    /// Keywords.
    pub tags: Vec<String>,
    /// Host versions.
    pub compatibility: SummaryCompatibility,
    /// The plugin id (same as `name`).
    pub id: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Risk label of that version.
    pub risk: String,
    /// Its capabilities with their risk.
    pub capabilities: Vec<SummaryCapability>,
    /// True when the scan found raw roads the manifest does not declare,
    /// or advisories.
    pub mismatch: bool,
    /// Every version, oldest first.
    pub versions: Vec<String>,
    /// The yanked ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub yanked: Vec<String>,
    /// Target triples of that version.
    pub targets: Vec<String>,
    /// The publisher role.
    pub publisher: String,
}

/// `index/summary.json`: `{"plugins": [...]}` sorted by id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    /// [`INDEX_FORMAT`].
    #[serde(default)]
    pub format: u32,
    /// Every plugin.
    pub plugins: Vec<SummaryEntry>,
}

impl Summary {
    /// Parses a summary file.
    pub fn parse(bytes: &[u8]) -> Result<Summary, IndexError> {
        serde_json::from_slice(bytes).map_err(|e| IndexError::File {
            file: SUMMARY_TARGET.to_owned(),
            message: e.to_string(),
        })
    }

    /// Replaces (or adds) the entry for the plugin whose index lines these
    /// are. With no lines, removes it.
    pub fn update(&mut self, id: &str, lines: &[IndexLine]) {
        self.format = INDEX_FORMAT;
        self.plugins.retain(|p| p.id != id);
        if let Some(entry) = SummaryEntry::of(lines) {
            self.plugins.push(entry);
        }
        self.plugins.sort_by(|a, b| a.id.cmp(&b.id));
    }

    /// The entries matching `query` (case-insensitive substring of the id,
    /// name, description or a keyword; empty matches all), best first:
    /// exact id, then id prefix, then the rest by id.
    pub fn search(&self, query: &str) -> Vec<&SummaryEntry> {
        let q = query.to_lowercase();
        let mut hits: Vec<(u8, &SummaryEntry)> = self
            .plugins
            .iter()
            .filter_map(|p| {
                let id = p.id.to_lowercase();
                let rank = if q.is_empty() || id == q {
                    0
                } else if id.starts_with(&q) {
                    1
                } else if id.contains(&q)
                    || p.display_name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(&q))
                    || p.description.to_lowercase().contains(&q)
                    || p.tags.iter().any(|t| t.to_lowercase().contains(&q))
                {
                    2
                } else {
                    return None;
                };
                Some((rank, p))
            })
            .collect();
        hits.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        hits.into_iter().map(|(_, p)| p).collect()
    }
}

impl SummaryEntry {
    /// The summary entry of a plugin's index lines (`None` when empty).
    pub fn of(lines: &[IndexLine]) -> Option<SummaryEntry> {
        let newest = lines
            .iter()
            .filter(|l| !l.yanked)
            .max_by(|a, b| a.vers.cmp(&b.vers))
            .or_else(|| lines.iter().max_by(|a, b| a.vers.cmp(&b.vers)))?;
        let mut versions: Vec<&Version> = lines.iter().map(|l| &l.vers).collect();
        versions.sort();
        Some(SummaryEntry {
            name: newest.id.clone(),
            version: newest.vers.to_string(),
            description: newest.description.clone().unwrap_or_default(),
            author: newest.authors.join(", "),
            license: newest.license.clone().unwrap_or_default(),
            repository: newest.repository.clone().unwrap_or_default(),
            download_url: newest.package_target(),
            checksum: format!("sha256:{}", newest.cksum),
            tags: newest.keywords.clone(),
            compatibility: SummaryCompatibility {
                min_sharelife_version: newest.label.compatibility.min_host_version.clone(),
                max_sharelife_version: newest.label.compatibility.max_host_version.clone(),
            },
            id: newest.id.clone(),
            display_name: newest.name.clone(),
            risk: newest.label.risk.to_string(),
            capabilities: newest
                .label
                .capabilities
                .iter()
                .map(|c| SummaryCapability {
                    kind: c.kind.as_str().to_owned(),
                    risk: c.risk.to_string(),
                    plain: c.plain.clone(),
                })
                .collect(),
            mismatch: !newest.label.raised_by.is_empty(),
            versions: versions.iter().map(|v| v.to_string()).collect(),
            yanked: lines
                .iter()
                .filter(|l| l.yanked)
                .map(|l| l.vers.to_string())
                .collect(),
            targets: newest.targets.clone(),
            publisher: newest.publisher.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_like_cargo() {
        assert_eq!(index_target("a"), "index/1/a");
        assert_eq!(index_target("ab"), "index/2/ab");
        assert_eq!(index_target("abc"), "index/3/a/abc");
        assert_eq!(index_target("acme.upper"), "index/ac/me/acme.upper");
    }

    #[test]
    fn a_bad_line_is_named_by_number() {
        let err = parse_index_file("index/ac/me/acme.x", "acme.x", b"\n{\"v\":1}\n").unwrap_err();
        assert!(matches!(err, IndexError::Line { line: 2, .. }), "{err}");
    }
}
