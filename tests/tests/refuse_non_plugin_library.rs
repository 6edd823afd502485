//! A real shared library that was not built with `#[plugin]` is refused,
//! without being opened.

use sharelife_core::HostError;
use sharelife_core::loader::{LoadError, is_mapped};
use sharelife_tests::Scratch;

#[tokio::test]
async fn a_cdylib_without_a_sharelife_section_is_not_a_plugin() {
    let dir = Scratch::new();
    let path = dir.copy_library("fixture-not-a-plugin", "plain.so");
    match dir.host().load(&path).await {
        Err(HostError::Load(err @ LoadError::NotAPlugin { .. })) => {
            assert!(
                err.to_string()
                    .contains("plain.so is not a sharelife plugin"),
                "{err}"
            );
        }
        other => panic!("expected NotAPlugin, got {other:?}"),
    }
    assert_eq!(
        is_mapped(&path),
        Some(false),
        "the library must not have been opened"
    );
}
