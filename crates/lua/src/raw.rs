//! The entry thread's resume through the Lua C API. It is the hottest call of every Lua
//! request; mlua's `Thread::resume` moves arguments and results through the main state
//! and builds a value for each, where this pushes one integer and reads the tagged
//! yield in place.

use mlua::{Thread, ffi};

use crate::api::{self, Yield};

/// What a resume of a runner coroutine came to.
pub enum Resumed {
    /// It yielded: ours (see `api::Yield`), or `None` for a plain `coroutine.yield()`.
    Yielded(Option<Yield>),
    /// The function raised an error; the coroutine is dead. The message when the error
    /// value is a string; any other value waits in the registry under `ERROR_SLOT`.
    Failed(Option<String>),
    /// The runner returned (never in normal operation).
    Ended,
}

/// Where a failed resume leaves an error value that is not a string (an mlua error
/// object, a table...), for mlua to read as a named registry value.
pub const ERROR_SLOT: &std::ffi::CStr = c"oxiresty.entry_error";

/// Resumes a runner: with the number of the job (request function) to run when it waits
/// at its idle point, with nothing when it waits inside a function.
pub fn resume(thread: &Thread, job: Option<i64>) -> Resumed {
    let l = thread.state();
    // SAFETY: `l` is the coroutine `thread` holds, alive for this call, suspended (new or
    // at a yield) and resumed from the main thread, never from itself. One stack slot is
    // checked before the push; results are read by index within the stack's top and the
    // stack is emptied before returning, so nothing is left as arguments of the next
    // resume.
    unsafe {
        if ffi::lua_checkstack(l, 1) == 0 {
            return Resumed::Failed(Some("stack overflow".into()));
        }
        let nargs = match job {
            Some(id) => {
                ffi::lua_pushinteger(l, id as ffi::lua_Integer);
                1
            }
            None => 0,
        };
        let mut nres = 0;
        let out = match ffi::lua_resume(l, std::ptr::null_mut(), nargs, &mut nres) {
            ffi::LUA_YIELD => Resumed::Yielded(tagged_yield(l)),
            ffi::LUA_OK => Resumed::Ended,
            _ if ffi::lua_type(l, -1) == ffi::LUA_TSTRING => Resumed::Failed(text_at(l, -1)),
            _ => {
                // pops the value into the registry
                ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, ERROR_SLOT.as_ptr());
                Resumed::Failed(None)
            }
        };
        ffi::lua_settop(l, 0);
        out
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
            _ => return None,
        })
    }
}

/// The string (or number) at `i`, copied.
///
/// SAFETY (caller): `i` is a valid index of `l`'s stack.
unsafe fn text_at(l: *mut ffi::lua_State, i: i32) -> Option<String> {
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
