//! What earlier writers left in an archive, and which of it a writer may delete
//! (`format-spec/archive.md` §4.2, rules L1–L7).
//!
//! A writer deletes a file only when it can prove the file is an interrupted writer's
//! leftover: a temp file (L2), a segment of the commit `PENDING` announced that did not
//! happen (L3), or an input the committed `PENDING` dropped (L4). A segment file newer
//! than the manifest (L5) means the manifest was rolled back or replaced: writers stop
//! and `iotarc repair --manifest` rebuilds it. Everything else is kept (L6).

use super::manifest::{self, Manifest, MANIFEST_FILE};
use super::pending::{Pending, PendingState, PENDING_FILE};
use crate::error::{Error, Result};
use crate::util::files::sync_dir;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// Why a leftover may be deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// L2: a temp file, never renamed into place.
    Temp,
    /// L3: a segment of the announced commit, which did not happen.
    Uncommitted,
    /// L4: an input the committed `PENDING` dropped.
    Dropped,
}

impl Rule {
    /// The rule id and what it means, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::Temp => "L2: a temp file an interrupted write left",
            Rule::Uncommitted => "L3: a segment of a commit that did not happen",
            Rule::Dropped => "L4: a segment a committed compaction dropped",
        }
    }
}

/// What [`survey`] found: the files a writer may delete, the files it must keep, and
/// whether the manifest is older than the files (L5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Survey {
    /// Provable leftovers, with the rule that proves each.
    pub deletable: Vec<(PathBuf, Rule)>,
    /// Unlisted files nothing proves to be leftovers (L6), relative to the archive.
    pub unknown: Vec<String>,
    /// L5: why the manifest is older than what the archive holds, if it is.
    pub rolled_back: Option<String>,
    /// `PENDING` exists but fails its checks (treated as absent).
    pub pending_unreadable: Option<String>,
}

/// True for the names writers give temp files: `.<name>.<pid>.tmp`.
fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Classifies every unlisted file of the archive at `dir` under rules L2–L6, reading
/// `PENDING` itself. Changes nothing; `verify` reports it and writers act on it.
///
/// # Errors
/// I/O errors listing the archive.
pub fn survey(dir: &Path, m: &Manifest) -> Result<Survey> {
    let mut out = Survey::default();
    let pending = match Pending::read(dir)? {
        PendingState::Valid(p) => Some(p),
        PendingState::Absent => None,
        PendingState::Unreadable(why) => {
            out.pending_unreadable = Some(why);
            None
        }
    };
    let g = m.generation;
    let announced = pending.as_ref().map(|p| p.generation);
    if let Some(p) = announced.filter(|&p| p > g + 1) {
        out.rolled_back = Some(format!(
            "{PENDING_FILE} announces generation {p}, but {MANIFEST_FILE} is generation {g}: \
             a writer already committed past this manifest"
        ));
    }
    for name in read_names(dir)? {
        if is_temp(&name) {
            out.deletable.push((dir.join(&name), Rule::Temp));
        }
    }
    let live: std::collections::HashSet<&str> =
        m.segments.iter().map(|s| s.path.as_str()).collect();
    let dropped: std::collections::HashSet<&str> = match &pending {
        Some(p) if p.generation == g => p.drop.iter().map(String::as_str).collect(),
        _ => Default::default(),
    };
    let seg = dir.join("seg");
    let mut newest: Option<(u64, String)> = None;
    for label in read_names(&seg)? {
        let pdir = seg.join(&label);
        if !pdir.is_dir() {
            out.unknown.push(format!("seg/{label}"));
            continue;
        }
        for name in read_names(&pdir)? {
            let rel = format!("seg/{label}/{name}");
            if live.contains(rel.as_str()) {
                continue;
            }
            let path = pdir.join(&name);
            if is_temp(&name) {
                out.deletable.push((path, Rule::Temp));
                continue;
            }
            if dropped.contains(rel.as_str()) {
                out.deletable.push((path, Rule::Dropped));
                continue;
            }
            match super::packer::segment_name_numbers(&name).0 {
                Some(n) if announced == Some(g + 1) && n == g + 1 => {
                    out.deletable.push((path, Rule::Uncommitted));
                }
                Some(n) if n > g => {
                    if newest.as_ref().is_none_or(|(k, _)| n > *k) {
                        newest = Some((n, rel));
                    }
                }
                _ => out.unknown.push(rel),
            }
        }
    }
    if let Some((n, rel)) = newest {
        out.rolled_back.get_or_insert(format!(
            "{rel} was written by generation {n}, but {MANIFEST_FILE} is generation {g} \
             and does not list it"
        ));
    }
    out.unknown.sort();
    Ok(out)
}

/// Names in `dir`, sorted; a missing directory has none.
fn read_names(dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::from(e).with_path(dir)),
    };
    let mut names = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::from(e).with_path(dir))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// The error a writer stops with when the manifest is older than the archive's files
/// (L5) or missing (L1).
fn stop(dir: &Path, why: &str) -> Error {
    Error::invalid_input(format!(
        "archive {d}: {why}. The manifest was lost, rolled back (a restored backup, a \
         filesystem rollback) or replaced; nothing was deleted. Rebuild it from the \
         segments' own footers with: iotarc repair --manifest {d} (--dry-run shows the \
         plan first)",
        d = dir.display()
    ))
}

/// What a writer found and removed when it opened the archive (pack, ingest and
/// compact report it as warnings).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleanup {
    /// Leftovers deleted, with the rule that proved each.
    pub removed: Vec<(PathBuf, Rule)>,
    /// Unlisted files kept because nothing proves them leftovers (L6).
    pub kept: Vec<String>,
    /// Problems that did not stop the writer (an unreadable `PENDING`, a segment
    /// whose checksum could not be recorded).
    pub warnings: Vec<String>,
    /// The archive was created by this call.
    pub created: bool,
}

impl Cleanup {
    /// One line per removed file and per problem, for a writer's warnings.
    pub fn messages(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .removed
            .iter()
            .map(|(p, r)| format!("removed {} ({})", p.display(), r.describe()))
            .collect();
        if !self.kept.is_empty() {
            out.push(format!(
                "{} unlisted file(s) kept, since nothing proves them leftovers (archive.md L6): {}",
                self.kept.len(),
                self.kept.join(", ")
            ));
        }
        out.extend(self.warnings.iter().cloned());
        out
    }
}

/// An archive opened for writing: the lock, the manifest, and what was cleaned.
pub(crate) struct Opened {
    pub lock: File,
    pub manifest: Manifest,
    pub cleanup: Cleanup,
}

/// Opens the archive at `dir` for writing (archive.md §4 steps 1–2): takes the lock,
/// reads the manifest, or, when `create` is given and the directory holds nothing but
/// the lock, commits `create()` as generation 0 (L1); then deletes exactly the provable
/// leftovers (L2–L4), stops on a rolled-back manifest (L5), and records missing segment
/// checksums (L7).
///
/// # Errors
/// Another writer holds the lock; no `MANIFEST` in a directory that holds other files
/// (L1), or without `create`; a manifest older than the archive's files (L5); a corrupt
/// manifest; I/O errors.
pub(crate) fn open_for_write(dir: &Path, create: Option<&dyn Fn() -> Manifest>) -> Result<Opened> {
    if create.is_none() && !dir.join(MANIFEST_FILE).exists() && !dir.is_dir() {
        return Err(Error::invalid_input(format!(
            "{} is not an iotarc archive (no such directory)",
            dir.display()
        )));
    }
    let lock = manifest::lock(dir)?;
    let mut cleanup = Cleanup::default();
    let mut m = if dir.join(MANIFEST_FILE).exists() {
        Manifest::read(dir)?
    } else {
        let others: Vec<String> = read_names(dir)?
            .into_iter()
            .filter(|n| n != "LOCK" && !(n.starts_with(".MANIFEST.") && is_temp(n)))
            .collect();
        match create {
            Some(new) if others.is_empty() => {
                let m = new();
                m.write(dir)?;
                cleanup.created = true;
                m
            }
            Some(_) => {
                return Err(stop(
                    dir,
                    &format!(
                        "there is no {MANIFEST_FILE}, but the directory holds {} other entr{} ({})",
                        others.len(),
                        if others.len() == 1 { "y" } else { "ies" },
                        others.join(", ")
                    ),
                ))
            }
            None => {
                return Err(Error::invalid_input(format!(
                    "{} is not an iotarc archive (no {MANIFEST_FILE} file); if it was one, \
                     iotarc repair --manifest {} rebuilds the manifest from its segments",
                    dir.display(),
                    dir.display()
                )))
            }
        }
    };
    let survey = survey(dir, &m)?;
    if let Some(why) = &survey.rolled_back {
        return Err(stop(dir, why));
    }
    if let Some(why) = survey.pending_unreadable {
        cleanup.warnings.push(format!(
            "{PENDING_FILE} is unreadable ({why}); no segment was deleted on its account"
        ));
    }
    let mut touched = Vec::new();
    for (path, rule) in survey.deletable {
        match crate::util::fsio::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::from(e).with_path(&path)),
        }
        if let Some(parent) = path.parent() {
            if !touched.iter().any(|p: &PathBuf| p == parent) {
                touched.push(parent.to_path_buf());
            }
        }
        cleanup.removed.push((path, rule));
    }
    for d in &touched {
        sync_dir(&d.join("x"))?;
        if d != dir {
            // Only if it became empty; the `seg/` entry is then synced below.
            if crate::util::fsio::remove_dir(d).is_ok() {
                sync_dir(d)?;
            }
        }
    }
    cleanup.kept = survey.unknown;
    for s in m.segments.iter_mut().filter(|s| s.checksum.is_none()) {
        match crate::format::reader::Segment::open_with_len(dir.join(&s.path), Some(s.bytes)) {
            Ok(seg) => s.checksum = Some(seg.footer_location().1),
            Err(e) => cleanup
                .warnings
                .push(format!("{}: checksum not recorded: {e}", s.path)),
        }
    }
    Ok(Opened {
        lock,
        manifest: m,
        cleanup,
    })
}
