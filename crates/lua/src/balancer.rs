//! `balancer_by_lua_block` / `balancer_by_lua_file` and `balancer_keepalive` in an
//! `upstream` block: the Lua code runs before every try of a request to that upstream
//! (the proxy's `balancer::Balancer` hook) and picks the server with `ngx.balancer`
//! (api/balancer.rs). Unlike OpenResty's, it may wait: cosockets, `ngx.sleep` and
//! semaphores work here, as in any request phase.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use conf::registry::set_once;
use conf::{Cmd, Result};
use http::HttpBuilder;
use http::log::Level;
use http::request::Request;
use proxy::balancer::{Balancer, BlockExtras, Verdict};

use crate::directives::LuaLocConf;
use crate::handler::LuaHandler;
use crate::request::Phase;
use crate::sched::End;

/// The Lua of one upstream block.
struct LuaBalancer(LuaHandler);

impl Balancer for LuaBalancer {
    fn pick<'a>(&'a self, r: &'a mut Request) -> Pin<Box<dyn Future<Output = Verdict> + 'a>> {
        // (the box first, so that the future is made in it rather than copied there)
        let pick = Box::write(Box::new_uninit(), async move {
            match self.0.run_to_end(r).await {
                End::Returned | End::Exit(0) => Verdict::Go,
                // ngx.ERROR, a Lua error (logged already), ngx.exec (not for this phase)
                End::Exit(-1) | End::Error | End::Exec(_) => Verdict::Fail(500),
                End::Exit(-3) => Verdict::Busy,
                End::Exit(-5) => Verdict::Declined,
                // a status: current OpenResty (its balancer status patch) answers it
                End::Exit(code) if (300..=999).contains(&code) => Verdict::Fail(code as u16),
                End::Exit(code) => {
                    r.log(
                        Level::Error,
                        &format!("balancer_by_lua*: ngx.exit({code}) is not a status the request can end with"),
                    );
                    Verdict::Fail(500)
                }
            }
        });
        Box::into_pin(pick)
    }
}

fn install(b: &mut HttpBuilder, cmd: &Cmd, file: bool) -> Result<()> {
    let code = crate::directives::code(b, cmd, "balancer_by_lua", file)?;
    // (the upstream block stands at http level: that level's Lua switches apply)
    let options = b.loc().ext.get_or_default::<LuaLocConf>().handler_options();
    let handler = LuaHandler::new(crate::vm::current(), code, Phase::Balancer, options);
    let balancer: Rc<dyn Balancer> = Rc::new(LuaBalancer(handler));
    let extras = BlockExtras::of(b);
    if extras.balancer.is_some() {
        return Err(cmd.duplicate());
    }
    extras.balancer = Some(balancer);
    Ok(())
}

pub fn inline(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    install(b, cmd, false)
}

pub fn file(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    install(b, cmd, true)
}

/// `balancer_keepalive N`: connections `ngx.balancer.enable_keepalive` may keep.
pub fn keepalive(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = conf::value::number(cmd, cmd.arg(0))?;
    if n == 0 {
        return Err(cmd.invalid_value(cmd.arg(0), ""));
    }
    set_once(&mut BlockExtras::of(b).balancer_keepalive, n as usize, cmd)
}
