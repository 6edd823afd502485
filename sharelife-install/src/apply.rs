//! Applying a plan: a new generation staged beside the current one, made
//! current by one symlink rename; rolling back to a parent the same way.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use sharelife_core::audit::Outcome;
use sharelife_core::loader::PluginFile;
use sharelife_registry::Client;
use sharelife_registry::package::UncheckedPackage;

use crate::InstallError;
use crate::approve::check_approvals;
use crate::error::io;
use crate::exec::{self, StepEvidence};
use crate::failpoint;
use crate::generation::{
    GENERATION_FILE, GENERATION_FORMAT, GenerationManifest, HOST_CONFIG_FILE, InstalledPlugin,
    SETTINGS, library_name, settings_digests, sha256_file,
};
use crate::plan::{ActionKind, PlanAction, PlanFile, now};
use crate::root::{INSTALL_ACTOR, InstallRoot, sync_dir, write_synced};
use crate::smoke;

/// What an apply did.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// The new current generation.
    pub generation: u64,
    /// Its parent.
    pub parent: Option<u64>,
    /// The plan's digest.
    pub plan_digest: String,
    /// Who approved it.
    pub approvers: Vec<String>,
    /// Build steps run.
    pub steps: Vec<StepEvidence>,
    /// Old generations removed by the keep rule.
    pub collected: Vec<u64>,
}

/// What a rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    /// The generation current before.
    pub from: u64,
    /// The generation current now.
    pub to: u64,
}

/// Applies an (approved, where needed) plan read from `path`, against the
/// registry `client` (the plan's registry, opened now: its snapshot must
/// be the one the plan saw). A plan made from a pack is applied with
/// [`apply_pack`](crate::pack::apply_pack).
pub fn apply(
    root: &InstallRoot,
    file: &PlanFile,
    path: &Path,
    client: &Client,
) -> Result<ApplyReport, InstallError> {
    apply_from(root, file, path, &ApplySource::Registry(client))
}

/// Where an apply takes its packages from.
pub(crate) enum ApplySource<'a> {
    /// The plan's registry.
    Registry(&'a Client),
    /// A pack: its embedded packages, or the registries on this machine
    /// its plugins come from.
    Pack {
        pack: &'a crate::pack::Pack,
        clients: &'a BTreeMap<String, Client>,
    },
}

impl ApplySource<'_> {
    /// The package an action installs (its archive verified against the
    /// plan's pin, its entries' digests still to check), its checksum and
    /// the name of the registry it came from.
    fn fetch(
        &self,
        plan: &crate::plan::Plan,
        action: &PlanAction,
        version: &semver::Version,
    ) -> Result<(UncheckedPackage, String, String), InstallError> {
        // The plan pinned the package's sha256 against the registry
        // snapshot `check_fresh` found unchanged: the package is fetched by
        // that pin (the signed metadata must sign exactly it), without
        // reading the index again.
        let pinned = action
            .package
            .as_deref()
            .ok_or_else(|| InstallError::PlanTampered {
                path: PathBuf::from("(plan)"),
                reason: format!(
                    "it installs {} {version} without a package digest",
                    action.id
                ),
            })?;
        let (package, registry) = match self {
            ApplySource::Registry(client) => (
                client.fetch_pinned(&action.id, version, pinned)?,
                plan.registry.name.clone(),
            ),
            ApplySource::Pack { pack, clients } => {
                let part = plan.pack.as_ref().expect("a pack plan");
                let registry = part.sources.get(&action.id).cloned().unwrap_or_default();
                if part.embedded {
                    let p = pack
                        .manifest()
                        .plugins
                        .iter()
                        .find(|p| p.id == action.id)
                        .ok_or_else(|| InstallError::PackInvalid {
                            origin: pack.origin().to_owned(),
                            reason: format!("it does not list {}", action.id),
                        })?;
                    let package = crate::pack::embedded_package(pack, p)?;
                    if package.sha256() != pinned {
                        return Err(InstallError::Mismatch {
                            path: PathBuf::from(pack.origin()),
                            reason: format!(
                                "the package is {}, the plan names {pinned}",
                                package.sha256()
                            ),
                        });
                    }
                    (UncheckedPackage::from(package), registry)
                } else {
                    let client = clients.get(&registry).ok_or_else(|| {
                        InstallError::Registry(sharelife_registry::ClientError::UnknownRegistry(
                            registry.clone(),
                        ))
                    })?;
                    (client.fetch_pinned(&action.id, version, pinned)?, registry)
                }
            }
        };
        let cksum = pinned.to_owned();
        Ok((package, cksum, registry))
    }
}

/// Applies a plan with its packages from `source`.
pub(crate) fn apply_from(
    root: &InstallRoot,
    file: &PlanFile,
    path: &Path,
    source: &ApplySource<'_>,
) -> Result<ApplyReport, InstallError> {
    let plan = &file.plan;
    let refuse = |e: InstallError| -> InstallError {
        let _ = root.record(
            "apply",
            INSTALL_ACTOR,
            "",
            format!("plan {} refused: {e}", file.digest),
            Outcome::Deny,
        );
        let _ = root.flush_audit();
        e
    };
    let approvers = check_approvals(root, file, path).map_err(refuse)?;
    check_fresh(root, file, source).map_err(refuse)?;

    let current = root.current()?;
    let n = root.next_number()?;
    let staged = root.staging(n)?;
    let dir = staged.path().to_owned();
    let plugins = dir.join("plugins");
    fs::create_dir_all(&plugins).map_err(io(&plugins))?;
    match (&plan.pack, plan.base_generation) {
        // A pack brings the generation's settings, exactly as planned.
        (Some(part), _) => {
            write_synced(&dir.join(HOST_CONFIG_FILE), part.host_config.as_bytes())?;
            for (name, text) in &part.pipelines {
                write_synced(&dir.join("pipelines").join(name), text.as_bytes())?;
            }
        }
        // Anything else carries the parent's unchanged.
        (None, Some(parent)) => {
            for rel in SETTINGS {
                copy_tree(&root.generation_dir(parent).join(rel), &dir.join(rel))?;
            }
        }
        (None, None) => {}
    }

    let mut installed = Vec::new();
    let mut steps = Vec::new();
    for action in &plan.actions {
        match action.action {
            ActionKind::Remove => {}
            ActionKind::Keep => {
                let g = current
                    .as_ref()
                    .ok_or_else(|| InstallError::NotInstalled(action.id.clone()))?;
                let p = g
                    .plugin(&action.id)
                    .ok_or_else(|| InstallError::NotInstalled(action.id.clone()))?;
                let from = root
                    .generation_dir(g.number)
                    .join("plugins")
                    .join(&p.library);
                let bytes = fs::read(&from).map_err(io(&from))?;
                let digest = hex::encode(Sha256::digest(&bytes));
                if digest != p.sha256 {
                    return Err(refuse(InstallError::Mismatch {
                        path: from,
                        reason: format!("sha256 {digest}, generation.json says {}", p.sha256),
                    }));
                }
                // Generations are never changed in place, so a kept library
                // is shared by a hard link (its bytes are durable already;
                // the `plugins/` fsync below makes the link durable).
                let dest = plugins.join(&p.library);
                if fs::hard_link(&from, &dest).is_err() {
                    write_synced(&dest, &bytes)?;
                }
                let mut kept = p.clone();
                kept.requested = action.requested;
                installed.push(kept);
            }
            ActionKind::Add | ActionKind::Upgrade | ActionKind::Downgrade => {
                let version = action.to.clone().expect("an install has a version");
                let (package, cksum, registry) =
                    source.fetch(plan, action, &version).map_err(refuse)?;
                let name = library_name(&action.id, &version);
                let dest = plugins.join(&name);
                let triple = sharelife_registry::package::host_triple();
                let digest_refused = |e| refuse(InstallError::Registry(e));
                let (package, sha256, size) = match package.library(triple) {
                    // The package's own library is staged while every
                    // entry's digest is checked on a second thread (the
                    // write mostly waits on the disk): nothing staged is
                    // committed before the check has passed.
                    Some((_, library, sha256)) => {
                        let sha256 = sha256.to_owned();
                        let size = library.len() as u64;
                        let (checked, written) = std::thread::scope(|s| {
                            let check = s.spawn(|| package.check_digests());
                            let written = write_synced(&dest, library);
                            let checked = check.join().expect("the digest check does not panic");
                            (checked, written)
                        });
                        let proof = checked.map_err(|e| digest_refused(e.into()))?;
                        written?;
                        (package.into_checked(proof), sha256, size)
                    }
                    None => {
                        let proof = package
                            .check_digests()
                            .map_err(|e| digest_refused(e.into()))?;
                        let package = package.into_checked(proof);
                        let built = build_from_source(root, &package, &dir, &action.id);
                        if let Err(InstallError::StepFailed {
                            argv,
                            outcome,
                            evidence,
                        }) = &built
                        {
                            let _ = root.record(
                                "step",
                                &action.id,
                                &version.to_string(),
                                format!(
                                    "`{}` {outcome} (plan {}, evidence {})",
                                    argv.join(" "),
                                    file.digest,
                                    evidence.display()
                                ),
                                Outcome::Deny,
                            );
                        }
                        let (bytes, evidence) = built.map_err(refuse)?;
                        root.record(
                            "step",
                            &action.id,
                            &version.to_string(),
                            format!(
                                "`{}` exited 0 in {} ms (plan {}); stdout sha256 {}, stderr sha256 {}; produced {}",
                                evidence.argv.join(" "),
                                evidence.duration_ms,
                                file.digest,
                                evidence.stdout_sha256,
                                evidence.stderr_sha256,
                                evidence
                                    .produced
                                    .iter()
                                    .map(|(p, d)| format!("{p} sha256 {d}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            Outcome::Allow,
                        )?;
                        steps.push(evidence);
                        // A built library is hashed here.
                        let sha256 = hex::encode(Sha256::digest(&bytes));
                        write_synced(&dest, &bytes)?;
                        (package, sha256, bytes.len() as u64)
                    }
                };
                installed.push(InstalledPlugin {
                    id: action.id.clone(),
                    version,
                    registry,
                    package: cksum,
                    library: name,
                    sha256,
                    size,
                    risk: action.risk,
                    capabilities: package.manifest().capabilities.clone(),
                    requested: action.requested,
                });
            }
        }
    }
    sync_dir(&plugins)?;
    failpoint::hit("staged");
    failpoint::hit("built");

    let manifest = GenerationManifest {
        format: GENERATION_FORMAT,
        number: n,
        parent: plan.base_generation,
        created: now(),
        operation: plan.operation.clone(),
        plan_digest: file.digest.clone(),
        approvers: approvers.clone(),
        plugins: installed,
        steps: steps.clone(),
        files: settings_digests(&dir)?,
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("a generation serializes");
    write_synced(&dir.join(GENERATION_FILE), &json)?;
    sync_dir(&dir)?;
    failpoint::hit("manifest_written");

    if root.config().apply.require_success_before_apply
        && let Err(e) = smoke::smoke_load(&plugins, root.host_config_in(&dir).as_deref())
    {
        return Err(refuse(e));
    }
    failpoint::hit("smoke_loaded");

    root.commit_generation(staged, n)?;
    failpoint::hit("committed");
    root.flip(n)?;
    failpoint::hit("flipped");

    let who = if approvers.is_empty() {
        "no approval needed".to_owned()
    } else {
        format!("approved by {}", approvers.join(", "))
    };
    for action in plan.actions.iter().filter(|a| a.action != ActionKind::Keep) {
        let version = action
            .to
            .as_ref()
            .or(action.from.as_ref())
            .map(ToString::to_string)
            .unwrap_or_default();
        let verb = match action.action {
            ActionKind::Remove => "remove",
            _ => "install",
        };
        root.record(
            verb,
            &action.id,
            &version,
            format!(
                "{:?} {} -> {} in generation {n} (plan {}, {who})",
                action.action,
                action
                    .from
                    .as_ref()
                    .map_or("none".to_owned(), ToString::to_string),
                action
                    .to
                    .as_ref()
                    .map_or("none".to_owned(), ToString::to_string),
                file.digest
            ),
            Outcome::Allow,
        )?;
    }
    root.record(
        "apply",
        INSTALL_ACTOR,
        "",
        format!(
            "generation {n} (parent {}) is current: plan {}, {who}",
            plan.base_generation
                .map_or("none".to_owned(), |p| p.to_string()),
            file.digest
        ),
        Outcome::Allow,
    )?;
    root.flush_audit()?;
    failpoint::hit("recorded");
    let collected = root.collect_garbage()?;
    failpoint::hit("collected");
    Ok(ApplyReport {
        generation: n,
        parent: plan.base_generation,
        plan_digest: file.digest.clone(),
        approvers,
        steps,
        collected,
    })
}

/// Refuses a plan made against another generation or registry snapshot,
/// or (for a pack) another pack file.
fn check_fresh(
    root: &InstallRoot,
    file: &PlanFile,
    source: &ApplySource<'_>,
) -> Result<(), InstallError> {
    let plan = &file.plan;
    let current = root.current_number()?;
    if current != plan.base_generation {
        let show = |g: Option<u64>| g.map_or("none".to_owned(), |g| format!("generation {g}"));
        return Err(InstallError::StalePlan {
            what_moved: format!(
                "the installed set moved: the plan was made against {}, current is {}",
                show(plan.base_generation),
                show(current)
            ),
        });
    }
    let snapshot = |client: &Client, name: &str, saw: u64| -> Result<(), InstallError> {
        if client.name() != name {
            return Err(InstallError::StalePlan {
                what_moved: format!("the plan is for registry `{name}`, not `{}`", client.name()),
            });
        }
        let now = client.snapshot_version();
        if now != saw {
            return Err(InstallError::StalePlan {
                what_moved: format!(
                    "registry `{name}` moved: the plan saw snapshot {saw}, it is now at snapshot {now}"
                ),
            });
        }
        Ok(())
    };
    match (source, &plan.pack) {
        (ApplySource::Registry(client), None) => {
            snapshot(client, &plan.registry.name, plan.registry.snapshot_version)
        }
        (ApplySource::Registry(_), Some(part)) => Err(InstallError::PackNeeded {
            digest: part.digest.clone(),
        }),
        (ApplySource::Pack { .. }, None) => Err(InstallError::PlanTampered {
            path: PathBuf::from("(plan)"),
            reason: "it is not a plan made from a pack".to_owned(),
        }),
        (ApplySource::Pack { pack, clients }, Some(part)) => {
            if pack.digest() != part.digest {
                return Err(InstallError::StalePlan {
                    what_moved: format!(
                        "the plan was made from pack {}, this pack file is {}",
                        part.digest,
                        pack.digest()
                    ),
                });
            }
            crate::pack::check_settings(root, pack, plan, part)?;
            for r in &part.registries {
                let client = clients.get(&r.name).ok_or_else(|| {
                    InstallError::Registry(sharelife_registry::ClientError::UnknownRegistry(
                        r.name.clone(),
                    ))
                })?;
                snapshot(client, &r.name, r.snapshot_version)?;
            }
            Ok(())
        }
    }
}

/// Builds a package's `source/` with the allowed build command, in the
/// staging directory, and returns the library it produced (checked to
/// carry the package's manifest) and the step's evidence.
fn build_from_source(
    root: &InstallRoot,
    package: &sharelife_registry::package::Package,
    staging: &Path,
    id: &str,
) -> Result<(Vec<u8>, StepEvidence), InstallError> {
    let triple = sharelife_registry::package::host_triple().to_owned();
    let config = &root.config().execution;
    if !config.enabled {
        return Err(InstallError::ExecutionDisabled {
            id: id.to_owned(),
            triple,
        });
    }
    let sources: Vec<&str> = package
        .file_list()
        .files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| p.starts_with("source/"))
        .collect();
    if sources.is_empty() {
        return Err(InstallError::Incompatible {
            id: id.to_owned(),
            version: package.manifest().version.to_string(),
            reason: format!("the package has no library for {triple} and no source to build"),
        });
    }
    let mut argv: Vec<String> = ["cargo", "build", "--release", "--locked"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let target_dir = match &config.target_dir {
        Some(dir) => {
            let dir = root.dir().join(dir);
            argv.push("--target-dir".to_owned());
            argv.push(dir.display().to_string());
            dir
        }
        None => staging.join("build").join(id).join("target"),
    };
    // Refused before anything is written or run.
    exec::check_allowed(&argv, config)?;
    let build = staging.join("build").join(id);
    for path in sources {
        let rel = path.strip_prefix("source/").expect("filtered");
        let bytes = package.entry(path).expect("listed entries exist");
        write_synced(&build.join(rel), bytes)?;
    }
    let mut evidence = exec::run_step(&argv, &build, staging, config)?;
    let evidence_dir = staging.join("evidence");
    let record = |e: &StepEvidence| -> Result<PathBuf, InstallError> {
        let path = evidence_dir.join(format!("{id}.build.json"));
        write_synced(
            &path,
            &serde_json::to_vec_pretty(e).expect("evidence serializes"),
        )?;
        Ok(path)
    };
    if !evidence.succeeded() {
        let path = record(&evidence)?;
        let outcome = if evidence.timed_out {
            format!(
                "was killed after its {:?} timeout (its whole process group)",
                config.timeout
            )
        } else {
            format!("exited with status {:?}", evidence.status)
        };
        let kept = root.dir().join("evidence");
        fs::create_dir_all(&kept).map_err(io(&kept))?;
        let kept_path = kept.join(format!("{id}.{}.build.json", std::process::id()));
        let _ = fs::copy(&path, &kept_path);
        return Err(InstallError::StepFailed {
            argv,
            outcome,
            evidence: kept_path,
        });
    }
    let release = target_dir.join("release");
    let mut found = None;
    for entry in fs::read_dir(&release).map_err(io(&release))? {
        let entry = entry.map_err(io(&release))?;
        let p = entry.path();
        if p.extension().and_then(|e| e.to_str()) == Some(std::env::consts::DLL_EXTENSION)
            && let Ok(file) = PluginFile::read(&p)
            && *file.manifest() == *package.manifest()
        {
            found = Some(p);
        }
    }
    let built = found.ok_or_else(|| InstallError::Mismatch {
        path: release.clone(),
        reason: format!("the build produced no library carrying the manifest of {id}"),
    })?;
    let bytes = fs::read(&built).map_err(io(&built))?;
    evidence.produced.push((
        built
            .strip_prefix(staging)
            .unwrap_or(&built)
            .display()
            .to_string(),
        sha256_file(&built)?,
    ));
    record(&evidence)?;
    Ok((bytes, evidence))
}

/// Makes the current generation's parent (or `to`) current again, after
/// checking that its files are byte-identical to when it was made.
pub fn rollback(root: &InstallRoot, to: Option<u64>) -> Result<RollbackReport, InstallError> {
    let from = root
        .current_number()?
        .ok_or(InstallError::UnknownGeneration(0))?;
    let target = match to {
        Some(n) => n,
        None => root
            .generation(from)?
            .parent
            .ok_or(InstallError::NoParent(from))?,
    };
    let g = root.generation(target)?;
    let refuse = |e: InstallError| -> InstallError {
        let _ = root.record(
            "rollback",
            INSTALL_ACTOR,
            "",
            format!("rollback {from} -> {target} refused: {e}"),
            Outcome::Deny,
        );
        let _ = root.flush_audit();
        e
    };
    g.verify_files(&root.generation_dir(target))
        .map_err(refuse)?;
    root.flip(target)?;
    failpoint::hit("flipped");
    root.record(
        "rollback",
        INSTALL_ACTOR,
        "",
        format!("generation {target} is current again (was {from})"),
        Outcome::Allow,
    )?;
    root.flush_audit()?;
    failpoint::hit("recorded");
    Ok(RollbackReport { from, to: target })
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), InstallError> {
    if !from.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(to).map_err(io(to))?;
    for entry in fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &dest)?;
        } else {
            let bytes = fs::read(&path).map_err(io(&path))?;
            write_synced(&dest, &bytes)?;
        }
    }
    Ok(())
}
