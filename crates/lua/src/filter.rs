//! The Lua handlers that run inside nginx's output machinery, where nothing may wait:
//! `header_filter_by_lua*`, `body_filter_by_lua*` (and `set_by_lua*`). Their code runs to
//! its end in one call (a yield there is an error, as in OpenResty). `log_by_lua*`, which
//! may wait here, is a `handler::LuaHandler`.

use crate::api::lua_type_name;
use std::cell::Cell;
use std::rc::Rc;

use http::log::Level;
use http::phase::{BodyFilter, HeaderFilter};
use http::request::Request;
use mlua::{Lua, Value};

use crate::directives::LuaCode;
use crate::handler::{error_with_traceback, request_function};
use crate::request::{self, Phase};

/// A Lua handler that runs synchronously in one phase.
pub struct SyncHandler {
    pub(crate) lua: Lua,
    pub(crate) code: Rc<LuaCode>,
    phase: Phase,
    code_cache: bool,
}

impl SyncHandler {
    pub fn new(lua: Lua, code: Rc<LuaCode>, phase: Phase, code_cache: bool) -> SyncHandler {
        SyncHandler {
            lua,
            code,
            phase,
            code_cache,
        }
    }

    /// Runs the code: what the response does next.
    fn run(&self, r: &mut Request) -> Outcome {
        let func = match request_function(&self.lua, &self.code, r, self.code_cache) {
            Ok(f) => f,
            Err(msg) => {
                r.log(Level::Error, &msg.message);
                return Outcome::Drop;
            }
        };
        let _ = request::take_sync_exit();
        let result = request::enter(r, self.phase, || func.call::<()>(()));
        // ngx.exit: ngx.OK or a 2xx code lets the response go on, another status ends it
        // with that status instead (nginx's filter finalize), ngx.ERROR aborts it
        match request::take_sync_exit() {
            Some(code) if code == 0 || (200..300).contains(&code) => {}
            Some(code) if (300..1000).contains(&code) => return Outcome::Finalize(code as u16),
            Some(_) => return Outcome::Drop,
            None => {}
        }
        match result {
            Ok(()) => Outcome::Go,
            Err(e) => {
                r.log(
                    Level::Error,
                    &format!("failed to run {}_by_lua*: {}", self.phase.name(), filter_error(&e)),
                );
                Outcome::Drop
            }
        }
    }
}

/// A filter's error as OpenResty logs it: the message (an error value that was not a
/// string reads "unknown reason") and the traceback of the filter's own frames, each
/// named `in function 'name'`. The traceback is the one mlua took when the call failed
/// (Lua 5.2's shape); frames below the filter (the output call that ran it, the request
/// code) are not the filter's, and OpenResty, which runs filters on their own, shows none.
fn filter_error(e: &mlua::Error) -> String {
    let text = error_with_traceback(e);
    let (message, frames) = text.split_once("\nstack traceback:").unwrap_or((&text, ""));
    // mlua's handler wrote a value that was not a string with tostring()
    let object = ["table: 0x", "userdata: 0x", "function: 0x", "thread: 0x"];
    let message = if message == "nil" || object.iter().any(|p| message.starts_with(p)) {
        "unknown reason"
    } else {
        message
    };
    let mut out = message.to_string();
    if frames.is_empty() {
        return out;
    }
    out.push_str("\nstack traceback:");
    for line in frames.lines().filter(|l| !l.trim().is_empty()) {
        let frame = line.trim_start();
        if frame.starts_with("[builtin#") || frame.starts_with("[C]: in function 'ngx.") {
            break;
        }
        if frame == "[C]: in ?" {
            continue;
        }
        out.push_str("\n\t");
        out.push_str(&function_named(frame));
    }
    out
}

/// `in upvalue 'f'`, `in local 'f'`, `in field 'f'`... read `in function 'f'`, as
/// LuaJIT's own traceback (and OpenResty's) writes them.
fn function_named(frame: &str) -> std::borrow::Cow<'_, str> {
    for kind in ["upvalue", "local", "global", "field", "method"] {
        let from = format!(" in {kind} '");
        if let Some(at) = frame.find(&from) {
            return format!("{} in function '{}", &frame[..at], &frame[at + from.len()..]).into();
        }
    }
    frame.into()
}

/// What a filter's code decided.
enum Outcome {
    /// The response goes on.
    Go,
    /// The response is answered with this status instead.
    Finalize(u16),
    /// The response is abandoned and its connection closed (an error, `ngx.ERROR`).
    Drop,
}

impl HeaderFilter for SyncHandler {
    fn filter(&self, r: &mut Request) {
        match self.run(r) {
            Outcome::Go => {}
            // a page that answers a finalize already is sent as it is
            Outcome::Finalize(code) if !r.filter_page => r.filter_finalize = Some(code),
            Outcome::Finalize(_) => {}
            Outcome::Drop => {
                // nginx answers a failed header filter by dropping the connection
                r.keepalive = false;
                r.write_failed = true;
            }
        }
    }

    fn runs_script(&self) -> bool {
        true
    }
}

thread_local! {
    /// The chunk and eof flag a body filter sees as ngx.arg[1] and ngx.arg[2].
    static BODY: Cell<(*mut Vec<u8>, *mut bool)> = const { Cell::new((std::ptr::null_mut(), std::ptr::null_mut())) };
}

impl BodyFilter for SyncHandler {
    fn filter(&self, r: &mut Request, chunk: &mut Vec<u8>, eof: &mut bool) {
        let prev = BODY.with(|b| b.replace((chunk as *mut Vec<u8>, eof as *mut bool)));
        let ok = matches!(self.run(r), Outcome::Go);
        BODY.with(|b| b.set(prev));
        if !ok {
            r.keepalive = false;
            r.write_failed = true;
        }
    }

    fn runs_script(&self) -> bool {
        true
    }
}

/// `ngx.arg[n]` in a body filter: the chunk (1) or the eof flag (2).
pub fn body_arg(lua: &Lua, n: i64) -> mlua::Result<Value> {
    let (chunk, eof) = BODY.with(|b| b.get());
    if chunk.is_null() {
        return Ok(Value::Nil);
    }
    // SAFETY: set by `filter` above from live references, for the duration of the Lua call
    // this runs in; nothing else touches them meanwhile.
    unsafe {
        match n {
            1 => Ok(Value::String(lua.create_string(&*chunk)?)),
            2 => Ok(Value::Boolean(*eof)),
            _ => Ok(Value::Nil),
        }
    }
}

/// `ngx.arg[n] = v` in a body filter: replace the chunk, or end (or not) the stream.
pub fn set_body_arg(n: i64, v: Value) -> mlua::Result<()> {
    let (chunk, eof) = BODY.with(|b| b.get());
    if chunk.is_null() {
        return Err(mlua::Error::runtime("API disabled in the current context"));
    }
    // SAFETY: as in `body_arg`.
    unsafe {
        match n {
            1 => {
                let bytes = match v {
                    Value::Nil => Vec::new(),
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(i) => i.to_string().into_bytes(),
                    Value::Number(f) => f.to_string().into_bytes(),
                    Value::Table(t) => {
                        let mut out = Vec::new();
                        for i in 1..=t.raw_len() {
                            let s: mlua::LuaString = t.raw_get(i)?;
                            out.extend_from_slice(&s.as_bytes());
                        }
                        out
                    }
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "bad chunk data type: {}",
                            lua_type_name(&other)
                        )));
                    }
                };
                *chunk = bytes;
            }
            2 => *eof = matches!(v, Value::Boolean(true)),
            _ => return Err(mlua::Error::runtime("bad index: only 1 and 2 are writable")),
        }
    }
    Ok(())
}

thread_local! {
    /// set_by_lua's arguments, ngx.arg[1..n].
    static SET_ARGS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `set_by_lua*`: computes a variable in the rewrite script.
pub struct SetHandler(pub SyncHandler);

impl http::modules::rewrite::ScriptCall for SetHandler {
    fn call(&self, r: &mut Request, args: &[String]) -> Result<Option<String>, http::modules::rewrite::ScriptFailed> {
        let h = &self.0;
        // lua_code_cache as the request's location has it (the directive may follow
        // set_by_lua in its block, so it is read now rather than when configured)
        let cache = r
            .loc
            .ext
            .get::<crate::directives::LuaLocConf>()
            .is_none_or(|c| c.code_cache());
        let func = match request_function(&h.lua, &h.code, r, cache) {
            Ok(f) => f,
            Err(msg) => {
                r.log(Level::Error, &msg.message);
                return Err(http::modules::rewrite::ScriptFailed);
            }
        };
        let prev = SET_ARGS.with(|a| a.replace(args.to_vec()));
        let result = request::enter(r, Phase::Set, || -> mlua::Result<Option<String>> {
            let v: Value = func.call(())?;
            Ok(match v {
                Value::Nil => None,
                other => h.lua.coerce_string(other)?.map(|s| s.to_string_lossy()),
            })
        });
        SET_ARGS.with(|a| a.replace(prev));
        result.map_err(|e| {
            r.log(
                Level::Error,
                &format!("failed to run set_by_lua*: {}", filter_error(&e)),
            );
            http::modules::rewrite::ScriptFailed
        })
    }
}

/// `ngx.arg[n]` in set_by_lua.
pub fn set_arg(lua: &Lua, n: i64) -> mlua::Result<Value> {
    SET_ARGS.with(|a| match a.borrow().get((n - 1).max(0) as usize) {
        Some(s) if n >= 1 => Ok(Value::String(lua.create_string(s)?)),
        _ => Ok(Value::Nil),
    })
}

#[cfg(test)]
mod tests {
    use super::filter_error;

    #[test]
    fn filter_errors_read_as_openresty_logs_them() {
        let traceback = "stack traceback:\n\t[C]: in ?\n\t[C]: in function 'error'\n\thf:7: in upvalue 'bar'\n\thf:4: in local 'foo'\n\thf:9: in function <hf:1>\n\t[C]: in function 'ngx.send_headers'\n\tngx_ffi:392: in function 'ngx.say'";
        let e = mlua::Error::RuntimeError(format!("hf:7: boom\n{traceback}"));
        assert_eq!(
            filter_error(&e),
            "hf:7: boom\nstack traceback:\n\t[C]: in function 'error'\n\thf:7: in function 'bar'\n\thf:4: in function 'foo'\n\thf:9: in function <hf:1>"
        );
        let e = mlua::Error::RuntimeError(format!("nil\n{traceback}"));
        assert!(filter_error(&e).starts_with("unknown reason\nstack traceback:"));
        let e = mlua::Error::RuntimeError("table: 0x5555".into());
        assert_eq!(filter_error(&e), "unknown reason");
    }
}
