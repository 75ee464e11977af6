//! The nginx.conf lexer and parser on any bytes: an error or a tree, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir();
    let _ = conf::parse_bytes(data, &dir.join("fuzz.conf"), &dir);
});
