//! The checked-in JSON Schema of the plan file
//! (`schemas/install.plan.v1.schema.json`) matches the one the code
//! generates, and a real plan validates against it.
//!
//! If this fails after a change to the plan's types, regenerate with
//! `SHARELIFE_BLESS=1 cargo test -p sharelife-install --test schema_is_current`.

mod support;

use std::path::{Path, PathBuf};

use sharelife_install::{Operation, PlanFile, PluginRequest};

fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/install.plan.v1.schema.json")
}

fn generated() -> String {
    let mut schema = schemars::schema_for!(PlanFile);
    schema.insert("title".to_owned(), "sharelife install plan v1".into());
    schema.insert(
        "description".to_owned(),
        "A plan file written by `sharelife install --plan-out` (and upgrade, remove): the plan \
         (every plugin's action with version, package digest, risk, capabilities, scan evidence, \
         policy verdicts, capability diff; the registry snapshot and generation it was made \
         against; whether an admin must approve), its sha256 digest, and the admins' \
         approvals (signatures over the digest)."
            .into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

#[test]
fn the_plan_schema_is_current() {
    let text = generated();
    if std::env::var_os("SHARELIFE_BLESS").is_some() {
        std::fs::write(schema_path(), &text).unwrap();
    }
    let checked_in = std::fs::read_to_string(schema_path()).unwrap_or_default();
    assert!(
        checked_in == text,
        "schemas/install.plan.v1.schema.json is out of date: run \
         SHARELIFE_BLESS=1 cargo test -p sharelife-install --test schema_is_current"
    );
}

#[test]
fn a_real_plan_validates_against_the_schema() {
    let world = support::World::with(&["fixture-growing-1", "fixture-growing-2"]);
    world.install(&["fixtures.growing@=1.0.0"]);
    let (path, _) = world.plan(Operation::Install(vec![
        "fixtures.growing@=2.0.0".parse::<PluginRequest>().unwrap(),
    ]));
    let root = world.root();
    sharelife_install::approve(&root, &path, &world.admin).unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&plan)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The file parses back as the plan that was written.
    PlanFile::read(&path).unwrap();
}

fn pack_schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/pack.manifest.v1.schema.json")
}

fn pack_generated() -> String {
    let mut schema = schemars::schema_for!(sharelife_install::pack::PackManifest);
    schema.insert(
        "title".to_owned(),
        "sharelife extension pack manifest v1".into(),
    );
    schema.insert(
        "description".to_owned(),
        "`pack.json` inside a `.slpack` written by `sharelife pack export`: the format, when \
         and by whom it was made, each plugin (id, exact version, package sha256, the registry \
         by name and root key ids, risk, capabilities), the environment variables its host \
         config needs (references kept, secrets redacted to placeholders), whether the \
         packages are embedded, and the sha256 of every other entry. A signature, when \
         present, is `signature.json`: a publisher key's Ed25519 signature over \
         \"sharelife pack v1\\n\" + sha256(pack.json) + \"\\n\"."
            .into(),
    );
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

#[test]
fn the_pack_manifest_schema_is_current() {
    let text = pack_generated();
    if std::env::var_os("SHARELIFE_BLESS").is_some() {
        std::fs::write(pack_schema_path(), &text).unwrap();
    }
    let checked_in = std::fs::read_to_string(pack_schema_path()).unwrap_or_default();
    assert!(
        checked_in == text,
        "schemas/pack.manifest.v1.schema.json is out of date: run \
         SHARELIFE_BLESS=1 cargo test -p sharelife-install --test schema_is_current"
    );
}

#[test]
fn a_real_pack_manifest_validates_against_the_schema() {
    let world = support::World::with(&["fixture-growing-1"]);
    world.install(&["fixtures.growing@=1.0.0"]);
    let root = world.root();
    let exported =
        sharelife_install::pack::export(&root, &sharelife_install::pack::ExportOptions::default())
            .unwrap();
    let manifest = serde_json::to_value(&exported.manifest).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(pack_schema_path()).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&manifest)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(manifest["plugins"][0]["id"], "fixtures.growing");
}
