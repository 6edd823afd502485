//! A library's manifest is read from its file, without `dlopen`: an
//! untrusted file can be inspected without running any of its code.

use std::path::Path;

use sharelife_core::loader::{PluginFile, is_mapped};
use sharelife_core::manifest::RiskLevel;
use sharelife_tests::Scratch;

#[test]
fn reading_the_manifest_does_not_map_the_library() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "inspect.so");
    let file = PluginFile::read(&path).unwrap();
    assert_eq!(
        is_mapped(&path),
        Some(false),
        "reading must not open the library"
    );

    let manifest = file.manifest();
    assert_eq!(manifest.id.as_str(), "examples.echo");
    assert_eq!(manifest.version.to_string(), "1.0.0");
    // From Cargo.toml.
    assert_eq!(manifest.name.as_deref(), Some("example-echo"));
    assert_eq!(
        manifest.description.as_deref(),
        Some("A synchronous example plugin: echo, upper-case, a counter")
    );
    assert_eq!(manifest.api.to_string(), "^0.1");
    let handlers: Vec<&str> = manifest.handlers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(handlers, ["echo", "upper", "greet", "count"]);
    assert_eq!(manifest.risk(), RiskLevel::Low);
    // The build id `readelf -n` shows, read from the note section.
    let build_id = file
        .build_id()
        .expect("rustc links with a GNU build id on Linux");
    let readelf = std::process::Command::new("readelf")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    let notes = String::from_utf8_lossy(&readelf.stdout);
    assert!(
        notes.contains(&format!("Build ID: {build_id}")),
        "{build_id} not in:\n{notes}"
    );
}

#[test]
fn an_incompatible_plugin_can_still_be_inspected() {
    let dir = Scratch::new();
    let file = PluginFile::read(dir.copy_library("fixture-api-mismatch", "future.so")).unwrap();
    assert_eq!(file.manifest().api.to_string(), "^9");
    assert!(file.check_compatible().is_err());
}

/// Where the record sits in `bytes`: the offset of its magic.
fn record_offset(bytes: &[u8]) -> usize {
    use sharelife_core::manifest::section::{MAGIC, MAGIC_V2};
    bytes
        .windows(8)
        .position(|w| w == MAGIC || w == MAGIC_V2)
        .expect("a sharelife record")
}

/// The record in `bytes` (found by [`record_offset`]) and where it starts.
fn record_in(bytes: &[u8]) -> (usize, Vec<u8>) {
    let at = record_offset(bytes);
    let len = sharelife_core::manifest::section::decode_prefix_len(&bytes[at..]).unwrap();
    (at, bytes[at..at + len].to_vec())
}

/// Copies library `from` to `to` with `record` added as a bare
/// `.sharelife` section (with `objcopy`), as a library built before the
/// record moved into a note carried it.
fn add_sharelife_section(dir: &Scratch, from: &Path, record: &[u8], to: &Path) {
    let record_file = dir.path().join("record.bin");
    std::fs::write(&record_file, record).unwrap();
    let status = std::process::Command::new("objcopy")
        .arg("--add-section")
        .arg(format!(".sharelife={}", record_file.display()))
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success(), "objcopy --add-section .sharelife");
}

#[test]
fn the_record_is_a_note_in_the_first_page_and_both_readers_find_it() {
    use sharelife_core::manifest::section::{NOTE_NAME, NOTE_TYPE};
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "note.so");
    let bytes = std::fs::read(&path).unwrap();
    // An ELF note named "sharelife" whose descriptor is the record, within
    // the first page (the program headers' `PT_NOTE`, with the build id).
    let at = record_offset(&bytes);
    assert!(at < 4096, "the record starts at {at}");
    assert_eq!(&bytes[at - 12..at - 2], NOTE_NAME);
    assert_eq!(bytes[at - 16..at - 12], NOTE_TYPE.to_le_bytes());
    let readelf = std::process::Command::new("readelf")
        .arg("-lW")
        .arg(&path)
        .output()
        .unwrap();
    let segments = String::from_utf8_lossy(&readelf.stdout);
    assert!(segments.contains("NOTE"), "{segments}");

    // The reader of files (by program headers) and the reader of bytes in
    // memory (by section table) find the same record.
    let read = PluginFile::read(&path).unwrap();
    let parsed = PluginFile::parse(&bytes, &path).unwrap();
    assert_eq!(read.manifest(), parsed.manifest());
    assert_eq!(read.build_id(), parsed.build_id());
    assert!(read.build_id().is_some());
    assert_eq!(read.layout_fingerprint(), parsed.layout_fingerprint());
    assert!(read.layout_fingerprint().is_some());

    // The record is in the first page, but a file cut short anywhere is
    // refused before `dlopen` could map pages past its end.
    for keep in [4096, bytes.len() / 2, bytes.len() - 1] {
        let cut = dir.path().join(format!("cut-{keep}.so"));
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let err = PluginFile::read(&cut).expect_err("a file cut short");
        assert!(
            matches!(
                err,
                sharelife_core::loader::LoadError::Malformed { .. }
                    | sharelife_core::loader::LoadError::NotAPlugin { .. }
            ),
            "cut at {keep}: {err}"
        );
    }
}

/// A library built before the record moved into a note carries the bare
/// record in a `.sharelife` section: both readers still find it.
#[test]
fn a_bare_record_in_a_sharelife_section_is_still_read() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "old.so");
    let mut bytes = std::fs::read(&path).unwrap();
    let (at, record) = record_in(&bytes);
    // The note no longer names a record ("sharelife" → "xharelife")...
    assert_eq!(bytes[at - 12], b's');
    bytes[at - 12] = b'x';
    let unnamed = dir.path().join("unnamed.so");
    std::fs::write(&unnamed, &bytes).unwrap();
    assert!(matches!(
        PluginFile::read(&unnamed),
        Err(sharelife_core::loader::LoadError::NotAPlugin { .. })
    ));
    // ...and the record is in a `.sharelife` section instead.
    add_sharelife_section(&dir, &unnamed, &record, &path);
    let read = PluginFile::read(&path).unwrap();
    assert_eq!(read.manifest().id.as_str(), "examples.echo");
    assert!(read.build_id().is_some());
    let parsed = PluginFile::parse(&std::fs::read(&path).unwrap(), &path).unwrap();
    assert_eq!(read.manifest(), parsed.manifest());
    assert_eq!(read.layout_fingerprint(), parsed.layout_fingerprint());
}

/// A library with a record in its notes *and* another in a `.sharelife`
/// section: every reader takes the note, the one the loaded code is
/// checked against, so the manifest a registry or an install approves
/// from a package's bytes (`PluginFile::parse`, which the registry's seed
/// entries use too) is the one the host loads (`PluginFile::read`).
#[test]
fn every_reader_takes_the_note_over_a_sharelife_section() {
    let dir = Scratch::new();
    let path = dir.copy_library("example-echo", "two.so");
    let bytes = std::fs::read(&path).unwrap();
    // The same record naming another id (same length: the lengths hold).
    let (_, mut other) = record_in(&bytes);
    let id = other
        .windows(13)
        .position(|w| w == b"examples.echo")
        .expect("the id in the record");
    other[id + 10] = b'x';
    let both = dir.path().join("both.so");
    add_sharelife_section(&dir, &path, &other, &both);
    let read = PluginFile::read(&both).unwrap();
    let parsed = PluginFile::parse(&std::fs::read(&both).unwrap(), &both).unwrap();
    assert_eq!(read.manifest().id.as_str(), "examples.echo");
    assert_eq!(parsed.manifest().id.as_str(), "examples.echo");
    // The section alone (the note unnamed): its own id.
    let mut unnamed = std::fs::read(&both).unwrap();
    let note = record_offset(&unnamed);
    unnamed[note - 12] = b'x';
    let only_section = dir.path().join("section.so");
    std::fs::write(&only_section, &unnamed).unwrap();
    assert_eq!(
        PluginFile::read(&only_section)
            .unwrap()
            .manifest()
            .id
            .as_str(),
        "examples.exho"
    );
}
