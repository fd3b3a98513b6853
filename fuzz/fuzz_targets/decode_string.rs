//! String codec decoder on arbitrary bytes: must return, never panic, and on success hold
//! exactly the requested number of strings.
//! Input: 2 bytes of value count, then the chunk.
#![no_main]

use iotarc::codec::bytes::Cursor;
use iotarc::codec::string;
use iotarc::StrValues;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((n, _, bytes)) = iotarc_fuzz::count_and_bytes(data) else {
        return;
    };
    let mut out = StrValues::default();
    let mut c = Cursor::new(bytes);
    if string::decode(&mut c, n, &mut out).is_ok() {
        assert_eq!(out.len(), n);
        assert!(out.iter().count() == n);
        let _ = c.finish("fuzz");
    }
});
