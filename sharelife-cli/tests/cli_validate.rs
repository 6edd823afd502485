//! `sharelife validate` on good and bad manifests: exact messages with
//! file, line and path, and a non-zero exit on any problem.

use std::process::Command;

fn sharelife(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sharelife"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sharelife-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_good_manifest_passes() {
    let good = write(
        "good.json",
        r#"{"manifest_version": "2", "id": "acme.good", "version": "1.0.0", "api": "^0.1"}"#,
    );
    let (code, out, _) = sharelife(&["validate", good.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "1 file(s) valid\n"));
}

#[test]
fn every_problem_is_listed_with_file_line_and_path() {
    let bad = write(
        "bad.json",
        "{\n  \"manifest_version\": \"2\",\n  \"id\": \"Acme\",\n  \"version\": \"1.0.0\",\n  \"api\": \"^0.1\",\n  \"dependencies\": [\n    { \"id\": \"acme.a\", \"version\": \"^1\" },\n    { \"id\": \"acme.b\", \"version\": \"^x\" }\n  ]\n}\n",
    );
    let f = bad.display().to_string();
    let (code, out, err) = sharelife(&["validate", &f]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        format!(
            "{f}:3: id: \"Acme\" is not a plugin id: it must start with a lowercase letter or a digit\n{f}:8: dependencies[1].version: \"^x\" is not a version range\n"
        )
    );
    assert_eq!(err, "error: 2 problem(s) in 1 of 1 file(s)\n");
}

#[test]
fn syntax_errors_and_unreadable_files_are_reported_too() {
    let unknown = write(
        "unknown.json",
        "{\n  \"manifest_version\": \"2\",\n  \"colour\": \"red\"\n}\n",
    );
    let missing = std::env::temp_dir().join("sharelife-validate-does-not-exist.json");
    let (code, out, _) = sharelife(&[
        "validate",
        unknown.to_str().unwrap(),
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!(
            "{}:3: -: unknown field `colour`",
            unknown.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}: -: cannot read:", missing.display())),
        "{out}"
    );
}

#[test]
fn host_configs_are_validated_with_line_and_key() {
    let good = write("host.toml", "plugin_paths = [\"plugins\"]\nstrict = true\n");
    let (code, out, _) = sharelife(&["validate", good.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "1 file(s) valid\n"));
    let bad = write("bad-host.toml", "strict = true\nstrikt = false\n");
    let (code, out, _) = sharelife(&["validate", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with(&format!("{}:2: -: unknown key `strikt`", bad.display())),
        "{out}"
    );
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/host.toml");
    let (code, out, err) = sharelife(&["validate", example.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}
