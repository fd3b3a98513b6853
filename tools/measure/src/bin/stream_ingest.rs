//! Streaming-writer throughput without parsing: producer threads write pre-built batches
//! of interleaved device streams into a fresh archive, then the writer is closed.
//!
//! ```sh
//! cargo run --release -p iotarc-measure --bin stream_ingest -- [POINTS] [DEVICES] [THREADS] [SYNC] [MEMORY_LIMIT_MB]
//! cargo run --release -p iotarc-measure --bin stream_ingest -- 20000000 10000 2 interval=100 683
//! ```
//! Prints acknowledged points per second (time until the last write returned), the time
//! to close (sealing what is buffered), peak buffer memory against the bound (3/8 of the
//! memory limit: 683 MiB bounds the buffers at 256 MiB), and the
//! acknowledgement-to-queryable latency.

use iotarc::stream::{StreamOptions, StreamWriter, SyncPolicy};
use iotarc::wal::batch::BatchBuilder;
use iotarc::Value;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let points: u64 = arg(0, "20000000").parse()?;
    let devices: u64 = arg(1, "10000").parse()?;
    let threads: u64 = arg(2, "2").parse()?;
    let sync = SyncPolicy::parse(&arg(3, "interval=100")).ok_or("bad sync policy")?;
    let max_mb: u64 = arg(4, "512").parse()?;
    let batch_points = 10_000u64;
    let dir = tempfile::tempdir()?;
    let opts = StreamOptions {
        sync,
        memory_limit: max_mb << 20,
        ..StreamOptions::default()
    };
    let opts_bound = opts.buffer_bytes();
    let (w, _) = StreamWriter::open(dir.path().join("arch"), opts)?;
    let names: Vec<String> = (0..devices).map(|d| format!("sensor-{d:05}")).collect();
    let t0 = 1_767_225_600_000_000i64; // 2026-01-01
    let per_thread = points / threads;
    let start = Instant::now();
    std::thread::scope(|s| -> Result<(), iotarc::Error> {
        let mut hs = Vec::new();
        for t in 0..threads {
            let (w, names) = (&w, &names);
            hs.push(s.spawn(move || -> Result<(), iotarc::Error> {
                // Thread t owns devices t, t + threads, ...; every device reports once a
                // second, all of a thread's devices interleaved in time order.
                let mine: Vec<&String> = names
                    .iter()
                    .skip(t as usize)
                    .step_by(threads as usize)
                    .collect();
                let mut sent = 0u64;
                let mut k = 0u64;
                let mut b = BatchBuilder::default();
                while sent < per_thread {
                    for _ in 0..batch_points.min(per_thread - sent) {
                        let dev = mine[(k % mine.len() as u64) as usize];
                        let sec = (k / mine.len() as u64) as i64;
                        let temp = 20.0 + ((k * 7919) % 200) as f64 / 10.0;
                        b.push(dev, "temp", t0 + sec * 1_000_000, Value::F64(temp));
                        k += 1;
                    }
                    let batch = b.take();
                    sent += batch.points.len() as u64;
                    w.write(batch)?;
                }
                Ok(())
            }));
        }
        for h in hs {
            h.join().expect("producer panicked")?;
        }
        Ok(())
    })?;
    let acked = start.elapsed();
    let st = w.stats();
    let closing = Instant::now();
    let stats = w.close()?;
    let close = closing.elapsed();
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    println!(
        "{} points from {threads} thread(s), {devices} devices, sync {sync:?}: acknowledged in {:.2} s = {:.2} M points/s; close (seal the rest) {:.2} s",
        stats.points,
        acked.as_secs_f64(),
        stats.points as f64 / acked.as_secs_f64() / 1e6,
        close.as_secs_f64()
    );
    println!(
        "WAL {} records, {} fsyncs; {} seals, {} segments; peak buffer memory {:.1} MiB of {:.1} MiB bound (memory limit {max_mb} MiB; at end of writes {:.1} MiB)",
        stats.records,
        stats.syncs,
        stats.seals,
        stats.segments,
        stats.peak_memory as f64 / (1 << 20) as f64,
        opts_bound as f64 / (1 << 20) as f64,
        st.memory as f64 / (1 << 20) as f64
    );
    println!(
        "acknowledged -> queryable: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(stats.latency.quantile(0.5)),
        ms(stats.latency.quantile(0.99)),
        stats.latency.max().as_secs_f64() * 1e3
    );
    Ok(())
}
