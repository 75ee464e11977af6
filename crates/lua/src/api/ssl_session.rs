//! `require "ngx.ssl.session"` (lua-resty-core's module), for
//! `ssl_session_fetch_by_lua*` and `ssl_session_store_by_lua*`: the session's id, the
//! session made (to keep), the session found (to resume).

use http::tls::HandshakeFacts;
use mlua::Lua;

use super::api_function;
use super::ssl::{HANDSHAKE, fail, one};
use crate::request;

/// The handshake facts of a session hook; elsewhere lua-resty-core's answers: `nil, "bad
/// request"` in a request (Err(None)), an error without one.
fn session_facts() -> mlua::Result<Result<HandshakeFacts, ()>> {
    let phase = request::phase();
    if matches!(phase, request::Phase::SslSessFetch | request::Phase::SslSessStore)
        && let Some(f) = HANDSHAKE.with(|h| h.borrow().clone())
    {
        return Ok(Ok(f));
    }
    match request::with(|_| Ok(())) {
        Ok(()) => Ok(Err(())),
        Err(_) => Err(mlua::Error::runtime("no request found")),
    }
}

/// `require "ngx.ssl.session"`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let m = lua.create_table()?;
    m.set(
        "get_session_id",
        api_function(lua, "get_session_id", |lua, ()| {
            let Ok(f) = session_facts()? else {
                return fail(lua, "bad request");
            };
            let hex: String = f.session_id.iter().map(|b| format!("{b:02x}")).collect();
            one(lua, hex)
        })?,
    )?;
    m.set(
        "get_serialized_session",
        api_function(lua, "get_serialized_session", |lua, ()| {
            let Ok(f) = session_facts()? else {
                return fail(lua, "bad request");
            };
            match f.session.as_ref().map(|s| s.to_der()) {
                Some(Ok(der)) => one(lua, lua.create_string(der)?),
                Some(Err(_)) => fail(lua, "i2d_SSL_SESSION() failed"),
                None => fail(lua, "bad session in lua context"),
            }
        })?,
    )?;
    m.set(
        "set_serialized_session",
        api_function(lua, "set_serialized_session", |lua, der: mlua::LuaString| {
            let Ok(f) = session_facts()? else {
                return fail(lua, "bad request");
            };
            match openssl::ssl::SslSession::from_der(&der.as_bytes()) {
                Ok(s) => {
                    *f.resume.borrow_mut() = Some(s);
                    one(lua, true)
                }
                Err(_) => fail(lua, "d2i_SSL_SESSION() failed"),
            }
        })?,
    )?;
    super::preload_module(lua, "ngx.ssl.session", m)
}
