//! The record a plugin library carries in its `.sharelife` link section.
//!
//! ```text
//! magic "SHRLIFE1" | u32 LE symbol length | entry symbol | u32 LE JSON length | manifest JSON
//! magic "SHRLIFE2" | the same                                                | u32 LE length | layout fingerprint
//! ```
//!
//! The second form adds the fingerprint of the plugin's ABI layout that
//! the `#[plugin]` macro computed at build time (see
//! `sharelife_core`'s `abi::fingerprint`): a host whose own fingerprint
//! is the same skips abi_stable's structural layout comparison. A record
//! without one (the first form) gets the full comparison.
//!
//! The record is data, readable from the file without loading it, so a
//! host or the CLI learns a library's manifest — and the name of the symbol
//! its header is exported under — without running any of its code.
//!
//! On ELF targets the `#[plugin]` macro writes the record as the
//! descriptor of an ELF note named `sharelife` ([`NOTE_NAME`], type
//! [`NOTE_TYPE`]) in the section [`ELF_NOTE_SECTION`]. Linkers place note
//! sections in a `PT_NOTE` segment right after the program headers, so a
//! reader finds the record in the file's first page, with the build id,
//! instead of reading the section table, the section names and then the
//! section. Libraries built before carry the bare record in the section
//! [`ELF_SECTION`]; readers accept both.

/// The section name of the bare record on ELF targets (libraries built
/// before the record moved into a note, see [`ELF_NOTE_SECTION`]).
pub const ELF_SECTION: &str = ".sharelife";
/// The note section the record sits in on ELF targets: a section whose
/// name starts with `.note` is given the type `SHT_NOTE` by the compiler.
pub const ELF_NOTE_SECTION: &str = ".note.sharelife";
/// The name of the ELF note holding the record, with its terminating NUL.
pub const NOTE_NAME: &[u8; 10] = b"sharelife\0";
/// The type of the ELF note holding the record ("SHLF").
pub const NOTE_TYPE: u32 = 0x464c_4853;
/// The `segment,section` name on Mach-O targets.
pub const MACHO_SECTION: &str = "__DATA,__sharelife";
/// The section name on PE targets (at most 8 bytes).
pub const PE_SECTION: &str = ".shrlife";
/// The record's first bytes.
pub const MAGIC: &[u8; 8] = b"SHRLIFE1";
/// The first bytes of a record that carries a layout fingerprint.
pub const MAGIC_V2: &[u8; 8] = b"SHRLIFE2";

/// A decoded section record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionRecord<'a> {
    /// The exported symbol of the plugin's header.
    pub entry_symbol: &'a str,
    /// The manifest as JSON text.
    pub manifest_json: &'a str,
    /// The fingerprint of the ABI layout the library was built with, when
    /// its record carries one.
    pub layout_fingerprint: Option<&'a [u8]>,
}

/// Why a section's bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectionError {
    /// The bytes do not start with [`MAGIC`].
    #[error("the section does not start with the sharelife record magic")]
    BadMagic,
    /// A length runs past the end of the section.
    #[error("the section record is truncated")]
    Truncated,
    /// A text field is not UTF-8.
    #[error("the section record holds text that is not UTF-8")]
    NotUtf8,
    /// More than one record: several plugins linked into one library.
    #[error("the library holds {0} plugin records; a plugin library holds exactly one")]
    Several(usize),
    /// The record is followed by bytes that are neither zero padding nor
    /// another record.
    #[error("the section holds bytes after its record that are neither padding nor a record")]
    Trailing,
}

/// Encodes a record without a layout fingerprint.
pub fn encode(entry_symbol: &str, manifest_json: &str) -> Vec<u8> {
    encode_record(&SectionRecord {
        entry_symbol,
        manifest_json,
        layout_fingerprint: None,
    })
}

/// Encodes `record`: in the first form without a fingerprint, in the
/// second with one.
pub fn encode_record(record: &SectionRecord<'_>) -> Vec<u8> {
    let fingerprint = record.layout_fingerprint;
    let mut out = Vec::with_capacity(
        20 + record.entry_symbol.len()
            + record.manifest_json.len()
            + fingerprint.map_or(0, <[u8]>::len),
    );
    out.extend_from_slice(if fingerprint.is_some() {
        MAGIC_V2
    } else {
        MAGIC
    });
    let parts = [
        record.entry_symbol.as_bytes(),
        record.manifest_json.as_bytes(),
    ];
    for part in parts.into_iter().chain(fingerprint) {
        let len = u32::try_from(part.len()).expect("record parts are far below 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Decodes the one record in a section's bytes. Linkers may pad a section
/// with zeros; trailing zeros are ignored.
///
/// # Errors
///
/// [`SectionError`] saying what is wrong with the bytes.
pub fn decode(bytes: &[u8]) -> Result<SectionRecord<'_>, SectionError> {
    let (record, rest) = decode_one(bytes)?;
    let rest = trim_padding(rest);
    if !rest.is_empty() {
        let mut count = 1;
        let mut tail = rest;
        while let Ok((_, more)) = decode_one(tail) {
            count += 1;
            tail = trim_padding(more);
        }
        return Err(if count == 1 {
            SectionError::Trailing
        } else {
            SectionError::Several(count)
        });
    }
    Ok(record)
}

/// The length of the record at the start of `bytes` (what follows it is
/// not looked at).
///
/// # Errors
///
/// As [`decode`], for the record itself.
pub fn decode_prefix_len(bytes: &[u8]) -> Result<usize, SectionError> {
    let (_, rest) = decode_one(bytes)?;
    Ok(bytes.len() - rest.len())
}

/// The records among ELF notes (a note section's bytes, or a `PT_NOTE`
/// segment's), as [`decode`] takes them: the descriptors of the notes
/// named [`NOTE_NAME`] of type [`NOTE_TYPE`], one after the other (one per
/// plugin linked into the library). Other notes are skipped. `align` and
/// `big_endian` are as for [`for_each_note`]. `None` when no note is a
/// record.
///
/// # Errors
///
/// [`SectionError::Truncated`] when a note runs past the end of `notes`.
pub fn records_in_notes(
    notes: &[u8],
    align: u64,
    big_endian: bool,
) -> Result<Option<Vec<u8>>, SectionError> {
    let mut found: Option<Vec<u8>> = None;
    for_each_note(notes, align, big_endian, |name, kind, desc| {
        if kind == NOTE_TYPE && name == NOTE_NAME {
            found.get_or_insert_with(Vec::new).extend_from_slice(desc);
        }
    })?;
    Ok(found)
}

/// Calls `each` with the name (with its NUL), type and descriptor of each
/// ELF note in `notes`. `align` is the note section's or segment's
/// alignment: 8 pads each name and descriptor to 8 bytes, anything else to
/// 4, as ELF lays notes out. `big_endian` is the file's byte order.
///
/// # Errors
///
/// [`SectionError::Truncated`] when a note's sizes run past the end of
/// `notes` (the notes before it have been passed to `each`).
pub fn for_each_note(
    notes: &[u8],
    align: u64,
    big_endian: bool,
    mut each: impl FnMut(&[u8], u32, &[u8]),
) -> Result<(), SectionError> {
    let align = if align == 8 { 8 } else { 4 };
    let pad = |len: usize| len.checked_next_multiple_of(align);
    let word = |b: [u8; 4]| {
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let mut rest = notes;
    // A segment may end in padding shorter than a note header.
    while let Some((header, _)) = rest.split_first_chunk::<12>() {
        let field = |at: usize| word([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        let (namesz, descsz, kind) = (field(0) as usize, field(4) as usize, field(8));
        let name_end = pad(namesz)
            .and_then(|n| n.checked_add(12))
            .ok_or(SectionError::Truncated)?;
        let desc_end = name_end
            .checked_add(descsz)
            .ok_or(SectionError::Truncated)?;
        if desc_end > rest.len() {
            return Err(SectionError::Truncated);
        }
        each(&rest[12..12 + namesz], kind, &rest[name_end..desc_end]);
        let next = pad(desc_end).map_or(rest.len(), |n| n.min(rest.len()));
        rest = &rest[next..];
    }
    Ok(())
}

fn trim_padding(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn decode_one(bytes: &[u8]) -> Result<(SectionRecord<'_>, &[u8]), SectionError> {
    let (with_fingerprint, rest) = if let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) {
        (false, rest)
    } else if let Some(rest) = bytes.strip_prefix(MAGIC_V2.as_slice()) {
        (true, rest)
    } else {
        return Err(SectionError::BadMagic);
    };
    let (entry_symbol, rest) = take_str(rest)?;
    let (manifest_json, rest) = take_str(rest)?;
    let (layout_fingerprint, rest) = if with_fingerprint {
        let (fingerprint, rest) = take(rest)?;
        (Some(fingerprint), rest)
    } else {
        (None, rest)
    };
    Ok((
        SectionRecord {
            entry_symbol,
            manifest_json,
            layout_fingerprint,
        },
        rest,
    ))
}

fn take(bytes: &[u8]) -> Result<(&[u8], &[u8]), SectionError> {
    let (len, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or(SectionError::Truncated)?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(SectionError::Truncated);
    }
    Ok(rest.split_at(len))
}

fn take_str(bytes: &[u8]) -> Result<(&str, &[u8]), SectionError> {
    let (text, rest) = take(bytes)?;
    Ok((
        std::str::from_utf8(text).map_err(|_| SectionError::NotUtf8)?,
        rest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF note as the `#[plugin]` macro lays it out (little endian).
    fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(name);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(desc);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    #[test]
    fn the_record_is_found_among_other_notes() {
        let record = encode("sym", "{\"a\":1}");
        let mut notes = note(b"GNU\0", 3, &[0xab; 20]);
        notes.extend(note(NOTE_NAME, NOTE_TYPE, &record));
        notes.extend(note(b"other\0", NOTE_TYPE, b"not a record"));
        let found = records_in_notes(&notes, 4, false).unwrap().unwrap();
        assert_eq!(found, record);
        assert_eq!(decode(&found).unwrap().entry_symbol, "sym");
        // Notes without a record: none.
        assert_eq!(records_in_notes(&notes[..36], 4, false), Ok(None));
        // Two plugins' notes: both records, which `decode` refuses.
        notes.extend(note(NOTE_NAME, NOTE_TYPE, &record));
        let both = records_in_notes(&notes, 4, false).unwrap().unwrap();
        assert_eq!(decode(&both), Err(SectionError::Several(2)));
    }

    #[test]
    fn a_note_running_past_the_end_is_truncated() {
        let record = encode("sym", "{}");
        let notes = note(NOTE_NAME, NOTE_TYPE, &record);
        for cut in [13, 24, notes.len() - 4] {
            assert_eq!(
                records_in_notes(&notes[..cut], 4, false),
                Err(SectionError::Truncated),
                "cut at {cut}"
            );
        }
        // A forged size does not overflow.
        let mut forged = notes.clone();
        forged[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            records_in_notes(&forged, 4, false),
            Err(SectionError::Truncated)
        );
    }

    #[test]
    fn round_trips_and_ignores_linker_padding() {
        let mut bytes = encode("sym", "{\"a\":1}");
        bytes.extend_from_slice(&[0, 0, 0]);
        assert_eq!(
            decode(&bytes),
            Ok(SectionRecord {
                entry_symbol: "sym",
                manifest_json: "{\"a\":1}",
                layout_fingerprint: None,
            })
        );
    }

    #[test]
    fn a_fingerprint_makes_the_second_form_and_round_trips() {
        let record = SectionRecord {
            entry_symbol: "sym",
            manifest_json: "{}",
            layout_fingerprint: Some(&[7; 32]),
        };
        let mut bytes = encode_record(&record);
        assert!(bytes.starts_with(MAGIC_V2));
        bytes.extend_from_slice(&[0, 0]);
        assert_eq!(decode(&bytes), Ok(record.clone()));
        let cut = encode_record(&record);
        assert_eq!(decode(&cut[..cut.len() - 1]), Err(SectionError::Truncated));
        let without = SectionRecord {
            layout_fingerprint: None,
            ..record
        };
        assert_eq!(encode_record(&without), encode("sym", "{}"));
    }

    #[test]
    fn reports_each_malformation() {
        let good = encode("sym", "{}");
        assert_eq!(decode(b"NOTMAGIC"), Err(SectionError::BadMagic));
        assert_eq!(
            decode(&good[..good.len() - 1]),
            Err(SectionError::Truncated)
        );
        let mut two = good.clone();
        two.extend_from_slice(&good);
        assert_eq!(decode(&two), Err(SectionError::Several(2)));
        // Found by fuzzing: one record and garbage was "1 plugin records".
        let mut garbage = good.clone();
        garbage.push(b'x');
        assert_eq!(decode(&garbage), Err(SectionError::Trailing));
    }
}
