//! `ngx.socket.udp`: the UDP (and datagram unix socket) cosocket's primitives; the methods
//! are lualib/socket_udp.lua's. As the TCP cosocket's, each answers at once when it can
//! and otherwise parks a future for the calling coroutine's `OP_AWAIT`; answers, errors
//! and log lines follow lua-nginx-module.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use mlua::{AnyUserData, Lua, MultiValue, Table, UserData};

use super::socket_tcp::{
    check_phase, error_text, fail, literal_or_hosts, log_error, now_or_later, pick, resolver, settings, values,
};
use crate::raw::Arg;

/// The largest datagram `receive` takes, as lua-nginx-module's.
const MAX_DATAGRAM: usize = 65536;

enum Dgram {
    Udp(tokio::net::UdpSocket),
    Unix(tokio::net::UnixDatagram),
}

impl Dgram {
    fn try_send(&self, b: &[u8]) -> io::Result<usize> {
        match self {
            Dgram::Udp(s) => s.try_send(b),
            Dgram::Unix(s) => s.try_send(b),
        }
    }
    async fn send(&self, b: &[u8]) -> io::Result<usize> {
        match self {
            Dgram::Udp(s) => s.send(b).await,
            Dgram::Unix(s) => s.send(b).await,
        }
    }
    fn try_recv(&self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Dgram::Udp(s) => s.try_recv(b),
            Dgram::Unix(s) => s.try_recv(b),
        }
    }
    async fn recv(&self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Dgram::Udp(s) => s.recv(b).await,
            Dgram::Unix(s) => s.recv(b).await,
        }
    }
}

#[derive(Default)]
struct State {
    sock: Option<Rc<Dgram>>,
    /// settimeout's (ms); 0: the location's lua_socket_read_timeout.
    read_ms: u64,
    waiting: bool,
}

/// The Lua-held socket.
#[derive(Clone, Default)]
struct UdpSock(Rc<RefCell<State>>);

impl UserData for UdpSock {}

impl UdpSock {
    /// `setpeername(host, port)` / `setpeername("unix:/path")`.
    fn setpeername(&self, lua: &Lua, host: String, port: Option<u16>) -> mlua::Result<MultiValue> {
        check_phase()?;
        let resolver = resolver();
        // a socket given a new peer starts over, as lua-nginx-module's
        self.0.borrow_mut().sock = None;
        if let Some(path) = host.strip_prefix("unix:") {
            let path = path.to_string();
            let out = tokio::net::UnixDatagram::unbound().and_then(|s| s.connect(&path).map(|()| s));
            return values(
                lua,
                match out {
                    Ok(s) => {
                        self.0.borrow_mut().sock = Some(Rc::new(Dgram::Unix(s)));
                        vec![Arg::Int(1)]
                    }
                    Err(e) => fail(error_text(&e)),
                },
            );
        }
        let Some(port) = port else {
            return values(lua, fail("no port specified"));
        };
        let addr = match literal_or_hosts(&host, port) {
            Some(a) => Some(a),
            None if resolver.is_some() => None,
            None => return values(lua, fail(format!("no resolver defined to resolve \"{host}\""))),
        };
        let sock = self.clone();
        now_or_later(lua, None, async move {
            let addr = match (addr, &resolver) {
                (Some(a), _) => a,
                (None, Some((r, t))) => match http::resolver::resolve(r, &host, *t).await {
                    Ok(ips) => match pick(&ips) {
                        Some(ip) => SocketAddr::new(ip, port),
                        None => return fail(format!("{host} could not be resolved")),
                    },
                    Err(e) => return fail(format!("{host} could not be resolved ({e})")),
                },
                (None, None) => return fail("no resolver"),
            };
            let bind: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let out = async {
                let s = tokio::net::UdpSocket::bind(bind).await?;
                s.connect(addr).await?;
                Ok::<_, io::Error>(s)
            };
            match out.await {
                Ok(s) => {
                    sock.0.borrow_mut().sock = Some(Rc::new(Dgram::Udp(s)));
                    vec![Arg::Int(1)]
                }
                Err(e) => fail(error_text(&e)),
            }
        })
    }

    fn send(&self, lua: &Lua, data: mlua::LuaString) -> mlua::Result<MultiValue> {
        check_phase()?;
        let conf = settings();
        let Some(sock) = self.0.borrow().sock.clone() else {
            let line = format!(
                "attempt to send data on a closed socket: u:{:016X}, c:0000000000000000",
                Rc::as_ptr(&self.0) as usize
            );
            log_error(&conf, &line);
            return values(lua, fail("closed"));
        };
        let data = data.as_bytes().to_vec();
        match sock.try_send(&data) {
            Ok(_) => return values(lua, vec![Arg::Int(1)]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                log_error(&conf, &format!("send() failed ({})", conf::errno_text(&e)));
                return values(lua, fail(error_text(&e)));
            }
        }
        now_or_later(lua, None, async move {
            match sock.send(&data).await {
                Ok(_) => vec![Arg::Int(1)],
                Err(e) => {
                    log_error(&conf, &format!("send() failed ({})", conf::errno_text(&e)));
                    fail(error_text(&e))
                }
            }
        })
    }

    fn receive(&self, lua: &Lua, size: usize) -> mlua::Result<MultiValue> {
        check_phase()?;
        let conf = settings();
        let sock = {
            let st = self.0.borrow();
            let Some(sock) = st.sock.clone() else {
                let line = format!(
                    "attempt to receive data on a closed socket: u:{:016X}, c:0000000000000000",
                    Rc::as_ptr(&self.0) as usize
                );
                log_error(&conf, &line);
                return values(lua, fail("closed"));
            };
            if st.waiting {
                return values(lua, fail("socket busy"));
            }
            sock
        };
        let mut buf = vec![0u8; size.clamp(1, MAX_DATAGRAM)];
        match sock.try_recv(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return values(lua, vec![Arg::Str(buf)]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                log_error(&conf, &format!("recv() failed ({})", conf::errno_text(&e)));
                return values(lua, fail(error_text(&e)));
            }
        }
        let timeout = match self.0.borrow().read_ms {
            0 => Duration::from_millis(conf.read_timeout()),
            ms => Duration::from_millis(ms),
        };
        let me = self.clone();
        me.0.borrow_mut().waiting = true;
        now_or_later(lua, None, async move {
            let _waiting = Waiting(me.clone());
            match tokio::time::timeout(timeout, sock.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    buf.truncate(n);
                    vec![Arg::Str(buf)]
                }
                Ok(Err(e)) => {
                    log_error(&conf, &format!("recv() failed ({})", conf::errno_text(&e)));
                    fail(error_text(&e))
                }
                Err(_) => {
                    log_error(&conf, "lua udp socket read timed out");
                    fail("timeout")
                }
            }
        })
    }
}

/// Marks a socket busy receiving until dropped.
struct Waiting(UdpSock);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.0.borrow_mut().waiting = false;
    }
}

fn sock_of(ud: &AnyUserData) -> mlua::Result<UdpSock> {
    Ok(ud.borrow::<UdpSock>()?.clone())
}

pub fn register(lua: &Lua, private: &Table) -> mlua::Result<()> {
    private.set(
        "udp_new",
        lua.create_function(|_, ()| {
            check_phase()?;
            Ok(UdpSock::default())
        })?,
    )?;
    private.set(
        "udp_setpeername",
        lua.create_function(|lua, (ud, host, port): (AnyUserData, String, Option<f64>)| {
            let port = match port {
                Some(p) if (0.0..=65535.0).contains(&p) => Some(p as u16),
                Some(_) => return values(lua, fail("bad port number")),
                None => None,
            };
            sock_of(&ud)?.setpeername(lua, host, port)
        })?,
    )?;
    private.set(
        "udp_send",
        lua.create_function(|lua, (ud, data): (AnyUserData, mlua::LuaString)| sock_of(&ud)?.send(lua, data))?,
    )?;
    private.set(
        "udp_receive",
        lua.create_function(|lua, (ud, size): (AnyUserData, Option<f64>)| {
            sock_of(&ud)?.receive(lua, size.map_or(MAX_DATAGRAM, |s| s.max(0.0) as usize))
        })?,
    )?;
    private.set(
        "udp_settimeout",
        lua.create_function(|_, (ud, ms): (AnyUserData, f64)| {
            sock_of(&ud)?.0.borrow_mut().read_ms = ms.max(0.0) as u64;
            Ok(())
        })?,
    )?;
    private.set(
        "udp_close",
        lua.create_function(|lua, ud: AnyUserData| {
            let sock = sock_of(&ud)?;
            let mut st = sock.0.borrow_mut();
            values(
                lua,
                match st.sock.take() {
                    Some(_) => vec![Arg::Int(1)],
                    None => fail("closed"),
                },
            )
        })?,
    )?;
    Ok(())
}
