//! `init_by_lua*` (in the master, once per configuration load, before fork) and
//! `init_worker_by_lua*` (in each worker after fork).

use http::log::Level;

use crate::directives::{LuaCode, Source};
use crate::request::{self, Phase};
use crate::vm::Generation;

/// The code's function, compiled.
fn compile(g: &Generation, code: &LuaCode) -> Result<mlua::Function, String> {
    match &code.source {
        Source::Inline(src) => g
            .lua
            .load(src.as_str())
            .set_name(code.chunkname.as_str())
            .into_function(),
        Source::File(path) => {
            let src = crate::handler::read_lua_file(path).map_err(|e| e.message)?;
            g.lua.load(src).set_name(code.chunkname.as_str()).into_function()
        }
        // (code() never builds one for the init phases)
        Source::FileTemplate { .. } => return Err("no variables in this Lua file path".into()),
    }
    .map_err(|e| crate::handler::error_text(&e))
}

fn run(g: &Generation, code: &LuaCode, phase: Phase) -> Result<(), String> {
    let func = compile(g, code)?;
    request::in_phase(phase, || func.call::<()>(())).map_err(|e| crate::handler::error_text(&e))
}

/// The directive an error is reported under, as OpenResty: `init_by_lua` for inline code,
/// `init_by_lua_file` for a file.
fn directive(code: &LuaCode, phase: &str) -> String {
    match code.source {
        Source::File(_) => format!("{phase}_by_lua_file"),
        _ => format!("{phase}_by_lua"),
    }
}

/// Runs `init_by_lua*` in the master; an error stops the start (or the reload).
/// `env` is the `env` directives': as with lua-resty-core, `os.getenv` there sees their
/// explicit values (`env NAME=value;`), which only workers get in their environment.
pub fn run_init(g: &Generation, env: &[(String, Option<String>)]) -> Result<(), String> {
    let Some(code) = &g.init else {
        return Ok(());
    };
    let report = |e: String| format!("{} error: {e}", directive(code, "init"));
    let original = with_env_values(&g.lua, env).map_err(|e| report(crate::handler::error_text(&e)))?;
    let result = run(g, code, Phase::Init).map_err(report);
    // the worker phases get the plain os.getenv back (their environment has the values)
    let restored = g
        .lua
        .globals()
        .get::<mlua::Table>("os")
        .and_then(|os| os.set("getenv", original));
    result?;
    restored.map_err(|e| crate::handler::error_text(&e))
}

/// Puts an `os.getenv` in place that answers the explicit `env` values first; returns
/// the original.
fn with_env_values(lua: &mlua::Lua, env: &[(String, Option<String>)]) -> mlua::Result<mlua::Function> {
    let explicit = lua.create_table()?;
    for (name, value) in env {
        if let Some(v) = value {
            explicit.set(name.as_str(), v.as_str())?;
        }
    }
    let os: mlua::Table = lua.globals().get("os")?;
    let original: mlua::Function = os.get("getenv")?;
    let wrapper: mlua::Function = lua
        .load(
            "local explicit, getenv = ...
             return function(name)
                 local v = explicit[name]
                 if v ~= nil then return v end
                 return getenv(name)
             end",
        )
        .set_name("=os.getenv")
        .call((explicit, original.clone()))?;
    os.set("getenv", wrapper)?;
    Ok(original)
}

/// Runs `init_worker_by_lua*` in a new worker, to its end, before the worker serves; an
/// error is logged and the worker serves on. Beyond OpenResty, the code may wait there:
/// cosockets, `ngx.sleep`, semaphores and light threads work (it runs as a request-less
/// run of `sched`, as a timer's function does).
pub async fn run_init_worker(g: &Generation) {
    let Some(code) = &g.init_worker else {
        return;
    };
    let report = |e: String| http::elog!(Level::Error, 0, "{} error: {e}", directive(code, "init_worker"));
    let func = match compile(g, code) {
        Ok(f) => f,
        Err(e) => return report(e),
    };
    let runners = crate::runners::Runners::of(&g.lua);
    let entry = match g.lua.create_thread(func).and_then(|t| runners.coro(&t)) {
        Ok(c) => c,
        Err(e) => return report(crate::handler::error_text(&e)),
    };
    let mut sched = crate::sched::Sched::new(g.lua.clone(), runners, Phase::InitWorker, entry, 0, false);
    sched.report_entry_errors_as(directive(code, "init_worker"));
    let _ = sched.run(None).await;
}

/// Runs `exit_worker_by_lua*` as a worker exits; an error is logged.
pub fn run_exit_worker(g: &Generation) {
    if let Some(code) = &g.exit_worker
        && let Err(e) = run(g, code, Phase::ExitWorker)
    {
        http::elog!(Level::Error, 0, "{} error: {e}", directive(code, "exit_worker"));
    }
}
