//! The install commands: `install`, `upgrade`, `remove` (plan → confirm →
//! apply), `approve`, `apply` (a plan file), `list --installed`,
//! `generations` and `rollback`, each a thin layer over
//! `sharelife_install`.
//!
//! Every command takes `--root DIR` (default: `SHARELIFE_HOME`, else
//! `~/.sharelife`) and `--json`: on success one JSON object on stdout; on
//! a refusal `{"ok": false, "kind": …, "error": …, "details": […], "hint":
//! …}` (plus `what_moved`, `reasons`, `digest`, `key_id` when the error
//! has them) on stdout and the usual `error: …` lines on stderr, exit 1.
//!
//! A plan is shown as a table (never JSON) and confirmed with y/N on a
//! terminal, or `--yes`; off a terminal without `--yes` nothing is done.
//! `--yes` never stands in for an admin: a plan that needs an approval is
//! refused ([`InstallError::NeedsAdmin`]) unless it comes from a plan file
//! an admin approved (`--plan-out`, `approve`, `apply`).

mod errors;
pub(crate) mod pack;
mod table;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{Map, Value, json};
use sharelife_install::{InstallError, InstallRoot, Operation, PlanFile, PluginRequest};
use sharelife_registry::keys::SecretKey;
use sharelife_registry::{Client, Home};

use super::registry::Refusal;
use crate::Failure;

/// Where the install root is, and how to print.
#[derive(Args, Debug, Clone)]
pub(crate) struct Common {
    /// The install root [default: $SHARELIFE_HOME, else ~/.sharelife].
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// `--yes` and `--plan-out`, for every command that makes a plan.
#[derive(Args, Debug)]
pub(crate) struct PlanFlags {
    /// Execute without asking (never stands in for an admin's approval).
    #[arg(long)]
    yes: bool,
    /// Only plan: write the plan file (for review and `sharelife approve`), change nothing.
    #[arg(long, value_name = "FILE")]
    plan_out: Option<PathBuf>,
}

/// `sharelife install`.
#[derive(Args, Debug)]
pub(crate) struct InstallArgs {
    /// Plugins: `ID` (the newest compatible) or `ID@RANGE` (`acme.upper@^1`; `@1.2.0` is exactly that version).
    #[arg(required = true, value_name = "ID[@RANGE]")]
    plugins: Vec<String>,
    /// The added registry to install from [default: the only one added].
    #[arg(long, value_name = "NAME")]
    registry: Option<String>,
    #[command(flatten)]
    plan: PlanFlags,
    #[command(flatten)]
    common: Common,
}

/// `sharelife upgrade`.
#[derive(Args, Debug)]
pub(crate) struct UpgradeArgs {
    /// Installed plugins to move to their newest compatible versions [default: all].
    #[arg(value_name = "ID")]
    ids: Vec<String>,
    /// The added registry [default: the only one added].
    #[arg(long, value_name = "NAME")]
    registry: Option<String>,
    #[command(flatten)]
    plan: PlanFlags,
    #[command(flatten)]
    common: Common,
}

/// `sharelife remove`.
#[derive(Args, Debug)]
pub(crate) struct RemoveArgs {
    /// Installed plugins to remove (refused while others depend on them).
    #[arg(required = true, value_name = "ID")]
    ids: Vec<String>,
    /// The added registry the plan pins [default: the only one added].
    #[arg(long, value_name = "NAME")]
    registry: Option<String>,
    #[command(flatten)]
    plan: PlanFlags,
    #[command(flatten)]
    common: Common,
}

/// `sharelife approve`.
#[derive(Args, Debug)]
pub(crate) struct ApproveArgs {
    /// The plan file (from `--plan-out`).
    plan: PathBuf,
    /// The admin's secret key (`PATH.key`, or `PATH` without `.key`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(flatten)]
    common: Common,
}

/// `sharelife apply`.
#[derive(Args, Debug)]
pub(crate) struct ApplyArgs {
    /// The plan file (approved, when it needs an admin).
    plan: PathBuf,
    /// The pack file a plan from `sharelife pack apply --plan-out` was made from.
    #[arg(long, value_name = "FILE")]
    pack: Option<PathBuf>,
    /// Execute without asking.
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    common: Common,
}

/// `sharelife list`.
#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    /// The plugins of the current generation (the only listing there is; accepted for clarity).
    #[arg(long)]
    installed: bool,
    #[command(flatten)]
    common: Common,
}

/// `sharelife generations`.
#[derive(Args, Debug)]
pub(crate) struct GenerationsArgs {
    #[command(flatten)]
    common: Common,
}

/// `sharelife rollback`.
#[derive(Args, Debug)]
pub(crate) struct RollbackArgs {
    /// The generation to make current [default: the current one's parent].
    #[arg(long, value_name = "N")]
    to: Option<u64>,
    #[command(flatten)]
    common: Common,
}

impl Common {
    fn dir(&self) -> PathBuf {
        InstallRoot::default_dir(self.root.as_deref())
    }

    /// `--root DIR ` when it was given, for the commands a hint shows.
    fn root_flag(&self) -> String {
        self.root
            .as_ref()
            .map(|r| format!(" --root {}", r.display()))
            .unwrap_or_default()
    }

    fn refusal(&self, e: InstallError, command: Option<&str>) -> Refusal {
        errors::refusal(e, command, &self.dir().display().to_string())
    }

    fn open(&self) -> Result<InstallRoot, Refusal> {
        InstallRoot::open(&self.dir()).map_err(|e| self.refusal(e, None))
    }
}

/// Runs `sharelife install`.
pub(crate) fn install(args: InstallArgs) -> Result<(), Failure> {
    let command = format!(
        "sharelife install {}{}{}",
        args.plugins.join(" "),
        registry_flag(args.registry.as_deref()),
        args.common.root_flag()
    );
    let run = || {
        let requests = args
            .plugins
            .iter()
            .map(|p| p.parse::<PluginRequest>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| args.common.refusal(e, None))?;
        change(
            &args.common,
            Operation::Install(requests),
            args.registry.as_deref(),
            args.plan.yes,
            args.plan.plan_out.as_deref(),
            &command,
        )
    };
    finish(args.common.json, run())
}

/// Runs `sharelife upgrade`.
pub(crate) fn upgrade(args: UpgradeArgs) -> Result<(), Failure> {
    let command = format!(
        "sharelife upgrade{}{}{}",
        args.ids.iter().map(|i| format!(" {i}")).collect::<String>(),
        registry_flag(args.registry.as_deref()),
        args.common.root_flag()
    );
    let run = || {
        let ids = parse_ids(&args.ids)?;
        change(
            &args.common,
            Operation::Upgrade(ids),
            args.registry.as_deref(),
            args.plan.yes,
            args.plan.plan_out.as_deref(),
            &command,
        )
    };
    finish(args.common.json, run())
}

/// Runs `sharelife remove`.
pub(crate) fn remove(args: RemoveArgs) -> Result<(), Failure> {
    let command = format!(
        "sharelife remove {}{}{}",
        args.ids.join(" "),
        registry_flag(args.registry.as_deref()),
        args.common.root_flag()
    );
    let run = || {
        let ids = parse_ids(&args.ids)?;
        change(
            &args.common,
            Operation::Remove(ids),
            args.registry.as_deref(),
            args.plan.yes,
            args.plan.plan_out.as_deref(),
            &command,
        )
    };
    finish(args.common.json, run())
}

fn registry_flag(registry: Option<&str>) -> String {
    registry
        .map(|r| format!(" --registry {r}"))
        .unwrap_or_default()
}

fn parse_ids(ids: &[String]) -> Result<Vec<sharelife_core::manifest::PluginId>, Refusal> {
    ids.iter()
        .map(|id| {
            id.parse()
                .map_err(|e: sharelife_core::manifest::InvalidPluginId| {
                    Refusal::from(
                        Failure::new(e.to_string())
                            .hint("name installed plugins by id (`sharelife list --installed`)"),
                    )
                })
        })
        .collect()
}

/// The registry `--registry` names, or the only one added to the root.
fn registry_name(home: &Home, given: Option<&str>) -> Result<String, Refusal> {
    if let Some(name) = given {
        return Ok(name.to_owned());
    }
    let registries = home.registries()?;
    let mut names = registries.keys();
    match (names.next(), names.next()) {
        (Some(only), None) => Ok(only.clone()),
        (None, _) => Err(
            Failure::new(format!("no registry added in {}", home.dir().display()))
                .hint("add one with `sharelife registry add NAME URL --root ROOT.json`")
                .into(),
        ),
        (Some(_), Some(_)) => Err(Failure::new("more than one registry is added; say which")
            .details(registries.keys().cloned().collect())
            .hint("pass --registry NAME")
            .into()),
    }
}

/// Opens (and refreshes the trusted metadata of) registry `name`.
fn client(root: &InstallRoot, name: &str, json: bool) -> Result<Client, Refusal> {
    let bar = spinner(json, format!("updating registry `{name}`"));
    let client = root.home().open(name);
    bar.finish_and_clear();
    Ok(client?)
}

/// Plans `op`; writes the plan file (`plan_out`) or confirms and applies.
fn change(
    common: &Common,
    op: Operation,
    registry: Option<&str>,
    yes: bool,
    plan_out: Option<&Path>,
    command: &str,
) -> Result<(), Refusal> {
    let root = common.open()?;
    let name = registry_name(&root.home(), registry)?;
    let client = client(&root, &name, common.json)?;
    let bar = spinner(common.json, "planning".to_owned());
    let plan = sharelife_install::make_plan(&root, &client, &name, &op);
    bar.finish_and_clear();
    let plan = plan.map_err(|e| common.refusal(e, Some(command)))?;
    sharelife_install::failpoint::hit("planned");
    let file = PlanFile::new(plan);

    if let Some(path) = plan_out {
        return write_plan(
            common,
            &file,
            path,
            &format!("sharelife apply {}", path.display()),
        );
    }

    if !file.plan.changes_anything() {
        if common.json {
            print_json(&json!({
                "ok": true,
                "changed": false,
                "generation": root.current_number().map_err(|e| common.refusal(e, None))?,
                "digest": file.digest,
                "plan": file.plan,
            }));
        } else {
            print!("{}", table::render(&file.plan, &file.digest));
            println!("nothing to do: every plugin is already as asked");
        }
        return Ok(());
    }
    let path = Path::new("(the plan made by this command)");
    execute(
        common,
        &root,
        &file,
        &|| sharelife_install::apply(&root, &file, path, &client),
        yes,
        Some(command),
    )
}

/// Writes the plan file (`--plan-out`) and says what it holds and what
/// comes next: `apply` is the command that applies it.
fn write_plan(common: &Common, file: &PlanFile, path: &Path, apply: &str) -> Result<(), Refusal> {
    file.write(path).map_err(|e| common.refusal(e, None))?;
    if common.json {
        print_json(&json!({
            "ok": true,
            "plan_file": path,
            "digest": file.digest,
            "needs_admin": file.plan.admin.required,
            "reasons": file.plan.admin.reasons,
            "changes": file.plan.changes_anything(),
            "plan": file.plan,
        }));
    } else {
        print!("{}", table::render(&file.plan, &file.digest));
        println!("wrote {} (digest {})", path.display(), file.digest);
        if file.plan.admin.required {
            println!(
                "next: an admin runs `sharelife approve {} --key ADMIN_KEY`, then `{apply}`",
                path.display()
            );
        } else {
            println!("next: `{apply}`");
        }
    }
    Ok(())
}

/// Shows the plan, confirms it (unless it needs an admin, whose absence
/// apply refuses and records), applies it and prints the report.
fn execute(
    common: &Common,
    root: &InstallRoot,
    file: &PlanFile,
    apply: &dyn Fn() -> Result<sharelife_install::ApplyReport, InstallError>,
    yes: bool,
    command: Option<&str>,
) -> Result<(), Refusal> {
    if !common.json {
        print!("{}", table::render(&file.plan, &file.digest));
    }
    let approved = !file.approvals.is_empty();
    // A plan needing an admin without any approval goes straight to apply,
    // which refuses it (typed, and recorded in the audit log): asking a
    // question whose yes cannot count would mislead.
    let unapproved = file.plan.admin.required && !approved;
    if !unapproved && !yes {
        confirm(common.json)?;
    }
    let bar = spinner(common.json, "applying".to_owned());
    let report = apply();
    bar.finish_and_clear();
    let report = report.map_err(|e| common.refusal(e, command))?;
    let generation = root.generation(report.generation).ok();
    if common.json {
        print_json(&json!({
            "ok": true,
            "changed": true,
            "generation": report.generation,
            "parent": report.parent,
            "digest": report.plan_digest,
            "approvers": report.approvers,
            "collected": report.collected,
            "steps": report.steps,
            "plugins": generation.as_ref().map(plugins_json),
        }));
    } else {
        println!(
            "generation {} is current (parent {}): plan {}{}",
            report.generation,
            report
                .parent
                .map_or_else(|| "none".to_owned(), |p| p.to_string()),
            &report.plan_digest[..12],
            if report.approvers.is_empty() {
                String::new()
            } else {
                format!(", approved by {}", report.approvers.join(", "))
            }
        );
        if !report.collected.is_empty() {
            println!(
                "  removed old generations {}",
                report
                    .collected
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        println!(
            "  hosts reading {} see it at their next start, or now with `sharelife run --follow`",
            root.plugins_dir().display()
        );
    }
    Ok(())
}

/// y/N on a terminal; refused off one.
fn confirm(json: bool) -> Result<(), Refusal> {
    if json || !std::io::stdin().is_terminal() {
        return Err(Failure::new("not applied: no terminal to confirm the plan on")
            .hint("review the plan, then pass --yes to apply it (or --plan-out FILE to keep it for review)")
            .into());
    }
    eprint!("apply this plan? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::new(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
        Ok(())
    } else {
        Err(Failure::new("not applied: the plan was not confirmed")
            .hint("nothing was changed")
            .into())
    }
}

/// Runs `sharelife approve`.
pub(crate) fn approve(args: ApproveArgs) -> Result<(), Failure> {
    let run = || -> Result<(), Refusal> {
        let key_path = key_path(&args.key);
        let key = SecretKey::open(&key_path)?;
        let root = args.common.open()?;
        let file = PlanFile::read(&args.plan).map_err(|e| args.common.refusal(e, None))?;
        if !args.common.json {
            print!("{}", table::render(&file.plan, &file.digest));
        }
        let approval = sharelife_install::approve(&root, &args.plan, &key)
            .map_err(|e| args.common.refusal(e, None))?;
        if args.common.json {
            print_json(&json!({
                "ok": true,
                "plan_file": args.plan,
                "digest": file.digest,
                "key_id": approval.key_id,
                "approved": approval.approved,
            }));
        } else {
            println!(
                "approved plan {} with key {}: written into {}",
                file.digest,
                approval.key_id,
                args.plan.display()
            );
            println!(
                "next: `sharelife apply {}` (any change to the plan voids the approval)",
                args.plan.display()
            );
        }
        Ok(())
    };
    finish(args.common.json, run())
}

/// `PATH` as given, or `PATH.key` when only that exists.
fn key_path(given: &Path) -> PathBuf {
    if given.is_file() {
        return given.to_owned();
    }
    let mut with = given.as_os_str().to_owned();
    with.push(".key");
    let with = PathBuf::from(with);
    if with.is_file() {
        with
    } else {
        given.to_owned()
    }
}

/// Runs `sharelife apply`.
pub(crate) fn apply(args: ApplyArgs) -> Result<(), Failure> {
    let run = || -> Result<(), Refusal> {
        let root = args.common.open()?;
        let file = PlanFile::read(&args.plan).map_err(|e| args.common.refusal(e, None))?;
        if let Some(part) = &file.plan.pack {
            let Some(pack_path) = &args.pack else {
                return Err(args.common.refusal(
                    InstallError::PackNeeded {
                        digest: part.digest.clone(),
                    },
                    None,
                ));
            };
            let pack = sharelife_install::Pack::open(pack_path)
                .map_err(|e| args.common.refusal(e, None))?;
            let mut clients = std::collections::BTreeMap::new();
            for r in &part.registries {
                clients.insert(r.name.clone(), client(&root, &r.name, args.common.json)?);
            }
            return execute(
                &args.common,
                &root,
                &file,
                &|| sharelife_install::apply_pack(&root, &file, &args.plan, &pack, &clients),
                args.yes,
                None,
            );
        }
        let client = client(&root, &file.plan.registry.name, args.common.json)?;
        execute(
            &args.common,
            &root,
            &file,
            &|| sharelife_install::apply(&root, &file, &args.plan, &client),
            args.yes,
            None,
        )
    };
    finish(args.common.json, run())
}

fn plugins_json(g: &sharelife_install::generation::GenerationManifest) -> Value {
    g.plugins
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "version": p.version.to_string(),
                "risk": p.risk,
                "registry": p.registry,
                "requested": p.requested,
                "package": p.package,
                "library": p.library,
                "sha256": p.sha256,
                "capabilities": p.capabilities.iter().map(|c| c.plain()).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Runs `sharelife list --installed`.
pub(crate) fn list(args: ListArgs) -> Result<(), Failure> {
    let _ = args.installed;
    let common = &args.common;
    let run = || -> Result<(), Refusal> {
        let root = common.open()?;
        let current = root.current().map_err(|e| common.refusal(e, None))?;
        if common.json {
            print_json(&json!({
                "root": root.dir(),
                "generation": current.as_ref().map(|g| g.number),
                "plugins": current.as_ref().map_or_else(|| json!([]), plugins_json),
            }));
            return Ok(());
        }
        let Some(g) = current else {
            println!(
                "nothing installed in {} (`sharelife install ID` installs a plugin)",
                root.dir().display()
            );
            return Ok(());
        };
        println!(
            "generation {} ({}):",
            g.number,
            root.plugins_dir().display()
        );
        println!(
            "  {:<28} {:<10} {:<6} {:<12} WHY",
            "PLUGIN", "VERSION", "RISK", "REGISTRY"
        );
        for p in &g.plugins {
            println!(
                "  {:<28} {:<10} {:<6} {:<12} {}",
                p.id,
                p.version.to_string(),
                p.risk.to_string(),
                p.registry,
                if p.requested {
                    "requested"
                } else {
                    "dependency"
                }
            );
        }
        Ok(())
    };
    finish(common.json, run())
}

/// Runs `sharelife generations`.
pub(crate) fn generations(args: GenerationsArgs) -> Result<(), Failure> {
    let common = &args.common;
    let run = || -> Result<(), Refusal> {
        let root = common.open()?;
        let all = root.generations().map_err(|e| common.refusal(e, None))?;
        let current = root.current_number().map_err(|e| common.refusal(e, None))?;
        if common.json {
            print_json(&json!({
                "root": root.dir(),
                "current": current,
                "generations": all,
            }));
            return Ok(());
        }
        if all.is_empty() {
            println!("no generations in {}", root.dir().display());
            return Ok(());
        }
        println!(
            "  {:>4} {:>6}  {:<20} {:<9} {:<12} {:<18} PLUGINS",
            "N", "PARENT", "CREATED", "OPERATION", "PLAN", "APPROVERS"
        );
        for g in &all {
            println!(
                "{} {:>4} {:>6}  {:<20} {:<9} {:<12} {:<18} {}",
                if g.current { "*" } else { " " },
                g.number,
                g.parent.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                g.created,
                g.operation,
                &g.plan_digest[..g.plan_digest.len().min(12)],
                if g.approvers.is_empty() {
                    "-".to_owned()
                } else {
                    g.approvers
                        .iter()
                        .map(|a| a[..a.len().min(16)].to_owned())
                        .collect::<Vec<_>>()
                        .join(",")
                },
                g.plugins.join(", ")
            );
        }
        Ok(())
    };
    finish(common.json, run())
}

/// Runs `sharelife rollback`.
pub(crate) fn rollback(args: RollbackArgs) -> Result<(), Failure> {
    let common = &args.common;
    let run = || -> Result<(), Refusal> {
        let root = common.open()?;
        let report =
            sharelife_install::rollback(&root, args.to).map_err(|e| common.refusal(e, None))?;
        let g = root
            .generation(report.to)
            .map_err(|e| common.refusal(e, None))?;
        if common.json {
            print_json(&json!({
                "ok": true,
                "from": report.from,
                "to": report.to,
                "plugins": plugins_json(&g),
            }));
        } else {
            println!(
                "generation {} is current again (was {}), its files verified by digest",
                report.to, report.from
            );
            for p in &g.plugins {
                println!("  {} {}", p.id, p.version);
            }
        }
        Ok(())
    };
    finish(common.json, run())
}

/// Turns a refusal into the CLI's [`Failure`], printing it as JSON on
/// stdout first when `--json` was given.
fn finish(json: bool, result: Result<(), Refusal>) -> Result<(), Failure> {
    result.map_err(|refusal| {
        if json {
            let mut object = Map::new();
            object.insert("ok".into(), Value::Bool(false));
            object.insert("error".into(), json!(refusal.failure.message));
            object.insert("details".into(), json!(refusal.failure.details));
            object.insert("hint".into(), json!(refusal.failure.hint));
            object.extend(refusal.fields);
            print_json(&Value::Object(object));
        }
        refusal.failure
    })
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a JSON value serializes")
    );
}

fn spinner(json: bool, message: String) -> indicatif::ProgressBar {
    if json {
        indicatif::ProgressBar::hidden()
    } else {
        crate::progress::spinner(message)
    }
}
