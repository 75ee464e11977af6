//! Time: `ngx.sleep` (checked here, yielded by the prelude's wrapper).

use mlua::{Lua, Table, Value};

use super::bad_argument;

pub fn register(lua: &Lua, _ngx: &Table, private: &Table) -> mlua::Result<()> {
    private.set(
        "check_sleep",
        lua.create_function(|_, v: Value| {
            let secs = match v {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                Value::String(s) => s
                    .to_str()?
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| bad_argument(1, "sleep", "number expected, got string"))?,
                other => {
                    return Err(bad_argument(
                        1,
                        "sleep",
                        &format!("number expected, got {}", other.type_name()),
                    ));
                }
            };
            if secs.is_nan() || secs < 0.0 {
                return Err(bad_argument(1, "sleep", "invalid sleep duration"));
            }
            if crate::request::phase() == crate::request::Phase::Init {
                return Err(mlua::Error::runtime("API disabled in the context of init_by_lua*"));
            }
            Ok(secs)
        })?,
    )?;
    Ok(())
}
