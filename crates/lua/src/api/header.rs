//! `ngx.header`: the response headers, read and written by name (`_` reads as `-`).
//! Content-Type and Content-Length live apart from the other headers, as in nginx.

use super::lua_type_name;
use mlua::{Lua, Table, Value};

use crate::request;

fn values(v: &Value) -> mlua::Result<Option<Vec<String>>> {
    let one = |v: &Value| -> mlua::Result<String> {
        Ok(match v {
            Value::String(s) => s.to_str()?.to_string(),
            Value::Integer(i) => i.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Boolean(b) => b.to_string(),
            other => {
                return Err(mlua::Error::runtime(format!(
                    "attempt to set a header value of type {}",
                    lua_type_name(other)
                )));
            }
        })
    };
    Ok(match v {
        Value::Nil => None,
        Value::Table(t) => {
            let mut out = Vec::new();
            for i in 1..=t.raw_len() {
                out.push(one(&t.raw_get(i)?)?);
            }
            Some(out)
        }
        v => Some(vec![one(v)?]),
    })
}

/// Escapes what would end a header line early, as OpenResty does for names and values set
/// from Lua (`a\r\nb` becomes `a%0D%0Ab`): Lua code cannot inject headers or split the
/// response. Names also lose spaces and colons; values keep tabs.
pub fn escape_header(text: &str, is_name: bool) -> std::borrow::Cow<'_, str> {
    let bad = |b: u8| b == 0x7f || (b < 0x20 && (is_name || b != b'\t')) || (is_name && (b == b' ' || b == b':'));
    if !text.bytes().any(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match u8::try_from(c) {
            Ok(b) if bad(b) => out.push_str(&format!("%{b:02X}")),
            _ => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Sets (or, with `None`, clears) a response header as `ngx.header.NAME = v` does.
/// After the headers went out it logs and changes nothing (Ok), as OpenResty.
pub fn set(r: &mut http::request::Request, name: &str, vals: Option<&[&str]>) -> Result<(), String> {
    if r.header_sent {
        r.log(
            http::log::Level::Error,
            "attempt to set ngx.header.HEADER after sending out response headers",
        );
        return Ok(());
    }
    let name = crate::directives::response_header_name(r, name);
    let name = escape_header(&name, true);
    let last = || vals.and_then(|v| v.last()).map(|s| escape_header(s, false));
    if name.eq_ignore_ascii_case("content-type") {
        r.content_type = last().map(|s| std::sync::Arc::from(&*s));
        r.content_type_set = true;
    } else if name.eq_ignore_ascii_case("content-length") {
        r.content_length = match last() {
            Some(s) => Some(
                s.trim()
                    .parse()
                    .map_err(|_| format!("invalid Content-Length header value: {s}"))?,
            ),
            None => None,
        };
    } else {
        r.headers_out.remove(&name);
        for v in vals.into_iter().flatten() {
            r.headers_out.add(&name, escape_header(v, false).into_owned());
        }
    }
    Ok(())
}

/// The response headers nginx keeps in a single slot: `ngx.resp.add_header` replaces
/// them, as OpenResty does, where it appends to every other header.
const SINGLE_VALUED: &[&str] = &[
    "server",
    "date",
    "content-type",
    "content-length",
    "content-encoding",
    "location",
    "refresh",
    "last-modified",
    "content-range",
    "accept-ranges",
    "www-authenticate",
    "expires",
    "etag",
];

/// `require("ngx.resp").add_header(name, value)`: a header added next to those of the
/// same name (a table adds each value).
fn add(r: &mut http::request::Request, name: &str, vals: &[&str]) -> Result<(), String> {
    let full = crate::directives::response_header_name(r, name);
    if r.header_sent || SINGLE_VALUED.iter().any(|h| full.eq_ignore_ascii_case(h)) {
        return set(r, name, Some(vals));
    }
    let full = escape_header(&full, true);
    for v in vals {
        r.headers_out.add(&full, escape_header(v, false).into_owned());
    }
    Ok(())
}

pub fn register(lua: &Lua, ngx: &Table) -> mlua::Result<()> {
    let resp = lua.create_table()?;
    resp.set("version", "0.1.28")?;
    resp.set(
        "add_header",
        super::api_function(lua, "add_header", |_, (k, v): (String, Value)| {
            let vals = values(&v)?.filter(|v| !v.is_empty());
            let Some(vals) = vals else {
                return Err(mlua::Error::runtime("invalid header value"));
            };
            let vals: Vec<&str> = vals.iter().map(String::as_str).collect();
            request::with(|r| add(r, &k, &vals).map_err(mlua::Error::runtime))
        })?,
    )?;
    super::preload_module(lua, "ngx.resp", resp)?;

    let header = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.set(
        "__index",
        lua.create_function(|lua, (_t, k): (Table, String)| {
            request::with(|r| {
                let name = crate::directives::response_header_name(r, &k);
                if name.eq_ignore_ascii_case("content-type") {
                    return match &r.content_type {
                        Some(ct) => Ok(Value::String(lua.create_string(ct.as_bytes())?)),
                        None => Ok(Value::Nil),
                    };
                }
                if name.eq_ignore_ascii_case("content-length") {
                    return match r.content_length {
                        Some(n) => Ok(Value::String(lua.create_string(n.to_string())?)),
                        None => Ok(Value::Nil),
                    };
                }
                let all: Vec<&str> = r.headers_out.get_all(&name).collect();
                match all.len() {
                    0 => Ok(Value::Nil),
                    1 => Ok(Value::String(lua.create_string(all[0])?)),
                    _ => Ok(Value::Table(
                        lua.create_sequence_from(all.iter().map(|s| s.to_string()))?,
                    )),
                }
            })
        })?,
    )?;
    mt.set(
        "__newindex",
        lua.create_function(|_, (_t, k, v): (Table, String, Value)| {
            let vals = values(&v)?;
            let vals: Option<Vec<&str>> = vals.as_ref().map(|v| v.iter().map(String::as_str).collect());
            request::with(|r| set(r, &k, vals.as_deref()).map_err(mlua::Error::runtime))
        })?,
    )?;
    header.set_metatable(Some(mt))?;
    ngx.set("header", header)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::escape_header;

    #[test]
    fn header_text_cannot_break_the_line() {
        assert_eq!(escape_header("plain value", false), "plain value");
        assert_eq!(escape_header("a\r\nSet-Cookie: x=1", false), "a%0D%0ASet-Cookie: x=1");
        assert_eq!(escape_header("tab\tkept\x7f", false), "tab\tkept%7F");
        assert_eq!(escape_header("X-A: b\r\n", true), "X-A%3A%20b%0D%0A");
        assert_eq!(escape_header("ünï", true), "ünï");
    }
}
