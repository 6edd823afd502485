//! `cargo sharelife ...`: cargo runs the `cargo-sharelife` binary as
//! `cargo-sharelife sharelife ARGS`; it must behave as `sharelife ARGS`.

use std::path::Path;
use std::process::Command;

mod common;
use common::sharelife;

/// Runs the `cargo-sharelife` binary with `args`, as cargo would.
fn cargo_sharelife(args: &[&str]) -> (i32, String, String) {
    common::run(env!("CARGO_BIN_EXE_cargo-sharelife"), args)
}

#[test]
fn help_drops_the_sharelife_argument_and_names_cargo_sharelife() {
    let (code, out, err) = cargo_sharelife(&["sharelife", "--help"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Usage: cargo sharelife <COMMAND>"), "{out}");
    for command in ["new", "validate", "inspect", "run"] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "{command} missing from:\n{out}"
        );
    }
    let (code, out, _) = cargo_sharelife(&["sharelife", "run", "--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(
            "Usage: cargo sharelife run [OPTIONS] <--pipeline <FILE>|--call <ID> <HANDLER>>"
        ),
        "{out}"
    );
}

#[test]
fn validate_behaves_exactly_as_sharelife_validate() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        r#"{"manifest_version": "2", "id": "acme.good", "version": "1.0.0", "api": "^0.1"}"#,
    )
    .unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\n  \"manifest_version\": \"2\",\n  \"id\": \"Acme\",\n  \"version\": \"1.0.0\",\n  \"api\": \"^0.1\"\n}\n",
    )
    .unwrap();
    let (good, bad) = (good.to_str().unwrap(), bad.to_str().unwrap());

    let (code, out, _) = cargo_sharelife(&["sharelife", "validate", good]);
    assert_eq!((code, out.as_str()), (0, "1 file(s) valid\n"));

    let through_cargo = cargo_sharelife(&["sharelife", "validate", good, bad]);
    assert_eq!(through_cargo.0, 1);
    assert!(
        through_cargo.1.starts_with(&format!("{bad}:3: id: ")),
        "{}",
        through_cargo.1
    );
    assert_eq!(through_cargo, sharelife(&["validate", good, bad]));

    // Run directly (without cargo's `sharelife`), it works too.
    assert_eq!(
        cargo_sharelife(&["validate", good]),
        (0, "1 file(s) valid\n".to_owned(), String::new())
    );
}

#[test]
fn a_wrong_command_line_exits_with_2_and_cargo_sharelife_usage() {
    // `cargo sharelife` alone.
    let (code, _, err) = cargo_sharelife(&["sharelife"]);
    assert_eq!(code, 2);
    assert!(err.contains("Usage: cargo sharelife <COMMAND>"), "{err}");
    let (code, _, err) = cargo_sharelife(&["sharelife", "inspect"]);
    assert_eq!(code, 2);
    assert!(err.contains("Usage: cargo sharelife inspect"), "{err}");
}

#[test]
fn cargo_finds_it_on_the_path_and_runs_cargo_sharelife_new() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_cargo-sharelife"))
        .parent()
        .unwrap();
    // This build's binaries first, so cargo finds this cargo-sharelife.
    let path = std::env::join_paths(std::iter::once(bin_dir.to_owned()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["sharelife", "new", "foo", "--path"])
        .arg(dir.path())
        .env("PATH", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("created plugin local.foo in "),
        "{stdout}"
    );
    let manifest = std::fs::read_to_string(dir.path().join("foo/Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"foo\""), "{manifest}");
    assert!(dir.path().join("foo/src/lib.rs").exists());
}
