//! The streaming writer: accepts point batches from any number of threads, logs them to
//! the WAL before acknowledging them, buffers points per (device, seal window) and seals
//! buffers into segments when their window closes, when memory runs short or when the
//! oldest buffered point has waited `max_delay`.
//!
//! Threads: producers call [`StreamWriter::write`]; the first producer to find no WAL
//! write in progress becomes the *leader* and writes every queued batch with one write
//! and (policy permitting) one fsync — group commit — then inserts the points into the
//! buffers and wakes the others. A sealer thread forms seal rounds, writes segments,
//! commits the manifest with the WAL state of archive.md §7, trims the WAL and, when
//! enabled, compacts.

use super::latency::LatencyHist;
use super::sealer;
use crate::archive::compact::{CompactOptions, CompactReport};
use crate::archive::index;
use crate::archive::manifest::{Dedup, Manifest, PartitionUnit, WalState};
use crate::archive::packer::{intern, BufRow, Origin, PackValue};
use crate::error::{Error, Result};
use crate::format::stats::TypedStats;
use crate::format::writer::WriterOptions;
use crate::model::{Value, ValueType};
use crate::util::fsio;
use crate::wal::batch::PointBatch;
use crate::wal::{self, TruncatedTail, WalOptions, WalWriter};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// When the WAL is fsynced, and so what an acknowledgement guarantees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync before every acknowledgement (group commit shares one fsync among the
    /// batches that arrive while the previous one runs). An acknowledged point survives
    /// a process crash and a power loss.
    Batch,
    /// Write to the OS before acknowledging; fsync at most this often (and at least this
    /// often while data is unsynced). An acknowledged point survives a process crash; a
    /// power loss can lose up to the interval's acknowledged points.
    Interval(Duration),
    /// Write to the OS before acknowledging; never fsync the WAL (segments and the
    /// manifest are still fsynced). Survives a process crash, not a power loss.
    None,
}

impl SyncPolicy {
    /// Parses `batch`, `none`, `interval=MS` or `interval=<n>ms|s`.
    pub fn parse(s: &str) -> Option<SyncPolicy> {
        match s {
            "batch" => Some(SyncPolicy::Batch),
            "none" => Some(SyncPolicy::None),
            _ => {
                let v = s.strip_prefix("interval=")?;
                let ms: u64 = if let Some(x) = v.strip_suffix("ms") {
                    x.parse().ok()?
                } else if let Some(x) = v.strip_suffix('s') {
                    x.parse::<u64>().ok()?.checked_mul(1000)?
                } else {
                    v.parse().ok()?
                };
                (ms > 0).then(|| SyncPolicy::Interval(Duration::from_millis(ms)))
            }
        }
    }
}

/// Settings of a [`StreamWriter`].
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Partition window of a new archive (an existing archive keeps its own); `None`
    /// (the default) lets the writer choose it from the rate of the first points, as the
    /// packer does (archive.md §3.1, [`auto_partition`](crate::archive::auto_partition)).
    /// Nothing is sealed before it has chosen: up to the first hour of data stays
    /// buffered.
    ///
    /// ```
    /// use iotarc::archive::PartitionUnit;
    /// use iotarc::stream::StreamOptions;
    /// assert_eq!(StreamOptions::default().partition, None);
    /// let by_day = StreamOptions { partition: Some(PartitionUnit::Day), ..StreamOptions::default() };
    /// # let _ = by_day;
    /// ```
    pub partition: Option<PartitionUnit>,
    /// Duplicate policy of a new archive; for an existing archive it must match.
    pub dedup: Option<Dedup>,
    /// WAL fsync policy.
    pub sync: SyncPolicy,
    /// How far behind the newest timestamp seen a window stays open, in µs.
    pub lateness_us: i64,
    /// Window of a buffer; at most the partition unit (a larger one is clamped, and a week
    /// in a month or year partition becomes a day).
    pub seal_unit: PartitionUnit,
    /// Seal everything once the oldest buffered point has waited this long (bounds the
    /// delay from acknowledgement to queryable). `None`: only windows and memory seal.
    pub max_delay: Option<Duration>,
    /// Memory the writer may use, in bytes (default
    /// [`DEFAULT_MEMORY_LIMIT`](crate::archive::DEFAULT_MEMORY_LIMIT), 512 MiB). Buffered
    /// points plus points being sealed are held to [`StreamOptions::buffer_bytes`], 3/8
    /// of it (producers block above that, and a seal of everything starts at half of
    /// that); the rest covers the growth of the buffers, the pivot and encode work of a
    /// seal, compaction, and the caller's batches in flight, which should stay within
    /// 1/8 of the limit (`iotarc ingest` sizes its input chunks so).
    ///
    /// ```
    /// use iotarc::stream::StreamOptions;
    /// let opts = StreamOptions { memory_limit: 256 << 20, ..StreamOptions::default() };
    /// assert_eq!(opts.buffer_bytes(), 96 << 20);
    /// ```
    pub memory_limit: u64,
    /// Segment writer settings.
    pub writer: WriterOptions,
    /// WAL settings.
    pub wal: WalOptions,
    /// Compact after seals (tiers as in [`CompactOptions`]); `None` disables it.
    pub compact: Option<CompactOptions>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            partition: None,
            dedup: None,
            sync: SyncPolicy::Batch,
            lateness_us: 600_000_000,
            seal_unit: PartitionUnit::Hour,
            max_delay: Some(Duration::from_secs(10)),
            memory_limit: crate::archive::DEFAULT_MEMORY_LIMIT,
            writer: WriterOptions::default(),
            wal: WalOptions::default(),
            compact: Some(CompactOptions::default()),
        }
    }
}

impl StreamOptions {
    /// The bound on buffered points plus points being sealed, in the writer's accounting
    /// (64 bytes per point plus string bytes): 3/8 of [`StreamOptions::memory_limit`], at
    /// least 64 KiB.
    pub fn buffer_bytes(&self) -> usize {
        let limit = usize::try_from(self.memory_limit).unwrap_or(usize::MAX);
        (limit / 8).saturating_mul(3).max(64 << 10)
    }

    /// Rows each thread pivots and encodes at a time while sealing: 1/8 of the limit
    /// over the threads, at about 64 bytes a row in flight.
    pub(super) fn part_rows(&self) -> usize {
        let limit = usize::try_from(self.memory_limit).unwrap_or(usize::MAX);
        (limit / 8 / rayon::current_num_threads().max(1) / 64).clamp(16 << 10, 1 << 20)
    }
}

/// The outcome of one [`StreamWriter::write`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteAck {
    /// Every WAL record up to this seq, this batch's included, was acknowledged when the
    /// call returned (`None` if no point was accepted).
    pub seq: Option<u64>,
    /// Points accepted and acknowledged.
    pub accepted: usize,
    /// Points refused, as (index in the batch, reason). Refused points are not logged.
    pub rejected: Vec<(usize, String)>,
}

/// What [`StreamWriter::open`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenReport {
    /// WAL records replayed.
    pub records: u64,
    /// Points restored into buffers.
    pub points: u64,
    /// Points of replayed records already in segments (skipped).
    pub already_sealed: u64,
    /// A torn or corrupt WAL tail that was cut off.
    pub truncated: Option<TruncatedTail>,
    /// Files a crashed writer provably left behind (archive.md L2–L4), deleted; each is
    /// also named in `warnings`.
    pub orphans_removed: usize,
    /// Problems that cost no data, such as an `INDEX` that could not be rebuilt.
    pub warnings: Vec<String>,
}

/// Counters of a running writer.
#[derive(Clone, Debug, Default)]
pub struct StreamStats {
    /// Points acknowledged.
    pub points: u64,
    /// Points refused by `write`.
    pub rejected: u64,
    /// WAL records written.
    pub records: u64,
    /// WAL fsyncs.
    pub syncs: u64,
    /// Seal rounds committed.
    pub seals: u64,
    /// Segments written by seals.
    pub segments: u64,
    /// Points written to segments (after deduplication).
    pub points_sealed: u64,
    /// Duplicates resolved while sealing.
    pub duplicates: u64,
    /// Acknowledged points that could not be written (should stay 0; see `problems`).
    pub lost: u64,
    /// Descriptions of such points.
    pub problems: Vec<String>,
    /// Compaction totals.
    pub compaction: CompactReport,
    /// Points in buffers.
    pub buffered_points: u64,
    /// Bytes accounted against [`StreamOptions::buffer_bytes`].
    pub memory: usize,
    /// Largest `memory` seen.
    pub peak_memory: usize,
    /// Problems that cost no data, such as an `INDEX` that could not be updated.
    pub warnings: Vec<String>,
    /// Delay from acknowledgement to queryable (committed in a segment), per point.
    pub latency: LatencyHist,
}

/// Type state of one (device, channel), so type conflicts are refused before the WAL
/// and not discovered after acknowledgement.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Integers only so far; `big` when one is not exactly an f64.
    Int {
        big: bool,
    },
    /// Floats (integers that are exactly f64 are accepted too).
    Float,
    Bool,
    Str,
}

/// The buffered points of one (device, seal window).
pub(super) struct Buf {
    /// The points, in arrival order.
    pub(super) rows: Vec<BufRow>,
    /// WAL seq of the first record that put a point here.
    pub(super) first_seq: u64,
    /// Bytes accounted against [`StreamOptions::buffer_bytes`].
    pub(super) bytes: usize,
    /// One per insert, for the latency histogram.
    pub(super) acks: Vec<Ack>,
}

/// Points of one insert into a buffer and when they were acknowledged.
#[derive(Clone, Copy)]
pub(super) struct Ack {
    /// Acknowledgement time.
    pub(super) at: Instant,
    /// Points inserted.
    pub(super) points: u32,
}

/// What [`State::insert`] did with a batch.
struct Inserted {
    /// Points put into buffers.
    inserted: u64,
    /// Points skipped as already sealed (replay only).
    skipped: u64,
}

/// The seal window of the previous point of a batch, for the next point of the same
/// device, which usually falls into it.
#[derive(Clone, Copy)]
struct LastWindow {
    /// Global device id.
    dev: u32,
    /// Window start.
    start: i64,
    /// Window end (exclusive).
    end: i64,
}

impl Buf {
    /// Takes `o`'s points (its acks are appended unsorted).
    fn absorb(&mut self, mut o: Buf) {
        self.rows.append(&mut o.rows);
        self.first_seq = self.first_seq.min(o.first_seq);
        self.bytes += o.bytes;
        self.acks.append(&mut o.acks);
    }
}

/// A batch waiting for the group commit that logs it (its ticket orders the queue).
struct QueuedBatch {
    ticket: u64,
    batch: PointBatch,
    /// Global ids of the batch's device and channel tables.
    dev_ids: Vec<u32>,
    ch_ids: Vec<u32>,
}

pub(super) struct State {
    pub(super) devices: Vec<String>,
    device_idx: NameMap,
    pub(super) channels: Vec<String>,
    channel_idx: NameMap,
    /// Type state per device, per channel id.
    kinds: Vec<Vec<Option<Kind>>>,
    /// Buffers per device id: (seal window start, buffer), usually one or two windows.
    pub(super) bufs: Vec<Vec<(i64, Buf)>>,
    /// Acknowledgement time of the oldest buffered point.
    pub(super) oldest: Option<Instant>,
    /// Partition unit; `None` while the writer has yet to choose it (archive.md §3.1).
    pub(super) unit: Option<PartitionUnit>,
    /// Seal window unit the buffers are keyed by.
    pub(super) seal_unit: PartitionUnit,
    queue: Vec<QueuedBatch>,
    next_ticket: u64,
    done_ticket: u64,
    leader: bool,
    pub(super) max_ts: i64,
    /// Smallest timestamp inserted (for the rate while the unit is not chosen).
    pub(super) min_ts: i64,
    arrival: u64,
    /// Next WAL seq (every record below it is in the buffers or sealed).
    pub(super) next_seq: u64,
    pub(super) error: Option<String>,
    pub(super) flush_requested: u64,
    pub(super) flush_done: u64,
    /// Producers blocked on memory.
    pub(super) waiting: usize,
    pub(super) stop: bool,
    pub(super) last_sync: Instant,
    pub(super) unsynced: bool,
    pub(super) stats: StreamStats,
}

pub(super) struct Shared {
    pub(super) dir: PathBuf,
    pub(super) opts: StreamOptions,
    /// [`StreamOptions::buffer_bytes`].
    pub(super) buffer_bytes: usize,
    /// [`StreamOptions::part_rows`].
    pub(super) part_rows: usize,
    pub(super) st: Mutex<State>,
    pub(super) cv: Condvar,
    pub(super) wal: Mutex<WalWriter>,
}

/// A live writer into an archive. Holds the archive's writer lock until dropped.
///
/// # Example
/// ```
/// use iotarc::stream::{PointBatch, StreamOptions, StreamWriter};
/// use iotarc::Value;
/// let dir = tempfile::tempdir()?;
/// let arch = dir.path().join("arch");
/// let (w, _) = StreamWriter::open(&arch, StreamOptions::default())?;
/// let mut b = PointBatch::default();
/// b.push("pump-1", "temp", 1_700_000_000_000_000, Value::F64(21.5));
/// b.push("pump-1", "temp", 1_700_000_001_000_000, Value::F64(21.6));
/// let ack = w.write(b)?; // durable (WAL fsynced) when this returns
/// assert_eq!(ack.accepted, 2);
/// w.close()?; // seals the buffers into segments
/// let a = iotarc::archive::Archive::open(&arch)?;
/// let (rows, _) = a.query().aggregates(&[iotarc::archive::Agg::Count]).run_aggregate()?;
/// assert_eq!(rows[0].count, 2);
/// # Ok::<(), iotarc::Error>(())
/// ```
pub struct StreamWriter {
    shared: Arc<Shared>,
    /// The sealer thread; it returns the last manifest it committed (or was handed).
    sealer: Option<JoinHandle<Manifest>>,
    _lock: File,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock is a bug; the state is still consistent enough to
    // report errors, so keep going rather than poison every later call.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn value_bytes(v: &Value) -> usize {
    match v {
        Value::Str(s) => s.len() + 16,
        _ => 0,
    }
}

/// Memory charged per buffered point: the row plus amortised vector growth.
const POINT_BYTES: usize = std::mem::size_of::<BufRow>() + 16;

/// Seal unit of the buffers while the partition unit is not chosen: hour windows nest in
/// the windows of every unit, so buffers regroup into any seal unit once it is.
const PROVISIONAL_SEAL_UNIT: PartitionUnit = PartitionUnit::Hour;

fn to_pack(v: Value) -> PackValue {
    match v {
        Value::F64(x) => PackValue::F64(x),
        Value::I64(x) => PackValue::I64(x),
        Value::Bool(x) => PackValue::Bool(x),
        Value::Str(s) => PackValue::Str(s.into_boxed_str()),
    }
}

/// Name -> id, with a fast non-cryptographic hash (names come from the caller, and a
/// batch of 10,000 devices interns 10,000 names).
type NameMap = HashMap<String, u32, std::hash::BuildHasherDefault<crate::util::hash::FxHasher>>;

impl State {
    /// Global ids of a batch's (or footer's) device and channel tables.
    fn intern_tables(&mut self, devices: &[String], channels: &[String]) -> (Vec<u32>, Vec<u32>) {
        let d = devices
            .iter()
            .map(|n| intern(&mut self.device_idx, &mut self.devices, n))
            .collect();
        let c = channels
            .iter()
            .map(|n| intern(&mut self.channel_idx, &mut self.channels, n))
            .collect();
        (d, c)
    }

    /// Checks `v` against the channel's type so far and records it. `Err` names why the
    /// point is refused.
    fn admit(&mut self, dev: u32, ch: u32, v: &Value) -> std::result::Result<(), String> {
        let exact = |x: i64| {
            let f = x as f64;
            f as i128 == x as i128 && f.abs() < 9.3e18
        };
        let new = match v {
            Value::F64(_) => Kind::Float,
            Value::I64(x) => Kind::Int { big: !exact(*x) },
            Value::Bool(_) => Kind::Bool,
            Value::Str(_) => Kind::Str,
        };
        let slot = self.kind_slot(dev, ch).get_or_insert(new);
        let name = |k: Kind| match k {
            Kind::Int { .. } => ValueType::I64.name(),
            Kind::Float => ValueType::F64.name(),
            Kind::Bool => ValueType::Bool.name(),
            Kind::Str => ValueType::Str.name(),
        };
        match (*slot, new) {
            (a, b) if a == b => Ok(()),
            (Kind::Int { .. }, Kind::Int { big }) => {
                if big {
                    *slot = Kind::Int { big: true };
                }
                Ok(())
            }
            (Kind::Float, Kind::Int { big: false }) => Ok(()),
            (Kind::Int { big: false }, Kind::Float) => {
                *slot = Kind::Float;
                Ok(())
            }
            (Kind::Float, Kind::Int { big: true }) | (Kind::Int { big: true }, Kind::Float) => {
                Err(format!(
                    "channel {:?} of device {:?} mixes floats with integers beyond 2^53, which no f64 holds exactly",
                    self.channels[ch as usize], self.devices[dev as usize]
                ))
            }
            (a, b) => Err(format!(
                "{} value for channel {:?} of device {:?}, which is {}",
                name(b),
                self.channels[ch as usize],
                self.devices[dev as usize],
                name(a)
            )),
        }
    }

    /// Inserts a batch's points (WAL record `seq`) into the buffers.
    #[allow(clippy::too_many_arguments)] // one call site each for live writes and replay
    fn insert(
        &mut self,
        seal_unit: PartitionUnit,
        seq: u64,
        batch: PointBatch,
        dev_ids: &[u32],
        ch_ids: &[u32],
        acked: Instant,
        skip: Option<&HashMap<(u32, i64), u64>>,
    ) -> Inserted {
        let (mut inserted, mut skipped) = (0u64, 0u64);
        let mut last: Option<LastWindow> = None;
        if self.oldest.is_none() && !batch.points.is_empty() {
            self.oldest = Some(acked);
        }
        for (d, c, ts, v) in batch.points {
            let dev = dev_ids[d as usize];
            let ch = ch_ids[c as usize];
            let w = match last {
                Some(l) if l.dev == dev && ts >= l.start && ts < l.end => l.start,
                _ => {
                    let ws = seal_unit.window_start(ts);
                    last = Some(LastWindow {
                        dev,
                        start: ws,
                        end: seal_unit.window_end(ws),
                    });
                    ws
                }
            };
            if skip.is_some_and(|m| m.get(&(dev, w)).is_some_and(|&upto| upto >= seq)) {
                skipped += 1;
                continue;
            }
            let bytes = POINT_BYTES + value_bytes(&v);
            self.arrival += 1;
            let row = BufRow::new(
                ts,
                ch,
                Origin {
                    input: 0,
                    line: self.arrival,
                },
                to_pack(v),
            );
            let buf = self.buf_mut(dev, w, seq);
            match buf.acks.last_mut() {
                Some(a) if a.at == acked => a.points += 1,
                _ => buf.acks.push(Ack {
                    at: acked,
                    points: 1,
                }),
            }
            buf.rows.push(row);
            buf.bytes += bytes;
            self.max_ts = self.max_ts.max(ts);
            self.min_ts = self.min_ts.min(ts);
            inserted += 1;
        }
        self.stats.buffered_points += inserted;
        Inserted { inserted, skipped }
    }
}

impl State {
    /// The type recorded for (`dev`, `ch`), growing the table to hold it.
    fn kind_slot(&mut self, dev: u32, ch: u32) -> &mut Option<Kind> {
        let (d, c) = (dev as usize, ch as usize);
        if self.kinds.len() <= d {
            self.kinds.resize_with(d + 1, Vec::new);
        }
        let row = &mut self.kinds[d];
        if row.len() <= c {
            row.resize(c + 1, None);
        }
        &mut row[c]
    }

    /// Records a type already in the archive (integers and floats together are floats).
    fn seed_kind(&mut self, dev: u32, ch: u32, kind: Kind) {
        let slot = self.kind_slot(dev, ch);
        *slot = match (*slot, kind) {
            (None, k) => Some(k),
            (Some(Kind::Int { big: a }), Kind::Int { big: b }) => Some(Kind::Int { big: a || b }),
            (Some(Kind::Int { big }), Kind::Float) | (Some(Kind::Float), Kind::Int { big }) => {
                Some(if big { Kind::Int { big } } else { Kind::Float })
            }
            (old, _) => old,
        };
    }

    /// Re-keys every buffer by the window of `unit` holding its window. Each buffer's
    /// window must lie inside one window of `unit` (true of hour windows, which
    /// [`PROVISIONAL_SEAL_UNIT`] buffers use, for every unit).
    pub(super) fn regroup(&mut self, unit: PartitionUnit) {
        for list in &mut self.bufs {
            let mut out: Vec<(i64, Buf)> = Vec::with_capacity(list.len());
            let mut at: HashMap<i64, usize> = HashMap::new();
            for (w, b) in list.drain(..) {
                let w = unit.window_start(w);
                match at.get(&w) {
                    Some(&i) => out[i].1.absorb(b),
                    None => {
                        at.insert(w, out.len());
                        out.push((w, b));
                    }
                }
            }
            for (_, b) in &mut out {
                b.acks.sort_by_key(|a| a.at);
            }
            *list = out;
        }
    }

    /// The buffer of (`dev`, window `w`), created (first holding record `seq`) if new.
    #[inline]
    fn buf_mut(&mut self, dev: u32, w: i64, seq: u64) -> &mut Buf {
        let d = dev as usize;
        if self.bufs.len() <= d {
            self.bufs.resize_with(d + 1, Vec::new);
        }
        let list = &mut self.bufs[d];
        let i = match list.iter().position(|b| b.0 == w) {
            Some(i) => i,
            None => {
                list.push((
                    w,
                    Buf {
                        rows: Vec::new(),
                        first_seq: seq,
                        bytes: 0,
                        acks: Vec::new(),
                    },
                ));
                list.len() - 1
            }
        };
        &mut list[i].1
    }
}

impl StreamWriter {
    /// Opens (or creates) the archive at `dir` for streaming: takes the writer lock,
    /// deletes what a crashed writer left unlisted, replays the WAL into the buffers and
    /// starts the sealer thread.
    ///
    /// # Errors
    /// Another writer holds the lock; a corrupt manifest or WAL (other than a torn tail,
    /// which is cut off and reported); a dedup policy that differs from the archive's;
    /// I/O errors.
    pub fn open(dir: impl AsRef<Path>, opts: StreamOptions) -> Result<(StreamWriter, OpenReport)> {
        let dir = dir.as_ref().to_path_buf();
        fsio::create_dir_all(&dir).map_err(|e| Error::from(e).with_path(&dir))?;
        // A new archive gets an empty manifest at once: readers (and `iotarc compact`,
        // which then reports the lock) see an empty archive rather than none while the
        // first window is still buffered.
        // A unit given explicitly is fixed at once (WAL state from the start); under auto
        // the unit is provisional until the first seal (archive.md §3.1).
        let new = || {
            let mut m = Manifest::new(opts.partition.unwrap_or(PartitionUnit::Day));
            m.dedup = opts.dedup.unwrap_or_default();
            m.wal = opts.partition.map(|u| WalState {
                replay_from: 0,
                seal_unit: clamp_unit(opts.seal_unit, u),
                sealed: Vec::new(),
            });
            m
        };
        let opened = crate::archive::leftovers::open_for_write(&dir, Some(&new))?;
        let (lock_file, mut m) = (opened.lock, opened.manifest);
        m.check_dedup(&dir, opts.dedup)?;
        let mut report = OpenReport {
            orphans_removed: opened.cleanup.removed.len(),
            warnings: opened.cleanup.messages(),
            ..Default::default()
        };
        // Records what a crash kept out of the INDEX and drops a torn tail.
        report.warnings.extend(index::refresh(&dir, &mut m)?);
        // An archive without segments or WAL state has had nothing sealed: its unit is
        // still open, and every WAL record is replayed (archive.md §7).
        let unit = if m.unit_fixed() {
            Some(m.partition)
        } else {
            opts.partition
        };
        let seal_unit = match (&m.wal, unit) {
            (Some(w), _) => w.seal_unit,
            (None, Some(u)) => clamp_unit(opts.seal_unit, u),
            (None, None) => PROVISIONAL_SEAL_UNIT,
        };
        let (replay_from, sealed) = match &m.wal {
            Some(w) => (w.replay_from, w.sealed.clone()),
            None => (0, Vec::new()),
        };
        if let (None, Some(u)) = (&m.wal, unit) {
            m.partition = u;
            m.wal = Some(WalState {
                replay_from: 0,
                seal_unit,
                sealed: Vec::new(),
            });
        }
        let mut st = State {
            devices: Vec::new(),
            device_idx: NameMap::default(),
            channels: Vec::new(),
            channel_idx: NameMap::default(),
            kinds: Vec::new(),
            bufs: Vec::new(),
            oldest: None,
            unit,
            seal_unit,
            queue: Vec::new(),
            next_ticket: 1,
            done_ticket: 0,
            leader: false,
            max_ts: i64::MIN,
            min_ts: i64::MAX,
            arrival: 0,
            next_seq: 0,
            error: None,
            flush_requested: 0,
            flush_done: 0,
            waiting: 0,
            stop: false,
            last_sync: Instant::now(),
            unsynced: false,
            stats: StreamStats::default(),
        };
        // Channel types already in the archive constrain new points too (a string into a
        // channel whose floats are sealed would make it unreadable as one series; a float
        // next to sealed integers beyond 2^53 would make them inexact). Footers give the
        // type per (device, channel) and the integer range; reading them costs one open
        // and a few preads per segment, no block is decoded.
        for seg in &m.segments {
            let f = crate::archive::open_listed(&dir, seg)?;
            let footer = f.footer();
            let (devs, chans) = st.intern_tables(&footer.devices, &footer.channels);
            for b in &footer.blocks {
                for c in &b.columns {
                    let kind = match &c.stats.typed {
                        Some(TypedStats::F64 { .. }) => Kind::Float,
                        Some(TypedStats::I64 { min, max, .. }) => Kind::Int {
                            big: !(-(1i64 << 53)..=(1i64 << 53)).contains(min)
                                || !(-(1i64 << 53)..=(1i64 << 53)).contains(max),
                        },
                        Some(TypedStats::Bool { .. }) => Kind::Bool,
                        Some(TypedStats::Str { .. }) => Kind::Str,
                        None => continue,
                    };
                    let (Some(&d), Some(&ch)) =
                        (devs.get(b.device as usize), chans.get(c.channel as usize))
                    else {
                        continue;
                    };
                    st.seed_kind(d, ch, kind);
                }
            }
        }
        let mut skip: HashMap<(u32, i64), u64> = HashMap::new();
        for (d, w, upto) in &sealed {
            let id = intern(&mut st.device_idx, &mut st.devices, d);
            skip.insert((id, *w), *upto);
        }
        let wal_dir = dir.join("wal");
        if !wal_dir.is_dir() {
            crate::util::files::create_dir_durably(&dir, &wal_dir)?;
        }
        let now = Instant::now();
        let rep = wal::replay(&wal_dir, replay_from, |seq, payload| {
            let batch = PointBatch::decode(payload).map_err(|e| {
                Error::corrupt(format!("WAL record {seq}: {e}"), None).with_path(&wal_dir)
            })?;
            let (dev_ids, ch_ids) = st.intern_tables(&batch.devices, &batch.channels);
            for &(d, c, _, ref v) in &batch.points {
                // Recorded points were admitted once; re-admitting rebuilds the types.
                let _ = st.admit(dev_ids[d as usize], ch_ids[c as usize], v);
            }
            let Inserted {
                inserted: ins,
                skipped,
            } = st.insert(seal_unit, seq, batch, &dev_ids, &ch_ids, now, Some(&skip));
            report.records += 1;
            report.points += ins;
            report.already_sealed += skipped;
            Ok(())
        })?;
        report.truncated = rep.truncated;
        let next_seq = rep.next_seq.max(replay_from);
        st.next_seq = next_seq;
        st.stats.memory = st.bufs.iter().flatten().map(|b| b.1.bytes).sum();
        let walw = WalWriter::create(&wal_dir, next_seq, opts.wal)?;
        let shared = Arc::new(Shared {
            dir,
            buffer_bytes: opts.buffer_bytes(),
            part_rows: opts.part_rows(),
            opts,
            st: Mutex::new(st),
            cv: Condvar::new(),
            wal: Mutex::new(walw),
        });
        let sh = Arc::clone(&shared);
        let sealer = std::thread::Builder::new()
            .name("iotarc-sealer".into())
            .spawn(move || sealer::sealer_loop(&sh, m))
            .map_err(Error::from)?;
        Ok((
            StreamWriter {
                shared,
                sealer: Some(sealer),
                _lock: lock_file,
            },
            report,
        ))
    }

    /// Logs `batch` to the WAL and buffers it; returns once the accepted points are
    /// acknowledged under the sync policy. Blocks while buffered memory is above
    /// [`StreamOptions::buffer_bytes`] (backpressure; nothing is dropped). Points whose type conflicts with
    /// their channel's earlier points are refused and listed in the ack, and so is a
    /// point too large for a WAL record on its own (a string of nearly
    /// [`wal::MAX_RECORD_LEN`] bytes). A batch whose encoding could exceed
    /// [`wal::MAX_RECORD_LEN`] is logged as several records (see [`PointBatch::split`]),
    /// all acknowledged together.
    ///
    /// # Errors
    /// A WAL or segment write failed (earlier or now); nothing of this batch is
    /// acknowledged then, and every later call fails too.
    pub fn write(&self, batch: PointBatch) -> Result<WriteAck> {
        let sh = &*self.shared;
        let need: usize = batch
            .points
            .iter()
            .map(|p| POINT_BYTES + value_bytes(&p.3))
            .sum();
        let mut st = lock(&sh.st);
        // Backpressure: wait for room (a batch larger than the whole bound waits for an
        // empty buffer instead). A waiting producer makes the sealer seal everything.
        while st.error.is_none() && st.stats.memory > 0 && st.stats.memory + need > sh.buffer_bytes
        {
            st.waiting += 1;
            sh.cv.notify_all();
            st = sh.cv.wait(st).unwrap_or_else(|p| p.into_inner());
            st.waiting -= 1;
        }
        if let Some(e) = &st.error {
            return Err(Error::invalid_input(format!(
                "stream writer failed earlier: {e}"
            )));
        }
        let (dev_ids, ch_ids) = st.intern_tables(&batch.devices, &batch.channels);
        // A record must decode at replay: its name tables may not repeat a name.
        for ids in [&dev_ids, &ch_ids] {
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                return Err(Error::invalid_input(
                    "batch has a device or channel name twice in its tables",
                ));
            }
        }
        let mut ack = WriteAck::default();
        let mut bytes = 0;
        let max_record = wal::MAX_RECORD_LEN as usize;
        for (i, (d, c, _, v)) in batch.points.iter().enumerate() {
            let (Some(&dev), Some(&ch)) = (dev_ids.get(*d as usize), ch_ids.get(*c as usize))
            else {
                ack.rejected
                    .push((i, "device or channel index out of range".into()));
                continue;
            };
            let alone = batch.single_bound(i);
            if alone > max_record {
                ack.rejected.push((
                    i,
                    format!(
                        "point needs a WAL record of up to {alone} bytes, more than the {max_record} a record may hold"
                    ),
                ));
                continue;
            }
            match st.admit(dev, ch, v) {
                Ok(()) => bytes += POINT_BYTES + value_bytes(v),
                Err(e) => ack.rejected.push((i, e)),
            }
        }
        let batch = if ack.rejected.is_empty() {
            batch
        } else {
            let mut points = Vec::with_capacity(batch.points.len() - ack.rejected.len());
            let mut r = ack.rejected.iter().map(|x| x.0).peekable();
            for (i, p) in batch.points.into_iter().enumerate() {
                if r.peek() == Some(&i) {
                    r.next();
                } else {
                    points.push(p);
                }
            }
            PointBatch::from_parts(batch.devices, batch.channels, points)
        };
        st.stats.rejected += ack.rejected.len() as u64;
        ack.accepted = batch.points.len();
        if batch.points.is_empty() {
            return Ok(ack);
        }
        st.stats.memory += bytes;
        st.stats.peak_memory = st.stats.peak_memory.max(st.stats.memory);
        // One WAL record per part; the batch is acknowledged with its last part.
        let mut ticket = st.next_ticket;
        if batch.encoded_bound() <= max_record {
            st.queue.push(QueuedBatch {
                ticket,
                batch,
                dev_ids,
                ch_ids,
            });
            st.next_ticket += 1;
        } else {
            for (part, devs, chans) in batch.split(max_record) {
                ticket = st.next_ticket;
                st.next_ticket += 1;
                st.queue.push(QueuedBatch {
                    ticket,
                    batch: part,
                    dev_ids: devs.iter().map(|&k| dev_ids[k as usize]).collect(),
                    ch_ids: chans.iter().map(|&k| ch_ids[k as usize]).collect(),
                });
            }
        }
        loop {
            if let Some(e) = &st.error {
                return Err(Error::invalid_input(format!("stream writer failed: {e}")));
            }
            if st.done_ticket >= ticket {
                break;
            }
            if !st.leader {
                st.leader = true;
                let group = std::mem::take(&mut st.queue);
                drop(st);
                let res = self.commit_group(group);
                st = lock(&sh.st);
                st.leader = false;
                match res {
                    Ok(()) => {}
                    Err(e) => {
                        st.error = Some(e.to_string());
                        sh.cv.notify_all();
                        return Err(e);
                    }
                }
                sh.cv.notify_all();
                continue;
            }
            st = sh.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        ack.seq = st.next_seq.checked_sub(1);
        Ok(ack)
    }

    /// The leader's work: one WAL write (and fsync) for the whole group, then the points
    /// go into the buffers.
    fn commit_group(&self, group: Vec<QueuedBatch>) -> Result<()> {
        let sh = &*self.shared;
        let mut seqs = Vec::with_capacity(group.len());
        let synced;
        {
            let mut wal = lock(&sh.wal);
            let mut buf = Vec::new();
            for p in &group {
                buf.clear();
                p.batch.encode(&mut buf);
                seqs.push(wal.append(&buf)?);
            }
            synced = match sh.opts.sync {
                SyncPolicy::Batch => {
                    wal.sync()?;
                    true
                }
                SyncPolicy::Interval(d) => {
                    let due = lock(&sh.st).last_sync.elapsed() >= d;
                    if due {
                        wal.sync()?;
                    } else {
                        wal.flush()?;
                    }
                    due
                }
                SyncPolicy::None => {
                    wal.flush()?;
                    false
                }
            };
        }
        let now = Instant::now();
        let mut st = lock(&sh.st);
        if synced {
            st.last_sync = now;
            st.unsynced = false;
            st.stats.syncs += 1;
        } else {
            st.unsynced = true;
        }
        let mut top = 0;
        for (p, seq) in group.into_iter().zip(seqs) {
            top = top.max(p.ticket);
            let n = p.batch.points.len() as u64;
            let seal_unit = st.seal_unit;
            st.insert(seal_unit, seq, p.batch, &p.dev_ids, &p.ch_ids, now, None);
            st.next_seq = seq + 1;
            st.stats.points += n;
            st.stats.records += 1;
        }
        st.done_ticket = st.done_ticket.max(top);
        Ok(())
    }

    /// Seals every buffered point into segments and waits until they are committed
    /// (queryable).
    ///
    /// # Errors
    /// A failed seal.
    pub fn flush(&self) -> Result<()> {
        let sh = &*self.shared;
        let mut st = lock(&sh.st);
        st.flush_requested += 1;
        let want = st.flush_requested;
        sh.cv.notify_all();
        while st.flush_done < want && st.error.is_none() {
            st = sh.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        match &st.error {
            Some(e) => Err(Error::invalid_input(format!("stream writer failed: {e}"))),
            None => Ok(()),
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> StreamStats {
        lock(&self.shared.st).stats.clone()
    }

    /// Seals everything, stops the sealer, rotates the WAL so that its sealed file is
    /// deleted (wal.md W5, W7; only an empty file stays) and releases the lock.
    ///
    /// # Errors
    /// A failed seal, WAL sync, rotation or deletion. The archive stays consistent: a
    /// WAL file left behind is deleted by a later writer.
    pub fn close(mut self) -> Result<StreamStats> {
        let r = self.flush();
        let m = self.stop();
        let mut wal = lock(&self.shared.wal);
        wal.sync()?;
        r?;
        // Every record is in segments once the committed `replay_from` reaches the log's
        // end; then the current file is rotated away and deleted (archive.md §7).
        let replay_from = m
            .as_ref()
            .and_then(|m| m.wal.as_ref())
            .map(|w| w.replay_from);
        if let Some(from) = replay_from.filter(|&f| f >= wal.next_seq()) {
            wal.rotate()?;
            wal.remove_below(from)?;
        }
        drop(wal);
        Ok(self.stats())
    }

    /// Stops the sealer thread; returns its last manifest (`None` if it panicked or was
    /// stopped before).
    fn stop(&mut self) -> Option<Manifest> {
        {
            let mut st = lock(&self.shared.st);
            st.stop = true;
            self.shared.cv.notify_all();
        }
        self.sealer.take().and_then(|h| h.join().ok())
    }
}

impl Drop for StreamWriter {
    /// Stops without sealing: buffered points stay in the WAL and are replayed by the
    /// next open, as after a crash.
    fn drop(&mut self) {
        self.stop();
        let _ = lock(&self.shared.wal).sync();
    }
}

/// `seal` as a seal unit of partitions of `partition`: at most the partition unit, and
/// a day rather than a week where weeks do not nest in the partition.
pub(super) fn clamp_unit(seal: PartitionUnit, partition: PartitionUnit) -> PartitionUnit {
    let rank = |u: PartitionUnit| match u {
        PartitionUnit::Hour => 0,
        PartitionUnit::Day => 1,
        PartitionUnit::Week => 2,
        PartitionUnit::Month => 3,
        PartitionUnit::Year => 4,
    };
    // A week does not nest in a month or a year: a week-long seal window there would
    // straddle two partitions, so it falls back to days.
    if rank(seal) > rank(partition) {
        partition
    } else if seal == PartitionUnit::Week && partition != PartitionUnit::Week {
        PartitionUnit::Day
    } else {
        seal
    }
}
