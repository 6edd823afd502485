//! The operator's and publisher's commands, on a registry directory:
//! `registry init`, `registry delegate`, `registry rekey`, `registry refresh`, `publish`,
//! `yank`.

use std::cell::RefCell;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use sharelife_core::manifest::PluginId;
use sharelife_registry::keys::{self, SecretKey};
use sharelife_registry::registry::Expiries;
use sharelife_registry::{PublishOptions, Registry, Stage};

use super::{PublishArgs, Refusal, YankArgs, print_json, spinner};
use crate::Failure;

/// `sharelife registry init DIR --root-key KEY [--name NAME]`.
pub(super) fn init(
    dir: &Path,
    root_key: &Path,
    name: Option<String>,
    json: bool,
) -> Result<(), Refusal> {
    let key = SecretKey::open(root_key)?;
    let name = name.unwrap_or_else(|| {
        std::path::absolute(dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "registry".to_owned())
    });
    let registry = Registry::init(dir, &name, &key, Expiries::default())?;
    let root = registry.root_path();
    let root_sha256 = std::fs::read(&root).map(|b| sha256_hex(&b)).ok();
    let private = dir.join("private");
    if json {
        print_json(&json!({
            "registry": dir,
            "name": name,
            "root": root,
            "root_sha256": root_sha256,
            "root_key_id": key.key_id(),
            "private": private,
        }));
    } else {
        println!("created registry `{name}` in {}", dir.display());
        println!(
            "  root        {} (clients pin it: `sharelife registry add NAME URL --root {}`)",
            root.display(),
            root.display()
        );
        println!(
            "  private     {} holds the online key: it must NOT be served",
            private.display()
        );
        println!(
            "  serve       everything else in {} from any static server, object store or CDN",
            dir.display()
        );
        println!(
            "next: sharelife registry delegate {} --root-key {} --publisher PUBLISHER.pub --ids 'PREFIX.*'",
            dir.display(),
            root_key.display()
        );
    }
    Ok(())
}

/// `sharelife registry delegate DIR --root-key KEY --publisher PUB --ids GLOB...`.
pub(super) fn delegate(
    dir: &Path,
    root_key: &Path,
    publisher: &Path,
    ids: &[String],
    role: Option<String>,
    json: bool,
) -> Result<(), Refusal> {
    let registry = Registry::open(dir)?;
    let root = SecretKey::open(root_key)?;
    let public = keys::read_public(publisher)?;
    let role = match role {
        Some(role) => role,
        None => publisher
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Failure::new(format!(
                    "{} has no file name to name the role after",
                    publisher.display()
                ))
                .hint("pass --role NAME")
            })?,
    };
    let delegation = registry.delegate(&root, &public, &role, ids)?;
    if json {
        print_json(&json!({
            "registry": dir,
            "role": delegation.role,
            "ids": delegation.ids,
            "key_ids": delegation.key_ids,
        }));
    } else {
        println!(
            "delegated {} to publisher `{}` (key {})",
            delegation
                .ids
                .iter()
                .map(|g| format!("`{g}`"))
                .collect::<Vec<_>>()
                .join(", "),
            delegation.role,
            delegation.key_ids.first().map_or("?", String::as_str)
        );
    }
    Ok(())
}

/// `sharelife registry rekey DIR --root-key KEY --role NAME --publisher PUB`.
pub(super) fn rekey(
    dir: &Path,
    root_key: &Path,
    role: &str,
    publisher: &Path,
    json: bool,
) -> Result<(), Refusal> {
    let registry = Registry::open(dir)?;
    let root = SecretKey::open(root_key)?;
    let public = keys::read_public(publisher)?;
    let delegation = registry.rekey(&root, role, &public)?;
    if json {
        print_json(&json!({
            "registry": dir,
            "role": delegation.role,
            "ids": delegation.ids,
            "key_ids": delegation.key_ids,
        }));
    } else {
        println!(
            "publisher `{}` now signs with key {} (ids {}); what it published stays valid, re-signed by the root key",
            delegation.role,
            delegation.key_ids.first().map_or("?", String::as_str),
            delegation
                .ids
                .iter()
                .map(|g| format!("`{g}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// `sharelife registry refresh DIR`.
pub(super) fn refresh(dir: &Path, json: bool) -> Result<(), Refusal> {
    let registry = Registry::open(dir)?;
    registry.refresh(None)?;
    let repo = registry.repository()?;
    let timestamp = &repo.timestamp().signed;
    let expires = timestamp.expires.to_string();
    if json {
        print_json(&json!({
            "registry": dir,
            "timestamp_version": timestamp.version.get(),
            "snapshot_version": repo.snapshot().signed.version.get(),
            "expires": expires,
        }));
    } else {
        println!(
            "re-signed {}: timestamp version {}, valid until {expires}",
            dir.display(),
            timestamp.version.get()
        );
    }
    Ok(())
}

/// `sharelife publish PKG --registry DIR --key KEY [--advisory-db DIR]`.
pub(super) fn publish(args: &PublishArgs) -> Result<(), Refusal> {
    let registry = Registry::open(&args.registry)?;
    let key = SecretKey::open(&args.key)?;
    let bar = spinner(args.json, format!("publishing {}", args.package.display()));
    let started: RefCell<Vec<Stage>> = RefCell::new(Vec::new());
    let on_stage = |stage: Stage| {
        bar.set_message(format!("publish: {stage}"));
        started.borrow_mut().push(stage);
    };
    let result = registry.publish(
        &args.package,
        &key,
        &PublishOptions {
            advisory_db: args.advisory_db.clone(),
            on_stage: Some(&on_stage),
        },
    );
    bar.finish_and_clear();
    let started = started.into_inner();
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            let failed = e.stage();
            if !args.json {
                for stage in &started {
                    if Some(*stage) == failed {
                        eprintln!("  ✗ {stage}");
                    } else {
                        eprintln!("  ✓ {stage}");
                    }
                }
            }
            let passed: Vec<String> = started
                .iter()
                .filter(|s| Some(**s) != failed)
                .map(ToString::to_string)
                .collect();
            return Err(Refusal::from(e).field("passed", json!(passed)));
        }
    };
    let line = &report.line;
    if args.json {
        print_json(&json!({
            "ok": true,
            "id": line.id,
            "version": line.vers.to_string(),
            "target": report.target,
            "cksum": line.cksum,
            "size": line.size,
            "publisher": line.publisher,
            "risk": line.label.risk,
            "warnings": super::evidence::warnings(&line.scan),
            "stages": report.stages.iter().map(|(s, d)| json!({"stage": s, "ms": millis(*d)})).collect::<Vec<_>>(),
            "line": line,
        }));
    } else {
        for (stage, took) in &report.stages {
            println!("  ✓ {:<9} {:>6.1} ms", stage.to_string(), millis(*took));
        }
        println!(
            "published {} {} as `{}` ({}, risk {})",
            line.id, line.vers, line.publisher, report.target, line.label.risk
        );
        for w in super::evidence::warnings(&line.scan) {
            println!("{w}");
        }
    }
    Ok(())
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `sharelife yank ID@VERSION --registry DIR --key KEY [--undo]`.
pub(super) fn yank(args: &YankArgs) -> Result<(), Refusal> {
    let (id, version) = args.spec.split_once('@').ok_or_else(|| {
        Failure::new(format!("`{}` names no version", args.spec))
            .hint("yank one exact version: ID@VERSION, like acme.upper@1.2.0")
    })?;
    let id: PluginId = id
        .parse()
        .map_err(|e: sharelife_core::manifest::InvalidPluginId| {
            Failure::new(e.to_string())
                .hint("yank one exact version: ID@VERSION, like acme.upper@1.2.0")
        })?;
    let version = semver::Version::parse(version.trim_start_matches('=')).map_err(|e| {
        Failure::new(format!("`{version}` is not a version: {e}"))
            .hint("yank one exact version: ID@VERSION, like acme.upper@1.2.0")
    })?;
    let registry = Registry::open(&args.registry)?;
    let key = SecretKey::open(&args.key)?;
    let line = registry.yank(&id, &version, &key, !args.undo)?;
    if args.json {
        print_json(&json!({
            "id": line.id,
            "version": line.vers.to_string(),
            "yanked": line.yanked,
        }));
    } else if line.yanked {
        println!(
            "yanked {} {}: kept for reproducibility, never chosen for a new install",
            line.id, line.vers
        );
    } else {
        println!("un-yanked {} {}", line.id, line.vers);
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
