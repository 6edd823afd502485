//! Build-from-source steps: a package with no library for this host's
//! triple but its source is built at apply, only when the install root
//! allows it, under the command allowlist and a timeout that kills the
//! whole process group; its evidence is kept; a failure applies nothing.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sharelife_install::{InstallError, Operation, PluginRequest, apply};
use sharelife_registry::package::{self, PackageOptions};
use sharelife_registry::registry::PublishOptions;

use support::World;

/// A target triple that is not this host's: the package's only library is
/// filed under it, so this host must build from source.
const OTHER_TRIPLE: &str = "riscv64gc-unknown-linux-gnu";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A shared cargo target dir for these builds, so the SDK is compiled once.
fn shared_target() -> PathBuf {
    workspace().join("target").join("install-build-step")
}

/// Writes a standalone plugin crate, locks it, builds it once (for the
/// package's library), packages it with its source under another triple,
/// and publishes it.
fn publish_source_plugin(world: &World) {
    let dir = world.dir.join("sourced");
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "sourced"
version = "1.0.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
sharelife-sdk = {{ path = "{}" }}

[workspace]
"#,
            workspace().join("sharelife-sdk").display()
        ),
    )
    .unwrap();
    fs::write(
        dir.join("src/lib.rs"),
        r#"//! Built from source at install.
use sharelife_sdk::prelude::*;

/// Answers "built".
#[derive(Default)]
pub struct Sourced;

#[plugin(id = "fixtures.sourced")]
impl Plugin for Sourced {
    /// Answers "built".
    #[handler]
    fn ping(&self) -> &'static str {
        "built"
    }
}
"#,
    )
    .unwrap();
    let status = Command::new("cargo")
        .args(["generate-lockfile", "--offline"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new("cargo")
        .args(["build", "--release", "--offline", "--target-dir"])
        .arg(shared_target())
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let library = shared_target().join("release").join(format!(
        "{}sourced{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let built = package::build(&PackageOptions {
        crate_dir: dir.clone(),
        out_dir: world.dir.join("dist/sourced"),
        library: Some(library),
        target: Some(OTHER_TRIPLE.to_owned()),
        include_source: true,
        ..PackageOptions::default()
    })
    .unwrap();
    world
        .registry
        .publish(&built.path, &world.publisher, &PublishOptions::default())
        .unwrap();
}

fn plan_sourced(world: &World) -> (PathBuf, sharelife_install::PlanFile) {
    let (path, file) = world.plan(Operation::Install(vec![
        "fixtures.sourced".parse::<PluginRequest>().unwrap(),
    ]));
    assert!(file.plan.actions[0].build_from_source);
    (path, file)
}

fn config(world: &World, timeout: &str, allow: &str) {
    world.write_config(&format!(
        "[execution]\nenabled = true\ntimeout = \"{timeout}\"\nallow = {allow}\ntarget_dir = \"{}\"\n",
        shared_target().display()
    ));
}

#[test]
fn build_steps_run_only_as_the_install_root_allows() {
    let world = World::with(&[]);
    publish_source_plugin(&world);

    // Execution off (the default): refused before anything runs.
    let (path, file) = plan_sourced(&world);
    let root = world.root();
    let err = apply(&root, &file, &path, &world.client(&root)).unwrap_err();
    assert!(
        matches!(err, InstallError::ExecutionDisabled { .. }),
        "{err}"
    );
    drop(root);

    // A command outside the allowlist: refused before it runs.
    config(&world, "10m", r#"[["make"]]"#);
    let root = world.root();
    let err = apply(&root, &file, &path, &world.client(&root)).unwrap_err();
    assert!(
        matches!(err, InstallError::CommandNotAllowed { .. }),
        "{err}"
    );
    assert_eq!(root.current_number().unwrap(), None);
    drop(root);

    // A build that outlives its timeout: its process group is killed and
    // nothing is applied; the evidence says so.
    config(
        &world,
        "1ms",
        r#"[["cargo", "build", "--release", "--locked"]]"#,
    );
    let root = world.root();
    let err = apply(&root, &file, &path, &world.client(&root)).unwrap_err();
    let InstallError::StepFailed { evidence, .. } = &err else {
        panic!("{err}");
    };
    let kept: sharelife_install::exec::StepEvidence =
        serde_json::from_slice(&fs::read(evidence).unwrap()).unwrap();
    assert!(kept.timed_out, "{kept:?}");
    let pgid = rustix::process::Pid::from_raw(i32::try_from(kept.pid).unwrap()).unwrap();
    assert!(
        rustix::process::test_kill_process_group(pgid).is_err(),
        "the step's process group is gone"
    );
    assert_eq!(root.current_number().unwrap(), None);
    drop(root);

    // Allowed, in time: built, smoke loaded, applied, evidence kept.
    config(
        &world,
        "10m",
        r#"[["cargo", "build", "--release", "--locked"]]"#,
    );
    let root = world.root();
    let report = apply(&root, &file, &path, &world.client(&root)).unwrap();
    assert_eq!(report.steps.len(), 1);
    let step = &report.steps[0];
    assert!(step.succeeded(), "{step:?}");
    assert_eq!(step.argv[..4], ["cargo", "build", "--release", "--locked"]);
    assert_eq!(step.produced.len(), 1);
    let g = root.current().unwrap().unwrap();
    assert_eq!(
        g.steps, report.steps,
        "the evidence is kept with the generation"
    );
    assert_eq!(g.plugins[0].id, "fixtures.sourced");
    g.verify_files(&root.generation_dir(g.number)).unwrap();
    drop(root);
    assert_eq!(
        support::host_sees(&world.install_root),
        ["fixtures.sourced"]
    );

    // Each build step, the timed-out one and the good one, is an audit
    // record.
    let records = sharelife_core::audit::read_log(world.install_root.join("audit.log")).unwrap();
    let steps: Vec<_> = records
        .iter()
        .filter(|r| r.capability.as_deref() == Some("step"))
        .collect();
    assert_eq!(steps.len(), 2, "{steps:#?}");
    assert_eq!(steps[0].outcome, sharelife_core::audit::Outcome::Deny);
    assert_eq!(steps[1].outcome, sharelife_core::audit::Outcome::Allow);
    sharelife_core::audit::verify(world.install_root.join("audit.log")).unwrap();
}
