//! Value typing: turns the text of a cell into a typed value.
//!
//! Without a forced type ([`infer`]):
//! * the missing spellings (see [`is_missing`]) are [`Text::Missing`], never zero;
//! * `[+-]digits` that fits i64 is an integer; one that does not fit is an f64 (the f64
//!   nearest the integer), not a string;
//! * other numbers (decimals, exponents, `NaN`, `inf`, `-inf`, `Infinity`, any case) are the
//!   f64 nearest the text (Rust's correctly rounded `str::parse::<f64>`);
//! * a number beyond the f64 range (`1e309`, which would round to infinity) or one so
//!   small that it rounds to zero although its digits are not all zero (`1e-400`) is an
//!   error: the stored value would not be the input's. Subnormals (`5e-324`), `0e5`,
//!   `-0.0` and the spelled-out infinities are values like any other;
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

/// Powers of ten exactly representable as f64.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// The common number shapes in one pass: `[+-]digits` (at most 18 digits) is an integer,
/// `[+-]digits.digits` (at most 15 digits in all) the f64 nearest it. `None` for anything
/// else (exponents, longer numbers, non-numbers), which the general path handles.
///
/// The decimal case is exact: the digits as an integer `m < 10^15 < 2^53` and `10^k`
/// (`k <= 15`) are both exact f64s, so the one IEEE division `m / 10^k` is the correctly
/// rounded quotient, which is the f64 nearest the text (Clinger's fast path, the one
/// `str::parse::<f64>` takes first too).
#[inline(always)]
pub(crate) fn fast_number(s: &[u8]) -> Option<Text<'static>> {
    let (neg, body) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut m: u64 = 0;
    let mut i = 0;
    while i < body.len() && i < 19 {
        let d = body[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        m = m * 10 + d as u64;
        i += 1;
    }
    let int_digits = i;
    if i == body.len() {
        if int_digits == 0 || int_digits > 18 {
            return None;
        }
        let v = m as i64;
        return Some(Text::I64(if neg { -v } else { v }));
    }
    if body[i] != b'.' {
        return None;
    }
    i += 1;
    let frac_start = i;
    while i < body.len() {
        let d = body[i].wrapping_sub(b'0');
        if d > 9 || int_digits + (i - frac_start) >= 15 {
            return None;
        }
        m = m * 10 + d as u64;
        i += 1;
    }
    let digits = int_digits + (i - frac_start);
    if digits == 0 || digits > 15 {
        return None;
    }
    let v = m as f64 / POW10[i - frac_start];
    Some(Text::F64(if neg { -v } else { v }))
}

/// Parses a float with Rust's correctly rounded parser (accepts `NaN`, `inf`, `infinity`
/// in any case, with an optional sign). `Ok(None)` if `s` is not a number.
///
/// # Errors
/// A reason naming the text if it is a number f64 cannot hold: one that rounds to
/// ±infinity without being spelled as an infinity, or to zero although a digit of its
/// mantissa is not zero (see [`check_range`]).
#[inline]
pub(crate) fn parse_f64(s: &[u8]) -> Result<Option<f64>, String> {
    match fast_number(s) {
        // The fast path's quotients of at most 15 digits are never 0 or infinite unless
        // the digits are all zero.
        Some(Text::F64(v)) => return Ok(Some(v)),
        // (Not for zero: "-0" is -0.0 as a float.)
        Some(Text::I64(v)) if v != 0 => return Ok(Some(v as f64)),
        _ => {}
    }
    // Every byte the float grammar accepts is ASCII; reject others before the UTF-8 check.
    if !s.is_ascii() {
        return Ok(None);
    }
    // SAFETY-free: ASCII is valid UTF-8.
    let Some(v) = std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
    else {
        return Ok(None);
    };
    check_range(s, v).map(Some)
}

/// Checks that `v`, parsed from the number text `s`, is the value the text spells and not
/// an artefact of the f64 range: infinity is only accepted when `s` spells an infinity
/// (`inf`, `Infinity`, any case and sign), zero only when every digit of the mantissa
/// (before an `e`) is zero. Anything else that parsed is within range, if rounded.
///
/// # Errors
/// `"1e309" is out of f64 range` or `"1e-400" underflows f64 to 0`.
pub(crate) fn check_range(s: &[u8], v: f64) -> Result<f64, String> {
    if v.is_infinite() {
        let body = s.strip_prefix(b"-").or(s.strip_prefix(b"+")).unwrap_or(s);
        let spelled = body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity");
        if !spelled {
            return Err(format!("{} is out of f64 range", show(s)));
        }
    } else if v == 0.0 {
        let mantissa = s.split(|&c| c == b'e' || c == b'E').next().unwrap_or(s);
        if mantissa.iter().any(|c| (b'1'..=b'9').contains(c)) {
            return Err(format!("{} underflows f64 to 0", show(s)));
        }
    }
    Ok(v)
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
/// Text that would be a string but is not valid UTF-8; a number beyond the f64 range or
/// one that underflows to zero.
#[inline]
pub fn infer(s: &[u8]) -> Result<Text<'_>, String> {
    if is_missing(s) {
        return Ok(Text::Missing);
    }
    match s[0] {
        b'0'..=b'9' | b'-' | b'+' | b'.' => {
            if let Some(t) = fast_number(s) {
                return Ok(t);
            }
            match parse_int(s) {
                Int::Fits(v) => return Ok(Text::I64(v)),
                Int::TooBig => {
                    // Integer syntax always parses as a float (infinity past 309 digits,
                    // which `parse_f64` refuses).
                    return Ok(Text::F64(parse_f64(s)?.unwrap_or(f64::NAN)));
                }
                Int::No => {}
            }
            if let Some(f) = parse_f64(s)? {
                return Ok(Text::F64(f));
            }
        }
        b't' | b'T' | b'f' | b'F' => {
            if let Some(b) = parse_bool_word(s) {
                return Ok(Text::Bool(b));
            }
        }
        b'n' | b'N' | b'i' | b'I' => {
            if let Some(f) = parse_f64(s)? {
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
/// A reason naming the value and the type, e.g. `"1.5" is not an i64`; for `f64`, also a
/// number beyond the f64 range or one that underflows to zero (as for [`infer`]).
pub fn forced(s: &[u8], t: ValueType) -> Result<Text<'_>, String> {
    if is_missing(s) {
        return Ok(Text::Missing);
    }
    match t {
        ValueType::F64 => parse_f64(s)?
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
        assert_eq!(
            infer(b"1e309"),
            Err("\"1e309\" is out of f64 range".to_string())
        );
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
    fn fast_path_matches_the_general_parser() {
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "+0",
            "0.0",
            "-0.0",
            "+0.0",
            ".5",
            "-.5",
            "5.",
            "-5.",
            ".",
            "-",
            "+",
            "-.",
            "1.",
            "00012",
            "-00012.50",
            "123456789012345678",
            "-123456789012345678",
            "1234567890123456789",
            "999999999999999.9",
            "99999999999999.99",
            "0.000000000000001",
            "0.0000000000000001",
            "123456789012345",
            "1234567890123456",
            "1.2.3",
            "1e5",
            "1.5e3",
            "12a",
            "1,5",
            "1 ",
            " 1",
            "20.3",
            "1013.33",
            "0.1",
            "0.2",
            "0.3",
            "9007199254740993",
            "900719925474099.3",
            "-9223372036854775808",
            "9223372036854775807",
            "9223372036854775808",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 17) as usize + 1;
            let point = (x >> 8) as usize % (digits + 2);
            let mut t = String::new();
            if x & 1 << 40 != 0 {
                t.push('-');
            }
            let mut y = x >> 20;
            for k in 0..digits {
                if k == point {
                    t.push('.');
                }
                t.push((b'0' + (y % 10) as u8) as char);
                y = (y / 10) ^ (x >> 50);
            }
            texts.push(t);
        }
        for t in &texts {
            let b = t.as_bytes();
            if let Some(fast) = fast_number(b) {
                let want = match parse_int(b) {
                    Int::Fits(v) => Text::I64(v),
                    _ => Text::F64(t.parse::<f64>().unwrap()),
                };
                match (fast, want) {
                    (Text::F64(a), Text::F64(w)) => assert_eq!(a.to_bits(), w.to_bits(), "{t}"),
                    (a, w) => assert_eq!(a, w, "{t}"),
                }
            }
            let general = t.parse::<f64>().ok();
            assert_eq!(
                parse_f64(b).unwrap().map(f64::to_bits),
                general.map(f64::to_bits),
                "{t}"
            );
        }
    }

    #[test]
    fn numbers_f64_cannot_hold_are_refused_and_the_rest_kept_bit_exactly() {
        for (text, bits) in [
            ("inf", f64::INFINITY.to_bits()),
            ("-Infinity", f64::NEG_INFINITY.to_bits()),
            ("+INF", f64::INFINITY.to_bits()),
            ("-0.0", (-0.0f64).to_bits()),
            ("0e5", 0),
            ("-0e-999", (-0.0f64).to_bits()),
            ("0.000e400", 0),
            ("5e-324", 1),
            ("4.9406564584124654e-324", 1),
            ("3e-324", 1),
            (
                "2.2250738585072014e-308",
                2.2250738585072014e-308f64.to_bits(),
            ),
            ("1.7976931348623157e308", f64::MAX.to_bits()),
            ("1e-300", 1e-300f64.to_bits()),
        ] {
            for f in [
                infer(text.as_bytes()),
                forced(text.as_bytes(), ValueType::F64),
            ] {
                match f {
                    Ok(Text::F64(v)) => assert_eq!(v.to_bits(), bits, "{text}"),
                    other => panic!("{text}: {other:?}"),
                }
            }
        }
        for (text, why) in [
            ("1e309", "out of f64 range"),
            ("-1e309", "out of f64 range"),
            ("1.8e308", "out of f64 range"),
            ("1e-400", "underflows f64 to 0"),
            ("-2e-324", "underflows f64 to 0"),
            ("0.0001e-320", "underflows f64 to 0"),
        ] {
            for f in [
                infer(text.as_bytes()),
                forced(text.as_bytes(), ValueType::F64),
            ] {
                let e = f.unwrap_err();
                assert!(e.contains(text) && e.contains(why), "{text}: {e}");
            }
        }
        // An integer of 400 digits is a float, and out of range.
        let big = "9".repeat(400);
        assert!(infer(big.as_bytes())
            .unwrap_err()
            .contains("out of f64 range"));
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
