//! A plugin crate's dependency tree holds none of sharelife's host-only
//! crates: no async runtime, no ELF reader, no dynamic loader of ours.
//! Checked with `cargo tree` on the example plugins, as a plugin author's
//! build would resolve them.
//!
//! One caveat, asserted precisely rather than hidden: `abi_stable` (which
//! the ABI is built on) depends on `libloading` unconditionally, for its own
//! `RootModule` loading, which sharelife does not use. So `libloading` may
//! appear, but only as a dependency of `abi_stable`.

use std::process::Command;

const HOST_ONLY: &[&str] = &["tokio", "object", "notify", "clap", "sharelife-cli"];

fn cargo_tree(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "-e", "normal"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn example_plugins_pull_in_no_host_only_crates() {
    for plugin in [
        "example-echo",
        "example-timer",
        "example-panicky",
        "example-upper",
        "example-suffix",
    ] {
        let tree = cargo_tree(&["--prefix", "none", "-p", plugin]);
        assert!(
            tree.lines().any(|l| l.starts_with("sharelife-sdk ")),
            "unexpected tree:\n{tree}"
        );
        for krate in HOST_ONLY {
            assert!(
                !tree.lines().any(|l| l.starts_with(&format!("{krate} "))),
                "{plugin} depends on host-only crate {krate}:\n{tree}"
            );
        }
        if tree.lines().any(|l| l.starts_with("libloading ")) {
            // Who depends on libloading directly (depth 1 of the inverted tree)?
            let inverted = cargo_tree(&["--prefix", "depth", "-p", plugin, "-i", "libloading"]);
            let dependents: Vec<&str> = inverted
                .lines()
                .filter_map(|l| l.strip_prefix('1'))
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            assert_eq!(
                dependents,
                ["abi_stable"],
                "libloading reaches {plugin} other than through abi_stable:\n{inverted}"
            );
        }
    }
}
