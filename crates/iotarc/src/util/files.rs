//! Durable file operations shared by every on-disk structure: atomic replacement,
//! directory fsyncs, durable directory creation and copies set aside before a repair.

use super::fsio;
use crate::error::{Error, Result};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Replaces `dir/name` with `bytes` atomically: writes `dir/.<name>.<pid>.tmp`, fsyncs
/// it, renames it over `name` and fsyncs `dir`. Readers see the old file or the new one,
/// whole, and a crash leaves at most the temp file behind.
///
/// # Errors
/// I/O errors, with the temp file's path.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let io = |e: std::io::Error| Error::from(e).with_path(&tmp);
    let mut f = fsio::File::open(
        OpenOptions::new().write(true).create(true).truncate(true),
        &tmp,
    )
    .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    let dst = dir.join(name);
    fsio::rename(&tmp, &dst).map_err(io)?;
    sync_dir(&dst)
}

/// fsyncs the directory holding `path`, so a rename into it survives a crash.
pub fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    sync_directory(dir)
}

/// fsyncs the directory `dir` itself, so that file creations, renames and deletions in
/// it are durable.
///
/// # Errors
/// I/O errors, with the directory's path.
pub fn sync_directory(dir: &Path) -> Result<()> {
    fsio::sync_dir(dir).map_err(|e| Error::from(e).with_path(dir))
}

/// Creates `sub` (a directory below the archive directory `dir`) and fsyncs each parent
/// up to `dir`, so that a power loss cannot drop the new directory's entry, and with it
/// a segment a committed manifest lists.
///
/// # Errors
/// I/O errors.
pub fn create_dir_durably(dir: &Path, sub: &Path) -> Result<()> {
    fsio::create_dir_all(sub).map_err(|e| Error::from(e).with_path(sub))?;
    let mut p = sub;
    while p != dir {
        let Some(parent) = p.parent() else { break };
        sync_directory(parent)?;
        p = parent;
    }
    Ok(())
}

/// Keeps `bytes` (what a repair is about to replace) as `dir/<name>.<unix seconds>`, or
/// `.<k>` after it if that exists, written atomically; creates `dir`. Returns the path.
///
/// # Errors
/// I/O errors.
pub(crate) fn copy_aside(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    fsio::create_dir_all(dir).map_err(|e| Error::from(e).with_path(dir))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut copy = format!("{name}.{stamp}");
    let mut k = 1;
    while dir.join(&copy).exists() {
        copy = format!("{name}.{stamp}.{k}");
        k += 1;
    }
    write_atomic(dir, &copy, bytes)?;
    Ok(dir.join(copy))
}
