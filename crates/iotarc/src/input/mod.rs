//! Input side of `iotarc pack`: turns CSV, JSON Lines and InfluxDB line protocol bytes into
//! rows of (line, timestamp, device, channel, value), fast, with exact line numbers for
//! every rejected line. Nothing here prints: rejected lines are data ([`RowError`]).
//!
//! # Pipeline
//! 1. [`open_input`] opens a path (`-` = stdin) and decompresses gzip / zstd on the fly.
//! 2. [`Chunker`] cuts the byte stream into ~4 MiB chunks at line boundaries, each with the
//!    1-based number of its first line, and strips a UTF-8 BOM.
//! 3. [`Parser::from_input`] picks the [`Format`] (from [`ParseOptions::format`], else the
//!    file extension, else the first line) and takes the CSV header.
//! 4. [`Parser::parse_chunk`] turns one chunk into a [`Batch`]. It takes `&self` and is
//!    pure, so chunks can be parsed in parallel (e.g. with rayon) and the batches
//!    concatenated in chunk order.
//!
//! [`parse_bytes`] runs the whole pipeline on a byte slice.
//!
//! # Formats
//! * **CSV long** ([`Format::CsvLong`]): `timestamp,device,channel,value`. Column names are
//!   configurable, columns may come in any order, extra columns are ignored.
//! * **CSV wide** ([`Format::CsvWide`]): `timestamp,device,<channel>,<channel>…`; every
//!   column other than the time and device columns is a channel, and each line gives one
//!   row per channel cell (a missing cell gives a [`Val::Missing`] row). Without an explicit
//!   format, a CSV header is long iff it has the channel column.
//! * CSV fields are separated by `,`; spaces and tabs around a field are trimmed; a field
//!   may be quoted with `"` (with `""` for a quote inside). A quoted field cannot span
//!   lines: each physical line is parsed alone, and an unterminated quote rejects its line.
//!   Every line must have as many fields as the header.
//! * **JSON Lines** ([`Format::Jsonl`]): one object per line. An object with the channel key
//!   is long (`{"timestamp":…, "device":…, "channel":…, "value":…}`, other keys ignored);
//!   otherwise it is wide and every key other than the time and device keys is a channel.
//!   JSON types are kept: `null` is missing, strings stay strings (a forced channel type
//!   parses string contents), numbers are typed by their text exactly as in CSV.
//! * **Line protocol** ([`Format::LineProtocol`]):
//!   `measurement,tag=v field=1.5,f2=3i,f3="s",f4=true 1700000000000000000`. The device is
//!   the tag named [`ParseOptions::device_tag`]; each field is one row with channel
//!   `measurement.field`. Bare numbers are floats, `3i` and `3u` integers (a `u` value
//!   above `i64::MAX` is rejected), `t/T/true/True/TRUE/f/F/false/False/FALSE` booleans,
//!   quoted values strings (`\"` and `\\` escapes). `\,` `\ ` `\=` escape in the
//!   measurement, tag keys and values, and field keys. The timestamp is an integer in
//!   nanoseconds unless [`ParseOptions::time_unit`] says otherwise; a line without one is
//!   rejected (the wall clock is never used).
//!
//! In every format, blank lines and lines whose first non-blank character is `#` are
//! skipped, and `\r\n` line endings are accepted.
//!
//! # Timestamps and values
//! See [`parse_timestamp`] and the [`value`] module. Sub-microsecond digits are floored.
//!
//! # Rejected lines
//! A line is accepted or rejected as a whole: a line with one bad cell produces no rows and
//! one [`RowError`] with its 1-based physical line number and a reason naming the field and
//! value, e.g. `bad timestamp "2024-13-01T00:00:00Z": month 13 out of range`.
//!
//! # Example
//! ```
//! use iotarc::input::{parse_bytes, ParseOptions, Val};
//! let csv = b"timestamp,device,channel,value\n\
//!             2024-01-01T00:00:00Z,s1,temp,21.5\n\
//!             2024-01-01T00:00:01Z,s1,temp,NA\n\
//!             2024-13-01T00:00:00Z,s1,temp,1\n";
//! let batch = parse_bytes(&ParseOptions::default(), Some("in.csv"), csv)?;
//! assert_eq!(batch.rows.len(), 2);
//! assert_eq!(batch.rows[0].value, Val::F64(21.5));
//! assert_eq!(batch.rows[1].value, Val::Missing);
//! assert_eq!(batch.errors[0].line, 4);
//! assert_eq!(batch.errors[0].reason, r#"bad timestamp "2024-13-01T00:00:00Z": month 13 out of range"#);
//! # Ok::<(), iotarc::Error>(())
//! ```

mod csv;
pub(crate) mod intern;
mod jsonl;
mod lineproto;
mod source;
mod time;
pub mod value;

pub use intern::Interner;
pub use source::{open_input, Chunk, Chunker, LongLine, DEFAULT_CHUNK_SIZE, MAX_LINE_LEN};
pub use time::parse_timestamp;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{Value, ValueType};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use value::Text;

/// Input format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// CSV with one value per line: time, device, channel and value columns.
    CsvLong,
    /// CSV with one column per channel.
    CsvWide,
    /// JSON Lines (one object per line), long or wide per object.
    Jsonl,
    /// InfluxDB line protocol.
    LineProtocol,
}

impl Format {
    /// Short name: `csv-long`, `csv-wide`, `jsonl` or `lp`.
    pub fn name(self) -> &'static str {
        match self {
            Format::CsvLong => "csv-long",
            Format::CsvWide => "csv-wide",
            Format::Jsonl => "jsonl",
            Format::LineProtocol => "lp",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = Error;

    /// Accepts `csv-long`/`long`, `csv-wide`/`wide`, `jsonl`/`ndjson`/`json`,
    /// `lp`/`line-protocol`/`influx`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for any other name.
    fn from_str(s: &str) -> Result<Format> {
        Ok(match s {
            "csv-long" | "long" => Format::CsvLong,
            "csv-wide" | "wide" => Format::CsvWide,
            "jsonl" | "ndjson" | "json" => Format::Jsonl,
            "lp" | "line-protocol" | "influx" => Format::LineProtocol,
            _ => {
                return Err(Error::invalid_input(format!(
                    "unknown format {s:?} (expected csv-long, csv-wide, jsonl or lp)"
                )))
            }
        })
    }
}

/// Unit of epoch-number timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// Seconds (decimals allowed, parsed exactly).
    S,
    /// Milliseconds (decimals allowed, parsed exactly).
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds (floored to microseconds).
    Ns,
}

impl FromStr for TimeUnit {
    type Err = Error;

    /// Accepts `s`, `ms`, `us` (or `µs`) and `ns`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for any other text.
    fn from_str(s: &str) -> Result<TimeUnit> {
        Ok(match s {
            "s" => TimeUnit::S,
            "ms" => TimeUnit::Ms,
            "us" | "µs" => TimeUnit::Us,
            "ns" => TimeUnit::Ns,
            _ => {
                return Err(Error::invalid_input(format!(
                    "unknown time unit {s:?} (expected s, ms, us or ns)"
                )))
            }
        })
    }
}

/// Time zone of date-times written without a UTC offset.
#[derive(Clone, Debug, Default)]
pub enum Tz {
    /// UTC (the default).
    #[default]
    Utc,
    /// A fixed offset east of UTC, in seconds.
    Fixed(i32),
    /// A named IANA zone, DST-aware. A local time that occurs twice (clocks going back)
    /// resolves to the earlier instant; a local time that does not exist (clocks going
    /// forward) rejects its line.
    Named(jiff::tz::TimeZone),
}

impl FromStr for Tz {
    type Err = Error;

    /// Accepts `UTC`/`utc`/`Z`, a fixed offset `±HH:MM`/`±HHMM`/`±HH`, or an IANA name such
    /// as `Europe/Berlin` (the system database, else the copy built into iotarc).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a malformed offset or an unknown zone name.
    fn from_str(s: &str) -> Result<Tz> {
        if matches!(s, "UTC" | "utc" | "Z" | "z") {
            return Ok(Tz::Utc);
        }
        if let Some(rest) = s.strip_prefix(['+', '-']) {
            let digits: Vec<u8> = rest.bytes().filter(|&b| b != b':').collect();
            let ok = digits.iter().all(u8::is_ascii_digit)
                && matches!(digits.len(), 2 | 4)
                && (rest.len() == digits.len() || (rest.len() == 5 && rest.as_bytes()[2] == b':'));
            let num = |d: &[u8]| d.iter().fold(0i32, |a, &b| a * 10 + (b - b'0') as i32);
            let (h, m) = if ok {
                (num(&digits[..2]), num(digits.get(2..).unwrap_or(&[])))
            } else {
                (99, 99)
            };
            if h > 23 || m > 59 {
                return Err(Error::invalid_input(format!(
                    "bad UTC offset {s:?} (expected ±HH:MM)"
                )));
            }
            let secs = h * 3600 + m * 60;
            return Ok(Tz::Fixed(if s.starts_with('-') { -secs } else { secs }));
        }
        jiff::tz::TimeZone::get(s)
            .map(Tz::Named)
            .map_err(|e| Error::invalid_input(format!("unknown time zone {s:?}: {e}")))
    }
}

/// How to read an input. `ParseOptions::default()` reads long CSV / JSONL with columns
/// `timestamp`, `device`, `channel`, `value`, date-times in UTC, and no unit for epoch
/// numbers.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// The format; `None` detects it from the file extension (`.csv`, `.jsonl`/`.ndjson`,
    /// `.lp`/`.txt`, after stripping `.gz`/`.zst`), else from the first line. CSV long vs
    /// wide is decided by the header: long iff it has [`ParseOptions::channel_col`].
    pub format: Option<Format>,
    /// Name of the timestamp column / key.
    pub time_col: String,
    /// Name of the device column / key.
    pub device_col: String,
    /// Name of the channel column / key (long layouts).
    pub channel_col: String,
    /// Name of the value column / key (long layouts).
    pub value_col: String,
    /// Unit of epoch-number timestamps. Required for bare numbers in CSV and JSON (a number
    /// without it is rejected with `numeric timestamp needs --time-unit`); line protocol
    /// defaults to nanoseconds.
    pub time_unit: Option<TimeUnit>,
    /// Zone of date-times written without an offset.
    pub tz: Tz,
    /// Line protocol: the tag that names the device.
    pub device_tag: String,
    /// Forced channel types, by channel name (for line protocol, `measurement.field`).
    /// A forced cell is parsed as that type or its line is rejected.
    pub types: HashMap<String, ValueType>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            format: None,
            time_col: "timestamp".into(),
            device_col: "device".into(),
            channel_col: "channel".into(),
            value_col: "value".into(),
            time_unit: None,
            tz: Tz::Utc,
            device_tag: "device".into(),
            types: HashMap::new(),
        }
    }
}

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
        fn remap(into: &mut Vec<String>, from: Vec<String>) -> Vec<u32> {
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

/// Picks the format of an input: [`ParseOptions::format`] if set, else the extension of
/// `path` (after stripping `.gz`/`.zst`): `.csv` → CSV, `.jsonl`/`.ndjson` → JSON Lines,
/// `.lp`/`.txt` → line protocol; else the first non-blank, non-comment line: `{` → JSON
/// Lines, `key=value` pairs after a space → line protocol, anything else → CSV. CSV is long
/// iff the header (`first_line`) has the channel column.
///
/// # Errors
/// [`ErrorKind::InvalidInput`] when the input is empty and the format cannot be decided,
/// or when CSV has no header line.
///
/// # Example
/// ```
/// use iotarc::input::{detect_format, Format, ParseOptions};
/// let o = ParseOptions::default();
/// assert_eq!(detect_format(&o, Some("x.csv.gz"), Some(b"timestamp,device,temp")).unwrap(), Format::CsvWide);
/// assert_eq!(detect_format(&o, Some("-"), Some(b"m,device=a t=1 1")).unwrap(), Format::LineProtocol);
/// ```
pub fn detect_format(
    opts: &ParseOptions,
    path: Option<&str>,
    first_line: Option<&[u8]>,
) -> Result<Format> {
    if let Some(f) = opts.format {
        return Ok(f);
    }
    #[derive(PartialEq)]
    enum Kind {
        Csv,
        Json,
        Lp,
    }
    let by_ext = path.and_then(|p| {
        let p = p.to_ascii_lowercase();
        let p = p
            .strip_suffix(".gz")
            .or_else(|| p.strip_suffix(".zst"))
            .unwrap_or(&p);
        let ext = p.rsplit_once('.')?.1;
        match ext {
            "csv" => Some(Kind::Csv),
            "jsonl" | "ndjson" => Some(Kind::Json),
            "lp" | "txt" => Some(Kind::Lp),
            _ => None,
        }
    });
    let kind = match (by_ext, first_line) {
        (Some(k), _) => k,
        (None, None) => {
            return Err(Error::invalid_input(
                "cannot detect the format of an empty input; set the format",
            ))
        }
        (None, Some(l)) => {
            let l = trim_ascii(l);
            if l.first() == Some(&b'{') {
                Kind::Json
            } else if looks_like_lp(l) {
                Kind::Lp
            } else {
                Kind::Csv
            }
        }
    };
    Ok(match kind {
        Kind::Json => Format::Jsonl,
        Kind::Lp => Format::LineProtocol,
        Kind::Csv => {
            let Some(header) = first_line else {
                return Err(Error::invalid_input(
                    "no CSV header line: the input is empty",
                ));
            };
            if csv::header_names(header)
                .map_err(Error::invalid_input)?
                .contains(&opts.channel_col)
            {
                Format::CsvLong
            } else {
                Format::CsvWide
            }
        }
    })
}

/// `measurement[,tags] key=value…`: a `=` after the first unescaped space.
fn looks_like_lp(l: &[u8]) -> bool {
    let mut i = 0;
    while i < l.len() {
        match l[i] {
            b'\\' => i += 1,
            b' ' => return l[i + 1..].contains(&b'='),
            b'"' => return false,
            _ => {}
        }
        i += 1;
    }
    false
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A parser for one input: the options, the resolved format and (for CSV) the header.
/// Build it once per input, then call [`Parser::parse_chunk`] on the input's chunks, from
/// any number of threads.
#[derive(Debug)]
pub struct Parser {
    opts: ParseOptions,
    format: Format,
    csv: Option<csv::Header>,
}

impl Parser {
    /// A parser for `format`. CSV formats need the `header` line (without its line
    /// ending); other formats ignore it.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a CSV header that is missing, not UTF-8, lacks the
    /// time or device column, has duplicate or empty names, lacks the channel/value columns
    /// for [`Format::CsvLong`], or has no channel columns for [`Format::CsvWide`].
    ///
    /// # Example
    /// ```
    /// use iotarc::input::{Format, ParseOptions, Parser, Val};
    /// let p = Parser::new(&ParseOptions::default(), Format::CsvWide, Some(b"timestamp,device,temp,rh"))?;
    /// let b = p.parse_chunk(b"2024-01-01 00:00:00,boiler,21.5,\n", 2);
    /// assert_eq!(b.channels, ["temp", "rh"]);
    /// assert_eq!(b.rows[1].value, Val::Missing);
    /// assert_eq!(b.rows[1].line, 2);
    /// # Ok::<(), iotarc::Error>(())
    /// ```
    pub fn new(opts: &ParseOptions, format: Format, header: Option<&[u8]>) -> Result<Parser> {
        let csv = match format {
            Format::CsvLong | Format::CsvWide => {
                let header = header.ok_or_else(|| {
                    Error::invalid_input("CSV needs a header line naming its columns")
                })?;
                Some(
                    csv::Header::new(opts, format == Format::CsvLong, header)
                        .map_err(Error::invalid_input)?,
                )
            }
            Format::Jsonl | Format::LineProtocol => None,
        };
        Ok(Parser {
            opts: opts.clone(),
            format,
            csv,
        })
    }

    /// Detects the format (see [`detect_format`]; `path` is only used for its extension)
    /// and, for CSV, takes the header line from `chunker`, so that its chunks hold data
    /// lines only.
    ///
    /// # Errors
    /// I/O errors from reading the first line; the errors of [`detect_format`] and
    /// [`Parser::new`], with the header's line number.
    ///
    /// # Example
    /// ```
    /// use iotarc::input::{Chunker, Format, ParseOptions, Parser};
    /// let data = &b"# exported 2024-01-01\ntimestamp,device,channel,value\n2024-01-01T00:00:00Z,a,t,1\n"[..];
    /// let mut chunks = Chunker::new(data);
    /// let p = Parser::from_input(&ParseOptions::default(), None, &mut chunks)?;
    /// assert_eq!(p.format(), Format::CsvLong);
    /// let chunk = chunks.next_chunk()?.unwrap();
    /// assert_eq!(chunk.first_line, 3);
    /// assert_eq!(p.parse_chunk(&chunk.bytes, chunk.first_line).rows[0].line, 3);
    /// # Ok::<(), iotarc::Error>(())
    /// ```
    pub fn from_input<R: std::io::Read>(
        opts: &ParseOptions,
        path: Option<&str>,
        chunker: &mut Chunker<R>,
    ) -> Result<Parser> {
        let format = match opts.format {
            Some(f) => f,
            None => {
                let first = chunker.peek_first_line()?;
                detect_format(opts, path, first)?
            }
        };
        match format {
            Format::CsvLong | Format::CsvWide => {
                let Some((header, line)) = chunker.take_header()? else {
                    return Err(Error::invalid_input(
                        "no CSV header line: the input is empty",
                    ));
                };
                Parser::new(opts, format, Some(&header)).map_err(|e| match e.kind() {
                    ErrorKind::InvalidInput { what, .. } => Error::new(ErrorKind::InvalidInput {
                        what: format!("CSV header: {what}"),
                        line: Some(line),
                    }),
                    _ => e,
                })
            }
            Format::Jsonl | Format::LineProtocol => Parser::new(opts, format, None),
        }
    }

    /// The resolved format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The options.
    pub fn options(&self) -> &ParseOptions {
        &self.opts
    }

    /// The CSV header's column names (`None` for other formats).
    pub fn columns(&self) -> Option<&[String]> {
        self.csv.as_ref().map(|h| h.names.as_slice())
    }

    /// Parses the complete lines in `bytes`, the first of which is line `first_line`
    /// (1-based) of the input. A final line without a newline is parsed too; `\r\n` is
    /// accepted, and a UTF-8 BOM is skipped when `first_line == 1`. Never panics and never
    /// fails: rejected lines become [`Batch::errors`]. Pure and `&self`, so chunks may be
    /// parsed concurrently; concatenating their batches in order (see [`Batch::append`])
    /// gives the same rows as parsing all bytes at once.
    ///
    /// # Example
    /// ```
    /// use iotarc::input::{Format, ParseOptions, Parser, Val};
    /// let p = Parser::new(&ParseOptions::default(), Format::LineProtocol, None)?;
    /// let b = p.parse_chunk(b"env,device=d1 temp=21.5,n=3i 1700000000000000000\nenv temp=1 1\n", 10);
    /// assert_eq!(b.channels, ["env.temp", "env.n"]);
    /// assert_eq!(b.rows[1].value, Val::I64(3));
    /// assert_eq!(b.rows[0].ts, 1_700_000_000_000_000);
    /// assert_eq!(b.errors[0].line, 11);
    /// # Ok::<(), iotarc::Error>(())
    /// ```
    pub fn parse_chunk(&self, bytes: &[u8], first_line: u64) -> Batch {
        let mut batch = Batch::default();
        self.parse_chunk_into(bytes, first_line, &mut batch);
        batch
    }

    /// Like [`Parser::parse_chunk`], but replaces the contents of `batch`, reusing its
    /// row and error vectors: a caller that recycles batches parses without allocating
    /// (and page-faulting in) a fresh row vector per chunk.
    ///
    /// # Example
    /// ```
    /// use iotarc::input::{Batch, Format, ParseOptions, Parser};
    /// let p = Parser::new(&ParseOptions::default(), Format::CsvLong, Some(b"timestamp,device,channel,value"))?;
    /// let mut b = Batch::default();
    /// p.parse_chunk_into(b"2024-01-01T00:00:00Z,a,t,1\n2024-01-01T00:00:01Z,a,t,2\n", 2, &mut b);
    /// assert_eq!(b.rows.len(), 2);
    /// p.parse_chunk_into(b"2024-01-01T00:00:02Z,b,t,3\n", 4, &mut b);
    /// assert_eq!((b.rows.len(), b.rows[0].line, b.device(&b.rows[0])), (1, 4, "b"));
    /// # Ok::<(), iotarc::Error>(())
    /// ```
    pub fn parse_chunk_into(&self, bytes: &[u8], first_line: u64, batch: &mut Batch) {
        let mut rows = std::mem::take(&mut batch.rows);
        rows.clear();
        let mut errors = std::mem::take(&mut batch.errors);
        errors.clear();
        let mut out = Out::new(&self.opts, rows, errors);
        let lines = match (&self.csv, self.format) {
            (Some(h), _) => run(&mut out, &mut csv::LineParser::new(h), bytes, first_line),
            (None, Format::Jsonl) => {
                run(&mut out, &mut jsonl::LineParser::new(), bytes, first_line)
            }
            (None, _) => run(
                &mut out,
                &mut lineproto::LineParser::new(&self.opts),
                bytes,
                first_line,
            ),
        };
        *batch = out.finish(lines);
    }
}

/// Parses a whole input held in memory: detects the format (from `path`'s extension, else
/// the content), takes the CSV header, and parses every line.
///
/// # Errors
/// The errors of [`Parser::from_input`]. Bad lines are not errors: they are in
/// [`Batch::errors`].
///
/// # Example
/// ```
/// use iotarc::input::{parse_bytes, ParseOptions, TimeUnit, Val};
/// let opts = ParseOptions { time_unit: Some(TimeUnit::Ms), ..Default::default() };
/// let b = parse_bytes(&opts, None, b"{\"timestamp\":1700000000123,\"device\":\"a\",\"on\":true,\"t\":null}\n")?;
/// assert_eq!(b.rows[0].ts, 1_700_000_000_123_000);
/// assert_eq!(b.rows[0].value, Val::Bool(true));
/// assert_eq!(b.rows[1].value, Val::Missing);
/// # Ok::<(), iotarc::Error>(())
/// ```
pub fn parse_bytes(opts: &ParseOptions, path: Option<&str>, data: &[u8]) -> Result<Batch> {
    let mut chunker = Chunker::new(data);
    let parser = Parser::from_input(opts, path, &mut chunker)?;
    let mut batch = Batch::default();
    let mut first = true;
    while let Some(chunk) = chunker.next_chunk()? {
        let b = parser.parse_chunk(&chunk.bytes, chunk.first_line);
        if first {
            batch = b;
            first = false;
        } else {
            batch.append(b);
        }
    }
    Ok(batch)
}

/// Cuts `line` for [`RowError::text`].
fn error_text(line: &[u8]) -> String {
    const MAX: usize = 200;
    if line.len() > MAX {
        let mut s = String::from_utf8_lossy(&line[..MAX]).into_owned();
        s.push_str("...");
        s
    } else {
        String::from_utf8_lossy(line).into_owned()
    }
}

/// Per-chunk output under construction.
pub(crate) struct Out<'o> {
    pub(crate) opts: &'o ParseOptions,
    rows: Vec<Row>,
    devices: Interner,
    channels: Interner,
    chan_types: Vec<Option<ValueType>>,
    strings: Interner,
    errors: Vec<RowError>,
    ts_memo: time::TsMemo,
}

/// Sizes to roll back to when a line is rejected.
#[derive(Clone, Copy)]
struct Mark {
    rows: usize,
    devices: usize,
    channels: usize,
    strings: usize,
}

impl<'o> Out<'o> {
    fn new(opts: &'o ParseOptions, rows: Vec<Row>, errors: Vec<RowError>) -> Self {
        Out {
            opts,
            rows,
            devices: Interner::new(),
            channels: Interner::new(),
            chan_types: Vec::new(),
            strings: Interner::new(),
            errors,
            ts_memo: time::TsMemo::default(),
        }
    }

    #[inline]
    fn mark(&self) -> Mark {
        Mark {
            rows: self.rows.len(),
            devices: self.devices.len(),
            channels: self.channels.len(),
            strings: self.strings.len(),
        }
    }

    #[cold]
    fn rollback(&mut self, m: Mark) {
        self.rows.truncate(m.rows);
        self.devices.truncate(m.devices);
        self.channels.truncate(m.channels);
        self.chan_types.truncate(m.channels);
        self.strings.truncate(m.strings);
    }

    pub(crate) fn channel_count(&self) -> usize {
        self.channels.len()
    }

    // The per-cell methods below are `inline(always)` with their error paths out of line:
    // returning `Result<_, String>` through memory from a call cost a store-forwarding
    // stall per cell (~2% of a pack).

    /// Interns a device name.
    #[inline(always)]
    pub(crate) fn device(&mut self, name: &[u8]) -> Result<u32, String> {
        if name.is_empty() {
            return Err(empty_name("device"));
        }
        match self.devices.intern(name) {
            Ok(id) => Ok(id),
            Err(_) => Err(not_utf8("device", name)),
        }
    }

    /// Interns a channel name; also returns its forced type.
    #[inline(always)]
    pub(crate) fn channel(&mut self, name: &[u8]) -> Result<(u32, Option<ValueType>), String> {
        if name.is_empty() {
            return Err(empty_name("channel"));
        }
        let id = match self.channels.intern(name) {
            Ok(id) => id,
            Err(_) => return Err(not_utf8("channel", name)),
        };
        if id as usize == self.chan_types.len() {
            self.new_channel_type(id);
        }
        Ok((id, self.chan_types[id as usize]))
    }

    #[cold]
    fn new_channel_type(&mut self, id: u32) {
        let t = if self.opts.types.is_empty() {
            None
        } else {
            self.opts
                .types
                .get(self.channels.get(id).unwrap_or_default())
                .copied()
        };
        self.chan_types.push(t);
    }

    /// Parses a timestamp field, wrapping the reason as `bad timestamp "<text>": <reason>`.
    #[inline(always)]
    pub(crate) fn timestamp(&mut self, s: &[u8]) -> Result<i64, String> {
        match self.ts_memo.parse(s, self.opts.time_unit, &self.opts.tz) {
            Ok(t) => Ok(t),
            Err(e) => Err(bad_timestamp(s, e)),
        }
    }

    /// The name of channel `id`, for error messages.
    pub(crate) fn channel_name(&self, id: u32) -> &str {
        self.channels.get(id).unwrap_or_default()
    }

    /// Types the text `s` of a cell of channel `ch` (see [`Out::text_value`]) and pushes
    /// the row. Common numbers are pushed straight from the fast path: merging its value
    /// with the general path's through memory cost a store-forwarding stall per cell.
    #[inline(always)]
    pub(crate) fn push_text(
        &mut self,
        line: u64,
        ts: i64,
        device: u32,
        ch: u32,
        s: &[u8],
        forced: Option<ValueType>,
    ) -> Result<(), String> {
        if forced.is_none() {
            match value::fast_number(s) {
                Some(Text::I64(v)) => {
                    self.push(line, ts, device, ch, Val::I64(v));
                    return Ok(());
                }
                Some(Text::F64(v)) => {
                    self.push(line, ts, device, ch, Val::F64(v));
                    return Ok(());
                }
                _ => {}
            }
        }
        self.push_text_general(line, ts, device, ch, s, forced)
    }

    #[inline(never)]
    fn push_text_general(
        &mut self,
        line: u64,
        ts: i64,
        device: u32,
        ch: u32,
        s: &[u8],
        forced: Option<ValueType>,
    ) -> Result<(), String> {
        let v = self.text_value(s, forced, ch)?;
        self.push(line, ts, device, ch, v);
        Ok(())
    }

    /// Types the text of a cell of channel `ch`, by inference or by its forced type.
    pub(crate) fn text_value(
        &mut self,
        s: &[u8],
        forced: Option<ValueType>,
        ch: u32,
    ) -> Result<Val, String> {
        let t = match forced {
            None => value::infer(s),
            Some(t) => value::forced(s, t),
        }
        .map_err(|e| format!("channel {:?}: {e}", self.channel_name(ch)))?;
        Ok(self.val(t))
    }

    /// Stores a typed value, interning strings.
    #[inline]
    pub(crate) fn val(&mut self, t: Text<'_>) -> Val {
        match t {
            Text::Missing => Val::Missing,
            Text::F64(v) => Val::F64(v),
            Text::I64(v) => Val::I64(v),
            Text::Bool(v) => Val::Bool(v),
            // A &str is valid UTF-8, so interning cannot fail.
            Text::Str(s) => Val::Str(self.strings.intern(s.as_bytes()).unwrap_or(0)),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, line: u64, ts: i64, device: u32, channel: u32, value: Val) {
        self.rows.push(Row {
            line,
            ts,
            device,
            channel,
            value,
        });
    }

    fn finish(self, lines: u64) -> Batch {
        Batch {
            rows: self.rows,
            devices: self.devices.into_names(),
            channels: self.channels.into_names(),
            strings: self.strings.into_names(),
            errors: self.errors,
            lines,
        }
    }
}

/// One format's line parser, holding its per-chunk scratch state.
pub(crate) trait Lines<'a> {
    /// Parses one line (without its line ending) into `out`.
    fn line(&mut self, out: &mut Out<'_>, line: &'a [u8], line_no: u64) -> Result<(), String>;
    /// Called after `out` was rolled back past a rejected line.
    fn rolled_back(&mut self, _out: &Out<'_>) {}
}

/// True for blank lines and `#` comments.
#[inline]
fn skippable(line: &[u8]) -> bool {
    match line.first() {
        None | Some(b'#') => true,
        Some(b' ' | b'\t' | b'\r') => {
            matches!(
                line.iter().find(|&&b| !matches!(b, b' ' | b'\t' | b'\r')),
                None | Some(b'#')
            )
        }
        Some(_) => false,
    }
}

/// The line loop shared by every format. Returns the number of physical lines.
fn run<'a, P: Lines<'a>>(out: &mut Out<'_>, p: &mut P, bytes: &'a [u8], first_line: u64) -> u64 {
    let mut pos = 0;
    if first_line == 1 && bytes.starts_with(source::BOM) {
        pos = 3;
    }
    let mut line_no = first_line;
    while pos < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        let mut line = &bytes[pos..end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        pos = end + 1;
        if !skippable(line) {
            let mark = out.mark();
            if let Err(reason) = p.line(out, line, line_no) {
                out.rollback(mark);
                p.rolled_back(out);
                out.errors.push(RowError {
                    line: line_no,
                    reason,
                    text: error_text(line),
                });
            }
        }
        line_no += 1;
    }
    line_no - first_line
}

#[cold]
fn empty_name(what: &str) -> String {
    format!("empty {what} name")
}

#[cold]
fn not_utf8(what: &str, name: &[u8]) -> String {
    format!("{what} {} is not valid UTF-8", value::show(name))
}

/// Wraps a timestamp error as `bad timestamp "<text>": <reason>`.
#[cold]
fn bad_timestamp(s: &[u8], e: String) -> String {
    format!("bad timestamp {}: {e}", value::show(s))
}
