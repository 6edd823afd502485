//! `sharelife inspect --format seed-v2` and `sharelife validate` on the
//! seed market's manifest format.

mod common;
use common::sharelife;

fn library(name: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .join(format!("libexample_{name}.so"))
        .display()
        .to_string()
}

fn seed_example() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/seed/plugin.manifest.v2.example.json"
    )
    .to_owned()
}

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sharelife-seed-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn inspect_prints_the_seed_record() {
    for name in ["echo", "upper", "suffix"] {
        let (code, out, err) = sharelife(&["inspect", "--format", "seed-v2", &library(name)]);
        assert_eq!(code, 0, "{err}");
        let record: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(record["manifest_version"], "2.0");
        assert_eq!(record["plugin_id"], format!("examples.{name}"));
        assert_eq!(
            record["entry"]["module"],
            format!("libexample_{name}.so"),
            "{out}"
        );
        assert!(
            record["entry"]["class_name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("__sharelife_plugin_example_{name}_")),
            "{out}"
        );
        assert_eq!(record["compatibility"]["sharelife"]["plugin_api"], "^0.1");
        sharelife_registry::seed::validate_record(&record).unwrap();

        // The record is a seed manifest `validate` accepts.
        let file = write(&format!("{name}.seed.json"), &out);
        let (code, out, err) = sharelife(&["validate", file.to_str().unwrap()]);
        assert_eq!((code, out.as_str()), (0, "1 file(s) valid\n"), "{err}");
    }
}

#[test]
fn inspect_keeps_json_and_human() {
    let (code, out, _) = sharelife(&["inspect", "--json", &library("echo")]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["id"], "examples.echo");
    let (code, same, _) = sharelife(&["inspect", "--format", "json", &library("echo")]);
    assert_eq!((code, same), (0, out));
    let (code, out, _) = sharelife(&["inspect", "--format", "human", &library("echo")]);
    assert_eq!(code, 0);
    assert!(out.starts_with("examples.echo 1.0.0\n"), "{out}");
    let (code, _, err) = sharelife(&["inspect", "--format", "yaml", &library("echo")]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = sharelife(&["inspect", "--json", "--format", "seed-v2", &library("echo")]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn validate_accepts_the_seed_example() {
    let (code, out, err) = sharelife(&["validate", &seed_example()]);
    assert_eq!((code, out.as_str()), (0, "1 file(s) valid\n"), "{err}");
}

#[test]
fn validate_refuses_a_seed_manifest_that_understates_its_risk() {
    let text = std::fs::read_to_string(seed_example()).unwrap();
    let lowered = text.replace("\"command\": []", "\"command\": [\"shell\"]");
    assert_ne!(lowered, text);
    let file = write("lowered.json", &lowered);
    let f = file.display().to_string();
    let line = lowered
        .lines()
        .position(|l| l.contains("\"risk_level\""))
        .unwrap()
        + 1;
    let (code, out, err) = sharelife(&["validate", &f]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        format!(
            "{f}:{line}: risk_level: declared low, but its capabilities imply high (command: shell)\n"
        )
    );
    assert_eq!(err, "error: 1 problem(s) in 1 of 1 file(s)\n");
}

#[test]
fn validate_names_the_path_of_a_seed_schema_violation() {
    let text = std::fs::read_to_string(seed_example()).unwrap();
    let bad = text.replace(
        "\"file\": [\"read\"]",
        "\"file\": [\"read\", \"everything\"]",
    );
    let file = write("bad.json", &bad);
    let f = file.display().to_string();
    let (code, out, _) = sharelife(&["validate", "--json", &f]);
    assert_eq!(code, 1);
    let findings: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(findings[0]["path"], "capabilities.file[1]", "{out}");
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .contains("everything"),
        "{out}"
    );
    let line = bad.lines().position(|l| l.contains("everything")).unwrap() + 1;
    assert_eq!(findings[0]["line"], line, "{out}");
}
