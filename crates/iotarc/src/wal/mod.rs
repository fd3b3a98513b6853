//! The write-ahead log: a directory of segmented, checksummed record files.
//!
//! Every batch the streaming writer accepts is appended as one record and made durable
//! with [`WalWriter::sync`] before it is acknowledged; opening the archive calls
//! [`replay`] to hand every record not yet in a segment back to the writer. The format
//! and the replay rules are specified in `format-spec/wal.md`.
//!
//! Layout: `<archive>/wal/wal-<first seq, 20 digits>.log`, each file a 16-byte header
//! followed by records `len u32 | seq u64 | checksum u64 | payload`. Only the newest
//! file can end in a torn record (files are fully synced before the writer moves on to
//! a new one), so a defect there that a crash explains is truncated, while any other
//! defect, in any file, is reported as [`Corrupt`](crate::ErrorKind::Corrupt) and left
//! for `wal_damage::salvage_file`.

pub mod batch;
internal_mod!(damage);

use crate::error::{Error, ErrorKind, Result};
use crate::util::files::sync_directory;
use crate::util::fsio;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

/// The first 8 bytes of every WAL file.
pub const MAGIC: [u8; 8] = *b"IOTWAL\r\n";
/// The WAL format version this code writes and the newest it reads.
pub const VERSION: u16 = 1;
/// Bytes in the file header: magic, version, 6 zero bytes.
pub const HEADER_LEN: usize = 16;
/// Bytes in a record header: `len u32 | seq u64 | checksum u64`.
pub const RECORD_HEADER_LEN: usize = 20;
/// Largest record payload, in bytes (64 MiB).
pub const MAX_RECORD_LEN: u32 = 64 << 20;
/// Default for [`WalOptions::max_file_bytes`] (64 MiB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 20;

/// The 16-byte header of a version-1 WAL file.
pub fn file_header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// The name of the WAL file whose first record has seq `first_seq`:
/// `wal-<first_seq as 20 zero-padded decimal digits>.log`.
pub fn file_name(first_seq: u64) -> String {
    format!("wal-{first_seq:020}.log")
}

/// The first seq encoded in a WAL file name, or `None` if `name` is not exactly
/// `wal-` + 20 decimal digits (a value that fits in a u64) + `.log`.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The checksum of a record: XXH3-64 (seed 0) over the 12 bytes `len u32 LE || seq u64
/// LE` followed by the payload.
pub fn record_checksum(seq: u64, payload: &[u8]) -> u64 {
    let mut h = Xxh3::new();
    h.update(&(payload.len() as u32).to_le_bytes());
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.digest()
}

/// Appends one framed record (`len | seq | checksum | payload`) to `out`.
///
/// # Errors
/// [`ErrorKind::InvalidInput`] if `payload` is empty or longer than [`MAX_RECORD_LEN`];
/// `out` is left unchanged.
pub fn encode_record(out: &mut Vec<u8>, seq: u64, payload: &[u8]) -> Result<()> {
    if payload.is_empty() || payload.len() > MAX_RECORD_LEN as usize {
        return Err(Error::invalid_input(format!(
            "WAL record payload of {} bytes: must be 1..={MAX_RECORD_LEN} bytes",
            payload.len()
        )));
    }
    out.reserve(RECORD_HEADER_LEN + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&record_checksum(seq, payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Options for [`WalWriter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// When the current file is larger than this after a [`sync`](WalWriter::sync) or
    /// [`flush`](WalWriter::flush), it is synced and a new file is started. A file can
    /// therefore exceed this by whatever was buffered between two syncs. Default 64 MiB.
    pub max_file_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// Appends records to the WAL directory, buffering them in memory until
/// [`sync`](WalWriter::sync) (durable) or [`flush`](WalWriter::flush) (written, not
/// synced), and rotating to a new file when the current one grows past
/// [`WalOptions::max_file_bytes`].
///
/// Records appended but not yet written are lost when the writer is dropped: call
/// `sync` first. After any I/O error the writer refuses further work (the state of the
/// file is unknown); drop it, [`replay`] the directory and create a new writer.
///
/// ```
/// use iotarc::wal::{replay, WalOptions, WalWriter};
/// let dir = tempfile::tempdir()?;
/// let wal = dir.path().join("wal");
/// let mut w = WalWriter::create(&wal, 0, WalOptions::default())?;
/// assert_eq!(w.append(b"first batch")?, 0);
/// assert_eq!(w.append(b"second batch")?, 1);
/// w.sync()?; // both records are durable now
/// drop(w);
///
/// let mut seen = Vec::new();
/// let report = replay(&wal, 0, |seq, payload| {
///     seen.push((seq, payload.to_vec()));
///     Ok(())
/// })?;
/// assert_eq!(seen, [(0, b"first batch".to_vec()), (1, b"second batch".to_vec())]);
/// assert_eq!((report.records, report.next_seq, report.truncated), (2, 2, None));
///
/// // Continue the log after replay: a new file starting at the next seq.
/// let mut w = WalWriter::create(&wal, report.next_seq, WalOptions::default())?;
/// assert_eq!(w.append(b"third")?, 2);
/// w.sync()?;
/// # Ok::<(), iotarc::Error>(())
/// ```
#[derive(Debug)]
pub struct WalWriter {
    dir: PathBuf,
    path: PathBuf,
    file: fsio::File,
    file_first_seq: u64,
    /// Bytes written to the current file, header included.
    file_len: u64,
    next_seq: u64,
    /// Every record with a lower seq has been written to its file.
    written_seq: u64,
    /// Every record with a lower seq is durable.
    durable_seq: u64,
    buf: Vec<u8>,
    opts: WalOptions,
    /// Set by the first failed write or sync; every later call fails with it.
    failed: Option<String>,
}

/// Buffers above this capacity are given back to the allocator after a write.
const KEEP_BUF_CAPACITY: usize = 16 << 20;

impl WalWriter {
    /// Starts a new file whose first record will have `next_seq`; fsyncs the dir after
    /// creating it. Creates the directory if needed.
    ///
    /// After [`replay`], pass `report.next_seq`. If a file for `next_seq` already exists
    /// and holds no record (at most its header: a file created just before a crash, or
    /// one that replay truncated to its header), it is reused; replay removes a newest
    /// file too short to hold its header, so that case creates the file afresh.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] if a WAL file in `dir` starts after `next_seq`, or the
    /// file for `next_seq` already holds records (either means `next_seq` is not where
    /// the log ends); I/O errors creating the directory or file.
    pub fn create(dir: &Path, next_seq: u64, opts: WalOptions) -> Result<WalWriter> {
        if !dir.is_dir() {
            fsio::create_dir_all(dir).map_err(|e| Error::from(e).with_path(dir))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_directory(parent)?;
            }
        }
        for (first, path) in list_files(dir)? {
            if first > next_seq {
                return Err(Error::invalid_input(format!(
                    "WAL file starts at seq {first}, after next_seq {next_seq}: \
                     next_seq must be the end of the log (ReplayReport::next_seq)"
                ))
                .with_path(path));
            }
            if first == next_seq {
                let len = fs::metadata(&path)
                    .map_err(|e| Error::from(e).with_path(&path))?
                    .len();
                if len > HEADER_LEN as u64 {
                    return Err(Error::invalid_input(format!(
                        "WAL file for next_seq {next_seq} already holds {len} bytes of records"
                    ))
                    .with_path(path));
                }
            }
        }
        let (file, path) = new_file(dir, next_seq, false)?;
        Ok(WalWriter {
            dir: dir.to_path_buf(),
            path,
            file,
            file_first_seq: next_seq,
            file_len: HEADER_LEN as u64,
            next_seq,
            written_seq: next_seq,
            durable_seq: next_seq,
            buf: Vec::new(),
            opts,
            failed: None,
        })
    }

    /// Appends one record into the in-memory buffer; returns its seq. Not durable until
    /// [`sync`](Self::sync).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] if `payload` is empty or longer than
    /// [`MAX_RECORD_LEN`], or seqs are exhausted (`u64::MAX` is never assigned); the
    /// writer's earlier I/O error if it has failed.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64> {
        self.check()?;
        let seq = self.next_seq;
        if seq == u64::MAX {
            return Err(Error::invalid_input("WAL sequence numbers exhausted"));
        }
        encode_record(&mut self.buf, seq, payload)?;
        self.next_seq = seq + 1;
        Ok(seq)
    }

    /// Writes the buffer to the file (one write call) and fdatasyncs it. Durable after
    /// Ok: every record appended so far survives a crash or power loss. Then rotates to
    /// a new file if the current one has grown past [`WalOptions::max_file_bytes`].
    ///
    /// # Errors
    /// I/O errors from writing, syncing or rotating. The writer is unusable afterwards.
    pub fn sync(&mut self) -> Result<()> {
        self.check()?;
        self.write_buffer()?;
        self.sync_file()?;
        self.maybe_rotate()
    }

    /// Writes the buffer without fsync (for `--sync none`, and between interval syncs):
    /// the records survive the process being killed but not a power loss. Rotation as
    /// in [`sync`](Self::sync) (a file is always synced before it is rotated away).
    ///
    /// # Errors
    /// I/O errors from writing or rotating. The writer is unusable afterwards.
    pub fn flush(&mut self) -> Result<()> {
        self.check()?;
        self.write_buffer()?;
        self.maybe_rotate()
    }

    /// Seq the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Every record with a seq below this is durable (synced).
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq
    }

    /// Bytes appended but not yet written to the file.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The file records are currently written to.
    pub fn current_file(&self) -> &Path {
        &self.path
    }

    /// Deletes every WAL file all of whose records have seq < `seq` (never the current
    /// file), oldest first; fsyncs the dir. Returns how many files were deleted.
    ///
    /// A file's records end where the next file (by name) begins, so the files deleted
    /// are exactly those followed by a file starting at or below `seq`. Call it with the
    /// first seq whose points are not yet in a committed segment.
    ///
    /// # Errors
    /// I/O errors listing the directory, deleting a file or syncing the directory.
    /// Files are deleted oldest first, so an error leaves a contiguous log.
    pub fn remove_below(&mut self, seq: u64) -> Result<usize> {
        let files = list_files(&self.dir)?;
        let mut removed = 0;
        for pair in files.windows(2) {
            let (first, path) = &pair[0];
            if *first >= self.file_first_seq || pair[1].0 > seq {
                break;
            }
            fsio::remove_file(path).map_err(|e| Error::from(e).with_path(path))?;
            removed += 1;
        }
        if removed > 0 {
            sync_directory(&self.dir)?;
        }
        Ok(removed)
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(why) => Err(Error::new(ErrorKind::Io(io::Error::other(format!(
                "WAL writer failed earlier ({why}); replay the WAL and create a new writer"
            ))))
            .with_path(&self.path)),
        }
    }

    /// Records the failure so that no later record lands after an unknown file state.
    fn fail(&mut self, e: Error) -> Error {
        self.failed = Some(e.to_string());
        e
    }

    fn write_buffer(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.file.write_all(&self.buf) {
            let e = Error::from(e).with_path(&self.path);
            return Err(self.fail(e));
        }
        self.file_len += self.buf.len() as u64;
        self.written_seq = self.next_seq;
        self.buf.clear();
        if self.buf.capacity() > KEEP_BUF_CAPACITY {
            self.buf.shrink_to(1 << 20);
        }
        Ok(())
    }

    fn sync_file(&mut self) -> Result<()> {
        if self.durable_seq == self.written_seq {
            return Ok(());
        }
        if let Err(e) = self.file.sync_data() {
            let e = Error::from(e).with_path(&self.path);
            return Err(self.fail(e));
        }
        self.durable_seq = self.written_seq;
        Ok(())
    }

    /// Writes and fsyncs what is buffered, then starts the next file (W2) at the next seq
    /// whatever the current file's size, so the current one is no longer the newest and
    /// may be deleted by [`remove_below`](Self::remove_below) (wal.md W5, W7). A writer
    /// does this at a clean close, once every record is sealed. Nothing happens when the
    /// current file holds no record.
    ///
    /// # Errors
    /// I/O errors from writing, syncing or creating the file. The writer is unusable
    /// afterwards.
    pub fn rotate(&mut self) -> Result<()> {
        self.check()?;
        self.write_buffer()?;
        self.sync_file()?;
        if self.written_seq == self.file_first_seq {
            return Ok(());
        }
        self.start_next_file()
    }

    fn maybe_rotate(&mut self) -> Result<()> {
        if self.file_len <= self.opts.max_file_bytes || self.written_seq == self.file_first_seq {
            return Ok(());
        }
        self.sync_file()?;
        self.start_next_file()
    }

    /// Switches to a new file at `next_seq`; the current one must be synced.
    fn start_next_file(&mut self) -> Result<()> {
        let (file, path) = match new_file(&self.dir, self.next_seq, true) {
            Ok(x) => x,
            Err(e) => return Err(self.fail(e)),
        };
        self.file = file;
        self.path = path;
        self.file_first_seq = self.next_seq;
        self.file_len = HEADER_LEN as u64;
        Ok(())
    }
}

/// Creates (or, unless `exclusive`, overwrites) the file for `first_seq`, writes and
/// syncs its header, then syncs the directory.
fn new_file(dir: &Path, first_seq: u64, exclusive: bool) -> Result<(fsio::File, PathBuf)> {
    let path = dir.join(file_name(first_seq));
    let io = |e: io::Error| Error::from(e).with_path(&path);
    let mut o = OpenOptions::new();
    o.write(true);
    if exclusive {
        o.create_new(true);
    } else {
        o.create(true).truncate(true);
    }
    let mut file = fsio::File::open(&o, &path).map_err(io)?;
    file.write_all(&file_header()).map_err(io)?;
    file.sync_all().map_err(io)?;
    sync_directory(dir)?;
    Ok((file, path))
}

/// The WAL files in `dir`, sorted by first seq. A missing directory has none; files
/// whose names are not WAL file names are ignored.
///
/// # Errors
/// I/O errors reading the directory (other than its not existing).
pub fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::from(e).with_path(dir)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::from(e).with_path(dir))?;
        let name = entry.file_name();
        if let Some(seq) = name.to_str().and_then(parse_file_name) {
            files.push((seq, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// What [`replay`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayReport {
    /// WAL files in the directory when replay started (including files skipped because
    /// all their records precede `from_seq`, and a newest file removed as torn).
    pub files: usize,
    /// Records passed to the callback (those with seq ≥ `from_seq`).
    pub records: u64,
    /// The seq after the last valid record, or `from_seq` if that is larger (including
    /// when there are no files). Pass it to [`WalWriter::create`].
    pub next_seq: u64,
    /// The torn or corrupt tail cut off the newest file, if there was one.
    pub truncated: Option<TruncatedTail>,
}

/// A tail that [`replay`] cut off the newest WAL file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncatedTail {
    /// The newest WAL file.
    pub file: PathBuf,
    /// Where the file was cut: the end of its last valid record. 0 means the file's
    /// header was incomplete or invalid and the file (which held no record) was deleted.
    pub offset: u64,
    /// Bytes dropped.
    pub bytes: u64,
    /// Why the bytes at `offset` are not a valid record.
    pub reason: String,
}

/// Which rule of wal.md §3–§4 a [`Defect`] breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefectKind {
    /// H1: the file header is short or invalid.
    Header,
    /// R1: fewer than 20 bytes where a record header should be.
    IncompleteHeader,
    /// R2: a length field of 0 or above [`MAX_RECORD_LEN`].
    Length,
    /// R3: fewer payload bytes than the length field says.
    IncompletePayload,
    /// R4: the checksum does not match.
    Checksum,
    /// R5: an unexpected seq, or seq `u64::MAX` would be next (N5).
    Seq,
}

/// A defect found while scanning one WAL file: where the valid part ends and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defect {
    /// Offset of the first byte that is not part of a valid header or record: 0 for a
    /// bad or incomplete header, else the end of the last valid record.
    pub offset: u64,
    /// Bytes from `offset` to the end of the file.
    pub bytes: u64,
    /// What is wrong, naming the field and its value.
    pub reason: String,
    /// The rule broken.
    pub kind: DefectKind,
}

/// The result of scanning one WAL file ([`replay_bytes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileScan {
    /// Valid records in the file, up to the first defect.
    pub records: u64,
    /// Of those, how many were passed to the callback (seq ≥ `from_seq`).
    pub delivered: u64,
    /// The first defect; `None` if the file ends exactly after its last valid record.
    pub defect: Option<Defect>,
}

/// Scans the bytes of one WAL file whose name says its first record has seq
/// `first_seq`, calling `f(seq, payload)` for every valid record with seq ≥ `from_seq`,
/// in order, up to the first defect.
///
/// This is the parser [`replay`] runs on each file (there through a buffered reader), as
/// a pure function: a defect is returned in [`FileScan::defect`] for the caller to
/// judge (replay truncates it in the newest file and reports it as corrupt elsewhere).
///
/// # Errors
/// [`ErrorKind::UnsupportedVersion`] if the header has the WAL magic but a version other
/// than [`VERSION`]; any error returned by `f`, which stops the scan.
pub fn replay_bytes(
    bytes: &[u8],
    first_seq: u64,
    from_seq: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<FileScan> {
    scan(bytes, bytes.len() as u64, first_seq, from_seq, &mut f)
}

/// Reads into `buf` until it is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The scanner shared by [`replay_bytes`] and [`replay`]: `total` is the input's length
/// (checked against every record length before anything is read or allocated).
fn scan(
    mut r: impl Read,
    total: u64,
    first_seq: u64,
    from_seq: u64,
    f: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
) -> Result<FileScan> {
    let mut out = FileScan {
        records: 0,
        delivered: 0,
        defect: None,
    };
    let defect = |offset: u64, kind: DefectKind, reason: String| {
        Some(Defect {
            offset,
            bytes: total.saturating_sub(offset),
            reason,
            kind,
        })
    };
    let mut header = [0u8; HEADER_LEN];
    let got = if total < HEADER_LEN as u64 {
        0
    } else {
        read_full(&mut r, &mut header)?
    };
    if got < HEADER_LEN {
        out.defect = defect(
            0,
            DefectKind::Header,
            format!("file is {total} bytes, shorter than the {HEADER_LEN}-byte header"),
        );
        return Ok(out);
    }
    if header[..8] != MAGIC {
        out.defect = defect(
            0,
            DefectKind::Header,
            format!(
                "file header magic {:02x?} is not {MAGIC:02x?}",
                &header[..8]
            ),
        );
        return Ok(out);
    }
    let version = u16::from_le_bytes([header[8], header[9]]);
    if version != VERSION {
        return Err(Error::new(ErrorKind::UnsupportedVersion {
            found: version,
            supported: VERSION,
        }));
    }
    if header[10..] != [0; 6] {
        out.defect = defect(
            0,
            DefectKind::Header,
            format!(
                "file header reserved bytes {:02x?} are not zero",
                &header[10..]
            ),
        );
        return Ok(out);
    }
    let mut pos = HEADER_LEN as u64;
    let mut want = first_seq;
    let mut buf: Vec<u8> = Vec::new();
    while pos < total {
        let left = total - pos;
        if want == u64::MAX {
            out.defect = defect(
                pos,
                DefectKind::Seq,
                format!(
                    "{left} bytes where the next record would have seq {}, which is never \
                     assigned",
                    u64::MAX
                ),
            );
            break;
        }
        let mut rh = [0u8; RECORD_HEADER_LEN];
        let got = if left < RECORD_HEADER_LEN as u64 {
            left as usize
        } else {
            read_full(&mut r, &mut rh)?
        };
        if got < RECORD_HEADER_LEN {
            out.defect = defect(
                pos,
                DefectKind::IncompleteHeader,
                format!("incomplete record header: {got} of {RECORD_HEADER_LEN} bytes"),
            );
            break;
        }
        let len = u32::from_le_bytes([rh[0], rh[1], rh[2], rh[3]]);
        let mut s = [0u8; 8];
        s.copy_from_slice(&rh[4..12]);
        let seq = u64::from_le_bytes(s);
        s.copy_from_slice(&rh[12..20]);
        let stored = u64::from_le_bytes(s);
        if len == 0 || len > MAX_RECORD_LEN {
            out.defect = defect(
                pos,
                DefectKind::Length,
                format!("record length {len} is outside 1..={MAX_RECORD_LEN}"),
            );
            break;
        }
        let body = left - RECORD_HEADER_LEN as u64;
        if u64::from(len) > body {
            out.defect = defect(
                pos,
                DefectKind::IncompletePayload,
                format!("incomplete record: length {len} but only {body} bytes follow its header"),
            );
            break;
        }
        buf.clear();
        buf.extend_from_slice(&rh[..12]);
        buf.resize(12 + len as usize, 0);
        let got = read_full(&mut r, &mut buf[12..])?;
        if got < len as usize {
            // The input was shorter than `total` said (a file shrinking under us).
            out.defect = defect(
                pos,
                DefectKind::IncompletePayload,
                format!("incomplete record: length {len} but only {got} bytes could be read"),
            );
            break;
        }
        let sum = xxh3_64(&buf);
        if sum != stored {
            out.defect = defect(
                pos,
                DefectKind::Checksum,
                format!(
                    "record checksum {stored:#018x} does not match the computed \
                     {sum:#018x} (record length {len}, seq field {seq})"
                ),
            );
            break;
        }
        if seq != want {
            out.defect = defect(
                pos,
                DefectKind::Seq,
                format!("record seq {seq} is not the expected next seq {want}"),
            );
            break;
        }
        if seq >= from_seq {
            f(seq, &buf[12..])?;
            out.delivered += 1;
        }
        out.records += 1;
        pos += RECORD_HEADER_LEN as u64 + u64::from(len);
        want += 1;
    }
    Ok(out)
}

/// Calls `f(seq, payload)` for every valid record with seq >= `from_seq`, in order.
///
/// `dir` is the WAL directory (a missing directory is an empty log). `from_seq` is the
/// first seq whose points are not yet durable elsewhere (in committed segments); files
/// all of whose records precede it are skipped unread. The newest file is always read:
/// its first defect is where the log ends when a crash explains it (an incomplete record
/// or zero fill with no valid record after it, wal.md §7.1): replay cuts it off there
/// (`set_len` + fsync; a newest file whose header was torn while it was created holds
/// no record and is deleted) and reports it in [`ReplayReport::truncated`]. Records
/// before the defect are delivered; nothing at or after it is. Any other defect in the
/// newest file is `Corrupt` and nothing is cut.
///
/// Records of a file are delivered while it is read, so when an older file turns out to
/// be corrupt `f` has already seen its earlier records; treat an error as fatal to
/// whatever `f` built.
///
/// # Errors
/// [`ErrorKind::Corrupt`] (with the file's path and the defect's offset) for a defect in
/// any file but the newest, for damage in the newest file that a crash cannot explain, for a gap or overlap between consecutive files' seqs that
/// involves a seq ≥ `from_seq`, and when the oldest file starts after `from_seq`
/// (records that are needed are gone); [`ErrorKind::UnsupportedVersion`] for a file of a
/// newer WAL version (never truncated); I/O errors; any error returned by `f`.
pub fn replay(
    dir: &Path,
    from_seq: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<ReplayReport> {
    replay_impl(dir, from_seq, true, &mut f)
}

/// [`replay`] without changing anything: the same checks and deliveries, but a defect
/// in the newest file is only reported ([`ReplayReport::truncated`] then describes what
/// `replay` would cut) and nothing is truncated or deleted.
///
/// For readers that do not hold the archive's writer lock (`verify`, a check for
/// pending records): cutting the newest file while a writer appends to it would
/// destroy acknowledged records, so only the lock holder may call [`replay`].
///
/// # Errors
/// As [`replay`].
pub fn replay_read_only(
    dir: &Path,
    from_seq: u64,
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<ReplayReport> {
    replay_impl(dir, from_seq, false, &mut f)
}

fn replay_impl(
    dir: &Path,
    from_seq: u64,
    cut: bool,
    f: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
) -> Result<ReplayReport> {
    let files = list_files(dir)?;
    let mut report = ReplayReport {
        files: files.len(),
        records: 0,
        next_seq: from_seq,
        truncated: None,
    };
    let Some((oldest, oldest_path)) = files.first() else {
        return Ok(report);
    };
    if *oldest > from_seq {
        return Err(Error::corrupt(
            format!(
                "the oldest WAL file starts at seq {oldest}, but replay needs records from \
                 seq {from_seq}: seqs {from_seq}..{oldest} are missing"
            ),
            None,
        )
        .with_path(oldest_path));
    }
    // End (next seq) of the previous file, if it was read.
    let mut prev_end: Option<(u64, &Path)> = None;
    for (i, (first, path)) in files.iter().enumerate() {
        let first = *first;
        let newest = i + 1 == files.len();
        if !newest && files[i + 1].0 <= from_seq {
            // Every record of this file precedes the next file's first seq ≤ from_seq.
            prev_end = None;
            continue;
        }
        if let Some((end, prev)) = prev_end {
            let gap_below_from = first > end && first <= from_seq;
            if first != end && !gap_below_from {
                let what = if first > end { "gap" } else { "overlap" };
                return Err(Error::corrupt(
                    format!(
                        "WAL {what}: the previous file {} ends before seq {end}, but this \
                         file starts at seq {first}",
                        prev.display()
                    ),
                    None,
                )
                .with_path(path));
            }
        }
        let scan = scan_file(path, first, from_seq, f)?;
        report.records += scan.delivered;
        // The scan accepts only seqs below u64::MAX, so this does not saturate.
        let end = first.saturating_add(scan.records);
        if let Some(d) = scan.defect {
            if !newest {
                return Err(Error::corrupt(
                    format!(
                        "{} (a WAL file other than the newest must end with a complete \
                         record: this is data loss, not a torn write)",
                        d.reason
                    ),
                    Some(d.offset),
                )
                .with_path(path));
            }
            judge_newest(path, end, &d)?;
            if cut {
                truncate_tail(dir, path, d.offset)?;
            }
            report.truncated = Some(TruncatedTail {
                file: path.clone(),
                offset: d.offset,
                bytes: d.bytes,
                reason: d.reason,
            });
        }
        prev_end = Some((end, path.as_path()));
        if newest {
            report.next_seq = end.max(from_seq);
        }
    }
    Ok(report)
}

/// Fails with `Corrupt` unless the newest file's first defect `d` is a torn tail
/// (wal.md P6, P7, §7.1); `want` is the seq a record at the defect would have.
fn judge_newest(path: &Path, want: u64, d: &Defect) -> Result<()> {
    // Bounded by the file size, which rotation bounds; read only on this rare path.
    let bytes = fs::read(path).map_err(|e| Error::from(e).with_path(path))?;
    let next = match damage::judge_tail(&bytes, want, d) {
        damage::TailVerdict::Torn => return Ok(()),
        damage::TailVerdict::Damaged { next_valid } => next_valid,
    };
    let after = match next {
        Some(r) => format!(
            "; a valid record (seq {}) follows at offset {}, so acknowledged records lie \
             beyond the damage",
            r.seq, r.offset
        ),
        None => String::new(),
    };
    Err(Error::corrupt(
        format!(
            "{}{after}: this is damage to durable records, not a torn write, and replay \
             will not cut it; `iotarc repair --wal ARCHIVE` copies the file aside and \
             keeps every valid record",
            d.reason
        ),
        Some(d.offset),
    )
    .with_path(path))
}

fn scan_file(
    path: &Path,
    first_seq: u64,
    from_seq: u64,
    f: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
) -> Result<FileScan> {
    let io = |e: io::Error| Error::from(e).with_path(path);
    let file = File::open(path).map_err(io)?;
    let total = file.metadata().map_err(io)?.len();
    let reader = BufReader::with_capacity(1 << 20, file);
    scan(reader, total, first_seq, from_seq, f).map_err(|e| e.with_path(path))
}

/// Cuts the newest file at `offset` (deleting it if that is inside its header) and
/// makes the change durable.
fn truncate_tail(dir: &Path, path: &Path, offset: u64) -> Result<()> {
    let io = |e: io::Error| Error::from(e).with_path(path);
    if offset < HEADER_LEN as u64 {
        fsio::remove_file(path).map_err(io)?;
        return sync_directory(dir);
    }
    let file = fsio::File::open(OpenOptions::new().write(true), path).map_err(io)?;
    file.set_len(offset).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(bytes: &[u8], first: u64, from: u64) -> (FileScan, Vec<(u64, Vec<u8>)>) {
        let mut v = Vec::new();
        let s = replay_bytes(bytes, first, from, |seq, p| {
            v.push((seq, p.to_vec()));
            Ok(())
        })
        .unwrap();
        (s, v)
    }

    fn file(first: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = file_header().to_vec();
        for (i, p) in payloads.iter().enumerate() {
            encode_record(&mut out, first + i as u64, p).unwrap();
        }
        out
    }

    #[test]
    fn read_only_replay_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut w = WalWriter::create(dir, 3, WalOptions::default()).unwrap();
        for p in [&b"a"[..], b"bb", b"ccc"] {
            w.append(p).unwrap();
        }
        w.sync().unwrap();
        drop(w);
        let path = dir.join(file_name(3));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&path, &bytes).unwrap();
        let mut seen = 0;
        let r = replay_read_only(dir, 3, |_, _| {
            seen += 1;
            Ok(())
        })
        .unwrap();
        let t = r.truncated.clone().unwrap();
        assert_eq!((seen, r.next_seq, t.bytes), (2, 5, 22));
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let r2 = replay(dir, 3, |_, _| Ok(())).unwrap();
        assert_eq!(r2, r);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), t.offset);
    }

    /// The worked example of `format-spec/wal.md` §8.
    #[test]
    fn spec_worked_example() {
        use crate::model::Value;
        use crate::wal::batch::PointBatch;
        let mut b = PointBatch::default();
        b.push("d", "c", 300, Value::I64(-1));
        b.push("d", "c", 299, Value::Bool(true));
        let mut payload = Vec::new();
        b.encode(&mut payload);
        let mut f = file_header().to_vec();
        encode_record(&mut f, 5, &payload).unwrap();
        let hex: Vec<String> = f.iter().map(|x| format!("{x:02X}")).collect();
        let spec = "49 4F 54 57 41 4C 0D 0A 01 00 00 00 00 00 00 00 \
                    11 00 00 00 05 00 00 00 00 00 00 00 20 1F 60 97 D6 BF F8 B3 \
                    01 01 64 01 01 63 02 00 00 D8 04 01 01 00 00 01 03";
        assert_eq!(
            hex.join(" "),
            spec.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        let (s, v) = collect(&f, 5, 0);
        assert_eq!((s.records, s.defect, v[0].1.clone()), (1, None, payload));
    }

    #[test]
    fn names_and_header() {
        assert_eq!(file_name(42), "wal-00000000000000000042.log");
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_file_name("wal-99999999999999999999.log"), None);
        assert_eq!(parse_file_name("wal-0000000000000000042.log"), None);
        assert_eq!(parse_file_name("wal-+0000000000000000042.log"), None);
        assert_eq!(parse_file_name("wal-00000000000000000042.log.tmp"), None);
        assert_eq!(
            file_header(),
            [b'I', b'O', b'T', b'W', b'A', b'L', b'\r', b'\n', 1, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn checksum_is_over_len_seq_payload() {
        let mut rec = Vec::new();
        encode_record(&mut rec, 7, b"abc").unwrap();
        let mut covered = rec[..12].to_vec();
        covered.extend_from_slice(b"abc");
        assert_eq!(rec[12..20], xxh3_64(&covered).to_le_bytes());
        assert_eq!(rec[..12], [3, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
        assert!(encode_record(&mut rec, 0, b"").is_err());
    }

    #[test]
    fn scan_stops_at_first_defect() {
        let good = file(10, &[b"a", b"bb", b"ccc"]);
        let (s, v) = collect(&good, 10, 11);
        assert_eq!((s.records, s.delivered, s.defect), (3, 2, None));
        assert_eq!(v[0], (11, b"bb".to_vec()));
        // Wrong expected first seq: the first record is a defect.
        let (s, _) = collect(&good, 9, 0);
        assert_eq!(s.records, 0);
        assert!(s
            .defect
            .unwrap()
            .reason
            .contains("seq 10 is not the expected next seq 9"));
        // Seq u64::MAX is never assigned.
        let mut f = file(u64::MAX - 1, &[b"x"]);
        encode_record(&mut f, u64::MAX, b"y").unwrap();
        let (s, v) = collect(&f, u64::MAX - 1, 0);
        assert_eq!((s.records, v.len()), (1, 1));
        assert_eq!(
            s.defect.unwrap().offset,
            (HEADER_LEN + RECORD_HEADER_LEN + 1) as u64
        );
        // Unknown version is an error, not a defect.
        let mut v2 = good.clone();
        v2[8] = 2;
        let e = replay_bytes(&v2, 10, 0, |_, _| Ok(())).unwrap_err();
        assert!(matches!(
            e.kind(),
            ErrorKind::UnsupportedVersion {
                found: 2,
                supported: 1
            }
        ));
        // Bad lengths.
        let mut z = good.clone();
        z.extend_from_slice(&[0; 40]);
        let (s, _) = collect(&z, 10, 0);
        let d = s.defect.unwrap();
        assert_eq!((s.records, d.offset, d.bytes), (3, good.len() as u64, 40));
        assert!(d.reason.contains("record length 0"), "{}", d.reason);
        let mut big = good.clone();
        big.extend_from_slice(&(MAX_RECORD_LEN + 1).to_le_bytes());
        big.extend_from_slice(&[0; 16]);
        assert!(collect(&big, 10, 0)
            .0
            .defect
            .unwrap()
            .reason
            .contains("outside"));
    }
}
