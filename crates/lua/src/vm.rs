//! The Lua VM: one per configuration load. Built in the master before fork, so workers
//! inherit it; a reload builds a new one.

use std::cell::RefCell;

use mlua::{Lua, LuaOptions, StdLib};

thread_local! {
    /// The VM of the configuration being read; directives and installers use it.
    static BUILDING: RefCell<Option<Lua>> = const { RefCell::new(None) };
}

/// The Lua side of the API (wrappers that yield to the driver), embedded in the binary.
const PRELUDE: &str = include_str!("../lualib/prelude.lua");
/// The FFI-backed part of the API.
const NGX_FFI: &str = include_str!("../lualib/ngx_ffi.lua");

/// Starts a configuration load: a fresh VM with the `ngx` API.
pub fn begin() -> Result<(), String> {
    let lua = create().map_err(|e| format!("failed to create the Lua VM: {e}"))?;
    BUILDING.with(|b| *b.borrow_mut() = Some(lua));
    Ok(())
}

/// The VM of the configuration being read (created on first use).
pub fn current() -> Lua {
    BUILDING.with(|b| {
        let mut b = b.borrow_mut();
        if b.is_none() {
            *b = create().ok();
        }
        b.clone().expect("the Lua VM is created above")
    })
}

fn create() -> mlua::Result<Lua> {
    // SAFETY: LuaJIT's ffi and jit libraries are part of the platform users expect
    // (OpenResty exposes them); loading them is what makes the VM "unsafe" to mlua.
    let lua = unsafe { Lua::unsafe_new_with(StdLib::ALL, LuaOptions::default()) };
    crate::api::register(&lua)?;
    lua.load(PRELUDE).set_name("=prelude").exec()?;
    lua.load(NGX_FFI).set_name("=ngx_ffi").exec()?;
    Ok(lua)
}
