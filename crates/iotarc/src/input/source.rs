//! Opening inputs (files, stdin, gzip, zstd) and cutting them into line-aligned chunks.

use crate::error::{Error, ErrorKind, Result};
use std::io::{self, BufReader, Read};

/// The UTF-8 byte order mark.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Default chunk size of [`Chunker::new`]: 4 MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 4 << 20;

/// Longest line [`Chunker`] accepts, in bytes without its line ending: 64 MiB. A longer line is
/// an error, or is skipped and reported (see [`Chunker::skip_long_lines`]), rather than
/// unbounded memory growth: a chunker never holds more than this plus one read step
/// (8 MiB) of a line.
pub const MAX_LINE_LEN: usize = 64 << 20;

/// Largest single read into a growing chunk buffer (see [`Chunker`]).
const MAX_READ_STEP: usize = 8 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Adds the path to I/O errors raised while reading.
struct Named<R> {
    inner: R,
    path: String,
}

impl<R: Read> Read for Named<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path)))
    }
}

/// Opens an input for reading: `-` is stdin, anything else a file path. Gzip (including
/// multi-member files, as written by `cat a.gz b.gz`) and zstd (including multi-frame)
/// data are decompressed on the fly; they are recognized by their magic bytes, so a
/// compressed stdin works too. Errors raised later while reading carry the path in their
/// message.
///
/// # Errors
/// [`ErrorKind::Io`] (with the path attached) if the file cannot be opened or its first
/// bytes cannot be read; [`ErrorKind::InvalidInput`] if a `.gz`/`.zst` file does not start
/// with the matching magic bytes.
///
/// # Example
/// ```
/// use std::io::{Read, Write};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("in.csv.zst");
/// std::fs::write(&path, zstd::encode_all(&b"timestamp,device,x\n"[..], 1)?)?;
/// let mut text = String::new();
/// iotarc::input::open_input(path.to_str().unwrap())?.read_to_string(&mut text)?;
/// assert_eq!(text, "timestamp,device,x\n");
/// let err = iotarc::input::open_input("/no/such/file.csv").err().unwrap();
/// assert!(err.to_string().contains("/no/such/file.csv"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_input(path: &str) -> Result<Box<dyn Read + Send>> {
    let with_path = |e: io::Error| Error::from(e).with_path(path);
    let mut raw: Box<dyn Read + Send> = if path == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(with_path)?)
    };
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        match raw.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(with_path(e)),
        }
    }
    let joined = io::Cursor::new(magic[..got].to_vec()).chain(raw);
    let lower = path.to_ascii_lowercase();
    let reader: Box<dyn Read + Send> = if magic[..got].starts_with(&GZIP_MAGIC) {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            joined,
        )))
    } else if got == 4 && magic == ZSTD_MAGIC {
        Box::new(zstd::Decoder::new(joined).map_err(with_path)?)
    } else if lower.ends_with(".gz") || lower.ends_with(".zst") {
        let kind = if lower.ends_with(".gz") {
            "gzip"
        } else {
            "zstd"
        };
        return Err(Error::new(ErrorKind::InvalidInput {
            what: format!("the file name says {kind} but the data is not {kind}-compressed"),
            line: None,
        })
        .with_path(path));
    } else {
        Box::new(joined)
    };
    Ok(Box::new(Named {
        inner: reader,
        path: if path == "-" {
            "<stdin>".into()
        } else {
            path.into()
        },
    }))
}

/// A line longer than [`MAX_LINE_LEN`] that a [`Chunker`] skipped (see
/// [`Chunker::skip_long_lines`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LongLine {
    /// 1-based line number.
    pub line: u64,
    /// Its length in bytes, without the line ending.
    pub len: u64,
    /// The limit it exceeded, in bytes.
    pub limit: usize,
}

impl LongLine {
    /// Why the line was refused, for a reject report: `line of 68157440 bytes is longer
    /// than the 64 MiB limit`.
    pub fn reason(&self) -> String {
        format!(
            "line of {} bytes is longer than the {} limit",
            self.len,
            limit_text(self.limit)
        )
    }
}

fn limit_text(limit: usize) -> String {
    if limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{limit}-byte")
    }
}

/// A piece of an input holding whole lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Complete lines, each ending in `\n` except possibly the input's last line.
    pub bytes: Vec<u8>,
    /// 1-based line number of the first line in `bytes`.
    pub first_line: u64,
}

/// Reads an input in chunks of about `chunk_size` bytes, each cut after a `\n`, so no line
/// is split between chunks, and numbers their lines. Skips a UTF-8 byte order mark at the
/// start. A line longer than the chunk size makes its chunk longer; one longer than
/// [`MAX_LINE_LEN`] is an error, or with [`Chunker::skip_long_lines`] is read through to
/// its end in bounded memory, left out of the chunks and reported by
/// [`Chunker::take_long_lines`]. The header line ([`Chunker::take_header`],
/// [`Chunker::peek_first_line`]) is never skipped: an overlong one is an error.
///
/// [`pack::run`](crate::pack::run) and `iotarc ingest` both read through a chunker, so they
/// share its line limit.
///
/// For CSV, [`Chunker::take_header`] (or [`super::Parser::from_input`]) removes the header
/// line first, so chunks hold data lines only.
///
/// # Example
/// ```
/// use iotarc::input::Chunker;
/// let mut c = Chunker::with_chunk_size(&b"\xEF\xBB\xBFa\nbb\r\nccc"[..], 2);
/// let (first, second) = (c.next_chunk()?.unwrap(), c.next_chunk()?.unwrap());
/// assert_eq!((first.bytes.as_slice(), first.first_line), (&b"a\n"[..], 1));
/// assert_eq!((second.bytes.as_slice(), second.first_line), (&b"bb\r\n"[..], 2));
/// assert_eq!(c.next_chunk()?.unwrap().first_line, 3);
/// assert!(c.next_chunk()?.is_none());
/// # Ok::<(), iotarc::Error>(())
/// ```
pub struct Chunker<R> {
    reader: R,
    /// Unconsumed bytes are `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    bom_checked: bool,
    next_line: u64,
    chunk_size: usize,
    /// Longest line accepted ([`MAX_LINE_LEN`]; smaller in unit tests).
    max_line: usize,
    /// Skip overlong lines instead of failing.
    skip_long: bool,
    /// Overlong lines skipped and not yet taken.
    long_lines: Vec<LongLine>,
    /// Return whole lines as soon as a read brings some.
    eager: bool,
}

impl<R: Read> Chunker<R> {
    /// A chunker with [`DEFAULT_CHUNK_SIZE`].
    pub fn new(reader: R) -> Self {
        Chunker::with_chunk_size(reader, DEFAULT_CHUNK_SIZE)
    }

    /// A chunker cutting after about `chunk_size` bytes (at least 1, at most
    /// [`MAX_LINE_LEN`]).
    pub fn with_chunk_size(reader: R, chunk_size: usize) -> Self {
        Chunker {
            reader,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            bom_checked: false,
            next_line: 1,
            // Every line that ends within the target size is then within the line limit,
            // so only a chunk's first line needs measuring.
            chunk_size: chunk_size.clamp(1, MAX_LINE_LEN),
            max_line: MAX_LINE_LEN,
            skip_long: false,
            long_lines: Vec::new(),
            eager: false,
        }
    }

    /// With `skip` set, a data line longer than [`MAX_LINE_LEN`] is not an error: the
    /// chunker reads on to its end, keeping at most the limit plus one read step of it in
    /// memory, leaves it out of the chunks (the line numbers of later chunks still count
    /// it) and records it for [`Chunker::take_long_lines`].
    ///
    /// # Example
    /// ```
    /// use iotarc::input::{Chunker, MAX_LINE_LEN};
    /// let mut data = b"a\n".to_vec();
    /// data.resize(2 + MAX_LINE_LEN + 1, b'x');
    /// data.extend_from_slice(b"\nc\n");
    /// let mut c = Chunker::new(&data[..]).skip_long_lines(true);
    /// let mut lines = Vec::new();
    /// while let Some(chunk) = c.next_chunk()? {
    ///     lines.extend(c.take_long_lines().into_iter().map(|l| (l.line, l.len as usize)));
    ///     lines.push((chunk.first_line, chunk.bytes.len()));
    /// }
    /// assert_eq!(lines, [(1, 2), (2, MAX_LINE_LEN + 1), (3, 2)]);
    /// # Ok::<(), iotarc::Error>(())
    /// ```
    pub fn skip_long_lines(mut self, skip: bool) -> Self {
        self.skip_long = skip;
        self
    }

    /// With `eager` set, [`Chunker::next_chunk_into`] returns the whole lines it has as
    /// soon as a read brings some, instead of reading on to the chunk size: for live
    /// streams, where waiting for more input would hold back lines already received.
    pub fn eager(mut self, eager: bool) -> Self {
        self.eager = eager;
        self
    }

    /// The overlong lines skipped since the last call (see [`Chunker::skip_long_lines`]),
    /// in input order. All of them come before the lines of the chunk the last
    /// [`Chunker::next_chunk_into`] returned; check after it returned `None` too.
    pub fn take_long_lines(&mut self) -> Vec<LongLine> {
        std::mem::take(&mut self.long_lines)
    }

    /// The 1-based number of the next line to be returned.
    pub fn next_line(&self) -> u64 {
        self.next_line
    }

    /// Reads until at least `want` unconsumed bytes are buffered, or end of input.
    fn fill(&mut self, want: usize) -> Result<()> {
        if self.pos > 0 && self.buf.len() - self.pos < want {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        while !self.eof && self.buf.len() - self.pos < want {
            let old = self.buf.len();
            // Read in steps that grow with the data buffered (64 KiB to 8 MiB), so memory
            // follows the data actually read, not a (possibly huge) request.
            let step = (old - self.pos).clamp(1 << 16, MAX_READ_STEP);
            self.buf.resize(old + step, 0);
            match self.reader.read(&mut self.buf[old..]) {
                Ok(0) => {
                    self.buf.truncate(old);
                    self.eof = true;
                }
                Ok(k) => self.buf.truncate(old + k),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.buf.truncate(old),
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e.into());
                }
            }
        }
        if !self.bom_checked && (self.buf.len() - self.pos >= BOM.len() || self.eof) {
            self.bom_checked = true;
            if self.buf[self.pos..].starts_with(BOM) {
                self.pos += BOM.len();
            }
        }
        Ok(())
    }

    /// Reads until it is known whether the input starts with a byte order mark, and skips
    /// it. Stops as soon as a byte differs from the mark, so a followed file whose first
    /// line is shorter than the mark is not held back waiting for more bytes.
    fn check_bom(&mut self) -> Result<()> {
        while !self.bom_checked {
            let have = self.buf.len() - self.pos;
            if have < BOM.len() && !self.eof && BOM.starts_with(&self.buf[self.pos..]) {
                self.fill(have + 1)?;
                continue;
            }
            self.bom_checked = true;
            if self.buf[self.pos..].starts_with(BOM) {
                self.pos += BOM.len();
            }
        }
        Ok(())
    }

    fn line_too_long(&self, line: u64) -> Error {
        Error::new(ErrorKind::InvalidInput {
            what: format!("line longer than the {} limit", limit_text(self.max_line)),
            line: Some(line),
        })
    }

    /// Finds the first line that is not blank or a `#` comment. Returns the offsets
    /// (relative to `pos`) of its start, its end without the line ending, and the start of
    /// the next line, plus its line number.
    fn first_content_line(&mut self) -> Result<Option<(usize, usize, usize, u64)>> {
        self.check_bom()?;
        let mut off = 0;
        let mut line = self.next_line;
        loop {
            let data = &self.buf[self.pos..];
            match memchr::memchr(b'\n', &data[off..]) {
                Some(j) => {
                    let end = off + j;
                    let content_end = if end > off && data[end - 1] == b'\r' {
                        end - 1
                    } else {
                        end
                    };
                    if content_end - off > self.max_line {
                        return Err(self.line_too_long(line));
                    }
                    if !super::skippable(&data[off..content_end]) {
                        return Ok(Some((off, content_end, end + 1, line)));
                    }
                    off = end + 1;
                    line += 1;
                }
                None if self.eof => {
                    let rest = &data[off..];
                    let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
                    if rest.len() > self.max_line {
                        return Err(self.line_too_long(line));
                    }
                    return Ok(if super::skippable(rest) {
                        None
                    } else {
                        Some((off, off + rest.len(), data.len(), line))
                    });
                }
                None => {
                    if data.len() - off > self.max_line {
                        return Err(self.line_too_long(line));
                    }
                    let have = data.len();
                    self.fill(have + (1 << 16))?;
                }
            }
        }
    }

    /// The first line that is not blank or a comment, without its line ending, without
    /// consuming it (`None` if there is none). Used to detect the format.
    ///
    /// # Errors
    /// I/O errors; a line longer than [`MAX_LINE_LEN`].
    pub fn peek_first_line(&mut self) -> Result<Option<&[u8]>> {
        Ok(match self.first_content_line()? {
            Some((a, b, _, _)) => Some(&self.buf[self.pos + a..self.pos + b]),
            None => None,
        })
    }

    /// Consumes the input through the first line that is not blank or a comment, and
    /// returns that line (without its line ending) and its line number: the CSV header.
    ///
    /// # Errors
    /// I/O errors; a line longer than [`MAX_LINE_LEN`].
    pub fn take_header(&mut self) -> Result<Option<(Vec<u8>, u64)>> {
        Ok(match self.first_content_line()? {
            Some((a, b, next, line)) => {
                let header = self.buf[self.pos + a..self.pos + b].to_vec();
                self.pos += next;
                self.next_line = line + 1;
                Some((header, line))
            }
            None => None,
        })
    }

    /// The next chunk of whole lines, or `None` at the end of the input.
    ///
    /// # Errors
    /// I/O errors (decompression errors included); a line longer than [`MAX_LINE_LEN`].
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let mut bytes = Vec::new();
        Ok(self
            .next_chunk_into(&mut bytes)?
            .map(|first_line| Chunk { bytes, first_line }))
    }

    /// Like [`Chunker::next_chunk`], but fills `out` (cleared first) instead of a new
    /// `Vec`, and returns the 1-based number of the chunk's first line. Input is read
    /// straight into `out`; only the partial line after the cut is copied (into the next
    /// chunk), so a caller that recycles its buffers reads with no extra copy and no
    /// fresh allocation (no page faults). `out` keeps the data of the previous call until
    /// overwritten; its contents on error are unspecified.
    ///
    /// # Errors
    /// As for [`Chunker::next_chunk`].
    ///
    /// # Example
    /// ```
    /// use iotarc::input::Chunker;
    /// let mut c = Chunker::with_chunk_size(&b"a\nbb\nccc"[..], 4);
    /// let mut buf = Vec::new();
    /// assert_eq!(c.next_chunk_into(&mut buf)?, Some(1));
    /// assert_eq!(buf, b"a\n");
    /// assert_eq!(c.next_chunk_into(&mut buf)?, Some(2));
    /// assert_eq!(buf, b"bb\n");
    /// assert_eq!(c.next_chunk_into(&mut buf)?, Some(3));
    /// assert_eq!(buf, b"ccc");
    /// assert_eq!(c.next_chunk_into(&mut buf)?, None);
    /// # Ok::<(), iotarc::Error>(())
    /// ```
    pub fn next_chunk_into(&mut self, out: &mut Vec<u8>) -> Result<Option<u64>> {
        self.check_bom()?;
        // `out[..filled]` is the chunk so far. The old bytes after it are overwritten by
        // reads, so a recycled buffer needs no zeroing before each read.
        let carry = &self.buf[self.pos..];
        let mut filled = carry.len();
        if out.len() < filled {
            out.resize(filled, 0);
        }
        out[..filled].copy_from_slice(carry);
        self.buf.clear();
        self.pos = 0;
        // Invariant: `out[..searched]` holds no `\n`, so it is the start of the chunk's
        // first line.
        let mut searched = 0;
        let cut = loop {
            if filled == 0 && self.eof {
                out.clear();
                return Ok(None);
            }
            if self.eof || filled >= self.chunk_size || (self.eager && filled > searched) {
                // A whole input within the chunk size is one chunk; since the chunk size
                // is at most the line limit, so is each of its lines.
                if self.eof && filled <= self.chunk_size {
                    break filled;
                }
                let (cut, first_line_only) = self.find_cut(&out[..filled], searched);
                match cut {
                    Some(cut) if first_line_only && line_len(&out[..cut]) > self.max_line => {
                        // The chunk would be one overlong line, whole.
                        if !self.skip_long {
                            return Err(self.line_too_long(self.next_line));
                        }
                        self.skipped(line_len(&out[..cut]) as u64);
                        out.copy_within(cut..filled, 0);
                        filled -= cut;
                        searched = 0;
                        continue;
                    }
                    Some(cut) => break cut,
                    // (`+ 1`: a last byte `\r` may yet turn out to be part of `\r\n`.)
                    None if filled > self.max_line + 1 => {
                        // `out[..filled]` is the start of an overlong line: read on to
                        // its end without keeping it.
                        if !self.skip_long {
                            return Err(self.line_too_long(self.next_line));
                        }
                        let (len, rest) = self.discard_line(out, filled)?;
                        self.skipped(len);
                        filled = rest;
                        searched = 0;
                        // Give back the memory the long line took.
                        out.truncate(self.chunk_size.max(filled));
                        out.shrink_to_fit();
                        continue;
                    }
                    None => searched = filled,
                }
            }
            filled = self.read_more(out, filled)?;
        };
        self.buf.extend_from_slice(&out[cut..filled]);
        out.truncate(cut);
        let first_line = self.next_line;
        self.next_line += count_newlines(out);
        Ok(Some(first_line))
    }

    /// Where to end a chunk of `data`, whose first `searched` bytes hold no `\n`: after
    /// the last line end within the chunk size, else after the first one past it, else
    /// (at the end of the input) after the last byte. The flag is true when the chunk
    /// would then be a single line, the only case where a line can exceed the limit.
    fn find_cut(&self, data: &[u8], searched: usize) -> (Option<usize>, bool) {
        let target = self.chunk_size.min(data.len());
        if searched < target {
            if let Some(i) = memchr::memrchr(b'\n', &data[searched..target]) {
                return (Some(searched + i + 1), false);
            }
        }
        let from = target.max(searched);
        match memchr::memchr(b'\n', &data[from..]) {
            Some(i) => (Some(from + i + 1), true),
            None if self.eof => (Some(data.len()), true),
            None => (None, true),
        }
    }

    /// Records the next line, of `len` bytes, as a skipped overlong line.
    fn skipped(&mut self, len: u64) {
        self.long_lines.push(LongLine {
            line: self.next_line,
            len,
            limit: self.max_line,
        });
        self.next_line += 1;
    }

    /// Reads past the rest of a line whose first `filled` bytes are in `out`, using `out`
    /// (no larger than it is) as scratch. Returns the line's length without its line
    /// ending, and the number of bytes after it now at the start of `out`.
    fn discard_line(&mut self, out: &mut Vec<u8>, filled: usize) -> Result<(u64, usize)> {
        let mut len = filled as u64;
        let mut last = out[filled - 1];
        loop {
            let got = self.read_more(out, 0)?;
            if let Some(i) = memchr::memchr(b'\n', &out[..got]) {
                let cr = if i > 0 { out[i - 1] } else { last } == b'\r';
                out.copy_within(i + 1..got, 0);
                return Ok((len + i as u64 - u64::from(cr), got - i - 1));
            }
            len += got as u64;
            if self.eof {
                return Ok((len, 0));
            }
            if got > 0 {
                last = out[got - 1];
            }
        }
    }

    /// One `read` call into `out[filled..]`, returning the new `filled`. Reads into the
    /// initialized bytes `out` already has past `filled`, else grows it: into the
    /// allocation's spare room when there is some, else in steps that grow with the data
    /// buffered (64 KiB to 8 MiB), so memory follows the data actually read, not a
    /// (possibly huge) chunk size.
    fn read_more(&mut self, out: &mut Vec<u8>, filled: usize) -> Result<usize> {
        let want = if filled < self.chunk_size {
            self.chunk_size - filled
        } else {
            filled.clamp(1 << 16, MAX_READ_STEP)
        };
        // Grow `out` toward `filled + want` whenever it is shorter: into the spare room
        // of its allocation when that holds a useful read, else by one step. (Growing
        // only when `out` was full left every read of a recycled buffer as short as the
        // first chunk, 64 KiB, and an ingest of a file paid a WAL record and an fsync
        // per 64 KiB.)
        let target = filled.saturating_add(want);
        if out.len() < target {
            let spare_end = out.capacity().min(target);
            let new_len = if spare_end >= filled + (1 << 16) {
                spare_end
            } else {
                (filled + filled.clamp(1 << 16, MAX_READ_STEP)).min(target)
            };
            if new_len > out.len() {
                out.resize(new_len, 0);
            }
        }
        let end = out.len().min(target);
        loop {
            return match self.reader.read(&mut out[filled..end]) {
                Ok(0) => {
                    self.eof = true;
                    Ok(filled)
                }
                Ok(k) => Ok(filled + k),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e.into()),
            };
        }
    }
}

impl<R: Read> Iterator for Chunker<R> {
    type Item = Result<Chunk>;

    fn next(&mut self) -> Option<Result<Chunk>> {
        self.next_chunk().transpose()
    }
}

/// Length of the line `b` (which holds one line) without its line ending.
fn line_len(b: &[u8]) -> usize {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b).len()
}

fn count_newlines(b: &[u8]) -> u64 {
    // memchr's SIMD search is several times faster than a byte loop here, and this runs
    // over every input byte on the reading thread.
    memchr::memchr_iter(b'\n', b).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An eager chunker over a file-like reader (reads return all they are asked for)
    /// hands back chunks near the chunk size after the first, whatever size the first
    /// was: each chunk becomes a WAL record and an fsync in `iotarc ingest`, and chunks
    /// stuck at 64 KiB made an ingest of a file twice as slow.
    #[test]
    fn eager_chunks_of_a_file_grow_to_the_chunk_size() {
        let line = b"2024-01-01T00:00:00Z,dev-1,temp,21.5\n";
        let data: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(line.len() * 300_000)
            .collect();
        let mut c = Chunker::new(Trickle(&data, usize::MAX)).eager(true);
        c.peek_first_line().unwrap();
        let mut out = Vec::with_capacity(DEFAULT_CHUNK_SIZE);
        let mut sizes = Vec::new();
        while c.next_chunk_into(&mut out).unwrap().is_some() {
            sizes.push(out.len());
        }
        assert_eq!(sizes.iter().sum::<usize>(), data.len());
        assert!(sizes.len() <= 5, "{} chunks: {sizes:?}", sizes.len());
        assert!(sizes[1] > DEFAULT_CHUNK_SIZE / 2, "{sizes:?}");
    }

    /// A reader that returns at most `n` bytes per call.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let k = self.0.len().min(self.1).min(buf.len());
            buf[..k].copy_from_slice(&self.0[..k]);
            self.0 = &self.0[k..];
            Ok(k)
        }
    }

    #[test]
    fn chunks_cover_everything() {
        let data = b"\xEF\xBB\xBF# c\n\nhead\r\nline one\nline two\n\nlast";
        for size in (1..40).chain([usize::MAX]) {
            for trickle in [1, 3, 1000] {
                let mut c = Chunker::with_chunk_size(Trickle(data, trickle), size);
                let (h, hl) = c.take_header().unwrap().unwrap();
                assert_eq!((h.as_slice(), hl), (&b"head"[..], 3));
                let mut all = Vec::new();
                let mut line = 4;
                for chunk in &mut c {
                    let chunk = chunk.unwrap();
                    assert_eq!(chunk.first_line, line);
                    line += count_newlines(&chunk.bytes);
                    assert!(chunk.bytes.ends_with(b"\n") || chunk.bytes.ends_with(b"last"));
                    all.extend_from_slice(&chunk.bytes);
                }
                assert_eq!(all, b"line one\nline two\n\nlast");
            }
        }
    }

    #[test]
    fn recycled_buffers_give_the_same_chunks() {
        let data: Vec<u8> = (0..500u32)
            .flat_map(|i| format!("line {i} {}\n", "x".repeat((i % 37) as usize)).into_bytes())
            .collect();
        for size in [1, 7, 64, 1000, 1 << 16, usize::MAX] {
            for trickle in [1, 5, 300, 1 << 20] {
                let mut fresh = Chunker::with_chunk_size(Trickle(&data, trickle), size);
                let mut recycled = Chunker::with_chunk_size(Trickle(&data, trickle), size);
                // A dirty buffer, longer than any chunk: its old bytes must never leak.
                let mut buf = vec![b'!'; 70_000];
                loop {
                    let want = fresh.next_chunk().unwrap();
                    let got = recycled.next_chunk_into(&mut buf).unwrap();
                    match want {
                        Some(c) => {
                            assert_eq!(got, Some(c.first_line));
                            assert_eq!(buf, c.bytes, "size {size} trickle {trickle}");
                        }
                        None => {
                            assert_eq!(got, None);
                            assert!(buf.is_empty());
                            break;
                        }
                    }
                }
            }
        }
    }

    /// (line number, text) of each line returned, and (line number, length) of each
    /// overlong line skipped.
    type Lines = (Vec<(u64, Vec<u8>)>, Vec<(u64, u64)>);

    /// Every line of `data` as (line number, text) as a chunker with a small line limit
    /// gives them, with the overlong ones as (line number, their length).
    fn lines_with_limit(data: &[u8], size: usize, trickle: usize, eager: bool) -> Lines {
        let mut c = Chunker::with_chunk_size(Trickle(data, trickle), size)
            .skip_long_lines(true)
            .eager(eager);
        c.max_line = 8;
        let (mut lines, mut long) = (Vec::new(), Vec::new());
        let mut buf = Vec::new();
        loop {
            let got = c.next_chunk_into(&mut buf).unwrap();
            long.extend(c.take_long_lines().into_iter().map(|l| (l.line, l.len)));
            let Some(mut n) = got else { break };
            for l in buf.split_inclusive(|&b| b == b'\n') {
                lines.push((n, l.to_vec()));
                n += 1;
            }
        }
        (lines, long)
    }

    #[test]
    fn overlong_lines_are_skipped_whatever_the_reads() {
        let data = b"a\n0123456789abcdef\nbb\n012345678\n01234567\r\nccc\n0123456789";
        let want_long = [(2, 16), (4, 9), (7, 10)];
        // Chunk sizes up to the line limit, as `with_chunk_size` ensures for the real one.
        for size in 1..=8 {
            for trickle in [1, 2, 3, 7, 1000] {
                for eager in [false, true] {
                    let (lines, long) = lines_with_limit(data, size, trickle, eager);
                    let at = format!("size {size} trickle {trickle} eager {eager}");
                    assert_eq!(long, want_long, "{at}");
                    let texts: Vec<(u64, &[u8])> =
                        lines.iter().map(|(n, t)| (*n, t.as_slice())).collect();
                    let want: [(u64, &[u8]); 4] = [
                        (1, b"a\n"),
                        (3, b"bb\n"),
                        (5, b"01234567\r\n"),
                        (6, b"ccc\n"),
                    ];
                    assert_eq!(texts, want, "{at}");
                }
            }
        }
        // Without skipping, the first overlong line is an error naming it.
        let mut c = Chunker::with_chunk_size(&data[..], 4);
        c.max_line = 8;
        assert_eq!(c.next_chunk().unwrap().unwrap().bytes, b"a\n");
        let e = c.next_chunk().unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::InvalidInput { line: Some(2), what } if what.contains("8-byte limit")),
            "{e}"
        );
    }

    #[test]
    fn eager_chunks_return_what_a_read_brought() {
        // One read brings two whole lines and part of a third: they come back at once.
        let mut c = Chunker::with_chunk_size(Trickle(b"a\nb\nc", 5), 1 << 20).eager(true);
        assert_eq!(c.next_chunk().unwrap().unwrap().bytes, b"a\nb\n");
        assert_eq!(c.next_chunk().unwrap().unwrap().bytes, b"c");
        assert!(c.next_chunk().unwrap().is_none());
    }

    #[test]
    fn peek_does_not_consume() {
        let mut c = Chunker::new(&b"\n# x\n{\"a\":1}\n"[..]);
        assert_eq!(c.peek_first_line().unwrap(), Some(&b"{\"a\":1}"[..]));
        let chunk = c.next_chunk().unwrap().unwrap();
        assert_eq!(chunk.first_line, 1);
        assert_eq!(chunk.bytes, b"\n# x\n{\"a\":1}\n");
        let mut empty = Chunker::new(&b"# only a comment"[..]);
        assert_eq!(empty.peek_first_line().unwrap(), None);
        assert_eq!(empty.take_header().unwrap(), None);
        assert!(Chunker::new(&b""[..]).next_chunk().unwrap().is_none());
    }
}
