//! Turns a `segment_open` input into the form kept in `crates/iotarc/tests/data/fuzz-regressions/`:
//! reseals the file if its mode byte is odd (see `iotarc_fuzz::reseal`) and writes it
//! back with mode byte 0, so it replays without the fuzz crate.
//!
//! Run from `fuzz/`: `cargo run --example reseal -- <input> <output>`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        eprintln!("usage: reseal <segment_open input> <output>");
        std::process::exit(2);
    };
    let data = std::fs::read(input).expect("read input");
    let Some((&mode, file)) = data.split_first() else {
        eprintln!("empty input");
        std::process::exit(1);
    };
    let mut file = file.to_vec();
    if mode & 1 == 1 {
        iotarc_fuzz::reseal(&mut file);
    }
    let mut out = vec![0u8];
    out.extend_from_slice(&file);
    std::fs::write(output, out).expect("write output");
}
