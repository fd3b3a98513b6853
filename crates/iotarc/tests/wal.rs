//! The write-ahead log (`iotarc::wal`) and its record payload
//! (`iotarc::wal::batch::PointBatch`): bit-exact batch round trips, replay across
//! rotated files, torn tails cut at every byte, byte flips in the newest and in older
//! files, zero-filled tails, `remove_below`, and the `wal_replay` fuzz seeds and
//! regression inputs.

use iotarc::model::Value;
use iotarc::wal::batch::{BatchBuilder, PointBatch};
use iotarc::wal::damage::{salvage_file, EMPTY_BATCH};
use iotarc::wal::{
    self, file_header, file_name, replay, replay_bytes, ReplayReport, WalOptions, WalWriter,
    HEADER_LEN, MAX_RECORD_LEN, RECORD_HEADER_LEN,
};
use iotarc::{Error, ErrorKind};
use proptest::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod common;
use common::*;

// ---------------------------------------------------------------------------------------
// PointBatch

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(|b| Value::F64(f64::from_bits(b))),
        prop::sample::select(vec![
            -0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::from_bits(0x7ff8_0000_0000_0001),
            f64::from_bits(0xfff0_0000_0000_0001),
            f64::from_bits(1),
        ])
        .prop_map(Value::F64),
        any::<i64>().prop_map(Value::I64),
        prop::sample::select(vec![i64::MIN, i64::MAX, 0, -1]).prop_map(Value::I64),
        any::<bool>().prop_map(Value::Bool),
        "\\PC{0,12}".prop_map(Value::Str),
        Just(Value::Str(String::new())),
    ]
}

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        prop::sample::select(vec![i64::MIN, i64::MAX, 0, -1, 1_700_000_000_000_000]),
        (1_700_000_000_000_000i64..1_700_000_100_000_000),
    ]
}

/// Names from a small pool, so that batches repeat them.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["", "dev-0", "dev-1", "温度", "🌡️ sensor", "a\0b"])
            .prop_map(str::to_owned),
        "\\PC{0,10}",
    ]
}

fn batch() -> impl Strategy<Value = PointBatch> {
    prop::collection::vec((name(), name(), timestamp(), value()), 0..60).prop_map(|pts| {
        let mut b = PointBatch::default();
        for (d, c, ts, v) in pts {
            b.push(&d, &c, ts, v);
        }
        b
    })
}

fn assert_bit_exact(a: &PointBatch, b: &PointBatch) {
    assert_eq!(a.devices, b.devices);
    assert_eq!(a.channels, b.channels);
    assert_eq!(a.points.len(), b.points.len());
    for (p, q) in a.points.iter().zip(&b.points) {
        assert_eq!((p.0, p.1, p.2), (q.0, q.1, q.2));
        match (&p.3, &q.3) {
            (Value::F64(x), Value::F64(y)) => assert_eq!(x.to_bits(), y.to_bits()),
            (Value::I64(x), Value::I64(y)) => assert_eq!(x, y),
            (Value::Bool(x), Value::Bool(y)) => assert_eq!(x, y),
            (Value::Str(x), Value::Str(y)) => assert_eq!(x, y),
            (x, y) => panic!("value kind changed: {x:?} vs {y:?}"),
        }
    }
}

proptest! {
    #[test]
    fn batch_roundtrip_is_bit_exact(b in batch()) {
        let mut bytes = vec![0xaa]; // encode appends
        b.encode(&mut bytes);
        prop_assert_eq!(bytes[0], 0xaa);
        let back = PointBatch::decode(&bytes[1..]).unwrap();
        assert_bit_exact(&b, &back);
        prop_assert_eq!(&back, &b);
        // Canonical: re-encoding gives the same bytes.
        let mut again = Vec::new();
        back.encode(&mut again);
        prop_assert_eq!(&again[..], &bytes[1..]);
        // Names are unique and every index is in range.
        for (d, c, _, _) in &b.points {
            prop_assert!((*d as usize) < b.devices.len() && (*c as usize) < b.channels.len());
        }
    }

    #[test]
    fn batch_decode_never_panics_on_mutations(
        b in batch(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = Vec::new();
        b.encode(&mut bytes);
        for (i, x) in &edits {
            let i = i.index(bytes.len());
            bytes[i] ^= x | 1;
        }
        let n = cut.index(bytes.len() + 1);
        for input in [&bytes[..], &bytes[..n]] {
            if let Ok(d) = PointBatch::decode(input) {
                let mut again = Vec::new();
                d.encode(&mut again);
                prop_assert_eq!(PointBatch::decode(&again).unwrap(), d);
            }
        }
    }

    #[test]
    fn batch_decode_never_panics_on_noise(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = PointBatch::decode(&bytes);
    }
}

#[test]
fn batch_extremes_roundtrip() {
    let mut b = PointBatch::default();
    let nan = f64::from_bits(0x7ff4_dead_beef_0001);
    b.push("d", "c", i64::MIN, Value::F64(nan));
    b.push("d", "c", i64::MAX, Value::F64(-0.0));
    b.push("d", "c", i64::MIN, Value::I64(i64::MIN));
    b.push("d", "c", 0, Value::I64(i64::MAX));
    let mut bytes = Vec::new();
    b.encode(&mut bytes);
    let back = PointBatch::decode(&bytes).unwrap();
    assert_bit_exact(&b, &back);
}

/// Measures encode and decode speed of f64 point batches (the WAL's payload on the
/// ingest path). Prints points/s; run with `--nocapture` to see it. The assertion is
/// a loose floor (the target is well over 20 M points/s each) so a loaded machine does
/// not fail it.
#[test]
fn batch_codec_speed() {
    let devices = 100;
    let mut b = PointBatch::default();
    let t0 = 1_700_000_000_000_000i64;
    for i in 0..100_000i64 {
        let d = format!("sensor-{:04}", i % devices);
        let ts = t0 + (i / devices) * 1_000_000 + (i * 7919) % 5000;
        b.push(
            &d,
            "temperature",
            ts,
            Value::F64(20.0 + (i % 97) as f64 / 10.0),
        );
    }
    let n = b.len() as f64;
    let mut bytes = Vec::new();
    let reps = 20;
    let start = Instant::now();
    for _ in 0..reps {
        bytes.clear();
        b.encode(&mut bytes);
    }
    let enc = n * reps as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut total = 0;
    for _ in 0..reps {
        total += PointBatch::decode(&bytes).unwrap().len();
    }
    let dec = n * reps as f64 / start.elapsed().as_secs_f64();
    assert_eq!(total, b.len() * reps);
    // Interning: 100 devices interleaved point by point, the worst case for push's
    // previous-point hints.
    let names: Vec<(&str, &str)> = b
        .points
        .iter()
        .map(|(d, c, _, _)| {
            (
                b.devices[*d as usize].as_str(),
                b.channels[*c as usize].as_str(),
            )
        })
        .collect();
    let start = Instant::now();
    let mut pushed = PointBatch::default();
    for ((d, c), (_, _, ts, v)) in names.iter().zip(&b.points) {
        pushed.push(d, c, *ts, v.clone());
    }
    let push = n / start.elapsed().as_secs_f64();
    assert_eq!(pushed, b);
    let start = Instant::now();
    let mut built = BatchBuilder::default();
    for ((d, c), (_, _, ts, v)) in names.iter().zip(&b.points) {
        built.push(d, c, *ts, v.clone());
    }
    let build = n / start.elapsed().as_secs_f64();
    assert_eq!(built.take(), b);
    println!(
        "PointBatch f64 points: encode {:.1} M/s, decode {:.1} M/s; interning 100 \
         interleaved devices: push {:.1} M/s, BatchBuilder {:.1} M/s ({:.2} bytes/point)",
        enc / 1e6,
        dec / 1e6,
        push / 1e6,
        build / 1e6,
        bytes.len() as f64 / n
    );
    if !cfg!(debug_assertions) {
        assert!(
            enc > 5e6 && dec > 5e6,
            "encode {enc:.0}/s, decode {dec:.0}/s"
        );
    }
}

// ---------------------------------------------------------------------------------------
// WAL helpers

/// A small, valid batch payload for record `i`, of varying size.
fn payload(i: u64) -> Vec<u8> {
    let mut b = PointBatch::default();
    for k in 0..(1 + i % 3) {
        b.push(
            &format!("dev-{}", i % 5),
            ["t", "h", "on"][k as usize],
            1_700_000_000_000_000 + i as i64 * 1000 + k as i64,
            match k {
                0 => Value::F64(i as f64 / 3.0),
                1 => Value::I64(-(i as i64)),
                _ => Value::Bool(i.is_multiple_of(2)),
            },
        );
    }
    let mut out = Vec::new();
    b.encode(&mut out);
    out
}

fn small_files() -> WalOptions {
    WalOptions {
        max_file_bytes: 300,
    }
}

/// Writes records `first..first + n` (syncing every `per_sync`) and returns the writer.
fn write_log(dir: &Path, first: u64, n: u64, per_sync: u64, opts: WalOptions) -> WalWriter {
    let mut w = WalWriter::create(dir, first, opts).unwrap();
    for i in first..first + n {
        assert_eq!(w.append(&payload(i)).unwrap(), i);
        if (i - first + 1).is_multiple_of(per_sync) {
            w.sync().unwrap();
        }
    }
    w.sync().unwrap();
    assert_eq!(w.durable_seq(), first + n);
    w
}

type Records = Vec<(u64, Vec<u8>)>;

fn replay_all(dir: &Path, from: u64) -> Result<(ReplayReport, Records), Error> {
    let mut v = Vec::new();
    let r = replay(dir, from, |seq, p| {
        v.push((seq, p.to_vec()));
        Ok(())
    })?;
    assert_eq!(r.records, v.len() as u64);
    Ok((r, v))
}

/// Checks that `got` holds exactly records `from..to` with their original payloads.
fn assert_records(got: &[(u64, Vec<u8>)], from: u64, to: u64) {
    let seqs: Vec<u64> = got.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (from..to).collect::<Vec<_>>());
    for (seq, p) in got {
        assert_eq!(p, &payload(*seq), "payload of record {seq}");
        PointBatch::decode(p).unwrap();
    }
}

fn wal_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    wal::list_files(dir).unwrap()
}

/// (offset, length) of every record in a WAL file.
fn record_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        spans.push((pos, RECORD_HEADER_LEN + len));
        pos += RECORD_HEADER_LEN + len;
    }
    assert_eq!(pos, bytes.len());
    spans
}

fn is_corrupt_at(e: &Error, path: &Path) -> Option<u64> {
    assert_eq!(e.path(), Some(path), "{e}");
    match e.kind() {
        ErrorKind::Corrupt { offset, .. } => *offset,
        k => panic!("expected Corrupt, got {k:?}: {e}"),
    }
}

// ---------------------------------------------------------------------------------------
// WAL

#[test]
fn replay_across_rotated_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let n = 60;
    let w = write_log(&dir, 0, n, 3, small_files());
    let files = wal_files(&dir);
    assert!(files.len() >= 4, "only {} files", files.len());
    // Rotated files are larger than the limit only by what one sync wrote.
    for (first, path) in &files[..files.len() - 1] {
        assert!(fs::metadata(path).unwrap().len() > 300, "{first}");
    }
    assert_eq!(w.current_file(), files.last().unwrap().1);
    drop(w);

    let (r, got) = replay_all(&dir, 0).unwrap();
    assert_records(&got, 0, n);
    assert_eq!((r.files, r.next_seq, r.truncated), (files.len(), n, None));

    // From a seq in the middle of the third file, and from every file boundary.
    let mid = files[2].0 + 1;
    let (r, got) = replay_all(&dir, mid).unwrap();
    assert_records(&got, mid, n);
    assert_eq!(r.next_seq, n);
    for (first, _) in &files {
        let (_, got) = replay_all(&dir, *first).unwrap();
        assert_records(&got, *first, n);
    }
    // From beyond the end: nothing to replay, next_seq is from_seq.
    let (r, got) = replay_all(&dir, n + 5).unwrap();
    assert!(got.is_empty());
    assert_eq!(r.next_seq, n + 5);
}

#[test]
fn skipped_files_are_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    write_log(&dir, 0, 40, 2, small_files());
    let files = wal_files(&dir);
    // Corrupt the first file: replay from the second file's first seq never reads it.
    let mut bytes = fs::read(&files[0].1).unwrap();
    bytes[HEADER_LEN + 5] ^= 0xff;
    fs::write(&files[0].1, &bytes).unwrap();
    let (_, got) = replay_all(&dir, files[1].0).unwrap();
    assert_records(&got, files[1].0, 40);
    let e = replay_all(&dir, 0).unwrap_err();
    assert_eq!(is_corrupt_at(&e, &files[0].1), Some(HEADER_LEN as u64));
}

#[test]
fn empty_and_missing_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let (r, got) = replay_all(&dir, 7).unwrap();
    assert!(got.is_empty());
    assert_eq!((r.files, r.next_seq, r.truncated), (0, 7, None));
    // A fresh writer at 7, nothing appended: replay sees a valid empty file.
    let mut w = WalWriter::create(&dir, 7, WalOptions::default()).unwrap();
    w.sync().unwrap();
    drop(w);
    let (r, got) = replay_all(&dir, 7).unwrap();
    assert!(got.is_empty());
    assert_eq!((r.files, r.next_seq, r.truncated), (1, 7, None));
    // ... and a new writer reuses it.
    let mut w = WalWriter::create(&dir, 7, WalOptions::default()).unwrap();
    w.append(&payload(7)).unwrap();
    w.sync().unwrap();
    let (_, got) = replay_all(&dir, 7).unwrap();
    assert_records(&got, 7, 8);
}

#[test]
fn create_refuses_to_break_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    write_log(&dir, 10, 5, 5, WalOptions::default());
    for next in [0, 9, 10] {
        let e = WalWriter::create(&dir, next, WalOptions::default()).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidInput { .. }), "{e}");
    }
    let mut w = WalWriter::create(&dir, 15, WalOptions::default()).unwrap();
    assert!(w.append(b"").is_err());
    assert!(w.append(&vec![0; MAX_RECORD_LEN as usize + 1]).is_err());
    assert_eq!(w.next_seq(), 15);
}

/// Builds a log whose newest file holds several records, then cuts that file at every
/// byte offset inside its last two records. Replay must return exactly the records
/// complete before the cut, report (and perform) the truncation, and a writer created
/// afterwards must continue the log so that a second replay sees old and new records.
#[test]
fn torn_tail_at_every_offset_of_the_last_two_records() {
    let tmp = tempfile::tempdir().unwrap();
    let pristine = tmp.path().join("pristine");
    let n = 30;
    write_log(&pristine, 0, n, 1, small_files());
    // The last sync may have rotated to an empty file: add records to the newest file
    // (a new writer reuses an empty file for the same seq).
    let n = n + 4;
    let mut w = WalWriter::create(&pristine, 30, WalOptions::default()).unwrap();
    for s in 30..n {
        w.append(&payload(s)).unwrap();
    }
    w.sync().unwrap();
    drop(w);
    let files = wal_files(&pristine);
    let (newest_first, newest) = files.last().unwrap().clone();
    let name = newest.file_name().unwrap().to_owned();
    let bytes = fs::read(&newest).unwrap();
    let spans = record_spans(&bytes);
    assert!(
        spans.len() >= 2,
        "newest file holds {} records",
        spans.len()
    );
    let from_off = spans[spans.len() - 2].0;

    let mut trial = 0;
    for cut in from_off..=bytes.len() {
        trial += 1;
        let dir = tmp.path().join(format!("t{trial}"));
        copy_dir(&pristine, &dir);
        let f = fs::OpenOptions::new()
            .write(true)
            .open(dir.join(&name))
            .unwrap();
        f.set_len(cut as u64).unwrap();
        drop(f);

        let complete = spans.iter().filter(|(o, l)| o + l <= cut).count() as u64;
        let boundary = spans
            .iter()
            .map(|(o, l)| o + l)
            .filter(|&e| e <= cut)
            .max()
            .unwrap_or(HEADER_LEN);
        let end = newest_first + complete;
        let (r, got) = replay_all(&dir, 0).unwrap();
        assert_records(&got, 0, end);
        assert_eq!(r.next_seq, end, "cut {cut}");
        if cut == boundary {
            assert_eq!(r.truncated, None, "cut {cut} at a record boundary");
        } else {
            let t = r.truncated.as_ref().expect("truncation reported");
            assert_eq!(t.file, dir.join(&name));
            assert_eq!(
                (t.offset, t.bytes),
                (boundary as u64, (cut - boundary) as u64)
            );
            assert!(t.reason.contains("incomplete"), "cut {cut}: {}", t.reason);
        }
        assert_eq!(
            fs::metadata(dir.join(&name)).unwrap().len(),
            boundary as u64,
            "file cut to its last complete record"
        );

        let mut w = WalWriter::create(&dir, r.next_seq, small_files()).unwrap();
        for s in end..end + 3 {
            assert_eq!(w.append(&payload(s)).unwrap(), s);
        }
        w.sync().unwrap();
        drop(w);
        let (r2, got) = replay_all(&dir, 0).unwrap();
        assert_records(&got, 0, end + 3);
        assert_eq!((r2.next_seq, r2.truncated), (end + 3, None));
        fs::remove_dir_all(&dir).unwrap();
    }
    assert!(trial > 40);
}

/// A newest file cut inside its header (a crash right after it was created) holds no
/// record: replay deletes it and the log continues from the previous file's end.
#[test]
fn torn_header_of_the_newest_file() {
    let tmp = tempfile::tempdir().unwrap();
    let pristine = tmp.path().join("pristine");
    let w = write_log(&pristine, 0, 20, 1, small_files());
    let files = wal_files(&pristine);
    drop(w);
    let prev_end = files.last().unwrap().0;
    // Pretend the writer had just rotated: drop the newest file's records, then cut its
    // header short (or zero it, as a crash can leave the size but not the bytes).
    for cut in 0..=HEADER_LEN {
        for zeroed in [false, true] {
            let dir = tmp.path().join(format!("h{cut}-{zeroed}"));
            copy_dir(&pristine, &dir);
            let newest = dir.join(file_name(prev_end));
            let mut h = file_header()[..cut].to_vec();
            if zeroed {
                h.fill(0);
            }
            fs::write(&newest, &h).unwrap();
            let (r, got) = replay_all(&dir, 0).unwrap();
            assert_records(&got, 0, prev_end);
            assert_eq!(r.next_seq, prev_end);
            if cut == HEADER_LEN && !zeroed {
                assert_eq!(r.truncated, None);
                assert!(newest.exists());
            } else {
                let t = r.truncated.unwrap();
                assert_eq!((t.offset, t.bytes), (0, cut as u64));
                assert!(!newest.exists(), "cut {cut}: torn newest file removed");
            }
            let mut w = WalWriter::create(&dir, r.next_seq, small_files()).unwrap();
            w.append(&payload(prev_end)).unwrap();
            w.sync().unwrap();
            drop(w);
            let (r, got) = replay_all(&dir, 0).unwrap();
            assert_records(&got, 0, prev_end + 1);
            assert_eq!(r.truncated, None);
        }
    }
}

/// wal.md §7.1 T1: a crash leaves a prefix of its last write, never changed bytes inside
/// a complete record. A flipped byte in the newest file's last record is therefore
/// damage: replay reports it as `Corrupt` and cuts nothing, unless the flip made the
/// length field promise more bytes than the file holds, which is what a torn write
/// looks like (the one case bit rot and a tear cannot be told apart).
#[test]
fn byte_flips_in_the_last_record_are_corrupt_not_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    write_log(&dir, 0, 25, 1, small_files());
    let (newest_first, newest) = wal_files(&dir).last().unwrap().clone();
    let bytes = fs::read(&newest).unwrap();
    let spans = record_spans(&bytes);
    let (off, len) = *spans.last().unwrap();
    let end = newest_first + spans.len() as u64 - 1;
    let (mut cut, mut corrupt) = (0, 0);
    for i in off..off + len {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            fs::write(&newest, &b).unwrap();
            let flipped_len = u32::from_le_bytes(b[off..off + 4].try_into().unwrap()) as usize;
            let looks_torn = i < off + 4
                && flipped_len <= MAX_RECORD_LEN as usize
                && flipped_len > len - RECORD_HEADER_LEN;
            match replay_all(&dir, 0) {
                Ok((r, got)) => {
                    assert!(looks_torn, "flip {mask:#x} at {i} was cut as a tail");
                    assert_records(&got, 0, end);
                    let t = r.truncated.expect("cut reported");
                    assert_eq!((t.offset, t.bytes), (off as u64, len as u64));
                    assert_eq!(fs::metadata(&newest).unwrap().len(), off as u64);
                    cut += 1;
                }
                Err(e) => {
                    assert!(!looks_torn, "flip {mask:#x} at {i}: {e}");
                    assert_eq!(is_corrupt_at(&e, &newest), Some(off as u64), "{e}");
                    assert!(e.to_string().contains("iotarc repair --wal"), "{e}");
                    assert_eq!(fs::read(&newest).unwrap(), b, "nothing cut");
                    corrupt += 1;
                }
            }
        }
    }
    assert!(corrupt > 10 * cut, "{corrupt} corrupt, {cut} cut");
}

/// The review's case: one flipped bit in the middle of the newest file, acknowledged
/// records after it. Replay used to call the rest a torn tail and cut every later
/// record. Now it is `Corrupt` (T2 finds the next valid record), nothing is cut, and
/// salvage (wal.md §9) keeps every record but the damaged one, whose seq becomes an
/// empty batch.
#[test]
fn damage_before_valid_records_is_corrupt_and_salvage_keeps_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    write_log(&dir, 0, 40, 40, WalOptions::default());
    let (first, newest) = wal_files(&dir).last().unwrap().clone();
    let bytes = fs::read(&newest).unwrap();
    let spans = record_spans(&bytes);
    let (off, len) = spans[spans.len() / 2];
    let damaged_seq = first + (spans.len() / 2) as u64;
    let mut b = bytes.clone();
    b[off + len / 2] ^= 0x10;
    fs::write(&newest, &b).unwrap();

    let e = replay_all(&dir, 0).unwrap_err();
    assert_eq!(is_corrupt_at(&e, &newest), Some(off as u64));
    assert!(e.to_string().contains("a valid record (seq"), "{e}");
    let e = wal::replay_read_only(&dir, 0, |_, _| Ok(())).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Corrupt { .. }));
    assert_eq!(fs::read(&newest).unwrap(), b, "replay cut nothing");

    let damaged = tmp.path().join("damaged");
    let dry = salvage_file(&newest, first, &damaged, true).unwrap();
    assert_eq!(dry.plan.lost_seqs, vec![damaged_seq..damaged_seq + 1]);
    assert_eq!(dry.copy, None);
    assert_eq!(fs::read(&newest).unwrap(), b, "a dry run writes nothing");

    let done = salvage_file(&newest, first, &damaged, false).unwrap();
    assert_eq!(
        fs::read(done.copy.unwrap()).unwrap(),
        b,
        "the original kept aside"
    );
    let (r, got) = replay_all(&dir, 0).unwrap();
    assert_eq!((r.next_seq, r.truncated), (40, None));
    assert_eq!(got.len(), 40);
    for (seq, p) in &got {
        if *seq == damaged_seq {
            assert_eq!(
                p.as_slice(),
                EMPTY_BATCH,
                "lost record replaced by an empty batch"
            );
            assert!(PointBatch::decode(p).unwrap().is_empty());
        } else {
            assert_eq!(p, &payload(*seq), "seq {seq}");
        }
    }
}

/// A flipped byte in the newest file's header, with records after it: the header was
/// durable before any record (W2), so this is damage (T4), never a torn creation; the
/// file is not deleted, and salvage rewrites the header and keeps every record.
#[test]
fn damaged_header_of_a_newest_file_with_records_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    write_log(&dir, 0, 10, 10, WalOptions::default());
    let (first, newest) = wal_files(&dir).last().unwrap().clone();
    let bytes = fs::read(&newest).unwrap();
    for i in [0usize, 3, 7, 12, 15] {
        let mut b = bytes.clone();
        b[i] ^= 0x04;
        fs::write(&newest, &b).unwrap();
        let e = replay_all(&dir, 0).unwrap_err();
        assert_eq!(is_corrupt_at(&e, &newest), Some(0), "flip at {i}: {e}");
        assert_eq!(fs::read(&newest).unwrap(), b, "flip at {i}: file kept");
    }
    let done = salvage_file(&newest, first, &tmp.path().join("damaged"), false).unwrap();
    assert!(done.plan.header_damaged && done.plan.lost_seqs.is_empty());
    let (_, got) = replay_all(&dir, 0).unwrap();
    assert_records(&got, 0, 10);
}

#[test]
fn byte_flips_in_an_older_file_are_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    write_log(&dir, 0, 25, 1, small_files());
    let files = wal_files(&dir);
    assert!(files.len() >= 3);
    let older = files[1].1.clone();
    let bytes = fs::read(&older).unwrap();
    let spans = record_spans(&bytes);
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0xff;
        fs::write(&older, &b).unwrap();
        let e = replay_all(&dir, 0).unwrap_err();
        if i == 8 || i == 9 {
            assert!(
                matches!(e.kind(), ErrorKind::UnsupportedVersion { .. }),
                "{e}"
            );
            assert_eq!(e.path(), Some(older.as_path()));
            continue;
        }
        let at = is_corrupt_at(&e, &older).expect("offset");
        let expect = spans
            .iter()
            .find(|(o, l)| (*o..o + l).contains(&i))
            .map_or(0, |(o, _)| *o as u64);
        assert_eq!(at, expect, "flip at {i}: {e}");
        // Nothing was truncated.
        assert_eq!(fs::read(&older).unwrap(), b);
    }
    fs::write(&older, &bytes).unwrap();
    assert_records(&replay_all(&dir, 0).unwrap().1, 0, 25);
}

#[test]
fn zero_filled_tail_is_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    write_log(&dir, 5, 12, 4, WalOptions::default());
    let (_, newest) = wal_files(&dir).last().unwrap().clone();
    let len = fs::metadata(&newest).unwrap().len();
    for zeros in [1u64, 19, 20, 21, 4096] {
        let f = fs::OpenOptions::new().write(true).open(&newest).unwrap();
        f.set_len(len + zeros).unwrap();
        drop(f);
        let (r, got) = replay_all(&dir, 5).unwrap();
        assert_records(&got, 5, 17);
        let t = r.truncated.unwrap();
        assert_eq!((t.offset, t.bytes), (len, zeros));
        assert_eq!(fs::metadata(&newest).unwrap().len(), len);
    }
}

#[test]
fn gaps_and_overlaps_between_files() {
    let tmp = tempfile::tempdir().unwrap();
    let pristine = tmp.path().join("pristine");
    write_log(&pristine, 0, 40, 2, small_files());
    let files = wal_files(&pristine);
    assert!(files.len() >= 4);

    // A missing middle file is a gap: corrupt when its records are needed ...
    let dir = tmp.path().join("gap");
    copy_dir(&pristine, &dir);
    fs::remove_file(dir.join(file_name(files[1].0))).unwrap();
    let e = replay_all(&dir, 0).unwrap_err();
    is_corrupt_at(&e, &dir.join(file_name(files[2].0)));
    assert!(e.to_string().contains("gap"), "{e}");
    // ... and fine when they are not.
    let (_, got) = replay_all(&dir, files[2].0).unwrap();
    assert_records(&got, files[2].0, 40);

    // Missing oldest records.
    let dir = tmp.path().join("head");
    copy_dir(&pristine, &dir);
    fs::remove_file(dir.join(file_name(0))).unwrap();
    let e = replay_all(&dir, 0).unwrap_err();
    is_corrupt_at(&e, &dir.join(file_name(files[1].0)));
    assert!(e.to_string().contains("missing"), "{e}");

    // A file renamed to start one seq early overlaps its predecessor (and its records
    // then do not have the seqs its name promises).
    let dir = tmp.path().join("overlap");
    copy_dir(&pristine, &dir);
    fs::rename(
        dir.join(file_name(files[2].0)),
        dir.join(file_name(files[2].0 - 1)),
    )
    .unwrap();
    let e = replay_all(&dir, 0).unwrap_err();
    is_corrupt_at(&e, &dir.join(file_name(files[2].0 - 1)));
    assert!(e.to_string().contains("overlap"), "{e}");
}

#[test]
fn remove_below_deletes_only_covered_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let mut w = write_log(&dir, 0, 50, 2, small_files());
    let files = wal_files(&dir);
    assert!(files.len() >= 5);
    // Below the second file's first seq + 0: only the first file is fully covered
    // when seq reaches the second file's start, not before.
    assert_eq!(w.remove_below(files[1].0 - 1).unwrap(), 0);
    assert_eq!(w.remove_below(files[1].0).unwrap(), 1);
    assert_eq!(wal_files(&dir), files[1..]);
    // In the middle of the fourth file: the second and third go.
    assert_eq!(w.remove_below(files[3].0 + 1).unwrap(), 2);
    assert_eq!(wal_files(&dir), files[3..]);
    let (_, got) = replay_all(&dir, files[3].0 + 1).unwrap();
    assert_records(&got, files[3].0 + 1, 50);
    // Never the current file, even when every record is covered.
    let left = wal_files(&dir).len();
    assert_eq!(w.remove_below(u64::MAX).unwrap(), left - 1);
    assert_eq!(wal_files(&dir), [files.last().unwrap().clone()]);
    let (_, got) = replay_all(&dir, 50).unwrap();
    assert!(got.is_empty());
    // The writer carries on.
    w.append(&payload(50)).unwrap();
    w.sync().unwrap();
    let (r, got) = replay_all(&dir, 50).unwrap();
    assert_records(&got, 50, 51);
    assert_eq!(r.next_seq, 51);
}

#[test]
fn flush_writes_without_losing_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let mut w = WalWriter::create(&dir, 0, small_files()).unwrap();
    for i in 0..30 {
        w.append(&payload(i)).unwrap();
        assert!(w.buffered_bytes() > 0);
        w.flush().unwrap();
        assert_eq!(w.buffered_bytes(), 0);
    }
    // A rotated file is synced; the records of the current one were only written.
    assert!(w.durable_seq() > 0 && w.durable_seq() <= 30);
    drop(w); // a process kill after flush: the page cache still has the records
    let (r, got) = replay_all(&dir, 0).unwrap();
    assert_records(&got, 0, 30);
    assert_eq!(r.truncated, None);
}

#[test]
fn unsynced_appends_are_not_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let mut w = write_log(&dir, 0, 4, 4, WalOptions::default());
    w.append(&payload(4)).unwrap();
    drop(w);
    let (r, got) = replay_all(&dir, 0).unwrap();
    assert_records(&got, 0, 4);
    assert_eq!(r.next_seq, 4);
}

#[test]
fn callback_errors_stop_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    write_log(&dir, 0, 10, 1, small_files());
    let mut n = 0;
    let e = replay(&dir, 0, |seq, _| {
        n += 1;
        if seq == 6 {
            return Err(Error::invalid_input("stop"));
        }
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput { .. }));
    assert_eq!(n, 7);
}

// ---------------------------------------------------------------------------------------
// Fuzz seeds and regressions (the `wal_replay` target's framing: a mode byte, then the
// file; see fuzz/fuzz_targets/wal_replay.rs).

fn fuzz_first_and_from(mode: u8) -> (u64, u64) {
    let first = [0, 1, u64::MAX - 2, u64::MAX][(mode >> 1 & 3) as usize];
    (
        first,
        first.wrapping_add([0, 1, 2, u64::MAX][(mode >> 3 & 3) as usize]),
    )
}

/// The parts of the fuzz target that need no filesystem and no reseal (seeds and
/// regression inputs are stored ready to replay).
fn replay_fuzz_input(data: &[u8]) -> Option<wal::FileScan> {
    let (&mode, file) = data.split_first()?;
    let (first, from) = fuzz_first_and_from(mode);
    let scan = replay_bytes(file, first, from, |_, p| {
        if let Ok(b) = PointBatch::decode(p) {
            let mut again = Vec::new();
            b.encode(&mut again);
            assert_eq!(PointBatch::decode(&again).unwrap(), b);
        }
        Ok(())
    })
    .ok()?;
    if let Some(d) = &scan.defect {
        if d.offset >= HEADER_LEN as u64 {
            let cut = replay_bytes(&file[..d.offset as usize], first, from, |_, _| Ok(())).ok()?;
            assert_eq!((cut.records, cut.defect), (scan.records, None));
        }
    }
    Some(scan)
}

fn fuzz_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

const SEEDS: &str = "../../fuzz/seeds/wal_replay/valid";

#[test]
fn wal_fuzz_seeds_replay() {
    let seeds = fuzz_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join(SEEDS));
    assert!(seeds.len() >= 3, "wal_replay seeds missing");
    for p in seeds {
        let data = fs::read(&p).unwrap();
        let scan = replay_fuzz_input(&data).unwrap();
        // Seeds named torn-* end in a defect; the others are clean.
        let torn = p.file_name().unwrap().to_str().unwrap().starts_with("torn");
        assert_eq!(scan.defect.is_some(), torn, "{}", p.display());
    }
}

const REGRESSIONS: &str = "tests/data/fuzz-regressions/wal_replay";

#[test]
fn wal_fuzz_regressions_replay() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(REGRESSIONS);
    let files = fuzz_files(&dir);
    // An empty or missing folder would make this test pass without replaying anything.
    assert!(
        !files.is_empty(),
        "wal_replay regression inputs missing in {}",
        dir.display()
    );
    for p in files {
        let data = fs::read(&p).unwrap();
        let _ = replay_fuzz_input(&data);
    }
}

/// Writes the hand-built `wal_replay` regression inputs (damage a crash or a bad disk
/// leaves: a file cut inside a record, a flipped byte, a well-framed record whose batch
/// is garbage). Never overwrites one:
/// `cargo test --release --test wal -- --ignored regenerate_wal_fuzz_regressions`.
#[test]
#[ignore]
fn regenerate_wal_fuzz_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(REGRESSIONS);
    fs::create_dir_all(&dir).unwrap();
    let file = |first: u64, n: u64| {
        let mut f = file_header().to_vec();
        for s in first..first + n {
            wal::encode_record(&mut f, s, &payload(s)).unwrap();
        }
        f
    };
    // Cut in the middle of the third record's payload, replayed from seq 1.
    let mut mid_record = file(0, 4);
    let third = record_spans(&mid_record)[2];
    mid_record.truncate(third.0 + RECORD_HEADER_LEN + (third.1 - RECORD_HEADER_LEN) / 2);
    // Cut inside the fourth record's header.
    let mut mid_header = file(0, 4);
    let fourth = record_spans(&mid_header)[3];
    mid_header.truncate(fourth.0 + RECORD_HEADER_LEN / 2);
    // One byte flipped in the second record's payload: its checksum no longer matches.
    let mut flipped = file(0, 4);
    let second = record_spans(&flipped)[1];
    flipped[second.0 + RECORD_HEADER_LEN + 3] ^= 0x20;
    // A record framed and checksummed correctly around a batch with a flipped byte.
    let mut bad_batch = file(0, 1);
    let mut p = payload(1);
    let k = p.len() / 2;
    p[k] ^= 0x01;
    wal::encode_record(&mut bad_batch, 1, &p).unwrap();
    wal::encode_record(&mut bad_batch, 2, &payload(2)).unwrap();
    let inputs: [(&str, u8, Vec<u8>); 4] = [
        ("truncated-mid-record.bin", 0b0000_1000, mid_record),
        ("truncated-mid-header.bin", 0, mid_header),
        ("flipped-byte.bin", 0, flipped),
        ("flipped-byte-in-batch.bin", 0, bad_batch),
    ];
    for (name, mode, f) in inputs {
        let path = dir.join(name);
        if path.exists() {
            continue;
        }
        let mut data = vec![mode];
        data.extend_from_slice(&f);
        fs::write(path, data).unwrap();
    }
}

/// Writes the `wal_replay` fuzz seeds. Run when the WAL or batch format changes:
/// `cargo test --release --test wal -- --ignored regenerate_wal_fuzz_seeds`.
/// They live one directory down (`valid/`) because `tests/fuzz_regressions.rs` replays
/// the files directly under `fuzz/seeds/<target>/` and knows only the codec targets;
/// libFuzzer reads seed directories recursively.
#[test]
#[ignore]
fn regenerate_wal_fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(SEEDS);
    fs::create_dir_all(&dir).unwrap();
    let file = |first: u64, n: u64| {
        let mut f = file_header().to_vec();
        for s in first..first + n {
            wal::encode_record(&mut f, s, &payload(s)).unwrap();
        }
        f
    };
    let mut every_kind = PointBatch::default();
    every_kind.push(
        "dev",
        "f",
        -3,
        Value::F64(f64::from_bits(0x7ff8_0000_0000_0042)),
    );
    every_kind.push("dev", "i", i64::MIN, Value::I64(i64::MAX));
    every_kind.push("dev", "b", i64::MAX, Value::Bool(false));
    every_kind.push("dév-2", "b", 0, Value::Bool(true));
    every_kind.push("dév-2", "s", 1, Value::Str("état ok".into()));
    let mut kinds = Vec::new();
    every_kind.encode(&mut kinds);
    let mut kinds_file = file_header().to_vec();
    wal::encode_record(&mut kinds_file, 1, &kinds).unwrap();
    wal::encode_record(&mut kinds_file, 2, &payload(2)).unwrap();

    let mut torn = file(0, 4);
    torn.truncate(torn.len() - 7);
    let mut zeros = file(0, 2);
    zeros.extend_from_slice(&[0; 24]);
    let seeds: [(&str, u8, Vec<u8>); 6] = [
        ("header-only", 0, file_header().to_vec()),
        ("records-0", 0, file(0, 6)),
        ("every-kind-from-1", 0b0000_0010, kinds_file),
        ("near-max-seq", 0b0000_0100, file(u64::MAX - 2, 2)),
        ("torn-tail", 0b0000_1000, torn),
        ("torn-zeros", 0b0001_0001, zeros),
    ];
    for (name, mode, f) in seeds {
        let mut data = vec![mode];
        data.extend_from_slice(&f);
        fs::write(dir.join(name), data).unwrap();
    }
}
