//! The configuration side: limits in the host configuration's TOML form
//! with errors naming the field, the kernel probe, and the refusals a
//! host gets before any plugin code runs.

mod support;

use std::path::Path;
use std::time::Duration;

use sharelife_sandbox::{
    ByteSize, Feature, Limits, LimitsError, Requirements, SandboxError, Sandboxed, StartStage,
    probe,
};

#[test]
fn limits_read_the_issue_form() {
    let limits = Limits::from_toml(
        r#"memory = "256MiB"
           cpu_time = "10s"
           call_timeout = "2s"
           open_files = 64"#,
    )
    .unwrap();
    assert_eq!(
        limits,
        Limits {
            memory: Some(ByteSize(256 << 20)),
            cpu_time: Some(Duration::from_secs(10)),
            call_timeout: Some(Duration::from_secs(2)),
            open_files: Some(64),
            poll: None,
        }
    );
    assert_eq!(Limits::from_toml("").unwrap(), Limits::default());
}

#[test]
fn a_bad_value_names_its_field() {
    let cases = [
        (r#"memory = "256 potatoes""#, "memory"),
        (r#"memory = -1"#, "memory"),
        (r#"cpu_time = "soon""#, "cpu_time"),
        (r#"cpu_time = 10"#, "cpu_time"),
        (r#"call_timeout = "0s""#, "call_timeout"),
        (r#"open_files = "many""#, "open_files"),
        (r#"open_files = 0"#, "open_files"),
    ];
    for (text, expected) in cases {
        match Limits::from_toml(text) {
            Err(LimitsError::Field { field, .. }) => assert_eq!(field, expected, "{text}"),
            other => panic!("{text}: expected an error naming {expected}, got {other:?}"),
        }
    }
    let error = Limits::from_toml(r#"memory = "1 XB""#).unwrap_err();
    assert!(
        error.to_string().starts_with("limit `memory` = \"1 XB\""),
        "{error}"
    );
    assert!(matches!(
        Limits::from_toml("memroy = \"1MiB\""),
        Err(LimitsError::Toml { .. })
    ));
}

#[test]
fn the_probe_reports_this_kernel() {
    let support = probe();
    println!("{support}");
    let json = serde_json::to_string(&support).unwrap();
    println!("{json}");
    assert!(support.to_string().contains("seccomp: "));
    // Whatever the kernel, `missing` is consistent with `has`.
    let all = [
        Feature::Landlock,
        Feature::LandlockNetwork,
        Feature::Seccomp,
    ];
    for feature in all {
        assert_eq!(support.missing(&[feature]).is_empty(), support.has(feature));
    }
}

#[test]
fn a_file_that_is_not_a_plugin_is_refused_by_the_loader() {
    let not_a_plugin = std::env::current_exe().unwrap();
    let error = Sandboxed::spawn(&not_a_plugin, &support::limits(), &Requirements::default())
        .expect_err("a test executable is no plugin");
    assert!(
        matches!(
            error,
            SandboxError::Start {
                stage: StartStage::Load,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_missing_runner_is_a_spawn_error() {
    let error = Sandboxed::spawn_with_runner(
        Path::new("/nonexistent/sharelife-sandbox-runner"),
        support::escape_library(),
        &Limits::default(),
        &Requirements::default(),
    )
    .expect_err("no runner there");
    assert!(matches!(error, SandboxError::Spawn { .. }), "{error:?}");
}

#[test]
fn the_runner_refuses_to_start_without_a_host() {
    let runner = sharelife_sandbox::locate_runner().expect("built with the tests");
    let output = std::process::Command::new(runner)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("connected Unix socket"));
}
