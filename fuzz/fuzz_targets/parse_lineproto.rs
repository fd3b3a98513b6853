//! Line protocol parser on arbitrary bytes: must never panic, every batch must be
//! self-consistent, and parsing in small chunks must give exactly the batch of parsing in
//! one piece.
//! Input: 1 option byte, 1 chunk-size byte, then the file.
#![no_main]

use iotarc::ingest::{Batch, Chunker, Format, ParseOptions, Parser, TimeUnit, Tz, Val};
use iotarc::ValueType;
use libfuzzer_sys::fuzz_target;

/// Options from the flag bits: time unit, time zone, forced types.
fn options(flags: u8, format: Option<Format>) -> ParseOptions {
    let units = [
        None,
        Some(TimeUnit::S),
        Some(TimeUnit::Us),
        Some(TimeUnit::Ns),
    ];
    let types = [
        ("m.a", ValueType::I64),
        ("m.b", ValueType::F64),
        ("m.c", ValueType::Bool),
        ("m.d", ValueType::Str),
    ];
    ParseOptions {
        format,
        time_unit: units[(flags >> 1 & 3) as usize],
        tz: match flags >> 3 & 3 {
            0 => Tz::Utc,
            1 => Tz::Fixed(-3600),
            _ => "Europe/Berlin".parse().expect("bundled zone"),
        },
        types: if flags & 0x20 != 0 {
            types.iter().map(|&(n, t)| (n.to_string(), t)).collect()
        } else {
            Default::default()
        },
        ..ParseOptions::default()
    }
}

/// Checks that ids are in range and every dictionary entry is used.
fn check(b: &Batch) {
    let mut used = (
        vec![false; b.devices.len()],
        vec![false; b.channels.len()],
        vec![false; b.strings.len()],
    );
    for r in &b.rows {
        used.0[r.device as usize] = true;
        used.1[r.channel as usize] = true;
        if let Val::Str(i) = r.value {
            used.2[i as usize] = true;
        }
    }
    assert!(used.0.iter().chain(&used.1).chain(&used.2).all(|&u| u));
}

fn parse(opts: &ParseOptions, data: &[u8], size: usize) -> Option<Batch> {
    let mut chunks = Chunker::with_chunk_size(data, size);
    let parser = Parser::from_input(opts, None, &mut chunks).ok()?;
    let mut out = Batch::default();
    for chunk in chunks {
        let chunk = chunk.ok()?;
        let b = parser.parse_chunk(&chunk.bytes, chunk.first_line);
        check(&b);
        out.append(b);
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| {
    let [flags, size, rest @ ..] = data else {
        return;
    };
    let mut opts = options(*flags, Some(Format::LineProtocol));
    if flags & 1 != 0 {
        opts.device_tag = "host".into();
    }
    let whole = parse(&opts, rest, usize::MAX);
    let chunked = parse(&opts, rest, *size as usize % 64 + 1);
    assert_eq!(whole, chunked);
});
