//! Value typing: turns the text of a cell into a typed value.
//!
//! Without a forced type ([`infer`]):
//! * the missing spellings (see [`is_missing`]) are [`Text::Missing`], never zero;
//! * `[+-]digits` that fits i64 is an integer; one that does not fit is an f64 (the f64
//!   nearest the integer), not a string;
//! * other numbers (decimals, exponents, `NaN`, `inf`, `-inf`, `Infinity`, any case) are the
//!   f64 nearest the text (Rust's correctly rounded `str::parse::<f64>`; a decimal beyond
//!   the f64 range, like `1e309`, is ±infinity);
//! * `true`/`True`/`TRUE`/`false`/`False`/`FALSE` are booleans;
//! * anything else is a string (it must be valid UTF-8).
//!
//! With a forced type ([`forced`]): `f64` accepts integers and decimals, `i64` accepts only
//! integers that fit, `bool` accepts the boolean spellings plus `1`/`0`, `string` accepts
//! anything. Missing spellings are still missing, whatever the forced type.

use crate::model::ValueType;

/// A typed cell, borrowing its text when it is a string.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Text<'a> {
    /// An empty cell or a missing spelling.
    Missing,
    /// A float.
    F64(f64),
    /// An integer.
    I64(i64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(&'a str),
}

/// True for the cell texts that mean "no value": empty, `NA`, `N/A`, `null`, `NULL`
/// (case-sensitive). `NaN` is not missing: it is a float.
#[inline]
pub fn is_missing(s: &[u8]) -> bool {
    matches!(s, b"" | b"NA" | b"N/A" | b"null" | b"NULL")
}

/// Result of reading `[+-]digits` as an integer.
#[derive(Debug, PartialEq)]
pub(crate) enum Int {
    /// Fits i64.
    Fits(i64),
    /// Integer syntax, but outside i64.
    TooBig,
    /// Not integer syntax.
    No,
}

/// Reads `[+-]digits` as i64.
#[inline]
pub(crate) fn parse_int(s: &[u8]) -> Int {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Int::No;
    }
    let mut v: u64 = 0;
    let mut overflow = false;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Int::No;
        }
        if !overflow {
            match v.checked_mul(10).and_then(|x| x.checked_add(d as u64)) {
                Some(x) => v = x,
                None => overflow = true,
            }
        }
    }
    if overflow {
        return Int::TooBig;
    }
    if neg {
        if v <= i64::MAX as u64 + 1 {
            Int::Fits((v as i64).wrapping_neg())
        } else {
            Int::TooBig
        }
    } else if v <= i64::MAX as u64 {
        Int::Fits(v as i64)
    } else {
        Int::TooBig
    }
}

/// Parses a float with Rust's correctly rounded parser (accepts `NaN`, `inf`, `infinity`
/// in any case, with an optional sign).
#[inline]
pub(crate) fn parse_f64(s: &[u8]) -> Option<f64> {
    // Every byte the float grammar accepts is ASCII; reject others before the UTF-8 check.
    if !s.is_ascii() {
        return None;
    }
    // SAFETY-free: ASCII is valid UTF-8.
    std::str::from_utf8(s).ok()?.parse::<f64>().ok()
}

/// The boolean spellings accepted everywhere.
#[inline]
pub(crate) fn parse_bool_word(s: &[u8]) -> Option<bool> {
    match s {
        b"true" | b"True" | b"TRUE" => Some(true),
        b"false" | b"False" | b"FALSE" => Some(false),
        _ => None,
    }
}

/// Shows a cell for an error message: quoted, escaped, lossy UTF-8, at most ~100 bytes.
pub(crate) fn show(s: &[u8]) -> String {
    const MAX: usize = 100;
    if s.len() > MAX {
        format!("{:?}...", String::from_utf8_lossy(&s[..MAX]))
    } else {
        format!("{:?}", String::from_utf8_lossy(s))
    }
}

fn utf8(s: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(s).map_err(|e| {
        format!(
            "invalid UTF-8 at byte {} of {}",
            e.valid_up_to() + 1,
            show(s)
        )
    })
}

/// Types a cell by its text (no forced type). See the module docs for the rules.
///
/// # Errors
/// Only for text that would be a string but is not valid UTF-8.
#[inline]
pub fn infer(s: &[u8]) -> Result<Text<'_>, String> {
    if is_missing(s) {
        return Ok(Text::Missing);
    }
    match s[0] {
        b'0'..=b'9' | b'-' | b'+' | b'.' => {
            match parse_int(s) {
                Int::Fits(v) => return Ok(Text::I64(v)),
                Int::TooBig => {
                    // Integer syntax always parses as a float.
                    return Ok(Text::F64(parse_f64(s).unwrap_or(f64::NAN)));
                }
                Int::No => {}
            }
            if let Some(f) = parse_f64(s) {
                return Ok(Text::F64(f));
            }
        }
        b't' | b'T' | b'f' | b'F' => {
            if let Some(b) = parse_bool_word(s) {
                return Ok(Text::Bool(b));
            }
        }
        b'n' | b'N' | b'i' | b'I' => {
            if let Some(f) = parse_f64(s) {
                return Ok(Text::F64(f));
            }
        }
        _ => {}
    }
    Ok(Text::Str(utf8(s)?))
}

/// Types a cell as `t`, or explains why it cannot be one. Missing spellings stay missing.
///
/// # Errors
/// A reason naming the value and the type, e.g. `"1.5" is not an i64`.
pub fn forced(s: &[u8], t: ValueType) -> Result<Text<'_>, String> {
    if is_missing(s) {
        return Ok(Text::Missing);
    }
    match t {
        ValueType::F64 => parse_f64(s)
            .map(Text::F64)
            .ok_or_else(|| format!("{} is not a number (channel type f64)", show(s))),
        ValueType::I64 => match parse_int(s) {
            Int::Fits(v) => Ok(Text::I64(v)),
            Int::TooBig => Err(format!(
                "{} is out of i64 range (channel type i64)",
                show(s)
            )),
            Int::No => Err(format!("{} is not an integer (channel type i64)", show(s))),
        },
        ValueType::Bool => match s {
            b"1" => Ok(Text::Bool(true)),
            b"0" => Ok(Text::Bool(false)),
            _ => parse_bool_word(s).map(Text::Bool).ok_or_else(|| {
                format!(
                    "{} is not a boolean (channel type bool: true/false/1/0)",
                    show(s)
                )
            }),
        },
        ValueType::Str => Ok(Text::Str(utf8(s)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inference() {
        assert_eq!(infer(b""), Ok(Text::Missing));
        assert_eq!(infer(b"NA"), Ok(Text::Missing));
        assert_eq!(infer(b"N/A"), Ok(Text::Missing));
        assert_eq!(infer(b"null"), Ok(Text::Missing));
        assert_eq!(infer(b"NULL"), Ok(Text::Missing));
        assert_eq!(infer(b"Null"), Ok(Text::Str("Null")));
        assert_eq!(infer(b"na"), Ok(Text::Str("na")));
        assert_eq!(infer(b"0"), Ok(Text::I64(0)));
        assert_eq!(infer(b"-0"), Ok(Text::I64(0)));
        assert_eq!(infer(b"+7"), Ok(Text::I64(7)));
        assert_eq!(infer(b"9223372036854775807"), Ok(Text::I64(i64::MAX)));
        assert_eq!(infer(b"-9223372036854775808"), Ok(Text::I64(i64::MIN)));
        assert_eq!(
            infer(b"9223372036854775808"),
            Ok(Text::F64(9_223_372_036_854_775_808.0))
        );
        assert_eq!(
            infer(b"-99999999999999999999999"),
            Ok(Text::F64(-99_999_999_999_999_999_999_999.0))
        );
        let Ok(Text::F64(z)) = infer(b"-0.0") else {
            panic!()
        };
        assert_eq!(z.to_bits(), (-0.0f64).to_bits());
        assert_eq!(infer(b"1e308"), Ok(Text::F64(1e308)));
        assert_eq!(infer(b"1e309"), Ok(Text::F64(f64::INFINITY)));
        assert_eq!(infer(b"0.1"), Ok(Text::F64(0.1)));
        assert_eq!(infer(b".5"), Ok(Text::F64(0.5)));
        assert_eq!(infer(b"inf"), Ok(Text::F64(f64::INFINITY)));
        assert_eq!(infer(b"-inf"), Ok(Text::F64(f64::NEG_INFINITY)));
        assert_eq!(infer(b"Infinity"), Ok(Text::F64(f64::INFINITY)));
        assert!(matches!(infer(b"NaN"), Ok(Text::F64(f)) if f.is_nan()));
        assert_eq!(infer(b"true"), Ok(Text::Bool(true)));
        assert_eq!(infer(b"FALSE"), Ok(Text::Bool(false)));
        assert_eq!(infer(b"t"), Ok(Text::Str("t")));
        assert_eq!(infer(b"-"), Ok(Text::Str("-")));
        assert_eq!(infer(b"1.2.3"), Ok(Text::Str("1.2.3")));
        assert_eq!(infer(b"ok"), Ok(Text::Str("ok")));
        assert!(infer(b"\xff").unwrap_err().contains("invalid UTF-8"));
    }

    #[test]
    fn forcing() {
        assert_eq!(forced(b"3", ValueType::F64), Ok(Text::F64(3.0)));
        assert_eq!(forced(b"NA", ValueType::F64), Ok(Text::Missing));
        assert!(forced(b"x", ValueType::F64).is_err());
        assert_eq!(forced(b"3", ValueType::I64), Ok(Text::I64(3)));
        assert!(forced(b"1.5", ValueType::I64)
            .unwrap_err()
            .contains("not an integer"));
        assert!(forced(b"99999999999999999999", ValueType::I64)
            .unwrap_err()
            .contains("range"));
        assert_eq!(forced(b"1", ValueType::Bool), Ok(Text::Bool(true)));
        assert_eq!(forced(b"0", ValueType::Bool), Ok(Text::Bool(false)));
        assert_eq!(forced(b"True", ValueType::Bool), Ok(Text::Bool(true)));
        assert!(forced(b"2", ValueType::Bool).is_err());
        assert_eq!(forced(b"12", ValueType::Str), Ok(Text::Str("12")));
    }
}
