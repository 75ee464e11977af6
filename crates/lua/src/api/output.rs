//! Output: `ngx.say`, `ngx.print`, `ngx.flush`, `ngx.eof`, `ngx.send_headers`,
//! `ngx.status`, `ngx.headers_sent`, `ngx.exit`'s argument check, `ngx.get_phase`.

use mlua::{Lua, MultiValue, Table, Value};

use super::{api_function, bad_argument, lua_type_name};
use crate::request::{self, Phase};

/// Appends one `ngx.print` argument: strings, numbers, booleans, nil, ngx.null, and array
/// tables of those (nested), as lua-nginx-module accepts them.
fn append(lua: &Lua, out: &mut Vec<u8>, v: Value, n: usize, fname: &str, depth: usize) -> mlua::Result<()> {
    match v {
        Value::String(s) => out.extend_from_slice(&s.as_bytes()),
        Value::Integer(_) | Value::Number(_) => {
            if let Some(s) = lua.coerce_string(v)? {
                out.extend_from_slice(&s.as_bytes());
            }
        }
        Value::Boolean(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"nil"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            if depth > 100 {
                return Err(bad_argument(n, fname, "table too deep"));
            }
            let len = t.raw_len();
            if t.clone().pairs::<Value, Value>().count() != len {
                return Err(bad_argument(n, fname, "non-array table found"));
            }
            for i in 1..=len {
                append(lua, out, t.raw_get(i)?, n, fname, depth + 1)?;
            }
        }
        other => {
            return Err(bad_argument(
                n,
                fname,
                &format!(
                    "string, number, boolean, nil, ngx.null, or array table expected, got {}",
                    lua_type_name(&other)
                ),
            ));
        }
    }
    Ok(())
}

/// Why output would go nowhere, in OpenResty's words: after `ngx.eof`, "seen eof"; for
/// a response without a body (HEAD, 204, 304) whose headers went out, "header only".
pub fn output_refusal(r: &http::request::Request) -> Option<&'static str> {
    if r.eof_sent {
        Some("seen eof")
    } else if r.header_sent && r.header_only {
        Some("header only")
    } else {
        None
    }
}

fn emit(lua: &Lua, args: MultiValue, fname: &str, newline: bool) -> mlua::Result<(Value, Option<&'static str>)> {
    request::check_output()?;
    let mut out = Vec::new();
    for (i, v) in args.into_iter().enumerate() {
        append(lua, &mut out, v, i + 1, fname, 0)?;
    }
    if newline {
        out.push(b'\n');
    }
    request::with(|r| {
        if r.eof_sent {
            return Ok((Value::Nil, output_refusal(r)));
        }
        if !r.header_sent && crate::directives::use_default_type(r) {
            r.set_default_content_type();
        }
        r.buffer_body(&out, false);
        match output_refusal(r) {
            Some(why) => Ok((Value::Nil, Some(why))),
            None => Ok((Value::Integer(1), None)),
        }
    })
}

pub fn status_get() -> mlua::Result<Value> {
    // as OpenResty: an error_page's status wins over the one set so far
    request::with(|r| {
        let status = if r.err_status != 0 { r.err_status } else { r.status };
        Ok(Value::Integer(status as i64))
    })
}

pub fn status_set(v: Value) -> mlua::Result<()> {
    let code = match v {
        Value::Integer(i) => i,
        Value::Number(n) => n as i64,
        // as tonumber() reads it, then cut to an integer as the C side does ("201.7": 201)
        Value::String(s) => s
            .to_str()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f as i64)
            .ok_or_else(|| mlua::Error::runtime("attempt to set ngx.status to a non-number"))?,
        _ => return Err(mlua::Error::runtime("attempt to set ngx.status to a non-number")),
    };
    request::with(|r| {
        if r.header_sent {
            r.log(
                http::log::Level::Error,
                "attempt to set ngx.status after sending out response headers",
            );
            return Ok(());
        }
        if !(100..=999).contains(&code) {
            return Err(mlua::Error::runtime(format!("invalid HTTP status code {code}")));
        }
        r.status = code as u16;
        Ok(())
    })
}

pub fn register(lua: &Lua, ngx: &Table, private: &Table) -> mlua::Result<()> {
    ngx.set(
        "say",
        api_function(lua, "say", |lua, args: MultiValue| emit(lua, args, "say", true))?,
    )?;
    ngx.set(
        "print",
        api_function(lua, "print", |lua, args: MultiValue| emit(lua, args, "print", false))?,
    )?;
    ngx.set(
        "send_headers",
        api_function(lua, "send_headers", |_, ()| {
            request::check_output()?;
            request::with(|r| {
                if r.header_sent {
                    return Ok(Value::Nil);
                }
                if crate::directives::use_default_type(r) {
                    r.set_default_content_type();
                }
                r.send_header();
                Ok(Value::Integer(1))
            })
        })?,
    )?;
    ngx.set(
        "eof",
        api_function(lua, "eof", |lua, ()| {
            request::check_output()?;
            request::with(|r| {
                if r.eof_sent {
                    return Ok((Value::Nil, Value::String(lua.create_string("seen eof")?)));
                }
                if !r.header_sent && crate::directives::use_default_type(r) {
                    r.set_default_content_type();
                }
                r.buffer_body(&[], true);
                Ok((Value::Integer(1), Value::Nil))
            })
        })?,
    )?;
    ngx.set(
        "get_phase",
        api_function(lua, "get_phase", |_, ()| Ok(request::phase().name()))?,
    )?;
    private.set(
        "output_refusal",
        api_function(lua, "flush", |_, ()| request::with(|r| Ok(output_refusal(r))))?,
    )?;
    private.set(
        "prepare_redirect",
        api_function(lua, "redirect", |_, (uri, status): (Value, Option<i64>)| {
            let uri = match uri {
                Value::String(s) => s.to_str()?.to_string(),
                other => return Err(bad_argument(1, "redirect", &format!("string expected, got {}", lua_type_name(&other)))),
            };
            let status = status.unwrap_or(302);
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Err(mlua::Error::runtime(
                    "only ngx.HTTP_MOVED_TEMPORARILY, ngx.HTTP_MOVED_PERMANENTLY, ngx.HTTP_PERMANENT_REDIRECT, ngx.HTTP_SEE_OTHER, and ngx.HTTP_TEMPORARY_REDIRECT are allowed",
                ));
            }
            request::check_output()?;
            request::with(|r| {
                if r.header_sent {
                    return Err(mlua::Error::runtime("attempt to call ngx.redirect after sending out the headers"));
                }
                super::check_uri_bytes(&uri, "header")?;
                // kept as given: OpenResty does not make a relative target absolute
                r.headers_out.set("Location", uri);
                Ok(status)
            })
        })?,
    )?;
    private.set(
        "prepare_exec",
        api_function(lua, "exec", |_, (uri, args): (String, Value)| {
            request::check_output()?;
            request::with(|r| {
                if r.header_sent {
                    return Err(mlua::Error::runtime(
                        "attempt to call ngx.exec after sending out response headers",
                    ));
                }
                Ok(())
            })?;
            let extra = match args {
                Value::Nil => String::new(),
                Value::String(s) => s.to_str()?.to_string(),
                Value::Integer(i) => i.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Table(t) => crate::api::req::encode_args(&t)?,
                other => {
                    return Err(bad_argument(
                        2,
                        "exec",
                        &format!("string, number, or table expected, but got {}", lua_type_name(&other)),
                    ));
                }
            };
            if uri.is_empty() {
                return Err(mlua::Error::runtime("The uri argument is empty"));
            }
            if uri.starts_with('@') {
                // a named location keeps the request's arguments: any given are dropped
                let (name, in_uri) = uri.split_once('?').unwrap_or((&uri, ""));
                let dropped = [in_uri, &extra]
                    .iter()
                    .filter(|a| !a.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("&");
                if !dropped.is_empty() {
                    request::with(|r| {
                        r.log(
                            http::log::Level::Warn,
                            &format!("query strings {dropped} ignored when exec'ing named location {name}"),
                        );
                        Ok(())
                    })?;
                }
                return Ok(name.to_string());
            }
            if uri.bytes().any(super::unsafe_uri_byte) || uri.split(['/', '?']).any(|seg| seg == "..") {
                return Err(mlua::Error::runtime("unsafe uri"));
            }
            Ok(match (uri.contains('?'), extra.is_empty()) {
                (_, true) => uri,
                (true, false) => format!("{uri}&{extra}"),
                (false, false) => format!("{uri}?{extra}"),
            })
        })?,
    )?;
    // ngx.exit's code is checked here; the prelude's wrapper then yields it to the driver,
    // unless it was recorded for a header filter (the second result)
    private.set(
        "check_exit",
        api_function(lua, "exit", |_, v: Value| {
            let code = match v {
                Value::Integer(i) => i,
                Value::Number(n) => n as i64,
                other => {
                    return Err(bad_argument(
                        1,
                        "exit",
                        &format!("number expected, got {}", lua_type_name(&other)),
                    ));
                }
            };
            if code == -2 || code == -4 {
                return Err(mlua::Error::runtime(
                    "bad argument to 'ngx.exit': does not accept NGX_AGAIN or NGX_DONE",
                ));
            }
            request::with(|_| Ok(()))?;
            const EXIT_PHASES: request::Phases = request::Phases::of(&[
                Phase::Rewrite,
                Phase::Access,
                Phase::Content,
                Phase::HeaderFilter,
                Phase::Balancer,
            ]);
            request::check_context(EXIT_PHASES)?;
            Ok((code, request::record_sync_exit(code)))
        })?,
    )?;
    Ok(())
}

/// `ngx.arg`: the body filter's chunk and eof flag.
pub fn register_arg(lua: &Lua, ngx: &Table) -> mlua::Result<()> {
    let arg = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.set(
        "__index",
        lua.create_function(|lua, (_t, n): (Table, i64)| match request::phase() {
            request::Phase::BodyFilter => crate::filter::body_arg(lua, n),
            request::Phase::Set => crate::filter::set_arg(lua, n),
            _ => Ok(Value::Nil),
        })?,
    )?;
    mt.set(
        "__newindex",
        lua.create_function(|_, (_t, n, v): (Table, i64, Value)| crate::filter::set_body_arg(n, v))?,
    )?;
    arg.set_metatable(Some(mt))?;
    ngx.set("arg", arg)
}
