//! Every [`InstallError`] as a message a person can act on, with a hint,
//! and the fields the `--json` error object carries (`kind`, and
//! `what_moved`, `reasons`, `digest`, `key_id` when the error has them).

use serde_json::json;
use sharelife_install::InstallError;

use super::Refusal;
use crate::Failure;

/// What to type to get an admin's approval for the plan the command made:
/// `CMD --plan-out plan.json && sharelife approve plan.json --key ADMIN_KEY
/// && sharelife apply plan.json`.
pub(super) fn approval_hint(command: &str) -> String {
    // A pack's plan is applied with its pack.
    let pack = command
        .strip_prefix("sharelife pack apply ")
        .map(|rest| format!(" --pack {}", rest.split(" --").next().unwrap_or(rest)))
        .unwrap_or_default();
    format!(
        "an admin must approve exactly this plan: {command} --plan-out plan.json && sharelife approve plan.json --key ADMIN_KEY && sharelife apply plan.json{pack}"
    )
}

/// Maps `e` to a refusal; `command` is the command line that made the plan
/// (for [`InstallError::NeedsAdmin`]'s hint), or `None` when the plan came
/// from a file (`apply`).
pub(super) fn refusal(e: InstallError, command: Option<&str>, root: &str) -> Refusal {
    let kind = kind(&e);
    let message = e.to_string();
    let refusal: Refusal = match e {
        InstallError::Registry(c) => Refusal::from(c),
        InstallError::Key(k) => Refusal::from(k),
        InstallError::Io { .. } => Failure::new(message)
            .hint(format!(
                "check the install root {root} (--root, SHARELIFE_HOME): its permissions and free space; `current` was not changed"
            ))
            .into(),
        InstallError::Config { .. } => Failure::new(message)
            .hint(format!(
                "fix {root}/install.toml (README, \"Installing plugins\", lists its settings)"
            ))
            .into(),
        InstallError::BadRequest { .. } => Failure::new(message)
            .hint("name plugins as ID or ID@RANGE, e.g. acme.upper or acme.upper@^1")
            .into(),
        InstallError::Unresolved { problems } => {
            Failure::new("cannot resolve the plugins to install")
                .details(problems)
                .hint("`sharelife info ID` shows the versions and what they need; install, upgrade or remove the plugins in the way")
                .into()
        }
        InstallError::Incompatible { .. } => Failure::new(message)
            .hint("choose another version (`sharelife info ID` shows each version's compatibility)")
            .into(),
        InstallError::NotInstalled(_) => Failure::new(message)
            .hint("`sharelife list --installed` shows what is installed")
            .into(),
        InstallError::NeedsAdmin {
            ref digest,
            ref reasons,
            ..
        } => {
            let hint = match command {
                Some(command) => approval_hint(command),
                None => "an admin must approve exactly this plan: sharelife approve PLAN --key ADMIN_KEY && sharelife apply PLAN".to_owned(),
            };
            let (digest, reasons) = (digest.clone(), reasons.clone());
            Refusal::from(Failure::new(message).hint(hint))
                .field("digest", json!(digest))
                .field("reasons", json!(reasons))
        }
        InstallError::NotAnAdmin { ref key_id } => {
            let key_id = key_id.clone();
            Refusal::from(Failure::new(message).hint(format!(
                "approve with a secret key whose public half is listed in {root}/install.toml [admin] keys"
            )))
            .field("key_id", json!(key_id))
        }
        InstallError::PlanTampered { .. } => Failure::new(message)
            .hint("make a new plan with --plan-out and have it approved again; an approval binds one exact plan")
            .into(),
        InstallError::StalePlan { ref what_moved } => {
            let what_moved = what_moved.clone();
            Refusal::from(Failure::new(message).hint(
                "make a new plan (the same command with --plan-out), review it and have it approved again if it needs an admin",
            ))
            .field("what_moved", json!(what_moved))
        }
        InstallError::ExecutionDisabled { .. } => Failure::new(message)
            .hint(format!(
                "build steps run only when {root}/install.toml says [execution] enabled = true; or choose a version with a library for this host"
            ))
            .into(),
        InstallError::CommandNotAllowed { .. } => Failure::new(message)
            .hint(format!(
                "nothing ran; if you trust it, add its argv prefix to {root}/install.toml [execution] allow"
            ))
            .into(),
        InstallError::StepFailed { ref evidence, .. } => {
            let evidence = evidence.clone();
            Refusal::from(Failure::new(message).hint(format!(
                "`current` was not changed; the step's argv, status and output tails are in {}",
                evidence.display()
            )))
            .field("evidence", json!(evidence))
        }
        InstallError::SmokeFailed { .. } => Failure::new(message)
            .hint("`current` was not changed: the plugin does not start on this host; choose another version or tell its publisher")
            .into(),
        InstallError::Mismatch { .. } => Failure::new(message)
            .hint("a file is not what it should be (changed outside sharelife, or other bytes were served); `current` was not changed")
            .into(),
        InstallError::UnknownGeneration(_) => Failure::new(message)
            .hint("`sharelife generations` lists them")
            .into(),
        InstallError::NoParent(_) => Failure::new(message)
            .hint("`sharelife generations` lists them; pass --to N to choose one")
            .into(),
        InstallError::Audit(_) => Failure::new(message)
            .hint(format!(
                "`sharelife audit verify {root}/audit.log` names the first bad record; move a damaged log aside to go on"
            ))
            .into(),
        InstallError::ReadOnly => Failure::new(message).into(),
        InstallError::PackNeeded { .. } => Failure::new(message)
            .hint("pass the pack file the plan was made from with --pack FILE")
            .into(),
        InstallError::PackInvalid { .. } => Failure::new(message)
            .hint("the pack was damaged or changed after it was made; get it again from its author")
            .into(),
        InstallError::PackUnsigned { .. } => Failure::new(message)
            .hint("ask its author to sign it (`sharelife pack export --key KEY`) and trust their public key here (`sharelife key trust KEY.pub`)")
            .into(),
        InstallError::PackSignature { ref key_id, .. } => {
            let key_id = key_id.clone();
            Refusal::from(Failure::new(message).hint(
                "trust the author's public key only if you know it is theirs: `sharelife key trust KEY.pub`",
            ))
            .field("key_id", json!(key_id))
        }
        InstallError::PackRegistryUntrusted { .. } => Failure::new(message)
            .hint("`sharelife registry list` shows the registries this root trusts")
            .into(),
    };
    refusal.field("kind", json!(kind))
}

/// The error's variant, as the JSON error object's `kind`.
fn kind(e: &InstallError) -> &'static str {
    match e {
        InstallError::Io { .. } => "io",
        InstallError::Config { .. } => "config",
        InstallError::Registry(_) => "registry",
        InstallError::Key(_) => "key",
        InstallError::BadRequest { .. } => "bad_request",
        InstallError::Unresolved { .. } => "unresolved",
        InstallError::Incompatible { .. } => "incompatible",
        InstallError::NotInstalled(_) => "not_installed",
        InstallError::NeedsAdmin { .. } => "needs_admin",
        InstallError::NotAnAdmin { .. } => "not_an_admin",
        InstallError::PlanTampered { .. } => "plan_tampered",
        InstallError::StalePlan { .. } => "stale_plan",
        InstallError::ExecutionDisabled { .. } => "execution_disabled",
        InstallError::CommandNotAllowed { .. } => "command_not_allowed",
        InstallError::StepFailed { .. } => "step_failed",
        InstallError::SmokeFailed { .. } => "smoke_failed",
        InstallError::Mismatch { .. } => "mismatch",
        InstallError::UnknownGeneration(_) => "unknown_generation",
        InstallError::NoParent(_) => "no_parent",
        InstallError::Audit(_) => "audit",
        InstallError::ReadOnly => "read_only",
        InstallError::PackNeeded { .. } => "pack_needed",
        InstallError::PackInvalid { .. } => "pack_invalid",
        InstallError::PackUnsigned { .. } => "pack_unsigned",
        InstallError::PackSignature { .. } => "pack_signature",
        InstallError::PackRegistryUntrusted { .. } => "pack_registry_untrusted",
    }
}
