//! Extension packs end to end with the real CLI: export a working setup
//! (plugins from a real registry over HTTP, the host config with its
//! policy and plugin configs, a pipeline), apply it on a second install
//! root, and a host booted on each answers the pipeline the same; secrets
//! never leave; dry-run changes nothing; trust, tampering, approval and
//! rollback.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{World, s};

const PIPELINE: &str = "\
schema_version: sharelife.pipeline.v1
agent: { id: team-bot, name: Team bot, persona: terse, objective: shout and sign }
plugins:
  - { alias: upper, plugin: examples.upper, version: \"^1\" }
  - { alias: suffix, plugin: examples.suffix, version: \"^1\" }
steps:
  - { step_id: shout, plugin_ref: upper }
  - { step_id: sign, plugin_ref: suffix, input_from: shout, output_key: final }
";

/// The machine the setup is made on: the three plugins installed, a host
/// config (policy, configs, an `${VAR}` and a literal secret), a pipeline.
const SECRET_VALUE: &str = "env-secret-value-7f3a91";
const LITERAL_SECRET: &str = "literal-api-key-4242";

fn host_config(plugin_paths: &str, extra_rule: &str) -> String {
    format!(
        r#"plugin_paths = ["{plugin_paths}"]
health_check_interval = "30s"

[[policy.rules]]
effect = "allow"
plugin = "examples.upper"
kind = "file"
access = "read"
path = "notes/*.txt"
{extra_rule}
[plugins."examples.suffix".config]
suffix = " ::team"

[plugins."examples.echo"]
enabled = false

[plugins."examples.echo".config]
greeting = "hi"
token = "${{SL_PACK_TEST_TOKEN}}"
api_key = "{LITERAL_SECRET}"
"#
    )
}

fn source_world() -> World {
    let world = World::new(
        &["example-upper", "example-suffix", "example-echo"],
        "[host]\nconfig = \"host.toml\"\n",
    );
    fs::write(
        world.root.join("host.toml"),
        host_config("current/plugins", ""),
    )
    .unwrap();
    world.json(&[
        "install",
        "examples.upper",
        "examples.suffix",
        "examples.echo",
        "--yes",
    ]);
    fs::create_dir_all(world.dir.join("pipelines")).unwrap();
    fs::write(world.dir.join("pipelines/team.yaml"), PIPELINE).unwrap();
    world
}

/// A second, fresh install root that trusts the same registry (by its
/// pinned root) and, if `trust`, the pack author's key.
fn second_root(world: &World, trust: bool) -> PathBuf {
    let b = world.dir.join("machine-b");
    fs::create_dir_all(&b).unwrap();
    fs::copy(world.dir.join("keys/admin.pub"), b.join("admin.pub")).unwrap();
    fs::write(b.join("install.toml"), "[admin]\nkeys = [\"admin.pub\"]\n").unwrap();
    let out = world.run_env(
        &[
            "registry",
            "add",
            "main",
            &world.server.url(),
            "--root",
            s(&world.registry.root_path()),
        ],
        &[("SHARELIFE_HOME", s(&b))],
    );
    assert!(out.status.success(), "{out:?}");
    if trust {
        sl_json(
            world,
            &b,
            &["key", "trust", s(&world.dir.join("keys/admin.pub"))],
        );
    }
    b
}

/// `sharelife ARGS --json` on install root `root`, asserting success.
fn sl_json(world: &World, root: &Path, args: &[&str]) -> Value {
    let (code, out, err) = sl(world, root, args, &[]);
    assert_eq!(code, 0, "{args:?}\n{out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
}

fn sl(world: &World, root: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut all = args.to_vec();
    all.push("--json");
    let mut vars = vec![("SHARELIFE_HOME", s(root))];
    vars.extend_from_slice(env);
    let out = world.run_env(&all, &vars);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Exports from the world's root, signed by the admin key (the pack
/// author here), with the pipeline; `SL_PACK_TEST_TOKEN` set.
fn export(world: &World, out: &Path, extra: &[&str]) -> Value {
    let pipelines = world.dir.join("pipelines");
    let key = world.dir.join("keys/admin.key");
    let mut args = vec![
        "pack",
        "export",
        "--out",
        s(out),
        "--include-pipelines",
        s(&pipelines),
        "--key",
        s(&key),
        "--creator",
        "team@example",
    ];
    args.extend_from_slice(extra);
    let (code, stdout, err) = sl(
        world,
        &world.root,
        &args,
        &[("SL_PACK_TEST_TOKEN", SECRET_VALUE)],
    );
    assert_eq!(code, 0, "{stdout}\n{err}");
    serde_json::from_str(&stdout).unwrap()
}

/// Applies `pack` on `root` the way a pack that widens the policy must
/// be: plan, an admin's approval, apply with the pack. The apply's JSON.
fn apply_approved(world: &World, root: &Path, pack: &Path) -> Value {
    let plan = root.join("pack.plan.json");
    let v = sl_json(
        world,
        root,
        &["pack", "apply", s(pack), "--plan-out", s(&plan)],
    );
    assert_eq!(v["needs_admin"], true, "{v}");
    let key = world.dir.join("keys/admin.key");
    sl_json(world, root, &["approve", s(&plan), "--key", s(&key)]);
    let v = sl_json(
        world,
        root,
        &["apply", s(&plan), "--pack", s(pack), "--yes"],
    );
    fs::remove_file(&plan).unwrap();
    v
}

/// Every file under `dir` and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(base).unwrap().to_owned();
            if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    fs::read_link(&path)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                );
            } else if meta.is_dir() {
                walk(&path, base, out);
            } else {
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Runs the pipeline on a host booted from `config`; the final output.
fn run_pipeline(world: &World, config: &Path, pipeline: &Path) -> Value {
    let out = world.run_env(
        &[
            "run",
            "--config",
            s(config),
            "--pipeline",
            s(pipeline),
            "--input",
            "hello",
            "--json",
        ],
        // The inputs the setup needs, given where it runs.
        &[
            ("SL_PACK_TEST_TOKEN", "set-on-this-host"),
            ("SHARELIFE_PACK_EXAMPLES_ECHO_API_KEY", "given-on-this-host"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "completed", "{v}");
    v["final_output"].clone()
}

#[test]
fn export_then_apply_elsewhere_reproduces_the_setup_and_the_pipeline_answer() {
    let world = source_world();
    let pack = world.dir.join("team.slpack");
    let exported = export(&world, &pack, &[]);
    assert_eq!(exported["manifest"]["plugins"].as_array().unwrap().len(), 3);

    // On the source machine the pipeline answers with the configured suffix.
    let here = run_pipeline(
        &world,
        &world.root.join("host.toml"),
        &world.dir.join("pipelines/team.yaml"),
    );
    assert_eq!(here, "HELLO ::team");

    // Machine B: nothing installed; apply the pack.
    let b = second_root(&world, true);
    let v = apply_approved(&world, &b, &pack);
    assert_eq!(v["ok"], true, "{v}");
    let n = v["generation"].as_u64().unwrap();
    let gen_dir = b.join("generations").join(n.to_string());
    assert!(gen_dir.join("host.toml").is_file());
    assert!(gen_dir.join("pipelines/team.yaml").is_file());

    // The same setup: exporting B again gives the same content digest.
    let again = world.dir.join("again.slpack");
    let (code, out, err) = sl(
        &world,
        &b,
        &[
            "pack",
            "export",
            "--out",
            s(&again),
            "--include-pipelines",
            s(&gen_dir.join("pipelines")),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let again: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        again["content_digest"], exported["content_digest"],
        "{:#}\n{:#}",
        again["manifest"], exported["manifest"]
    );

    // The same libraries: B's generation holds A's by digest.
    let a_gen: Value =
        serde_json::from_slice(&fs::read(world.root.join("current/generation.json")).unwrap())
            .unwrap();
    let b_gen: Value =
        serde_json::from_slice(&fs::read(gen_dir.join("generation.json")).unwrap()).unwrap();
    let libs = |g: &Value| {
        let mut v: Vec<(String, String)> = g["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].to_string(), p["sha256"].to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(libs(&a_gen), libs(&b_gen));

    // A host booted on B's generation answers the same.
    let there = run_pipeline(
        &world,
        &b.join("current/host.toml"),
        &b.join("current/pipelines/team.yaml"),
    );
    assert_eq!(there, here);
}

#[test]
fn no_exported_byte_holds_a_secret_and_required_inputs_are_listed() {
    let world = source_world();
    let pack = world.dir.join("team.slpack");
    let exported = export(&world, &pack, &[]);
    let bytes = fs::read(&pack).unwrap();
    // The archive, and every entry decompressed.
    let mut all = bytes.clone();
    let entries =
        sharelife_registry::package::read_canonical_archive(&bytes, "team.slpack").unwrap();
    assert!(entries.contains_key("host.toml") && entries.contains_key("pack.json"));
    for data in entries.values() {
        all.extend_from_slice(data);
    }
    for secret in [SECRET_VALUE, LITERAL_SECRET] {
        assert!(
            !all.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the pack holds {secret}"
        );
    }
    let inputs: Vec<(String, String)> = exported["manifest"]["required_inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["var"].as_str().unwrap().to_owned(),
                i["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        inputs,
        [
            (
                "SHARELIFE_PACK_EXAMPLES_ECHO_API_KEY".to_owned(),
                "redacted".to_owned()
            ),
            ("SL_PACK_TEST_TOKEN".to_owned(), "reference".to_owned()),
        ]
    );

    // The dry run on another machine says which are not set there.
    let b = second_root(&world, true);
    let (code, out, err) = sl(&world, &b, &["pack", "apply", s(&pack), "--dry-run"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["missing_inputs"],
        serde_json::json!(["SHARELIFE_PACK_EXAMPLES_ECHO_API_KEY", "SL_PACK_TEST_TOKEN"])
    );
    let (code, out, _) = sl(
        &world,
        &b,
        &["pack", "apply", s(&pack), "--dry-run"],
        &[("SL_PACK_TEST_TOKEN", "x")],
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["missing_inputs"],
        serde_json::json!(["SHARELIFE_PACK_EXAMPLES_ECHO_API_KEY"])
    );
    // Secret values are not shown in the config diff either.
    let diff = v["diff"]["config"].to_string();
    assert!(
        !diff.contains(LITERAL_SECRET) && !diff.contains(SECRET_VALUE),
        "{diff}"
    );
}

#[test]
fn a_dry_run_changes_nothing_and_shows_the_diff() {
    let world = source_world();
    let pack = world.dir.join("team.slpack");
    export(&world, &pack, &[]);

    // B already has echo installed, an older policy and another config.
    let b = second_root(&world, true);
    sl_json(&world, &b, &["install", "examples.echo", "--yes"]);
    let before = snapshot(&b);
    let (code, out, err) = sl(&world, &b, &["pack", "apply", s(&pack), "--dry-run"], &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(snapshot(&b), before, "the dry run changed the install root");
    let v: Value = serde_json::from_str(&out).unwrap();
    let actions: BTreeMap<String, String> = v["plan"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(actions["examples.echo"], "keep");
    assert_eq!(actions["examples.upper"], "add");
    assert_eq!(actions["examples.suffix"], "add");
    assert_eq!(
        v["diff"]["pipelines_added"],
        serde_json::json!(["team.yaml"])
    );
    let rules = v["diff"]["policy_rules_added"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{v}");
    assert!(
        rules[0]
            .as_str()
            .unwrap()
            .starts_with("allow examples.upper")
    );
    assert!(
        v["diff"]["config"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"] == "plugins.\"examples.suffix\".config.suffix"
                && c["after"] == "\" ::team\""),
        "{v}"
    );
    // The policy widens (a new allow rule): an admin must approve.
    assert_eq!(v["needs_admin"], true, "{v}");

    // Human output too, still nothing changed.
    let (code, out, err) = world_sl_plain(&world, &b, &["pack", "apply", s(&pack), "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dry run: nothing was changed"), "{out}");
    assert!(out.contains("+ allow examples.upper"), "{out}");
    assert_eq!(snapshot(&b), before);
}

fn world_sl_plain(world: &World, root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = world.run_env(args, &[("SHARELIFE_HOME", s(root))]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn widening_the_policy_needs_an_admin_then_rollback_restores_it_by_digest() {
    let world = source_world();
    let pack = world.dir.join("team.slpack");
    export(&world, &pack, &[]);
    // B has the plugins already (no new plugin risk), but not the rule.
    let b = second_root(&world, true);
    sl_json(
        &world,
        &b,
        &[
            "install",
            "examples.upper",
            "examples.suffix",
            "examples.echo",
            "--yes",
        ],
    );
    let before = sl_json(&world, &b, &["generations"])["current"]
        .as_u64()
        .unwrap();
    let before_files = snapshot(&b.join("generations").join(before.to_string()));

    // --yes never stands in for the admin.
    let (code, out, _) = sl(&world, &b, &["pack", "apply", s(&pack), "--yes"], &[]);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "needs_admin", "{v}");
    assert!(
        v["reasons"].to_string().contains("widens the policy"),
        "{v}"
    );

    // Plan, approve, apply with the pack.
    let plan = world.dir.join("pack.plan.json");
    sl_json(
        &world,
        &b,
        &["pack", "apply", s(&pack), "--plan-out", s(&plan)],
    );
    sl_json(
        &world,
        &b,
        &[
            "approve",
            s(&plan),
            "--key",
            s(&world.dir.join("keys/admin.key")),
        ],
    );
    let (code, out, _) = sl(&world, &b, &["apply", s(&plan), "--yes"], &[]);
    assert_eq!(code, 1, "without the pack: {out}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["kind"],
        "pack_needed"
    );
    let v = sl_json(
        &world,
        &b,
        &["apply", s(&plan), "--pack", s(&pack), "--yes"],
    );
    let after = v["generation"].as_u64().unwrap();
    assert_eq!(v["parent"], before);
    let host = fs::read_to_string(b.join("current/host.toml")).unwrap();
    assert!(host.contains("notes/*.txt"), "{host}");

    // Rollback: the parent again, its settings byte-identical (no host.toml).
    let v = sl_json(&world, &b, &["rollback"]);
    assert_eq!(v["from"], after);
    assert_eq!(v["to"], before);
    assert!(!b.join("current/host.toml").exists());
    assert_eq!(
        snapshot(&b.join("generations").join(before.to_string())),
        before_files
    );
}

#[test]
fn untrusted_unsigned_tampered_and_unknown_registry_packs_are_refused() {
    let world = source_world();
    let pack = world.dir.join("team.slpack");
    export(&world, &pack, &[]);

    // The signer is not trusted on B.
    let b = second_root(&world, false);
    let (code, out, _) = sl(&world, &b, &["pack", "apply", s(&pack), "--dry-run"], &[]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["kind"],
        "pack_signature"
    );

    // Unsigned is refused unless allowed.
    let unsigned = world.dir.join("unsigned.slpack");
    let (code, out, err) = sl(
        &world,
        &world.root,
        &["pack", "export", "--out", s(&unsigned)],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = sl(
        &world,
        &b,
        &["pack", "apply", s(&unsigned), "--dry-run"],
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["kind"],
        "pack_unsigned"
    );
    fs::write(
        b.join("install.toml"),
        "[admin]\nkeys = [\"admin.pub\"]\n[packs]\nallow_unsigned = true\n",
    )
    .unwrap();
    let (code, out, err) = sl(
        &world,
        &b,
        &["pack", "apply", s(&unsigned), "--dry-run"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");

    // Any byte changed is refused (every 97th byte, and the last).
    sl_json(
        &world,
        &b,
        &["key", "trust", s(&world.dir.join("keys/admin.pub"))],
    );
    let bytes = fs::read(&pack).unwrap();
    let tampered = world.dir.join("tampered.slpack");
    let mut positions: Vec<usize> = (0..bytes.len()).step_by(97).collect();
    positions.push(bytes.len() - 1);
    for at in positions {
        let mut changed = bytes.clone();
        changed[at] ^= 0x01;
        fs::write(&tampered, &changed).unwrap();
        let (code, out, _) = sl(&world, &b, &["pack", "inspect", s(&tampered)], &[]);
        assert_eq!(code, 1, "byte {at} changed, inspect accepted it: {out}");
        let kind = serde_json::from_str::<Value>(&out).unwrap()["kind"].clone();
        assert_eq!(kind, "pack_invalid", "byte {at}: {out}");
    }
    // A byte appended too.
    let mut longer = bytes.clone();
    longer.push(0);
    fs::write(&tampered, &longer).unwrap();
    let (code, _, _) = sl(&world, &b, &["pack", "inspect", s(&tampered)], &[]);
    assert_eq!(code, 1);

    // A machine whose `main` is another registry (another root key): the
    // pack's registry is not one it trusts.
    let c = world.dir.join("machine-c");
    fs::create_dir_all(&c).unwrap();
    fs::write(c.join("install.toml"), "").unwrap();
    let other_key = world.dir.join("keys/other");
    let other = world.dir.join("other-registry");
    sl_json(&world, &c, &["key", "generate", "--out", s(&other_key)]);
    sl_json(
        &world,
        &c,
        &[
            "registry",
            "init",
            s(&other),
            "--root-key",
            s(&world.dir.join("keys/other.key")),
        ],
    );
    sl_json(
        &world,
        &c,
        &[
            "registry",
            "add",
            "main",
            s(&other),
            "--root",
            s(&other.join("root.json")),
        ],
    );
    sl_json(
        &world,
        &c,
        &["key", "trust", s(&world.dir.join("keys/admin.pub"))],
    );
    let (code, out, _) = sl(&world, &c, &["pack", "apply", s(&pack), "--dry-run"], &[]);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "pack_registry_untrusted", "{v}");
}

#[test]
fn an_embedded_pack_applies_without_its_registry() {
    let world = source_world();
    let pack = world.dir.join("embedded.slpack");
    let v = export(&world, &pack, &["--embed"]);
    assert_eq!(v["manifest"]["embedded"], true);
    let b = second_root(&world, true);
    let before = world.server.requests().len();
    let v = apply_approved(&world, &b, &pack);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        world.server.requests().len(),
        before,
        "an embedded pack fetched from the registry"
    );
    let inspect = sl_json(&world, &b, &["pack", "inspect", s(&pack)]);
    assert_eq!(inspect["signer"]["status"], "trusted", "{inspect}");
    assert!(
        inspect["contents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["path"].as_str().unwrap().starts_with("packages/"))
            .count()
            == 3
    );
}
