//! Writes the seed inputs in `fuzz/seeds/<target>/`: valid encodings of each codec (as
//! the encoders produce them today) and valid segments, so the fuzzer starts from inputs
//! that reach deep into each decoder instead of failing on the first byte.
//!
//! Run from `fuzz/`: `cargo run --example make_seeds`. Seeds are inputs, not
//! expectations: rewriting them when the encoders change is fine.

use iotarc::codec::{
    boolean, float, gorilla, int, intstream, pco_chunk, string, validity, Options,
};
use iotarc::{Bitmap, StrValues};
use std::fs;
use std::path::{Path, PathBuf};

fn seeds_dir(target: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `count (2 bytes, with the flag in the top bit) ++ payload`.
fn put(target: &str, name: &str, n: usize, flag: bool, payload: &[u8]) {
    let head = (n as u16 & 0x7fff) | if flag { 0x8000 } else { 0 };
    let mut b = head.to_le_bytes().to_vec();
    b.extend_from_slice(payload);
    fs::write(seeds_dir(target).join(name), b).unwrap();
}

fn main() {
    let opts = Options::default();
    let no_zstd = Options {
        zstd_level: None,
        ..Options::default()
    };

    // Integers: one input per codec the encoder picks.
    let counter: Vec<i64> = (0..200).map(|i| 1000 + i * 3 + i / 7).collect();
    let noise: Vec<i64> = (0..300).map(|i: i64| (i * 7919) % 1021 - 500).collect();
    let jitter: Vec<i64> = (0..300)
        .map(|i: i64| 1_700_000_000_000_000 + i * 1_000_000 + (i * 31 % 17))
        .collect();
    let runs: Vec<i64> = (0..256).map(|i| [5, -9, 5, 1 << 40][i / 64]).collect();
    let ints: [(&str, Vec<i64>, bool); 7] = [
        ("const", vec![7; 10], false),
        ("linear", (0..50).map(|i| i * 1_000_000).collect(), true),
        ("delta", counter, false),
        ("for", noise, false),
        ("timestamps", jitter, true),
        ("rle", runs, false),
        ("extremes", vec![i64::MIN, i64::MAX, 0, -1, i64::MIN], false),
    ];
    for (name, v, ts) in &ints {
        let mut out = Vec::new();
        let c = int::encode(v, int::Allowed::ALL, *ts, &opts, &mut out);
        put(
            "decode_int",
            &format!("{name}-{}", int::name(c)),
            v.len(),
            false,
            &out,
        );
    }
    // PCO payloads (after the codec byte): f64 levels, noise and specials; i64 multiples.
    let levels: Vec<f64> = (0..700)
        .map(|i| ((i * 37 % 90) as f64 * 0.013 + 1.0) as f32 as f64)
        .collect();
    let noisy: Vec<f64> = (0..500)
        .map(|i| (i as f64 * 0.37).sin() * 1e-3 + 0.0045)
        .collect();
    let specials = vec![
        f64::NAN,
        -0.0,
        f64::INFINITY,
        f64::from_bits(1),
        2.5,
        f64::MAX,
    ];
    for (name, v) in [
        ("levels", &levels),
        ("noisy", &noisy),
        ("specials", &specials),
    ] {
        let mut out = Vec::new();
        assert!(pco_chunk::encode(v, pco_chunk::F64_CODEC, 8, &mut out));
        put(
            "decode_pco",
            &format!("f64-{name}"),
            v.len(),
            false,
            &out[1..],
        );
    }
    let mults: Vec<i64> = (0..600)
        .map(|i: i64| if i % 97 == 3 { i } else { (i * 7 % 50) * 100 })
        .collect();
    let mut out = Vec::new();
    assert!(pco_chunk::encode(&mults, pco_chunk::INT_CODEC, 8, &mut out));
    put("decode_pco", "i64-multiples", mults.len(), true, &out[1..]);

    let mut out = Vec::new();
    gorilla::encode_dod(&ints[4].1, &mut out);
    put("decode_gorilla", "dod", ints[4].1.len(), false, &out);

    // IntStream kinds: bit-packed, varint, zstd planes, zigzag zstd planes.
    let deltas: Vec<i64> = (0..500).map(|i: i64| (i * 7919) % 41 - 20).collect();
    for (name, v, signed, o) in [
        (
            "bitpack",
            (0..40).map(|i| i % 5).collect::<Vec<i64>>(),
            false,
            &no_zstd,
        ),
        (
            "varint",
            vec![1, 2, 1 << 50, 3, 4, 5, 6, 7, 8, 9, 10, 11],
            false,
            &no_zstd,
        ),
        (
            "zstd",
            (0..500).map(|i| (i % 3) << 20).collect(),
            false,
            &opts,
        ),
        ("zigzag", deltas.clone(), true, &opts),
        // Random low bytes under a sparse high part: SPLIT / SPLIT_ZIGZAG (v2).
        (
            "split",
            (0..300i64)
                .map(|i| ((i % 10 == 0) as i64) << 20 | (i * 7919 * 104_729) & 0xffff)
                .collect(),
            false,
            &opts,
        ),
        (
            "split-zigzag",
            (0..300i64)
                .map(|i| ((i % 10 == 0) as i64) << 20 | (i * 7919 * 104_729) & 0xffff)
                .collect(),
            true,
            &opts,
        ),
    ] {
        let mut out = Vec::new();
        intstream::encode(&v, signed, o, &mut out);
        put("decode_intstream", name, v.len(), false, &out);
    }

    // Floats.
    let decimals: Vec<f64> = (0..300).map(|i| 20.0 + (i % 37) as f64 / 10.0).collect();
    let mut with_exc = decimals.clone();
    with_exc[5] = f64::NAN;
    with_exc[77] = -0.0;
    let wave: Vec<f64> = (0..200).map(|i| (i as f64 * 0.1).sin()).collect();
    // Every mantissa bit noise: the SPLIT codec (v2).
    let mut x = 5u64;
    let noisy: Vec<f64> = (0..300)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            0.3 + (x >> 11) as f64 / (1u64 << 53) as f64 * 0.1
        })
        .collect();
    // Integers with runs of four-decimal values and a raw exception: DECIMAL_PATCHED (v3).
    let mut mixed: Vec<f64> = (0..300)
        .map(|i: i64| {
            let level = 200 + (i * 37) % 91;
            if (i / 40) % 2 == 1 {
                (level * 2142) as f64 / 1e4
            } else {
                level as f64
            }
        })
        .collect();
    mixed[99] = f64::from_bits(0x7ff8_0000_dead_beef);
    let floats: [(&str, Vec<f64>); 7] = [
        ("const", vec![1.5; 9]),
        ("rle", (0..256).map(|i| [1.0, 2.5][i / 128]).collect()),
        ("decimal", decimals),
        ("decimal-exceptions", with_exc),
        ("xor", wave),
        ("noise", noisy),
        ("mixed-precision", mixed),
    ];
    for (name, v) in &floats {
        let mut out = Vec::new();
        let c = float::encode(v, &opts, &mut out);
        put(
            "decode_float",
            &format!("{name}-{}", float::name(c)),
            v.len(),
            false,
            &out,
        );
    }
    let bits: Vec<u64> = floats[4].1.iter().map(|f| f.to_bits()).collect();
    let mut out = Vec::new();
    gorilla::encode_xor(&bits, &mut out);
    put("decode_gorilla", "xor", bits.len(), true, &out);

    // Strings, bools, validity.
    let sv: StrValues = (0..100).map(|i| ["ok", "warn", "", "°C"][i % 4]).collect();
    let mut out = Vec::new();
    string::encode(&sv, &opts, &mut out);
    put("decode_string", "dict", sv.len(), false, &out);
    for (name, v) in [
        ("const", vec![true; 20]),
        ("bits", (0..77).map(|i| i % 3 == 0).collect::<Vec<bool>>()),
    ] {
        let mut out = Vec::new();
        boolean::encode(&v, &mut out);
        put("decode_bool", name, v.len(), false, &out);
    }
    for (name, n) in [("raw", 21), ("zstd", 1000)] {
        let bm: Bitmap = (0..n).map(|i| i % 97 != 3).collect();
        let mut out = Vec::new();
        validity::encode(&bm, Some(3), &mut out);
        put("decode_validity", name, n, false, &out);
    }

    // Segments: each golden file as is (zstd footer) and resealed with a plain footer,
    // which is what lets mutations reach the footer parser.
    let dir = seeds_dir("segment_open");
    for (prefix, file) in [
        ("golden", "v1/basic.seg"),
        ("golden-v2-split", "v2/split.seg"),
        ("golden-v3-patched", "v3/patched.seg"),
        ("golden-v4-refs", "v4/refs.seg"),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/iotarc/tests/data")
            .join(file);
        let golden = fs::read(path).unwrap();
        let mut plain = golden.clone();
        iotarc_fuzz::reseal(&mut plain);
        iotarc::Segment::from_bytes(plain.clone()).expect("resealed golden file opens");
        for (name, mode, file) in [
            ("raw", 0u8, &golden),
            ("plain-raw", 0, &plain),
            ("plain-resealed", 1, &plain),
        ] {
            let mut b = vec![mode];
            b.extend_from_slice(file);
            fs::write(dir.join(format!("{prefix}-{name}")), b).unwrap();
        }
    }
    eprintln!("seeds written under {}", dir.parent().unwrap().display());
}
