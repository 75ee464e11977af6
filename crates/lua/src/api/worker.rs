//! `ngx.worker` (id, count, pid, exiting) and `ngx.config` (subsystem, prefix, versions).

use super::api_function;
use std::cell::Cell;

use mlua::{Lua, Table};

thread_local! {
    /// This worker's slot among `count` (set after fork; -1 in the master).
    static WORKER: Cell<(i64, i64)> = const { Cell::new((-1, 0)) };
}

/// Called in a worker after fork: its slot and the number of workers.
pub fn set_worker(id: i64, count: i64) {
    WORKER.with(|w| w.set((id, count)));
}

/// The version numbers OpenResty code compares against (`nginx_version` is 1.x.y as
/// 1xxxyyy; we answer with the nginx release our behaviour follows).
pub const NGINX_VERSION: i64 = 1_027_001;
pub const NGX_LUA_VERSION: i64 = 10_028;

pub fn register(lua: &Lua, ngx: &Table, prefix: &std::path::Path) -> mlua::Result<()> {
    let worker = lua.create_table()?;
    worker.set(
        "id",
        api_function(lua, "id", |_, ()| {
            let id = WORKER.with(|w| w.get().0);
            Ok((id >= 0).then_some(id))
        })?,
    )?;
    worker.set(
        "count",
        api_function(lua, "count", |_, ()| Ok(WORKER.with(|w| w.get().1).max(1)))?,
    )?;
    worker.set("pid", api_function(lua, "pid", |_, ()| Ok(std::process::id()))?)?;
    worker.set(
        "exiting",
        api_function(lua, "exiting", |_, ()| Ok(http::worker::shutting_down()))?,
    )?;
    ngx.set("worker", worker)?;

    let config = lua.create_table()?;
    config.set("subsystem", "http")?;
    config.set("debug", false)?;
    config.set("nginx_version", NGINX_VERSION)?;
    config.set("ngx_lua_version", NGX_LUA_VERSION)?;
    let mut p = prefix.display().to_string();
    if !p.ends_with('/') {
        p.push('/');
    }
    config.set("prefix", api_function(lua, "prefix", move |_, ()| Ok(p.clone()))?)?;
    config.set(
        "nginx_configure",
        api_function(lua, "nginx_configure", |_, ()| {
            Ok(format!(" --prefix=oxiresty (oxiresty {})", http::OXIRESTY_VERSION))
        })?,
    )?;
    ngx.set("config", config)?;
    Ok(())
}
