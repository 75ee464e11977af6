//! `ngx.log(level, ...)` and `print(...)`: error-log lines that say where in Lua they came
//! from: `[lua] content_by_lua(nginx.conf:12):3: message`; and lua-resty-core's
//! `ngx.errlog` module: `raw_log`, the lines `lua_capture_error_log` keeps, filter levels.

use http::log::Level;
use mlua::{IntoLuaMulti, Lua, MultiValue, Table, Value};

use super::{bad_argument, lua_type_name};

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
    emit(level, &format!("[lua] {}{msg}", caller(lua)));
}

/// Writes a line with the current request's context, if there is a request.
fn emit(level: Level, line: &str) {
    let logged = crate::request::with(|r| {
        r.log(level, line);
        Ok(())
    });
    if logged.is_err() {
        // no request (init phases, timers): the line has no request context
        http::log::write(level, 0, &format!("{line}{}", crate::request::log_context()));
    }
}

/// `require "ngx.errlog"`.
fn register_errlog(lua: &Lua) -> mlua::Result<()> {
    let errlog = lua.create_table()?;
    errlog.set("version", "0.1.28")?;
    errlog.set(
        "raw_log",
        super::api_function(lua, "raw_log", |_, (level, msg): (Value, Value)| {
            let level = match level {
                Value::Integer(n) => n,
                Value::Number(n) => n as i64,
                _ => return Err(bad_argument(1, "raw_log", "must be a number")),
            };
            let Value::String(msg) = msg else {
                return Err(bad_argument(2, "raw_log", "must be a string"));
            };
            let level = Level::from_number(level).ok_or_else(|| mlua::Error::runtime("bad log level"))?;
            if http::log::enabled(level) {
                emit(level, &msg.to_string_lossy());
            }
            Ok(())
        })?,
    )?;
    errlog.set(
        "get_sys_filter_level",
        super::api_function(lua, "get_sys_filter_level", |_, ()| Ok(http::log::level() as i64))?,
    )?;
    errlog.set(
        "set_filter_level",
        super::api_function(lua, "set_filter_level", |lua, level: Value| {
            let n = match level {
                Value::Nil | Value::Boolean(false) => {
                    return (Value::Nil, "missing \"level\" argument").into_lua_multi(lua);
                }
                Value::Integer(n) => n,
                Value::Number(n) => n as i64,
                other => {
                    return Err(bad_argument(
                        1,
                        "set_filter_level",
                        &format!("number expected, got {}", lua_type_name(&other)),
                    ));
                }
            };
            let set = match Level::from_number(n) {
                _ if !http::log::capturing() => Err(http::log::NO_CAPTURE.to_string()),
                None => Err(format!("bad log level: {n}")),
                Some(level) => http::log::set_capture_filter(level).map_err(str::to_string),
            };
            match set {
                Ok(()) => true.into_lua_multi(lua),
                Err(e) => (Value::Nil, e).into_lua_multi(lua),
            }
        })?,
    )?;
    errlog.set(
        "get_logs",
        super::api_function(lua, "get_logs", |lua, (max, res): (Option<i64>, Option<Table>)| {
            // as lua-resty-core's loop: `max` lines at most, none for max <= 0
            let max = max.unwrap_or(10).max(0) as usize;
            let lines = match http::log::take_captured(max) {
                Ok(l) => l,
                Err(e) => return Ok((Value::Nil, Some(e))),
            };
            let res = match res {
                Some(t) => t,
                None => lua.create_table_with_capacity(max.min(1000) * 3 + 1, 0)?,
            };
            let mut i = 0;
            for l in lines {
                res.raw_set(i + 1, l.level as i64)?;
                res.raw_set(i + 2, l.time)?;
                res.raw_set(i + 3, l.line)?;
                i += 3;
            }
            // a table given to fill is not cleared: the entry after the last ends it
            if max > 0 {
                res.raw_set(i + 1, Value::Nil)?;
            }
            Ok((Value::Table(res), None))
        })?,
    )?;
    super::preload_module(lua, "ngx.errlog", errlog)
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
        let level =
            Level::from_number(level).ok_or_else(|| bad_argument(1, "log", &format!("bad log level: {level}")))?;
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
    register_errlog(lua)
}
