//! The seed's manifest contract: the record of every example plugin is
//! valid against the seed's schema, and the seed's own example passes our
//! validator, unless its declared risk is lower than its capabilities.

use std::path::{Path, PathBuf};
use std::process::Command;

use sharelife_core::loader::PluginFile;
use sharelife_manifest::RiskLevel;
use sharelife_registry::label::label;
use sharelife_registry::seed::{
    Entry, SeedCommand, SeedError, SeedNetwork, check_seed_manifest, record, reduce, runs_a_shell,
    validate_record,
};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn seed_example() -> String {
    std::fs::read_to_string(workspace().join("schemas/seed/plugin.manifest.v2.example.json"))
        .unwrap()
}

/// The package names of every example plugin (`examples/plugins/*`).
fn example_packages() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace().join("examples/plugins"))
        .unwrap()
        .map(|e| e.unwrap().path().join("Cargo.toml"))
        .filter(|p| p.exists())
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with("name"))
                .unwrap_or_else(|| panic!("{} names no package", p.display()));
            line.split('"').nth(1).unwrap().to_owned()
        })
        .collect();
    names.sort();
    names
}

/// Builds every example plugin with cargo and returns each library built.
fn example_libraries() -> Vec<PathBuf> {
    let packages = example_packages();
    assert!(packages.len() >= 6, "{packages:?}");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(workspace())
        .args(["build", "--message-format=json-render-diagnostics"]);
    for p in &packages {
        cargo.args(["-p", p]);
    }
    let out = cargo.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut libraries = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact"
            || !message["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "cdylib"))
        {
            continue;
        }
        let package = message["target"]["name"]
            .as_str()
            .unwrap()
            .replace('_', "-");
        if !packages.contains(&package) {
            continue;
        }
        for file in message["filenames"].as_array().unwrap() {
            let file = PathBuf::from(file.as_str().unwrap());
            let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
            if matches!(ext, "so" | "dylib" | "dll") {
                libraries.push(file);
            }
        }
    }
    assert_eq!(libraries.len(), packages.len(), "{libraries:?}");
    libraries
}

#[test]
fn the_record_of_every_example_plugin_is_valid_against_the_seed_schema() {
    for library in example_libraries() {
        let file = PluginFile::read(&library).unwrap();
        let manifest = file.manifest();
        let entry = Entry::of_library(&library).unwrap();
        assert!(entry.symbol.starts_with("__sharelife_plugin_"), "{entry:?}");
        let l = label(manifest, &["x86_64-unknown-linux-gnu".to_owned()], &[]);
        let value = record(manifest, &l, &entry);
        if let Err(problems) = validate_record(&value) {
            panic!(
                "{}: {problems:#?}\n{}",
                library.display(),
                serde_json::to_string_pretty(&value).unwrap()
            );
        }
        assert_eq!(value["plugin_id"], manifest.id.as_str());
        assert_eq!(value["version"], manifest.version.to_string());
        assert_eq!(value["risk_level"], serde_json::to_value(l.risk).unwrap());
        assert_eq!(
            value["permissions"]["requires_admin_confirmation"],
            l.risk >= RiskLevel::High
        );
        assert_eq!(value["entry"]["class_name"], entry.symbol);
        assert_eq!(
            value["compatibility"]["sharelife"]["plugin_api"],
            manifest.api.to_string()
        );
        // Our own records pass our own validator: the mapping never
        // understates a risk.
        let text = serde_json::to_string(&value).unwrap();
        let seed = check_seed_manifest(&text, &library.display().to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seed.plugin_id, manifest.id.as_str());
    }
}

#[test]
fn the_seed_example_passes_our_validator() {
    let seed = check_seed_manifest(&seed_example(), "plugin.manifest.v2.example.json").unwrap();
    assert_eq!(seed.plugin_id, "sharelife.demo.pipeline.uppercase");
    assert_eq!(seed.risk_level, RiskLevel::Low);
}

#[test]
fn a_seed_manifest_that_understates_its_risk_is_refused() {
    let mut value: serde_json::Value = serde_json::from_str(&seed_example()).unwrap();
    value["capabilities"]["command"] = serde_json::json!(["exec"]);
    value["capabilities"]["network"] = serde_json::json!(["outbound"]);
    value["risk_level"] = "medium".into();
    let err = check_seed_manifest(&value.to_string(), "lowered.json").unwrap_err();
    assert_eq!(
        err,
        SeedError::RiskUnderstated {
            origin: "lowered.json".into(),
            declared: RiskLevel::Medium,
            implied: RiskLevel::High,
            because: "command: exec".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        "lowered.json: risk_level: declared medium, but its capabilities imply high (command: exec)"
    );

    // Declared high without an administrator's confirmation.
    value["risk_level"] = "high".into();
    let err = check_seed_manifest(&value.to_string(), "lowered.json").unwrap_err();
    assert!(
        matches!(
            err,
            SeedError::AdminConfirmationMissing {
                risk: RiskLevel::High,
                ..
            }
        ),
        "{err}"
    );
    value["permissions"]["requires_admin_confirmation"] = true.into();
    check_seed_manifest(&value.to_string(), "raised.json").unwrap();

    // The seed example's own file read, with risk lowered below it: a
    // write is medium.
    let mut value: serde_json::Value = serde_json::from_str(&seed_example()).unwrap();
    value["capabilities"]["file"] = serde_json::json!(["read", "write"]);
    let err = check_seed_manifest(&value.to_string(), "x.json").unwrap_err();
    assert!(
        matches!(
            err,
            SeedError::RiskUnderstated {
                declared: RiskLevel::Low,
                implied: RiskLevel::Medium,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_schema_violation_names_its_json_path() {
    let mut value: serde_json::Value = serde_json::from_str(&seed_example()).unwrap();
    value["capabilities"]["network"] = serde_json::json!(["outbound", "everywhere"]);
    value["entry"]["class_name"] = "not a class".into();
    value.as_object_mut().unwrap().remove("display_name");
    let err = check_seed_manifest(&value.to_string(), "bad.json").unwrap_err();
    let SeedError::Schema { origin, problems } = &err else {
        panic!("{err}");
    };
    assert_eq!(origin, "bad.json");
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["", "capabilities.network[1]", "entry.class_name"],
        "{problems:#?}"
    );
    assert!(
        problems[0].message.contains("display_name"),
        "{problems:#?}"
    );
    assert!(problems[1].message.contains("everywhere"), "{problems:#?}");
    assert!(
        err.to_string()
            .starts_with("bad.json: not a valid seed manifest"),
        "{err}"
    );

    let err = check_seed_manifest("{ nope", "broken.json").unwrap_err();
    assert!(matches!(err, SeedError::Syntax { line: 1, .. }), "{err}");
}

#[test]
fn capabilities_reduce_to_the_seed_vocabulary() {
    use sharelife_manifest::Capability;
    let net = |host: &str| Capability::Network {
        host: host.into(),
        ports: vec![],
    };
    let cmd = |argv: &[&str]| Capability::Command {
        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
    };
    let c = reduce(&[net("api.example.com"), net("10.0.0.0/8"), net("127.0.0.1")]);
    assert_eq!(
        c.network,
        [
            SeedNetwork::Outbound,
            SeedNetwork::Internal,
            SeedNetwork::Loopback
        ]
    );
    assert_eq!(reduce(&[net("localhost")]).network, [SeedNetwork::Loopback]);
    assert_eq!(reduce(&[net("::1")]).network, [SeedNetwork::Loopback]);
    assert_eq!(
        reduce(&[net("0.0.0.0/0")]).network,
        [
            SeedNetwork::Outbound,
            SeedNetwork::Internal,
            SeedNetwork::Loopback
        ]
    );
    assert_eq!(
        reduce(&[net("192.168.0.0/16")]).network,
        [SeedNetwork::Internal]
    );
    assert_eq!(
        reduce(&[cmd(&["git", "status"])]).command,
        [SeedCommand::Exec]
    );
    assert_eq!(
        reduce(&[cmd(&["/bin/bash", "-c"]), cmd(&["git"])]).command,
        [SeedCommand::Exec, SeedCommand::Shell]
    );
    for shell in [
        &["sh"][..],
        &["zsh"],
        &["dash"],
        &["fish"],
        &["cmd.exe", "/c"],
        &["powershell"],
        &["C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"],
        &["/usr/bin/env", "bash"],
        &["env", "-i", "PATH=/bin", "sh"],
        &["busybox", "ash"],
    ] {
        let argv: Vec<String> = shell.iter().map(|s| (*s).to_owned()).collect();
        assert!(runs_a_shell(&argv), "{argv:?}");
    }
    assert!(!runs_a_shell(&["env".to_owned(), "git".to_owned()]));
    assert!(!runs_a_shell(&["bashful".to_owned()]));
}
