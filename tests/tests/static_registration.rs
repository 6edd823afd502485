//! A plugin crate linked into the host (as an rlib) registers itself
//! through `inventory`; the host finds it without any file.

use sharelife_core::{HasManifest, PluginState, static_plugins};
use sharelife_tests::Scratch;

#[tokio::test]
async fn linked_plugins_are_found_and_run_without_a_file() {
    // Referencing the crate links it; registration is automatic.
    assert_eq!(example_echo::Echo::manifest().id.as_str(), "examples.echo");

    let registered: Vec<String> = static_plugins()
        .map(|p| p.manifest().unwrap().id.to_string())
        .collect();
    assert!(
        registered.contains(&"examples.echo".to_owned()),
        "{registered:?}"
    );

    let dir = Scratch::new();
    let host = dir.host();
    let loaded: Vec<String> = host
        .load_static()
        .await
        .into_iter()
        .map(|r| r.unwrap().to_string())
        .collect();
    assert!(loaded.contains(&"examples.echo".to_owned()), "{loaded:?}");
    host.start("examples.echo").await.unwrap();
    assert_eq!(
        host.plugins().state("examples.echo"),
        Some(PluginState::Active)
    );
    assert_eq!(
        host.call("examples.echo", "upper", b"static")
            .unwrap()
            .as_slice(),
        b"STATIC"
    );
    let report = host.unload("examples.echo").await.unwrap();
    assert_eq!(report.library, None);
    assert_eq!(report.still_mapped, None);
}
