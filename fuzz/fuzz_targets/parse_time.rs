//! Timestamp parser on arbitrary bytes: must never panic, and whenever it accepts a
//! date-time that jiff also accepts, both must name the same microsecond (jiff's
//! nanoseconds floored).
//! Input: 1 option byte (time unit, time zone), then the timestamp text.
#![no_main]

use iotarc::input::{parse_timestamp, TimeUnit, Tz};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, text)) = data.split_first() else {
        return;
    };
    let unit = [
        None,
        Some(TimeUnit::S),
        Some(TimeUnit::Ms),
        Some(TimeUnit::Us),
        Some(TimeUnit::Ns),
    ][(flags & 7) as usize % 5];
    let zone = jiff::tz::TimeZone::get("Europe/Berlin").expect("bundled zone");
    let tz = match flags >> 3 & 3 {
        0 => Tz::Utc,
        1 => Tz::Fixed(19_800),
        _ => Tz::Named(zone.clone()),
    };
    let Ok(us) = parse_timestamp(text, unit, &tz) else {
        return;
    };
    let Ok(s) = std::str::from_utf8(text) else {
        panic!("accepted invalid UTF-8 {text:?}");
    };
    if !s.as_bytes().get(4).is_some_and(|&b| b == b'-') {
        return; // an epoch number
    }
    let floor_us = |ns: i128| i64::try_from(ns.div_euclid(1000)).unwrap();
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        // Explicit offset.
        assert_eq!(us, floor_us(t.as_nanosecond()), "{s}");
    } else if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        // Local time in `tz`. Ours rejects nonexistent times and picks the earlier of
        // ambiguous ones, which is what jiff's "compatible" does for the latter.
        let jz = match tz {
            Tz::Utc => jiff::tz::TimeZone::UTC,
            Tz::Fixed(secs) => {
                jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(secs).unwrap())
            }
            Tz::Named(z) => z,
        };
        let t = jz
            .to_ambiguous_timestamp(dt)
            .compatible()
            .unwrap()
            .as_nanosecond();
        assert_eq!(us, floor_us(t), "{s}");
    }
});
