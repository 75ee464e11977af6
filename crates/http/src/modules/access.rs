//! nginx's access module: `allow` / `deny` rules by client address, checked in the access
//! phase in the order written (the first rule that matches decides), and `satisfy`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use std::rc::Rc;
use std::sync::Arc;

use conf::registry::{HTTP, LMT, LOC, SRV};
use conf::{Args, Cmd, Directive, Result};

use crate::builder::{HttpBuilder, LocDraft, push_to};
use crate::log::Level;
use crate::module::{Module, Phases};
use crate::phase::{Flow, Handler, Step};
use crate::request::Request;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("allow", HTTP | SRV | LOC | LMT, Args::Exactly(1), access_rule),
    Directive::value("deny", HTTP | SRV | LOC | LMT, Args::Exactly(1), access_rule),
];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_access_module", DIRECTIVES)
};

crate::settings! {
    pub struct AccessConf {
        /// (a level with rules of its own does not inherit its parent's)
        rules: Arc<[Rule]> = Arc::from(Vec::new()),
    }
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    if let Some(conf) = d.ext.get::<AccessConf>()
        && !conf.rules().is_empty()
    {
        t.access.push(Rc::new(AccessHandler(conf.rules())));
    }
    Ok(())
}

/// `allow` / `deny address | CIDR | unix: | all`, appended to this level's rules.
fn access_rule(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let rule = Rule {
        allow: cmd.name == "allow",
        what: address_arg(cmd)?,
    };
    push_to(&mut b.loc().conf::<AccessConf>().rules, rule);
    Ok(())
}

/// An address argument (`addr`, `addr/prefix`, `unix:`, `all`): nginx warns about host
/// bits set below the prefix and clears them.
pub fn address_arg(cmd: &Cmd) -> Result<Clients> {
    let arg = cmd.arg(0);
    match parse(arg) {
        Parsed::Ok(c) => Ok(c),
        Parsed::LowBitsSet(c) => {
            crate::elog!(
                crate::log::Level::Warn,
                0,
                "low address bits of {arg} are meaningless in {}",
                cmd.at
            );
            Ok(c)
        }
        Parsed::Invalid => Err(cmd.error(format!("invalid parameter \"{arg}\""))),
    }
}

/// One `allow` or `deny` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub what: Clients,
}

/// The clients a rule is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clients {
    /// `all`: every client, whatever its address family.
    All,
    /// `unix:`: clients on a unix-domain socket.
    Unix,
    /// An address or CIDR block (host bits cleared).
    Net { addr: IpAddr, prefix: u8 },
}

/// Why a rule's argument was refused, or what to warn about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Ok(Clients),
    /// Valid, but the address had bits set below the prefix (nginx warns and clears them).
    LowBitsSet(Clients),
    Invalid,
}

/// Reads `all`, `unix:`, `addr` or `addr/prefix`, as nginx's `ngx_ptocidr`.
pub fn parse(arg: &str) -> Parsed {
    match arg {
        "all" => return Parsed::Ok(Clients::All),
        "unix:" => return Parsed::Ok(Clients::Unix),
        _ => {}
    }
    let (addr, prefix) = match arg.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (arg, None),
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return Parsed::Invalid;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) => match p.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Parsed::Invalid,
        },
        Some(_) => return Parsed::Invalid,
    };
    let net = masked(addr, prefix);
    let clients = Clients::Net { addr: net, prefix };
    if net == addr {
        Parsed::Ok(clients)
    } else {
        Parsed::LowBitsSet(clients)
    }
}

/// `addr` with the bits below `prefix` cleared.
pub(crate) fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

impl Clients {
    /// Whether a client at `peer` (`None`: a unix-domain socket) is one of these. An
    /// IPv4-mapped IPv6 client is checked against IPv4 rules, as nginx does.
    pub(crate) fn contains(&self, peer: Option<IpAddr>) -> bool {
        match (self, peer) {
            (Clients::All, _) => true,
            (Clients::Unix, None) => true,
            (Clients::Net { addr, prefix }, Some(ip)) => {
                let ip = match ip {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                    v4 => v4,
                };
                ip.is_ipv4() == addr.is_ipv4() && masked(ip, *prefix) == *addr
            }
            _ => false,
        }
    }
}

/// The decision of a location's rules for a client: `None` when no rule is about it.
pub fn decide(rules: &[Rule], peer: Option<IpAddr>) -> Option<bool> {
    rules.iter().find(|r| r.what.contains(peer)).map(|r| r.allow)
}

/// The access-phase handler of a location with rules.
struct AccessHandler(Arc<[Rule]>);

impl Handler for AccessHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        let flow = match decide(&self.0, r.conn.peer.map(|p| p.ip())) {
            None => Flow::Next,
            Some(true) => Flow::Granted,
            Some(false) => {
                // under `satisfy any` the refusal is reported only if nothing grants
                if !r.loc.settings.satisfy_any() {
                    r.log(Level::Error, "access forbidden by rule");
                }
                Flow::Finish(403)
            }
        };
        Step::Ready(flow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, arg: &str) -> Rule {
        match parse(arg) {
            Parsed::Ok(what) | Parsed::LowBitsSet(what) => Rule { allow, what },
            Parsed::Invalid => panic!("{arg}"),
        }
    }

    #[test]
    fn parses_nginx_forms() {
        assert_eq!(parse("all"), Parsed::Ok(Clients::All));
        assert_eq!(parse("unix:"), Parsed::Ok(Clients::Unix));
        assert!(matches!(parse("10.0.0.0/8"), Parsed::Ok(_)));
        assert!(matches!(parse("10.1.2.3/8"), Parsed::LowBitsSet(_)));
        assert!(matches!(parse("2001:db8::/32"), Parsed::Ok(_)));
        for bad in ["10.0.0.0/33", "10.0.0/8", "10.0.0.0/", "host", "::1/129", "1.2.3.4/x"] {
            assert_eq!(parse(bad), Parsed::Invalid, "{bad}");
        }
    }

    #[test]
    fn first_matching_rule_decides() {
        let rules = [
            rule(false, "192.168.1.1"),
            rule(true, "192.168.1.0/24"),
            rule(false, "all"),
        ];
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(decide(&rules, ip("192.168.1.1")), Some(false));
        assert_eq!(decide(&rules, ip("192.168.1.77")), Some(true));
        assert_eq!(decide(&rules, ip("::ffff:192.168.1.77")), Some(true));
        assert_eq!(decide(&rules, ip("10.0.0.1")), Some(false));
        assert_eq!(decide(&rules, None), Some(false));
        assert_eq!(decide(&rules[..2], ip("::1")), None);
        assert_eq!(decide(&[rule(true, "unix:")], None), Some(true));
        assert_eq!(decide(&[rule(true, "0.0.0.0/0")], ip("8.8.8.8")), Some(true));
    }
}
