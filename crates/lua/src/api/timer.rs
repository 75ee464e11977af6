//! `ngx.timer`: `at`, `every`, `running_count`, `pending_count`, and the
//! `lua_max_pending_timers` / `lua_max_running_timers` limits.
//!
//! A timer is a task on the worker's event loop holding the function to call (bound to
//! its arguments by the prelude's wrapper); when it fires, the function runs as the entry
//! thread of a run of its own (`sched`), with no request: light threads, sleeps and
//! semaphores work there as in a request. A graceful stop (QUIT, reload) fires every
//! pending timer at once with `premature` true, and the worker waits for the running
//! ones, up to `worker_shutdown_timeout`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use mlua::{Function, Lua, RegistryKey, Table, Value};

use crate::raw::Arg;
use crate::request::{self, Phase};
use crate::runners::Runners;
use crate::sched::Sched;

/// The worker's timers: counts and limits.
pub struct Timers {
    pending: Cell<usize>,
    running: Cell<usize>,
    max_pending: Cell<usize>,
    max_running: Cell<usize>,
}

impl Timers {
    /// The VM's timers (one per VM).
    pub fn of(lua: &Lua) -> Rc<Timers> {
        if let Some(t) = lua.app_data_ref::<Rc<Timers>>() {
            return t.clone();
        }
        let timers = Rc::new(Timers {
            pending: Cell::new(0),
            running: Cell::new(0),
            max_pending: Cell::new(1024),
            max_running: Cell::new(256),
        });
        lua.set_app_data(timers.clone());
        timers
    }

    /// `lua_max_pending_timers`.
    pub fn set_max_pending(&self, n: usize) {
        self.max_pending.set(n);
    }

    /// `lua_max_running_timers`.
    pub fn set_max_running(&self, n: usize) {
        self.max_running.set(n);
    }
}

/// Sleeps `delay`; true when a graceful stop came first (the timer fires prematurely).
async fn until_due(delay: Duration) -> bool {
    if http::worker::shutting_down() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(delay) => http::worker::shutting_down(),
        _ = http::worker::shutdown_wait() => true,
    }
}

/// What a fired timer needs to run its function.
struct Job {
    lua: Lua,
    timers: Rc<Timers>,
    runners: Rc<Runners>,
    func: RegistryKey,
    /// What it carries from where it was made (log context, location).
    context: request::RunContext,
}

impl Job {
    /// Runs the function once, as a run of its own; false when the running limit let it
    /// not run.
    async fn run(&self, premature: bool) {
        let t = &self.timers;
        if t.running.get() >= t.max_running.get() {
            http::elog!(
                http::log::Level::Alert,
                0,
                "lua failed to run timer with function defined at {}: {} lua_max_running_timers are not enough",
                self.defined_at(),
                t.max_running.get()
            );
            return;
        }
        let entry = self
            .lua
            .registry_value::<Function>(&self.func)
            .and_then(|f| self.lua.create_thread(f))
            .and_then(|thread| self.runners.coro(&thread));
        let entry = match entry {
            Ok(c) => c,
            Err(e) => {
                http::elog!(
                    http::log::Level::Error,
                    0,
                    "lua timer failed to start: {e}{}",
                    self.context.log
                );
                return;
            }
        };
        // SAFETY: a new coroutine: its function sits alone on its stack.
        let Some(nargs) = (unsafe { crate::raw::push_args(entry.state(), &[Arg::Bool(premature)]) }) else {
            return;
        };
        t.running.set(t.running.get() + 1);
        let mut sched = Sched::new(
            self.lua.clone(),
            self.runners.clone(),
            Phase::Timer,
            entry,
            nargs,
            false,
        );
        sched.set_context(self.context.clone());
        let _ = sched.run(None).await;
        drop(sched);
        t.running.set(t.running.get() - 1);
    }
}

impl Job {
    /// Where its function was defined, as OpenResty names it (`=content_by_lua(nginx.conf:41):2`).
    fn defined_at(&self) -> String {
        let Ok(f) = self.lua.registry_value::<Function>(&self.func) else {
            return String::new();
        };
        let info = f.info();
        format!(
            "{}:{}",
            info.source.as_deref().unwrap_or("?"),
            info.line_defined.unwrap_or(0)
        )
    }
}

/// `ngx.timer.at` / `every` after the wrapper's checks: 1, or nil and why not.
fn add(lua: &Lua, delay: f64, func: Function, every: bool) -> mlua::Result<(Value, Value)> {
    if request::phase() == Phase::Init {
        return Err(mlua::Error::runtime("API disabled in the context of init_by_lua*"));
    }
    let timers = Timers::of(lua);
    let refuse = |why: &str| Ok((Value::Nil, Value::String(lua.create_string(why)?)));
    if http::worker::shutting_down() && delay > 0.0 {
        return refuse("process exiting");
    }
    if timers.pending.get() >= timers.max_pending.get() {
        return refuse("too many pending timers");
    }
    let job = Rc::new(Job {
        lua: lua.clone(),
        timers: timers.clone(),
        runners: Runners::of(lua),
        func: lua.create_registry_value(func)?,
        context: request::timer_context(),
    });
    // (a negative delay is no delay, as lua-nginx-module takes it)
    let delay = Duration::try_from_secs_f64(delay.max(0.0)).unwrap_or(Duration::MAX);
    timers.pending.set(timers.pending.get() + 1);
    let busy = http::worker::busy();
    tokio::task::spawn_local(async move {
        let _busy = busy;
        let t = job.timers.clone();
        loop {
            let premature = until_due(delay).await;
            if !every || premature {
                t.pending.set(t.pending.get() - 1);
                job.run(premature).await;
                return;
            }
            // `every` is due again `delay` after this firing began, as OpenResty re-arms
            // it before calling: a slow function may overlap its next call
            let job = job.clone();
            let busy = http::worker::busy();
            tokio::task::spawn_local(async move {
                job.run(false).await;
                drop(busy);
            });
        }
    });
    Ok((Value::Integer(1), Value::Nil))
}

pub fn register(lua: &Lua, ngx: &Table, private: &Table) -> mlua::Result<()> {
    private.set(
        "timer_add",
        lua.create_function(|lua, (delay, func, every): (f64, Function, bool)| add(lua, delay, func, every))?,
    )?;
    let timer = lua.create_table()?;
    timer.set(
        "running_count",
        lua.create_function(|lua, ()| Ok(Timers::of(lua).running.get()))?,
    )?;
    timer.set(
        "pending_count",
        lua.create_function(|lua, ()| Ok(Timers::of(lua).pending.get()))?,
    )?;
    ngx.set("timer", timer)
}
