//! Line protocol parser on arbitrary bytes: must never panic, every batch must be self-consistent,
//! and parsing in small chunks must give exactly the batch of parsing in one piece.
//! Input: 1 option byte, 1 chunk-size byte, then the file.
#![no_main]

use iotarc::input::{Format, TimeUnit};
use iotarc_fuzz::{check_parser, parse_options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [flags, size, rest @ ..] = data else {
        return;
    };
    let mut opts = parse_options(*flags, Some(Format::LineProtocol), TimeUnit::Us, "m.");
    if flags & 1 != 0 {
        opts.device_tag = "host".into();
    }
    check_parser(&opts, rest, *size);
});
