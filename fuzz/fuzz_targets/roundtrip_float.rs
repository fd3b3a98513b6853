//! f64 codec round trip: encode arbitrary values, decode them, and require the same bit
//! patterns (NaN payloads and -0.0 included), the same codec id and a fully consumed
//! chunk. A panic here is a codec bug.
#![no_main]

use arbitrary::Arbitrary;
use iotarc::codec::bytes::Cursor;
use iotarc::codec::float;
use iotarc_fuzz::FloatGen;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    values: Vec<FloatGen>,
    zstd: Option<u8>,
    exhaustive: bool,
}

fuzz_target!(|input: Input| {
    let v = iotarc_fuzz::floats(&input.values);
    let opts = iotarc_fuzz::options(input.zstd, input.exhaustive);
    let mut enc = Vec::new();
    let codec = float::encode(&v, &opts, &mut enc);
    let mut back = vec![0f64; v.len()];
    let mut c = Cursor::new(&enc);
    let got = float::decode(&mut c, &mut back)
        .unwrap_or_else(|e| panic!("decoding what encode wrote (codec {codec}) failed: {e}"));
    assert_eq!(got, codec, "codec id");
    c.finish("roundtrip").unwrap();
    let a: Vec<u64> = v.iter().map(|x| x.to_bits()).collect();
    let b: Vec<u64> = back.iter().map(|x| x.to_bits()).collect();
    assert_eq!(a, b, "codec {}", float::name(codec));
});
