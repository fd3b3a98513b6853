//! Times reading the manifest, `Archive::open`, a whole-range count/min/max/sum of one
//! series and all three with closing the archive, in process (medians over RUNS, default 200): what the comparison harness's
//! aggregate figure is made of, without process start-up.
//!
//! `cargo run --release -p iotarc-measure --bin agg_probe -- ARCHIVE DEVICE CHANNEL [RUNS]`
use iotarc::archive::{Agg, Archive};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let runs: usize = a.get(4).map_or(Ok(200), |s| s.parse())?;
    let aggs = [Agg::Count, Agg::Min, Agg::Max, Agg::Sum];
    let (mut open, mut query, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let ar = Archive::open(&a[1])?;
        let t1 = Instant::now();
        let (rows, _) = ar
            .query()
            .device(&a[2])
            .channel(&a[3])
            .aggregates(&aggs)
            .run_aggregate()?;
        let t2 = Instant::now();
        std::hint::black_box(rows);
        drop(ar);
        total.push(t.elapsed().as_secs_f64() * 1e6);
        open.push((t1 - t).as_secs_f64() * 1e6);
        query.push((t2 - t1).as_secs_f64() * 1e6);
    }
    let mut man = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let m = iotarc::archive::Manifest::read(std::path::Path::new(&a[1]))?;
        man.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(m);
    }
    man.sort_by(f64::total_cmp);
    println!("manifest read median {:.1} us", man[runs / 2]);
    open.sort_by(f64::total_cmp);
    query.sort_by(f64::total_cmp);
    total.sort_by(f64::total_cmp);
    println!(
        "open median {:.1} us, query median {:.1} us, open+query+close median {:.1} us",
        open[runs / 2],
        query[runs / 2],
        total[runs / 2]
    );
    Ok(())
}
