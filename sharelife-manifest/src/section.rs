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

/// The section name on ELF targets.
pub const ELF_SECTION: &str = ".sharelife";
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
