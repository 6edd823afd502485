use std::fs::File;
use std::path::{Path, PathBuf};

use object::elf::{FileHeader32, FileHeader64, NT_GNU_BUILD_ID};
use object::read::ReadCache;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
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
    /// The ABI layout fingerprint the `#[plugin]` macro wrote into the
    /// record at build time, when it did.
    pub(super) layout_fingerprint: Option<Vec<u8>>,
    /// What the read saw of the file it read. `None` for a library parsed
    /// from memory or described.
    pub(super) read_as: Option<ReadAs>,
}

/// What [`PluginFile::read`] saw of the file it read, through its own
/// descriptor: the file that was read, whatever the path names later.
#[derive(Debug, Clone)]
pub(crate) struct ReadAs {
    /// The file's metadata (`fstat` of the descriptor): its identity.
    pub(crate) metadata: std::fs::Metadata,
    /// The file's real path, when the open proved the path it was given
    /// to be one: absolute, without `..`, and opened with no symlink
    /// followed on the way (see [`open_for_read`]). `None` otherwise: the
    /// path may go through symlinks, and who needs the real path resolves
    /// it (`realpath`).
    pub(crate) real_path: Option<PathBuf>,
}

impl PluginFile {
    /// Reads the manifest of the library at `path` from the record
    /// `#[plugin]` wrote into it (see [`section`]), without loading the
    /// library. Only the file's headers and the record are read: on ELF,
    /// usually the file's first page alone.
    ///
    /// # Errors
    ///
    /// [`LoadError::Io`], [`LoadError::NotALibrary`],
    /// [`LoadError::Malformed`], [`LoadError::NotAPlugin`],
    /// [`LoadError::BadRecord`] or [`LoadError::InvalidManifest`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref().to_owned();
        let (file, real_path) = open_for_read(&path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source: source.into(),
        })?;
        // From the descriptor, before the read: the length proves the file
        // whole (in place of a read of its last byte), and the metadata is
        // the identity of the file read: one replaced at `path` later is
        // another file, and a host's generation sync sees it as one.
        let metadata = file.metadata().map_err(|source| LoadError::Io {
            path: path.clone(),
            source: source.into(),
        })?;
        // The common case first: an ELF library read with a handful of
        // positioned reads (`pread`), each part once.
        #[cfg(unix)]
        let direct = read_elf_direct(&file, &path, metadata.len());
        #[cfg(not(unix))]
        let direct = None;
        let (bytes, build_id) = match direct {
            Some(found) => found?,
            None => read_section(&ReadCache::new(file), &path)?,
        };
        Ok(PluginFile {
            read_as: Some(ReadAs {
                metadata,
                real_path,
            }),
            ..Self::from_section(&bytes, build_id, path)?
        })
    }

    /// Reads the manifest of a library held in memory (an entry of a
    /// package), exactly as [`read`](Self::read) reads a file; `path`
    /// names it in errors and is where it would be opened from. No code of
    /// the library runs.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), except [`LoadError::Io`].
    pub fn parse(bytes: &[u8], path: impl Into<PathBuf>) -> Result<Self, LoadError> {
        let path = path.into();
        let (section, build_id) = read_section(bytes, &path)?;
        Self::from_section(&section, build_id, path)
    }

    fn from_section(
        bytes: &[u8],
        build_id: Option<Vec<u8>>,
        path: PathBuf,
    ) -> Result<Self, LoadError> {
        let record = section::decode(bytes).map_err(|source| LoadError::BadRecord {
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
            .into_manifest()
            .map_err(|source| LoadError::InvalidManifest {
                path: path.clone(),
                source,
            })?;
        Ok(PluginFile {
            manifest,
            manifest_json: record.manifest_json.to_owned(),
            entry_symbol: record.entry_symbol.to_owned(),
            build_id,
            layout_fingerprint: record.layout_fingerprint.map(<[u8]>::to_vec),
            path,
            read_as: None,
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
            layout_fingerprint: None,
            path: path.into(),
            read_as: None,
        }
    }

    /// What the read saw of the file (from its own descriptor); `None`
    /// for a library parsed from memory or described.
    pub(crate) fn read_as(&self) -> Option<&ReadAs> {
        self.read_as.as_ref()
    }

    /// The exported symbol of the plugin's header, as the record names it.
    pub fn entry_symbol(&self) -> &str {
        &self.entry_symbol
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ABI layout fingerprint the `#[plugin]` macro wrote into the
    /// library's record at build time, if it carries one.
    pub fn layout_fingerprint(&self) -> Option<&[u8]> {
        self.layout_fingerprint.as_deref()
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

/// Opens `path` to read a library's record, and says whether `path` is
/// the file's real path.
///
/// On Linux, a path that is absolute and has no `..` is opened first with
/// `openat2(RESOLVE_NO_SYMLINKS)`: if that succeeds, no component of the
/// path is a symlink, so the path (with `.` and repeated separators
/// dropped) is the real path of the file opened, known with no system
/// call of its own. A host needs it for every library it loads (the
/// generation sync matches files by real path), and `realpath` finds it
/// with a `readlink` per component: 3–5 µs of a ~120 µs `Host::load` on
/// the VMs we measure on. Any other path, or a refusal (a symlink on the way,
/// a kernel without `openat2`, a filter that denies it), opens the file
/// as [`File::open`] does, and the real path is left to who needs it.
pub(crate) fn open_for_read(path: &Path) -> std::io::Result<(File, Option<PathBuf>)> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some((file, real)) = open_without_symlinks(path) {
        return Ok((file, Some(real)));
    }
    Ok((File::open(path)?, None))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn open_without_symlinks(path: &Path) -> Option<(File, PathBuf)> {
    use std::path::Component;
    use std::sync::atomic::{AtomicBool, Ordering};

    use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, openat2};
    use rustix::io::Errno;

    /// Set once `openat2` was refused as a call (`ENOSYS`, or `EPERM` from
    /// a seccomp filter): later reads go straight to `open`.
    static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

    let mut components = path.components();
    if components.next() != Some(Component::RootDir)
        || !components
            .clone()
            .all(|c| matches!(c, Component::Normal(_)))
        || UNAVAILABLE.load(Ordering::Relaxed)
    {
        return None;
    }
    match openat2(
        CWD,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS,
    ) {
        Ok(fd) => Some((File::from(fd), path.components().collect())),
        Err(Errno::NOSYS | Errno::PERM) => {
            UNAVAILABLE.store(true, Ordering::Relaxed);
            None
        }
        Err(_) => None,
    }
}

fn read_section<'a, R: object::ReadRef<'a>>(
    cache: R,
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
        FileKind::Elf64 => read_elf::<FileHeader64<Endianness>, R>(cache, path),
        FileKind::Elf32 => read_elf::<FileHeader32<Endianness>, R>(cache, path),
        FileKind::MachO32 | FileKind::MachO64 | FileKind::Pe32 | FileKind::Pe64 => {
            read_other(cache, path, kind)
        }
        other => Err(not_a_library(format!("it is a {other:?} file"))),
    }
}

/// A library's record (as [`section::decode`] takes it) and its build id.
#[cfg(unix)]
type Found = (Vec<u8>, Option<Vec<u8>>);

/// [`read_section`] for a 64-bit little-endian ELF file, in positioned
/// reads, by the same rule as the general reader: the records in the
/// `PT_NOTE` segments, else the bare `.sharelife` section. A library built
/// by this SDK takes one read: the first page, which holds the file
/// header, the program headers and, right after them, the `PT_NOTE`
/// segment with the record's note and the build id; the file's length
/// (`len`, from the caller's `fstat` of `file`) proves the file whole. A
/// library whose record is the bare `.sharelife` section (built before
/// the record moved into a note) takes the section path instead: the
/// section header table, the section names and the section. `None` (use the general
/// reader) when the file is not such a file, holds no record where this
/// reader looks (a file that is not a plugin: the general reader says
/// so), or is not laid out the usual way (extended section numbering,
/// misaligned table, no build-id section of its own name, a size past a
/// cap); a `Some` error only for a file the general reader would refuse
/// too.
///
/// The general reader goes through `object`'s `ReadCache`, which reads
/// each section's name from the file with its own `read` and `lseek`: most
/// of the ~35 µs `PluginFile::read` took, more than a third of a `dlopen`.
#[cfg(unix)]
fn read_elf_direct(file: &File, path: &Path, len: u64) -> Option<Result<Found, LoadError>> {
    use object::elf::{FileHeader64, SHT_NOBITS, SHT_NOTE};
    use object::pod;
    use object::read::StringTable;
    use object::read::elf::{NoteIterator, SectionTable};
    use std::os::unix::fs::FileExt;

    type Elf = FileHeader64<Endianness>;
    type Header = object::elf::SectionHeader64<Endianness>;

    // Sizes come from the file: a forged one must not make the host
    // allocate without bound (an allocation failure aborts). Everything
    // read here is small (a few KiB; the section table of the largest
    // library is under a MiB), so a size over this cap sends the file to
    // the general reader instead of a `stat` for the file's length. A size
    // under the cap that runs past the end fails the read the same way.
    const MAX_READ: u64 = 16 << 20;
    let at = |offset: u64, len: u64| -> Option<Vec<u8>> {
        if len > MAX_READ {
            return None;
        }
        let mut buf = vec![0; usize::try_from(len).ok()?];
        file.read_exact_at(&mut buf, offset).ok()?;
        Some(buf)
    };
    // The first page in one read: the file header, and in a linked
    // library the build-id note too (it sits right after the program
    // headers), which is then not read again.
    let mut first = [0_u8; 4096];
    let mut filled = 0;
    while filled < first.len() {
        match file.read_at(&mut first[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    let first = &first[..filled];
    let head = first.get(..64)?;
    let header = Elf::parse(head).ok()?;
    let endian = header.endian().ok()?;
    if !matches!(endian, Endianness::Little) || header.e_type(endian) != object::elf::ET_DYN {
        return None;
    }
    if let Some(found) = notes_in_first_page(header, endian, first, &at, path, len) {
        return Some(found);
    }
    // A library built before the record moved into a note: find its
    // `.sharelife` section through the section table.
    let count = usize::from(header.e_shnum.get(endian));
    let names_index = usize::from(header.e_shstrndx.get(endian).0);
    if count == 0
        || names_index == 0xffff // SHN_XINDEX: the index is elsewhere
        || usize::from(header.e_shentsize(endian)) != std::mem::size_of::<Header>()
    {
        return None;
    }
    // Read into `u64`s: section headers need 8-byte alignment.
    let mut table = vec![0_u64; count * std::mem::size_of::<Header>() / 8];
    file.read_exact_at(pod::bytes_of_slice_mut(&mut table), header.e_shoff(endian))
        .ok()?;
    let (headers, _) = pod::slice_from_bytes::<Header>(pod::bytes_of_slice(&table), count).ok()?;
    let names = headers.get(names_index)?;
    let names = at(names.sh_offset.get(endian), names.sh_size.get(endian))?;
    let sections = SectionTable::<Elf, &[u8]>::new(
        headers,
        StringTable::new(&names[..], 0, names.len() as u64),
    );
    let content = |h: &Header| {
        if h.sh_type.get(endian) == SHT_NOBITS {
            return None;
        }
        let (offset, len) = (h.sh_offset.get(endian), h.sh_size.get(endian));
        let end = offset.checked_add(len)?;
        if end <= filled as u64 {
            // Both are at most 4096 here.
            return Some(first[offset as usize..end as usize].to_vec());
        }
        at(offset, len)
    };
    // Neither: the general reader decides (a `.note.sharelife` section
    // whose note the program headers did not show, or not a plugin).
    let (_, record) = sections.section_by_name(endian, section::ELF_SECTION.as_bytes())?;
    let record = content(record)?;
    let (_, note) = sections.section_by_name(endian, b".note.gnu.build-id")?;
    if note.sh_type.get(endian) != SHT_NOTE {
        return None;
    }
    let bytes = content(note)?;
    let mut notes = NoteIterator::<Elf>::new(endian, note.sh_addralign.get(endian), &bytes).ok()?;
    let mut build_id = None;
    while let Ok(Some(note)) = notes.next() {
        if note.name() == b"GNU" && note.n_type(endian) == NT_GNU_BUILD_ID {
            build_id = Some(note.desc().to_vec());
        }
    }
    Some(Ok((record, build_id)))
}

/// The record and the build id from the library's `PT_NOTE` segments,
/// found through the program headers in the file's `first` page (where the
/// linker puts the notes too: nothing more is read then). `None` when the
/// program headers are not in the first page or no note is a record (a
/// library built before the record moved into a note).
#[cfg(unix)]
fn notes_in_first_page(
    header: &FileHeader64<Endianness>,
    endian: Endianness,
    first: &[u8],
    at: &dyn Fn(u64, u64) -> Option<Vec<u8>>,
    path: &Path,
    len: u64,
) -> Option<Result<Found, LoadError>> {
    use object::elf::{PT_LOAD, PT_NOTE};
    const ENTRY: usize = std::mem::size_of::<object::elf::ProgramHeader64<Endianness>>();
    let count = usize::from(header.e_phnum.get(endian));
    let start = usize::try_from(header.e_phoff.get(endian)).ok()?;
    if usize::from(header.e_phentsize.get(endian)) != ENTRY {
        return None;
    }
    let table = first.get(start..start.checked_add(count.checked_mul(ENTRY)?)?)?;
    // Little endian (checked by the caller); read by hand, the page has
    // no alignment to lend `object`'s header types.
    let u32_at = |e: &[u8], i: usize| u32::from_le_bytes(e[i..i + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |e: &[u8], i: usize| u64::from_le_bytes(e[i..i + 8].try_into().unwrap_or([0; 8]));
    let mut record: Option<Vec<u8>> = None;
    let mut build_id = None;
    // Where the file must reach: the end of the last segment `dlopen`
    // maps, and of the section table.
    let table_len =
        u64::from(header.e_shnum.get(endian)) * u64::from(header.e_shentsize.get(endian));
    let mut end_of_file = header.e_shoff.get(endian).checked_add(table_len)?;
    for entry in table.chunks_exact(ENTRY) {
        if u32_at(entry, 0) == PT_LOAD.0 {
            let end = u64_at(entry, 8).checked_add(u64_at(entry, 32))?;
            end_of_file = end_of_file.max(end);
        }
        if u32_at(entry, 0) != PT_NOTE.0 {
            continue;
        }
        let (offset, len, align) = (u64_at(entry, 8), u64_at(entry, 32), u64_at(entry, 48));
        let end = offset.checked_add(len)?;
        let read;
        let notes = match first.get(usize::try_from(offset).ok()?..usize::try_from(end).ok()?) {
            Some(notes) => notes,
            None => {
                read = at(offset, len)?;
                &read[..]
            }
        };
        let walked = section::for_each_note(notes, align, false, |name, kind, desc| {
            if kind == section::NOTE_TYPE && name == section::NOTE_NAME {
                record.get_or_insert_with(Vec::new).extend_from_slice(desc);
            } else if kind == NT_GNU_BUILD_ID.0 && name == b"GNU\0" {
                build_id = Some(desc.to_vec());
            }
        });
        if let Err(source) = walked {
            return Some(Err(LoadError::BadRecord {
                path: path.to_owned(),
                source,
            }));
        }
    }
    let record = record?;
    // A file cut short (a partial download) would map pages past its
    // end, which fault when touched: it must reach its last byte. The
    // general reader then says what is wrong with it.
    if end_of_file == 0 || end_of_file > len {
        return None;
    }
    Some(Ok((record, build_id)))
}

fn read_elf<'a, Elf: FileHeader<Endian = Endianness>, R: object::ReadRef<'a>>(
    cache: R,
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
    // The same rule as the direct reader's, so that the two never read
    // different records from one file: the notes of the `PT_NOTE`
    // segments (what the linker made of `.note.sharelife`), else the
    // bare `.sharelife` section.
    let mut data: Option<Vec<u8>> = None;
    for segment in header.program_headers(endian, cache).map_err(malformed)? {
        if segment.p_type(endian) != object::elf::PT_NOTE {
            continue;
        }
        let notes = segment
            .data(endian, cache)
            .map_err(|()| LoadError::Malformed {
                path: path.to_owned(),
                reason: "a note segment runs past the end of the file".to_owned(),
            })?;
        let align = segment.p_align(endian).into();
        let found = section::records_in_notes(notes, align, matches!(endian, Endianness::Big))
            .map_err(|source| LoadError::BadRecord {
                path: path.to_owned(),
                source,
            })?;
        if let Some(found) = found {
            data.get_or_insert_with(Vec::new).extend(found);
        }
    }
    let sections = header.sections(endian, cache).map_err(malformed)?;
    let data = match data {
        Some(data) => data,
        // A library built before the record moved into a note.
        None => sections
            .section_by_name(endian, section::ELF_SECTION.as_bytes())
            .ok_or_else(|| LoadError::NotAPlugin {
                path: path.to_owned(),
            })?
            .1
            .data(endian, cache)
            .map_err(malformed)?
            .to_vec(),
    };
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

fn read_other<'a, R: object::ReadRef<'a>>(
    cache: R,
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
        reason: format!("cannot read the sharelife section: {e}"),
    })?;
    Ok((
        data.to_vec(),
        object.build_id().ok().flatten().map(<[u8]>::to_vec),
    ))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn only_an_absolute_symlink_free_path_without_dot_dot_is_proved_real() {
        let root = std::env::temp_dir().join(format!("sharelife-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::fs::write(root.join("real/lib.so"), b"bytes").unwrap();
        std::os::unix::fs::symlink("real", root.join("link")).unwrap();
        std::os::unix::fs::symlink("lib.so", root.join("real/alias.so")).unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        let real = root.join("real/lib.so");
        let proved = |path: &Path| {
            let (mut file, real_path) = open_for_read(path).unwrap();
            // Whichever way it was opened, it is the file.
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            assert_eq!(bytes, b"bytes", "{}", path.display());
            real_path
        };
        let on_linux = |p: &Path| cfg!(target_os = "linux").then(|| p.to_owned());
        assert_eq!(proved(&real), on_linux(&real));
        // `.` and repeated separators are dropped from the real path.
        let dotted = PathBuf::from(format!("{}/.//real/./lib.so", root.display()));
        assert_eq!(proved(&dotted), on_linux(&real));
        // A symlinked folder, a symlink as the file, `..`, a relative
        // path: opened, and the real path left to `realpath`.
        assert_eq!(proved(&root.join("link/lib.so")), None);
        assert_eq!(proved(&root.join("real/alias.so")), None);
        assert_eq!(proved(&root.join("real/../real/lib.so")), None);
        // (Cargo runs a crate's tests in its folder.)
        assert_eq!(open_for_read(Path::new("Cargo.toml")).unwrap().1, None);
        // What cannot be opened fails as `File::open` does.
        let missing = open_for_read(&root.join("real/missing.so")).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
