//! The manifest targets: the section record (and a library file carrying
//! it), and the manifest JSON.

use std::cell::RefCell;
use std::path::PathBuf;

use sharelife_core::loader::{LoadError, PluginFile};
use sharelife_manifest::section::{self, SectionError};
use sharelife_manifest::{Manifest, ManifestError, RawManifest};

use crate::elf::elf_library;

/// The build id the synthetic library carries.
const BUILD_ID: &[u8] = b"\x5a\xa1\x1f\xe0\x00\xff\x01";

/// Fuzzes the `.sharelife` section record.
///
/// Input that starts like an object file (ELF, Mach-O, PE) is a whole
/// library file, read with [`PluginFile::read`]: no panic. Anything else
/// is a section's bytes: decoded with [`section::decode`] (a decoded
/// record re-encodes to the input minus its zero padding), then wrapped in
/// an ELF shared library and read from disk with [`PluginFile::read`],
/// which must agree with decoding the bytes and validating the JSON by
/// hand.
pub fn manifest_section(data: &[u8]) {
    if looks_like_object_file(data) {
        if let Ok(file) = read_file(data) {
            let _ = file.check_compatible();
            let _ = file.build_id();
            let _ = file.manifest().to_json();
        }
        return;
    }

    let decoded = section::decode(data);
    let expected = match &decoded {
        Ok(record) => {
            let again = section::encode_record(record);
            assert!(
                data.starts_with(&again) && data[again.len()..].iter().all(|&b| b == 0),
                "a decoded record re-encodes to its bytes, less zero padding"
            );
            assert_eq!(section::decode(&again).as_ref(), Ok(record));
            manifest_json(record.manifest_json.as_bytes());
            Some(Manifest::from_json(record.manifest_json))
        }
        Err(SectionError::Several(n)) => {
            assert!(*n >= 2, "several records means at least two, not {n}");
            None
        }
        Err(_) => None,
    };

    let read = read_file(&elf_library(data, BUILD_ID));
    match (expected, read) {
        (None, Err(LoadError::BadRecord { source, .. })) => {
            assert_eq!(Err(source), decoded.map(|_| ()));
        }
        (Some(Ok(manifest)), Ok(file)) => {
            assert_eq!(file.manifest(), &manifest);
            assert_eq!(file.build_id(), Some(hex(BUILD_ID)));
        }
        (Some(Err(expected)), Err(LoadError::InvalidManifest { source, .. })) => {
            assert_same_error(&expected, &source);
        }
        (expected, read) => {
            panic!("the file reader disagrees with the record: {expected:?} vs {read:?}")
        }
    }
}

/// Fuzzes manifest JSON: [`Manifest::from_json`] never panics; a valid
/// manifest round-trips through [`Manifest::to_json`]; a parsed
/// [`RawManifest`] round-trips through serde; an invalid one names at
/// least one problem.
pub fn manifest_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Manifest::from_json(text) {
        Ok(manifest) => {
            let json = manifest.to_json();
            assert_eq!(
                Manifest::from_json(&json).as_ref(),
                Ok(&manifest),
                "a valid manifest reads back from its own JSON: {json}"
            );
            let _ = manifest.risk();
            let _ = manifest.supports_current_platform();
        }
        Err(ManifestError::Invalid(problems)) => {
            assert!(!problems.is_empty(), "an invalid manifest names a problem");
        }
        Err(e @ ManifestError::Syntax { .. }) => {
            let _ = e.to_string();
        }
    }
    if let Ok(raw) = serde_json::from_str::<RawManifest>(text) {
        let json = serde_json::to_string(&raw).expect("a raw manifest serializes");
        let again: RawManifest = serde_json::from_str(&json).expect("its own JSON reads back");
        assert_eq!(again, raw, "a raw manifest reads back from {json}");
        let _ = raw.validate().map_err(|e| e.problems());
    }
}

/// Same kind of error, same problems (syntax messages may differ in
/// wording between the two readers, not in position).
fn assert_same_error(expected: &ManifestError, found: &ManifestError) {
    match (expected, found) {
        (
            ManifestError::Syntax { line, column, .. },
            ManifestError::Syntax {
                line: l, column: c, ..
            },
        ) => assert_eq!((line, column), (l, c)),
        (ManifestError::Invalid(a), ManifestError::Invalid(b)) => assert_eq!(a, b),
        _ => panic!("different manifest errors: {expected:?} vs {found:?}"),
    }
}

fn looks_like_object_file(data: &[u8]) -> bool {
    const MAGICS: &[&[u8]] = &[
        b"\x7fELF",
        b"MZ",
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",
    ];
    MAGICS.iter().any(|m| data.starts_with(m))
}

thread_local! {
    /// One scratch file per thread (tests run targets in parallel).
    static SCRATCH: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// Writes `bytes` to this thread's scratch file and reads it as a plugin
/// library.
fn read_file(bytes: &[u8]) -> Result<PluginFile, LoadError> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let path = scratch.get_or_insert_with(|| {
            std::env::temp_dir().join(format!(
                "sharelife-fuzz-{}-{:?}.so",
                std::process::id(),
                std::thread::current().id()
            ))
        });
        std::fs::write(&*path, bytes).expect("the temp dir is writable");
        let read = PluginFile::read(&*path);
        let _ = std::fs::remove_file(&*path);
        read
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
