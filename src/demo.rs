//! A small, deterministic sensor-corpus generator for demos, tests and docs.
//!
//! It produces realistic shapes rather than noise: temperatures with a daily cycle at one
//! decimal, a pressure random walk at two decimals, integer humidity, a monotonic energy
//! counter, a status enum and jittered sampling with occasional gaps.

use crate::codec::StrValues;
use crate::model::{Column, Values};

/// A deterministic xorshift64* generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator (0 is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Approximately standard normal (sum of uniforms).
    pub fn normal(&mut self) -> f64 {
        (0..4).map(|_| self.f64()).sum::<f64>() * 1.732 - 3.464
    }
}

/// One device's generated rows.
pub struct DeviceRows {
    /// Device name.
    pub device: String,
    /// Timestamps, ascending, microseconds.
    pub timestamps: Vec<i64>,
    /// (channel name, column) pairs.
    pub columns: Vec<(String, Column)>,
}

/// Generates `rows` readings for device number `idx`, sampled every `interval_us`
/// starting at `start_us`; every third device's timestamps carry ±0.05 % jitter.
pub fn device(idx: usize, start_us: i64, rows: usize, interval_us: i64, seed: u64) -> DeviceRows {
    let mut r = Rng::new(seed ^ (idx as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    // Devices that stamp readings with their own clock report on the interval exactly;
    // one in three is stamped on receipt by a gateway and carries network jitter of up to
    // ±interval/2000 (±5 ms at 10 s).
    let jitter = if idx.is_multiple_of(3) {
        (interval_us / 2000).max(1)
    } else {
        0
    };
    let mut ts = Vec::with_capacity(rows);
    let mut t = start_us;
    for _ in 0..rows {
        let j = if jitter > 0 {
            (r.next_u64() % (2 * jitter as u64)) as i64 - jitter
        } else {
            0
        };
        ts.push(t + j);
        t += interval_us;
        // Rare outage: skip up to ten minutes.
        if r.next_u64().is_multiple_of(20_000) {
            t += 600_000_000;
        }
    }
    ts.sort_unstable();
    let day = 86_400e6;
    let base = 18.0 + (idx % 7) as f64;
    let (mut temp, mut pres, mut hum, mut energy, mut status) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        StrValues::default(),
    );
    let (mut p, mut e, mut h) = (1013.25 + idx as f64 % 10.0, 1_000_000i64 * idx as i64, 45.0);
    let mut smooth = 0.0;
    for &t in &ts {
        let phase = (t as f64 / day) * std::f64::consts::TAU;
        smooth = 0.98 * smooth + 0.02 * r.normal();
        temp.push(((base + 4.0 * phase.sin() + smooth) * 10.0).round() / 10.0);
        p += 0.01 * r.normal();
        pres.push((p * 100.0).round() / 100.0);
        h = (h + 0.05 * r.normal()).clamp(5.0, 95.0);
        hum.push(h.round());
        e += (r.next_u64() % 4) as i64;
        energy.push(e);
        status.push(if r.next_u64().is_multiple_of(5000) {
            "fault"
        } else if smooth > 1.2 {
            "warn"
        } else {
            "ok"
        });
    }
    DeviceRows {
        device: format!("sensor-{idx:04}"),
        timestamps: ts,
        columns: vec![
            ("temperature".into(), Column::dense(Values::F64(temp))),
            ("pressure".into(), Column::dense(Values::F64(pres))),
            ("humidity".into(), Column::dense(Values::F64(hum))),
            ("energy_wh".into(), Column::dense(Values::I64(energy))),
            ("status".into(), Column::dense(Values::Str(status))),
        ],
    }
}
