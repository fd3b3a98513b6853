//! Deciding an input's format from its name and first line.

use super::*;

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
    pub(super) enum Kind {
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
pub(super) fn looks_like_lp(l: &[u8]) -> bool {
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

pub(super) fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}
