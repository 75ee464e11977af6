//! `ssl_certificate_by_lua_block` / `ssl_certificate_by_lua_file` in a `server` block: the
//! Lua code runs in each handshake once the ClientHello is read, before the certificate is
//! used (the http crate's `tls::CertHook`), and sets it with `ngx.ssl` (api/ssl.rs). As in
//! OpenResty it may wait (cosockets, `ngx.sleep`, semaphores): the handshake waits for
//! it. `ngx.exit(ngx.ERROR)` or a Lua error fails that handshake only.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use conf::{Cmd, Result};
use http::HttpBuilder;
use http::log::Level;
use http::tls::{CertHook, HandshakeFacts};
use mlua::Lua;

use crate::directives::LuaCode;
use crate::request::{Phase, RunContext};
use crate::sched::{End, Sched};

struct LuaCertHook {
    lua: Lua,
    code: Rc<LuaCode>,
}

impl CertHook for LuaCertHook {
    fn run(&self, facts: HandshakeFacts) -> Pin<Box<dyn Future<Output = bool>>> {
        let (lua, code) = (self.lua.clone(), self.code.clone());
        Box::pin(async move {
            let client = facts.peer.map_or_else(|| "unix:".to_string(), |p| p.ip().to_string());
            let server = &facts.listen;
            let context = format!(", context: ssl_certificate_by_lua*, client: {client}, server: {server}");
            let report = |e: &str| http::elog!(Level::Error, facts.conn, "{e}{context}");
            let func = match crate::handler::compiled(&lua, &code) {
                Ok(f) => f,
                Err(e) => {
                    report(&e.message);
                    return false;
                }
            };
            let runners = crate::runners::Runners::of(&lua);
            let entry = match lua.create_thread(func).and_then(|t| runners.coro(&t)) {
                Ok(c) => c,
                Err(e) => {
                    report(&crate::handler::error_text(&e));
                    return false;
                }
            };
            let mut sched = Sched::new(lua, runners, Phase::SslCert, entry, 0, false);
            sched.set_context(RunContext {
                log: Rc::from(context.as_str()),
                loc: None,
            });
            let conn = facts.conn;
            let end = crate::api::ssl::with_handshake(facts, sched.run(None)).await;
            match end {
                End::Returned => true,
                End::Exit(code) if code == 0 || (200..300).contains(&code) => true,
                End::Exit(code) => {
                    http::elog!(
                        Level::Error,
                        conn,
                        "lua_certificate_by_lua: handler return value: {code}, cert cb exit code: 0{context}"
                    );
                    false
                }
                End::Error | End::Exec(_) => false,
            }
        })
    }
}

fn install(b: &mut HttpBuilder, cmd: &Cmd, file: bool) -> Result<()> {
    let code = crate::directives::code(b, cmd, "ssl_certificate_by_lua", file)?;
    let hook: Rc<dyn CertHook> = Rc::new(LuaCertHook {
        lua: crate::vm::current(),
        code,
    });
    let conf = b.loc().conf::<http::modules::ssl::SslConf>();
    conf::registry::set_once(&mut conf.cert_hook, Some(hook), cmd)
}

pub fn inline(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    install(b, cmd, false)
}

pub fn file(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    install(b, cmd, true)
}
