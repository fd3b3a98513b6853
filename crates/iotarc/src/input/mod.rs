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
mod detect;
pub(crate) mod intern;
mod jsonl;
mod lineproto;
mod options;
mod out;
mod rows;
mod source;
mod time;
pub mod value;

pub use detect::detect_format;
pub use intern::Interner;
pub use options::{Format, ParseOptions, TimeUnit, Tz};
pub use rows::{Batch, Row, RowError, Val};
pub use source::{open_input, Chunk, Chunker, LongLine, DEFAULT_CHUNK_SIZE, MAX_LINE_LEN};
pub use time::parse_timestamp;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{Value, ValueType};
use out::*;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use value::Text;

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
