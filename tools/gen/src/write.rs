//! Output formats: fast, allocation-free row formatting into a byte buffer.

use crate::model::{Val, DAY_US};
use crate::Format;

/// Formats rows of one corpus in one format.
pub(crate) struct RowWriter {
    format: Format,
    cols: Vec<&'static str>,
    measurement: String,
    day: i64,
    date: [u8; 11],
    ts: Vec<u8>,
}

/// Howard Hinnant's days-to-civil: (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Day number since 1970-01-01 of a civil date (inverse of [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[inline]
fn two(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

#[inline]
fn digits(out: &mut Vec<u8>, mut v: u64, n: usize) {
    let at = out.len();
    out.resize(at + n, b'0');
    for i in (0..n).rev() {
        out[at + i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Writes `m / 10^scale` with exactly `scale` decimals (at least one, so that the text
/// reads back as a float).
#[inline]
pub fn write_dec(out: &mut Vec<u8>, m: i64, scale: u8) {
    const P: [u64; 10] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
    ];
    if scale == 0 {
        out.extend_from_slice(itoa::Buffer::new().format(m).as_bytes());
        out.extend_from_slice(b".0");
        return;
    }
    let scale = scale.min(9) as usize;
    if m < 0 {
        out.push(b'-');
    }
    let a = m.unsigned_abs();
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(a / P[scale]).as_bytes());
    out.push(b'.');
    digits(out, a % P[scale], scale);
}

impl RowWriter {
    pub fn new(format: Format, cols: Vec<&'static str>, measurement: &str) -> RowWriter {
        RowWriter {
            format,
            cols,
            measurement: measurement.to_string(),
            day: i64::MIN,
            date: [0; 11],
            ts: Vec::with_capacity(32),
        }
    }

    /// The header line, if the format has one.
    pub fn header(&self, out: &mut Vec<u8>) {
        match self.format {
            Format::CsvLong => out.extend_from_slice(b"timestamp,device,channel,value\n"),
            Format::CsvWide => {
                out.extend_from_slice(b"timestamp,device");
                for c in &self.cols {
                    out.push(b',');
                    out.extend_from_slice(c.as_bytes());
                }
                out.push(b'\n');
            }
            Format::Jsonl | Format::LineProtocol => {}
        }
    }

    /// RFC 3339 UTC with 0, 3 or 6 fractional digits, as few as the value needs.
    fn rfc3339(&mut self, t: i64) {
        let day = t.div_euclid(DAY_US);
        if day != self.day {
            let (y, m, d) = civil_from_days(day);
            let mut v = Vec::with_capacity(11);
            digits(&mut v, y.clamp(0, 9999) as u64, 4);
            v.push(b'-');
            two(&mut v, m);
            v.push(b'-');
            two(&mut v, d);
            v.push(b'T');
            self.date.copy_from_slice(&v);
            self.day = day;
        }
        let rem = t.rem_euclid(DAY_US);
        let secs = (rem / 1_000_000) as u32;
        let us = (rem % 1_000_000) as u64;
        let o = &mut self.ts;
        o.clear();
        o.extend_from_slice(&self.date);
        two(o, secs / 3600);
        o.push(b':');
        two(o, secs / 60 % 60);
        o.push(b':');
        two(o, secs % 60);
        if us != 0 {
            o.push(b'.');
            if us.is_multiple_of(1000) {
                digits(o, us / 1000, 3);
            } else {
                digits(o, us, 6);
            }
        }
        o.push(b'Z');
    }

    #[inline]
    fn value(out: &mut Vec<u8>, v: Val, lp: bool) {
        match v {
            Val::Dec(m, s) => write_dec(out, m, s),
            Val::F64(x) => out.extend_from_slice(ryu::Buffer::new().format_finite(x).as_bytes()),
            Val::I64(x) => {
                out.extend_from_slice(itoa::Buffer::new().format(x).as_bytes());
                if lp {
                    out.push(b'i');
                }
            }
            Val::Str(s) => out.extend_from_slice(s.as_bytes()),
        }
    }

    /// Appends one device row (values sorted by column) in the writer's format.
    pub fn row(&mut self, out: &mut Vec<u8>, t: i64, device: &str, vals: &[(u16, Val)]) {
        match self.format {
            Format::CsvLong => {
                self.rfc3339(t);
                for &(c, v) in vals {
                    out.extend_from_slice(&self.ts);
                    out.push(b',');
                    out.extend_from_slice(device.as_bytes());
                    out.push(b',');
                    out.extend_from_slice(self.cols[c as usize].as_bytes());
                    out.push(b',');
                    Self::value(out, v, false);
                    out.push(b'\n');
                }
            }
            Format::CsvWide => {
                self.rfc3339(t);
                out.extend_from_slice(&self.ts);
                out.push(b',');
                out.extend_from_slice(device.as_bytes());
                let mut next = 0usize;
                for &(c, v) in vals {
                    for _ in next..=c as usize {
                        out.push(b',');
                    }
                    Self::value(out, v, false);
                    next = c as usize + 1;
                }
                for _ in next..self.cols.len() {
                    out.push(b',');
                }
                out.push(b'\n');
            }
            Format::Jsonl => {
                self.rfc3339(t);
                out.extend_from_slice(b"{\"timestamp\":\"");
                out.extend_from_slice(&self.ts);
                out.extend_from_slice(b"\",\"device\":\"");
                out.extend_from_slice(device.as_bytes());
                out.push(b'"');
                for &(c, v) in vals {
                    out.extend_from_slice(b",\"");
                    out.extend_from_slice(self.cols[c as usize].as_bytes());
                    out.extend_from_slice(b"\":");
                    if let Val::Str(s) = v {
                        out.push(b'"');
                        out.extend_from_slice(s.as_bytes());
                        out.push(b'"');
                    } else {
                        Self::value(out, v, false);
                    }
                }
                out.extend_from_slice(b"}\n");
            }
            Format::LineProtocol => {
                out.extend_from_slice(self.measurement.as_bytes());
                out.extend_from_slice(b",device=");
                out.extend_from_slice(device.as_bytes());
                for (i, &(c, v)) in vals.iter().enumerate() {
                    out.push(if i == 0 { b' ' } else { b',' });
                    out.extend_from_slice(self.cols[c as usize].as_bytes());
                    out.push(b'=');
                    if let Val::Str(s) = v {
                        out.push(b'"');
                        out.extend_from_slice(s.as_bytes());
                        out.push(b'"');
                    } else {
                        Self::value(out, v, true);
                    }
                }
                out.push(b' ');
                out.extend_from_slice(itoa::Buffer::new().format(t as i128 * 1000).as_bytes());
                out.push(b'\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for d in [-800_000i64, -1, 0, 1, 10_957, 20_454, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn decimals() {
        let s = |m, sc| {
            let mut o = Vec::new();
            write_dec(&mut o, m, sc);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(s(213, 1), "21.3");
        assert_eq!(s(-5, 1), "-0.5");
        assert_eq!(s(0, 1), "0.0");
        assert_eq!(s(4_812_345, 5), "48.12345");
        assert_eq!(s(-100_001, 5), "-1.00001");
        assert_eq!(s(7, 0), "7.0");
        assert_eq!(s(-7, 0), "-7.0");
    }

    #[test]
    fn timestamps() {
        let mut w = RowWriter::new(Format::CsvLong, vec![], "m");
        let t0 = 1_767_225_600_000_000;
        for (t, want) in [
            (t0, "2026-01-01T00:00:00Z"),
            (t0 + 3_723_004_000, "2026-01-01T01:02:03.004Z"),
            (t0 - 1, "2025-12-31T23:59:59.999999Z"),
        ] {
            w.rfc3339(t);
            assert_eq!(std::str::from_utf8(&w.ts).unwrap(), want);
        }
    }
}
