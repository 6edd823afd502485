//! Lazy loading: boot reads every manifest but opens only the libraries of
//! enabled plugins; a disabled plugin's code is never mapped.

use sharelife_core::PluginState;
use sharelife_core::loader::is_mapped;
use sharelife_tests::{Scratch, library_file_name};

#[tokio::test]
async fn a_disabled_plugin_is_read_but_never_opened() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["example-echo", "example-timer"]);
    let echo = plugins.join(library_file_name("example-echo"));
    let timer = plugins.join(library_file_name("example-timer"));
    let host = dir.host_with(|b| b.plugin_path(&plugins).enabled("examples.echo", false));

    let report = host.boot().await.unwrap();

    assert_eq!(report.disabled.len(), 1);
    assert_eq!(report.disabled[0].as_str(), "examples.echo");
    assert_eq!(
        host.plugins().state("examples.timer"),
        Some(PluginState::Active)
    );
    assert_eq!(host.plugins().state("examples.echo"), None);
    assert_eq!(is_mapped(&timer), Some(true));
    assert_eq!(
        is_mapped(&echo),
        Some(false),
        "the disabled library was opened"
    );
}

#[tokio::test]
async fn without_auto_load_only_plugins_enabled_in_the_config_are_loaded() {
    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["example-echo", "example-timer"]);
    let host = dir.host_with(|b| {
        b.plugin_path(&plugins)
            .auto_load(false)
            .enabled("examples.timer", true)
    });
    let report = host.boot().await.unwrap();
    let started: Vec<&str> = report.started.iter().map(|id| id.as_str()).collect();
    assert_eq!(started, ["examples.timer"]);
    assert_eq!(host.plugins().state("examples.echo"), None);
}
