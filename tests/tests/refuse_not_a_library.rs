//! A file that is not a shared library is refused before anything runs.

use sharelife_core::HostError;
use sharelife_core::loader::LoadError;
use sharelife_tests::Scratch;

#[tokio::test]
async fn a_text_file_is_not_a_library() {
    let dir = Scratch::new();
    let path = dir.path().join("notes.so");
    std::fs::write(&path, "these are not the bytes you are looking for").unwrap();
    match dir.host().load(&path).await {
        Err(HostError::Load(err @ LoadError::NotALibrary { .. })) => {
            let text = err.to_string();
            assert!(
                text.contains("notes.so") && text.contains("is not a shared library"),
                "{text}"
            );
        }
        other => panic!("expected NotALibrary, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_file_is_an_io_error_naming_it() {
    let dir = Scratch::new();
    match dir.host().load(dir.path().join("absent.so")).await {
        Err(HostError::Load(LoadError::Io { path, .. })) => assert!(path.ends_with("absent.so")),
        other => panic!("expected Io, got {other:?}"),
    }
}
