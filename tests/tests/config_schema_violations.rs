//! Bad input gets an error naming the file, the place and the fix: unknown
//! keys and invalid values in the host config, and plugin configs that do
//! not match the plugin's config schema (checked before its library is
//! opened).

use sharelife_core::host::{BootError, ConfigError, HostConfig};
use sharelife_core::loader::is_mapped;
use sharelife_core::{HostError, PluginState};
use sharelife_tests::{Scratch, library_file_name};

#[test]
fn unknown_keys_are_refused_with_file_line_and_key() {
    let dir = Scratch::new();
    let path = dir.path().join("host.toml");
    std::fs::write(
        &path,
        "plugin_paths = []\nhealth_check_interval = 30\n\n[plugins.\"examples.echo\"]\nenabled = true\npriorty = 3\n",
    )
    .unwrap();
    let err = HostConfig::load(&path).unwrap_err();
    match &err {
        ConfigError::Syntax {
            file,
            line,
            column,
            message,
        } => {
            assert_eq!(file, &path.display().to_string());
            assert_eq!((*line, *column), (6, 1));
            assert_eq!(
                message,
                r#"unknown key `priorty` in [plugins."examples.echo"]; allowed here: enabled, priority, config, dependencies, subscriptions, isolation, limits; did you mean `priority`?"#
            );
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with(&format!("{}:6:1: unknown key `priorty`", path.display()))
    );

    std::fs::write(&path, "plugin_path = [\"plugins\"]\n").unwrap();
    let err = HostConfig::load(&path).unwrap_err().to_string();
    assert!(
        err.contains(":1:1: unknown key `plugin_path` at the top level;"),
        "{err}"
    );
    assert!(err.contains("did you mean `plugin_paths`?"), "{err}");
}

#[test]
fn invalid_values_are_all_listed_with_their_lines() {
    let err = HostConfig::parse(
        "health_check_interval = 0\n[events]\nqueue_capacity = 0\n[events.topics.\"a b\"]\noverflow = \"reject\"\n[plugins.\"examples.echo\"]\npriority = 101\nsubscriptions = [\"ok\", \"not ok\"]\nconfig = 3\n",
        Some(std::path::Path::new("host.toml")),
        &|_| None,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        [
            "host.toml:1: health_check_interval: must be longer than zero",
            "host.toml:3: events.queue_capacity: must be at least 1; found 0",
            r#"host.toml:4: events.topics."a b": "a b" is not a topic: only letters, digits, '.', '_', '-' and '/' are allowed"#,
            r#"host.toml:7: plugins."examples.echo".priority: must be 1 to 100 (1 starts first, 100 last); found 101"#,
            r#"host.toml:8: plugins."examples.echo".subscriptions[1]: "not ok" is not a topic: only letters, digits, '.', '_', '-' and '/' are allowed"#,
            r#"host.toml:9: plugins."examples.echo".config: must be a table, e.g. `config = { greeting = "hi" }`"#,
        ]
        .join("\n")
    );
}

#[tokio::test]
async fn a_plugin_config_that_breaks_its_schema_keeps_the_library_closed() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-configured"]);
    let config_path = dir.path().join("host.toml");
    std::fs::write(
        &config_path,
        format!(
            "plugin_paths = [\"{}\"]\n[plugins.\"fixtures.configured\"]\nconfig = {{ port = 0, token = \"short\", colour = \"red\" }}\n",
            plugins.display()
        ),
    )
    .unwrap();
    let host = dir.host_with(|b| b.config(HostConfig::load(&config_path).unwrap()));
    let report = host.boot().await.unwrap();

    assert_eq!(report.failed.len(), 1);
    let BootError::Host(HostError::PluginConfig { id, problems, .. }) = &report.failed[0].error
    else {
        panic!(
            "expected a config mismatch, got {:?}",
            report.failed[0].error
        );
    };
    assert_eq!(id.as_str(), "fixtures.configured");
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            r#"plugins."fixtures.configured".config.port"#,
            r#"plugins."fixtures.configured".config.token"#,
            r#"plugins."fixtures.configured".config"#,
        ]
    );
    let error = &report.failed[0].error.to_string();
    let expected = [
        format!(
            "{}: the config of plugin \"fixtures.configured\" does not match the plugin's config schema:",
            config_path.display()
        ),
        r#"  plugins."fixtures.configured".config.port: value is less than the minimum of 1 (schema: /properties/port/minimum)"#.to_owned(),
        r#"  plugins."fixtures.configured".config.token: value is shorter than 8 characters (schema: /properties/token/minLength)"#.to_owned(),
        r#"  plugins."fixtures.configured".config: Additional properties are not allowed ('colour' was unexpected) (schema: /additionalProperties)"#.to_owned(),
    ]
    .join("\n");
    assert_eq!(error, &expected);
    let status = host.plugins().status("fixtures.configured").unwrap();
    assert_eq!(status.state, PluginState::Unloaded);
    assert_eq!(
        is_mapped(&plugins.join(library_file_name("fixture-configured"))),
        Some(false),
        "the library was opened although its config was wrong"
    );

    // The same check applies to a load by path, with settings made in code.
    let host = dir
        .host_with(|b| b.plugin_config("fixtures.configured", serde_json::json!({ "port": 80 })));
    match host
        .load(plugins.join(library_file_name("fixture-configured")))
        .await
    {
        Err(err @ HostError::PluginConfig { .. }) => assert!(
            err.to_string()
                .starts_with("host builder: the config of plugin \"fixtures.configured\""),
            "{err}"
        ),
        other => panic!("expected a config error, got {other:?}"),
    }
}
