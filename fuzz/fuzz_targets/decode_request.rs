//! Fuzz target for the request guard: arbitrary bytes are a request frame (header + body, no
//! size prefix) fed through `decode_request_header` and `decode_request`. libfuzzer-sys turns
//! any panic into an abort, so even a panic the guard's `catch_unwind` would catch counts as a
//! finding here; out-of-memory from a trusted length shows up as a malloc-limit crash.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice_protocol::guard::{decode_request, decode_request_header};

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    if let Ok((header, len)) = decode_request_header(&frame) {
        let _ = decode_request(
            header.request_api_key,
            header.request_api_version,
            frame.slice(len..),
        );
    }
    // Also the body alone under every covered api key, so the body walker sees raw bytes at
    // every version without the fuzzer first having to discover a valid header.
    if let [key, version, body @ ..] = data {
        let _ = decode_request(
            i16::from(*key % 72),
            i16::from(*version % 20),
            Bytes::copy_from_slice(body),
        );
    }
});
