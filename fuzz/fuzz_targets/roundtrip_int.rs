//! Integer codec round trip: encode arbitrary values, decode them, and require the exact
//! values, the same codec id and a fully consumed chunk. A panic here is a codec bug.
#![no_main]

use arbitrary::Arbitrary;
use iotarc::codec::bytes::Cursor;
use iotarc::codec::int::{self, Allowed};
use iotarc_fuzz::IntGen;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    values: Vec<IntGen>,
    timestamps: bool,
    decimal_inner: bool,
    zstd: Option<u8>,
    exhaustive: bool,
}

fuzz_target!(|input: Input| {
    let v = iotarc_fuzz::ints(&input.values);
    let allowed = if input.decimal_inner {
        Allowed::DECIMAL_INNER
    } else {
        Allowed::ALL
    };
    let opts = iotarc_fuzz::options(input.zstd, input.exhaustive);
    let mut enc = Vec::new();
    let codec = int::encode(&v, allowed, input.timestamps, &opts, &mut enc);
    let mut back = vec![0i64; v.len()];
    let mut c = Cursor::new(&enc);
    let got = int::decode(&mut c, allowed, &mut back)
        .unwrap_or_else(|e| panic!("decoding what encode wrote (codec {codec}) failed: {e}"));
    assert_eq!(got, codec, "codec id");
    c.finish("roundtrip").unwrap();
    assert_eq!(back, v, "codec {}", int::name(codec));
});
