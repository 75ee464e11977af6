//! `require "ngx.ssl"` (lua-resty-core's module): the TLS session of the handshake that
//! `ssl_certificate_by_lua*` runs in (certificates and keys in DER or parsed from PEM,
//! client verification, the SNI name, versions, addresses), or, in a request on an https
//! connection, that connection's session. Results and errors as lua-resty-core's: a value,
//! or nil and a message.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use foreign_types::ForeignTypeRef;
use http::tls::HandshakeFacts;
use mlua::{Lua, MultiValue, UserData, Value};
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslRef, SslVerifyMode};
use openssl::x509::X509;

use super::api_function;
use crate::request;

thread_local! {
    /// The handshake whose hook is running (set around each poll of its run).
    pub(super) static HANDSHAKE: RefCell<Option<HandshakeFacts>> = const { RefCell::new(None) };
}

/// Runs a hook's future with its handshake current, for `ngx.ssl`.
pub fn with_handshake<F: Future>(facts: HandshakeFacts, inner: F) -> impl Future<Output = F::Output> {
    WithHandshake {
        facts,
        inner: Box::pin(inner),
    }
}

struct WithHandshake<F: Future> {
    facts: HandshakeFacts,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for WithHandshake<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let prev = HANDSHAKE.with(|h| h.replace(Some(self.facts.clone())));
        let out = self.inner.as_mut().poll(cx);
        HANDSHAKE.with(|h| *h.borrow_mut() = prev);
        out
    }
}

/// A certificate chain `parse_pem_cert` made (lua-resty-core gives a cdata).
struct CertChain(Vec<X509>);
impl UserData for CertChain {}

/// A private key `parse_pem_priv_key` made.
struct PrivKey(PKey<Private>);
impl UserData for PrivKey {}

pub(super) type Answer = mlua::Result<MultiValue>;

pub(super) fn fail(lua: &Lua, msg: impl AsRef<str>) -> Answer {
    Ok(MultiValue::from_vec(vec![
        Value::Nil,
        Value::String(lua.create_string(msg.as_ref())?),
    ]))
}

pub(super) fn one(lua: &Lua, v: impl mlua::IntoLua) -> Answer {
    Ok(MultiValue::from_vec(vec![v.into_lua(lua)?]))
}

/// Runs `f` on the current session: the handshake's, else the request's connection's.
pub(super) fn with_session<R>(f: impl FnOnce(&mut SslRef) -> R) -> Result<R, &'static str> {
    // (a session store hook runs after its handshake: it has no session to reach)
    if let Some(ssl) = HANDSHAKE
        .with(|h| h.borrow().as_ref().map(|f| f.ssl))
        .filter(|p| !p.is_null())
    {
        // SAFETY: the handshake that set these facts is running (its future is being
        // polled), so its session is alive; nothing else touches it during this call.
        let ssl = unsafe { SslRef::from_ptr_mut(ssl) };
        return Ok(f(ssl));
    }
    request::with(|r| match &*r.io.stream {
        http::io::Stream::Tls(t) => Ok(Some(t.with_ssl(|s| {
            // SAFETY: the request's session, alive with its connection; the stream's own
            // borrow is shared and this call changes nothing it relies on.
            let ssl = unsafe { SslRef::from_ptr_mut(s.as_ptr()) };
            f(ssl)
        }))),
        _ => Ok(None),
    })
    .ok()
    .flatten()
    .ok_or("no SSL connection")
}

/// Splits concatenated DER certificates (what `cert_pem_to_der` makes).
pub(crate) fn der_certs(mut der: &[u8]) -> Option<Vec<X509>> {
    let mut out = Vec::new();
    while !der.is_empty() {
        // a SEQUENCE: 0x30, then a short or long length
        if der.len() < 2 || der[0] != 0x30 {
            return None;
        }
        let (len, head) = match der[1] {
            n if n < 0x80 => (n as usize, 2),
            n => {
                let k = (n & 0x7f) as usize;
                if k == 0 || k > 4 || der.len() < 2 + k {
                    return None;
                }
                (der[2..2 + k].iter().fold(0usize, |a, &b| a << 8 | b as usize), 2 + k)
            }
        };
        let end = head.checked_add(len).filter(|&e| e <= der.len())?;
        out.push(X509::from_der(&der[..end]).ok()?);
        der = &der[end..];
    }
    (!out.is_empty()).then_some(out)
}

fn set_chain(ssl: &mut SslRef, chain: &[X509]) -> Result<(), &'static str> {
    let (leaf, rest) = chain.split_first().ok_or("no certificate")?;
    ssl.set_certificate(leaf).map_err(|_| "SSL_use_certificate() failed")?;
    for c in rest {
        ssl.add_chain_cert(c.clone())
            .map_err(|_| "SSL_add1_chain_cert() failed")?;
    }
    Ok(())
}

/// An address as nginx's raw form: its bytes and type.
fn raw_addr(lua: &Lua, a: Option<std::net::SocketAddr>) -> Answer {
    let (bytes, kind) = match a {
        Some(std::net::SocketAddr::V4(v)) => (v.ip().octets().to_vec(), "inet"),
        Some(std::net::SocketAddr::V6(v)) => (v.ip().octets().to_vec(), "inet6"),
        None => (Vec::new(), "unix"),
    };
    Ok(MultiValue::from_vec(vec![
        Value::String(lua.create_string(bytes)?),
        Value::String(lua.create_string(kind)?),
    ]))
}

/// The connection's addresses: the handshake's, else the request's.
fn addresses() -> Option<(Option<std::net::SocketAddr>, Option<std::net::SocketAddr>)> {
    if let Some(a) = HANDSHAKE.with(|h| h.borrow().as_ref().map(|f| (f.peer, f.local))) {
        return Some(a);
    }
    request::with(|r| Ok((r.conn.peer, r.conn.local))).ok()
}

// (not declared by openssl-sys)
unsafe extern "C" {
    fn SSL_certs_clear(ssl: *mut openssl_sys::SSL);
}

pub fn register(lua: &Lua, private: &mlua::Table) -> mlua::Result<()> {
    // (for tcpsock:setclientcert: a parsed chain and key as DER the cosocket takes)
    private.set(
        "ssl_client_cert_der",
        api_function(
            lua,
            "setclientcert",
            |lua, (cert, key): (mlua::AnyUserData, mlua::AnyUserData)| {
                let chain = cert.borrow::<CertChain>()?;
                let key = key.borrow::<PrivKey>()?;
                let mut der = Vec::new();
                for c in &chain.0 {
                    der.extend(c.to_der().map_err(mlua::Error::external)?);
                }
                let key_der = key.0.private_key_to_der().map_err(mlua::Error::external)?;
                Ok((lua.create_string(der)?, lua.create_string(key_der)?))
            },
        )?,
    )?;
    let m = lua.create_table()?;
    m.set(
        "clear_certs",
        api_function(lua, "clear_certs", |lua, ()| {
            match with_session(|s| {
                // SAFETY: the live session `with_session` gives.
                unsafe { SSL_certs_clear(s.as_ptr()) }
            }) {
                Ok(()) => one(lua, true),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    m.set(
        "cert_pem_to_der",
        api_function(
            lua,
            "cert_pem_to_der",
            |lua, pem: mlua::LuaString| match X509::stack_from_pem(&pem.as_bytes()).ok().filter(|c| !c.is_empty()) {
                Some(chain) => {
                    let mut der = Vec::new();
                    for c in chain {
                        der.extend(c.to_der().map_err(mlua::Error::external)?);
                    }
                    one(lua, lua.create_string(der)?)
                }
                None => fail(lua, "PEM_read_bio_X509_AUX() failed"),
            },
        )?,
    )?;
    m.set(
        "priv_key_pem_to_der",
        api_function(
            lua,
            "priv_key_pem_to_der",
            |lua, pem: mlua::LuaString| match http::tls::load_key(&pem.as_bytes(), &[])
                .and_then(|k| k.private_key_to_der())
            {
                Ok(der) => one(lua, lua.create_string(der)?),
                Err(_) => fail(lua, "PEM_read_bio_PrivateKey() failed"),
            },
        )?,
    )?;
    m.set(
        "set_der_cert",
        api_function(lua, "set_der_cert", |lua, der: mlua::LuaString| {
            let Some(chain) = der_certs(&der.as_bytes()) else {
                return fail(lua, "d2i_X509_bio() failed");
            };
            match with_session(|s| set_chain(s, &chain)) {
                Ok(Ok(())) => one(lua, true),
                Ok(Err(e)) | Err(e) => fail(lua, e),
            }
        })?,
    )?;
    m.set(
        "set_der_priv_key",
        api_function(lua, "set_der_priv_key", |lua, der: mlua::LuaString| {
            let Ok(key) = PKey::private_key_from_der(&der.as_bytes()) else {
                return fail(lua, "d2i_PrivateKey_bio() failed");
            };
            match with_session(|s| s.set_private_key(&key).map_err(|_| "SSL_use_PrivateKey() failed")) {
                Ok(Ok(())) => one(lua, true),
                Ok(Err(e)) | Err(e) => fail(lua, e),
            }
        })?,
    )?;
    m.set(
        "parse_pem_cert",
        api_function(
            lua,
            "parse_pem_cert",
            |lua, pem: mlua::LuaString| match X509::stack_from_pem(&pem.as_bytes()).ok().filter(|c| !c.is_empty()) {
                Some(chain) => one(lua, lua.create_userdata(CertChain(chain))?),
                None => fail(lua, "PEM_read_bio_X509_AUX() failed"),
            },
        )?,
    )?;
    m.set(
        "parse_pem_priv_key",
        api_function(
            lua,
            "parse_pem_priv_key",
            |lua, pem: mlua::LuaString| match http::tls::load_key(&pem.as_bytes(), &[]) {
                Ok(k) => one(lua, lua.create_userdata(PrivKey(k))?),
                Err(_) => fail(lua, "PEM_read_bio_PrivateKey() failed"),
            },
        )?,
    )?;
    m.set(
        "set_cert",
        api_function(lua, "set_cert", |lua, chain: mlua::AnyUserData| {
            let chain = chain.borrow::<CertChain>()?;
            match with_session(|s| set_chain(s, &chain.0)) {
                Ok(Ok(())) => one(lua, true),
                Ok(Err(e)) | Err(e) => fail(lua, e),
            }
        })?,
    )?;
    m.set(
        "set_priv_key",
        api_function(lua, "set_priv_key", |lua, key: mlua::AnyUserData| {
            let key = key.borrow::<PrivKey>()?;
            match with_session(|s| s.set_private_key(&key.0).map_err(|_| "SSL_use_PrivateKey() failed")) {
                Ok(Ok(())) => one(lua, true),
                Ok(Err(e)) | Err(e) => fail(lua, e),
            }
        })?,
    )?;
    m.set(
        "server_name",
        api_function(lua, "server_name", |lua, ()| {
            match with_session(|s| s.servername(openssl::ssl::NameType::HOST_NAME).map(str::to_string)) {
                Ok(Some(name)) => one(lua, name),
                Ok(None) => one(lua, Value::Nil),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    m.set(
        "server_port",
        api_function(lua, "server_port", |lua, ()| match addresses() {
            Some((_, Some(local))) => one(lua, local.port()),
            Some((_, None)) => fail(lua, "unix domain has no port"),
            None => fail(lua, "no request found"),
        })?,
    )?;
    m.set(
        "raw_server_addr",
        api_function(lua, "raw_server_addr", |lua, ()| match addresses() {
            Some((_, local)) => raw_addr(lua, local),
            None => fail(lua, "no request found"),
        })?,
    )?;
    m.set(
        "raw_client_addr",
        api_function(lua, "raw_client_addr", |lua, ()| match addresses() {
            Some((peer, _)) => raw_addr(lua, peer),
            None => fail(lua, "no request found"),
        })?,
    )?;
    m.set(
        "get_tls1_version",
        api_function(lua, "get_tls1_version", |lua, ()| {
            // SAFETY: the live session `with_session` gives.
            match with_session(|s| unsafe { openssl_sys::SSL_version(s.as_ptr()) }) {
                Ok(v) => one(lua, v),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    m.set(
        "get_tls1_version_str",
        api_function(lua, "get_tls1_version_str", |lua, ()| {
            match with_session(|s| s.version_str().to_string()) {
                Ok(v) => one(lua, v),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    m.set(
        "get_client_random",
        api_function(lua, "get_client_random", |lua, outlen: Option<usize>| {
            let mut buf = vec![0u8; outlen.unwrap_or(32)];
            match with_session(|s| s.client_random(&mut buf)) {
                Ok(n) if outlen == Some(0) => one(lua, n),
                Ok(n) => {
                    buf.truncate(n);
                    one(lua, lua.create_string(buf)?)
                }
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    m.set(
        "verify_client",
        api_function(
            lua,
            "verify_client",
            |lua, (ca, depth): (Option<mlua::AnyUserData>, Option<u32>)| {
                let chain = match &ca {
                    Some(ud) => Some(ud.borrow::<CertChain>()?.0.clone()),
                    None => None,
                };
                let done = with_session(|s| {
                    if let Some(chain) = &chain {
                        let mut store =
                            openssl::x509::store::X509StoreBuilder::new().map_err(|_| "X509_STORE_new() failed")?;
                        let mut names = openssl::stack::Stack::new().map_err(|_| "sk_X509_NAME_new_null() failed")?;
                        for c in chain {
                            store.add_cert(c.clone()).map_err(|_| "X509_STORE_add_cert() failed")?;
                            names
                                .push(c.subject_name().to_owned().map_err(|_| "X509_NAME_dup() failed")?)
                                .map_err(|_| "sk_X509_NAME_push() failed")?;
                        }
                        s.set_verify_cert_store(store.build())
                            .map_err(|_| "SSL_set0_verify_cert_store() failed")?;
                        s.set_client_ca_list(names);
                    }
                    // (judged per request, as with ssl_verify_client)
                    s.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
                    if let Some(d) = depth {
                        // SAFETY: the live session `with_session` gives.
                        unsafe { SSL_set_verify_depth(s.as_ptr(), d as std::ffi::c_int) };
                    }
                    Ok::<(), &'static str>(())
                });
                match done {
                    Ok(Ok(())) => one(lua, true),
                    Ok(Err(e)) | Err(e) => fail(lua, e),
                }
            },
        )?,
    )?;
    super::preload_module(lua, "ngx.ssl", m)?;
    super::ssl_clienthello::register(lua)?;
    super::ssl_session::register(lua)
}

// (not declared by openssl-sys)
unsafe extern "C" {
    fn SSL_set_verify_depth(ssl: *mut openssl_sys::SSL, depth: std::ffi::c_int);
}

#[cfg(test)]
mod tests {
    #[test]
    fn concatenated_der_certificates_split() {
        let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../t/cert/test-rsa-chain.crt")).unwrap();
        let chain = openssl::x509::X509::stack_from_pem(&pem).unwrap();
        let der: Vec<u8> = chain.iter().flat_map(|c| c.to_der().unwrap()).collect();
        let back = super::der_certs(&der).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].to_der().unwrap(), chain[1].to_der().unwrap());
        assert!(super::der_certs(&der[..der.len() - 1]).is_none());
        assert!(super::der_certs(b"\x30").is_none());
    }
}
