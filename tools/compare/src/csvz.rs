//! CSV + zstd: the corpus file compressed as one zstd stream. A query decompresses the
//! stream, scans every line (nothing can be skipped), then sorts the series' points and
//! drops duplicate timestamps.

use crate::corpus::Agg;
use anyhow::{bail, Context, Result};
use iotarc::input::{parse_timestamp, Tz};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

/// Compresses `src` to `dst` at `level` on one thread; returns the compressed size.
pub fn compress(src: &Path, dst: &Path, level: i32) -> Result<u64> {
    let mut input = BufReader::with_capacity(1 << 20, File::open(src)?);
    let mut enc = zstd::stream::Encoder::new(File::create(dst)?, level)?;
    std::io::copy(&mut input, &mut enc)?;
    enc.finish()?.flush()?;
    Ok(std::fs::metadata(dst)?.len())
}

/// Scans the compressed CSV (long or wide, as written by `iotarc-gen` or the Beijing
/// converter: no quoted commas) for `device`'s `channel` values in `[from, to)`.
pub fn query(path: &Path, device: &str, channel: &str, from: i64, to: i64) -> Result<Agg> {
    let dec =
        zstd::stream::Decoder::new(File::open(path).with_context(|| path.display().to_string())?)?;
    let mut r = BufReader::with_capacity(1 << 20, dec);
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    let header: Vec<Vec<u8>> = trim(&line)
        .split(|&b| b == b',')
        .map(<[u8]>::to_vec)
        .collect();
    let pos = |n: &str| header.iter().position(|h| *h == n.as_bytes());
    let (Some(tcol), Some(dcol)) = (pos("timestamp"), pos("device")) else {
        bail!("no timestamp/device columns");
    };
    // Long: filter on the channel column and read `value`; wide: read the channel column.
    let long = pos("channel").zip(pos("value"));
    let vcol = match long {
        Some((_, v)) => v,
        None => match pos(channel) {
            Some(c) => c,
            None => return Ok(Agg::empty()),
        },
    };
    // (timestamp, value) of the series, in file order: the file has late rows and
    // duplicates, so the scan sorts and keeps the last arrival per timestamp, as the
    // other systems do.
    let mut pts: Vec<(i64, f64)> = Vec::new();
    let finder = memchr::memmem::Finder::new(device.as_bytes());
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let l = trim(&line);
        // Cheap pre-filter before splitting: the device name must occur in the line.
        if finder.find(l).is_none() {
            continue;
        }
        let (mut d, mut c, mut v, mut t) = (None, None, None, None);
        let ccol = long.map(|(c, _)| c);
        for (i, f) in l.split(|&b| b == b',').enumerate() {
            if i == dcol {
                d = Some(f);
            } else if Some(i) == ccol {
                c = Some(f);
            } else if i == vcol {
                v = Some(f);
            } else if i == tcol {
                t = Some(f);
            }
        }
        if d != Some(device.as_bytes()) {
            continue;
        }
        if ccol.is_some() && c != Some(channel.as_bytes()) {
            continue;
        }
        let (Some(v), Some(tf)) = (v, t) else {
            continue;
        };
        if v.is_empty() || v == b"NA" {
            continue;
        }
        let t = parse_timestamp(tf, None, &Tz::Utc).map_err(anyhow::Error::msg)?;
        if t < from || t >= to {
            continue;
        }
        let x: f64 = std::str::from_utf8(v)?.parse()?;
        pts.push((t, x));
    }
    pts.sort_by_key(|p| p.0);
    let mut g = Agg::empty();
    for (i, &(t, x)) in pts.iter().enumerate() {
        if pts.get(i + 1).is_none_or(|n| n.0 != t) {
            g.push(x);
        }
    }
    Ok(g)
}

fn trim(l: &[u8]) -> &[u8] {
    let mut e = l.len();
    while e > 0 && (l[e - 1] == b'\n' || l[e - 1] == b'\r') {
        e -= 1;
    }
    &l[..e]
}
