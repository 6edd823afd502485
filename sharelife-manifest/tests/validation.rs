//! Manifest validation reports every problem with its path.

use sharelife_manifest::{Capability, FileAccess, Manifest, ManifestError, RiskLevel};

fn problems(json: &str) -> Vec<String> {
    match Manifest::from_json(json) {
        Err(ManifestError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
        other => panic!("expected validation problems, got {other:?}"),
    }
}

#[test]
fn a_complete_manifest_round_trips() {
    let json = r#"{
        "manifest_version": "2", "id": "acme.text.upper", "version": "1.2.3-beta.1",
        "name": "Upper", "description": "Shouts.", "authors": ["Ada <ada@example.com>"],
        "license": "MIT", "homepage": "https://example.com", "repository": "https://example.com/git",
        "keywords": ["text"], "api": "^0.1", "platforms": ["linux", "x86_64-unknown-linux-gnu"],
        "dependencies": [{ "id": "acme.store", "version": ">=1.2, <2" }],
        "capabilities": [
            { "kind": "network", "host": "api.example.com", "ports": [443] },
            { "kind": "file", "access": "read", "path": "data/**/*.json" },
            { "kind": "command", "argv": ["git", "status"] },
            { "kind": "provider", "name": "openai", "access": "rotate" },
            { "kind": "mcp", "server": "fs", "tool": "read", "sha256": "0000000000000000000000000000000000000000000000000000000000000000" }
        ],
        "handlers": [{ "name": "upper" }, { "name": "later", "async": true }],
        "config_schema": { "type": "object" },
        "subscriptions": ["chat.message", "sharelife.lifecycle"]
    }"#;
    let m = Manifest::from_json(json).unwrap();
    assert_eq!(m.id.as_str(), "acme.text.upper");
    assert_eq!(m.dependencies[0].version.to_string(), ">=1.2, <2");
    assert_eq!(
        m.capabilities[1],
        Capability::File {
            access: FileAccess::Read,
            path: "data/**/*.json".into()
        }
    );
    assert_eq!(m.risk(), RiskLevel::High);
    assert!(m.handler("later").unwrap().is_async);
    assert_eq!(m.subscriptions, ["chat.message", "sharelife.lifecycle"]);
    assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let json = r#"{
        "manifest_version": "3", "id": "Bad Id", "version": "1.0", "api": "",
        "homepage": "ftp://example.com",
        "dependencies": [{ "id": "acme.ok", "version": "^1" }, { "id": "acme.ok", "version": "^x" }],
        "platforms": ["plan9"],
        "capabilities": [{ "kind": "network", "host": "Example.COM", "ports": [0] }, { "kind": "command", "argv": [] }],
        "handlers": [{ "name": "2fast" }]
    }"#;
    assert_eq!(
        problems(json),
        [
            r#"manifest_version: "3" is not supported; this reader understands "2""#,
            r#"id: "Bad Id" is not a plugin id: it must start with a lowercase letter or a digit"#,
            r#"version: "1.0" is not a semantic version (like 1.2.3)"#,
            r#"api: a version range must not be empty (use "*" for any version)"#,
            r#"homepage: "ftp://example.com" is not an http(s) URL"#,
            r#"dependencies[1].version: "^x" is not a version range"#,
            r#"dependencies[1].id: "acme.ok" is listed twice"#,
            r#"platforms[0]: "plan9" is not a platform; use one of linux, macos, windows, unix, android, ios, freebsd or a target triple"#,
            r#"capabilities[0].host: "Example.COM" is not a lowercase host name, `*.suffix`, IP address or CIDR block (ports go in `ports`)"#,
            "capabilities[0].ports: port 0 is not a destination port",
            "capabilities[1].argv: name at least the program to run",
            r#"handlers[0].name: "2fast" is not a handler name (letters, digits, '_')"#,
        ]
    );
}

#[test]
fn unknown_keys_and_wrong_types_are_syntax_errors_with_a_position() {
    let err =
        Manifest::from_json("{\n  \"manifest_version\": \"2\",\n  \"idd\": \"x\"\n}").unwrap_err();
    match &err {
        ManifestError::Syntax { line, message, .. } => {
            assert_eq!(*line, 3);
            assert!(message.starts_with("unknown field `idd`"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let err = Manifest::from_json(r#"{"kind": 1}"#).unwrap_err();
    assert!(matches!(err, ManifestError::Syntax { .. }), "{err}");
}

#[test]
fn a_plugin_cannot_depend_on_itself() {
    let json = r#"{"manifest_version":"2","id":"acme.loop","version":"1.0.0","api":"^0.1",
        "dependencies":[{"id":"acme.loop","version":"*"}]}"#;
    assert_eq!(
        problems(json),
        [r#"dependencies[0].id: a plugin cannot depend on itself"#]
    );
}

#[test]
fn internal_network_destinations_are_high_risk() {
    let cap = |host: &str| Capability::Network {
        host: host.into(),
        ports: vec![],
    };
    assert_eq!(cap("api.example.com").risk(), RiskLevel::Medium);
    for internal in [
        "localhost",
        "127.0.0.1",
        "10.0.0.0/8",
        "192.168.1.4",
        "::1",
        "fd00::1",
        "db.internal",
    ] {
        assert_eq!(cap(internal).risk(), RiskLevel::High, "{internal}");
    }
}

#[test]
fn subscriptions_must_be_topic_names_listed_once() {
    let json = r#"{"manifest_version":"2","id":"acme.ears","version":"1.0.0","api":"^0.1",
        "subscriptions":["chat.message", "chat message", "", "chat.message"]}"#;
    assert_eq!(
        problems(json),
        [
            r#"subscriptions[1]: "chat message" is not a topic: only letters, digits, '.', '_', '-' and '/' are allowed"#,
            r#"subscriptions[2]: "" is not a topic: it must be 1 to 128 characters long"#,
            r#"subscriptions[3]: "chat.message" is listed twice"#,
        ]
    );
}
