//! The hot request paths as Rust `extern "C"` functions, called through LuaJIT's FFI by
//! `lualib/ngx_ffi.lua` so that traces compile through them: `ngx.var` get/set, `ngx.ctx`,
//! `ngx.header` set, `ngx.req.get_headers`, `ngx.say`/`ngx.print` of one string.
//!
//! They act on the current request (set by the driver around each resume) and answer
//! lua-resty-core's codes: 0 ok, `NO_REQ` without a request, negative for errors the
//! wrapper turns into Lua errors.

use std::cell::RefCell;

use http::request::Request;

pub const OK: i32 = 0;
pub const NOT_FOUND: i32 = -1;
pub const NOT_CHANGEABLE: i32 = -2;
pub const HEADERS_SENT: i32 = -3;
pub const BAD_VALUE: i32 = -4;
pub const BAD_CONTEXT: i32 = -5;
/// The call would run Lua body filters: not from inside an FFI call (LuaJIT forbids
/// re-entering the VM there); the Lua side takes its general path, a classic C function.
pub const NEEDS_VM: i32 = -6;
/// As NEEDS_VM for the header filters only: the Lua side sends the head by a classic C
/// function (`ngx.send_headers`) and comes back.
pub const NEEDS_HEADER: i32 = -7;
/// Output of a response that has no body (HEAD, 204, 304): the headers went out, the
/// bytes are dropped, and the caller says "header only" as OpenResty does.
pub const HEADER_ONLY: i32 = -8;
pub const NO_REQ: i32 = -100;

thread_local! {
    /// Where a computed value waits for the wrapper to copy it (valid until the next call).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// `ngx.say`'s line with its newline (kept between calls unless it grew large).
    static LINE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

fn with_request(f: impl FnOnce(&mut Request) -> i32) -> i32 {
    crate::request::with(|r| Ok(f(r))).unwrap_or(NO_REQ)
}

/// # Safety
/// `p` must point at `len` readable bytes (any value when `len` is 0).
unsafe fn text<'a>(p: *const u8, len: usize) -> &'a str {
    // SAFETY: the caller's contract; names and values come from Lua strings.
    std::str::from_utf8(unsafe { super::lua_bytes(p, len) }).unwrap_or("")
}

/// resty.core.base's `get_request()`: the current request's handle, null without one.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_get_request() -> *const std::ffi::c_void {
    crate::request::handle()
}

/// ngx.var.NAME: 0 and the value, or NOT_FOUND.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_var_get(name: *const u8, len: usize, val: *mut *const u8, vlen: *mut usize) -> i32 {
    // SAFETY: a Lua string.
    let name = unsafe { text(name, len) };
    with_request(|r| match variable(r, name) {
        Some(v) => SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            *s = v;
            // SAFETY: the wrapper passes pointers to two out-slots it owns.
            unsafe {
                *val = s.as_ptr();
                *vlen = s.len();
            }
            OK
        }),
        None => NOT_FOUND,
    })
}

/// nginx's variable names are case-blind (`ngx.var.HTTP_HOST` is `$http_host`); the
/// exact spelling is tried first since that is what nearly all code uses.
fn variable(r: &Request, name: &str) -> Option<Vec<u8>> {
    match http::variables::get_bytes(r, name) {
        None if name.bytes().any(|b| b.is_ascii_uppercase()) => {
            http::variables::get_bytes(r, &name.to_ascii_lowercase())
        }
        found => found,
    }
}

/// ngx.var.NAME = v (`unset` for nil): OK, NOT_FOUND (undeclared), NOT_CHANGEABLE.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_var_set(name: *const u8, len: usize, val: *const u8, vlen: usize, unset: i32) -> i32 {
    // SAFETY: two Lua strings.
    let (name, value) = unsafe { (text(name, len), text(val, vlen)) };
    // variable names are case-insensitive in nginx
    let lowered;
    let name = if name.bytes().any(|c| c.is_ascii_uppercase()) {
        lowered = name.to_ascii_lowercase();
        lowered.as_str()
    } else {
        name
    };
    with_request(|r| {
        let value = if unset != 0 { None } else { Some(value) };
        match http::variables::set(r, name, value) {
            http::variables::SetOutcome::Done => OK,
            http::variables::SetOutcome::NotFound => NOT_FOUND,
            http::variables::SetOutcome::NotChangeable => NOT_CHANGEABLE,
        }
    })
}

/// The request's ngx.ctx slot in the wrapper's table of contexts, or NOT_FOUND.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_ctx_ref() -> i32 {
    with_request(|r| match r.ctx::<super::ctx::CtxRef>() {
        Some(c) => c.0,
        None => NOT_FOUND,
    })
}

/// Gives the request a ngx.ctx slot; the slot is freed when the request ends.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_set_ctx_ref(slot: i32) -> i32 {
    with_request(|r| {
        r.set_ctx(super::ctx::CtxRef(slot));
        OK
    })
}

/// A slot freed by a finished request, or NOT_FOUND.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_free_ctx_ref() -> i32 {
    super::ctx::take_free().unwrap_or(NOT_FOUND)
}

/// ngx.header.NAME = value (one string). HEADERS_SENT after the headers went out.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_resp_header_set(name: *const u8, len: usize, val: *const u8, vlen: usize) -> i32 {
    // SAFETY: two Lua strings.
    let (name, value) = unsafe { (text(name, len), text(val, vlen)) };
    with_request(|r| {
        if r.header_sent {
            let _ = super::header::set(r, name, None);
            return HEADERS_SENT;
        }
        match super::header::set(r, name, Some(&[value])) {
            Ok(()) => OK,
            Err(_) => BAD_VALUE,
        }
    })
}

/// How many request headers there are.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_req_headers_count() -> i32 {
    with_request(|r| r.headers_in.list.len() as i32)
}

/// The i-th request header (from 0), pointing into the request (copy at once). With
/// `lower`, a name with capitals points at a lowercased copy instead: `get_headers` then
/// interns one string per name, not the name and its lowercase.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_req_header(
    i: i32,
    lower: i32,
    name: *mut *const u8,
    nlen: *mut usize,
    val: *mut *const u8,
    vlen: *mut usize,
) -> i32 {
    with_request(|r| match r.headers_in.list.get(i.max(0) as usize) {
        Some((n, v)) => {
            let n = if lower != 0 && n.bytes().any(|c| c.is_ascii_uppercase()) {
                SCRATCH.with(|s| {
                    let mut s = s.borrow_mut();
                    s.clear();
                    s.extend(n.bytes().map(|c| c.to_ascii_lowercase()));
                    // the buffer stays where it is until the next call that uses it
                    (s.as_ptr(), s.len())
                })
            } else {
                (n.as_ptr(), n.len())
            };
            // SAFETY: four out-slots the wrapper owns.
            unsafe {
                *name = n.0;
                *nlen = n.1;
                *val = v.as_ptr();
                *vlen = v.len();
            }
            OK
        }
        None => NOT_FOUND,
    })
}

/// ngx.say / ngx.print of one string: 1, or 0 after the end of the body (nil, as OpenResty).
#[unsafe(no_mangle)]
pub extern "C" fn oxr_output(s: *const u8, len: usize, newline: i32) -> i32 {
    if !crate::request::output_allowed() {
        return BAD_CONTEXT;
    }
    with_request(|r| {
        if r.eof_sent {
            return 0;
        }
        match r.output_runs_script() {
            (_, true) => return NEEDS_VM,
            (true, false) => return NEEDS_HEADER,
            (false, false) => {}
        }
        if !r.header_sent && crate::directives::use_default_type(r) {
            r.set_default_content_type();
        }
        // SAFETY: a Lua string.
        let bytes = unsafe { super::lua_bytes(s, len) };
        if newline != 0 {
            // the line and its newline go out as one piece (one chunk), built in a
            // reused buffer
            LINE.with(|l| {
                let mut b = l.take();
                b.clear();
                b.extend_from_slice(bytes);
                b.push(b'\n');
                r.buffer_body(&b, false);
                if b.capacity() <= 64 * 1024 {
                    l.replace(b);
                }
            });
        } else {
            r.buffer_body(bytes, false);
        }
        if r.header_only { HEADER_ONLY } else { 1 }
    })
}
