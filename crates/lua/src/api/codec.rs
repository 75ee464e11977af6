//! Codecs and hashes for Lua, called through LuaJIT's FFI (lualib/codec.lua wraps them):
//! `ngx.md5`, `md5_bin`, `sha1_bin`, `hmac_sha1`, `crc32_short`/`crc32_long`,
//! `encode_base64`/`decode_base64`, `escape_uri`/`unescape_uri`, `quote_sql_str`.
//!
//! Every function takes pointers the Lua wrapper owns (a Lua string and a buffer the
//! wrapper sized with the matching `*_len` function) and writes nothing past them.

use base64::Engine;
use hmac::Mac;
use md5::Digest;

use super::lua_bytes as input;

/// # Safety
/// `p` must point at `len` writable bytes.
unsafe fn output<'a>(p: *mut u8, len: usize) -> &'a mut [u8] {
    // SAFETY: the caller's contract above.
    unsafe { std::slice::from_raw_parts_mut(p, len) }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// ngx.md5: 32 hex digits into `out`.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_md5_hex(s: *const u8, len: usize, out: *mut u8) {
    // SAFETY: the wrapper passes a Lua string and a 32-byte buffer.
    let (s, out) = unsafe { (input(s, len), output(out, 32)) };
    for (i, b) in md5::Md5::digest(s).iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
}

/// ngx.md5_bin: 16 bytes into `out`.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_md5_bin(s: *const u8, len: usize, out: *mut u8) {
    // SAFETY: a Lua string and a 16-byte buffer.
    let (s, out) = unsafe { (input(s, len), output(out, 16)) };
    out.copy_from_slice(&md5::Md5::digest(s));
}

/// ngx.sha1_bin: 20 bytes into `out`.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_sha1_bin(s: *const u8, len: usize, out: *mut u8) {
    // SAFETY: a Lua string and a 20-byte buffer.
    let (s, out) = unsafe { (input(s, len), output(out, 20)) };
    out.copy_from_slice(&sha1::Sha1::digest(s));
}

/// ngx.hmac_sha1(key, s): 20 bytes into `out`.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_hmac_sha1(key: *const u8, key_len: usize, s: *const u8, len: usize, out: *mut u8) {
    // SAFETY: two Lua strings and a 20-byte buffer.
    let (key, s, out) = unsafe { (input(key, key_len), input(s, len), output(out, 20)) };
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(s);
    out.copy_from_slice(&mac.finalize().into_bytes());
}

/// ngx.crc32_short / crc32_long (the same CRC-32 for any length).
#[unsafe(no_mangle)]
pub extern "C" fn oxr_crc32(s: *const u8, len: usize) -> u32 {
    // SAFETY: a Lua string.
    crc32fast::hash(unsafe { input(s, len) })
}

/// Bytes ngx.encode_base64 needs for `len` input bytes.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_base64_encoded_len(len: usize, no_padding: i32) -> usize {
    if no_padding != 0 {
        len.div_ceil(3) * 4 - (3 - len % 3) % 3
    } else {
        len.div_ceil(3) * 4
    }
}

/// ngx.encode_base64 (url: the url-safe alphabet of ngx.base64).
#[unsafe(no_mangle)]
pub extern "C" fn oxr_encode_base64(s: *const u8, len: usize, out: *mut u8, no_padding: i32, url: i32) -> usize {
    let n = oxr_base64_encoded_len(len, no_padding);
    // SAFETY: a Lua string and a buffer of oxr_base64_encoded_len bytes.
    let (s, out) = unsafe { (input(s, len), output(out, n)) };
    let engine = match (url != 0, no_padding != 0) {
        (false, false) => &base64::engine::general_purpose::STANDARD,
        (false, true) => &base64::engine::general_purpose::STANDARD_NO_PAD,
        (true, false) => &base64::engine::general_purpose::URL_SAFE,
        (true, true) => &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    };
    engine.encode_slice(s, out).unwrap_or(0)
}

/// ngx.decode_base64: decoded length, or -1 when the input is not base64. `out` has room
/// for `len / 4 * 3 + 3` bytes. Padding is optional, as nginx's decoder accepts.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_decode_base64(s: *const u8, len: usize, out: *mut u8, url: i32) -> isize {
    // SAFETY: a Lua string and a buffer sized as documented above.
    let (s, out) = unsafe { (input(s, len), output(out, len / 4 * 3 + 3)) };
    let trimmed = s.strip_suffix(b"==").or_else(|| s.strip_suffix(b"=")).unwrap_or(s);
    let engine = if url != 0 {
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        &base64::engine::general_purpose::STANDARD_NO_PAD
    };
    match engine.decode_slice(trimmed, out) {
        Ok(n) => n as isize,
        Err(_) => -1,
    }
}

/// Whether ngx.escape_uri escapes a byte: as a URI component (type 2, the default, with
/// lua-nginx-module's table, which leaves `!*'()` alone as well as the unreserved
/// characters), or as a whole URI (type 0: space, `#`, `%`, `?` and the bytes outside
/// 0x21..0x7e).
pub fn uri_escapes(c: u8, whole_uri: bool) -> bool {
    if whole_uri {
        return c <= b' ' || c >= 0x7f || matches!(c, b'#' | b'%' | b'?');
    }
    !(c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'!' | b'*' | b'\'' | b'(' | b')'))
}

/// Appends `s` escaped as a URI component (ngx.escape_uri's default, ngx.encode_args).
pub fn push_escaped(out: &mut String, s: &[u8]) {
    for &c in s {
        if uri_escapes(c, false) {
            out.push('%');
            out.push(HEX.to_ascii_uppercase()[(c >> 4) as usize] as char);
            out.push(HEX.to_ascii_uppercase()[(c & 15) as usize] as char);
        } else {
            out.push(c as char);
        }
    }
}

/// Bytes ngx.escape_uri needs (`whole`: type 0).
#[unsafe(no_mangle)]
pub extern "C" fn oxr_escape_uri_len(s: *const u8, len: usize, whole: i32) -> usize {
    // SAFETY: a Lua string.
    let s = unsafe { input(s, len) };
    s.iter().map(|&c| if uri_escapes(c, whole != 0) { 3 } else { 1 }).sum()
}

#[unsafe(no_mangle)]
pub extern "C" fn oxr_escape_uri(s: *const u8, len: usize, out: *mut u8, whole: i32) -> usize {
    let n = oxr_escape_uri_len(s, len, whole);
    // SAFETY: a Lua string and a buffer of oxr_escape_uri_len bytes.
    let (s, out) = unsafe { (input(s, len), output(out, n)) };
    let mut i = 0;
    for &c in s {
        if uri_escapes(c, whole != 0) {
            out[i] = b'%';
            out[i + 1] = HEX.to_ascii_uppercase()[(c >> 4) as usize];
            out[i + 2] = HEX.to_ascii_uppercase()[(c & 15) as usize];
            i += 3;
        } else {
            out[i] = c;
            i += 1;
        }
    }
    i
}

/// ngx.unescape_uri: `%XX` decoded, `+` as space; bad escapes kept as they are. The
/// result is never longer than the input.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_unescape_uri(s: *const u8, len: usize, out: *mut u8) -> usize {
    // SAFETY: a Lua string and a buffer of `len` bytes.
    let (s, out) = unsafe { (input(s, len), output(out, len)) };
    let decoded = super::req::unescape_bytes(s);
    out[..decoded.len()].copy_from_slice(&decoded);
    decoded.len()
}

/// Bytes ngx.quote_sql_str needs (quotes included).
#[unsafe(no_mangle)]
pub extern "C" fn oxr_quote_sql_len(s: *const u8, len: usize) -> usize {
    // SAFETY: a Lua string.
    let s = unsafe { input(s, len) };
    2 + s
        .iter()
        .map(|&c| if sql_escape(c).is_some() { 2 } else { 1 })
        .sum::<usize>()
}

/// MySQL-style escapes, as ngx.quote_sql_str writes them.
fn sql_escape(c: u8) -> Option<u8> {
    Some(match c {
        0 => b'0',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        8 => b'b',
        26 => b'Z',
        b'\\' => b'\\',
        b'\'' => b'\'',
        b'"' => b'"',
        _ => return None,
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn oxr_quote_sql(s: *const u8, len: usize, out: *mut u8) -> usize {
    let n = oxr_quote_sql_len(s, len);
    // SAFETY: a Lua string and a buffer of oxr_quote_sql_len bytes.
    let (s, out) = unsafe { (input(s, len), output(out, n)) };
    let mut i = 1;
    out[0] = b'\'';
    for &c in s {
        match sql_escape(c) {
            Some(e) => {
                out[i] = b'\\';
                out[i + 1] = e;
                i += 2;
            }
            None => {
                out[i] = c;
                i += 1;
            }
        }
    }
    out[i] = b'\'';
    i + 1
}

/// Keeps the exported functions in the binary: the linker drops what nothing references,
/// and only Lua (at run time) calls these.
#[allow(dead_code)] // read by nobody: it exists to be linked
pub struct Exports(pub [*const (); 24]);

// SAFETY: the table holds addresses of functions, never dereferenced as data, never written.
unsafe impl Sync for Exports {}

#[used]
pub static EXPORTS: Exports = Exports([
    oxr_md5_hex as *const (),
    oxr_md5_bin as *const (),
    oxr_sha1_bin as *const (),
    oxr_hmac_sha1 as *const (),
    oxr_crc32 as *const (),
    oxr_base64_encoded_len as *const (),
    oxr_encode_base64 as *const (),
    oxr_decode_base64 as *const (),
    oxr_escape_uri_len as *const (),
    oxr_escape_uri as *const (),
    oxr_unescape_uri as *const (),
    oxr_quote_sql_len as *const (),
    oxr_quote_sql as *const (),
    super::time::oxr_now as *const (),
    super::time::oxr_time as *const (),
    super::ffi::oxr_var_get as *const (),
    super::ffi::oxr_var_set as *const (),
    super::ffi::oxr_ctx_ref as *const (),
    super::ffi::oxr_set_ctx_ref as *const (),
    super::ffi::oxr_free_ctx_ref as *const (),
    super::ffi::oxr_resp_header_set as *const (),
    super::ffi::oxr_req_headers_count as *const (),
    super::ffi::oxr_req_header as *const (),
    super::ffi::oxr_output as *const (),
]);

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: impl Fn(*const u8, usize, *mut u8) -> usize, s: &[u8], cap: usize) -> Vec<u8> {
        let mut out = vec![0u8; cap];
        let n = f(s.as_ptr(), s.len(), out.as_mut_ptr());
        out.truncate(n);
        out
    }

    #[test]
    fn codecs() {
        let mut hex = [0u8; 32];
        oxr_md5_hex(b"hello".as_ptr(), 5, hex.as_mut_ptr());
        assert_eq!(&hex, b"5d41402abc4b2a76b9719d911017c592");
        assert_eq!(oxr_crc32(b"hello".as_ptr(), 5), 907060870);
        assert_eq!(
            call(|s, l, o| oxr_encode_base64(s, l, o, 0, 0), b"hello", 8),
            b"aGVsbG8="
        );
        assert_eq!(
            call(|s, l, o| oxr_encode_base64(s, l, o, 1, 0), b"hello", 7),
            b"aGVsbG8"
        );
        assert_eq!(oxr_base64_encoded_len(5, 1), 7);
        assert_eq!(oxr_base64_encoded_len(6, 1), 8);
        let mut out = [0u8; 16];
        assert_eq!(oxr_decode_base64(b"aGVsbG8".as_ptr(), 7, out.as_mut_ptr(), 0), 5);
        assert_eq!(oxr_decode_base64(b"a!".as_ptr(), 2, out.as_mut_ptr(), 0), -1);
        assert_eq!(call(|s, l, o| oxr_escape_uri(s, l, o, 0), b"a b/c~", 16), b"a%20b%2Fc~");
        // lua-nginx-module's component table leaves !*'() alone
        assert_eq!(call(|s, l, o| oxr_escape_uri(s, l, o, 0), b"!*'()@", 16), b"!*'()%40");
        // a whole URI keeps its separators
        assert_eq!(
            call(|s, l, o| oxr_escape_uri(s, l, o, 1), b"/a b?c#d%\x7f", 32),
            b"/a%20b%3Fc%23d%25%7F"
        );
        assert_eq!(
            call(|s, l, o| oxr_unescape_uri(s, l, o), b"a%20b+c%zz", 16),
            b"a b c%zz"
        );
        assert_eq!(call(|s, l, o| oxr_quote_sql(s, l, o), b"it's\n", 16), b"'it\\'s\\n'");
    }
}

/// nginx's `ngx_hex_dump`, exported under its own name for lua-resty-string's `to_hex`
/// (which declares it through the FFI): `2 * len` lower-case hex digits of `src` at
/// `dst`; the end of what was written.
#[unsafe(no_mangle)]
pub extern "C" fn ngx_hex_dump(dst: *mut u8, src: *const u8, len: usize) -> *mut u8 {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if len == 0 {
        return dst;
    }
    // SAFETY: as nginx's contract, `src` holds `len` readable bytes and `dst` room for
    // `2 * len`; the two do not overlap.
    unsafe {
        let src = std::slice::from_raw_parts(src, len);
        let out = std::slice::from_raw_parts_mut(dst, 2 * len);
        for (i, b) in src.iter().enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 0xf) as usize];
        }
        dst.add(2 * len)
    }
}

/// nginx's `ngx_atoi` (for lua-resty-string's `atoi`): the decimal number `line[..n]`, or
/// -1 (NGX_ERROR) when it is empty, holds a byte that is not a digit, or overflows.
#[unsafe(no_mangle)]
pub extern "C" fn ngx_atoi(line: *const u8, n: usize) -> isize {
    if n == 0 || line.is_null() {
        return -1;
    }
    // SAFETY: `line` holds `n` readable bytes (a Lua string).
    let digits = unsafe { std::slice::from_raw_parts(line, n) };
    let mut v: isize = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return -1;
        }
        v = match v.checked_mul(10).and_then(|v| v.checked_add((d - b'0') as isize)) {
            Some(v) => v,
            None => return -1,
        };
    }
    v
}

#[cfg(test)]
mod nginx_exports {
    #[test]
    fn hex_dump_and_atoi_answer_as_nginx() {
        let mut buf = [0u8; 6];
        let end = super::ngx_hex_dump(buf.as_mut_ptr(), b"\x00\xab\x7f".as_ptr(), 3);
        assert_eq!(&buf, b"00ab7f");
        assert_eq!(end as usize - buf.as_ptr() as usize, 6);
        assert_eq!(super::ngx_atoi(b"1234".as_ptr(), 4), 1234);
        assert_eq!(super::ngx_atoi(b"12a".as_ptr(), 3), -1);
        assert_eq!(super::ngx_atoi(b"".as_ptr(), 0), -1);
        assert_eq!(super::ngx_atoi(b"99999999999999999999999".as_ptr(), 23), -1);
    }
}
