//! The Lua parts of a server's handshake (the http crate's `tls::HandshakeHook`s):
//! `ssl_client_hello_by_lua_block` / `_file` runs once the ClientHello is read (with
//! `ngx.ssl.clienthello`), `ssl_certificate_by_lua_block` / `_file` before the certificate
//! is used (with `ngx.ssl`, api/ssl.rs), `ssl_session_fetch_by_lua*` when the client
//! offers a session and `ssl_session_store_by_lua*` when the server makes one (with
//! `ngx.ssl.session`). As in OpenResty they may wait (cosockets, `ngx.sleep`, semaphores)
//! but the store hook: the handshake waits for them. `ngx.exit(ngx.ERROR)` or a Lua error
//! fails that handshake only.

use std::rc::Rc;

use conf::{Cmd, Result};
use http::HttpBuilder;
use http::log::Level;
use http::tls::{HandshakeFacts, HandshakeHook, HookRun};
use mlua::Lua;

use crate::directives::LuaCode;
use crate::request::{Phase, RunContext};
use crate::sched::{End, Sched};

struct LuaHook {
    lua: Lua,
    code: Rc<LuaCode>,
    phase: Phase,
}

impl HandshakeHook for LuaHook {
    fn run(&self, facts: HandshakeFacts) -> HookRun {
        let (lua, code, phase) = (self.lua.clone(), self.code.clone(), self.phase);
        Box::pin(async move {
            let context = format!(", context: {}_by_lua*{}", phase.name(), facts.log_suffix());
            let conn = facts.conn;
            let report = |e: &str| http::elog!(Level::Error, conn, "{e}{context}");
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
            let mut sched = Sched::new(lua, runners, phase, entry, 0, false);
            sched.set_context(RunContext {
                log: Rc::from(context.as_str()),
                loc: None,
            });
            match crate::api::ssl::with_handshake(facts, sched.run(None)).await {
                End::Returned => true,
                End::Exit(code) if code == 0 || (200..300).contains(&code) => true,
                End::Exit(code) => {
                    report(&format!(
                        "{}_by_lua*: handler return value: {code}, callback exit code: 0",
                        phase.name()
                    ));
                    false
                }
                End::Error | End::Exec(_) => false,
            }
        })
    }
}

fn install(b: &mut HttpBuilder, cmd: &Cmd, phase: Phase, file: bool) -> Result<()> {
    let code = crate::directives::code(b, cmd, &format!("{}_by_lua", phase.name()), file)?;
    let hook: Rc<dyn HandshakeHook> = Rc::new(LuaHook {
        lua: crate::vm::current(),
        code,
        phase,
    });
    let c = b.loc().conf::<http::modules::ssl::SslConf>();
    let slot = match phase {
        Phase::SslClientHello => &mut c.client_hello_hook,
        Phase::SslSessFetch => &mut c.session_fetch_hook,
        Phase::SslSessStore => &mut c.session_store_hook,
        _ => &mut c.certificate_hook,
    };
    conf::registry::set_once(slot, Some(hook), cmd)
}

pub fn certificate_inline(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    install(b, cmd, Phase::SslCert, false)
}

pub fn certificate_file(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    install(b, cmd, Phase::SslCert, true)
}

pub fn client_hello_inline(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    install(b, cmd, Phase::SslClientHello, false)
}

pub fn client_hello_file(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    install(b, cmd, Phase::SslClientHello, true)
}

pub fn session_fetch_inline(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    install(b, cmd, Phase::SslSessFetch, false)
}

pub fn session_fetch_file(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    install(b, cmd, Phase::SslSessFetch, true)
}

pub fn session_store_inline(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    install(b, cmd, Phase::SslSessStore, false)
}

pub fn session_store_file(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    install(b, cmd, Phase::SslSessStore, true)
}
