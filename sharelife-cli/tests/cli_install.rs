//! The install commands as an operator runs them, against a real
//! registry served on 127.0.0.1: install → list → generations → upgrade
//! (refused without an admin whatever `--yes` says; then plan file,
//! approve, apply) → rollback → remove, each asserted through `--json`
//! and the generation's files; the refusals of a non-admin key, an edited
//! plan and a stale one; and `sharelife run --follow` following a flip of
//! `current`.

mod support;

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;
use sharelife_install::generation::GenerationManifest;

use support::{World, built_library, s};

const CRATES: &[&str] = &[
    "fixture-growing-1",
    "fixture-growing-2",
    "fixture-growing-3",
    "example-echo",
];

/// `(id, version)` of each plugin in a `plugins` JSON array.
fn plugins(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(id: &str, version: &str) -> (String, String) {
    (id.to_owned(), version.to_owned())
}

/// Generation `n` verifies by digest and holds exactly `expected`.
fn assert_generation(world: &World, n: u64, expected: &[(String, String)]) -> GenerationManifest {
    let dir = world.root.join("generations").join(n.to_string());
    let g = GenerationManifest::read(&dir).unwrap();
    g.verify_files(&dir).unwrap();
    let got: Vec<(String, String)> = g
        .plugins
        .iter()
        .map(|p| (p.id.clone(), p.version.to_string()))
        .collect();
    assert_eq!(got, expected, "generation {n}");
    g
}

#[test]
fn install_upgrade_with_an_admin_rollback_remove() {
    let world = World::new(CRATES, "");
    let growing = |v: &str| pair("fixtures.growing", v);

    // Install: generation 1.
    let v = world.json(&["install", "fixtures.growing@^1", "--yes"]);
    assert_eq!(v["generation"], 1, "{v}");
    assert_eq!(v["parent"], Value::Null);
    assert_eq!(plugins(&v["plugins"]), [growing("1.0.0")]);
    assert_generation(&world, 1, &[growing("1.0.0")]);

    // Off a terminal, without --yes, nothing is done.
    let (code, out, err) = world.sl(&["install", "examples.echo"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("add") && out.contains("examples.echo"),
        "{out}"
    );
    assert!(err.contains("hint:") && err.contains("--yes"), "{err}");
    assert_eq!(world.current(), Some(1));

    // list --installed, here with --root instead of SHARELIFE_HOME.
    let out = Command::new(env!("CARGO_BIN_EXE_sharelife"))
        .args(["list", "--installed", "--json", "--root", s(&world.root)])
        .env_remove("SHARELIFE_HOME")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["generation"], 1);
    let p = &v["plugins"][0];
    assert_eq!(
        (&p["id"], &p["version"], &p["registry"], &p["requested"]),
        (
            &Value::from("fixtures.growing"),
            &Value::from("1.0.0"),
            &Value::from("main"),
            &Value::from(true)
        )
    );
    let (_, human, _) = world.sl(&["list", "--installed"]);
    assert!(
        human.contains("fixtures.growing") && human.contains("requested"),
        "{human}"
    );

    // The upgrade to 2.0.0 adds a capability: the table shows the diff and
    // the reason; --yes is refused with the typed error and the way to an
    // admin's approval.
    let (code, out, err) = world.sl(&["install", "fixtures.growing@=2.0.0", "--yes"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("upgrade") && out.contains("1.0.0 -> 2.0.0"),
        "{out}"
    );
    assert!(out.contains("+ connects to api.example.com:443"), "{out}");
    assert!(out.contains("needs admin approval"), "{out}");
    assert!(err.contains("needs an admin's approval"), "{err}");
    assert!(
        err.contains("hint: an admin must approve exactly this plan: sharelife install fixtures.growing@=2.0.0 --plan-out plan.json && sharelife approve plan.json --key ADMIN_KEY && sharelife apply plan.json"),
        "{err}"
    );
    let (v, _) = world.json_err(&["install", "fixtures.growing@=2.0.0", "--yes"]);
    assert_eq!(v["kind"], "needs_admin", "{v}");
    assert_eq!(world.current(), Some(1));

    // The plan file.
    let plan = world.dir.join("plan.json");
    let v = world.json(&["install", "fixtures.growing@=2.0.0", "--plan-out", s(&plan)]);
    assert_eq!(v["needs_admin"], true, "{v}");
    let digest = v["digest"].as_str().unwrap().to_owned();
    assert_eq!(
        v["plan"]["actions"][0]["diff"]["added"][0],
        "connects to api.example.com:443"
    );
    // Unapproved: refused, --yes or not.
    let (v, _) = world.json_err(&["apply", s(&plan), "--yes"]);
    assert_eq!(v["kind"], "needs_admin", "{v}");
    // A key that is not an admin's cannot approve.
    let stranger = world.dir.join("keys/stranger.key");
    let (v, _) = world.json_err(&["approve", s(&plan), "--key", s(&stranger)]);
    assert_eq!(v["kind"], "not_an_admin", "{v}");
    // The admin approves (the key path without `.key`).
    let admin = world.dir.join("keys/admin");
    let v = world.json(&["approve", s(&plan), "--key", s(&admin)]);
    assert_eq!(v["key_id"], world.admin.key_id());
    assert_eq!(v["digest"], digest.as_str());
    // The approved plan, edited: refused.
    let edited = world.dir.join("edited.json");
    let mut text: Value = serde_json::from_slice(&fs::read(&plan).unwrap()).unwrap();
    text["plan"]["actions"][0]["risk"] = Value::from("low");
    fs::write(&edited, serde_json::to_vec_pretty(&text).unwrap()).unwrap();
    let (v, _) = world.json_err(&["apply", s(&edited), "--yes"]);
    assert_eq!(v["kind"], "plan_tampered", "{v}");
    // With the digest fixed too: the approval no longer verifies.
    text["digest"] = Value::from(
        serde_json::from_value::<sharelife_install::Plan>(text["plan"].clone())
            .unwrap()
            .digest(),
    );
    fs::write(&edited, serde_json::to_vec_pretty(&text).unwrap()).unwrap();
    let (v, _) = world.json_err(&["apply", s(&edited), "--yes"]);
    assert!(
        v["kind"] == "plan_tampered" || v["kind"] == "needs_admin",
        "{v}"
    );
    assert_eq!(world.current(), Some(1));
    // As approved: applied.
    let v = world.json(&["apply", s(&plan), "--yes"]);
    assert_eq!(
        (&v["generation"], &v["parent"]),
        (&2.into(), &1.into()),
        "{v}"
    );
    assert_eq!(v["approvers"][0], world.admin.key_id());
    let g2 = assert_generation(&world, 2, &[growing("2.0.0")]);
    assert_eq!(g2.plan_digest, digest);

    // Upgrade 2 → 3 only removes capabilities: no admin needed.
    let v = world.json(&["upgrade", "--yes"]);
    assert_eq!(
        (&v["generation"], &v["parent"]),
        (&3.into(), &2.into()),
        "{v}"
    );
    assert_generation(&world, 3, &[growing("3.0.0")]);

    // Rollback: the parent, 2.
    let v = world.json(&["rollback"]);
    assert_eq!((&v["from"], &v["to"]), (&3.into(), &2.into()), "{v}");
    assert_eq!(world.current(), Some(2));
    assert_generation(&world, 2, &[growing("2.0.0")]);

    let v = world.json(&["generations"]);
    assert_eq!(v["current"], 2);
    let gens = v["generations"].as_array().unwrap();
    assert_eq!(gens.len(), 3);
    assert_eq!(gens[1]["approvers"][0], world.admin.key_id());
    assert_eq!(gens[1]["plan_digest"], digest.as_str());
    assert_eq!(gens[2]["parent"], 2);
    assert_eq!(
        gens.iter()
            .map(|g| g["current"] == true)
            .collect::<Vec<_>>(),
        [false, true, false]
    );
    let (_, human, _) = world.sl(&["generations"]);
    assert!(
        human
            .lines()
            .any(|l| l.starts_with('*') && l.contains("fixtures.growing 2.0.0")),
        "{human}"
    );

    // Add echo: generation 4, parent 2.
    let v = world.json(&["install", "examples.echo", "--yes"]);
    assert_eq!(
        (&v["generation"], &v["parent"]),
        (&4.into(), &2.into()),
        "{v}"
    );

    // Stale plans: the installed set moved…
    let stale = world.dir.join("stale.json");
    world.json(&["remove", "examples.echo", "--plan-out", s(&stale)]);
    let v = world.json(&["remove", "fixtures.growing", "--yes"]);
    assert_eq!(v["generation"], 5);
    assert_generation(&world, 5, &[pair("examples.echo", "1.0.0")]);
    let (v, err) = world.json_err(&["apply", s(&stale), "--yes"]);
    assert_eq!(v["kind"], "stale_plan", "{v}");
    assert!(
        v["what_moved"]
            .as_str()
            .unwrap()
            .contains("the installed set moved: the plan was made against generation 4, current is generation 5"),
        "{v}"
    );
    assert!(err.contains("the plan is stale"), "{err}");
    // … or the registry did.
    world.json(&["remove", "examples.echo", "--plan-out", s(&stale)]);
    world.registry.refresh(None).unwrap();
    let (v, _) = world.json_err(&["apply", s(&stale), "--yes"]);
    assert_eq!(v["kind"], "stale_plan", "{v}");
    assert!(
        v["what_moved"]
            .as_str()
            .unwrap()
            .contains("registry `main` moved"),
        "{v}"
    );

    // Remove the last one.
    let v = world.json(&["remove", "examples.echo", "--yes"]);
    assert_eq!(v["generation"], 6);
    assert_generation(&world, 6, &[]);
    let v = world.json(&["list", "--installed"]);
    assert_eq!(v["plugins"], Value::Array(Vec::new()));

    // Unknown plugins and generations: refused with a hint.
    let (v, _) = world.json_err(&["remove", "fixtures.nothing", "--yes"]);
    assert_eq!(v["kind"], "not_installed", "{v}");
    let (v, _) = world.json_err(&["rollback", "--to", "99"]);
    assert_eq!(v["kind"], "unknown_generation", "{v}");

    // Everything is in the install root's audit log, and it verifies.
    let log = world.root.join("audit.log");
    let (code, out, err) = world.sl(&["audit", "verify", s(&log)]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v = world.json(&["audit", "show", s(&log), "--outcome", "deny"]);
    assert!(v["count"].as_u64().unwrap() >= 4, "{v}");
    let v = world.json(&["audit", "show", s(&log), "--capability", "rollback"]);
    assert!(v["count"].as_u64().unwrap() >= 1, "{v}");
}

#[test]
fn run_follow_syncs_when_current_flips() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let a = root.join("generations/1/plugins");
    let b = root.join("generations/2/plugins");
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    for (name, dirs) in [("example-echo", vec![&a, &b]), ("example-upper", vec![&b])] {
        let lib = built_library(name);
        for d in dirs {
            fs::copy(&lib, d.join(lib.file_name().unwrap())).unwrap();
        }
    }
    std::os::unix::fs::symlink("generations/1", root.join("current")).unwrap();
    fs::write(
        root.join("host.toml"),
        "plugin_paths = [\"current/plugins\"]\n",
    )
    .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_sharelife"))
        .args([
            "run",
            "--config",
            s(&root.join("host.toml")),
            "--call",
            "examples.echo",
            "upper",
            "--input",
            "hi",
            "--follow",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
    // The first call, then the watch is up.
    assert_eq!(lines.next().unwrap().unwrap(), "HI");
    loop {
        let line = errors.next().unwrap().unwrap();
        if line.starts_with("following ") {
            break;
        }
    }
    // An install flips `current`: a new link renamed over the old one.
    std::os::unix::fs::symlink("generations/2", root.join("current.tmp")).unwrap();
    fs::rename(root.join("current.tmp"), root.join("current")).unwrap();
    let synced = lines.next().unwrap().unwrap();
    assert!(
        synced.starts_with("synced with ")
            && synced.contains("generations/2/plugins")
            && synced.contains("1 added")
            && synced.contains("1 unchanged")
            && synced.contains("0 failed"),
        "{synced}"
    );
    let added = lines.next().unwrap().unwrap();
    assert!(added.starts_with("added examples.upper"), "{added}");
    // The call runs again on the synced host.
    assert_eq!(lines.next().unwrap().unwrap(), "HI");
    child.kill().unwrap();
    child.wait().unwrap();
}
