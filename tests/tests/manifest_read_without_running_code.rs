//! A library's manifest is read from its file, without `dlopen`: an
//! untrusted file can be inspected without running any of its code.

use sharelife_core::loader::{PluginFile, is_mapped};
use sharelife_core::manifest::RiskLevel;
use sharelife_tests::Scratch;

#[test]
fn reading_the_manifest_does_not_map_the_library() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "inspect.so");
    let file = PluginFile::read(&path).unwrap();
    assert_eq!(
        is_mapped(&path),
        Some(false),
        "reading must not open the library"
    );

    let manifest = file.manifest();
    assert_eq!(manifest.id.as_str(), "examples.echo");
    assert_eq!(manifest.version.to_string(), "1.0.0");
    // From Cargo.toml.
    assert_eq!(manifest.name.as_deref(), Some("example-echo"));
    assert_eq!(
        manifest.description.as_deref(),
        Some("A synchronous example plugin: echo, upper-case, a counter")
    );
    assert_eq!(manifest.api.to_string(), "^0.1");
    let handlers: Vec<&str> = manifest.handlers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(handlers, ["echo", "upper", "greet", "count"]);
    assert_eq!(manifest.risk(), RiskLevel::Low);
    // The build id `readelf -n` shows, read from the note section.
    let build_id = file
        .build_id()
        .expect("rustc links with a GNU build id on Linux");
    let readelf = std::process::Command::new("readelf")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    let notes = String::from_utf8_lossy(&readelf.stdout);
    assert!(
        notes.contains(&format!("Build ID: {build_id}")),
        "{build_id} not in:\n{notes}"
    );
}

#[test]
fn an_incompatible_plugin_can_still_be_inspected() {
    let dir = Scratch::new();
    let file = PluginFile::read(dir.copy_library("fixture-api-mismatch", "future.so")).unwrap();
    assert_eq!(file.manifest().api.to_string(), "^9");
    assert!(file.check_compatible().is_err());
}
