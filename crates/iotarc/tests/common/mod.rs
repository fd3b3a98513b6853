//! Helpers shared by the library's and the CLI's integration tests: the time constants
//! their corpora use, a deterministic PRNG, copying and listing an archive directory.
//! The CLI's tests include this file (`crates/iotarc-cli/tests/common/mod.rs`) and add
//! running the real binary. Each test crate uses a subset.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

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

/// Every file under `dir` with its bytes, sorted.
pub fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}
