//! `ngx.log(level, ...)` and `print(...)`: error-log lines that say where in Lua they came
//! from: `[lua] content_by_lua(nginx.conf:12):3: message`.

use http::log::Level;
use mlua::{Lua, MultiValue, Table, Value};

use super::{bad_argument, lua_type_name};

fn level_of(n: i64) -> Option<Level> {
    Some(match n {
        0 => Level::Stderr,
        1 => Level::Emerg,
        2 => Level::Alert,
        3 => Level::Crit,
        4 => Level::Error,
        5 => Level::Warn,
        6 => Level::Notice,
        7 => Level::Info,
        8 => Level::Debug,
        _ => return None,
    })
}

/// Joins the arguments as lua-nginx-module does: strings and numbers as Lua prints them,
/// nil, booleans, ngx.null; tables only through a `__tostring` metamethod.
fn message(lua: &Lua, args: MultiValue, fname: &str, first_arg: usize) -> mlua::Result<String> {
    let mut out = String::new();
    for (i, v) in args.into_iter().enumerate() {
        match &v {
            Value::Nil => out.push_str("nil"),
            Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::LightUserData(p) if p.0.is_null() => out.push_str("null"),
            Value::String(s) => out.push_str(&s.to_string_lossy()),
            Value::Integer(_) | Value::Number(_) => {
                if let Some(s) = lua.coerce_string(v.clone())? {
                    out.push_str(&s.to_string_lossy());
                }
            }
            Value::Table(t) => {
                let tostring: Option<mlua::Function> = t.metatable().and_then(|m| m.get("__tostring").ok());
                match tostring {
                    Some(f) => out.push_str(&f.call::<mlua::LuaString>(t.clone())?.to_string_lossy()),
                    None => {
                        return Err(bad_argument(
                            i + first_arg,
                            fname,
                            "expected table to have __tostring metamethod",
                        ));
                    }
                }
            }
            other => {
                return Err(bad_argument(
                    i + first_arg,
                    fname,
                    &format!("string, number, boolean, or nil expected, got {}", lua_type_name(other)),
                ));
            }
        }
    }
    Ok(out)
}

/// `short_src:line: ` of the Lua code that called us, and `name(): ` when that code is
/// a named Lua function (as lua-nginx-module writes it).
fn caller(lua: &Lua) -> String {
    lua.inspect_stack(1, |d| {
        let source = d.source();
        let src = source.short_src.unwrap_or_default();
        let mut at = match d.current_line() {
            Some(l) => format!("{src}:{l}: "),
            None => format!("{src}: "),
        };
        if source.what == "Lua"
            && let names = d.names()
            && names.name_what.is_some()
            && let Some(name) = names.name
        {
            at.push_str(&name);
            at.push_str("(): ");
        }
        at
    })
    .unwrap_or_default()
}

fn write(lua: &Lua, level: Level, msg: &str) {
    if !http::log::enabled(level) {
        return;
    }
    let line = format!("[lua] {}{msg}", caller(lua));
    let logged = crate::request::with(|r| {
        r.log(level, &line);
        Ok(())
    });
    if logged.is_err() {
        // no request (init phases, timers): the line has no request context
        http::log::write(level, 0, &line);
    }
}

pub fn register(lua: &Lua, ngx: &Table) -> mlua::Result<()> {
    let log = lua.create_function(|lua, mut args: MultiValue| {
        let level = match args.pop_front() {
            Some(Value::Integer(n)) => n,
            Some(Value::Number(n)) if n.fract() == 0.0 => n as i64,
            Some(other) => {
                return Err(bad_argument(
                    1,
                    "log",
                    &format!("number expected, got {}", lua_type_name(&other)),
                ));
            }
            None => return Err(bad_argument(1, "log", "number expected, got no value")),
        };
        let level = level_of(level).ok_or_else(|| bad_argument(1, "log", &format!("bad log level: {level}")))?;
        let msg = message(lua, args, "log", 1)?;
        write(lua, level, &msg);
        Ok(())
    })?;
    ngx.set("log", log)?;
    let print = lua.create_function(|lua, args: MultiValue| {
        let msg = message(lua, args, "print", 1)?;
        write(lua, Level::Notice, &msg);
        Ok(())
    })?;
    lua.globals().set("print", print)?;
    Ok(())
}
