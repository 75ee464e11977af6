//! `ngx.var`: nginx variables, read by name; writable when declared with `set` (and a few
//! built-ins nginx lets change).

use mlua::{Lua, Table, Value};

use crate::request;

fn as_text(v: &Value) -> mlua::Result<Option<String>> {
    Ok(match v {
        Value::Nil => None,
        Value::String(s) => Some(s.to_str()?.to_string()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => {
            return Err(mlua::Error::runtime(format!(
                "bad variable value: {} given",
                other.type_name()
            )));
        }
    })
}

pub fn register(lua: &Lua, ngx: &Table) -> mlua::Result<()> {
    let var = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.set(
        "__index",
        lua.create_function(|lua, (_t, name): (Table, Value)| {
            let name = match name {
                Value::String(s) => s.to_str()?.to_string(),
                Value::Integer(i) => i.to_string(),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "bad variable name: {}",
                        other.type_name()
                    )));
                }
            };
            request::with(|r| match http::variables::get(r, &name) {
                Some(v) => Ok(Value::String(lua.create_string(v)?)),
                None => Ok(Value::Nil),
            })
        })?,
    )?;
    mt.set(
        "__newindex",
        lua.create_function(|_, (_t, name, value): (Table, String, Value)| {
            let value = as_text(&value)?;
            request::with(|r| {
                match name.as_str() {
                    "args" | "query_string" => {
                        r.args = value.unwrap_or_default();
                        return Ok(());
                    }
                    "limit_rate" => return Ok(()),
                    _ => {}
                }
                if r.http.declared_vars.contains(&name) {
                    match value {
                        Some(v) => r.vars.insert(name, v),
                        None => r.vars.remove(&name),
                    };
                    return Ok(());
                }
                if http::variables::is_known(&name) {
                    return Err(mlua::Error::runtime(format!("variable \"{name}\" not changeable")));
                }
                Err(mlua::Error::runtime(format!(
                    "variable \"{name}\" not found for writing; maybe it is a built-in variable that is not changeable or you forgot to use \"set ${name} '';\" in the config file to define it"
                )))
            })
        })?,
    )?;
    var.set_metatable(Some(mt))?;
    ngx.set("var", var)?;
    Ok(())
}
