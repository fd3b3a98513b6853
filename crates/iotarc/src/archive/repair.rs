//! `iotarc repair`: rebuilding what a writer must not guess at (`format-spec/archive.md`
//! §4.3, `wal.md` §9).
//!
//! Writers stop rather than delete when the manifest is missing or older than the
//! archive's files (L1, L5), and replay stops rather than cut when the WAL is damaged.
//! Repair is the explicit step after that: it rebuilds a manifest from the segments'
//! own footers, rebuilds the index, or salvages damaged WAL files. Every action has a
//! dry run, copies what it replaces to `damaged/` first, and never deletes a segment.

use super::manifest::{self, ChannelInfo, Dedup, Manifest, PartitionUnit, SegmentEntry, WalState};
use super::pending::{Pending, PendingState};
use crate::error::{Error, Result};
use crate::format::reader::Segment;
use crate::wal;
use crate::wal::damage::{salvage_file, FileSalvage};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The directory, inside an archive, where repair keeps copies of what it replaced.
pub const DAMAGED_DIR: &str = "damaged";

/// Options of [`rebuild_manifest`].
#[derive(Clone, Debug, Default)]
pub struct RebuildOptions {
    /// Partition unit when no readable manifest gives one (a manifest that lists no
    /// segment and has no WAL state gives none); inferred from the partition directory
    /// labels when `None`.
    pub partition: Option<PartitionUnit>,
    /// Dedup policy when no readable manifest gives one (default `last`).
    pub dedup: Option<Dedup>,
    /// Report the plan; change nothing.
    pub dry_run: bool,
}

/// What [`rebuild_manifest`] found and did.
#[derive(Clone, Debug)]
pub struct ManifestRebuild {
    /// The rebuilt manifest (committed unless a dry run).
    pub manifest: Manifest,
    /// Why the old manifest could not be used as it was (`None`: it was readable).
    pub old_unreadable: Option<String>,
    /// Segments the old manifest did not list, now listed.
    pub adopted: Vec<String>,
    /// Segments the old manifest listed whose files are missing, no longer listed.
    pub missing: Vec<String>,
    /// Files under `seg/` that could not be read as segments: left where they are.
    pub unreadable: Vec<(String, String)>,
    /// Inputs a committed compaction dropped but did not delete (archive.md L4): not
    /// adopted; the next writer deletes them.
    pub leftovers: Vec<String>,
    /// Where the old `MANIFEST` was copied (not on a dry run, or without one).
    pub old_copy: Option<PathBuf>,
    /// Caveats the user should read (replayed WAL records, keep-all duplicates).
    pub notes: Vec<String>,
}

/// Copies `dir/name` to `dir/damaged/name.<unix seconds>` (fsynced); returns the copy.
fn keep_copy(dir: &Path, name: &str) -> Result<Option<PathBuf>> {
    let src = dir.join(name);
    match fs::read(&src) {
        Ok(b) => crate::util::files::copy_aside(&dir.join(DAMAGED_DIR), name, &b).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::from(e).with_path(&src)),
    }
}

/// One segment file read back: its entry as a writer would list it, less `seq`.
fn entry_of(
    rel: &str,
    seg: &Segment,
    unit: PartitionUnit,
) -> std::result::Result<SegmentEntry, String> {
    let f = super::check::Facts::of(seg);
    if f.rows == 0 {
        return Err("no blocks".into());
    }
    let partition = unit.window_start(f.min_ts);
    if unit.window_start(f.max_ts) != partition {
        return Err(format!(
            "rows span more than one {} window ({}..={} µs)",
            unit.name(),
            f.min_ts,
            f.max_ts
        ));
    }
    let channels: Arc<[ChannelInfo]> = f
        .channels
        .into_iter()
        .map(|(name, types)| ChannelInfo { name, types })
        .collect();
    let (generation, _) = super::packer::segment_name_numbers(rel.rsplit('/').next().unwrap_or(""));
    Ok(SegmentEntry {
        path: rel.to_string(),
        partition,
        devices: f.devices.into(),
        channels,
        min_ts: f.min_ts,
        max_ts: f.max_ts,
        rows: f.rows,
        points: f.points,
        bytes: f.bytes,
        generation: generation.unwrap_or(0),
        seq: 0,
        index: None,
        checksum: Some(seg.footer_location().1),
    })
}

/// The finest partition unit under which every segment lies in the window its
/// directory label names.
fn infer_unit(files: &[(String, String, Segment)]) -> Option<PartitionUnit> {
    use PartitionUnit::*;
    [Hour, Day, Week, Month, Year].into_iter().find(|&u| {
        files.iter().all(|(label, rel, seg)| {
            entry_of(rel, seg, u).is_ok_and(|e| u.label(e.partition) == *label)
        })
    })
}

/// Rebuilds the manifest of the archive at `dir` from its segments' own footers
/// (archive.md §4.3): every readable `seg/<label>/*.seg` becomes an entry; the old
/// manifest, if readable, gives the partition unit, dedup policy and WAL state. Holds the
/// writer lock. With `dry_run`, returns the plan and changes nothing.
///
/// # Errors
/// Another writer holds the lock; no partition unit can be found (give one); I/O
/// errors.
///
/// ```
/// use iotarc::archive::{repair, Archive, Origin, PackOptions, PackValue, Packer};
/// let dir = tempfile::tempdir()?;
/// let mut p = Packer::open(dir.path(), PackOptions::default())?;
/// p.push("d", "t", 1_700_000_000_000_000, PackValue::F64(1.5), Origin { input: 0, line: 2 });
/// p.commit(0)?;
/// std::fs::remove_file(dir.path().join("MANIFEST"))?;
/// let r = repair::rebuild_manifest(dir.path(), &repair::RebuildOptions::default())?;
/// assert_eq!(r.adopted.len(), 1);
/// assert_eq!(Archive::open(dir.path())?.manifest().segments[0].points, 1);
/// # Ok::<(), iotarc::Error>(())
/// ```
pub fn rebuild_manifest(dir: &Path, opts: &RebuildOptions) -> Result<ManifestRebuild> {
    let _lock = manifest::lock(dir)?;
    let (old, old_unreadable) = match Manifest::read(dir) {
        Ok(m) => (Some(m), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let mut unreadable = Vec::new();
    // Inputs a committed compaction dropped (archive.md L4) are not adopted: the merged
    // segment the old manifest lists holds their points, which keep-all would
    // otherwise count twice. Segments of an uncommitted write (L3) are adopted: repair
    // never assumes a rollback did not happen.
    let leftovers: Vec<PathBuf> = match &old {
        Some(m) => super::leftovers::survey(dir, m)?
            .deletable
            .into_iter()
            .filter(|(_, rule)| *rule == super::leftovers::Rule::Dropped)
            .map(|(p, _)| p)
            .collect(),
        None => Vec::new(),
    };
    let mut skipped = Vec::new();
    let mut files: Vec<(String, String, Segment)> = Vec::new();
    let seg_dir = dir.join("seg");
    let mut labels: Vec<PathBuf> = match fs::read_dir(&seg_dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::from(e).with_path(&seg_dir)),
    };
    labels.sort();
    for pdir in labels.into_iter().filter(|p| p.is_dir()) {
        let label = pdir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let mut names: Vec<String> = fs::read_dir(&pdir)
            .map_err(|e| Error::from(e).with_path(&pdir))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        for name in names {
            let rel = format!("seg/{label}/{name}");
            if name.starts_with('.') || !manifest::is_segment_path(&rel) {
                continue;
            }
            if leftovers.contains(&pdir.join(&name)) {
                skipped.push(rel);
                continue;
            }
            match Segment::open(pdir.join(&name)) {
                Ok(seg) => files.push((label.clone(), rel, seg)),
                Err(e) => unreadable.push((rel, e.to_string())),
            }
        }
    }
    // A manifest that lists no segment may carry a provisional unit (archive.md §3.1:
    // a new archive's generation-0 manifest before the packer picked one).
    let old_unit = old
        .as_ref()
        .filter(|m| !m.segments.is_empty() || m.wal.is_some())
        .map(|m| m.partition);
    let unit = match old_unit.or(opts.partition) {
        Some(u) => u,
        None if files.is_empty() => old.as_ref().map_or(PartitionUnit::Day, |m| m.partition),
        None => infer_unit(&files).ok_or_else(|| {
            Error::invalid_input(format!(
                "{}: no partition unit fits every segment's directory label; give one with --partition",
                dir.display()
            ))
        })?,
    };
    let mut entries = Vec::new();
    let mut order = Vec::new();
    for (_, rel, seg) in &files {
        match entry_of(rel, seg, unit) {
            Ok(e) => {
                let (g, s) =
                    super::packer::segment_name_numbers(rel.rsplit('/').next().unwrap_or(""));
                order.push((s.unwrap_or(u64::MAX), g.unwrap_or(0), rel.clone()));
                entries.push(e);
            }
            Err(why) => unreadable.push((rel.clone(), why)),
        }
    }
    // Arrival order: the seq the writer put in the name (a compaction output carries the
    // highest seq of its inputs), then generation.
    let mut idx: Vec<usize> = (0..entries.len()).collect();
    idx.sort_by(|&a, &b| order[a].cmp(&order[b]));
    for (rank, &i) in idx.iter().enumerate() {
        entries[i].seq = rank as u64;
    }
    let listed: std::collections::HashSet<&str> = old
        .as_ref()
        .map(|m| m.segments.iter().map(|s| s.path.as_str()).collect())
        .unwrap_or_default();
    let found: std::collections::HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let adopted: Vec<String> = entries
        .iter()
        .filter(|e| !listed.contains(e.path.as_str()))
        .map(|e| e.path.clone())
        .collect();
    let missing: Vec<String> = old
        .as_ref()
        .map(|m| {
            m.segments
                .iter()
                .filter(|s| !found.contains(s.path.as_str()))
                .map(|s| s.path.clone())
                .collect()
        })
        .unwrap_or_default();
    let pending_gen = match Pending::read(dir)? {
        PendingState::Valid(p) => p.generation,
        _ => 0,
    };
    let generation = entries
        .iter()
        .map(|e| e.generation)
        .chain(old.as_ref().map(|m| m.generation))
        .chain([pending_gen])
        .max()
        .unwrap_or(0)
        + 1;
    let mut m = Manifest::new(unit);
    m.generation = generation;
    m.next_seq = Some(entries.len() as u64);
    m.dedup = old
        .as_ref()
        .map(|o| o.dedup)
        .or(opts.dedup)
        .unwrap_or_default();
    m.input_bytes = old.as_ref().map_or(0, |o| o.input_bytes);
    let mut notes = Vec::new();
    let wal_files = wal::list_files(&dir.join("wal"))?;
    if let Some((oldest, _)) = wal_files.first() {
        let mut ws = old
            .as_ref()
            .and_then(|o| o.wal.clone())
            .unwrap_or(WalState {
                replay_from: 0,
                seal_unit: unit,
                sealed: Vec::new(),
            });
        if ws.replay_from < *oldest {
            ws.replay_from = *oldest;
        }
        if old.as_ref().and_then(|o| o.wal.as_ref()).is_none() {
            notes.push(format!(
                "no WAL state survived: every WAL record from seq {} is replayed by the next \
                 writer, and points already sealed are stored again; the {} policy keeps one \
                 copy of each{}",
                ws.replay_from,
                m.dedup.name(),
                if m.dedup == Dedup::KeepAll {
                    ", except under keep-all, which keeps both: check counts"
                } else {
                    ""
                }
            ));
        }
        m.wal = Some(ws);
    }
    entries.sort_by(|a, b| (a.partition, &a.path).cmp(&(b.partition, &b.path)));
    m.segments = entries;
    let mut report = ManifestRebuild {
        manifest: m,
        old_unreadable,
        adopted,
        missing,
        unreadable,
        leftovers: skipped,
        old_copy: None,
        notes,
    };
    if opts.dry_run {
        return Ok(report);
    }
    report.old_copy = keep_copy(dir, manifest::MANIFEST_FILE)?;
    let m = &mut report.manifest;
    let ix = super::index::update(dir, m);
    report.notes.extend(ix.warnings);
    // The dropped inputs this commit leaves out stay provable leftovers: announced as
    // this commit's drops, PENDING is kept, so the next writer deletes them (L4).
    super::pending::announce(dir, m.generation, report.leftovers.clone())?;
    m.write(dir)?;
    if report.leftovers.is_empty() {
        super::pending::clear(dir);
    }
    if ix.rebuilt {
        super::index::remove_stale(dir, m);
    }
    Ok(report)
}

/// Rebuilds the index of the archive at `dir` from its segments (archive.md §9.3 step
/// 2) and commits it. Returns the index's warnings. With `dry_run`, only says whether
/// the manifest names a readable index.
///
/// # Errors
/// Another writer holds the lock; the archive's manifest is missing, rolled back or
/// corrupt; I/O errors.
pub fn rebuild_index(dir: &Path, dry_run: bool) -> Result<Vec<String>> {
    if dry_run {
        let m = Manifest::read(dir)?;
        let ix = super::index::Index::open(dir, &m)?;
        return Ok(vec![match (&m.index, ix) {
            (None, _) => "the manifest names no index: one would be written".into(),
            (Some(n), None) => format!("index {n} is missing or unreadable: it would be rewritten"),
            (Some(n), Some(_)) => format!("index {n} would be rewritten from the segments"),
        }]);
    }
    let opened = super::leftovers::open_for_write(dir, None)?;
    let mut m = opened.manifest;
    for s in m.segments.iter_mut() {
        s.index = None;
    }
    m.index = None;
    let ix = super::index::update(dir, &mut m);
    m.generation += 1;
    super::pending::announce(dir, m.generation, Vec::new())?;
    m.write(dir)?;
    super::pending::clear(dir);
    super::index::remove_stale(dir, &m);
    let mut out = opened.cleanup.messages();
    out.extend(ix.warnings);
    Ok(out)
}

/// Salvages every damaged file of the archive's WAL (wal.md §9), copying each to
/// `damaged/` first. Returns one report per WAL file that needs (or, dry, would need)
/// repair.
///
/// # Errors
/// Another writer holds the lock; I/O errors.
pub fn repair_wal(dir: &Path, dry_run: bool) -> Result<Vec<FileSalvage>> {
    let _lock = manifest::lock(dir)?;
    let damaged = dir.join(DAMAGED_DIR);
    let mut out = Vec::new();
    for (first, path) in wal::list_files(&dir.join("wal"))? {
        let r = salvage_file(&path, first, &damaged, dry_run)?;
        if !r.plan.is_clean() {
            out.push(r);
        }
    }
    Ok(out)
}
