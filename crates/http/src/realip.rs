//! nginx's realip module: behind a trusted proxy (`set_real_ip_from`), the client address
//! is taken from a request header (`real_ip_header`: X-Real-IP, X-Forwarded-For or any
//! other; `real_ip_recursive` for X-Forwarded-For chains). `$remote_addr` and everything
//! after (access rules, Lua) see that address; `$realip_remote_addr` keeps the socket's.

use std::net::{IpAddr, SocketAddr};

use crate::access::Clients;
use crate::phase::{Flow, Handler, Step};
use crate::request::Request;

/// The socket's peer, kept once realip replaced the client address.
pub struct SocketPeer(pub Option<SocketAddr>);

/// The socket's peer, whatever realip says (`$realip_remote_addr`).
pub fn socket_peer(r: &Request) -> Option<SocketAddr> {
    r.ctx_ref::<SocketPeer>().map_or(r.conn.peer, |s| s.0)
}

/// The handler of the post-read phase (server level) and of the preaccess phase
/// (location level). It works from the socket's address, so running twice changes
/// nothing.
pub struct RealIpHandler;

impl Handler for RealIpHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        if let Some(ip) = real_ip(r) {
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
fn real_ip(r: &Request) -> Option<IpAddr> {
    let s = &r.loc.settings;
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
pub(crate) fn forwarded(chain: &str, from: &[Clients], recursive: bool) -> Option<IpAddr> {
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
    use crate::access::{Parsed, parse};

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
