//! The ABI layout fingerprint the `#[plugin]` macro writes into a
//! library's `.sharelife` record at build time lets the host skip
//! abi_stable's structural layout check only when it equals the host's
//! own: a library whose fingerprint differs (here: forged by editing the
//! file) gets the full check.
//!
//! One test function: the count of full checks is per process.

use sharelife_core::loader::{PluginFile, forget_checked_layouts, full_layout_checks};
use sharelife_core::manifest::section;
use sharelife_tests::Scratch;

/// Flips a byte of the fingerprint in the record of the library at `path`.
fn forge_fingerprint(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(section::MAGIC_V2.len())
        .position(|w| w == section::MAGIC_V2)
        .expect("the record carries a fingerprint");
    let record = section::decode_prefix_len(&bytes[at..]).expect("a record");
    // The fingerprint is the record's last bytes.
    bytes[at + record - 1] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_matching_fingerprint_skips_the_structural_check_and_a_forged_one_does_not() {
    let dir = Scratch::new();

    let genuine = dir.copy_library("example-echo", "genuine.so");
    let file = PluginFile::read(&genuine).unwrap();
    assert_eq!(file.layout_fingerprint().map(<[u8]>::len), Some(32));
    forget_checked_layouts();
    let before = full_layout_checks();
    let open = file.open().expect("the genuine library opens");
    assert_eq!(
        full_layout_checks(),
        before,
        "the fingerprint matches this host's: no structural check"
    );
    drop(open);

    let forged = dir.copy_library("example-echo", "forged.so");
    forge_fingerprint(&forged);
    let file = PluginFile::read(&forged).unwrap();
    assert_ne!(
        file.layout_fingerprint(),
        PluginFile::read(&genuine).unwrap().layout_fingerprint()
    );
    // Not remembered by its build id either (a copy shares it).
    forget_checked_layouts();
    let open = file
        .open()
        .expect("its real layout is this host's: the full check passes");
    assert_eq!(
        full_layout_checks(),
        before + 1,
        "a fingerprint that differs from the host's means the full check"
    );
    drop(open);
}
