//! Crash consistency: the installing process (a real `sharelife` child)
//! is killed with SIGKILL at every step boundary of install, upgrade,
//! remove and rollback (`SHARELIFE_FAILPOINT=<step>`). After each kill,
//! the next run (`sharelife generations`, which opens the root and
//! recovers) finds `current` at the old or the new complete generation,
//! whose files verify by digest, the staging directory empty, and the
//! audit log's chain intact.

mod support;

use std::fs;
use std::os::unix::process::ExitStatusExt;

use sharelife_install::generation::GenerationManifest;

use support::{World, s};

/// The step boundaries of an apply, in order; those before `flipped`
/// leave the old generation current.
const APPLY_STEPS: &[&str] = &[
    "planned",
    "staged",
    "built",
    "manifest_written",
    "smoke_loaded",
    "committed",
    "symlink_created",
    "flipped",
    "recorded",
    "collected",
];

/// A rollback's step boundaries.
const ROLLBACK_STEPS: &[&str] = &["symlink_created", "flipped", "recorded"];

fn before_flip(step: &str) -> bool {
    !matches!(step, "flipped" | "recorded" | "collected")
}

/// The ids and versions of generation `n`, after checking it is complete
/// and byte-identical to its manifest.
fn contents(world: &World, n: u64) -> Vec<String> {
    let dir = world.root.join("generations").join(n.to_string());
    let g = GenerationManifest::read(&dir)
        .unwrap_or_else(|e| panic!("generation {n} is not complete: {e}"));
    g.verify_files(&dir).unwrap();
    let mut ids: Vec<String> = g
        .plugins
        .iter()
        .map(|p| format!("{} {}", p.id, p.version))
        .collect();
    ids.sort();
    ids
}

/// Makes generation `n` current (outside the failpoints) if it is not.
fn reset_to(world: &World, n: u64) {
    if world.current() != Some(n) {
        world.json(&["rollback", "--to", &n.to_string()]);
    }
    assert_eq!(world.current(), Some(n));
}

/// Runs `args` with the failpoint `step`, asserts the process died by
/// SIGKILL, then that recovery finds `current` at `old` (killed before the
/// flip) or at a new generation holding `new` (after it).
fn crash(world: &World, args: &[&str], step: &str, old: u64, new: &[&str]) {
    let out = world.run_env(args, &[("SHARELIFE_FAILPOINT", step)]);
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{args:?} at {step}: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The next run opens the root, which recovers.
    let v = world.json(&["generations"]);
    let current = v["current"].as_u64().expect("current is set");
    assert_eq!(world.current(), Some(current));
    if before_flip(step) {
        assert_eq!(current, old, "{args:?} killed at {step}");
        contents(world, current);
    } else {
        assert_ne!(current, old, "{args:?} killed at {step}");
        let mut new = new.to_vec();
        new.sort_unstable();
        assert_eq!(contents(world, current), new, "{args:?} killed at {step}");
    }
    let staging = world.root.join("staging");
    assert!(
        !staging.exists() || fs::read_dir(&staging).unwrap().next().is_none(),
        "{args:?} killed at {step}: staging holds {:?}",
        fs::read_dir(&staging).unwrap().collect::<Vec<_>>()
    );
    assert!(
        fs::read_dir(&world.root).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("current.tmp")),
        "a temporary link was left"
    );
    let (code, out, err) = world.sl(&["audit", "verify", s(&world.root.join("audit.log"))]);
    assert_eq!(code, 0, "{args:?} killed at {step}: {out}\n{err}");
}

#[test]
fn a_kill_at_any_step_leaves_a_complete_generation_current() {
    let world = World::new(
        &["fixture-growing-1", "fixture-growing-3", "example-echo"],
        "[apply]\nkeep = 1000\n",
    );
    let only_growing = world.json(&["install", "fixtures.growing@=1.0.0", "--yes"])["generation"]
        .as_u64()
        .unwrap();
    let with_echo = world.json(&["install", "examples.echo", "--yes"])["generation"]
        .as_u64()
        .unwrap();

    for step in APPLY_STEPS {
        reset_to(&world, only_growing);
        crash(
            &world,
            &["install", "examples.echo", "--yes"],
            step,
            only_growing,
            &["fixtures.growing 1.0.0", "examples.echo 1.0.0"],
        );
    }
    for step in APPLY_STEPS {
        reset_to(&world, only_growing);
        crash(
            &world,
            &["upgrade", "--yes"],
            step,
            only_growing,
            &["fixtures.growing 3.0.0"],
        );
    }
    for step in APPLY_STEPS {
        reset_to(&world, with_echo);
        crash(
            &world,
            &["remove", "examples.echo", "--yes"],
            step,
            with_echo,
            &["fixtures.growing 1.0.0"],
        );
    }
    // `with_echo`'s parent is `only_growing`.
    for step in ROLLBACK_STEPS {
        reset_to(&world, with_echo);
        crash(
            &world,
            &["rollback"],
            step,
            with_echo,
            &["fixtures.growing 1.0.0"],
        );
    }
    // After all that, the root still works.
    reset_to(&world, only_growing);
    let v = world.json(&["upgrade", "--yes"]);
    assert_eq!(v["ok"], true, "{v}");
}

#[test]
fn a_kill_at_any_step_of_a_pack_apply_leaves_a_complete_generation_current() {
    let world = World::new(
        &["fixture-growing-1", "example-echo"],
        "[apply]\nkeep = 1000\n",
    );
    let only_growing = world.json(&["install", "fixtures.growing@=1.0.0", "--yes"])["generation"]
        .as_u64()
        .unwrap();
    world.json(&["install", "examples.echo", "--yes"]);
    // The setup with echo as a signed pack, its author trusted here.
    let pack = world.dir.join("setup.slpack");
    let key = world.dir.join("keys/admin.key");
    world.json(&["pack", "export", "--out", s(&pack), "--key", s(&key)]);
    world.json(&["key", "trust", s(&world.dir.join("keys/admin.pub"))]);

    for step in APPLY_STEPS {
        reset_to(&world, only_growing);
        crash(
            &world,
            &["pack", "apply", s(&pack), "--yes"],
            step,
            only_growing,
            &["fixtures.growing 1.0.0", "examples.echo 1.0.0"],
        );
    }
}
