//! Formatting of timestamps, values and result rows for the CLI.

use iotarc::archive::manifest::civil_from_days;
use iotarc::Value;
use std::io::{self, Write};

/// How timestamps are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TimeFormat {
    /// RFC 3339, UTC, microseconds: 2024-01-02T03:04:05.123456Z.
    Rfc3339,
    /// Integer microseconds since the Unix epoch.
    EpochUs,
}

/// Output format of `query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// An aligned text table.
    Table,
}

const DAY_US: i64 = 86_400_000_000;

/// Writes `ts` as RFC 3339 UTC with six fractional digits, without allocating (this runs
/// once per output row).
pub fn write_rfc3339(out: &mut impl Write, ts: i64) -> io::Result<()> {
    let days = ts.div_euclid(DAY_US);
    let rem = ts.rem_euclid(DAY_US);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / 1_000_000;
    let us = rem % 1_000_000;
    if (0..=9999).contains(&y) {
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut v: u64| {
            for k in (0..width).rev() {
                b[at + k] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, y as u64);
        put(5, 2, m as u64);
        put(8, 2, d as u64);
        put(11, 2, (secs / 3600) as u64);
        put(14, 2, (secs / 60 % 60) as u64);
        put(17, 2, (secs % 60) as u64);
        put(20, 6, us as u64);
        out.write_all(&b)
    } else {
        write!(
            out,
            "{y:+07}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{us:06}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// RFC 3339 UTC with six fractional digits.
pub fn rfc3339(ts: i64) -> String {
    let mut v = Vec::with_capacity(27);
    let _ = write_rfc3339(&mut v, ts);
    String::from_utf8(v).unwrap_or_default()
}

/// Writes a timestamp in the chosen format.
pub fn write_time(out: &mut impl Write, ts: i64, f: TimeFormat) -> io::Result<()> {
    match f {
        TimeFormat::Rfc3339 => write_rfc3339(out, ts),
        TimeFormat::EpochUs => write!(out, "{ts}"),
    }
}

/// A timestamp in the chosen format.
pub fn time(ts: i64, f: TimeFormat) -> String {
    let mut v = Vec::with_capacity(27);
    let _ = write_time(&mut v, ts, f);
    String::from_utf8(v).unwrap_or_default()
}

/// Writes a value as a CSV field (the text of [`value_text`], quoted by [`csv_field`]).
pub fn write_value_csv(out: &mut impl Write, v: &Value) -> io::Result<()> {
    match v {
        Value::F64(x) => out.write_all(ryu::Buffer::new().format(*x).as_bytes()),
        Value::I64(x) => out.write_all(itoa::Buffer::new().format(*x).as_bytes()),
        Value::Bool(x) => out.write_all(if *x { b"true" } else { b"false" }),
        Value::Str(s) => out.write_all(csv_field(s).as_bytes()),
    }
}

/// A value as text: floats in the shortest form that parses back to the same f64
/// (`NaN`, `inf` and `-inf` for the non-finite ones). Ryu's shortest round-trip
/// algorithm; std's `{:?}` gives the same digits at about a third of the speed, which
/// showed on hourly aggregates of a year (8,760 rows of four floats).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::F64(x) => ryu::Buffer::new().format(*x).to_owned(),
        Value::I64(x) => x.to_string(),
        Value::Bool(x) => x.to_string(),
        Value::Str(s) => s.clone(),
    }
}

/// A CSV field, quoted when it holds a comma, quote, CR or LF.
pub fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// A value as JSON. Non-finite floats are not JSON numbers, so they are written as the
/// strings "NaN", "inf" and "-inf".
pub fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::F64(x) if x.is_finite() => serde_json::Value::from(*x),
        Value::F64(x) => serde_json::Value::from(format!("{x:?}")),
        Value::I64(x) => serde_json::Value::from(*x),
        Value::Bool(x) => serde_json::Value::from(*x),
        Value::Str(s) => serde_json::Value::from(s.as_str()),
    }
}

/// Collects rows and prints them as an aligned table.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(header: Vec<String>) -> Table {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Prints the table; numeric-looking cells are right-aligned.
    pub fn print(&self, out: &mut impl Write) -> io::Result<()> {
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |out: &mut dyn Write, cells: &[String]| -> io::Result<()> {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                let numeric = c.parse::<f64>().is_ok();
                let pad = w[i] - c.chars().count();
                if numeric {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    if i + 1 < cells.len() {
                        s.push_str(&" ".repeat(pad));
                    }
                }
            }
            writeln!(out, "{s}")
        };
        line(out, &self.header)?;
        let rule: Vec<String> = w.iter().map(|&n| "-".repeat(n)).collect();
        line(out, &rule)?;
        for r in &self.rows {
            line(out, r)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(1_704_161_045_123_456),
            "2024-01-02T02:04:05.123456Z"
        );
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn floats_round_trip() {
        for x in [
            0.1,
            -0.0,
            1e300,
            5e-324,
            21.5,
            1e16,
            1e-7,
            123456789.125,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let s = value_text(&Value::F64(x));
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{s}");
            let mut csv = Vec::new();
            write_value_csv(&mut csv, &Value::F64(x)).unwrap();
            assert_eq!(csv, s.as_bytes());
        }
        assert_eq!(value_text(&Value::F64(f64::NAN)), "NaN");
        assert_eq!(value_text(&Value::F64(f64::NEG_INFINITY)), "-inf");
    }
}
