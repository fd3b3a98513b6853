//! The logical data set every peer encodes: the corpus parsed once with iotarc's own
//! parser, grouped into series (device, channel), sorted by time, duplicates resolved
//! (the last arrival wins, as in iotarc), one value type per series.

use anyhow::{bail, Result};
use iotarc::input::{open_input, Chunker, ParseOptions, Parser, Val};
use rayon::prelude::*;
use std::collections::HashMap;

/// Values of one series.
pub enum Vals {
    F64(Vec<f64>),
    I64(Vec<i64>),
    /// Dictionary strings; `codes` index `dict`.
    Str {
        dict: Vec<String>,
        codes: Vec<u32>,
    },
}

impl Vals {
    pub fn kind(&self) -> u8 {
        match self {
            Vals::F64(_) => 0,
            Vals::I64(_) => 1,
            Vals::Str { .. } => 2,
        }
    }
}

/// One (device, channel) series, ascending unique timestamps.
pub struct Series {
    pub device: String,
    pub channel: String,
    pub ts: Vec<i64>,
    pub vals: Vals,
}

/// The parsed corpus.
pub struct Corpus {
    /// Sorted by (device, channel).
    pub series: Vec<Series>,
    /// Distinct (device, channel, timestamp) values.
    pub points: u64,
    /// Values read, duplicates included.
    pub values_read: u64,
}

impl Corpus {
    pub fn find(&self, device: &str, channel: &str) -> Option<&Series> {
        self.series
            .iter()
            .find(|s| s.device == device && s.channel == channel)
    }

    pub fn devices(&self) -> usize {
        let mut d: Vec<&str> = self.series.iter().map(|s| s.device.as_str()).collect();
        d.dedup();
        d.len()
    }
}

#[derive(Clone, Copy)]
enum Raw {
    F(f64),
    I(i64),
    S(u32),
}

#[derive(Default)]
struct Acc {
    ts: Vec<i64>,
    raw: Vec<Raw>,
}

/// Parses `path` (any format `iotarc pack` reads, detected the same way) into series.
pub fn load(path: &str) -> Result<Corpus> {
    load_many(std::slice::from_ref(&path.to_string()))
}

/// Parses several inputs, each detected on its own as `iotarc pack` does, into one set
/// of series (a later input's value wins a duplicate timestamp, as in iotarc).
pub fn load_many(paths: &[String]) -> Result<Corpus> {
    let opts = ParseOptions::default();
    let mut devices: HashMap<String, u32> = HashMap::new();
    let mut channels: HashMap<String, u32> = HashMap::new();
    let mut strings: HashMap<String, u32> = HashMap::new();
    let mut string_list: Vec<String> = Vec::new();
    let mut index: HashMap<(u32, u32), usize> = HashMap::new();
    let mut keys: Vec<(u32, u32)> = Vec::new();
    let mut accs: Vec<Acc> = Vec::new();
    let mut values_read = 0u64;
    let per_round = 2 * rayon::current_num_threads().max(1);
    for path in paths {
        let mut chunker = Chunker::new(open_input(path)?);
        let parser = Parser::from_input(&opts, Some(path), &mut chunker)
            .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        loop {
            let mut chunks = Vec::with_capacity(per_round);
            while chunks.len() < per_round {
                match chunker.next_chunk()? {
                    Some(c) => chunks.push(c),
                    None => break,
                }
            }
            if chunks.is_empty() {
                break;
            }
            let batches: Vec<_> = chunks
                .par_iter()
                .map(|c| parser.parse_chunk(&c.bytes, c.first_line))
                .collect();
            for b in batches {
                if let Some(e) = b.errors.first() {
                    bail!("{path}:{}: {}", e.line, e.reason);
                }
                let id = |m: &mut HashMap<String, u32>, s: &str| {
                    let n = m.len() as u32;
                    *m.entry(s.to_string()).or_insert(n)
                };
                let devs: Vec<u32> = b.devices.iter().map(|d| id(&mut devices, d)).collect();
                let chans: Vec<u32> = b.channels.iter().map(|c| id(&mut channels, c)).collect();
                let strs: Vec<u32> = b
                    .strings
                    .iter()
                    .map(|s| {
                        let n = strings.len() as u32;
                        *strings.entry(s.clone()).or_insert_with(|| {
                            string_list.push(s.clone());
                            n
                        })
                    })
                    .collect();
                let mut last: Option<((u32, u32), usize)> = None;
                for r in &b.rows {
                    let v = match r.value {
                        Val::Missing => continue,
                        Val::F64(x) => Raw::F(x),
                        Val::I64(x) => Raw::I(x),
                        Val::Bool(x) => Raw::I(x as i64),
                        Val::Str(i) => Raw::S(strs[i as usize]),
                    };
                    let key = (devs[r.device as usize], chans[r.channel as usize]);
                    let si = match last {
                        Some((k, i)) if k == key => i,
                        _ => *index.entry(key).or_insert_with(|| {
                            keys.push(key);
                            accs.push(Acc::default());
                            accs.len() - 1
                        }),
                    };
                    last = Some((key, si));
                    accs[si].ts.push(r.ts);
                    accs[si].raw.push(v);
                    values_read += 1;
                }
            }
        }
    }
    let dev_names = invert(&devices);
    let ch_names = invert(&channels);
    let mut series: Vec<Series> = accs
        .into_par_iter()
        .zip(keys.into_par_iter())
        .map(|(a, (d, c))| {
            finish(
                a,
                &dev_names[d as usize],
                &ch_names[c as usize],
                &string_list,
            )
        })
        .collect::<Result<_>>()?;
    series.sort_by(|a, b| (&a.device, &a.channel).cmp(&(&b.device, &b.channel)));
    let points = series.iter().map(|s| s.ts.len() as u64).sum();
    Ok(Corpus {
        series,
        points,
        values_read,
    })
}

fn invert(m: &HashMap<String, u32>) -> Vec<String> {
    let mut v = vec![String::new(); m.len()];
    for (k, &i) in m {
        v[i as usize] = k.clone();
    }
    v
}

/// Sorts by time (stable: arrival order among equal timestamps), keeps the last arrival
/// of each timestamp and settles the type: f64 if any value is a float, else i64, else
/// string.
fn finish(a: Acc, device: &str, channel: &str, strings: &[String]) -> Result<Series> {
    let mut order: Vec<u32> = (0..a.ts.len() as u32).collect();
    if !a.ts.windows(2).all(|w| w[0] <= w[1]) {
        order.sort_by_key(|&i| a.ts[i as usize]);
    }
    let mut keep: Vec<u32> = Vec::with_capacity(order.len());
    for (k, &i) in order.iter().enumerate() {
        let next_same = order
            .get(k + 1)
            .is_some_and(|&j| a.ts[j as usize] == a.ts[i as usize]);
        if !next_same {
            keep.push(i);
        }
    }
    let ts: Vec<i64> = keep.iter().map(|&i| a.ts[i as usize]).collect();
    let (mut f, mut n, mut s) = (false, false, false);
    for &i in &keep {
        match a.raw[i as usize] {
            Raw::F(_) => f = true,
            Raw::I(_) => n = true,
            Raw::S(_) => s = true,
        }
    }
    let vals = if s {
        if f || n {
            bail!("series {device}/{channel} mixes strings and numbers");
        }
        let mut dict_ix: HashMap<u32, u32> = HashMap::new();
        let mut dict = Vec::new();
        let codes = keep
            .iter()
            .map(|&i| {
                let Raw::S(g) = a.raw[i as usize] else {
                    unreachable!()
                };
                *dict_ix.entry(g).or_insert_with(|| {
                    dict.push(strings[g as usize].clone());
                    dict.len() as u32 - 1
                })
            })
            .collect();
        Vals::Str { dict, codes }
    } else if f {
        Vals::F64(
            keep.iter()
                .map(|&i| match a.raw[i as usize] {
                    Raw::F(x) => x,
                    Raw::I(x) => x as f64,
                    Raw::S(_) => unreachable!(),
                })
                .collect(),
        )
    } else {
        Vals::I64(
            keep.iter()
                .map(|&i| match a.raw[i as usize] {
                    Raw::I(x) => x,
                    _ => unreachable!(),
                })
                .collect(),
        )
    };
    Ok(Series {
        device: device.to_string(),
        channel: channel.to_string(),
        ts,
        vals,
    })
}

/// count / min / max / sum of a series' values with `from <= ts < to`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Agg {
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
}

impl Agg {
    pub fn empty() -> Agg {
        Agg {
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
        }
    }

    #[inline]
    pub fn push(&mut self, x: f64) {
        self.count += 1;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        self.sum += x;
    }

    /// Same count, min and max; sums within a relative 1e-9 (summation order differs).
    pub fn agrees(&self, o: &Agg) -> bool {
        self.count == o.count
            && (self.count == 0 || (self.min == o.min && self.max == o.max))
            && (self.sum - o.sum).abs() <= 1e-9 * self.sum.abs().max(1.0)
    }
}

/// Aggregates the values of `ts`/`vals` (ascending timestamps) in `[from, to)`.
pub fn aggregate_f64(ts: &[i64], vals: &[f64], from: i64, to: i64) -> Agg {
    let a = ts.partition_point(|&t| t < from);
    let b = ts.partition_point(|&t| t < to);
    let mut g = Agg::empty();
    for &x in &vals[a..b] {
        g.push(x);
    }
    g
}

/// As [`aggregate_f64`] for integers (summed exactly, then converted).
pub fn aggregate_i64(ts: &[i64], vals: &[i64], from: i64, to: i64) -> Agg {
    let a = ts.partition_point(|&t| t < from);
    let b = ts.partition_point(|&t| t < to);
    let mut g = Agg::empty();
    let mut s = 0i128;
    for &x in &vals[a..b] {
        g.push(x as f64);
        s += x as i128;
    }
    g.sum = s as f64;
    g
}
