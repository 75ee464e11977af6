//! `ngx.timer`: `at`, `every`, `running_count`, `pending_count`, and the
//! `lua_max_pending_timers` / `lua_max_running_timers` limits.
//!
//! Pending timers wait in one queue per worker (a heap by deadline, a few dozen bytes
//! each beside the function), served by one task; when one is due, its function (bound
//! to its arguments by the prelude's wrapper) runs as the entry thread of a run of its
//! own (`sched`), with no request: light threads, sleeps and semaphores work there as in
//! a request. A graceful stop (QUIT, reload) fires every pending timer at once with
//! `premature` true, and the worker waits for the running ones, up to
//! `worker_shutdown_timeout`.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::Duration;

use tokio::time::Instant;

use mlua::{Function, Lua, RegistryKey, Table, Value};

use crate::raw::Arg;
use crate::request::{self, Phase};
use crate::runners::Runners;
use crate::sched::Sched;

/// The worker's timers: counts, limits, and the queue of pending ones.
pub struct Timers {
    pending: Cell<usize>,
    running: Cell<usize>,
    max_pending: Cell<usize>,
    max_running: Cell<usize>,
    queue: RefCell<BinaryHeap<Reverse<Due>>>,
    next_seq: Cell<u64>,
    /// Wakes the queue's task: a timer due sooner than it sleeps for was added.
    changed: Rc<tokio::sync::Notify>,
    serving: Cell<bool>,
}

/// A pending timer in the queue, ordered by deadline, then by when it was made.
struct Due {
    at: Instant,
    seq: u64,
    job: Rc<Job>,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
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
            queue: RefCell::new(BinaryHeap::new()),
            next_seq: Cell::new(0),
            changed: Rc::new(tokio::sync::Notify::new()),
            serving: Cell::new(false),
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

/// What a fired timer needs to run its function.
struct Job {
    lua: Lua,
    timers: Rc<Timers>,
    runners: Rc<Runners>,
    func: RegistryKey,
    /// `ngx.timer.every`'s interval.
    every: Option<Duration>,
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
    // (a negative delay is no delay, as lua-nginx-module takes it)
    let delay = Duration::try_from_secs_f64(delay.max(0.0)).unwrap_or(Duration::from_secs(u32::MAX as u64));
    let job = Rc::new(Job {
        lua: lua.clone(),
        timers: timers.clone(),
        runners: Runners::of(lua),
        func: lua.create_registry_value(func)?,
        every: every.then_some(delay),
        context: request::timer_context(),
    });
    timers.pending.set(timers.pending.get() + 1);
    timers.push(Instant::now() + delay, job);
    Ok((Value::Integer(1), Value::Nil))
}

impl Timers {
    /// Queues a timer; starts the queue's task if it does not run, wakes it otherwise.
    fn push(self: &Rc<Self>, at: Instant, job: Rc<Job>) {
        let seq = self.next_seq.get();
        self.next_seq.set(seq + 1);
        let sooner = self.queue.borrow().peek().is_none_or(|Reverse(d)| at < d.at);
        self.queue.borrow_mut().push(Reverse(Due { at, seq, job }));
        if !self.serving.get() {
            self.serving.set(true);
            tokio::task::spawn_local(serve(self.clone()));
        } else if sooner {
            self.changed.notify_one();
        }
    }
}

/// The queue's task: sleeps until the next deadline, fires what is due; on a graceful
/// stop fires everything at once, prematurely. While timers are pending it holds the
/// worker's busy guard, so a stopping worker waits for it.
async fn serve(timers: Rc<Timers>) {
    let _busy = http::worker::busy();
    let changed = timers.changed.clone();
    loop {
        let next = timers.queue.borrow().peek().map(|Reverse(d)| d.at);
        let Some(next) = next else { break };
        let stopping = http::worker::shutting_down()
            || tokio::select! {
                _ = tokio::time::sleep_until(next) => false,
                _ = changed.notified() => continue,
                _ = http::worker::shutdown_wait() => true,
            };
        let now = Instant::now();
        loop {
            let due = {
                let mut q = timers.queue.borrow_mut();
                match q.peek() {
                    Some(Reverse(d)) if stopping || d.at <= now => q.pop().map(|Reverse(d)| d),
                    _ => None,
                }
            };
            let Some(due) = due else { break };
            fire(&timers, due.job, stopping);
        }
    }
    timers.serving.set(false);
}

/// Runs a due timer's function in a task of its own; re-queues an `every` timer first,
/// as OpenResty re-arms it before calling (a slow function may overlap its next call).
fn fire(timers: &Rc<Timers>, job: Rc<Job>, premature: bool) {
    match job.every {
        Some(interval) if !premature => timers.push(Instant::now() + interval, job.clone()),
        _ => timers.pending.set(timers.pending.get() - 1),
    }
    let busy = http::worker::busy();
    tokio::task::spawn_local(async move {
        // (boxed: the run's state is big, and only running timers need it)
        Box::pin(job.run(premature)).await;
        drop(busy);
    });
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
