//! Keeping the index file in step with the manifest (archive.md §9.3): groups appended
//! for new segments, the file rebuilt when dead bytes pile up, unusable groups dropped,
//! stale files deleted, and the manifest commits that record all this.

use super::group::{encode_group, Group};
use super::{check_header, header, read_header, Index, HEADER_LEN, INDEX_PREFIX};
use crate::archive::manifest::{Manifest, SegmentEntry};
use crate::error::{Error, Result};
use crate::util::files::write_atomic;
use crate::util::fsio;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

/// What [`update`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateReport {
    /// Groups written for segments that had none.
    pub added: usize,
    /// Whether a new index file was written (the old one is deleted by
    /// [`remove_stale`] after the manifest commit).
    pub rebuilt: bool,
    /// Segments left without a group, with the reason (queries open them instead).
    pub warnings: Vec<String>,
}

/// Makes every segment of `m` (the manifest about to be committed) reference a group:
/// appends the groups of segments that have none to the current index file, or, when
/// unreferenced bytes make up more than a quarter of it (or it is missing or unreadable),
/// writes a new file holding only live groups and points `m` at it. The new bytes are
/// fsynced before this returns, so the caller's manifest commit may reference them. Call
/// only while holding the archive lock, right before writing `m`.
pub fn update(dir: &Path, m: &mut Manifest) -> UpdateReport {
    update_with(dir, m, false)
}

/// [`update`], but `tight` rewrites the file when it holds any unreferenced bytes.
fn update_with(dir: &Path, m: &mut Manifest, tight: bool) -> UpdateReport {
    let mut report = UpdateReport::default();
    let missing: Vec<usize> = (0..m.segments.len())
        .filter(|&i| m.segments[i].index.is_none())
        .collect();
    let current = m.index.as_ref().map(|n| dir.join(n));
    let file_len = current.as_ref().and_then(|p| header_ok_len(p));
    let live: u64 = m
        .segments
        .iter()
        .filter_map(|e| e.index.map(|r| r[1]))
        .sum();
    // A reference past the end means the file is not the one the references were
    // written into (truncated, or replaced): appending would put new groups where they
    // point.
    let end = m
        .segments
        .iter()
        .filter_map(|e| e.index.map(|[off, len]| off.saturating_add(len)))
        .max()
        .unwrap_or(0);
    let rebuild = match file_len {
        None => true,
        Some(len) if len < end => true,
        Some(len) => {
            let dead = len.saturating_sub(HEADER_LEN as u64 + live);
            dead > if tight { 0 } else { live / 4 + (64 << 10) }
        }
    };
    if !rebuild && missing.is_empty() {
        return report;
    }
    if rebuild {
        if let Err(e) = rebuild_file(dir, m, &mut report) {
            report.warnings.push(format!(
                "index not rebuilt ({e}); queries open the segments instead"
            ));
        }
        return report;
    }
    // Append to the current file.
    let Some(path) = current else {
        return report;
    };
    let mut out = Vec::new();
    let base = file_len.unwrap_or(0);
    let mut refs = Vec::new();
    for i in missing {
        let at = out.len() as u64;
        match build(dir, &m.segments[i], &mut out) {
            Ok(()) => refs.push(NewGroup {
                segment: i,
                range: [base + at, out.len() as u64 - at],
            }),
            Err(e) => {
                out.truncate(at as usize);
                report.warnings.push(format!(
                    "no index group for {} ({e}); queries open it instead",
                    m.segments[i].path
                ));
            }
        }
    }
    let io = |e: std::io::Error| Error::from(e).with_path(&path);
    let res = (|| -> Result<()> {
        let mut f = fsio::File::open(OpenOptions::new().append(true), &path).map_err(io)?;
        // A crash can leave unreferenced bytes at the end; offsets are taken from the
        // file's length as opened for appending, which is where these bytes go.
        let len = f.get_ref().metadata().map_err(io)?.len();
        if len != base {
            return Err(Error::invalid_input(format!(
                "index file changed length from {base} to {len} (another writer?)"
            )));
        }
        f.write_all(&out).map_err(io)?;
        f.sync_data().map_err(io)
    })();
    match res {
        Ok(()) => {
            report.added = refs.len();
            for r in refs {
                m.segments[r.segment].index = Some(r.range);
            }
        }
        Err(e) => report.warnings.push(format!(
            "index not updated ({e}); queries open the new segments instead"
        )),
    }
    report
}

/// A group appended to the index file, for the segment's reference once the bytes are
/// durable.
struct NewGroup {
    /// Index of the segment in the manifest.
    segment: usize,
    /// `[offset, len]` of its group in the file.
    range: [u64; 2],
}

/// The length of the index file at `p` if it exists and has a header this code reads.
fn header_ok_len(p: &Path) -> Option<u64> {
    let head = read_header(p).ok()?;
    check_header(&head.header).ok()?;
    Some(head.len)
}

fn build(dir: &Path, e: &SegmentEntry, out: &mut Vec<u8>) -> Result<()> {
    let seg = crate::archive::open_listed(dir, e)?;
    encode_group(&seg, e, out)
}

/// Writes `INDEX-<generation>` with the live groups of `m` (copied after checking their
/// headers) and groups for segments without one, fsyncs it, and points `m` at it.
fn rebuild_file(dir: &Path, m: &mut Manifest, report: &mut UpdateReport) -> Result<()> {
    let old = m
        .index
        .as_ref()
        .and_then(|n| fs::read(dir.join(n)).ok())
        .filter(|b| check_header(b).is_ok())
        .unwrap_or_default();
    let mut out = header().to_vec();
    let mut refs = Vec::with_capacity(m.segments.len());
    for e in &m.segments {
        let at = out.len();
        let copied = e.index.and_then(|[off, len]| {
            let g = Group::read(&old, off, len).ok()?;
            g.check(e).ok()?;
            Some(&old[off as usize..(off + len) as usize])
        });
        match copied {
            Some(bytes) => out.extend_from_slice(bytes),
            None => match build(dir, e, &mut out) {
                Ok(()) => report.added += 1,
                Err(err) => {
                    out.truncate(at);
                    report.warnings.push(format!(
                        "no index group for {} ({err}); queries open it instead",
                        e.path
                    ));
                    refs.push(None);
                    continue;
                }
            },
        }
        refs.push(Some([at as u64, (out.len() - at) as u64]));
    }
    // A fresh name: a reader holding an older manifest keeps reading the old file.
    let mut n = m.generation + 1;
    while dir.join(format!("{INDEX_PREFIX}{n:06}")).exists() {
        n += 1;
    }
    let name = format!("{INDEX_PREFIX}{n:06}");
    write_atomic(dir, &name, &out)?;
    for (e, r) in m.segments.iter_mut().zip(refs) {
        e.index = r;
    }
    m.index = Some(name);
    report.rebuilt = true;
    Ok(())
}

/// Deletes index files (and temp files of index rebuilds) that `m`, the committed
/// manifest, does not name. Call only while holding the lock, after the commit.
pub fn remove_stale(dir: &Path, m: &Manifest) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let ours = name.starts_with(INDEX_PREFIX) || name.starts_with(".INDEX-");
        if ours && m.index.as_deref() != Some(name) {
            let _ = fsio::remove_file(&ent.path());
        }
    }
}

/// Drops the reference of every group of `m` that is not usable (archive.md §9.2: out of
/// the file, a checksum, a header that does not describe the segment, a record that does
/// not decode), so that [`update`] rebuilds it from its segment. Returns whether any was
/// dropped. A writer calls this when it takes the lock (§9.3, step 3): [`update`] keeps
/// the references it finds (it appends after them, or copies their groups into a new
/// file after checking only their headers), so a damaged group left in place would
/// survive every later commit.
pub fn drop_unusable(dir: &Path, m: &mut Manifest) -> bool {
    let mut dropped = false;
    let ix = match Index::open(dir, m) {
        Ok(Some(ix)) => ix,
        // No readable file: update() rebuilds every group anyway.
        _ => return false,
    };
    for e in m.segments.iter_mut() {
        let Some([off, len]) = e.index else {
            continue;
        };
        let ok = Group::read(&ix.map, off, len)
            .and_then(|g| {
                g.check(e)?;
                (0..e.devices.len()).try_for_each(|i| g.part(i, &e.devices[i]).map(|_| ()))
            })
            .is_ok();
        if !ok {
            e.index = None;
            dropped = true;
        }
    }
    dropped
}

/// [`drop_unusable`], [`update`], then, if they changed anything, a manifest commit and
/// [`remove_stale`]: for a lock holder with nothing else to commit (a writer opening an
/// archive). Returns the warnings.
///
/// # Errors
/// Writing the manifest.
pub fn refresh(dir: &Path, m: &mut Manifest) -> Result<Vec<String>> {
    let dropped = drop_unusable(dir, m);
    commit_update(dir, m, dropped)
}

/// [`update`], then a manifest commit if it changed anything or `changed` (the caller
/// changed `m` since it was committed), then [`remove_stale`]. Returns the warnings.
///
/// # Errors
/// Writing the manifest.
pub fn commit_update(dir: &Path, m: &mut Manifest, changed: bool) -> Result<Vec<String>> {
    commit_updated(dir, m, changed, false)
}

/// [`commit_update`], rewriting the index file when it holds any unreferenced bytes (the
/// groups of segments a compaction replaced), not only above the usual slack of §9.3
/// step 2.
///
/// # Errors
/// Writing the manifest.
pub fn commit_update_tight(dir: &Path, m: &mut Manifest, changed: bool) -> Result<Vec<String>> {
    commit_updated(dir, m, changed, true)
}

fn commit_updated(dir: &Path, m: &mut Manifest, changed: bool, tight: bool) -> Result<Vec<String>> {
    let r = update_with(dir, m, tight);
    if r.added > 0 || r.rebuilt || changed {
        m.generation += 1;
        // Every commit is announced, so PENDING never lags the manifest (archive.md L5).
        crate::archive::pending::announce(dir, m.generation, Vec::new())?;
        m.write(dir)?;
        crate::archive::pending::clear(dir);
    }
    remove_stale(dir, m);
    Ok(r.warnings)
}
