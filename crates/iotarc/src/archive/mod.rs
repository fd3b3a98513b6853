//! Archives: a directory of immutable segments partitioned by time window, listed by an
//! atomically replaced manifest. See `format-spec/archive.md`.
//!
//! ```
//! use iotarc::archive::{Agg, Archive, PackOptions, PackValue, Packer, Origin};
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("arch");
//! let mut p = Packer::open(&path, PackOptions::default())?;
//! let midnight = 1_699_920_000_000_000; // 2023-11-14T00:00:00Z
//! for s in 0..86_400i64 {
//!     let v = PackValue::F64(20.0 + (s % 60) as f64 / 10.0);
//!     p.push("boiler-7", "temp", midnight + s * 1_000_000, v, Origin { input: 0, line: s as u64 + 2 });
//! }
//! p.commit(0)?;
//!
//! let arch = Archive::open(&path)?;
//! let (rows, stats) = arch.query().device("boiler-*").channel("temp")
//!     .aggregates(&[Agg::Count, Agg::Max]).every(3_600_000_000).run_aggregate()?;
//! assert_eq!(rows.len(), 24);
//! assert_eq!(rows[0].count, 3600);
//! // A day of 1 s readings is cut into 1 h blocks, so hourly windows come from footers.
//! assert_eq!(stats.blocks_decoded, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod check;
pub mod compact;
internal_mod!(glob);
pub mod index;
pub mod leftovers;
pub mod manifest;
pub mod packer;
internal_mod!(pending);
pub mod query;
pub mod repair;
internal_mod!(sketch);

pub use compact::{compact, CompactOptions, CompactReport};
pub use manifest::{Dedup, Manifest, PartitionUnit, SegmentEntry};
pub use packer::{
    auto_partition, MemoryBudget, Origin, PackOptions, PackStats, PackValue, Packer, Rejected,
    AUTO_TARGET_VALUES, DEFAULT_MEMORY_LIMIT, MIN_MEMORY_LIMIT,
};
pub use query::{Agg, AggRow, AggRowRef, Query, QueryStats, DEFAULT_QUERY_MEMORY};

use crate::error::{Error, ErrorKind, Result};
use crate::format::reader::Segment;
use std::path::{Path, PathBuf};

/// How often [`Archive::on_snapshot`] restarts on a newer manifest before it gives up.
/// Each restart needs a writer to have committed in between, so running out means the
/// archive changed faster than a pass over it could finish.
pub const SNAPSHOT_RESTARTS: usize = 8;

/// True for the error of a file that does not exist: on a file a snapshot lists, the sign
/// that a newer manifest replaced it ([`Archive::on_snapshot`]).
pub fn is_not_found(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound)
}

/// An open archive: its directory and manifest. Segments are opened on demand.
pub struct Archive {
    dir: PathBuf,
    manifest: Manifest,
    index: Option<index::Index>,
}

impl Archive {
    /// Opens the archive at `dir` by reading and validating its manifest and mapping its
    /// `INDEX` if there is one (archive.md §9). No segment is opened.
    ///
    /// # Errors
    /// A missing directory or manifest, I/O errors, or a corrupt manifest.
    pub fn open(dir: impl AsRef<Path>) -> Result<Archive> {
        let dir = dir.as_ref().to_path_buf();
        let manifest = Manifest::read(&dir).map_err(|e| {
            if matches!(e.kind(), crate::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound)
            {
                Error::invalid_input(format!(
                    "{} is not an iotarc archive (no {} file)",
                    dir.display(),
                    manifest::MANIFEST_FILE
                ))
            } else {
                e
            }
        })?;
        let index = index::Index::open(&dir, &manifest)?;
        Ok(Archive {
            dir,
            manifest,
            index,
        })
    }

    /// The archive directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The mapped `INDEX`, if the archive has a readable one.
    pub fn index(&self) -> Option<&index::Index> {
        self.index.as_ref()
    }

    /// Opens one of the manifest's segments.
    ///
    /// # Errors
    /// I/O errors or a corrupt segment.
    pub fn open_segment(&self, entry: &SegmentEntry) -> Result<Segment> {
        open_listed(&self.dir, entry)
    }

    /// Runs `f` on the archive's snapshot (its manifest and index). When `f` fails because
    /// a file the snapshot lists has gone, which happens when a writer committed a newer
    /// manifest and then deleted what it replaced (compaction, an index rebuild; archive.md
    /// §8), re-reads `MANIFEST` and runs `f` again on the new snapshot, at most
    /// [`SNAPSHOT_RESTARTS`] times.
    ///
    /// `f` signals a vanished file with an error for which [`is_not_found`] holds.
    ///
    /// # Errors
    /// What `f` returns, other than a vanished file; the last vanished file after
    /// [`SNAPSHOT_RESTARTS`] restarts; errors reading the newer manifest or index.
    pub fn on_snapshot<T>(
        &self,
        mut f: impl FnMut(&Manifest, Option<&index::Index>) -> Result<T>,
    ) -> Result<T> {
        let (mut fresh, mut fresh_ix);
        let mut m = &self.manifest;
        let mut ix = self.index.as_ref();
        let mut restarts = 0;
        loop {
            match f(m, ix) {
                Err(e) if restarts < SNAPSHOT_RESTARTS && is_not_found(&e) => {
                    restarts += 1;
                    fresh = Manifest::read(&self.dir)?;
                    fresh_ix = index::Index::open(&self.dir, &fresh)?;
                    m = &fresh;
                    ix = fresh_ix.as_ref();
                }
                r => return r,
            }
        }
    }

    /// Starts a query over the archive.
    pub fn query(&self) -> Query<'_> {
        Query::new(self)
    }
}

/// Opens the segment a manifest entry lists and checks that the file is that segment
/// (archive.md M4): its length is the entry's `bytes` and its trailer's footer checksum
/// the entry's `checksum`, when the manifest records one.
///
/// # Errors
/// I/O errors; a corrupt segment; `Corrupt`, with the path, when the file is not the
/// segment the manifest lists (a substituted or stale file).
pub fn open_listed(dir: &Path, entry: &SegmentEntry) -> Result<Segment> {
    let path = dir.join(&entry.path);
    let seg = Segment::open_with_len(&path, Some(entry.bytes))?;
    let (_, sum) = seg.footer_location();
    match entry.checksum {
        Some(want) if want != sum => Err(Error::corrupt(
            format!(
                "footer checksum {sum:#018x} is not the manifest's {want:#018x}: this file is \
                 not the segment the manifest lists (substituted or stale)"
            ),
            None,
        )
        .with_path(path)),
        _ => Ok(seg),
    }
}
