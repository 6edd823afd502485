//! The one entry point without config, the plugin's constructor, panics
//! when `PANICKY_PANIC_IN_DEFAULT` is set. This file holds a single test
//! because it sets a process-wide variable.

use sharelife_core::loader::LoadError;
use sharelife_core::{ErrorKind, HostError};
use sharelife_tests::Scratch;

#[tokio::test]
async fn panic_in_the_constructor_is_a_create_error() {
    // SAFETY: this test binary runs this single test; no other thread reads
    // the environment concurrently.
    unsafe { std::env::set_var("PANICKY_PANIC_IN_DEFAULT", "1") };
    let dir = Scratch::new();
    let host = dir.host();
    match host
        .load(dir.copy_library("example-panicky", "ctor.so"))
        .await
    {
        Err(HostError::Load(LoadError::Create { id, error, .. })) => {
            assert_eq!(id, "examples.panicky");
            assert_eq!(error.kind(), ErrorKind::Panicked);
            assert_eq!(
                error.message(),
                "panicky: asked to panic in its constructor"
            );
        }
        other => panic!("expected a create error, got {other:?}"),
    }
    assert!(host.plugins().list().is_empty());
}
