//! What parsing yields: typed values, rows with interned names, rejected lines, and
//! the batch of one chunk.

use super::*;

/// A parsed value. Strings are ids into [`Batch::strings`].
#[derive(Clone, Copy, Debug)]
pub enum Val {
    /// No value (empty cell, `NA`, `N/A`, `null`, `NULL`, JSON `null`).
    Missing,
    /// A float.
    F64(f64),
    /// An integer.
    I64(i64),
    /// A boolean.
    Bool(bool),
    /// A string: index into [`Batch::strings`].
    Str(u32),
}

impl PartialEq for Val {
    /// Bit-exact for floats: NaN equals a NaN with the same bits, -0.0 differs from 0.0.
    fn eq(&self, other: &Val) -> bool {
        match (self, other) {
            (Val::Missing, Val::Missing) => true,
            (Val::F64(a), Val::F64(b)) => a.to_bits() == b.to_bits(),
            (Val::I64(a), Val::I64(b)) => a == b,
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Str(a), Val::Str(b)) => a == b,
            _ => false,
        }
    }
}

/// One parsed point. `device` and `channel` index [`Batch::devices`] and
/// [`Batch::channels`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// 1-based physical line number in the input.
    pub line: u64,
    /// Microseconds since the Unix epoch, UTC.
    pub ts: i64,
    /// Index into [`Batch::devices`].
    pub device: u32,
    /// Index into [`Batch::channels`].
    pub channel: u32,
    /// The value.
    pub value: Val,
}

/// A rejected line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// 1-based physical line number in the input.
    pub line: u64,
    /// Why, naming the field and its value.
    pub reason: String,
    /// The line as read (lossy UTF-8, cut after 200 bytes with `...`).
    pub text: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// The result of parsing one chunk: rows in input order, the dictionaries their ids refer
/// to, and the rejected lines. Every dictionary entry is used by at least one row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Accepted rows, in input order.
    pub rows: Vec<Row>,
    /// Device names, indexed by [`Row::device`].
    pub devices: Vec<String>,
    /// Channel names, indexed by [`Row::channel`].
    pub channels: Vec<String>,
    /// Distinct string values, indexed by [`Val::Str`].
    pub strings: Vec<String>,
    /// Rejected lines, in input order.
    pub errors: Vec<RowError>,
    /// Physical lines covered by the chunk (including skipped and rejected lines).
    pub lines: u64,
}

impl Batch {
    /// The device name of `row`.
    pub fn device(&self, row: &Row) -> &str {
        &self.devices[row.device as usize]
    }

    /// The channel name of `row`.
    pub fn channel(&self, row: &Row) -> &str {
        &self.channels[row.channel as usize]
    }

    /// The value of `row` as a model [`Value`]; `None` when missing.
    pub fn value(&self, row: &Row) -> Option<Value> {
        Some(match row.value {
            Val::Missing => return None,
            Val::F64(v) => Value::F64(v),
            Val::I64(v) => Value::I64(v),
            Val::Bool(v) => Value::Bool(v),
            Val::Str(i) => Value::Str(self.strings[i as usize].clone()),
        })
    }

    /// Appends `other` (the batch of the following chunk), re-mapping its ids into this
    /// batch's dictionaries.
    ///
    /// # Example
    /// ```
    /// use iotarc::input::{Format, ParseOptions, Parser};
    /// let opts = ParseOptions { format: Some(Format::Jsonl), ..Default::default() };
    /// let p = Parser::new(&opts, Format::Jsonl, None)?;
    /// let mut a = p.parse_chunk(br#"{"timestamp":"2024-01-01T00:00:00Z","device":"a","t":1}"#, 1);
    /// let b = p.parse_chunk(br#"{"timestamp":"2024-01-01T00:00:00Z","device":"b","t":2}"#, 2);
    /// a.append(b);
    /// assert_eq!(a.devices, ["a", "b"]);
    /// assert_eq!(a.device(&a.rows[1]), "b");
    /// # Ok::<(), iotarc::Error>(())
    /// ```
    pub fn append(&mut self, other: Batch) {
        pub(super) fn remap(into: &mut Vec<String>, from: Vec<String>) -> Vec<u32> {
            let mut index: HashMap<String, u32> = into
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i as u32))
                .collect();
            from.into_iter()
                .map(|s| {
                    *index.entry(s).or_insert_with_key(|s| {
                        into.push(s.clone());
                        (into.len() - 1) as u32
                    })
                })
                .collect()
        }
        let dev = remap(&mut self.devices, other.devices);
        let chan = remap(&mut self.channels, other.channels);
        let strs = remap(&mut self.strings, other.strings);
        self.rows.extend(other.rows.into_iter().map(|mut r| {
            r.device = dev[r.device as usize];
            r.channel = chan[r.channel as usize];
            if let Val::Str(i) = r.value {
                r.value = Val::Str(strs[i as usize]);
            }
            r
        }));
        self.errors.extend(other.errors);
        self.lines += other.lines;
    }
}
