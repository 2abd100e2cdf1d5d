//! Change ingest through the relay's hub with its access policy
//! (`server::fuzzing::ingest`): the input is a small program that builds
//! Automerge documents (the keys and values GridSync documents use, maps,
//! lists, text, deep nesting) as one of four users and syncs them to the
//! hub, or sends raw bytes as a sync message. Whatever the program, the
//! hub must answer or refuse, never panic, and never store a change that
//! its policy refused.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = server::fuzzing::ingest(data);
});
