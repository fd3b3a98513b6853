//! Segment header (16 bytes) and trailer (48 bytes).

use crate::codec::bytes::Cursor;
use crate::error::{Error, ErrorKind, Result, Rule};
use xxhash_rust::xxh3::xxh3_64;

/// First and last 8 bytes of every segment file. The high first byte and the trailing
/// newline catch transfers that mangle binary files as text (as PNG's magic does).
pub const MAGIC: [u8; 8] = *b"\x89IOTSEG\n";
/// Newest format version this library reads and the one it writes.
pub const VERSION: u16 = crate::codec::FORMAT_VERSION.get();
/// Header size in bytes.
pub const HEADER_LEN: usize = 16;
/// Trailer size in bytes.
pub const TRAILER_LEN: usize = 48;
/// Largest decompressed footer this reader accepts.
pub const MAX_FOOTER_RAW: u64 = 256 << 20;

/// Footer stored as is.
pub const FOOTER_PLAIN: u8 = 0;
/// Footer stored as one zstd frame.
pub const FOOTER_ZSTD: u8 = 1;

fn check32(b: &[u8]) -> u32 {
    xxh3_64(b) as u32
}

/// Builds the header of a file of format `version` (writers use the lowest version
/// whose features the file uses, format.md §14).
pub fn write_header(version: u16) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&version.to_le_bytes());
    let c = check32(&h[..12]);
    h[12..16].copy_from_slice(&c.to_le_bytes());
    h
}

fn check_version(v: u16, at: u64) -> Result<()> {
    if v == 0 {
        return Err(Error::corrupt_rule(
            Rule::C(4),
            "format version 0",
            Some(at),
        ));
    }
    if v > VERSION {
        return Err(Error::new(ErrorKind::UnsupportedVersion {
            found: v,
            supported: VERSION,
        }));
    }
    Ok(())
}

/// Validates the header at the start of `file`.
///
/// # Errors
/// Truncated file, wrong magic, bad check value, unsupported version or non-zero flags.
pub fn read_header(file: &[u8]) -> Result<u16> {
    let mut c = Cursor::new(file);
    let h = c.take(HEADER_LEN, "segment header")?;
    if h[..8] != MAGIC {
        return Err(Error::corrupt_rule(
            Rule::C(2),
            "header magic does not match (not an iotarc segment?)",
            Some(0),
        ));
    }
    let version = u16::from_le_bytes([h[8], h[9]]);
    let flags = u16::from_le_bytes([h[10], h[11]]);
    let check = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
    if check != check32(&h[..12]) {
        return Err(Error::corrupt_rule(
            Rule::C(3),
            "header check value mismatch",
            Some(12),
        ));
    }
    check_version(version, 8)?;
    if flags != 0 {
        return Err(Error::new(ErrorKind::UnsupportedFeature(format!(
            "header flags {flags:#06x} (v1 defines none)"
        ))));
    }
    Ok(version)
}

/// The trailer's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// Absolute offset of the stored footer.
    pub footer_offset: u64,
    /// Stored (possibly compressed) footer length.
    pub footer_stored_len: u64,
    /// Footer length after decompression.
    pub footer_raw_len: u64,
    /// xxh3 of the stored footer bytes.
    pub footer_checksum: u64,
    /// [`FOOTER_PLAIN`] or [`FOOTER_ZSTD`].
    pub footer_encoding: u8,
}

impl Trailer {
    /// Serializes the trailer.
    pub fn write(&self) -> [u8; TRAILER_LEN] {
        let mut t = [0u8; TRAILER_LEN];
        t[0..8].copy_from_slice(&self.footer_offset.to_le_bytes());
        t[8..16].copy_from_slice(&self.footer_stored_len.to_le_bytes());
        t[16..24].copy_from_slice(&self.footer_raw_len.to_le_bytes());
        t[24..32].copy_from_slice(&self.footer_checksum.to_le_bytes());
        t[32] = self.footer_encoding;
        let c = check32(&t[..36]);
        t[36..40].copy_from_slice(&c.to_le_bytes());
        t[40..48].copy_from_slice(&MAGIC);
        t
    }

    /// Reads and validates the trailer at the end of `file`, including that the footer lies
    /// between the header and the trailer.
    ///
    /// # Errors
    /// File too short, wrong magic, bad check value, reserved bytes set, unknown footer
    /// encoding, or footer bounds that do not fit the file.
    pub fn read(file: &[u8]) -> Result<Trailer> {
        let len = file.len() as u64;
        let min = (HEADER_LEN + TRAILER_LEN) as u64;
        if len < min {
            return Err(Error::truncated("segment (header + trailer)", min, len));
        }
        Trailer::parse(&file[file.len() - TRAILER_LEN..], len)
    }

    /// Validates the trailer given its 48 bytes and the file length (for readers that
    /// fetch only the end of the file).
    ///
    /// # Errors
    /// As [`Trailer::read`].
    pub fn parse(t: &[u8], len: u64) -> Result<Trailer> {
        let min = (HEADER_LEN + TRAILER_LEN) as u64;
        if len < min || t.len() != TRAILER_LEN {
            return Err(Error::truncated("segment (header + trailer)", min, len));
        }
        let at = len - TRAILER_LEN as u64;
        let bad = |rule: u8, what: String, off: u64| {
            Error::corrupt_rule(Rule::C(rule), what, Some(at + off))
        };
        if t[40..48] != MAGIC {
            return Err(bad(
                6,
                "trailer magic does not match (truncated or not a segment)".into(),
                40,
            ));
        }
        let check = u32::from_le_bytes([t[36], t[37], t[38], t[39]]);
        if check != check32(&t[..36]) {
            return Err(bad(7, "trailer check value mismatch".into(), 36));
        }
        let mut c = Cursor::new(t);
        let tr = Trailer {
            footer_offset: c.u64("footer_offset")?,
            footer_stored_len: c.u64("footer_stored_len")?,
            footer_raw_len: c.u64("footer_raw_len")?,
            footer_checksum: c.u64("footer_checksum")?,
            footer_encoding: c.u8("footer_encoding")?,
        };
        if t[33..36] != [0, 0, 0] {
            return Err(bad(8, "trailer reserved bytes are not 0".into(), 33));
        }
        if tr.footer_encoding > FOOTER_ZSTD {
            return Err(bad(
                9,
                format!("footer encoding {} is unknown", tr.footer_encoding),
                32,
            ));
        }
        if tr.footer_offset < HEADER_LEN as u64
            || tr.footer_offset.checked_add(tr.footer_stored_len) != Some(at)
        {
            return Err(bad(
                10,
                format!(
                    "footer at {} length {} does not end where the trailer starts ({at})",
                    tr.footer_offset, tr.footer_stored_len
                ),
                0,
            ));
        }
        if tr.footer_raw_len > MAX_FOOTER_RAW
            || (tr.footer_encoding == FOOTER_PLAIN && tr.footer_raw_len != tr.footer_stored_len)
        {
            return Err(bad(
                11,
                format!("footer_raw_len {} is invalid", tr.footer_raw_len),
                16,
            ));
        }
        Ok(tr)
    }
}
