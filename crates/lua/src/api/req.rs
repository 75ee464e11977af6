//! `ngx.req`: the request as the client sent it — method, URI args, headers, body.

use mlua::{FromLua, Lua, Table, Value};

use super::header::escape_header;
use super::{api_function, bad_argument as bad_arg, lua_type_name};
use crate::request;

/// Decodes `%XX` and `+` (as nginx's ngx_unescape_uri for args).
pub fn unescape(s: &str) -> Vec<u8> {
    unescape_bytes(s.as_bytes())
}

pub fn unescape_bytes(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: &u8| (*c as char).to_digit(16);
                match (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex)) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Parses `a=1&b&a=2` into a Lua table: repeated keys become arrays, bare keys `true`.
pub fn args_table(lua: &Lua, args: &str, max: usize) -> mlua::Result<(Table, bool)> {
    let t = lua.create_table()?;
    let segments: Vec<&str> = args.split('&').collect();
    let last = segments.len() - 1;
    for (i, part) in segments.iter().enumerate() {
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (*part, None),
        };
        let k = unescape(k);
        // as OpenResty: `&&` and `=x` give no argument (but count toward `max`)
        if !k.is_empty() {
            let key = lua.create_string(k)?;
            let val = match v {
                Some(v) => Value::String(lua.create_string(unescape(v))?),
                None => Value::Boolean(true),
            };
            match t.raw_get::<Value>(key.clone())? {
                Value::Nil => t.raw_set(key, val)?,
                Value::Table(list) => list.raw_push(val)?,
                prev => t.raw_set(key, lua.create_sequence_from([prev, val])?)?,
            }
        }
        // OpenResty counts the pieces ended by `&`: reaching `max` there, with more
        // text after it, is a truncation
        if i < last && max > 0 && i + 1 == max {
            return Ok((t, true));
        }
    }
    Ok((t, false))
}

/// `ngx.encode_args`: a table to a query string.
pub fn encode_args(t: &Table) -> mlua::Result<String> {
    let mut parts = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let key = match k {
            Value::String(s) => escape(&s.as_bytes()),
            Value::Integer(i) => i.to_string(),
            other => {
                return Err(mlua::Error::runtime(format!(
                    "attempt to use {} as query arg key",
                    lua_type_name(&other)
                )));
            }
        };
        let mut add = |v: &Value| -> mlua::Result<()> {
            match v {
                Value::Boolean(true) => parts.push((key.clone(), key.clone())),
                Value::Boolean(false) => {}
                Value::String(s) => parts.push((key.clone(), format!("{key}={}", escape(&s.as_bytes())))),
                Value::Integer(i) => parts.push((key.clone(), format!("{key}={i}"))),
                Value::Number(n) => parts.push((key.clone(), format!("{key}={n}"))),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "attempt to use {} as query arg value",
                        lua_type_name(other)
                    )));
                }
            }
            Ok(())
        };
        match &v {
            Value::Table(list) => {
                for i in 1..=list.raw_len() {
                    add(&list.raw_get(i)?)?;
                }
            }
            other => add(other)?,
        }
    }
    // keys sorted for a stable result; the values of one key stay in their order
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(parts.into_iter().map(|(_, part)| part).collect::<Vec<_>>().join("&"))
}

/// URI-escapes as ngx.escape_uri does for args.
fn escape(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    super::codec::push_escaped(&mut out, b);
    out
}

fn max_arg(v: Option<i64>, default: usize) -> usize {
    match v {
        Some(n) if n >= 0 => n as usize,
        _ => default,
    }
}

/// `ngx.req.set_header(name, value)` (and `clear_header`, a nil value), with the side
/// effects nginx's own header handlers have: Host changes `$host` (cleared: the server
/// name stands in), Content-Length changes how much body a later read takes.
fn set_header(lua: &Lua, r: &mut http::request::Request, name: &str, value: Value) -> mlua::Result<()> {
    use http::request::{Body, Framing};
    let name = escape_header(&name.replace('_', "-"), true).into_owned();
    let values: Vec<String> = match value {
        Value::Nil => Vec::new(),
        Value::Table(t) => (1..=t.raw_len())
            .map(|i| match t.raw_get::<Value>(i)? {
                // as tostring() makes them in OpenResty
                Value::Boolean(b) => Ok(b.to_string()),
                v => mlua::LuaString::from_lua(v, lua).map(|v| escape_header(&v.to_string_lossy(), false).into_owned()),
            })
            .collect::<mlua::Result<_>>()?,
        Value::String(s) => vec![escape_header(&s.to_str()?, false).into_owned()],
        Value::Integer(i) => vec![i.to_string()],
        Value::Number(n) => vec![n.to_string()],
        Value::Boolean(b) => vec![b.to_string()],
        other => {
            return Err(mlua::Error::runtime(format!(
                "bad header value: {}",
                lua_type_name(&other)
            )));
        }
    };
    if name.eq_ignore_ascii_case("content-length") {
        let framing = match values.first() {
            None => Framing::None,
            Some(v) => match v.parse::<u64>() {
                Ok(0) if v.bytes().all(|c| c.is_ascii_digit()) => Framing::None,
                Ok(n) if v.bytes().all(|c| c.is_ascii_digit()) => Framing::Length(n),
                _ => return Err(mlua::Error::runtime("failed to set header")),
            },
        };
        // a body not read yet is read to the new length (chunked framing stays)
        if matches!(r.body, Body::Unread) && r.framing != Framing::Chunked {
            r.framing = framing;
        }
    }
    keep_received_headers(r);
    r.headers_in.remove(&name);
    for v in values {
        r.headers_in.add(&name, v);
    }
    if name.eq_ignore_ascii_case("host") {
        r.host = r.headers_in.get("host").and_then(http::h1::validate_host);
    }
    Ok(())
}

/// The request's header lines as received, kept before Lua first changes them:
/// `ngx.req.raw_header` shows what the client sent.
struct ReceivedHeaders(Vec<(String, String)>);

fn keep_received_headers(r: &mut http::request::Request) {
    if r.ctx::<ReceivedHeaders>().is_none() {
        let list = r.headers_in.list.clone();
        r.set_ctx(ReceivedHeaders(list));
    }
}

/// A new request body's length, in the request's headers.
fn set_content_length(r: &mut http::request::Request, len: u64) {
    keep_received_headers(r);
    r.headers_in.set("Content-Length", len.to_string());
}

/// What OpenResty calls "request body not read yet": a body neither read nor replaced,
/// or thrown away by `discard_body` (a request without a body counts as read).
fn body_not_read(r: &http::request::Request) -> bool {
    use http::request::{Body, Framing};
    match r.body {
        Body::Discarded => true,
        Body::Unread => r.framing != Framing::None,
        _ => false,
    }
}

/// `require "ngx.req"` (lua-resty-core): `get_uri_ext([max])`.
fn register_module(lua: &Lua) -> mlua::Result<()> {
    let module = lua.create_table()?;
    module.set("version", "0.1.28")?;
    module.set(
        "get_uri_ext",
        api_function(lua, "get_uri_ext", |_, max: Value| {
            let max = match max {
                Value::Integer(n) if n > 0 => n as usize,
                Value::Number(n) if n >= 1.0 => n as usize,
                Value::String(s) => s.to_str()?.trim().parse().ok().filter(|&n| n > 0).unwrap_or(255),
                _ => 255,
            };
            request::with(|r| {
                let ext = r.uri_extension();
                Ok(ext.as_bytes()[..ext.len().min(max)].to_vec())
            })
            .map(mlua::BString::from)
        })?,
    )?;
    super::preload_module(lua, "ngx.req", module)
}

pub fn register(lua: &Lua, ngx: &Table, private: &Table) -> mlua::Result<()> {
    register_module(lua)?;
    let req = lua.create_table()?;
    req.set(
        "get_method",
        api_function(lua, "get_method", |_, ()| request::with(|r| Ok(r.method.to_string())))?,
    )?;
    req.set(
        "http_version",
        api_function(lua, "http_version", |_, ()| {
            request::with(|r| Ok(r.version.0 as f64 + r.version.1 as f64 / 10.0))
        })?,
    )?;
    req.set(
        "is_internal",
        api_function(lua, "is_internal", |_, ()| request::with(|r| Ok(r.internal)))?,
    )?;
    req.set(
        "start_time",
        api_function(lua, "start_time", |_, ()| {
            request::with(|r| {
                let now = http::time::now_f64();
                Ok(((now - r.start.elapsed().as_secs_f64()) * 1000.0).round() / 1000.0)
            })
        })?,
    )?;
    req.set(
        "get_uri_args",
        api_function(lua, "get_uri_args", |lua, max: Option<i64>| {
            request::with(|r| {
                let (t, truncated) = args_table(lua, &r.args, max_arg(max, 100))?;
                Ok((t, if truncated { Some("truncated") } else { None }))
            })
        })?,
    )?;
    req.set(
        "set_header",
        api_function(lua, "set_header", |lua, (name, value): (String, Value)| {
            request::with(|r| set_header(lua, r, &name, value))
        })?,
    )?;
    req.set(
        "clear_header",
        api_function(lua, "clear_header", |lua, name: String| {
            request::with(|r| set_header(lua, r, &name, Value::Nil))
        })?,
    )?;
    req.set(
        "get_body_data",
        api_function(lua, "get_body_data", |lua, ()| {
            request::with(|r| match r.body_bytes() {
                Some(b) if !b.is_empty() => Ok(Value::String(lua.create_string(b)?)),
                _ => Ok(Value::Nil),
            })
        })?,
    )?;
    req.set(
        "get_body_file",
        api_function(lua, "get_body_file", |_, ()| {
            request::with(|r| match &r.body {
                http::request::Body::File(f, _) => Ok(Some(f.0.display().to_string())),
                _ => Ok(None),
            })
        })?,
    )?;
    req.set(
        "get_post_args",
        api_function(lua, "get_post_args", |lua, max: Option<i64>| {
            request::with(|r| {
                if matches!(r.body, http::request::Body::Unread) && r.framing != http::request::Framing::None {
                    return Err(mlua::Error::runtime(
                        "no request body found; maybe you should turn on lua_need_request_body?",
                    ));
                }
                if let http::request::Body::File(..) = r.body {
                    return Ok((Value::Nil, Some("request body in temp file not supported")));
                }
                let body = String::from_utf8_lossy(r.body_bytes().unwrap_or_default()).into_owned();
                let (t, truncated) = args_table(lua, &body, max_arg(max, 100))?;
                Ok((Value::Table(t), if truncated { Some("truncated") } else { None }))
            })
        })?,
    )?;
    req.set(
        "set_method",
        api_function(lua, "set_method", |_, m: i64| {
            let name = match m {
                2 => "GET",
                4 => "HEAD",
                8 => "POST",
                16 => "PUT",
                32 => "DELETE",
                64 => "MKCOL",
                128 => "COPY",
                256 => "MOVE",
                512 => "OPTIONS",
                1024 => "PROPFIND",
                2048 => "PROPPATCH",
                4096 => "LOCK",
                8192 => "UNLOCK",
                16384 => "PATCH",
                32768 => "TRACE",
                _ => return Err(mlua::Error::runtime(format!("unsupported HTTP method: {m}"))),
            };
            request::with(|r| {
                r.method = std::borrow::Cow::Borrowed(name);
                Ok(())
            })
        })?,
    )?;
    req.set(
        "set_uri_args",
        api_function(lua, "set_uri_args", |_, v: Value| {
            let args = match v {
                Value::String(s) => s.to_str()?.to_string(),
                Value::Integer(i) => i.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Table(t) => encode_args(&t)?,
                other => {
                    return Err(bad_arg(
                        1,
                        "set_uri_args",
                        &format!("string, number, or table expected, but got {}", lua_type_name(&other)),
                    ));
                }
            };
            request::with(|r| {
                r.args = args;
                Ok(())
            })
        })?,
    )?;
    // set_uri(uri, jump): the Lua half yields to end the handler when jumping
    private.set(
        "set_uri",
        api_function(lua, "set_uri", |_, (uri, jump): (Value, Option<bool>)| {
            let uri = match uri {
                Value::String(s) => s.to_str()?.to_string(),
                other => {
                    return Err(bad_arg(
                        1,
                        "set_uri",
                        &format!("string expected, got {}", lua_type_name(&other)),
                    ));
                }
            };
            if uri.is_empty() {
                return Err(mlua::Error::runtime("attempt to use zero-length uri"));
            }
            super::check_uri_bytes(&uri, "uri")?;
            let jump = jump.unwrap_or(false);
            if jump {
                // jumping re-runs location lookup: only the rewrite phase can do that
                request::check_context(request::Phases::of(&[request::Phase::Rewrite]))?;
            }
            request::with(|r| {
                r.uri = uri;
                r.uri_rewritten = true;
                if jump {
                    r.uri_changed = true;
                }
                Ok(jump)
            })
        })?,
    )?;
    req.set(
        "raw_header",
        api_function(lua, "raw_header", |lua, no_request_line: Option<bool>| {
            // (rebuilt from the lines received: CRLF line ends, one space after the colon)
            request::with(|r| {
                let mut s = String::new();
                if !no_request_line.unwrap_or(false) {
                    s.push_str(&r.request_line());
                    s.push_str("\r\n");
                }
                let received = r.ctx::<ReceivedHeaders>().map(|kept| kept.0.clone());
                for (n, v) in received.as_ref().unwrap_or(&r.headers_in.list) {
                    s.push_str(n);
                    s.push_str(": ");
                    s.push_str(v);
                    s.push_str("\r\n");
                }
                s.push_str("\r\n");
                lua.create_string(s)
            })
        })?,
    )?;
    req.set(
        "set_body_data",
        api_function(lua, "set_body_data", |_, data: mlua::LuaString| {
            request::with(|r| {
                if body_not_read(r) {
                    return Err(mlua::Error::runtime("request body not read yet"));
                }
                let data = data.as_bytes().to_vec();
                set_content_length(r, data.len() as u64);
                r.body = http::request::Body::Memory(data);
                Ok(())
            })
        })?,
    )?;
    ngx.set("req", req)?;
    ngx.set(
        "encode_args",
        api_function(lua, "encode_args", |_, v: Value| match v {
            Value::Table(t) => encode_args(&t),
            other => Err(bad_arg(
                1,
                "encode_args",
                &format!("table expected, got {}", lua_type_name(&other)),
            )),
        })?,
    )?;
    ngx.set(
        "decode_args",
        api_function(lua, "decode_args", |lua, (s, max): (mlua::LuaString, Option<i64>)| {
            let s = s.to_str()?.to_string();
            let (t, truncated) = args_table(lua, &s, max_arg(max, 100))?;
            Ok((t, if truncated { Some("truncated") } else { None }))
        })?,
    )?;
    let resp = lua.create_table()?;
    // lookups by any spelling (headers["Content-Type"], headers.content_type), as for
    // ngx.req.get_headers: one metatable for every table returned
    let spellings = lua.create_table()?;
    spellings.set(
        "__index",
        lua.create_function(|_, (t, k): (Table, Value)| match k {
            Value::String(k) => t.raw_get::<Value>(k.to_str()?.to_ascii_lowercase().replace('_', "-")),
            _ => Ok(Value::Nil),
        })?,
    )?;
    resp.set(
        "get_headers",
        api_function(
            lua,
            "get_headers",
            move |lua, (max, raw): (Option<i64>, Option<bool>)| {
                request::with(|r| {
                    let max = max_arg(max, 100);
                    let t = lua.create_table()?;
                    let mut list: Vec<(String, String)> = Vec::new();
                    if let Some(ct) = &r.content_type {
                        list.push(("Content-Type".into(), ct.to_string()));
                    }
                    if let Some(n) = r.content_length {
                        list.push(("Content-Length".into(), n.to_string()));
                    }
                    // what the core's header filter adds, as OpenResty reports it: Connection
                    // always, Transfer-Encoding once chunked framing is decided
                    let connection = if r.keepalive { "keep-alive" } else { "close" };
                    list.push(("Connection".into(), connection.into()));
                    if r.header_sent && r.chunked {
                        list.push(("Transfer-Encoding".into(), "chunked".into()));
                    }
                    list.extend(r.headers_out.list.iter().cloned());
                    let mut truncated = false;
                    for (i, (name, value)) in list.into_iter().enumerate() {
                        if max > 0 && i >= max {
                            truncated = true;
                            break;
                        }
                        let key = if raw.unwrap_or(false) {
                            name
                        } else {
                            name.to_ascii_lowercase()
                        };
                        match t.raw_get::<Value>(key.as_str())? {
                            Value::Nil => t.raw_set(key, value)?,
                            Value::Table(l) => l.raw_push(value)?,
                            prev => t.raw_set(
                                key,
                                lua.create_sequence_from([prev, Value::String(lua.create_string(&value)?)])?,
                            )?,
                        }
                    }
                    if !raw.unwrap_or(false) {
                        t.set_metatable(Some(spellings.clone()))?;
                    }
                    Ok((t, if truncated { Some("truncated") } else { None }))
                })
            },
        )?,
    )?;
    ngx.set("resp", resp)?;
    Ok(())
}

/// A body being built by ngx.req.init_body / append_body / finish_body.
struct NewBody(Vec<u8>);

/// `ngx.req.init_body`, `append_body`, `finish_body`, `set_body_file`.
pub fn register_body(lua: &Lua, ngx: &Table) -> mlua::Result<()> {
    let req: Table = ngx.get("req")?;
    req.set(
        "init_body",
        api_function(lua, "init_body", |_, _size: Option<i64>| {
            request::with(|r| {
                if body_not_read(r) {
                    return Err(mlua::Error::runtime("request body not read yet"));
                }
                r.set_ctx(NewBody(Vec::new()));
                Ok(())
            })
        })?,
    )?;
    req.set(
        "append_body",
        api_function(lua, "append_body", |_, data: mlua::LuaString| {
            request::with(|r| match r.ctx::<NewBody>() {
                Some(b) => {
                    b.0.extend_from_slice(&data.as_bytes());
                    Ok(())
                }
                None => Err(mlua::Error::runtime("request_body not initialized")),
            })
        })?,
    )?;
    req.set(
        "finish_body",
        api_function(lua, "finish_body", |_, ()| {
            request::with(|r| {
                let Some(b) = r.ctx::<NewBody>() else {
                    return Err(mlua::Error::runtime("request_body not initialized"));
                };
                let data = std::mem::take(&mut b.0);
                set_content_length(r, data.len() as u64);
                r.body = http::request::Body::Memory(data);
                Ok(())
            })
        })?,
    )?;
    req.set(
        "set_body_file",
        api_function(lua, "set_body_file", |_, (path, auto_clean): (String, Option<bool>)| {
            let len = std::fs::metadata(&path)
                .map_err(|e| mlua::Error::runtime(format!("cannot open file {path}: {e}")))?
                .len();
            request::with(|r| {
                if body_not_read(r) {
                    return Err(mlua::Error::runtime("request body not read yet"));
                }
                let removal = if auto_clean.unwrap_or(false) {
                    http::body::Removal::Remove
                } else {
                    http::body::Removal::Keep
                };
                set_content_length(r, len);
                r.body = http::request::Body::File(http::body::TempFile(path.clone().into(), removal), len);
                Ok(())
            })
        })?,
    )?;
    Ok(())
}
