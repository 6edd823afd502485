//! A library whose embedded manifest has been tampered with is refused,
//! with the field that is wrong, before the library is opened.

use sharelife_core::HostError;
use sharelife_core::loader::{LoadError, is_mapped};
use sharelife_tests::Scratch;

/// Where a library holds its manifest: in the `.sharelife` record (what
/// the loader reads from the file) or in the module's string (what the
/// loaded code points at).
#[derive(Clone, Copy)]
enum Copy_ {
    Record,
    Module,
}

/// Replaces `from` with `to` (same length) in one copy of the manifest.
fn patch(path: &std::path::Path, which: Copy_, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(path).unwrap();
    let find = |bytes: &[u8], start: usize| {
        bytes[start..]
            .windows(from.len())
            .position(|w| w == from)
            .map(|i| i + start)
    };
    // Either record form: `SHRLIFE1`, or `SHRLIFE2` with a layout
    // fingerprint (what `#[plugin]` writes now).
    let record = bytes
        .windows(8)
        .position(|w| {
            w == sharelife_core::manifest::section::MAGIC
                || w == sharelife_core::manifest::section::MAGIC_V2
        })
        .expect("a sharelife record");
    let in_record = find(&bytes, record).expect("the record holds the pattern");
    let at = match which {
        Copy_::Record => in_record,
        Copy_::Module => (0..bytes.len())
            .find_map(|s| find(&bytes, s).filter(|&i| i != in_record))
            .expect("the module string holds the pattern"),
    };
    bytes[at..at + to.len()].copy_from_slice(to);
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn an_invalid_id_in_the_section_is_reported_with_its_path() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "tampered.so");
    // The first occurrence is the record, in the file's first page.
    patch(
        &path,
        Copy_::Record,
        br#""id":"examples.echo""#,
        br#""id":"Examples.Echo""#,
    );
    match dir.host().load(&path).await {
        Err(HostError::Load(err @ LoadError::InvalidManifest { .. })) => {
            let text = err.to_string();
            assert!(text.contains("tampered.so"), "{text}");
            assert!(text.contains(r#"id: "Examples.Echo" is not a plugin id: it must start with a lowercase letter or a digit"#), "{text}");
        }
        other => panic!("expected InvalidManifest, got {other:?}"),
    }
    assert_eq!(is_mapped(&path), Some(false));
}

#[tokio::test]
async fn an_unknown_key_in_the_section_is_a_syntax_error() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "unknown-key.so");
    patch(&path, Copy_::Record, br#""api":"#, br#""apu":"#);
    match dir.host().load(&path).await {
        Err(HostError::Load(err @ LoadError::InvalidManifest { .. })) => {
            assert!(err.to_string().contains("unknown field `apu`"), "{err}");
        }
        other => panic!("expected InvalidManifest, got {other:?}"),
    }
}

#[tokio::test]
async fn a_module_manifest_that_differs_from_the_record_is_refused() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "mismatch.so");
    patch(
        &path,
        Copy_::Module,
        br#""version":"1.0.0""#,
        br#""version":"6.6.6""#,
    );
    match dir.host().load(&path).await {
        Err(HostError::Load(err @ LoadError::ManifestMismatch { .. })) => {
            assert!(
                err.to_string()
                    .contains("differs from the one in its sharelife record"),
                "{err}"
            );
        }
        other => panic!("expected ManifestMismatch, got {other:?}"),
    }
}
