//! `upstream NAME { … }`: groups of servers and how a request picks one, as nginx's
//! upstream module and its round-robin balancer do it: smooth weighted round-robin, passive
//! health (`max_fails` within `fail_timeout` takes a server out for `fail_timeout`), backup
//! servers tried when no primary one is live, `down`, `max_conns`; the other methods
//! (`hash`, `ip_hash`, `least_conn`, `random`) are in `balance.rs`. A `proxy_pass` to a
//! host that names no upstream block makes an implicit upstream of the host's addresses.
//!
//! The configuration is built in the master and inherited by each worker; the balancing
//! state (weights, failures, connections) lives beside it in each worker's copy.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use conf::registry::{Args, Directive, Registry, UPS};
use conf::{Cmd, ConfError, Result};
use http::ext::ExtConf;
use http::request::Request;

use crate::balance::{self, Draw, Method};
use crate::balancer::{Balancer, BlockExtras};
use crate::pool::{Conn, Pool, PoolKey};

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    Inet(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for PeerAddr {
    /// As `$upstream_addr` writes it (`127.0.0.1:8080`, `unix:/path`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAddr::Inet(a) => write!(f, "{a}"),
            PeerAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// One server of an upstream (a name with several addresses makes one per address).
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: PeerAddr,
    /// The address as its `server` line wrote it (the consistent hash's name for it).
    pub server: Rc<str>,
    /// The address as `$upstream_addr` writes it.
    pub name: Rc<str>,
    /// `http://` and the address, as error log lines name the server.
    pub url: Rc<str>,
    pub weight: u32,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub down: bool,
    /// 0: no limit.
    pub max_conns: u32,
}

impl Peer {
    /// A server with nginx's defaults (weight 1, max_fails 1, fail_timeout 10s).
    pub fn new(addr: PeerAddr) -> Peer {
        let url = match &addr {
            PeerAddr::Inet(a) => format!("http://{a}"),
            PeerAddr::Unix(p) => format!("http://unix:{}:", p.display()),
        };
        let name: Rc<str> = addr.to_string().into();
        Peer {
            server: name.clone(),
            name,
            url: url.into(),
            addr,
            weight: 1,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            down: false,
            max_conns: 0,
        }
    }
}

/// A peer's balancing state in this worker.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerState {
    pub(crate) current: i64,
    pub(crate) effective: i64,
    fails: u32,
    /// When it last failed, and when a failure last took it out (nginx's accessed/checked).
    accessed: Option<Instant>,
    checked: Option<Instant>,
    pub(crate) conns: u32,
}

/// Primary or backup servers.
#[derive(Debug, Default)]
pub struct Peers {
    pub list: Vec<Peer>,
    pub(crate) state: RefCell<Vec<PeerState>>,
}

impl Peers {
    pub(crate) fn new(list: Vec<Peer>) -> Peers {
        let state = list
            .iter()
            .map(|p| PeerState {
                effective: i64::from(p.weight),
                ..PeerState::default()
            })
            .collect();
        Peers {
            list,
            state: RefCell::new(state),
        }
    }

    /// True when server `i` may be given to a request now: not tried by it, not down,
    /// under `max_conns`, not out for its failures (a lone server is tried whatever its
    /// failures, as nginx does).
    pub(crate) fn is_usable(&self, i: usize, st: &PeerState, tried: &[bool], now: Instant, single: bool) -> bool {
        let peer = &self.list[i];
        if tried.get(i).copied().unwrap_or(false) || peer.down {
            return false;
        }
        if peer.max_conns > 0 && st.conns >= peer.max_conns {
            return false;
        }
        single
            || peer.max_fails == 0
            || st.fails < peer.max_fails
            || st.checked.is_none_or(|c| now.duration_since(c) > peer.fail_timeout)
    }

    /// Counts server `i` given to a request (one out whose fail_timeout is over gets its
    /// one try now).
    pub(crate) fn took(&self, i: usize, st: &mut PeerState, now: Instant) {
        if st
            .checked
            .is_some_and(|c| now.duration_since(c) > self.list[i].fail_timeout)
        {
            st.checked = Some(now);
        }
        st.conns += 1;
    }

    /// The next peer by smooth weighted round-robin among those live and not tried yet.
    fn pick(&self, tried: &[bool], now: Instant, single: bool) -> Option<usize> {
        let mut state = self.state.borrow_mut();
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for i in 0..self.list.len() {
            if !self.is_usable(i, &state[i], tried, now, single) {
                continue;
            }
            let peer = &self.list[i];
            let st = &mut state[i];
            st.current += st.effective;
            total += st.effective;
            if st.effective < i64::from(peer.weight) {
                st.effective += 1;
            }
            if best.is_none_or(|(_, current)| st.current > current) {
                best = Some((i, st.current));
            }
        }
        let (i, _) = best?;
        let st = &mut state[i];
        st.current -= total;
        self.took(i, st, now);
        Some(i)
    }
}

/// An upstream: its servers and, for a named block, its settings.
#[derive(Debug)]
pub struct Upstream {
    /// The block's name, or `host:port` of an implicit one.
    pub name: String,
    pub primary: Peers,
    pub backup: Peers,
    /// `keepalive N`: idle connections each worker keeps (0: none).
    pub keepalive: usize,
    pub keepalive_requests: u64,
    pub keepalive_time: Duration,
    pub keepalive_timeout: Duration,
    /// How a request picks a server.
    pub method: Method,
    /// `balancer_by_lua*`: asked before every try.
    pub balancer: Option<Rc<dyn Balancer>>,
    /// Connections a balancer's `enable_keepalive` may keep (`balancer_keepalive`).
    pub balancer_keepalive: usize,
    /// The block's only server is the placeholder a balancer's block gets when it names
    /// none (0.0.0.1): a try that reaches it is "no peer set".
    pub placeholder: bool,
    /// Connections kept for reuse.
    pool: Pool,
}

/// A local address as `proxy_bind` and `bind_to_local_addr` take it (nginx's
/// ngx_parse_addr_port): an IP address, with a port (1-65535) or without one.
pub fn parse_local(s: &str) -> Option<SocketAddr> {
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    s.parse::<SocketAddr>().ok().filter(|a| a.port() != 0)
}

/// Keepalive limits of one connection other than the block's (`enable_keepalive`).
#[derive(Clone, Copy, Debug)]
pub struct KeepLimits {
    pub idle_timeout: Duration,
    /// 0: no limit.
    pub max_requests: u64,
}

/// Which peer a request got: backup or primary, and its index there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerRef {
    pub backup: bool,
    pub index: usize,
}

/// The servers a request tried already.
#[derive(Default, Debug)]
pub struct Tried {
    primary: Marks,
    backup: Marks,
    /// The balancing method's state across the request's tries.
    draw: Draw,
}

impl Upstream {
    pub fn implicit(name: String, addrs: Vec<PeerAddr>) -> Upstream {
        let list = addrs.into_iter().map(Peer::new).collect();
        Upstream {
            name,
            primary: Peers::new(list),
            backup: Peers::default(),
            keepalive: 0,
            keepalive_requests: 1000,
            keepalive_time: Duration::from_secs(3600),
            keepalive_timeout: Duration::from_secs(60),
            method: Method::RoundRobin,
            balancer: None,
            balancer_keepalive: 32,
            placeholder: false,
            pool: Pool::default(),
        }
    }

    /// How many idle connections are kept: the block's `keepalive`, or, for a balancer's
    /// choice with `enable_keepalive`, `balancer_keepalive` (0: none).
    fn idle_cap(&self, balancer_limits: bool) -> usize {
        if balancer_limits {
            self.balancer_keepalive
        } else {
            self.keepalive
        }
    }

    /// A kept connection for `key`: an idle one (`Pool::take`), else, where connections
    /// are kept at all, one another request releases within two turns of the loop
    /// (`Pool::wait`). None: connect.
    pub async fn kept_conn(&self, key: &PoolKey, balancer_limits: bool) -> Option<Conn> {
        match self.pool.take(key) {
            Some(conn) => Some(conn),
            None if self.idle_cap(balancer_limits) > 0 => self.pool.wait(key).await,
            None => None,
        }
    }

    /// Keeps a connection whose answer ended cleanly, within the keepalive limits: the
    /// block's, or those a balancer gave it (see `Pool::keep`).
    pub fn put_idle(self: &Rc<Self>, key: PoolKey, mut conn: Conn, limits: Option<KeepLimits>) {
        conn.requests += 1;
        let cap = self.idle_cap(limits.is_some());
        let (timeout, max_requests) = match limits {
            Some(l) => (l.idle_timeout, l.max_requests),
            None => (self.keepalive_timeout, self.keepalive_requests),
        };
        let spent = max_requests > 0 && conn.requests >= max_requests;
        if cap == 0 || spent || http::time::coarse_instant().saturating_duration_since(conn.born) >= self.keepalive_time
        {
            return;
        }
        if self.pool.keep(key, conn, timeout, cap) {
            watch(self);
        }
    }

    /// How many servers a request may try at most.
    pub fn peer_count(&self) -> usize {
        self.primary.list.len() + self.backup.list.len()
    }

    /// What a request's tries at this upstream start from (its hash key read now).
    pub fn tries_for(&self, r: &Request) -> Tried {
        Tried {
            draw: Draw::new(&self.method, r),
            ..Tried::default()
        }
    }

    /// The next server for a request, or None: "no live upstreams".
    pub fn pick(&self, tried: &mut Tried) -> Option<PeerRef> {
        let now = http::time::coarse_instant();
        let single = self.primary.list.len() == 1 && self.backup.list.is_empty();
        if let Some(index) = balance::pick(&self.method, &self.primary, tried.primary.get(), &mut tried.draw) {
            tried.mark(false, index, self.primary.list.len());
            return Some(PeerRef { backup: false, index });
        }
        for (backup, peers) in [(false, &self.primary), (true, &self.backup)] {
            let index = match self.method {
                Method::LeastConn if !single => balance::least_conn(peers, tried.of(backup), now),
                _ => peers.pick(tried.of(backup), now, single),
            };
            if let Some(index) = index {
                tried.mark(backup, index, peers.list.len());
                return Some(PeerRef { backup, index });
            }
        }
        None
    }

    pub fn peer(&self, p: PeerRef) -> &Peer {
        &self.peers(p.backup).list[p.index]
    }

    fn peers(&self, backup: bool) -> &Peers {
        if backup { &self.backup } else { &self.primary }
    }

    /// A request is done with a peer: `failed` counts against it (and may take it out:
    /// true when it did, for the caller's warning); a success forgets failures older than
    /// the last time it was taken out.
    pub fn release(&self, p: PeerRef, failed: bool) -> bool {
        let peers = self.peers(p.backup);
        let peer = &peers.list[p.index];
        let mut state = peers.state.borrow_mut();
        let st = &mut state[p.index];
        st.conns = st.conns.saturating_sub(1);
        let now = http::time::coarse_instant();
        if failed {
            st.fails += 1;
            st.accessed = Some(now);
            st.checked = Some(now);
            let Some(step) = peer.weight.checked_div(peer.max_fails) else {
                return false;
            };
            st.effective = (st.effective - i64::from(step)).max(0);
            return st.fails >= peer.max_fails;
        }
        if st.accessed < st.checked {
            st.fails = 0;
        }
        false
    }
}

impl Tried {
    fn of(&self, backup: bool) -> &[bool] {
        if backup { self.backup.get() } else { self.primary.get() }
    }

    /// Forgets a try that did not count (a kept connection its server had closed).
    pub fn forget(&mut self, p: PeerRef) {
        let v = if p.backup { &mut self.backup } else { &mut self.primary };
        v.set(p.index, false);
    }

    fn mark(&mut self, backup: bool, i: usize, len: usize) {
        let v = if backup { &mut self.backup } else { &mut self.primary };
        v.grow(len);
        v.set(i, true);
    }
}

/// One mark per server of a list: in place for the usual lists, allocated past them
/// (a request marks the server of each try).
#[derive(Debug)]
struct Marks {
    few: [bool; FEW_SERVERS],
    many: Vec<bool>,
}

const FEW_SERVERS: usize = 32;

impl Default for Marks {
    fn default() -> Self {
        Marks {
            few: [false; FEW_SERVERS],
            many: Vec::new(),
        }
    }
}

impl Marks {
    fn get(&self) -> &[bool] {
        if self.many.is_empty() { &self.few } else { &self.many }
    }

    fn get_mut(&mut self) -> &mut [bool] {
        if self.many.is_empty() {
            &mut self.few
        } else {
            &mut self.many
        }
    }

    /// Room for `len` servers.
    fn grow(&mut self, len: usize) {
        if len > FEW_SERVERS && self.many.len() < len {
            if self.many.is_empty() {
                self.many.extend_from_slice(&self.few);
            }
            self.many.resize(len, false);
        }
    }

    fn set(&mut self, i: usize, value: bool) {
        if let Some(m) = self.get_mut().get_mut(i) {
            *m = value;
        }
    }
}

thread_local! {
    /// The upstreams of this worker with idle connections, swept every second.
    static WATCHED: RefCell<Vec<std::rc::Weak<Upstream>>> = const { RefCell::new(Vec::new()) };
    static SWEEPING: Cell<bool> = const { Cell::new(false) };
}

/// Has the worker's sweep look after `up`'s idle connections (closed by their server
/// or past `keepalive_timeout`, they are closed without waiting for the next request).
fn watch(up: &Rc<Upstream>) {
    WATCHED.with(|w| {
        let mut w = w.borrow_mut();
        if !w.iter().any(|x| std::ptr::eq(x.as_ptr(), Rc::as_ptr(up))) {
            w.push(Rc::downgrade(up));
        }
    });
    if !SWEEPING.with(|s| s.replace(true)) {
        tokio::task::spawn_local(async {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let left = WATCHED.with(|w| {
                    let mut w = w.borrow_mut();
                    w.retain(|u| u.upgrade().is_some_and(|u| u.pool.sweep()));
                    !w.is_empty()
                });
                if !left {
                    SWEEPING.with(|s| s.set(false));
                    return;
                }
            }
        });
    }
}

/// The upstream blocks of the http block, by name.
#[derive(Clone, Default)]
pub struct Upstreams(pub Vec<Rc<Upstream>>);

impl ExtConf for Upstreams {
    fn merge(&mut self, _parent: &Self) {}
}

impl Upstreams {
    pub fn find(&self, name: &str) -> Option<Rc<Upstream>> {
        self.0.iter().find(|u| u.name.eq_ignore_ascii_case(name)).cloned()
    }
}

/// An upstream block while it is read.
#[derive(Default)]
pub struct UpstreamDraft {
    /// The balancing method's directive (`hash`, `ip_hash`, `least_conn`, `random`).
    method: Option<Cmd>,
    primary: Vec<Peer>,
    backup: Vec<Peer>,
    keepalive: Option<usize>,
    keepalive_requests: Option<u64>,
    keepalive_time: Option<Duration>,
    keepalive_timeout: Option<Duration>,
}

static BLOCK_DIRECTIVES: &[Directive<UpstreamDraft>] = &[
    Directive::value("server", UPS, Args::AtLeast(1), server),
    Directive::value("keepalive", UPS, Args::Exactly(1), keepalive),
    Directive::value("keepalive_requests", UPS, Args::Exactly(1), keepalive_requests),
    Directive::value("keepalive_time", UPS, Args::Exactly(1), keepalive_time),
    Directive::value("keepalive_timeout", UPS, Args::Exactly(1), keepalive_timeout),
    Directive::value("zone", UPS, Args::Range(1, 2), zone),
    Directive::value("hash", UPS, Args::Range(1, 2), method),
    Directive::value("ip_hash", UPS, Args::Exactly(0), method),
    Directive::value("least_conn", UPS, Args::Exactly(0), method),
    Directive::value("random", UPS, Args::Range(0, 2), method),
];

/// `upstream NAME { … }` (http level): read into the http block's upstreams.
pub fn upstream_block(b: &mut http::HttpBuilder, cmd: &Cmd, http_reg: &Registry<http::HttpBuilder>) -> Result<()> {
    let name = cmd.arg(0).to_string();
    let upstreams = b.main.get_or_default::<Upstreams>();
    if upstreams.find(&name).is_some() {
        return Err(cmd.error(format!("duplicate upstream \"{name}\"")));
    }
    let mut reg = Registry::default();
    reg.add(BLOCK_DIRECTIVES);
    let mut draft = UpstreamDraft::default();
    // the block's own directives, then other modules' (balancer_by_lua*), which leave
    // what they make in the block's extras
    *BlockExtras::of(b) = BlockExtras::default();
    for child in cmd.children() {
        if reg.knows(&child.name) {
            reg.run(&mut draft, UPS, std::slice::from_ref(child))?;
        } else {
            http_reg.run(b, UPS, std::slice::from_ref(child))?;
        }
    }
    let extras = std::mem::take(BlockExtras::of(b));
    // (a balancer's block may name no server: a placeholder stands in, as OpenResty's)
    let placeholder = extras.balancer.is_some() && draft.primary.is_empty();
    if placeholder {
        draft
            .primary
            .push(Peer::new(PeerAddr::Inet(SocketAddr::from(([0, 0, 0, 1], 80)))));
    }
    if draft.primary.is_empty() {
        return Err(cmd.error("no servers are inside upstream"));
    }
    let primary = Peers::new(draft.primary);
    let method = match &draft.method {
        None => Method::RoundRobin,
        Some(m) => match m.name.as_str() {
            "hash" => {
                let key = b.template(m, m.arg(0))?;
                let consistent = m.args.len() == 2;
                Method::Hash {
                    key,
                    ring: consistent.then(|| balance::ring(&primary)),
                }
            }
            "ip_hash" => Method::IpHash,
            "least_conn" => Method::LeastConn,
            _ => Method::Random {
                two: !m.args.is_empty(),
            },
        },
    };
    let up = Upstream {
        name,
        method,
        balancer: extras.balancer,
        balancer_keepalive: extras.balancer_keepalive.unwrap_or(32),
        placeholder,
        primary,
        backup: Peers::new(draft.backup),
        keepalive: draft.keepalive.unwrap_or(0),
        keepalive_requests: draft.keepalive_requests.unwrap_or(1000),
        keepalive_time: draft.keepalive_time.unwrap_or(Duration::from_secs(3600)),
        keepalive_timeout: draft.keepalive_timeout.unwrap_or(Duration::from_secs(60)),
        pool: Pool::default(),
    };
    b.main.get_or_default::<Upstreams>().0.push(Rc::new(up));
    Ok(())
}

/// The addresses of `host[:port]` or `unix:/path` (names resolved now, as nginx does at
/// start); `what` is how an error names the place (`upstream "x"`).
pub fn addresses(cmd: &Cmd, spec: &str, default_port: u16) -> Result<Vec<PeerAddr>> {
    if let Some(path) = spec.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(cmd.error(format!("no path in the unix domain socket in upstream \"{spec}\"")));
        }
        return Ok(vec![PeerAddr::Unix(PathBuf::from(path))]);
    }
    let (host, port) =
        split_host_port(spec).ok_or_else(|| cmd.error(format!("invalid port in upstream \"{spec}\"")))?;
    let port = port.unwrap_or(default_port);
    if host.is_empty() {
        return Err(cmd.error(format!("no host in upstream \"{spec}\"")));
    }
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(vec![PeerAddr::Inet(SocketAddr::new(ip, port))]);
    }
    let found: Vec<PeerAddr> = (host, port)
        .to_socket_addrs()
        .map(|it| it.map(PeerAddr::Inet).collect())
        .unwrap_or_default();
    if found.is_empty() {
        return Err(cmd.error(format!("host not found in upstream \"{spec}\"")));
    }
    Ok(found)
}

/// `host`, `host:port`, `[v6]:port` (None: a port that is not a number).
pub fn split_host_port(spec: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if spec.starts_with('[') {
        match spec.find(']') {
            Some(end) => (&spec[..=end], spec[end + 1..].strip_prefix(':')),
            None => return None,
        }
    } else {
        match spec.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            // several colons and no brackets: a bare IPv6 address
            Some(_) => (spec, None),
            None => (spec, None),
        }
    };
    match port {
        Some(p) => {
            let n: u16 = p.parse().ok().filter(|n| *n > 0)?;
            Some((host, Some(n)))
        }
        None => Some((host, None)),
    }
}

/// `hash KEY [consistent]`, `ip_hash`, `least_conn`, `random [two [least_conn]]`; the
/// key is compiled once the block is read.
fn method(d: &mut UpstreamDraft, cmd: &Cmd) -> Result<()> {
    let words: Vec<&str> = cmd.values().collect();
    let valid = match cmd.name.as_str() {
        "hash" => words.len() == 1 || words[1] == "consistent",
        "random" => words.first().is_none_or(|w| *w == "two") && words.get(1).is_none_or(|w| *w == "least_conn"),
        _ => true,
    };
    if !valid {
        let bad = words
            .iter()
            .skip(usize::from(cmd.name == "hash"))
            .find(|w| !matches!(**w, "consistent" | "two" | "least_conn"));
        return Err(cmd.error(format!("invalid parameter \"{}\"", bad.or(words.last()).unwrap_or(&""))));
    }
    // (nginx warns "load balancing method redefined" and takes the last one)
    d.method = Some(cmd.clone());
    Ok(())
}

fn server(d: &mut UpstreamDraft, cmd: &Cmd) -> Result<()> {
    let addrs = addresses(cmd, cmd.arg(0), 80)?;
    let mut weight = 1;
    let mut max_fails = 1;
    let mut fail_timeout = Duration::from_secs(10);
    let (mut backup, mut down, mut max_conns) = (false, false, 0);
    for arg in cmd.args.iter().skip(1).map(|a| a.value.as_str()) {
        let bad = || cmd.error(format!("invalid parameter \"{arg}\""));
        let number = |v: &str| v.parse::<u32>().map_err(|_| bad());
        if let Some(v) = arg.strip_prefix("weight=") {
            weight = number(v)?;
            if weight == 0 {
                return Err(bad());
            }
        } else if let Some(v) = arg.strip_prefix("max_fails=") {
            max_fails = number(v)?;
        } else if let Some(v) = arg.strip_prefix("fail_timeout=") {
            fail_timeout = Duration::from_millis(conf::value::msec(cmd, v).map_err(|_| bad())?);
        } else if let Some(v) = arg.strip_prefix("max_conns=") {
            max_conns = number(v)?;
        } else if arg == "backup" {
            // (a method that hashes or draws has no place for backups)
            if d.method.as_ref().is_some_and(|m| m.name != "least_conn") {
                return Err(cmd.error("balancing method does not support parameter \"backup\""));
            }
            backup = true;
        } else if arg == "down" {
            down = true;
        } else {
            return Err(bad());
        }
    }
    let server: Rc<str> = cmd.arg(0).into();
    let peers = addrs.into_iter().map(|addr| Peer {
        server: server.clone(),
        weight,
        max_fails,
        fail_timeout,
        down,
        max_conns,
        ..Peer::new(addr)
    });
    if backup {
        d.backup.extend(peers);
    } else {
        d.primary.extend(peers);
    }
    Ok(())
}

fn keepalive(d: &mut UpstreamDraft, cmd: &Cmd) -> Result<()> {
    let n = conf::value::number(cmd, cmd.arg(0))?;
    if n == 0 {
        return Err(cmd.invalid_value(cmd.arg(0), ""));
    }
    conf::registry::set_once(&mut d.keepalive, n as usize, cmd)
}

fn keepalive_requests(d: &mut UpstreamDraft, cmd: &Cmd) -> Result<()> {
    let n = conf::value::number(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut d.keepalive_requests, n, cmd)
}

fn keepalive_time(d: &mut UpstreamDraft, cmd: &Cmd) -> Result<()> {
    let ms = conf::value::msec(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut d.keepalive_time, Duration::from_millis(ms), cmd)
}

fn keepalive_timeout(d: &mut UpstreamDraft, cmd: &Cmd) -> Result<()> {
    let ms = conf::value::msec(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut d.keepalive_timeout, Duration::from_millis(ms), cmd)
}

/// `zone NAME [SIZE]`: accepted; each worker balances on its own state.
fn zone(_d: &mut UpstreamDraft, cmd: &Cmd) -> Result<()> {
    if cmd.args.len() == 2 {
        conf::value::size(cmd, cmd.arg(1))?;
    }
    Ok(())
}

/// `ConfError` for a place a `Cmd` is not at hand (installers).
pub fn error_at(at: &conf::Location, msg: String) -> ConfError {
    ConfError::Invalid { msg, at: at.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_addresses_parse_as_ngx_parse_addr_port() {
        let p = |s: &str| super::parse_local(s).map(|a| a.to_string());
        assert_eq!(p("127.0.0.2").as_deref(), Some("127.0.0.2:0"));
        assert_eq!(p("127.0.0.2:4000").as_deref(), Some("127.0.0.2:4000"));
        assert_eq!(p("::1").as_deref(), Some("[::1]:0"));
        assert_eq!(p("[::1]:80").as_deref(), Some("[::1]:80"));
        for bad in ["127.0.0.2:0", "localhost", "", "300.1.2.3", "1.2.3.4:99999"] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    fn peers(weights: &[u32]) -> Upstream {
        let mut up = Upstream::implicit("u".into(), Vec::new());
        let list = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| Peer {
                weight: w,
                ..Peer::new(PeerAddr::Inet(SocketAddr::from(([127, 0, 0, 1], 8000 + i as u16))))
            })
            .collect();
        up.primary = Peers::new(list);
        up
    }

    #[test]
    fn smooth_weighted_round_robin_spreads_as_nginx() {
        let up = peers(&[5, 1, 1]);
        let mut order = Vec::new();
        for _ in 0..7 {
            let p = up.pick(&mut Tried::default()).unwrap();
            up.release(p, false);
            order.push(p.index);
        }
        // nginx's sequence for weights 5, 1, 1: a a b a c a a
        assert_eq!(order, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn a_failed_server_is_out_for_fail_timeout_and_retries_skip_tried_ones() {
        let up = peers(&[1, 1]);
        let mut tried = Tried::default();
        let first = up.pick(&mut tried).unwrap();
        assert!(up.release(first, true), "max_fails=1: out after one failure");
        let second = up.pick(&mut tried).unwrap();
        assert_ne!(first, second);
        up.release(second, false);
        assert!(up.pick(&mut tried).is_none(), "both tried");
        for _ in 0..4 {
            let p = up.pick(&mut Tried::default()).unwrap();
            assert_eq!(p, second, "the failed one stays out");
            up.release(p, false);
        }
    }

    #[test]
    fn marks_hold_lists_past_the_few_kept_in_place() {
        let mut m = Marks::default();
        m.grow(3);
        m.set(1, true);
        assert_eq!(&m.get()[..3], [false, true, false]);
        m.grow(40);
        m.set(39, true);
        let marked: Vec<usize> = (0..40).filter(|&i| m.get()[i]).collect();
        assert_eq!(marked, [1, 39], "the marks made in place moved along");
        m.set(1, false);
        m.set(99, true); // (past the list: nothing to mark)
        assert_eq!(m.get().iter().filter(|&&b| b).count(), 1);
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port("a:81"), Some(("a", Some(81))));
        assert_eq!(split_host_port("a"), Some(("a", None)));
        assert_eq!(split_host_port("[::1]:8080"), Some(("[::1]", Some(8080))));
        assert_eq!(split_host_port("a:x"), None);
        assert_eq!(split_host_port("a:0"), None);
    }
}
