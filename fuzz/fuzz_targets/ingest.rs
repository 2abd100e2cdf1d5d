//! Change ingest through the relay's hub with its access policy
//! (`server::fuzzing::ingest`): the input is a small program that builds
//! Automerge documents (the keys and values GridSync documents use, maps,
//! lists, text, nested maps) as one of four users and syncs them to the
//! hub, or sends raw bytes as a sync message. Whatever the program, the
//! hub must answer or refuse, never panic or overflow its stack, and never
//! store a change that its policy refused.
//!
//! Each program runs on a thread with the hub thread's stack (2 MiB, the
//! default), so a recursion over client-supplied depth overflows where it
//! would in the relay.
//!
//! A stack overflow kills the process before libFuzzer can write the input
//! out (without AddressSanitizer nothing handles the signal on another
//! stack). With `GRIDSYNC_FUZZ_LAST_INPUT` set to a folder, each process
//! writes the input it is about to run to `<folder>/<pid>` first: what is
//! left in a file whose process crashed is the crashing input.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(dir) = std::env::var_os("GRIDSYNC_FUZZ_LAST_INPUT") {
        let path = std::path::Path::new(&dir).join(std::process::id().to_string());
        std::fs::write(path, data).expect("write the last input");
    }
    let data = data.to_vec();
    let run = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || server::fuzzing::ingest(&data))
        .expect("spawn the ingest thread");
    if let Err(panic) = run.join() {
        std::panic::resume_unwind(panic);
    }
});
