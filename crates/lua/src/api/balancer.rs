//! `ngx.balancer`'s primitives (lualib/balancer.lua is the module, as lua-resty-core's):
//! they read and write the request's `proxy::balancer::Choice`, which the proxy reads
//! after balancer_by_lua's run. Outside that phase they answer lua-nginx-module's "no
//! upstream found" or "API disabled in the current context".

use std::ffi::c_int;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use mlua::ffi::{self, lua_State};
use mlua::{IntoLuaMulti, Lua, Table, Value};
use proxy::balancer::{Choice, Chosen, TryEnd};
use proxy::upstream::PeerAddr;

use crate::cfunc::{self, Answer};
use crate::raw::Arg;
use crate::request::{self, Phase};

/// Runs `f` on the request's balancer state, or answers `nil, err` (raises "no request
/// found" without a request, as lua-resty-core does).
fn with_choice<R>(lua: &Lua, f: impl FnOnce(&mut Choice) -> Result<R, &'static str>) -> mlua::Result<mlua::MultiValue>
where
    R: mlua::IntoLuaMulti,
{
    let answer = on_choice(f)?;
    match answer {
        Ok(v) => v.into_lua_multi(lua),
        Err(e) => (Value::Nil, e).into_lua_multi(lua),
    }
}

/// Runs `f` on the request's balancer state, or says why there is none; raises "no
/// request found" where there is no request at all (init_by_lua). Timers and
/// init_worker/exit_worker code run on a fake request in OpenResty, which has no
/// upstream: there the answer is "no upstream found", as lua-nginx-module's.
fn on_choice<R>(f: impl FnOnce(&mut Choice) -> Result<R, &'static str>) -> mlua::Result<Result<R, &'static str>> {
    if matches!(request::phase(), Phase::Timer | Phase::InitWorker | Phase::ExitWorker) {
        return Ok(Err("no upstream found"));
    }
    request::with(|r| Ok(choice_of(r).and_then(f)))
}

/// The request's balancer state, or why there is none to work on.
fn choice_of(r: &mut http::request::Request) -> Result<&mut Choice, &'static str> {
    // (lua-nginx-module's order: a request that proxies nothing has no upstream)
    if !proxy::proxied(r) {
        return Err("no upstream found");
    }
    if request::phase() != Phase::Balancer {
        return Err("API disabled in the current context");
    }
    r.ctx::<Choice>().ok_or("no upstream found")
}

/// `addr` as `ngx_parse_url` reads it without resolving: an IP (with an optional port
/// that wins over `port`), `[v6]:port`, or `unix:/path`.
fn parse_peer(addr: &str, port: u16) -> Result<PeerAddr, &'static str> {
    if let Some(path) = addr.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("no path in the unix domain socket");
        }
        return Ok(PeerAddr::Unix(PathBuf::from(path)));
    }
    if addr.is_empty() {
        return Err("no host");
    }
    let (host, port_text) = if let Some(rest) = addr.strip_prefix('[') {
        let Some((h, after)) = rest.split_once(']') else {
            return Err("invalid host");
        };
        match after {
            "" => (h, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err("invalid host"),
            },
        }
    } else {
        match addr.split_once(':') {
            Some((h, p)) if !p.contains(':') => (h, Some(p)),
            // a bare IPv6 address
            Some(_) => (addr, None),
            None => (addr, None),
        }
    };
    let port = match port_text {
        Some(p) => p.parse::<u16>().ok().filter(|n| *n > 0).ok_or("invalid port")?,
        None => port,
    };
    // (names are not resolved here: OpenResty's balancer takes addresses only)
    let ip = parse_ip(host).ok_or("no host allowed")?;
    Ok(PeerAddr::Inet(SocketAddr::new(ip, port)))
}

thread_local! {
    /// The address texts balancers set lately, parsed: they pick among a few servers, and
    /// parsing the text was most of what setting one cost.
    static PARSED_IPS: std::cell::RefCell<rustc_hash::FxHashMap<Box<str>, IpAddr>> = std::cell::RefCell::default();
}

/// An IP address's text parsed (the parse remembered; names are not addresses).
fn parse_ip(text: &str) -> Option<IpAddr> {
    PARSED_IPS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(ip) = cache.get(text) {
            return Some(*ip);
        }
        let ip: IpAddr = text.parse().ok()?;
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(text.into(), ip);
        Some(ip)
    })
}

/// `balancer_set_peer(addr, port, host?)`: true, or nil and why. A C function (see
/// `cfunc`): a balancer calls it on every try of every request.
unsafe extern "C-unwind" fn set_peer(l: *mut lua_State) -> c_int {
    // SAFETY: called by Lua with the wrapper's arguments (a string, a number, a string or
    // nil); the borrowed bytes stay on the stack for the call.
    unsafe {
        cfunc::run(l, || {
            // (not `from_utf8_lossy` first: its scan costs more than the check)
            let bytes = cfunc::bytes(l, 1).unwrap_or_default();
            let addr = std::str::from_utf8(bytes).map_or_else(|_| String::from_utf8_lossy(bytes), Into::into);
            let port = u16::try_from(ffi::lua_tointeger(l, 2)).unwrap_or(0);
            let host = cfunc::bytes(l, 3).map(|h| String::from_utf8_lossy(h).into());
            let answer = on_choice(|c| {
                let addr = parse_peer(&addr, port)?;
                c.peer = Some(Chosen { addr, host });
                Ok(())
            })
            .map_err(|e| crate::handler::error_text(&e))?;
            Ok(match answer {
                Ok(()) => Answer::Value(Arg::Bool(true)),
                Err(e) => Answer::Values(vec![Arg::Nil, Arg::Text(e)]),
            })
        })
    }
}

pub fn register(lua: &Lua, private: &Table) -> mlua::Result<()> {
    // SAFETY: a C function that keeps to the Lua C API's rules.
    private.set("balancer_set_peer", unsafe { lua.create_c_function(set_peer)? })?;
    private.set(
        "balancer_set_more_tries",
        lua.create_function(|lua, count: i64| {
            let count = u32::try_from(count.max(0)).unwrap_or(u32::MAX);
            with_choice(lua, |c| Ok((true, c.set_more_tries(count))))
        })?,
    )?;
    private.set(
        "balancer_last_failure",
        lua.create_function(|lua, ()| {
            with_choice(lua, |c| {
                Ok(match c.last_failure {
                    None => (None, None),
                    Some((end, status)) => (
                        Some(match end {
                            TryEnd::Next => "next",
                            TryEnd::Failed => "failed",
                        }),
                        Some(status),
                    ),
                })
            })
        })?,
    )?;
    private.set(
        "balancer_set_timeouts",
        lua.create_function(|lua, ms: (f64, f64, f64)| {
            with_choice(lua, |c| {
                let [connect, send, read] = &mut c.timeouts;
                for (slot, v) in [(connect, ms.0), (send, ms.1), (read, ms.2)] {
                    if v > 0.0 {
                        *slot = Some(v as u64);
                    }
                }
                Ok(true)
            })
        })?,
    )?;
    private.set(
        "balancer_recreate_request",
        lua.create_function(|lua, ()| {
            with_choice(lua, |c| {
                c.recreate = true;
                Ok(true)
            })
        })?,
    )?;
    private.set(
        "balancer_enable_keepalive",
        lua.create_function(|lua, (timeout_ms, max_requests): (f64, f64)| {
            with_choice(lua, |c| {
                if c.peer.is_none() {
                    return Err("no current peer set");
                }
                c.keepalive = Some((Duration::from_millis(timeout_ms as u64), max_requests as u64));
                Ok(true)
            })
        })?,
    )?;
    private.set(
        "balancer_bind_to_local_addr",
        lua.create_function(|lua, addr: mlua::LuaString| {
            let text = addr.to_string_lossy();
            let parsed = proxy::upstream::parse_local(&text);
            let mut invalid = false;
            let answer = with_choice(lua, |c| {
                match parsed {
                    Some(a) => c.local = Some(a),
                    None => invalid = true,
                }
                Ok(true)
            })?;
            if invalid {
                return (Value::Nil, format!("invalid addr {text}")).into_lua_multi(lua);
            }
            Ok(answer)
        })?,
    )?;
    private.set(
        "balancer_set_upstream_tls",
        lua.create_function(|lua, on: bool| {
            with_choice(lua, |c| {
                // (on: TLS as the URL says; off: none, as lua-nginx-module's u->ssl = 0)
                if !on {
                    c.tls_off = true;
                }
                Ok(true)
            })
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_as_ngx_parse_url_without_resolving() {
        let inet = |s: &str| PeerAddr::Inet(s.parse().unwrap());
        assert_eq!(parse_peer("127.0.0.2", 8080), Ok(inet("127.0.0.2:8080")));
        assert_eq!(parse_peer("127.0.0.2:81", 8080), Ok(inet("127.0.0.2:81")));
        assert_eq!(parse_peer("[::1]:82", 0), Ok(inet("[::1]:82")));
        assert_eq!(parse_peer("::1", 83), Ok(inet("[::1]:83")));
        assert_eq!(parse_peer("unix:/tmp/s", 0), Ok(PeerAddr::Unix("/tmp/s".into())));
        assert_eq!(parse_peer("example.com", 80), Err("no host allowed"));
        assert_eq!(parse_peer("127.0.0.1:x", 80), Err("invalid port"));
        assert_eq!(parse_peer("", 80), Err("no host"));
        // (again: the remembered parses answer the same)
        assert_eq!(parse_peer("127.0.0.2", 8081), Ok(inet("127.0.0.2:8081")));
        assert_eq!(parse_peer("::1", 84), Ok(inet("[::1]:84")));
        assert_eq!(parse_peer("example.com", 80), Err("no host allowed"));
    }
}
