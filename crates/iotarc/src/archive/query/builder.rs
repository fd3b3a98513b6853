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
}

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
