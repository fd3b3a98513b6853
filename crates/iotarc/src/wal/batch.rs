//! Point batches: the payload of a WAL record.
//!
//! A [`PointBatch`] is what one producer call hands to the streaming writer: points with
//! device and channel names interned into two small per-batch tables. Its byte encoding
//! ([`PointBatch::encode`], [`PointBatch::decode`]) is specified in `format-spec/wal.md`
//! §5; decoding checks every count, index, tag and string and never panics.

use crate::codec::bytes::{unzigzag, zigzag, Cursor, MAX_VARINT_LEN};
use crate::error::{Error, Result};
use crate::model::Value;
use std::collections::{HashMap, HashSet};

/// Value tag: f64 followed by its 8 bytes, little-endian bit pattern.
pub const TAG_F64: u8 = 0;
/// Value tag: i64 as a zigzag varint.
pub const TAG_I64: u8 = 1;
/// Value tag: `false` (no value bytes).
pub const TAG_FALSE: u8 = 2;
/// Value tag: `true` (no value bytes).
pub const TAG_TRUE: u8 = 3;
/// Value tag: string, varint byte length then UTF-8 bytes.
pub const TAG_STR: u8 = 4;

/// Fewest bytes one encoded point can take: device index, channel index, timestamp delta
/// (one varint byte each) and the tag byte. Point counts are checked against this.
pub const MIN_POINT_BYTES: usize = 4;

/// A batch of points as accepted from one producer call; names are local to the batch.
///
/// Build one with [`push`](PointBatch::push), which interns names, or with a
/// [`BatchBuilder`] when a batch holds many distinct devices. Equality compares values
/// bit-exactly (see [`Value`]).
///
/// ```
/// use iotarc::model::Value;
/// use iotarc::wal::batch::PointBatch;
/// let mut b = PointBatch::default();
/// b.push("boiler-7", "temp", 1_700_000_000_000_000, Value::F64(21.5));
/// b.push("boiler-7", "on", 1_700_000_000_000_000, Value::Bool(true));
/// let mut bytes = Vec::new();
/// b.encode(&mut bytes);
/// assert_eq!(PointBatch::decode(&bytes)?, b);
/// assert_eq!((b.devices.len(), b.channels.len(), b.len()), (1, 2, 2));
/// # Ok::<(), iotarc::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PointBatch {
    /// Device names; points refer to them by index. Names are unique.
    pub devices: Vec<String>,
    /// Channel names; points refer to them by index. Names are unique.
    pub channels: Vec<String>,
    /// (device index, channel index, timestamp µs, value)
    pub points: Vec<(u32, u32, i64, Value)>,
}

/// Index of `name` in `table`, appending it if new: the `hints` first, then a scan from
/// the most recently added name backwards.
#[inline]
fn intern_scan(table: &mut Vec<String>, name: &str, hints: [u32; 2]) -> u32 {
    for h in hints {
        if table.get(h as usize).is_some_and(|n| n == name) {
            return h;
        }
    }
    if let Some(i) = table.iter().rev().position(|n| n == name) {
        return (table.len() - 1 - i) as u32;
    }
    // A table of u32::MAX names would need hundreds of GB; indices always fit.
    table.push(name.to_owned());
    (table.len() - 1) as u32
}

/// Index of `name` in `table` via `map`, appending it to both if new (`hints` first).
#[inline]
fn intern_map(
    table: &mut Vec<String>,
    map: &mut HashMap<String, u32>,
    name: &str,
    hints: [u32; 2],
) -> u32 {
    for h in hints {
        if table.get(h as usize).is_some_and(|n| n == name) {
            return h;
        }
    }
    if let Some(&i) = map.get(name) {
        return i;
    }
    let i = table.len() as u32;
    table.push(name.to_owned());
    map.insert(name.to_owned(), i);
    i
}

/// Index hints from the previous point: its device; for channels, the one after the
/// previous point's (wrapping: rows of a wide table repeat their channels in order),
/// then the same one.
#[inline]
fn hints(b: &PointBatch) -> ([u32; 2], [u32; 2]) {
    let Some(&(d, c, _, _)) = b.points.last() else {
        return ([u32::MAX; 2], [u32::MAX; 2]);
    };
    let next = c.wrapping_add(1);
    let next = if next as usize >= b.channels.len() {
        0
    } else {
        next
    };
    ([d, u32::MAX], [next, c])
}

impl PointBatch {
    /// A batch of the given tables, taken as they are (no checks: [`encode`](Self::encode)
    /// writes whatever it is given; [`decode`](Self::decode) is where bytes are checked).
    pub fn from_parts(
        devices: Vec<String>,
        channels: Vec<String>,
        points: Vec<(u32, u32, i64, Value)>,
    ) -> PointBatch {
        PointBatch {
            devices,
            channels,
            points,
        }
    }

    /// Appends one point, interning the device and channel names.
    ///
    /// Consecutive points of the same device, and channels that repeat in the same order
    /// (as rows of a wide table do), are found by comparing against the previous point's
    /// indices; other names by scanning the table from its newest name back, which is
    /// fine for tens of names. For batches with many distinct devices use a
    /// [`BatchBuilder`], which keeps a hash map. Names must stay unique in the tables:
    /// if you edit `devices` or `channels` directly, do not introduce duplicates.
    #[inline]
    pub fn push(&mut self, device: &str, channel: &str, ts: i64, value: Value) {
        let (hd, hc) = hints(self);
        let d = intern_scan(&mut self.devices, device, hd);
        let c = intern_scan(&mut self.channels, channel, hc);
        self.points.push((d, c, ts, value));
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True if there are no points.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Removes every point and name, keeping the allocations.
    pub fn clear(&mut self) {
        self.devices.clear();
        self.channels.clear();
        self.points.clear();
    }

    /// Appends the encoding of the batch (`format-spec/wal.md` §5) to `out`.
    ///
    /// The encoding is canonical: shortest varints, tables and points in order. A batch
    /// whose points refer to indices outside the tables, or whose tables hold duplicate
    /// names, encodes without complaint but does not decode.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let names: usize = self
            .devices
            .iter()
            .chain(&self.channels)
            .map(|n| n.len() + 2)
            .sum();
        // f64 points with small indices and deltas take about 13-16 bytes.
        out.reserve(names + 20 + self.points.len() * 16);
        put_table(out, &self.devices);
        put_table(out, &self.channels);
        put_var(out, self.points.len() as u64);
        let mut prev: i64 = 0;
        for (d, c, ts, v) in &self.points {
            put_var(out, u64::from(*d));
            put_var(out, u64::from(*c));
            put_var(out, zigzag(ts.wrapping_sub(prev)));
            prev = *ts;
            match v {
                Value::F64(x) => {
                    out.push(TAG_F64);
                    out.extend_from_slice(&x.to_bits().to_le_bytes());
                }
                Value::I64(x) => {
                    out.push(TAG_I64);
                    put_var(out, zigzag(*x));
                }
                Value::Bool(false) => out.push(TAG_FALSE),
                Value::Bool(true) => out.push(TAG_TRUE),
                Value::Str(s) => {
                    out.push(TAG_STR);
                    put_var(out, s.len() as u64);
                    out.extend_from_slice(s.as_bytes());
                }
            }
        }
    }

    /// An upper bound of the length of [`encode`](Self::encode)'s output: every varint
    /// counted at its longest.
    pub fn encoded_bound(&self) -> usize {
        let names: usize = self
            .devices
            .iter()
            .chain(&self.channels)
            .map(|n| name_bound(n))
            .sum();
        3 * MAX_VARINT_LEN + names + self.points.iter().map(|p| point_bound(&p.3)).sum::<usize>()
    }

    /// Splits the batch into parts whose [`encoded_bound`](Self::encoded_bound) is at most
    /// `max` bytes each, so that each fits in a WAL record of at most `max` bytes. Points
    /// keep their order; each part's tables hold only the names its points use. Returns
    /// every part with the indices, in this batch's tables, of its devices and of its
    /// channels. A point too large for any part of at most `max` bytes gets a part of its
    /// own: callers refuse such points first (see [`PointBatch::single_bound`]).
    ///
    /// A batch within `max` comes back whole, as one part.
    ///
    /// ```
    /// use iotarc::model::Value;
    /// use iotarc::wal::batch::PointBatch;
    /// let mut b = PointBatch::default();
    /// for i in 0..100 {
    ///     b.push(&format!("dev-{}", i % 3), "text", i, Value::Str("x".repeat(1000)));
    /// }
    /// let parts = b.clone().split(20_000);
    /// assert!(parts.len() >= 5);
    /// let mut back = Vec::new();
    /// for (part, devs, chans) in &parts {
    ///     assert!(part.encoded_bound() <= 20_000);
    ///     for &(d, c, ts, ref v) in &part.points {
    ///         back.push((devs[d as usize], chans[c as usize], ts, v.clone()));
    ///     }
    /// }
    /// assert_eq!(back, b.points);
    /// ```
    pub fn split(self, max: usize) -> Vec<(PointBatch, Vec<u32>, Vec<u32>)> {
        if self.encoded_bound() <= max {
            let devs = (0..self.devices.len() as u32).collect();
            let chans = (0..self.channels.len() as u32).collect();
            return vec![(self, devs, chans)];
        }
        let mut parts = Vec::new();
        let mut part = Part::new();
        for (d, c, ts, v) in self.points {
            let mut need = point_bound(&v);
            if !part.dev_index.contains_key(&d) {
                need += name_bound(&self.devices[d as usize]);
            }
            if !part.ch_index.contains_key(&c) {
                need += name_bound(&self.channels[c as usize]);
            }
            if !part.batch.points.is_empty() && part.bytes + need > max {
                parts.push(std::mem::replace(&mut part, Part::new()).finish());
            }
            let pd = part.intern_device(d, &self.devices);
            let pc = part.intern_channel(c, &self.channels);
            part.bytes += point_bound(&v);
            part.batch.points.push((pd, pc, ts, v));
        }
        if !part.batch.points.is_empty() {
            parts.push(part.finish());
        }
        parts
    }

    /// The [`encoded_bound`](Self::encoded_bound) of a batch holding only point `i` (its
    /// device and channel names and the point): the smallest WAL record the point can go
    /// in.
    pub fn single_bound(&self, i: usize) -> usize {
        let (d, c, _, v) = &self.points[i];
        let name = |t: &[String], k: u32| t.get(k as usize).map_or(0, |n| name_bound(n));
        3 * MAX_VARINT_LEN + name(&self.devices, *d) + name(&self.channels, *c) + point_bound(v)
    }

    /// Decodes a batch written by [`encode`](Self::encode).
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) (offsets are within `bytes`) if
    /// a count exceeds what the remaining bytes could hold, a name is not valid UTF-8 or
    /// appears twice in its table, a point's device or channel index is out of range, a
    /// value tag is unknown, a varint is malformed, a field runs past the end, or bytes
    /// follow the last point. Nothing is allocated from a count before it is checked
    /// against the bytes left.
    pub fn decode(bytes: &[u8]) -> Result<PointBatch> {
        let mut c = Cursor::new(bytes);
        let devices = get_table(&mut c, "device")?;
        let channels = get_table(&mut c, "channel")?;
        let at = c.pos() as u64;
        let n = c.varint("point count")?;
        let max = (c.remaining() / MIN_POINT_BYTES) as u64;
        if n > max {
            return Err(Error::corrupt(
                format!(
                    "point count {n} exceeds the {max} points the {} bytes left could hold",
                    c.remaining()
                ),
                Some(at),
            ));
        }
        let (nd, nc) = (devices.len() as u64, channels.len() as u64);
        let mut points = Vec::with_capacity(n as usize);
        let mut prev: i64 = 0;
        let mut pos = c.pos();
        for i in 0..n {
            let start = pos;
            let p = match fast_point(bytes, &mut pos, nd, nc, prev) {
                Some(p) => p,
                None => {
                    // Strings, and every error (reported by the checked reader).
                    let mut c = Cursor::new(&bytes[start..]);
                    let p =
                        slow_point(&mut c, i, nd, nc, prev).map_err(|e| e.rebase(start as u64))?;
                    pos = start + c.pos();
                    p
                }
            };
            prev = p.2;
            points.push(p);
        }
        Cursor::new(&bytes[pos..])
            .finish("point batch")
            .map_err(|e| e.rebase(pos as u64))?;
        Ok(PointBatch {
            devices,
            channels,
            points,
        })
    }
}

type Point = (u32, u32, i64, Value);

/// Longest encoding of a table name.
fn name_bound(name: &str) -> usize {
    MAX_VARINT_LEN + name.len()
}

/// Longest encoding of a point with value `v`: three varints, the tag and the value.
fn point_bound(v: &Value) -> usize {
    3 * MAX_VARINT_LEN
        + 1
        + match v {
            Value::F64(_) => 8,
            Value::I64(_) => MAX_VARINT_LEN,
            Value::Bool(_) => 0,
            Value::Str(s) => MAX_VARINT_LEN + s.len(),
        }
}

/// A part being built by [`PointBatch::split`].
struct Part {
    batch: PointBatch,
    /// Original table index -> index in the part's table, both ways.
    dev_index: HashMap<u32, u32>,
    ch_index: HashMap<u32, u32>,
    devs: Vec<u32>,
    chans: Vec<u32>,
    /// `encoded_bound` of `batch`.
    bytes: usize,
}

impl Part {
    fn new() -> Part {
        Part {
            batch: PointBatch::default(),
            dev_index: HashMap::new(),
            ch_index: HashMap::new(),
            devs: Vec::new(),
            chans: Vec::new(),
            // The two table counts and the point count.
            bytes: 3 * MAX_VARINT_LEN,
        }
    }

    fn intern_device(&mut self, d: u32, names: &[String]) -> u32 {
        let (batch, devs, bytes) = (&mut self.batch, &mut self.devs, &mut self.bytes);
        *self.dev_index.entry(d).or_insert_with(|| {
            let name = &names[d as usize];
            *bytes += name_bound(name);
            batch.devices.push(name.clone());
            devs.push(d);
            devs.len() as u32 - 1
        })
    }

    fn intern_channel(&mut self, c: u32, names: &[String]) -> u32 {
        let (batch, chans, bytes) = (&mut self.batch, &mut self.chans, &mut self.bytes);
        *self.ch_index.entry(c).or_insert_with(|| {
            let name = &names[c as usize];
            *bytes += name_bound(name);
            batch.channels.push(name.clone());
            chans.push(c);
            chans.len() as u32 - 1
        })
    }

    fn finish(self) -> (PointBatch, Vec<u32>, Vec<u32>) {
        (self.batch, self.devs, self.chans)
    }
}

/// Reads a varint as [`Cursor::varint`] does, without building errors: `None` for
/// anything it would reject.
#[inline(always)]
fn get_var(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let b = *buf.get(*pos)?;
    if b < 0x80 {
        *pos += 1;
        return Some(u64::from(b));
    }
    let mut v = 0u64;
    for i in 0..MAX_VARINT_LEN {
        let b = *buf.get(*pos + i)?;
        if i == MAX_VARINT_LEN - 1 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *pos += i + 1;
            return Some(v);
        }
    }
    None
}

/// The hot path of [`PointBatch::decode`]: one valid point of a non-string value, or
/// `None` (with `pos` anywhere) for strings and anything invalid, which
/// [`slow_point`] then reads again from the start of the point.
#[inline(always)]
fn fast_point(bytes: &[u8], pos: &mut usize, nd: u64, nc: u64, prev: i64) -> Option<Point> {
    let d = get_var(bytes, pos)?;
    let ch = get_var(bytes, pos)?;
    let dt = get_var(bytes, pos)?;
    if d >= nd || ch >= nc {
        return None;
    }
    let tag = *bytes.get(*pos)?;
    *pos += 1;
    let v = match tag {
        TAG_F64 => {
            let b: [u8; 8] = bytes.get(*pos..*pos + 8)?.try_into().ok()?;
            *pos += 8;
            Value::F64(f64::from_bits(u64::from_le_bytes(b)))
        }
        TAG_I64 => Value::I64(unzigzag(get_var(bytes, pos)?)),
        TAG_FALSE => Value::Bool(false),
        TAG_TRUE => Value::Bool(true),
        _ => return None,
    };
    // d < nd and ch < nc, both table lengths, so they fit in u32.
    Some((d as u32, ch as u32, prev.wrapping_add(unzigzag(dt)), v))
}

/// Reads point `i` with the checked reader, reporting exactly what is wrong.
fn slow_point(c: &mut Cursor<'_>, i: u64, nd: u64, nc: u64, prev: i64) -> Result<Point> {
    let at = c.pos() as u64;
    let d = c.varint("point device index")?;
    if d >= nd {
        return Err(Error::corrupt(
            format!("point {i}: device index {d} out of range (table has {nd} names)"),
            Some(at),
        ));
    }
    let at = c.pos() as u64;
    let ch = c.varint("point channel index")?;
    if ch >= nc {
        return Err(Error::corrupt(
            format!("point {i}: channel index {ch} out of range (table has {nc} names)"),
            Some(at),
        ));
    }
    let ts = prev.wrapping_add(unzigzag(c.varint("point timestamp delta")?));
    let at = c.pos() as u64;
    let v = match c.u8("point value tag")? {
        TAG_F64 => Value::F64(f64::from_bits(c.u64("f64 value")?)),
        TAG_I64 => Value::I64(unzigzag(c.varint("i64 value")?)),
        TAG_FALSE => Value::Bool(false),
        TAG_TRUE => Value::Bool(true),
        TAG_STR => Value::Str(c.str("string value")?.to_owned()),
        t => {
            return Err(Error::corrupt(
                format!("point {i}: unknown value tag {t}"),
                Some(at),
            ))
        }
    };
    Ok((d as u32, ch as u32, ts, v))
}

/// Builds a [`PointBatch`] with hash maps for name interning, so that pushing stays
/// O(1) however many distinct devices and channels the batch holds.
///
/// ```
/// use iotarc::model::Value;
/// use iotarc::wal::batch::BatchBuilder;
/// let mut b = BatchBuilder::default();
/// for i in 0..10_000 {
///     b.push(&format!("meter-{i}"), "kwh", 1_700_000_000_000_000, Value::I64(i));
/// }
/// let batch = b.take();
/// assert_eq!((batch.devices.len(), batch.len()), (10_000, 10_000));
/// assert!(b.is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct BatchBuilder {
    batch: PointBatch,
    devices: HashMap<String, u32>,
    channels: HashMap<String, u32>,
}

impl BatchBuilder {
    /// Appends one point, interning the device and channel names.
    #[inline]
    pub fn push(&mut self, device: &str, channel: &str, ts: i64, value: Value) {
        let (hd, hc) = hints(&self.batch);
        let b = &mut self.batch;
        let d = intern_map(&mut b.devices, &mut self.devices, device, hd);
        let c = intern_map(&mut b.channels, &mut self.channels, channel, hc);
        b.points.push((d, c, ts, value));
    }

    /// Number of points pushed since the last [`take`](Self::take).
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// True if no point was pushed since the last [`take`](Self::take).
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// The batch built so far.
    pub fn batch(&self) -> &PointBatch {
        &self.batch
    }

    /// Returns the batch built so far and starts an empty one (keeping the maps'
    /// allocations).
    pub fn take(&mut self) -> PointBatch {
        self.devices.clear();
        self.channels.clear();
        std::mem::take(&mut self.batch)
    }
}

/// Appends `v` as an unsigned LEB128 varint (the shortest form).
#[inline(always)]
fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_table(out: &mut Vec<u8>, names: &[String]) {
    put_var(out, names.len() as u64);
    for n in names {
        put_var(out, n.len() as u64);
        out.extend_from_slice(n.as_bytes());
    }
}

/// Tables this small are checked for duplicates by comparing every pair.
const SMALL_TABLE: usize = 16;

fn get_table(c: &mut Cursor<'_>, kind: &str) -> Result<Vec<String>> {
    let at = c.pos() as u64;
    let n = c.varint(&format!("{kind} count"))?;
    // Every name takes at least its one-byte length.
    if n > c.remaining() as u64 {
        return Err(Error::corrupt(
            format!("{kind} count {n} exceeds the {} bytes left", c.remaining()),
            Some(at),
        ));
    }
    let mut names: Vec<&str> = Vec::with_capacity(n as usize);
    let mut seen: HashSet<&str> = HashSet::new();
    let what = format!("{kind} name");
    for i in 0..n {
        let at = c.pos() as u64;
        let s = c.str(&what)?;
        let dup = if names.len() < SMALL_TABLE {
            names.contains(&s)
        } else {
            if seen.is_empty() {
                seen.reserve(n as usize);
                seen.extend(names.iter().copied());
            }
            !seen.insert(s)
        };
        if dup {
            return Err(Error::corrupt(
                format!("{kind} name {i} ({s:?}) appears twice in the table"),
                Some(at),
            ));
        }
        names.push(s);
    }
    Ok(names.into_iter().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn sample() -> PointBatch {
        let mut b = PointBatch::default();
        b.push("a", "t", -5, Value::F64(-0.0));
        b.push("a", "n", i64::MIN, Value::I64(i64::MAX));
        b.push("b", "t", i64::MAX, Value::Bool(true));
        b.push("b", "n", 0, Value::Bool(false));
        b.push("a", "s", 7, Value::Str("héllo".into()));
        b.push(
            "c",
            "t",
            8,
            Value::F64(f64::from_bits(0x7ff0_0000_dead_beef)),
        );
        b
    }

    #[test]
    fn push_interns_names() {
        let b = sample();
        assert_eq!(b.devices, ["a", "b", "c"]);
        assert_eq!(b.channels, ["t", "n", "s"]);
        let idx: Vec<(u32, u32)> = b.points.iter().map(|p| (p.0, p.1)).collect();
        assert_eq!(idx, [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (2, 0)]);
        assert_eq!(b.len(), 6);
    }

    #[test]
    fn push_after_decode_and_direct_edits_stays_unique() {
        let mut bytes = Vec::new();
        sample().encode(&mut bytes);
        let mut b = PointBatch::decode(&bytes).unwrap();
        b.push("b", "s", 1, Value::I64(1));
        b.push("d", "s", 1, Value::I64(1));
        assert_eq!(b.devices, ["a", "b", "c", "d"]);
        b.devices.push("e".into());
        b.push("e", "t", 1, Value::I64(1));
        assert_eq!(b.devices.len(), 5);
        assert_eq!(b.points.last().unwrap().0, 4);
        for i in 0..1000 {
            b.push(&format!("dev{}", i % 100), "t", i, Value::I64(i));
        }
        assert_eq!(b.devices.len(), 105);
        let mut bytes = Vec::new();
        b.encode(&mut bytes);
        assert_eq!(PointBatch::decode(&bytes).unwrap(), b);
    }

    #[test]
    fn builder_matches_push() {
        let mut plain = PointBatch::default();
        let mut built = BatchBuilder::default();
        for i in 0..3000i64 {
            let d = format!("dev{}", (i * 7) % 300);
            let c = ["t", "h", "p"][(i % 3) as usize];
            plain.push(&d, c, i, Value::I64(i));
            built.push(&d, c, i, Value::I64(i));
        }
        assert_eq!(built.len(), 3000);
        assert_eq!(built.batch(), &plain);
        assert_eq!(built.take(), plain);
        assert!(built.is_empty());
        built.push("x", "y", 0, Value::Bool(true));
        assert_eq!(built.take().devices, ["x"]);
    }

    /// `decode` with every point read by the checked reader.
    fn decode_reference(bytes: &[u8]) -> Result<PointBatch> {
        let mut c = Cursor::new(bytes);
        let devices = get_table(&mut c, "device")?;
        let channels = get_table(&mut c, "channel")?;
        let n = c.varint("point count")?;
        if n > (c.remaining() / MIN_POINT_BYTES) as u64 {
            return Err(Error::corrupt("count", None));
        }
        let (nd, nc) = (devices.len() as u64, channels.len() as u64);
        let mut points = Vec::new();
        let mut prev = 0;
        for i in 0..n {
            let p = slow_point(&mut c, i, nd, nc, prev)?;
            prev = p.2;
            points.push(p);
        }
        c.finish("point batch")?;
        Ok(PointBatch::from_parts(devices, channels, points))
    }

    proptest::proptest! {
        /// The fast path agrees with the checked reader on valid and mutated input,
        /// including non-minimal and overlong varints.
        #[test]
        fn fast_path_agrees_with_checked_reader(
            seed in proptest::collection::vec(
                (0u8..4, proptest::prelude::any::<i64>(), proptest::prelude::any::<u64>()), 0..20),
            flips in proptest::collection::vec((proptest::prelude::any::<usize>(), 0u8..=255), 0..3),
        ) {
            let mut b = PointBatch::default();
            for (k, ts, x) in &seed {
                let v = match k {
                    0 => Value::F64(f64::from_bits(*x)),
                    1 => Value::I64(*x as i64),
                    2 => Value::Bool(x & 1 == 1),
                    _ => Value::Str(format!("{x}")),
                };
                b.push(&format!("d{}", x % 3), &format!("c{}", x % 5), *ts, v);
            }
            let mut bytes = Vec::new();
            b.encode(&mut bytes);
            for (at, x) in &flips {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] ^= x;
                }
            }
            let fast = PointBatch::decode(&bytes);
            let slow = decode_reference(&bytes);
            proptest::prop_assert_eq!(fast.is_ok(), slow.is_ok(), "{:?} vs {:?}", fast, slow);
            if let (Ok(f), Ok(s)) = (fast, slow) {
                proptest::prop_assert_eq!(f, s);
            }
        }
    }

    #[test]
    fn non_minimal_varints_decode() {
        // One point: device 0 as `80 00`, channel 0 as `80 80 00`, delta 1 as `82 00`
        // (zigzag 1 = -1), i64 -1 as `81 80 80 80 80 80 80 80 80 00`.
        let bytes = [
            1, 1, b'd', 1, 1, b'c', 1, 0x80, 0, 0x80, 0x80, 0, 0x81, 0, TAG_I64, 0x81, 0x80, 0x80,
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0,
        ];
        let b = PointBatch::decode(&bytes).unwrap();
        assert_eq!(b.points, [(0, 0, -1, Value::I64(-1))]);
        let mut overlong = bytes.to_vec();
        overlong.insert(16, 0x80);
        assert!(PointBatch::decode(&overlong).is_err());
    }

    #[test]
    fn exact_bytes() {
        let mut b = PointBatch::default();
        b.push("d", "c", 300, Value::I64(-1));
        b.push("d", "c", 299, Value::Bool(true));
        let mut out = Vec::new();
        b.encode(&mut out);
        assert_eq!(
            out,
            [1, 1, b'd', 1, 1, b'c', 2, 0, 0, 0xd8, 0x04, TAG_I64, 1, 0, 0, 1, TAG_TRUE]
        );
    }

    fn corrupt_at(bytes: &[u8]) -> (String, Option<u64>) {
        match PointBatch::decode(bytes).unwrap_err().kind() {
            ErrorKind::Corrupt { what, offset, .. } => (what.clone(), *offset),
            ErrorKind::Truncated { what, .. } => (format!("truncated {what}"), None),
            k => panic!("unexpected {k:?}"),
        }
    }

    #[test]
    fn rejects_bad_input() {
        let mut good = Vec::new();
        sample().encode(&mut good);
        // Every strict prefix fails, and so does a trailing byte.
        for n in 0..good.len() {
            assert!(PointBatch::decode(&good[..n]).is_err(), "prefix {n}");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(corrupt_at(&long).0.contains("trailing"));
        // Huge counts are rejected before allocating.
        assert!(corrupt_at(&[0xff, 0xff, 0xff, 0xff, 0x0f])
            .0
            .contains("device count"));
        assert!(corrupt_at(&[0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f])
            .0
            .contains("point count"));
        assert!(corrupt_at(&[0, 0, 1, 0, 0, 0, 0])
            .0
            .contains("device index 0"));
        assert!(corrupt_at(&[1, 0, 0, 1, 0, 0, 0, 0])
            .0
            .contains("channel index 0"));
        let (what, at) = corrupt_at(&[1, 0, 1, 0, 1, 0, 0, 0, 9]);
        assert!(what.contains("unknown value tag 9"), "{what}");
        assert_eq!(at, Some(8));
        assert!(corrupt_at(&[2, 1, b'x', 1, b'x', 0, 0]).0.contains("twice"));
        assert!(corrupt_at(&[1, 1, 0xff, 0, 0]).0.contains("UTF-8"));
        // Duplicates in a big table (the hash path).
        let mut big = PointBatch::default();
        for i in 0..40 {
            big.push(&format!("d{i}"), "c", 0, Value::Bool(true));
        }
        big.devices[30] = "d3".into();
        let mut bytes = Vec::new();
        big.encode(&mut bytes);
        assert!(corrupt_at(&bytes)
            .0
            .contains("device name 30 (\"d3\") appears twice"));
    }
}
