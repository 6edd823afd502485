//! The install flow end to end against a real registry served on
//! 127.0.0.1: install → upgrade → rollback → remove into generations, the
//! admin rules, capability diffs, stale plans, a failed smoke load.

mod support;

use std::fs;

use sharelife_install::plan::ActionKind;
use sharelife_install::{
    InstallError, Operation, PlanFile, PluginRequest, apply, approve, rollback,
};
use sharelife_registry::keys;

use support::{World, host_sees};

fn install_op(requests: &[&str]) -> Operation {
    Operation::Install(
        requests
            .iter()
            .map(|r| r.parse::<PluginRequest>().unwrap())
            .collect(),
    )
}

#[test]
fn install_upgrade_rollback_remove_each_a_complete_generation() {
    let world = World::new();

    // Install: generation 1, no parent.
    let report = world.install(&["fixtures.growing@^1"]);
    assert_eq!((report.generation, report.parent), (1, None));
    let root = world.root();
    let g1 = root.current().unwrap().unwrap();
    assert_eq!(g1.plugins.len(), 1);
    assert_eq!(g1.plugins[0].version.to_string(), "1.0.0");
    g1.verify_files(&world.install_root.join("generations/1"))
        .unwrap();
    let g1_json = fs::read(world.install_root.join("generations/1/generation.json")).unwrap();
    drop(root);
    assert_eq!(host_sees(&world.install_root), ["fixtures.growing"]);

    // Upgrade (widens: needs the admin, which `install` does): generation 2.
    let report = world.plan_and_apply(Operation::Upgrade(Vec::new()));
    assert_eq!((report.generation, report.parent), (2, Some(1)));
    let root = world.root();
    let g2 = root.current().unwrap().unwrap();
    assert_eq!(g2.plugins[0].version.to_string(), "3.0.0", "the newest");
    assert_eq!(g2.parent, Some(1));
    drop(root);

    // Rollback: the parent, byte-identical.
    let root = world.root();
    let back = rollback(&root, None).unwrap();
    assert_eq!((back.from, back.to), (2, 1));
    assert_eq!(root.current_number().unwrap(), Some(1));
    assert_eq!(
        g1_json,
        fs::read(world.install_root.join("current/generation.json")).unwrap()
    );
    root.current()
        .unwrap()
        .unwrap()
        .verify_files(&world.install_root.join("current"))
        .unwrap();
    drop(root);
    assert_eq!(host_sees(&world.install_root), ["fixtures.growing"]);

    // Add a second plugin, then remove the first.
    world.install(&["examples.echo"]);
    assert_eq!(
        host_sees(&world.install_root),
        ["examples.echo", "fixtures.growing"]
    );
    let report = world.plan_and_apply(Operation::Remove(vec!["fixtures.growing".parse().unwrap()]));
    let root = world.root();
    let g = root.generation(report.generation).unwrap();
    assert_eq!(
        g.plugins.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["examples.echo"]
    );
    g.verify_files(&root.generation_dir(report.generation))
        .unwrap();
    drop(root);
    assert_eq!(host_sees(&world.install_root), ["examples.echo"]);

    // Every step is in the install root's audit log, and the chain holds.
    let records = sharelife_core::audit::read_log(world.install_root.join("audit.log")).unwrap();
    let actions: Vec<&str> = records
        .iter()
        .filter_map(|r| r.capability.as_deref())
        .collect();
    for expected in ["apply", "install", "rollback", "remove"] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    sharelife_core::audit::verify(world.install_root.join("audit.log")).unwrap();
}

#[test]
fn dependencies_come_along_through_the_hosts_resolver() {
    let world = World::new();
    let (_, file) = world.plan(install_op(&["fixtures.versioned-user"]));
    let by_id = |id: &str| file.plan.actions.iter().find(|a| a.id == id).unwrap();
    assert_eq!(by_id("fixtures.versioned-user").action, ActionKind::Add);
    assert!(by_id("fixtures.versioned-user").requested);
    let dep = by_id("fixtures.versioned");
    assert_eq!(dep.action, ActionKind::Add);
    assert!(!dep.requested);
    // Start order: the dependency first.
    assert_eq!(file.plan.actions[0].id, "fixtures.versioned");

    world.install(&["fixtures.versioned-user"]);
    assert_eq!(
        host_sees(&world.install_root),
        ["fixtures.versioned", "fixtures.versioned-user"]
    );
    // Removing the dependency alone is refused: its dependent needs it.
    let root = world.root();
    let client = world.client(&root);
    let err = sharelife_install::make_plan(
        &root,
        &client,
        "main",
        &Operation::Remove(vec!["fixtures.versioned".parse().unwrap()]),
    )
    .unwrap_err();
    assert!(matches!(err, InstallError::Unresolved { .. }), "{err}");
}

#[test]
fn a_high_risk_plugin_needs_an_admin_whatever_else_is_said() {
    let world = World::new();
    let (path, file) = world.plan(install_op(&["examples.fetcher"]));
    assert!(file.plan.admin.required, "{:?}", file.plan.admin);
    let root = world.root();
    let client = world.client(&root);

    // No approval (what `--yes` amounts to): refused.
    let err = apply(&root, &file, &path, &client).unwrap_err();
    assert!(matches!(err, InstallError::NeedsAdmin { .. }), "{err}");

    // A non-admin cannot approve.
    let err = approve(&root, &path, &world.stranger).unwrap_err();
    assert!(matches!(err, InstallError::NotAnAdmin { .. }), "{err}");

    // A non-admin's signature written into the file does not count.
    let mut forged = PlanFile::read(&path).unwrap();
    forged.approvals.push(sharelife_install::plan::Approval {
        key_id: world.stranger.key_id(),
        signature: hex::encode(
            world
                .stranger
                .sign(&sharelife_install::plan::approval_message(&forged.digest)),
        ),
        approved: "2026-12-01T00:00:00Z".to_owned(),
    });
    forged.write(&path).unwrap();
    let err = apply(&root, &PlanFile::read(&path).unwrap(), &path, &client).unwrap_err();
    assert!(matches!(err, InstallError::NotAnAdmin { .. }), "{err}");

    // Approved, then edited: refused, with or without fixing the digest.
    approve(&root, &path, &world.admin).unwrap();
    let approved = PlanFile::read(&path).unwrap();
    let mut edited = approved.clone();
    edited.plan.actions[0].risk = sharelife_manifest::RiskLevel::Low;
    edited.write(&path).unwrap();
    let err = PlanFile::read(&path).unwrap_err();
    assert!(matches!(err, InstallError::PlanTampered { .. }), "{err}");
    edited.digest = edited.plan.digest();
    edited.write(&path).unwrap();
    let err = apply(&root, &PlanFile::read(&path).unwrap(), &path, &client).unwrap_err();
    assert!(
        matches!(
            err,
            InstallError::PlanTampered { .. } | InstallError::NeedsAdmin { .. }
        ),
        "{err}"
    );
    assert_eq!(root.current_number().unwrap(), None, "nothing installed");

    // The approved plan as it was: applies.
    approved.write(&path).unwrap();
    let report = apply(&root, &PlanFile::read(&path).unwrap(), &path, &client).unwrap();
    assert_eq!(report.approvers, [world.admin.key_id()]);

    // The refusals and the approval are in the audit log.
    let records = sharelife_core::audit::read_log(world.install_root.join("audit.log")).unwrap();
    let denied = records
        .iter()
        .filter(|r| r.outcome == sharelife_core::audit::Outcome::Deny)
        .count();
    assert!(denied >= 3, "{records:#?}");
    assert!(
        records
            .iter()
            .any(|r| r.request.contains(&keys::key_id(world.admin.public())))
    );
}

#[test]
fn an_upgrade_that_adds_a_capability_shows_the_diff_and_needs_approval() {
    let world = World::new();
    world.install(&["fixtures.growing@=1.0.0"]);
    let (path, file) = world.plan(install_op(&["fixtures.growing@=2.0.0"]));
    let action = &file.plan.actions[0];
    assert_eq!(action.action, ActionKind::Upgrade);
    let diff = action.diff.as_ref().unwrap();
    assert_eq!(diff.added, ["connects to api.example.com:443"]);
    assert!(diff.removed.is_empty());
    assert!(file.plan.admin.required);
    let root = world.root();
    let client = world.client(&root);
    let err = apply(&root, &file, &path, &client).unwrap_err();
    assert!(matches!(err, InstallError::NeedsAdmin { .. }), "{err}");
    drop(root);
    // With the admin: applied. Then 2 → 3 drops capabilities: no approval.
    world.install(&["fixtures.growing@=2.0.0"]);
    let (path, file) = world.plan(install_op(&["fixtures.growing@=3.0.0"]));
    let diff = file.plan.actions[0].diff.as_ref().unwrap();
    assert!(diff.added.is_empty());
    assert_eq!(diff.removed.len(), 2, "{diff:?}");
    assert!(!file.plan.admin.required);
    let root = world.root();
    let client = world.client(&root);
    apply(&root, &file, &path, &client).unwrap();
}

#[test]
fn a_stale_plan_is_refused_naming_what_moved() {
    let world = World::new();
    // The registry moves.
    let (path, file) = world.plan(install_op(&["examples.echo"]));
    world.registry.refresh(None).unwrap();
    let root = world.root();
    let client = world.client(&root);
    let err = apply(&root, &file, &path, &client).unwrap_err();
    assert!(
        matches!(&err, InstallError::StalePlan { what_moved } if what_moved.contains("registry `main` moved")),
        "{err}"
    );
    drop(root);
    // The installed set moves.
    let (path, file) = world.plan(install_op(&["examples.echo"]));
    world.install(&["fixtures.growing@^1"]);
    let root = world.root();
    let client = world.client(&root);
    let err = apply(&root, &file, &path, &client).unwrap_err();
    assert!(
        matches!(&err, InstallError::StalePlan { what_moved } if what_moved.contains("installed set moved")),
        "{err}"
    );
}

#[test]
fn a_failed_smoke_load_applies_nothing() {
    let world = World::new();
    world.install(&["examples.echo"]);
    let before = fs::read_link(world.install_root.join("current")).unwrap();
    let (path, file) = world.plan(install_op(&["fixtures.unhealthy"]));
    let root = world.root();
    let client = world.client(&root);
    let err = apply(&root, &file, &path, &client).unwrap_err();
    assert!(
        matches!(&err, InstallError::SmokeFailed { id, stage, .. } if id == "fixtures.unhealthy" && stage == "health"),
        "{err}"
    );
    assert_eq!(
        before,
        fs::read_link(world.install_root.join("current")).unwrap()
    );
    assert_eq!(root.numbers().unwrap(), [1]);
    drop(root);
    // The next open cleans the staging leftovers.
    let _root = world.root();
    let staging = world.install_root.join("staging");
    assert!(
        !staging.exists() || fs::read_dir(&staging).unwrap().next().is_none(),
        "staging is empty"
    );
}

#[test]
fn the_smoke_load_runs_with_the_host_config_the_generation_will_run_with() {
    let world = World::with(&["fixture-configured"]);
    // No host config: the plugin's required config is missing, so the
    // scratch host refuses it, as a real host would, and nothing applies.
    let (path, file) = world.plan(install_op(&["fixtures.configured"]));
    let root = world.root();
    let client = world.client(&root);
    let err = apply(&root, &file, &path, &client).unwrap_err();
    assert!(
        matches!(&err, InstallError::SmokeFailed { id, .. } if id == "fixtures.configured"),
        "{err}"
    );
    assert!(root.numbers().unwrap().is_empty());
    drop(root);

    // The host config gives it its config: the smoke load passes with it.
    fs::write(
        world.install_root.join("host.toml"),
        "[plugins.\"fixtures.configured\"]\nconfig = { port = 8080, token = \"${SL_SMOKE_TEST_UNSET:-a-default-token}\" }\n",
    )
    .unwrap();
    world.write_config("[host]\nconfig = \"host.toml\"\n");
    let report = world.install(&["fixtures.configured"]);
    assert_eq!(report.generation, 1);

    // A host config that does not parse fails the smoke load at `config`.
    let broken = world.dir.join("broken.toml");
    fs::write(&broken, "plugin_paths = 3\n").unwrap();
    let plugins = world.install_root.join("current/plugins");
    let err = sharelife_install::smoke::smoke_load(&plugins, Some(&broken)).unwrap_err();
    assert!(
        matches!(&err, InstallError::SmokeFailed { stage, .. } if stage == "config"),
        "{err}"
    );
    sharelife_install::smoke::smoke_load(&plugins, Some(&world.install_root.join("host.toml")))
        .expect("the installed generation passes with its config");
    // A variable the installer's environment does not set is taken as
    // empty; when that fails the plugin's schema, the error names it.
    let unset = world.dir.join("unset.toml");
    fs::write(
        &unset,
        "[plugins.\"fixtures.configured\"]\nconfig = { port = 8080, token = \"${SL_SMOKE_TEST_UNSET}\" }\n",
    )
    .unwrap();
    let err = sharelife_install::smoke::smoke_load(&plugins, Some(&unset)).unwrap_err();
    assert!(
        matches!(&err, InstallError::SmokeFailed { id, reason, .. }
            if id == "fixtures.configured" && reason.contains("${SL_SMOKE_TEST_UNSET}") && reason.contains("token")),
        "{err}"
    );
}
