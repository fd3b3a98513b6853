//! Per-series peers, pco and plain Gorilla, in one simple container file: every series'
//! blobs back to back, then an index (device, channel, type, count, blob ranges, string
//! dictionary), then the index length as u64. A query reads the index, then only the
//! blobs of its series, decodes them whole and aggregates.

use crate::corpus::{aggregate_f64, aggregate_i64, Agg, Corpus, Series, Vals};
use crate::gorilla;
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Which per-series codec.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Codec {
    /// pco `simple_compress` at its default level (8), timestamps and values as two
    /// streams; strings as dictionary codes (u32).
    Pco,
    /// The Gorilla paper's stream: (timestamp, value) pairs, delta-of-delta timestamps
    /// and XOR values; integers and string codes as 64-bit patterns through the XOR path.
    Gorilla,
}

struct Entry {
    device: String,
    channel: String,
    kind: u8,
    count: u64,
    /// (offset, len) of the timestamp and value blobs (Gorilla: one stream, values empty).
    blobs: [(u64, u64); 2],
    /// String dictionary (kept in the format; aggregates do not need it).
    _dict: Vec<String>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Rd<'a>(&'a [u8]);

impl Rd<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.0.len() < n {
            bail!("truncated index");
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }
    fn str(&mut self) -> Result<String> {
        let n = self.u32()? as usize;
        Ok(String::from_utf8(self.take(n)?.to_vec())?)
    }
}

fn pco_cfg() -> pco::ChunkConfig {
    pco::ChunkConfig::default()
}

fn encode(s: &Series, codec: Codec) -> Result<[Vec<u8>; 2]> {
    Ok(match codec {
        Codec::Pco => {
            let ts = pco::standalone::simple_compress(&s.ts, &pco_cfg())?;
            let v = match &s.vals {
                Vals::F64(v) => pco::standalone::simple_compress(v, &pco_cfg())?,
                Vals::I64(v) => pco::standalone::simple_compress(v, &pco_cfg())?,
                Vals::Str { codes, .. } => pco::standalone::simple_compress(codes, &pco_cfg())?,
            };
            [ts, v]
        }
        Codec::Gorilla => {
            let bits: Vec<u64> = match &s.vals {
                Vals::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
                Vals::I64(v) => v.iter().map(|&x| x as u64).collect(),
                Vals::Str { codes, .. } => codes.iter().map(|&x| x as u64).collect(),
            };
            [gorilla::encode(&s.ts, &bits), Vec::new()]
        }
    })
}

/// Encodes every series (in parallel) and writes the container. Returns bytes written.
pub fn write(c: &Corpus, codec: Codec, path: &Path) -> Result<u64> {
    Ok(write_sizes(c, codec, path)?.0)
}

/// As [`write`], also returning each series' blob sizes in the order of `c.series`:
/// `[timestamps, values]` (Gorilla interleaves both in the first).
pub fn write_sizes(c: &Corpus, codec: Codec, path: &Path) -> Result<(u64, Vec<[u64; 2]>)> {
    let blobs: Vec<[Vec<u8>; 2]> = c
        .series
        .par_iter()
        .map(|s| encode(s, codec))
        .collect::<Result<_>>()?;
    let mut f = std::io::BufWriter::new(File::create(path)?);
    let mut off = 0u64;
    let mut index = Vec::new();
    index.extend_from_slice(&(c.series.len() as u64).to_le_bytes());
    for (s, b) in c.series.iter().zip(&blobs) {
        let mut ranges = [(0u64, 0u64); 2];
        for (k, blob) in b.iter().enumerate() {
            f.write_all(blob)?;
            ranges[k] = (off, blob.len() as u64);
            off += blob.len() as u64;
        }
        put_str(&mut index, &s.device);
        put_str(&mut index, &s.channel);
        index.push(s.vals.kind());
        index.extend_from_slice(&(s.ts.len() as u64).to_le_bytes());
        for (o, l) in ranges {
            index.extend_from_slice(&o.to_le_bytes());
            index.extend_from_slice(&l.to_le_bytes());
        }
        let dict: &[String] = match &s.vals {
            Vals::Str { dict, .. } => dict,
            _ => &[],
        };
        index.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        for d in dict {
            put_str(&mut index, d);
        }
    }
    f.write_all(&index)?;
    f.write_all(&(index.len() as u64).to_le_bytes())?;
    f.flush()?;
    let sizes = blobs
        .iter()
        .map(|[t, v]| [t.len() as u64, v.len() as u64])
        .collect();
    Ok((off + index.len() as u64 + 8, sizes))
}

fn read_index(f: &mut File) -> Result<Vec<Entry>> {
    let len = f.seek(SeekFrom::End(0))?;
    if len < 8 {
        bail!("container too short");
    }
    f.seek(SeekFrom::End(-8))?;
    let mut b = [0u8; 8];
    f.read_exact(&mut b)?;
    let ilen = u64::from_le_bytes(b);
    f.seek(SeekFrom::Start(len - 8 - ilen))?;
    let mut buf = vec![0u8; ilen as usize];
    f.read_exact(&mut buf)?;
    let mut r = Rd(&buf);
    let n = r.u64()?;
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let device = r.str()?;
        let channel = r.str()?;
        let kind = r.take(1)?[0];
        let count = r.u64()?;
        let blobs = [(r.u64()?, r.u64()?), (r.u64()?, r.u64()?)];
        let nd = r.u32()?;
        let dict = (0..nd).map(|_| r.str()).collect::<Result<_>>()?;
        out.push(Entry {
            device,
            channel,
            kind,
            count,
            blobs,
            _dict: dict,
        });
    }
    Ok(out)
}

fn read_blob(f: &mut File, (off, len): (u64, u64)) -> Result<Vec<u8>> {
    f.seek(SeekFrom::Start(off))?;
    let mut b = vec![0u8; len as usize];
    f.read_exact(&mut b)?;
    Ok(b)
}

/// Opens the container, finds the series, decodes it whole and aggregates `[from, to)`.
pub fn query(
    path: &Path,
    codec: Codec,
    device: &str,
    channel: &str,
    from: i64,
    to: i64,
) -> Result<Agg> {
    let mut f = File::open(path).with_context(|| path.display().to_string())?;
    let index = read_index(&mut f)?;
    let Some(e) = index
        .iter()
        .find(|e| e.device == device && e.channel == channel)
    else {
        return Ok(Agg::empty());
    };
    let n = e.count as usize;
    match codec {
        Codec::Pco => {
            let ts: Vec<i64> = pco::standalone::simple_decompress(&read_blob(&mut f, e.blobs[0])?)?;
            let vb = read_blob(&mut f, e.blobs[1])?;
            Ok(match e.kind {
                0 => aggregate_f64(
                    &ts,
                    &pco::standalone::simple_decompress::<f64>(&vb)?,
                    from,
                    to,
                ),
                1 => aggregate_i64(
                    &ts,
                    &pco::standalone::simple_decompress::<i64>(&vb)?,
                    from,
                    to,
                ),
                _ => bail!("aggregates of a string series"),
            })
        }
        Codec::Gorilla => {
            let b = read_blob(&mut f, e.blobs[0])?;
            let mut ts = vec![0i64; n];
            let mut bits = vec![0u64; n];
            gorilla::decode(&b, &mut ts, &mut bits)?;
            Ok(match e.kind {
                0 => {
                    let v: Vec<f64> = bits.iter().map(|&b| f64::from_bits(b)).collect();
                    aggregate_f64(&ts, &v, from, to)
                }
                1 => {
                    let v: Vec<i64> = bits.iter().map(|&b| b as i64).collect();
                    aggregate_i64(&ts, &v, from, to)
                }
                _ => bail!("aggregates of a string series"),
            })
        }
    }
}
