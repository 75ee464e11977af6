//! `ngx.var`: nginx variables, read by name; writable when declared with `set` (and a few
//! built-ins nginx lets change).

use super::lua_type_name;
use mlua::{Lua, Table, Value};

use crate::request;

pub fn register(lua: &Lua, ngx: &Table) -> mlua::Result<()> {
    let var = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.set(
        "__index",
        lua.create_function(|lua, (_t, name): (Table, Value)| {
            let name = match name {
                Value::String(s) => s.to_str()?.to_string(),
                // ngx.var[n]: the n-th regex capture; 0 (the whole match) and below are
                // nil in OpenResty
                Value::Integer(i) if i <= 0 => return Ok(Value::Nil),
                Value::Integer(i) => i.to_string(),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "bad variable name: {}",
                        lua_type_name(&other)
                    )));
                }
            };
            request::with(|r| match http::variables::get_bytes(r, &name) {
                Some(v) => Ok(Value::String(lua.create_string(v)?)),
                None => Ok(Value::Nil),
            })
        })?,
    )?;
    // writes go through the FFI (lualib/ngx_ffi.lua)
    var.set_metatable(Some(mt))?;
    ngx.set("var", var)?;
    Ok(())
}
