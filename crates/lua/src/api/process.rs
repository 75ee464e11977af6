//! `require "ngx.process"` (lua-resty-core's module): the process's type, the master's
//! pid, the privileged agent, and a worker's own graceful exit.

use std::cell::Cell;

use mlua::{Lua, Value};

use super::api_function;
use crate::request::{self, Phase};

/// What this process is, as `ngx.process.type()` names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProcessType {
    /// `master_process off`: one process does everything.
    Single,
    /// The master, while it loads a configuration (init_by_lua).
    Master,
    Worker,
    /// The extra process `enable_privileged_agent()` asks for: no listening sockets, the
    /// master's user.
    PrivilegedAgent,
}

impl ProcessType {
    fn name(self) -> &'static str {
        match self {
            ProcessType::Single => "single",
            ProcessType::Master => "master",
            ProcessType::Worker => "worker",
            ProcessType::PrivilegedAgent => "privileged agent",
        }
    }
}

/// The worker_connections a privileged agent gets when none are given (lua-resty-core's).
const AGENT_CONNECTIONS: u64 = 512;

thread_local! {
    static PROCESS: Cell<ProcessType> = const { Cell::new(ProcessType::Single) };
    /// Set by `enable_privileged_agent(connections)` during init_by_lua.
    static AGENT: Cell<Option<u64>> = const { Cell::new(None) };
    /// Set by `signal_graceful_exit()` during init_by_lua: the server stops once started.
    static QUIT: Cell<bool> = const { Cell::new(false) };
}

/// Called by the master before it loads a configuration, and in each process it forks.
pub fn set_process_type(t: ProcessType) {
    PROCESS.with(|p| p.set(t));
}

/// The privileged agent the last init_by_lua asked for (its worker_connections), and
/// forgets it: each configuration load decides anew.
pub fn take_agent_request() -> Option<u64> {
    AGENT.with(|a| a.take())
}

/// Whether the last init_by_lua called `signal_graceful_exit()` (and forgets it).
pub fn take_quit_request() -> bool {
    QUIT.with(|q| q.take())
}

pub fn register(lua: &Lua) -> mlua::Result<()> {
    let process = lua.create_table()?;
    process.set("version", "0.1.28")?;
    process.set(
        "type",
        api_function(lua, "type", |_, ()| Ok(PROCESS.with(|p| p.get()).name()))?,
    )?;
    process.set(
        "get_master_pid",
        api_function(lua, "get_master_pid", |_, ()| {
            Ok(match PROCESS.with(|p| p.get()) {
                ProcessType::Single | ProcessType::Master => std::process::id(),
                ProcessType::Worker | ProcessType::PrivilegedAgent => std::os::unix::process::parent_id(),
            })
        })?,
    )?;
    process.set(
        "enable_privileged_agent",
        api_function(lua, "enable_privileged_agent", |_, connections: Value| {
            if request::phase() != Phase::Init {
                return Ok((None, Some("API disabled in the current context")));
            }
            let n = match connections {
                Value::Nil => Some(AGENT_CONNECTIONS as f64),
                Value::Integer(n) => Some(n as f64),
                Value::Number(n) => Some(n),
                _ => None,
            };
            match n {
                Some(n) if n >= 0.0 => {
                    AGENT.with(|a| a.set(Some(n as u64)));
                    Ok((Some(true), None))
                }
                _ => Ok((
                    None,
                    Some("bad 'connections' argument: number expected and greater than 0"),
                )),
            }
        })?,
    )?;
    process.set(
        "signal_graceful_exit",
        api_function(lua, "signal_graceful_exit", |_, ()| {
            // a process that serves stops as on QUIT; in init_by_lua the server stops
            // gracefully as soon as it has started (OpenResty's master sees ngx_quit)
            if request::phase() == Phase::Init {
                QUIT.with(|q| q.set(true));
            } else {
                http::worker::request_graceful_stop();
            }
            Ok(())
        })?,
    )?;
    super::preload_module(lua, "ngx.process", process)
}
