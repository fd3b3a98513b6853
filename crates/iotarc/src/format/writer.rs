//! Segment writer: cuts each device's rows into blocks on a UTC time grid, encodes the
//! blocks in parallel, streams them to a temporary file, and on `finish` writes the footer
//! and trailer, fsyncs, renames into place and fsyncs the directory.

use crate::codec::FormatVersion;
use super::block;
use super::chunkref::{self, RepeatFinder};
use super::footer::{BlockMeta, Footer, MAX_BLOCK_ROWS};
use super::header::{self, Trailer, FOOTER_PLAIN, FOOTER_ZSTD, HEADER_LEN};
use crate::codec::validity::Bitmap;
use crate::codec::{Options, StrValues};
use crate::error::{Error, Result};
use crate::model::{Column, Values};
use crate::util::files::sync_dir;
use crate::util::fsio;
use rayon::prelude::*;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64;

const MINUTE: i64 = 60_000_000;
const DAY: i64 = 24 * 60 * MINUTE;

/// Epoch-aligned grid units a block may span, smallest first. Every unit divides every
/// larger one, so a block never straddles a boundary of any unit at least as large as its
/// own: aggregates over windows of those units are answered from footers.
pub const GRID_US: [i64; 10] = [
    MINUTE,
    5 * MINUTE,
    15 * MINUTE,
    60 * MINUTE,
    6 * 60 * MINUTE,
    DAY,
    7 * DAY,
    28 * DAY,
    112 * DAY,
    364 * DAY,
];

/// Writer settings.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Target rows per block; the grid unit is the largest whose windows average at most
    /// this many rows, and windows over twice this are split.
    pub target_rows: usize,
    /// Codec settings.
    pub codec: Options,
    /// Store a column chunk that repeats an earlier chunk of the segment byte for byte as
    /// a reference to it (format.md §8.6). A file that holds one is version 4; turn this
    /// off to write files that readers of versions 1 to 3 can read.
    pub chunk_refs: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            target_rows: 8192,
            codec: Options::default(),
            chunk_refs: true,
        }
    }
}

/// Splits sorted timestamps into block row ranges on the time grid. Rows with equal
/// timestamps stay in one block unless more than [`MAX_BLOCK_ROWS`] of them share a
/// timestamp, which [`SegmentWriter::add`] refuses before cutting (format.md §2.2, C30).
pub fn cut_blocks(ts: &[i64], target_rows: usize) -> Vec<(usize, usize)> {
    let n = ts.len();
    if n == 0 {
        return Vec::new();
    }
    let target = target_rows.clamp(1, MAX_BLOCK_ROWS as usize / 2);
    let windows = |g: i64| {
        1 + ts
            .windows(2)
            .filter(|w| w[0].div_euclid(g) != w[1].div_euclid(g))
            .count()
    };
    let grid = GRID_US
        .iter()
        .rev()
        .copied()
        .find(|&g| n / windows(g) <= target)
        .unwrap_or(GRID_US[0]);
    let mut cuts = Vec::new();
    let mut start = 0;
    while start < n {
        let w = ts[start].div_euclid(grid);
        let mut end = start + ts[start..].partition_point(|t| t.div_euclid(grid) == w);
        if end - start > 2 * target {
            // Split an over-full window into near-equal pieces, never between equal
            // timestamps (format.md §2.2, C30): the cut moves past the rows sharing the
            // timestamp before it, or, if the block would then exceed MAX_BLOCK_ROWS,
            // back before them. Only a run of equal timestamps longer than a block is
            // split (callers refuse those first).
            let pieces = (end - start).div_ceil(target);
            let mut e = start + (end - start).div_ceil(pieces);
            let limit = (start + MAX_BLOCK_ROWS as usize).min(end);
            if ts[e] == ts[e - 1] {
                let t = ts[e - 1];
                let run_end = e + ts[e..end].partition_point(|&x| x == t);
                let run_start = start + ts[start..e].partition_point(|&x| x < t);
                e = if run_end <= limit {
                    run_end
                } else if run_start > start {
                    run_start
                } else {
                    limit
                };
            }
            end = e;
        }
        cuts.push((start, end));
        start = end;
    }
    cuts
}

/// Copies rows `[a, b)` of `col`, given that `vstart` values precede row `a`.
/// Returns the slice (or `None` if it has no present value) and the values it consumed.
/// One device's rows for [`SegmentWriter::add_many`]: name, timestamps, named columns.
pub type DeviceRows<'a> = (&'a str, &'a [i64], &'a [(&'a str, &'a Column)]);

/// One block to encode: device id, the device's timestamps, the block's row range and
/// its columns.
type BlockJob<'a> = (u32, &'a [i64], usize, usize, &'a Vec<(u32, Column)>);

/// One device's blocks to encode: its id and, per block, the row range and the columns.
type BlockInputs = (u32, Vec<(usize, usize, Vec<(u32, Column)>)>);

fn slice_column(col: &Column, a: usize, b: usize, vstart: usize) -> (Option<Column>, usize) {
    let (validity, count) = match &col.validity {
        None => (None, b - a),
        Some(bm) => {
            let part: Bitmap = bm[a..b].iter().by_vals().collect();
            let ones = part.count_ones();
            (if ones == b - a { None } else { Some(part) }, ones)
        }
    };
    if count == 0 {
        return (None, 0);
    }
    let r = vstart..vstart + count;
    let values = match &col.values {
        Values::F64(v) => Values::F64(v[r].to_vec()),
        Values::I64(v) => Values::I64(v[r].to_vec()),
        Values::Bool(v) => Values::Bool(v[r].to_vec()),
        Values::Str(v) => Values::Str(r.map(|i| v.get(i).unwrap_or("")).collect::<StrValues>()),
    };
    (Some(Column { values, validity }), count)
}

/// Writes one segment file. Dropping it without calling [`SegmentWriter::finish`] removes
/// the temporary file and leaves nothing at the destination.
///
/// # Example
/// ```
/// use iotarc::{Column, SegmentWriter, Values, WriterOptions};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.seg");
/// let mut w = SegmentWriter::create(&path, WriterOptions::default())?;
/// let ts: Vec<i64> = (0..100).map(|i| i * 1_000_000).collect();
/// let temp = Column::dense(Values::F64((0..100).map(|i| 20.0 + i as f64 / 10.0).collect()));
/// w.add("sensor-1", &ts, &[("temp", &temp)])?;
/// let summary = w.finish()?;
/// assert_eq!(summary.rows, 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SegmentWriter {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<fsio::File>>,
    offset: u64,
    footer: Footer,
    device_idx: HashMap<String, u32>,
    channel_idx: HashMap<String, u32>,
    last_ts: Vec<i64>,
    opts: WriterOptions,
    rows: u64,
    /// Highest format version a block needed so far; stamped in the header by `finish`.
    version: FormatVersion,
    /// Finds repeated column chunks (`None` if `opts.chunk_refs` is off).
    dedup: Option<RepeatFinder>,
}

/// What a finished segment holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Final path.
    pub path: PathBuf,
    /// File size in bytes.
    pub bytes: u64,
    /// Rows written (timestamps, summed over devices).
    pub rows: u64,
    /// Blocks written.
    pub blocks: usize,
    /// xxh3 of the stored footer, as the trailer records it (format.md §5): names the
    /// segment's content, since the footer holds every block's checksum.
    pub footer_checksum: u64,
}

impl SegmentWriter {
    /// Starts a segment that will appear at `path` when finished.
    ///
    /// # Errors
    /// I/O errors creating the temporary file next to `path`.
    pub fn create(path: impl AsRef<Path>, opts: WriterOptions) -> Result<SegmentWriter> {
        let path = path.as_ref().to_path_buf();
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("segment");
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        // Readable too: chunk references compare candidates with what was written.
        let f = fsio::File::open(
            OpenOptions::new().read(true).write(true).create_new(true),
            &tmp,
        )
        .map_err(|e| Error::from(e).with_path(&tmp))?;
        let mut file = BufWriter::with_capacity(1 << 20, f);
        // Version 1 until a block needs more; `finish` rewrites the header if one did.
        file.write_all(&header::write_header(1))
            .map_err(|e| Error::from(e).with_path(&tmp))?;
        Ok(SegmentWriter {
            path,
            tmp,
            file: Some(file),
            offset: HEADER_LEN as u64,
            footer: Footer::default(),
            device_idx: HashMap::new(),
            channel_idx: HashMap::new(),
            last_ts: Vec::new(),
            dedup: opts
                .chunk_refs
                .then(|| RepeatFinder::new(chunkref::DEFAULT_MAX_CHUNKS)),
            opts,
            rows: 0,
            version: FormatVersion::V1,
        })
    }

    fn intern(map: &mut HashMap<String, u32>, names: &mut Vec<String>, s: &str) -> u32 {
        if let Some(&i) = map.get(s) {
            return i;
        }
        let i = names.len() as u32;
        names.push(s.to_owned());
        map.insert(s.to_owned(), i);
        i
    }

    /// Adds rows of one device. `ts` must be non-decreasing, and a later call for the
    /// same device must start strictly after the previous call's last timestamp: the
    /// blocks of a call are sealed, and a device's next block must start after the
    /// previous one ends (format.md §2.2, C30), so rows sharing a timestamp are given in
    /// one call. Each column spans `ts.len()` rows.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] for unsorted timestamps, a call that starts at
    /// or before the device's last timestamp so far, more than `MAX_BLOCK_ROWS` rows
    /// sharing one timestamp (they cannot be kept in one block), duplicate channel names
    /// or columns whose lengths disagree; I/O errors.
    pub fn add(&mut self, device: &str, ts: &[i64], columns: &[(&str, &Column)]) -> Result<()> {
        self.add_many(&[(device, ts, columns)])
    }

    /// [`SegmentWriter::add`] for several devices at once: their blocks are encoded in
    /// parallel, which matters when each device has only a block or two.
    ///
    /// # Errors
    /// As [`SegmentWriter::add`], for the first device that fails; devices before it are
    /// already added.
    pub fn add_many(&mut self, tables: &[DeviceRows<'_>]) -> Result<()> {
        let mut jobs = Vec::with_capacity(tables.len());
        // A table refused part-way leaves the writer as it was before the call: the
        // earlier tables' devices, channels and last timestamps are rolled back, since
        // none of their blocks is written.
        let (devices, channels) = (self.footer.devices.len(), self.footer.channels.len());
        let mut previous_last = Vec::new();
        for &(device, ts, columns) in tables {
            match self.prepare(device, ts, columns, &mut previous_last) {
                Ok(Some(job)) => jobs.push((ts, job)),
                Ok(None) => {}
                Err(e) => {
                    self.roll_back(devices, channels, &previous_last);
                    return Err(e);
                }
            }
        }
        let codec = &self.opts.codec;
        let work: Vec<BlockJob<'_>> = jobs
            .iter()
            .flat_map(|(ts, (dev, inputs))| {
                inputs.iter().map(move |(a, b, bc)| (*dev, *ts, *a, *b, bc))
            })
            .collect();
        let encoded: Vec<(Vec<u8>, BlockMeta, FormatVersion)> = work
            .par_iter()
            .map(|&(dev, ts, a, b, bc)| block::encode(dev, &ts[a..b], bc, codec))
            .collect();
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| Error::invalid_input("writer already finished"))?;
        for (mut bytes, mut meta, version) in encoded {
            self.version = self.version.max(version);
            meta.offset = self.offset;
            if let Some(d) = &mut self.dedup {
                let tmp = &self.tmp;
                let io = |e: std::io::Error| Error::from(e).with_path(tmp);
                // Candidates are read back from the file: flush what is buffered first.
                let read_at = |off: u64, buf: &mut [u8]| {
                    file.flush().map_err(io)?;
                    file.get_ref().get_ref().read_exact_at(buf, off).map_err(io)
                };
                if d.apply(&mut bytes, &mut meta, read_at)? {
                    self.version = self.version.max(chunkref::VERSION);
                }
            }
            file.write_all(&bytes)
                .map_err(|e| Error::from(e).with_path(&self.tmp))?;
            self.offset += bytes.len() as u64;
            self.footer.blocks.push(meta);
        }
        for (ts, _) in &jobs {
            self.rows += ts.len() as u64;
        }
        Ok(())
    }

    /// Validates one device's rows and cuts them into block inputs.
    /// Undoes the interning and last timestamps of a refused [`Self::add_many`] call:
    /// names from index `devices` and `channels` on are forgotten, and each recorded
    /// `(device, last timestamp before)` is restored, latest first.
    fn roll_back(&mut self, devices: usize, channels: usize, previous_last: &[(u32, i64)]) {
        for &(dev, last) in previous_last.iter().rev() {
            if let Some(t) = self.last_ts.get_mut(dev as usize) {
                *t = last;
            }
        }
        self.last_ts.truncate(devices);
        for name in self.footer.devices.drain(devices..) {
            self.device_idx.remove(&name);
        }
        for name in self.footer.channels.drain(channels..) {
            self.channel_idx.remove(&name);
        }
    }

    /// Checks one device's rows and cuts them into block inputs, recording in
    /// `previous_last` the device's last timestamp before this call.
    fn prepare(
        &mut self,
        device: &str,
        ts: &[i64],
        columns: &[(&str, &Column)],
        previous_last: &mut Vec<(u32, i64)>,
    ) -> Result<Option<BlockInputs>> {
        if ts.is_empty() {
            return Ok(None);
        }
        if let Some(i) = ts.windows(2).position(|w| w[0] > w[1]) {
            return Err(Error::invalid_input(format!(
                "device {device:?}: timestamps not sorted at row {} ({} > {})",
                i + 1,
                ts[i],
                ts[i + 1]
            )));
        }
        // Rows sharing a timestamp must stay in one block (format.md §2.2, C30), and a
        // block holds at most MAX_BLOCK_ROWS rows (C22).
        let mut run = 1u64;
        for (i, w) in ts.windows(2).enumerate() {
            run = if w[0] == w[1] { run + 1 } else { 1 };
            if run > MAX_BLOCK_ROWS {
                return Err(Error::invalid_input(format!(
                    "device {device:?}: more than {MAX_BLOCK_ROWS} rows share timestamp {} \
                     (up to row {}); one block cannot hold them",
                    w[1],
                    i + 1
                )));
            }
        }
        for (i, (name, col)) in columns.iter().enumerate() {
            col.check(ts.len(), name)?;
            if columns[..i].iter().any(|(n, _)| n == name) {
                return Err(Error::invalid_input(format!(
                    "channel {name:?} given twice"
                )));
            }
        }
        let dev = Self::intern(&mut self.device_idx, &mut self.footer.devices, device);
        if dev as usize == self.last_ts.len() {
            self.last_ts.push(i64::MIN);
        } else if ts[0] <= self.last_ts[dev as usize] {
            // Equal is refused too: the previous rows' blocks are cut already, and a
            // device's next block must start after the previous one ends (C30).
            return Err(Error::invalid_input(format!(
                "device {device:?}: rows starting at {} overlap rows already added (up to {})",
                ts[0], self.last_ts[dev as usize]
            )));
        }
        previous_last.push((dev, self.last_ts[dev as usize]));
        self.last_ts[dev as usize] = ts[ts.len() - 1];
        let mut cols: Vec<(u32, &Column)> = columns
            .iter()
            .map(|(n, c)| {
                (
                    Self::intern(&mut self.channel_idx, &mut self.footer.channels, n),
                    *c,
                )
            })
            .collect();
        cols.sort_by_key(|c| c.0);

        let cuts = cut_blocks(ts, self.opts.target_rows);
        let mut vpos = vec![0usize; cols.len()];
        let mut inputs = Vec::with_capacity(cuts.len());
        for &(a, b) in &cuts {
            let mut bc = Vec::with_capacity(cols.len());
            for (k, (ch, col)) in cols.iter().enumerate() {
                let (slice, used) = slice_column(col, a, b, vpos[k]);
                vpos[k] += used;
                if let Some(s) = slice {
                    bc.push((*ch, s));
                }
            }
            inputs.push((a, b, bc));
        }
        Ok(Some((dev, inputs)))
    }

    /// Writes the footer and trailer, makes the file durable and moves it into place.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] if no rows were added (a segment has at least
    /// one block); I/O errors.
    pub fn finish(mut self) -> Result<SegmentSummary> {
        if self.footer.blocks.is_empty() {
            return Err(Error::invalid_input("a segment needs at least one row"));
        }
        let raw = self.footer.write();
        let z = zstd::bulk::compress(&raw, 3).unwrap_or_default();
        let (stored, encoding) = if !z.is_empty() && z.len() < raw.len() {
            (z, FOOTER_ZSTD)
        } else {
            (raw.clone(), FOOTER_PLAIN)
        };
        let trailer = Trailer {
            footer_offset: self.offset,
            footer_stored_len: stored.len() as u64,
            footer_raw_len: raw.len() as u64,
            footer_checksum: xxh3_64(&stored),
            footer_encoding: encoding,
        };
        let tmp = self.tmp.clone();
        let io = |e: std::io::Error| Error::from(e).with_path(&tmp);
        let mut file = self
            .file
            .take()
            .ok_or_else(|| Error::invalid_input("writer already finished"))?;
        file.write_all(&stored).map_err(io)?;
        file.write_all(&trailer.write()).map_err(io)?;
        let mut f = file.into_inner().map_err(|e| io(e.into_error()))?;
        if self.version > FormatVersion::V1 {
            f.seek(SeekFrom::Start(0)).map_err(io)?;
            f.write_all(&header::write_header(self.version.get()))
                .map_err(io)?;
        }
        f.sync_all().map_err(io)?;
        drop(f);
        fsio::rename(&self.tmp, &self.path).map_err(io)?;
        sync_dir(&self.path)?;
        Ok(SegmentSummary {
            path: self.path.clone(),
            bytes: self.offset + stored.len() as u64 + header::TRAILER_LEN as u64,
            rows: self.rows,
            blocks: self.footer.blocks.len(),
            footer_checksum: trailer.footer_checksum,
        })
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fsio::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_the_grid() {
        let ts: Vec<i64> = (0..100_000).map(|i| i * 1_000_000).collect();
        let cuts = cut_blocks(&ts, 8192);
        // 1 s sampling: 1 h windows (3600 rows) are the largest under 8192.
        assert_eq!(cuts[0], (0, 3600));
        for &(a, b) in &cuts {
            assert_eq!(
                ts[a].div_euclid(3_600_000_000),
                ts[b - 1].div_euclid(3_600_000_000)
            );
        }
    }

    #[test]
    fn dense_windows_split_without_breaking_equal_timestamps() {
        let mut ts: Vec<i64> = vec![0; 50_000];
        ts.extend(std::iter::repeat_n(1, 50_000));
        let cuts = cut_blocks(&ts, 8192);
        assert_eq!(cuts, vec![(0, 50_000), (50_000, 100_000)]);
        let dense: Vec<i64> = (0..100_000).collect();
        let cuts = cut_blocks(&dense, 1000);
        assert!(cuts.iter().all(|(a, b)| b - a <= 2000 && b > a));
        assert_eq!(cuts.last().unwrap().1, 100_000);
    }

    #[test]
    fn a_later_call_starting_at_the_last_timestamp_is_refused() {
        // C30: a device's next block starts strictly after the previous one's ts_max.
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            SegmentWriter::create(dir.path().join("a.seg"), WriterOptions::default()).unwrap();
        let x = Column::dense(Values::I64(vec![1, 2, 3]));
        w.add("d", &[0, 1, 2], &[("x", &x)]).unwrap();
        let e = w.add("d", &[2, 3, 4], &[("x", &x)]).unwrap_err();
        assert!(
            matches!(e.kind(), crate::ErrorKind::InvalidInput { .. }),
            "{e}"
        );
        w.add("d", &[3, 4, 5], &[("x", &x)]).unwrap();
        // Another device may reuse the timestamp.
        w.add("e", &[2, 2, 2], &[("x", &x)]).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn a_refused_batch_leaves_the_writer_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.seg");
        let mut w = SegmentWriter::create(&path, WriterOptions::default()).unwrap();
        let x = Column::dense(Values::I64(vec![1, 2, 3]));
        w.add("kept", &[0, 1, 2], &[("x", &x)]).unwrap();
        let y = Column::dense(Values::F64(vec![1.0, 2.0, 3.0]));
        // The third table is unsorted: nothing of the batch may stick.
        let e = w
            .add_many(&[
                ("kept", &[5, 6, 7], &[("x", &x)]),
                ("new", &[0, 1, 2], &[("y", &y)]),
                ("bad", &[2, 1, 0], &[("x", &x)]),
            ])
            .unwrap_err();
        assert!(e.to_string().contains("not sorted"), "{e}");
        // The same rows of `kept` are still accepted, and the refused devices and
        // channel are not in the file.
        w.add("kept", &[5, 6, 7], &[("x", &x)]).unwrap();
        w.finish().unwrap();
        let seg = crate::Segment::open(&path).unwrap();
        assert_eq!(seg.devices(), ["kept"]);
        assert_eq!(seg.channels(), ["x"]);
    }

    #[test]
    fn more_rows_at_one_timestamp_than_a_block_holds_are_refused() {
        // C30 with C22: they could only be stored split across blocks at one timestamp.
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            SegmentWriter::create(dir.path().join("a.seg"), WriterOptions::default()).unwrap();
        let n = MAX_BLOCK_ROWS as usize + 1;
        let mut ts = vec![7i64; n];
        ts.insert(0, 6);
        let x = Column::dense(Values::I64(vec![0; n + 1]));
        let e = w.add("d", &ts, &[("x", &x)]).unwrap_err();
        assert!(e.to_string().contains("share timestamp 7"), "{e}");
        // One row fewer fits, though not in a block with the row before it.
        ts.truncate(n);
        let x = Column::dense(Values::I64(vec![0; n]));
        w.add("d", &ts, &[("x", &x)]).unwrap();
        let s = w.finish().unwrap();
        assert_eq!(s.rows, n as u64);
        let seg = crate::format::reader::Segment::open(&s.path).unwrap();
        let b = &seg.footer().blocks;
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].ts_max, b[1].ts_min, b[1].rows), (6, 7, n as u64 - 1));
    }

    #[test]
    fn device_parts_describe_each_device_and_parse_back() {
        use crate::format::footer::Footer;
        use crate::format::reader::Segment;
        use crate::model::{Column, Values};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.seg");
        let opts = WriterOptions {
            target_rows: 100,
            ..WriterOptions::default()
        };
        let mut w = SegmentWriter::create(&path, opts).unwrap();
        let ts: Vec<i64> = (0..1000).map(|i| i * 1_000_000).collect();
        let a = Column::dense(Values::F64((0..1000).map(|i| i as f64 * 0.25).collect()));
        let b = Column::dense(Values::I64((0..1000).collect()));
        w.add("d0", &ts, &[("x", &a)]).unwrap();
        w.add("d1", &ts, &[("y", &b), ("z", &a)]).unwrap();
        let short = Column::dense(Values::F64(vec![-0.0; 10]));
        w.add("d2", &ts[..10], &[("z", &short)]).unwrap();
        w.finish().unwrap();
        let seg = Segment::open(&path).unwrap();
        let f = seg.footer();
        let (footer_offset, _) = seg.footer_location();
        let mut blocks = 0;
        for d in 0..f.devices.len() as u32 {
            let part = f.device_part(d).unwrap();
            assert_eq!(part.devices, vec![f.devices[d as usize].clone()]);
            let mine: Vec<_> = f.blocks.iter().filter(|b| b.device == d).collect();
            assert_eq!(part.blocks.len(), mine.len());
            for (p, o) in part.blocks.iter().zip(mine) {
                assert_eq!(
                    (p.offset, p.len, p.checksum, p.rows),
                    (o.offset, o.len, o.checksum, o.rows)
                );
                for (pc, oc) in p.columns.iter().zip(&o.columns) {
                    assert_eq!(
                        part.channels[pc.channel as usize],
                        f.channels[oc.channel as usize]
                    );
                    assert_eq!(pc.stats, oc.stats);
                }
            }
            blocks += part.blocks.len();
            let back = Footer::read_part(&part.write(), footer_offset).unwrap();
            assert_eq!(back, part);
            // A part does not tile the data region, so the whole-footer rules refuse it
            // unless it is the only device.
            if f.devices.len() > 1 {
                assert!(Footer::read(&part.write(), footer_offset).is_err());
            }
            // Blocks beyond the footer offset are refused.
            assert!(Footer::read_part(&part.write(), 16).is_err());
        }
        assert_eq!(blocks, f.blocks.len());
        assert!(f.device_part(f.devices.len() as u32).is_none());
        let one_by_one: Vec<Footer> = (0..f.devices.len() as u32)
            .map(|d| f.device_part(d).unwrap())
            .collect();
        assert_eq!(f.device_parts(), one_by_one);
    }
}
