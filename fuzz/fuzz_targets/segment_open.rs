//! Whole-file reader on arbitrary bytes: `Segment::from_bytes`, then every block, series
//! and aggregate. Must return, never panic.
//!
//! Input: one mode byte, then the file. Odd mode: the file is first "resealed"
//! (checksums and check values recomputed, footer rewritten plain; see
//! `iotarc_fuzz::reseal`) so mutations get past the checksums into the footer and block
//! decoders. Even mode: the bytes are used as they are, which exercises the framing and
//! checksum checks themselves.
#![no_main]

use iotarc::Segment;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    if mode & 1 == 1 {
        iotarc_fuzz::reseal(&mut file);
    }
    if let Ok(seg) = Segment::from_bytes(file) {
        iotarc_fuzz::read_everything(&seg);
    }
});
