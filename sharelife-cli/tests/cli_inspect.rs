//! `sharelife inspect` on a real plugin library and on junk.

mod common;
use common::sharelife;

fn echo_library() -> String {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .join("libexample_echo.so")
        .display()
        .to_string()
}

#[test]
fn inspect_prints_what_the_plugin_is_needs_and_asks_for() {
    let (code, out, err) = sharelife(&["inspect", &echo_library()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("examples.echo 1.0.0\n"), "{out}");
    assert!(
        out.contains("  plugin api   ^0.1 (this host can load it)\n"),
        "{out}"
    );
    assert!(
        out.contains("  handlers     echo, upper, greet, count\n"),
        "{out}"
    );
    assert!(out.contains("  risk label   low\n"), "{out}");
}

#[test]
fn inspect_json_is_machine_readable() {
    let (code, out, _) = sharelife(&["inspect", "--json", &echo_library()]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["id"], "examples.echo");
    assert_eq!(v["compatible"], true);
    assert_eq!(v["handlers"][1]["name"], "upper");
}

#[test]
fn inspect_refuses_a_file_that_is_not_a_plugin() {
    let junk = std::env::temp_dir().join(format!("sharelife-junk-{}.so", std::process::id()));
    std::fs::write(&junk, "junk").unwrap();
    let (code, out, err) = sharelife(&["inspect", junk.to_str().unwrap()]);
    std::fs::remove_file(&junk).unwrap();
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(
        err,
        format!(
            "error: {} is not a shared library: its format is not ELF, Mach-O or PE\nhint: point at the built library (target/debug/lib<name>.so)\n",
            junk.display()
        )
    );
}

#[test]
fn a_wrong_command_line_exits_with_2() {
    let (code, _, err) = sharelife(&["inspect"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Usage: sharelife inspect"), "{err}");
}

/// A plugin crate scaffolded by `sharelife new`, given
/// `subscribe("chat.message", "jobs/done")` and a config schema as the
/// SDK's docs say, built into the target directory `cli_new`'s tests
/// share: the directory holding the crate and a private copy of its
/// library (removed when dropped), and the library's path.
fn built_plugin_with_subscriptions_and_schema() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::path::Path;
    let scratch = tempfile::Builder::new()
        .prefix("sharelife-inspect-")
        .tempdir()
        .unwrap();
    let dir = scratch.path();
    let (code, _, err) = sharelife(&["new", "inspected", "--path", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let krate = dir.join("inspected");
    let lib = krate.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap().replace(
        "#[plugin(id = \"local.inspected\")]",
        "#[plugin(id = \"local.inspected\", subscribe(\"chat.message\", \"jobs/done\"), config_schema = \"config.schema.json\")]",
    );
    assert!(
        source.contains("subscribe("),
        "the template changed:\n{source}"
    );
    std::fs::write(&lib, source).unwrap();
    std::fs::write(
        krate.join("config.schema.json"),
        r#"{"type": "object", "properties": {"greeting": {"type": "string"}, "times": {"type": "integer"}}, "required": ["greeting"]}"#,
    )
    .unwrap();

    // Offline, pinned to the workspace's lock file, into the target
    // directory the scaffold tests share.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::copy(workspace.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let target = workspace.join("target/scaffolded");
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-q", "--offline"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A private copy: another test may rebuild the shared target.
    let copy = dir.join("libinspected.so");
    std::fs::copy(target.join("debug/libinspected.so"), &copy).unwrap();
    (scratch, copy)
}

#[test]
fn inspect_shows_subscriptions_and_the_config_schema() {
    let (_scratch, library) = built_plugin_with_subscriptions_and_schema();
    let library = library.to_str().unwrap();

    let (code, out, err) = sharelife(&["inspect", library]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.ends_with(
            "  subscribes   chat.message, jobs/done\n  config       greeting     string, required\n  config       times        integer, optional\n"
        ),
        "{out}"
    );

    let (code, out, _) = sharelife(&["inspect", "--json", library]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["subscriptions"],
        serde_json::json!(["chat.message", "jobs/done"])
    );
    assert_eq!(
        v["config_schema"]["required"],
        serde_json::json!(["greeting"])
    );
    assert_eq!(v["config_schema"]["properties"]["times"]["type"], "integer");

    // A plugin with neither says so.
    let (_, out, _) = sharelife(&["inspect", &echo_library()]);
    assert!(
        out.ends_with(
            "  subscribes   nothing\n  config       no schema (any config is accepted)\n"
        ),
        "{out}"
    );
    let (_, out, _) = sharelife(&["inspect", "--json", &echo_library()]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["subscriptions"], serde_json::json!([]));
    assert_eq!(v["config_schema"], serde_json::Value::Null);
}

#[test]
fn inspect_with_a_host_config_says_whether_the_plugin_would_run_sandboxed_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let explicit = config(
        "explicit.toml",
        "[plugins.\"examples.echo\"]\nisolation = \"process\"\nlimits = { memory = \"256MiB\", call_timeout = \"2s\" }\n[sandbox]\nrequire = [\"landlock\", \"seccomp\"]\n",
    );
    let (code, out, err) = sharelife(&["inspect", &echo_library(), "--config", &explicit]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "  runs         sandboxed, out of process: isolation = \"process\" under [plugins.\"examples.echo\"] in {explicit}; limits memory 256MiB, call_timeout 2s; require landlock, seccomp\n"
        )),
        "{out}"
    );

    // The echo plugin's risk label is low: `auto = "low"` picks it,
    // `auto = "medium"` does not.
    let auto_low = config("low.toml", "[sandbox]\nauto = \"low\"\n");
    let (_, out, _) = sharelife(&["inspect", &echo_library(), "--config", &auto_low]);
    assert!(
        out.contains("  runs         sandboxed, out of process: its risk label low is at or above [sandbox] auto = \"low\"; limits none; require nothing\n"),
        "{out}"
    );
    let auto_medium = config("medium.toml", "[sandbox]\nauto = \"medium\"\n");
    let (_, out, _) = sharelife(&["inspect", &echo_library(), "--config", &auto_medium]);
    assert!(
        out.contains("  runs         in process: the default\n"),
        "{out}"
    );

    let (code, out, _) = sharelife(&["inspect", "--json", &echo_library(), "--config", &auto_low]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["isolation"]["mode"], "process");
    assert_eq!(v["isolation"]["sandboxed"], true);
    assert_eq!(v["isolation"]["reason"], "auto-by-risk");

    // A config that does not parse is an error with its file and line.
    let bad = config("bad.toml", "[sandbox]\nauto = \"extreme\"\n");
    let (code, _, err) = sharelife(&["inspect", &echo_library(), "--config", &bad]);
    assert_eq!(code, 1);
    assert!(err.starts_with(&format!("error: {bad}:2:")), "{err}");
}
