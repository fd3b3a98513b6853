//! `iotarc stats` and `iotarc inspect`.

use crate::human;
use anyhow::Result;
use iotarc::archive::Archive;
use iotarc::Segment;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

#[derive(Default)]
pub struct ChannelStats {
    types: BTreeSet<&'static str>,
    codecs: BTreeMap<String, usize>,
    bytes: u64,
    samples: u64,
}

pub struct ArchiveStats {
    path: String,
    /// The manifest's unit; provisional when `partition_fixed` is false.
    partition: String,
    /// False while a writer may still choose the unit (no segment, no WAL state;
    /// archive.md §3.1).
    partition_fixed: bool,
    generation: u64,
    devices: BTreeSet<String>,
    channels: BTreeMap<String, ChannelStats>,
    ts: ChannelStats,
    rows: u64,
    points: u64,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
    partitions: usize,
    segments: usize,
    blocks: usize,
    bytes_on_disk: u64,
    input_bytes: u64,
}

fn add_segment(s: &mut ArchiveStats, seg: &Segment) {
    let f = seg.footer();
    for b in &f.blocks {
        s.blocks += 1;
        s.rows += b.rows;
        s.ts.bytes += b.ts_chunk_len;
        s.ts.samples += b.rows;
        *s.ts
            .codecs
            .entry(iotarc::ValueType::I64.codec_name(b.ts_codec).to_string())
            .or_default() += 1;
        for c in &b.columns {
            let cs = s
                .channels
                .entry(f.channels[c.channel as usize].clone())
                .or_default();
            cs.types.insert(c.vtype.name());
            *cs.codecs
                .entry(c.vtype.codec_name(c.codec).to_string())
                .or_default() += 1;
            cs.bytes += c.chunk_len;
            cs.samples += c.stats.count;
            s.points += c.stats.count;
        }
    }
}

pub fn collect(path: &Path) -> Result<ArchiveStats> {
    let arch = Archive::open(path)?;
    let m = arch.manifest();
    let manifest_bytes = std::fs::metadata(path.join("MANIFEST"))
        .map(|m| m.len())
        .unwrap_or(0);
    let mut s = ArchiveStats {
        path: path.display().to_string(),
        partition: format!("{:?}", m.partition).to_lowercase(),
        partition_fixed: m.unit_fixed(),
        generation: m.generation,
        devices: m
            .segments
            .iter()
            .flat_map(|e| e.devices.iter().cloned())
            .collect(),
        channels: BTreeMap::new(),
        ts: ChannelStats::default(),
        rows: 0,
        points: 0,
        min_ts: m.segments.iter().map(|e| e.min_ts).min(),
        max_ts: m.segments.iter().map(|e| e.max_ts).max(),
        partitions: m
            .segments
            .iter()
            .map(|e| e.partition)
            .collect::<BTreeSet<_>>()
            .len(),
        segments: m.segments.len(),
        blocks: 0,
        bytes_on_disk: m.segments.iter().map(|e| e.bytes).sum::<u64>() + manifest_bytes,
        input_bytes: m.input_bytes,
    };
    // Opened a batch at a time: each open segment holds a file descriptor, and an
    // archive of 100,000 segments would exceed the process's limit.
    for batch in m.segments.chunks(256) {
        let segs: Vec<Segment> = batch
            .par_iter()
            .map(|e| arch.open_segment(e))
            .collect::<iotarc::Result<_>>()?;
        for seg in &segs {
            add_segment(&mut s, seg);
        }
    }
    Ok(s)
}

fn codec_mix(c: &BTreeMap<String, usize>) -> String {
    c.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `n` with a comma every three digits.
fn thousands(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::with_capacity(d.len() + d.len() / 3);
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl ArchiveStats {
    /// Mean values (points) per partition window, the quantity the packer's choice of
    /// unit aims at (archive.md §3.1).
    fn values_per_partition(&self) -> u64 {
        self.points / self.partitions.max(1) as u64
    }

    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let t = |x: Option<i64>| x.map_or("-".into(), crate::output::rfc3339);
        writeln!(out, "archive      {}", self.path)?;
        let windows = if self.partition_fixed {
            format!(
                "{} windows, {} values each on average",
                self.partition,
                thousands(self.values_per_partition())
            )
        } else {
            "unit not fixed yet".into()
        };
        writeln!(
            out,
            "partitions   {} ({windows}), {} segments, {} blocks, generation {}",
            self.partitions, self.segments, self.blocks, self.generation
        )?;
        writeln!(out, "time range   {} .. {}", t(self.min_ts), t(self.max_ts))?;
        let dev: Vec<&str> = self.devices.iter().take(8).map(|s| s.as_str()).collect();
        let more = if self.devices.len() > 8 {
            format!(" (+{} more)", self.devices.len() - 8)
        } else {
            String::new()
        };
        writeln!(
            out,
            "devices      {}: {}{more}",
            self.devices.len(),
            dev.join(", ")
        )?;
        writeln!(out, "points       {} in {} rows", self.points, self.rows)?;
        writeln!(
            out,
            "on disk      {} ({:.3} bytes/point)",
            human(self.bytes_on_disk),
            self.bytes_on_disk as f64 / self.points.max(1) as f64
        )?;
        writeln!(
            out,
            "compression  {:.1}x vs 16-byte (timestamp, f64) points{}",
            16.0 * self.points as f64 / self.bytes_on_disk.max(1) as f64,
            if self.input_bytes > 0 {
                format!(
                    ", {:.1}x vs the {} of input packed",
                    self.input_bytes as f64 / self.bytes_on_disk.max(1) as f64,
                    human(self.input_bytes)
                )
            } else {
                String::new()
            }
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "{:<20} {:>8} {:>12} {:>12} {:>9}  codecs (blocks)",
            "channel", "type", "samples", "bytes", "B/sample"
        )?;
        let row = |out: &mut dyn Write, name: &str, c: &ChannelStats, ty: &str| {
            writeln!(
                out,
                "{name:<20} {ty:>8} {:>12} {:>12} {:>9.3}  {}",
                c.samples,
                c.bytes,
                c.bytes as f64 / c.samples.max(1) as f64,
                codec_mix(&c.codecs)
            )
        };
        row(out, "(timestamps)", &self.ts, "i64")?;
        for (name, c) in &self.channels {
            row(
                out,
                name,
                c,
                &c.types.iter().copied().collect::<Vec<_>>().join("|"),
            )?;
        }
        Ok(())
    }

    pub fn to_json(&self) -> serde_json::Value {
        let ch = |c: &ChannelStats| {
            serde_json::json!({
                "types": c.types, "codecs": c.codecs, "bytes": c.bytes, "samples": c.samples,
                "bytes_per_sample": c.bytes as f64 / c.samples.max(1) as f64,
            })
        };
        serde_json::json!({
            "archive": self.path, "partition": self.partition, "partition_fixed": self.partition_fixed,
            "generation": self.generation,
            "devices": self.devices, "points": self.points, "rows": self.rows,
            "min_ts": self.min_ts.map(crate::output::rfc3339), "max_ts": self.max_ts.map(crate::output::rfc3339),
            "partitions": self.partitions, "values_per_partition": self.values_per_partition(),
            "segments": self.segments, "blocks": self.blocks,
            "bytes_on_disk": self.bytes_on_disk, "input_bytes": self.input_bytes,
            "ratio_vs_16_bytes_per_point": 16.0 * self.points as f64 / self.bytes_on_disk.max(1) as f64,
            "ratio_vs_input": if self.input_bytes > 0 { serde_json::json!(self.input_bytes as f64 / self.bytes_on_disk.max(1) as f64) } else { serde_json::Value::Null },
            "timestamps": ch(&self.ts),
            "channels": self.channels.iter().map(|(k, v)| (k.clone(), ch(v))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

pub fn print_segment(seg: &Segment, path: &Path, out: &mut impl Write) -> std::io::Result<()> {
    let mut s = ArchiveStats {
        path: path.display().to_string(),
        partition: "-".into(),
        partition_fixed: true,
        generation: 0,
        devices: seg.devices().iter().cloned().collect(),
        channels: BTreeMap::new(),
        ts: ChannelStats::default(),
        rows: 0,
        points: 0,
        min_ts: seg.footer().blocks.iter().map(|b| b.ts_min).min(),
        max_ts: seg.footer().blocks.iter().map(|b| b.ts_max).max(),
        partitions: 1,
        segments: 1,
        blocks: 0,
        bytes_on_disk: seg.len_bytes(),
        input_bytes: 0,
    };
    add_segment(&mut s, seg);
    s.print(out)
}
