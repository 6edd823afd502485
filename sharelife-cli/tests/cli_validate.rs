//! `sharelife validate` on good and bad manifests: exact messages with
//! file, line and path, and a non-zero exit on any problem.

mod common;
use common::sharelife;

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

#[test]
fn pipelines_are_validated_with_line_and_path() {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The demo pipeline and the seed's astr-agent file are valid.
    let demo = workspace.join("examples/pipelines/demo.yaml");
    let seed = workspace.join("tests/data/seed/astr-agent.example.yaml");
    let (code, out, err) = sharelife(&["validate", demo.to_str().unwrap(), seed.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "2 file(s) valid\n"), "{err}");

    let bad = write(
        "bad-pipeline.yml",
        "schema_version: sharelife.pipeline.v1\nplugins:\n  - { alias: up, plugin: examples.upper }\nsteps:\n  - step_id: a\n    plugin_ref: upx\n  - step_id: b\n    plugin_ref: up\n    input_from: nowhere\n",
    );
    let f = bad.display().to_string();
    let (code, out, err) = sharelife(&["validate", &f]);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        format!(
            "{f}:6: steps[0].plugin_ref: no plugin has the alias \"upx\"; the aliases are: up\n\
             {f}:9: steps[1].input_from: \"nowhere\" is not \"$input\" nor the id or output key of an earlier step\n"
        )
    );
    assert_eq!(err, "error: 2 problem(s) in 1 of 1 file(s)\n");
}

#[test]
fn pipeline_shape_and_syntax_errors_name_the_line() {
    let unknown = write(
        "unknown-key.yaml",
        "schema_version: sharelife.pipeline.v1\nplugins:\n  - { alias: up, plugin: examples.upper }\nsteps:\n  - step_id: a\n    plugin_ref: up\n    colour: red\n",
    );
    let (code, out, _) = sharelife(&["validate", unknown.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with(&format!(
            "{}:7: steps[0].colour: unknown field `colour`, expected one of ",
            unknown.display()
        )),
        "{out}"
    );
    let broken = write(
        "broken.yaml",
        "schema_version: sharelife.pipeline.v1\nsteps:\n  - [\n",
    );
    let (code, out, _) = sharelife(&["validate", broken.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.starts_with(&format!(
            "{}:4: -: not valid YAML (column ",
            broken.display()
        )),
        "{out}"
    );
}

#[test]
fn a_json_file_with_steps_is_checked_as_a_pipeline_and_json_output_works() {
    let pipeline = write(
        "pipeline.json",
        "{\n  \"schema_version\": \"sharelife.pipeline.v1\",\n  \"plugins\": [{ \"alias\": \"up\", \"plugin\": \"examples.upper\" }],\n  \"steps\": [\n    { \"step_id\": \"a\", \"plugin_ref\": \"up\" },\n    { \"step_id\": \"a\", \"plugin_ref\": \"up\", \"input_from\": \"a\" }\n  ]\n}\n",
    );
    let (code, out, _) = sharelife(&["validate", "--json", pipeline.to_str().unwrap()]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let findings = v.as_array().unwrap();
    assert!(!findings.is_empty());
    // Pipeline problems, not a manifest's "unknown field `steps`".
    assert_eq!(findings[0]["file"], pipeline.display().to_string());
    assert_eq!(findings[0]["line"], 6);
    assert_eq!(findings[0]["path"], "steps[1].step_id");
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("duplicate step id \"a\""),
        "{out}"
    );

    // Without `steps` or `schema_version`, a .json file is a manifest.
    let manifest = write(
        "not-a-pipeline.json",
        r#"{"manifest_version": "2", "id": "acme.good", "version": "1.0.0", "api": "^0.1", "stepz": 1}"#,
    );
    let (code, out, _) = sharelife(&["validate", "--json", manifest.to_str().unwrap()]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown field `stepz`"),
        "{out}"
    );
}

/// A fresh folder holding copies of the example plugin libraries cargo
/// built next to this test (they are dev-dependencies), in `plugins/`.
fn with_plugins(tag: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("sharelife-validate-{tag}-"))
        .tempdir()
        .unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    for name in ["example_upper", "example_suffix"] {
        let file = format!(
            "{}{name}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let built = deps.join(&file);
        assert!(built.exists(), "{} was not built", built.display());
        std::fs::copy(built, plugins.join(&file)).unwrap();
    }
    dir
}

/// Shape-valid, but: an unknown plugin, a version out of range, a handler
/// upper does not have, and a capability no policy grants.
const UNFIT: &str = "\
schema_version: sharelife.pipeline.v1
plugins:
  - { alias: upper, plugin: examples.upper, version: \"^2\" }
  - { alias: sign, plugin: examples.suffix, capabilities: [file.read] }
  - { alias: gone, plugin: examples.gone }
steps:
  - step_id: shout
    plugin_ref: upper
    handler: whisper
  - { step_id: signed, plugin_ref: sign, input_from: shout }
  - { step_id: lost, plugin_ref: gone }
";

#[test]
fn pipelines_are_checked_against_the_built_plugins_in_a_folder() {
    let dir = with_plugins("folder");
    let pipeline = dir.path().join("unfit.yaml");
    std::fs::write(&pipeline, UNFIT).unwrap();
    let f = pipeline.display().to_string();
    let plugins = dir.path().join("plugins").display().to_string();

    // On its own the file is fine: its shape is.
    let (code, out, _) = sharelife(&["validate", &f]);
    assert_eq!((code, out.as_str()), (0, "1 file(s) valid\n"));

    let (code, out, err) = sharelife(&["validate", &f, "--plugins", &plugins]);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with(&format!(
            "{f}:3: plugins[0].version: plugin \"examples.upper\" is version 1."
        )) && lines[0].contains("outside the range ^2"),
        "{out}"
    );
    assert_eq!(
        lines[1],
        format!(
            "{f}:4: plugins[1].capabilities[0]: the host never granted plugin \"examples.suffix\" file.read; a pipeline can only narrow what the host's policy allows"
        )
    );
    // The plugins are listed in file name order.
    assert!(
        lines[2].starts_with(&format!(
            "{f}:5: plugins[2].plugin: plugin \"examples.gone\" is not loaded in this host (loaded: examples.suffix, examples.upper)"
        )),
        "{out}"
    );
    assert!(
        lines[3].starts_with(&format!(
            "{f}:9: steps[0].handler: plugin \"examples.upper\" has no handler \"whisper\"; it has: "
        )),
        "{out}"
    );
    assert_eq!(err, "error: 4 problem(s) in 1 of 1 file(s)\n");
}

#[test]
fn a_host_config_gives_the_plugins_and_the_policy() {
    let dir = with_plugins("config");
    let granted = "\
plugin_paths = [\"plugins\"]

[[policy.rules]]
effect = \"allow\"
plugin = \"examples.suffix\"
kind = \"file\"
access = \"read\"
path = \"notes/*.txt\"
";
    let config = dir.path().join("host.toml");
    std::fs::write(&config, granted).unwrap();
    let fit = UNFIT
        .replace("version: \"^2\"", "version: \"^1\"")
        .replace("    handler: whisper\n", "")
        .replace("  - { alias: gone, plugin: examples.gone }\n", "")
        .replace("  - { step_id: lost, plugin_ref: gone }\n", "");
    let pipeline = dir.path().join("fit.yaml");
    std::fs::write(&pipeline, &fit).unwrap();
    let (code, out, err) = sharelife(&[
        "validate",
        pipeline.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        format!(
            "1 file(s) valid; pipelines checked against 2 plugins in {} and the policy of {}\n",
            dir.path().join("plugins").display(),
            config.display()
        )
    );

    // Without the grant, the same file does not fit this host.
    std::fs::write(&config, "plugin_paths = [\"plugins\"]\n").unwrap();
    let (code, out, _) = sharelife(&[
        "validate",
        pipeline.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains(":4: plugins[1].capabilities[0]: the host never granted plugin \"examples.suffix\" file.read;"),
        "{out}"
    );

    // A plugin the config disables is not there for the pipeline.
    std::fs::write(
        &config,
        format!("{granted}\n[plugins.\"examples.upper\"]\nenabled = false\n"),
    )
    .unwrap();
    let (code, out, _) = sharelife(&[
        "validate",
        pipeline.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains(":3: plugins[0].plugin: plugin \"examples.upper\" is not loaded in this host (loaded: examples.suffix)"),
        "{out}"
    );

    // An invalid config is refused, naming it.
    std::fs::write(&config, "plugin_paths = 3\n").unwrap();
    let (code, _, err) = sharelife(&[
        "validate",
        pipeline.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!(
            "error: cannot check pipelines against {}: ",
            config.display()
        )),
        "{err}"
    );
}
