//! Helpers shared by the library's and the CLI's integration tests: the time constants
//! their corpora use, a deterministic PRNG, RFC 3339 formatting of test inputs, values
//! compared bit for bit, copying and listing an archive directory.
//! The CLI's tests include this file (`crates/iotarc-cli/tests/common/mod.rs`) and add
//! running the real binary. Each test crate uses a subset.
#![allow(dead_code)]

use iotarc::archive::Manifest;
use iotarc::Values;
use std::fs;
use std::path::{Path, PathBuf};

pub const SEC: i64 = 1_000_000;
pub const HOUR: i64 = 3600 * SEC;
pub const DAY: i64 = 24 * HOUR;
/// 2023-11-14T00:00:00Z.
pub const DAY0: i64 = 1_699_920_000_000_000;

/// splitmix64: a small deterministic PRNG, so a failing trial reproduces from its seed.
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in [0, 1), every one of the 53 bits random.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A finite f64 with an arbitrary bit pattern (subnormals, -0.0, extremes).
    pub fn f64(&mut self) -> f64 {
        loop {
            let x = f64::from_bits(self.next());
            if x.is_finite() {
                return x;
            }
        }
    }
}

/// Copies the directory tree `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// A path as `&str`, for argument lists.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One line-protocol line: `m,device=dN v=<f64>,n=<i64>i <ns>`, two points.
#[derive(Clone)]
pub struct Line {
    pub device: String,
    /// Microseconds since the epoch.
    pub ts: i64,
    pub v: f64,
    pub n: i64,
}

impl Line {
    pub fn text(&self) -> String {
        format!(
            "m,device={} v={:?},n={}i {}\n",
            self.device,
            self.v,
            self.n,
            self.ts * 1000
        )
    }
}

/// Every file under `dir` (recursively), sorted.
pub fn paths_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every file under `dir` with its bytes, sorted.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    paths_under(dir)
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// The archive's index files (names containing `INDEX`), sorted.
pub fn index_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("INDEX"))
        })
        .collect();
    v.sort();
    v
}

/// The WAL file with the highest first seq.
pub fn newest_wal(arch: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = fs::read_dir(arch.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files.pop().expect("a WAL file")
}

/// Points in the archive's manifest, summed over its segments.
pub fn manifest_points(dir: &Path) -> u64 {
    Manifest::read(dir)
        .unwrap()
        .segments
        .iter()
        .map(|e| e.points)
        .sum()
}

/// Civil date (year, month, day) of a day number since 1970-01-01 (proleptic
/// Gregorian), independent of the library's own.
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Microseconds since the epoch as RFC 3339 UTC, whole seconds (`2024-01-01T00:00:00Z`).
pub fn rfc3339(us: i64) -> String {
    let secs = us.div_euclid(SEC);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Microseconds since the epoch as RFC 3339 UTC with six fractional digits
/// (`2024-01-01T00:00:00.000000Z`).
pub fn rfc3339_us(ts: i64) -> String {
    let days = ts.div_euclid(DAY);
    let rem = ts.rem_euclid(DAY);
    let (y, m, d) = civil(days);
    let s = rem / SEC;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        rem % SEC
    )
}

/// Values in a form that compares bit-exactly (f64 as bit patterns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vals {
    F64(Vec<u64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
}

pub fn vals(v: &Values) -> Vals {
    match v {
        Values::F64(x) => Vals::F64(x.iter().map(|f| f.to_bits()).collect()),
        Values::I64(x) => Vals::I64(x.clone()),
        Values::Bool(x) => Vals::Bool(x.clone()),
        Values::Str(x) => Vals::Str(x.iter().map(str::to_owned).collect()),
    }
}
