//! The `.slpkg` format with real built plugins: deterministic bytes, a
//! verified open, and one refusal per kind of tampering.

use std::io::Read;
use std::path::{Path, PathBuf};

use sharelife_core::loader::PluginFile;
use sharelife_registry::package::{
    self, FILE_LIST, FileList, MANIFEST, Package, PackageError, PackageOptions, UncheckedPackage,
};

/// The built cdylib of crate `name`, next to this test executable.
fn built_library(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().join(format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    ));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A crate directory with a README and a license, outside any workspace.
fn crate_dir(scratch: &Path) -> PathBuf {
    let dir = scratch.join("crate");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("README.md"), "# echo\n\nEchoes.\n").unwrap();
    std::fs::write(dir.join("LICENSE-MIT"), "MIT License\n").unwrap();
    dir
}

fn echo_options(scratch: &Path, out: &str) -> PackageOptions {
    PackageOptions {
        crate_dir: crate_dir(scratch),
        out_dir: scratch.join(out),
        library: Some(built_library("example-echo")),
        ..PackageOptions::default()
    }
}

/// The entries of a `tar.gz`, in order.
fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = String::from_utf8(e.path_bytes().to_vec()).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (path, data)
        })
        .collect()
}

fn archive(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    package::write_archive(
        entries
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice(), p.starts_with("lib/"))),
    )
}

/// Rewrites the file list so it matches `entries` again (digests, sizes,
/// paths): tampering that a careless attacker would not get past the
/// digests, made consistent to reach the deeper checks.
fn relist(entries: &mut [(String, Vec<u8>)]) {
    let list_bytes = &entries.iter().find(|(p, _)| p == FILE_LIST).unwrap().1;
    let mut list: FileList = serde_json::from_slice(list_bytes).unwrap();
    list.files = entries
        .iter()
        .filter(|(p, _)| p != FILE_LIST)
        .map(|(p, b)| package::FileEntry {
            path: p.clone(),
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b)),
            size: b.len() as u64,
        })
        .collect();
    list.files.sort_by(|a, b| a.path.cmp(&b.path));
    let json = serde_json::to_vec_pretty(&list).unwrap();
    entries.iter_mut().find(|(p, _)| p == FILE_LIST).unwrap().1 = json;
}

fn built_echo() -> (tempfile::TempDir, Vec<u8>) {
    let scratch = tempfile::tempdir().unwrap();
    let built = package::build(&echo_options(scratch.path(), "a")).unwrap();
    let bytes = std::fs::read(&built.path).unwrap();
    (scratch, bytes)
}

#[test]
fn packaging_twice_gives_identical_bytes() {
    let scratch = tempfile::tempdir().unwrap();
    let a = package::build(&echo_options(scratch.path(), "a")).unwrap();
    let b = package::build(&echo_options(scratch.path(), "b")).unwrap();
    assert_eq!(a.path.file_name().unwrap(), "examples.echo-1.0.0.slpkg");
    let (a_bytes, b_bytes) = (
        std::fs::read(&a.path).unwrap(),
        std::fs::read(&b.path).unwrap(),
    );
    assert!(a_bytes == b_bytes, "two packagings differ");
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(a.size, a_bytes.len() as u64);
    // Again into the same directory: replaced atomically, same bytes, no
    // temp file left behind.
    let again = package::build(&echo_options(scratch.path(), "a")).unwrap();
    assert_eq!(std::fs::read(&again.path).unwrap(), a_bytes);
    let left: Vec<_> = std::fs::read_dir(scratch.path().join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");

    // Sorted entries, fixed metadata, libraries executable.
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&a_bytes[..]));
    let mut paths = Vec::new();
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(h.mtime().unwrap(), 0);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.username().unwrap(), Some(""));
        let path = String::from_utf8(e.path_bytes().to_vec()).unwrap();
        let mode = if path.starts_with("lib/") {
            0o755
        } else {
            0o644
        };
        assert_eq!(h.mode().unwrap(), mode, "{path}");
        paths.push(path);
    }
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    // The gzip header: no mtime, no file name.
    assert_eq!(&a_bytes[4..8], &[0, 0, 0, 0]);
    assert_eq!(a_bytes[3] & 0x08, 0, "FNAME flag set");
}

#[test]
fn an_opened_package_carries_the_librarys_manifest_and_files() {
    let (scratch, bytes) = built_echo();
    let path = scratch.path().join("a/examples.echo-1.0.0.slpkg");
    let pkg = Package::open(&path).unwrap();
    let library = built_library("example-echo");
    let read = PluginFile::read(&library).unwrap();
    assert_eq!(pkg.manifest(), read.manifest());
    assert_eq!(
        pkg.entry(MANIFEST).unwrap(),
        read.manifest().to_json().as_bytes()
    );
    assert_eq!(pkg.file_name(), "examples.echo-1.0.0.slpkg");
    assert_eq!(pkg.size(), bytes.len() as u64);
    assert_eq!(pkg.sha256().len(), 64);
    let libs: Vec<_> = pkg.libraries().collect();
    assert_eq!(libs.len(), 1);
    let (target, lib_path, lib_bytes) = libs[0];
    assert_eq!(target, package::host_triple());
    assert_eq!(lib_path, format!("lib/{target}/libexample_echo.so"));
    assert_eq!(lib_bytes, std::fs::read(&library).unwrap());
    assert_eq!(pkg.readme(), Some("# echo\n\nEchoes.\n"));
    assert!(pkg.entry("LICENSE-MIT").is_some());
    // A crate outside any workspace and without a Cargo.lock of its own
    // (above it) carries none.
    assert!(
        pkg.lockfile().is_none()
            || scratch
                .path()
                .ancestors()
                .any(|d| d.join("Cargo.lock").is_file())
    );
    let list = pkg.file_list();
    assert_eq!(list.id, "examples.echo");
    assert!(list.files.iter().all(|f| f.path != FILE_LIST));
    // The same bytes from memory.
    let again = Package::from_bytes(bytes, "memory").unwrap();
    assert_eq!(again.manifest(), pkg.manifest());
}

#[test]
fn a_workspace_member_carries_the_workspace_lockfile() {
    let scratch = tempfile::tempdir().unwrap();
    let built = package::build(&PackageOptions {
        crate_dir: workspace().join("tests/fixtures/raw-net"),
        out_dir: scratch.path().to_owned(),
        library: Some(built_library("fixture-raw-net")),
        ..PackageOptions::default()
    })
    .unwrap();
    let pkg = Package::open(&built.path).unwrap();
    assert!(pkg.lockfile().unwrap().contains("name = \"abi_stable\""));
    assert!(pkg.readme().is_none());
}

#[test]
fn extra_libraries_must_carry_the_same_manifest() {
    let scratch = tempfile::tempdir().unwrap();
    let mut opts = echo_options(scratch.path(), "a");
    opts.extra_libraries = vec![(
        "aarch64-unknown-linux-gnu".into(),
        built_library("example-echo"),
    )];
    let built = package::build(&opts).unwrap();
    let pkg = Package::open(&built.path).unwrap();
    let targets: Vec<_> = pkg.libraries().map(|(t, _, _)| t.to_owned()).collect();
    assert_eq!(targets.len(), 2, "{targets:?}");

    opts.extra_libraries = vec![(
        "aarch64-unknown-linux-gnu".into(),
        built_library("example-fetcher"),
    )];
    let err = package::build(&opts).unwrap_err();
    assert!(
        matches!(err, PackageError::LibrariesDisagree { .. }),
        "{err}"
    );
}

fn refused(bytes: Vec<u8>) -> PackageError {
    Package::from_bytes(bytes, "tampered.slpkg").unwrap_err()
}

#[test]
fn a_changed_byte_is_refused() {
    let (_s, bytes) = built_echo();
    let mut e = entries(&bytes);
    let readme = e.iter_mut().find(|(p, _)| p == "README.md").unwrap();
    readme.1[0] ^= 1;
    let err = refused(archive(&e));
    let PackageError::DigestMismatch { origin, entry, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (origin.as_str(), entry.as_str()),
        ("tampered.slpkg", "README.md")
    );
    assert!(err.to_string().contains("README.md"), "{err}");

    // A changed size is caught before the digest.
    let mut e = entries(&bytes);
    e.iter_mut()
        .find(|(p, _)| p == "README.md")
        .unwrap()
        .1
        .push(b'!');
    let err = refused(archive(&e));
    assert!(
        matches!(err, PackageError::SizeMismatch { ref entry, .. } if entry == "README.md"),
        "{err}"
    );

    // Corrupt gzip.
    let mut b = bytes.clone();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    let err = refused(b);
    assert!(
        matches!(
            err,
            PackageError::Corrupt { .. } | PackageError::DigestMismatch { .. }
        ),
        "{err}"
    );
}

#[test]
fn an_unchecked_package_gives_its_library_and_becomes_a_package_only_when_its_digests_match() {
    let (_s, bytes) = built_echo();
    let triple = package::host_triple();
    let sound = UncheckedPackage::from_bytes(&bytes, "echo.slpkg").unwrap();
    let (path, library, digest) = sound.library(triple).expect("a library for this host");
    assert_eq!(
        library,
        std::fs::read(built_library("example-echo")).unwrap()
    );
    let (path, digest) = (path.to_owned(), digest.to_owned());
    let proof = sound.check_digests().unwrap();
    let package = sound.into_checked(proof);
    assert_eq!(package.entry_sha256(&path), Some(digest.as_str()));
    assert_eq!(package.manifest().id.as_str(), "examples.echo");

    // A changed library byte: everything but the digests checks out, and
    // the digest check names the library.
    let mut e = entries(&bytes);
    let lib = e.iter_mut().find(|(p, _)| p.starts_with("lib/")).unwrap();
    // In the middle: code or debug info, not the headers or the
    // `.sharelife` section the manifest check reads.
    let mid = lib.1.len() / 2;
    lib.1[mid] ^= 1;
    let changed = archive(&e);
    let unchecked = UncheckedPackage::from_bytes(&changed, "tampered.slpkg").unwrap();
    let err = unchecked.check_digests().unwrap_err();
    assert!(
        matches!(&err, PackageError::DigestMismatch { entry, .. } if entry.starts_with("lib/")),
        "{err}"
    );
    assert!(matches!(
        Package::from_bytes(changed, "tampered.slpkg"),
        Err(PackageError::DigestMismatch { .. })
    ));
}

#[test]
#[should_panic(expected = "a digest check of another package")]
fn a_digest_proof_does_not_transfer_between_packages() {
    let (_s, bytes) = built_echo();
    let mut e = entries(&bytes);
    e.iter_mut().find(|(p, _)| p == "README.md").unwrap().1[0] ^= 1;
    relist(&mut e);
    let other = archive(&e);
    let a = UncheckedPackage::from_bytes(&bytes, "a.slpkg").unwrap();
    let b = UncheckedPackage::from_bytes(&other, "b.slpkg").unwrap();
    let proof = a.check_digests().unwrap();
    let _ = b.into_checked(proof);
}

#[test]
fn an_extra_entry_is_refused() {
    let (_s, bytes) = built_echo();
    let mut e = entries(&bytes);
    e.push(("zz-extra.sh".into(), b"#!/bin/sh\n".to_vec()));
    let err = refused(archive(&e));
    assert!(
        matches!(err, PackageError::UnlistedEntry { ref entry, .. } if entry == "zz-extra.sh"),
        "{err}"
    );
}

#[test]
fn a_missing_entry_is_refused() {
    let (_s, bytes) = built_echo();
    let mut e = entries(&bytes);
    e.retain(|(p, _)| p != "LICENSE-MIT");
    let err = refused(archive(&e));
    assert!(
        matches!(err, PackageError::MissingEntry { ref entry, .. } if entry == "LICENSE-MIT"),
        "{err}"
    );

    let mut e = entries(&bytes);
    e.retain(|(p, _)| p != FILE_LIST);
    assert!(matches!(
        refused(archive(&e)),
        PackageError::MissingFileList { .. }
    ));
}

#[test]
fn a_duplicate_entry_is_refused() {
    let (_s, bytes) = built_echo();
    let mut e = entries(&bytes);
    let readme = e.iter().find(|(p, _)| p == "README.md").unwrap().clone();
    e.push(readme);
    let err = refused(archive(&e));
    assert!(
        matches!(err, PackageError::DuplicateEntry { ref entry, .. } if entry == "README.md"),
        "{err}"
    );
}

/// An archive holding one entry whose header names `path` verbatim (the
/// tar crate's own writer refuses `..`, an attacker's does not).
fn raw_entry_archive(entries: &[(String, Vec<u8>)], path: &[u8], kind: tar::EntryType) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (p, b) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(b.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, p, &b[..]).unwrap();
    }
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..path.len()].copy_from_slice(path);
    h.set_entry_type(kind);
    h.set_size(0);
    h.set_mode(0o644);
    if kind == tar::EntryType::Symlink {
        h.set_link_name("/etc/passwd").unwrap();
    }
    h.set_cksum();
    tar.append(&h, &[][..]).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn an_unsafe_path_is_refused() {
    let (_s, bytes) = built_echo();
    let e = entries(&bytes);
    let err = refused(raw_entry_archive(&e, b"../evil", tar::EntryType::Regular));
    assert!(
        matches!(err, PackageError::UnsafePath { ref entry, .. } if entry == "../evil"),
        "{err}"
    );
    let err = refused(raw_entry_archive(&e, b"/etc/evil", tar::EntryType::Regular));
    assert!(matches!(err, PackageError::UnsafePath { .. }), "{err}");
    let err = refused(raw_entry_archive(
        &e,
        b"lib/../../evil",
        tar::EntryType::Regular,
    ));
    assert!(matches!(err, PackageError::UnsafePath { .. }), "{err}");
    let err = refused(raw_entry_archive(&e, b"link", tar::EntryType::Symlink));
    assert!(
        matches!(err, PackageError::NotAFile { ref entry, .. } if entry == "link"),
        "{err}"
    );
    let err = refused(raw_entry_archive(&e, b"dir/", tar::EntryType::Directory));
    assert!(matches!(err, PackageError::NotAFile { .. }), "{err}");
}

#[test]
fn a_manifest_differing_from_the_library_section_is_refused() {
    let (_s, bytes) = built_echo();
    let mut e = entries(&bytes);
    let manifest = e.iter_mut().find(|(p, _)| p == MANIFEST).unwrap();
    let mut value: serde_json::Value = serde_json::from_slice(&manifest.1).unwrap();
    value["description"] = "a nicer description than the library's".into();
    manifest.1 = serde_json::to_vec(&value).unwrap();
    relist(&mut e);
    let err = refused(archive(&e));
    let PackageError::ManifestMismatch { entry, .. } = &err else {
        panic!("{err}")
    };
    assert!(entry.starts_with("lib/"), "{entry}");

    // A library that is not a plugin at all.
    let mut e = entries(&bytes);
    let lib = e.iter_mut().find(|(p, _)| p.starts_with("lib/")).unwrap();
    lib.1 = b"not an ELF file".to_vec();
    relist(&mut e);
    let err = refused(archive(&e));
    assert!(matches!(err, PackageError::BadLibrary { .. }), "{err}");
}

#[test]
fn the_file_list_must_agree_with_the_manifest() {
    let (_s, bytes) = built_echo();
    let mut e = entries(&bytes);
    let list = e.iter_mut().find(|(p, _)| p == FILE_LIST).unwrap();
    let mut value: serde_json::Value = serde_json::from_slice(&list.1).unwrap();
    value["version"] = "9.9.9".into();
    list.1 = serde_json::to_vec(&value).unwrap();
    let err = refused(archive(&e));
    assert!(
        matches!(err, PackageError::IdentityMismatch { .. }),
        "{err}"
    );

    let err = refused(b"not gzip at all".to_vec());
    assert!(matches!(err, PackageError::Corrupt { .. }), "{err}");
}

#[test]
fn a_gzip_trailer_claiming_more_than_the_data_can_hold_is_refused_before_allocating() {
    // A gzip stream of one stored deflate block of 64 bytes (87 bytes in
    // all), whose trailer's size field (ISIZE) claims 1 MiB: under the
    // unpacked limit, but over the 1032:1 that deflate can expand.
    let data = [b'x'; 64];
    let mut bytes = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    bytes.push(1); // the final block, stored
    bytes.extend_from_slice(&(data.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&(!(data.len() as u16)).to_le_bytes());
    bytes.extend_from_slice(&data);
    bytes.extend_from_slice(&0_u32.to_le_bytes()); // CRC-32, never reached
    bytes.extend_from_slice(&(1_u32 << 20).to_le_bytes());
    assert!((bytes.len() as u64) * 1032 < 1 << 20);
    let err = refused(bytes);
    assert!(
        matches!(err, PackageError::Corrupt { .. })
            && err
                .to_string()
                .contains("claims more than the compressed data can hold"),
        "{err}"
    );
}

#[test]
fn parse_file_list_checks_its_shape() {
    let ok = br#"{"format":1,"id":"a.b","version":"1.0.0","files":[{"path":"lib/x86_64-unknown-linux-gnu/liba.so","sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":1}],"libraries":[{"target":"x86_64-unknown-linux-gnu","path":"lib/x86_64-unknown-linux-gnu/liba.so"}]}"#;
    package::parse_file_list(ok).unwrap();
    for bad in [
        &br#"{"format":2,"id":"a.b","version":"1.0.0","files":[],"libraries":[]}"#[..],
        br#"{"format":1,"id":"a.b","version":"1.0.0","files":[],"libraries":[]}"#,
        br#"{"format":1,"id":"a.b","version":"1.0.0","files":[{"path":"b","sha256":"00","size":1}],"libraries":[]}"#,
        br#"{"format":1,"id":"a.b","version":"1.0.0","files":[],"libraries":[],"extra":1}"#,
    ] {
        assert!(package::parse_file_list(bad).is_err());
    }
    let unsorted = br#"{"format":1,"id":"a.b","version":"1.0.0","files":[{"path":"b","sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":1},{"path":"a","sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":1}],"libraries":[]}"#;
    assert!(matches!(
        package::parse_file_list(unsorted),
        Err(PackageError::InvalidFileList { .. })
    ));
    let climbing = br#"{"format":1,"id":"a.b","version":"1.0.0","files":[{"path":"../a","sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":1}],"libraries":[]}"#;
    assert!(matches!(
        package::parse_file_list(climbing),
        Err(PackageError::UnsafePath { .. })
    ));
}

/// The real path: `cargo build --release --lib` in the crate, the cdylib
/// found from cargo's artifact messages. Cheap once the release
/// dependencies are built; set `SHARELIFE_SKIP_RELEASE_BUILD=1` to skip.
#[test]
fn build_runs_cargo_when_no_library_is_given() {
    if std::env::var_os("SHARELIFE_SKIP_RELEASE_BUILD").is_some() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let built = package::build(&PackageOptions {
        crate_dir: workspace().join("examples/plugins/echo"),
        out_dir: scratch.path().to_owned(),
        ..PackageOptions::default()
    })
    .unwrap();
    let pkg = Package::open(&built.path).unwrap();
    assert_eq!(pkg.manifest().id.to_string(), "examples.echo");
    assert!(pkg.lockfile().is_some());
    let (_, path, _) = pkg.libraries().next().unwrap();
    assert!(path.ends_with("/libexample_echo.so"), "{path}");
}
