//! Integer codec decoder on arbitrary bytes: must return, never panic.
//! Input: 2 bytes of value count (top bit: DECIMAL_INNER instead of ALL), then the chunk.
#![no_main]

use iotarc::codec::bytes::Cursor;
use iotarc::codec::int::{self, Allowed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((n, inner, bytes)) = iotarc_fuzz::count_and_bytes(data) else {
        return;
    };
    let allowed = if inner {
        Allowed::DECIMAL_INNER
    } else {
        Allowed::ALL
    };
    let mut out = vec![0i64; n];
    let mut c = Cursor::new(bytes);
    if int::decode(&mut c, allowed, &mut out).is_ok() {
        let _ = c.finish("fuzz");
    }
});
