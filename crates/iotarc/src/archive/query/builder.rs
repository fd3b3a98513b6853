//! Setting a query up: the archive, device and channel patterns, the time range and
//! the aggregates, all chosen before anything is read.

use super::Agg;
use crate::archive::glob::Glob;
use crate::archive::index::Index;
use crate::archive::manifest::Manifest;
use crate::archive::Archive;
use crate::error::Result;
use crate::model::TimeRange;

/// A query under construction; see [`Archive::query`].
#[derive(Clone)]
pub struct Query<'a> {
    pub(super) archive: &'a Archive,
    pub(super) devices: Vec<Glob>,
    pub(super) channels: Vec<Glob>,
    pub(super) range: TimeRange,
    pub(super) aggs: Vec<Agg>,
    pub(super) every: Option<i64>,
    pub(super) approx: bool,
    pub(super) memory_limit: u64,
}

/// Default of [`Query::memory_limit`]: 512 MiB.
pub const DEFAULT_QUERY_MEMORY: u64 = 512 << 20;

impl<'a> Query<'a> {
    pub(crate) fn new(archive: &'a Archive) -> Query<'a> {
        Query {
            archive,
            devices: Vec::new(),
            channels: Vec::new(),
            range: TimeRange::ALL,
            aggs: Vec::new(),
            every: None,
            approx: false,
            memory_limit: DEFAULT_QUERY_MEMORY,
        }
    }

    /// Adds a device pattern (repeatable; none means every device).
    pub fn device(mut self, pattern: &str) -> Self {
        self.devices.push(Glob::new(pattern));
        self
    }

    /// Adds a channel pattern (repeatable; none means every channel).
    pub fn channel(mut self, pattern: &str) -> Self {
        self.channels.push(Glob::new(pattern));
        self
    }

    /// Keeps timestamps `>= from`.
    pub fn from(mut self, from: i64) -> Self {
        self.range.from = from;
        self
    }

    /// Keeps timestamps `< to`.
    pub fn to(mut self, to: i64) -> Self {
        self.range.to = to;
        self
    }

    /// Sets the aggregates of [`Query::run_aggregate`].
    pub fn aggregates(mut self, aggs: &[Agg]) -> Self {
        self.aggs = aggs.to_vec();
        self
    }

    /// Aggregates per window of `every_us` microseconds, aligned to the Unix epoch.
    pub fn every(mut self, every_us: i64) -> Self {
        self.every = Some(every_us);
        self
    }

    /// Answers percentiles from DDSketches with relative error
    /// `sketch::RELATIVE_ERROR` instead of exactly.
    pub fn approx(mut self, approx: bool) -> Self {
        self.approx = approx;
        self
    }

    /// Bounds the memory an aggregate holds for values (default
    /// [`DEFAULT_QUERY_MEMORY`]). Exact percentiles of series whose values do not fit are
    /// found by narrowing passes over the blocks (one more read of the series per pass,
    /// at most nine), not by holding them; the answers are the same.
    ///
    /// ```
    /// # use iotarc::archive::{Agg, Archive, PackOptions, PackValue, Packer, Origin};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("arch");
    /// # let mut p = Packer::open(&path, PackOptions::default())?;
    /// # for s in 0..10_000i64 {
    /// #     p.push("pump-1", "rpm", s * 1_000_000, PackValue::I64(s), Origin { input: 0, line: s as u64 + 2 });
    /// # }
    /// # p.commit(0)?;
    /// let arch = Archive::open(&path)?;
    /// let (rows, _) = arch
    ///     .query()
    ///     .aggregates(&[Agg::Percentile(99.0)])
    ///     .memory_limit(1 << 10)
    ///     .run_aggregate()?;
    /// assert_eq!(rows[0].values[0], Some(iotarc::Value::I64(9_899)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = bytes;
        self
    }

    pub(super) fn channel_matches(&self, c: &str) -> bool {
        self.channels.is_empty() || self.channels.iter().any(|g| g.matches(c))
    }

    /// Runs `f` against the archive's manifest, restarting on a newer one when a listed
    /// segment has meanwhile been removed by compaction (archive.md §8).
    pub(super) fn on_snapshot<T>(
        &self,
        f: impl FnMut(&Manifest, Option<&Index>) -> Result<T>,
    ) -> Result<T> {
        self.archive.on_snapshot(f)
    }
}
