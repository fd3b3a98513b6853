//! Archive index groups and records on arbitrary bytes (archive.md §9): group framing,
//! checksums, zstd parts and the footer-part rules. Must return, never panic.
//!
//! Input: `u32 offset | u32 length | index file` (see `iotarc::archive::index::fuzz_one`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    iotarc::archive::index::fuzz_one(data);
});
