//! The `ngx` table. Each API family registers its functions here; the prelude
//! (lualib/prelude.lua) adds the Lua wrappers that yield to the coroutine driver.

mod balancer;
mod cjson;
mod codec;
mod consts;
mod ctx;
pub use ctx::CtxRef;
mod ffi;
mod header;
mod log;
mod output;
mod process;
pub mod regex;
pub mod req;
mod semaphore;
pub mod shdict;
mod socket_pool;
pub mod socket_tcp;
mod socket_udp;
pub mod ssl;
mod ssl_clienthello;
mod ssl_session;
mod time;
mod timer;
pub use timer::Timers;
mod var;
mod worker;

pub use process::{ProcessType, set_process_type, take_agent_request, take_quit_request};
pub use worker::set_worker;

use mlua::{LightUserData, Lua, MultiValue, Value};

/// Tags a yield as ours (the first value of `coroutine.yield(TAG, op, arg)`).
static YIELD_TAG: u8 = 0;

fn yield_tag() -> LightUserData {
    LightUserData(&YIELD_TAG as *const u8 as *mut std::ffi::c_void)
}

/// The address that tags a yield as ours (`coroutine.yield(TAG, op, ...)`).
pub fn yield_tag_ptr() -> *mut std::ffi::c_void {
    yield_tag().0
}

/// What a yielding API asks the driver to do.
pub enum Yield {
    /// The entry thread's function returned; the runner waits for the next one.
    Done,
    Sleep(f64),
    Exit(i64),
    Flush,
    ReadBody,
    DiscardBody,
    /// `ngx.exec(uri)`: an internal redirect.
    Exec(String),
    /// `ngx.thread.spawn`: the new coroutine and its arguments follow on the stack.
    Spawn,
    /// `ngx.thread.wait`: the threads follow on the stack.
    Wait,
    /// `ngx.thread.kill`: the thread follows on the stack.
    Kill,
    /// A wait a Rust API parked (`sched::park`): a socket, a semaphore...
    Await,
    /// `ngx.on_abort`: the handler's coroutine follows on the stack.
    OnAbort,
    /// `ngx.location.capture(_multi)`: the subrequests (method, uri, args, body).
    Capture(Vec<SubSpec>),
}

/// A subrequest to make, as `ngx.location.capture`'s wrapper passes it.
pub struct SubSpec {
    pub method: String,
    pub uri: String,
    pub args: String,
    pub body: Option<Vec<u8>>,
    /// The ngx.ctx slot its `ctx` option filled.
    pub ctx_slot: Option<i32>,
    pub copy_all_vars: bool,
    pub share_all_vars: bool,
    pub always_forward_body: bool,
    /// Its `vars` option.
    pub vars: Vec<(String, String)>,
}

pub const OP_DONE: i64 = 0;
pub const OP_SLEEP: i64 = 1;
pub const OP_EXIT: i64 = 2;
pub const OP_FLUSH: i64 = 3;
pub const OP_READ_BODY: i64 = 4;
pub const OP_EXEC: i64 = 5;
pub const OP_DISCARD_BODY: i64 = 6;
pub const OP_SPAWN: i64 = 7;
pub const OP_WAIT: i64 = 8;
pub const OP_KILL: i64 = 9;
pub const OP_AWAIT: i64 = 10;
pub const OP_ON_ABORT: i64 = 11;
pub const OP_CAPTURE: i64 = 12;

/// Builds `ngx` and the private table `__oxr` the prelude uses.
pub fn register(lua: &Lua, prefix: &std::path::Path) -> mlua::Result<()> {
    let ngx = lua.create_table()?;
    let private = lua.create_table()?;
    private.set("yield_tag", yield_tag())?;
    private.set("OP_DONE", OP_DONE)?;
    private.set("OP_SLEEP", OP_SLEEP)?;
    private.set("OP_EXIT", OP_EXIT)?;
    private.set("OP_FLUSH", OP_FLUSH)?;
    private.set("OP_READ_BODY", OP_READ_BODY)?;
    private.set("OP_EXEC", OP_EXEC)?;
    private.set("OP_DISCARD_BODY", OP_DISCARD_BODY)?;
    private.set("OP_SPAWN", OP_SPAWN)?;
    private.set("OP_WAIT", OP_WAIT)?;
    private.set("OP_KILL", OP_KILL)?;
    private.set("OP_AWAIT", OP_AWAIT)?;
    private.set("OP_ON_ABORT", OP_ON_ABORT)?;
    private.set("OP_CAPTURE", OP_CAPTURE)?;
    // ngx.location.capture's phases (and a request to make subrequests of)
    private.set(
        "check_capture",
        lua.create_function(|_, ()| {
            crate::request::check_context(crate::request::OUTPUT_PHASES)?;
            crate::request::with(|_| Ok(()))
        })?,
    )?;
    // ngx.on_abort's checks: its phases; nil, or why no handler can be set
    private.set(
        "check_on_abort",
        lua.create_function(|_, ()| {
            crate::request::check_context(crate::request::OUTPUT_PHASES)?;
            crate::request::with(|r| {
                let on = r
                    .loc
                    .ext
                    .get::<crate::directives::LuaLocConf>()
                    .is_some_and(|c| c.check_client_abort());
                Ok((!on).then_some("lua_check_client_abort is off"))
            })
        })?,
    )?;
    // request functions by job number, as the runners take them (see handler::Runners)
    private.set("jobs", lua.create_table()?)?;
    private.set(
        "check_output",
        lua.create_function(|_, ()| crate::request::check_output())?,
    )?;
    // SAFETY: C functions that keep to the Lua C API's rules.
    private.set("check_thread_api", unsafe { lua.create_c_function(check_thread_api)? })?;
    private.set("co_yielded", unsafe { lua.create_c_function(co_yielded)? })?;
    private.set("error_text", lua.create_function(|lua, e: Value| plain_error(lua, e))?)?;
    consts::register(lua, &ngx)?;
    semaphore::register(lua, &private)?;
    balancer::register(lua, &private)?;
    timer::register(lua, &ngx, &private)?;
    socket_tcp::register(lua, &private)?;
    socket_udp::register(lua, &private)?;
    log::register(lua, &ngx)?;
    output::register(lua, &ngx, &private)?;
    time::register(lua, &ngx, &private)?;
    var::register(lua, &ngx)?;
    worker::register(lua, &ngx, prefix)?;
    process::register(lua)?;
    ssl::register(lua, &private)?;
    header::register(lua, &ngx)?;
    req::register(lua, &ngx, &private)?;
    req::register_body(lua, &ngx)?;
    shdict::register(lua, &private)?;
    cjson::register(lua, &private)?;
    ngx.set("shared", lua.create_table()?)?;
    fields(lua, &ngx)?;
    output::register_arg(lua, &ngx)?;
    lua.globals().set("ngx", ngx)?;
    lua.globals().set("__oxr", private)?;
    Ok(())
}

/// `ngx.status`, `ngx.headers_sent` and `ngx.is_subrequest` are read and written through
/// ngx's metatable (`ngx.ctx` is added to it by lualib/ngx_ffi.lua).
fn fields(lua: &Lua, ngx: &mlua::Table) -> mlua::Result<()> {
    let mt = lua.create_table()?;
    mt.set(
        "__index",
        lua.create_function(|_, (_t, k): (mlua::Table, String)| match k.as_str() {
            "status" => output::status_get(),
            "headers_sent" => crate::request::with(|r| Ok(Value::Boolean(r.header_sent))),
            // (no subrequests are made yet: every request is a main one)
            "is_subrequest" => crate::request::with(|r| Ok(Value::Boolean(r.capture.is_some()))),

            _ => Ok(Value::Nil),
        })?,
    )?;
    mt.set(
        "__newindex",
        lua.create_function(|_, (t, k, v): (mlua::Table, String, Value)| match k.as_str() {
            "status" => output::status_set(v),

            _ => t.raw_set(k, v),
        })?,
    )?;
    ngx.set_metatable(Some(mt))?;
    Ok(())
}

/// `lua.create_function` for an API function: an argument of the wrong type is reported
/// with the function's name, in `luaL_argerror`'s words (`bad argument #1 to 'name' …`).
pub fn api_function<A, R, F>(lua: &Lua, name: &'static str, f: F) -> mlua::Result<mlua::Function>
where
    A: mlua::FromLuaMulti,
    R: mlua::IntoLuaMulti,
    F: Fn(&Lua, A) -> mlua::Result<R> + 'static,
{
    lua.create_function(move |lua, args: MultiValue| {
        // mlua's own argument conversion, told which function it converts for
        // (`from_lua_args` is public but doc-hidden: recheck it on an mlua upgrade)
        let args = A::from_lua_args(args, 1, Some(name), lua)?;
        f(lua, args)
    })
}

/// Makes `require(name)` give `module`: lua-resty-core's `ngx.*` modules, built in.
fn preload_module(lua: &Lua, name: &str, module: mlua::Table) -> mlua::Result<()> {
    let preload: mlua::Table = lua.globals().get::<mlua::Table>("package")?.get("preload")?;
    preload.set(name, lua.create_function(move |_, ()| Ok(module.clone()))?)
}

/// `bad argument #n to 'name' (what)`, Lua's wording for argument errors.
pub fn bad_argument(n: usize, name: &str, what: &str) -> mlua::Error {
    mlua::Error::runtime(format!("bad argument #{n} to '{name}' ({what})"))
}

/// An error raised by one of our Rust functions reaches Lua as an mlua error object;
/// OpenResty's C functions raise plain strings, which user code compares and
/// concatenates. This turns the former into the latter and leaves other values alone.
fn plain_error(lua: &Lua, e: Value) -> mlua::Result<Value> {
    match e {
        Value::Error(err) => Ok(Value::String(lua.create_string(crate::handler::error_text(&err))?)),
        other => Ok(other),
    }
}

/// The bytes an FFI wrapper passed as a pointer and a length (a Lua string, or a
/// buffer of its own).
///
/// # Safety
/// `p` points at `len` readable bytes that outlive the slice (any value when `len` is 0).
pub(crate) unsafe fn lua_bytes<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(p, len) }
}

/// A control byte, which no URI set from Lua may hold.
pub fn unsafe_uri_byte(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// OpenResty refuses a URI holding control bytes (`ngx.req.set_uri`, `ngx.redirect`):
/// they could end up in a header line or a log line. It logs the first such byte and the
/// URI (control bytes, `"` and `\` shown as `\xHH`), `what` naming it as its message
/// does ("uri", "header"), and raises `attempt to use unsafe uri`.
pub fn check_uri_bytes(uri: &str, what: &str) -> mlua::Result<()> {
    let Some(b) = uri.bytes().find(|&b| unsafe_uri_byte(b)) else {
        return Ok(());
    };
    let mut shown = String::with_capacity(uri.len() + 8);
    for c in uri.chars() {
        match u8::try_from(c) {
            Ok(b) if unsafe_uri_byte(b) || b == b'"' || b == b'\\' => shown.push_str(&format!("\\x{b:02X}")),
            _ => shown.push(c),
        }
    }
    let message = format!("unsafe byte \"0x{b:x}\" in {what} \"{shown}\"");
    crate::request::with(|r| {
        r.log(http::log::Level::Error, &message);
        Ok(())
    })?;
    Err(mlua::Error::runtime("attempt to use unsafe uri"))
}

/// The name Lua's `type()` gives a value: mlua splits numbers into
/// "integer" and "number", but error messages must match OpenResty's.
pub fn lua_type_name(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) => "number",
        other => other.type_name(),
    }
}

/// `check_thread_api()`: ngx.thread's phases, as lua-nginx-module's coroutine helper
/// checks them. A C function (see `cfunc`): every spawn and wait calls it.
unsafe extern "C-unwind" fn check_thread_api(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use crate::request::{self, Phase};
    // SAFETY: called by Lua; it answers nothing, or raises the refusal.
    unsafe {
        crate::cfunc::run(l, || {
            let check = || {
                if !matches!(request::phase(), Phase::Timer | Phase::InitWorker) {
                    request::with(|_| Ok(()))?;
                }
                request::check_context(request::THREAD_PHASES)
            };
            check().map_err(|e| crate::handler::error_text(&e))?;
            Ok(crate::cfunc::Answer::Values(Vec::new()))
        })
    }
}

/// `co_yielded(co)`: whether coroutine `co` waits in a yield. Lua calls a coroutine that
/// ended with its results still on its stack "suspended" too: a light thread that ended
/// keeps them there for `ngx.thread.wait`, and is a zombie, not running.
unsafe extern "C-unwind" fn co_yielded(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: called by Lua with its argument at index 1; one result pushed.
    unsafe {
        let co = ffi::lua_tothread(l, 1);
        ffi::lua_pushboolean(
            l,
            std::ffi::c_int::from(!co.is_null() && ffi::lua_status(co) == ffi::LUA_YIELD),
        );
    }
    1
}
