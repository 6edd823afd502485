//! A policy rule whose scope does not compile is an error where the
//! policy is built (builder and config file), never a rule that is
//! silently skipped and so denies nothing.

mod common;

use std::path::Path;

use common::*;
use sharelife_core::capability::{Gateway, Policy};
use sharelife_core::host::ConfigError;
use sharelife_core::{Host, HostConfig, HostError};

#[test]
fn a_deny_rule_that_does_not_compile_refuses_the_policy() {
    for bad in [
        "127.0.0.1/33",
        "127.0.0.1:8080",
        "Example.com",
        "10.0.0.0/8x",
        "",
    ] {
        let policy = Policy::new()
            .allow(PLUGIN, net("*.example.com", &[]))
            .deny("*", net(bad, &[]));
        let err = policy.validate().expect_err(bad);
        assert_eq!(err.problems.len(), 1, "{bad}: {err}");
        assert_eq!(err.problems[0].index, 1);
        assert_eq!(err.problems[0].field, "host");
        // The gateway refuses it too, whoever asks.
        let m = manifest(vec![net("*.example.com", &[])]);
        assert!(
            Gateway::compile(&m, &policy, Path::new("/d")).is_err(),
            "{bad}"
        );
        // And so does the host builder.
        let built = Host::builder().policy(policy).build();
        assert!(matches!(built, Err(HostError::Policy(_))), "{bad}");
    }
}

#[test]
fn an_allow_rule_with_an_empty_argv_or_a_bad_selector_is_refused() {
    let policy = Policy::new()
        .allow(PLUGIN, cmd(&[]))
        .allow("acme*", net("api.example.com", &[]));
    let err = policy.validate().unwrap_err();
    let fields: Vec<(usize, &str)> = err
        .problems
        .iter()
        .map(|p| (p.index, p.field.as_str()))
        .collect();
    assert_eq!(fields, [(0, "argv"), (1, "plugin")], "{err}");
}

#[test]
fn the_config_file_names_the_line_and_rule_index() {
    let text = r#"
[[policy.rules]]
effect = "allow"
plugin = "acme.tester"
kind = "network"
host = "api.example.com"

[[policy.rules]]
effect = "deny"
plugin = "*"
kind = "network"
host = "127.0.0.1:8080"
"#;
    let err = HostConfig::parse(text, Some(Path::new("host.toml")), &|_| None).unwrap_err();
    let ConfigError::Invalid { problems, .. } = &err else {
        panic!("expected an invalid config, got {err}");
    };
    assert_eq!(problems.len(), 1, "{err}");
    assert_eq!(problems[0].path, "policy.rules[1].host");
    assert_eq!(problems[0].line, Some(8), "{err}");
    assert!(err.to_string().contains("127.0.0.1:8080"), "{err}");
}
