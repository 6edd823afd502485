//! Admin approvals: a signature by a key listed in `install.toml [admin]
//! keys` over a plan's digest. An approval binds that exact plan.

use std::path::Path;

use sharelife_core::audit::Outcome;
use sharelife_registry::keys::{self, SecretKey};
use tough::schema::key::Key;

use crate::InstallError;
use crate::plan::{ActionKind, Approval, PlanFile, approval_message, now};
use crate::root::{INSTALL_ACTOR, InstallRoot};

/// The admins' public keys: (key id, key).
pub fn admin_keys(root: &InstallRoot) -> Result<Vec<(String, Key)>, InstallError> {
    root.config()
        .admin
        .keys
        .iter()
        .map(|p| {
            let path = root.dir().join(p);
            let key = keys::read_public(&path)?;
            Ok((keys::key_id(&key), key))
        })
        .collect()
}

/// Signs the plan file at `path` with an admin's key and writes the
/// approval into it.
pub fn approve(root: &InstallRoot, path: &Path, key: &SecretKey) -> Result<Approval, InstallError> {
    let mut file = PlanFile::read(path)?;
    let key_id = key.key_id();
    if !admin_keys(root)?.iter().any(|(id, _)| *id == key_id) {
        root.record(
            "approve",
            INSTALL_ACTOR,
            "",
            format!("plan {} refused: key {key_id} is not an admin", file.digest),
            Outcome::Deny,
        )?;
        root.flush_audit()?;
        return Err(InstallError::NotAnAdmin { key_id });
    }
    let signature = hex::encode(key.sign(&approval_message(&file.digest)));
    let approval = Approval {
        key_id: key_id.clone(),
        signature,
        approved: now(),
    };
    file.approvals.retain(|a| a.key_id != key_id);
    file.approvals.push(approval.clone());
    file.write(path)?;
    root.record(
        "approve",
        INSTALL_ACTOR,
        "",
        format!("plan {} approved by {key_id}", file.digest),
        Outcome::Allow,
    )?;
    root.flush_audit()?;
    Ok(approval)
}

/// Whether the plan needs an admin now: as the plan says, or because, under
/// the root's settings today, a plugin it installs is at or above the
/// threshold, an upgrade widens capabilities, or a pack widens the policy
/// (the stricter wins).
pub fn needs_admin(root: &InstallRoot, file: &PlanFile) -> (bool, Vec<String>) {
    let threshold = root.config().admin.threshold;
    let mut reasons = file.plan.admin.reasons.clone();
    for a in &file.plan.actions {
        if a.installs() && a.risk >= threshold {
            let r = format!(
                "{} {} is {} risk",
                a.id,
                a.to.as_ref().map(ToString::to_string).unwrap_or_default(),
                a.risk
            );
            if !reasons.contains(&r) {
                reasons.push(r);
            }
        }
        if matches!(a.action, ActionKind::Upgrade | ActionKind::Downgrade)
            && a.diff.as_ref().is_some_and(|d| d.widens())
            && !reasons
                .iter()
                .any(|r| r.starts_with(&format!("{} ", a.id)) && r.contains("widens"))
        {
            reasons.push(format!("{} widens its capabilities", a.id));
        }
    }
    if let Some(part) = &file.plan.pack
        && part.diff.widens_policy()
        && !reasons.iter().any(|r| r.contains("widens the policy"))
    {
        reasons.push("the pack widens the policy".to_owned());
    }
    (file.plan.admin.required || !reasons.is_empty(), reasons)
}

/// Checks the plan's approvals: returns the key ids of the admins whose
/// signatures verify. Refuses a plan that needs an admin and has no valid
/// admin approval, and any approval whose signature does not verify (the
/// plan was changed after it was approved).
pub fn check_approvals(
    root: &InstallRoot,
    file: &PlanFile,
    path: &Path,
) -> Result<Vec<String>, InstallError> {
    let admins = admin_keys(root)?;
    let message = approval_message(&file.digest);
    let mut valid = Vec::new();
    let mut not_admin = None;
    for a in &file.approvals {
        let Some((_, key)) = admins.iter().find(|(id, _)| *id == a.key_id) else {
            not_admin = Some(a.key_id.clone());
            continue;
        };
        let signature = hex::decode(&a.signature).unwrap_or_default();
        if !keys::verify(key, &message, &signature) {
            return Err(InstallError::PlanTampered {
                path: path.to_owned(),
                reason: format!(
                    "the approval by {} does not verify over digest {}",
                    a.key_id, file.digest
                ),
            });
        }
        valid.push(a.key_id.clone());
    }
    let (required, reasons) = needs_admin(root, file);
    if required && valid.is_empty() {
        if let Some(key_id) = not_admin {
            return Err(InstallError::NotAnAdmin { key_id });
        }
        return Err(InstallError::NeedsAdmin {
            digest: file.digest.clone(),
            reasons,
            threshold: root.config().admin.threshold,
        });
    }
    Ok(valid)
}
