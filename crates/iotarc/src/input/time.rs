//! Timestamp parsing: RFC 3339 / ISO 8601 date-times and epoch numbers, to i64
//! microseconds since the Unix epoch (UTC).
//!
//! The date-time path is hand-written (it is the hot path of every text format); named time
//! zones go through `jiff`.
//!
//! # Accepted syntax
//! * `YYYY-MM-DD[T|t| ]HH:MM:SS[.f…][Z|z|±HH:MM|±HHMM]`, 1 to 9 fractional digits (`.` or
//!   `,` as the separator). Without an offset the time is local to [`Tz`].
//! * Epoch numbers `[+-]digits[.digits]` in the given [`TimeUnit`]. Decimals are parsed
//!   exactly, digit by digit, never through `f64`.
//!
//! # Precision
//! iotarc stores microseconds. Digits below the microsecond (the 7th to 9th fractional
//! digit of a date-time, the last three digits of an `ns` epoch number, …) are dropped by
//! rounding **toward negative infinity** (floor): `…05.1234569Z` becomes `…05.123456Z`,
//! and `-1500` ns becomes `-2` µs. Floor keeps every timestamp inside the microsecond
//! that contains it, for times before and after 1970 alike.

use super::{TimeUnit, Tz};
use jiff::tz::AmbiguousOffset;

/// Parses one timestamp field to microseconds since the Unix epoch, UTC.
///
/// `unit` says how bare numbers are read; with `None` a number is an error. `tz` applies to
/// date-times written without an offset.
///
/// # Errors
/// A human-readable reason (without the field text itself), e.g. `month 13 out of range`
/// or `numeric timestamp needs --time-unit (s, ms, us or ns)`.
///
/// # Example
/// ```
/// use iotarc::input::{parse_timestamp, TimeUnit, Tz};
/// let us = parse_timestamp(b"2024-01-02T03:04:05.123456+01:00", None, &Tz::Utc).unwrap();
/// assert_eq!(us, 1_704_161_045_123_456);
/// assert_eq!(parse_timestamp(b"1700000000.5", Some(TimeUnit::S), &Tz::Utc), Ok(1_700_000_000_500_000));
/// assert!(parse_timestamp(b"2024-13-01T00:00:00Z", None, &Tz::Utc).unwrap_err().contains("month 13"));
/// ```
pub fn parse_timestamp(text: &[u8], unit: Option<TimeUnit>, tz: &Tz) -> Result<i64, String> {
    if is_datetime(text) {
        return parse_datetime(text, tz, None);
    }
    match text.first() {
        Some(b'0'..=b'9' | b'+' | b'-' | b'.') => match unit {
            Some(u) => parse_epoch(text, u),
            None => Err("numeric timestamp needs --time-unit (s, ms, us or ns)".into()),
        },
        None => Err("empty timestamp".into()),
        Some(_) => Err(
            "not a timestamp (expected RFC 3339 like 2024-01-02T03:04:05Z, \
             \"YYYY-MM-DD HH:MM:SS\", or an epoch number with --time-unit)"
                .into(),
        ),
    }
}

/// A per-chunk memo for [`parse_timestamp`]: rows of many devices and channels share a
/// timestamp, and consecutive timestamps share a date, so the last text parsed and the
/// last date validated are kept. Gives exactly the results of [`parse_timestamp`].
#[derive(Clone, Debug)]
pub(crate) struct TsMemo {
    /// The last successfully parsed text (`len == 0`: none) and its value.
    text: [u8; 40],
    len: usize,
    value: i64,
    /// The last valid `YYYY-MM-DD` and its day number (`day_len == 0`: none).
    date: [u8; 10],
    day_len: usize,
    days: i64,
}

impl Default for TsMemo {
    fn default() -> Self {
        TsMemo {
            text: [0; 40],
            len: 0,
            value: 0,
            date: [0; 10],
            day_len: 0,
            days: 0,
        }
    }
}

impl TsMemo {
    /// [`parse_timestamp`], remembering the last text and date.
    #[inline(always)]
    pub(crate) fn parse(
        &mut self,
        s: &[u8],
        unit: Option<TimeUnit>,
        tz: &Tz,
    ) -> Result<i64, String> {
        if self.len != 0 && super::intern::same(s, &self.text[..self.len]) {
            return Ok(self.value);
        }
        self.parse_new(s, unit, tz)
    }

    #[inline(never)]
    fn parse_new(&mut self, s: &[u8], unit: Option<TimeUnit>, tz: &Tz) -> Result<i64, String> {
        let v = if is_datetime(s) {
            parse_datetime(s, tz, Some(self))?
        } else {
            parse_timestamp(s, unit, tz)?
        };
        if !s.is_empty() && s.len() <= self.text.len() {
            self.text[..s.len()].copy_from_slice(s);
            self.len = s.len();
            self.value = v;
        }
        Ok(v)
    }
}

#[inline]
fn is_datetime(text: &[u8]) -> bool {
    text.len() >= 5 && text[4] == b'-' && text[..4].iter().all(u8::is_ascii_digit)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`). Valid for any `y` in i32 range.
#[inline]
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (m as i64 + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d as i64 - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

#[inline]
fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

#[inline]
fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

#[inline]
fn two(s: &[u8], at: usize, what: &str) -> Result<u32, String> {
    match (s.get(at), s.get(at + 1)) {
        (Some(a @ b'0'..=b'9'), Some(b @ b'0'..=b'9')) => {
            Ok((a - b'0') as u32 * 10 + (b - b'0') as u32)
        }
        _ => Err(format!("expected two-digit {what} at byte {}", at + 1)),
    }
}

#[inline]
fn expect(s: &[u8], at: usize, c: u8, after: &str) -> Result<(), String> {
    match s.get(at) {
        Some(&x) if x == c => Ok(()),
        Some(_) => Err(format!("expected '{}' after {after}", c as char)),
        None => Err(format!("ends after {after}")),
    }
}

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.f][offset]`. The caller checked `s[..4]` are digits and
/// `s[4] == '-'`. With a memo, a date equal to the memo's last valid date skips its
/// validation and day arithmetic (the errors are the same: that date was valid).
fn parse_datetime(s: &[u8], tz: &Tz, memo: Option<&mut TsMemo>) -> Result<i64, String> {
    let year = s[..4].iter().fold(0i64, |a, &b| a * 10 + (b - b'0') as i64);
    let mut month = 0;
    let mut day = 0;
    let memo_days = match memo {
        Some(m) if m.day_len == 10 && s.len() >= 10 && s[..10] == m.date[..] => Some(m.days),
        memo => {
            month = two(s, 5, "month")?;
            expect(s, 7, b'-', "month")?;
            day = two(s, 8, "day")?;
            if !(1..=12).contains(&month) {
                return Err(format!("month {month} out of range"));
            }
            let dim = days_in_month(year, month);
            if day < 1 || day > dim {
                return Err(format!(
                    "day {day} out of range for {year:04}-{month:02} (1..={dim})"
                ));
            }
            if let Some(m) = memo {
                m.date.copy_from_slice(&s[..10]);
                m.day_len = 10;
                m.days = days_from_civil(year, month, day);
                Some(m.days)
            } else {
                None
            }
        }
    };
    match s.get(10) {
        Some(b'T' | b't' | b' ') => {}
        None => return Err("date without a time of day".into()),
        Some(_) => return Err("expected 'T' or ' ' between date and time".into()),
    }
    let hour = two(s, 11, "hour")?;
    expect(s, 13, b':', "hour")?;
    let minute = two(s, 14, "minute")?;
    expect(s, 16, b':', "minute")?;
    let second = two(s, 17, "second")?;
    if hour > 23 {
        return Err(format!("hour {hour} out of range"));
    }
    if minute > 59 {
        return Err(format!("minute {minute} out of range"));
    }
    if second > 59 {
        return Err(format!(
            "second {second} out of range (leap seconds are not supported)"
        ));
    }
    let mut pos = 19;
    let mut micros: i64 = 0;
    if let Some(b'.' | b',') = s.get(pos) {
        pos += 1;
        let start = pos;
        while let Some(d @ b'0'..=b'9') = s.get(pos) {
            if pos - start < 6 {
                micros = micros * 10 + (d - b'0') as i64;
            }
            pos += 1;
        }
        let n = pos - start;
        if n == 0 {
            return Err("no digits after the decimal point".into());
        }
        if n > 9 {
            return Err(format!("{n} fractional digits (at most 9)"));
        }
        for _ in n..6 {
            micros *= 10;
        }
        // Digits 7..9 are dropped: floor, since they only ever add time.
    }
    let offset: Option<i64> = match s.get(pos) {
        None => None,
        Some(b'Z' | b'z') => {
            pos += 1;
            Some(0)
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = two(s, pos + 1, "offset hour")?;
            let (om, end) = if s.get(pos + 3) == Some(&b':') {
                (two(s, pos + 4, "offset minute")?, pos + 6)
            } else {
                (two(s, pos + 3, "offset minute")?, pos + 5)
            };
            if oh > 23 || om > 59 {
                return Err(format!("offset {oh:02}:{om:02} out of range"));
            }
            pos = end;
            let o = (oh * 3600 + om * 60) as i64;
            Some(if sign == b'-' { -o } else { o })
        }
        Some(_) => {
            return Err(format!(
                "unexpected {:?} after the time of day",
                String::from_utf8_lossy(&s[pos..pos + 1])
            ))
        }
    };
    if pos != s.len() {
        return Err(format!(
            "unexpected trailing text {:?}",
            String::from_utf8_lossy(&s[pos..])
        ));
    }
    let days = match memo_days {
        Some(d) => d,
        None => days_from_civil(year, month, day),
    };
    let local = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64;
    let offset = match offset {
        Some(o) => o,
        None => match tz {
            Tz::Utc => 0,
            Tz::Fixed(o) => *o as i64,
            Tz::Named(zone) => {
                if memo_days.is_some() {
                    // The memo skipped parsing the date; it was valid, so this cannot fail.
                    month = two(s, 5, "month")?;
                    day = two(s, 8, "day")?;
                }
                named_offset(zone, year, month, day, hour, minute, second)?
            }
        },
    };
    // A 4-digit year is at most ~2.5e17 µs from the epoch: no overflow possible.
    Ok((local - offset) * 1_000_000 + micros)
}

/// UTC offset (seconds) of a local wall-clock time in a named zone. Ambiguous times (a
/// fold, when clocks go back) resolve to the **earlier** instant; nonexistent times (a gap,
/// when clocks go forward) are an error.
fn named_offset(
    zone: &jiff::tz::TimeZone,
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Result<i64, String> {
    let dt = jiff::civil::DateTime::new(
        year as i16,
        month as i8,
        day as i8,
        hour as i8,
        minute as i8,
        second as i8,
        0,
    )
    .map_err(|e| format!("invalid local time: {e}"))?;
    match zone.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => Ok(offset.seconds() as i64),
        // The earlier instant is the one still using the offset from before the change.
        AmbiguousOffset::Fold { before, .. } => Ok(before.seconds() as i64),
        AmbiguousOffset::Gap { before, after } => Err(format!(
            "local time {year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} does not \
             exist in {} (skipped when the offset changed from {before} to {after}); iotarc \
             rejects nonexistent local times",
            zone.iana_name().unwrap_or("the time zone")
        )),
    }
}

/// Parses an epoch number `[+-]digits[.digits]` in `unit`, exactly, flooring below 1 µs.
pub(crate) fn parse_epoch(s: &[u8], unit: TimeUnit) -> Result<i64, String> {
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let dot = body.iter().position(|&b| b == b'.');
    let (int, frac) = match dot {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, &body[body.len()..]),
    };
    if let Some(&b) = int.iter().chain(frac).find(|b| !b.is_ascii_digit()) {
        return Err(if b == b'e' || b == b'E' {
            "exponent notation is not supported in timestamps".into()
        } else {
            format!("unexpected {:?} in epoch number", b as char)
        });
    }
    if int.is_empty() {
        return Err("epoch number without integer digits".into());
    }
    if dot.is_some() && frac.is_empty() {
        return Err("no digits after the decimal point".into());
    }
    // Fast path: plain integer of at most 18 digits.
    if frac.is_empty() && int.len() <= 18 {
        let v = int.iter().fold(0i64, |a, &b| a * 10 + (b - b'0') as i64);
        let v = if neg { -v } else { v };
        return match unit {
            TimeUnit::S => v.checked_mul(1_000_000),
            TimeUnit::Ms => v.checked_mul(1_000),
            TimeUnit::Us => Some(v),
            TimeUnit::Ns => Some(v.div_euclid(1_000)),
        }
        .ok_or_else(out_of_range);
    }
    // General path: move the decimal point by the unit's power of ten, then split into
    // the whole microseconds and a sub-microsecond rest.
    let shift: i64 = match unit {
        TimeUnit::S => 6,
        TimeUnit::Ms => 3,
        TimeUnit::Us => 0,
        TimeUnit::Ns => -3,
    };
    let digits = int.iter().chain(frac.iter()).map(|&b| b - b'0');
    // Decimal point sits after `int.len() + shift` digits.
    let point = int.len() as i64 + shift;
    let mut whole: i128 = 0;
    let mut rest_nonzero = false;
    let mut n = 0i64;
    for d in digits {
        if n < point {
            whole = whole * 10 + d as i128;
            if whole > i64::MAX as i128 + 1 {
                return Err(out_of_range());
            }
        } else if d != 0 {
            rest_nonzero = true;
        }
        n += 1;
    }
    while n < point {
        whole *= 10;
        if whole > i64::MAX as i128 + 1 {
            return Err(out_of_range());
        }
        n += 1;
    }
    let v = if neg {
        -whole - rest_nonzero as i128
    } else {
        whole
    };
    i64::try_from(v).map_err(|_| out_of_range())
}

fn out_of_range() -> String {
    "out of range for i64 microseconds".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Result<i64, String> {
        parse_timestamp(s.as_bytes(), None, &Tz::Utc)
    }

    #[test]
    fn memo_gives_the_same_results() {
        let texts = [
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:01.5Z",
            "2024-01-01 23:59:59",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00+01:00",
            "2024-01-02T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-01-02",
            "2024-01-02T00:00:00Zx",
            "2024-01-02T00:00:00Z",
            "1700000000",
            "1700000000",
            "",
            "2024-03-31T02:30:00",
            "2024-03-31T02:30:00",
            "2024-10-27T02:30:00",
            "2024-10-27T02:30:00",
            "2024-10-27T03:30:00",
        ];
        let zones = [
            Tz::Utc,
            Tz::Fixed(3600),
            Tz::Named(jiff::tz::TimeZone::get("Europe/Berlin").unwrap()),
        ];
        for tz in &zones {
            for unit in [None, Some(TimeUnit::S)] {
                let mut memo = TsMemo::default();
                for t in texts {
                    let want = parse_timestamp(t.as_bytes(), unit, tz);
                    assert_eq!(memo.parse(t.as_bytes(), unit, tz), want, "{t} {tz:?}");
                }
            }
        }
    }

    #[test]
    fn civil_matches_reference() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(0, 1, 1), -719_528);
        // Every day from 1600 to 2400 is one more than the previous.
        let mut prev = days_from_civil(1599, 12, 31);
        for y in 1600..2400 {
            for m in 1..=12 {
                for d in 1..=days_in_month(y, m) {
                    let x = days_from_civil(y, m, d);
                    assert_eq!(x, prev + 1, "{y}-{m}-{d}");
                    prev = x;
                }
            }
        }
    }

    #[test]
    fn rfc3339_variants() {
        assert_eq!(utc("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(utc("1970-01-01t00:00:00z"), Ok(0));
        assert_eq!(utc("1970-01-01 00:00:01"), Ok(1_000_000));
        assert_eq!(utc("1970-01-01T00:00:00.5Z"), Ok(500_000));
        assert_eq!(utc("1970-01-01T00:00:00.000001Z"), Ok(1));
        assert_eq!(utc("1970-01-01T00:00:00.000001999Z"), Ok(1));
        assert_eq!(utc("1969-12-31T23:59:59.9999999Z"), Ok(-1));
        assert_eq!(utc("1970-01-01T05:30:00+05:30"), Ok(0));
        assert_eq!(utc("1970-01-01T05:30:00+0530"), Ok(0));
        assert_eq!(utc("1969-12-31T23:00:00-01:00"), Ok(0));
        assert_eq!(utc("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000_000));
        assert!(utc("2023-02-29T00:00:00Z").unwrap_err().contains("day 29"));
        assert!(utc("2024-13-01T00:00:00Z")
            .unwrap_err()
            .contains("month 13 out of range"));
        assert!(utc("2024-01-01T24:00:00Z").unwrap_err().contains("hour 24"));
        assert!(utc("2024-01-01T23:60:00Z")
            .unwrap_err()
            .contains("minute 60"));
        assert!(utc("2024-01-01T23:59:60Z").unwrap_err().contains("leap"));
        assert!(utc("2024-01-01").unwrap_err().contains("without a time"));
        assert!(utc("2024-01-01T00:00:00.Z").unwrap_err().contains("digits"));
        assert!(utc("2024-01-01T00:00:00.1234567890Z")
            .unwrap_err()
            .contains("at most 9"));
        assert!(utc("2024-01-01T00:00:00Zx")
            .unwrap_err()
            .contains("trailing"));
        assert!(utc("2024-01-01T00:00:00+24:00")
            .unwrap_err()
            .contains("offset"));
        assert!(utc("2024-01-01T00:00").is_err());
        assert!(utc("2024-1-01T00:00:00Z").is_err());
        assert!(utc("hello").is_err());
        assert!(utc("").is_err());
        assert!(utc("1700000000").unwrap_err().contains("--time-unit"));
    }

    #[test]
    fn epoch_exact() {
        let e = |s: &str, u| parse_epoch(s.as_bytes(), u);
        assert_eq!(e("1700000000", TimeUnit::S), Ok(1_700_000_000_000_000));
        assert_eq!(
            e("1700000000.123456", TimeUnit::S),
            Ok(1_700_000_000_123_456)
        );
        assert_eq!(
            e("1700000000.1234569", TimeUnit::S),
            Ok(1_700_000_000_123_456)
        );
        assert_eq!(e("-1.5", TimeUnit::S), Ok(-1_500_000));
        assert_eq!(e("-1.0000001", TimeUnit::S), Ok(-1_000_001));
        assert_eq!(
            e("1700000000123.5", TimeUnit::Ms),
            Ok(1_700_000_000_123_500)
        );
        assert_eq!(e("17", TimeUnit::Us), Ok(17));
        assert_eq!(e("17.9", TimeUnit::Us), Ok(17));
        assert_eq!(e("-17.1", TimeUnit::Us), Ok(-18));
        assert_eq!(e("1999", TimeUnit::Ns), Ok(1));
        assert_eq!(e("-1", TimeUnit::Ns), Ok(-1));
        assert_eq!(e("-1000", TimeUnit::Ns), Ok(-1));
        assert_eq!(e("-1001", TimeUnit::Ns), Ok(-2));
        assert_eq!(
            e("1700000000123456789", TimeUnit::Ns),
            Ok(1_700_000_000_123_456)
        );
        // Beyond i64 nanoseconds but within i64 microseconds.
        assert_eq!(
            e("100000000000000000000", TimeUnit::Ns),
            Ok(100_000_000_000_000_000)
        );
        assert_eq!(e("9223372036854775807", TimeUnit::Us), Ok(i64::MAX));
        assert_eq!(e("-9223372036854775808", TimeUnit::Us), Ok(i64::MIN));
        assert!(e("9223372036854775808", TimeUnit::Us).is_err());
        assert!(e("9223372036854775807", TimeUnit::S).is_err());
        assert!(e("-9223372036854775808.5", TimeUnit::Us).is_err());
        assert!(e("1e9", TimeUnit::S).unwrap_err().contains("exponent"));
        assert!(e("1.", TimeUnit::S).is_err());
        assert!(e(".5", TimeUnit::S).is_err());
        assert!(e("-", TimeUnit::S).is_err());
        assert!(e("1.2.3", TimeUnit::S).is_err());
        assert!(e(&"9".repeat(200), TimeUnit::Ns).is_err());
    }

    #[test]
    fn named_zone_dst() {
        let berlin = Tz::Named(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
        let p = |s: &str| parse_timestamp(s.as_bytes(), None, &berlin);
        // Winter: +01:00, summer: +02:00.
        assert_eq!(p("2024-01-15 12:00:00"), utc("2024-01-15T11:00:00Z"));
        assert_eq!(p("2024-07-15 12:00:00"), utc("2024-07-15T10:00:00Z"));
        // Spring forward: 02:30 on 2024-03-31 does not exist.
        assert!(p("2024-03-31 02:30:00")
            .unwrap_err()
            .contains("does not exist"));
        assert_eq!(p("2024-03-31 03:00:00"), utc("2024-03-31T01:00:00Z"));
        // Fall back: 02:30 on 2024-10-27 happens twice; the earlier (CEST) is chosen.
        assert_eq!(p("2024-10-27 02:30:00"), utc("2024-10-27T00:30:00Z"));
        // Explicit offsets ignore the zone.
        assert_eq!(p("2024-10-27 02:30:00+01:00"), utc("2024-10-27T01:30:00Z"));
    }
}
