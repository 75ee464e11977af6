//! A Lua phase handler and the driver of its coroutine: each request's code runs in a
//! new coroutine (the entry thread) on the worker's VM; when it yields for I/O (sleep,
//! flush) the connection's task awaits that I/O and resumes it.
//!
//! A suspended coroutine is held in the Lua registry, not as a live mlua handle: mlua keeps
//! live handles on one LuaJIT stack of limited size, and a worker must hold tens of
//! thousands of suspended requests.

use std::rc::Rc;

use http::log::Level;
use std::future::Future;
use std::pin::Pin;

use http::phase::{Flow, Handler, LogHandler, LogStep, LogWait, Step};
use http::request::Request;
use mlua::{Function, Lua};

use crate::api;
use crate::directives::{LuaCode, Source};
use crate::raw;
use crate::request::{self, Phase};
use crate::runners::Runners;
use crate::sched::{End, Sched};

pub struct LuaHandler {
    lua: Lua,
    runners: Rc<Runners>,
    /// The job number of the code once compiled (see `job`).
    job: std::cell::OnceCell<i64>,
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
    /// lua_check_client_abort: a client that closes its connection mid-run is noticed
    /// (ngx.on_abort's handler runs, or the run ends with 499).
    pub check_client_abort: bool,
}

impl LuaHandler {
    pub fn new(lua: Lua, code: Rc<LuaCode>, phase: Phase, options: HandlerOptions) -> LuaHandler {
        // inline code is compiled now, in the master: workers inherit it compiled
        if let Source::Inline(_) = code.source {
            let _ = compiled(&lua, &code);
        }
        LuaHandler {
            runners: Runners::of(&lua),
            job: std::cell::OnceCell::new(),
            lua,
            code,
            phase,
            options,
        }
    }

    fn function(&self, r: &mut Request) -> Result<Function, LoadError> {
        request_function(&self.lua, &self.code, r, self.options.code_cache)
    }
}

/// The function for this request's run of `code`. With the code cache off it is as if
/// the request had a VM of its own (OpenResty's behaviour): files and modules are read
/// again, and the request's code shares a global table of its own across its phases.
pub fn request_function(lua: &Lua, code: &LuaCode, r: &mut Request, cache: bool) -> Result<Function, LoadError> {
    if cache {
        return function_for(lua, code, r, true);
    }
    let f = function_for(lua, code, r, false)?;
    let env = request_globals(lua, r).map_err(|e| LoadError::from(error_text(&e)))?;
    f.set_environment(env).map_err(|e| LoadError::from(error_text(&e)))?;
    Ok(f)
}

/// Why request code could not be had: the error log's message, and the status a file
/// that could not be read answers with (OpenResty: 404 when it does not exist, 503 for
/// other I/O failures; compile errors are 500s).
#[derive(Clone, Debug)]
pub struct LoadError {
    pub message: String,
    pub file_status: Option<u16>,
}

impl From<String> for LoadError {
    fn from(message: String) -> Self {
        LoadError {
            message,
            file_status: None,
        }
    }
}

/// A Lua source file's bytes, as luaL_loadfile takes them: a first line starting with
/// `#` (a shebang) is blanked, its newline kept so that line numbers hold. Errors read
/// as LuaJIT's (`cannot open PATH: No such file or directory`, `cannot read PATH: Is a
/// directory`).
pub fn read_lua_file(path: &std::path::Path) -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    let failed = |verb: &str, e: std::io::Error| {
        let reason = conf::os_reason(&e);
        LoadError {
            message: format!("cannot {verb} {}: {reason}", path.display()),
            file_status: Some(if e.kind() == std::io::ErrorKind::NotFound {
                404
            } else {
                503
            }),
        }
    };
    let mut src = Vec::new();
    std::fs::File::open(path)
        .map_err(|e| failed("open", e))?
        .read_to_end(&mut src)
        .map_err(|e| failed("read", e))?;
    if src.first() == Some(&b'#') {
        let end = src.iter().position(|&c| c == b'\n').unwrap_or(src.len());
        src.drain(..end);
    }
    Ok(src)
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
    // how compat.lua's module searcher knows a request's globals
    mt.set("oxr_request_globals", true)?;
    env.set_metatable(Some(mt))?;
    // `_G.x = v` writes the request's table too, as with OpenResty's VM per request
    env.set("_G", env.clone())?;
    r.set_ctx(RequestGlobals(lua.create_registry_value(env.clone())?));
    Ok(env)
}

/// The function to run for this request: the chunk compiled once, or (a file path with
/// variables) the file it names now, compiled once per path. With `cache` off, a fresh
/// function each time (files read again).
pub fn function_for(lua: &Lua, code: &LuaCode, r: &Request, cache: bool) -> Result<Function, LoadError> {
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
pub fn compiled(lua: &Lua, code: &LuaCode) -> Result<Function, LoadError> {
    code.compiled.get_or_init(|| compile(lua, code)).clone()
}

fn compile(lua: &Lua, code: &LuaCode) -> Result<Function, LoadError> {
    match &code.source {
        Source::Inline(src) => load_request_chunk(lua, src.as_bytes(), &code.chunkname)
            .map_err(|e| format!("failed to load inlined Lua code: {}", error_text(&e)).into()),
        Source::File(path) => compile_file(lua, path, &code.chunkname),
        Source::FileTemplate { .. } => Err(String::from("a Lua file path with variables needs a request").into()),
    }
}

fn compile_file(lua: &Lua, path: &std::path::Path, chunkname: &str) -> Result<Function, LoadError> {
    let failed = |why: &str| format!("failed to load external Lua file \"{}\": {why}", path.display());
    let src = read_lua_file(path).map_err(|e| LoadError {
        message: failed(&e.message),
        ..e
    })?;
    load_request_chunk(lua, &src, chunkname).map_err(|e| failed(&error_text(&e)).into())
}

/// Compiles request code as OpenResty's closure factory does: the chunk becomes the body
/// of a function (`return function() … end`, opened on the chunk's first line so that line
/// numbers hold). Tracebacks then read as OpenResty's (`in function <content_by_lua(…):1>`),
/// and the JIT compiles the code from its entry, which it never does for a main chunk (a
/// vararg function). LuaJIT bytecode is loaded as it is.
fn load_request_chunk(lua: &Lua, src: &[u8], chunkname: &str) -> mlua::Result<Function> {
    if src.starts_with(b"\x1bLJ") {
        return lua.load(src).set_name(chunkname).into_function();
    }
    let mut wrapped = Vec::with_capacity(src.len() + 24);
    wrapped.extend_from_slice(b"return function() ");
    wrapped.extend_from_slice(src);
    wrapped.extend_from_slice(b"\nend");
    lua.load(wrapped).set_name(chunkname).into_function()?.call(())
}

impl Handler for LuaHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        // a `rewrite` that changed the URI sends the request back to find-config: the
        // location's rewrite_by_lua does not run, as OpenResty's handler declines then
        if self.phase == Phase::Rewrite && r.uri_changed {
            return Step::Ready(Flow::Next);
        }
        if self.options.need_body {
            return Step::Pending(Box::pin(self.run_after_body(r)));
        }
        // most code runs to its end without waiting for I/O: then the answer is ready
        // now, and no future is built for it
        match self.start(r) {
            Progress::Ended(end) => Step::Ready(self.flow(end, r)),
            Progress::Running(sched) => Step::Pending(Box::pin(self.finish(sched, r))),
        }
    }
}

/// log_by_lua: code that ends at once is done; code that waits (beyond OpenResty) goes
/// on after the connection has moved on, never delaying the client.
impl LogHandler for LuaHandler {
    fn log(&self, r: &mut Request) -> LogStep {
        match self.start(r) {
            Progress::Ended(_) => LogStep::Done,
            Progress::Running(sched) => LogStep::Wait(Box::new(LogRun(sched))),
        }
    }

    fn runs_script(&self) -> bool {
        true
    }
}

struct LogRun(Box<Sched>);

impl LogWait for LogRun {
    fn finish<'a>(self: Box<Self>, r: &'a mut Request) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
        let mut sched = self.0;
        Box::pin(async move {
            sched.run(Some(r)).await;
        })
    }
}

/// Where a run stands after its entry thread's first resume.
enum Progress {
    Ended(End),
    /// Some thread waits: the run goes on in the connection's task.
    Running(Box<Sched>),
}

impl LuaHandler {
    /// lua_need_request_body: the body is read before the code starts.
    async fn run_after_body(&self, r: &mut Request) -> Flow {
        if let Err(code) = r.read_body().await {
            return Flow::Finish(code);
        }
        match self.start(r) {
            Progress::Ended(end) => self.flow(end, r),
            Progress::Running(sched) => self.finish(sched, r).await,
        }
    }

    /// Starts the request's code on an entry thread and runs it to its end or first wait.
    fn start(&self, r: &mut Request) -> Progress {
        let job = match self.job(r) {
            Ok(id) => id,
            Err(e) => {
                r.log(Level::Error, &e.message);
                return Progress::Ended(match e.file_status {
                    Some(status) => End::Exit(status.into()),
                    None => End::Error,
                });
            }
        };
        // (a HEAD has no body to measure: its headers go out without a length, as
        // OpenResty's)
        if self.phase == Phase::Content
            && self.options.http10_buffering
            && r.version < (1, 1)
            && !r.header_sent
            && r.content_length.is_none()
            && r.method != "HEAD"
        {
            r.hold_body = Some(Vec::new());
        }
        // an idle runner coroutine from the worker's pool takes the job as its resume
        // value: no new coroutine (and its garbage) per request
        let entry = match self.runners.take(&self.lua) {
            Ok(t) => t,
            Err(e) => {
                r.log(Level::Error, &format!("lua entry thread aborted: {e}"));
                return Progress::Ended(End::Error);
            }
        };
        let l = entry.state();
        // SAFETY: an idle runner, suspended at its idle point: one slot for the job.
        let first = unsafe {
            match raw::push_args(l, &[raw::Arg::Int(job)]) {
                Some(n) => request::enter(r, self.phase, || raw::resume(l, n)),
                None => raw::Resumed::Failed(Some("stack overflow".into())),
            }
        };
        // most code ends without waiting: the runner goes back to the pool, no run is built
        if let raw::Resumed::Yielded(Some(api::Yield::Done)) = first {
            // SAFETY: suspended at its idle point again.
            unsafe { raw::clear(l) };
            self.runners.give_back(entry);
            return Progress::Ended(End::Returned);
        }
        match Sched::after_first(
            self.lua.clone(),
            self.runners.clone(),
            self.phase,
            entry,
            first,
            Some(r),
        ) {
            Ok(mut sched) => {
                sched.check_client_abort(self.options.check_client_abort);
                Progress::Running(Box::new(sched))
            }
            Err(end) => Progress::Ended(end),
        }
    }

    /// The job number of this request's function: fixed for code compiled once, else
    /// the function is put in the spare slot for the runner to take.
    fn job(&self, r: &mut Request) -> Result<i64, LoadError> {
        let fixed = self.options.code_cache && matches!(self.code.source, Source::Inline(_) | Source::File(_));
        if let Some(id) = self.job.get().filter(|_| fixed) {
            return Ok(*id);
        }
        let func = self.function(r)?;
        if fixed {
            let id = self
                .runners
                .add_job(&self.lua, func)
                .map_err(|e| LoadError::from(error_text(&e)))?;
            let _ = self.job.set(id);
            return Ok(id);
        }
        self.runners
            .set_spare_job(&self.lua, func)
            .map_err(|e| LoadError::from(error_text(&e)))?;
        Ok(Runners::SPARE_JOB)
    }

    /// Runs the request's code to its end, waits included (balancer_by_lua: its caller
    /// acts on how it ended).
    pub async fn run_to_end(&self, r: &mut Request) -> End {
        match self.start(r) {
            Progress::Ended(end) => end,
            Progress::Running(mut sched) => sched.run(Some(r)).await,
        }
    }

    /// Drives a run whose threads wait, to its end.
    async fn finish(&self, mut sched: Box<Sched>, r: &mut Request) -> Flow {
        let end = sched.run(Some(r)).await;
        drop(sched);
        self.flow(end, r)
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
                // output before content: no later phase may answer again, the response
                // ends here (OpenResty's rewrite and access handlers do so)
                _ if output_started(r) => Flow::Done,
                // nginx's NGX_OK: the access checks so far are passed (see `satisfy`)
                Phase::Access => Flow::Granted,
                _ => Flow::Next,
            },
            End::Exit(code) => match code {
                // ngx.OK: this phase is over; in content, so is the request
                0 if self.phase == Phase::Content => Flow::Done,
                0 if self.phase == Phase::Access => Flow::Granted,
                0 => Flow::PhaseDone,
                // ngx.DECLINED before content: this handler passes, the phase goes on
                -5 if self.phase != Phase::Content => Flow::Next,
                // ngx.ERROR: abort the request and its connection
                -1 => {
                    r.keepalive = false;
                    r.write_failed = true;
                    Flow::Finish(444)
                }
                // ngx.DONE, ngx.AGAIN, ngx.DECLINED: the request is handled
                c if c < 0 => Flow::Done,
                // the status already sent (or, for HTTP/1.0, output already held back
                // for its length: OpenResty counts its headers as sent): the response
                // just ends
                c if output_started(r) && c == i64::from(r.status) => Flow::Done,
                c if output_started(r) && c >= 300 && c != 444 => {
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
    let text = error_with_traceback(e);
    match text.find("\nstack traceback:") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// An error LuaJIT raises inside one of our Lua wrappers (`ngx.sleep` yielding across a
/// C call) reads as one from OpenResty's C functions: without the wrapper's position.
pub fn without_prelude_position(msg: &str) -> &str {
    let Some(rest) = msg.strip_prefix("prelude:") else {
        return msg;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    match rest[digits..].strip_prefix(": ") {
        Some(text) if digits > 0 => text,
        _ => msg,
    }
}

/// The error's message with the traceback mlua appended when the code ran through a
/// protected call (filters, set_by_lua: OpenResty logs theirs the same way).
pub fn error_with_traceback(e: &mlua::Error) -> String {
    match e {
        // (Lua's own message: mlua's text would start with "syntax error: ")
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => m.clone(),
        mlua::Error::CallbackError { cause, traceback } if traceback.is_empty() => error_text(cause),
        mlua::Error::CallbackError { cause, traceback } => format!("{}\n{traceback}", error_text(cause)),
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

/// The stack of the coroutine with registry reference `key` at its error, as OpenResty
/// logs it after the message.
pub fn traceback(lua: &Lua, key: std::ffi::c_int) -> String {
    let tb: Option<Function> = lua
        .globals()
        .get::<mlua::Table>("__oxr")
        .ok()
        .and_then(|p| p.get("traceback_of").ok());
    match tb.map(|f| f.call::<mlua::Value>(key)) {
        Some(Ok(mlua::Value::String(s))) => {
            let s = s.to_string_lossy();
            let frames = s
                .trim_start_matches('\n')
                .trim_start_matches("stack traceback:")
                .trim_start_matches('\n');
            // the bottom frame is our runner, not the user's: OpenResty shows none there
            let frames = match frames.rsplit_once('\n') {
                Some((rest, last)) if last.trim_start().starts_with("prelude:") => rest,
                _ => frames,
            };
            format!("\nstack traceback:\ncoroutine 0:\n{frames}")
        }
        _ => String::new(),
    }
}

/// Whether the response is under way as OpenResty's Lua sees it: headers sent, or
/// HTTP/1.0 output held back to learn its length.
fn output_started(r: &Request) -> bool {
    r.header_sent || r.hold_body.as_ref().is_some_and(|held| !held.is_empty())
}

#[cfg(test)]
mod tests {
    use super::without_prelude_position;

    #[test]
    fn prelude_positions_are_dropped() {
        assert_eq!(
            without_prelude_position("prelude:12: attempt to yield across C-call boundary"),
            "attempt to yield across C-call boundary"
        );
        assert_eq!(without_prelude_position("prelude: x"), "prelude: x");
        assert_eq!(
            without_prelude_position("content_by_lua(nginx.conf:3):1: x"),
            "content_by_lua(nginx.conf:3):1: x"
        );
    }
}
