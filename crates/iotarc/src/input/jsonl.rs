//! JSON Lines: one flat object per line, long or wide.
//!
//! serde_json checks the syntax and hands each value over as its raw text
//! ([`serde_json::value::RawValue`]), so numbers are typed from their exact text by the
//! same rules as CSV cells, never through a lossy float conversion.

use super::value::{self, show, Text};
use super::{Lines, Out, Val};
use crate::model::ValueType;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// An object key, borrowed from the line unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

type Pairs<'de> = Vec<(Cow<'de, str>, &'de RawValue)>;

/// Deserializes one object's members into a reused vector.
struct Object<'s, 'de>(&'s mut Pairs<'de>);

impl<'de> DeserializeSeed<'de> for Object<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Object<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<Key<'de>>()? {
            let v: &'de RawValue = map.next_value()?;
            self.0.push((k.0, v));
        }
        Ok(())
    }
}

/// A JSON value, classified from its raw text.
enum J<'a> {
    Null,
    Bool(bool),
    /// A number's exact text.
    Num(&'a [u8]),
    Str(Cow<'a, str>),
    Nested(&'static str),
}

fn classify(raw: &RawValue) -> Result<J<'_>, String> {
    let s = raw.get();
    Ok(match s.as_bytes().first() {
        Some(b'n') => J::Null,
        Some(b't') => J::Bool(true),
        Some(b'f') => J::Bool(false),
        Some(b'"') => {
            let inner = &s[1..s.len() - 1];
            if inner.contains('\\') {
                J::Str(Cow::Owned(
                    serde_json::from_str::<String>(s).map_err(json_err)?,
                ))
            } else {
                J::Str(Cow::Borrowed(inner))
            }
        }
        Some(b'{') => J::Nested("an object"),
        Some(b'[') => J::Nested("an array"),
        _ => J::Num(s.as_bytes()),
    })
}

fn json_err(e: serde_json::Error) -> String {
    let s = e.to_string();
    let msg = s.rfind(" at line ").map_or(&s[..], |i| &s[..i]);
    match e.column() {
        0 => format!("invalid JSON: {msg}"),
        c => format!("invalid JSON at column {c}: {msg}"),
    }
}

/// Per-chunk JSON Lines state.
pub(crate) struct LineParser<'a> {
    pairs: Pairs<'a>,
}

impl LineParser<'_> {
    pub(crate) fn new() -> Self {
        LineParser { pairs: Vec::new() }
    }
}

fn value(out: &mut Out<'_>, j: J<'_>, forced: Option<ValueType>, ch: u32) -> Result<Val, String> {
    let named = |out: &Out<'_>, e: String| format!("channel {:?}: {e}", out.channel_name(ch));
    Ok(match (j, forced) {
        (J::Null, _) => Val::Missing,
        (J::Nested(what), _) => {
            return Err(named(
                out,
                format!("value is {what}; only scalar values are supported"),
            ))
        }
        (J::Bool(b), None | Some(ValueType::Bool)) => Val::Bool(b),
        (J::Bool(b), Some(ValueType::Str)) => out.val(Text::Str(if b { "true" } else { "false" })),
        (J::Bool(b), Some(t)) => {
            return Err(named(
                out,
                format!("boolean {b} is not a number (channel type {t})"),
            ))
        }
        (J::Num(s), None) => {
            let t = value::infer(s).map_err(|e| named(out, e))?;
            out.val(t)
        }
        (J::Num(s), Some(t)) => {
            let t = value::forced(s, t).map_err(|e| named(out, e))?;
            out.val(t)
        }
        (J::Str(s), None | Some(ValueType::Str)) => out.val(Text::Str(&s)),
        (J::Str(s), Some(t)) => {
            let t = value::forced(s.as_bytes(), t).map_err(|e| named(out, e))?;
            out.val(t)
        }
    })
}

impl<'a> Lines<'a> for LineParser<'a> {
    fn line(&mut self, out: &mut Out<'_>, line: &'a [u8], line_no: u64) -> Result<(), String> {
        self.pairs.clear();
        let mut de = serde_json::Deserializer::from_slice(line);
        Object(&mut self.pairs)
            .deserialize(&mut de)
            .map_err(json_err)?;
        de.end().map_err(json_err)?;
        let opts = out.opts;
        let (mut ts, mut dev, mut chan, mut val) = (None, None, None, None);
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            let slot = if *k == opts.time_col {
                &mut ts
            } else if *k == opts.device_col {
                &mut dev
            } else if *k == opts.channel_col {
                &mut chan
            } else if *k == opts.value_col {
                &mut val
            } else {
                continue;
            };
            if slot.is_some() {
                return Err(format!("duplicate key {k:?}"));
            }
            *slot = Some((i, *v));
        }
        let missing = |name: &str| format!("missing key {name:?}");
        let (ti, ts) = ts.ok_or_else(|| missing(&opts.time_col))?;
        let ts = match classify(ts)? {
            J::Str(s) => out.timestamp(s.as_bytes())?,
            J::Num(s) => out.timestamp(s)?,
            _ => {
                return Err(format!(
                    "bad timestamp {}: expected a string or a number",
                    show(ts.get().as_bytes())
                ))
            }
        };
        let (di, dev) = dev.ok_or_else(|| missing(&opts.device_col))?;
        let device = match classify(dev)? {
            J::Str(s) => out.device(s.as_bytes())?,
            J::Num(s) => out.device(s)?,
            _ => {
                return Err(format!(
                    "bad device {}: expected a string or a number",
                    show(dev.get().as_bytes())
                ))
            }
        };
        if let Some((_, chan)) = chan {
            // Long: {"timestamp", "device", "channel", "value"}; other keys are ignored.
            let (ch, forced) = match classify(chan)? {
                J::Str(s) => out.channel(s.as_bytes())?,
                _ => {
                    return Err(format!(
                        "bad channel {}: expected a string",
                        show(chan.get().as_bytes())
                    ))
                }
            };
            let (_, v) = val.ok_or_else(|| missing(&opts.value_col))?;
            let v = value(out, classify(v)?, forced, ch)?;
            out.push(line_no, ts, device, ch, v);
            return Ok(());
        }
        // Wide: every other key is a channel.
        let pairs = &self.pairs;
        if pairs.len() <= 2 {
            return Err(format!(
                "no channel keys besides {:?} and {:?} (and no {:?} key)",
                opts.time_col, opts.device_col, opts.channel_col
            ));
        }
        check_duplicates(pairs)?;
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i == ti || i == di {
                continue;
            }
            let (ch, forced) = out.channel(k.as_bytes())?;
            let v = value(out, classify(v)?, forced, ch)?;
            out.push(line_no, ts, device, ch, v);
        }
        Ok(())
    }
}

fn check_duplicates(pairs: &Pairs<'_>) -> Result<(), String> {
    let dup = if pairs.len() <= 16 {
        pairs
            .iter()
            .enumerate()
            .find(|(i, (k, _))| pairs[..*i].iter().any(|(k2, _)| k2 == k))
            .map(|(_, (k, _))| k.as_ref())
    } else {
        let mut keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_ref()).collect();
        keys.sort_unstable();
        keys.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
    };
    match dup {
        Some(k) => Err(format!("duplicate key {k:?}")),
        None => Ok(()),
    }
}
