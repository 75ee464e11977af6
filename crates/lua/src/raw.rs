//! Coroutines through the Lua C API: anchoring them in the registry, pushing resume
//! values, resuming and reading our tagged yields in place. The resume is the hottest
//! call of every Lua request; mlua's `Thread::resume` moves arguments and results through
//! the main state and builds a value for each, where this pushes what it has and reads
//! the yield where it lies.

use std::ffi::c_int;
use std::rc::Rc;

use mlua::ffi;

use crate::api::{self, Yield};

/// A coroutine of the VM that is never resumed: coroutines are anchored in the registry
/// and released on its stack (a coroutine's own stack may be dead of an error). It knows
/// whether the VM still lives: a `Coro` dropped after the VM closed (held in app data,
/// which mlua drops after `lua_close`) has nothing left to release.
pub struct Anchor {
    state: *mut ffi::lua_State,
    vm: mlua::WeakLua,
    _thread: mlua::Thread,
}

impl Anchor {
    pub fn new(lua: &mlua::Lua) -> mlua::Result<Rc<Anchor>> {
        let thread = lua.create_thread(lua.create_function(|_, ()| Ok(()))?)?;
        Ok(Rc::new(Anchor {
            state: thread.state(),
            vm: lua.weak(),
            _thread: thread,
        }))
    }

    /// Anchors coroutine `l` (of this VM).
    ///
    /// # Safety
    /// `l` is a live coroutine of this anchor's VM.
    pub unsafe fn anchor(self: &Rc<Self>, l: *mut ffi::lua_State) -> Option<Coro> {
        // SAFETY: the caller's contract; room checked on each stack before the pushes.
        unsafe {
            if ffi::lua_checkstack(self.state, 2) == 0 || ffi::lua_checkstack(l, 1) == 0 {
                return None;
            }
            ffi::lua_pushthread(l);
            ffi::lua_xmove(l, self.state, 1);
            let key = ffi::luaL_ref(self.state, ffi::LUA_REGISTRYINDEX);
            Some(Coro {
                l,
                anchor: self.clone(),
                key,
            })
        }
    }

    /// Anchors the coroutine at index `idx` of `from`'s stack; None if it is not one.
    ///
    /// # Safety
    /// `from` is a live coroutine of this VM, not running, and `idx` a valid index of it.
    pub unsafe fn anchor_at(self: &Rc<Self>, from: *mut ffi::lua_State, idx: c_int) -> Option<Coro> {
        // SAFETY: the caller's contract.
        unsafe {
            let l = ffi::lua_tothread(from, idx);
            if l.is_null() {
                return None;
            }
            self.anchor(l)
        }
    }
}

/// A coroutine held by Rust: its state and the registry reference that keeps it alive
/// (a suspended request must not be a live mlua handle: those share one LuaJIT stack of
/// limited size).
pub struct Coro {
    l: *mut ffi::lua_State,
    anchor: Rc<Anchor>,
    key: c_int,
}

impl Coro {
    pub fn state(&self) -> *mut ffi::lua_State {
        self.l
    }

    /// Its registry reference (Lua finds it as `debug.getregistry()[key]`).
    pub fn key(&self) -> c_int {
        self.key
    }

    /// Pushes this coroutine (the thread value) onto `to`'s stack.
    ///
    /// # Safety
    /// `to` is a live coroutine of the same VM, not running, with a free slot.
    pub unsafe fn push_onto(&self, to: *mut ffi::lua_State) {
        // SAFETY: the caller's contract; the key is ours, live until drop.
        unsafe { ffi::lua_rawgeti(to, ffi::LUA_REGISTRYINDEX, self.key as ffi::lua_Integer) };
    }
}

impl Drop for Coro {
    fn drop(&mut self) {
        if self.anchor.vm.try_upgrade().is_none() {
            return;
        }
        // SAFETY: the VM lives and the anchor with it; the key is ours.
        unsafe { ffi::luaL_unref(self.anchor.state, ffi::LUA_REGISTRYINDEX, self.key) };
    }
}

/// A value handed to a coroutine as it resumes (what its yield returns).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Nil,
    Bool(bool),
    Int(i64),
    Str(Vec<u8>),
    Text(&'static str),
}

/// Pushes `args` onto `l` (checked for room first); how many were pushed.
///
/// # Safety
/// `l` is a live suspended coroutine.
pub unsafe fn push_args(l: *mut ffi::lua_State, args: &[Arg]) -> Option<c_int> {
    // SAFETY: the caller's contract; room checked before the pushes.
    unsafe {
        if ffi::lua_checkstack(l, args.len() as c_int + 1) == 0 {
            return None;
        }
        for a in args {
            match a {
                Arg::Nil => ffi::lua_pushnil(l),
                Arg::Bool(b) => ffi::lua_pushboolean(l, *b as c_int),
                Arg::Int(i) => ffi::lua_pushinteger(l, *i as ffi::lua_Integer),
                Arg::Str(s) => {
                    ffi::lua_pushlstring(l, s.as_ptr().cast(), s.len());
                }
                Arg::Text(s) => {
                    ffi::lua_pushlstring(l, s.as_ptr().cast(), s.len());
                }
            }
        }
    }
    Some(args.len() as c_int)
}

/// What a resume came to.
pub enum Resumed {
    /// It yielded: ours (see `api::Yield`), or `None` for a plain `coroutine.yield()`.
    /// The yielded values stay on its stack until [`clear`].
    Yielded(Option<Yield>),
    /// It raised an error and is dead. The message when the error value is a string;
    /// the value itself stays on top of its stack.
    Failed(Option<String>),
    /// Its function returned; the results are its whole stack.
    Ended,
}

/// Where a failed resume's error value that is not a string is put for mlua to read (an
/// mlua error object, a table...), as a named registry value.
pub const ERROR_SLOT: &std::ffi::CStr = c"oxiresty.entry_error";

/// Resumes `l` with the `nargs` values pushed on its stack.
///
/// # Safety
/// `l` is a live coroutine, new or suspended at a yield, resumed from outside itself.
pub unsafe fn resume(l: *mut ffi::lua_State, nargs: c_int) -> Resumed {
    // SAFETY: the caller's contract; results are read by index within the stack's top.
    unsafe {
        let mut nres = 0;
        match ffi::lua_resume(l, std::ptr::null_mut(), nargs, &mut nres) {
            ffi::LUA_YIELD => Resumed::Yielded(tagged_yield(l)),
            ffi::LUA_OK => Resumed::Ended,
            _ if ffi::lua_type(l, -1) == ffi::LUA_TSTRING => Resumed::Failed(text_at(l, -1)),
            _ => Resumed::Failed(None),
        }
    }
}

/// Empties a coroutine's stack (what it yielded, once read).
///
/// # Safety
/// `l` is a live coroutine, not running.
pub unsafe fn clear(l: *mut ffi::lua_State) {
    // SAFETY: the caller's contract.
    unsafe { ffi::lua_settop(l, 0) };
}

/// Copies the value on top of `l` (a failed coroutine's error) to [`ERROR_SLOT`].
///
/// # Safety
/// `l` is a live coroutine, not running, with a value on top.
pub unsafe fn stash_error(l: *mut ffi::lua_State) {
    // SAFETY: the caller's contract; one slot checked before the push.
    unsafe {
        if ffi::lua_checkstack(l, 1) == 0 {
            return;
        }
        ffi::lua_pushvalue(l, -1);
        ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, ERROR_SLOT.as_ptr());
    }
}

/// Reads `TAG, op, args...` off a yielded coroutine's stack; `None` if not ours.
///
/// SAFETY (caller): `l` is a suspended coroutine whose stack holds what it yielded.
unsafe fn tagged_yield(l: *mut ffi::lua_State) -> Option<Yield> {
    // SAFETY: indexes are checked against the stack's top before each read.
    unsafe {
        let n = ffi::lua_gettop(l);
        if n < 2
            || ffi::lua_type(l, 1) != ffi::LUA_TLIGHTUSERDATA
            || ffi::lua_touserdata(l, 1) != api::yield_tag_ptr()
            || ffi::lua_type(l, 2) != ffi::LUA_TNUMBER
        {
            return None;
        }
        let number = |i| if n >= i { ffi::lua_tonumber(l, i) } else { 0.0 };
        Some(match ffi::lua_tointeger(l, 2) as i64 {
            api::OP_DONE => Yield::Done,
            api::OP_SLEEP => Yield::Sleep(number(3)),
            api::OP_EXIT => Yield::Exit(number(3) as i64),
            api::OP_FLUSH => Yield::Flush,
            api::OP_READ_BODY => Yield::ReadBody,
            api::OP_DISCARD_BODY => Yield::DiscardBody,
            api::OP_EXEC if n >= 3 => Yield::Exec(text_at(l, 3)?),
            api::OP_SPAWN if n >= 3 => Yield::Spawn,
            api::OP_WAIT => Yield::Wait,
            api::OP_KILL => Yield::Kill,
            api::OP_AWAIT => Yield::Await,
            api::OP_ON_ABORT if n >= 3 => Yield::OnAbort,
            api::OP_CAPTURE => {
                // TAG, op, then per subrequest: method, uri, args, body or false, ctx slot
                // or false, flags, the number of vars, and each name and value
                let mut specs = Vec::new();
                let mut i = 3;
                while i + 6 <= n {
                    let body = if ffi::lua_type(l, i + 3) == ffi::LUA_TSTRING {
                        bytes_at(l, i + 3)
                    } else {
                        None
                    };
                    let ctx_slot =
                        (ffi::lua_type(l, i + 4) == ffi::LUA_TNUMBER).then(|| ffi::lua_tointeger(l, i + 4) as i32);
                    let flags = ffi::lua_tointeger(l, i + 5);
                    let nvars = ffi::lua_tointeger(l, i + 6).max(0) as i32;
                    let mut vars = Vec::new();
                    for k in 0..nvars {
                        let at = i + 7 + 2 * k;
                        if at + 1 > n {
                            break;
                        }
                        vars.push((text_at(l, at)?, text_at(l, at + 1)?));
                    }
                    specs.push(api::SubSpec {
                        method: text_at(l, i)?,
                        uri: text_at(l, i + 1)?,
                        args: text_at(l, i + 2)?,
                        body,
                        ctx_slot,
                        copy_all_vars: flags & 1 != 0,
                        share_all_vars: flags & 2 != 0,
                        always_forward_body: flags & 4 != 0,
                        vars,
                    });
                    i += 7 + 2 * nvars;
                }
                Yield::Capture(specs)
            }
            _ => return None,
        })
    }
}

/// The bytes of the string at `i`, copied.
///
/// SAFETY (caller): `i` is a valid index of `l`'s stack.
unsafe fn bytes_at(l: *mut ffi::lua_State, i: i32) -> Option<Vec<u8>> {
    // SAFETY: as text_at.
    unsafe {
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, i, &mut len);
        (!p.is_null()).then(|| std::slice::from_raw_parts(p as *const u8, len).to_vec())
    }
}

/// The string (or number) at `i`, copied.
///
/// SAFETY (caller): `i` is a valid index of `l`'s stack.
pub unsafe fn text_at(l: *mut ffi::lua_State, i: i32) -> Option<String> {
    // SAFETY: lua_tolstring returns null or a pointer to `len` bytes that live while the
    // value stays on the stack; they are copied at once.
    unsafe {
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, i, &mut len);
        if p.is_null() {
            return None;
        }
        let bytes = std::slice::from_raw_parts(p as *const u8, len);
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}
