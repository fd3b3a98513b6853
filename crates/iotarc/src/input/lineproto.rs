//! InfluxDB line protocol:
//! `measurement[,tag=value…] field=value[,field=value…] timestamp`.

use super::value::{self, parse_f64, parse_int, show, Int, Text};
use super::{Lines, Out, ParseOptions, TimeUnit};
use crate::model::ValueType;

/// A field value as written, before typing. Ranges index the line, except `Str`, which
/// indexes the unescape buffer.
#[derive(Clone, Copy)]
enum Raw {
    Float(usize, usize),
    Int(usize, usize),
    UInt(usize, usize),
    Bool(bool, usize, usize),
    Str(usize, usize),
}

#[derive(Clone, Copy)]
struct Field {
    key: (usize, usize),
    raw: Raw,
}

/// Per-chunk line protocol state.
pub(crate) struct LineParser<'o> {
    device_tag: &'o [u8],
    unit: TimeUnit,
    /// Unescaped measurement, tag and field keys, and string values.
    buf: Vec<u8>,
    fields: Vec<Field>,
    /// `measurement.field` under construction.
    name: Vec<u8>,
}

impl<'o> LineParser<'o> {
    pub(crate) fn new(opts: &'o ParseOptions) -> Self {
        LineParser {
            device_tag: opts.device_tag.as_bytes(),
            unit: opts.time_unit.unwrap_or(TimeUnit::Ns),
            buf: Vec::new(),
            fields: Vec::new(),
            name: Vec::new(),
        }
    }
}

/// Copies `line[i..]` into `buf` up to the first unescaped byte for which `stop` is true,
/// unescaping `\,` `\ ` and `\=`. Returns the index of the stop byte (or the line length).
#[inline]
fn read_escaped(line: &[u8], mut i: usize, buf: &mut Vec<u8>, stop: impl Fn(u8) -> bool) -> usize {
    while i < line.len() {
        let b = line[i];
        if b == b'\\' {
            if let Some(&e @ (b',' | b' ' | b'=')) = line.get(i + 1) {
                buf.push(e);
                i += 2;
                continue;
            }
        }
        if stop(b) {
            break;
        }
        buf.push(b);
        i += 1;
    }
    i
}

impl<'a> Lines<'a> for LineParser<'_> {
    fn line(&mut self, out: &mut Out<'_>, line: &'a [u8], line_no: u64) -> Result<(), String> {
        let buf = &mut self.buf;
        buf.clear();
        self.fields.clear();
        let n = line.len();
        // Leading blanks are tolerated.
        let mut i = 0;
        while i < n && (line[i] == b' ' || line[i] == b'\t') {
            i += 1;
        }
        i = read_escaped(line, i, buf, |b| b == b',' || b == b' ');
        let meas = (0, buf.len());
        if meas.1 == 0 {
            return Err("empty measurement name".into());
        }
        let mut device = None;
        while i < n && line[i] == b',' {
            let ks = buf.len();
            i = read_escaped(line, i + 1, buf, |b| b == b'=' || b == b',' || b == b' ');
            let key = (ks, buf.len());
            if i >= n || line[i] != b'=' {
                return Err(format!("tag {} has no '=value'", show(&buf[ks..])));
            }
            let vs = buf.len();
            i = read_escaped(line, i + 1, buf, |b| b == b',' || b == b' ');
            if key.0 == key.1 || vs == buf.len() {
                return Err(format!("empty tag key or value in {}", show(&buf[ks..])));
            }
            if device.is_none() && &buf[key.0..key.1] == self.device_tag {
                device = Some((vs, buf.len()));
            }
        }
        if i >= n {
            return Err(
                "no fields (expected a space and field=value after the measurement and tags)"
                    .into(),
            );
        }
        while i < n && line[i] == b' ' {
            i += 1;
        }
        loop {
            let ks = buf.len();
            i = read_escaped(line, i, buf, |b| b == b'=' || b == b',' || b == b' ');
            let key = (ks, buf.len());
            if i >= n || line[i] != b'=' {
                return Err(format!("field {} has no '=value'", show(&buf[ks..])));
            }
            if key.0 == key.1 {
                return Err("empty field key".into());
            }
            i += 1;
            let raw = if i < n && line[i] == b'"' {
                i += 1;
                let vs = buf.len();
                loop {
                    match line.get(i) {
                        None => {
                            return Err(format!(
                                "unterminated string value of field {}",
                                show(&buf[key.0..key.1])
                            ))
                        }
                        Some(b'\\') if matches!(line.get(i + 1), Some(b'"' | b'\\')) => {
                            buf.push(line[i + 1]);
                            i += 2;
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(&b) => {
                            buf.push(b);
                            i += 1;
                        }
                    }
                }
                Raw::Str(vs, buf.len())
            } else {
                let vs = i;
                while i < n && line[i] != b',' && line[i] != b' ' {
                    i += 1;
                }
                let v = &line[vs..i];
                match v {
                    [] => {
                        return Err(format!(
                            "field {} has an empty value",
                            show(&buf[key.0..key.1])
                        ))
                    }
                    b"t" | b"T" | b"true" | b"True" | b"TRUE" => Raw::Bool(true, vs, i),
                    b"f" | b"F" | b"false" | b"False" | b"FALSE" => Raw::Bool(false, vs, i),
                    [.., b'i'] => Raw::Int(vs, i - 1),
                    [.., b'u'] => Raw::UInt(vs, i - 1),
                    _ => Raw::Float(vs, i),
                }
            };
            self.fields.push(Field { key, raw });
            if i < n && line[i] == b',' {
                i += 1;
                continue;
            }
            break;
        }
        if i < n && line[i] != b' ' && line[i] != b'\t' {
            let (a, b) = self.fields.last().map_or((0, 0), |f| f.key);
            return Err(format!(
                "unexpected {} after the value of field {}",
                show(&line[i..i + 1]),
                show(&buf[a..b])
            ));
        }
        while i < n && (line[i] == b' ' || line[i] == b'\t') {
            i += 1;
        }
        let ts_start = i;
        while i < n && line[i] != b' ' && line[i] != b'\t' {
            i += 1;
        }
        let ts_text = &line[ts_start..i];
        while i < n && (line[i] == b' ' || line[i] == b'\t') {
            i += 1;
        }
        if i != n {
            return Err(format!(
                "unexpected text {} after the timestamp",
                show(&line[i..])
            ));
        }
        if ts_text.is_empty() {
            return Err(
                "missing timestamp (iotarc never uses the wall clock; give every line a timestamp)"
                    .into(),
            );
        }
        if ts_text.contains(&b'.') {
            return Err(format!(
                "bad timestamp {}: line protocol timestamps are integers",
                show(ts_text)
            ));
        }
        let ts = super::time::parse_epoch(ts_text, self.unit)
            .map_err(|e| format!("bad timestamp {}: {e}", show(ts_text)))?;
        let device = match device {
            Some((a, b)) => out.device(&buf[a..b])?,
            None => {
                return Err(format!(
                    "no device tag {:?}",
                    String::from_utf8_lossy(self.device_tag)
                ))
            }
        };
        for f in &self.fields {
            self.name.clear();
            self.name.extend_from_slice(&buf[meas.0..meas.1]);
            self.name.push(b'.');
            self.name.extend_from_slice(&buf[f.key.0..f.key.1]);
            let (ch, forced) = out.channel(&self.name)?;
            let v = typed(line, buf, f.raw, forced)
                .map_err(|e| format!("field {:?}: {e}", out.channel_name(ch)))?;
            let v = out.val(v);
            out.push(line_no, ts, device, ch, v);
        }
        Ok(())
    }
}

/// Types a field value, applying a forced type.
fn typed<'b>(
    line: &'b [u8],
    buf: &'b [u8],
    raw: Raw,
    forced: Option<ValueType>,
) -> Result<Text<'b>, String> {
    let utf8 = |s: &'b [u8]| {
        std::str::from_utf8(s).map_err(|_| format!("string {} is not valid UTF-8", show(s)))
    };
    Ok(match raw {
        Raw::Float(a, b) => {
            let s = &line[a..b];
            match forced {
                None => {
                    Text::F64(parse_f64(s)?.ok_or_else(|| format!("{} is not a number", show(s)))?)
                }
                Some(t) => value::forced(s, t)?,
            }
        }
        Raw::Int(a, b) | Raw::UInt(a, b) => {
            let s = &line[a..b];
            let unsigned = matches!(raw, Raw::UInt(..));
            let suffix = if unsigned { 'u' } else { 'i' };
            if unsigned && s.first().is_some_and(|&c| c == b'-' || c == b'+') {
                return Err(format!("{}{suffix} is not an unsigned integer", show(s)));
            }
            let v = match parse_int(s) {
                Int::Fits(v) => v,
                Int::TooBig if unsigned => {
                    return Err(format!(
                        "unsigned integer {}u does not fit in i64",
                        String::from_utf8_lossy(s)
                    ))
                }
                Int::TooBig => {
                    return Err(format!(
                        "integer {}i out of i64 range",
                        String::from_utf8_lossy(s)
                    ))
                }
                Int::No => return Err(format!("{}{suffix} is not an integer", show(s))),
            };
            match forced {
                None | Some(ValueType::I64) => Text::I64(v),
                // An integer within i64 is always within the f64 range.
                Some(ValueType::F64) => Text::F64(parse_f64(s).ok().flatten().unwrap_or(v as f64)),
                Some(t) => value::forced(s, t)?,
            }
        }
        Raw::Bool(v, a, b) => match forced {
            None | Some(ValueType::Bool) => Text::Bool(v),
            Some(ValueType::Str) => Text::Str(utf8(&line[a..b])?),
            Some(t) => return Err(format!("boolean {v} is not a number (channel type {t})")),
        },
        Raw::Str(a, b) => {
            let s = &buf[a..b];
            match forced {
                None | Some(ValueType::Str) => Text::Str(utf8(s)?),
                Some(t) => value::forced(s, t)?,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Format, ParseOptions, Parser, Val};

    fn parse(s: &str) -> super::super::Batch {
        Parser::new(&ParseOptions::default(), Format::LineProtocol, None)
            .unwrap()
            .parse_chunk(s.as_bytes(), 1)
    }

    #[test]
    fn escapes() {
        let b = parse(r#"my\ meas\,x,device=a\ b\=c,other=1 f\=k="say \"hi\" \\ ok",g=1u 5000"#);
        assert!(b.errors.is_empty(), "{:?}", b.errors);
        assert_eq!(b.devices, ["a b=c"]);
        assert_eq!(b.channels, ["my meas,x.f=k", "my meas,x.g"]);
        assert_eq!(b.strings, [r#"say "hi" \ ok"#]);
        assert_eq!(b.rows[1].value, Val::I64(1));
        assert_eq!(b.rows[0].ts, 5);
    }

    #[test]
    fn rejects() {
        let cases = [
            ("m,device=a f=1", "missing timestamp"),
            ("m,device=a f=1 ", "missing timestamp"),
            ("m f=1 1", "no device tag \"device\""),
            ("m,device=a", "no fields"),
            ("m,device=a f 1", "has no '=value'"),
            ("m,device=a f= 1", "empty value"),
            ("m,device=a f=\"x 1", "unterminated string"),
            ("m,device=a f=1x 1", "\"1x\" is not a number"),
            ("m,device=a f=99999999999999999999i 1", "out of i64 range"),
            ("m,device=a f=9223372036854775808u 1", "does not fit in i64"),
            ("m,device=a f=-1u 1", "not an unsigned integer"),
            ("m,device=a f=1.5i 1", "is not an integer"),
            ("m,device=a f=1 1.5", "timestamps are integers"),
            ("m,device=a f=1 1 2", "after the timestamp"),
            ("m,device=a f=1 x", "bad timestamp"),
            (",device=a f=1 1", "empty measurement"),
            ("m,device= f=1 1", "empty tag"),
            ("m,device=a f=\"a\"x 1", "unexpected \"x\""),
        ];
        for (line, want) in cases {
            let b = parse(line);
            assert_eq!(b.rows.len(), 0, "{line}");
            assert!(
                b.errors[0].reason.contains(want),
                "{line}: {} does not contain {want}",
                b.errors[0].reason
            );
        }
    }
}
