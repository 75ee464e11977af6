//! `init_by_lua*` (in the master, once per configuration load, before fork) and
//! `init_worker_by_lua*` (in each worker after fork).

use http::log::Level;

use crate::directives::{LuaCode, Source};
use crate::request::{self, Phase};
use crate::vm::Generation;

fn run(g: &Generation, code: &LuaCode, phase: Phase) -> Result<(), String> {
    let func = match &code.source {
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
    .map_err(|e| crate::handler::error_text(&e))?;
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
pub fn run_init(g: &Generation) -> Result<(), String> {
    match &g.init {
        Some(code) => run(g, code, Phase::Init).map_err(|e| format!("{} error: {e}", directive(code, "init"))),
        None => Ok(()),
    }
}

/// Runs `init_worker_by_lua*` in a new worker; an error is logged and the worker serves on.
pub fn run_init_worker(g: &Generation) {
    if let Some(code) = &g.init_worker
        && let Err(e) = run(g, code, Phase::InitWorker)
    {
        http::elog!(Level::Error, 0, "{} error: {e}", directive(code, "init_worker"));
    }
}

/// Runs `exit_worker_by_lua*` as a worker exits; an error is logged.
pub fn run_exit_worker(g: &Generation) {
    if let Some(code) = &g.exit_worker
        && let Err(e) = run(g, code, Phase::ExitWorker)
    {
        http::elog!(Level::Error, 0, "{} error: {e}", directive(code, "exit_worker"));
    }
}
