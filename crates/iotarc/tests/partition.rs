//! The packer's choice of partition unit for a new archive (archive.md §3.1).

use iotarc::archive::{
    auto_partition, repair, Archive, Manifest, Origin, PackOptions, PackValue, Packer,
    PartitionUnit,
};
use std::path::Path;

mod common;
use common::{manifest_points, DAY, HOUR, SEC};

/// 2024-01-01T00:00:00Z, a Monday.
const T0: i64 = 1_704_067_200 * SEC;

/// Pushes `devices` x `channels` values every `step` µs over `[from, from + span)`.
fn push_grid(p: &mut Packer, devices: u32, channels: u32, from: i64, span: i64, step: i64) -> u64 {
    let mut n = 0;
    let mut t = from;
    while t < from + span {
        for d in 0..devices {
            for c in 0..channels {
                let v = ((t / step) % 1000) as f64 * 0.5 + c as f64;
                p.push(
                    &format!("dev-{d:03}"),
                    &format!("ch{c}"),
                    t,
                    PackValue::F64(v),
                    Origin { input: 0, line: n },
                );
                n += 1;
            }
        }
        t += step;
    }
    n
}

fn pack(dir: &Path, opts: PackOptions, f: impl FnOnce(&mut Packer) -> u64) -> (PartitionUnit, u64) {
    let mut p = Packer::open(dir, opts).unwrap();
    let n = f(&mut p);
    let st = p.commit(0).unwrap();
    assert_eq!(st.points_written, n);
    (Manifest::read(dir).unwrap().partition, n)
}

fn auto() -> PackOptions {
    PackOptions::default()
}

fn unit(u: PartitionUnit) -> PackOptions {
    PackOptions {
        partition: Some(u),
        ..PackOptions::default()
    }
}

/// Every listed segment lies in a window of the manifest's unit and under its label.
fn check_layout(dir: &Path) -> (PartitionUnit, usize) {
    let a = Archive::open(dir).unwrap();
    let m = a.manifest();
    let u = m.partition;
    let mut windows = std::collections::BTreeSet::new();
    for e in &m.segments {
        assert_eq!(u.window_start(e.min_ts), e.partition, "{}", e.path);
        assert!(e.max_ts < u.window_end(e.partition), "{}", e.path);
        assert!(
            e.path
                .starts_with(&format!("seg/{}/", u.label(e.partition))),
            "{} not under the {u:?} label",
            e.path
        );
        windows.insert(e.partition);
    }
    (u, windows.len())
}

#[test]
fn rule_picks_the_smallest_window_that_reaches_the_target() {
    // 4 M values a window: day at >= 4 M/day, week at >= 4/7 M/day, month at
    // >= 4 M / 30.44 days; year below.
    assert_eq!(auto_partition(4_000_000, DAY), PartitionUnit::Day);
    assert_eq!(auto_partition(3_999_999, DAY), PartitionUnit::Week);
    assert_eq!(auto_partition(600_000, DAY), PartitionUnit::Week);
    assert_eq!(auto_partition(500_000, DAY), PartitionUnit::Month);
    assert_eq!(auto_partition(140_000, DAY), PartitionUnit::Month);
    assert_eq!(auto_partition(100_000, DAY), PartitionUnit::Year);
    assert_eq!(auto_partition(0, 0), PartitionUnit::Year);
    // The span counts as at least an hour: a burst at one instant is not a high rate.
    assert_eq!(auto_partition(1000, 0), PartitionUnit::Year);
    assert_eq!(auto_partition(200_000, 0), PartitionUnit::Day);
    // Beijing-like: 12 stations x 12 channels hourly for 4 years.
    let bj = 12 * 12 * 35_064;
    assert_eq!(auto_partition(bj, 35_064 * HOUR), PartitionUnit::Year);
}

#[test]
fn low_rate_data_gets_year_windows() {
    let tmp = tempfile::tempdir().unwrap();
    // One sensor, 6 channels, every minute for two days (crossing a day boundary).
    let dir = tmp.path().join("a");
    let (u, n) = pack(&dir, auto(), |p| {
        push_grid(p, 1, 6, T0 + 12 * HOUR, 2 * DAY, 60 * SEC)
    });
    assert_eq!(u, PartitionUnit::Year);
    assert_eq!(check_layout(&dir), (PartitionUnit::Year, 1));
    assert_eq!(manifest_points(&dir), n);
    // Hourly readings of a dozen stations over three calendar years.
    let dir = tmp.path().join("b");
    let (u, _) = pack(&dir, auto(), |p| {
        push_grid(p, 12, 11, T0 - 100 * DAY, 800 * DAY, HOUR)
    });
    assert_eq!(u, PartitionUnit::Year);
    assert_eq!(check_layout(&dir), (PartitionUnit::Year, 3));
}

#[test]
fn rows_out_of_time_order_land_in_their_windows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    // Hourly readings of 3 devices over 3 calendar years, newest first, so each
    // device's first row is in its last window.
    let (u, n) = pack(&dir, auto(), |p| {
        let mut n = 0;
        for k in (0..800 * 24).rev() {
            let t = T0 - 100 * DAY + k * HOUR;
            for d in 0..3 {
                let v = PackValue::F64(k as f64);
                p.push(
                    &format!("dev-{d}"),
                    "temp",
                    t,
                    v,
                    Origin { input: 0, line: n },
                );
                n += 1;
            }
        }
        n
    });
    assert_eq!(u, PartitionUnit::Year);
    assert_eq!(check_layout(&dir), (PartitionUnit::Year, 3));
    assert_eq!(manifest_points(&dir), n);
}

#[test]
fn high_rate_data_gets_day_windows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    // 50 devices x 2 channels every second for two hours across midnight: 8.6 M a day.
    let (u, n) = pack(&dir, auto(), |p| {
        push_grid(p, 50, 2, T0 + DAY - HOUR, 2 * HOUR, SEC)
    });
    assert_eq!(u, PartitionUnit::Day);
    assert_eq!(check_layout(&dir), (PartitionUnit::Day, 2));
    assert_eq!(manifest_points(&dir), n);
}

#[test]
fn empty_cells_do_not_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    // 40 devices every second for two hours, 4 channels of which 3 are empty (as wide
    // input's empty cells): 3.5 M values a day, 13.8 M cells.
    let (u, n) = pack(&dir, auto(), |p| {
        let mut n = 0;
        for t in (0..2 * 3600).map(|k| T0 + k * SEC) {
            for d in 0..40 {
                for c in 0..4 {
                    let v = if c == 0 {
                        PackValue::F64(t as f64)
                    } else {
                        PackValue::Missing
                    };
                    p.push(
                        &format!("dev-{d}"),
                        &format!("ch{c}"),
                        t,
                        v,
                        Origin { input: 0, line: n },
                    );
                    n += (c == 0) as u64;
                }
            }
        }
        n
    });
    assert_eq!(u, PartitionUnit::Week);
    assert_eq!(manifest_points(&dir), n);
}

#[test]
fn mid_rate_data_gets_week_windows_across_flushes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    // 40 devices x 2 channels every 10 s for 8 days: 0.69 M a day. A small flush
    // bound makes the first flush decide from its first day and later flushes follow.
    let opts = PackOptions {
        flush_rows: Some(200_000),
        ..PackOptions::default()
    };
    let mut p = Packer::open(&dir, opts).unwrap();
    let mut n = 0;
    for day in 0..8 {
        n += push_grid(&mut p, 40, 2, T0 + day * DAY, DAY, 10 * SEC);
        assert!(p.should_flush());
        p.flush().unwrap();
        assert_eq!(p.partition(), PartitionUnit::Week);
    }
    p.commit(0).unwrap();
    // 2024-01-01 and 2024-01-08 are Mondays.
    assert_eq!(check_layout(&dir), (PartitionUnit::Week, 2));
    assert_eq!(manifest_points(&dir), n);
}

#[test]
fn existing_archive_keeps_its_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    // Explicit day on low-rate data gives day.
    let (u, _) = pack(&dir, unit(PartitionUnit::Day), |p| {
        push_grid(p, 1, 6, T0, 2 * DAY, 60 * SEC)
    });
    assert_eq!(u, PartitionUnit::Day);
    assert_eq!(check_layout(&dir), (PartitionUnit::Day, 2));
    // Packing more low-rate data with auto keeps day.
    let (u, _) = pack(&dir, auto(), |p| {
        push_grid(p, 1, 6, T0 + 2 * DAY, DAY, 60 * SEC)
    });
    assert_eq!(u, PartitionUnit::Day);
    assert_eq!(check_layout(&dir), (PartitionUnit::Day, 3));
    // And an auto-chosen year archive keeps year under an explicit --partition day.
    let dir = tmp.path().join("b");
    pack(&dir, auto(), |p| push_grid(p, 1, 6, T0, DAY, 60 * SEC));
    let (u, _) = pack(&dir, unit(PartitionUnit::Day), |p| {
        push_grid(p, 1, 6, T0 + DAY, DAY, 60 * SEC)
    });
    assert_eq!(u, PartitionUnit::Year);
    assert_eq!(check_layout(&dir), (PartitionUnit::Year, 1));
}

#[test]
fn an_archive_without_segments_is_still_new() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    // An empty pack commits a manifest with the provisional unit and no segment.
    pack(&dir, auto(), |_| 0);
    assert!(Manifest::read(&dir).unwrap().segments.is_empty());
    // The next pack still chooses.
    let (u, _) = pack(&dir, auto(), |p| push_grid(p, 1, 6, T0, DAY, 60 * SEC));
    assert_eq!(u, PartitionUnit::Year);
    assert_eq!(check_layout(&dir), (PartitionUnit::Year, 1));
}

/// Copies the files of `from` (but `LOCK`) to `to`, as a crash would leave them.
fn snapshot(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            snapshot(&src, &dst);
        } else if e.file_name() != "LOCK" {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

#[test]
fn the_generation_0_manifest_is_provisional() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    let mut p = Packer::open(&dir, auto()).unwrap();
    push_grid(&mut p, 1, 6, T0, 2 * DAY, 60 * SEC);
    p.flush().unwrap();
    // Segments are written under the chosen unit's labels while the committed
    // (generation-0) manifest still carries the provisional unit and lists nothing.
    assert_eq!(p.partition(), PartitionUnit::Year);
    let m = Manifest::read(&dir).unwrap();
    assert_eq!((m.generation, m.partition), (0, PartitionUnit::Day));
    assert!(m.segments.is_empty());
    assert!(dir.join("seg/2024").is_dir());
    // As a crash at this moment would leave it: a manifest rebuilt from it infers the
    // unit from the labels, not from the provisional unit of a manifest that lists no
    // segment.
    let crashed = tmp.path().join("crashed");
    snapshot(&dir, &crashed);
    p.abort();
    let r = repair::rebuild_manifest(&crashed, &repair::RebuildOptions::default()).unwrap();
    assert!(r.unreadable.is_empty(), "{:?}", r.unreadable);
    assert_eq!(check_layout(&crashed), (PartitionUnit::Year, 1));
    assert_eq!(manifest_points(&crashed), 6 * 2 * 1440);
    // The writer that opens it next keeps year.
    let (u, _) = pack(&crashed, unit(PartitionUnit::Day), |p| {
        push_grid(p, 1, 6, T0 + 2 * DAY, DAY, 60 * SEC)
    });
    assert_eq!(u, PartitionUnit::Year);
    // Without the repair, the next writer deletes the interrupted commit's segments and
    // chooses afresh.
    let again = tmp.path().join("again");
    let mut p = Packer::open(&dir, auto()).unwrap();
    push_grid(&mut p, 1, 6, T0, 2 * DAY, 60 * SEC);
    p.flush().unwrap();
    snapshot(&dir, &again);
    p.abort();
    let (u, n) = pack(&again, auto(), |p| push_grid(p, 40, 3, T0, 2 * HOUR, SEC));
    assert_eq!(u, PartitionUnit::Day);
    assert_eq!(check_layout(&again), (PartitionUnit::Day, 1));
    assert_eq!(manifest_points(&again), n);
}
