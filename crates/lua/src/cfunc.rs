//! Classic Lua C functions written in Rust, for the API calls that run in the interpreter
//! on every request (the cosocket's primitives: a coroutine that waits ends its trace, so
//! that code is rarely compiled). An mlua callback converts each argument into a Rust
//! value, each result through a value vector, and checks a userdata's type through its
//! registry; a C function here reads its arguments where they lie and pushes its answer.
//!
//! Objects such functions work on are full userdata of our own (`push_object`), whose
//! metatable each function holds as an upvalue: finding one is a pointer comparison.

use std::ffi::{CStr, c_int};
use std::panic::AssertUnwindSafe;

use mlua::ffi::{self, lua_State};

use crate::raw::{self, Arg};

/// What a C function answers.
pub enum Answer {
    /// Values pushed now.
    Values(Vec<Arg>),
    /// One value pushed now (without a list to allocate: a call made on every request).
    Value(Arg),
    /// A wait was parked (`sched::park`): the marker is returned, and the Lua wrapper
    /// yields `OP_AWAIT` for the driver to serve it.
    Parked,
}

/// The light userdata a primitive returns when it parked a wait (`__oxr.parked`).
static PARKED: u8 = 0;

pub fn parked_marker() -> *mut std::ffi::c_void {
    &PARKED as *const u8 as *mut std::ffi::c_void
}

/// Runs a C function's body and pushes its answer; an error (or a panic) is raised as a
/// Lua error once every Rust value of the call is dropped.
///
/// # Safety
/// `l` is the running state, inside a call to a C function.
pub unsafe fn run(l: *mut lua_State, body: impl FnOnce() -> Result<Answer, String>) -> c_int {
    let msg = match std::panic::catch_unwind(AssertUnwindSafe(body)) {
        // SAFETY: the caller's contract.
        Ok(Ok(Answer::Values(args))) => match unsafe { raw::push_args(l, &args) } {
            Some(n) => return n,
            None => "stack overflow".to_string(),
        },
        // SAFETY: the caller's contract.
        Ok(Ok(Answer::Value(arg))) => match unsafe { raw::push_args(l, std::slice::from_ref(&arg)) } {
            Some(n) => return n,
            None => "stack overflow".to_string(),
        },
        Ok(Ok(Answer::Parked)) => {
            // SAFETY: the caller's contract; a C function has room for one result.
            unsafe { ffi::lua_pushlightuserdata(l, parked_marker()) };
            return 1;
        }
        Ok(Err(msg)) => msg,
        Err(_) => "internal error".to_string(),
    };
    // SAFETY: the caller's contract; nothing but `msg` is alive here.
    unsafe { raise(l, msg) }
}

/// Raises `msg` as a Lua error. Nothing of Rust may be alive in the caller's frames that
/// needs dropping: the message is copied into Lua first and dropped here.
///
/// # Safety
/// `l` is the running state; the caller holds no Rust value with a destructor.
pub unsafe fn raise(l: *mut lua_State, msg: String) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_pushlstring(l, msg.as_ptr().cast(), msg.len());
        drop(msg);
        ffi::lua_error(l)
    }
}

/// Argument `i` as a number (a numeric string converts); None when nil or absent.
///
/// # Safety
/// `l` is the running state.
pub unsafe fn number(l: *mut lua_State, i: c_int) -> Option<f64> {
    // SAFETY: the caller's contract.
    unsafe {
        let mut ok = 0;
        let n = ffi::lua_tonumberx(l, i, &mut ok);
        (ok != 0).then_some(n)
    }
}

/// Argument `i`'s bytes when it is a string (or a number, as Lua converts it).
///
/// # Safety
/// `l` is the running state; the slice lives as long as the argument stays on the stack
/// (the call).
pub unsafe fn bytes<'a>(l: *mut lua_State, i: c_int) -> Option<&'a [u8]> {
    // SAFETY: the caller's contract.
    unsafe {
        if !matches!(ffi::lua_type(l, i), ffi::LUA_TSTRING | ffi::LUA_TNUMBER) {
            return None;
        }
        let mut len = 0;
        let p = ffi::lua_tolstring(l, i, &mut len);
        Some(std::slice::from_raw_parts(p.cast::<u8>(), len))
    }
}

/// Argument `i`'s truth.
///
/// # Safety
/// `l` is the running state.
pub unsafe fn boolean(l: *mut lua_State, i: c_int) -> bool {
    // SAFETY: the caller's contract.
    unsafe { ffi::lua_toboolean(l, i) != 0 }
}

/// Pushes a new metatable for objects holding a `T`: its `__gc` drops the value.
///
/// # Safety
/// `l` is the running state with room for two more values.
pub unsafe fn push_object_type<T>(l: *mut lua_State) {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_createtable(l, 0, 2);
        ffi::lua_pushcclosure(l, drop_object::<T>, 0);
        ffi::lua_setfield(l, -2, c"__gc".as_ptr());
        // (getmetatable() from Lua cannot reach it to swap the __gc)
        ffi::lua_pushboolean(l, 0);
        ffi::lua_setfield(l, -2, c"__metatable".as_ptr());
    }
}

/// Pushes a new object holding `value`, with the metatable at stack index `mt`.
///
/// # Safety
/// `l` is the running state with room for one more value; `mt` is a metatable made by
/// `push_object_type::<T>`.
pub unsafe fn push_object<T>(l: *mut lua_State, mt: c_int, value: T) {
    // SAFETY: the caller's contract; LuaJIT aligns userdata to 8 bytes, which is all an
    // `Option<T>` of ours needs (checked below).
    unsafe {
        const { assert!(std::mem::align_of::<Option<T>>() <= 8) };
        let mt = ffi::lua_absindex(l, mt);
        let p = ffi::lua_newuserdata(l, std::mem::size_of::<Option<T>>()).cast::<Option<T>>();
        p.write(Some(value));
        ffi::lua_pushvalue(l, mt);
        ffi::lua_setmetatable(l, -2);
    }
}

/// The `T` held by the object at index `i`, when it is one with the metatable at index
/// `mt` (and not yet finalized).
///
/// # Safety
/// `l` is the running state with room for one more value; `mt` is a metatable made by
/// `push_object_type::<T>`. The reference lives while the object stays on the stack.
pub unsafe fn object<'a, T>(l: *mut lua_State, i: c_int, mt: c_int) -> Option<&'a T> {
    // SAFETY: the caller's contract: an object with that metatable holds an Option<T>.
    unsafe {
        if ffi::lua_getmetatable(l, i) == 0 {
            return None;
        }
        let same = ffi::lua_rawequal(l, -1, mt) != 0;
        ffi::lua_settop(l, -2);
        if !same {
            return None;
        }
        (*ffi::lua_touserdata(l, i).cast::<Option<T>>()).as_ref()
    }
}

unsafe extern "C-unwind" fn drop_object<T>(l: *mut lua_State) -> c_int {
    // SAFETY: only set as the __gc of objects holding an Option<T>; the value is taken
    // out, so a finalized object that comes back to life holds None.
    unsafe {
        let p = ffi::lua_touserdata(l, 1).cast::<Option<T>>();
        if !p.is_null() {
            drop((*p).take());
        }
    }
    0
}

/// Sets `funcs` into the table at index `t`, each a closure over the values at indexes
/// `upvalues` (copied in that order).
///
/// # Safety
/// `l` is the running state; the indexes are valid.
pub unsafe fn set_closures(l: *mut lua_State, t: c_int, upvalues: &[c_int], funcs: &[(&CStr, ffi::lua_CFunction)]) {
    // SAFETY: the caller's contract; room checked.
    unsafe {
        let t = ffi::lua_absindex(l, t);
        let ups: Vec<c_int> = upvalues.iter().map(|&i| ffi::lua_absindex(l, i)).collect();
        ffi::luaL_checkstack(l, ups.len() as c_int + 1, c"closures".as_ptr());
        for (name, f) in funcs {
            for &u in &ups {
                ffi::lua_pushvalue(l, u);
            }
            ffi::lua_pushcclosure(l, *f, ups.len() as c_int);
            ffi::lua_setfield(l, t, name.as_ptr());
        }
    }
}
