//! `sharelife pack export | inspect | apply` and `sharelife key trust`:
//! extension packs over `sharelife_install::pack`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;
use sharelife_install::pack::{self, ExportOptions, Pack, Signer};
use sharelife_install::{InstallRoot, PlanFile};
use sharelife_registry::keys::SecretKey;

use super::{
    Common, PlanFlags, Refusal, execute, finish, key_path, print_json, spinner, table, write_plan,
};
use crate::Failure;

/// `sharelife pack …`.
#[derive(Subcommand, Debug)]
pub(crate) enum PackCommand {
    /// Export the current generation (plugins, configs, policy, settings, pipelines) as one pack file; secrets redacted.
    Export(ExportArgs),
    /// Show a pack: contents, signer, plugins with their risk, what its policy grants, the inputs it needs.
    Inspect(InspectArgs),
    /// Apply a pack as a plan: its diff against this machine, confirm, a new generation (`--dry-run`: change nothing).
    Apply(ApplyArgs),
}

/// `sharelife pack export`.
#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// The pack file to write (`.slpack`).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Pipeline files to include, or folders whose *.yaml, *.yml and *.json files are included (repeatable).
    #[arg(long, value_name = "PATH")]
    include_pipelines: Vec<PathBuf>,
    /// Sign the pack with this secret key (`PATH.key` or `PATH`).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Embed the packages (verified from their registries) for machines without them.
    #[arg(long)]
    embed: bool,
    /// Who made it (default: `user@host`).
    #[arg(long, value_name = "NAME")]
    creator: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// `sharelife pack inspect`.
#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// The pack file.
    pack: PathBuf,
    #[command(flatten)]
    common: Common,
}

/// `sharelife pack apply`.
#[derive(Args, Debug)]
pub(crate) struct ApplyArgs {
    /// The pack file.
    pack: PathBuf,
    /// Show the plan and the diff against this machine; change nothing (not even the audit log).
    #[arg(long, conflicts_with_all = ["yes", "plan_out"])]
    dry_run: bool,
    #[command(flatten)]
    plan: PlanFlags,
    #[command(flatten)]
    common: Common,
}

/// Runs `sharelife pack …`.
pub(crate) fn run(command: PackCommand) -> Result<(), Failure> {
    match command {
        PackCommand::Export(args) => finish(args.common.json, export(&args)),
        PackCommand::Inspect(args) => finish(args.common.json, inspect(&args)),
        PackCommand::Apply(args) => finish(args.common.json, apply(&args)),
    }
}

fn export(args: &ExportArgs) -> Result<(), Refusal> {
    let key = match &args.key {
        Some(k) => Some(SecretKey::open(&key_path(k))?),
        None => None,
    };
    let root = args.common.open()?;
    let bar = spinner(args.common.json, "exporting".to_owned());
    let exported = pack::export(
        &root,
        &ExportOptions {
            pipelines: args.include_pipelines.clone(),
            key: key.as_ref(),
            embed: args.embed,
            creator: args.creator.clone(),
        },
    );
    bar.finish_and_clear();
    let exported = exported.map_err(|e| args.common.refusal(e, None))?;
    write_atomic(&args.out, &exported.bytes)?;
    let m = &exported.manifest;
    if args.common.json {
        print_json(&json!({
            "ok": true,
            "pack": args.out,
            "digest": exported.digest,
            "content_digest": m.content_digest(),
            "size": exported.bytes.len(),
            "signed_by": key.as_ref().map(SecretKey::key_id),
            "manifest": m,
        }));
    } else {
        println!(
            "wrote {} ({} bytes, sha256 {})",
            args.out.display(),
            exported.bytes.len(),
            exported.digest
        );
        println!(
            "  generation {}: {} plugins, {} pipelines{}",
            m.source_generation
                .map_or_else(|| "none".to_owned(), |g| g.to_string()),
            m.plugins.len(),
            m.entries
                .keys()
                .filter(|p| p.starts_with("pipelines/"))
                .count(),
            if m.embedded {
                ", packages embedded"
            } else {
                ""
            }
        );
        match &key {
            Some(k) => println!("  signed by {}", k.key_id()),
            None => println!(
                "  unsigned: other roots refuse it unless they set [packs] allow_unsigned (sign with --key)"
            ),
        }
        if !m.required_inputs.is_empty() {
            println!(
                "  required inputs (set them where the pack is used; their values were not exported):"
            );
            for i in &m.required_inputs {
                println!("    {:<40} for {}", i.var, i.key);
            }
        }
    }
    Ok(())
}

fn inspect(args: &InspectArgs) -> Result<(), Refusal> {
    let pack = Pack::open(&args.pack).map_err(|e| args.common.refusal(e, None))?;
    let dir = args.common.dir();
    let signer = if dir.exists() {
        let root = InstallRoot::open_read_only(&dir).map_err(|e| args.common.refusal(e, None))?;
        pack.signer(&root)
            .map_err(|e| args.common.refusal(e, None))?
    } else {
        match pack.signature() {
            None => Signer::Unsigned,
            Some(s) => Signer::Untrusted {
                key_id: s.key_id.clone(),
            },
        }
    };
    let rules = pack::policy_rules(pack.host_config()).map_err(|message| {
        Refusal::from(Failure::new(format!(
            "{}: its host.toml: {message}",
            args.pack.display()
        )))
    })?;
    let m = pack.manifest();
    let pipelines: Vec<String> = pack.pipelines().into_keys().collect();
    if args.common.json {
        print_json(&json!({
            "ok": true,
            "pack": args.pack,
            "digest": pack.digest(),
            "content_digest": m.content_digest(),
            "signer": signer,
            "manifest": m,
            "policy": rules,
            "pipelines": pipelines,
            "host_config": pack.host_config(),
            "contents": pack.contents().into_iter().map(|(p, size)| json!({"path": p, "size": size})).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    println!("pack {} (sha256 {})", args.pack.display(), pack.digest());
    println!(
        "  made {} by {} from generation {}",
        m.created,
        m.creator,
        m.source_generation
            .map_or_else(|| "none".to_owned(), |g| g.to_string())
    );
    println!(
        "  signer: {}",
        match &signer {
            Signer::Unsigned => "none (unsigned)".to_owned(),
            Signer::Trusted { key_id } => format!("{key_id} (trusted here, signature verifies)"),
            Signer::Untrusted { key_id } => format!("{key_id} (NOT trusted here)"),
            Signer::BadSignature { key_id } =>
                format!("{key_id} (trusted, but the SIGNATURE DOES NOT VERIFY)"),
        }
    );
    let risk = m.plugins.iter().map(|p| p.risk).max();
    println!(
        "  plugins ({}; highest risk {}):",
        m.plugins.len(),
        risk.map_or_else(|| "none".to_owned(), |r| r.to_string())
    );
    for p in &m.plugins {
        println!(
            "    {:<28} {:<10} {:<6} from `{}`{}",
            p.id,
            p.version.to_string(),
            p.risk.to_string(),
            p.registry.name,
            if m.embedded { " (embedded)" } else { "" }
        );
        for c in &p.capabilities {
            println!("      {:<6}  {}", c.risk().to_string(), c.plain());
        }
    }
    if rules.is_empty() {
        println!("  policy: grants nothing");
    } else {
        println!("  policy (what it grants):");
        for r in &rules {
            println!("    {r}");
        }
    }
    if !pipelines.is_empty() {
        println!("  pipelines: {}", pipelines.join(", "));
    }
    if !m.required_inputs.is_empty() {
        println!("  required inputs:");
        for i in &m.required_inputs {
            println!(
                "    {:<40} {:<5} for {}",
                i.var,
                if std::env::var_os(&i.var).is_some() {
                    "set"
                } else {
                    "unset"
                },
                i.key
            );
        }
    }
    println!("  contents:");
    for (path, size) in pack.contents() {
        println!("    {path} ({size} bytes)");
    }
    Ok(())
}

fn apply(args: &ApplyArgs) -> Result<(), Refusal> {
    let common = &args.common;
    let pack = Pack::open(&args.pack).map_err(|e| common.refusal(e, None))?;
    let root = if args.dry_run {
        InstallRoot::open_read_only(&common.dir()).map_err(|e| common.refusal(e, None))?
    } else {
        common.open()?
    };
    let home = root.home();
    let bar = spinner(common.json, "planning".to_owned());
    let planned = pack::plan_pack(
        &root,
        &pack,
        &mut |name: &str| {
            if args.dry_run {
                home.open_read_only(name)
            } else {
                home.open(name)
            }
        },
        !args.dry_run,
    );
    bar.finish_and_clear();
    let (plan, clients) = planned.map_err(|e| common.refusal(e, None))?;
    if !args.dry_run {
        sharelife_install::failpoint::hit("planned");
    }
    let file = PlanFile::new(plan);
    let part = file.plan.pack.as_ref().expect("a pack plan");
    let missing = part.diff.missing_inputs();

    if args.dry_run {
        if common.json {
            print_json(&json!({
                "ok": true,
                "dry_run": true,
                "digest": file.digest,
                "needs_admin": file.plan.admin.required,
                "reasons": file.plan.admin.reasons,
                "changes": file.plan.changes_anything(),
                "diff": part.diff,
                "missing_inputs": missing,
                "plan": file.plan,
            }));
        } else {
            print!("{}", table::render(&file.plan, &file.digest));
            println!("dry run: nothing was changed");
        }
        return Ok(());
    }
    if let Some(path) = &args.plan.plan_out {
        let apply = format!(
            "sharelife apply {} --pack {}",
            path.display(),
            args.pack.display()
        );
        return write_plan(common, &file, path, &apply);
    }
    if !common.json && !missing.is_empty() {
        println!(
            "note: the host needs {} in its environment (not set here)",
            missing.join(", ")
        );
    }
    let path = Path::new("(the plan made by this command)");
    let command = format!("sharelife pack apply {}", args.pack.display());
    execute(
        common,
        &root,
        &file,
        &|| sharelife_install::apply_pack(&root, &file, path, &pack, &clients),
        args.plan.yes,
        Some(&command),
    )?;
    if !common.json {
        println!(
            "  a host started with --config {} runs with the pack's policy, configs and pipelines",
            root.dir().join("current").join("host.toml").display()
        );
    }
    Ok(())
}

/// `sharelife key trust`.
#[derive(Args, Debug)]
pub(crate) struct TrustArgs {
    /// The public key (`NAME.pub`) whose signed packs this root accepts from now on.
    key: PathBuf,
    #[command(flatten)]
    common: Common,
}

/// Runs `sharelife key trust`.
pub(crate) fn trust(args: TrustArgs) -> Result<(), Failure> {
    let run = || -> Result<(), Refusal> {
        let root = args.common.open()?;
        let id = root
            .trust_key(&args.key)
            .map_err(|e| args.common.refusal(e, None))?;
        if args.common.json {
            print_json(&json!({
                "ok": true,
                "key_id": id,
                "path": root.trusted_keys_dir().join(format!("{id}.pub")),
            }));
        } else {
            println!(
                "packs signed by key {id} are accepted by {} from now on",
                root.dir().display()
            );
        }
        Ok(())
    };
    finish(args.common.json, run())
}

/// Writes `bytes` to `path` whole or not at all.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Refusal> {
    let fail = |e: std::io::Error| {
        Refusal::from(Failure::new(format!("{}: {e}", path.display())).hint("check --out"))
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}
