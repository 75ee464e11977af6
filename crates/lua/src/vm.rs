//! The Lua VM: one per configuration load. Built in the master, where `init_by_lua` runs,
//! then inherited by the workers through fork; a reload builds a new one.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use mlua::{Lua, LuaOptions, StdLib};

use crate::directives::LuaCode;

/// What one configuration load made of Lua: the VM and the code that runs outside requests.
#[derive(Clone)]
pub struct Generation {
    pub lua: Lua,
    pub prefix: PathBuf,
    pub init: Option<Rc<LuaCode>>,
    pub init_worker: Option<Rc<LuaCode>>,
    pub exit_worker: Option<Rc<LuaCode>>,
    /// `lua_capture_error_log size`: bytes of error-log lines kept for `ngx.errlog`.
    pub capture_error_log: Option<usize>,
}

thread_local! {
    /// The generation being read; directives and installers use it.
    static BUILDING: RefCell<Option<Generation>> = const { RefCell::new(None) };
}

/// The Lua side of the API (wrappers that yield to the driver), embedded in the binary.
const PRELUDE: &str = include_str!("../lualib/prelude.lua");
const GLOBAL_GUARD: &str = include_str!("../lualib/global_guard.lua");
/// The FFI-backed part of the API.
const NGX_FFI: &str = include_str!("../lualib/ngx_ffi.lua");
/// `ngx.shared.DICT`'s methods.
const SHDICT: &str = include_str!("../lualib/shdict.lua");
/// `resty.lrucache`, bundled (compat.lua loads it on require).
const LRUCACHE: &str = include_str!("../lualib/lrucache.lua");
/// `ngx.re` and `require "ngx.re"`.
const REGEX: &str = include_str!("../lualib/regex.lua");
/// `require "ngx.semaphore"`.
const SEMAPHORE: &str = include_str!("../lualib/semaphore.lua");
/// `require "ngx.balancer"`.
const BALANCER: &str = include_str!("../lualib/balancer.lua");
/// `ngx.socket.tcp`'s methods.
const SOCKET_TCP: &str = include_str!("../lualib/socket_tcp.lua");
/// `ngx.socket.udp`'s methods.
const SOCKET_UDP: &str = include_str!("../lualib/socket_udp.lua");
/// OpenResty's table extensions and the built-in modules.
const COMPAT: &str = include_str!("../lualib/compat.lua");

/// LuaJIT's own tools (`require "jit.v"`, `jit.dump`), shipped inside the binary (build.rs).
const JIT_LIBS: &[(&str, &str)] = &[
    ("v", include_str!(concat!(env!("OUT_DIR"), "/jit/v.lua"))),
    ("dump", include_str!(concat!(env!("OUT_DIR"), "/jit/dump.lua"))),
    ("vmdef", include_str!(concat!(env!("OUT_DIR"), "/jit/vmdef.lua"))),
    ("bc", include_str!(concat!(env!("OUT_DIR"), "/jit/bc.lua"))),
    ("dis_x64", include_str!(concat!(env!("OUT_DIR"), "/jit/dis_x64.lua"))),
    ("dis_x86", include_str!(concat!(env!("OUT_DIR"), "/jit/dis_x86.lua"))),
    ("p", include_str!(concat!(env!("OUT_DIR"), "/jit/p.lua"))),
    ("zone", include_str!(concat!(env!("OUT_DIR"), "/jit/zone.lua"))),
];

/// Starts a configuration load: a fresh VM with the `ngx` API.
pub fn begin(prefix: &std::path::Path) -> Result<(), String> {
    // settings that live outside the VM start from their defaults on every load
    crate::api::regex::set_match_limit(0);
    let lua = create(prefix).map_err(|e| format!("failed to create the Lua VM: {e}"))?;
    BUILDING.with(|b| {
        *b.borrow_mut() = Some(Generation {
            lua,
            prefix: prefix.to_path_buf(),
            init: None,
            init_worker: None,
            exit_worker: None,
            capture_error_log: None,
        })
    });
    Ok(())
}

/// Ends a successful load: the generation to keep with the configuration.
pub fn finish() -> Option<Generation> {
    BUILDING.with(|b| b.borrow_mut().take())
}

/// The VM of the configuration being read.
pub fn current() -> Lua {
    with_building(|g| g.lua.clone())
}

/// Changes the generation being read (directives record init code here).
pub fn with_building<R>(f: impl FnOnce(&mut Generation) -> R) -> R {
    BUILDING.with(|b| {
        let mut b = b.borrow_mut();
        if b.is_none() {
            // a configuration read without `begin` (tests of the http crate alone)
            let prefix = std::env::temp_dir();
            let lua = create(&prefix).expect("a Lua VM can be created");
            *b = Some(Generation {
                lua,
                prefix,
                init: None,
                init_worker: None,
                exit_worker: None,
                capture_error_log: None,
            });
        }
        f(b.as_mut().expect("set above"))
    })
}

fn create(prefix: &std::path::Path) -> mlua::Result<Lua> {
    // SAFETY: LuaJIT's ffi and jit libraries are part of the platform users expect
    // (OpenResty exposes them); loading them is what makes the VM "unsafe" to mlua.
    let lua = unsafe { Lua::unsafe_new_with(StdLib::ALL, LuaOptions::default()) };
    crate::api::register(&lua, prefix)?;
    lua.load(PRELUDE).set_name("=prelude").exec()?;
    lua.load(NGX_FFI).set_name("=ngx_ffi").exec()?;
    lua.load(SHDICT).set_name("=shdict").exec()?;
    lua.load(REGEX).set_name("=regex").exec()?;
    lua.load(SEMAPHORE).set_name("=semaphore").exec()?;
    lua.load(BALANCER).set_name("=balancer").exec()?;
    lua.load(SOCKET_TCP).set_name("=socket_tcp").exec()?;
    lua.load(SOCKET_UDP).set_name("=socket_udp").exec()?;
    lua.globals()
        .get::<mlua::Table>("__oxr")?
        .set("lrucache_source", LRUCACHE)?;
    lua.load(COMPAT).set_name("=compat").exec()?;
    let preload: mlua::Table = lua.globals().get::<mlua::Table>("package")?.get("preload")?;
    for (name, src) in JIT_LIBS {
        let chunk = lua.load(*src).set_name(format!("=jit/{name}.lua")).into_function()?;
        preload.set(format!("jit.{name}"), chunk)?;
    }
    lua.load(GLOBAL_GUARD).set_name("=_G write guard").exec()?;
    Ok(lua)
}
