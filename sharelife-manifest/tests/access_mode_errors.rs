//! A bad `access` value names the key, the value and the values allowed:
//! it is not an unknown capability kind (the kind, `file` or `provider`,
//! was fine).

use sharelife_manifest::{Capability, FileAccess, Manifest, ManifestError, ProviderAccess};

fn syntax_error(capability: &str) -> String {
    let json = format!(
        r#"{{"manifest_version": "2", "id": "acme.notes", "version": "1.0.0", "api": "^0.1", "capabilities": [{capability}]}}"#
    );
    match Manifest::from_json(&json) {
        Err(ManifestError::Syntax { message, .. }) => message,
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn a_misspelled_file_access_names_access_and_its_values() {
    let message = syntax_error(r#"{"kind": "file", "access": "raed", "path": "notes/*.txt"}"#);
    assert!(
        message.starts_with(r#"`access` must be `read` or `write`, found "raed""#),
        "{message}"
    );
    assert!(!message.contains("variant"), "{message}");
}

#[test]
fn a_misspelled_provider_access_lists_the_three_modes() {
    let message = syntax_error(r#"{"kind": "provider", "name": "llm", "access": "rotat"}"#);
    assert!(
        message.starts_with(r#"`access` must be `read`, `write` or `rotate`, found "rotat""#),
        "{message}"
    );
}

#[test]
fn an_access_of_the_wrong_type_says_what_it_expected() {
    let message = syntax_error(r#"{"kind": "file", "access": 1, "path": "notes/*.txt"}"#);
    assert!(
        message.starts_with("invalid type: integer `1`, expected an `access` of `read` or `write`"),
        "{message}"
    );
}

#[test]
fn every_access_mode_still_reads() {
    let json = r#"{"manifest_version": "2", "id": "acme.notes", "version": "1.0.0", "api": "^0.1", "capabilities": [
        {"kind": "file", "access": "read", "path": "a"},
        {"kind": "file", "access": "write", "path": "a"},
        {"kind": "provider", "name": "p", "access": "read"},
        {"kind": "provider", "name": "p", "access": "write"},
        {"kind": "provider", "name": "p", "access": "rotate"}
    ]}"#;
    let manifest = Manifest::from_json(json).unwrap();
    let file = |access| Capability::File {
        access,
        path: "a".into(),
    };
    let provider = |access| Capability::Provider {
        name: "p".into(),
        access,
    };
    assert_eq!(
        manifest.capabilities,
        [
            file(FileAccess::Read),
            file(FileAccess::Write),
            provider(ProviderAccess::Read),
            provider(ProviderAccess::Write),
            provider(ProviderAccess::Rotate),
        ]
    );
    // And they write back as they were read.
    let again = Manifest::from_json(&manifest.to_json()).unwrap();
    assert_eq!(again.capabilities, manifest.capabilities);
}
