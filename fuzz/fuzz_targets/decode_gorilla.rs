//! Gorilla decoders on arbitrary bytes: must return, never panic.
//! Input: 2 bytes of value count (top bit: XOR instead of delta-of-delta), then the
//! payload.
#![no_main]

use iotarc::codec::bytes::Cursor;
use iotarc::codec::gorilla;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((n, xor, bytes)) = iotarc_fuzz::count_and_bytes(data) else {
        return;
    };
    let mut c = Cursor::new(bytes);
    let ok = if xor {
        gorilla::decode_xor(&mut c, &mut vec![0f64; n]).is_ok()
    } else {
        gorilla::decode_dod(&mut c, &mut vec![0i64; n]).is_ok()
    };
    if ok {
        let _ = c.finish("fuzz");
    }
});
