//! Parquet peers (the `parquet` crate's Arrow writer and reader).
//!
//! Layouts, both sorted and with page-level statistics, the column and offset indexes
//! (page index) and sorting-column metadata, zstd, 1 Mi-row row groups and pages of at
//! most 1 MiB / 20,000 rows (the crate's defaults):
//! - **long**: `device, channel, ts, f64, i64, str`, sorted by (device, channel, ts), one
//!   row per value and the value in the column of its type (the others null);
//! - **wide**: `device, ts, <one column per channel>`, sorted by (device, ts), one row per
//!   device timestamp, absent channels null (the layout of the strongest Parquet figure
//!   in ../shared/data/beijing/README.md).
//!
//! Timestamps are DELTA_BINARY_PACKED (no dictionary): a careful user's choice for sorted
//! times; other columns keep the default dictionary-then-plain encoding.
//!
//! [`Tuning`] varies two settings for the size grid of `--corpus all`: dictionary encoding
//! of the numeric value columns (dictionaries of floats that rarely repeat cost more than
//! they save), and pages of up to 1 Mi rows / 8 MiB instead of 20,000 rows / 1 MiB (zstd
//! then sees a longer stretch of each column at once, at the price of coarser page
//! pruning).
//!
//! Queries prune row groups by their statistics on device, channel and ts, then pages by
//! the column index of the same columns (page row ranges intersected into a
//! `RowSelection`, so only overlapping pages are read and decoded), and project only
//! device, channel, ts and the value column.

use crate::corpus::{Agg, Corpus, Vals};
use anyhow::{Context, Result};
use arrow_array::builder::{
    Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, SortingColumn};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;
use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// Rows per Arrow batch handed to the writer.
const BATCH: usize = 65_536;

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Writer settings beyond the defaults above.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tuning {
    /// No dictionary for the numeric value columns (device, channel and string columns
    /// keep theirs).
    pub no_value_dict: bool,
    /// Pages of up to 1 Mi rows and 8 MiB (dictionary pages too), instead of the crate's
    /// 20,000 rows and 1 MiB.
    pub big_pages: bool,
}

impl Tuning {
    /// The four combinations, the default first.
    pub const GRID: [Tuning; 4] = [
        Tuning {
            no_value_dict: false,
            big_pages: false,
        },
        Tuning {
            no_value_dict: true,
            big_pages: false,
        },
        Tuning {
            no_value_dict: false,
            big_pages: true,
        },
        Tuning {
            no_value_dict: true,
            big_pages: true,
        },
    ];

    /// A short description (`defaults` for the default).
    pub fn label(self) -> String {
        let mut v = Vec::new();
        if self.no_value_dict {
            v.push("no value dictionary");
        }
        if self.big_pages {
            v.push("1 Mi-row pages");
        }
        if v.is_empty() {
            "defaults".into()
        } else {
            v.join(", ")
        }
    }
}

fn props(level: i32, sort: &[i32], t: Tuning, numeric: &[&str]) -> Result<WriterProperties> {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(level)?))
        .set_column_encoding(ColumnPath::from("ts"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from("ts"), false);
    if t.no_value_dict {
        for c in numeric {
            b = b.set_column_dictionary_enabled(ColumnPath::from(*c), false);
        }
    }
    if t.big_pages {
        b = b
            .set_data_page_row_count_limit(1 << 20)
            .set_data_page_size_limit(8 << 20)
            .set_dictionary_page_size_limit(8 << 20);
    }
    Ok(b.set_sorting_columns(Some(
        sort.iter()
            .map(|&c| SortingColumn {
                column_idx: c,
                descending: false,
                nulls_first: false,
            })
            .collect(),
    ))
    .build())
}

/// Writes the long layout; returns the file size.
pub fn write_long(c: &Corpus, path: &Path, level: i32) -> Result<u64> {
    write_long_tuned(c, path, level, Tuning::default())
}

/// [`write_long`] with [`Tuning`].
pub fn write_long_tuned(c: &Corpus, path: &Path, level: i32, t: Tuning) -> Result<u64> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("device", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("ts", ts_type(), false),
        Field::new("f64", DataType::Float64, true),
        Field::new("i64", DataType::Int64, true),
        Field::new("str", DataType::Utf8, true),
    ]));
    let mut w = ArrowWriter::try_new(
        File::create(path)?,
        schema.clone(),
        Some(props(level, &[0, 1, 2], t, &["f64", "i64"])?),
    )?;
    let mut b = LongBuilders::new();
    for s in &c.series {
        for i in 0..s.ts.len() {
            b.dev.append_value(&s.device);
            b.ch.append_value(&s.channel);
            b.ts.append_value(s.ts[i]);
            match &s.vals {
                Vals::F64(v) => {
                    b.f.append_value(v[i]);
                    b.i.append_null();
                    b.s.append_null();
                }
                Vals::I64(v) => {
                    b.f.append_null();
                    b.i.append_value(v[i]);
                    b.s.append_null();
                }
                Vals::Str { dict, codes } => {
                    b.f.append_null();
                    b.i.append_null();
                    b.s.append_value(&dict[codes[i] as usize]);
                }
            }
            b.n += 1;
            if b.n == BATCH {
                w.write(&b.finish(&schema)?)?;
            }
        }
    }
    if b.n > 0 {
        w.write(&b.finish(&schema)?)?;
    }
    w.close()?;
    Ok(std::fs::metadata(path)?.len())
}

struct LongBuilders {
    dev: StringBuilder,
    ch: StringBuilder,
    ts: TimestampMicrosecondBuilder,
    f: Float64Builder,
    i: Int64Builder,
    s: StringBuilder,
    n: usize,
}

impl LongBuilders {
    fn new() -> Self {
        LongBuilders {
            dev: StringBuilder::new(),
            ch: StringBuilder::new(),
            ts: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            f: Float64Builder::new(),
            i: Int64Builder::new(),
            s: StringBuilder::new(),
            n: 0,
        }
    }

    fn finish(&mut self, schema: &Arc<Schema>) -> Result<RecordBatch> {
        self.n = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.dev.finish()),
            Arc::new(self.ch.finish()),
            Arc::new(self.ts.finish()),
            Arc::new(self.f.finish()),
            Arc::new(self.i.finish()),
            Arc::new(self.s.finish()),
        ];
        Ok(RecordBatch::try_new(schema.clone(), cols)?)
    }
}

/// A wide column's type: f64 if any device's series is f64, else i64, else string.
fn wide_channels(c: &Corpus) -> Vec<(String, u8)> {
    let mut m: BTreeMap<&str, u8> = BTreeMap::new();
    for s in &c.series {
        let k = s.vals.kind();
        m.entry(&s.channel)
            .and_modify(|t| {
                if k == 0 || (*t == 2 && k == 1) {
                    *t = k
                }
            })
            .or_insert(k);
    }
    m.into_iter().map(|(k, t)| (k.to_string(), t)).collect()
}

enum ColB {
    F(Float64Builder),
    I(Int64Builder),
    S(StringBuilder),
}

/// Writes the wide layout; returns the file size.
pub fn write_wide(c: &Corpus, path: &Path, level: i32) -> Result<u64> {
    write_wide_tuned(c, path, level, Tuning::default())
}

/// [`write_wide`] with [`Tuning`].
pub fn write_wide_tuned(c: &Corpus, path: &Path, level: i32, t: Tuning) -> Result<u64> {
    let chans = wide_channels(c);
    let numeric: Vec<&str> = chans
        .iter()
        .filter(|(_, t)| *t < 2)
        .map(|(n, _)| n.as_str())
        .collect();
    let mut fields = vec![
        Field::new("device", DataType::Utf8, false),
        Field::new("ts", ts_type(), false),
    ];
    for (name, t) in &chans {
        let dt = [DataType::Float64, DataType::Int64, DataType::Utf8][*t as usize].clone();
        fields.push(Field::new(name, dt, true));
    }
    let schema = Arc::new(Schema::new(fields));
    let mut w = ArrowWriter::try_new(
        File::create(path)?,
        schema.clone(),
        Some(props(level, &[0, 1], t, &numeric)?),
    )?;
    let new_cols = || -> Vec<ColB> {
        chans
            .iter()
            .map(|(_, t)| match t {
                0 => ColB::F(Float64Builder::new()),
                1 => ColB::I(Int64Builder::new()),
                _ => ColB::S(StringBuilder::new()),
            })
            .collect()
    };
    let mut dev = StringBuilder::new();
    let mut tsb = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut cols = new_cols();
    let mut n = 0usize;
    let ch_ix: BTreeMap<&str, usize> = chans
        .iter()
        .enumerate()
        .map(|(i, (c, _))| (c.as_str(), i))
        .collect();
    let mut flush = |dev: &mut StringBuilder,
                     tsb: &mut TimestampMicrosecondBuilder,
                     cols: &mut Vec<ColB>|
     -> Result<()> {
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(dev.finish()), Arc::new(tsb.finish())];
        for c in cols.iter_mut() {
            arrays.push(match c {
                ColB::F(b) => Arc::new(b.finish()),
                ColB::I(b) => Arc::new(b.finish()),
                ColB::S(b) => Arc::new(b.finish()),
            });
        }
        w.write(&RecordBatch::try_new(schema.clone(), arrays)?)?;
        Ok(())
    };
    let mut i = 0;
    while i < c.series.len() {
        let d = &c.series[i].device;
        let mut j = i;
        while j < c.series.len() && &c.series[j].device == d {
            j += 1;
        }
        let group = &c.series[i..j];
        let mut all: Vec<i64> = group.iter().flat_map(|s| s.ts.iter().copied()).collect();
        all.sort_unstable();
        all.dedup();
        // Per channel column: the device's series (if any) and a cursor into it.
        let mut cur: Vec<Option<(usize, usize)>> = vec![None; chans.len()];
        for (k, s) in group.iter().enumerate() {
            cur[ch_ix[s.channel.as_str()]] = Some((k, 0));
        }
        for &t in &all {
            dev.append_value(d);
            tsb.append_value(t);
            for (ci, col) in cols.iter_mut().enumerate() {
                let hit = match &mut cur[ci] {
                    Some((k, pos)) if group[*k].ts.get(*pos) == Some(&t) => {
                        *pos += 1;
                        Some((&group[*k].vals, *pos - 1))
                    }
                    _ => None,
                };
                match (col, hit) {
                    (ColB::F(b), Some((Vals::F64(v), p))) => b.append_value(v[p]),
                    (ColB::F(b), Some((Vals::I64(v), p))) => b.append_value(v[p] as f64),
                    (ColB::I(b), Some((Vals::I64(v), p))) => b.append_value(v[p]),
                    (ColB::S(b), Some((Vals::Str { dict, codes }, p))) => {
                        b.append_value(&dict[codes[p] as usize])
                    }
                    (ColB::F(b), _) => b.append_null(),
                    (ColB::I(b), _) => b.append_null(),
                    (ColB::S(b), _) => b.append_null(),
                }
            }
            n += 1;
            if n == BATCH {
                flush(&mut dev, &mut tsb, &mut cols)?;
                n = 0;
            }
        }
        i = j;
    }
    if n > 0 {
        flush(&mut dev, &mut tsb, &mut cols)?;
    }
    w.close()?;
    Ok(std::fs::metadata(path)?.len())
}

/// What a Parquet query read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Read {
    pub row_groups: usize,
    pub row_groups_total: usize,
    pub rows_selected: usize,
}

/// A per-column predicate for pruning.
enum Pred<'a> {
    Eq(&'a [u8]),
    Range(i64, i64),
}

fn stats_may_match(s: Option<&Statistics>, p: &Pred) -> bool {
    match (s, p) {
        (Some(Statistics::ByteArray(v)), Pred::Eq(x)) => match (v.min_opt(), v.max_opt()) {
            (Some(lo), Some(hi)) => lo.data() <= *x && *x <= hi.data(),
            _ => true,
        },
        (Some(Statistics::Int64(v)), Pred::Range(a, b)) => match (v.min_opt(), v.max_opt()) {
            (Some(lo), Some(hi)) => *hi >= *a && *lo < *b,
            _ => true,
        },
        _ => true,
    }
}

/// Row ranges (within the row group) of pages whose column-index min/max may match.
fn page_ranges(md: &ParquetMetaData, rg: usize, col: usize, p: &Pred) -> Option<Vec<Range<usize>>> {
    let pi = md.page_index_for_row_group(rg);
    let (ci, oi) = (pi.column_index(col)?, pi.offset_index(col)?);
    let locs = oi.page_locations();
    let rows = md.row_group(rg).num_rows() as usize;
    let mut out: Vec<Range<usize>> = Vec::new();
    for (k, loc) in locs.iter().enumerate() {
        let start = loc.first_row_index as usize;
        let end = locs.get(k + 1).map_or(rows, |l| l.first_row_index as usize);
        let keep = match (ci, p) {
            (ColumnIndexMetaData::BYTE_ARRAY(x), Pred::Eq(v)) => {
                match (x.min_value(k), x.max_value(k)) {
                    (Some(lo), Some(hi)) => lo <= *v && *v <= hi,
                    _ => true,
                }
            }
            (ColumnIndexMetaData::INT64(x), Pred::Range(a, b)) => {
                match (x.min_value(k), x.max_value(k)) {
                    (Some(lo), Some(hi)) => *hi >= *a && *lo < *b,
                    _ => true,
                }
            }
            _ => true,
        };
        if keep {
            match out.last_mut() {
                Some(r) if r.end == start => r.end = end,
                _ => out.push(start..end),
            }
        }
    }
    Some(out)
}

fn intersect(a: &[Range<usize>], b: &[Range<usize>]) -> Vec<Range<usize>> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let s = a[i].start.max(b[j].start);
        let e = a[i].end.min(b[j].end);
        if s < e {
            out.push(s..e);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// count/min/max/sum of `channel` of `device` with `from <= ts < to`.
pub fn query(
    path: &Path,
    wide: bool,
    device: &str,
    channel: &str,
    from: i64,
    to: i64,
) -> Result<(Agg, Read)> {
    let file = File::open(path).with_context(|| path.display().to_string())?;
    let opts = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let b = ParquetRecordBatchReaderBuilder::try_new_with_options(file, opts)?;
    let md = b.metadata().clone();
    let schema = b.parquet_schema();
    let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
    let find = |n: &str| names.iter().position(|&x| x == n);
    // Predicate columns and the value column.
    let (preds, value_cols): (Vec<(usize, Pred)>, Vec<usize>) = if wide {
        let Some(vc) = find(channel) else {
            return Ok((Agg::empty(), Read::default()));
        };
        (
            vec![(0, Pred::Eq(device.as_bytes())), (1, Pred::Range(from, to))],
            vec![vc],
        )
    } else {
        (
            vec![
                (0, Pred::Eq(device.as_bytes())),
                (1, Pred::Eq(channel.as_bytes())),
                (2, Pred::Range(from, to)),
            ],
            vec![3, 4],
        )
    };
    let mut rgs = Vec::new();
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut offset = 0usize;
    for (i, rg) in md.row_groups().iter().enumerate() {
        if !preds
            .iter()
            .all(|(c, p)| stats_may_match(rg.column(*c).statistics(), p))
        {
            continue;
        }
        let n = rg.num_rows() as usize;
        let mut keep: Vec<Range<usize>> = std::iter::once(0..n).collect();
        for (c, p) in &preds {
            if let Some(pr) = page_ranges(&md, i, *c, p) {
                keep = intersect(&keep, &pr);
            }
        }
        if keep.is_empty() {
            continue;
        }
        rgs.push(i);
        ranges.extend(keep.into_iter().map(|r| offset + r.start..offset + r.end));
        offset += n;
    }
    let read = Read {
        row_groups: rgs.len(),
        row_groups_total: md.num_row_groups(),
        rows_selected: ranges.iter().map(|r| r.len()).sum(),
    };
    if rgs.is_empty() {
        return Ok((Agg::empty(), read));
    }
    let sel = RowSelection::from_consecutive_ranges(ranges.into_iter(), offset);
    let mut leaves: Vec<usize> = preds.iter().map(|(c, _)| *c).collect();
    leaves.extend(&value_cols);
    let mask = ProjectionMask::leaves(schema, leaves);
    let reader = b
        .with_row_groups(rgs)
        .with_row_selection(sel)
        .with_projection(mask)
        .with_batch_size(BATCH)
        .build()?;
    let mut g = Agg::empty();
    let mut isum = 0i128;
    let mut any_int = false;
    for batch in reader {
        let batch = batch?;
        let col = |i: usize| batch.column(i);
        let dev = col(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .context("device")?;
        let (ch, ts, vfirst) = if wide {
            (None, col(1), 2)
        } else {
            (
                Some(
                    col(1)
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .context("channel")?,
                ),
                col(2),
                3,
            )
        };
        let ts = ts
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .context("ts")?;
        for (vi, _) in value_cols.iter().enumerate() {
            let v = col(vfirst + vi);
            let f = v.as_any().downcast_ref::<Float64Array>();
            let n = v.as_any().downcast_ref::<Int64Array>();
            for r in 0..batch.num_rows() {
                if v.is_null(r) || dev.value(r) != device {
                    continue;
                }
                if ch.is_some_and(|c| c.value(r) != channel) {
                    continue;
                }
                let t = ts.value(r);
                if t < from || t >= to {
                    continue;
                }
                if let Some(f) = f {
                    g.push(f.value(r));
                } else if let Some(n) = n {
                    let x = n.value(r);
                    g.push(x as f64);
                    isum += x as i128;
                    any_int = true;
                }
            }
        }
    }
    if any_int {
        g.sum = isum as f64;
    }
    Ok((g, read))
}
