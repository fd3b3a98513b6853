//! WAL replay on arbitrary bytes: `wal::replay_bytes` (the parser `replay` runs
//! on every file) and `PointBatch::decode` on every record it delivers. Must return,
//! never panic, and:
//! - deliver consecutive seqs, none below `from_seq`;
//! - report a defect inside the input, and scanning the input cut at the defect must
//!   give the same records and no defect (truncating a torn tail leaves a clean file);
//! - every payload that decodes as a batch re-encodes to a batch that decodes equal.
//!
//! Input: one mode byte, then the file.
//! - bit 0: reseal first: walk the records as framed, set each seq field to the expected
//!   seq and recompute each checksum, so mutations reach the batch decoder;
//! - bits 1-2: the first seq the file name gives: 0, 1, `u64::MAX - 2` or `u64::MAX`;
//! - bits 3-4: `from_seq` = first seq + 0, 1, 2 or `u64::MAX` (wrapping);
//! - bits 5-7 all set: also write the file into a temporary directory (on /dev/shm
//!   when it exists) as its only (so newest) WAL file and run the file-based `replay`
//!   twice: the first must agree with `replay_bytes` and truncate exactly the defect,
//!   the second must find a clean log; or, when the defect is damage a crash cannot
//!   explain (wal.md §7.1), fail with `Corrupt` without changing the file, and salvage
//!   (§9) must keep every record before the damage in a file that replays cleanly.
#![no_main]

use iotarc::wal::batch::PointBatch;
use iotarc::wal::{self, HEADER_LEN, MAX_RECORD_LEN, RECORD_HEADER_LEN};
use iotarc::wal::damage::{judge_tail, salvage_bytes, salvaged_file, TailVerdict};
use libfuzzer_sys::fuzz_target;
use xxhash_rust::xxh3::xxh3_64;

/// Sets every framed record's seq to `first + i` and recomputes its checksum.
fn reseal(file: &mut [u8], first: u64) {
    let mut pos = HEADER_LEN;
    let mut seq = first;
    while pos + RECORD_HEADER_LEN <= file.len() {
        let len = u32::from_le_bytes(file[pos..pos + 4].try_into().unwrap());
        let end = pos + RECORD_HEADER_LEN + len as usize;
        if len == 0 || len > MAX_RECORD_LEN || end > file.len() {
            return;
        }
        file[pos + 4..pos + 12].copy_from_slice(&seq.to_le_bytes());
        let mut covered = file[pos..pos + 12].to_vec();
        covered.extend_from_slice(&file[pos + RECORD_HEADER_LEN..end]);
        file[pos + 12..pos + 20].copy_from_slice(&xxh3_64(&covered).to_le_bytes());
        pos = end;
        seq = seq.wrapping_add(1);
    }
}

fn check_batch(payload: &[u8]) {
    if let Ok(b) = PointBatch::decode(payload) {
        let mut again = Vec::new();
        b.encode(&mut again);
        assert!(again.len() <= payload.len(), "canonical encoding is longer");
        assert_eq!(PointBatch::decode(&again).expect("re-encoded batch"), b);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    let first = [0, 1, u64::MAX - 2, u64::MAX][(mode >> 1 & 3) as usize];
    let from = first.wrapping_add([0, 1, 2, u64::MAX][(mode >> 3 & 3) as usize]);
    if mode & 1 == 1 {
        reseal(&mut file, first);
    }
    let mut seqs = Vec::new();
    let Ok(scan) = wal::replay_bytes(&file, first, from, |seq, payload| {
        seqs.push(seq);
        check_batch(payload);
        Ok(())
    }) else {
        return; // unsupported version
    };
    assert_eq!(seqs.len() as u64, scan.delivered);
    assert!(scan.delivered <= scan.records);
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1);
    }
    assert!(seqs.iter().all(|&s| s >= from && s >= first));
    if let Some(d) = &scan.defect {
        assert!(d.offset <= file.len() as u64);
        assert_eq!(d.offset + d.bytes, file.len() as u64);
        if d.offset >= HEADER_LEN as u64 {
            let cut = wal::replay_bytes(&file[..d.offset as usize], first, from, |_, _| Ok(()))
                .expect("cut file");
            assert_eq!((cut.records, cut.delivered), (scan.records, scan.delivered));
            assert_eq!(cut.defect, None);
        } else {
            assert_eq!(scan.records, 0);
        }
    }

    if mode & 0xe0 == 0xe0 {
        // tmpfs where there is one: replay fsyncs what it truncates.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .unwrap();
        let path = dir.path().join(wal::file_name(first));
        std::fs::write(&path, &file).unwrap();
        let mut seen = Vec::new();
        let all = wal::replay_bytes(&file, first, first, |_, _| Ok(())).unwrap();
        let torn = all.defect.as_ref().is_none_or(|d| {
            judge_tail(&file, first.saturating_add(all.records), d) == TailVerdict::Torn
        });
        let report = match wal::replay(dir.path(), first, |seq, _| {
            seen.push(seq);
            Ok(())
        }) {
            Ok(r) => r,
            Err(e) => {
                // Damage a crash cannot explain (wal.md §7.1): reported, nothing cut.
                assert!(!torn, "a torn tail was reported as {e}");
                assert!(matches!(e.kind(), iotarc::ErrorKind::Corrupt { .. }), "{e}");
                assert_eq!(std::fs::read(&path).unwrap(), file, "damage was cut");
                // Salvage (wal.md §9) keeps at least the records before the damage and
                // leaves a file that replays cleanly.
                let plan = salvage_bytes(&file, first);
                assert!(plan.kept.len() as u64 >= all.records);
                let fixed = salvaged_file(&file, &plan).unwrap();
                let again = wal::replay_bytes(&fixed, first, first, |_, _| Ok(())).unwrap();
                assert_eq!(again.defect, None);
                return;
            }
        };
        assert!(torn, "damage was cut as a tail");
        assert_eq!(report.records, all.delivered);
        assert_eq!(report.next_seq, first.saturating_add(all.records));
        assert_eq!(
            report.truncated.as_ref().map(|t| (t.offset, t.bytes)),
            all.defect.as_ref().map(|d| (d.offset, d.bytes))
        );
        let again = wal::replay(dir.path(), first, |_, _| Ok(())).expect("second replay");
        assert_eq!(again.truncated, None);
        assert_eq!(
            (again.records, again.next_seq),
            (report.records, report.next_seq)
        );
    }
});
