//! What the README promises about the CLI, the scaffold and the example
//! code holds: a reader who copies it gets what it says.

use std::path::{Path, PathBuf};

mod common;
use common::sharelife;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn readme() -> String {
    std::fs::read_to_string(workspace().join("README.md")).unwrap()
}

/// The fenced code blocks of `text` whose info string starts with `lang`.
fn blocks<'a>(text: &'a str, lang: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let info_end = after.find('\n').unwrap();
        let info = &after[..info_end];
        let body = &after[info_end + 1..];
        let end = body.find("```").unwrap();
        if info.starts_with(lang) {
            found.push(&body[..end]);
        }
        rest = &body[end + 3..];
    }
    found
}

/// The README's `Cargo.toml` for a plugin (the first TOML block).
fn plugin_manifest(readme: &str) -> &str {
    blocks(readme, "toml")
        .into_iter()
        .find(|b| b.contains("sharelife-sdk"))
        .expect("a TOML block depends on sharelife-sdk")
}

#[test]
fn the_sdk_dependency_is_one_that_resolves_and_the_scaffold_writes_the_same_kind() {
    let readme = readme();
    let manifest = plugin_manifest(&readme);
    let dependency = manifest
        .lines()
        .find(|l| l.starts_with("sharelife-sdk"))
        .unwrap();
    // The crate is not published: a registry version cannot resolve.
    assert!(
        dependency.starts_with("sharelife-sdk = { path = "),
        "{dependency}"
    );

    // `sharelife new` depends on the SDK by path too.
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = sharelife(&[
        "new",
        "readme-check",
        "--path",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let scaffold = std::fs::read_to_string(dir.path().join("readme-check/Cargo.toml")).unwrap();
    let written = scaffold
        .lines()
        .find(|l| l.starts_with("sharelife-sdk"))
        .unwrap();
    assert!(
        written.starts_with("sharelife-sdk = { path = "),
        "{written}"
    );
    let path = written.split('"').nth(1).expect("the path is a string");
    assert!(
        Path::new(path).join("Cargo.toml").is_file(),
        "the scaffold's SDK path {path} is a crate"
    );
}

#[test]
fn the_library_file_the_readme_names_is_the_crates() {
    let readme = readme();
    let manifest = plugin_manifest(&readme);
    let name = manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = "))
        .expect("the README's Cargo.toml names the crate")
        .trim_matches('"');
    let file = format!("target/debug/lib{}.so", name.replace('-', "_"));
    assert!(
        readme.contains(&format!("`cargo build` gives `{file}`")),
        "the README should say `cargo build` gives `{file}`"
    );
}

#[test]
fn every_rust_snippet_declares_the_output_buffer_it_writes() {
    let readme = readme();
    for block in blocks(&readme, "rust") {
        if block.contains("&mut out") {
            assert!(
                block.contains("let mut out"),
                "a snippet writes into `out` without declaring it:\n{block}"
            );
        }
    }
    for line in readme.lines().filter(|l| !l.starts_with("    ")) {
        if line.contains("&mut out") && line.starts_with('`') {
            assert!(line.contains("let mut out"), "{line}");
        }
    }
}

#[test]
fn the_layout_table_lists_every_command_and_example_plugin() {
    let readme = readme();
    let row = |path: &str| {
        readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{path}` |")))
            .unwrap_or_else(|| panic!("no layout row for {path}"))
            .to_owned()
    };

    let cli = row("sharelife-cli/");
    let (code, help, _) = sharelife(&["--help"]);
    assert_eq!(code, 0);
    let commands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 5, "{help}");
    for command in commands {
        assert!(
            cli.contains(&format!("`{command}`")),
            "{command} missing from: {cli}"
        );
    }

    let examples = row("examples/plugins/");
    for entry in std::fs::read_dir(workspace().join("examples/plugins")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            examples.contains(&format!("`{name}`")),
            "{name} missing from: {examples}"
        );
    }
}
