//! CSV, long (`timestamp,device,channel,value`) and wide (`timestamp,device,<channel>…`).

use super::value::show;
use super::{Lines, Out, ParseOptions};
use crate::model::ValueType;

/// A resolved CSV header.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) names: Vec<String>,
    time: usize,
    device: usize,
    layout: Layout,
}

#[derive(Debug)]
enum Layout {
    Long { channel: usize, value: usize },
    Wide { channels: Vec<WideCol> },
}

#[derive(Debug)]
struct WideCol {
    col: usize,
    forced: Option<ValueType>,
}

#[inline]
fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits a CSV line into fields. Returns the bytes the field ranges index: `line` itself
/// when it has no quotes, else `buf`, which receives the unquoted fields.
#[inline]
fn split<'a>(
    line: &'a [u8],
    buf: &'a mut Vec<u8>,
    fields: &mut Vec<(usize, usize)>,
) -> Result<&'a [u8], String> {
    fields.clear();
    let mut start = 0;
    // Lines are short (tens of bytes), so a word-at-a-time scan beats a SIMD search's
    // per-call setup.
    let mut at = 0;
    while at + 8 <= line.len() {
        let w = u64::from_le_bytes(line[at..at + 8].try_into().unwrap());
        let mut hits = zero_bytes(w ^ COMMAS) | zero_bytes(w ^ QUOTES);
        while hits != 0 {
            let i = at + (hits.trailing_zeros() / 8) as usize;
            if line[i] == b'"' {
                split_quoted(line, buf, fields)?;
                return Ok(buf);
            }
            fields.push(trim(line, start, i));
            start = i + 1;
            hits &= hits - 1;
        }
        at += 8;
    }
    for (i, &b) in line.iter().enumerate().skip(at) {
        if b == b'"' {
            split_quoted(line, buf, fields)?;
            return Ok(buf);
        }
        if b == b',' {
            fields.push(trim(line, start, i));
            start = i + 1;
        }
    }
    fields.push(trim(line, start, line.len()));
    Ok(line)
}

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const COMMAS: u64 = 0x2c2c_2c2c_2c2c_2c2c;
const QUOTES: u64 = 0x2222_2222_2222_2222;

/// The high bit of each zero byte of `w`, exactly (no false positives from borrows).
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    !(((w & LOW7) + LOW7) | w | LOW7)
}

#[inline]
fn trim(s: &[u8], mut a: usize, mut b: usize) -> (usize, usize) {
    while a < b && is_space(s[a]) {
        a += 1;
    }
    while b > a && is_space(s[b - 1]) {
        b -= 1;
    }
    (a, b)
}

/// The slow path of [`split`], for lines with quotes.
fn split_quoted(
    line: &[u8],
    buf: &mut Vec<u8>,
    fields: &mut Vec<(usize, usize)>,
) -> Result<(), String> {
    buf.clear();
    fields.clear();
    let n = line.len();
    let mut i = 0;
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        let start = buf.len();
        if i < n && line[i] == b'"' {
            i += 1;
            loop {
                match memchr::memchr(b'"', &line[i..]) {
                    None => {
                        return Err(format!(
                            "unterminated quoted field {} (a quoted field cannot span lines)",
                            fields.len() + 1
                        ))
                    }
                    Some(j) => {
                        buf.extend_from_slice(&line[i..i + j]);
                        i += j + 1;
                        if i < n && line[i] == b'"' {
                            buf.push(b'"');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            while i < n && is_space(line[i]) {
                i += 1;
            }
            fields.push((start, buf.len()));
            if i == n {
                return Ok(());
            }
            if line[i] != b',' {
                return Err(format!(
                    "unexpected {} after the closing quote of field {}",
                    show(&line[i..i + 1]),
                    fields.len()
                ));
            }
            i += 1;
        } else {
            let end = memchr::memchr(b',', &line[i..]).map_or(n, |j| i + j);
            let (a, b) = trim(line, i, end);
            buf.extend_from_slice(&line[a..b]);
            fields.push((start, buf.len()));
            if end == n {
                return Ok(());
            }
            i = end + 1;
        }
    }
}

/// The column names of a header line.
pub(crate) fn header_names(line: &[u8]) -> Result<Vec<String>, String> {
    let line = line.strip_prefix(super::source::BOM).unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut buf = Vec::new();
    let mut fields = Vec::new();
    let base = split(line, &mut buf, &mut fields)?;
    fields
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| {
            String::from_utf8(base[a..b].to_vec()).map_err(|_| {
                format!(
                    "column {} name {} is not valid UTF-8",
                    i + 1,
                    show(&base[a..b])
                )
            })
        })
        .collect()
}

impl Header {
    pub(crate) fn new(opts: &ParseOptions, long: bool, line: &[u8]) -> Result<Header, String> {
        let names = header_names(line)?;
        for (i, n) in names.iter().enumerate() {
            if n.is_empty() {
                return Err(format!("column {} has an empty name", i + 1));
            }
            if names[..i].contains(n) {
                return Err(format!("duplicate column {n:?}"));
            }
        }
        let find = |want: &str, role: &str| {
            names.iter().position(|n| n == want).ok_or_else(|| {
                format!(
                    "no {role} column {want:?} (columns: {}); name it with the {role} column option",
                    names
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        };
        let time = find(&opts.time_col, "time")?;
        let device = find(&opts.device_col, "device")?;
        let layout = if long {
            Layout::Long {
                channel: find(&opts.channel_col, "channel")?,
                value: find(&opts.value_col, "value")?,
            }
        } else {
            let channels: Vec<WideCol> = (0..names.len())
                .filter(|&c| c != time && c != device)
                .map(|col| WideCol {
                    col,
                    forced: opts.types.get(&names[col]).copied(),
                })
                .collect();
            if channels.is_empty() {
                return Err("no channel columns besides the time and device columns".into());
            }
            Layout::Wide { channels }
        };
        Ok(Header {
            names,
            time,
            device,
            layout,
        })
    }
}

/// Per-chunk CSV state.
pub(crate) struct LineParser<'h> {
    h: &'h Header,
    buf: Vec<u8>,
    fields: Vec<(usize, usize)>,
    /// Wide: channel id of each channel column in this chunk, `u32::MAX` until interned.
    wide_ids: Vec<u32>,
}

impl<'h> LineParser<'h> {
    pub(crate) fn new(h: &'h Header) -> Self {
        let n = match &h.layout {
            Layout::Wide { channels } => channels.len(),
            Layout::Long { .. } => 0,
        };
        LineParser {
            h,
            buf: Vec::new(),
            fields: Vec::with_capacity(h.names.len()),
            wide_ids: vec![u32::MAX; n],
        }
    }
}

impl<'a> Lines<'a> for LineParser<'_> {
    #[inline]
    fn line(&mut self, out: &mut Out<'_>, line: &'a [u8], line_no: u64) -> Result<(), String> {
        let h = self.h;
        let base = split(line, &mut self.buf, &mut self.fields)?;
        let fields = &self.fields;
        if fields.len() != h.names.len() {
            return Err(format!(
                "{} fields, but the header has {}",
                fields.len(),
                h.names.len()
            ));
        }
        let get = |i: usize| {
            let (a, b) = fields[i];
            &base[a..b]
        };
        let ts = out.timestamp(get(h.time))?;
        let device = out.device(get(h.device))?;
        match &h.layout {
            Layout::Long { channel, value } => {
                let (ch, forced) = out.channel(get(*channel))?;
                out.push_text(line_no, ts, device, ch, get(*value), forced)?;
            }
            Layout::Wide { channels } => {
                for (k, c) in channels.iter().enumerate() {
                    let mut ch = self.wide_ids[k];
                    if ch == u32::MAX {
                        ch = out.channel(h.names[c.col].as_bytes())?.0;
                        self.wide_ids[k] = ch;
                    }
                    out.push_text(line_no, ts, device, ch, get(c.col), c.forced)?;
                }
            }
        }
        Ok(())
    }

    fn rolled_back(&mut self, out: &Out<'_>) {
        let n = out.channel_count() as u32;
        for id in &mut self.wide_ids {
            if *id >= n {
                *id = u32::MAX;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Result<Vec<String>, String> {
        let mut buf = Vec::new();
        let mut f = Vec::new();
        let base = split(line.as_bytes(), &mut buf, &mut f)?;
        Ok(f.iter()
            .map(|&(a, b)| String::from_utf8(base[a..b].to_vec()).unwrap())
            .collect())
    }

    #[test]
    fn splitting_every_length() {
        // The word-at-a-time scan against a byte-at-a-time reference, at every offset.
        for n in 0..40 {
            for k in 0..n {
                for c in [b',', b'"', b'x', 0x2c | 0x80, 0xac, 0x22 ^ 1] {
                    let mut line = vec![b'a'; n];
                    line[k] = c;
                    if k + 3 < n {
                        line[k + 3] = b',';
                    }
                    let text = String::from_utf8_lossy(&line).into_owned();
                    let mut buf = Vec::new();
                    let mut f = Vec::new();
                    let got = split(&line, &mut buf, &mut f)
                        .map(|b| f.iter().map(|&(a, e)| b[a..e].to_vec()).collect::<Vec<_>>());
                    let want: Result<Vec<Vec<u8>>, String> = if line.contains(&b'"') {
                        let mut f2 = Vec::new();
                        split_quoted(&line, &mut buf, &mut f2)
                            .map(|()| f2.iter().map(|&(a, e)| buf[a..e].to_vec()).collect())
                    } else {
                        Ok(line.split(|&b| b == b',').map(|x| x.to_vec()).collect())
                    };
                    assert_eq!(got, want, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn splitting() {
        assert_eq!(fields("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(fields(" a , b\t,c ").unwrap(), ["a", "b", "c"]);
        assert_eq!(fields("").unwrap(), [""]);
        assert_eq!(fields("a,").unwrap(), ["a", ""]);
        assert_eq!(
            fields(r#""a,b","say ""hi""",c"#).unwrap(),
            ["a,b", r#"say "hi""#, "c"]
        );
        assert_eq!(fields(r#"x, "q" ,"""#).unwrap(), ["x", "q", ""]);
        assert_eq!(fields(r#"a,b"c,d"#).unwrap(), ["a", r#"b"c"#, "d"]);
        assert_eq!(
            fields(r#"a,"b"#).unwrap_err(),
            "unterminated quoted field 2 (a quoted field cannot span lines)"
        );
        assert!(fields(r#""a"x,b"#)
            .unwrap_err()
            .contains("after the closing quote of field 1"));
    }
}
