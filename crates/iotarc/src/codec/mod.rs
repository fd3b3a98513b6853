//! Codecs: turn a column of values into bytes and back. This layer knows nothing about
//! files, blocks or checksums; it sees byte slices and value slices.
//!
//! Each submodule mirrors one section of `format-spec/format.md`. Every decoder takes a
//! `bytes::Cursor` and the value count from its caller, never panics, and reports bad
//! bytes as [`crate::Error`].

internal_mod!(bits);
internal_mod!(boolean);
internal_mod!(bytes);
internal_mod!(float);
internal_mod!(gorilla);
internal_mod!(int);
internal_mod!(intstream);
internal_mod!(pco_chunk);
internal_mod!(scratch);
internal_mod!(string);
internal_mod!(validity);

/// The newest segment format version whose codecs this layer writes and reads. Encoders
/// always write it; decoders accept the codecs of the version their
/// `bytes::Cursor` carries.
///
/// | version | adds |
/// |---------|------|
/// | 1 | every codec of format.md §10 not listed below |
/// | 2 | f64 codec `SPLIT` (5); IntStream kinds `SPLIT` (4) and `SPLIT_ZIGZAG` (5) |
/// | 3 | f64 codec `DECIMAL_PATCHED` (6) |
/// | 4 | chunk references (`REF`, 255), a file-layer feature: `crate::format::chunkref` |
/// | 5 | `PCO`: f64 codec 7, integer codec 8 (`pco_chunk`) |
pub const FORMAT_VERSION: FormatVersion = FormatVersion::LATEST;

/// A segment format version (format.md's version table): which codecs a file may use.
/// Files are stamped with the lowest version whose codecs they use (format.md §14), and
/// a decoder given a version refuses the codecs of later ones.
///
/// ```
/// use iotarc::codec::FormatVersion;
/// assert!(FormatVersion::V4 < FormatVersion::LATEST);
/// assert_eq!(FormatVersion::from_u16(3), Some(FormatVersion::V3));
/// assert_eq!(FormatVersion::from_u16(0), None);
/// assert_eq!(FormatVersion::LATEST.to_string(), "5");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FormatVersion(u16);

impl FormatVersion {
    /// The initial format.
    pub const V1: FormatVersion = FormatVersion(1);
    /// Adds SPLIT byte planes.
    pub const V2: FormatVersion = FormatVersion(2);
    /// Adds DECIMAL_PATCHED.
    pub const V3: FormatVersion = FormatVersion(3);
    /// Adds chunk references.
    pub const V4: FormatVersion = FormatVersion(4);
    /// Adds PCO.
    pub const V5: FormatVersion = FormatVersion(5);
    /// The newest version this library reads and writes.
    pub const LATEST: FormatVersion = FormatVersion::V5;

    /// The version numbered `v`, if this library knows it (1 to [`Self::LATEST`]).
    pub const fn from_u16(v: u16) -> Option<FormatVersion> {
        if v >= 1 && v <= Self::LATEST.0 {
            Some(FormatVersion(v))
        } else {
            None
        }
    }

    /// The number stored in a segment header.
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl std::fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Codec id reserved for a chunk reference, for every value type (format.md §8.6): no
/// codec of this layer uses it, and the file layer (`crate::format::chunkref`) resolves
/// it to the chunk it refers to before any codec decodes.
pub const REF: u8 = 255;

/// Encoder settings shared by all codecs.
#[derive(Clone, Debug)]
pub struct Options {
    /// zstd level for the entropy stages (IntStream byte planes, strings, bitmaps);
    /// `None` disables zstd for numeric data (strings then use level 3). Level 1 is the
    /// default: on the Beijing data it is both faster and slightly smaller than level 3,
    /// because the gain comes from zstd's Huffman stage, not its match finder.
    pub zstd_level: Option<i32>,
    /// Try every candidate codec even when a cheap estimate says it cannot win.
    pub exhaustive: bool,
    /// pcodec compression level (0..=12, larger is clamped) for the `PCO` codec, tried
    /// beside the other codecs on every block; `None` never writes `PCO`. Level 8
    /// (pcodec's default) is the default: on the occupancy data, level 4 stores the
    /// values 10 % bigger.
    pub pco_level: Option<u8>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            zstd_level: Some(1),
            exhaustive: false,
            pco_level: Some(8),
        }
    }
}

/// Strings stored contiguously: value `i` is `data[offsets[i]..offsets[i + 1]]`.
/// Decoding appends into these two vectors, so a reused `StrValues` costs no allocation
/// per value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrValues {
    /// Concatenated UTF-8 bytes.
    pub data: Vec<u8>,
    /// `len() + 1` offsets into `data`, starting at 0.
    pub offsets: Vec<usize>,
}

impl Default for StrValues {
    fn default() -> Self {
        StrValues {
            data: Vec::new(),
            offsets: vec![0],
        }
    }
}

impl StrValues {
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// True if there are no strings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every string, keeping the capacity.
    pub fn clear(&mut self) {
        self.data.clear();
        self.offsets.clear();
        self.offsets.push(0);
    }

    /// Appends a string.
    pub fn push(&mut self, s: &str) {
        self.data.extend_from_slice(s.as_bytes());
        self.offsets.push(self.data.len());
    }

    /// The `i`th string, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&str> {
        let (a, b) = (*self.offsets.get(i)?, *self.offsets.get(i + 1)?);
        // Every push appended a whole &str, so each range is valid UTF-8.
        std::str::from_utf8(&self.data[a..b]).ok()
    }

    /// Iterates over the strings.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or(""))
    }
}

impl<'a> FromIterator<&'a str> for StrValues {
    fn from_iter<I: IntoIterator<Item = &'a str>>(it: I) -> Self {
        let mut s = StrValues::default();
        for x in it {
            s.push(x);
        }
        s
    }
}
