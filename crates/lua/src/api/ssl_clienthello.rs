//! `require "ngx.ssl.clienthello"` (lua-resty-core's module), for
//! `ssl_client_hello_by_lua*`: the ClientHello's server name, extensions and versions, and
//! the protocols the handshake may use.

use foreign_types::ForeignTypeRef;
use mlua::{Lua, Value};

use super::api_function;
use super::ssl::{fail, one, with_session};
use crate::request;

/// The ClientHello APIs' check: only in ssl_client_hello_by_lua, in lua-resty-core's
/// words.
fn in_client_hello() -> mlua::Result<()> {
    if request::phase() == request::Phase::SslClientHello {
        return Ok(());
    }
    let msg = match request::with(|_| Ok(())) {
        Ok(()) => "API disabled in the current context",
        Err(_) => "no request found",
    };
    Err(mlua::Error::runtime(msg))
}

/// A ClientHello extension's bytes.
fn client_hello_ext(ext: u32) -> Option<Vec<u8>> {
    with_session(|s| http::tls::client_hello_ext(s, ext).map(<[u8]>::to_vec))
        .ok()
        .flatten()
}

/// `require "ngx.ssl.clienthello"`.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let m = lua.create_table()?;
    m.set(
        "get_client_hello_server_name",
        api_function(lua, "get_client_hello_server_name", |lua, ()| {
            in_client_hello()?;
            match with_session(|s| http::tls::client_hello_server_name(s)) {
                Ok(Some(name)) => one(lua, name),
                Ok(None) => one(lua, Value::Nil),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    m.set(
        "get_client_hello_ext",
        api_function(lua, "get_client_hello_ext", |lua, ext: u32| {
            in_client_hello()?;
            match client_hello_ext(ext) {
                Some(b) => one(lua, lua.create_string(b)?),
                None => one(lua, Value::Nil),
            }
        })?,
    )?;
    m.set(
        "get_supported_versions",
        api_function(lua, "get_supported_versions", |lua, ()| {
            in_client_hello()?;
            let Some(ext) = client_hello_ext(43).filter(|e| !e.is_empty() && e[0] as usize == e.len() - 1) else {
                return one(lua, Value::Nil);
            };
            // (as lua-resty-core lists them: from the last one offered, unknown values
            // such as GREASE left out)
            let names: Vec<&str> = ext[1..]
                .chunks_exact(2)
                .rev()
                .filter_map(|v| match u16::from_be_bytes([v[0], v[1]]) {
                    0x002 => Some("SSLv2"),
                    0x300 => Some("SSLv3"),
                    0x301 => Some("TLSv1"),
                    0x302 => Some("TLSv1.1"),
                    0x303 => Some("TLSv1.2"),
                    0x304 => Some("TLSv1.3"),
                    _ => None,
                })
                .collect();
            one(lua, lua.create_sequence_from(names)?)
        })?,
    )?;
    m.set(
        "set_protocols",
        api_function(lua, "set_protocols", |lua, protocols: mlua::Table| {
            in_client_hello()?;
            let mut keep = openssl::ssl::SslOptions::empty();
            for p in protocols.sequence_values::<mlua::LuaString>() {
                let p = p?;
                keep |= match &*p.as_bytes() {
                    b"SSLv2" => openssl::ssl::SslOptions::NO_SSLV2,
                    b"SSLv3" => openssl::ssl::SslOptions::NO_SSLV3,
                    b"TLSv1" => openssl::ssl::SslOptions::NO_TLSV1,
                    b"TLSv1.1" => openssl::ssl::SslOptions::NO_TLSV1_1,
                    b"TLSv1.2" => openssl::ssl::SslOptions::NO_TLSV1_2,
                    b"TLSv1.3" => openssl::ssl::SslOptions::NO_TLSV1_3,
                    _ => return fail(lua, "invalid protocols failed"),
                };
            }
            let all = openssl::ssl::SslOptions::NO_SSLV2
                | openssl::ssl::SslOptions::NO_SSLV3
                | openssl::ssl::SslOptions::NO_TLSV1
                | openssl::ssl::SslOptions::NO_TLSV1_1
                | openssl::ssl::SslOptions::NO_TLSV1_2
                | openssl::ssl::SslOptions::NO_TLSV1_3;
            let done = with_session(|s| {
                // SAFETY: the live session `with_session` gives; only option bits change.
                unsafe {
                    SSL_clear_options(s.as_ptr(), all.bits());
                    SSL_set_options(s.as_ptr(), (all - keep).bits());
                }
            });
            match done {
                Ok(()) => one(lua, true),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    super::preload_module(lua, "ngx.ssl.clienthello", m)
}

// (not declared by openssl-sys)
unsafe extern "C" {
    fn SSL_set_options(ssl: *mut openssl_sys::SSL, op: u64) -> u64;
    fn SSL_clear_options(ssl: *mut openssl_sys::SSL, op: u64) -> u64;
}
