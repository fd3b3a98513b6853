//! The archive manifest: the list of live segments, replaced atomically on every commit.
//!
//! On disk it is a 40-byte envelope followed by a JSON body:
//!
//! ```text
//! 0  [u8; 8] magic "\x89IOTMAN\n"
//! 8  u16     version (3; 1 and 2 are still read)
//! 10 u16     flags (0)
//! 12 u32     reserved (0)
//! 16 u64     generation
//! 24 u64     body length
//! 32 u64     xxh3-64 of the body
//! 40 ...     body: UTF-8 JSON (see `format-spec/archive.md`)
//! ```

use crate::error::{Error, ErrorKind, Result};
use crate::util::files::write_atomic;
use crate::util::fsio;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::path::Path;
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_64;

/// Manifest file name inside an archive directory.
pub const MANIFEST_FILE: &str = "MANIFEST";
const MAGIC: [u8; 8] = *b"\x89IOTMAN\n";
/// Version written. Versions 1 (device and channel lists inline in every segment) and 2
/// (no segment checksums) are still read.
const VERSION: u16 = 3;
const ENVELOPE: usize = 40;
/// Largest manifest body this reader accepts (about 2 million segments).
const MAX_BODY: u64 = 1 << 30;

/// Time window that partitions an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionUnit {
    /// One hour.
    Hour,
    /// One UTC day.
    Day,
    /// Seven days starting on Monday 00:00 UTC.
    Week,
    /// One calendar month, UTC.
    Month,
    /// One calendar year, UTC (for low-rate data: hourly readings fill 8192-row blocks
    /// only within a year).
    Year,
}

/// What happens when the same (device, channel, timestamp) is present more than once
/// (archive.md §6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dedup {
    /// The latest arrival wins.
    #[default]
    Last,
    /// The earliest arrival wins.
    First,
    /// Every copy is kept.
    KeepAll,
}

impl Dedup {
    /// Parses `last`, `first` or `keep-all`.
    pub fn parse(s: &str) -> Option<Dedup> {
        match s {
            "last" => Some(Dedup::Last),
            "first" => Some(Dedup::First),
            "keep-all" => Some(Dedup::KeepAll),
            _ => None,
        }
    }

    /// The name used on the command line and in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Dedup::Last => "last",
            Dedup::First => "first",
            Dedup::KeepAll => "keep-all",
        }
    }
}

/// The streaming writer's record of which WAL records are in segments (archive.md §7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalState {
    /// Every WAL record with a lower seq is wholly in live segments.
    pub replay_from: u64,
    /// Seal window unit of the buffers named in `sealed`.
    pub seal_unit: PartitionUnit,
    /// `(device, seal window start, upto)`: that buffer's points from records with seq
    /// `<= upto` are in live segments.
    #[serde(default)]
    pub sealed: Vec<(String, i64, u64)>,
}

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date (year, month, day) of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl PartitionUnit {
    /// `hour`, `day`, `week`, `month` or `year`: the name [`PartitionUnit::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            PartitionUnit::Hour => "hour",
            PartitionUnit::Day => "day",
            PartitionUnit::Week => "week",
            PartitionUnit::Month => "month",
            PartitionUnit::Year => "year",
        }
    }

    /// Parses `hour`, `day`, `week`, `month` or `year`.
    pub fn parse(s: &str) -> Option<PartitionUnit> {
        Some(match s {
            "hour" => PartitionUnit::Hour,
            "day" => PartitionUnit::Day,
            "week" => PartitionUnit::Week,
            "month" => PartitionUnit::Month,
            "year" => PartitionUnit::Year,
            _ => return None,
        })
    }

    /// Start of the window holding `ts` (saturating at the ends of the i64 range).
    pub fn window_start(self, ts: i64) -> i64 {
        match self {
            PartitionUnit::Hour => ts.div_euclid(HOUR).saturating_mul(HOUR),
            PartitionUnit::Day => ts.div_euclid(DAY).saturating_mul(DAY),
            // 1970-01-01 was a Thursday; weeks start on Monday (day 4 of the epoch).
            PartitionUnit::Week => (ts.div_euclid(DAY) - 4)
                .div_euclid(7)
                .saturating_mul(7 * DAY)
                .saturating_add(4 * DAY),
            PartitionUnit::Month => {
                let (y, m, _) = civil_from_days(ts.div_euclid(DAY));
                days_from_civil(y, m, 1).saturating_mul(DAY)
            }
            PartitionUnit::Year => {
                let (y, _, _) = civil_from_days(ts.div_euclid(DAY));
                days_from_civil(y, 1, 1).saturating_mul(DAY)
            }
        }
    }

    /// End (exclusive) of the window starting at `start`.
    pub fn window_end(self, start: i64) -> i64 {
        match self {
            PartitionUnit::Hour => start.saturating_add(HOUR),
            PartitionUnit::Day => start.saturating_add(DAY),
            PartitionUnit::Week => start.saturating_add(7 * DAY),
            PartitionUnit::Month => {
                let (y, m, _) = civil_from_days(start.div_euclid(DAY));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1).saturating_mul(DAY)
            }
            PartitionUnit::Year => {
                let (y, _, _) = civil_from_days(start.div_euclid(DAY));
                days_from_civil(y + 1, 1, 1).saturating_mul(DAY)
            }
        }
    }

    /// Directory-friendly label of the window starting at `start`, e.g. `2024-03-01T05`.
    pub fn label(self, start: i64) -> String {
        let (y, m, d) = civil_from_days(start.div_euclid(DAY));
        match self {
            PartitionUnit::Hour => {
                format!("{y:04}-{m:02}-{d:02}T{:02}", start.rem_euclid(DAY) / HOUR)
            }
            PartitionUnit::Day | PartitionUnit::Week => format!("{y:04}-{m:02}-{d:02}"),
            PartitionUnit::Month => format!("{y:04}-{m:02}"),
            PartitionUnit::Year => format!("{y:04}"),
        }
    }
}

/// A channel of a segment and the value types it has there.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChannelInfo {
    /// Channel name.
    pub name: String,
    /// Value types (`f64`, `i64`, `bool`, `string`) seen in the segment.
    pub types: Vec<String>,
}

/// A segment's device names, sorted and unique: indices into a name table that the
/// segments of one manifest share (version 2 stores each name once, archive.md §2).
#[derive(Clone)]
pub struct DeviceList {
    names: Arc<[String]>,
    ids: Vec<u32>,
}

impl DeviceList {
    /// Number of devices.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Device `i` (in sorted order).
    pub fn get(&self, i: usize) -> Option<&String> {
        self.ids.get(i).map(|&k| &self.names[k as usize])
    }

    /// The names in sorted order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &String> + Clone + '_ {
        self.ids.iter().map(|&k| &self.names[k as usize])
    }

    /// Position of `name`, or where it would be inserted (as `slice::binary_search`).
    ///
    /// # Errors
    /// `Err(insertion point)` when `name` is not in the list.
    pub fn binary_search(&self, name: &str) -> std::result::Result<usize, usize> {
        self.ids
            .binary_search_by(|&k| self.names[k as usize].as_str().cmp(name))
    }

    /// The names as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().cloned().collect()
    }
}

impl From<Vec<String>> for DeviceList {
    /// Takes `names` as they are; callers pass them sorted and unique.
    fn from(names: Vec<String>) -> DeviceList {
        let ids = (0..names.len() as u32).collect();
        DeviceList {
            names: names.into(),
            ids,
        }
    }
}

impl std::ops::Index<usize> for DeviceList {
    type Output = String;
    fn index(&self, i: usize) -> &String {
        &self.names[self.ids[i] as usize]
    }
}

impl PartialEq for DeviceList {
    fn eq(&self, other: &DeviceList) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for DeviceList {}

impl std::fmt::Debug for DeviceList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for DeviceList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for DeviceList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Vec::<String>::deserialize(d).map(DeviceList::from)
    }
}

/// One live segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// Path relative to the archive directory.
    pub path: String,
    /// Start of the partition window.
    pub partition: i64,
    /// Devices with rows in the segment, sorted.
    pub devices: DeviceList,
    /// Channels with their types, shared as `devices` is.
    pub channels: Arc<[ChannelInfo]>,
    /// Smallest timestamp.
    pub min_ts: i64,
    /// Largest timestamp.
    pub max_ts: i64,
    /// Rows (distinct timestamps per device, summed).
    pub rows: u64,
    /// Present values over all channels.
    pub points: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Generation of the commit that added it.
    pub generation: u64,
    /// Arrival order: a higher seq holds later arrivals (archive.md §6).
    #[serde(default)]
    pub seq: u64,
    /// `[offset, length]` of the segment's group in the index file (archive.md §9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<[u64; 2]>,
    /// The segment's trailer `footer_checksum` (archive.md §2.3): what the file at
    /// `path` must hold. `None` only for segments listed by a version 1 or 2 manifest
    /// that no writer has rewritten yet (archive.md L7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<u64>,
}

/// The manifest body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always "iotarc-archive".
    pub format: String,
    /// Incremented by every commit.
    pub generation: u64,
    /// Partition window.
    pub partition: PartitionUnit,
    /// Bytes of input packed so far (for compression ratios).
    #[serde(default)]
    pub input_bytes: u64,
    /// Duplicate policy.
    #[serde(default)]
    pub dedup: Dedup,
    /// The seq the next new segment gets.
    #[serde(default)]
    pub next_seq: Option<u64>,
    /// Streaming-writer state: present once a streaming writer has sealed, or from the
    /// start when it created the archive with an explicit unit (archive.md §3.1, §7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal: Option<WalState>,
    /// File name of the index (archive.md §9), if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// Live segments, sorted by (partition, path).
    pub segments: Vec<SegmentEntry>,
}

impl Manifest {
    /// An empty manifest for a new archive.
    pub fn new(partition: PartitionUnit) -> Manifest {
        Manifest {
            format: "iotarc-archive".into(),
            generation: 0,
            partition,
            input_bytes: 0,
            dedup: Dedup::Last,
            next_seq: Some(0),
            wal: None,
            index: None,
            segments: Vec::new(),
        }
    }

    /// Whether the partition unit is fixed: the archive lists a segment or has streaming
    /// writer state. A writer may still choose the unit of an archive for which this is
    /// false (archive.md §3.1).
    pub fn unit_fixed(&self) -> bool {
        !self.segments.is_empty() || self.wal.is_some()
    }

    /// Checks a writer's requested duplicate policy against the archive's.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming both policies when they differ.
    pub fn check_dedup(&self, dir: &Path, wanted: Option<Dedup>) -> Result<()> {
        match wanted {
            Some(d) if d != self.dedup => Err(Error::invalid_input(format!(
                "archive {} deduplicates with policy {}, not {}; the policy is fixed when the archive is created",
                dir.display(),
                self.dedup.name(),
                d.name()
            ))),
            _ => Ok(()),
        }
    }

    /// Allocates the seq of a new segment.
    pub fn alloc_seq(&mut self) -> u64 {
        let s = self.next_seq.unwrap_or(0);
        self.next_seq = Some(s + 1);
        s
    }

    /// Assigns seqs to a manifest written before they existed, and checks them.
    fn fix_seqs(&mut self) -> Result<()> {
        match self.next_seq {
            None => {
                let mut order: Vec<usize> = (0..self.segments.len()).collect();
                order.sort_by(|&a, &b| {
                    let (x, y) = (&self.segments[a], &self.segments[b]);
                    (x.generation, &x.path).cmp(&(y.generation, &y.path))
                });
                for (k, i) in order.into_iter().enumerate() {
                    self.segments[i].seq = k as u64;
                }
                self.next_seq = Some(self.segments.len() as u64);
            }
            Some(next) => {
                let mut seen = std::collections::HashSet::with_capacity(self.segments.len());
                for s in &self.segments {
                    if s.seq >= next || !seen.insert(s.seq) {
                        return Err(Error::corrupt(
                            format!(
                                "segment {} has seq {} (duplicate, or not below next_seq {next})",
                                s.path, s.seq
                            ),
                            None,
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads and validates `dir/MANIFEST`.
    ///
    /// # Errors
    /// I/O errors; corrupt envelope, checksum mismatch or JSON; unsupported version.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let ctx = |e: Error| e.with_path(&path);
        let bytes = fs::read(&path).map_err(|e| ctx(e.into()))?;
        if bytes.len() < ENVELOPE {
            return Err(ctx(Error::truncated(
                "manifest envelope",
                ENVELOPE as u64,
                bytes.len() as u64,
            )));
        }
        if bytes[..8] != MAGIC {
            return Err(ctx(Error::corrupt(
                "manifest magic does not match (not an iotarc archive?)",
                Some(0),
            )));
        }
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version > VERSION || version == 0 {
            return Err(ctx(Error::new(ErrorKind::UnsupportedVersion {
                found: version,
                supported: VERSION,
            })));
        }
        if bytes[10..16] != [0; 6] {
            return Err(ctx(Error::corrupt(
                "manifest flags/reserved bytes are not 0",
                Some(10),
            )));
        }
        let generation = u64_at(16);
        let len = u64_at(24);
        if len > MAX_BODY || len != (bytes.len() - ENVELOPE) as u64 {
            return Err(ctx(Error::corrupt(
                format!("manifest body length {len} does not match the file"),
                Some(24),
            )));
        }
        let body = &bytes[ENVELOPE..];
        if xxh3_64(body) != u64_at(32) {
            return Err(ctx(Error::corrupt("manifest checksum mismatch", Some(32))));
        }
        let json = |e: serde_json::Error| {
            ctx(Error::corrupt(
                format!("manifest JSON: {e}"),
                Some(ENVELOPE as u64),
            ))
        };
        let mut m: Manifest = if version == 1 {
            serde_json::from_slice(body).map_err(json)?
        } else {
            let b: BodyV2 = serde_json::from_slice(body).map_err(json)?;
            b.into_manifest().map_err(ctx)?
        };
        if m.format != "iotarc-archive" || m.generation != generation {
            return Err(ctx(Error::corrupt(
                "manifest format tag or generation mismatch",
                Some(16),
            )));
        }
        m.fix_seqs().map_err(ctx)?;
        m.check_paths().map_err(ctx)?;
        Ok(m)
    }

    /// Rules M1–M3 of archive.md §2.4: every segment path is `seg/<label>/<name>`, the
    /// index name one `INDEX-` component, and no path is listed twice. A path that
    /// could leave the archive directory is corrupt, so nothing ever opens or deletes
    /// it.
    fn check_paths(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::with_capacity(self.segments.len());
        for s in &self.segments {
            if !is_segment_path(&s.path) {
                return Err(Error::corrupt(
                    format!(
                        "manifest segment path {:?} is not seg/<label>/<name> (archive.md M1)",
                        s.path
                    ),
                    None,
                ));
            }
            if !seen.insert(s.path.as_str()) {
                return Err(Error::corrupt(
                    format!("manifest lists segment {} twice (archive.md M3)", s.path),
                    None,
                ));
            }
        }
        if let Some(ix) = &self.index {
            if !(ix.starts_with("INDEX-") && is_component(ix)) {
                return Err(Error::corrupt(
                    format!(
                        "manifest index name {ix:?} is not one INDEX-… file name (archive.md M2)"
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }

    /// Writes the manifest atomically: temp file, fsync, rename over `MANIFEST`, fsync dir.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let body = serde_json::to_vec(&BodyV2::of(self))
            .map_err(|e| Error::invalid_input(format!("manifest: {e}")))?;
        let mut out = Vec::with_capacity(ENVELOPE + body.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&[0; 6]);
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&xxh3_64(&body).to_le_bytes());
        out.extend_from_slice(&body);
        write_atomic(dir, MANIFEST_FILE, &out)
    }
}

/// One path component as archive.md M1 allows it: not empty, `.` or `..`, and without
/// `/`, `\\` or NUL.
fn is_component(c: &str) -> bool {
    !c.is_empty() && c != "." && c != ".." && !c.contains(['/', '\\', '\0'])
}

/// True when `path` is `seg/<label>/<name>` with two valid components (archive.md M1).
pub fn is_segment_path(path: &str) -> bool {
    let mut parts = path.split('/');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("seg"), Some(label), Some(name), None) if is_component(label) && is_component(name)
    )
}

/// The version 2 and 3 body: [`Manifest`] with every device name stored once, segments
/// listing theirs as ranges of name indices, and each distinct channel list stored once
/// (archive.md §2). An archive of 200 devices in 21 segments lists 200 names rather
/// than 4,200: reading those names was most of what opening it cost.
#[derive(Serialize, Deserialize)]
struct BodyV2 {
    format: String,
    generation: u64,
    partition: PartitionUnit,
    #[serde(default)]
    input_bytes: u64,
    #[serde(default)]
    dedup: Dedup,
    #[serde(default)]
    next_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wal: Option<WalState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<String>,
    devices: Vec<String>,
    channel_sets: Vec<Arc<[ChannelInfo]>>,
    segments: Vec<SegmentV2>,
}

/// A segment of a version 2 body: [`SegmentEntry`] with its devices as half-open ranges
/// `[start, end)` of indices into the body's `devices`, flattened, and its channels as
/// an index into `channel_sets`.
#[derive(Serialize, Deserialize)]
struct SegmentV2 {
    path: String,
    partition: i64,
    devices: Vec<u32>,
    channel_set: usize,
    min_ts: i64,
    max_ts: i64,
    rows: u64,
    points: u64,
    bytes: u64,
    generation: u64,
    seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<[u64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum: Option<u64>,
}

/// Numbers each distinct channel list in first-use order.
fn intern<T: Eq + std::hash::Hash>(
    sets: &mut Vec<Arc<[T]>>,
    seen: &mut HashMap<Arc<[T]>, usize>,
    set: &Arc<[T]>,
) -> usize {
    *seen.entry(Arc::clone(set)).or_insert_with(|| {
        sets.push(Arc::clone(set));
        sets.len() - 1
    })
}

impl BodyV2 {
    fn of(m: &Manifest) -> BodyV2 {
        let names: std::collections::BTreeSet<&String> =
            m.segments.iter().flat_map(|s| s.devices.iter()).collect();
        let devices: Vec<String> = names.into_iter().cloned().collect();
        let mut channel_sets = Vec::new();
        let mut seen = HashMap::new();
        let segments = m
            .segments
            .iter()
            .map(|s| {
                let mut ranges: Vec<u32> = Vec::new();
                for name in s.devices.iter() {
                    // Every name is in `devices`, which is sorted.
                    let k = devices.binary_search(name).unwrap_or_default() as u32;
                    match ranges.last_mut() {
                        Some(end) if *end == k => *end = k + 1,
                        _ => ranges.extend([k, k + 1]),
                    }
                }
                SegmentV2 {
                    path: s.path.clone(),
                    partition: s.partition,
                    devices: ranges,
                    channel_set: intern(&mut channel_sets, &mut seen, &s.channels),
                    min_ts: s.min_ts,
                    max_ts: s.max_ts,
                    rows: s.rows,
                    points: s.points,
                    bytes: s.bytes,
                    generation: s.generation,
                    seq: s.seq,
                    index: s.index,
                    checksum: s.checksum,
                }
            })
            .collect();
        BodyV2 {
            format: m.format.clone(),
            generation: m.generation,
            partition: m.partition,
            input_bytes: m.input_bytes,
            dedup: m.dedup,
            next_seq: m.next_seq,
            wal: m.wal.clone(),
            index: m.index.clone(),
            devices,
            channel_sets,
            segments,
        }
    }

    fn into_manifest(self) -> Result<Manifest> {
        if let Some(w) = self.devices.windows(2).find(|w| w[0] >= w[1]) {
            return Err(Error::corrupt(
                format!(
                    "manifest device names are not sorted and unique ({:?} before {:?})",
                    w[0], w[1]
                ),
                None,
            ));
        }
        let names: Arc<[String]> = self.devices.into();
        let segments = self
            .segments
            .into_iter()
            .map(|s| {
                let bad = |what: String| {
                    Error::corrupt(format!("manifest segment {}: {what}", s.path), None)
                };
                let Some(channels) = self.channel_sets.get(s.channel_set) else {
                    return Err(bad(format!(
                        "channel set {} of {}",
                        s.channel_set,
                        self.channel_sets.len()
                    )));
                };
                let mut ids = Vec::new();
                let mut prev_end = 0;
                for r in s.devices.chunks(2) {
                    let &[a, b] = r else {
                        return Err(bad("device ranges have an odd length".into()));
                    };
                    if a >= b || a < prev_end || b as usize > names.len() {
                        return Err(bad(format!(
                            "device range {a}..{b} is empty, out of order or past the {} names",
                            names.len()
                        )));
                    }
                    ids.extend(a..b);
                    prev_end = b;
                }
                if ids.is_empty() {
                    return Err(bad("no devices".into()));
                }
                Ok(SegmentEntry {
                    path: s.path,
                    partition: s.partition,
                    devices: DeviceList {
                        names: Arc::clone(&names),
                        ids,
                    },
                    channels: Arc::clone(channels),
                    min_ts: s.min_ts,
                    max_ts: s.max_ts,
                    rows: s.rows,
                    points: s.points,
                    bytes: s.bytes,
                    generation: s.generation,
                    seq: s.seq,
                    index: s.index,
                    checksum: s.checksum,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Manifest {
            format: self.format,
            generation: self.generation,
            partition: self.partition,
            input_bytes: self.input_bytes,
            dedup: self.dedup,
            next_seq: self.next_seq,
            wal: self.wal,
            index: self.index,
            segments,
        })
    }
}

/// Takes the archive's writer lock (`dir/LOCK`, an OS advisory lock released when the
/// returned file is dropped or the process dies).
///
/// # Errors
/// [`ErrorKind::InvalidInput`] naming the archive when another writer holds the lock.
pub fn lock(dir: &Path) -> Result<File> {
    let path = dir.join("LOCK");
    let f = fsio::File::open(
        OpenOptions::new().create(true).truncate(false).write(true),
        &path,
    )
    .map_err(|e| Error::from(e).with_path(&path))?
    .into_inner();
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::invalid_input(format!(
            "archive {} is locked by another writer",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::from(e).with_path(&path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_paths_stay_inside_seg() {
        for ok in [
            "seg/2024-01-01/g000001-0000.seg",
            "seg/2024-01/x",
            "seg/a/.b.tmp",
        ] {
            assert!(is_segment_path(ok), "{ok}");
        }
        for bad in [
            "../victim/x.seg",
            "/abs/seg/a/b",
            "seg/../../victim/x.seg",
            "seg/a/../b",
            "seg/./b",
            "seg/a",
            "seg/a/b/c",
            "seg//b",
            "seg/a\\..\\b/c",
            "seg/a/b\0",
            "SEG/a/b",
            "",
        ] {
            assert!(!is_segment_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn civil_roundtrip_and_windows() {
        for z in [-800_000i64, -1, 0, 1, 19_000, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        let t = days_from_civil(2024, 2, 29) * DAY + 5 * HOUR + 17;
        assert_eq!(
            PartitionUnit::Month.window_start(t),
            days_from_civil(2024, 2, 1) * DAY
        );
        assert_eq!(
            PartitionUnit::Month.window_end(days_from_civil(2024, 12, 1) * DAY),
            days_from_civil(2025, 1, 1) * DAY
        );
        // 2024-02-29 is a Thursday; its week starts Monday 2024-02-26.
        assert_eq!(
            PartitionUnit::Week.window_start(t),
            days_from_civil(2024, 2, 26) * DAY
        );
        assert_eq!(
            PartitionUnit::Hour.label(PartitionUnit::Hour.window_start(t)),
            "2024-02-29T05"
        );
        assert_eq!(PartitionUnit::Day.window_start(-1), -DAY);
        let y24 = days_from_civil(2024, 1, 1) * DAY;
        assert_eq!(PartitionUnit::Year.window_start(t), y24);
        assert_eq!(
            PartitionUnit::Year.window_end(y24),
            days_from_civil(2025, 1, 1) * DAY
        );
        assert_eq!(PartitionUnit::Year.label(y24), "2024");
        assert_eq!(
            PartitionUnit::Year.window_start(-1),
            days_from_civil(1969, 1, 1) * DAY
        );
    }

    fn entry(path: &str, devices: &[&str], channels: &[&str]) -> SegmentEntry {
        SegmentEntry {
            path: path.into(),
            partition: 0,
            devices: devices
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .into(),
            channels: channels
                .iter()
                .map(|c| ChannelInfo {
                    name: c.to_string(),
                    types: vec!["f64".into()],
                })
                .collect(),
            min_ts: 0,
            max_ts: 1,
            rows: 1,
            points: 1,
            bytes: 100,
            generation: 1,
            seq: 0,
            index: None,
            checksum: Some(7),
        }
    }

    /// Writes `body` inside a valid envelope of version 2.
    fn write_body(dir: &Path, generation: u64, body: &str) {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&[0; 6]);
        out.extend_from_slice(&generation.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&xxh3_64(body.as_bytes()).to_le_bytes());
        out.extend_from_slice(body.as_bytes());
        fs::write(dir.join(MANIFEST_FILE), out).unwrap();
    }

    #[test]
    fn v2_stores_names_once_and_reads_back_every_list() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::new(PartitionUnit::Day);
        m.generation = 1;
        for (i, (d, c)) in [
            (&["a", "b", "c", "e"][..], &["t"][..]),
            (&["b"][..], &["t", "h"][..]),
            (&["a", "c", "d"][..], &["t"][..]),
        ]
        .into_iter()
        .enumerate()
        {
            let mut e = entry(&format!("seg/x/{i}.seg"), d, c);
            e.seq = i as u64;
            m.segments.push(e);
        }
        m.next_seq = Some(3);
        m.write(dir.path()).unwrap();
        let back = Manifest::read(dir.path()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.segments[2].devices.binary_search("c"), Ok(1));
        assert_eq!(back.segments[2].devices.binary_search("b"), Err(1));
        let bytes = fs::read(dir.path().join(MANIFEST_FILE)).unwrap();
        let text = String::from_utf8(bytes[ENVELOPE..].to_vec()).unwrap();
        assert_eq!(text.matches("\"c\"").count(), 1, "{text}");
        assert!(
            text.contains(r#""devices":["a","b","c","d","e"]"#),
            "{text}"
        );
        // [a, b, c, e] = names 0..3 and 4..5; [a, c, d] = 0..1 and 2..4. The first and
        // third segments share their channel list.
        assert!(
            text.contains(r#""devices":[0,3,4,5],"channel_set":0"#),
            "{text}"
        );
        assert!(
            text.contains(r#""devices":[1,2],"channel_set":1"#),
            "{text}"
        );
        assert!(
            text.contains(r#""devices":[0,1,2,4],"channel_set":0"#),
            "{text}"
        );
    }

    #[test]
    fn v2_device_ranges_and_sets_out_of_bounds_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let body = |names: &str, ranges: &str, set: usize| {
            format!(
                r#"{{"format":"iotarc-archive","generation":1,"partition":"day","next_seq":1,"devices":{names},"channel_sets":[[{{"name":"t","types":["f64"]}}]],"segments":[{{"path":"seg/x/0.seg","partition":0,"devices":{ranges},"channel_set":{set},"min_ts":0,"max_ts":1,"rows":1,"points":1,"bytes":100,"generation":1,"seq":0}}]}}"#
            )
        };
        write_body(dir.path(), 1, &body(r#"["a","b"]"#, "[0,2]", 0));
        assert_eq!(
            Manifest::read(dir.path()).unwrap().segments[0]
                .devices
                .len(),
            2
        );
        for (names, ranges, set) in [
            (r#"["a","b"]"#, "[0,3]", 0),     // past the names
            (r#"["a","b"]"#, "[1,1]", 0),     // empty range
            (r#"["a","b"]"#, "[1,2,0,1]", 0), // out of order
            (r#"["a","b"]"#, "[0]", 0),       // odd length
            (r#"["a","b"]"#, "[]", 0),        // no devices
            (r#"["b","a"]"#, "[0,2]", 0),     // names unsorted
            (r#"["a","a"]"#, "[0,1]", 0),     // names repeated
            (r#"["a","b"]"#, "[0,2]", 1),     // no such channel set
        ] {
            write_body(dir.path(), 1, &body(names, ranges, set));
            let e = Manifest::read(dir.path()).unwrap_err();
            assert!(e.is_corruption(), "{names} {ranges} {set}: {e}");
        }
    }

    #[test]
    fn manifest_roundtrip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::new(PartitionUnit::Day);
        m.generation = 3;
        m.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), m);
        let p = dir.path().join(MANIFEST_FILE);
        let mut b = fs::read(&p).unwrap();
        let last = b.len() - 2;
        b[last] ^= 1;
        fs::write(&p, &b).unwrap();
        assert!(Manifest::read(dir.path()).unwrap_err().is_corruption());
    }
}
