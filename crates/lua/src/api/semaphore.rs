//! `ngx.semaphore`: counting semaphores shared by the requests, light threads and timers
//! of one worker (lualib/semaphore.lua is the module; these are its primitives).
//!
//! As lua-nginx-module's: a waiter is served in arrival order, a resource posted while
//! others wait goes to the longest waiting, and `count` is the resources less the
//! waiters. A wait dropped before it returns (its thread killed, its request aborted)
//! leaves the queue, and gives back a resource it had been handed.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mlua::{AnyUserData, Lua, Table, UserData};

use crate::raw::Arg;
use crate::request;

#[derive(Default)]
struct State {
    resources: i64,
    queue: VecDeque<Rc<Waiter>>,
}

#[derive(Default)]
struct Waiter {
    granted: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// The semaphore behind a Lua `semaphore.new()` object.
#[derive(Clone, Default)]
struct Semaphore(Rc<RefCell<State>>);

impl UserData for Semaphore {}

impl Semaphore {
    fn post(&self, n: i64) {
        let mut st = self.0.borrow_mut();
        st.resources = st.resources.saturating_add(n);
        Self::hand_out(&mut st);
    }

    /// Gives resources to the waiters, longest waiting first.
    fn hand_out(st: &mut State) {
        while st.resources > 0 {
            let Some(w) = st.queue.pop_front() else { break };
            st.resources -= 1;
            w.granted.set(true);
            if let Some(k) = w.waker.borrow_mut().take() {
                k.wake();
            }
        }
    }

    fn count(&self) -> i64 {
        let st = self.0.borrow();
        st.resources - st.queue.len() as i64
    }
}

/// A thread's wait for a resource, up to a deadline.
struct SemWait {
    sem: Semaphore,
    waiter: Rc<Waiter>,
    timer: Pin<Box<tokio::time::Sleep>>,
    returned: bool,
}

impl Future for SemWait {
    type Output = Vec<Arg>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<Arg>> {
        if self.waiter.granted.get() {
            self.returned = true;
            return Poll::Ready(vec![Arg::Bool(true), Arg::Nil]);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.returned = true;
            self.leave();
            return Poll::Ready(vec![Arg::Bool(false), Arg::Text("timeout")]);
        }
        *self.waiter.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl SemWait {
    fn leave(&self) {
        let mut st = self.sem.0.borrow_mut();
        st.queue.retain(|w| !Rc::ptr_eq(w, &self.waiter));
    }
}

impl Drop for SemWait {
    fn drop(&mut self) {
        if self.returned {
            return;
        }
        if self.waiter.granted.get() {
            // handed a resource it will never use: the next waiter gets it
            self.sem.post(1);
        } else {
            self.leave();
        }
    }
}

pub fn register(lua: &Lua, private: &Table) -> mlua::Result<()> {
    private.set(
        "sema_new",
        lua.create_function(|_, n: f64| {
            let sem = Semaphore::default();
            sem.0.borrow_mut().resources = n as i64;
            Ok(sem)
        })?,
    )?;
    private.set(
        "sema_post",
        lua.create_function(|_, (sem, n): (AnyUserData, f64)| {
            sem.borrow::<Semaphore>()?.post(n as i64);
            Ok(())
        })?,
    )?;
    private.set(
        "sema_count",
        lua.create_function(|_, sem: AnyUserData| Ok(sem.borrow::<Semaphore>()?.count()))?,
    )?;
    // 1: taken at once; 0: none free and no time to wait; 2: a wait is parked for the
    // wrapper's OP_AWAIT; -1 and why, where no wait can be (the phase cannot yield)
    private.set(
        "sema_wait",
        lua.create_function(|_, (sem, ms): (AnyUserData, f64)| {
            let sem = sem.borrow::<Semaphore>()?.clone();
            {
                let mut st = sem.0.borrow_mut();
                if st.queue.is_empty() && st.resources > 0 {
                    st.resources -= 1;
                    return Ok((1, None));
                }
            }
            if ms <= 0.0 {
                return Ok((0, None));
            }
            if let Err(e) = request::check_context(request::YIELD_PHASES) {
                return Ok((-1, Some(crate::handler::error_text(&e))));
            }
            let waiter = Rc::new(Waiter::default());
            sem.0.borrow_mut().queue.push_back(waiter.clone());
            let timer = Box::pin(tokio::time::sleep(Duration::from_millis(ms as u64)));
            crate::sched::park(Box::pin(SemWait {
                sem,
                waiter,
                timer,
                returned: false,
            }));
            Ok((2, None))
        })?,
    )?;
    Ok(())
}
