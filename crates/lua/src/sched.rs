//! The coroutines of one Lua run (a request phase handler's, a timer's): the entry
//! thread, the light threads spawned from it (`ngx.thread`), and what each one waits for.
//!
//! The driver resumes every thread that can run, then serves the waits: those that need
//! the request (flush, reading the body) one at a time, since they borrow it; all others
//! (sleeps, and the futures Rust APIs park: sockets, semaphores) polled together, so one
//! thread's wait never holds up another's. A wait belongs to its thread's slot and is
//! dropped with it: a killed thread or an aborted run leaves no timer or socket
//! operation behind, and every coroutine is released from the registry.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::c_int;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::log::Level;
use http::request::Request;
use mlua::{Lua, ffi};

use crate::api::{self, Yield};
use crate::raw::{self, Arg, Coro, Resumed};
use crate::request::{self, Phase};
use crate::runners::Runners;

/// A wait a Rust API parks for the coroutine that yields `OP_AWAIT` next; its output is
/// what that yield returns.
pub type Parked = Pin<Box<dyn Future<Output = Vec<Arg>>>>;

thread_local! {
    static PARKED: RefCell<Option<Parked>> = const { RefCell::new(None) };
}

/// Parks `wait` for the coroutine about to yield `OP_AWAIT` (called by an API function
/// from inside that coroutine's resume).
pub fn park(wait: Parked) {
    PARKED.with(|p| *p.borrow_mut() = Some(wait));
}

fn take_parked() -> Option<Parked> {
    PARKED.with(|p| p.borrow_mut().take())
}

/// How a run ended.
pub enum End {
    /// The entry thread's function returned (and every light thread ended).
    Returned,
    /// `ngx.exit(code)`, from any of its threads.
    Exit(i64),
    /// A Lua error in the entry thread (already logged).
    Error,
    /// `ngx.exec(target)`.
    Exec(String),
}

/// The entry thread's slot.
const ENTRY: usize = 0;
/// The parent of the entry thread, and of a thread whose parent has ended.
const NO_PARENT: usize = usize::MAX;

struct Slot {
    coro: Coro,
    parent: usize,
    state: State,
}

enum State {
    Run(Resume),
    Wait(Wait),
    /// Ended, its results (or its error, on top) on its stack until its parent waits.
    Zombie {
        ok: bool,
    },
}

/// What a thread gets as it resumes.
enum Resume {
    Args(Vec<Arg>),
    /// Its arguments are already on its stack (a new light thread's).
    Pushed(c_int),
    /// `ngx.thread.spawn` returns the new thread.
    Child(usize),
    /// `ngx.thread.wait` returns a child's end: `true, results...` or `false, error`.
    ChildEnded(usize),
    /// The API's wrapper raises this error (a misuse found by the driver).
    Raise(&'static str),
}

enum Wait {
    Sleep(Pin<Box<tokio::time::Sleep>>),
    Parked(Parked),
    /// `ngx.thread.wait` on these children.
    Children(Vec<usize>),
    Request(RequestOp),
    /// A plain `coroutine.yield()` or `ngx.sleep(0)`: runs again once others had a turn.
    NextTick,
}

enum RequestOp {
    Flush,
    ReadBody,
    DiscardBody,
    Capture(Vec<api::SubSpec>),
}

pub struct Sched {
    lua: Lua,
    runners: Rc<Runners>,
    phase: Phase,
    slots: Vec<Option<Slot>>,
    queue: VecDeque<usize>,
    /// The entry thread is a runner of the pool (given back when its function returns).
    entry_is_runner: bool,
    entry_over: bool,
    /// What a request-less run carries from where it was made (a timer's origin).
    context: request::RunContext,
    /// lua_check_client_abort: watch the client connection while the run waits.
    abort_check: bool,
    /// ngx.on_abort's handler, not started yet.
    on_abort: Option<Coro>,
    on_abort_set: bool,
    /// The entry thread's errors read `<this> error: …`, as init_worker_by_lua's do.
    entry_errors_as: Option<String>,
}

thread_local! {
    /// The thread and queue lists of runs that ended, for the next (most requests that
    /// wait make a run: its lists then cost no allocation).
    static SPARE_LISTS: http::spare::Spares<(Vec<Option<Slot>>, VecDeque<usize>)> =
        const { http::spare::Spares::new(16) };
}

/// Lists longer than this (a run of many light threads) are not kept.
const SPARE_LISTS_MAX: usize = 16;

impl Drop for Sched {
    fn drop(&mut self) {
        let (mut slots, mut queue) = (std::mem::take(&mut self.slots), std::mem::take(&mut self.queue));
        // (the threads' coroutines are released here, before the VM handle goes)
        slots.clear();
        queue.clear();
        if slots.capacity() <= SPARE_LISTS_MAX && queue.capacity() <= SPARE_LISTS_MAX {
            let _ = SPARE_LISTS.try_with(|s| s.give((slots, queue)));
        }
    }
}

impl Sched {
    /// A run whose entry thread is `entry`, about to be resumed with `nargs` values
    /// already on its stack.
    pub fn new(
        lua: Lua,
        runners: Rc<Runners>,
        phase: Phase,
        entry: Coro,
        nargs: c_int,
        entry_is_runner: bool,
    ) -> Sched {
        let (slots, queue) = SPARE_LISTS.with(|s| s.take()).unwrap_or_default();
        let mut s = Sched {
            lua,
            runners,
            phase,
            slots,
            queue,
            entry_is_runner,
            entry_over: false,
            context: request::RunContext::default(),
            abort_check: false,
            on_abort: None,
            on_abort_set: false,
            entry_errors_as: None,
        };
        s.slots.push(Some(Slot {
            coro: entry,
            parent: NO_PARENT,
            state: State::Run(Resume::Pushed(nargs)),
        }));
        s.queue.push_back(ENTRY);
        s
    }

    /// Reports the entry thread's error as `<directive> error: <message>`.
    pub fn report_entry_errors_as(&mut self, directive: String) {
        self.entry_errors_as = Some(directive);
    }

    /// lua_check_client_abort for this run.
    pub fn check_client_abort(&mut self, on: bool) {
        self.abort_check = on;
    }

    /// Sets what a request-less run carries from where it was made.
    pub fn set_context(&mut self, context: request::RunContext) {
        self.context = context;
    }

    /// A run whose entry thread already ran to `first` (the handler's fast path resumes
    /// it before any run is built).
    pub fn after_first(
        lua: Lua,
        runners: Rc<Runners>,
        phase: Phase,
        entry: Coro,
        first: Resumed,
        r: Option<&mut Request>,
    ) -> Result<Sched, End> {
        let mut s = Sched::new(lua, runners, phase, entry, 0, true);
        s.queue.clear();
        if let Some(slot) = s.slots[ENTRY].as_mut() {
            slot.state = State::Wait(Wait::NextTick);
        }
        match s.after(ENTRY, first, r) {
            Some(end) => Err(end),
            None => Ok(s),
        }
    }

    /// Drives the run to its end.
    pub async fn run(&mut self, mut r: Option<&mut Request>) -> End {
        loop {
            while let Some(i) = self.queue.pop_front() {
                if let Some(end) = self.step(i, r.as_deref_mut()) {
                    return end;
                }
            }
            if let Some(end) = self.finished() {
                return end;
            }
            // what the threads said so far reaches the client before they wait
            if let Some(r) = r.as_deref_mut() {
                r.flush().await;
            }
            if let Some((i, op)) = self.request_op() {
                if let Some(end) = self.serve(i, op, r.as_deref_mut()).await {
                    return end;
                }
                continue;
            }
            let ticks: Vec<usize> = self.waiting(|w| matches!(w, Wait::NextTick));
            if !ticks.is_empty() {
                tokio::task::yield_now().await;
                for i in ticks {
                    self.ready(i, Resume::Args(Vec::new()));
                }
                std::future::poll_fn(|cx| {
                    let _ = self.poll_waits(cx);
                    Poll::Ready(())
                })
                .await;
                continue;
            }
            let watch = match (&r, self.abort_check) {
                (Some(r), true) => Some(r.io.stream.clone()),
                _ => None,
            };
            match watch {
                None => std::future::poll_fn(|cx| self.poll_waits(cx)).await,
                Some(stream) => {
                    let gone = tokio::select! {
                        _ = std::future::poll_fn(|cx| self.poll_waits(cx)) => false,
                        _ = stream.closed_by_peer() => true,
                    };
                    if gone && let Some(end) = self.client_aborted(r.as_deref()) {
                        return end;
                    }
                }
            }
        }
    }

    /// The client closed its connection while the run waited: its on_abort handler
    /// starts as a light thread, else the run ends with 499, as lua-nginx-module's.
    fn client_aborted(&mut self, r: Option<&Request>) -> Option<End> {
        self.abort_check = false;
        self.log(r, Level::Info, "client prematurely closed connection");
        match self.on_abort.take() {
            Some(coro) => {
                let c = self.add(Slot {
                    coro,
                    parent: NO_PARENT,
                    state: State::Run(Resume::Pushed(0)),
                });
                self.queue.push_back(c);
                None
            }
            None => Some(End::Exit(499)),
        }
    }

    /// Resumes thread `i`; `Some` when that ended the run.
    fn step(&mut self, i: usize, r: Option<&mut Request>) -> Option<End> {
        let slot = self.slots.get_mut(i)?.as_mut()?;
        let State::Run(resume) = std::mem::replace(&mut slot.state, State::Wait(Wait::NextTick)) else {
            return None;
        };
        let l = slot.coro.state();
        // SAFETY: `l` is a live suspended coroutine of this run (anchored by its slot).
        let nargs = match unsafe { self.push_resume(l, resume) } {
            Some(n) => n,
            None => {
                self.log(r.as_deref(), Level::Error, "lua thread aborted: stack overflow");
                return if i == ENTRY {
                    Some(End::Error)
                } else {
                    self.ended(i, false)
                };
            }
        };
        let phase = self.phase;
        // SAFETY: resumed from the driver, outside the coroutine.
        let out = match r {
            Some(r) => request::enter(r, phase, || unsafe { raw::resume(l, nargs) }),
            None => request::in_run(phase, &self.context.clone(), || unsafe { raw::resume(l, nargs) }),
        };
        self.after(i, out, None)
    }

    /// Pushes what a thread resumes with; how many values.
    ///
    /// # Safety
    /// `l` is the live suspended coroutine the resume is for.
    unsafe fn push_resume(&mut self, l: *mut ffi::lua_State, resume: Resume) -> Option<c_int> {
        // SAFETY: the caller's contract; room is checked before every push.
        unsafe {
            match resume {
                Resume::Args(args) => raw::push_args(l, &args),
                Resume::Pushed(n) => Some(n),
                Resume::Child(c) => {
                    let child = self.slots.get(c)?.as_ref()?;
                    if ffi::lua_checkstack(l, 1) == 0 {
                        return None;
                    }
                    child.coro.push_onto(l);
                    Some(1)
                }
                Resume::ChildEnded(c) => {
                    let child = self.slots.get_mut(c)?.take()?;
                    let ok = matches!(child.state, State::Zombie { ok: true });
                    let cl = child.coro.state();
                    // the child (for the wrapper to mark as reaped), then `ok` and the
                    // child's whole stack: its results, or (as lua-nginx-module hands
                    // it over) what a failed thread's last frame held, its error on top
                    let n = ffi::lua_gettop(cl);
                    if ffi::lua_checkstack(l, n + 2) == 0 {
                        return None;
                    }
                    child.coro.push_onto(l);
                    ffi::lua_pushboolean(l, ok as c_int);
                    ffi::lua_xmove(cl, l, n);
                    Some(n + 2)
                }
                Resume::Raise(msg) => {
                    if ffi::lua_checkstack(l, 2) == 0 {
                        return None;
                    }
                    ffi::lua_pushlightuserdata(l, api::yield_tag_ptr());
                    ffi::lua_pushlstring(l, msg.as_ptr().cast(), msg.len());
                    Some(2)
                }
            }
        }
    }

    /// Acts on what thread `i`'s resume came to (`r`: the request, to log with, when
    /// the caller still holds it).
    fn after(&mut self, i: usize, out: Resumed, r: Option<&mut Request>) -> Option<End> {
        let l = self.slots[i].as_ref()?.coro.state();
        let op = match out {
            Resumed::Yielded(op) => op,
            Resumed::Ended => return self.ended(i, true),
            Resumed::Failed(msg) => {
                let msg = msg.unwrap_or_else(|| {
                    // SAFETY: the dead coroutine's error value is on top of its stack.
                    unsafe { raw::stash_error(l) };
                    error_value_text(&self.lua)
                });
                let msg = crate::handler::without_prelude_position(&msg);
                let line = match &self.entry_errors_as {
                    Some(directive) if i == ENTRY => format!("{directive} error: {msg}"),
                    // log_by_lua's and balancer_by_lua's code is not a thread in
                    // OpenResty: its error reads as a filter's
                    _ if i == ENTRY && matches!(self.phase, Phase::Log | Phase::Balancer) => {
                        let trace = self.traceback(i).replacen("coroutine 0:\n", "", 1);
                        format!("failed to run {}_by_lua*: {msg}{trace}", self.phase.name())
                    }
                    _ => {
                        let trace = self.traceback(i);
                        let who = if i == ENTRY { "entry" } else { "user" };
                        format!("lua {who} thread aborted: runtime error: {msg}{trace}")
                    }
                };
                self.log(r.as_deref(), Level::Error, &line);
                if i == ENTRY {
                    return Some(End::Error);
                }
                return self.ended(i, false);
            }
        };
        let wait = match op {
            Some(Yield::OnAbort) => return self.set_on_abort(i),
            Some(Yield::Spawn) => return self.spawn(i),
            Some(Yield::Wait) => return self.wait(i),
            Some(Yield::Kill) => return self.kill(i),
            Some(Yield::Exit(code)) => return Some(End::Exit(code)),
            Some(Yield::Exec(target)) => return Some(End::Exec(target)),
            Some(Yield::Done) => {
                // SAFETY: suspended at its yield.
                unsafe { raw::clear(l) };
                return self.entry_done();
            }
            None => Wait::NextTick,
            Some(Yield::Sleep(secs)) if secs > 0.0 => Wait::Sleep(Box::pin(tokio::time::sleep(
                Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX),
            ))),
            Some(Yield::Sleep(_)) => Wait::NextTick,
            Some(Yield::Flush) => Wait::Request(RequestOp::Flush),
            Some(Yield::ReadBody) => Wait::Request(RequestOp::ReadBody),
            Some(Yield::DiscardBody) => Wait::Request(RequestOp::DiscardBody),
            Some(Yield::Capture(specs)) => Wait::Request(RequestOp::Capture(specs)),
            Some(Yield::Await) => match take_parked() {
                Some(f) => Wait::Parked(f),
                None => Wait::NextTick,
            },
        };
        // SAFETY: suspended at its yield; what it yielded has been read.
        unsafe { raw::clear(l) };
        if let Some(slot) = self.slots[i].as_mut() {
            slot.state = State::Wait(wait);
        }
        None
    }

    /// `ngx.thread.spawn` from thread `i`: its stack holds TAG, op, the new coroutine and
    /// the arguments. The child runs first, up to its first wait; then the parent, with
    /// the child as spawn's result.
    fn spawn(&mut self, i: usize) -> Option<End> {
        let l = self.slots[i].as_ref()?.coro.state();
        // SAFETY: `l` is suspended with what it yielded on its stack; index 3 exists (the
        // yield was read as a spawn only with it).
        let child = unsafe {
            let top = ffi::lua_gettop(l);
            match self.runners.anchor().anchor_at(l, 3) {
                Some(c) if ffi::lua_checkstack(c.state(), top - 3 + 1) != 0 => {
                    ffi::lua_xmove(l, c.state(), top - 3);
                    Some((c, top - 3))
                }
                _ => None,
            }
        };
        // SAFETY: as above.
        unsafe { raw::clear(l) };
        let Some((coro, nargs)) = child else {
            self.ready(i, Resume::Raise("failed to spawn the thread: out of memory"));
            return None;
        };
        let c = self.add(Slot {
            coro,
            parent: i,
            state: State::Run(Resume::Pushed(nargs)),
        });
        self.ready(i, Resume::Child(c));
        // (the child first: both at the front, the child ahead)
        self.queue.retain(|&q| q != i && q != c);
        self.queue.push_front(i);
        self.queue.push_front(c);
        None
    }

    /// `ngx.on_abort(f)` from thread `i`: its stack holds TAG, op and f's coroutine.
    fn set_on_abort(&mut self, i: usize) -> Option<End> {
        let l = self.slots[i].as_ref()?.coro.state();
        let answer = if self.on_abort_set {
            Resume::Args(vec![Arg::Nil, Arg::Text("duplicate call")])
        } else {
            // SAFETY: suspended with what it yielded; index 3 exists (read as OnAbort).
            match unsafe { self.runners.anchor().anchor_at(l, 3) } {
                Some(c) => {
                    self.on_abort = Some(c);
                    self.on_abort_set = true;
                    Resume::Args(vec![Arg::Int(1)])
                }
                None => Resume::Raise("out of memory"),
            }
        };
        // SAFETY: as above; read.
        unsafe { raw::clear(l) };
        self.ready_now(i, answer);
        None
    }

    /// The slot of the light thread at index `idx` of `l`'s stack, if it is one of ours.
    fn thread_at(&self, l: *mut ffi::lua_State, idx: c_int) -> Option<usize> {
        // SAFETY: `l` is suspended; `idx` is within what it yielded.
        let co = unsafe { ffi::lua_tothread(l, idx) };
        if co.is_null() {
            return None;
        }
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.coro.state() == co))
            .filter(|&j| j != ENTRY)
    }

    /// `ngx.thread.wait` from thread `i` on the threads its stack holds after TAG, op.
    fn wait(&mut self, i: usize) -> Option<End> {
        let l = self.slots[i].as_ref()?.coro.state();
        // SAFETY: suspended with what it yielded on its stack.
        let top = unsafe { ffi::lua_gettop(l) };
        let mut children = Vec::new();
        let mut refusal = None;
        for idx in 3..=top {
            match self.thread_at(l, idx) {
                None => refusal = Some("attempt to wait on a coroutine that is not a user thread"),
                Some(j) if self.slots[j].as_ref().map(|s| s.parent) != Some(i) => {
                    refusal = Some("only the parent coroutine can wait on the thread")
                }
                Some(j) => children.push(j),
            }
            if refusal.is_some() {
                break;
            }
        }
        // SAFETY: as above; read.
        unsafe { raw::clear(l) };
        if let Some(msg) = refusal {
            self.ready_now(i, Resume::Raise(msg));
            return None;
        }
        let zombie = children
            .iter()
            .copied()
            .find(|&j| matches!(self.slots[j].as_ref().map(|s| &s.state), Some(State::Zombie { .. })));
        match zombie {
            Some(j) => self.ready_now(i, Resume::ChildEnded(j)),
            None if children.is_empty() => self.ready_now(i, Resume::Args(Vec::new())),
            None => {
                if let Some(slot) = self.slots[i].as_mut() {
                    slot.state = State::Wait(Wait::Children(children));
                }
            }
        }
        None
    }

    /// `ngx.thread.kill` from thread `i`: 1, or nil and why not (lua-nginx-module's
    /// answers).
    fn kill(&mut self, i: usize) -> Option<End> {
        let l = self.slots[i].as_ref()?.coro.state();
        let target = self.thread_at(l, 3);
        // SAFETY: suspended with what it yielded; read.
        unsafe { raw::clear(l) };
        let refuse = |why| Resume::Args(vec![Arg::Nil, Arg::Text(why)]);
        let answer = match target {
            None => refuse("not user thread"),
            Some(j) if self.slots[j].as_ref().map(|s| s.parent) != Some(i) => refuse("killer not parent"),
            Some(j) => {
                let zombie = matches!(self.slots[j].as_ref().map(|s| &s.state), Some(State::Zombie { .. }));
                self.release(j);
                if zombie {
                    refuse("already terminated")
                } else {
                    Resume::Args(vec![Arg::Int(1)])
                }
            }
        };
        self.ready_now(i, answer);
        None
    }

    /// Thread `i` ended (`ok`: returned, else failed). Its children are orphaned (its
    /// zombies go); a waiting parent gets its end, else it waits as a zombie for one.
    fn ended(&mut self, i: usize, ok: bool) -> Option<End> {
        self.orphan_children_of(i);
        if i == ENTRY {
            self.slots[ENTRY] = None;
            self.entry_over = true;
            return self.finished();
        }
        let parent = self.slots[i].as_ref()?.parent;
        let parent_waits = matches!(
            self.slots.get(parent).and_then(|s| s.as_ref()).map(|s| &s.state),
            Some(State::Wait(Wait::Children(list))) if list.contains(&i)
        );
        if parent == NO_PARENT {
            self.slots[i] = None;
        } else if let Some(slot) = self.slots[i].as_mut() {
            slot.state = State::Zombie { ok };
        }
        if parent_waits {
            self.ready(parent, Resume::ChildEnded(i));
        }
        self.finished()
    }

    /// The entry thread's function returned (its runner is back at its idle point).
    fn entry_done(&mut self) -> Option<End> {
        self.orphan_children_of(ENTRY);
        if let Some(slot) = self.slots[ENTRY].take()
            && self.entry_is_runner
        {
            self.runners.give_back(slot.coro);
        }
        self.entry_over = true;
        self.finished()
    }

    fn orphan_children_of(&mut self, i: usize) {
        for j in 0..self.slots.len() {
            let Some(slot) = self.slots[j].as_mut() else { continue };
            if slot.parent != i {
                continue;
            }
            if matches!(slot.state, State::Zombie { .. }) {
                self.slots[j] = None;
            } else {
                slot.parent = NO_PARENT;
            }
        }
    }

    /// Kills thread `j`: its wait is dropped, its children orphaned.
    fn release(&mut self, j: usize) {
        self.orphan_children_of(j);
        self.slots[j] = None;
        self.queue.retain(|&q| q != j);
    }

    /// The run's end once the entry thread is over and no light thread is left.
    fn finished(&self) -> Option<End> {
        (self.entry_over && self.slots.iter().all(Option::is_none)).then_some(End::Returned)
    }

    fn add(&mut self, slot: Slot) -> usize {
        match self.slots.iter().position(Option::is_none).filter(|&j| j != ENTRY) {
            Some(j) => {
                self.slots[j] = Some(slot);
                j
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        }
    }

    /// Makes thread `i` runnable after the others queued.
    fn ready(&mut self, i: usize, resume: Resume) {
        if let Some(slot) = self.slots[i].as_mut() {
            slot.state = State::Run(resume);
            self.queue.push_back(i);
        }
    }

    /// Makes thread `i` run next (an API that answers at once).
    fn ready_now(&mut self, i: usize, resume: Resume) {
        if let Some(slot) = self.slots[i].as_mut() {
            slot.state = State::Run(resume);
            self.queue.push_front(i);
        }
    }

    fn waiting(&self, pick: impl Fn(&Wait) -> bool) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&j| matches!(self.slots[j].as_ref().map(|s| &s.state), Some(State::Wait(w)) if pick(w)))
            .collect()
    }

    /// A thread waiting for the request, and what it asks (taken: it is served now).
    fn request_op(&mut self) -> Option<(usize, RequestOp)> {
        let j = self
            .slots
            .iter()
            .position(|s| matches!(s.as_ref().map(|s| &s.state), Some(State::Wait(Wait::Request(_)))))?;
        let slot = self.slots[j].as_mut()?;
        match std::mem::replace(&mut slot.state, State::Wait(Wait::NextTick)) {
            State::Wait(Wait::Request(op)) => Some((j, op)),
            other => {
                slot.state = other;
                None
            }
        }
    }

    /// Serves a wait that needs the request.
    async fn serve(&mut self, i: usize, op: RequestOp, r: Option<&mut Request>) -> Option<End> {
        let Some(r) = r else {
            self.ready(i, Resume::Args(Vec::new()));
            return None;
        };
        match op {
            RequestOp::Flush => {
                r.flush_filters();
                r.flush().await
            }
            RequestOp::ReadBody => {
                if let Err(code) = r.read_body().await {
                    return Some(End::Exit(code.into()));
                }
            }
            // as OpenResty's: it returns at once; the body goes after the response
            RequestOp::DiscardBody => match r.discard_later() {
                Ok(()) => r.discard_pending = true,
                Err(code) => return Some(End::Exit(code.into())),
            },
            RequestOp::Capture(specs) => {
                // every subrequest made first, then all run at once (capture_multi's
                // requests go together, as OpenResty's)
                let mut subs = Vec::with_capacity(specs.len());
                let mut shared = Vec::with_capacity(specs.len());
                for spec in specs {
                    // the main request's body goes along when asked, or for PUT and POST
                    let body = spec.body.or_else(|| {
                        let forward = spec.always_forward_body || matches!(spec.method.as_str(), "PUT" | "POST");
                        match &r.body {
                            http::request::Body::Memory(b) if forward => Some(b.clone()),
                            _ => None,
                        }
                    });
                    let mut sub = r.subrequest(&spec.method, &spec.uri, &spec.args, body);
                    if spec.copy_all_vars || spec.share_all_vars {
                        sub.vars = r.vars.clone();
                    }
                    for (k, v) in spec.vars {
                        sub.vars.insert(k.to_ascii_lowercase(), v);
                    }
                    if let Some(slot) = spec.ctx_slot {
                        sub.set_ctx(crate::api::CtxRef(slot));
                    }
                    shared.push(spec.share_all_vars);
                    subs.push(sub);
                }
                run_all(&mut subs).await;
                let mut answer = Vec::new();
                for (sub, share) in subs.iter_mut().zip(shared) {
                    if share {
                        // (shared as nginx shares them: what the subrequest set, the main
                        // request sees; here copied back when it ends)
                        r.vars = std::mem::take(&mut sub.vars);
                    }
                    answer.extend(captured(sub));
                }
                self.ready(i, Resume::Args(answer));
                return None;
            }
        }
        self.ready(i, Resume::Args(Vec::new()));
        None
    }

    /// Polls every sleep and parked wait; Ready once some thread can run.
    fn poll_waits(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut woke = false;
        for j in 0..self.slots.len() {
            let Some(slot) = self.slots[j].as_mut() else { continue };
            let done = match &mut slot.state {
                State::Wait(Wait::Sleep(s)) => s.as_mut().poll(cx).map(|()| Vec::new()),
                State::Wait(Wait::Parked(f)) => f.as_mut().poll(cx),
                _ => continue,
            };
            if let Poll::Ready(args) = done {
                self.ready(j, Resume::Args(args));
                woke = true;
            }
        }
        if woke { Poll::Ready(()) } else { Poll::Pending }
    }

    /// The stack of thread `i` where it failed, as OpenResty logs it after the message.
    fn traceback(&self, i: usize) -> String {
        match self.slots[i].as_ref() {
            Some(slot) => crate::handler::traceback(&self.lua, slot.coro.key()),
            None => String::new(),
        }
    }

    fn log(&self, r: Option<&Request>, level: Level, msg: &str) {
        match r {
            Some(r) => r.log(level, msg),
            None => http::elog!(level, 0, "{msg}{}", self.context.log),
        }
    }
}

/// Runs subrequests together, to their ends.
async fn run_all(subs: &mut [Request]) {
    // (boxed: a subrequest runs the whole engine, and may make subrequests of its own)
    let mut runs: Vec<Option<Pin<Box<dyn Future<Output = ()> + '_>>>> = subs
        .iter_mut()
        .map(|s| Some(Box::pin(http::engine::run(s)) as Pin<Box<dyn Future<Output = ()>>>))
        .collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for run in runs.iter_mut() {
            if let Some(f) = run {
                if f.as_mut().poll(cx).is_ready() {
                    *run = None;
                } else {
                    pending = true;
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
}

/// What a subrequest came to, as the capture wrapper reads it: status, body, truncated,
/// the number of headers, then each name and value.
fn captured(sub: &mut Request) -> Vec<Arg> {
    let body = sub.capture.take().unwrap_or_default();
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(ct) = &sub.content_type {
        headers.push(("Content-Type".into(), ct.to_string()));
    }
    if let Some(n) = sub.content_length {
        headers.push(("Content-Length".into(), n.to_string()));
    }
    headers.extend(sub.headers_out.list.iter().cloned());
    let mut out = vec![
        Arg::Int(i64::from(sub.status)),
        Arg::Str(body),
        Arg::Bool(sub.write_failed),
        Arg::Int(headers.len() as i64),
    ];
    for (n, v) in headers {
        out.push(Arg::Str(n.into_bytes()));
        out.push(Arg::Str(v.into_bytes()));
    }
    out
}

/// The text of an error value that is not a string (stashed by `raw::stash_error`): an
/// error raised by one of our Rust functions reads as its message (OpenResty's C
/// functions raise strings), a number as Lua writes it, anything else as OpenResty
/// reports it: "unknown reason".
pub fn error_value_text(lua: &Lua) -> String {
    let slot = raw::ERROR_SLOT.to_str().unwrap_or_default();
    let value = lua.named_registry_value::<mlua::Value>(slot);
    let _ = lua.unset_named_registry_value(slot);
    match value {
        Ok(mlua::Value::Error(e)) => crate::handler::error_text(&e),
        Ok(v @ (mlua::Value::Integer(_) | mlua::Value::Number(_))) => match lua.coerce_string(v) {
            Ok(Some(s)) => s.to_string_lossy(),
            _ => "unknown reason".into(),
        },
        Ok(_) => "unknown reason".into(),
        Err(e) => crate::handler::error_text(&e),
    }
}
