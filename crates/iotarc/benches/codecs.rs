//! Codec and segment benchmarks on generated, deterministic sensor series.
//!
//! Throughput conventions (stated in every benchmark name):
//! - `col8B`: one column, `Throughput::Bytes(8 * n)` (raw i64 or f64 per value).
//! - `pt16B`: (timestamp, value) points, `Throughput::Bytes(16 * n)`.
//!
//! Groups:
//! - `column_encode` / `column_decode`: one codec call on one block-sized column.
//! - `point_encode` / `point_decode`: timestamp column + value column of one block.
//!   `codec/...` calls the codecs directly; `block/...` goes through
//!   `format::block::{encode, Block}` (adds footer statistics on encode, checksum and
//!   ordering checks on decode). `point_decode` is the headline metric: the target is
//!   >= 1 GB/s per core (62.5 M points/s) for decode and >= 300 MB/s for encode.
//! - `every_codec_encode` / `every_codec_decode`: one fixture per codec id of every value
//!   type (i64: raw, const, linear, for, delta, dod, rle, gorilla-dod; f64: raw, const,
//!   rle, gorilla-xor, decimal, split, decimal-patched; bool: bitpack, const; string:
//!   dict-zstd), each built so
//!   that the encoder's own choice is that codec (checked before timing). Throughput is
//!   `Throughput::Elements(n)` (values/s); bytes per value are in the summary table.
//! - `footer_aggregate`: a 3,153,600-point segment (36.5 days at 1 s): aggregate from
//!   footers, aggregate with both range edges mid-block, decode-everything-then-aggregate,
//!   and `Segment::open`.
//!
//! A table of bytes/sample and chosen codec per series is printed to stderr before the
//! benchmarks run (outside any timing loop).
//!
//! On a shared machine set `IOTARC_BENCH_CLOCK=cpu` (Linux) to measure the benchmark
//! thread's CPU time instead of wall time; criterion then prints "µs cpu" and "MB/s cpu".

use criterion::measurement::Measurement;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use iotarc::codec::bytes::Cursor;
use iotarc::codec::int::Allowed;
use iotarc::codec::{boolean, float, int, string, Options};
use iotarc::format::block;
use iotarc::{
    Block, Column, ColumnBuf, Segment, SegmentWriter, Series, StrValues, TimeRange, ValueType,
    Values, WriterOptions,
};
use std::hint::black_box;
use std::time::Duration;

/// Rows per block-sized series.
const N: usize = 8192;
/// 2023-11-14T22:13:20Z in microseconds.
const T0: i64 = 1_700_000_000_000_000;
const SEC: i64 = 1_000_000;

// ---------------------------------------------------------------------------------------
// Deterministic data generation
// ---------------------------------------------------------------------------------------

/// xorshift64* (Vigna): tiny, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [lo, hi].
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    /// Approximately standard normal (sum of 4 uniforms, rescaled).
    fn normal(&mut self) -> f64 {
        let s: f64 = (0..4).map(|_| self.f64()).sum();
        (s - 2.0) * (3.0f64).sqrt()
    }
}

fn ts_regular(n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| T0 + i * SEC).collect()
}

/// 1 s grid with uniform +-2 ms jitter, microsecond resolution.
fn ts_jitter(n: usize, seed: u64) -> Vec<i64> {
    let mut r = Rng::new(seed);
    (0..n as i64)
        .map(|i| T0 + i * SEC + r.range(-2000, 2000))
        .collect()
}

/// Event times: exponential gaps with a 20 s mean, microsecond resolution, bursts of
/// closely spaced events now and then.
fn ts_irregular(n: usize, seed: u64) -> Vec<i64> {
    let mut r = Rng::new(seed);
    let mut t = T0;
    (0..n)
        .map(|_| {
            let mean = if r.f64() < 0.1 { 0.05 } else { 20.0 };
            let gap = (-(1.0 - r.f64()).ln() * mean * 1e6) as i64 + 1;
            t += gap;
            t
        })
        .collect()
}

/// Indoor temperature, 1 decimal: daily sine + noise, e.g. 21.3.
fn temperature(ts: &[i64], seed: u64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    ts.iter()
        .map(|&t| {
            let day = (t % (86_400 * SEC)) as f64 / (86_400.0 * 1e6);
            let x = 21.0 + 2.5 * (2.0 * std::f64::consts::PI * day).sin() + 0.08 * r.normal();
            (x * 10.0).round() / 10.0
        })
        .collect()
}

/// Barometric pressure in hPa with 2 decimals, random walk around 1013.25.
fn pressure(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    let mut m: i64 = 101_325;
    (0..n)
        .map(|_| {
            m += r.range(-2, 2);
            m as f64 / 100.0
        })
        .collect()
}

/// Relative humidity as an integer-valued percentage, slowly drifting.
fn humidity(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    let mut h: i64 = 55;
    (0..n)
        .map(|_| {
            if r.f64() < 0.05 {
                h = (h + r.range(-1, 1)).clamp(20, 95);
            }
            h as f64
        })
        .collect()
}

/// Accelerometer reading: full-precision floats, high entropy.
fn vibration(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|i| 0.3 * (i as f64 * 0.37).sin() + 0.05 * r.normal())
        .collect()
}

/// A sensor that sticks: long constant runs (100..2000 samples) of 1-decimal values.
fn stuck(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let v = r.range(150, 300) as f64 / 10.0;
        let len = r.range(100, 2000) as usize;
        out.resize(out.len() + len.min(n - out.len()), v);
    }
    out
}

/// GPS latitude, 5 decimals, random walk (a slowly moving vehicle).
/// Hourly ozone as the Beijing data has it: integer µg/m³, with stretches of readings
/// converted from 0.1 ppb steps (times 2.142, four decimals) a third of the time.
fn ozone_mixed(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    let mut level = 600i64;
    (0..n)
        .map(|i| {
            level = (level + r.range(-20, 20)).clamp(5, 3000);
            if (i / 200) % 3 == 1 {
                (level * 2142) as f64 / 1e4
            } else {
                (level / 10) as f64
            }
        })
        .collect()
}

fn gps_lat(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    let mut m: i64 = 4_812_345;
    (0..n)
        .map(|_| {
            m += r.range(-8, 8);
            m as f64 / 1e5
        })
        .collect()
}

/// Energy meter in Wh: monotonic, small increments.
fn energy(n: usize, seed: u64) -> Vec<i64> {
    let mut r = Rng::new(seed);
    let mut e: i64 = 12_345_678;
    (0..n)
        .map(|_| {
            e += r.range(0, 4);
            e
        })
        .collect()
}

#[derive(Clone)]
enum Vals {
    F(Vec<f64>),
    I(Vec<i64>),
}

struct Pair {
    name: &'static str,
    ts_name: &'static str,
    ts: Vec<i64>,
    vals: Vals,
}

fn ts_series() -> Vec<(&'static str, Vec<i64>)> {
    vec![
        ("ts_regular_1s", ts_regular(N)),
        ("ts_jitter_2ms", ts_jitter(N, 11)),
        ("ts_irregular", ts_irregular(N, 12)),
    ]
}

/// The value series, each paired with the timestamp kind it would come with.
fn pairs() -> Vec<Pair> {
    let reg = ts_regular(N);
    let jit = ts_jitter(N, 21);
    let irr = ts_irregular(N, 22);
    let p = |name, ts_name, ts: &Vec<i64>, vals| Pair {
        name,
        ts_name,
        ts: ts.clone(),
        vals,
    };
    vec![
        p(
            "temperature",
            "regular",
            &reg,
            Vals::F(temperature(&reg, 1)),
        ),
        p("pressure", "jitter", &jit, Vals::F(pressure(N, 2))),
        p("humidity", "regular", &reg, Vals::F(humidity(N, 3))),
        p("vibration", "jitter", &jit, Vals::F(vibration(N, 4))),
        p("stuck", "regular", &reg, Vals::F(stuck(N, 5))),
        p("gps_lat", "irregular", &irr, Vals::F(gps_lat(N, 6))),
        p("energy_i64", "regular", &reg, Vals::I(energy(N, 7))),
    ]
}

// ---------------------------------------------------------------------------------------
// Codec helpers
// ---------------------------------------------------------------------------------------

fn enc_ts(ts: &[i64], opts: &Options, out: &mut Vec<u8>) -> u8 {
    int::encode(ts, Allowed::ALL, true, opts, out)
}

fn enc_vals(v: &Vals, opts: &Options, out: &mut Vec<u8>) -> u8 {
    match v {
        Vals::F(v) => float::encode(v, opts, out),
        Vals::I(v) => int::encode(v, Allowed::ALL, false, opts, out),
    }
}

fn codec_name(v: &Vals, c: u8) -> String {
    match v {
        Vals::F(_) => format!("f64:{}", float::name(c)),
        Vals::I(_) => format!("i64:{}", int::name(c)),
    }
}

/// Decoded-value buffers reused across iterations.
struct Bufs {
    ts: Vec<i64>,
    f: Vec<f64>,
    i: Vec<i64>,
}

impl Bufs {
    fn new() -> Bufs {
        Bufs {
            ts: vec![0; N],
            f: vec![0.0; N],
            i: vec![0; N],
        }
    }
}

fn dec_vals(v: &Vals, bytes: &[u8], b: &mut Bufs) {
    let mut c = Cursor::new(bytes);
    match v {
        Vals::F(_) => {
            float::decode(&mut c, &mut b.f).unwrap();
        }
        Vals::I(_) => {
            int::decode(&mut c, Allowed::ALL, &mut b.i).unwrap();
        }
    }
}

fn as_column(v: &Vals) -> Column {
    match v {
        Vals::F(v) => Column::dense(Values::F64(v.clone())),
        Vals::I(v) => Column::dense(Values::I64(v.clone())),
    }
}

// ---------------------------------------------------------------------------------------
// One fixture per codec
// ---------------------------------------------------------------------------------------

/// A column of any value type.
#[derive(Clone)]
enum AnyCol {
    I(Vec<i64>),
    /// Timestamps: the integer encoder with Gorilla delta-of-delta among the candidates.
    Ts(Vec<i64>),
    F(Vec<f64>),
    B(Vec<bool>),
    S(StrValues),
}

/// (name, column, codec the encoder must choose, options).
struct CodecCase {
    name: &'static str,
    col: AnyCol,
    want: &'static str,
    opts: Options,
}

/// Readings printed from f32 with ten significant digits (`1.279000044`), from 400 levels
/// drawn unevenly, as a transformer's load values are published.
fn f32_levels(n: usize, seed: u64) -> Vec<f64> {
    let mut r = Rng::new(seed);
    let levels: Vec<f64> = (0..400)
        .map(|k| {
            format!("{:.9}", 0.5f32 + k as f32 * 0.0173)
                .parse()
                .unwrap()
        })
        .collect();
    (0..n)
        .map(|_| levels[r.range(0, 399).min(r.range(0, 399)) as usize])
        .collect()
}

/// An integer channel whose readings are multiples of 100 but for 1 % odd ones, as
/// Beijing's CO: the gcd of the block is 1, yet almost every value shares the factor.
fn hundreds(n: usize, seed: u64) -> Vec<i64> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| {
            let level = 100 * r.range(1, 90).min(r.range(1, 90));
            if r.range(0, 99) == 0 {
                level + r.range(1, 99)
            } else {
                level
            }
        })
        .collect()
}

fn every_codec_cases() -> Vec<CodecCase> {
    let d = Options::default();
    // PCO (format v5) wins the Gorilla, SPLIT, DELTA, DOD and RLE fixtures; without it
    // they still measure the codecs a PCO-less encoder picks.
    let no_pco = Options {
        pco_level: None,
        ..Options::default()
    };
    // Gorilla delta-of-delta is only tried without zstd (it loses to zstd byte planes).
    let no_zstd = Options {
        zstd_level: None,
        ..no_pco.clone()
    };
    let mut r = Rng::new(77);
    let random: Vec<i64> = (0..N).map(|_| r.next_u64() as i64).collect();
    let small: Vec<i64> = (0..N).map(|_| r.range(0, 999)).collect();
    // Smoothly changing step (an accelerating counter): its deltas drift, so
    // delta-of-deltas are tiny.
    let mut step = 1_000i64;
    let mut x = 0i64;
    let accel: Vec<i64> = (0..N)
        .map(|_| {
            step += r.range(-3, 3);
            x += step;
            x
        })
        .collect();
    // 64 runs of large random values.
    let runs: Vec<i64> = (0..N)
        .map(|i| {
            let mut q = Rng::new(1000 + (i / (N / 64)) as u64);
            q.next_u64() as i64
        })
        .collect();
    // 1 s timestamps where one in a hundred arrives a few ms late.
    let rare_jitter: Vec<i64> = (0..N as i64)
        .map(|i| T0 + i * SEC + if i % 100 == 37 { 3_217 } else { 0 })
        .collect();
    let random_f: Vec<f64> = (0..N).map(|_| f64::from_bits(r.next_u64())).collect();
    let runs_f: Vec<f64> = (0..N)
        .map(|i| {
            let mut q = Rng::new(2000 + (i / (N / 32)) as u64);
            q.f64() * 1e3
        })
        .collect();
    // Full-precision readings that a sampler holds for two samples on average: Gorilla's
    // one-bit repeats win here (on f32-sourced or noisy floats SPLIT does).
    let mut held = 0.3;
    let hold: Vec<f64> = (0..N)
        .map(|_| {
            if r.f64() < 0.5 {
                held = 0.3 + 0.05 * (r.f64() - 0.5);
            }
            held
        })
        .collect();
    let bools: Vec<bool> = (0..N).map(|_| r.next_u64() & 1 == 1).collect();
    let status = [
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
        "warn",
        "fault",
        "maintenance",
    ];
    let strs: StrValues = (0..N)
        .map(|i| {
            // Runs of a state, as a device's status would be.
            let mut q = Rng::new(3000 + (i / 97) as u64);
            status[q.range(0, status.len() as i64 - 1) as usize]
        })
        .collect();
    let reg = ts_regular(N);
    let c = |name, col, want, opts: &Options| CodecCase {
        name,
        col,
        want,
        opts: opts.clone(),
    };
    vec![
        c("i64:raw/random64", AnyCol::I(random), "raw", &d),
        c("i64:const", AnyCol::I(vec![42; N]), "const", &d),
        c("i64:linear/ts_regular", AnyCol::Ts(reg), "linear", &d),
        c("i64:for/small_random", AnyCol::I(small), "for", &d),
        c(
            "i64:delta/energy_counter",
            AnyCol::I(energy(N, 7)),
            "delta",
            &no_pco,
        ),
        c("i64:dod/accelerating", AnyCol::I(accel), "dod", &no_pco),
        c("i64:rle/64_runs", AnyCol::I(runs), "rle", &no_pco),
        c(
            "i64:gorilla-dod/ts_rare_jitter_nozstd",
            AnyCol::Ts(rare_jitter),
            "gorilla-dod",
            &no_zstd,
        ),
        c("f64:raw/random_bits", AnyCol::F(random_f), "raw", &d),
        c("f64:const", AnyCol::F(vec![21.5; N]), "const", &d),
        c(
            "f64:rle/32_runs_full_precision",
            AnyCol::F(runs_f),
            "rle",
            &no_pco,
        ),
        c(
            "f64:gorilla-xor/sample_and_hold",
            AnyCol::F(hold.clone()),
            "gorilla-xor",
            &no_pco,
        ),
        c(
            "f64:split/vibration_full_precision",
            AnyCol::F(vibration(N, 4)),
            "split",
            &no_pco,
        ),
        c("f64:pco/sample_and_hold", AnyCol::F(hold), "pco", &d),
        // DECIMAL at e = 9 whose mantissas are PCO (1.47 bytes a value; PCO of the values
        // themselves 1.59).
        c(
            "f64:decimal/f32_printed_levels_pco_mantissas",
            AnyCol::F(f32_levels(N, 11)),
            "decimal",
            &d,
        ),
        c(
            "i64:pco/hundreds_with_odd_values",
            AnyCol::I(hundreds(N, 12)),
            "pco",
            &d,
        ),
        c(
            "f64:decimal/temperature",
            AnyCol::F(temperature(&ts_regular(N), 1)),
            "decimal",
            &d,
        ),
        c(
            "f64:decimal-patched/ozone_mixed_units",
            AnyCol::F(ozone_mixed(N, 5)),
            "decimal-patched",
            &d,
        ),
        c("bool:bitpack/random", AnyCol::B(bools), "bitpack", &d),
        c("bool:const", AnyCol::B(vec![true; N]), "const", &d),
        c("string:dict-zstd/status", AnyCol::S(strs), "dict-zstd", &d),
    ]
}

/// Encodes a case; returns the codec's name.
fn enc_any(col: &AnyCol, opts: &Options, out: &mut Vec<u8>) -> &'static str {
    match col {
        AnyCol::I(v) => int::name(int::encode(v, Allowed::ALL, false, opts, out)),
        AnyCol::Ts(v) => int::name(int::encode(v, Allowed::ALL, true, opts, out)),
        AnyCol::F(v) => float::name(float::encode(v, opts, out)),
        AnyCol::B(v) => boolean::name(boolean::encode(v, out)),
        AnyCol::S(v) => string::name(string::encode(v, opts, out)),
    }
}

/// Decode buffers of every type.
struct AnyBufs {
    i: Vec<i64>,
    f: Vec<f64>,
    b: Vec<bool>,
    s: StrValues,
}

fn dec_any(col: &AnyCol, bytes: &[u8], b: &mut AnyBufs) {
    let mut c = Cursor::new(bytes);
    match col {
        AnyCol::I(_) | AnyCol::Ts(_) => {
            int::decode(&mut c, Allowed::ALL, &mut b.i).unwrap();
        }
        AnyCol::F(_) => {
            float::decode(&mut c, &mut b.f).unwrap();
        }
        AnyCol::B(_) => {
            boolean::decode(&mut c, &mut b.b).unwrap();
        }
        AnyCol::S(_) => {
            string::decode(&mut c, N, &mut b.s).unwrap();
        }
    }
}

fn bench_every_codec<M: Measurement>(c: &mut Criterion<M>) {
    let cases = every_codec_cases();
    let mut g = c.benchmark_group("every_codec_encode");
    configure(&mut g);
    g.throughput(Throughput::Elements(N as u64));
    for k in &cases {
        let mut out = Vec::with_capacity(16 * N);
        g.bench_function(k.name, |b| {
            b.iter(|| {
                out.clear();
                enc_any(black_box(&k.col), &k.opts, &mut out)
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("every_codec_decode");
    configure(&mut g);
    g.throughput(Throughput::Elements(N as u64));
    let mut bufs = AnyBufs {
        i: vec![0; N],
        f: vec![0.0; N],
        b: vec![false; N],
        s: StrValues::default(),
    };
    for k in &cases {
        let mut enc = Vec::new();
        enc_any(&k.col, &k.opts, &mut enc);
        // Round trip once, outside timing.
        dec_any(&k.col, &enc, &mut bufs);
        match &k.col {
            AnyCol::I(v) | AnyCol::Ts(v) => assert_eq!(&bufs.i, v, "{}", k.name),
            AnyCol::F(v) => assert!(
                bufs.f
                    .iter()
                    .zip(v)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{}",
                k.name
            ),
            AnyCol::B(v) => assert_eq!(&bufs.b, v, "{}", k.name),
            AnyCol::S(v) => assert_eq!(&bufs.s, v, "{}", k.name),
        }
        g.bench_function(k.name, |b| {
            b.iter(|| dec_any(&k.col, black_box(&enc), &mut bufs))
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------
// Summary table (printed once, outside timing)
// ---------------------------------------------------------------------------------------

fn print_summary() {
    let opts = Options::default();
    let mut out = Vec::new();
    eprintln!();
    eprintln!(
        "=== iotarc codec summary: {N} values per series, default options (zstd level 1) ==="
    );
    eprintln!(
        "{:<28} {:>9} {:>12} {:<22}",
        "series", "bytes", "bytes/value", "codec"
    );
    for (name, ts) in ts_series() {
        out.clear();
        let c = enc_ts(&ts, &opts, &mut out);
        eprintln!(
            "{:<28} {:>9} {:>12.3} {:<22}",
            name,
            out.len(),
            out.len() as f64 / N as f64,
            format!("i64:{}", int::name(c))
        );
    }
    for p in pairs() {
        out.clear();
        let c = enc_vals(&p.vals, &opts, &mut out);
        eprintln!(
            "{:<28} {:>9} {:>12.3} {:<22}",
            p.name,
            out.len(),
            out.len() as f64 / N as f64,
            codec_name(&p.vals, c)
        );
    }
    eprintln!();
    eprintln!("every codec: one fixture each; the encoder's own choice must be the named codec");
    eprintln!(
        "{:<40} {:>9} {:>12} {:<14}",
        "fixture", "bytes", "bytes/value", "chosen"
    );
    for k in every_codec_cases() {
        out.clear();
        let got = enc_any(&k.col, &k.opts, &mut out);
        eprintln!(
            "{:<40} {:>9} {:>12.3} {:<14}",
            k.name,
            out.len(),
            out.len() as f64 / N as f64,
            got
        );
        assert_eq!(got, k.want, "fixture {} should select {}", k.name, k.want);
    }
    eprintln!();
    eprintln!("points (timestamp + value), codec level and as one encoded block (chunk flags + footer stats excluded):");
    eprintln!(
        "{:<28} {:>10} {:>10} {:>12} {:>12}",
        "pair", "ts bytes", "val bytes", "bytes/point", "block bytes"
    );
    for p in pairs() {
        out.clear();
        enc_ts(&p.ts, &opts, &mut out);
        let tb = out.len();
        out.clear();
        enc_vals(&p.vals, &opts, &mut out);
        let vb = out.len();
        let (bytes, _, _) = block::encode(0, &p.ts, &[(0, as_column(&p.vals))], &opts);
        eprintln!(
            "{:<28} {:>10} {:>10} {:>12.3} {:>12}",
            format!("{}+{}", p.ts_name, p.name),
            tb,
            vb,
            (tb + vb) as f64 / N as f64,
            bytes.len()
        );
    }
    eprintln!();
}

// ---------------------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------------------

fn configure<M: Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
}

fn bench_columns<M: Measurement>(c: &mut Criterion<M>) {
    let opts = Options::default();
    let mut cols: Vec<(String, Vals)> = ts_series()
        .into_iter()
        .map(|(n, t)| (n.to_string(), Vals::I(t)))
        .collect();
    cols.extend(pairs().into_iter().map(|p| (p.name.to_string(), p.vals)));

    let mut g = c.benchmark_group("column_encode");
    configure(&mut g);
    g.throughput(Throughput::Bytes(8 * N as u64));
    for (name, v) in &cols {
        let is_ts = name.starts_with("ts_");
        let mut out = Vec::with_capacity(16 * N);
        g.bench_function(BenchmarkId::new("col8B", name), |b| {
            b.iter(|| {
                out.clear();
                match v {
                    Vals::I(t) if is_ts => enc_ts(black_box(t), &opts, &mut out),
                    v => enc_vals(black_box(v), &opts, &mut out),
                }
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("column_decode");
    configure(&mut g);
    g.throughput(Throughput::Bytes(8 * N as u64));
    for (name, v) in &cols {
        let is_ts = name.starts_with("ts_");
        let mut enc = Vec::new();
        match v {
            Vals::I(t) if is_ts => enc_ts(t, &opts, &mut enc),
            v => enc_vals(v, &opts, &mut enc),
        };
        let mut bufs = Bufs::new();
        g.bench_function(BenchmarkId::new("col8B", name), |b| {
            b.iter(|| dec_vals(v, black_box(&enc), &mut bufs))
        });
    }
    g.finish();
}

fn bench_points<M: Measurement>(c: &mut Criterion<M>) {
    let opts = Options::default();
    let pairs = pairs();

    let mut g = c.benchmark_group("point_encode");
    configure(&mut g);
    g.throughput(Throughput::Bytes(16 * N as u64));
    for p in &pairs {
        let id = format!("{}+{}", p.ts_name, p.name);
        let mut out = Vec::with_capacity(32 * N);
        g.bench_function(BenchmarkId::new("codec/pt16B", &id), |b| {
            b.iter(|| {
                out.clear();
                enc_ts(black_box(&p.ts), &opts, &mut out);
                enc_vals(black_box(&p.vals), &opts, &mut out)
            })
        });
        let cols = [(0u32, as_column(&p.vals))];
        g.bench_function(BenchmarkId::new("block/pt16B", &id), |b| {
            b.iter(|| block::encode(0, black_box(&p.ts), black_box(&cols), &opts))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("point_decode");
    configure(&mut g);
    g.throughput(Throughput::Bytes(16 * N as u64));
    for p in &pairs {
        let id = format!("{}+{}", p.ts_name, p.name);
        let mut tsb = Vec::new();
        enc_ts(&p.ts, &opts, &mut tsb);
        let mut vb = Vec::new();
        enc_vals(&p.vals, &opts, &mut vb);
        let mut bufs = Bufs::new();
        g.bench_function(BenchmarkId::new("codec/pt16B", &id), |b| {
            b.iter(|| {
                let mut c = Cursor::new(black_box(&tsb));
                int::decode(&mut c, Allowed::ALL, &mut bufs.ts).unwrap();
                dec_vals(&p.vals, black_box(&vb), &mut bufs);
            })
        });

        let (bytes, meta, version) = block::encode(0, &p.ts, &[(0, as_column(&p.vals))], &opts);
        let mut ts = Vec::with_capacity(N);
        let mut col = ColumnBuf::default();
        // Sanity check once, outside timing.
        {
            let blk = Block::new(&meta, &bytes, version).unwrap();
            blk.timestamps(&mut ts).unwrap();
            blk.column(0, &mut col).unwrap();
            assert_eq!(ts, p.ts);
            assert_eq!(col.values.len(), N);
        }
        g.bench_function(BenchmarkId::new("block/pt16B", &id), |b| {
            b.iter(|| {
                let blk = Block::new(&meta, black_box(&bytes), version).unwrap();
                blk.timestamps(&mut ts).unwrap();
                blk.column(0, &mut col).unwrap();
            })
        });
    }
    g.finish();
}

/// Count, sum, min and max of an f64 series, the plain way.
fn naive_aggregate(s: &Series) -> (usize, f64, f64, f64) {
    let Values::F64(v) = &s.values else {
        unreachable!()
    };
    let (mut sum, mut lo, mut hi) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &x in v {
        sum += x;
        lo = lo.min(x);
        hi = hi.max(x);
    }
    (s.timestamps.len(), sum, lo, hi)
}

/// 36.5 days at 1 s.
const SEG_POINTS: usize = 3_153_600;

fn bench_segment<M: Measurement>(c: &mut Criterion<M>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("temp36d.seg");
    // Start at a UTC midnight so blocks sit on the hour grid.
    let t0 = 1_699_920_000 * SEC;
    let ts: Vec<i64> = (0..SEG_POINTS as i64).map(|i| t0 + i * SEC).collect();
    let temp = temperature(&ts, 99);
    let t_write = std::time::Instant::now();
    let mut w = SegmentWriter::create(&path, WriterOptions::default()).unwrap();
    w.add(
        "boiler-7",
        &ts,
        &[("temp", &Column::dense(Values::F64(temp.clone())))],
    )
    .unwrap();
    let summary = w.finish().unwrap();
    let write_s = t_write.elapsed().as_secs_f64();
    eprintln!(
        "footer_aggregate fixture: {} points, {} blocks, {} bytes ({:.3} bytes/point), written in {:.2} s ({:.1} Mpoints/s)",
        summary.rows,
        summary.blocks,
        summary.bytes,
        summary.bytes as f64 / SEG_POINTS as f64,
        write_s,
        SEG_POINTS as f64 / write_s / 1e6
    );
    drop(temp);

    let seg = Segment::open(&path).unwrap();
    let all = seg.aggregate("boiler-7", "temp", TimeRange::ALL).unwrap();
    assert_eq!(all.blocks_decoded, 0, "TimeRange::ALL must be footer-only");
    assert_eq!(all.stats.count, SEG_POINTS as u64);
    // Both edges in the middle of a 1 h block.
    let mid = TimeRange::new(t0 + 1800 * SEC + 7 * SEC, ts[SEG_POINTS - 1] - 1799 * SEC);
    let part = seg.aggregate("boiler-7", "temp", mid).unwrap();
    assert_eq!(part.blocks_decoded, 2, "both edges should be mid-block");
    eprintln!(
        "  ALL: {} blocks from footer; mid-block range: {} from footer + {} decoded, count {}",
        all.blocks_from_footer, part.blocks_from_footer, part.blocks_decoded, part.stats.count
    );

    let mut g = c.benchmark_group("footer_aggregate");
    configure(&mut g);
    g.bench_function("aggregate_ALL_footer_only", |b| {
        b.iter(|| {
            seg.aggregate("boiler-7", "temp", black_box(TimeRange::ALL))
                .unwrap()
        })
    });
    g.bench_function("aggregate_range_edges_mid_block", |b| {
        b.iter(|| seg.aggregate("boiler-7", "temp", black_box(mid)).unwrap())
    });
    g.bench_function("segment_open", |b| {
        b.iter(|| Segment::open(black_box(&path)).unwrap())
    });
    g.throughput(Throughput::Bytes(16 * SEG_POINTS as u64));
    g.bench_function("decode_all_then_aggregate/pt16B", |b| {
        b.iter(|| {
            let mut s = Series::new(ValueType::F64);
            seg.read_series("boiler-7", "temp", TimeRange::ALL, &mut s)
                .unwrap();
            naive_aggregate(&s)
        })
    });
    // Same, but the Series' buffers are reused across iterations: separates the cost of
    // growing two 25 MB vectors (realloc copies, page faults) from decoding.
    let mut reused = Series::new(ValueType::F64);
    g.bench_function("decode_all_reused_series_then_aggregate/pt16B", |b| {
        b.iter(|| {
            reused.timestamps.clear();
            if let Values::F64(v) = &mut reused.values {
                v.clear();
            }
            seg.read_series("boiler-7", "temp", TimeRange::ALL, &mut reused)
                .unwrap();
            naive_aggregate(&reused)
        })
    });
    g.finish();
    drop(seg);
    drop(dir);
}

/// Thread CPU time as a criterion measurement: on a machine shared with other work, time
/// the benchmark thread spends descheduled is not counted (cache and memory-bandwidth
/// interference still is). Selected with `IOTARC_BENCH_CLOCK=cpu`.
#[cfg(target_os = "linux")]
mod cpu_clock {
    use criterion::measurement::{Measurement, ValueFormatter};
    use criterion::Throughput;

    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }

    extern "C" {
        fn clock_gettime(clk: i32, tp: *mut Timespec) -> i32;
    }

    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

    fn now_ns() -> u64 {
        let mut t = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid, writable timespec (two C longs on 64-bit Linux), and
        // clock_gettime only writes to it.
        let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    }

    /// Nanoseconds of CPU time of the calling thread.
    pub struct ThreadCpu;

    impl Measurement for ThreadCpu {
        type Intermediate = u64;
        type Value = u64;
        fn start(&self) -> u64 {
            now_ns()
        }
        fn end(&self, i: u64) -> u64 {
            now_ns() - i
        }
        fn add(&self, a: &u64, b: &u64) -> u64 {
            a + b
        }
        fn zero(&self) -> u64 {
            0
        }
        fn to_f64(&self, v: &u64) -> f64 {
            *v as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            &CpuFormatter
        }
    }

    struct CpuFormatter;

    impl ValueFormatter for CpuFormatter {
        fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
            let (f, unit) = if ns < 1e3 {
                (1.0, "ns cpu")
            } else if ns < 1e6 {
                (1e-3, "µs cpu")
            } else if ns < 1e9 {
                (1e-6, "ms cpu")
            } else {
                (1e-9, "s cpu")
            };
            values.iter_mut().for_each(|v| *v *= f);
            unit
        }

        fn scale_throughputs(
            &self,
            _typical: f64,
            t: &Throughput,
            values: &mut [f64],
        ) -> &'static str {
            let (per_iter, unit) = match *t {
                Throughput::Bytes(b) | Throughput::BytesDecimal(b) => (b as f64, "MB/s cpu"),
                Throughput::Elements(e) => (e as f64, "Melem/s cpu"),
            };
            values.iter_mut().for_each(|v| *v = per_iter * 1e3 / *v);
            unit
        }

        fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
            "ns"
        }
    }
}

fn run<M: Measurement + 'static>(mut c: Criterion<M>) {
    bench_columns(&mut c);
    bench_every_codec(&mut c);
    bench_points(&mut c);
    bench_segment(&mut c);
    c.final_summary();
}

fn main() {
    print_summary();
    let cpu = std::env::var("IOTARC_BENCH_CLOCK").is_ok_and(|v| v == "cpu");
    #[cfg(target_os = "linux")]
    if cpu {
        eprintln!("measuring thread CPU time (IOTARC_BENCH_CLOCK=cpu)");
        return run(Criterion::default()
            .with_measurement(cpu_clock::ThreadCpu)
            .configure_from_args());
    }
    if cpu {
        eprintln!("IOTARC_BENCH_CLOCK=cpu is only supported on Linux; measuring wall time");
    }
    run(Criterion::default().configure_from_args());
}
