//! The smallest ELF shared library the loader's file reader accepts: a
//! header, a `.sharelife` section, a GNU build-id note and the section
//! name table. No code, no program headers: the reader never maps it.

const SHT_PROGBITS: u32 = 1;
const SHT_STRTAB: u32 = 3;
const SHT_NOTE: u32 = 7;
const NT_GNU_BUILD_ID: u32 = 3;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;

/// An ELF64 little-endian shared library (`ET_DYN`) whose `.sharelife`
/// section holds `section` and whose GNU build-id note holds `build_id`.
pub fn elf_library(section: &[u8], build_id: &[u8]) -> Vec<u8> {
    let names = b"\0.sharelife\0.note.gnu.build-id\0.shstrtab\0";
    let (name_section, name_note, name_strtab) = (1u32, 12u32, 31u32);

    let mut out = vec![0u8; 64];
    let section_at = out.len();
    out.extend_from_slice(section);
    pad(&mut out, 8);

    let note_at = out.len();
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&len32(build_id).to_le_bytes());
    out.extend_from_slice(&NT_GNU_BUILD_ID.to_le_bytes());
    out.extend_from_slice(b"GNU\0");
    out.extend_from_slice(build_id);
    pad(&mut out, 4);
    let note_len = out.len() - note_at;

    let names_at = out.len();
    out.extend_from_slice(names);
    pad(&mut out, 8);

    let headers_at = out.len();
    out.extend_from_slice(&[0u8; 64]); // SHN_UNDEF
    for (name, kind, at, len, align) in [
        (name_section, SHT_PROGBITS, section_at, section.len(), 1u64),
        (name_note, SHT_NOTE, note_at, note_len, 4),
        (name_strtab, SHT_STRTAB, names_at, names.len(), 1),
    ] {
        out.extend_from_slice(&name.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // flags
        out.extend_from_slice(&0u64.to_le_bytes()); // addr
        out.extend_from_slice(&(at as u64).to_le_bytes());
        out.extend_from_slice(&(len as u64).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // link
        out.extend_from_slice(&0u32.to_le_bytes()); // info
        out.extend_from_slice(&align.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // entsize
    }

    let mut header = Vec::with_capacity(64);
    header.extend_from_slice(b"\x7fELF");
    header.extend_from_slice(&[2, 1, 1, 0]); // 64-bit, little-endian, v1, SysV
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&ET_DYN.to_le_bytes());
    header.extend_from_slice(&EM_X86_64.to_le_bytes());
    header.extend_from_slice(&1u32.to_le_bytes()); // version
    header.extend_from_slice(&0u64.to_le_bytes()); // entry
    header.extend_from_slice(&0u64.to_le_bytes()); // phoff
    header.extend_from_slice(&(headers_at as u64).to_le_bytes()); // shoff
    header.extend_from_slice(&0u32.to_le_bytes()); // flags
    header.extend_from_slice(&64u16.to_le_bytes()); // ehsize
    header.extend_from_slice(&56u16.to_le_bytes()); // phentsize
    header.extend_from_slice(&0u16.to_le_bytes()); // phnum
    header.extend_from_slice(&64u16.to_le_bytes()); // shentsize
    header.extend_from_slice(&4u16.to_le_bytes()); // shnum
    header.extend_from_slice(&3u16.to_le_bytes()); // shstrndx
    out[..64].copy_from_slice(&header);
    out
}

fn pad(out: &mut Vec<u8>, align: usize) {
    while !out.len().is_multiple_of(align) {
        out.push(0);
    }
}

fn len32(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len()).expect("a fuzz input is far below 4 GiB")
}
