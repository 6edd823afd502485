//! The distribution commands as a user runs them, on real files: a
//! scaffolded plugin packaged with a real release build, a registry
//! created, delegated and published to, then added, searched, inspected,
//! verified and yanked over `file://` and over HTTP from a static server
//! on 127.0.0.1. Every run has `SHARELIFE_HOME` in a temp dir.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sharelife_static_server::StaticServer;

/// Runs `sharelife ARGS` with `home` as `SHARELIFE_HOME`; cargo (for
/// `package`) builds offline into a shared target directory.
fn sl(home: &Path, args: &[&str]) -> (i32, String, String) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sharelife"))
        .args(args)
        .env("SHARELIFE_HOME", home)
        .env(
            "CARGO_TARGET_DIR",
            workspace.join("target/cli-registry-test"),
        )
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs `sharelife ARGS --json`, asserts exit 0, parses stdout.
fn sl_json(home: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = sl(home, &all);
    assert_eq!(code, 0, "sharelife {args:?}:\n{out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}:\n{out}"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file under `dir` with its bytes.
fn snapshot_tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.insert(
                    path.strip_prefix(base).unwrap().to_owned(),
                    fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

const ID: &str = "local.upper_demo";

#[test]
fn package_publish_add_search_info_verify_yank_over_file_and_http() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let home = dir.join("home");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();

    // A scaffolded plugin, packaged by a real release build (offline,
    // pinned to the workspace's lock file).
    let (code, _, err) = sl(&home, &["new", "upper-demo", "--path", s(dir)]);
    assert_eq!(code, 0, "{err}");
    let krate = dir.join("upper-demo");
    fs::copy(workspace.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let dist = dir.join("dist");
    let built = sl_json(&home, &["package", "--path", s(&krate), "--out", s(&dist)]);
    let pkg = dist.join(format!("{ID}-0.1.0.slpkg"));
    assert_eq!(built["path"], s(&pkg));
    assert_eq!(built["id"], ID);
    assert_eq!(built["version"], "0.1.0");
    assert!(pkg.is_file());

    // inspect reads the package and shows its evidence.
    let inspected = sl_json(&home, &["inspect", s(&pkg)]);
    assert_eq!(inspected["id"], ID);
    assert_eq!(inspected["evidence"]["warnings"], Value::Array(vec![]));
    assert_eq!(inspected["package"]["sha256"], built["sha256"]);
    let (code, out, err) = sl(&home, &["inspect", s(&pkg)]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("evidence") && out.contains("mismatches   none"),
        "{out}"
    );

    // Keys, a registry, a delegation.
    let keys = dir.join("keys");
    let root_key = sl_json(&home, &["key", "generate", "--out", s(&keys.join("root"))]);
    assert_eq!(root_key["secret"], s(&keys.join("root.key")));
    assert_eq!(root_key["public"], s(&keys.join("root.pub")));
    assert_eq!(root_key["key_id"].as_str().unwrap().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(keys.join("root.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    sl_json(&home, &["key", "generate", "--out", s(&keys.join("local"))]);
    sl_json(
        &home,
        &["key", "generate", "--out", s(&keys.join("mallory"))],
    );
    let registry = dir.join("registry");
    let init = sl_json(
        &home,
        &[
            "registry",
            "init",
            s(&registry),
            "--root-key",
            s(&keys.join("root.key")),
            "--name",
            "demo",
        ],
    );
    let root_json = registry.join("root.json");
    assert_eq!(init["root"], s(&root_json));
    assert_eq!(init["name"], "demo");
    assert!(root_json.is_file());
    let delegated = sl_json(
        &home,
        &[
            "registry",
            "delegate",
            s(&registry),
            "--root-key",
            s(&keys.join("root.key")),
            "--publisher",
            s(&keys.join("local.pub")),
            "--ids",
            "local.*",
        ],
    );
    assert_eq!(delegated["role"], "local");
    assert_eq!(delegated["ids"], serde_json::json!(["local.*"]));
    sl_json(
        &home,
        &[
            "registry",
            "delegate",
            s(&registry),
            "--root-key",
            s(&keys.join("root.key")),
            "--publisher",
            s(&keys.join("mallory.pub")),
            "--ids",
            "mallory.*",
        ],
    );

    // A publish with the wrong key for the id: refused at `catalog`,
    // nothing written.
    let before = snapshot_tree(&registry);
    let (code, out, err) = sl(
        &home,
        &[
            "publish",
            s(&pkg),
            "--registry",
            s(&registry),
            "--key",
            s(&keys.join("mallory.key")),
            "--json",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    let refusal: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(refusal["ok"], false);
    assert_eq!(refusal["stage"], "catalog");
    assert!(
        err.contains("error: publish refused at stage `catalog`") && err.contains("hint: "),
        "{err}"
    );
    assert!(err.contains("`mallory.*`") && err.contains(ID), "{err}");
    assert_eq!(
        before,
        snapshot_tree(&registry),
        "the registry is byte-identical"
    );

    // The real publish.
    let published = sl_json(
        &home,
        &[
            "publish",
            s(&pkg),
            "--registry",
            s(&registry),
            "--key",
            s(&keys.join("local.key")),
        ],
    );
    assert_eq!(published["ok"], true);
    assert_eq!(published["id"], ID);
    assert_eq!(published["publisher"], "local");
    assert_eq!(published["cksum"], built["sha256"]);
    let stages: Vec<&str> = published["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["validate", "package", "scan", "label", "catalog"]);

    // Add it over file:// and use it.
    let file_url = format!("file://{}/", registry.display());
    let added = sl_json(
        &home,
        &[
            "registry",
            "add",
            "main",
            &file_url,
            "--root",
            s(&root_json),
        ],
    );
    assert_eq!(added["name"], "main");
    assert_eq!(added["root_sha256"], init["root_sha256"]);
    let listed = sl_json(&home, &["registry", "list"]);
    assert_eq!(listed["registries"][0]["name"], "main");
    assert_eq!(listed["registries"][0]["url"], file_url.as_str());

    let found = sl_json(&home, &["search", "upper", "--registry", "main"]);
    assert_eq!(found["results"][0]["id"], ID);
    assert_eq!(found["results"][0]["version"], "0.1.0");
    assert_eq!(found["results"][0]["mismatch"], false);
    // The only registry is the default.
    let found = sl_json(&home, &["search", "upper"]);
    assert_eq!(found["registry"], "main");

    let info = sl_json(&home, &["info", ID, "--registry", "main"]);
    assert_eq!(info["versions"][0]["version"], "0.1.0");
    assert_eq!(info["versions"][0]["yanked"], false);
    assert_eq!(info["risk"], info["label"]["risk"]);
    assert!(info["label"]["compatibility"]["host_api"].is_array());
    assert_eq!(info["evidence"]["roads"][0]["road"], "network");
    assert_eq!(info["evidence"]["warnings"], Value::Array(vec![]));
    let (code, out, err) = sl(&home, &["info", ID, "--registry", "main"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("versions     0.1.0")
            && out.contains("risk label")
            && out.contains("plugin api"),
        "{out}"
    );

    let out_dir = dir.join("verified");
    let verified = sl_json(
        &home,
        &["verify", ID, "--registry", "main", "--out", s(&out_dir)],
    );
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["version"], "0.1.0");
    assert_eq!(verified["cksum"], built["sha256"]);
    let written = out_dir.join(format!("{ID}-0.1.0.slpkg"));
    assert_eq!(verified["written"], s(&written));
    assert_eq!(fs::read(&written).unwrap(), fs::read(&pkg).unwrap());
    let verified = sl_json(
        &home,
        &["verify", &format!("{ID}@^0.1"), "--registry", "main"],
    );
    assert_eq!(verified["version"], "0.1.0");
    assert_eq!(verified["written"], Value::Null);

    // The same over HTTP.
    let server = StaticServer::serve(&registry);
    sl_json(
        &home,
        &[
            "registry",
            "add",
            "web",
            &server.url(),
            "--root",
            s(&root_json),
        ],
    );
    let found = sl_json(&home, &["search", "demo", "--registry", "web"]);
    assert_eq!(found["results"][0]["id"], ID);
    let info = sl_json(&home, &["info", ID, "--registry", "web"]);
    assert_eq!(info["shown"], "0.1.0");
    let verified = sl_json(
        &home,
        &["verify", &format!("{ID}@0.1.0"), "--registry", "web"],
    );
    assert_eq!(verified["cksum"], built["sha256"]);
    // Two registries now: no default.
    let (code, _, err) = sl(&home, &["search", "upper"]);
    assert_eq!(code, 1);
    assert!(err.contains("hint: pass --registry NAME"), "{err}");

    // Yank: info marks it, verify without a version finds nothing, the
    // exact version still verifies.
    let yanked = sl_json(
        &home,
        &[
            "yank",
            &format!("{ID}@0.1.0"),
            "--registry",
            s(&registry),
            "--key",
            s(&keys.join("local.key")),
        ],
    );
    assert_eq!(yanked["yanked"], true);
    let info = sl_json(&home, &["info", ID, "--registry", "main"]);
    assert_eq!(info["versions"][0]["yanked"], true);
    let (_, out, _) = sl(&home, &["info", ID, "--registry", "web"]);
    assert!(out.contains("0.1.0 (yanked)"), "{out}");
    let (code, _, err) = sl(&home, &["verify", ID, "--registry", "main"]);
    assert_eq!(code, 1);
    assert!(err.contains("yanked: 0.1.0"), "{err}");
    sl_json(
        &home,
        &["verify", &format!("{ID}@0.1.0"), "--registry", "main"],
    );
    let undone = sl_json(
        &home,
        &[
            "yank",
            &format!("{ID}@0.1.0"),
            "--registry",
            s(&registry),
            "--key",
            s(&keys.join("local.key")),
            "--undo",
        ],
    );
    assert_eq!(undone["yanked"], false);

    // refresh re-signs; clients still verify.
    let refreshed = sl_json(&home, &["registry", "refresh", s(&registry)]);
    assert!(refreshed["timestamp_version"].as_u64().unwrap() > 1);
    sl_json(&home, &["verify", ID, "--registry", "web"]);
}

#[test]
fn an_unknown_registry_is_refused_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (code, out, err) = sl(&home, &["search", "x", "--registry", "nope", "--json"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("error: no registry named `nope`"), "{err}");
    assert!(
        err.contains("hint: ") && err.contains("sharelife registry add"),
        "{err}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    // No registry at all and no --registry: the same advice.
    let (code, _, err) = sl(&home, &["info", "acme.upper"]);
    assert_eq!(code, 1);
    assert!(err.contains("sharelife registry add"), "{err}");
    let (code, _, _) = sl(&home, &["registry", "list", "--json"]);
    assert_eq!(code, 0);
}

#[test]
fn a_bad_command_line_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    for args in [
        &["registry", "delegate", "reg", "--root-key", "k"][..],
        &["publish"][..],
        &["key", "generate"][..],
        &["verify", "x", "--bogus"][..],
    ] {
        let (code, _, err) = sl(&home, args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}

#[test]
fn a_refused_registry_names_the_file_and_the_attack() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let home = dir.join("home");
    let keys = dir.join("keys");
    sl_json(&home, &["key", "generate", "--out", s(&keys.join("root"))]);
    sl_json(&home, &["key", "generate", "--out", s(&keys.join("other"))]);
    let registry = dir.join("registry");
    sl_json(
        &home,
        &[
            "registry",
            "init",
            s(&registry),
            "--root-key",
            s(&keys.join("root.key")),
        ],
    );
    // A root signed by another key: pinning it must fail and name root.json.
    let other = dir.join("other-registry");
    sl_json(
        &home,
        &[
            "registry",
            "init",
            s(&other),
            "--root-key",
            s(&keys.join("other.key")),
        ],
    );
    let (code, out, err) = sl(
        &home,
        &[
            "registry",
            "add",
            "main",
            s(&registry),
            "--root",
            s(&other.join("root.json")),
            "--json",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["attack"].is_string(), "{v}");
    assert!(v["file"].is_string(), "{v}");
    assert!(err.contains("refused") && err.contains("hint: "), "{err}");
    // Nothing was added.
    let listed = sl_json(&home, &["registry", "list"]);
    assert_eq!(listed["registries"], Value::Array(vec![]));
}

/// The built cdylib of crate `name`, next to this test executable (a
/// dev-dependency, so cargo builds it).
fn built_library(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    // Cargo builds a dev-dependency's cdylib into `deps/` next to the test
    // executable; it is copied up to `target/debug/` only when the crate
    // itself is built.
    let deps = exe.parent().unwrap().join(&file);
    let path = if deps.exists() {
        deps
    } else {
        exe.parent().unwrap().parent().unwrap().join(&file)
    };
    assert!(path.exists(), "{} was not built", path.display());
    path
}

#[test]
fn inspect_of_a_package_warns_when_the_imports_exceed_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let home = dir.join("home");
    let krate = dir.join("crate");
    fs::create_dir_all(&krate).unwrap();
    let built = sl_json(
        &home,
        &[
            "package",
            "--path",
            s(&krate),
            "--out",
            s(&dir.join("dist")),
            "--library",
            s(&built_library("fixture-raw-net")),
        ],
    );
    let pkg = built["path"].as_str().unwrap();
    let inspected = sl_json(&home, &["inspect", pkg]);
    assert_eq!(inspected["risk"], "high");
    assert_eq!(inspected["label"]["declared_risk"], "low");
    let network = &inspected["evidence"]["roads"][0];
    assert_eq!(network["road"], "network");
    assert_eq!(network["declared"], false);
    assert!(
        network["imports"]
            .as_array()
            .unwrap()
            .contains(&Value::from("connect"))
    );
    let (code, out, err) = sl(&home, &["inspect", pkg]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("WARNING: declares no network, imports `connect`")),
        "{out}"
    );
    assert!(out.contains("risk label   high"), "{out}");
}
