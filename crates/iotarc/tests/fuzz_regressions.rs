//! Replays inputs that once crashed a fuzz target (`fuzz/fuzz_targets/`), kept in
//! `tests/data/fuzz-regressions/<target>-<short-name>.bin`, through the decoder that
//! target drives. Each must return (an error is fine) instead of panicking.
//!
//! Inputs use the target's own framing: for the codec targets, two little-endian bytes
//! of value count (low 15 bits, modulo 4097; the top bit selects a variant) followed by
//! the encoded bytes; for `segment_open`, a mode byte followed by the file. Files for
//! `segment_open` are stored after the fuzz crate's reseal step, so replaying them needs
//! no checksum fixing (the mode byte is ignored here).
//!
//! The fuzz seeds (`fuzz/seeds/<target>/`, valid inputs) are replayed the same way, which
//! keeps them in step with the framing above.

use iotarc::codec::bytes::Cursor;
use iotarc::codec::{boolean, float, gorilla, int, intstream, pco_chunk, string, validity};
use iotarc::format::stats::TypedStats;
use iotarc::{Bitmap, ColumnBuf, ColumnStats, Segment, Series, StrValues, TimeRange, ValueType};
use std::path::{Path, PathBuf};

const MAX_COUNT: usize = 4096;

fn count_and_bytes(data: &[u8]) -> Option<(usize, bool, &[u8])> {
    let (head, rest) = data.split_first_chunk::<2>()?;
    let v = u16::from_le_bytes(*head);
    Some((
        (v & 0x7fff) as usize % (MAX_COUNT + 1),
        v & 0x8000 != 0,
        rest,
    ))
}

/// Decodes everything in a segment, ignoring errors (the fuzz crate's `read_everything`).
fn read_everything(seg: &Segment) {
    let mut ts = Vec::new();
    let mut buf = ColumnBuf::default();
    for i in 0..seg.footer().blocks.len() {
        let Ok(block) = seg.block(i) else { continue };
        let _ = block.timestamps(&mut ts);
        for ci in 0..block.meta().columns.len() {
            let _ = block.column(ci, &mut buf);
        }
    }
    for (d, dev) in seg.devices().iter().enumerate() {
        let mine = || {
            seg.footer()
                .blocks
                .iter()
                .filter(|b| b.device as usize == d)
        };
        let lo = mine().map(|b| b.ts_min).min().unwrap_or(0);
        let hi = mine().map(|b| b.ts_max).max().unwrap_or(0);
        let quarter = ((hi as i128 - lo as i128) / 4) as i64;
        let middle = TimeRange::new(lo + quarter, hi - quarter);
        for ch in seg.channels() {
            for range in [TimeRange::ALL, middle] {
                let _ = seg.aggregate(dev, ch, range);
            }
            let vtype = seg
                .channel_id(ch)
                .and_then(|c| mine().find_map(|b| b.column(c)))
                .map_or(ValueType::F64, |c| c.vtype);
            let mut s = Series::new(vtype);
            let _ = seg.read_series(dev, ch, middle, &mut s);
        }
    }
}

/// Feeds `data` to the decoder of fuzz target `target`.
fn replay(target: &str, data: &[u8]) {
    if target == "wal_replay" {
        // One mode byte, then the file (fuzz/fuzz_targets/wal_replay.rs).
        let Some((_mode, file)) = data.split_first() else {
            return;
        };
        let _ = iotarc::wal::replay_bytes(file, 0, 0, |_, payload| {
            iotarc::stream::PointBatch::decode(payload).map(drop)
        });
        return;
    }
    if target == "index_part" {
        iotarc::archive::index::fuzz_one(data);
        return;
    }
    if target == "segment_open" {
        let Some((_mode, file)) = data.split_first() else {
            return;
        };
        if let Ok(seg) = Segment::from_bytes(file.to_vec()) {
            read_everything(&seg);
        }
        return;
    }
    let Some((n, flag, bytes)) = count_and_bytes(data) else {
        return;
    };
    let mut c = Cursor::new(bytes);
    let _ = match target {
        "decode_int" => {
            let allowed = if flag {
                int::Allowed::DECIMAL_INNER
            } else {
                int::Allowed::ALL
            };
            int::decode(&mut c, allowed, &mut vec![0; n]).map(drop)
        }
        "decode_float" => float::decode(&mut c, &mut vec![0.0; n]).map(drop),
        "decode_intstream" => intstream::decode(&mut c, &mut vec![0; n]),
        "decode_pco" if flag => pco_chunk::decode(&mut c, &mut vec![0i64; n]),
        "decode_pco" => pco_chunk::decode(&mut c, &mut vec![0f64; n]),
        "decode_gorilla" if flag => gorilla::decode_xor(&mut c, &mut vec![0.0; n]),
        "decode_gorilla" => gorilla::decode_dod(&mut c, &mut vec![0; n]),
        "decode_string" => string::decode(&mut c, n, &mut StrValues::default()).map(drop),
        "decode_bool" => boolean::decode(&mut c, &mut vec![false; n]).map(drop),
        "decode_validity" => validity::decode(&mut c, n, &mut Bitmap::new()).map(drop),
        // The ingest targets (parse_csv, parse_jsonl, ...) are replayed by tests/ingest.rs.
        other if other.starts_with("parse_") => return,
        other => panic!("no replay for fuzz target {other:?}"),
    };
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Replays each file, returning the names of those that panicked.
fn replay_all(files: &[(String, PathBuf)]) -> Vec<String> {
    let mut panicked = Vec::new();
    for (target, path) in files {
        let data = std::fs::read(path).unwrap();
        if std::panic::catch_unwind(|| replay(target, &data)).is_err() {
            panicked.push(format!("{target}: {}", path.display()));
        }
    }
    panicked
}

#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    let files: Vec<(String, PathBuf)> = files_in(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            let target = name
                .split_once('-')
                .unwrap_or_else(|| panic!("{name}: expected <target>-<short-name>.bin"))
                .0
                .to_owned();
            (target, p)
        })
        .collect();
    // An empty or missing folder would make this test pass without replaying anything.
    assert!(
        !files.is_empty(),
        "fuzz regression inputs missing in {}",
        dir.display()
    );
    let panicked = replay_all(&files);
    assert!(panicked.is_empty(), "panicked: {panicked:#?}");
}

#[test]
fn fuzz_seeds_replay() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    let mut files = Vec::new();
    for target_dir in files_in_dirs(&seeds) {
        let target = target_dir.file_name().unwrap().to_str().unwrap().to_owned();
        for p in files_in(&target_dir) {
            files.push((target.clone(), p));
        }
    }
    assert!(
        files.len() >= 10,
        "fuzz seeds missing under {}",
        seeds.display()
    );
    let panicked = replay_all(&files);
    assert!(panicked.is_empty(), "panicked: {panicked:#?}");
}

fn files_in_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// segment_open found footer statistics whose i64 sums overflow i128 when merged: a
/// panic with overflow checks, and a silently wrapped sum without (so the no-panic replay
/// above alone would pass in release builds). Merging must report the corruption, with
/// the block whose statistics are bad.
#[test]
fn i64_sum_overflow_in_footer_stats_is_corrupt() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz-regressions/segment_open-i64-sum-overflow.bin");
    let data = std::fs::read(path).unwrap();
    let seg = Segment::from_bytes(data[1..].to_vec()).unwrap();
    let mut errors = Vec::new();
    for dev in seg.devices() {
        for ch in seg.channels() {
            if let Err(e) = seg.aggregate(dev, ch, TimeRange::ALL) {
                errors.push(e);
            }
        }
    }
    assert!(!errors.is_empty(), "the overflowing sum was accepted");
    for e in &errors {
        assert!(e.is_corruption(), "{e}");
        assert!(e.block().is_some(), "{e}");
    }

    let stats = |sum: i128| ColumnStats {
        count: 1,
        first_ts: 0,
        last_ts: 0,
        typed: Some(TypedStats::I64 {
            min: 0,
            max: 0,
            first: 0,
            last: 0,
            sum,
            sumsq: Default::default(),
        }),
    };
    let mut a = stats(i128::MAX);
    assert!(a.merge(&stats(1)).unwrap_err().is_corruption());
    let mut b = stats(i128::MIN);
    assert!(b.merge(&stats(-1)).unwrap_err().is_corruption());
    let mut c = stats(i128::MAX - 1);
    c.merge(&stats(1)).unwrap();
    assert_eq!(c.sum_i128(), Some(i128::MAX));
}
