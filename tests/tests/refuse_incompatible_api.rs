//! A plugin whose `api` range excludes this host is refused before its
//! library is opened, with both versions named.

use sharelife_core::HostError;
use sharelife_core::loader::{LoadError, is_mapped};
use sharelife_tests::Scratch;

#[tokio::test]
async fn a_plugin_for_api_9_is_refused_by_an_api_0_1_host() {
    let dir = Scratch::new();
    let path = dir.copy_library("fixture-api-mismatch", "future.so");
    match dir.host().load(&path).await {
        Err(HostError::Load(err @ LoadError::IncompatibleApi { .. })) => {
            let text = err.to_string();
            assert!(
                text.contains(r#"plugin "fixtures.api_mismatch""#)
                    && text.contains("requires plugin API ^9, this host provides 0.1.0"),
                "{text}"
            );
        }
        other => panic!("expected IncompatibleApi, got {other:?}"),
    }
    assert_eq!(
        is_mapped(&path),
        Some(false),
        "the library must not have been opened"
    );
}

#[tokio::test]
async fn boot_passes_over_an_incompatible_library_with_the_typed_reason() {
    use sharelife_core::host::BootError;
    use sharelife_core::host::resolver::{PassedOverReason, ResolveError};

    let dir = Scratch::new();
    let plugins = dir.plugin_folder("plugins", &["fixture-api-mismatch"]);
    let host = dir.host_with(|b| b.plugin_path(&plugins));
    let report = host.boot().await.unwrap();
    assert!(matches!(
        &report.passed_over[..],
        [p] if matches!(&p.reason, PassedOverReason::Incompatible(LoadError::IncompatibleApi { .. }))
    ));
    match &report.failed[..] {
        [failure] => match &failure.error {
            BootError::Unresolved(errors) => assert!(
                matches!(
                    &errors[..],
                    [ResolveError::Incompatible {
                        reason: LoadError::IncompatibleApi { .. }
                    }]
                ),
                "{errors:?}"
            ),
            other => panic!("expected a resolution error, got {other:?}"),
        },
        other => panic!("expected one failure, got {other:?}"),
    }
}
