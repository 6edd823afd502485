//! The `.slpkg` package format: one deterministic `tar.gz`.
//!
//! A package holds, at these paths:
//!
//! | path | what |
//! | --- | --- |
//! | `sharelife-package.json` | the [`FileList`]: format, id, version, every other entry with its sha256 and size, and the libraries by target triple |
//! | `manifest.json` | the plugin manifest exactly as read from the library's sharelife record ([`Manifest::to_json`]) |
//! | `lib/<triple>/<file>` | the built library, one per target triple (at least the host's) |
//! | `README.md` | the crate's README, if it has one |
//! | `LICENSE*` | the crate's license files |
//! | `config.schema.json` | the manifest's `config_schema`, if it has one |
//! | `Cargo.lock` | the plugin's lockfile (the crate's, or its workspace's) |
//!
//! The archive is deterministic: entries sorted by path, mtime 0, uid and
//! gid 0, empty user and group names, mode 0644 (0755 for libraries), a
//! gzip header with mtime 0 and no file name, compression level 6.
//! Packaging the same build twice gives the same bytes.
//!
//! [`Package::open`] and [`Package::from_bytes`] verify everything before
//! handing out a [`Package`]: size limits, only regular files at safe,
//! unique paths, every entry listed with its digest and size and nothing
//! unlisted, the manifest of every library identical to `manifest.json`,
//! and id and version agreeing between the file list and the manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sharelife_core::loader::{LoadError, PluginFile};
use sharelife_manifest::{Manifest, ManifestError};

/// The package file extension (without the dot).
pub const EXTENSION: &str = "slpkg";
/// Where a package carries its crate's source (see
/// [`PackageOptions::include_source`]).
pub const SOURCE: &str = "source/";
/// The path of the file list inside a package.
pub const FILE_LIST: &str = "sharelife-package.json";
/// The path of the manifest inside a package.
pub const MANIFEST: &str = "manifest.json";
/// The path of the config JSON Schema inside a package.
pub const CONFIG_SCHEMA: &str = "config.schema.json";
/// The path of the README inside a package.
pub const README: &str = "README.md";
/// The path of the lockfile inside a package.
pub const LOCKFILE: &str = "Cargo.lock";
/// The file list format this crate writes and reads.
pub const FORMAT: u32 = 1;
/// The largest archive accepted, and the largest single entry (256 MiB).
pub const MAX_ARCHIVE_SIZE: u64 = 256 * 1024 * 1024;
/// The largest total of unpacked entries accepted (1 GiB): bounds what a
/// small, highly compressed archive can make a reader allocate.
pub const MAX_UNPACKED_SIZE: u64 = 1024 * 1024 * 1024;
/// The most entries an archive may hold.
pub const MAX_ENTRIES: usize = 4096;

/// Why a package could not be built, opened or parsed. Every variant
/// names the file, archive (`origin`) or entry that is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Running cargo (build, metadata, locate-project) failed.
    #[error("{}: cargo failed: {message}", crate_dir.display())]
    Cargo {
        /// The crate directory cargo was run for.
        crate_dir: PathBuf,
        /// What went wrong, with cargo's own output when there is some.
        message: String,
    },
    /// The build produced no dynamic library for the crate.
    #[error("{}: the build produced no cdylib (is `crate-type = [\"cdylib\"]` set?)", crate_dir.display())]
    NoLibrary {
        /// The crate directory.
        crate_dir: PathBuf,
    },
    /// A library given to package could not be read as a plugin.
    #[error("{}: not a plugin library: {source}", path.display())]
    Library {
        /// The library file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<LoadError>,
    },
    /// An extra library carries a manifest different from the main one.
    #[error("{}: its manifest differs from the one of {}", path.display(), main.display())]
    LibrariesDisagree {
        /// The extra library.
        path: PathBuf,
        /// The main library.
        main: PathBuf,
    },
    /// Two libraries were given for one target triple.
    #[error("two libraries for target `{target}`")]
    DuplicateTarget {
        /// The triple.
        target: String,
    },
    /// The archive is larger than [`MAX_ARCHIVE_SIZE`], or its entries
    /// unpack to more than [`MAX_UNPACKED_SIZE`].
    #[error("{origin}: the archive is too large ({size} bytes, the limit is {limit})")]
    TooLarge {
        /// The archive.
        origin: String,
        /// Its size (or the unpacked size reached).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The archive holds more than [`MAX_ENTRIES`] entries.
    #[error("{origin}: more than {limit} entries")]
    TooManyEntries {
        /// The archive.
        origin: String,
        /// The limit.
        limit: usize,
    },
    /// An entry is larger than [`MAX_ARCHIVE_SIZE`].
    #[error("{origin}: entry `{entry}` is too large ({size} bytes, the limit is {limit})")]
    EntryTooLarge {
        /// The archive.
        origin: String,
        /// The entry.
        entry: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The gzip or tar stream is corrupt.
    #[error("{origin}: not a readable tar.gz archive: {source}")]
    Corrupt {
        /// The archive.
        origin: String,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// An entry is not a regular file (a directory, link, device...).
    #[error("{origin}: entry `{entry}` is a {kind}, not a regular file")]
    NotAFile {
        /// The archive.
        origin: String,
        /// The entry.
        entry: String,
        /// Its tar entry type.
        kind: String,
    },
    /// An entry's path is absolute, climbs out (`..`), or is otherwise
    /// not a plain relative path.
    #[error("{origin}: entry `{entry}` has an unsafe path: {reason}")]
    UnsafePath {
        /// The archive.
        origin: String,
        /// The entry's path as written.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two entries share one path.
    #[error("{origin}: entry `{entry}` appears twice")]
    DuplicateEntry {
        /// The archive.
        origin: String,
        /// The entry.
        entry: String,
    },
    /// The archive has no `sharelife-package.json`.
    #[error("{origin}: no `{FILE_LIST}`: not a sharelife package")]
    MissingFileList {
        /// The archive.
        origin: String,
    },
    /// The file list does not parse or is inconsistent.
    #[error("{origin}: invalid `{FILE_LIST}`: {reason}")]
    InvalidFileList {
        /// The archive.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry the file list names is not in the archive.
    #[error("{origin}: entry `{entry}` is listed but missing")]
    MissingEntry {
        /// The archive.
        origin: String,
        /// The entry.
        entry: String,
    },
    /// The archive holds an entry the file list does not name.
    #[error("{origin}: entry `{entry}` is not in the file list")]
    UnlistedEntry {
        /// The archive.
        origin: String,
        /// The entry.
        entry: String,
    },
    /// An entry's size differs from the listed one.
    #[error("{origin}: entry `{entry}` is {actual} bytes, the file list says {listed}")]
    SizeMismatch {
        /// The archive.
        origin: String,
        /// The entry.
        entry: String,
        /// The listed size.
        listed: u64,
        /// The actual size.
        actual: u64,
    },
    /// An entry's sha256 differs from the listed one.
    #[error("{origin}: entry `{entry}` has sha256 {actual}, the file list says {listed}")]
    DigestMismatch {
        /// The archive.
        origin: String,
        /// The entry.
        entry: String,
        /// The listed digest.
        listed: String,
        /// The actual digest.
        actual: String,
    },
    /// The archive has no `manifest.json`.
    #[error("{origin}: no `{MANIFEST}`")]
    MissingManifest {
        /// The archive.
        origin: String,
    },
    /// `manifest.json` is not a valid manifest.
    #[error("{origin}: invalid `{MANIFEST}`: {source}")]
    InvalidManifest {
        /// The archive.
        origin: String,
        /// The manifest's error.
        #[source]
        source: Box<ManifestError>,
    },
    /// The file list's id or version differs from the manifest's.
    #[error("{origin}: `{FILE_LIST}` says {listed}, `{MANIFEST}` says {manifest}")]
    IdentityMismatch {
        /// The archive.
        origin: String,
        /// `id@version` from the file list.
        listed: String,
        /// `id@version` from the manifest.
        manifest: String,
    },
    /// A library in the archive could not be read as a plugin.
    #[error("{origin}: library `{entry}` is not a readable plugin: {source}")]
    BadLibrary {
        /// The archive.
        origin: String,
        /// The library entry.
        entry: String,
        /// Why.
        #[source]
        source: Box<LoadError>,
    },
    /// A library's `.sharelife` manifest differs from `manifest.json`.
    #[error("{origin}: the manifest in library `{entry}` differs from `{MANIFEST}`")]
    ManifestMismatch {
        /// The archive.
        origin: String,
        /// The library entry.
        entry: String,
    },
}

/// One listed entry of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// The entry's path inside the archive.
    pub path: String,
    /// Its sha256, lowercase hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One library of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LibraryEntry {
    /// The Rust target triple it was built for.
    pub target: String,
    /// Its path inside the archive: `lib/<target>/<file>`.
    pub path: String,
}

/// The parsed `sharelife-package.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileList {
    /// Always [`FORMAT`].
    pub format: u32,
    /// The plugin id.
    pub id: String,
    /// The plugin version.
    #[schemars(with = "String")]
    pub version: semver::Version,
    /// Every entry other than the file list itself, sorted by path.
    pub files: Vec<FileEntry>,
    /// The libraries, one per target triple.
    pub libraries: Vec<LibraryEntry>,
}

/// Parses and checks a `sharelife-package.json`: the format, sorted and
/// unique safe paths, digests as 64 lowercase hex digits, at least one
/// library, each library at `lib/<target>/<file>`, listed in `files`, one
/// per target.
///
/// # Errors
///
/// [`PackageError::InvalidFileList`] (origin `sharelife-package.json`) or
/// [`PackageError::UnsafePath`].
pub fn parse_file_list(bytes: &[u8]) -> Result<FileList, PackageError> {
    parse_file_list_in(bytes, FILE_LIST)
}

fn parse_file_list_in(bytes: &[u8], origin: &str) -> Result<FileList, PackageError> {
    let invalid = |reason: String| PackageError::InvalidFileList {
        origin: origin.to_owned(),
        reason,
    };
    let list: FileList = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    if list.format != FORMAT {
        return Err(invalid(format!(
            "format {} (this reader knows format {FORMAT})",
            list.format
        )));
    }
    if list.id.is_empty() {
        return Err(invalid("empty id".into()));
    }
    for pair in list.files.windows(2) {
        if pair[0].path >= pair[1].path {
            return Err(invalid(format!(
                "files are not sorted and unique at `{}`",
                pair[1].path
            )));
        }
    }
    for file in &list.files {
        check_path(&file.path).map_err(|reason| PackageError::UnsafePath {
            origin: origin.to_owned(),
            entry: file.path.clone(),
            reason,
        })?;
        if file.path == FILE_LIST {
            return Err(invalid(format!("lists itself (`{FILE_LIST}`)")));
        }
        if file.sha256.len() != 64
            || !file
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid(format!(
                "`{}`: sha256 is not 64 lowercase hex digits",
                file.path
            )));
        }
        if file.size > MAX_ARCHIVE_SIZE {
            return Err(invalid(format!(
                "`{}`: size {} too large",
                file.path, file.size
            )));
        }
    }
    if list.libraries.is_empty() {
        return Err(invalid("no libraries".into()));
    }
    let mut targets = BTreeSet::new();
    for lib in &list.libraries {
        if !targets.insert(lib.target.as_str()) {
            return Err(invalid(format!(
                "two libraries for target `{}`",
                lib.target
            )));
        }
        if lib.target.is_empty()
            || !lib
                .target
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(invalid(format!("bad target triple `{}`", lib.target)));
        }
        let prefix = format!("lib/{}/", lib.target);
        let ok = lib
            .path
            .strip_prefix(&prefix)
            .is_some_and(|file| !file.is_empty() && !file.contains('/'));
        if !ok {
            return Err(invalid(format!(
                "library `{}` is not at `{prefix}<file>`",
                lib.path
            )));
        }
        if list
            .files
            .binary_search_by(|f| f.path.as_str().cmp(&lib.path))
            .is_err()
        {
            return Err(invalid(format!("library `{}` is not in files", lib.path)));
        }
    }
    Ok(list)
}

/// Checks that `path` is a plain relative path: `/`-separated normal
/// components, no `.`, `..`, empty component, backslash or NUL.
fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    if path.starts_with('/') {
        return Err("absolute path");
    }
    if path.contains('\\') || path.contains('\0') {
        return Err("backslash or NUL in path");
    }
    if path.len() > 1024 {
        return Err("path longer than 1024 bytes");
    }
    for component in path.split('/') {
        match component {
            "" => return Err("empty path component"),
            "." => return Err("`.` component"),
            ".." => return Err("`..` component"),
            _ => {}
        }
    }
    if path.len() >= 2 && path.as_bytes()[1] == b':' {
        return Err("drive-letter path");
    }
    Ok(())
}

/// What to package.
#[derive(Debug, Clone, Default)]
pub struct PackageOptions {
    /// The plugin crate's directory (holding its `Cargo.toml`).
    pub crate_dir: PathBuf,
    /// Where to write `{id}-{version}.slpkg`.
    pub out_dir: PathBuf,
    /// A prebuilt library; when `None`, `cargo build --release --lib` is
    /// run in `crate_dir` and its cdylib artifact is packaged.
    pub library: Option<PathBuf>,
    /// More libraries for other target triples: `(triple, path)`. Each
    /// must carry the same manifest as the main one.
    pub extra_libraries: Vec<(String, PathBuf)>,
    /// The main library's target triple (passed to cargo as `--target`
    /// when building); the host's own ([`host_triple`]) when `None`.
    pub target: Option<String>,
    /// Also carry the crate's source under `source/` (`Cargo.toml`,
    /// `Cargo.lock`, `build.rs`, top-level `*.json`, `src/**`), so a host
    /// of a triple the package has no library for can build it at install
    /// (when its install root allows build steps).
    pub include_source: bool,
}

/// A package written by [`build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltPackage {
    /// The `.slpkg` file.
    pub path: PathBuf,
    /// The plugin id.
    pub id: String,
    /// The plugin version.
    pub version: semver::Version,
    /// The archive's sha256, lowercase hex.
    pub sha256: String,
    /// The archive's size in bytes.
    pub size: u64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PackageError + '_ {
    move |source| PackageError::Io {
        path: path.to_owned(),
        source,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Builds the package of `opts.crate_dir` and writes it to
/// `opts.out_dir/{id}-{version}.slpkg` atomically (a temp file in
/// `out_dir`, fsynced, renamed over the target).
///
/// # Errors
///
/// [`PackageError::Cargo`] or [`PackageError::NoLibrary`] when building,
/// [`PackageError::Library`] when a library is not a readable plugin,
/// [`PackageError::LibrariesDisagree`], [`PackageError::DuplicateTarget`],
/// [`PackageError::Io`].
pub fn build(opts: &PackageOptions) -> Result<BuiltPackage, PackageError> {
    let target = opts
        .target
        .clone()
        .unwrap_or_else(|| host_triple().to_owned());
    let library = match &opts.library {
        Some(path) => path.clone(),
        None => cargo_build(&opts.crate_dir, opts.target.as_deref())?,
    };
    let bytes = package_bytes(opts, &target, &library)?;
    let manifest = read_plugin(&library)?;
    let manifest = manifest.manifest();
    let name = format!("{}-{}.{EXTENSION}", manifest.id, manifest.version);
    std::fs::create_dir_all(&opts.out_dir).map_err(io_err(&opts.out_dir))?;
    let path = opts.out_dir.join(&name);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&opts.out_dir)
        .map_err(io_err(&opts.out_dir))?;
    tmp.write_all(&bytes).map_err(io_err(tmp.path()))?;
    tmp.as_file().sync_all().map_err(io_err(&path))?;
    tmp.persist(&path).map_err(|e| PackageError::Io {
        path: path.clone(),
        source: e.error,
    })?;
    // Make the rename itself durable; not every platform can open a
    // directory, so this is best effort.
    if let Ok(dir) = std::fs::File::open(&opts.out_dir) {
        let _ = dir.sync_all();
    }
    Ok(BuiltPackage {
        path,
        id: manifest.id.to_string(),
        version: manifest.version.clone(),
        sha256: sha256_hex(&bytes),
        size: bytes.len() as u64,
    })
}

fn read_plugin(path: &Path) -> Result<PluginFile, PackageError> {
    PluginFile::read(path).map_err(|source| PackageError::Library {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

/// The archive's bytes for `opts`, with the main library at `library`
/// built for `target`.
fn package_bytes(
    opts: &PackageOptions,
    target: &str,
    library: &Path,
) -> Result<Vec<u8>, PackageError> {
    let main = read_plugin(library)?;
    let manifest_json = main.manifest().to_json();
    // path -> (bytes, executable)
    let mut entries: BTreeMap<String, (Vec<u8>, bool)> = BTreeMap::new();
    let mut libraries = Vec::new();
    let mut targets = BTreeSet::new();
    let all = std::iter::once((target.to_owned(), library.to_owned()))
        .chain(opts.extra_libraries.iter().cloned());
    for (triple, path) in all {
        if !targets.insert(triple.clone()) {
            return Err(PackageError::DuplicateTarget { target: triple });
        }
        if path != library {
            let other = read_plugin(&path)?;
            if other.manifest().to_json() != manifest_json {
                return Err(PackageError::LibrariesDisagree {
                    path,
                    main: library.to_owned(),
                });
            }
        }
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .ok_or_else(|| PackageError::Io {
                path: path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the library's file name is not UTF-8",
                ),
            })?;
        let entry = format!("lib/{triple}/{file}");
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        entries.insert(entry.clone(), (bytes, true));
        libraries.push(LibraryEntry {
            target: triple,
            path: entry,
        });
    }
    libraries.sort_by(|a, b| a.target.cmp(&b.target));
    entries.insert(MANIFEST.into(), (manifest_json.into_bytes(), false));
    if let Some(schema) = &main.manifest().config_schema {
        let mut json = serde_json::to_vec_pretty(schema).expect("a JSON value serializes");
        json.push(b'\n');
        entries.insert(CONFIG_SCHEMA.into(), (json, false));
    }
    let crate_dir = &opts.crate_dir;
    let readme = crate_dir.join(README);
    if readme.is_file() {
        let bytes = std::fs::read(&readme).map_err(io_err(&readme))?;
        entries.insert(README.into(), (bytes, false));
    }
    let dir = std::fs::read_dir(crate_dir).map_err(io_err(crate_dir))?;
    for item in dir {
        let item = item.map_err(io_err(crate_dir))?;
        let Some(name) = item.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let upper = name.to_ascii_uppercase();
        if (upper.starts_with("LICENSE") || upper.starts_with("LICENCE")) && item.path().is_file() {
            let path = item.path();
            let bytes = std::fs::read(&path).map_err(io_err(&path))?;
            entries.insert(name, (bytes, false));
        }
    }
    if let Some(lock) = find_lockfile(crate_dir) {
        let bytes = std::fs::read(&lock).map_err(io_err(&lock))?;
        if opts.include_source {
            entries.insert(format!("{SOURCE}Cargo.lock"), (bytes.clone(), false));
        }
        entries.insert(LOCKFILE.into(), (bytes, false));
    }
    if opts.include_source {
        add_source(crate_dir, &mut entries)?;
    }

    let list = FileList {
        format: FORMAT,
        id: main.manifest().id.to_string(),
        version: main.manifest().version.clone(),
        files: entries
            .iter()
            .map(|(path, (bytes, _))| FileEntry {
                path: path.clone(),
                sha256: sha256_hex(bytes),
                size: bytes.len() as u64,
            })
            .collect(),
        libraries,
    };
    let mut json = serde_json::to_vec_pretty(&list).expect("a file list serializes");
    json.push(b'\n');
    entries.insert(FILE_LIST.into(), (json, false));
    Ok(write_archive(
        entries
            .iter()
            .map(|(p, (b, x))| (p.as_str(), b.as_slice(), *x)),
    ))
}

/// Adds the crate's source under [`SOURCE`]: `Cargo.toml`, `build.rs`,
/// top-level `*.json` (config schemas the macro reads), and `src/**`.
fn add_source(
    crate_dir: &Path,
    entries: &mut BTreeMap<String, (Vec<u8>, bool)>,
) -> Result<(), PackageError> {
    let mut add = |rel: &str, path: &Path| -> Result<(), PackageError> {
        let bytes = std::fs::read(path).map_err(io_err(path))?;
        entries.insert(format!("{SOURCE}{rel}"), (bytes, false));
        Ok(())
    };
    for entry in std::fs::read_dir(crate_dir).map_err(io_err(crate_dir))? {
        let entry = entry.map_err(io_err(crate_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_file() && (name == "Cargo.toml" || name == "build.rs" || name.ends_with(".json"))
        {
            add(&name, &path)?;
        }
    }
    fn walk(
        dir: &Path,
        rel: &str,
        add: &mut dyn FnMut(&str, &Path) -> Result<(), PackageError>,
    ) -> Result<(), PackageError> {
        for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let child = format!("{rel}/{name}");
            if path.is_dir() {
                walk(&path, &child, add)?;
            } else if path.is_file() {
                add(&child, &path)?;
            }
        }
        Ok(())
    }
    let src = crate_dir.join("src");
    if src.is_dir() {
        walk(&src, "src", &mut add)?;
    }
    Ok(())
}

/// Writes a deterministic `tar.gz` of `entries` (path, bytes,
/// executable), in the order given.
///
/// Exposed for tests and tools that need to craft archives (e.g. to check
/// that a tampered one is refused); [`build`] is the way to make a
/// package.
pub fn write_archive<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8], bool)>) -> Vec<u8> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::new(6));
    let mut tar = tar::Builder::new(gz);
    for (path, bytes, executable) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(if executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        // Empty names: writing into a Vec cannot fail.
        header.set_username("").expect("an empty name fits");
        header.set_groupname("").expect("an empty name fits");
        tar.append_data(&mut header, path, bytes)
            .expect("writing to memory does not fail");
    }
    let gz = tar.into_inner().expect("writing to memory does not fail");
    gz.finish().expect("writing to memory does not fail")
}

/// Runs `cargo build --release --lib` in `crate_dir` and returns the
/// cdylib cargo reports for the crate's own package.
fn cargo_build(crate_dir: &Path, target: Option<&str>) -> Result<PathBuf, PackageError> {
    let manifest_path = crate_dir.join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate_dir)
        .args([
            "build",
            "--release",
            "--lib",
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&manifest_path);
    if let Some(target) = target {
        cmd.args(["--target", target]);
    }
    let out = cmd.output().map_err(|e| PackageError::Cargo {
        crate_dir: crate_dir.to_owned(),
        message: format!("could not run cargo: {e}"),
    })?;
    if !out.status.success() {
        return Err(PackageError::Cargo {
            crate_dir: crate_dir.to_owned(),
            message: format!(
                "`cargo build --release --lib` exited with {}:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    let manifest_path = manifest_path
        .canonicalize()
        .map_err(io_err(&manifest_path))?;
    let mut found = None;
    for line in out.stdout.split(|b| *b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let ours = msg["manifest_path"]
            .as_str()
            .and_then(|p| Path::new(p).canonicalize().ok())
            .is_some_and(|p| p == manifest_path);
        let cdylib = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
        if !ours || !cdylib {
            continue;
        }
        let suffix = std::env::consts::DLL_SUFFIX;
        found = msg["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(suffix))
            .map(PathBuf::from);
    }
    found.ok_or_else(|| PackageError::NoLibrary {
        crate_dir: crate_dir.to_owned(),
    })
}

/// The lockfile of the crate at `crate_dir`: its workspace root's
/// `Cargo.lock` (asked of `cargo locate-project --workspace`), or the
/// nearest `Cargo.lock` walking up from `crate_dir` if cargo cannot say.
fn find_lockfile(crate_dir: &Path) -> Option<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let located = Command::new(cargo)
        .current_dir(crate_dir)
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()));
    if let Some(lock) = located
        .as_deref()
        .and_then(Path::parent)
        .map(|root| root.join(LOCKFILE))
        .filter(|lock| lock.is_file())
    {
        return Some(lock);
    }
    crate_dir
        .ancestors()
        .map(|dir| dir.join(LOCKFILE))
        .find(|lock| lock.is_file())
}

/// An opened, fully verified package, held in memory.
#[derive(Debug, Clone)]
pub struct Package {
    origin: String,
    sha256: String,
    size: u64,
    file_list: FileList,
    manifest: Manifest,
    /// The decompressed tar stream, kept whole: entries are ranges of it,
    /// not copies.
    tar: Vec<u8>,
    entries: BTreeMap<String, std::ops::Range<usize>>,
}

impl Package {
    /// Reads and verifies the package file at `path`.
    ///
    /// # Errors
    ///
    /// [`PackageError::Io`], or any verification error of
    /// [`Package::from_bytes`] with the path as origin.
    pub fn open(path: &Path) -> Result<Package, PackageError> {
        let file = std::fs::File::open(path).map_err(io_err(path))?;
        let origin = path.display().to_string();
        let mut bytes = Vec::new();
        file.take(MAX_ARCHIVE_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err(path))?;
        if bytes.len() as u64 > MAX_ARCHIVE_SIZE {
            let size = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
            return Err(PackageError::TooLarge {
                origin,
                size,
                limit: MAX_ARCHIVE_SIZE,
            });
        }
        Package::from_bytes(bytes, &origin)
    }

    /// Verifies the package archive `bytes`; `origin` names it in errors
    /// (a path, a URL).
    ///
    /// # Errors
    ///
    /// One [`PackageError`] variant per check: [`TooLarge`],
    /// [`TooManyEntries`], [`EntryTooLarge`], [`Corrupt`], [`NotAFile`],
    /// [`UnsafePath`], [`DuplicateEntry`], [`MissingFileList`],
    /// [`InvalidFileList`], [`MissingEntry`], [`UnlistedEntry`],
    /// [`SizeMismatch`], [`DigestMismatch`], [`MissingManifest`],
    /// [`InvalidManifest`], [`IdentityMismatch`], [`BadLibrary`],
    /// [`ManifestMismatch`].
    ///
    /// [`TooLarge`]: PackageError::TooLarge
    /// [`TooManyEntries`]: PackageError::TooManyEntries
    /// [`EntryTooLarge`]: PackageError::EntryTooLarge
    /// [`Corrupt`]: PackageError::Corrupt
    /// [`NotAFile`]: PackageError::NotAFile
    /// [`UnsafePath`]: PackageError::UnsafePath
    /// [`DuplicateEntry`]: PackageError::DuplicateEntry
    /// [`MissingFileList`]: PackageError::MissingFileList
    /// [`InvalidFileList`]: PackageError::InvalidFileList
    /// [`MissingEntry`]: PackageError::MissingEntry
    /// [`UnlistedEntry`]: PackageError::UnlistedEntry
    /// [`SizeMismatch`]: PackageError::SizeMismatch
    /// [`DigestMismatch`]: PackageError::DigestMismatch
    /// [`MissingManifest`]: PackageError::MissingManifest
    /// [`InvalidManifest`]: PackageError::InvalidManifest
    /// [`IdentityMismatch`]: PackageError::IdentityMismatch
    /// [`BadLibrary`]: PackageError::BadLibrary
    /// [`ManifestMismatch`]: PackageError::ManifestMismatch
    pub fn from_bytes(bytes: Vec<u8>, origin: &str) -> Result<Package, PackageError> {
        Package::from_bytes_with_digest(&bytes, None, origin)
    }

    /// [`Package::from_bytes`] for bytes whose sha256 the caller has
    /// already checked (the registry client, against the signed metadata),
    /// so they are not hashed a second time.
    pub(crate) fn from_bytes_with_digest(
        bytes: &[u8],
        sha256: Option<String>,
        origin: &str,
    ) -> Result<Package, PackageError> {
        let parts = Package::structure(bytes, sha256, origin)?;
        check_digests(&parts.origin, &parts.file_list, |p| parts.entry(p))?;
        parts.manifests()
    }

    /// Decompresses and walks the archive, and checks its file list
    /// against its entries: every entry listed with its size, every
    /// listed entry present. The entries' digests are checked by
    /// [`check_digests`], the manifests by [`Parts::manifests`].
    fn structure(
        bytes: &[u8],
        sha256: Option<String>,
        origin: &str,
    ) -> Result<Parts, PackageError> {
        let size = bytes.len() as u64;
        if size > MAX_ARCHIVE_SIZE {
            return Err(PackageError::TooLarge {
                origin: origin.to_owned(),
                size,
                limit: MAX_ARCHIVE_SIZE,
            });
        }
        let sha256 = sha256.unwrap_or_else(|| sha256_hex(bytes));
        let (tar, entries) = unpack(bytes, origin)?;
        let list_bytes = entries
            .get(FILE_LIST)
            .map(|r| &tar[r.clone()])
            .ok_or_else(|| PackageError::MissingFileList {
                origin: origin.to_owned(),
            })?;
        let file_list = parse_file_list_in(list_bytes, origin)?;
        let listed: BTreeMap<&str, &FileEntry> = file_list
            .files
            .iter()
            .map(|f| (f.path.as_str(), f))
            .collect();
        for (path, range) in &entries {
            if path == FILE_LIST {
                continue;
            }
            let Some(file) = listed.get(path.as_str()) else {
                return Err(PackageError::UnlistedEntry {
                    origin: origin.to_owned(),
                    entry: path.clone(),
                });
            };
            if file.size != range.len() as u64 {
                return Err(PackageError::SizeMismatch {
                    origin: origin.to_owned(),
                    entry: path.clone(),
                    listed: file.size,
                    actual: range.len() as u64,
                });
            }
        }
        if let Some(missing) = file_list
            .files
            .iter()
            .find(|f| !entries.contains_key(&f.path))
        {
            return Err(PackageError::MissingEntry {
                origin: origin.to_owned(),
                entry: missing.path.clone(),
            });
        }
        Ok(Parts {
            origin: origin.to_owned(),
            sha256,
            size,
            file_list,
            tar,
            entries,
        })
    }

    /// What the package was opened from (its path or URL).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The plugin manifest (`manifest.json`, identical to every library's
    /// sharelife record).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The parsed `sharelife-package.json`.
    pub fn file_list(&self) -> &FileList {
        &self.file_list
    }

    /// The libraries: `(target triple, path in the archive, bytes)`.
    pub fn libraries(&self) -> impl Iterator<Item = (&str, &str, &[u8])> {
        self.file_list.libraries.iter().map(|lib| {
            (
                lib.target.as_str(),
                lib.path.as_str(),
                self.entry(&lib.path).expect("every listed entry exists"),
            )
        })
    }

    /// The bytes of the entry at `path`, if the package has one.
    pub fn entry(&self, path: &str) -> Option<&[u8]> {
        self.entries.get(path).map(|r| &self.tar[r.clone()])
    }

    /// The sha256 (hex) of entry `path`, as its file list gives it (every
    /// entry was checked against it when the package was opened).
    pub fn entry_sha256(&self, path: &str) -> Option<&str> {
        self.file_list
            .files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.sha256.as_str())
    }

    /// The README, if the package has one and it is UTF-8.
    pub fn readme(&self) -> Option<&str> {
        self.entry(README).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The plugin's `Cargo.lock`, if the package has one and it is UTF-8.
    pub fn lockfile(&self) -> Option<&str> {
        self.entry(LOCKFILE)
            .and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The archive's sha256, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The archive's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The package's canonical file name, `{id}-{version}.slpkg`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.{EXTENSION}", self.manifest.id, self.manifest.version)
    }
}

/// A package opened from archive bytes whose sha256 the caller checked
/// against signed metadata
/// ([`Client::fetch_pinned`](crate::Client::fetch_pinned)): its structure
/// and manifests are checked, its entries' digests not yet. Its bytes may
/// be staged while [`check_digests`](Self::check_digests) runs (both only
/// borrow it, so on two threads); the [`Package`] comes only from
/// [`into_checked`](Self::into_checked) with that check's proof.
#[derive(Debug)]
pub struct UncheckedPackage {
    package: Package,
    /// Made from a [`Package`], whose digests were checked when it was
    /// opened: [`check_digests`](Self::check_digests) does not hash them
    /// again.
    checked: bool,
}

/// Proof that an [`UncheckedPackage`]'s entries matched their digests.
#[derive(Debug)]
#[must_use]
pub struct DigestsChecked {
    archive: String,
}

impl UncheckedPackage {
    /// Opens archive `bytes` whose sha256 is `sha256` (checked by the
    /// caller), checking all but the entries' digests.
    pub(crate) fn open(bytes: &[u8], sha256: String, origin: &str) -> Result<Self, PackageError> {
        Package::structure(bytes, Some(sha256), origin)?
            .manifests()
            .map(|package| UncheckedPackage {
                package,
                checked: false,
            })
    }

    /// Opens archive `bytes` (hashing them), checking all but the
    /// entries' digests; `origin` names it in errors.
    ///
    /// # Errors
    ///
    /// Every error of [`Package::from_bytes`] but
    /// [`PackageError::DigestMismatch`].
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self, PackageError> {
        UncheckedPackage::open(bytes, sha256_hex(bytes), origin)
    }

    /// The plugin manifest (checked against every library's).
    pub fn manifest(&self) -> &Manifest {
        &self.package.manifest
    }

    /// The archive's sha256, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.package.sha256
    }

    /// The library for target `triple`: its path in the archive, its
    /// bytes (not yet checked against its digest) and the digest its file
    /// list gives.
    pub fn library(&self, triple: &str) -> Option<(&str, &[u8], &str)> {
        let (_, path, bytes) = self.package.libraries().find(|(t, _, _)| *t == triple)?;
        Some((path, bytes, self.package.entry_sha256(path)?))
    }

    /// Checks every entry against the digest its file list gives.
    ///
    /// # Errors
    ///
    /// [`PackageError::DigestMismatch`] naming the first entry that
    /// differs.
    pub fn check_digests(&self) -> Result<DigestsChecked, PackageError> {
        let p = &self.package;
        if !self.checked {
            check_digests(&p.origin, &p.file_list, |path| p.entry(path))?;
        }
        Ok(DigestsChecked {
            archive: self.package.sha256.clone(),
        })
    }

    /// The checked package.
    ///
    /// # Panics
    ///
    /// When `proof` comes from another package's check.
    pub fn into_checked(self, proof: DigestsChecked) -> Package {
        assert_eq!(
            proof.archive, self.package.sha256,
            "a digest check of another package"
        );
        self.package
    }
}

impl From<Package> for UncheckedPackage {
    /// A checked package, to be handled like one that is not; its
    /// digests were checked when it was opened, and are not hashed again.
    fn from(package: Package) -> Self {
        UncheckedPackage {
            package,
            checked: true,
        }
    }
}

/// A package archive walked and checked against its file list, its
/// manifests not yet read.
struct Parts {
    origin: String,
    sha256: String,
    size: u64,
    file_list: FileList,
    tar: Vec<u8>,
    entries: BTreeMap<String, std::ops::Range<usize>>,
}

impl Parts {
    fn entry(&self, path: &str) -> Option<&[u8]> {
        self.entries.get(path).map(|r| &self.tar[r.clone()])
    }

    /// Reads `manifest.json` and checks it against the file list's
    /// identity and every library's sharelife record.
    fn manifests(self) -> Result<Package, PackageError> {
        let origin = self.origin.as_str();
        let manifest_bytes = self
            .entry(MANIFEST)
            .ok_or_else(|| PackageError::MissingManifest {
                origin: origin.to_owned(),
            })?;
        let manifest_json =
            std::str::from_utf8(manifest_bytes).map_err(|e| PackageError::InvalidManifest {
                origin: origin.to_owned(),
                source: Box::new(ManifestError::Syntax {
                    line: 1,
                    column: 1,
                    message: e.to_string(),
                }),
            })?;
        let manifest =
            Manifest::from_json(manifest_json).map_err(|source| PackageError::InvalidManifest {
                origin: origin.to_owned(),
                source: Box::new(source),
            })?;
        let file_list = &self.file_list;
        if manifest.id.to_string() != file_list.id || manifest.version != file_list.version {
            return Err(PackageError::IdentityMismatch {
                origin: origin.to_owned(),
                listed: format!("{}@{}", file_list.id, file_list.version),
                manifest: format!("{}@{}", manifest.id, manifest.version),
            });
        }
        for lib in &file_list.libraries {
            let bytes = self.entry(&lib.path).expect("every listed entry exists");
            let read =
                library_manifest(bytes, &lib.path).map_err(|source| PackageError::BadLibrary {
                    origin: origin.to_owned(),
                    entry: lib.path.clone(),
                    source: Box::new(source),
                })?;
            if read.to_json() != manifest_json {
                return Err(PackageError::ManifestMismatch {
                    origin: origin.to_owned(),
                    entry: lib.path.clone(),
                });
            }
        }
        Ok(Package {
            origin: self.origin,
            sha256: self.sha256,
            size: self.size,
            file_list: self.file_list,
            manifest,
            tar: self.tar,
            entries: self.entries,
        })
    }
}

/// Checks every listed entry's bytes against its sha256.
fn check_digests<'a>(
    origin: &str,
    file_list: &FileList,
    entry: impl Fn(&str) -> Option<&'a [u8]>,
) -> Result<(), PackageError> {
    for file in &file_list.files {
        let data = entry(&file.path).ok_or_else(|| PackageError::MissingEntry {
            origin: origin.to_owned(),
            entry: file.path.clone(),
        })?;
        let actual = sha256_hex(data);
        if actual != file.sha256 {
            return Err(PackageError::DigestMismatch {
                origin: origin.to_owned(),
                entry: file.path.clone(),
                listed: file.sha256.clone(),
                actual,
            });
        }
    }
    Ok(())
}

/// Reads a `tar.gz` written by [`write_archive`] with the checks a
/// package gets (regular files only, safe relative UTF-8 paths, no
/// duplicates, size and entry limits), and checks that it is *canonical*:
/// writing its entries again in path order gives back exactly `bytes`. So
/// a changed byte anywhere (a header field, padding, trailing data) is
/// refused, not only one inside an entry. For other archive formats built
/// on the same writer (extension packs).
pub fn read_canonical_archive(
    bytes: &[u8],
    origin: &str,
) -> Result<BTreeMap<String, Vec<u8>>, PackageError> {
    let (tar, entries) = unpack(bytes, origin)?;
    let entries: BTreeMap<String, Vec<u8>> = entries
        .into_iter()
        .map(|(path, range)| (path, tar[range].to_vec()))
        .collect();
    let again = write_archive(
        entries
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice(), false)),
    );
    if again != bytes {
        return Err(PackageError::Corrupt {
            origin: origin.to_owned(),
            source: std::io::Error::other(
                "the archive is not in its canonical form (a byte outside the entries was changed, or it was not written by sharelife)",
            ),
        });
    }
    Ok(entries)
}

/// Decompresses a whole gzip archive in one call (libdeflate: about
/// twice as fast as a streaming inflate, and the archive is in memory
/// anyway). The output is sized by the gzip trailer's length field and
/// bounded by [`MAX_UNPACKED_SIZE`] (plus the tar headers' room) and by
/// deflate's largest ratio (1032:1) over the archive's own length, so a
/// small archive cannot make the reader allocate more; an allocation the
/// machine refuses is [`PackageError::TooLarge`]; an archive whose
/// trailer lies (libdeflate checks the length and the CRC-32) is corrupt.
fn gunzip(bytes: &[u8], origin: &str) -> Result<Vec<u8>, PackageError> {
    let corrupt = |reason: &str| PackageError::Corrupt {
        origin: origin.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason.to_owned()),
    };
    // The gzip magic, then room for at least the header and trailer.
    if bytes.len() < 18 || bytes[..2] != [0x1f, 0x8b] {
        return Err(corrupt("it is not a gzip archive"));
    }
    let trailer = &bytes[bytes.len() - 4..];
    let size = u64::from(u32::from_le_bytes(trailer.try_into().expect("four bytes")));
    if size > MAX_UNPACKED_SIZE + 64 * 1024 {
        return Err(PackageError::TooLarge {
            origin: origin.to_owned(),
            size,
            limit: MAX_UNPACKED_SIZE,
        });
    }
    // Deflate expands at most 1032:1 (a 258-byte match for each code of
    // at least two bits): a trailer claiming more than the stream can
    // hold lies, and is refused before anything is allocated for it.
    if size > (bytes.len() as u64).saturating_mul(1032) {
        return Err(corrupt(
            "its gzip trailer claims more than the compressed data can hold",
        ));
    }
    // An allocation the machine refuses is a refusal, not an abort.
    let size = usize::try_from(size).expect("bounded above");
    let mut out = Vec::new();
    if out.try_reserve_exact(size).is_err() {
        return Err(PackageError::TooLarge {
            origin: origin.to_owned(),
            size: size as u64,
            limit: MAX_UNPACKED_SIZE,
        });
    }
    out.resize(size, 0);
    match libdeflater::Decompressor::new().gzip_decompress(bytes, &mut out) {
        Ok(n) if n == out.len() => Ok(out),
        Ok(_) | Err(libdeflater::DecompressionError::InsufficientSpace) => Err(corrupt(
            "its gzip trailer does not give the decompressed size",
        )),
        Err(libdeflater::DecompressionError::BadData) => {
            Err(corrupt("it is not one valid gzip stream"))
        }
    }
}

/// An archive's entries as ranges of its decompressed tar stream.
type Unpacked = (Vec<u8>, BTreeMap<String, std::ops::Range<usize>>);

/// Decompresses the archive and walks its tar headers, checking limits,
/// entry types, paths and duplicates. Entries are not copied: each is the
/// range of the decompressed stream its header points at.
fn unpack(bytes: &[u8], origin: &str) -> Result<Unpacked, PackageError> {
    let corrupt = |source: std::io::Error| PackageError::Corrupt {
        origin: origin.to_owned(),
        source,
    };
    let tar = gunzip(bytes, origin)?;
    let mut archive = tar::Archive::new(std::io::Cursor::new(tar.as_slice()));
    let mut entries = BTreeMap::new();
    let mut unpacked: u64 = 0;
    // Seeking skips over each entry's data instead of reading it.
    for entry in archive.entries_with_seek().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        if entries.len() >= MAX_ENTRIES {
            return Err(PackageError::TooManyEntries {
                origin: origin.to_owned(),
                limit: MAX_ENTRIES,
            });
        }
        let raw_path = entry.path_bytes();
        let path = String::from_utf8_lossy(&raw_path).into_owned();
        if std::str::from_utf8(&raw_path).is_err() {
            return Err(PackageError::UnsafePath {
                origin: origin.to_owned(),
                entry: path,
                reason: "path is not UTF-8",
            });
        }
        // Regular files only: their data is contiguous (no sparse maps),
        // so it is exactly the range the header points at.
        let kind = entry.header().entry_type();
        if kind != tar::EntryType::Regular {
            return Err(PackageError::NotAFile {
                origin: origin.to_owned(),
                entry: path,
                kind: format!("{kind:?}"),
            });
        }
        check_path(&path).map_err(|reason| PackageError::UnsafePath {
            origin: origin.to_owned(),
            entry: path.clone(),
            reason,
        })?;
        let size = entry.size();
        if size > MAX_ARCHIVE_SIZE {
            return Err(PackageError::EntryTooLarge {
                origin: origin.to_owned(),
                entry: path,
                size,
                limit: MAX_ARCHIVE_SIZE,
            });
        }
        unpacked += size;
        if unpacked > MAX_UNPACKED_SIZE {
            return Err(PackageError::TooLarge {
                origin: origin.to_owned(),
                size: unpacked,
                limit: MAX_UNPACKED_SIZE,
            });
        }
        if entries.contains_key(&path) {
            return Err(PackageError::DuplicateEntry {
                origin: origin.to_owned(),
                entry: path,
            });
        }
        // A header whose data would run past the end of the stream is a
        // truncated archive (reading it would have hit the end too).
        let start = entry.raw_file_position();
        let range = start
            .checked_add(size)
            .filter(|end| *end <= tar.len() as u64)
            .map(|end| start as usize..end as usize)
            .ok_or_else(|| {
                corrupt(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("entry {path} runs past the end of the archive"),
                ))
            })?;
        entries.insert(path, range);
    }
    Ok((tar, entries))
}

/// Reads the `.sharelife` manifest of an in-memory library with the
/// loader's own reader ([`PluginFile::parse`]; no code of the library
/// runs).
fn library_manifest(bytes: &[u8], entry: &str) -> Result<Manifest, LoadError> {
    Ok(PluginFile::parse(bytes, entry)?.manifest().clone())
}

/// The host's own Rust target triple, from a table of the platforms
/// sharelife builds on (`"unknown"` elsewhere).
pub fn host_triple() -> &'static str {
    macro_rules! table {
        ($($triple:literal => $arch:literal, $os:literal, $env:literal;)*) => {{
            $(
                if cfg!(all(target_arch = $arch, target_os = $os, target_env = $env)) {
                    return $triple;
                }
            )*
        }};
    }
    table! {
        "x86_64-unknown-linux-gnu" => "x86_64", "linux", "gnu";
        "aarch64-unknown-linux-gnu" => "aarch64", "linux", "gnu";
        "x86_64-unknown-linux-musl" => "x86_64", "linux", "musl";
        "aarch64-unknown-linux-musl" => "aarch64", "linux", "musl";
        "i686-unknown-linux-gnu" => "x86", "linux", "gnu";
        "riscv64gc-unknown-linux-gnu" => "riscv64", "linux", "gnu";
        "x86_64-apple-darwin" => "x86_64", "macos", "";
        "aarch64-apple-darwin" => "aarch64", "macos", "";
        "x86_64-pc-windows-msvc" => "x86_64", "windows", "msvc";
        "aarch64-pc-windows-msvc" => "aarch64", "windows", "msvc";
        "x86_64-pc-windows-gnu" => "x86_64", "windows", "gnu";
        "x86_64-unknown-freebsd" => "x86_64", "freebsd", "";
    }
    "unknown"
}
