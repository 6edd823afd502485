//! A library whose exported header is not one this host reads is refused
//! with a typed error, after the file checks and before any plugin code is
//! called.

use sharelife_core::HostError;
use sharelife_core::loader::LoadError;
use sharelife_tests::Scratch;

#[tokio::test]
async fn a_header_with_a_foreign_magic_is_refused() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "foreign.so");
    let mut bytes = std::fs::read(&path).unwrap();
    let magic = b"sharelife-plugin";
    let hits: Vec<usize> = (0..bytes.len() - magic.len())
        .filter(|&i| &bytes[i..i + magic.len()] == magic)
        .collect();
    assert!(!hits.is_empty(), "the header magic is in the file");
    for at in hits {
        bytes[at + magic.len() - 1] = b'X';
    }
    std::fs::write(&path, bytes).unwrap();

    match dir.host().load(&path).await {
        Err(HostError::Load(err @ LoadError::BadHeader { .. })) => {
            assert!(
                err.to_string()
                    .contains("foreign.so: unknown plugin header"),
                "{err}"
            );
        }
        other => panic!("expected BadHeader, got {other:?}"),
    }
}
