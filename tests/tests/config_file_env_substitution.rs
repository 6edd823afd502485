//! A host built from a config file: `${VAR}` and `${VAR:-default}` are
//! replaced from the environment, a missing variable is an error naming
//! the variable, the key and the line, and no expanded value ever shows
//! up in an error or a debug print.

use sharelife_core::host::{ConfigError, HostConfig};
use sharelife_core::{Host, HostError};
use sharelife_tests::Scratch;

/// A variable no test environment sets (names are not secret).
const UNSET: &str = "SHARELIFE_TEST_SURELY_UNSET_VARIABLE";

fn write_config(dir: &Scratch, body: &str) -> std::path::PathBuf {
    let path = dir.path().join("host.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[tokio::test]
async fn a_config_file_drives_the_host_with_defaults_from_the_environment() {
    let dir = Scratch::new();
    dir.plugin_folder("plugins", &["fixture-configured", "example-echo"]);
    let path = write_config(
        &dir,
        &format!(
            r#"
# Relative to this file's folder.
plugin_paths = ["plugins"]
data_dir = "data"
temp_dir = "tmp"

[plugins."fixtures.configured"]
priority = 5
config = {{ port = 8080, token = "${{{UNSET}:-a-default-token}}" }}

[plugins."examples.echo"]
config = {{ greeting = "${{{UNSET}:-ahoy}}" }}
"#
        ),
    );
    let config = HostConfig::load(&path).unwrap();
    let host = Host::builder().config(config).build().unwrap();
    let report = host.boot().await.unwrap();
    assert!(report.is_complete(), "{report}");
    let started: Vec<&str> = report.started.iter().map(|id| id.as_str()).collect();
    assert_eq!(
        started,
        ["fixtures.configured", "examples.echo"],
        "priority 5 goes first"
    );
    assert_eq!(
        host.call("fixtures.configured", "port", b"")
            .unwrap()
            .as_slice(),
        b"8080"
    );
    assert_eq!(
        host.call("fixtures.configured", "token_len", b"")
            .unwrap()
            .as_slice(),
        b"15"
    );
    assert_eq!(
        host.call("examples.echo", "greet", b"ada")
            .unwrap()
            .as_slice(),
        b"ahoy, ada"
    );
    assert!(dir.path().join("data/examples.echo").is_dir());
    host.shutdown().await;
}

#[test]
fn a_missing_variable_names_itself_the_key_and_the_line() {
    let dir = Scratch::new();
    let path = write_config(
        &dir,
        &format!(
            "plugin_paths = [\"plugins\"]\n\n[plugins.\"fixtures.configured\"]\nconfig = {{ port = 1, token = \"${{{UNSET}}}\" }}\n"
        ),
    );
    match HostConfig::load(&path) {
        Err(ConfigError::Invalid { file, problems }) => {
            assert_eq!(file, path.display().to_string());
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].line, Some(4));
            assert_eq!(
                problems[0].path,
                r#"plugins."fixtures.configured".config.token"#
            );
            assert_eq!(
                problems[0].message,
                format!(
                    "environment variable `{UNSET}` is not set; set it, or give a default with `${{{UNSET}:-default}}`"
                )
            );
        }
        other => panic!("expected a missing variable, got {other:?}"),
    }
}

#[tokio::test]
async fn secrets_from_the_environment_never_reach_errors_or_debug_output() {
    const SECRET: &str = "hunter2-very-secret";
    let env = |name: &str| match name {
        "API_TOKEN" => Some(SECRET.to_owned()),
        "PORT" => Some("not-a-port".to_owned()),
        _ => None,
    };
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-configured"]);
    let text = format!(
        r#"
plugin_paths = ["{}"]
[plugins."fixtures.configured"]
config = {{ port = "${{PORT}}", token = "${{API_TOKEN}}", extra = "${{API_TOKEN}}" }}
"#,
        plugins.display()
    );
    let config = HostConfig::parse(&text, None, &env).unwrap();
    assert!(!format!("{config:?}").contains(SECRET));

    let host = dir.host_with(|b| b.config(config).strict(true));
    let err = host.boot().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains("not-a-port"), "{text}");
    assert!(matches!(&err, HostError::Strict { .. }), "{err}");
    assert!(
        err.to_string().contains(
            r#"plugins."fixtures.configured".config.port: value is not of type "integer""#
        ),
        "{err}"
    );
    assert_eq!(host.plugins().state("fixtures.configured"), None);
}
