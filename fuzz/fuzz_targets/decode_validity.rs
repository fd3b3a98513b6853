//! Validity bitmap decoder on arbitrary bytes: must return, never panic, and on success
//! give a bitmap of exactly `n` bits whose set-bit count it returned.
//! Input: 2 bytes of row count, then the bitmap encoding.
#![no_main]

use iotarc::codec::bytes::Cursor;
use iotarc::codec::validity;
use iotarc::Bitmap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((n, _, bytes)) = iotarc_fuzz::count_and_bytes(data) else {
        return;
    };
    let mut out = Bitmap::new();
    let mut c = Cursor::new(bytes);
    if let Ok(ones) = validity::decode(&mut c, n, &mut out) {
        assert_eq!(out.len(), n);
        assert_eq!(out.count_ones(), ones);
        let _ = c.finish("fuzz");
    }
});
