//! `PENDING`: the writer's intent for its next commit (`format-spec/archive.md` §4.1).
//!
//! A writer records the generation it is about to commit, and the segments that commit
//! drops, before it writes any segment file. After a crash, the next writer compares it
//! with the manifest's generation to tell an interrupted commit's leftovers (which it
//! deletes) from live segments of a lost or rolled-back manifest (which it must never
//! delete): see [`super::leftovers`].
//!
//! ```text
//! 0  [u8; 8] magic "\x89IOTPND\n"
//! 8  u16     version (1)
//! 10 [u8; 6] reserved (0)
//! 16 u64     body length
//! 24 u64     xxh3-64 of the body
//! 32 ...     body: JSON {"generation": N, "drop": ["seg/...", ...]}
//! ```

use crate::error::{Error, Result};
use crate::util::files::write_atomic;
use serde::{Deserialize, Serialize};
use std::path::Path;
use xxhash_rust::xxh3::xxh3_64;

/// File name of the intent record inside an archive directory.
pub const PENDING_FILE: &str = "PENDING";
const MAGIC: [u8; 8] = *b"\x89IOTPND\n";
const VERSION: u16 = 1;
const ENVELOPE: usize = 32;
const MAX_BODY: u64 = 1 << 30;

/// The intent of the commit a writer is about to make.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The generation the writer is about to commit.
    pub generation: u64,
    /// Paths of the live segments that commit drops (compaction inputs).
    #[serde(default)]
    pub drop: Vec<String>,
}

/// What reading `PENDING` found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PendingState {
    /// No `PENDING` file.
    Absent,
    /// A valid intent.
    Valid(Pending),
    /// A file that fails the checks of archive.md §4.1; writers treat it as absent
    /// (which only makes them delete less). The string says what is wrong.
    Unreadable(String),
}

impl Pending {
    /// Reads `dir/PENDING`.
    ///
    /// # Errors
    /// I/O errors other than the file not existing. Bad bytes are not an error but
    /// [`PendingState::Unreadable`].
    ///
    /// ```
    /// use iotarc::archive::pending::{Pending, PendingState};
    /// let dir = tempfile::tempdir()?;
    /// assert_eq!(Pending::read(dir.path())?, PendingState::Absent);
    /// let p = Pending { generation: 4, drop: vec!["seg/2024-01-01/g000002-0001.seg".into()] };
    /// p.write(dir.path())?;
    /// assert_eq!(Pending::read(dir.path())?, PendingState::Valid(p));
    /// # Ok::<(), iotarc::Error>(())
    /// ```
    pub fn read(dir: &Path) -> Result<PendingState> {
        let path = dir.join(PENDING_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PendingState::Absent),
            Err(e) => return Err(Error::from(e).with_path(&path)),
        };
        Ok(match Self::parse(&bytes) {
            Ok(p) => PendingState::Valid(p),
            Err(why) => PendingState::Unreadable(why),
        })
    }

    fn parse(bytes: &[u8]) -> std::result::Result<Pending, String> {
        if bytes.len() < ENVELOPE {
            return Err(format!("{} bytes, shorter than its envelope", bytes.len()));
        }
        if bytes[..8] != MAGIC {
            return Err("magic does not match".into());
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != VERSION || bytes[10..16] != [0; 6] {
            return Err(format!(
                "version {version} or reserved bytes not understood"
            ));
        }
        let u64_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[o..o + 8]);
            u64::from_le_bytes(b)
        };
        let len = u64_at(16);
        if len > MAX_BODY || len != (bytes.len() - ENVELOPE) as u64 {
            return Err(format!("body length {len} does not match the file"));
        }
        let body = &bytes[ENVELOPE..];
        if xxh3_64(body) != u64_at(24) {
            return Err("checksum mismatch".into());
        }
        let p: Pending = serde_json::from_slice(body).map_err(|e| format!("JSON: {e}"))?;
        if let Some(bad) = p.drop.iter().find(|d| !super::manifest::is_segment_path(d)) {
            return Err(format!("drop path {bad:?} is not seg/<label>/<name>"));
        }
        Ok(p)
    }

    /// Writes `dir/PENDING` atomically (temp file, fsync, rename, fsync the directory).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let body =
            serde_json::to_vec(self).map_err(|e| Error::invalid_input(format!("PENDING: {e}")))?;
        let mut out = Vec::with_capacity(ENVELOPE + body.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&[0; 6]);
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&xxh3_64(&body).to_le_bytes());
        out.extend_from_slice(&body);
        write_atomic(dir, PENDING_FILE, &out)
    }
}

/// Records, before any file of it is written, that the next commit is `generation` and
/// drops `drop` (archive.md §4 step 3).
///
/// # Errors
/// I/O errors.
pub(crate) fn announce(dir: &Path, generation: u64, drop: Vec<String>) -> Result<()> {
    Pending { generation, drop }.write(dir)
}

/// Removes `PENDING` once its commit and the deletions it announced are done. Not
/// synced: if a crash loses the removal, the file names a committed generation, which
/// rule L4 handles. Removing it is what lets a later writer tell a manifest rolled back
/// by one generation (no `PENDING`, so L5 stops it) from an interrupted commit (L3).
pub(crate) fn clear(dir: &Path) {
    let _ = crate::util::fsio::remove_file(&dir.join(PENDING_FILE));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every truncation and every single-byte change of a valid file reads as
    /// `Unreadable` (never as a different intent, never a panic): writers then delete
    /// nothing on its account (archive.md §4.1).
    #[test]
    fn damaged_pending_is_unreadable_never_a_different_intent() {
        let dir = tempfile::tempdir().unwrap();
        let p = Pending {
            generation: 7,
            drop: vec!["seg/2024-01-01/g000003-0002.seg".into()],
        };
        p.write(dir.path()).unwrap();
        let path = dir.path().join(PENDING_FILE);
        let good = std::fs::read(&path).unwrap();
        for cut in 0..good.len() {
            std::fs::write(&path, &good[..cut]).unwrap();
            let got = Pending::read(dir.path()).unwrap();
            assert!(
                matches!(got, PendingState::Unreadable(_)),
                "cut {cut}: {got:?}"
            );
        }
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x20;
            std::fs::write(&path, &b).unwrap();
            let got = Pending::read(dir.path()).unwrap();
            assert!(
                matches!(got, PendingState::Unreadable(_)),
                "flip {i}: {got:?}"
            );
        }
    }

    #[test]
    fn drop_paths_outside_seg_make_it_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x.seg", "/etc/passwd", "seg/../../x", "seg/a"] {
            Pending {
                generation: 2,
                drop: vec![bad.into()],
            }
            .write(dir.path())
            .unwrap();
            let got = Pending::read(dir.path()).unwrap();
            assert!(matches!(got, PendingState::Unreadable(_)), "{bad}: {got:?}");
        }
    }
}
