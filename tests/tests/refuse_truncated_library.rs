//! A damaged (truncated) library is refused with a typed error.

use sharelife_core::HostError;
use sharelife_core::loader::LoadError;
use sharelife_tests::Scratch;

#[tokio::test]
async fn a_truncated_library_is_malformed() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "cut.so");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    match dir.host().load(&path).await {
        Err(HostError::Load(err @ LoadError::Malformed { .. })) => {
            assert!(
                err.to_string().contains("cut.so is a damaged library file"),
                "{err}"
            );
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_library_cut_inside_its_header_is_malformed_too() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "stub.so");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..40]).unwrap();
    match dir.host().load(&path).await {
        Err(HostError::Load(LoadError::Malformed { .. })) => {}
        other => panic!("expected Malformed, got {other:?}"),
    }
}
