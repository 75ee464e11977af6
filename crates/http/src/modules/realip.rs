//! nginx's realip module: behind a trusted proxy (`set_real_ip_from`), the client address
//! is taken from a request header (`real_ip_header`: X-Real-IP, X-Forwarded-For or any
//! other; `real_ip_recursive` for X-Forwarded-For chains). `$remote_addr` and everything
//! after (access rules, Lua) see that address; `$realip_remote_addr` keeps the socket's.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;

use conf::registry::{HTTP, LOC, SRV};
use conf::{Args, Cmd, Directive, Result, set_once, value};

use super::access::{Clients, address_arg};
use crate::builder::{HttpBuilder, LocDraft, push_to};
use crate::module::{Module, Phases, Variable};
use crate::phase::{Flow, Handler, Step};
use crate::request::Request;

const ANY_LOC: conf::Ctx = HTTP | SRV | LOC;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("set_real_ip_from", ANY_LOC, Args::Exactly(1), set_real_ip_from),
    Directive::value("real_ip_header", ANY_LOC, Args::Exactly(1), real_ip_header),
    Directive::value("real_ip_recursive", ANY_LOC, Args::Flag, real_ip_recursive),
];

pub static MODULE: Module = Module {
    install: Some(install),
    install_server: Some(install),
    variables: &[
        Variable {
            name: "realip_remote_addr",
            get: remote_addr,
            set: None,
        },
        Variable {
            name: "realip_remote_port",
            get: remote_port,
            set: None,
        },
    ],
    ..Module::new("ngx_http_realip_module", DIRECTIVES)
};

crate::settings! {
    pub struct RealIpConf {
        /// Trusted proxies (a level with some of its own does not inherit its parent's).
        real_ip_from: Arc<[Clients]> = Arc::from(Vec::new()),
        /// The header that names the client.
        real_ip_header: Arc<str> = Arc::from("X-Real-IP"),
        /// Whether X-Forwarded-For is walked past trusted proxies.
        real_ip_recursive: bool = false,
    }
}

/// At the server level it runs in post-read, before the location is looked up; in a
/// location, in preaccess.
fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    if let Some(conf) = d.ext.get::<RealIpConf>()
        && !conf.real_ip_from().is_empty()
    {
        let h = Rc::new(RealIpHandler(conf.clone()));
        match t.scope {
            crate::module::Scope::Server => t.post_read.push(h),
            _ => t.preaccess.push(h),
        }
    }
    Ok(())
}

/// `set_real_ip_from address | CIDR | unix:`, appended to this level's trusted proxies.
fn set_real_ip_from(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let from = address_arg(cmd)?;
    if from == Clients::All {
        return Err(cmd.error(format!("invalid parameter \"{}\"", cmd.arg(0))));
    }
    push_to(&mut b.loc().conf::<RealIpConf>().real_ip_from, from);
    Ok(())
}

fn real_ip_header(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = cmd.arg(0);
    if v == "proxy_protocol" {
        return Err(cmd.error("real_ip_header proxy_protocol is not supported yet".to_string()));
    }
    set_once(&mut b.loc().conf::<RealIpConf>().real_ip_header, Arc::from(v), cmd)
}

fn real_ip_recursive(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut b.loc().conf::<RealIpConf>().real_ip_recursive, v, cmd)
}

fn ip_text(p: Option<SocketAddr>) -> String {
    match p {
        Some(p) => crate::variables::ip_text(p.ip()),
        None => "unix:".into(),
    }
}

/// `$realip_remote_addr`: the socket's address.
fn remote_addr(r: &Request) -> Option<String> {
    Some(ip_text(socket_peer(r)))
}

/// `$realip_remote_port`.
fn remote_port(r: &Request) -> Option<String> {
    Some(socket_peer(r).map(|p| p.port().to_string()).unwrap_or_default())
}

/// The socket's peer, kept once realip replaced the client address.
pub struct SocketPeer(pub Option<SocketAddr>);

/// The socket's peer, whatever realip says (`$realip_remote_addr`).
pub fn socket_peer(r: &Request) -> Option<SocketAddr> {
    r.ctx_ref::<SocketPeer>().map_or(r.conn.peer, |s| s.0)
}

/// The handler of the post-read phase (server level) and of the preaccess phase
/// (location level). It works from the socket's address, so running twice changes
/// nothing.
struct RealIpHandler(RealIpConf);

impl Handler for RealIpHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        if let Some(ip) = real_ip(r, &self.0) {
            if r.ctx_ref::<SocketPeer>().is_none() {
                let socket = r.conn.peer;
                r.set_ctx(SocketPeer(socket));
            }
            r.conn.peer = Some(SocketAddr::new(ip, 0));
        }
        Step::Ready(Flow::Next)
    }
}

fn trusted(from: &[Clients], peer: Option<IpAddr>) -> bool {
    from.iter().any(|c| c.contains(peer))
}

/// The address the trusted proxy says the client has, if it does.
fn real_ip(r: &Request, s: &RealIpConf) -> Option<IpAddr> {
    let from = s.real_ip_from();
    let socket = socket_peer(r).map(|p| p.ip());
    if from.is_empty() || !trusted(&from, socket) {
        return None;
    }
    let header = s.real_ip_header();
    if header.eq_ignore_ascii_case("x-forwarded-for") {
        let chain: Vec<&str> = r.headers_in.get_all("x-forwarded-for").collect();
        forwarded(&chain.join(","), &from, s.real_ip_recursive())
    } else {
        r.headers_in.get(&header)?.trim().parse().ok()
    }
}

/// An X-Forwarded-For chain read from the right: the last address, or (recursive) the
/// last one that is not a trusted proxy, or the first of the chain when all are.
pub fn forwarded(chain: &str, from: &[Clients], recursive: bool) -> Option<IpAddr> {
    let mut found = None;
    for item in chain.rsplit(',') {
        let ip: IpAddr = item.trim().parse().ok()?;
        found = Some(ip);
        if !recursive || !trusted(from, Some(ip)) {
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::access::{Parsed, parse};

    fn nets(list: &[&str]) -> Vec<Clients> {
        list.iter()
            .map(|s| match parse(s) {
                Parsed::Ok(c) => c,
                _ => panic!("{s}"),
            })
            .collect()
    }

    #[test]
    fn reads_forwarded_chains_like_nginx() {
        let from = nets(&["10.0.0.0/8", "192.168.0.1"]);
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(forwarded("1.1.1.1, 10.0.0.2", &from, false), ip("10.0.0.2"));
        assert_eq!(forwarded("1.1.1.1, 10.0.0.2", &from, true), ip("1.1.1.1"));
        assert_eq!(
            forwarded("2.2.2.2, 1.1.1.1, 192.168.0.1, 10.0.0.2", &from, true),
            ip("1.1.1.1")
        );
        assert_eq!(forwarded("10.1.1.1, 10.0.0.2", &from, true), ip("10.1.1.1"));
        assert_eq!(forwarded("garbage, 10.0.0.2", &from, true), None);
        assert_eq!(forwarded("::1", &from, false), ip("::1"));
    }
}
