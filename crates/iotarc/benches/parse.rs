//! Parser throughput per input format on one core: `Parser::parse_chunk` over the chunks
//! of an in-memory input, 400,000 values (100 devices, 4 channels, 4 rows a second) as
//! long CSV, wide CSV, JSON Lines and line protocol. Reading and chunking are outside the
//! timing; `Throughput::Bytes` is the input's size, so criterion prints MB/s.
//!
//! ```text
//! cargo bench -p iotarc --bench parse
//! ```

use criterion::{BenchmarkId, Criterion, Throughput};
use iotarc::input::{Chunker, ParseOptions, Parser};
use std::hint::black_box;
use std::time::Duration;

/// The four inputs, as (name, file name that selects the format, text).
fn inputs() -> [(&'static str, &'static str, String); 4] {
    let n = 400_000;
    let devices: Vec<String> = (0..100).map(|d| format!("sensor-{d:04}")).collect();
    let channels = ["temperature", "humidity", "pressure", "co2"];
    let mut long = String::new();
    let mut wide = String::from("timestamp,device,temperature,humidity,pressure,co2\n");
    let mut jsonl = String::new();
    let mut lp = String::new();
    for r in 0..n {
        let sec = r / 400;
        let ts = format!(
            "2024-01-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            1 + sec / 86_400,
            sec / 3600 % 24,
            sec / 60 % 60,
            sec % 60,
            (r * 37) % 1_000_000
        );
        let d = &devices[(r / 4) % devices.len()];
        let c = channels[r % 4];
        let v = format!("{}.{}", 20 + r % 10, r % 10);
        long.push_str(&format!("{ts},{d},{c},{v}\n"));
        if r % 4 == 0 {
            wide.push_str(&format!(
                "{ts},{d},{v},4{},1013.{},41{}\n",
                r % 10,
                r % 7,
                r % 3
            ));
            jsonl.push_str(&format!(
                "{{\"timestamp\":\"{ts}\",\"device\":\"{d}\",\"temperature\":{v},\"humidity\":4{},\"pressure\":1013.{},\"co2\":41{}}}\n",
                r % 10, r % 7, r % 3
            ));
            lp.push_str(&format!(
                "env,device={d} temperature={v},humidity=4{},pressure=1013.{},co2=41{}i {}\n",
                r % 10,
                r % 7,
                r % 3,
                1_704_067_200_000_000_000i64 + r as i64 * 250_000_000
            ));
        }
    }
    let long = format!("timestamp,device,channel,value\n{long}");
    [
        ("csv long", "x.csv", long),
        ("csv wide", "x.csv", wide),
        ("jsonl", "x.jsonl", jsonl),
        ("line protocol", "x.lp", lp),
    ]
}

fn bench_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_chunk");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.warm_up_time(Duration::from_secs(1));
    for (name, path, data) in inputs() {
        let mut chunker = Chunker::new(data.as_bytes());
        let parser =
            Parser::from_input(&ParseOptions::default(), Some(path), &mut chunker).unwrap();
        let chunks: Vec<_> = chunker.map(Result::unwrap).collect();
        let bytes: usize = chunks.iter().map(|c| c.bytes.len()).sum();
        // Every row must parse: a benchmark of the error path would be meaningless.
        for chunk in &chunks {
            let b = parser.parse_chunk(&chunk.bytes, chunk.first_line);
            assert!(b.errors.is_empty(), "{name}: {:?}", &b.errors[..1]);
        }
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let mut rows = 0;
                for chunk in &chunks {
                    rows += parser
                        .parse_chunk(black_box(&chunk.bytes), chunk.first_line)
                        .rows
                        .len();
                }
                rows
            })
        });
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_parse(&mut c);
    c.final_summary();
}
