//! iotarc: a columnar archive format for IoT sensor time series.
//!
//! A segment file holds blocks of one device's rows each: a timestamp column plus one
//! column per channel, every column compressed with the codec that suits its data. Each
//! block's footer entry carries count/min/max/sum/sum-of-squares/first/last per column, so
//! aggregates over a time range read only the footer, decoding just the blocks that
//! straddle the range's edges.
//!
//! ```
//! use iotarc::{Column, Segment, SegmentWriter, TimeRange, Values, WriterOptions};
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("demo.seg");
//! let ts: Vec<i64> = (0..86_400).map(|s| 1_700_000_000_000_000 + s * 1_000_000).collect();
//! let temp: Vec<f64> = (0..86_400).map(|s| 20.0 + (s % 100) as f64 / 10.0).collect();
//! let mut w = SegmentWriter::create(&path, WriterOptions::default())?;
//! w.add("boiler-7", &ts, &[("temp", &Column::dense(Values::F64(temp)))])?;
//! w.finish()?;
//!
//! let seg = Segment::open(&path)?;
//! let day = seg.aggregate("boiler-7", "temp", TimeRange::ALL)?;
//! assert_eq!(day.stats.count, 86_400);
//! assert_eq!(day.blocks_decoded, 0); // answered from footers alone
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

/// Declares a module whose items are internals: public (and hidden from the docs) with
/// the `internals` feature, which the fuzz targets, benchmarks, the peer harness and this
/// crate's own tests enable, and crate-private otherwise. Its public types that belong to
/// the API are re-exported at the crate root or by their layer's module.
macro_rules! internal_mod {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        $(#[$meta])*
        #[cfg(not(feature = "internals"))]
        #[allow(dead_code, unused_imports)]
        pub(crate) mod $name;
    };
}

pub mod archive;
pub mod codec;
pub mod error;
pub mod format;
pub mod input;
pub mod model;
pub mod pack;
pub mod stream;
pub mod util;
pub mod wal;

pub use codec::validity::Bitmap;
pub use codec::StrValues;
pub use error::{Error, ErrorKind, Result, Rule};
pub use format::block::{Block, ColumnBuf};
pub use format::footer::{BlockMeta, ColumnMeta, Footer};
pub use format::reader::{Aggregate, Segment, Series};
pub use format::stats::ColumnStats;
pub use format::writer::{SegmentSummary, SegmentWriter, WriterOptions};
pub use model::{Column, TimeRange, Value, ValueType, Values};

/// Crash-test hook: aborts the process (as `kill -9` would stop it) at the named step
/// when the environment variable `IOTARC_FAILPOINT` equals the name. Steps:
/// `seal-after-write`, `seal-after-commit`, `compact-after-write`,
/// `compact-after-commit`.
pub(crate) fn failpoint(name: &str) {
    static FP: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if FP
        .get_or_init(|| std::env::var("IOTARC_FAILPOINT").ok())
        .as_deref()
        == Some(name)
    {
        std::process::abort();
    }
}
