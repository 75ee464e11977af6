//! nginx's geo module: `geo [$address] $variable { default v; CIDR v; … }`, a variable
//! whose value depends on the client address (or another address), the most specific
//! network winning; `ranges` takes `from-to` address ranges instead; `delete` removes a
//! network; `proxy` / `proxy_recursive` read the client from X-Forwarded-For when the
//! peer is one of the listed proxies.

use std::net::{IpAddr, Ipv4Addr};

use super::access::Clients;
use conf::registry::HTTP;
use conf::{Args, Cmd, Directive, Registry, Result};

use crate::builder::HttpBuilder;
use crate::config::Computed;
use crate::module::Module;
use crate::request::Request;
use crate::template::Template;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[Directive::block("geo", HTTP, Args::Block(1, 2), geo)];

pub static MODULE: Module = Module::new("ngx_http_geo_module", DIRECTIVES);

impl Computed for Geo {
    fn value(&self, r: &Request) -> String {
        Geo::value(self, r)
    }
}

/// `geo [$address] $variable { … }` (http).
fn geo(b: &mut HttpBuilder, cmd: &Cmd, _reg: &Registry<HttpBuilder>) -> Result<()> {
    let (source, var) = match cmd.args.len() {
        1 => (None, cmd.arg(0)),
        _ => (Some(b.template(cmd, cmd.arg(0))?), cmd.arg(1)),
    };
    let name = b.declare_computed(cmd, var)?;
    let mut geo = Geo::new(source);
    for line in cmd.children() {
        let value = match line.args.len() {
            0 => None,
            1 => Some(line.arg(0)),
            _ => return Err(line.error("invalid number of the geo parameters".to_string())),
        };
        geo.add(&line.name, value).map_err(|msg| line.error(msg))?;
    }
    b.set_computed(name, Box::new(geo));
    Ok(())
}

pub struct Geo {
    /// The address to look up (`$remote_addr` when not given).
    pub source: Option<Template>,
    default: String,
    /// Networks with their values; the longest prefix that matches wins.
    nets: Vec<(IpAddr, u8, String)>,
    /// `ranges`: inclusive ranges, the last one written that matches wins.
    ranges: Vec<(IpAddr, IpAddr, String)>,
    pub ranges_mode: bool,
    proxies: Vec<Clients>,
    proxy_recursive: bool,
}

impl Geo {
    pub fn new(source: Option<Template>) -> Geo {
        Geo {
            source,
            default: String::new(),
            nets: Vec::new(),
            ranges: Vec::new(),
            ranges_mode: false,
            proxies: Vec::new(),
            proxy_recursive: false,
        }
    }

    /// Reads one line of the block (`key value` or a parameter); `Err` is nginx's complaint.
    pub fn add(&mut self, key: &str, value: Option<&str>) -> Result<(), String> {
        match (key, value) {
            ("default", Some(v)) => self.default = v.to_string(),
            ("ranges", None) => self.ranges_mode = true,
            ("proxy_recursive", None) => self.proxy_recursive = true,
            ("proxy", Some(p)) => match super::access::parse(p) {
                super::access::Parsed::Ok(c) | super::access::Parsed::LowBitsSet(c) => self.proxies.push(c),
                super::access::Parsed::Invalid => return Err(format!("invalid parameter \"{p}\"")),
            },
            ("delete", Some(net)) => {
                let (addr, prefix) = network(net).ok_or_else(|| format!("invalid network \"{net}\""))?;
                self.nets.retain(|(a, p, _)| !(*a == addr && *p == prefix));
            }
            (range, Some(v)) if self.ranges_mode => {
                let (from, to) = range
                    .split_once('-')
                    .ok_or_else(|| format!("invalid range \"{range}\""))?;
                let (from, to) = match (from.parse::<IpAddr>(), to.parse::<IpAddr>()) {
                    (Ok(f), Ok(t)) if f <= t && f.is_ipv4() == t.is_ipv4() => (f, t),
                    _ => return Err(format!("invalid range \"{range}\"")),
                };
                self.ranges.push((from, to, v.to_string()));
            }
            (net, Some(v)) => {
                let (addr, prefix) = network(net).ok_or_else(|| format!("invalid network \"{net}\""))?;
                self.nets.retain(|(a, p, _)| !(*a == addr && *p == prefix));
                self.nets.push((addr, prefix, v.to_string()));
            }
            _ => return Err("invalid number of the geo parameters".into()),
        }
        Ok(())
    }

    /// The variable's value for this request.
    pub fn value(&self, r: &Request) -> String {
        let addr = match &self.source {
            // an address that is not one reads as 255.255.255.255, as nginx
            Some(t) => Some(t.render(r).trim().parse().unwrap_or(IpAddr::V4(Ipv4Addr::BROADCAST))),
            None => r.conn.peer.map(|p| p.ip()),
        };
        let addr = match addr {
            Some(a) if self.proxies.iter().any(|c| c.contains(Some(a))) => {
                let chain: Vec<&str> = r.headers_in.get_all("x-forwarded-for").collect();
                super::realip::forwarded(&chain.join(","), &self.proxies, self.proxy_recursive).or(Some(a))
            }
            other => other,
        };
        self.lookup(addr)
    }

    /// The value for an address (`None`: none, a unix-domain client).
    fn lookup(&self, addr: Option<IpAddr>) -> String {
        let Some(addr) = addr.map(unmapped) else {
            return self.default.clone();
        };
        if self.ranges_mode {
            return self
                .ranges
                .iter()
                .rev()
                .find(|(from, to, _)| from.is_ipv4() == addr.is_ipv4() && *from <= addr && addr <= *to)
                .map_or_else(|| self.default.clone(), |(_, _, v)| v.clone());
        }
        self.nets
            .iter()
            .filter(|(net, prefix, _)| net.is_ipv4() == addr.is_ipv4() && super::access::masked(addr, *prefix) == *net)
            .max_by_key(|(_, prefix, _)| *prefix)
            .map_or_else(|| self.default.clone(), |(_, _, v)| v.clone())
    }
}

/// An IPv4-mapped IPv6 address as IPv4.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `addr` or `addr/prefix`, host bits cleared.
fn network(s: &str) -> Option<(IpAddr, u8)> {
    match super::access::parse(s) {
        super::access::Parsed::Ok(Clients::Net { addr, prefix })
        | super::access::Parsed::LowBitsSet(Clients::Net { addr, prefix }) => Some((addr, prefix)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_network_wins() {
        let mut g = Geo::new(None);
        g.add("default", Some("world")).unwrap();
        g.add("10.0.0.0/8", Some("corp")).unwrap();
        g.add("10.1.0.0/16", Some("lab")).unwrap();
        g.add("10.2.0.0/16", Some("gone")).unwrap();
        g.add("delete", Some("10.2.0.0/16")).unwrap();
        let pick = |s: &str| g.lookup(Some(s.parse().unwrap()));
        assert_eq!(pick("10.1.2.3"), "lab");
        assert_eq!(pick("10.2.2.3"), "corp");
        assert_eq!(pick("::ffff:10.9.9.9"), "corp");
        assert_eq!(pick("8.8.8.8"), "world");
        assert_eq!(g.lookup(None), "world");
        assert!(g.add("10.0.0.0/40", Some("x")).is_err());
    }

    #[test]
    fn ranges_take_the_last_match() {
        let mut g = Geo::new(None);
        g.add("ranges", None).unwrap();
        g.add("10.0.0.0-10.0.0.255", Some("a")).unwrap();
        g.add("10.0.0.100-10.0.0.200", Some("b")).unwrap();
        assert_eq!(g.lookup(Some("10.0.0.150".parse().unwrap())), "b");
        assert_eq!(g.lookup(Some("10.0.0.50".parse().unwrap())), "a");
        assert_eq!(g.lookup(Some("10.0.1.1".parse().unwrap())), "");
        assert!(g.add("10.0.0.9-10.0.0.1", Some("c")).is_err());
    }
}
