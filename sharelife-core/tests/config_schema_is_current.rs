//! The checked-in host config JSON Schema matches the one the code
//! generates.
//!
//! If this fails after a change to the config types, regenerate with
//! `SHARELIFE_BLESS=1 cargo test -p sharelife-core --test config_schema_is_current`.

use std::path::Path;

#[test]
fn the_checked_in_host_config_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/host.config.v1.schema.json");
    let generated = sharelife_core::host::config::json_schema();
    if std::env::var_os("SHARELIFE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is out of date; regenerate it with SHARELIFE_BLESS=1 cargo test -p sharelife-core --test config_schema_is_current",
        path.display()
    );
}

#[test]
fn the_example_host_config_is_valid_and_matches_the_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/host.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = sharelife_core::HostConfig::parse(&text, Some(&path), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.plugins.len(), 4);

    let schema: serde_json::Value =
        serde_json::from_str(&sharelife_core::host::config::json_schema()).unwrap();
    let instance: serde_json::Value = toml::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}
