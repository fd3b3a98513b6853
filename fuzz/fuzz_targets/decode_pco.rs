//! `PCO` payload decoder (format.md §10.6) on arbitrary bytes: must return, never panic.
//! Input: 2 bytes of value count (the top bit selects i64 instead of f64), then the
//! payload after the codec byte: pcodec version, chunk metadata, page.
#![no_main]

use iotarc::codec::bytes::Cursor;
use iotarc::codec::pco_chunk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((n, ints, bytes)) = iotarc_fuzz::count_and_bytes(data) else {
        return;
    };
    let mut c = Cursor::new(bytes);
    let ok = if ints {
        pco_chunk::decode(&mut c, &mut vec![0i64; n]).is_ok()
    } else {
        pco_chunk::decode(&mut c, &mut vec![0f64; n]).is_ok()
    };
    if ok {
        let _ = c.finish("fuzz");
    }
});
