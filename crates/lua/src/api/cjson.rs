//! `cjson` and `cjson.safe`, built in, with lua-cjson's API as OpenResty ships it: the
//! same encoding (`%.14g` numbers, `\/` escapes, arrays told from objects by their
//! keys, the sparse-array rules), the same decoding (including what strtod accepts:
//! hex, `Infinity`, `NaN`), the same settings and the same error texts.
//!
//! Written by hand rather than on a JSON crate: no crate decodes lua-cjson's "invalid
//! numbers" (hex, inf, nan, a leading `+`), reports its errors ("Expected comma or
//! array end but found T_STRING at character 7") or builds Lua tables as it reads. The
//! tokenizer reads a 1 KiB object in ~530 ns where serde_json merely skipping it
//! (`IgnoredAny`, building nothing) takes ~390 ns (`read_speed_against_serde_json`);
//! building the Lua values costs more than either. These are classic Lua C functions:
//! they run through the Lua C API, and an error is raised only after every Rust value
//! of the call is gone (`cfunc::raise`).

use std::ffi::{c_char, c_int, c_void};

use mlua::ffi::{self, lua_State};

use super::lua_bytes;

/// Addresses whose light userdata name the array metatables in the registry (and
/// `cjson.empty_array`), as lua-cjson's statics do.
static ARRAY: u8 = 0;
static EMPTY_ARRAY: u8 = 0;

fn key(p: &'static u8) -> *mut c_void {
    p as *const u8 as *mut c_void
}

/// One module table's settings (its functions' upvalue), as lua-cjson's config.
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: c_int,
    sparse_safe: c_int,
    encode_max_depth: c_int,
    decode_max_depth: c_int,
    /// 0 off, 1 on, 2 "null"
    encode_invalid_numbers: c_int,
    decode_invalid_numbers: bool,
    encode_keep_buffer: bool,
    number_precision: c_int,
    empty_table_as_object: bool,
    decode_array_with_array_mt: bool,
    /// JSON null decodes to `cjson.null` (else to nil, which drops it from tables).
    decode_json_null: bool,
    escape_forward_slash: bool,
}

const DEFAULTS: Config = Config {
    sparse_convert: false,
    sparse_ratio: 2,
    sparse_safe: 10,
    encode_max_depth: 1000,
    decode_max_depth: 1000,
    encode_invalid_numbers: 0,
    decode_invalid_numbers: true,
    encode_keep_buffer: true,
    number_precision: 14,
    empty_table_as_object: true,
    decode_array_with_array_mt: false,
    decode_json_null: true,
    escape_forward_slash: true,
};

/// # Safety
/// Called from a function of a module made by `new` (its upvalue 1 is the config).
unsafe fn config<'a>(l: *mut lua_State) -> &'a mut Config {
    // SAFETY: the caller's contract: a full userdata holding a Config.
    unsafe { &mut *ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)).cast::<Config>() }
}

thread_local! {
    /// The encoder's output buffer, kept between calls (encode_keep_buffer).
    static BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    /// The decoder's buffer for strings with escapes, kept between calls.
    static DECODE_TMP: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

// ---------------------------------------------------------------- encoding

/// The Lua type name of the value at `idx` (Lua's names are static strings).
fn type_name(l: *mut lua_State, idx: c_int) -> &'static str {
    // SAFETY: lua_typename returns a static C string for any type number.
    unsafe {
        let t = ffi::lua_type(l, idx);
        std::ffi::CStr::from_ptr(ffi::lua_typename(l, t))
            .to_str()
            .unwrap_or("?")
    }
}

/// The JSON escape of a byte, if it needs one.
fn escape(b: u8, slash: bool) -> Option<&'static [u8]> {
    const CONTROL: [&[u8]; 32] = [
        b"\\u0000", b"\\u0001", b"\\u0002", b"\\u0003", b"\\u0004", b"\\u0005", b"\\u0006", b"\\u0007", b"\\b", b"\\t",
        b"\\n", b"\\u000b", b"\\f", b"\\r", b"\\u000e", b"\\u000f", b"\\u0010", b"\\u0011", b"\\u0012", b"\\u0013",
        b"\\u0014", b"\\u0015", b"\\u0016", b"\\u0017", b"\\u0018", b"\\u0019", b"\\u001a", b"\\u001b", b"\\u001c",
        b"\\u001d", b"\\u001e", b"\\u001f",
    ];
    match b {
        0..=31 => Some(CONTROL[b as usize]),
        b'"' => Some(b"\\\""),
        b'\\' => Some(b"\\\\"),
        b'/' if slash => Some(b"\\/"),
        0x7f => Some(b"\\u007f"),
        _ => None,
    }
}

fn append_string(out: &mut Vec<u8>, s: &[u8], slash: bool) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut plain = 0;
    let mut i = 0;
    while i < s.len() {
        // eight bytes at a time while none of them may need an escape
        if let Some(chunk) = s.get(i..i + 8)
            && !may_escape(u64::from_le_bytes(chunk.try_into().unwrap_or_default()), slash)
        {
            i += 8;
            continue;
        }
        if let Some(e) = escape(s[i], slash) {
            out.extend_from_slice(&s[plain..i]);
            out.extend_from_slice(e);
            plain = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&s[plain..]);
    out.push(b'"');
}

/// Whether any of eight bytes may need an escape: a control byte, `"`, `\`, DEL, or `/`
/// when slashes are escaped (exact for "none": a false "maybe" only costs the slow path).
fn may_escape(x: u64, slash: bool) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // (a byte of `v` is 0 -> its high bit is set in the result; the classic zero-byte test)
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
    let special = zero(x ^ (ONES * b'"' as u64)) | zero(x ^ (ONES * b'\\' as u64)) | zero(x ^ (ONES * 0x7f));
    let slash_hit = if slash { zero(x ^ (ONES * b'/' as u64)) } else { 0 };
    below_space | special | slash_hit != 0
}

/// `%.{precision}g`, as lua-cjson prints numbers.
fn append_number(out: &mut Vec<u8>, n: f64, precision: c_int) {
    // integers print the same through %g; this skips snprintf for the common case
    if n.fract() == 0.0 && n.abs() < 1e14 && precision >= 14 && !(n == 0.0 && n.is_sign_negative()) {
        use std::io::Write;
        let _ = write!(out, "{}", n as i64);
        return;
    }
    let mut buf = [0u8; 40];
    // SAFETY: snprintf writes at most buf.len() bytes, NUL included.
    let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.*g".as_ptr(), precision, n) };
    out.extend_from_slice(&buf[..(n.max(0) as usize).min(buf.len() - 1)]);
}

enum EncodeError {
    /// "Cannot serialise <type>: <reason>".
    Value(&'static str, &'static str),
    Nesting(c_int),
}

/// Encodes the value on top of the stack.
///
/// # Safety
/// `l` is the running state with the value at its top.
unsafe fn encode_value(l: *mut lua_State, cfg: &Config, depth: c_int, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    // SAFETY: the caller's contract; each step keeps the stack balanced.
    unsafe {
        match ffi::lua_type(l, -1) {
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let p = ffi::lua_tolstring(l, -1, &mut len);
                append_string(out, lua_bytes(p.cast(), len), cfg.escape_forward_slash);
            }
            ffi::LUA_TNUMBER => encode_number(l, cfg, -1, out)?,
            ffi::LUA_TBOOLEAN => out.extend_from_slice(if ffi::lua_toboolean(l, -1) != 0 {
                b"true"
            } else {
                b"false"
            }),
            ffi::LUA_TNIL => out.extend_from_slice(b"null"),
            ffi::LUA_TLIGHTUSERDATA => {
                let p = ffi::lua_touserdata(l, -1);
                if p.is_null() {
                    out.extend_from_slice(b"null");
                } else if p == key(&ARRAY) {
                    out.extend_from_slice(b"[]");
                }
            }
            ffi::LUA_TTABLE => encode_table(l, cfg, depth + 1, out)?,
            _ => return Err(EncodeError::Value(type_name(l, -1), "type not supported")),
        }
    }
    Ok(())
}

/// # Safety
/// As `encode_value`; `idx` is a number's index.
unsafe fn encode_number(l: *mut lua_State, cfg: &Config, idx: c_int, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    // SAFETY: the caller's contract.
    let n = unsafe { ffi::lua_tonumber(l, idx) };
    if !n.is_finite() {
        match cfg.encode_invalid_numbers {
            0 => return Err(EncodeError::Value(type_name(l, idx), "must not be NaN or Infinity")),
            1 => {
                out.extend_from_slice(if n.is_nan() {
                    b"NaN"
                } else if n < 0.0 {
                    b"-Infinity"
                } else {
                    b"Infinity"
                });
                return Ok(());
            }
            _ => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
        }
    }
    append_number(out, n, cfg.number_precision);
    Ok(())
}

/// Whether the table on top has the metatable registered under `which`.
///
/// # Safety
/// A table is on top of the stack (two free slots checked by the caller).
unsafe fn has_mt(l: *mut lua_State, which: &'static u8) -> bool {
    // SAFETY: the caller's contract; pushes and pops two values.
    unsafe {
        if ffi::lua_getmetatable(l, -1) == 0 {
            return false;
        }
        ffi::lua_pushlightuserdata(l, key(which));
        ffi::lua_rawget(l, ffi::LUA_REGISTRYINDEX);
        let same = ffi::lua_rawequal(l, -1, -2) != 0;
        ffi::lua_settop(l, -3);
        same
    }
}

/// The table on top as an array: its length, or None for an object (or a sparse array
/// encoded as one).
///
/// # Safety
/// A table is on top of the stack.
unsafe fn array_length(l: *mut lua_State, cfg: &Config) -> Result<Option<usize>, EncodeError> {
    // SAFETY: the caller's contract; lua_next leaves the stack as it found it.
    unsafe {
        let (mut max, mut items) = (0f64, 0usize);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            let k = if ffi::lua_type(l, -2) == ffi::LUA_TNUMBER {
                ffi::lua_tonumber(l, -2)
            } else {
                0.0
            };
            if k >= 1.0 && k.floor() == k {
                max = max.max(k);
                items += 1;
                ffi::lua_settop(l, -2);
                continue;
            }
            ffi::lua_settop(l, -3);
            return Ok(None);
        }
        if cfg.sparse_ratio > 0 && max > (items as f64) * cfg.sparse_ratio as f64 && max > cfg.sparse_safe as f64 {
            if !cfg.sparse_convert {
                return Err(EncodeError::Value("table", "excessively sparse array"));
            }
            return Ok(None);
        }
        Ok(Some(max as usize))
    }
}

/// # Safety
/// A table is on top of the stack.
unsafe fn encode_table(l: *mut lua_State, cfg: &Config, depth: c_int, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    // SAFETY: the caller's contract; every push is popped before returning.
    unsafe {
        if depth > cfg.encode_max_depth || ffi::lua_checkstack(l, 3) == 0 {
            return Err(EncodeError::Nesting(depth));
        }
        let len = if has_mt(l, &ARRAY) {
            Some(ffi::lua_objlen(l, -1))
        } else {
            match array_length(l, cfg)? {
                Some(0) if cfg.empty_table_as_object && !has_mt(l, &EMPTY_ARRAY) => None,
                other => other,
            }
        };
        if let Some(len) = len {
            out.push(b'[');
            for i in 1..=len {
                if i > 1 {
                    out.push(b',');
                }
                ffi::lua_rawgeti(l, -1, i as ffi::lua_Integer);
                let r = encode_value(l, cfg, depth, out);
                ffi::lua_settop(l, -2);
                r?;
            }
            out.push(b']');
            return Ok(());
        }
        out.push(b'{');
        let mut first = true;
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            if !first {
                out.push(b',');
            }
            first = false;
            match ffi::lua_type(l, -2) {
                ffi::LUA_TNUMBER => {
                    out.push(b'"');
                    if let Err(e) = encode_number(l, cfg, -2, out) {
                        ffi::lua_settop(l, -3);
                        return Err(e);
                    }
                    out.extend_from_slice(b"\":");
                }
                ffi::LUA_TSTRING => {
                    let mut len = 0;
                    let p = ffi::lua_tolstring(l, -2, &mut len);
                    append_string(out, lua_bytes(p.cast(), len), cfg.escape_forward_slash);
                    out.push(b':');
                }
                _ => {
                    let e = EncodeError::Value(type_name(l, -2), "table key must be a number or string");
                    ffi::lua_settop(l, -3);
                    return Err(e);
                }
            }
            let r = encode_value(l, cfg, depth, out);
            ffi::lua_settop(l, -2);
            r?;
        }
        out.push(b'}');
        Ok(())
    }
}

unsafe extern "C-unwind" fn json_encode(l: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a function of a cjson module.
    unsafe {
        if ffi::lua_gettop(l) != 1 {
            return ffi::luaL_argerror(l, 1, c"expected 1 argument".as_ptr());
        }
        let cfg = *config(l);
        let mut out = BUFFER.with(|b| b.take());
        out.clear();
        let r = encode_value(l, &cfg, 0, &mut out);
        let msg = match r {
            Ok(()) => {
                ffi::lua_pushlstring(l, out.as_ptr().cast(), out.len());
                if cfg.encode_keep_buffer && out.capacity() <= 1 << 20 {
                    BUFFER.with(|b| b.set(out));
                }
                return 1;
            }
            Err(EncodeError::Value(what, reason)) => format!("Cannot serialise {what}: {reason}"),
            Err(EncodeError::Nesting(depth)) => format!("Cannot serialise, excessive nesting ({depth})"),
        };
        drop(out);
        crate::cfunc::raise(l, msg)
    }
}

// ---------------------------------------------------------------- decoding

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Tok {
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Number => "T_NUMBER",
            Tok::Boolean => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error => "T_ERROR",
        }
    }
}

struct Token {
    kind: Tok,
    /// Where it starts (0-based).
    at: usize,
    number: f64,
    boolean: bool,
    /// For Tok::Error: what is wrong.
    error: &'static str,
    /// For Tok::Str without escapes: its bytes in the text (else they are in `tmp`).
    plain: Option<(usize, usize)>,
}

impl Token {
    fn new(kind: Tok, at: usize) -> Token {
        Token {
            kind,
            at,
            number: 0.0,
            boolean: false,
            error: "",
            plain: None,
        }
    }
}

struct Parser<'a> {
    /// The text, up to its first NUL (lua-cjson reads a C string).
    s: &'a [u8],
    /// The same bytes with the NUL Lua keeps after every string, for strtod.
    c: *const c_char,
    pos: usize,
    depth: c_int,
    cfg: Config,
    /// A string's decoded bytes.
    tmp: Vec<u8>,
}

fn hex4(s: &[u8]) -> Option<u32> {
    let s = s.get(..4)?;
    let mut v = 0;
    for &c in s {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

impl Parser<'_> {
    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    fn error_token(&self, what: &'static str) -> Token {
        Token {
            error: what,
            ..Token::new(Tok::Error, self.pos)
        }
    }

    /// lua-cjson's check for numbers strict JSON refuses (a leading `+`, hex, leading
    /// zeros, inf, nan).
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let word = |w: &[u8]| self.s.get(p..p + 3).is_some_and(|x| x.eq_ignore_ascii_case(w));
        word(b"inf") || word(b"nan")
    }

    fn number(&mut self) -> Token {
        let start = self.pos;
        let mut end: *mut c_char = std::ptr::null_mut();
        // SAFETY: `c` is the Lua string's data, NUL-terminated; strtod stops at or
        // before that NUL.
        let n = unsafe { libc::strtod(self.c.add(start), &mut end) };
        // SAFETY: strtod's end points into the same string.
        let used = unsafe { end.offset_from(self.c.add(start)) }.max(0) as usize;
        if used == 0 {
            return self.error_token("invalid number");
        }
        self.pos = (start + used).min(self.s.len());
        Token {
            number: n,
            ..Token::new(Tok::Number, start)
        }
    }

    fn string(&mut self) -> Token {
        let start = self.pos;
        self.pos += 1;
        // the common case: no escape before the closing quote, the bytes used in place
        let body = &self.s[self.pos..];
        if let Some(n) = memchr::memchr2(b'"', b'\\', body)
            && body[n] == b'"'
        {
            let range = (self.pos, self.pos + n);
            self.pos += n + 1;
            let mut t = Token::new(Tok::Str, start);
            t.plain = Some(range);
            return t;
        }
        self.tmp.clear();
        loop {
            let c = self.at(self.pos);
            match c {
                b'"' => break,
                0 => return self.error_token("unexpected end of string"),
                b'\\' => {
                    let e = self.at(self.pos + 1);
                    let ch = match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => 12,
                        b'r' => b'\r',
                        b'u' => {
                            if self.unicode_escape() {
                                continue;
                            }
                            return self.error_token("invalid unicode escape code");
                        }
                        _ => return self.error_token("invalid escape code"),
                    };
                    self.tmp.push(ch);
                    self.pos += 2;
                }
                _ => {
                    // a run of plain bytes at once
                    let run = memchr::memchr2(b'"', b'\\', &self.s[self.pos..]);
                    let end = self.pos + run.unwrap_or(self.s.len() - self.pos);
                    self.tmp.extend_from_slice(&self.s[self.pos..end]);
                    self.pos = end;
                }
            }
        }
        self.pos += 1;
        Token::new(Tok::Str, start)
    }

    /// A string token's bytes.
    fn text(&self, t: &Token) -> &[u8] {
        match t.plain {
            Some((a, b)) => &self.s[a..b],
            None => &self.tmp,
        }
    }

    /// `\uXXXX` (and a surrogate pair) at pos, appended as UTF-8.
    fn unicode_escape(&mut self) -> bool {
        let Some(mut cp) = hex4(&self.s[(self.pos + 2).min(self.s.len())..]) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 || self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = hex4(&self.s[(self.pos + 8).min(self.s.len())..]) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        // (lone low surrogates are written as their 3 bytes, as lua-cjson does)
        let mut b = [0u8; 4];
        let n = match cp {
            0..=0x7F => {
                b[0] = cp as u8;
                1
            }
            0x80..=0x7FF => {
                b[0] = (cp >> 6) as u8 | 0xC0;
                b[1] = (cp & 0x3F) as u8 | 0x80;
                2
            }
            0x800..=0xFFFF => {
                b[0] = (cp >> 12) as u8 | 0xE0;
                b[1] = ((cp >> 6) & 0x3F) as u8 | 0x80;
                b[2] = (cp & 0x3F) as u8 | 0x80;
                3
            }
            _ => {
                b[0] = (cp >> 18) as u8 | 0xF0;
                b[1] = ((cp >> 12) & 0x3F) as u8 | 0x80;
                b[2] = ((cp >> 6) & 0x3F) as u8 | 0x80;
                b[3] = (cp & 0x3F) as u8 | 0x80;
                4
            }
        };
        self.tmp.extend_from_slice(&b[..n]);
        self.pos += len;
        true
    }

    fn next(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let at = self.pos;
        let c = self.at(at);
        let single = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            0 => return Token::new(Tok::End, at),
            _ => None,
        };
        if let Some(kind) = single {
            self.pos += 1;
            return Token::new(kind, at);
        }
        let rest = &self.s[at..];
        match c {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => {
                if !self.cfg.decode_invalid_numbers && self.is_invalid_number() {
                    return self.error_token("invalid number");
                }
                self.number()
            }
            b't' if rest.starts_with(b"true") => {
                self.pos += 4;
                Token {
                    boolean: true,
                    ..Token::new(Tok::Boolean, at)
                }
            }
            b'f' if rest.starts_with(b"false") => {
                self.pos += 5;
                Token {
                    boolean: false,
                    ..Token::new(Tok::Boolean, at)
                }
            }
            b'n' if rest.starts_with(b"null") => {
                self.pos += 4;
                Token::new(Tok::Null, at)
            }
            b'i' | b'I' | b'n' | b'N' | b'+' if self.cfg.decode_invalid_numbers && self.is_invalid_number() => {
                self.number()
            }
            _ => self.error_token("invalid token"),
        }
    }

    fn expected(&self, what: &str, t: &Token) -> String {
        let found = if t.kind == Tok::Error { t.error } else { t.kind.name() };
        format!("Expected {what} but found {found} at character {}", t.at + 1)
    }

    /// # Safety
    /// `l` is the running state.
    unsafe fn descend(&mut self, l: *mut lua_State, slots: c_int) -> Result<(), String> {
        self.depth += 1;
        // SAFETY: the caller's contract.
        if self.depth <= self.cfg.decode_max_depth && unsafe { ffi::lua_checkstack(l, slots) } != 0 {
            return Ok(());
        }
        Err(format!(
            "Found too many nested data structures ({}) at character {}",
            self.depth, self.pos
        ))
    }

    /// Pushes the value starting with `t`.
    ///
    /// # Safety
    /// `l` is the running state with a free slot.
    unsafe fn value(&mut self, l: *mut lua_State, t: Token) -> Result<(), String> {
        // SAFETY: the caller's contract; each branch pushes exactly one value.
        unsafe {
            match t.kind {
                Tok::Str => {
                    let b = self.text(&t);
                    ffi::lua_pushlstring(l, b.as_ptr().cast(), b.len());
                }
                Tok::Number => ffi::lua_pushnumber(l, t.number),
                Tok::Boolean => ffi::lua_pushboolean(l, t.boolean as c_int),
                Tok::Null if self.cfg.decode_json_null => ffi::lua_pushlightuserdata(l, std::ptr::null_mut()),
                Tok::Null => ffi::lua_pushnil(l),
                Tok::ObjBegin => self.object(l)?,
                Tok::ArrBegin => self.array(l)?,
                _ => return Err(self.expected("value", &t)),
            }
        }
        Ok(())
    }

    /// # Safety
    /// As `value`.
    unsafe fn object(&mut self, l: *mut lua_State) -> Result<(), String> {
        // SAFETY: the caller's contract; descend checked three slots.
        unsafe {
            self.descend(l, 3)?;
            ffi::lua_createtable(l, 0, 0);
            let mut t = self.next();
            if t.kind == Tok::ObjEnd {
                self.depth -= 1;
                return Ok(());
            }
            loop {
                if t.kind != Tok::Str {
                    return Err(self.expected("object key string", &t));
                }
                let b = self.text(&t);
                ffi::lua_pushlstring(l, b.as_ptr().cast(), b.len());
                let colon = self.next();
                if colon.kind != Tok::Colon {
                    return Err(self.expected("colon", &colon));
                }
                let v = self.next();
                self.value(l, v)?;
                ffi::lua_rawset(l, -3);
                let t2 = self.next();
                if t2.kind == Tok::ObjEnd {
                    self.depth -= 1;
                    return Ok(());
                }
                if t2.kind != Tok::Comma {
                    return Err(self.expected("comma or object end", &t2));
                }
                t = self.next();
            }
        }
    }

    /// # Safety
    /// As `value`.
    unsafe fn array(&mut self, l: *mut lua_State) -> Result<(), String> {
        // SAFETY: the caller's contract; descend checked two slots.
        unsafe {
            self.descend(l, 2)?;
            ffi::lua_createtable(l, 0, 0);
            if self.cfg.decode_array_with_array_mt {
                ffi::lua_pushlightuserdata(l, key(&ARRAY));
                ffi::lua_rawget(l, ffi::LUA_REGISTRYINDEX);
                ffi::lua_setmetatable(l, -2);
            }
            let mut t = self.next();
            if t.kind == Tok::ArrEnd {
                self.depth -= 1;
                return Ok(());
            }
            let mut i = 1;
            loop {
                self.value(l, t)?;
                ffi::lua_rawseti(l, -2, i);
                i += 1;
                let t2 = self.next();
                if t2.kind == Tok::ArrEnd {
                    self.depth -= 1;
                    return Ok(());
                }
                if t2.kind != Tok::Comma {
                    return Err(self.expected("comma or array end", &t2));
                }
                t = self.next();
            }
        }
    }
}

unsafe extern "C-unwind" fn json_decode(l: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as a function of a cjson module.
    unsafe {
        if ffi::lua_gettop(l) != 1 {
            return ffi::luaL_argerror(l, 1, c"expected 1 argument".as_ptr());
        }
        let mut len = 0;
        let p = ffi::luaL_checklstring(l, 1, &mut len);
        let bytes = lua_bytes(p.cast(), len);
        if len >= 2 && (bytes[0] == 0 || bytes[1] == 0) {
            return ffi::luaL_error(l, c"JSON parser does not support UTF-16 or UTF-32".as_ptr());
        }
        let text = &bytes[..bytes.iter().position(|&b| b == 0).unwrap_or(len)];
        let tmp = DECODE_TMP.with(|t| t.take());
        let mut parser = Parser {
            s: text,
            c: p,
            pos: 0,
            depth: 0,
            cfg: *config(l),
            tmp,
        };
        let first = parser.next();
        let mut result = parser.value(l, first);
        if result.is_ok() {
            let end = parser.next();
            if end.kind != Tok::End {
                result = Err(parser.expected("the end", &end));
            }
        }
        if parser.tmp.capacity() <= 1 << 16 {
            DECODE_TMP.with(|t| t.set(std::mem::take(&mut parser.tmp)));
        }
        drop(parser);
        match result {
            Ok(()) => 1,
            Err(msg) => crate::cfunc::raise(l, msg),
        }
    }
}

// ---------------------------------------------------------------- settings

/// lua-cjson's argument check for a setting taking up to `n` arguments.
///
/// # Safety
/// Called from a setting function.
unsafe fn args(l: *mut lua_State, n: c_int) -> &'static mut Config {
    // SAFETY: the caller's contract; luaL_argerror raises (nothing of ours is alive).
    unsafe {
        if ffi::lua_gettop(l) > n {
            ffi::luaL_argerror(l, n + 1, c"found too many arguments".as_ptr());
        }
        while ffi::lua_gettop(l) < n {
            ffi::lua_pushnil(l);
        }
        config(l)
    }
}

/// An integer setting at `idx` within `min..=max`; pushes the current value.
///
/// # Safety
/// As `args`.
unsafe fn integer(l: *mut lua_State, idx: c_int, setting: &mut c_int, min: c_int, max: c_int) {
    // SAFETY: the caller's contract.
    unsafe {
        if ffi::lua_type(l, idx) != ffi::LUA_TNIL {
            let v = ffi::luaL_checkinteger(l, idx);
            if v < min as ffi::lua_Integer || v > max as ffi::lua_Integer {
                let mut msg = [0u8; 64];
                libc::snprintf(
                    msg.as_mut_ptr().cast(),
                    msg.len(),
                    c"expected integer between %d and %d".as_ptr(),
                    min,
                    max,
                );
                ffi::luaL_argerror(l, 1, msg.as_ptr().cast());
            }
            *setting = v as c_int;
        }
        ffi::lua_pushinteger(l, *setting as ffi::lua_Integer);
    }
}

/// An on/off setting at `idx` (a boolean, or "on"/"off"); pushes the current value.
///
/// # Safety
/// As `args`.
unsafe fn on_off(l: *mut lua_State, idx: c_int, setting: &mut bool) {
    // SAFETY: the caller's contract.
    unsafe {
        match ffi::lua_type(l, idx) {
            ffi::LUA_TNIL => {}
            ffi::LUA_TBOOLEAN => *setting = ffi::lua_toboolean(l, idx) != 0,
            _ => {
                let options = [c"off".as_ptr(), c"on".as_ptr(), std::ptr::null()];
                *setting = ffi::luaL_checkoption(l, idx, std::ptr::null(), options.as_ptr()) == 1;
            }
        }
        ffi::lua_pushboolean(l, *setting as c_int);
    }
}

macro_rules! on_off_setting {
    ($fn:ident, $field:ident) => {
        unsafe extern "C-unwind" fn $fn(l: *mut lua_State) -> c_int {
            // SAFETY: a setting function of a cjson module.
            unsafe {
                let cfg = args(l, 1);
                on_off(l, 1, &mut cfg.$field);
            }
            1
        }
    };
}

macro_rules! integer_setting {
    ($fn:ident, $field:ident, $min:expr, $max:expr) => {
        unsafe extern "C-unwind" fn $fn(l: *mut lua_State) -> c_int {
            // SAFETY: a setting function of a cjson module.
            unsafe {
                let cfg = args(l, 1);
                integer(l, 1, &mut cfg.$field, $min, $max);
            }
            1
        }
    };
}

on_off_setting!(cfg_empty_table_as_object, empty_table_as_object);
on_off_setting!(cfg_decode_array_with_array_mt, decode_array_with_array_mt);
on_off_setting!(cfg_encode_keep_buffer, encode_keep_buffer);
on_off_setting!(cfg_decode_invalid_numbers, decode_invalid_numbers);
on_off_setting!(cfg_escape_forward_slash, escape_forward_slash);
on_off_setting!(cfg_decode_json_null, decode_json_null);
integer_setting!(cfg_encode_max_depth, encode_max_depth, 1, c_int::MAX);
integer_setting!(cfg_decode_max_depth, decode_max_depth, 1, c_int::MAX);
integer_setting!(cfg_number_precision, number_precision, 1, 16);

unsafe extern "C-unwind" fn cfg_encode_sparse_array(l: *mut lua_State) -> c_int {
    // SAFETY: a setting function of a cjson module.
    unsafe {
        let cfg = args(l, 3);
        on_off(l, 1, &mut cfg.sparse_convert);
        integer(l, 2, &mut cfg.sparse_ratio, 0, c_int::MAX);
        integer(l, 3, &mut cfg.sparse_safe, 0, c_int::MAX);
    }
    3
}

unsafe extern "C-unwind" fn cfg_encode_invalid_numbers(l: *mut lua_State) -> c_int {
    // SAFETY: a setting function of a cjson module.
    unsafe {
        let cfg = args(l, 1);
        match ffi::lua_type(l, 1) {
            ffi::LUA_TNIL => {}
            ffi::LUA_TBOOLEAN => cfg.encode_invalid_numbers = ffi::lua_toboolean(l, 1),
            _ => {
                let options = [c"off".as_ptr(), c"on".as_ptr(), c"null".as_ptr(), std::ptr::null()];
                cfg.encode_invalid_numbers = ffi::luaL_checkoption(l, 1, std::ptr::null(), options.as_ptr());
            }
        }
        match cfg.encode_invalid_numbers {
            2 => {
                ffi::lua_pushstring(l, c"null".as_ptr());
            }
            v => ffi::lua_pushboolean(l, v),
        }
    }
    1
}

/// `cjson.new()` (and the module itself): a table of functions sharing fresh settings.
unsafe extern "C-unwind" fn cjson_new(l: *mut lua_State) -> c_int {
    let functions: [(&std::ffi::CStr, ffi::lua_CFunction); 14] = [
        (c"encode", json_encode),
        (c"decode", json_decode),
        (c"encode_empty_table_as_object", cfg_empty_table_as_object),
        (c"decode_array_with_array_mt", cfg_decode_array_with_array_mt),
        (c"encode_sparse_array", cfg_encode_sparse_array),
        (c"encode_max_depth", cfg_encode_max_depth),
        (c"decode_max_depth", cfg_decode_max_depth),
        (c"encode_number_precision", cfg_number_precision),
        (c"encode_keep_buffer", cfg_encode_keep_buffer),
        (c"encode_invalid_numbers", cfg_encode_invalid_numbers),
        (c"decode_invalid_numbers", cfg_decode_invalid_numbers),
        (c"encode_escape_forward_slash", cfg_escape_forward_slash),
        (c"decode_json_null", cfg_decode_json_null),
        (c"new", cjson_new),
    ];
    // SAFETY: called by Lua; every value pushed is consumed or left as the result.
    unsafe {
        ffi::luaL_checkstack(l, 6, std::ptr::null());
        for which in [&ARRAY, &EMPTY_ARRAY] {
            ffi::lua_pushlightuserdata(l, key(which));
            ffi::lua_rawget(l, ffi::LUA_REGISTRYINDEX);
            let missing = ffi::lua_type(l, -1) == ffi::LUA_TNIL;
            ffi::lua_settop(l, -2);
            if missing {
                ffi::lua_pushlightuserdata(l, key(which));
                ffi::lua_createtable(l, 0, 0);
                ffi::lua_rawset(l, ffi::LUA_REGISTRYINDEX);
            }
        }
        ffi::lua_createtable(l, 0, 20);
        let cfg = ffi::lua_newuserdata(l, std::mem::size_of::<Config>()).cast::<Config>();
        cfg.write(DEFAULTS);
        for (name, f) in functions {
            ffi::lua_pushvalue(l, -1);
            ffi::lua_pushcclosure(l, f, 1);
            ffi::lua_setfield(l, -3, name.as_ptr());
        }
        ffi::lua_settop(l, -2); // the config
        ffi::lua_pushlightuserdata(l, std::ptr::null_mut());
        ffi::lua_setfield(l, -2, c"null".as_ptr());
        for (field, which) in [(c"array_mt", &ARRAY), (c"empty_array_mt", &EMPTY_ARRAY)] {
            ffi::lua_pushlightuserdata(l, key(which));
            ffi::lua_rawget(l, ffi::LUA_REGISTRYINDEX);
            ffi::lua_setfield(l, -2, field.as_ptr());
        }
        ffi::lua_pushlightuserdata(l, key(&ARRAY));
        ffi::lua_setfield(l, -2, c"empty_array".as_ptr());
        ffi::lua_pushstring(l, c"cjson".as_ptr());
        ffi::lua_setfield(l, -2, c"_NAME".as_ptr());
        ffi::lua_pushstring(l, c"2.1.0.14".as_ptr());
        ffi::lua_setfield(l, -2, c"_VERSION".as_ptr());
    }
    1
}

/// `__oxr.cjson_new`: what the built-in `cjson` and `cjson.safe` are made from
/// (lualib/compat.lua).
pub fn register(lua: &mlua::Lua, private: &mlua::Table) -> mlua::Result<()> {
    // SAFETY: cjson_new is a classic Lua C function that keeps the stack balanced.
    let f = unsafe { lua.create_c_function(cjson_new)? };
    private.set("cjson_new", f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_lua_cjson() {
        let mut out = Vec::new();
        append_string(&mut out, b"a/\"\\\n\x01\x7f\xc3\xa9", true);
        assert_eq!(out, b"\"a\\/\\\"\\\\\\n\\u0001\\u007f\xc3\xa9\"");
        out.clear();
        append_string(&mut out, b"a/b", false);
        assert_eq!(out, b"\"a/b\"");
    }

    #[test]
    fn strings_escape_the_same_eight_bytes_at_a_time() {
        fn slow(s: &[u8], slash: bool) -> Vec<u8> {
            let mut out = vec![b'"'];
            for &b in s {
                match escape(b, slash) {
                    Some(e) => out.extend_from_slice(e),
                    None => out.push(b),
                }
            }
            out.push(b'"');
            out
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..200 {
            for slash in [false, true] {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        // (mostly plain letters, some of every kind that escapes)
                        match x % 16 {
                            0 => (x >> 8) as u8 % 0x20,
                            1 => b'"',
                            2 => b'\\',
                            3 => b'/',
                            4 => 0x7f,
                            5 => 0x80 | (x >> 8) as u8,
                            _ => b'a' + (x >> 8) as u8 % 26,
                        }
                    })
                    .collect();
                let mut out = Vec::new();
                append_string(&mut out, &s, slash);
                assert_eq!(out, slow(&s, slash), "{s:?}");
            }
        }
    }

    /// The tokenizer reads a 1 KiB object to its end, every round; with `--nocapture` it
    /// also says how fast, next to serde_json reading the same bytes into nothing
    /// (`IgnoredAny`: its floor, without building any value). A measurement to read, not
    /// a timed assertion: `cargo test --release -p oxiresty-lua read_speed -- --nocapture`
    #[test]
    fn read_speed_against_serde_json() {
        let mut doc = String::from("{");
        for k in 1..=20 {
            doc.push_str(&format!("\"key{k}\":\"{}\",", "v".repeat(40)));
        }
        doc.push_str("\"n\":[1,2.5,-3e10,true,false,null]}\0");
        let bytes = &doc.as_bytes()[..doc.len() - 1];
        let rounds = 20_000;
        let t = std::time::Instant::now();
        let mut tokens = 0;
        let mut ends = 0;
        for _ in 0..rounds {
            let mut p = Parser {
                s: bytes,
                c: doc.as_ptr().cast(),
                pos: 0,
                depth: 0,
                cfg: DEFAULTS,
                tmp: Vec::new(),
            };
            loop {
                let t = p.next();
                tokens += 1;
                if t.kind == Tok::End {
                    ends += 1;
                }
                if t.kind == Tok::End || t.kind == Tok::Error {
                    break;
                }
            }
        }
        let ours = t.elapsed();
        // `{`, 20 times key `:` string `,`, then key `:` `[` 6 values 5 `,` `]` `}` and the
        // end: 98 tokens a document, each read to its end
        assert_eq!((ends, tokens), (rounds, rounds * 98));
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            let _: serde::de::IgnoredAny = serde_json::from_slice(bytes).unwrap();
        }
        let theirs = t.elapsed();
        println!(
            "{} bytes: this tokenizer {:.0} ns, serde_json (IgnoredAny) {:.0} ns per document ({tokens} tokens)",
            bytes.len(),
            ours.as_nanos() as f64 / rounds as f64,
            theirs.as_nanos() as f64 / rounds as f64
        );
    }

    #[test]
    fn numbers_print_as_percent_14g() {
        let show = |n: f64, p: c_int| {
            let mut out = Vec::new();
            append_number(&mut out, n, p);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(show(1.0, 14), "1");
        assert_eq!(show(-0.0, 14), "-0");
        assert_eq!(show(0.1, 14), "0.1");
        assert_eq!(show(1e14, 14), "1e+14");
        assert_eq!(show(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(show(1.23456, 3), "1.23");
        assert_eq!(show(99999999999999.0, 14), "99999999999999");
    }
}
