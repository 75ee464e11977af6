//! `ngx.re` on PCRE2 (with its JIT): the FFI entry points lualib/regex.lua calls to
//! compile a pattern, run it, and substitute with a `$1` template, plus the
//! `lua_regex_match_limit` setting. The options, the capture layout (`captures[2n]`,
//! `captures[2n+1]`, -1 when unset) and the error texts follow lua-nginx-module built
//! with PCRE2, as current OpenResty is.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use pcre2_sys::*;

use super::lua_bytes;

/// Flags the Lua side passes with a compiled regex (as lua-resty-core numbers them).
pub const FLAG_DFA: i32 = 0x02;
pub const FLAG_JIT: i32 = 0x04;
pub const FLAG_NO_UTF_CHECK: i32 = 0x10;

/// What a DFA match may use for its workspace (as lua-nginx-module: 100 ints).
const DFA_WORKSPACE: usize = 100;

/// A compiled pattern. The first six fields are read by lualib/regex.lua (its cdef
/// declares them, in this order); the rest is ours.
#[repr(C)]
pub struct Regex {
    pub ncaptures: i32,
    /// The FLAG_* it was compiled with (a cached regex's flags, without parsing the
    /// options again).
    pub flags: i32,
    pub name_count: i32,
    pub name_entry_size: i32,
    pub name_table: *const u8,
    /// The last match: start and end offsets of each group, -1 for unset ones.
    pub captures: *mut i32,
    code: *mut pcre2_code_8,
    match_data: *mut pcre2_match_data_8,
    caps: Box<[i32]>,
    /// The match data's offsets (fixed for its life: looked up once).
    ovector: *const usize,
    ovector_pairs: usize,
    template: Vec<Piece>,
    /// JIT-compiled, and no UTF check due at match time: the direct JIT entry point can
    /// run it (it skips pcre2_match's argument checks).
    jit_direct: bool,
}

/// A piece of a substitution template.
enum Piece {
    Text(Vec<u8>),
    Capture(usize),
}

/// `lua_regex_match_limit` (0: PCRE2's default).
static MATCH_LIMIT: AtomicU32 = AtomicU32::new(0);

pub fn set_match_limit(limit: u32) {
    MATCH_LIMIT.store(limit, Ordering::Relaxed);
}

thread_local! {
    /// The match context (it carries the match limit), made on first use; the limit it
    /// was given alongside.
    static MATCH_CONTEXT: Cell<(*mut pcre2_match_context_8, u32)> = const { Cell::new((std::ptr::null_mut(), 0)) };
}

/// PCRE2's JIT stack when none is given: 32 KiB on the machine stack.
const JIT_STACK_MIN: usize = 32 * 1024;

/// `ngx.re.opt("jit_stack_size", size)`: a JIT stack of up to `size` bytes for this
/// process's matches (PCRE2's default is 32 KiB). 0, or -1 when it cannot be made.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_re_set_jit_stack_size(size: usize) -> i32 {
    let ctx = match_context();
    if ctx.is_null() {
        return -1;
    }
    // SAFETY: our live context.
    unsafe { assign_jit_stack(ctx, size) }
}

/// Gives the context a JIT stack of up to `size` bytes: 0, or -1 when it cannot be made.
///
/// # Safety
/// `ctx` is our live match context.
unsafe fn assign_jit_stack(ctx: *mut pcre2_match_context_8, size: usize) -> i32 {
    // SAFETY: a new stack handed to our context; it lives as long as the process (a
    // later call replaces it: the old one is leaked rather than freed under a regex
    // that might still use it mid-match, which cannot happen here, but costs nothing).
    unsafe {
        let stack = pcre2_jit_stack_create_8(JIT_STACK_MIN, size.max(JIT_STACK_MIN), std::ptr::null_mut());
        if stack.is_null() {
            return -1;
        }
        pcre2_jit_stack_assign_8(ctx, None, stack.cast());
    }
    0
}

/// The thread's match context, made on first use with the match limit and a JIT stack
/// of PCRE2's default size (the same limit as its machine stack, which pcre2_jit_match
/// would otherwise set up on every call).
fn match_context() -> *mut pcre2_match_context_8 {
    MATCH_CONTEXT.with(|c| {
        let (mut ctx, set) = c.get();
        let limit = MATCH_LIMIT.load(Ordering::Relaxed);
        if !ctx.is_null() && limit == set {
            return ctx;
        }
        if ctx.is_null() {
            // SAFETY: a context with the default allocator; kept for the thread's life.
            ctx = unsafe { pcre2_match_context_create_8(std::ptr::null_mut()) };
            if !ctx.is_null() {
                // (without a stack of its own, each match sets up the machine stack one)
                // SAFETY: the context just made.
                let _ = unsafe { assign_jit_stack(ctx, JIT_STACK_MIN) };
            }
        }
        if !ctx.is_null() {
            // (0 goes back to PCRE2's own default limit)
            // SAFETY: our live context.
            unsafe { pcre2_set_match_limit_8(ctx, if limit == 0 { 10_000_000 } else { limit }) };
            c.set((ctx, limit));
        }
        ctx
    })
}

/// Writes `msg` into the caller's error buffer of `cap` bytes, NUL-terminated and cut to
/// fit, as lua-nginx-module does.
///
/// # Safety
/// `buf` points at `cap` writable bytes.
unsafe fn put_error(buf: *mut u8, cap: usize, msg: &[u8]) {
    if cap == 0 {
        return;
    }
    let n = msg.len().min(cap - 1);
    // SAFETY: the caller's contract; n + 1 <= cap.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr(), buf, n);
        *buf.add(n) = 0;
    }
}

/// Compiles `pat` with PCRE2 `options` (JIT-compiled too with FLAG_JIT). Null on error,
/// with OpenResty's message in `err`.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_re_compile(
    pat: *const u8,
    len: usize,
    flags: i32,
    options: u32,
    err: *mut u8,
    err_cap: usize,
) -> *mut Regex {
    // SAFETY: a Lua string and the wrapper's own buffer.
    unsafe {
        let pattern = lua_bytes(pat, len);
        let mut code_err = 0i32;
        let mut offset = 0usize;
        let code = pcre2_compile_8(
            pattern.as_ptr(),
            len,
            options,
            &mut code_err,
            &mut offset,
            std::ptr::null_mut(),
        );
        if code.is_null() {
            let mut text = [0u8; 128];
            let n = pcre2_get_error_message_8(code_err, text.as_mut_ptr(), text.len()).max(0) as usize;
            let mut msg = b"pcre2_compile() failed: ".to_vec();
            msg.extend_from_slice(&text[..n]);
            msg.extend_from_slice(b" in \"");
            msg.extend_from_slice(pattern);
            msg.push(b'"');
            if offset < len {
                msg.extend_from_slice(b" at \"");
                msg.extend_from_slice(&pattern[offset..]);
                msg.push(b'"');
            }
            put_error(err, err_cap, &msg);
            return std::ptr::null_mut();
        }
        let mut jitted = false;
        if flags & FLAG_JIT != 0 && flags & FLAG_DFA == 0 {
            let rc = pcre2_jit_compile_8(code, PCRE2_JIT_COMPLETE);
            jitted = rc == 0;
            if rc != 0 {
                http::elog!(
                    http::log::Level::Info,
                    0,
                    "pcre2_jit_compile() failed: {rc} in \"{}\", ignored",
                    String::from_utf8_lossy(pattern)
                );
            }
        }
        let info = |what: u32| {
            let mut v = 0u32;
            pcre2_pattern_info_8(code, what, (&raw mut v).cast());
            v as i32
        };
        let ncaptures = if flags & FLAG_DFA != 0 {
            0
        } else {
            info(PCRE2_INFO_CAPTURECOUNT)
        };
        let name_count = info(PCRE2_INFO_NAMECOUNT);
        let mut name_table: *const u8 = std::ptr::null();
        let name_entry_size = if name_count > 0 {
            pcre2_pattern_info_8(code, PCRE2_INFO_NAMETABLE, (&raw mut name_table).cast());
            info(PCRE2_INFO_NAMEENTRYSIZE)
        } else {
            0
        };
        let pairs = ncaptures as usize + 1;
        let match_data = pcre2_match_data_create_8(pairs as u32, std::ptr::null_mut());
        if match_data.is_null() {
            pcre2_code_free_8(code);
            put_error(err, err_cap, b"no memory");
            return std::ptr::null_mut();
        }
        let mut caps = vec![-1i32; pairs * 2].into_boxed_slice();
        let captures = caps.as_mut_ptr();
        let ovector = pcre2_get_ovector_pointer_8(match_data);
        let ovector_pairs = pcre2_get_ovector_count_8(match_data) as usize;
        Box::into_raw(Box::new(Regex {
            ncaptures,
            flags,
            name_count,
            name_entry_size,
            name_table,
            captures,
            code,
            match_data,
            caps,
            ovector,
            ovector_pairs,
            template: Vec::new(),
            jit_direct: jitted && (options & PCRE2_UTF == 0 || flags & FLAG_NO_UTF_CHECK != 0),
        }))
    }
}

/// Frees a regex (the Lua side's `ffi.gc` finalizer, or a direct call).
#[unsafe(no_mangle)]
pub extern "C" fn oxr_re_free(re: *mut Regex) {
    if re.is_null() {
        return;
    }
    // SAFETY: made by oxr_re_compile, freed once (the wrapper clears its finalizer when
    // it frees early).
    unsafe {
        let re = Box::from_raw(re);
        pcre2_match_data_free_8(re.match_data);
        pcre2_code_free_8(re.code);
    }
}

/// Runs the regex on `s` from byte `pos`: PCRE2's return code (the number of groups set,
/// PCRE2_ERROR_NOMATCH, or another negative error); offsets in `captures`.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_re_exec(re: *mut Regex, flags: i32, s: *const u8, len: usize, pos: usize) -> i32 {
    // SAFETY: a live regex and a Lua string.
    unsafe { (*re).exec(flags, s, len, pos) }
}

impl Regex {
    /// # Safety
    /// `s` points at `len` readable bytes.
    unsafe fn exec(&mut self, flags: i32, s: *const u8, len: usize, pos: usize) -> i32 {
        let options = if flags & FLAG_NO_UTF_CHECK != 0 {
            PCRE2_NO_UTF_CHECK
        } else {
            0
        };
        let ctx = match_context();
        // SAFETY: the caller's contract; our code and match data.
        let rc = unsafe {
            if flags & FLAG_DFA != 0 {
                let mut ws = [0i32; DFA_WORKSPACE];
                pcre2_dfa_match_8(
                    self.code,
                    s,
                    len,
                    pos,
                    options,
                    self.match_data,
                    ctx,
                    ws.as_mut_ptr(),
                    ws.len(),
                )
            } else if self.jit_direct {
                pcre2_jit_match_8(self.code, s, len, pos, options, self.match_data, ctx)
            } else {
                pcre2_match_8(self.code, s, len, pos, options, self.match_data, ctx)
            }
        };
        if rc < 0 {
            return rc;
        }
        // (only the pairs the match set: every reader looks at the count first; a DFA
        // match's 0 means all of them)
        let pairs = if rc == 0 {
            self.ovector_pairs
        } else {
            (rc as usize).min(self.ovector_pairs)
        };
        // SAFETY: the match data (alive as long as self) holds `ovector_pairs` pairs.
        let ov = unsafe { std::slice::from_raw_parts(self.ovector, pairs * 2) };
        for (cap, &o) in self.caps.iter_mut().zip(ov) {
            *cap = if o == usize::MAX { -1 } else { o as i32 };
        }
        rc
    }

    fn cap(&self, i: usize) -> (i32, i32) {
        match (self.caps.get(2 * i), self.caps.get(2 * i + 1)) {
            (Some(&a), Some(&b)) => (a, b),
            _ => (-1, -1),
        }
    }
}

/// Compiles a substitution template (`$0`, `$1`, `${1}`, `$$`), as lua-nginx-module's
/// script compiler reads it: 0, or -1 after logging what is wrong.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_re_compile_template(re: *mut Regex, s: *const u8, len: usize) -> i32 {
    // SAFETY: a live regex and a Lua string.
    let (re, src) = unsafe { (&mut *re, lua_bytes(s, len)) };
    match parse_template(src) {
        Ok(t) => {
            re.template = t;
            0
        }
        Err(msg) => {
            http::elog!(http::log::Level::Error, 0, "{msg}");
            -1
        }
    }
}

fn parse_template(src: &[u8]) -> Result<Vec<Piece>, String> {
    let shown = || String::from_utf8_lossy(src).into_owned();
    let invalid = || format!("lua script: invalid capturing variable name found in \"{}\"", shown());
    let mut out = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    while i < src.len() {
        if src[i] != b'$' {
            text.push(src[i]);
            i += 1;
            continue;
        }
        i += 1;
        match src.get(i) {
            None => return Err(invalid()),
            Some(b'$') => {
                text.push(b'$');
                i += 1;
                continue;
            }
            _ => {}
        }
        let bracket = src[i] == b'{';
        if bracket {
            i += 1;
            if i == src.len() {
                return Err(invalid());
            }
        }
        let numeric = src[i].is_ascii_digit();
        let start = i;
        let mut closed = !bracket;
        while i < src.len() {
            let c = src[i];
            if c == b'}' && bracket {
                closed = true;
                break;
            }
            let part_of_name = if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphanumeric() || c == b'_'
            };
            if !part_of_name {
                break;
            }
            i += 1;
        }
        let name = &src[start..i];
        if bracket {
            if !closed {
                return Err(format!(
                    "the closing bracket in \"{}\" variable is missing",
                    String::from_utf8_lossy(&src[start..])
                ));
            }
            i += 1; // the '}'
        }
        if name.is_empty() {
            return Err(invalid());
        }
        if !numeric {
            return Err(format!(
                "attempt to use named capturing variable \"{}\" (named captures not supported yet)",
                String::from_utf8_lossy(name)
            ));
        }
        let n = name
            .iter()
            .fold(0usize, |n, d| n.saturating_mul(10).saturating_add((d - b'0') as usize));
        if !text.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut text)));
        }
        out.push(Piece::Capture(n));
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

thread_local! {
    /// The result of the last substitution (valid until the next call).
    static SUBSTITUTED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// sub / gsub with a template: runs the whole loop here. Returns the number of
/// substitutions (the result in `*out`, `*out_len`; the subject itself when 0), or a
/// negative PCRE2 error.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_re_substitute(
    re: *mut Regex,
    flags: i32,
    s: *const u8,
    len: usize,
    global: i32,
    out: *mut *const u8,
    out_len: *mut usize,
) -> i32 {
    // SAFETY: a live regex, a Lua string, the wrapper's out-slots.
    unsafe {
        let re = &mut *re;
        let subject = lua_bytes(s, len);
        SUBSTITUTED.with(|buf| {
            let mut buf = buf.borrow_mut();
            buf.clear();
            let (mut count, mut pos, mut copied) = (0, 0usize, 0usize);
            loop {
                let rc = re.exec(flags, s, len, pos);
                if rc == PCRE2_ERROR_NOMATCH {
                    break;
                }
                if rc < 0 {
                    return rc;
                }
                let rc = if rc == 0 { 1 } else { rc as usize };
                count += 1;
                // (\K in a lookaround can put a match's start after its end or before
                // the last one's end: clamp rather than trust the offsets)
                let (from, to) = re.cap(0);
                let from = (from.max(0) as usize).clamp(copied, len);
                let to = (to.max(0) as usize).clamp(from, len);
                buf.extend_from_slice(&subject[copied..from]);
                for piece in &re.template {
                    match piece {
                        Piece::Text(t) => buf.extend_from_slice(t),
                        Piece::Capture(n) if *n < rc => {
                            let (a, b) = re.cap(*n);
                            if let Some(part) = subject.get(a.max(0) as usize..b.max(0) as usize) {
                                buf.extend_from_slice(part);
                            }
                        }
                        Piece::Capture(_) => {}
                    }
                }
                copied = to;
                pos = to;
                if to == from {
                    // an empty match: step over one byte
                    pos += 1;
                    if pos > len {
                        break;
                    }
                }
                if global == 0 {
                    break;
                }
            }
            if count > 0 {
                buf.extend_from_slice(&subject[copied.min(len)..]);
                *out = buf.as_ptr();
                *out_len = buf.len();
            }
            count
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_as_lua_nginx_module_reads_them() {
        let caps = |s: &str| -> Result<Vec<String>, String> {
            parse_template(s.as_bytes()).map(|v| {
                v.iter()
                    .map(|p| match p {
                        Piece::Text(t) => String::from_utf8_lossy(t).into_owned(),
                        Piece::Capture(n) => format!("<{n}>"),
                    })
                    .collect()
            })
        };
        assert_eq!(
            caps("a$1b${2}c$$d$10").unwrap(),
            vec!["a", "<1>", "b", "<2>", "c$d", "<10>"]
        );
        assert!(caps("$").unwrap_err().contains("invalid capturing variable name"));
        assert!(caps("${").unwrap_err().contains("invalid capturing variable name"));
        assert!(caps("$ x").unwrap_err().contains("invalid capturing variable name"));
        assert!(
            caps("${1")
                .unwrap_err()
                .contains("closing bracket in \"1\" variable is missing")
        );
        assert!(caps("$foo").unwrap_err().contains("named capturing variable \"foo\""));
        assert!(caps("${foo}").unwrap_err().contains("named capturing variable \"foo\""));
    }
}
