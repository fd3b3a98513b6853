//! Devices and channels: what each kind of reading looks like over time.

use crate::rng::{sin_turns, Rng};

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// A channel kind. Each has a fixed name, value type and model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// °C, 1 or 2 decimals: device base + daily cycle + slow AR(1) drift + noise.
    Temperature,
    /// %RH, 1 decimal: anti-correlated with temperature, bounded to [0, 100].
    Humidity,
    /// hPa, 1 or 2 decimals: a random walk around a site-specific mean.
    Pressure,
    /// g RMS, full-precision f64 (high entropy): machine on/off by shift plus noise.
    Vibration,
    /// Wh, i64: a monotonic energy counter following a daily load curve.
    Energy,
    /// V, 3 decimals: slow discharge with rare recharges.
    Battery,
    /// String enum: ok / warn / fault / maintenance / low_battery.
    Status,
    /// Degrees, 5 decimals: a slowly moving vehicle or a parked one with GPS noise.
    Lat,
    /// Degrees, 5 decimals.
    Lon,
    /// ppm, i64: indoor CO2. Added part-way through on half of the devices (the
    /// schema change).
    Co2,
}

impl Kind {
    /// Every kind, in output column order.
    pub const ALL: [Kind; 10] = [
        Kind::Temperature,
        Kind::Humidity,
        Kind::Pressure,
        Kind::Vibration,
        Kind::Energy,
        Kind::Battery,
        Kind::Status,
        Kind::Lat,
        Kind::Lon,
        Kind::Co2,
    ];

    /// Channel name as written.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Temperature => "temperature",
            Kind::Humidity => "humidity",
            Kind::Pressure => "pressure",
            Kind::Vibration => "vibration",
            Kind::Energy => "energy_wh",
            Kind::Battery => "battery",
            Kind::Status => "status",
            Kind::Lat => "lat",
            Kind::Lon => "lon",
            Kind::Co2 => "co2",
        }
    }

    /// Parses a channel name (as written, or `energy`).
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .or((s == "energy").then_some(Kind::Energy))
    }
}

/// A generated value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    /// `mantissa / 10^scale`, written with exactly `scale` decimals (a float).
    Dec(i64, u8),
    /// A full-precision float, written in the shortest form that parses back to it.
    F64(f64),
    /// An integer.
    I64(i64),
    /// A string from a fixed set.
    Str(&'static str),
}

/// Status strings.
pub const STATUS: [&str; 5] = ["ok", "warn", "fault", "maintenance", "low_battery"];

#[inline]
fn dec(x: f64, scale: u8) -> Val {
    const P: [f64; 6] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5];
    Val::Dec((x * P[scale as usize]).round() as i64, scale)
}

/// One channel of one device: model state plus imperfection state.
#[derive(Clone, Debug)]
pub(crate) struct Channel {
    pub kind: Kind,
    /// Column in the corpus's channel list.
    pub col: u16,
    /// First timestamp at which the device reports this channel (schema change).
    pub starts_at: i64,
    /// Rows left in a stuck episode (the value repeats).
    pub stuck_left: u32,
    pub last: Val,
    scale: u8,
    /// Model state.
    a: f64,
    b: f64,
    c: f64,
    n: i64,
}

/// Site-level parameters a device's channels share.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    pub base_temp: f64,
    pub amp: f64,
    /// Phase of the daily cycle, in turns.
    pub phase: f64,
    /// Latest temperature (humidity and status follow it).
    pub temp: f64,
    pub temp_drift: f64,
    pub battery: f64,
    /// Rows left in a fault or maintenance episode.
    pub episode_left: u32,
    pub episode: &'static str,
    pub machine: bool,
}

impl Channel {
    pub fn new(kind: Kind, col: u16, starts_at: i64, r: &mut Rng) -> Channel {
        let mut c = Channel {
            kind,
            col,
            starts_at,
            stuck_left: 0,
            last: Val::I64(0),
            scale: 1,
            a: 0.0,
            b: 0.0,
            c: 0.0,
            n: 0,
        };
        match kind {
            Kind::Temperature => c.scale = if r.chance(0.2) { 2 } else { 1 },
            Kind::Humidity => c.b = r.range(35, 65) as f64,
            Kind::Pressure => {
                c.scale = if r.chance(0.3) { 1 } else { 2 };
                c.a = 1013.25 + 12.0 * r.normal();
                c.b = c.a;
            }
            Kind::Vibration => c.a = 0.02 + 0.03 * r.f64(),
            Kind::Energy => {
                c.n = r.range(0, 5_000_000);
                c.a = 50.0 + 1950.0 * r.f64(); // mean load, W
            }
            Kind::Battery => {}
            Kind::Status => {}
            Kind::Lat | Kind::Lon => {
                // Positions around Europe; a parked vehicle half of the time.
                c.a = if kind == Kind::Lat {
                    45.0 + 10.0 * r.f64()
                } else {
                    2.0 + 20.0 * r.f64()
                };
                c.scale = 5;
            }
            Kind::Co2 => {
                c.a = 420.0 + 80.0 * r.f64();
                c.b = c.a;
            }
        }
        c
    }

    /// The channel's next value at `t` (µs), `dt` seconds after the previous reading.
    pub fn next(&mut self, t: i64, dt: f64, site: &mut Site, r: &mut Rng) -> Val {
        let day = (t.rem_euclid(DAY_US)) as f64 / DAY_US as f64;
        let hour = day * 24.0;
        let sdt = dt.sqrt();
        match self.kind {
            Kind::Temperature => {
                // AR(1) drift with a time constant of ~6 h, independent of the rate.
                let k = (dt / 21_600.0).min(1.0);
                site.temp_drift += k * (-site.temp_drift) + 0.6 * k.sqrt() * r.normal();
                let x = site.base_temp
                    + site.amp * sin_turns(day - site.phase)
                    + site.temp_drift
                    + 0.04 * r.normal();
                site.temp = x;
                dec(x, self.scale)
            }
            Kind::Humidity => {
                let k = (dt / 43_200.0).min(1.0);
                self.a += -k * self.a + 2.0 * k.sqrt() * r.normal();
                let x = (self.b - 1.8 * (site.temp - site.base_temp) + self.a + 0.1 * r.normal())
                    .clamp(0.0, 100.0);
                dec(x, 1)
            }
            Kind::Pressure => {
                // Random walk, mean-reverting over ~2 days; ~1 hPa per hour of drift.
                let k = (dt / 172_800.0).min(1.0);
                self.a += k * (self.b - self.a) + 0.017 * sdt * r.normal();
                dec(self.a, self.scale)
            }
            Kind::Vibration => {
                let on = site.machine && (6.0..22.0).contains(&hour);
                let base = if on {
                    0.35 + 0.05 * sin_turns(day * 48.0)
                } else {
                    self.a
                };
                // Full precision: no rounding, the noise keeps every bit busy.
                Val::F64((base * (1.0 + 0.15 * r.normal())).abs() + 1e-4 * r.f64())
            }
            Kind::Energy => {
                // Load follows the working day; increments are whole Wh.
                let load = self.a * (0.6 + 0.5 * sin_turns(day - 0.3)) * (1.0 + 0.1 * r.normal());
                self.c += load.max(0.0) * dt / 3600.0;
                let whole = self.c.floor();
                self.n += whole as i64;
                self.c -= whole;
                Val::I64(self.n)
            }
            Kind::Battery => {
                // ~25 mV/day discharge; recharge to 4.15 V below 3.45 V.
                site.battery -= 0.025 * dt / 86_400.0 * (1.0 + 0.2 * r.f64());
                if site.battery < 3.45 {
                    site.battery = 4.15;
                }
                let noise = if r.chance(0.02) {
                    0.001 * r.normal()
                } else {
                    0.0
                };
                dec(site.battery + noise, 3)
            }
            Kind::Status => {
                if site.episode_left > 0 {
                    site.episode_left -= 1;
                    return Val::Str(site.episode);
                }
                if r.chance(2e-5 * dt.min(3600.0)) {
                    site.episode = if r.chance(0.7) {
                        "fault"
                    } else {
                        "maintenance"
                    };
                    site.episode_left = r.range(3, 120) as u32;
                    return Val::Str(site.episode);
                }
                Val::Str(if site.battery < 3.55 {
                    "low_battery"
                } else if (site.temp - site.base_temp).abs() > site.amp + 1.5 {
                    "warn"
                } else {
                    "ok"
                })
            }
            Kind::Lat | Kind::Lon => {
                // Velocity in degrees per second: moving (~40 km/h) or parked, switching
                // every few hours.
                if r.chance((dt / 7200.0).min(1.0)) {
                    self.b = if r.chance(0.5) {
                        0.0
                    } else {
                        (r.f64() - 0.5) * 2.0e-4
                    };
                }
                self.a += self.b * dt;
                dec(self.a + 1.5e-5 * r.normal(), 5)
            }
            Kind::Co2 => {
                let occupied = (8.0..18.0).contains(&hour);
                let target = self.a + if occupied { 450.0 } else { 0.0 };
                let k = (dt / 1800.0).min(1.0);
                self.b += k * (target - self.b);
                Val::I64((self.b + 6.0 * r.normal()).max(380.0).round() as i64)
            }
        }
    }

    /// An outlier for this kind: a spike or a sensor error code.
    pub fn outlier(&self, r: &mut Rng) -> Option<Val> {
        Some(match self.kind {
            Kind::Temperature => dec(r.pick(&[85.0, -40.0, 127.0, 0.0]), self.scale),
            Kind::Humidity => dec(r.pick(&[0.0, 100.0, 327.6]), 1),
            Kind::Pressure => dec(r.pick(&[0.0, 1100.0, 300.0]), self.scale),
            Kind::Vibration => Val::F64(r.pick(&[16.0, 15.999_51, 8.0])),
            Kind::Battery => dec(r.pick(&[0.0, 6.553]), 3),
            Kind::Lat | Kind::Lon => dec(0.0, 5),
            Kind::Co2 => Val::I64(r.pick(&[0, 5000, 65535])),
            Kind::Energy | Kind::Status => return None,
        })
    }
}
