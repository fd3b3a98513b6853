//! The data model: a point is (device, channel, timestamp, value). Timestamps are i64
//! microseconds since the Unix epoch, UTC. Values are f64, i64, bool or string, and may be
//! missing.

use crate::codec::validity::Bitmap;
use crate::codec::StrValues;
use crate::error::{Error, Result};
use std::fmt;

/// Type of a column's values. The discriminant is the on-disk type id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ValueType {
    /// IEEE 754 binary64, stored bit-exactly.
    F64 = 0,
    /// Signed 64-bit integer.
    I64 = 1,
    /// Boolean.
    Bool = 2,
    /// UTF-8 string.
    Str = 3,
}

impl ValueType {
    /// Parses an on-disk type id.
    pub fn from_id(id: u8) -> Option<ValueType> {
        Some(match id {
            0 => ValueType::F64,
            1 => ValueType::I64,
            2 => ValueType::Bool,
            3 => ValueType::Str,
            _ => return None,
        })
    }

    /// Lower-case name: `f64`, `i64`, `bool` or `string`.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::F64 => "f64",
            ValueType::I64 => "i64",
            ValueType::Bool => "bool",
            ValueType::Str => "string",
        }
    }

    /// Name of a codec id for this type.
    pub fn codec_name(self, codec: u8) -> &'static str {
        if codec == crate::codec::REF {
            return "ref";
        }
        match self {
            ValueType::F64 => crate::codec::float::name(codec),
            ValueType::I64 => crate::codec::int::name(codec),
            ValueType::Bool => crate::codec::boolean::name(codec),
            ValueType::Str => crate::codec::string::name(codec),
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dense run of values of one type (missing values are not stored here; see
/// [`Column::validity`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// f64 values.
    F64(Vec<f64>),
    /// i64 values.
    I64(Vec<i64>),
    /// bool values.
    Bool(Vec<bool>),
    /// string values.
    Str(StrValues),
}

impl Values {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::F64(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::Str(v) => v.len(),
        }
    }

    /// True if there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The type of the values.
    pub fn value_type(&self) -> ValueType {
        match self {
            Values::F64(_) => ValueType::F64,
            Values::I64(_) => ValueType::I64,
            Values::Bool(_) => ValueType::Bool,
            Values::Str(_) => ValueType::Str,
        }
    }

    /// An empty container of type `t`.
    pub fn empty(t: ValueType) -> Values {
        match t {
            ValueType::F64 => Values::F64(Vec::new()),
            ValueType::I64 => Values::I64(Vec::new()),
            ValueType::Bool => Values::Bool(Vec::new()),
            ValueType::Str => Values::Str(StrValues::default()),
        }
    }

    /// The `i`th value, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Values::F64(v) => Value::F64(*v.get(i)?),
            Values::I64(v) => Value::I64(*v.get(i)?),
            Values::Bool(v) => Value::Bool(*v.get(i)?),
            Values::Str(v) => Value::Str(v.get(i)?.to_owned()),
        })
    }
}

/// One value.
#[derive(Clone, Debug)]
pub enum Value {
    /// f64.
    F64(f64),
    /// i64.
    I64(i64),
    /// bool.
    Bool(bool),
    /// string.
    Str(String),
}

impl PartialEq for Value {
    /// Bit-exact equality: NaN equals a NaN with the same payload, -0.0 differs from 0.0.
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
            (Value::I64(a), Value::I64(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    /// The value as f64 (i64 converts with rounding, bool as 0/1); `None` for strings.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            Value::I64(v) => Some(*v as f64),
            Value::Bool(v) => Some(*v as u8 as f64),
            Value::Str(_) => None,
        }
    }
}

impl fmt::Display for Value {
    /// Floats print in the shortest form that parses back to the same f64.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::F64(v) => write!(f, "{v:?}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Str(v) => f.write_str(v),
        }
    }
}

/// A column of a device's rows: dense values plus, when some rows are missing, a validity
/// bitmap with one bit per row (1 = present).
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Present values, in row order.
    pub values: Values,
    /// One bit per row; `None` means every row is present.
    pub validity: Option<Bitmap>,
}

impl Column {
    /// A column with a value in every row.
    pub fn dense(values: Values) -> Column {
        Column {
            values,
            validity: None,
        }
    }

    /// Builds a column from per-row options (`None` = missing).
    pub fn from_f64_options(rows: &[Option<f64>]) -> Column {
        let validity: Bitmap = rows.iter().map(Option::is_some).collect();
        let values = rows.iter().flatten().copied().collect();
        Column::with_validity(Values::F64(values), validity)
    }

    /// Builds a column from values and a validity bitmap, dropping the bitmap when every
    /// row is present.
    pub fn with_validity(values: Values, validity: Bitmap) -> Column {
        let validity = if validity.all() { None } else { Some(validity) };
        Column { values, validity }
    }

    /// Number of rows this column spans, given it belongs to a table of `rows` rows, after
    /// checking that the values and bitmap agree.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] if the lengths disagree.
    pub fn check(&self, rows: usize, name: &str) -> Result<()> {
        let present = match &self.validity {
            None => rows,
            Some(b) => {
                if b.len() != rows {
                    return Err(Error::invalid_input(format!(
                        "column {name:?}: validity has {} bits for {rows} rows",
                        b.len()
                    )));
                }
                b.count_ones()
            }
        };
        if self.values.len() != present {
            return Err(Error::invalid_input(format!(
                "column {name:?}: {} values for {present} present rows",
                self.values.len()
            )));
        }
        Ok(())
    }
}

/// A half-open time range `[from, to)` in microseconds since the epoch. `to == i64::MAX`
/// means "no upper bound", so [`TimeRange::ALL`] includes `i64::MAX` itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: i64,
    /// Exclusive end.
    pub to: i64,
}

impl TimeRange {
    /// Every representable timestamp.
    pub const ALL: TimeRange = TimeRange {
        from: i64::MIN,
        to: i64::MAX,
    };

    /// `[from, to)`.
    pub fn new(from: i64, to: i64) -> TimeRange {
        TimeRange { from, to }
    }

    /// True if `ts` is in the range.
    #[inline]
    pub fn contains(&self, ts: i64) -> bool {
        self.from <= ts && (ts < self.to || self.to == i64::MAX)
    }

    /// True if the closed interval `[min, max]` lies inside the range.
    #[inline]
    pub fn covers(&self, min: i64, max: i64) -> bool {
        self.from <= min && (max < self.to || self.to == i64::MAX)
    }

    /// True if the closed interval `[min, max]` meets the range.
    #[inline]
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        (min < self.to || self.to == i64::MAX) && max >= self.from
    }
}
