//! The nginx.conf lexer and parser on any bytes: an error or a tree, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // (`include` reads real files: what it finds depends on the machine; the include
    // rules are unit-tested beside the parser)
    if data.windows(7).any(|w| w.eq_ignore_ascii_case(b"include")) {
        return;
    }
    let dir = std::env::temp_dir();
    let _ = conf::parse_bytes(data, &dir.join("fuzz.conf"), &dir);
});
