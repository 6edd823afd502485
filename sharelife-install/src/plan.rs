//! Plans: what an install, upgrade or removal would change, as a file a
//! person can review and an admin can sign.
//!
//! A plan is made against one registry snapshot and one installed
//! generation and pins both: applying it after either moved is refused as
//! stale. Versions are chosen by the host's own resolver
//! (`sharelife_core::host::resolver`), fed the registry's index entries as
//! described libraries, so a plan resolves exactly as a host booting the
//! result would.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sharelife_core::capability::{Gateway, Policy};
use sharelife_core::host::resolver::{self, ResolveInput};
use sharelife_core::loader::PluginFile;
use sharelife_manifest::{Capability, Dependency, Manifest, PluginId, RiskLevel};
use sharelife_registry::Client;
use sharelife_registry::index::IndexLine;
use sharelife_registry::label::CapabilitySummary;

use crate::InstallError;
use crate::generation::InstalledPlugin;
use crate::root::InstallRoot;

/// The plan format this crate writes.
pub const PLAN_FORMAT: u32 = 1;

/// A requested plugin: `ID` or `ID@RANGE` (`acme.upper@^1`; a bare
/// version `@1.2.0` means exactly that version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRequest {
    /// The plugin.
    pub id: PluginId,
    /// The versions accepted (`None`: the newest compatible).
    pub req: Option<VersionReq>,
}

impl FromStr for PluginRequest {
    type Err = InstallError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| InstallError::BadRequest {
            request: text.to_owned(),
            reason,
        };
        let (id, req) = match text.split_once('@') {
            Some((id, req)) => (id, Some(req)),
            None => (text, None),
        };
        let id: PluginId = id.parse().map_err(|e| bad(format!("{e}")))?;
        let req = match req {
            None => None,
            Some(r) => {
                let r = r.trim();
                if r.is_empty() {
                    return Err(bad("an empty version range after `@`".to_owned()));
                }
                // A bare version means that version, not `^version`.
                let exact = Version::parse(r).is_ok();
                let spelled = if exact { format!("={r}") } else { r.to_owned() };
                Some(VersionReq::parse(&spelled).map_err(|e| bad(e.to_string()))?)
            }
        };
        Ok(PluginRequest { id, req })
    }
}

/// What to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Add (or change the version of) these plugins and their dependencies.
    Install(Vec<PluginRequest>),
    /// Move these installed plugins (all, if empty) to their newest
    /// compatible versions.
    Upgrade(Vec<PluginId>),
    /// Remove these plugins (refused if others still depend on them).
    Remove(Vec<PluginId>),
}

impl Operation {
    fn name(&self) -> &'static str {
        match self {
            Operation::Install(_) => "install",
            Operation::Upgrade(_) => "upgrade",
            Operation::Remove(_) => "remove",
        }
    }
}

/// The registry a plan was made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRegistry {
    /// Its name in the client home.
    pub name: String,
    /// The snapshot version the plan saw.
    pub snapshot_version: u64,
}

/// The host a plan was made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanHost {
    /// The host's plugin API version.
    pub plugin_api: String,
    /// Its target triple.
    pub triple: String,
}

/// What happens to one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Newly installed.
    Add,
    /// A newer version replaces the installed one.
    Upgrade,
    /// An older version replaces the installed one.
    Downgrade,
    /// Stays as it is.
    Keep,
    /// Removed.
    Remove,
}

/// What the host's policy does with one requested capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyVerdict {
    /// The capability, in plain words.
    pub capability: String,
    /// Whether the policy grants it (otherwise every use is denied).
    pub granted: bool,
}

/// The capabilities an upgrade adds and removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityDiff {
    /// New capabilities (paths, hosts, argv prefixes, MCP tools…), in plain words.
    pub added: Vec<String>,
    /// Capabilities no longer requested.
    pub removed: Vec<String>,
    /// Risk of the installed version.
    pub risk_from: RiskLevel,
    /// Risk of the new version.
    pub risk_to: RiskLevel,
}

impl CapabilityDiff {
    /// Whether the new version may do more: a new capability or a higher
    /// risk label.
    pub fn widens(&self) -> bool {
        !self.added.is_empty() || self.risk_to > self.risk_from
    }
}

/// One plugin's line in a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanAction {
    /// What happens.
    pub action: ActionKind,
    /// The plugin.
    pub id: String,
    /// The installed version.
    #[schemars(with = "Option<String>")]
    pub from: Option<Version>,
    /// The version after.
    #[schemars(with = "Option<String>")]
    pub to: Option<Version>,
    /// sha256 of the package to install (add, upgrade, downgrade).
    pub package: Option<String>,
    /// The risk label of the version after (or the removed one).
    pub risk: RiskLevel,
    /// Its capabilities, each with its risk and in plain words.
    pub capabilities: Vec<CapabilitySummary>,
    /// Review evidence: scan mismatches and advisories.
    pub evidence: Vec<String>,
    /// What the host's policy grants or denies of it.
    pub policy: Vec<PolicyVerdict>,
    /// For an upgrade or downgrade: the capability diff.
    pub diff: Option<CapabilityDiff>,
    /// The package has no library for this host's triple: it is built from
    /// its source at apply (only if execution is enabled).
    pub build_from_source: bool,
    /// Asked for by name (not only a dependency).
    pub requested: bool,
}

impl PlanAction {
    /// Whether this action installs a new library.
    pub fn installs(&self) -> bool {
        matches!(
            self.action,
            ActionKind::Add | ActionKind::Upgrade | ActionKind::Downgrade
        )
    }
}

/// Whether a plan needs an admin's approval, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminNeed {
    /// Needs one.
    pub required: bool,
    /// The configured threshold.
    pub threshold: RiskLevel,
    /// Each reason in words.
    pub reasons: Vec<String>,
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// [`PLAN_FORMAT`].
    pub format: u32,
    /// `install`, `upgrade` or `remove`.
    pub operation: String,
    /// What was asked for, as given.
    pub requested: Vec<String>,
    /// When it was made.
    pub created: String,
    /// The registry and snapshot it saw.
    pub registry: PlanRegistry,
    /// The generation it was made against (`None`: nothing installed).
    pub base_generation: Option<u64>,
    /// The host it was made for.
    pub host: PlanHost,
    /// Every plugin of the resulting set, plus the removed ones, in start
    /// order.
    pub actions: Vec<PlanAction>,
    /// Admin approval.
    pub admin: AdminNeed,
    /// For a pack: what it brings besides plugins (its host config and
    /// pipelines, exactly as the new generation gets them) and the diff
    /// against this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack: Option<crate::pack::PackPlan>,
}

impl Plan {
    /// The plan's digest: sha256 of its JSON (fields in declaration order,
    /// maps sorted), hex. Approvals sign it; the plan file carries it.
    pub fn digest(&self) -> String {
        let value = serde_json::to_value(self).expect("a plan serializes");
        hex::encode(Sha256::digest(
            serde_json::to_vec(&value).expect("a value serializes"),
        ))
    }

    /// Whether anything changes.
    pub fn changes_anything(&self) -> bool {
        self.actions.iter().any(|a| a.action != ActionKind::Keep)
    }
}

/// An admin's approval of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The approving key's id.
    pub key_id: String,
    /// Its signature over [`approval_message`] of the plan's digest (hex).
    pub signature: String,
    /// When (RFC 3339).
    pub approved: String,
}

/// The bytes an approval signs: a fixed context and the plan's digest.
pub fn approval_message(digest: &str) -> Vec<u8> {
    format!("sharelife plan approval v1\n{digest}\n").into_bytes()
}

/// A plan file: the plan, its digest, and its approvals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// The plan.
    pub plan: Plan,
    /// Its digest, as computed when it was made.
    pub digest: String,
    /// Approvals.
    #[serde(default)]
    pub approvals: Vec<Approval>,
}

impl PlanFile {
    /// A plan file for a new plan (no approvals).
    pub fn new(plan: Plan) -> PlanFile {
        PlanFile {
            digest: plan.digest(),
            plan,
            approvals: Vec::new(),
        }
    }

    /// Reads a plan file and checks that the plan still has its digest.
    pub fn read(path: &Path) -> Result<PlanFile, InstallError> {
        let bytes = std::fs::read(path).map_err(crate::error::io(path))?;
        let file: PlanFile =
            serde_json::from_slice(&bytes).map_err(|e| InstallError::PlanTampered {
                path: path.to_owned(),
                reason: format!("not a plan file: {e}"),
            })?;
        let actual = file.plan.digest();
        if actual != file.digest {
            return Err(InstallError::PlanTampered {
                path: path.to_owned(),
                reason: format!(
                    "its contents hash to {actual}, the file says {}",
                    file.digest
                ),
            });
        }
        Ok(file)
    }

    /// Writes the plan file (pretty JSON) atomically.
    pub fn write(&self, path: &Path) -> Result<(), InstallError> {
        let text = serde_json::to_string_pretty(self).expect("a plan serializes") + "\n";
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(crate::error::io(dir))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(crate::error::io(path))?;
        tmp.as_file().sync_all().map_err(crate::error::io(path))?;
        tmp.persist(path).map_err(|e| InstallError::Io {
            path: path.to_owned(),
            source: e.error,
        })?;
        Ok(())
    }
}

/// The index line's manifest, as far as planning needs it: id, version,
/// API range, dependencies, platforms, capabilities.
pub fn manifest_of(line: &IndexLine) -> Result<Manifest, InstallError> {
    let bad = |reason: String| InstallError::Incompatible {
        id: line.id.clone(),
        version: line.vers.to_string(),
        reason,
    };
    let id: PluginId = line.id.parse().map_err(|e| bad(format!("{e}")))?;
    let api = VersionReq::parse(&line.api).map_err(|e| bad(format!("API range: {e}")))?;
    let mut m = Manifest::new(id, line.vers.clone(), api);
    for d in &line.deps {
        m.dependencies.push(Dependency {
            id: d
                .id
                .parse()
                .map_err(|e| bad(format!("dependency {}: {e}", d.id)))?,
            version: VersionReq::parse(&d.req)
                .map_err(|e| bad(format!("dependency {}: {e}", d.id)))?,
        });
    }
    m.platforms = line.label.compatibility.platforms.clone();
    m.capabilities = line
        .label
        .capabilities
        .iter()
        .map(|c| c.capability.clone())
        .collect();
    Ok(m)
}

/// Makes a plan on `root` against the registry `client` (named
/// `registry`), with the host policy from the root's settings.
pub fn make_plan(
    root: &InstallRoot,
    client: &Client,
    registry: &str,
    operation: &Operation,
) -> Result<Plan, InstallError> {
    let current = root.current()?;
    let installed: BTreeMap<String, InstalledPlugin> = current
        .iter()
        .flat_map(|g| g.plugins.iter().cloned())
        .map(|p| (p.id.clone(), p))
        .collect();
    let policy = host_policy(root)?;
    let triple = sharelife_registry::package::host_triple().to_owned();

    // The candidates: every version that may be chosen, per id.
    let mut lines: BTreeMap<String, Vec<IndexLine>> = BTreeMap::new();
    let mut requested: Vec<String> = Vec::new();
    let mut pinned: BTreeMap<String, Version> = installed
        .iter()
        .map(|(id, p)| (id.clone(), p.version.clone()))
        .collect();
    let mut queue: Vec<(String, Option<VersionReq>)> = Vec::new();
    match operation {
        Operation::Install(reqs) => {
            for r in reqs {
                requested.push(match &r.req {
                    Some(req) => format!("{}@{req}", r.id),
                    None => r.id.to_string(),
                });
                pinned.remove(r.id.as_str());
                queue.push((r.id.to_string(), r.req.clone()));
            }
        }
        Operation::Upgrade(ids) => {
            let ids: Vec<String> = if ids.is_empty() {
                installed.keys().cloned().collect()
            } else {
                ids.iter().map(ToString::to_string).collect()
            };
            for id in ids {
                let Some(p) = installed.get(&id) else {
                    return Err(InstallError::NotInstalled(id));
                };
                requested.push(id.clone());
                pinned.remove(&id);
                let at_least = VersionReq::parse(&format!(">={}", p.version)).expect("valid");
                queue.push((id, Some(at_least)));
            }
        }
        Operation::Remove(ids) => {
            for id in ids {
                if !installed.contains_key(id.as_str()) {
                    return Err(InstallError::NotInstalled(id.to_string()));
                }
                requested.push(id.to_string());
                pinned.remove(id.as_str());
            }
        }
    }
    let removing: Vec<String> = match operation {
        Operation::Remove(ids) => ids.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    // Installed plugins that stay are candidates at their installed version;
    // their dependencies come along the same way.
    let mut files: Vec<PluginFile> = Vec::new();
    let mut line_of: BTreeMap<(String, Version), IndexLine> = BTreeMap::new();
    for (id, version) in &pinned {
        if removing.contains(id) {
            continue;
        }
        let _ = version;
        files.push(installed_file(root, &installed[id])?);
    }
    // Requested plugins and their dependencies, from the registry.
    while let Some((id, req)) = queue.pop() {
        if lines.contains_key(&id) || pinned.contains_key(&id) {
            continue;
        }
        let all = client.info(&id)?;
        let exact = req.as_ref().and_then(exact_version);
        let chosen: Vec<IndexLine> = all
            .into_iter()
            .filter(|l| req.as_ref().is_none_or(|r| r.matches(&l.vers)))
            .filter(|l| !l.yanked || exact.as_ref() == Some(&l.vers))
            .collect();
        if chosen.is_empty() {
            return Err(InstallError::Registry(
                sharelife_registry::ClientError::NoMatchingVersion {
                    registry: registry.to_owned(),
                    id: id.clone(),
                    req: req.map_or_else(|| "*".to_owned(), |r| r.to_string()),
                    note: String::new(),
                },
            ));
        }
        for line in &chosen {
            for dep in &line.deps {
                if !lines.contains_key(&dep.id) && !pinned.contains_key(&dep.id) {
                    queue.push((dep.id.clone(), None));
                }
            }
            let m = manifest_of(line)?;
            files.push(PluginFile::described(
                format!("{registry}:{}", line.package_target()),
                m,
            ));
            line_of.insert((line.id.clone(), line.vers.clone()), line.clone());
        }
        lines.insert(id, chosen);
    }

    let resolution = resolve_all(files)?;

    let threshold = root.config().admin.threshold;
    let mut actions = Vec::new();
    let mut reasons = Vec::new();
    for chosen in &resolution.order {
        let m = chosen.file.manifest();
        let id = m.id.to_string();
        let before = installed.get(&id);
        let from = before.map(|p| p.version.clone());
        let kind = match &from {
            None => ActionKind::Add,
            Some(v) if *v == m.version => ActionKind::Keep,
            Some(v) if *v < m.version => ActionKind::Upgrade,
            Some(_) => ActionKind::Downgrade,
        };
        let was_requested = requested
            .iter()
            .any(|r| r.split('@').next() == Some(id.as_str()));
        let action = if kind == ActionKind::Keep {
            let p = before.expect("kept means installed");
            PlanAction {
                action: kind,
                id: id.clone(),
                from: from.clone(),
                to: from.clone(),
                package: None,
                risk: p.risk,
                capabilities: summaries(&p.capabilities),
                evidence: Vec::new(),
                policy: verdicts(&policy, m),
                diff: None,
                build_from_source: false,
                requested: p.requested || was_requested,
            }
        } else {
            let line = &line_of[&(id.clone(), m.version.clone())];
            let evidence = line_evidence(line);
            let diff = before.map(|p| capability_diff(p, m, line.label.risk));
            admin_reasons(m, line.label.risk, threshold, diff.as_ref(), &mut reasons);
            PlanAction {
                action: kind,
                id: id.clone(),
                from,
                to: Some(m.version.clone()),
                package: Some(line.cksum.clone()),
                risk: line.label.risk,
                capabilities: line.label.capabilities.clone(),
                evidence,
                policy: verdicts(&policy, m),
                diff,
                build_from_source: !line.targets.contains(&triple),
                requested: was_requested || before.is_some_and(|p| p.requested),
            }
        };
        actions.push(action);
    }
    for id in &removing {
        actions.push(removal(&installed[id]));
    }
    // Installed plugins the resolution dropped (a removed dependency's
    // dependents fail resolution above; nothing else drops silently).
    for (id, p) in &installed {
        if !actions.iter().any(|a| &a.id == id) {
            return Err(InstallError::Unresolved {
                problems: vec![format!(
                    "{id} {} is installed but would be dropped by this plan",
                    p.version
                )],
            });
        }
    }

    let plan = Plan {
        format: PLAN_FORMAT,
        operation: operation.name().to_owned(),
        requested,
        created: now(),
        registry: PlanRegistry {
            name: registry.to_owned(),
            snapshot_version: client.snapshot_version(),
        },
        base_generation: root.current_number()?,
        host: PlanHost {
            plugin_api: sharelife_manifest::PLUGIN_API_VERSION.to_owned(),
            triple,
        },
        actions,
        admin: AdminNeed {
            required: !reasons.is_empty(),
            threshold,
            reasons,
        },
        pack: None,
    };
    let changes: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| a.action != ActionKind::Keep)
        .map(|a| {
            let v = |v: &Option<Version>| v.as_ref().map_or("none".to_owned(), ToString::to_string);
            format!("{:?} {} {} -> {}", a.action, a.id, v(&a.from), v(&a.to))
        })
        .collect();
    root.record(
        "plan",
        crate::root::INSTALL_ACTOR,
        "",
        format!(
            "plan {} ({} {}): {}; against generation {}, registry `{registry}` snapshot {}{}",
            plan.digest(),
            plan.operation,
            plan.requested.join(" "),
            if changes.is_empty() {
                "no change".to_owned()
            } else {
                changes.join(", ")
            },
            plan.base_generation
                .map_or("none".to_owned(), |g| g.to_string()),
            plan.registry.snapshot_version,
            if plan.admin.required {
                "; needs an admin's approval"
            } else {
                ""
            },
        ),
        sharelife_core::audit::Outcome::Info,
    )?;
    root.flush_audit()?;
    Ok(plan)
}

/// Resolves `files` with the host's resolver (every plugin enabled);
/// any plugin it cannot place fails the plan, one line per problem.
pub(crate) fn resolve_all(
    files: Vec<PluginFile>,
) -> Result<sharelife_core::host::resolver::Resolution, InstallError> {
    let settings = BTreeMap::new();
    let present = BTreeMap::new();
    let resolution = resolver::resolve(
        files,
        ResolveInput {
            settings: &settings,
            auto_load: true,
            present: &present,
        },
    );
    if !resolution.failed.is_empty() {
        return Err(InstallError::Unresolved {
            problems: resolution
                .failed
                .iter()
                .map(|u| match &u.version {
                    Some(v) => format!("{} {v}: {u}", u.id),
                    None => format!("{}: {u}", u.id),
                })
                .collect(),
        });
    }
    Ok(resolution)
}

/// The review evidence of an index line: scan mismatches and advisories.
pub(crate) fn line_evidence(line: &IndexLine) -> Vec<String> {
    let mut evidence: Vec<String> = line
        .scan
        .mismatches
        .iter()
        .map(|x| x.message.clone())
        .collect();
    evidence.extend(
        line.scan
            .advisories
            .iter()
            .map(|a| format!("{} in {} {}: {}", a.id, a.package, a.version, a.title)),
    );
    evidence
}

/// The capability diff from installed `before` to `after` at risk `risk`.
pub(crate) fn capability_diff(
    before: &InstalledPlugin,
    after: &Manifest,
    risk: RiskLevel,
) -> CapabilityDiff {
    CapabilityDiff {
        added: difference(&after.capabilities, &before.capabilities),
        removed: difference(&before.capabilities, &after.capabilities),
        risk_from: before.risk,
        risk_to: risk,
    }
}

/// Why installing `m` at `risk` (with `diff` against the installed
/// version) needs an admin, if it does.
pub(crate) fn admin_reasons(
    m: &Manifest,
    risk: RiskLevel,
    threshold: RiskLevel,
    diff: Option<&CapabilityDiff>,
    reasons: &mut Vec<String>,
) {
    if risk >= threshold {
        reasons.push(format!("{} {} is {risk} risk", m.id, m.version));
    }
    if let Some(d) = diff.filter(|d| d.widens()) {
        let mut what = d.added.clone();
        if d.risk_to > d.risk_from {
            what.push(format!("risk {} -> {}", d.risk_from, d.risk_to));
        }
        reasons.push(format!(
            "{} {} widens its capabilities: {}",
            m.id,
            m.version,
            what.join(", ")
        ));
    }
}

/// The plan line removing installed plugin `p`.
pub(crate) fn removal(p: &InstalledPlugin) -> PlanAction {
    PlanAction {
        action: ActionKind::Remove,
        id: p.id.clone(),
        from: Some(p.version.clone()),
        to: None,
        package: None,
        risk: p.risk,
        capabilities: summaries(&p.capabilities),
        evidence: Vec::new(),
        policy: Vec::new(),
        diff: None,
        build_from_source: false,
        requested: true,
    }
}

pub(crate) fn exact_version(req: &VersionReq) -> Option<Version> {
    match req.comparators.as_slice() {
        [c] if c.op == semver::Op::Exact => Some(Version {
            major: c.major,
            minor: c.minor?,
            patch: c.patch?,
            pre: c.pre.clone(),
            build: semver::BuildMetadata::EMPTY,
        }),
        _ => None,
    }
}

/// The installed plugin's library, read (not run) as a host would: its
/// real manifest (dependencies, API range) goes to the resolver.
fn installed_file(root: &InstallRoot, p: &InstalledPlugin) -> Result<PluginFile, InstallError> {
    let n = root
        .current_number()?
        .ok_or_else(|| InstallError::NotInstalled(p.id.clone()))?;
    let path = root.generation_dir(n).join("plugins").join(&p.library);
    PluginFile::read(&path).map_err(|e| InstallError::Mismatch {
        path,
        reason: e.to_string(),
    })
}

pub(crate) fn summaries(caps: &[Capability]) -> Vec<CapabilitySummary> {
    caps.iter()
        .map(|c| CapabilitySummary {
            capability: c.clone(),
            kind: c.kind(),
            risk: c.risk(),
            plain: c.plain(),
        })
        .collect()
}

pub(crate) fn difference(a: &[Capability], b: &[Capability]) -> Vec<String> {
    a.iter()
        .filter(|c| !b.contains(c))
        .map(Capability::plain)
        .collect()
}

pub(crate) fn verdicts(policy: &Policy, manifest: &Manifest) -> Vec<PolicyVerdict> {
    let scratch = std::env::temp_dir();
    let ungranted: Vec<Capability> = match Gateway::compile(manifest, policy, &scratch) {
        Ok(g) => g.ungranted().to_vec(),
        Err(_) => manifest.capabilities.clone(),
    };
    manifest
        .capabilities
        .iter()
        .map(|c| PolicyVerdict {
            capability: c.plain(),
            granted: !ungranted.contains(c),
        })
        .collect()
}

/// The host policy plans report: the `[policy]` of the root's host config
/// ([`InstallRoot::host_config_path`]), or the default (nothing granted).
/// Read as written: `${VAR}`s elsewhere in the file need not be set.
pub(crate) fn host_policy(root: &InstallRoot) -> Result<Policy, InstallError> {
    match root.host_config_path()? {
        None => Ok(Policy::default()),
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(crate::error::io(&path))?;
            crate::pack::policy_of(&text).map_err(|message| InstallError::Config {
                path: path.clone(),
                message,
            })
        }
    }
}

pub(crate) fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}
