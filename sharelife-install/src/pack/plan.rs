//! A pack as a plan of the install flow, and applying it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sharelife_core::audit::Outcome;
use sharelife_core::loader::PluginFile;
use sharelife_manifest::Manifest;
use sharelife_registry::Client;
use sharelife_registry::package::Package;
use toml::{Table, Value};

use super::diff::{DiffInput, PackDiff, diff};
use super::redact::MACHINE_KEYS;
use super::{Pack, PackPlugin};
use crate::InstallError;
use crate::apply::ApplySource;
use crate::error::io;
use crate::generation::InstalledPlugin;
use crate::plan::{
    ActionKind, AdminNeed, PLAN_FORMAT, Plan, PlanAction, PlanFile, PlanHost, PlanRegistry,
    admin_reasons, capability_diff, line_evidence, manifest_of, now, removal, resolve_all,
    verdicts,
};
use crate::root::{INSTALL_ACTOR, InstallRoot};

/// A registry a pack plan fetches from, and the snapshot it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackPlanRegistry {
    /// Its name on this machine.
    pub name: String,
    /// The snapshot version the plan saw.
    pub snapshot_version: u64,
}

/// What a plan made from a pack carries besides its plugin actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackPlan {
    /// sha256 of the pack file (apply refuses another file).
    pub digest: String,
    /// Its content digest ([`PackManifest::content_digest`](super::PackManifest::content_digest)).
    pub content_digest: String,
    /// Who signed it (a key this root trusts), if anyone.
    pub signer: Option<String>,
    /// Whether its packages are embedded (nothing is fetched).
    pub embedded: bool,
    /// Each plugin's registry on this machine.
    pub sources: BTreeMap<String, String>,
    /// The registries fetched from, with the snapshots the plan saw.
    pub registries: Vec<PackPlanRegistry>,
    /// The new generation's `host.toml`, exactly as it will be written.
    pub host_config: String,
    /// The new generation's pipeline files, by name.
    pub pipelines: BTreeMap<String, String>,
    /// The diff against this machine.
    pub diff: PackDiff,
}

/// Makes the plan that applies `pack` on `root`: the pack's exact set of
/// plugins (checked by the host's resolver for this host's API, triple
/// and platform), removing what it does not list, with its host config
/// and pipelines.
///
/// First the pack must pass [`Pack::check_trust`] (signer, registries).
/// `open` opens a registry of this machine by name (`Home::open`, or
/// `Home::open_read_only` for a dry run); it is called once for each
/// registry the plugins are fetched from, none when the pack embeds its
/// packages. The opened clients are returned for
/// [`apply_pack`]. `record`: write the plan (or the refusal) to the audit
/// log; false for a dry run, which changes nothing.
pub fn plan_pack(
    root: &InstallRoot,
    pack: &Pack,
    open: &mut dyn FnMut(&str) -> Result<Client, sharelife_registry::ClientError>,
    record: bool,
) -> Result<(Plan, BTreeMap<String, Client>), InstallError> {
    let refused = |e: InstallError| -> InstallError {
        if record {
            let _ = root.record(
                "plan",
                INSTALL_ACTOR,
                "",
                format!("pack {} ({}) refused: {e}", pack.digest(), pack.origin()),
                Outcome::Deny,
            );
            let _ = root.flush_audit();
        }
        e
    };
    let (signer, sources) = pack.check_trust(root).map_err(refused)?;
    let mut clients = BTreeMap::new();
    if !pack.manifest().embedded {
        for name in sources.values() {
            if !clients.contains_key(name) {
                clients.insert(name.clone(), open(name).map_err(|e| refused(e.into()))?);
            }
        }
    }
    let plan = plan_checked(root, pack, &clients, signer, &sources, record).map_err(refused)?;
    Ok((plan, clients))
}

fn plan_checked(
    root: &InstallRoot,
    pack: &Pack,
    clients: &BTreeMap<String, Client>,
    signer: Option<String>,
    sources: &BTreeMap<String, String>,
    record: bool,
) -> Result<Plan, InstallError> {
    let current = root.current()?;
    let installed: BTreeMap<String, InstalledPlugin> = current
        .iter()
        .flat_map(|g| g.plugins.iter().cloned())
        .map(|p| (p.id.clone(), p))
        .collect();
    let triple = sharelife_registry::package::host_triple().to_owned();
    let threshold = root.config().admin.threshold;

    // Every plugin of the pack, as its registry (or the embedded package)
    // describes it.
    struct Chosen {
        manifest: Manifest,
        risk: sharelife_manifest::RiskLevel,
        capabilities: Vec<sharelife_registry::label::CapabilitySummary>,
        evidence: Vec<String>,
        targets: Vec<String>,
    }
    let mut chosen: BTreeMap<String, Chosen> = BTreeMap::new();
    let mut used: BTreeMap<String, u64> = BTreeMap::new();
    for p in &pack.manifest().plugins {
        let c = if pack.manifest().embedded {
            let package = embedded_package(pack, p)?;
            let manifest = package.manifest().clone();
            let targets: Vec<String> = package.libraries().map(|(t, _, _)| t.to_owned()).collect();
            let label = sharelife_registry::label::label(&manifest, &targets, &[]);
            Chosen {
                risk: label.risk.max(p.risk),
                capabilities: label.capabilities,
                evidence: vec![format!(
                    "embedded in pack {}: verified by digest against the pack, not fetched from `{}`",
                    &pack.digest()[..12],
                    p.registry.name
                )],
                targets,
                manifest,
            }
        } else {
            let name = &sources[&p.id];
            let client = clients.get(name).ok_or_else(|| {
                InstallError::Registry(sharelife_registry::ClientError::UnknownRegistry(
                    name.clone(),
                ))
            })?;
            used.insert(name.clone(), client.snapshot_version());
            let line = client
                .info(&p.id)?
                .into_iter()
                .find(|l| l.vers == p.version)
                .ok_or_else(|| {
                    InstallError::Registry(sharelife_registry::ClientError::NoMatchingVersion {
                        registry: name.clone(),
                        id: p.id.clone(),
                        req: format!("={}", p.version),
                        note: " (the pack pins it)".to_owned(),
                    })
                })?;
            if line.cksum != p.package {
                return Err(InstallError::Mismatch {
                    path: PathBuf::from(line.package_target()),
                    reason: format!(
                        "registry `{name}` serves package {} for {} {}, the pack pins {}",
                        line.cksum, p.id, p.version, p.package
                    ),
                });
            }
            Chosen {
                manifest: manifest_of(&line)?,
                risk: line.label.risk,
                capabilities: line.label.capabilities.clone(),
                evidence: line_evidence(&line),
                targets: line.targets.clone(),
            }
        };
        chosen.insert(p.id.clone(), c);
    }

    // The host's resolver checks the set: API range, dependencies,
    // platforms; the pack's exact versions are the only candidates.
    let files: Vec<PluginFile> = chosen
        .iter()
        .map(|(id, c)| PluginFile::described(format!("pack:{id}"), c.manifest.clone()))
        .collect();
    let resolution = resolve_all(files)?;

    // The new generation's settings and the diff against today's.
    let Settings {
        old_path,
        old_host,
        host_config,
        new_policy,
    } = settings(root, pack)?;
    let old_pipelines = match root.current_number()? {
        Some(n) => read_pipelines(&root.generation_dir(n).join("pipelines"))?,
        None => BTreeMap::new(),
    };
    let pipelines = pack.pipelines();
    let manifests: Vec<Manifest> = resolution
        .order
        .iter()
        .map(|c| c.file.manifest().clone())
        .collect();
    let pack_diff = diff(&DiffInput {
        old_host: &old_host,
        new_host: &host_config,
        old_pipelines: &old_pipelines,
        new_pipelines: &pipelines,
        plugins: &manifests,
        inputs: &pack.manifest().required_inputs,
        packs: &root.config().packs,
    })
    .map_err(|message| InstallError::Config {
        path: old_path.clone().unwrap_or_else(|| root.dir().to_owned()),
        message,
    })?;

    let mut actions = Vec::new();
    let mut reasons = Vec::new();
    for r in &resolution.order {
        let m = r.file.manifest();
        let id = m.id.to_string();
        let c = &chosen[&id];
        let p = pack
            .manifest()
            .plugins
            .iter()
            .find(|p| p.id == id)
            .expect("chosen from the pack");
        let before = installed.get(&id);
        let kind = match before {
            None => ActionKind::Add,
            Some(b) if b.version == m.version && b.package == p.package => ActionKind::Keep,
            Some(b) if b.version <= m.version => ActionKind::Upgrade,
            Some(_) => ActionKind::Downgrade,
        };
        let diff = before
            .filter(|_| kind != ActionKind::Keep)
            .map(|b| capability_diff(b, m, c.risk));
        if kind != ActionKind::Keep {
            admin_reasons(m, c.risk, threshold, diff.as_ref(), &mut reasons);
        }
        actions.push(PlanAction {
            action: kind,
            id: id.clone(),
            from: before.map(|b| b.version.clone()),
            to: Some(m.version.clone()),
            package: (kind != ActionKind::Keep).then(|| p.package.clone()),
            risk: c.risk,
            capabilities: c.capabilities.clone(),
            evidence: if kind == ActionKind::Keep {
                Vec::new()
            } else {
                c.evidence.clone()
            },
            policy: verdicts(&new_policy, m),
            diff,
            build_from_source: kind != ActionKind::Keep && !c.targets.contains(&triple),
            requested: p.requested,
        });
    }
    for (id, b) in &installed {
        if !chosen.contains_key(id) {
            actions.push(removal(b));
        }
    }
    if pack_diff.widens_policy() {
        let mut what: Vec<String> = pack_diff
            .grants_widened
            .iter()
            .map(|g| format!("grants {} {} ({} risk)", g.plugin, g.capability, g.risk))
            .collect();
        what.extend(
            pack_diff
                .policy_rules_added
                .iter()
                .filter(|r| r.starts_with("allow "))
                .map(|r| format!("adds rule `{r}`")),
        );
        reasons.push(format!("the pack widens the policy: {}", what.join("; ")));
    }

    let registries: Vec<PackPlanRegistry> = used
        .iter()
        .map(|(name, snapshot_version)| PackPlanRegistry {
            name: name.clone(),
            snapshot_version: *snapshot_version,
        })
        .collect();
    let plan = Plan {
        format: PLAN_FORMAT,
        operation: "pack".to_owned(),
        requested: vec![format!("pack {}", pack.digest())],
        created: now(),
        registry: registries.first().map_or_else(
            || PlanRegistry {
                name: String::new(),
                snapshot_version: 0,
            },
            |r| PlanRegistry {
                name: r.name.clone(),
                snapshot_version: r.snapshot_version,
            },
        ),
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
        pack: Some(PackPlan {
            digest: pack.digest().to_owned(),
            content_digest: pack.manifest().content_digest(),
            signer,
            embedded: pack.manifest().embedded,
            sources: sources.clone(),
            registries,
            host_config,
            pipelines,
            diff: pack_diff,
        }),
    };
    if record {
        root.record(
            "plan",
            INSTALL_ACTOR,
            "",
            format!(
                "plan {} (pack {}, signed by {}): {}; against generation {}{}",
                plan.digest(),
                pack.digest(),
                plan.pack
                    .as_ref()
                    .and_then(|p| p.signer.clone())
                    .unwrap_or_else(|| "nobody".to_owned()),
                plan.actions
                    .iter()
                    .filter(|a| a.action != ActionKind::Keep)
                    .map(|a| format!("{:?} {}", a.action, a.id))
                    .collect::<Vec<_>>()
                    .join(", "),
                plan.base_generation
                    .map_or("none".to_owned(), |g| g.to_string()),
                if plan.admin.required {
                    "; needs an admin's approval"
                } else {
                    ""
                },
            ),
            Outcome::Info,
        )?;
        root.flush_audit()?;
    }
    Ok(plan)
}

/// Applies a plan made from `pack` (approved, where needed): its plugins
/// from the embedded packages or the registries in `clients`, its host
/// config and pipelines into the new generation.
pub fn apply_pack(
    root: &InstallRoot,
    file: &PlanFile,
    path: &Path,
    pack: &Pack,
    clients: &BTreeMap<String, Client>,
) -> Result<crate::ApplyReport, InstallError> {
    crate::apply::apply_from(root, file, path, &ApplySource::Pack { pack, clients })
}

/// At apply: the plan's settings must be what `pack` gives on this machine
/// now (a plan file is data; its host config and pipelines are not taken
/// on its word), and a plan whose pack widens the policy must say it needs
/// an admin.
pub(crate) fn check_settings(
    root: &InstallRoot,
    pack: &Pack,
    plan: &Plan,
    part: &PackPlan,
) -> Result<(), InstallError> {
    let now = settings(root, pack)?;
    if now.host_config != part.host_config {
        return Err(InstallError::StalePlan {
            what_moved: format!(
                "the host config the pack's generation gets differs from the plan's (the current host config {} changed since, or the plan was edited)",
                now.old_path
                    .as_ref()
                    .map_or_else(|| "(none)".to_owned(), |p| p.display().to_string())
            ),
        });
    }
    if pack.pipelines() != part.pipelines {
        return Err(InstallError::PlanTampered {
            path: PathBuf::from(pack.origin()),
            reason: "its pipelines are not the pack's".to_owned(),
        });
    }
    let old_policy = super::policy_of(&now.old_host).map_err(|message| InstallError::Config {
        path: now.old_path.clone().unwrap_or_default(),
        message,
    })?;
    if super::diff::rules_widen(&old_policy, &now.new_policy) && !plan.admin.required {
        return Err(InstallError::PlanTampered {
            path: PathBuf::from(pack.origin()),
            reason: "the pack widens the policy, but the plan says it needs no admin".to_owned(),
        });
    }
    Ok(())
}

/// The embedded package of `p`, checked against the digest the pack pins.
pub(crate) fn embedded_package(pack: &Pack, p: &PackPlugin) -> Result<Package, InstallError> {
    let bytes = pack
        .package(&p.package)
        .ok_or_else(|| InstallError::PackInvalid {
            origin: pack.origin().to_owned(),
            reason: format!("{} {} is not embedded", p.id, p.version),
        })?;
    let package = Package::from_bytes(bytes.to_vec(), &format!("{}:{}", pack.origin(), p.id))
        .map_err(|e| InstallError::PackInvalid {
            origin: pack.origin().to_owned(),
            reason: e.to_string(),
        })?;
    if package.sha256() != p.package
        || package.manifest().id.as_str() != p.id
        || package.manifest().version != p.version
    {
        return Err(InstallError::PackInvalid {
            origin: pack.origin().to_owned(),
            reason: format!(
                "the embedded package for {} {} holds {} {} with sha256 {}",
                p.id,
                p.version,
                package.manifest().id,
                package.manifest().version,
                package.sha256()
            ),
        });
    }
    Ok(package)
}

/// The settings a pack's generation gets on this machine now.
pub(crate) struct Settings {
    /// The host config the current generation runs with, and its text.
    pub(crate) old_path: Option<PathBuf>,
    pub(crate) old_host: String,
    /// The new generation's `host.toml`.
    pub(crate) host_config: String,
    /// Its policy.
    pub(crate) new_policy: sharelife_core::capability::Policy,
}

/// Derives [`Settings`] from `pack` and the current state of `root`;
/// planning and applying both call it, so an apply writes exactly what
/// the pack and this machine give, whatever a plan file says.
pub(crate) fn settings(root: &InstallRoot, pack: &Pack) -> Result<Settings, InstallError> {
    let old_path = root.host_config_path()?;
    let old_host = match &old_path {
        Some(p) => std::fs::read_to_string(p).map_err(io(p))?,
        None => String::new(),
    };
    let invalid = |message: String| InstallError::PackInvalid {
        origin: pack.origin().to_owned(),
        reason: format!("its host.toml: {message}"),
    };
    let host_config = generation_host_config(pack.host_config(), &old_host, old_path.as_deref())
        .map_err(invalid)?;
    let new_policy = super::policy_of(&host_config).map_err(invalid)?;
    Ok(Settings {
        old_path,
        old_host,
        host_config,
        new_policy,
    })
}

/// The pack's host config as the new generation's `host.toml`:
/// `plugin_paths = ["plugins"]` (the generation's own, relative to the
/// file), and this machine's paths (`data_dir`, `audit_log`, `temp_dir`)
/// kept from its current host config, made absolute.
fn generation_host_config(
    pack_host: &str,
    old_host: &str,
    old_path: Option<&Path>,
) -> Result<String, String> {
    let mut table: Table = toml::from_str(pack_host).map_err(|e| e.to_string())?;
    for key in MACHINE_KEYS {
        table.remove(*key);
    }
    let old: Table =
        toml::from_str(old_host).map_err(|e| format!("the current host config: {e}"))?;
    let base = old_path.and_then(Path::parent);
    for key in MACHINE_KEYS.iter().filter(|k| **k != "plugin_paths") {
        if let Some(Value::String(p)) = old.get(*key) {
            let path = Path::new(p);
            let absolute = match base {
                Some(b) if path.is_relative() && !p.starts_with('~') && !p.contains("${") => {
                    b.join(path).display().to_string()
                }
                _ => p.clone(),
            };
            table.insert((*key).to_owned(), Value::String(absolute));
        }
    }
    table.insert(
        "plugin_paths".to_owned(),
        Value::Array(vec![Value::String("plugins".to_owned())]),
    );
    toml::to_string(&table).map_err(|e| e.to_string())
}

fn read_pipelines(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, InstallError> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(InstallError::Io {
                path: dir.to_owned(),
                source,
            });
        }
    };
    for entry in entries {
        let path = entry.map_err(io(dir))?.path();
        if path.is_file() {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            out.insert(name, std::fs::read(&path).map_err(io(&path))?);
        }
    }
    Ok(out)
}
