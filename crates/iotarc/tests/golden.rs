//! Golden files: segments written by earlier versions of iotarc, kept byte for byte, that
//! every later reader must still decode to exactly the same points.
//!
//! `tests/data/v1/basic.seg` was written once by [`regenerate_golden`] from
//! [`golden_contents`] when the writer wrote format version 1; `v2/basic.seg` (the same
//! points) and `v2/split.seg` ([`split_contents`]) when it wrote version 2;
//! `v3/patched.seg` ([`patched_contents`]) when it wrote version 3; `v4/refs.seg`
//! ([`refs_contents`]) when it wrote version 4; `v5/pco.seg` ([`pco_contents`]) when it
//! wrote version 5. They are never
//! rewritten: if a change to the reader makes one of the `*_decodes_exactly` tests fail,
//! the change broke compatibility with existing files. See `tests/data/README.md`.

use iotarc::format::header;
use iotarc::*;
use std::path::PathBuf;

mod common;
use common::*;

/// One device's rows as they were given to the writer.
struct GoldenDevice {
    name: &'static str,
    ts: Vec<i64>,
    columns: Vec<(&'static str, Column)>,
}

/// A NaN with a payload, to check that NaN bits survive.
const NAN_PAYLOAD: u64 = 0x7ff8_0000_dead_beef;
/// A negative signalling NaN.
const NEG_SNAN: u64 = 0xfff0_0000_0000_0001;

/// The points stored in `tests/data/v1/basic.seg`. Deterministic: no clocks, no
/// randomness. Changing this function does not change the committed file, so it must
/// keep describing exactly what that file holds.
fn golden_contents() -> Vec<GoldenDevice> {
    // Device 1: 300 rows at ~1 Hz with microsecond jitter, one block. Decimal
    // temperatures with 3 missing values (validity bitmap), a counter, a mostly-false
    // door contact, a status string, runs of f64 and i64 values, 12-bit noise and a
    // constant.
    let n = 300i64;
    let t0 = 1_700_000_000_000_000i64;
    let ts: Vec<i64> = (0..n).map(|i| t0 + i * 1_000_000 + i * 7919 % 13).collect();
    let temp: Vec<Option<f64>> = (0..n)
        .map(|i| (i % 97 != 5).then(|| 15.0 + (i * 37 % 200) as f64 / 10.0))
        .collect();
    let energy: Vec<i64> = (0..n).map(|i| 1_000_000 + i * 3 + i / 50).collect();
    let door: Vec<bool> = (0..n).map(|i| i % 60 < 3).collect();
    let status: StrValues = (0..n)
        .map(|i| ["ok", "warn", "ok", "service due"][(i / 80) as usize])
        .collect();
    let setpoint: Vec<f64> = (0..n)
        .map(|i| [21.0, 21.5, 19.0][(i / 100) as usize])
        .collect();
    let mode: Vec<i64> = (0..n).map(|i| [3, -1, 7, 3][(i / 75) as usize]).collect();
    let mut x = 12345u64;
    let adc: Vec<i64> = (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 52) as i64
        })
        .collect();
    let boiler = GoldenDevice {
        name: "boiler-7",
        ts,
        columns: vec![
            ("temp", Column::from_f64_options(&temp)),
            ("energy", Column::dense(Values::I64(energy))),
            ("door", Column::dense(Values::Bool(door))),
            ("status", Column::dense(Values::Str(status))),
            ("setpoint", Column::dense(Values::F64(setpoint))),
            ("mode", Column::dense(Values::I64(mode))),
            ("adc", Column::dense(Values::I64(adc))),
            (
                "voltage",
                Column::dense(Values::F64(vec![230.0; n as usize])),
            ),
        ],
    };

    // Device 2: 8 rows spread over three 364-day grid windows (before the epoch, at the
    // epoch, in 2020), so three blocks, holding edge-case values.
    let ts = vec![
        -86_400_000_000,
        -1,
        0,
        1,
        2,
        1_600_000_000_000_000,
        1_600_000_000_000_000,
        1_600_000_000_000_001,
    ];
    let temp = [
        Some(1.25),
        Some(f64::from_bits(NAN_PAYLOAD)),
        Some(-0.0),
        Some(f64::INFINITY),
        None,
        Some(f64::NEG_INFINITY),
        Some(f64::from_bits(1)), // smallest subnormal
        Some(f64::from_bits(NEG_SNAN)),
    ];
    let energy = vec![i64::MIN, i64::MAX, 0, -1, 1, i64::MAX, i64::MIN, 42];
    let rssi = [
        Some(-70),
        None,
        None,
        None, // rows 2..=4 are one block in which rssi is missing entirely
        None,
        Some(-69),
        None,
        Some(-90),
    ];
    let rssi_bits: Bitmap = rssi.iter().map(Option::is_some).collect();
    let rssi_vals: Vec<i64> = rssi.iter().flatten().copied().collect();
    let door = vec![true; 8];
    let status: StrValues = ["", "°C ✓", "ok", "ok", "", "ok", "\u{0}nul", "ok"]
        .into_iter()
        .collect();
    let edge = GoldenDevice {
        name: "edge/ünïcode",
        ts,
        columns: vec![
            ("temp", Column::from_f64_options(&temp)),
            ("energy", Column::dense(Values::I64(energy))),
            ("door", Column::dense(Values::Bool(door))),
            ("status", Column::dense(Values::Str(status))),
            (
                "rssi",
                Column::with_validity(Values::I64(rssi_vals), rssi_bits),
            ),
        ],
    };
    vec![boiler, edge]
}

/// The points stored in `tests/data/v2/split.seg`: high-entropy data for which the
/// version 2 codecs win (the f64 `SPLIT` codec and the IntStream `SPLIT` kinds), with
/// special values among the random floats. Deterministic, and like [`golden_contents`]
/// it must keep describing exactly what the committed file holds.
fn split_contents() -> Vec<GoldenDevice> {
    let n = 600usize;
    let mut r = Rng(0x5eed_0002);
    let t0 = 1_750_000_000_000_000i64;
    // Jitter of up to 0.2 s on a 1 s grid: timestamp deltas span three byte planes.
    let ts: Vec<i64> = (0..n as i64)
        .map(|i| t0 + i * 1_000_000 + r.below(200_000) as i64)
        .collect();
    // Vibration amplitudes, as tools/gen makes them: every mantissa bit random.
    let accel: Vec<f64> = (0..n)
        .map(|i| {
            let base = if i % 400 < 250 { 0.35 } else { 0.03 };
            let normal =
                (r.unit() + r.unit() + r.unit() + r.unit() - 2.0) * 1.732_050_807_568_877_2;
            (base * (1.0 + 0.15 * normal)).abs() + 1e-4 * r.unit()
        })
        .collect();
    // Both signs and every special value, among random floats.
    let specials = [
        f64::from_bits(NAN_PAYLOAD),
        f64::from_bits(NEG_SNAN),
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::from_bits(1),
        f64::MAX,
        f64::MIN_POSITIVE,
    ];
    let swing: Vec<f64> = (0..n)
        .map(|i| {
            if i % 70 == 17 {
                specials[(i / 70) % specials.len()]
            } else {
                (r.unit() - 0.5) * 20.0
            }
        })
        .collect();
    // A slow count in the high bits over 32 random low bits; and i64 extremes.
    let adc: Vec<i64> = (0..n as i64)
        .map(|i| ((i / 100) << 32) | (r.next() >> 32) as i64)
        .collect();
    let wide: Vec<i64> = (0..n)
        .map(|i| match i % 200 {
            3 => i64::MIN,
            4 => i64::MAX,
            _ => r.next() as i64 >> 20,
        })
        .collect();
    vec![GoldenDevice {
        name: "shaker-1",
        ts,
        columns: vec![
            ("accel", Column::dense(Values::F64(accel))),
            ("swing", Column::dense(Values::F64(swing))),
            ("adc", Column::dense(Values::I64(adc))),
            ("wide", Column::dense(Values::I64(wide))),
        ],
    }]
}

/// The points stored in `tests/data/v3/patched.seg`: decimals of mixed precision, for
/// which the version 3 codec DECIMAL_PATCHED wins, with raw exceptions among the
/// patches. Deterministic, and like [`golden_contents`] it must keep describing exactly
/// what the committed file holds.
fn patched_contents() -> Vec<GoldenDevice> {
    let n = 1200usize;
    let mut r = Rng(0x5eed_0003);
    let t0 = 1_760_000_000_000_000i64;
    let ts: Vec<i64> = (0..n as i64).map(|i| t0 + i * 3_600_000_000).collect();
    // Ozone in µg/m³ as the Beijing data has it: integer readings, and for stretches
    // readings converted from ppb (0.1 ppb steps times 2.142, so four decimals:
    // `1.4994`). The conversion is written as the decimal it prints as.
    let mut level = 600i64;
    let specials = [
        f64::from_bits(NAN_PAYLOAD),
        -0.0,
        f64::INFINITY,
        f64::MAX,
        // An interpolated reading: a decimal, but at 14 digits, not the patches' 4.
        4.666_666_666_666_67,
        f64::from_bits(1),
    ];
    let o3: Vec<f64> = (0..n)
        .map(|i| {
            level = (level + r.below(41) as i64 - 20).clamp(5, 3000);
            if i % 97 == 41 {
                specials[(i / 97) % specials.len()]
            } else if (i / 150) % 2 == 1 {
                (level * 2142) as f64 / 1e4
            } else {
                (level / 10) as f64
            }
        })
        .collect();
    // Temperature in one decimal, with one stretch in three per 500 rows (a
    // calibration run).
    let mut t = 150i64;
    let temp: Vec<f64> = (0..n)
        .map(|i| {
            t = (t + r.below(7) as i64 - 3).clamp(-300, 400);
            if (i / 50) % 10 == 3 {
                (t * 100 + r.below(100) as i64) as f64 / 1000.0
            } else {
                t as f64 / 10.0
            }
        })
        .collect();
    vec![GoldenDevice {
        name: "station-7",
        ts,
        columns: vec![
            ("o3", Column::dense(Values::F64(o3))),
            ("temp", Column::dense(Values::F64(temp))),
        ],
    }]
}

/// The points stored in `tests/data/v4/refs.seg`: three weather stations, two of which
/// report the same readings (as Beijing's air-quality stations share weather stations),
/// so the version 4 writer stores their columns once and refers to them. Deterministic,
/// and like [`golden_contents`] it must keep describing exactly what the committed file
/// holds.
fn refs_contents() -> Vec<GoldenDevice> {
    let n = 1000usize;
    let mut r = Rng(0x5eed_0004);
    let t0 = 1_780_000_000_000_000i64;
    let ts: Vec<i64> = (0..n as i64).map(|i| t0 + i * 3_600_000_000).collect();
    let mut t = 120i64;
    let temp: Vec<f64> = (0..n)
        .map(|i| {
            t = (t + r.below(7) as i64 - 3).clamp(-300, 400);
            if i == 700 {
                f64::from_bits(NAN_PAYLOAD)
            } else {
                t as f64 / 10.0
            }
        })
        .collect();
    // Missing readings, so a validity bitmap travels with the referenced chunk.
    let temp = Column {
        values: Values::F64(
            temp.iter()
                .enumerate()
                .filter(|(i, _)| i % 53 != 7)
                .map(|(_, v)| *v)
                .collect(),
        ),
        validity: Some((0..n).map(|i| i % 53 != 7).collect()),
    };
    let dirs = ["N", "NNE", "NE", "E", "SE", "S", "SW", "W", "NW"];
    let mut d = 0usize;
    let wind: StrValues = (0..n)
        .map(|_| {
            d = (d + r.below(3) as usize + dirs.len() - 1) % dirs.len();
            dirs[d]
        })
        .collect();
    let mut p = 10_130i64;
    let pres: Vec<i64> = (0..n)
        .map(|_| {
            p += r.below(5) as i64 - 2;
            p
        })
        .collect();
    let rain: Vec<bool> = (0..n)
        .map(|i| (i / 40) % 5 == 2 || r.below(50) == 0)
        .collect();
    // A third station whose own sensor reads differently from the other two, except for
    // a pressure series it copies for the first half (one block in two shared), and
    // whose temperature repeats the second station's pm25 readings.
    let mut q = 10_050i64;
    let own_pres: Vec<i64> = (0..n)
        .map(|i| {
            q += r.below(5) as i64 - 2;
            if i < n / 2 {
                pres[i]
            } else {
                q
            }
        })
        .collect();
    let own_temp: Vec<f64> = (0..n).map(|i| (i % 300) as f64 / 10.0 - 5.0).collect();
    let shared = || {
        vec![
            ("pres", Column::dense(Values::I64(pres.clone()))),
            ("rain", Column::dense(Values::Bool(rain.clone()))),
            ("temp", temp.clone()),
            ("wind", Column::dense(Values::Str(wind.clone()))),
        ]
    };
    let mut b = shared();
    b.push(("pm25", Column::dense(Values::F64(own_temp.clone()))));
    vec![
        GoldenDevice {
            name: "aoti",
            ts: ts.clone(),
            columns: shared(),
        },
        GoldenDevice {
            name: "guanyuan",
            ts: ts.clone(),
            columns: b,
        },
        GoldenDevice {
            name: "huairou",
            ts,
            columns: vec![
                ("pres", Column::dense(Values::I64(own_pres))),
                ("temp", Column::dense(Values::F64(own_temp))),
            ],
        },
    ]
}

/// The points stored in `tests/data/v5/pco.seg`: the series for which the version 5
/// codec `PCO` (format.md §10.6) wins. Deterministic, and like [`golden_contents`] it must
/// keep describing exactly what the committed file holds.
fn pco_contents() -> Vec<GoldenDevice> {
    let n = 1500usize;
    let mut r = Rng(0x5eed_0005);
    let t0 = 1_760_000_000_000_000i64;
    // Readings about a minute apart that drift off the minute, as the occupancy data's.
    let mut t = t0;
    let ts: Vec<i64> = (0..n)
        .map(|_| {
            t += 59_000_000 + r.below(2_000_000) as i64;
            t
        })
        .collect();
    // A transformer's load printed from f32 with ten significant digits
    // (`1.279000044`), from 200 levels drawn unevenly, with special values among them.
    let levels: Vec<f64> = (0..200)
        .map(|k| format!("{:.9}", 1.0f32 + k as f32 * 0.013).parse().unwrap())
        .collect();
    let specials = [
        f64::from_bits(NAN_PAYLOAD),
        -0.0,
        f64::NEG_INFINITY,
        f64::from_bits(NEG_SNAN),
        f64::from_bits(1),
    ];
    let load: Vec<f64> = (0..n)
        .map(|i| {
            if i % 211 == 17 {
                specials[(i / 211) % specials.len()]
            } else {
                let a = r.below(200) as usize;
                levels[a.min(r.below(200) as usize)]
            }
        })
        .collect();
    // A ratio computed from two readings and printed at full precision.
    let ratio: Vec<f64> = (0..n)
        .map(|i| 0.0045 + 0.0003 * ((i as f64) / 90.0).sin() + r.unit() * 1e-5)
        .collect();
    // An integer channel whose readings are multiples of 100 but for a few odd ones,
    // with the i64 extremes among them.
    let co: Vec<i64> = (0..n)
        .map(|i| match i {
            700 => i64::MIN,
            701 => i64::MAX,
            _ if r.below(100) == 0 => r.below(5000) as i64,
            _ => 100 * r.below(60) as i64,
        })
        .collect();
    vec![GoldenDevice {
        name: "substation-2",
        ts,
        columns: vec![
            ("load", Column::dense(Values::F64(load))),
            ("ratio", Column::dense(Values::F64(ratio))),
            ("co", Column::dense(Values::I64(co))),
        ],
    }]
}

/// The points stored in `tests/data/v5/decimal_pco.seg`: a CO2 sensor read every
/// minute at one decimal, mostly stepping by a few tenths and now and then jumping,
/// with special values as DECIMAL exceptions; its mantissas go to PCO inside DECIMAL.
fn decimal_pco_contents() -> Vec<GoldenDevice> {
    let n = 1500usize;
    let mut r = Rng(0x5eed_0006);
    let t0 = 1_760_000_000_000_000i64;
    let ts: Vec<i64> = (0..n as i64).map(|i| t0 + i * 60_000_000).collect();
    let mut level = 6000i64;
    let co2: Vec<f64> = (0..n)
        .map(|i| {
            let mut step = (0..4).map(|_| r.below(4) as i64).sum::<i64>() - 6;
            if r.below(50) == 0 {
                step += r.below(2048) as i64 - 1024;
            }
            level = (level + step).clamp(3000, 20000);
            match i {
                333 => f64::from_bits(NAN_PAYLOAD),
                334 => -0.0,
                999 => f64::INFINITY,
                _ => level as f64 / 10.0,
            }
        })
        .collect();
    vec![GoldenDevice {
        name: "room-7",
        ts,
        columns: vec![("co2", Column::dense(Values::F64(co2)))],
    }]
}

fn golden_path(version: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(version)
        .join(name)
}

/// Timestamps of the present rows of `col`.
fn present_ts(ts: &[i64], col: &Column) -> Vec<i64> {
    match &col.validity {
        None => ts.to_vec(),
        Some(bm) => ts
            .iter()
            .zip(bm.iter().by_vals())
            .filter(|(_, p)| *p)
            .map(|(t, _)| *t)
            .collect(),
    }
}

/// Checks that the golden file `version/name` decodes to exactly `want`: every block,
/// every series bit for bit, and footer aggregates equal to exact ones.
fn check_golden(version: u16, name: &str, want: &[GoldenDevice]) -> Segment {
    let path = golden_path(&format!("v{version}"), name);
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.len() <= 48 << 10,
        "golden file grew to {}",
        bytes.len()
    );
    assert_eq!(
        header::read_header(&bytes).unwrap(),
        version,
        "{name}: not a v{version} file"
    );

    let seg = Segment::open(&path).unwrap();
    let names: Vec<&str> = want.iter().map(|d| d.name).collect();
    assert_eq!(seg.devices(), names.as_slice());

    // Every block decodes, and each device's blocks hold exactly its rows.
    let mut ts_of = vec![Vec::new(); want.len()];
    let mut buf = ColumnBuf::default();
    let mut ts = Vec::new();
    for i in 0..seg.footer().blocks.len() {
        let block = seg.block(i).unwrap();
        block.timestamps(&mut ts).unwrap();
        ts_of[block.meta().device as usize].extend_from_slice(&ts);
        for ci in 0..block.meta().columns.len() {
            block.column(ci, &mut buf).unwrap();
        }
    }
    assert!(seg.footer().blocks.len() >= 2, "want several blocks");

    for (dev, got_ts) in want.iter().zip(&ts_of) {
        assert_eq!(&dev.ts, got_ts, "{}: timestamps", dev.name);
        for (ch, col) in &dev.columns {
            let what = format!("{}/{ch}", dev.name);
            let mut s = Series::new(col.values.value_type());
            seg.read_series(dev.name, ch, TimeRange::ALL, &mut s)
                .unwrap();
            assert_eq!(s.timestamps, present_ts(&dev.ts, col), "{what}: timestamps");
            assert_eq!(vals(&s.values), vals(&col.values), "{what}: values");

            let agg = seg.aggregate(dev.name, ch, TimeRange::ALL).unwrap();
            let exact = ColumnStats::compute(&col.values, &present_ts(&dev.ts, col));
            assert_eq!(agg.stats.count, exact.count, "{what}: count");
            // `Value` compares f64 bit-exactly.
            assert_eq!(agg.stats.min(), exact.min(), "{what}: min");
            assert_eq!(agg.stats.max(), exact.max(), "{what}: max");
            assert_eq!(agg.stats.first(), exact.first(), "{what}: first");
            assert_eq!(agg.stats.last(), exact.last(), "{what}: last");
        }
    }
    seg
}

#[test]
fn v1_basic_decodes_exactly() {
    let seg = check_golden(1, "basic.seg", &golden_contents());
    assert!(seg.footer().blocks.len() >= 4, "want several blocks");
}

#[test]
fn v2_basic_decodes_exactly() {
    let seg = check_golden(2, "basic.seg", &golden_contents());
    assert!(seg.footer().blocks.len() >= 4, "want several blocks");
}

/// The f64 codec of each block's column `ch`.
fn codecs_of(seg: &Segment, ch: &str) -> Vec<u8> {
    let c = seg.channels().iter().position(|x| x == ch).unwrap() as u32;
    let blocks = &seg.footer().blocks;
    blocks
        .iter()
        .flat_map(|b| b.columns.iter().filter(|m| m.channel == c).map(|m| m.codec))
        .collect()
}

#[test]
fn v2_split_decodes_exactly() {
    let seg = check_golden(2, "split.seg", &split_contents());
    // The file pins the version 2 codecs, not just version 2 headers: the f64 codec
    // SPLIT (5), whose payload starts with IntStream kind SPLIT (4), and a DELTA column
    // whose IntStream (after its i64 `first`) is SPLIT_ZIGZAG (5).
    assert!(codecs_of(&seg, "accel").contains(&iotarc::codec::float::SPLIT));
    let bytes = std::fs::read(golden_path("v2", "split.seg")).unwrap();
    let b = &seg.footer().blocks[0];
    let chunk = |ch: &str| {
        let c = seg.channels().iter().position(|x| x == ch).unwrap() as u32;
        let m = b.columns.iter().find(|m| m.channel == c).unwrap();
        &bytes[(b.offset + m.chunk_offset) as usize..]
    };
    // chunk: flags, codec, payload
    assert_eq!(chunk("accel")[..3], [0, iotarc::codec::float::SPLIT, 4]);
    assert_eq!(chunk("wide")[1], iotarc::codec::int::DELTA);
    assert_eq!(chunk("wide")[10], 5);
}

#[test]
fn v3_patched_decodes_exactly() {
    let seg = check_golden(3, "patched.seg", &patched_contents());
    // The file pins DECIMAL_PATCHED itself: every temp block, and o3's first two (its
    // last, three quarters converted readings, is DECIMAL at e = 4).
    use iotarc::codec::float::{DECIMAL, DECIMAL_PATCHED};
    let p = DECIMAL_PATCHED;
    assert_eq!(codecs_of(&seg, "o3"), [p, p, DECIMAL]);
    assert_eq!(codecs_of(&seg, "temp"), [p, p, p]);
}

#[test]
fn v4_refs_decodes_exactly() {
    let seg = check_golden(4, "refs.seg", &refs_contents());
    // The file pins chunk references: every shared column of the second station refers
    // to the first's, and the third station's pressure for its first blocks only.
    let r = iotarc::format::chunkref::REF;
    let f = seg.footer();
    let refs_of = |dev: &str, ch: &str| -> Vec<bool> {
        let d = seg.device_id(dev).unwrap();
        let c = seg.channel_id(ch).unwrap();
        f.blocks
            .iter()
            .filter(|b| b.device == d)
            .flat_map(|b| b.columns.iter().filter(|m| m.channel == c))
            .map(|m| m.codec == r)
            .collect()
    };
    for ch in ["pres", "rain", "temp", "wind"] {
        assert!(refs_of("aoti", ch).iter().all(|x| !x), "aoti/{ch}");
        assert!(refs_of("guanyuan", ch).iter().all(|x| *x), "guanyuan/{ch}");
    }
    assert!(refs_of("guanyuan", "pm25").iter().all(|x| !x));
    // huairou copies aoti's pressure for rows 0..500: exactly the blocks that end
    // before row 500 refer to aoti's.
    let d = seg.device_id("huairou").unwrap();
    let mut end = 0;
    let before: Vec<bool> = f
        .blocks
        .iter()
        .filter(|b| b.device == d)
        .map(|b| {
            end += b.rows;
            end <= 500
        })
        .collect();
    assert!(before.contains(&true) && before.contains(&false));
    assert_eq!(refs_of("huairou", "pres"), before);
    // huairou's temperature is byte for byte guanyuan's pm25: a reference may name a
    // chunk of another channel.
    assert!(refs_of("huairou", "temp").iter().all(|x| *x));
}

#[test]
fn v5_pco_decodes_exactly() {
    let seg = check_golden(5, "pco.seg", &pco_contents());
    // The file pins PCO for f64 and i64 columns: every block of all three channels.
    let f = seg.footer();
    for b in &f.blocks {
        for m in &b.columns {
            let want = match m.vtype {
                ValueType::F64 => iotarc::codec::float::PCO,
                _ => iotarc::codec::int::PCO,
            };
            assert_eq!(m.codec, want, "channel {}", m.channel);
        }
    }
    // chunk: flags, codec, pcodec format version 4.1 (format.md §10.6)
    let bytes = std::fs::read(golden_path("v5", "pco.seg")).unwrap();
    let b = &f.blocks[0];
    let at = (b.offset + b.columns[0].chunk_offset) as usize;
    assert_eq!(bytes[at..at + 4], [0, iotarc::codec::float::PCO, 4, 1]);
}

/// The version 5 writer's files of the earlier generators: `basic.seg` has PCO in a
/// short block of timestamps and one of an i64 column, `split.seg` in most columns.
#[test]
fn v5_earlier_contents_decode_exactly() {
    check_golden(5, "basic.seg", &golden_contents());
    let seg = check_golden(5, "split.seg", &split_contents());
    assert!(codecs_of(&seg, "accel").contains(&iotarc::codec::float::PCO));
    check_golden(5, "refs.seg", &refs_contents());
    // DECIMAL_PATCHED whose main mantissas are PCO (C45 in v5).
    let seg = check_golden(5, "patched.seg", &patched_contents());
    assert!(codecs_of(&seg, "o3").contains(&iotarc::codec::float::DECIMAL_PATCHED));
}

/// format.md §10.3, C45: a v5 DECIMAL chunk whose main mantissas are PCO.
#[test]
fn v5_decimal_with_pco_mantissas_decodes_exactly() {
    let seg = check_golden(5, "decimal_pco.seg", &decimal_pco_contents());
    let bytes = std::fs::read(golden_path("v5", "decimal_pco.seg")).unwrap();
    let f = seg.footer();
    let mut pco_inner = 0;
    for b in &f.blocks {
        let m = &b.columns[0];
        assert_eq!(m.codec, iotarc::codec::float::DECIMAL);
        // chunk: flags, codec DECIMAL, e = 1, exceptions, then the inner codec
        let at = (b.offset + m.chunk_offset) as usize;
        assert_eq!(bytes[at + 1..at + 3], [iotarc::codec::float::DECIMAL, 1]);
        if bytes[at + 3] == 0 {
            pco_inner += (bytes[at + 4] == iotarc::codec::int::PCO) as usize;
        }
    }
    assert!(pco_inner >= 2, "{pco_inner} blocks with PCO mantissas");
}

/// The golden file `from/name` relabelled as format version `to` (header check fixed),
/// and the error of decoding the first block whose column `ch` fails.
fn decode_relabelled(from: &str, name: &str, to: u16, ch: &str) -> Error {
    let mut bytes = std::fs::read(golden_path(from, name)).unwrap();
    bytes[8..10].copy_from_slice(&to.to_le_bytes());
    let check = (xxhash_rust::xxh3::xxh3_64(&bytes[..12]) as u32).to_le_bytes();
    bytes[12..16].copy_from_slice(&check);
    let seg = Segment::from_bytes(bytes).unwrap();
    let c = seg.channels().iter().position(|x| x == ch).unwrap() as u32;
    (0..seg.footer().blocks.len())
        .find_map(|i| {
            let b = seg.block(i).unwrap();
            let ci = b.meta().columns.iter().position(|m| m.channel == c)?;
            b.column(ci, &mut ColumnBuf::default()).err()
        })
        .expect("some block fails")
}

/// A file may not use the codecs a later version added: the same blocks under an
/// earlier header are corrupt, reported with the block, never decoded.
#[test]
fn later_codecs_in_an_earlier_file_are_corrupt() {
    // C21
    for (from, name, to, ch, codec) in [
        ("v2", "split.seg", 1, "accel", "f64 codec 5"),
        ("v3", "patched.seg", 2, "o3", "f64 codec 6"),
        ("v3", "patched.seg", 1, "temp", "f64 codec 6"),
        ("v5", "pco.seg", 4, "load", "f64 codec 7"),
        ("v5", "pco.seg", 4, "co", "integer codec 8"),
        ("v5", "decimal_pco.seg", 4, "co2", "integer codec 8"),
        ("v5", "patched.seg", 4, "temp", "integer codec 8"),
    ] {
        let e = decode_relabelled(from, name, to, ch);
        assert!(matches!(e.kind(), ErrorKind::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains(codec), "{from}/{name} as v{to}: {e}");
    }
}

/// Writes the golden files of the writer's format version from [`golden_contents`],
/// [`split_contents`], [`patched_contents`] and [`refs_contents`], skipping those that exist and those the
/// writer stamps with an earlier version (they would not be golden files of this one).
/// Run only when creating golden files that do not exist yet (see
/// `tests/data/README.md`); committed golden files are never rewritten.
#[test]
#[ignore = "writes the golden file; run by hand only when adding a new version's file"]
fn regenerate_golden() {
    let version = format!("v{}", header::VERSION);
    for (name, contents) in [
        ("basic.seg", golden_contents()),
        ("split.seg", split_contents()),
        ("patched.seg", patched_contents()),
        ("refs.seg", refs_contents()),
        ("pco.seg", pco_contents()),
        ("decimal_pco.seg", decimal_pco_contents()),
    ] {
        let path = golden_path(&version, name);
        if path.exists() {
            // Committed golden files are never rewritten (delete one by hand only if it
            // was never committed).
            eprintln!("{} exists; left as it is", path.display());
            continue;
        }
        write_golden(&path, contents);
        let stamped = header::read_header(&std::fs::read(&path).unwrap()).unwrap();
        if stamped != header::VERSION {
            eprintln!("{name}: the writer stamps version {stamped}; not written");
            std::fs::remove_file(&path).unwrap();
        }
    }
}

fn write_golden(path: &std::path::Path, contents: Vec<GoldenDevice>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let opts = WriterOptions {
        target_rows: 512,
        ..Default::default()
    };
    let mut w = SegmentWriter::create(path, opts).unwrap();
    for dev in contents {
        let cols: Vec<(&str, &Column)> = dev.columns.iter().map(|(n, c)| (*n, c)).collect();
        w.add(dev.name, &dev.ts, &cols).unwrap();
    }
    let summary = w.finish().unwrap();
    eprintln!(
        "wrote {} ({} bytes, {} blocks)",
        summary.path.display(),
        summary.bytes,
        summary.blocks
    );
    let seg = Segment::open(path).unwrap();
    for b in &seg.footer().blocks {
        let codecs: Vec<String> = b
            .columns
            .iter()
            .map(|c| {
                let ch = &seg.channels()[c.channel as usize];
                format!("{ch}={}", c.vtype.codec_name(c.codec))
            })
            .collect();
        eprintln!(
            "block: device {} rows {} ts={} {}",
            b.device,
            b.rows,
            ValueType::I64.codec_name(b.ts_codec),
            codecs.join(" ")
        );
    }
}

/// The rows of `tests/data/archive-v1/` and `archive-v2/`: this CSV packed with
/// `iotarc pack in.csv -o arch --partition day` by the writer of each manifest version.
/// Segment files and index are the same in both; only the manifest differs.
const ARCHIVE_CSV: &str = "timestamp,device,channel,value
2024-03-01T00:00:00Z,boiler-1,temp,20.5
2024-03-01T00:00:01Z,boiler-1,temp,20.625
2024-03-01T00:00:00Z,boiler-2,temp,19
2024-03-01T00:00:00Z,boiler-2,state,on
2024-03-02T00:00:00Z,boiler-1,temp,21
2024-03-02T00:00:00Z,boiler-1,pressure,1.5
";

const MAR1: i64 = 1_709_251_200_000_000;
const MAR2: i64 = MAR1 + 86_400_000_000;

fn check_golden_archive(dir: &std::path::Path) {
    use iotarc::archive::{Agg, Archive};
    assert_eq!(ARCHIVE_CSV.lines().count(), 7);
    let a = Archive::open(dir).unwrap();
    let m = a.manifest();
    assert_eq!(m.generation, 1);
    assert_eq!(m.next_seq, Some(2));
    assert_eq!(m.index.as_deref(), Some("INDEX-000002"));
    let segs: Vec<_> = m
        .segments
        .iter()
        .map(|s| {
            let chans: Vec<_> = s
                .channels
                .iter()
                .map(|c| (c.name.as_str(), c.types.join("+")))
                .collect();
            (
                s.path.as_str(),
                s.partition,
                s.devices.to_vec(),
                chans,
                s.rows,
                s.points,
                s.index,
            )
        })
        .collect();
    assert_eq!(
        segs,
        [
            (
                "seg/2024-03-01/g000001-0000.seg",
                MAR1,
                vec!["boiler-1".to_string(), "boiler-2".into()],
                vec![("temp", "f64+i64".to_string()), ("state", "string".into())],
                3,
                4,
                Some([16, 300])
            ),
            (
                "seg/2024-03-02/g000001-0001.seg",
                MAR2,
                vec!["boiler-1".to_string()],
                vec![("temp", "i64".to_string()), ("pressure", "f64".into())],
                1,
                2,
                Some([316, 225])
            ),
        ]
    );
    let mut raw = Vec::new();
    a.query()
        .run_raw(|d, c, t, v| {
            raw.push(format!("{t},{d},{c},{v:?}"));
            Ok(true)
        })
        .unwrap();
    assert_eq!(
        raw,
        [
            format!("{MAR2},boiler-1,pressure,F64(1.5)"),
            format!("{MAR1},boiler-1,temp,F64(20.5)"),
            format!("{},boiler-1,temp,F64(20.625)", MAR1 + 1_000_000),
            format!("{MAR2},boiler-1,temp,I64(21)"),
            format!("{MAR1},boiler-2,state,Str(\"on\")"),
            format!("{MAR1},boiler-2,temp,I64(19)"),
        ]
    );
    // From the index (aggregates), then from the segments alone.
    let (rows, st) = a
        .query()
        .channel("temp")
        .aggregates(&[Agg::Count, Agg::Sum])
        .run_aggregate()
        .unwrap();
    assert_eq!(st.segments_from_index, 2);
    let got: Vec<_> = rows
        .iter()
        .map(|r| format!("{} {} {:?}", r.device, r.count, r.values[1]))
        .collect();
    assert_eq!(
        got,
        ["boiler-1 3 Some(F64(62.125))", "boiler-2 1 Some(I64(19))"]
    );
}

#[test]
fn archive_manifest_v1_v2_and_v3_read_the_same() {
    for (v, byte) in [("archive-v1", 1u8), ("archive-v2", 2), ("archive-v3", 3)] {
        let dir = golden_path(v, "");
        let head = std::fs::read(dir.join("MANIFEST")).unwrap();
        assert_eq!(&head[..8], b"\x89IOTMAN\n");
        assert_eq!(head[8..10], [byte, 0], "{v}: manifest version");
        check_golden_archive(&dir);
        // Version 3 names each segment's content (archive.md §2.3); older ones do not.
        let m = iotarc::archive::Manifest::read(&dir).unwrap();
        for s in &m.segments {
            let sum = Segment::open(dir.join(&s.path))
                .unwrap()
                .footer_location()
                .1;
            let want = (byte >= 3).then_some(sum);
            assert_eq!(s.checksum, want, "{v}: {}", s.path);
        }
    }
}

/// A commit rewrites an older manifest as the current version (3), and records the
/// footer checksum of every segment the old one listed without it (archive.md L7).
#[test]
fn archive_manifest_v1_is_rewritten_as_v3_by_a_commit() {
    use iotarc::archive::{Origin, PackOptions, PackValue, Packer};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("arch");
    copy_dir(&golden_path("archive-v1", ""), &dir);
    let mut p = Packer::open(&dir, PackOptions::default()).unwrap();
    p.push(
        "boiler-3",
        "temp",
        MAR2 + 5,
        PackValue::F64(7.25),
        Origin { input: 0, line: 2 },
    );
    p.commit(0).unwrap();
    let head = std::fs::read(dir.join("MANIFEST")).unwrap();
    assert_eq!(u16::from_le_bytes([head[8], head[9]]), 3);
    let a = iotarc::archive::Archive::open(&dir).unwrap();
    let m = a.manifest();
    assert_eq!(m.segments.len(), 3);
    for s in &m.segments {
        let seg = Segment::open(dir.join(&s.path)).unwrap();
        assert_eq!(s.checksum, Some(seg.footer_location().1), "{}", s.path);
    }
    // The old segments keep their entries; the device list of the new one is its own.
    let old = iotarc::archive::Manifest::read(&golden_path("archive-v1", "")).unwrap();
    assert_eq!(m.segments[..2].len(), old.segments.len());
    for (n, o) in m.segments.iter().zip(&old.segments) {
        assert_eq!(
            (n.path.as_str(), &n.devices, &n.channels),
            (o.path.as_str(), &o.devices, &o.channels)
        );
    }
    assert_eq!(m.segments[2].devices.to_vec(), ["boiler-3"]);
}

/// `tests/data/archive-v2-summaries/`: [`write_summary_archive`]'s rows, packed with
/// 16-row blocks so every channel of every device has several blocks in its segment and
/// every index record carries a summary (archive.md §9.2, record encodings 2 and 3).
const PUMPS: [&str; 2] = ["pump-1", "pump-2"];

fn write_summary_archive(dir: &std::path::Path) {
    use iotarc::archive::{Origin, PackOptions, PackValue, Packer, PartitionUnit};
    let opts = PackOptions {
        partition: Some(PartitionUnit::Day),
        writer: WriterOptions {
            target_rows: 16,
            ..Default::default()
        },
        ..PackOptions::default()
    };
    let mut p = Packer::open(dir, opts).unwrap();
    for (d, name) in PUMPS.iter().enumerate() {
        for i in 0..100i64 {
            let ts = MAR1 + i * 60_000_000;
            let o = Origin {
                input: 0,
                line: i as u64 + 2,
            };
            let temp = 10.0 + (i % 20) as f64 * 0.25 + d as f64;
            p.push(name, "temp", ts, PackValue::F64(temp), o);
            p.push(name, "count", ts, PackValue::I64(i * 3 - 50), o);
            let state = ["on", "off", "idle"][i as usize % 3];
            p.push(name, "state", ts, PackValue::Str(state.into()), o);
        }
    }
    p.commit(0).unwrap();
}

#[test]
fn archive_index_summaries_read_and_answer_exactly() {
    use iotarc::archive::index::merge_channel;
    use iotarc::archive::{Agg, Archive};
    let dir = golden_path("archive-v2-summaries", "");
    let a = Archive::open(&dir).unwrap();
    let ix = a.index().expect("the golden archive has an index");
    let m = a.manifest();
    assert_eq!(m.segments.len(), 1);
    let e = &m.segments[0];
    let g = ix.group(e).unwrap().unwrap();
    for i in 0..e.devices.len() {
        let part = g.part(i).unwrap().footer;
        let sum = g.summary(i).unwrap().expect("every record has a summary");
        assert_eq!(sum.len(), 3);
        for (ch, cs) in sum.iter().enumerate() {
            assert_eq!(cs.name, part.channels[ch]);
            let m = cs.merged.as_ref().expect("several blocks per channel");
            assert!(m.blocks >= 5, "{}: {} blocks", cs.name, m.blocks);
            assert_eq!(
                Some(m),
                merge_channel(&part.blocks, ch as u32).unwrap().as_ref()
            );
        }
    }
    // The stored summaries equal those computed from the segment's own footer.
    let seg = a.open_segment(e).unwrap();
    assert!(ix.check_segment(e, &seg).unwrap());
    let (rows, st) = a
        .query()
        .aggregates(&[
            Agg::Count,
            Agg::Min,
            Agg::Max,
            Agg::Sum,
            Agg::First,
            Agg::Last,
        ])
        .run_aggregate()
        .unwrap();
    assert_eq!((st.blocks_decoded, st.segments_opened), (0, 0));
    let got: Vec<String> = rows
        .iter()
        .map(|r| {
            let v: Vec<String> = r
                .values
                .iter()
                .map(|v| v.as_ref().map_or("-".into(), |v| format!("{v:?}")))
                .collect();
            format!("{} {} {}", r.device, r.channel, v.join(" "))
        })
        .collect();
    assert_eq!(
        got,
        [
            "pump-1 count I64(100) I64(-50) I64(247) I64(9850) I64(-50) I64(247)",
            "pump-1 state I64(100) Str(\"idle\") Str(\"on\") - Str(\"on\") Str(\"on\")",
            "pump-1 temp I64(100) F64(10.0) F64(14.75) F64(1237.5) F64(10.0) F64(14.75)",
            "pump-2 count I64(100) I64(-50) I64(247) I64(9850) I64(-50) I64(247)",
            "pump-2 state I64(100) Str(\"idle\") Str(\"on\") - Str(\"on\") Str(\"on\")",
            "pump-2 temp I64(100) F64(11.0) F64(15.75) F64(1337.5) F64(11.0) F64(15.75)",
        ]
    );
}

#[test]
#[ignore = "writes the golden archive; run by hand only when adding a new version's files"]
fn regenerate_summary_archive() {
    let dir = golden_path("archive-v2-summaries", "");
    assert!(
        !dir.exists(),
        "{} exists; committed golden files are never rewritten",
        dir.display()
    );
    write_summary_archive(&dir);
    let _ = std::fs::remove_file(dir.join("LOCK"));
}
