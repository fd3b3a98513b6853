//! Packs a day of readings from two boilers into an archive, then asks it for hourly
//! maxima and a whole-day summary, the way `iotarc pack` and `iotarc query` do.
//!
//! ```sh
//! cargo run --release --example pack_and_query [DIR]
//! ```
use iotarc::archive::{Agg, Archive, Origin, PackOptions, PackValue, Packer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("arch"));

    // 2023-11-14T00:00:00Z in microseconds since the epoch.
    let midnight = 1_699_920_000_000_000i64;
    let mut packer = Packer::open(&dir, PackOptions::default())?;
    for (k, device) in ["boiler-1", "boiler-2"].into_iter().enumerate() {
        for s in 0..86_400i64 {
            let temp = 60.0 + k as f64 + (s % 600) as f64 / 100.0;
            // The origin orders duplicates and names the input row in reports.
            let origin = Origin {
                input: 0,
                line: s as u64,
            };
            packer.push(
                device,
                "temp",
                midnight + s * 1_000_000,
                PackValue::F64(temp),
                origin,
            );
        }
    }
    packer.commit(0)?;

    let archive = Archive::open(&dir)?;
    let (hourly, stats) = archive
        .query()
        .device("boiler-*")
        .channel("temp")
        .aggregates(&[Agg::Max])
        .every(3_600_000_000)
        .run_aggregate()?;
    println!(
        "{} hourly rows; {} blocks answered from footers, {} decoded",
        hourly.len(),
        stats.blocks_from_footer,
        stats.blocks_decoded
    );
    let (day, _) = archive
        .query()
        .channel("temp")
        .aggregates(&[Agg::Count, Agg::Min, Agg::Avg])
        .run_aggregate()?;
    for row in &day {
        println!("{} {}: {:?}", row.device, row.channel, row.values);
    }
    assert_eq!(hourly.len(), 48);
    assert_eq!(day[0].count, 86_400);
    Ok(())
}
