//! The per-chunk output the format parsers write to: rows, dictionaries and
//! rejections, rolled back line by line when a line is rejected.

use super::*;

/// Cuts `line` for [`RowError::text`].
pub(super) fn error_text(line: &[u8]) -> String {
    pub(super) const MAX: usize = 200;
    if line.len() > MAX {
        let mut s = String::from_utf8_lossy(&line[..MAX]).into_owned();
        s.push_str("...");
        s
    } else {
        String::from_utf8_lossy(line).into_owned()
    }
}

/// Per-chunk output under construction.
pub(crate) struct Out<'o> {
    pub(crate) opts: &'o ParseOptions,
    rows: Vec<Row>,
    devices: Interner,
    channels: Interner,
    chan_types: Vec<Option<ValueType>>,
    strings: Interner,
    errors: Vec<RowError>,
    ts_memo: time::TsMemo,
}

/// Sizes to roll back to when a line is rejected.
#[derive(Clone, Copy)]
pub(super) struct Mark {
    rows: usize,
    devices: usize,
    channels: usize,
    strings: usize,
}

impl<'o> Out<'o> {
    pub(super) fn new(opts: &'o ParseOptions, rows: Vec<Row>, errors: Vec<RowError>) -> Self {
        Out {
            opts,
            rows,
            devices: Interner::new(),
            channels: Interner::new(),
            chan_types: Vec::new(),
            strings: Interner::new(),
            errors,
            ts_memo: time::TsMemo::default(),
        }
    }

    #[inline]
    pub(super) fn mark(&self) -> Mark {
        Mark {
            rows: self.rows.len(),
            devices: self.devices.len(),
            channels: self.channels.len(),
            strings: self.strings.len(),
        }
    }

    #[cold]
    pub(super) fn rollback(&mut self, m: Mark) {
        self.rows.truncate(m.rows);
        self.devices.truncate(m.devices);
        self.channels.truncate(m.channels);
        self.chan_types.truncate(m.channels);
        self.strings.truncate(m.strings);
    }

    pub(crate) fn channel_count(&self) -> usize {
        self.channels.len()
    }

    // The per-cell methods below are `inline(always)` with their error paths out of line:
    // returning `Result<_, String>` through memory from a call cost a store-forwarding
    // stall per cell (~2% of a pack).

    /// Interns a device name.
    #[inline(always)]
    pub(crate) fn device(&mut self, name: &[u8]) -> Result<u32, String> {
        if name.is_empty() {
            return Err(empty_name("device"));
        }
        match self.devices.intern(name) {
            Ok(id) => Ok(id),
            Err(_) => Err(not_utf8("device", name)),
        }
    }

    /// Interns a channel name; also returns its forced type.
    #[inline(always)]
    pub(crate) fn channel(&mut self, name: &[u8]) -> Result<(u32, Option<ValueType>), String> {
        if name.is_empty() {
            return Err(empty_name("channel"));
        }
        let id = match self.channels.intern(name) {
            Ok(id) => id,
            Err(_) => return Err(not_utf8("channel", name)),
        };
        if id as usize == self.chan_types.len() {
            self.new_channel_type(id);
        }
        Ok((id, self.chan_types[id as usize]))
    }

    #[cold]
    pub(super) fn new_channel_type(&mut self, id: u32) {
        let t = if self.opts.types.is_empty() {
            None
        } else {
            self.opts
                .types
                .get(self.channels.get(id).unwrap_or_default())
                .copied()
        };
        self.chan_types.push(t);
    }

    /// Parses a timestamp field, wrapping the reason as `bad timestamp "<text>": <reason>`.
    #[inline(always)]
    pub(crate) fn timestamp(&mut self, s: &[u8]) -> Result<i64, String> {
        match self.ts_memo.parse(s, self.opts.time_unit, &self.opts.tz) {
            Ok(t) => Ok(t),
            Err(e) => Err(bad_timestamp(s, e)),
        }
    }

    /// The name of channel `id`, for error messages.
    pub(crate) fn channel_name(&self, id: u32) -> &str {
        self.channels.get(id).unwrap_or_default()
    }

    /// Types the text `s` of a cell of channel `ch` (see [`Out::text_value`]) and pushes
    /// the row. Common numbers are pushed straight from the fast path: merging its value
    /// with the general path's through memory cost a store-forwarding stall per cell.
    #[inline(always)]
    pub(crate) fn push_text(
        &mut self,
        line: u64,
        ts: i64,
        device: u32,
        ch: u32,
        s: &[u8],
        forced: Option<ValueType>,
    ) -> Result<(), String> {
        if forced.is_none() {
            match value::fast_number(s) {
                Some(Text::I64(v)) => {
                    self.push(line, ts, device, ch, Val::I64(v));
                    return Ok(());
                }
                Some(Text::F64(v)) => {
                    self.push(line, ts, device, ch, Val::F64(v));
                    return Ok(());
                }
                _ => {}
            }
        }
        self.push_text_general(line, ts, device, ch, s, forced)
    }

    #[inline(never)]
    pub(super) fn push_text_general(
        &mut self,
        line: u64,
        ts: i64,
        device: u32,
        ch: u32,
        s: &[u8],
        forced: Option<ValueType>,
    ) -> Result<(), String> {
        let v = self.text_value(s, forced, ch)?;
        self.push(line, ts, device, ch, v);
        Ok(())
    }

    /// Types the text of a cell of channel `ch`, by inference or by its forced type.
    pub(crate) fn text_value(
        &mut self,
        s: &[u8],
        forced: Option<ValueType>,
        ch: u32,
    ) -> Result<Val, String> {
        let t = match forced {
            None => value::infer(s),
            Some(t) => value::forced(s, t),
        }
        .map_err(|e| format!("channel {:?}: {e}", self.channel_name(ch)))?;
        Ok(self.val(t))
    }

    /// Stores a typed value, interning strings.
    #[inline]
    pub(crate) fn val(&mut self, t: Text<'_>) -> Val {
        match t {
            Text::Missing => Val::Missing,
            Text::F64(v) => Val::F64(v),
            Text::I64(v) => Val::I64(v),
            Text::Bool(v) => Val::Bool(v),
            // A &str is valid UTF-8, so interning cannot fail.
            Text::Str(s) => Val::Str(self.strings.intern(s.as_bytes()).unwrap_or(0)),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, line: u64, ts: i64, device: u32, channel: u32, value: Val) {
        self.rows.push(Row {
            line,
            ts,
            device,
            channel,
            value,
        });
    }

    pub(super) fn finish(self, lines: u64) -> Batch {
        Batch {
            rows: self.rows,
            devices: self.devices.into_names(),
            channels: self.channels.into_names(),
            strings: self.strings.into_names(),
            errors: self.errors,
            lines,
        }
    }
}

/// One format's line parser, holding its per-chunk scratch state.
pub(crate) trait Lines<'a> {
    /// Parses one line (without its line ending) into `out`.
    fn line(&mut self, out: &mut Out<'_>, line: &'a [u8], line_no: u64) -> Result<(), String>;
    /// Called after `out` was rolled back past a rejected line.
    fn rolled_back(&mut self, _out: &Out<'_>) {}
}

/// True for blank lines and `#` comments.
#[inline]
pub(super) fn skippable(line: &[u8]) -> bool {
    match line.first() {
        None | Some(b'#') => true,
        Some(b' ' | b'\t' | b'\r') => {
            matches!(
                line.iter().find(|&&b| !matches!(b, b' ' | b'\t' | b'\r')),
                None | Some(b'#')
            )
        }
        Some(_) => false,
    }
}

/// The line loop shared by every format. Returns the number of physical lines.
pub(super) fn run<'a, P: Lines<'a>>(
    out: &mut Out<'_>,
    p: &mut P,
    bytes: &'a [u8],
    first_line: u64,
) -> u64 {
    let mut pos = 0;
    if first_line == 1 && bytes.starts_with(source::BOM) {
        pos = 3;
    }
    let mut line_no = first_line;
    while pos < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        let mut line = &bytes[pos..end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        pos = end + 1;
        if !skippable(line) {
            let mark = out.mark();
            if let Err(reason) = p.line(out, line, line_no) {
                out.rollback(mark);
                p.rolled_back(out);
                out.errors.push(RowError {
                    line: line_no,
                    reason,
                    text: error_text(line),
                });
            }
        }
        line_no += 1;
    }
    line_no - first_line
}

#[cold]
pub(super) fn empty_name(what: &str) -> String {
    format!("empty {what} name")
}

#[cold]
pub(super) fn not_utf8(what: &str, name: &[u8]) -> String {
    format!("{what} {} is not valid UTF-8", value::show(name))
}

/// Wraps a timestamp error as `bad timestamp "<text>": <reason>`.
#[cold]
pub(super) fn bad_timestamp(s: &[u8], e: String) -> String {
    format!("bad timestamp {}: {e}", value::show(s))
}
