//! A Lua phase handler and the driver of its coroutine: each request's code runs in a
//! new coroutine (the entry thread) on the worker's VM; when it yields for I/O (sleep,
//! flush) the connection's task awaits that I/O and resumes it.
//!
//! A suspended coroutine is held in the Lua registry, not as a live mlua handle: mlua keeps
//! live handles on one LuaJIT stack of limited size, and a worker must hold tens of
//! thousands of suspended requests.

use std::rc::Rc;
use std::time::Duration;

use http::log::Level;
use http::phase::{Flow, Handler, Step};
use http::request::Request;
use mlua::thread::ThreadStatus;
use mlua::{Function, Lua, MultiValue, Value};

use crate::api;
use crate::directives::{LuaCode, Source};
use crate::request::{self, Phase};

pub struct LuaHandler {
    lua: Lua,
    code: Rc<LuaCode>,
    phase: Phase,
    options: HandlerOptions,
}

/// The location's Lua switches a handler obeys.
pub struct HandlerOptions {
    /// lua_need_request_body: read the body before the code runs.
    pub need_body: bool,
    /// lua_code_cache: off re-reads a Lua file for every request.
    pub code_cache: bool,
    /// lua_http10_buffering: an HTTP/1.0 response is held to send it with its length.
    pub http10_buffering: bool,
}

impl LuaHandler {
    pub fn new(lua: Lua, code: Rc<LuaCode>, phase: Phase, options: HandlerOptions) -> LuaHandler {
        // inline code is compiled now, in the master: workers inherit it compiled
        if let Source::Inline(_) = code.source {
            let _ = compiled(&lua, &code);
        }
        LuaHandler {
            lua,
            code,
            phase,
            options,
        }
    }

    fn function(&self, r: &mut Request) -> Result<Function, String> {
        request_function(&self.lua, &self.code, r, self.options.code_cache)
    }
}

/// The function for this request's run of `code`. With the code cache off it is as if
/// the request had a VM of its own (OpenResty's behaviour): files and modules are read
/// again, and the request's code shares a global table of its own across its phases.
pub fn request_function(lua: &Lua, code: &LuaCode, r: &mut Request, cache: bool) -> Result<Function, String> {
    if cache {
        return function_for(lua, code, r, true);
    }
    let f = function_for(lua, code, r, false)?;
    let env = request_globals(lua, r).map_err(|e| error_text(&e))?;
    f.set_environment(env).map_err(|e| error_text(&e))?;
    Ok(f)
}

/// The request's own global table (reading through to the shared one), made by its first
/// Lua code, which also makes `require` load modules afresh.
struct RequestGlobals(mlua::RegistryKey);

fn request_globals(lua: &Lua, r: &mut Request) -> mlua::Result<mlua::Table> {
    if let Some(g) = r.ctx::<RequestGlobals>() {
        return lua.registry_value(&g.0);
    }
    let forget: Option<Function> = lua
        .globals()
        .get::<mlua::Table>("__oxr")
        .ok()
        .and_then(|p| p.get("forget_modules").ok());
    if let Some(f) = forget {
        f.call::<()>(())?;
    }
    let env = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.set("__index", lua.globals())?;
    env.set_metatable(Some(mt))?;
    r.set_ctx(RequestGlobals(lua.create_registry_value(env.clone())?));
    Ok(env)
}

/// The function to run for this request: the chunk compiled once, or (a file path with
/// variables) the file it names now, compiled once per path. With `cache` off, a fresh
/// function each time (files read again).
pub fn function_for(lua: &Lua, code: &LuaCode, r: &Request, cache: bool) -> Result<Function, String> {
    match &code.source {
        Source::FileTemplate { path, prefix } => {
            let path = prefix.join(path.render(r));
            if let Some(f) = code.by_path.borrow().get(&path).filter(|_| cache) {
                return Ok(f.clone());
            }
            let f = compile_file(lua, &path, &format!("@{}", path.display()))?;
            // only successes are kept: a missing file may appear later, and a client
            // naming files that do not exist must not grow the cache
            if cache {
                code.by_path.borrow_mut().insert(path, f.clone());
            }
            Ok(f)
        }
        _ if !cache => compile(lua, code),
        _ => compiled(lua, code),
    }
}

/// The chunk's function, compiled once; the error text is what the error log says.
pub fn compiled(lua: &Lua, code: &LuaCode) -> Result<Function, String> {
    code.compiled.get_or_init(|| compile(lua, code)).clone()
}

fn compile(lua: &Lua, code: &LuaCode) -> Result<Function, String> {
    match &code.source {
        Source::Inline(src) => lua
            .load(src.as_str())
            .set_name(code.chunkname.as_str())
            .into_function()
            .map_err(|e| format!("failed to load inlined Lua code: {}", syntax_message(&e))),
        Source::File(path) => compile_file(lua, path, &code.chunkname),
        Source::FileTemplate { .. } => Err("a Lua file path with variables needs a request".into()),
    }
}

fn compile_file(lua: &Lua, path: &std::path::Path, chunkname: &str) -> Result<Function, String> {
    let src = std::fs::read(path).map_err(|e| {
        format!(
            "failed to load external Lua file \"{}\": cannot open {}: {e}",
            path.display(),
            path.display()
        )
    })?;
    lua.load(src).set_name(chunkname).into_function().map_err(|e| {
        format!(
            "failed to load external Lua file \"{}\": {}",
            path.display(),
            syntax_message(&e)
        )
    })
}

fn syntax_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

impl Handler for LuaHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        Step::Pending(Box::pin(self.run(r)))
    }
}

/// How an entry thread ended.
enum End {
    /// Returned normally.
    Returned,
    /// `ngx.exit(code)`.
    Exit(i64),
    /// A Lua error (already logged).
    Error,
    /// `ngx.exec(target)`.
    Exec(String),
}

impl LuaHandler {
    async fn run(&self, r: &mut Request) -> Flow {
        let func = match self.function(r) {
            Ok(f) => f,
            Err(msg) => {
                r.log(Level::Error, &msg);
                return Flow::Finish(500);
            }
        };
        if self.options.need_body
            && let Err(code) = r.read_body().await
        {
            return Flow::Finish(code);
        }
        if self.phase == Phase::Content
            && self.options.http10_buffering
            && r.version < (1, 1)
            && !r.header_sent
            && r.content_length.is_none()
        {
            r.hold_body = Some(Vec::new());
        }
        let end = match self.drive(func, r).await {
            Ok(end) => end,
            Err(e) => {
                r.log(Level::Error, &format!("lua entry thread aborted: {e}"));
                End::Error
            }
        };
        self.flow(end, r)
    }

    /// Resumes the entry thread until it ends, serving its yields.
    async fn drive(&self, func: Function, r: &mut Request) -> mlua::Result<End> {
        let lua = &self.lua;
        // an entry thread from the worker's pool: an idle runner coroutine that takes the
        // function as its resume value; no new coroutine (and its garbage) per request
        let (first, key) = pool::take(lua)?;
        let mut live = Some(first);
        let mut args = MultiValue::from_vec(vec![Value::Function(func)]);
        let mut reusable = false;
        let end = loop {
            let thread: mlua::Thread = match live.take() {
                Some(t) => t,
                None => lua.registry_value(&key)?,
            };
            let result = request::enter(r, self.phase, || thread.resume::<MultiValue>(std::mem::take(&mut args)));
            let values = match result {
                Ok(v) => v,
                Err(e) => {
                    let trace = traceback(lua, &thread);
                    r.log(
                        Level::Error,
                        &format!("lua entry thread aborted: runtime error: {}{trace}", error_text(&e)),
                    );
                    break End::Error;
                }
            };
            if thread.status() != ThreadStatus::Resumable {
                break End::Returned;
            }
            drop(thread);
            match api::Yield::parse(&values) {
                Some(api::Yield::Done) => {
                    reusable = true;
                    break End::Returned;
                }
                Some(api::Yield::Exit(code)) => break End::Exit(code),
                Some(api::Yield::Sleep(secs)) => {
                    r.flush().await;
                    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                }
                Some(api::Yield::Flush) => r.flush().await,
                Some(api::Yield::ReadBody) => {
                    if let Err(code) = r.read_body().await {
                        break End::Exit(code as i64);
                    }
                }
                Some(api::Yield::Exec(target)) => break End::Exec(target),
                Some(api::Yield::DiscardBody) => {
                    if r.discard_body().await.is_err() {
                        r.keepalive = false;
                    }
                }
                None => {
                    // a plain coroutine.yield() in the entry thread: let others run, go on
                    r.flush().await;
                    tokio::task::yield_now().await;
                }
            }
        };
        // back to the pool when it finished its function; else it is dropped
        pool::give_back(lua, key, reusable);
        Ok(end)
    }

    /// What the phase engine does next, by phase and by how the code ended (as
    /// lua-nginx-module documents for ngx.exit).
    fn flow(&self, end: End, r: &mut Request) -> Flow {
        match end {
            End::Error => {
                if r.header_sent {
                    // the response is cut short: send what was said, then close without
                    // the end of the body, rather than pretend it is whole
                    r.keepalive = false;
                    r.eof_sent = true;
                    Flow::Done
                } else {
                    Flow::Finish(500)
                }
            }
            End::Exec(target) if target.starts_with('@') => Flow::Named(target),
            End::Exec(target) => Flow::Redirect(target),
            End::Returned => match self.phase {
                Phase::Content => Flow::Done,
                _ => Flow::Next,
            },
            End::Exit(code) => match code {
                // ngx.OK: this phase is over; in content, so is the request
                0 if self.phase == Phase::Content => Flow::Done,
                0 => Flow::PhaseDone,
                // ngx.ERROR: abort the request and its connection
                -1 => {
                    r.keepalive = false;
                    r.write_failed = true;
                    Flow::Finish(444)
                }
                // ngx.DONE, ngx.AGAIN, ngx.DECLINED: the request is handled
                c if c < 0 => Flow::Done,
                c if r.header_sent && c >= 300 && c != 444 => {
                    r.log(
                        Level::Error,
                        &format!(
                            "attempt to set status {c} via ngx.exit after sending out the response status {}",
                            r.status
                        ),
                    );
                    r.keepalive = false;
                    Flow::Done
                }
                c => Flow::Finish(c.clamp(0, 999) as u16),
            },
        }
    }
}

/// The error's own message, without the traceback mlua may have appended (ours, taken
/// from the coroutine, follows in OpenResty's shape).
pub fn error_text(e: &mlua::Error) -> String {
    let text = match e {
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => return error_text(cause),
        mlua::Error::BadArgument { pos, to, cause, .. } => match cause.as_ref() {
            // an argument our Rust function could not take, in Lua's own words
            // (`luaL_argerror`; '?' when the function's name is not known)
            mlua::Error::FromLuaConversionError { from, to: wanted, .. } => format!(
                "bad argument #{pos} to '{}' ({} expected, got {})",
                to.as_deref().unwrap_or("?"),
                lua_type_of_rust(wanted),
                if *from == "integer" { "number" } else { from }
            ),
            other => format!("bad argument #{pos}: {}", error_text(other)),
        },
        other => other.to_string(),
    };
    match text.find("\nstack traceback:") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The Lua type a Rust conversion target stands for (`i64` is a number).
fn lua_type_of_rust(rust: &str) -> &str {
    match rust {
        "String" | "string" | "str" | "BString" => "string",
        "bool" => "boolean",
        "Table" | "table" => "table",
        "Function" | "function" => "function",
        t if t.starts_with('i') || t.starts_with('u') || t.starts_with('f') => "number",
        other => other,
    }
}

/// The coroutine's stack at the error, as OpenResty logs it after the message.
fn traceback(lua: &Lua, thread: &mlua::Thread) -> String {
    let tb: Option<Function> = lua
        .globals()
        .get::<mlua::Table>("debug")
        .ok()
        .and_then(|d| d.get("traceback").ok());
    match tb.map(|f| f.call::<Value>((thread.clone(), "", 0))) {
        Some(Ok(Value::String(s))) => {
            let s = s.to_string_lossy();
            let frames = s
                .trim_start_matches('\n')
                .trim_start_matches("stack traceback:")
                .trim_start_matches('\n');
            format!("\nstack traceback:\ncoroutine 0:\n{frames}")
        }
        _ => String::new(),
    }
}

/// The worker's idle entry threads (kept per VM in its app data).
mod pool {
    use mlua::{Function, Lua, MultiValue, RegistryKey, Table, Thread};

    /// How many idle runners a worker keeps.
    const KEEP: usize = 256;

    #[derive(Default)]
    struct Pool(Vec<RegistryKey>);

    /// An idle runner (made on demand) and its registry key.
    pub fn take(lua: &Lua) -> mlua::Result<(Thread, RegistryKey)> {
        let idle = lua.app_data_mut::<Pool>().and_then(|mut p| p.0.pop());
        if let Some(key) = idle {
            let t = lua.registry_value::<Thread>(&key)?;
            return Ok((t, key));
        }
        let runner: Function = lua.globals().get::<Table>("__oxr")?.get("runner")?;
        let t = lua.create_thread(runner)?;
        // run it to its first idle point
        let _: MultiValue = t.resume(())?;
        let key = lua.create_registry_value(&t)?;
        Ok((t, key))
    }

    pub fn give_back(lua: &Lua, key: RegistryKey, reusable: bool) {
        if reusable {
            if lua.app_data_ref::<Pool>().is_none() {
                lua.set_app_data(Pool::default());
            }
            if let Some(mut p) = lua.app_data_mut::<Pool>()
                && p.0.len() < KEEP
            {
                p.0.push(key);
                return;
            }
        }
        let _ = lua.remove_registry_value(key);
    }
}
