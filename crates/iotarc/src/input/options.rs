//! How to read an input: its format, the unit of epoch numbers, the time zone of
//! local date-times, and the column names.

use super::*;

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
