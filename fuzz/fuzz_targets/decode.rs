//! The frame decoder (`client_core::protocol::decode`), through
//! `server::fuzzing::decode`: any bytes decode to a message or a
//! `DecodeError`, never a panic; whatever decodes re-encodes to the same
//! message.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    server::fuzzing::decode(data);
});
