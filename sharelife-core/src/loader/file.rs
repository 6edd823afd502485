use std::fs::File;
use std::path::{Path, PathBuf};

use object::elf::{FileHeader32, FileHeader64, NT_GNU_BUILD_ID};
use object::read::ReadCache;
use object::read::elf::{FileHeader, SectionHeader};
use object::{Endianness, FileKind, Object, ObjectKind, ObjectSection};

use super::{LoadError, host_api_version};
use crate::manifest::section;
use crate::manifest::{Manifest, RawManifest};

/// A plugin library file whose manifest has been read and validated, and
/// whose code has not been run.
#[derive(Debug, Clone)]
pub struct PluginFile {
    path: PathBuf,
    pub(super) manifest: Manifest,
    pub(super) manifest_json: String,
    pub(super) entry_symbol: String,
    /// The linker's build id, when the file has one: the key under which
    /// a passed layout check is remembered.
    pub(super) build_id: Option<Vec<u8>>,
}

impl PluginFile {
    /// Reads the manifest of the library at `path` from its `.sharelife`
    /// section, without loading the library. Only the file's headers and
    /// that section are read.
    ///
    /// # Errors
    ///
    /// [`LoadError::Io`], [`LoadError::NotALibrary`],
    /// [`LoadError::Malformed`], [`LoadError::NotAPlugin`],
    /// [`LoadError::BadRecord`] or [`LoadError::InvalidManifest`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref().to_owned();
        let file = File::open(&path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source: source.into(),
        })?;
        let cache = ReadCache::new(file);
        let (bytes, build_id) = read_section(&cache, &path)?;
        let record = section::decode(&bytes).map_err(|source| LoadError::BadRecord {
            path: path.clone(),
            source,
        })?;
        let raw: RawManifest =
            serde_json::from_str(record.manifest_json).map_err(|e| LoadError::InvalidManifest {
                path: path.clone(),
                source: crate::manifest::ManifestError::Syntax {
                    line: e.line(),
                    column: e.column(),
                    message: e.to_string(),
                },
            })?;
        let manifest = raw
            .validate()
            .map_err(|source| LoadError::InvalidManifest {
                path: path.clone(),
                source,
            })?;
        Ok(PluginFile {
            manifest,
            manifest_json: record.manifest_json.to_owned(),
            entry_symbol: record.entry_symbol.to_owned(),
            build_id,
            path,
        })
    }

    /// A library known only by its manifest, not (yet) on disk: an entry of
    /// a registry's index. The host's resolver takes these when an install
    /// is planned, so a plan resolves versions and dependencies exactly as
    /// a host would. Opening one fails (it has no entry symbol), whatever
    /// lies at `path`.
    pub fn described(path: impl Into<PathBuf>, manifest: Manifest) -> Self {
        PluginFile {
            manifest_json: manifest.to_json(),
            manifest,
            entry_symbol: String::new(),
            build_id: None,
            path: path.into(),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The linker's build id (hex), if the file carries one.
    pub fn build_id(&self) -> Option<String> {
        self.build_id.as_ref().map(hex::encode)
    }

    /// The validated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Checks that this host can run the plugin: its `api` range accepts
    /// this host's plugin API version, and it supports this platform.
    ///
    /// # Errors
    ///
    /// [`LoadError::IncompatibleApi`] or [`LoadError::UnsupportedPlatform`].
    pub fn check_compatible(&self) -> Result<(), LoadError> {
        let host = host_api_version();
        if !self.manifest.api.matches(&host) {
            return Err(LoadError::IncompatibleApi {
                path: self.path.clone(),
                id: self.manifest.id.to_string(),
                required: self.manifest.api.clone(),
                host,
            });
        }
        if !self.manifest.supports_current_platform() {
            return Err(LoadError::UnsupportedPlatform {
                path: self.path.clone(),
                id: self.manifest.id.to_string(),
                platforms: self.manifest.platforms.clone(),
                host: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
            });
        }
        Ok(())
    }
}

fn read_section(
    cache: &ReadCache<File>,
    path: &Path,
) -> Result<(Vec<u8>, Option<Vec<u8>>), LoadError> {
    let not_a_library = |reason: String| LoadError::NotALibrary {
        path: path.to_owned(),
        reason,
    };
    let kind = FileKind::parse(cache)
        .map_err(|_| not_a_library("its format is not ELF, Mach-O or PE".into()))?;
    match kind {
        // ELF is read by hand: only the header, the section table and the
        // two sections we need (the generic parser reads symbol tables).
        FileKind::Elf64 => read_elf::<FileHeader64<Endianness>>(cache, path),
        FileKind::Elf32 => read_elf::<FileHeader32<Endianness>>(cache, path),
        FileKind::MachO32 | FileKind::MachO64 | FileKind::Pe32 | FileKind::Pe64 => {
            read_other(cache, path, kind)
        }
        other => Err(not_a_library(format!("it is a {other:?} file"))),
    }
}

fn read_elf<Elf: FileHeader<Endian = Endianness>>(
    cache: &ReadCache<File>,
    path: &Path,
) -> Result<(Vec<u8>, Option<Vec<u8>>), LoadError> {
    let malformed = |e: object::read::Error| LoadError::Malformed {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let header = Elf::parse(cache).map_err(malformed)?;
    let endian = header.endian().map_err(malformed)?;
    if header.e_type(endian) != object::elf::ET_DYN {
        return Err(LoadError::NotALibrary {
            path: path.to_owned(),
            reason: format!(
                "it is an ELF file of type {}, not a shared library",
                header.e_type(endian)
            ),
        });
    }
    let sections = header.sections(endian, cache).map_err(malformed)?;
    let (_, section) = sections
        .section_by_name(endian, section::ELF_SECTION.as_bytes())
        .ok_or_else(|| LoadError::NotAPlugin {
            path: path.to_owned(),
        })?;
    let data = section.data(endian, cache).map_err(malformed)?.to_vec();
    let mut build_id = None;
    for header in sections
        .iter()
        .filter(|s| s.sh_type(endian) == object::elf::SHT_NOTE)
    {
        if let Ok(Some(mut notes)) = header.notes(endian, cache) {
            while let Ok(Some(note)) = notes.next() {
                if note.name() == b"GNU" && note.n_type(endian) == NT_GNU_BUILD_ID {
                    build_id = Some(note.desc().to_vec());
                }
            }
        }
    }
    Ok((data, build_id))
}

fn read_other(
    cache: &ReadCache<File>,
    path: &Path,
    kind: FileKind,
) -> Result<(Vec<u8>, Option<Vec<u8>>), LoadError> {
    let object = object::File::parse(cache).map_err(|e| LoadError::Malformed {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if object.kind() != ObjectKind::Dynamic {
        return Err(LoadError::NotALibrary {
            path: path.to_owned(),
            reason: format!(
                "it is an object of kind {:?}, not a shared library",
                object.kind()
            ),
        });
    }
    let name = match kind {
        FileKind::Pe32 | FileKind::Pe64 => section::PE_SECTION,
        _ => "__sharelife",
    };
    let section = object
        .section_by_name(name)
        .ok_or_else(|| LoadError::NotAPlugin {
            path: path.to_owned(),
        })?;
    let data = section.data().map_err(|e| LoadError::Malformed {
        path: path.to_owned(),
        reason: format!("cannot read the .sharelife section: {e}"),
    })?;
    Ok((
        data.to_vec(),
        object.build_id().ok().flatten().map(<[u8]>::to_vec),
    ))
}
