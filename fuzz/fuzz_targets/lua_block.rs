//! The `*_by_lua_block` body reader (Lua strings, comments, long brackets) on any body.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // (no `include`: it reads real files, see conf_parse)
    if data.windows(7).any(|w| w.eq_ignore_ascii_case(b"include")) {
        return;
    }
    let mut src = b"http { server { location / { content_by_lua_block {".to_vec();
    src.extend_from_slice(data);
    src.extend_from_slice(b"} } } }");
    let dir = std::env::temp_dir();
    let _ = conf::parse_bytes(&src, &dir.join("fuzz.conf"), &dir);
});
