//! Consistency of a manifest with the segments it lists (archive.md §11, rule A3).
//!
//! Readers trust the manifest: pruning (§5) skips a segment on its `partition`,
//! `min_ts`, `max_ts` and `devices` alone, so an entry that disagrees with its segment
//! silently drops rows from answers. [`check_entry`] compares every field of an entry
//! that the segment determines with what the segment holds, and returns each
//! disagreement as a [`Finding`]; `iotarc verify` prints them.
//!
//! The segment side is taken from the footer. That the footer agrees with the blocks
//! (rows, timestamps, statistics) is the segment's own verification (format.md §13),
//! which a verifier runs separately.

use super::index::Index;
use super::manifest::{Manifest, PartitionUnit, SegmentEntry};
use crate::format::reader::Segment;
use std::collections::BTreeSet;
use std::fmt;

/// A field of a manifest segment entry (archive.md §2.1) that [`check_entry`] compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `partition`: a window start of the manifest's unit whose window holds every row.
    Partition,
    /// `min_ts`.
    MinTs,
    /// `max_ts`.
    MaxTs,
    /// `devices`: the devices with at least one block.
    Devices,
    /// `channels`: names and value types.
    Channels,
    /// `rows`.
    Rows,
    /// `points`.
    Points,
    /// `bytes`: the file length.
    Bytes,
    /// `checksum`: the trailer's footer checksum (§2.3, M4), when the entry records one.
    Checksum,
    /// `index`: the group range, which must hold a usable group equal to what the
    /// segment's footer gives (§9.2).
    Index,
}

impl Field {
    /// The manifest key.
    pub fn key(self) -> &'static str {
        match self {
            Field::Partition => "partition",
            Field::MinTs => "min_ts",
            Field::MaxTs => "max_ts",
            Field::Devices => "devices",
            Field::Channels => "channels",
            Field::Rows => "rows",
            Field::Points => "points",
            Field::Bytes => "bytes",
            Field::Checksum => "checksum",
            Field::Index => "index",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One field of a segment entry that disagrees with the segment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// The entry's `path`.
    pub path: String,
    /// The field.
    pub field: Field,
    /// The manifest's value, as text.
    pub manifest: String,
    /// What the segment holds, as text.
    pub segment: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field == Field::Index {
            // Derived data (§9): nothing is lost, and a writer rebuilds it.
            return write!(
                f,
                "{}: manifest index is {}, which does not describe the segment: {} \
                 (derived data: `iotarc compact` rebuilds the index; queries meanwhile read \
                 the segment itself)",
                self.path, self.manifest, self.segment
            );
        }
        write!(
            f,
            "{}: manifest {} is {}, the segment has {}",
            self.path, self.field, self.manifest, self.segment
        )
    }
}

/// What a segment's footer says about the fields of its manifest entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Facts {
    /// Smallest block `ts_min` (`i64::MAX` for a segment without blocks).
    pub min_ts: i64,
    /// Largest block `ts_max` (`i64::MIN` for a segment without blocks).
    pub max_ts: i64,
    /// Devices with at least one block, sorted.
    pub devices: Vec<String>,
    /// Channel names with the value types their columns have, both sorted.
    pub channels: Vec<(String, Vec<String>)>,
    /// Sum of the blocks' row counts.
    pub rows: u64,
    /// Sum of the columns' present-value counts.
    pub points: u64,
    /// File length.
    pub bytes: u64,
}

impl Facts {
    /// Collects the facts of `seg` from its footer.
    pub fn of(seg: &Segment) -> Facts {
        let footer = seg.footer();
        let mut f = Facts {
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            devices: Vec::new(),
            channels: Vec::new(),
            rows: 0,
            points: 0,
            bytes: seg.len_bytes(),
        };
        let mut devices = BTreeSet::new();
        let mut types: Vec<BTreeSet<&'static str>> = vec![BTreeSet::new(); footer.channels.len()];
        for b in &footer.blocks {
            f.min_ts = f.min_ts.min(b.ts_min);
            f.max_ts = f.max_ts.max(b.ts_max);
            f.rows += b.rows;
            devices.insert(b.device as usize);
            for c in &b.columns {
                f.points += c.stats.count;
                if let Some(t) = types.get_mut(c.channel as usize) {
                    t.insert(c.vtype.name());
                }
            }
        }
        f.devices = devices
            .into_iter()
            .filter_map(|d| footer.devices.get(d).cloned())
            .collect();
        f.devices.sort();
        f.channels = footer
            .channels
            .iter()
            .zip(types)
            .filter(|(_, t)| !t.is_empty())
            .map(|(name, t)| (name.clone(), t.into_iter().map(str::to_owned).collect()))
            .collect();
        f.channels.sort();
        f
    }
}

/// Compares every field of `e` that the segment determines with the open segment `seg`
/// (archive.md §11, rule A3), in the manifest `m` (for the partition unit and the index
/// file name). `index` is the index file `m` names, if it could be opened; the group of
/// `e` is checked against `seg` only then (a missing file is the caller's finding, once
/// per archive rather than once per segment). `generation` and `seq` are not stored in
/// the segment and are not compared.
///
/// Returns the disagreements, in [`Field`] order; empty when the entry is right.
pub fn check_entry(
    m: &Manifest,
    e: &SegmentEntry,
    seg: &Segment,
    index: Option<&Index>,
) -> Vec<Finding> {
    let f = Facts::of(seg);
    let mut out = Vec::new();
    let mut differ = |field: Field, manifest: String, segment: String| {
        out.push(Finding {
            path: e.path.clone(),
            field,
            manifest,
            segment,
        });
    };
    if let Some(segment) = partition_problem(m.partition, e.partition, &f) {
        differ(Field::Partition, window(m.partition, e.partition), segment);
    }
    if e.min_ts != f.min_ts {
        differ(Field::MinTs, e.min_ts.to_string(), f.min_ts.to_string());
    }
    if e.max_ts != f.max_ts {
        differ(Field::MaxTs, e.max_ts.to_string(), f.max_ts.to_string());
    }
    if !e.devices.iter().eq(f.devices.iter()) {
        differ(
            Field::Devices,
            list(e.devices.iter().map(|d| format!("{d:?}"))),
            list(f.devices.iter().map(|d| format!("{d:?}"))),
        );
    }
    let mut listed: Vec<(String, Vec<String>)> = e
        .channels
        .iter()
        .map(|c| {
            let mut t = c.types.clone();
            t.sort();
            (c.name.clone(), t)
        })
        .collect();
    listed.sort();
    if listed != f.channels {
        let show = |c: &[(String, Vec<String>)]| {
            list(c.iter().map(|(n, t)| format!("{n:?}: {}", t.join("|"))))
        };
        differ(Field::Channels, show(&listed), show(&f.channels));
    }
    if e.rows != f.rows {
        differ(Field::Rows, e.rows.to_string(), f.rows.to_string());
    }
    if e.points != f.points {
        differ(Field::Points, e.points.to_string(), f.points.to_string());
    }
    if e.bytes != f.bytes {
        differ(Field::Bytes, e.bytes.to_string(), f.bytes.to_string());
    }
    let sum = seg.footer_location().1;
    if let Some(want) = e.checksum.filter(|&c| c != sum) {
        differ(
            Field::Checksum,
            format!("{want:#018x}"),
            format!("{sum:#018x}"),
        );
    }
    if let Some([off, len]) = e.index {
        let range = match &m.index {
            Some(name) => format!("[{off}, {len}] of {name}"),
            None => format!("[{off}, {len}]"),
        };
        if m.index.is_none() {
            differ(
                Field::Index,
                range,
                "no index file named by the manifest".into(),
            );
        } else if let Some(ix) = index {
            if let Err(err) = ix.check_segment(e, seg) {
                differ(Field::Index, range, err.to_string());
            }
        }
    }
    out
}

/// `None` when `partition` is a window start of `unit` whose window holds every row of
/// the segment; otherwise the window(s) the rows lie in.
fn partition_problem(unit: PartitionUnit, partition: i64, f: &Facts) -> Option<String> {
    if f.rows == 0 || f.min_ts > f.max_ts {
        // No rows: every window holds them; only alignment can be wrong.
        return (unit.window_start(partition) != partition)
            .then(|| "no rows (and the value is not a window start)".into());
    }
    let first = unit.window_start(f.min_ts);
    let last = unit.window_start(f.max_ts);
    if first == partition && last == partition {
        return None;
    }
    Some(if first == last {
        format!("its rows in window {}", window(unit, first))
    } else {
        format!(
            "rows from window {} to window {}",
            window(unit, first),
            window(unit, last)
        )
    })
}

/// A partition value with its label, or a note that it starts no window.
fn window(unit: PartitionUnit, start: i64) -> String {
    if unit.window_start(start) == start {
        format!("{start} ({})", unit.label(start))
    } else {
        format!(
            "{start} (not the start of a window of unit {})",
            unit.name()
        )
    }
}

/// At most 8 items, then how many there are.
fn list(items: impl ExactSizeIterator<Item = String>) -> String {
    const SHOW: usize = 8;
    let n = items.len();
    let shown: Vec<String> = items.take(SHOW).collect();
    if n > SHOW {
        format!("[{}, … ({n} in all)]", shown.join(", "))
    } else {
        format!("[{}]", shown.join(", "))
    }
}
