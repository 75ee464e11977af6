//! The HTTP/1 request-head parser, with nginx's limits, on any bytes; what it accepts
//! must make sense (a length within the input, a parsable target or a refusal).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = http::h1::Limits {
        large_buf: 8192,
        large_num: 4,
    };
    if let Ok(Some((head, used))) = http::h1::parse_head(data, &limits) {
        assert!(used <= data.len());
        let _ = http::h1::parse_target(&head.target, true);
        let _ = http::h1::body_framing(&head.headers, head.version);
        for (name, value) in &head.headers {
            if name.eq_ignore_ascii_case("host") {
                let _ = http::h1::validate_host(value);
            }
        }
    }
});
