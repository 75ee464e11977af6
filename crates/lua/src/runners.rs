//! The worker's pool of entry threads (runner coroutines) and the table of request
//! functions they take by number.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use mlua::{Function, Lua, Thread};

use crate::api;
use crate::raw::{self, Anchor, Coro};

/// The worker's idle entry threads: runner coroutines waiting at their idle point for
/// the next request's function (at most `keep` of them), each anchored in the registry.
pub struct Runners {
    idle: RefCell<Vec<Coro>>,
    /// Where coroutines are anchored in the registry (see `raw::Anchor`).
    anchor: Rc<Anchor>,
    keep: Cell<usize>,
    /// `__oxr.jobs`: request functions by number, where runners take them.
    jobs: OnceCell<mlua::Table>,
    next_job: Cell<i64>,
}

impl Runners {
    /// How many idle runners a worker keeps unless `lua_thread_cache_max_entries` says.
    const KEEP: usize = 256;
    /// The most it keeps whatever it says: idle runners are live mlua handles, which
    /// share one LuaJIT stack of about 8,000 slots with the rest of the worker.
    const KEEP_MAX: usize = 4096;
    /// The slot of a function made for one request (a file path with variables, the code
    /// cache off): overwritten by the next.
    pub const SPARE_JOB: i64 = 0;

    /// The VM's pool (one per VM, shared by all its handlers).
    pub fn of(lua: &Lua) -> Rc<Runners> {
        if let Some(r) = lua.app_data_ref::<Rc<Runners>>() {
            return r.clone();
        }
        let anchor = Anchor::new(lua).expect("a VM makes coroutines");
        let runners = Rc::new(Runners {
            idle: RefCell::new(Vec::new()),
            anchor,
            keep: Cell::new(Self::KEEP),
            jobs: OnceCell::new(),
            next_job: Cell::new(Self::SPARE_JOB + 1),
        });
        lua.set_app_data(runners.clone());
        runners
    }

    /// An idle runner, made on demand.
    pub fn take(&self, lua: &Lua) -> mlua::Result<Coro> {
        if let Some(t) = self.idle.borrow_mut().pop() {
            return Ok(t);
        }
        let runner: Function = lua.globals().get::<mlua::Table>("__oxr")?.get("runner")?;
        let t = self.coro(&lua.create_thread(runner)?)?;
        // run it to its first idle point
        // SAFETY: a new coroutine, resumed from outside.
        match unsafe { raw::resume(t.state(), 0) } {
            raw::Resumed::Yielded(Some(api::Yield::Done)) => {
                // SAFETY: suspended at its yield.
                unsafe { raw::clear(t.state()) };
                Ok(t)
            }
            _ => Err(mlua::Error::runtime("a runner did not start")),
        }
    }

    /// Anchors a coroutine made through mlua (the mlua handle may then go).
    pub fn coro(&self, t: &Thread) -> mlua::Result<Coro> {
        // SAFETY: a coroutine of this VM.
        unsafe { self.anchor.anchor(t.state()) }.ok_or_else(|| mlua::Error::runtime("stack overflow"))
    }

    pub fn anchor(&self) -> &Rc<Anchor> {
        &self.anchor
    }

    fn jobs(&self, lua: &Lua) -> mlua::Result<&mlua::Table> {
        if let Some(t) = self.jobs.get() {
            return Ok(t);
        }
        let t = lua.globals().get::<mlua::Table>("__oxr")?.get::<mlua::Table>("jobs")?;
        Ok(self.jobs.get_or_init(|| t))
    }

    /// Numbers a function compiled once; runners find it under that number.
    pub fn add_job(&self, lua: &Lua, func: Function) -> mlua::Result<i64> {
        let id = self.next_job.get();
        self.jobs(lua)?.raw_set(id, func)?;
        self.next_job.set(id + 1);
        Ok(id)
    }

    pub fn set_spare_job(&self, lua: &Lua, func: Function) -> mlua::Result<()> {
        self.jobs(lua)?.raw_set(Self::SPARE_JOB, func)
    }

    /// `lua_thread_cache_max_entries`.
    pub fn set_keep(&self, n: u64) {
        self.keep
            .set(usize::try_from(n).unwrap_or(usize::MAX).min(Self::KEEP_MAX));
    }

    pub fn give_back(&self, thread: Coro) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < self.keep.get() {
            idle.push(thread);
        }
    }
}
