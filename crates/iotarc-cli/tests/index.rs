//! The archive index (archive.md §9): written by every writer, used by aggregates in
//! place of opening segments, never trusted over the segments themselves.
//!
//! Every test compares answers with the index against answers with the index removed
//! (which opens every segment, the path the rest of the suite covers).

use iotarc::archive::index::Index;
use iotarc::archive::{
    compact, Agg, AggRow, Archive, CompactOptions, Origin, PackOptions, PackValue, Packer,
    PartitionUnit, QueryStats,
};
use iotarc::stream::{PointBatch, StreamOptions, StreamWriter};
use iotarc::{ErrorKind, Value, WriterOptions};
use std::fs;
use std::path::Path;

mod common;
use common::*;

const AGGS: [Agg; 8] = [
    Agg::Count,
    Agg::Min,
    Agg::Max,
    Agg::Sum,
    Agg::Avg,
    Agg::Stddev,
    Agg::First,
    Agg::Last,
];

/// Packs `days` days of 3 devices x 2 channels at 10 s, one pack per call.
fn pack(dir: &Path, first_day: i64, days: i64) {
    let opts = PackOptions {
        partition: Some(PartitionUnit::Day),
        writer: WriterOptions {
            target_rows: 500,
            ..WriterOptions::default()
        },
        ..PackOptions::default()
    };
    let mut p = Packer::open(dir, opts).unwrap();
    for d in ["dev-a", "dev-b", "dev-c"] {
        for s in (first_day * 8640)..((first_day + days) * 8640) {
            let ts = DAY0 + s * 10 * SEC;
            let o = Origin { input: 0, line: 1 };
            p.push(
                d,
                "temp",
                ts,
                // Not multiples of a power of two: sums round, so a change in merge
                // order shows in the last bits.
                PackValue::F64(20.0 + (s % 97) as f64 / 7.3),
                o,
            );
            if s % 3 != 0 {
                p.push(d, "count", ts, PackValue::I64(s * 7 - 1000), o);
            }
        }
    }
    let st = p.commit(0).unwrap();
    assert!(st.warnings.is_empty(), "{:?}", st.warnings);
}

fn query(dir: &Path, from: i64, to: i64, every: Option<i64>) -> (Vec<AggRow>, QueryStats) {
    let a = Archive::open(dir).unwrap();
    let mut q = a.query().aggregates(&AGGS).from(from).to(to);
    if let Some(e) = every {
        q = q.every(e);
    }
    q.run_aggregate().unwrap()
}

/// The answers of a copy of the archive without its index.
fn query_without_index(dir: &Path, from: i64, to: i64, every: Option<i64>) -> Vec<AggRow> {
    query_without_index_stats(dir, from, to, every).0
}

fn query_without_index_stats(
    dir: &Path,
    from: i64,
    to: i64,
    every: Option<i64>,
) -> (Vec<AggRow>, QueryStats) {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir, copy.path());
    for f in index_files(copy.path()) {
        fs::remove_file(f).unwrap();
    }
    let (rows, st) = query(copy.path(), from, to, every);
    assert_eq!(st.segments_from_index, 0);
    (rows, st)
}

fn ranges() -> Vec<(i64, i64, Option<i64>)> {
    vec![
        (i64::MIN, i64::MAX, None),
        (DAY0 + 3 * HOUR + 17 * SEC, DAY0 + 2 * DAY + 5 * HOUR, None),
        (i64::MIN, i64::MAX, Some(HOUR)),
        (DAY0 + DAY / 3, DAY0 + 2 * DAY, Some(6 * HOUR)),
    ]
}

#[test]
fn pack_writes_an_index_that_aggregates_use_without_opening_segments() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    pack(&arch, 0, 3);
    let a = Archive::open(&arch).unwrap();
    let m = a.manifest();
    assert!(m.index.is_some());
    assert!(m.segments.iter().all(|e| e.index.is_some()));
    assert_eq!(index_files(&arch).len(), 1);
    for (from, to, every) in ranges() {
        let (rows, st) = query(&arch, from, to, every);
        assert!(!rows.is_empty());
        assert_eq!(st.segments_opened, 0, "{from} {to} {every:?}");
        assert!(st.segments_from_index > 0);
        // Walking the records (no plan) answers and decodes exactly the blocks the
        // plan over opened segments does.
        let (want, st0) = query_without_index_stats(&arch, from, to, every);
        assert_eq!(rows, want);
        assert_eq!(
            (st.blocks_from_footer, st.blocks_decoded, st.devices_matched),
            (
                st0.blocks_from_footer,
                st0.blocks_decoded,
                st0.devices_matched
            ),
            "{from} {to} {every:?}"
        );
    }
    // A cut range decodes edge blocks: the segment is then mapped and checked.
    let (rows, st) = query(&arch, DAY0 + 3 * HOUR + 17 * SEC, DAY0 + 2 * DAY, None);
    assert!(st.blocks_decoded > 0);
    // The three devices report the same readings, so the writer stored dev-b's and
    // dev-c's chunks as references to dev-a's (format.md §8.6); decoded from a segment
    // known only by its index records, they answer exactly as dev-a's.
    let mut refs = 0;
    for e in &m.segments {
        let seg = iotarc::Segment::open(arch.join(&e.path)).unwrap();
        for b in &seg.footer().blocks {
            let dev = &seg.devices()[b.device as usize];
            let n = b
                .columns
                .iter()
                .filter(|c| c.codec == iotarc::format::chunkref::REF);
            let n = n.count();
            assert!(dev != "dev-a" || n == 0);
            refs += n;
        }
    }
    assert!(refs > 0);
    let of = |d: &str| -> Vec<(&str, u64, &Vec<Option<Value>>)> {
        rows.iter()
            .filter(|r| r.device == d)
            .map(|r| (r.channel.as_str(), r.count, &r.values))
            .collect()
    };
    assert_eq!(of("dev-b"), of("dev-a"));
    assert_eq!(of("dev-c"), of("dev-a"));
}

#[test]
fn packing_again_appends_groups_and_compaction_keeps_the_file_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    for day in 0..4 {
        pack(&arch, day, 1);
    }
    // Second copies of days 1 and 2 overlap the first ones (dedup merges them).
    pack(&arch, 1, 2);
    let m = Archive::open(&arch).unwrap().manifest().clone();
    assert!(m.segments.iter().all(|e| e.index.is_some()));
    assert_eq!(index_files(&arch).len(), 1, "appends reuse one file");
    for (from, to, every) in ranges() {
        let (rows, st) = query(&arch, from, to, every);
        assert_eq!(st.segments_opened, 0);
        assert_eq!(rows, query_without_index(&arch, from, to, every));
    }
    let r = compact(
        &arch,
        &CompactOptions {
            tiers: vec![PartitionUnit::Day],
            ..CompactOptions::default()
        },
    )
    .unwrap();
    assert!(r.merges > 0);
    let a = Archive::open(&arch).unwrap();
    let m = a.manifest();
    assert!(m.segments.iter().all(|e| e.index.is_some()));
    let files = index_files(&arch);
    assert_eq!(files.len(), 1, "{files:?}");
    let live: u64 = m.segments.iter().map(|e| e.index.unwrap()[1]).sum();
    let len = fs::metadata(&files[0]).unwrap().len();
    assert!(
        len <= 16 + live + live / 4 + (64 << 10),
        "{len} bytes for {live} live"
    );
    for (from, to, every) in ranges() {
        let (rows, st) = query(&arch, from, to, every);
        assert_eq!(st.segments_opened, 0);
        assert_eq!(rows, query_without_index(&arch, from, to, every));
    }
}

#[test]
fn every_flipped_byte_of_the_index_is_detected_or_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    pack(&arch, 0, 2);
    let want = query_without_index(&arch, i64::MIN, i64::MAX, Some(HOUR));
    let file = index_files(&arch).remove(0);
    let orig = fs::read(&file).unwrap();
    // Every byte of a short file; a stride through a long one.
    let step = (orig.len() / 1500).max(1);
    for pos in (0..orig.len()).step_by(step) {
        let mut b = orig.clone();
        b[pos] ^= 0x41;
        fs::write(&file, &b).unwrap();
        let (rows, st) = query(&arch, i64::MIN, i64::MAX, Some(HOUR));
        assert_eq!(rows, want, "byte {pos}");
        if pos >= 16 {
            // A bad group is not used: its segment is opened instead.
            assert!(st.segments_opened > 0, "byte {pos} went unnoticed");
        }
    }
    fs::write(&file, &orig).unwrap();
}

#[test]
fn verify_reports_a_damaged_index_and_compact_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    pack(&arch, 0, 2);
    let a = arch.to_str().unwrap();
    assert_eq!(iotarc(&["verify", a]).0, 0);
    let file = index_files(&arch).remove(0);
    let mut b = fs::read(&file).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 1;
    fs::write(&file, &b).unwrap();
    let (code, _, err) = iotarc(&["verify", a]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("INDEX-") && err.contains("iotarc compact"),
        "{err}"
    );
    let (code, _, err) = iotarc(&["compact", a, "-q"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = iotarc(&["verify", a]);
    assert_eq!(code, 0, "{err}");
    let (_, st) = query(&arch, i64::MIN, i64::MAX, None);
    assert_eq!(st.segments_opened, 0);

    // A missing index file is a problem for verify, not for queries.
    fs::remove_file(index_files(&arch).remove(0)).unwrap();
    let (rows, st) = query(&arch, i64::MIN, i64::MAX, None);
    assert!(!rows.is_empty());
    assert!(st.segments_from_index == 0 && st.segments_opened > 0);
    let (code, _, err) = iotarc(&["verify", a]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(iotarc(&["compact", a, "-q"]).0, 0);
    assert_eq!(iotarc(&["verify", a]).0, 0);
    assert_eq!(index_files(&arch).len(), 1);
}

#[test]
fn a_segment_that_is_not_what_its_group_describes_is_an_error_not_data() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    pack(&arch, 0, 1);
    let m = Archive::open(&arch).unwrap().manifest().clone();
    let seg = arch.join(&m.segments[0].path);
    // Same length, different trailer: the group's footer checksum no longer matches.
    let mut b = fs::read(&seg).unwrap();
    let n = b.len();
    b[n - 20] ^= 0xff;
    fs::write(&seg, &b).unwrap();
    // Whole range: answered from the group alone (the segment is not read).
    let (_, st) = query(&arch, i64::MIN, i64::MAX, None);
    assert_eq!(st.blocks_decoded, 0);
    // A cut range must decode a block of that segment: the file is checked first.
    let a = Archive::open(&arch).unwrap();
    let err = a
        .query()
        .aggregates(&AGGS)
        .from(DAY0 + 3 * HOUR + 17 * SEC)
        .to(DAY0 + 5 * HOUR)
        .run_aggregate()
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&m.segments[0].path), "{err}");
}

#[test]
fn the_streaming_writer_indexes_every_seal_and_repairs_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("s");
    let opts = || StreamOptions {
        lateness_us: 0,
        max_delay: None,
        compact: None,
        ..StreamOptions::default()
    };
    let (w, _) = StreamWriter::open(&arch, opts()).unwrap();
    for h in 0..6 {
        let mut b = PointBatch::default();
        for s in 0..360 {
            let ts = DAY0 + h * HOUR + s * 10 * SEC;
            b.push("d1", "v", ts, Value::F64(s as f64 * 0.5));
            b.push("d2", "v", ts, Value::I64(s));
        }
        w.write(b).unwrap();
    }
    let st = w.close().unwrap();
    assert!(st.warnings.is_empty(), "{:?}", st.warnings);
    let a = Archive::open(&arch).unwrap();
    assert!(!a.manifest().segments.is_empty());
    assert!(a.manifest().segments.iter().all(|e| e.index.is_some()));
    let (rows, st) = query(&arch, i64::MIN, i64::MAX, Some(HOUR));
    assert_eq!(st.segments_opened, 0);
    assert_eq!(
        rows,
        query_without_index(&arch, i64::MIN, i64::MAX, Some(HOUR))
    );

    // As after a crash between a seal and its index append: references gone.
    let mut m = a.manifest().clone();
    for e in &mut m.segments {
        e.index = None;
    }
    m.write(&arch).unwrap();
    drop(a);
    let (w, rep) = StreamWriter::open(&arch, opts()).unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    w.close().unwrap();
    let a = Archive::open(&arch).unwrap();
    assert!(a.manifest().segments.iter().all(|e| e.index.is_some()));
    assert_eq!(index_files(&arch).len(), 1);
    let _ = Index::open(&arch, a.manifest()).unwrap().expect("index");
}

#[test]
fn a_known_device_without_the_channel_is_not_reported_as_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    pack(&arch, 0, 1);
    let a = Archive::open(&arch).unwrap();
    let (rows, st) = a
        .query()
        .device("dev-a")
        .device("dev-zz")
        .channel("no-such-channel")
        .aggregates(&[Agg::Count])
        .run_aggregate()
        .unwrap();
    assert!(rows.is_empty());
    assert_eq!(st.unmatched_devices, vec!["dev-zz".to_string()]);
}

#[test]
fn records_of_several_blocks_carry_the_summary_of_their_part() {
    use iotarc::archive::index::merge_channel;
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    pack(&arch, 0, 2);
    let a = Archive::open(&arch).unwrap();
    let ix = a.index().unwrap();
    let mut summarised = 0;
    for e in &a.manifest().segments {
        let g = ix.group(e).unwrap().unwrap();
        for i in 0..e.devices.len() {
            let part = g.part(i).unwrap().footer;
            // 10 s readings in 500-row blocks: every channel has many blocks per day.
            let sum = g.summary(i).unwrap().expect("a summary");
            assert_eq!(sum.len(), part.channels.len());
            for (ch, cs) in sum.iter().enumerate() {
                assert_eq!(cs.name, part.channels[ch]);
                let want = merge_channel(&part.blocks, ch as u32).unwrap();
                assert_eq!(cs.merged, want);
                let m = cs.merged.as_ref().unwrap();
                assert!(m.blocks >= 2);
                summarised += 1;
            }
        }
    }
    assert_eq!(summarised, 2 * 3 * 2, "2 days x 3 devices x 2 channels");
    // Whole-range aggregates are answered from the summaries alone, and equal the
    // answers of the segments.
    let (rows, st) = query(&arch, i64::MIN, i64::MAX, None);
    assert_eq!((st.blocks_decoded, st.segments_opened), (0, 0));
    assert_eq!(rows, query_without_index(&arch, i64::MIN, i64::MAX, None));
    let (code, out, err) = iotarc(&["verify", arch.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}

/// A summary that disagrees with its part but carries a valid checksum (what a buggy
/// writer would leave): verify recomputes summaries from the segment and reports it.
#[test]
fn verify_reports_a_summary_that_disagrees_with_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("a");
    pack(&arch, 0, 1);
    let a = arch.to_str().unwrap();
    assert_eq!(iotarc(&["verify", a]).0, 0);
    let m = Archive::open(&arch).unwrap().manifest().clone();
    let [off, _] = m.segments[0].index.unwrap();
    let file = index_files(&arch).remove(0);
    let mut b = fs::read(&file).unwrap();
    // Group: 32 bytes of u64s, u32 device count, the record ends, u64 check; record 0
    // follows and ends at ends[0].
    let g = off as usize;
    let n = u32::from_le_bytes(b[g + 32..g + 36].try_into().unwrap()) as usize;
    let end0 = u32::from_le_bytes(b[g + 36..g + 40].try_into().unwrap()) as usize;
    let rec = g + 36 + 4 * n + 8;
    assert!(matches!(b[rec], 2 | 3), "record 0 has a summary");
    // Record: encoding, varint summary length, summary. The summary's last byte is the
    // last byte of its last entry's statistics (a low bit of an f64 sum's tail).
    let (mut len, mut shift, mut p) = (0usize, 0, rec + 1);
    loop {
        let x = b[p];
        p += 1;
        len |= ((x & 0x7f) as usize) << shift;
        shift += 7;
        if x < 0x80 {
            break;
        }
    }
    b[p + len - 1] ^= 1;
    let body_end = rec + end0 - 8;
    let sum = xxhash_rust::xxh3::xxh3_64(&b[rec..body_end]);
    b[body_end..body_end + 8].copy_from_slice(&sum.to_le_bytes());
    fs::write(&file, &b).unwrap();
    let (code, _, err) = iotarc(&["verify", a]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("differs from the segment's footer"), "{err}");
}
