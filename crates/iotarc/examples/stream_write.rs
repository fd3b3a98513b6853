//! Writes readings through the streaming writer (WAL first, acknowledged once durable,
//! sealed into segments in the background), closes it, and counts what a reader sees:
//! the library side of `iotarc ingest`.
//!
//! ```sh
//! cargo run --release --example stream_write
//! ```
use iotarc::archive::{Agg, Archive};
use iotarc::stream::{PointBatch, StreamOptions, StreamWriter};
use iotarc::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("arch");
    let (writer, _report) = StreamWriter::open(&dir, StreamOptions::default())?;

    // 2023-11-14T00:00:00Z in microseconds since the epoch.
    let t0 = 1_699_920_000_000_000i64;
    for minute in 0..60i64 {
        let mut batch = PointBatch {
            devices: vec!["pump-1".into(), "pump-2".into()],
            channels: vec!["pressure".into(), "running".into()],
            points: Vec::new(),
        };
        for s in 0..60i64 {
            let ts = t0 + (minute * 60 + s) * 1_000_000;
            for dev in 0..2u32 {
                let bar = 2.0 + f64::from(dev) / 10.0 + (s % 7) as f64 / 100.0;
                batch.points.push((dev, 0, ts, Value::F64(bar)));
                batch.points.push((dev, 1, ts, Value::Bool(s % 10 != 0)));
            }
        }
        // Returns once the batch is in the WAL and synced: a crash from here on loses
        // nothing.
        writer.write(batch)?;
    }
    let stats = writer.close()?;
    println!("{} points written", stats.points);

    let (rows, _) = Archive::open(&dir)?
        .query()
        .channel("pressure")
        .aggregates(&[Agg::Count, Agg::Max])
        .run_aggregate()?;
    for row in &rows {
        println!(
            "{} {}: {} readings, max {:?}",
            row.device, row.channel, row.count, row.values[1]
        );
        assert_eq!(row.count, 3600);
    }
    Ok(())
}
