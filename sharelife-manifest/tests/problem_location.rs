//! A manifest problem carries where it is as fields: a syntax error its
//! line and column (no "column N" in the path), a value its path.

use sharelife_manifest::{Manifest, ManifestError};

#[test]
fn a_syntax_problem_has_line_and_column_as_fields_and_no_path() {
    let err = Manifest::from_json("{\n  \"id\": \"acme.echo\",\n  oops\n}").unwrap_err();
    assert!(matches!(err, ManifestError::Syntax { .. }), "{err}");
    let problems = err.problems();
    assert_eq!(problems.len(), 1);
    let p = &problems[0];
    assert_eq!((p.line, p.column), (Some(3), Some(3)));
    assert_eq!(p.path, "");
    assert_eq!(p.file, None);
    assert!(!p.message.contains("line"), "{}", p.message);
    assert_eq!(p.to_string(), format!("line 3, column 3: {}", p.message));
}

#[test]
fn a_value_problem_has_its_path_and_no_position() {
    let json = r#"{"manifest_version": "2", "id": "acme.echo", "version": "1.0.0", "api": "^x"}"#;
    let problems = Manifest::from_json(json).unwrap_err().problems();
    assert_eq!(problems.len(), 1);
    let p = &problems[0];
    assert_eq!(p.path, "api");
    assert_eq!((p.file.as_deref(), p.line, p.column), (None, None, None));
    assert_eq!(p.to_string(), format!("api: {}", p.message));
}
