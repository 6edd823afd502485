//! `sharelife doctor --json` runs the real binary and reports what the
//! sandbox probe finds and where the sandbox runner is (or where it was
//! looked for); it exits 0 either way.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn doctor(runner_env: Option<&Path>, args: &[&str]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sharelife"));
    command.arg("doctor").args(args);
    match runner_env {
        Some(path) => command.env("SHARELIFE_SANDBOX_RUNNER", path),
        None => command.env_remove("SHARELIFE_SANDBOX_RUNNER"),
    };
    let out = command.output().expect("sharelife runs");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), stdout)
}

fn json(runner_env: Option<&Path>) -> Value {
    let (_, out) = doctor(runner_env, &["--json"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn doctor_reports_the_probe_as_json() {
    let v = json(None);
    let status = v["landlock"]["status"].as_str().expect("landlock.status");
    assert!(
        ["available", "not-enabled", "not-implemented"].contains(&status),
        "{v}"
    );
    if status == "available" {
        assert!(
            v["landlock"]["abi"].as_u64().is_some_and(|abi| abi >= 1),
            "{v}"
        );
    }
    assert!(v["seccomp"].is_boolean(), "{v}");
    assert!(v["user_namespaces"].is_boolean(), "{v}");
    let cgroup = &v["cgroup"];
    assert!(
        cgroup.is_null() || (cgroup["controllers"].is_array() && cgroup["delegated"].is_boolean()),
        "{v}"
    );
    assert!(v["runner"]["found"].is_boolean(), "{v}");
    assert_eq!(v["runner"]["env"], "SHARELIFE_SANDBOX_RUNNER");
    if v["runner"]["found"] == true {
        assert!(
            Path::new(v["runner"]["path"].as_str().unwrap()).is_file(),
            "{v}"
        );
    } else {
        assert!(
            v["runner"]["searched"]
                .as_array()
                .is_some_and(|s| !s.is_empty()),
            "{v}"
        );
    }
}

#[test]
fn doctor_finds_the_runner_named_by_the_environment_or_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let runner = dir.path().join("sharelife-sandbox-runner");
    std::fs::write(&runner, b"").unwrap();
    let v = json(Some(&runner));
    assert_eq!(v["runner"]["found"], true, "{v}");
    assert_eq!(v["runner"]["path"], runner.to_str().unwrap());

    let missing = dir.path().join("nowhere");
    let v = json(Some(&missing));
    assert_eq!(v["runner"]["found"], false, "{v}");
    assert_eq!(v["runner"]["path"], Value::Null);
    assert_eq!(
        v["runner"]["searched"],
        serde_json::json!([missing.to_str().unwrap()])
    );

    // The human report says the same, with what to do.
    let (code, out) = doctor(Some(&missing), &[]);
    assert_eq!(code, 0);
    assert!(out.contains("landlock:"), "{out}");
    assert!(out.contains("seccomp:"), "{out}");
    assert!(out.contains("sandbox runner: not found"), "{out}");
    assert!(out.contains("cargo build -p sharelife-sandbox"), "{out}");
}
