//! Telling a torn WAL tail from damage, and salvaging a damaged WAL file
//! (`format-spec/wal.md` §7.1 and §9).
//!
//! Replay may cut the newest file only where a crash can explain the bytes: a prefix of
//! the last write, or zero fill after it (T1), with no valid record after it (T2). Any
//! other defect is damage to durable, possibly acknowledged, records; only
//! [`salvage_file`] (`iotarc repair --wal`) changes such a file, after copying it aside,
//! and it keeps every record that is still valid.

use super::{file_header, Defect, DefectKind, HEADER_LEN, MAX_RECORD_LEN, RECORD_HEADER_LEN};
use crate::error::{Error, Result};
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::Xxh3;

/// A valid record found after a defect (wal.md §7.1 T2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidRecord {
    /// Offset of its record header in the file.
    pub offset: u64,
    /// Its seq.
    pub seq: u64,
    /// Its payload length.
    pub len: u32,
}

/// What a defect in the newest WAL file is (wal.md §7.1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TailVerdict {
    /// A crash explains it: replay may cut the file at the defect.
    Torn,
    /// Damage to durable bytes: replay must not cut. `next_valid` is the first valid
    /// record after the defect, when one exists.
    Damaged {
        /// The first valid record after the defect (T2), if any.
        next_valid: Option<ValidRecord>,
    },
}

/// Judges the first defect of the newest WAL file, `bytes` being the whole file and
/// `want` the seq a record at the defect would have had (wal.md §7.1, T1–T4).
///
/// ```
/// use iotarc::wal::{self, file_header, encode_record};
/// use iotarc::wal::damage::{judge_tail, TailVerdict};
/// let mut file = file_header().to_vec();
/// encode_record(&mut file, 0, b"a")?;
/// encode_record(&mut file, 1, b"b")?;
/// let torn = &file[..file.len() - 1]; // the last write cut short
/// let scan = wal::replay_bytes(torn, 0, 0, |_, _| Ok(()))?;
/// assert_eq!(judge_tail(torn, 1, scan.defect.as_ref().unwrap()), TailVerdict::Torn);
///
/// let mut flipped = file.clone();
/// flipped[16 + 20] ^= 1; // a bit of the first record's payload
/// let scan = wal::replay_bytes(&flipped, 0, 0, |_, _| Ok(()))?;
/// let verdict = judge_tail(&flipped, 0, scan.defect.as_ref().unwrap());
/// assert!(matches!(verdict, TailVerdict::Damaged { next_valid: Some(r) } if r.seq == 1));
/// # Ok::<(), iotarc::Error>(())
/// ```
pub fn judge_tail(bytes: &[u8], want: u64, defect: &Defect) -> TailVerdict {
    let p = (defect.offset as usize).min(bytes.len());
    if defect.kind == DefectKind::Header {
        // T4: a header is durable before any record (W2), so only a torn creation may go.
        let torn_creation = bytes.iter().all(|&b| b == 0)
            || (bytes.len() <= HEADER_LEN && file_header().starts_with(bytes));
        if torn_creation {
            return TailVerdict::Torn;
        }
        return TailVerdict::Damaged {
            next_valid: find_valid(bytes, HEADER_LEN, want),
        };
    }
    let zero_fill = bytes[p..].iter().all(|&b| b == 0);
    let prefix_shaped = matches!(
        defect.kind,
        DefectKind::IncompleteHeader | DefectKind::IncompletePayload
    );
    let next_valid = find_valid(bytes, p + 1, want);
    if (zero_fill || prefix_shaped) && next_valid.is_none() {
        TailVerdict::Torn
    } else {
        TailVerdict::Damaged { next_valid }
    }
}

/// The first valid record at an offset ≥ `from` whose seq is at least `want` and at most
/// what the bytes left could hold (wal.md §7.1 T2). A candidate is hashed only after its
/// length and seq fields passed those bounds (T3).
pub fn find_valid(bytes: &[u8], from: usize, want: u64) -> Option<ValidRecord> {
    let total = bytes.len();
    let mut q = from;
    while q + RECORD_HEADER_LEN < total {
        if let Some(r) = record_at(bytes, q, want) {
            return Some(r);
        }
        q += 1;
    }
    None
}

/// The valid record at `q`, if one starts there with a seq in the T2 bounds.
fn record_at(bytes: &[u8], q: usize, want: u64) -> Option<ValidRecord> {
    let total = bytes.len();
    let h = bytes.get(q..q + RECORD_HEADER_LEN)?;
    let len = u32::from_le_bytes(h[0..4].try_into().ok()?);
    if len == 0 || len > MAX_RECORD_LEN {
        return None;
    }
    let end = q + RECORD_HEADER_LEN + len as usize;
    if end > total {
        return None;
    }
    let seq = u64::from_le_bytes(h[4..12].try_into().ok()?);
    let room = ((total - q) / (RECORD_HEADER_LEN + 1)) as u64;
    if seq < want || seq > want.saturating_add(room) || seq == u64::MAX {
        return None;
    }
    let stored = u64::from_le_bytes(h[12..20].try_into().ok()?);
    let mut x = Xxh3::new();
    x.update(&h[..12]);
    x.update(&bytes[q + RECORD_HEADER_LEN..end]);
    (x.digest() == stored).then_some(ValidRecord {
        offset: q as u64,
        seq,
        len,
    })
}

/// What [`salvage_bytes`] keeps of a WAL file and what it gives up (wal.md §9).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Salvage {
    /// Valid records kept, as (seq, byte range of the whole record in the file).
    pub kept: Vec<(u64, Range<usize>)>,
    /// Seqs no valid record holds, between kept records: replaced by empty batches
    /// (S3). Their points are lost.
    pub lost_seqs: Vec<Range<u64>>,
    /// Byte ranges of the file that are neither header nor a kept record.
    pub dropped: Vec<Range<usize>>,
    /// The header was damaged (and is rewritten).
    pub header_damaged: bool,
}

impl Salvage {
    /// True when the file needs no repair: a sound header and nothing dropped.
    pub fn is_clean(&self) -> bool {
        !self.header_damaged && self.dropped.is_empty() && self.lost_seqs.is_empty()
    }

    /// The seq after the last kept record, or `first_seq` if none was kept.
    pub fn end_seq(&self, first_seq: u64) -> u64 {
        self.kept.last().map_or(first_seq, |(s, _)| s + 1)
    }
}

/// Plans the salvage of one WAL file's bytes (wal.md §9, S2–S4) without writing.
pub fn salvage_bytes(bytes: &[u8], first_seq: u64) -> Salvage {
    let mut out = Salvage {
        header_damaged: bytes.len() < HEADER_LEN || bytes[..HEADER_LEN] != file_header(),
        ..Salvage::default()
    };
    let mut pos = HEADER_LEN.min(bytes.len());
    let mut want = first_seq;
    while pos < bytes.len() {
        let found = record_at(bytes, pos, want)
            .filter(|r| r.seq == want)
            .or_else(|| find_valid(bytes, pos, want));
        let Some(r) = found else {
            out.dropped.push(pos..bytes.len());
            break;
        };
        let at = r.offset as usize;
        if at > pos {
            out.dropped.push(pos..at);
        }
        if r.seq > want {
            out.lost_seqs.push(want..r.seq);
        }
        let end = at + RECORD_HEADER_LEN + r.len as usize;
        out.kept.push((r.seq, at..end));
        pos = end;
        want = r.seq + 1;
    }
    out
}

/// The bytes of the salvaged file: the header, then every kept record, with an empty
/// batch record (payload `00 00 00`, wal.md §5) for each lost seq.
pub fn salvaged_file(bytes: &[u8], plan: &Salvage) -> Result<Vec<u8>> {
    let mut out = file_header().to_vec();
    let mut kept = plan.kept.iter().peekable();
    let mut lost = plan.lost_seqs.iter().peekable();
    loop {
        let next_kept = kept.peek().map(|(s, _)| *s);
        let next_lost = lost.peek().map(|r| r.start);
        match (next_kept, next_lost) {
            (None, None) => return Ok(out),
            (Some(k), l) if l.is_none_or(|l| k < l) => {
                if let Some((_, range)) = kept.next() {
                    out.extend_from_slice(&bytes[range.clone()]);
                }
            }
            _ => {
                for seq in lost.next().cloned().unwrap_or_default() {
                    super::encode_record(&mut out, seq, &EMPTY_BATCH)?;
                }
            }
        }
    }
}

/// The payload of an empty point batch: no device, no channel, no point.
pub const EMPTY_BATCH: [u8; 3] = [0, 0, 0];

/// What [`salvage_file`] did (or, dry, would do) to one WAL file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSalvage {
    /// The WAL file.
    pub file: PathBuf,
    /// Its plan.
    pub plan: Salvage,
    /// Where the original was copied (None on a dry run or a clean file).
    pub copy: Option<PathBuf>,
}

/// Salvages the WAL file `path` (first seq `first_seq`) as wal.md §9 says: copies it to
/// `damaged_dir` (S1), then replaces it atomically by its salvaged bytes (S2–S4). With
/// `dry_run`, or when the file needs no repair, nothing is written.
///
/// # Errors
/// I/O errors reading, copying or writing.
pub fn salvage_file(
    path: &Path,
    first_seq: u64,
    damaged_dir: &Path,
    dry_run: bool,
) -> Result<FileSalvage> {
    let bytes = fs::read(path).map_err(|e| Error::from(e).with_path(path))?;
    let plan = salvage_bytes(&bytes, first_seq);
    let mut report = FileSalvage {
        file: path.to_path_buf(),
        plan,
        copy: None,
    };
    if dry_run || report.plan.is_clean() {
        return Ok(report);
    }
    let fixed = salvaged_file(&bytes, &report.plan)?;
    let name = path
        .file_name()
        .map_or_else(|| "wal".into(), |n| n.to_string_lossy().into_owned());
    let copy = crate::util::files::copy_aside(damaged_dir, &name, &bytes)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::util::files::write_atomic(dir, &name, &fixed)?;
    report.copy = Some(copy);
    Ok(report)
}
