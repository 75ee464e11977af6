//! `ngx.ctx`: a Lua table per request, shared by its phases. Kept in the Lua registry;
//! the request holds the key.

use mlua::{Lua, RegistryKey, Table, Value};

use crate::request;

/// The request's ngx.ctx, as the request stores it.
pub struct LuaCtx(pub RegistryKey);

/// `ngx.ctx` (created on first use).
pub fn get(lua: &Lua) -> mlua::Result<Table> {
    request::with(|r| {
        if let Some(LuaCtx(key)) = r.ctx::<LuaCtx>() {
            return lua.registry_value::<Table>(key);
        }
        let t = lua.create_table()?;
        let key = lua.create_registry_value(t.clone())?;
        r.set_ctx(LuaCtx(key));
        Ok(t)
    })
}

/// `ngx.ctx = t`.
pub fn set(lua: &Lua, v: Value) -> mlua::Result<()> {
    let Value::Table(t) = v else {
        return Err(mlua::Error::runtime(format!(
            "ctx should be a table while getting a {}",
            v.type_name()
        )));
    };
    request::with(|r| {
        let key = lua.create_registry_value(t)?;
        r.set_ctx(LuaCtx(key));
        Ok(())
    })
}
