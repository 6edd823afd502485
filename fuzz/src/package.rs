//! The package targets: the `.slpkg` file list (`sharelife-package.json`),
//! and a whole package archive.

use sharelife_registry::package::{self, Package};

/// Fuzzes [`package::parse_file_list`]: no panic; a file list it accepts
/// serializes and parses back equal, and every property it promises
/// holds (sorted unique files, each library listed in the files at
/// `lib/<target>/<file>`, one library per target). The same bytes are
/// also fed to [`Package::from_bytes`] as an archive: no panic.
pub fn package_file_list(input: &[u8]) {
    if let Ok(list) = package::parse_file_list(input) {
        assert_eq!(list.format, package::FORMAT);
        assert!(list.files.windows(2).all(|w| w[0].path < w[1].path));
        assert!(!list.libraries.is_empty());
        let mut targets: Vec<&str> = list.libraries.iter().map(|l| l.target.as_str()).collect();
        targets.sort_unstable();
        targets.dedup();
        assert_eq!(targets.len(), list.libraries.len());
        for lib in &list.libraries {
            assert!(lib.path.starts_with(&format!("lib/{}/", lib.target)));
            assert!(list.files.iter().any(|f| f.path == lib.path));
        }
        assert!(
            list.files
                .iter()
                .all(|f| !f.path.split('/').any(|c| c == ".." || c.is_empty()))
        );
        let json = serde_json::to_vec(&list).expect("a file list serializes");
        let again = package::parse_file_list(&json).expect("a serialized file list parses");
        assert_eq!(again, list);
    }
    let _ = Package::from_bytes(input.to_vec(), "fuzz input");
}
