//! The host config and pipeline validators report the manifest's
//! `Problem`, with file, line and column as fields, never inside the path.

use sharelife_core::host::{ConfigError, HostConfig};
use sharelife_core::manifest::Problem;
use sharelife_core::pipeline::{PipelineError, PipelineFile};

fn config(text: &str) -> ConfigError {
    HostConfig::parse(text, Some("/etc/app/host.toml".as_ref()), &|_| None).unwrap_err()
}

#[test]
fn a_config_syntax_problem_has_file_line_and_column() {
    let err = config("auto_load = true\nnot toml at all\n");
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
    let problems = err.problems();
    assert_eq!(problems.len(), 1);
    let p: &Problem = &problems[0];
    assert_eq!(p.file.as_deref(), Some("/etc/app/host.toml"));
    assert_eq!(p.line, Some(2));
    assert!(p.column.is_some());
    assert_eq!(p.path, "");
    assert_eq!(p.to_string(), err.to_string());
}

#[test]
fn a_config_value_problem_has_file_line_and_key_path() {
    let err = config("[plugins.\"acme.echo\"]\npriority = 500\n");
    let ConfigError::Invalid { file, problems } = &err else {
        panic!("expected invalid values, got {err:?}");
    };
    assert_eq!(file, "/etc/app/host.toml");
    assert_eq!(problems.len(), 1);
    let p = &problems[0];
    assert_eq!(p.file.as_deref(), Some("/etc/app/host.toml"));
    assert_eq!(p.line, Some(2));
    assert_eq!(p.column, None);
    assert_eq!(p.path, r#"plugins."acme.echo".priority"#);
    assert_eq!(p.to_string(), err.to_string());
    assert_eq!(err.problems(), problems.clone());
}

#[test]
fn a_pipeline_syntax_problem_has_line_and_column_not_a_column_path() {
    let err = PipelineFile::from_yaml("p.yaml", "a: 1\na: 2\n").unwrap_err();
    assert!(matches!(err, PipelineError::Syntax { .. }), "{err}");
    let problems = err.problems();
    assert_eq!(problems.len(), 1);
    let p = &problems[0];
    assert_eq!((p.line, p.column), (Some(2), Some(1)));
    assert_eq!(p.path, "");
    assert!(!p.path.contains("column"));
}

#[test]
fn a_pipeline_value_problem_has_line_and_path() {
    let text = "schema_version: sharelife.pipeline.v1\nplugins: []\nsteps:\n  - step_id: a\n    plugin_ref: b\n    timeout_ms: soon\n";
    let err = PipelineFile::from_yaml("p.yaml", text).unwrap_err();
    let problems = err.problems();
    let p = &problems[0];
    assert_eq!(p.line, Some(6));
    assert_eq!(p.column, None);
    assert_eq!(p.path, "steps[0].timeout_ms");
    assert_eq!(
        p.to_string(),
        format!("line 6: steps[0].timeout_ms: {}", p.message)
    );
}
