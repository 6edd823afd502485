//! What a plugin library imports: the names of its undefined dynamic
//! symbols, read from the file without loading it (no code of the library
//! runs), and the roads around the gateway they open that its manifest
//! does not declare ([`roads::undeclared`], the registry scan's own
//! vocabulary). The host's `[sandbox] auto` rule runs such a library out
//! of process.
#![forbid(unsafe_code)]

use std::fs::File;
use std::path::Path;

use object::elf::{FileHeader32, FileHeader64, SHN_UNDEF, SHT_DYNSYM};
use object::read::elf::{FileHeader, SectionHeader, Sym};
use object::read::{ReadCache, ReadRef, StringTable};
use object::{Endianness, FileKind, Object};

use super::{LoadError, PluginFile};
use crate::manifest::roads::{self, Undeclared};

/// The longest dynamic symbol table (or its string table) read: far more
/// than any plugin has (a few KiB), so that a forged size is refused
/// rather than read.
const MAX_TABLE: u64 = 64 << 20;

impl PluginFile {
    /// The names of the dynamic symbols the library at [`path`](Self::path)
    /// imports (its undefined dynamic symbols, as `nm -D --undefined-only`
    /// lists them: without ELF version, without Mach-O's leading
    /// underscore), in the file's order. Only what is needed is read: for
    /// ELF, the file header, the section header table, the dynamic symbol
    /// table and its strings. No code of the library runs.
    ///
    /// # Errors
    ///
    /// [`LoadError::Io`] when the file cannot be opened,
    /// [`LoadError::NotALibrary`] or [`LoadError::Malformed`] when its
    /// imports cannot be read (no dynamic symbol table, a table past the
    /// end of the file or larger than 64 MiB...).
    pub fn imports(&self) -> Result<Vec<String>, LoadError> {
        imported_symbols(self.path())
    }

    /// The imports of a library held in memory (an entry of a package),
    /// read exactly as [`imports`](Self::imports) reads a file: the one
    /// reader the host's `[sandbox] auto` rule and the registry's scan
    /// share. `path` names it in errors.
    ///
    /// # Errors
    ///
    /// As [`imports`](Self::imports), except [`LoadError::Io`].
    pub fn parse_imports(bytes: &[u8], path: impl AsRef<Path>) -> Result<Vec<String>, LoadError> {
        symbols_in(bytes, path.as_ref())
    }

    /// The roads around the gateway this library's [`imports`](Self::imports)
    /// open that its manifest does not declare (a scan mismatch), by road;
    /// empty when there is none. Std's runtime imports on this platform
    /// ([`roads::HOST_TARGET`]) are never a mismatch.
    ///
    /// # Errors
    ///
    /// As [`imports`](Self::imports).
    pub fn undeclared_roads(&self) -> Result<Vec<Undeclared>, LoadError> {
        let symbols = self.imports()?;
        Ok(roads::undeclared(
            self.manifest(),
            roads::HOST_TARGET,
            symbols.iter().map(String::as_str),
        ))
    }
}

/// [`PluginFile::imports`] of the file at `path`.
fn imported_symbols(path: &Path) -> Result<Vec<String>, LoadError> {
    let file = File::open(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source: source.into(),
    })?;
    symbols_in(&ReadCache::new(file), path)
}

/// The imported symbols of the library in `data` (a file through a read
/// cache, or bytes in memory); `path` names it in errors.
fn symbols_in<'data, R: ReadRef<'data>>(data: R, path: &Path) -> Result<Vec<String>, LoadError> {
    let malformed = |reason: String| LoadError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let kind = FileKind::parse(data).map_err(|_| LoadError::NotALibrary {
        path: path.to_owned(),
        reason: "its format is not ELF, Mach-O or PE".into(),
    })?;
    match kind {
        FileKind::Elf64 => elf_imports::<FileHeader64<Endianness>, R>(data).map_err(malformed),
        FileKind::Elf32 => elf_imports::<FileHeader32<Endianness>, R>(data).map_err(malformed),
        FileKind::MachO32 | FileKind::MachO64 | FileKind::Pe32 | FileKind::Pe64 => {
            let macho = matches!(kind, FileKind::MachO32 | FileKind::MachO64);
            let object = object::File::parse(data).map_err(|e| malformed(format!("{e}")))?;
            let mut names = Vec::new();
            for import in object.imports().map_err(|e| malformed(format!("{e}")))? {
                let import = import.map_err(|e| malformed(format!("{e}")))?;
                let object::read::NameOrOrdinal::Name(name) = import.name() else {
                    continue;
                };
                let Ok(name) = std::str::from_utf8(name) else {
                    continue;
                };
                let name = if macho {
                    name.strip_prefix('_').unwrap_or(name)
                } else {
                    name
                };
                names.push(name.to_owned());
            }
            Ok(names)
        }
        other => Err(LoadError::NotALibrary {
            path: path.to_owned(),
            reason: format!("it is a {other:?} file"),
        }),
    }
}

/// The undefined symbols of an ELF file's dynamic symbol table (the
/// section of type `SHT_DYNSYM`), read with three reads past the header:
/// the section header table, the symbol table, its string table.
fn elf_imports<'data, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'data>>(
    cache: R,
) -> Result<Vec<String>, String> {
    let header = Elf::parse(cache).map_err(|e| e.to_string())?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    let headers = header
        .section_headers(endian, cache)
        .map_err(|e| e.to_string())?;
    let symtab = headers
        .iter()
        .find(|h| h.sh_type(endian) == SHT_DYNSYM)
        .ok_or("it has no dynamic symbol table")?;
    let strtab = usize::try_from(symtab.sh_link(endian))
        .ok()
        .and_then(|i| headers.get(i))
        .ok_or("its dynamic symbol table links no string table")?;
    let sizes: [u64; 2] = [symtab, strtab].map(|h| h.sh_size(endian).into());
    if sizes.iter().any(|size| *size > MAX_TABLE) {
        return Err(format!(
            "its dynamic symbol table ({} bytes) or its strings ({} bytes) are larger than {MAX_TABLE} bytes",
            sizes[0], sizes[1]
        ));
    }
    let symbols: &[Elf::Sym] = symtab
        .data_as_array(endian, cache)
        .map_err(|e| format!("its dynamic symbol table: {e}"))?;
    let strings = strtab
        .data(endian, cache)
        .map_err(|e| format!("its dynamic symbol names: {e}"))?;
    let strings = StringTable::new(strings, 0, strings.len() as u64);
    let mut names = Vec::new();
    for symbol in symbols {
        if symbol.st_shndx(endian) != SHN_UNDEF {
            continue;
        }
        let name = symbol
            .name(endian, strings)
            .map_err(|e| format!("a dynamic symbol's name: {e}"))?;
        // The first entry is the null symbol, with no name.
        if name.is_empty() {
            continue;
        }
        if let Ok(name) = std::str::from_utf8(name) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}
