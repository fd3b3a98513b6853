//! IntStream decoder on arbitrary bytes: must return, never panic.
//! Input: 2 bytes of value count, then the stream.
#![no_main]

use iotarc::codec::bytes::Cursor;
use iotarc::codec::intstream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((n, _, bytes)) = iotarc_fuzz::count_and_bytes(data) else {
        return;
    };
    let mut out = vec![0i64; n];
    let mut c = Cursor::new(bytes);
    if intstream::decode(&mut c, &mut out).is_ok() {
        let _ = c.finish("fuzz");
    }
});
