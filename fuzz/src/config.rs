//! The host config target.

use std::path::Path;

use sharelife_core::host::{ConfigError, HostConfig};

/// Fuzzes the host config: [`HostConfig::parse`] (TOML, `${VAR}`
/// expansion, checks, the embedded capability policy) never panics, with
/// and without a file to anchor relative paths; it is deterministic; a
/// checked config respects the documented bounds; an invalid one names at
/// least one problem, each on a line of the text.
pub fn host_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for file in [None, Some(Path::new("/fuzz/etc/host.toml"))] {
        let parsed = HostConfig::parse(text, file, &env);
        match &parsed {
            Ok(config) => {
                for (id, settings) in &config.plugins {
                    let priority = settings.priority();
                    assert!(
                        (1..=100).contains(&priority),
                        "{id}: priority {priority} is out of 1..=100"
                    );
                    let _ = format!("{settings:?}");
                }
                if file.is_some() {
                    for path in &config.plugin_paths {
                        assert!(
                            path.is_absolute(),
                            "{} is not anchored at the config file",
                            path.display()
                        );
                    }
                }
            }
            Err(ConfigError::Invalid { problems, .. }) => {
                assert!(!problems.is_empty(), "an invalid config names a problem");
                let lines = text.split('\n').count();
                for problem in problems {
                    if let Some(line) = problem.line {
                        assert!(
                            (1..=lines).contains(&line),
                            "line {line} of a {lines}-line text: {problem:?}"
                        );
                    }
                }
            }
            Err(ConfigError::Syntax { line, .. }) => {
                let lines = text.split('\n').count();
                assert!(
                    (1..=lines).contains(line),
                    "line {line} of a {lines}-line text"
                );
            }
            Err(_) => {}
        }
        let _ = parsed.as_ref().map_err(ToString::to_string);
        let again = HostConfig::parse(text, file, &env);
        match (&parsed, &again) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "parsing is deterministic"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("parsing is deterministic: {parsed:?} vs {again:?}"),
        }
    }
}

/// A fixed environment: some variables set (one to a value that looks
/// like a reference itself, which must not be expanded again), one empty,
/// the rest unset.
fn env(name: &str) -> Option<String> {
    match name {
        "HOME" => Some("/home/fuzz".into()),
        "EMPTY" => Some(String::new()),
        "NESTED" => Some("${HOME}/$${x}".into()),
        "SHARELIFE_PLUGINS" => Some("plugins".into()),
        _ if name.starts_with("SET") => Some(format!("value-of-{name}")),
        _ => None,
    }
}
