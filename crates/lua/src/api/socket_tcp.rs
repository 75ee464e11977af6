//! `ngx.socket.tcp`: the TCP (and stream unix socket) cosocket's primitives; the methods
//! are lualib/socket_tcp.lua's. Each primitive answers at once when it can (data already
//! buffered or readable, a write the kernel takes whole, a pooled connection) and
//! otherwise parks a future for the calling coroutine's `OP_AWAIT` (see `sched`): a
//! waiting socket holds nothing but its future, so the number of them is bounded by file
//! descriptors alone.
//!
//! Return values, error strings and log lines follow lua-nginx-module: errors are
//! strerror's text in lower case (`connection refused`), `timeout`, `closed`; a failed
//! read returns what it had read as a third value; every error but a read timeout closes
//! the connection.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};
use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::socket_pool;
use crate::cfunc::{self, Answer};
use crate::raw::Arg;
use crate::request;
pub use http::io::Stream;

http::settings! {
    /// `lua_socket_*`: the cosocket settings of a location (inherited from the levels
    /// above, nginx's defaults where none is given).
    pub struct SocketConf {
        connect_timeout: u64 = 60_000,
        send_timeout: u64 = 60_000,
        read_timeout: u64 = 60_000,
        buffer_size: u64 = 4096,
        pool_size: u64 = 30,
        keepalive_timeout: u64 = 60_000,
        log_errors: bool = true,
        // `lua_ssl_*`: what `sslhandshake` verifies with and offers (paths absolute)
        ssl_trusted_certificate: String = String::new(),
        ssl_verify_depth: u32 = 1,
        // (lua-nginx-module's documented default: SSLv3 TLSv1 TLSv1.1 TLSv1.2)
        ssl_protocols: u8 = http::tls::SSLV3 | http::tls::TLSV1 | http::tls::TLSV1_1 | http::tls::TLSV1_2,
        ssl_ciphers: String = "DEFAULT".to_string(),
        ssl_certificate: String = String::new(),
        ssl_certificate_key: String = String::new(),
        ssl_crl: String = String::new(),
        ssl_conf_commands: Vec<(String, String)> = Vec::new(),
    }
}

impl SocketConf {
    /// The client TLS context's settings.
    pub(crate) fn tls(&self) -> http::tls::ClientTls {
        http::tls::ClientTls {
            trusted: self.ssl_trusted_certificate(),
            depth: self.ssl_verify_depth(),
            protocols: self.ssl_protocols(),
            ciphers: self.ssl_ciphers(),
            certificate: self.ssl_certificate(),
            key: self.ssl_certificate_key(),
            password_file: String::new(),
            crl: self.ssl_crl(),
            conf_commands: self.ssl_conf_commands(),
        }
    }
}

/// The cosocket settings that apply now: the request's location's, or those of the
/// location a timer came from.
pub(super) fn settings() -> Settings {
    Settings(request::location())
}

/// A location's cosocket settings, read through the location itself (a copy would make
/// its strings anew for every socket call).
pub(super) struct Settings(Option<Rc<http::config::Location>>);

impl std::ops::Deref for Settings {
    type Target = SocketConf;

    fn deref(&self) -> &SocketConf {
        static DEFAULTS: std::sync::LazyLock<SocketConf> = std::sync::LazyLock::new(SocketConf::default);
        self.0
            .as_deref()
            .and_then(|loc| loc.ext.get::<SocketConf>())
            .unwrap_or(&DEFAULTS)
    }
}

/// The `resolver` that applies now (as `settings`), with its timeout.
pub(super) fn resolver() -> Option<(std::sync::Arc<http::resolver::ResolverConf>, Duration)> {
    let loc = request::location()?;
    let r = loc.settings.resolver()?;
    Some((r, Duration::from_millis(loc.settings.resolver_timeout_ms())))
}

/// A cosocket's state.
#[derive(Default)]
struct State {
    stream: Option<Rc<Stream>>,
    /// Read but not yet returned: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// Per-socket timeouts (ms) from settimeout(s); 0: the location's.
    connect_ms: u64,
    send_ms: u64,
    read_ms: u64,
    reused: u32,
    pool: Rc<str>,
    pool_size: Option<usize>,
    reading: bool,
    writing: bool,
    connecting: bool,
    /// The peer closed its side, or a read failed: reads answer "closed" (writes may go on).
    read_closed: bool,
    /// A write failed: writes answer "closed".
    write_closed: bool,
    eof: bool,
    /// The last failure, as lua-nginx-module's `ft_type` bits (for its log lines).
    ft: u32,
    /// `host:port` for log lines.
    peer: Rc<str>,
    /// Bytes the socket may still read (`ngx.req.socket`: what is left of the body);
    /// reaching 0 is the end of the stream.
    limit: Option<u64>,
    /// The TLS session of the last `sslhandshake`, for the Lua side to take.
    session: Option<openssl::ssl::SslSession>,
    /// `connect` was called once (a handshake on a socket never connected is an error,
    /// on a closed one "closed").
    used: bool,
}

/// lua-nginx-module's failure types.
const FT_ERROR: u32 = 0x1;
const FT_TIMEOUT: u32 = 0x2;
const FT_CLOSED: u32 = 0x4;

impl State {
    fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        out
    }

    fn take_all(&mut self) -> Vec<u8> {
        let n = self.pending().len();
        self.consume(n)
    }

    fn close(&mut self) {
        self.stream = None;
        self.release_buffer();
        self.pos = 0;
        self.read_closed = false;
        self.write_closed = false;
        self.eof = false;
    }

    /// Reads allowed before the end (the request body's length, for `ngx.req.socket`).
    fn read_room(&self, want: usize) -> usize {
        self.limit.map_or(want, |l| want.min(l as usize))
    }

    /// lua-nginx-module's words for an operation on a closed socket (`u:` is this state,
    /// `c:` the connection, as its pointers).
    fn closed_line(&self, what: &str) -> String {
        let c = self.stream.as_ref().map_or(std::ptr::null(), Rc::as_ptr);
        let ft = if self.stream.is_some() { self.ft } else { 0 };
        format!(
            "attempt to {what} data on a closed socket: u:{:016X}, c:{:016X}, ft:{ft} eof:{}",
            self as *const State as usize, c as usize, self.eof as u8
        )
    }
}

impl State {
    /// Hands the read buffer to the worker's buffer pool, for the next socket or
    /// connection (a closed or pooled socket's is empty; the Lua object lives on until
    /// the collector takes it; a request that makes a socket per request, as resty.redis
    /// does, then allocates none).
    fn release_buffer(&mut self) {
        http::io::pool::put(std::mem::take(&mut self.buf));
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.release_buffer();
    }
}

/// The Lua-held socket (in an object of `cfunc`'s).
#[derive(Clone, Default)]
pub struct TcpSock(Rc<RefCell<State>>);

/// What `receive` waits for.
#[derive(Clone)]
enum Want {
    /// `*l`: a line; CRs dropped, LF ends it.
    Line,
    /// `*a`: everything up to the peer's close.
    All,
    /// Exactly N bytes.
    Bytes(usize),
    /// `receiveany(max)`: whatever comes, at most max.
    Any(usize),
    /// `receiveuntil`'s iterator.
    Until(Rc<RefCell<Until>>, Option<usize>),
}

/// A `receiveuntil` iterator's pattern and where a sized read left off.
pub struct Until {
    pattern: Vec<u8>,
    inclusive: bool,
    /// An inclusive sized read returned the pattern: the next call ends with nil.
    found: bool,
}

/// The iterator's state, held by its Lua closure (in an object of `cfunc`'s).
struct UntilRef(Rc<RefCell<Until>>);

/// What a read came to.
enum Got {
    Data(Vec<u8>),
    /// `receiveuntil` with a size, after the pattern: nil, nil (and the iterator resets).
    End,
}

impl Want {
    /// Takes what the buffer holds for this want; `eof`: nothing more will come.
    fn take(&self, st: &mut State, eof: bool) -> Option<Got> {
        let len = st.pending().len();
        match self {
            Want::Line => {
                let nl = memchr::memchr(b'\n', st.pending())?;
                let mut line = st.consume(nl + 1);
                line.truncate(nl);
                if memchr::memchr(b'\r', &line).is_some() {
                    line.retain(|&c| c != b'\r');
                }
                Some(Got::Data(line))
            }
            Want::All => eof.then(|| Got::Data(st.take_all())),
            Want::Bytes(n) => (len >= *n).then(|| Got::Data(st.consume(*n))),
            Want::Any(max) => (len > 0).then(|| Got::Data(st.consume(len.min(*max)))),
            Want::Until(u, size) => {
                let mut u = u.borrow_mut();
                if u.found {
                    u.found = false;
                    return Some(Got::End);
                }
                let plen = u.pattern.len();
                match (memchr::memmem::find(st.pending(), &u.pattern), size) {
                    (Some(i), None) => {
                        let mut out = st.consume(i);
                        let pattern = st.consume(plen);
                        if u.inclusive {
                            out.extend_from_slice(&pattern);
                        }
                        Some(Got::Data(out))
                    }
                    // sized reads: the data before the pattern in chunks, then nil
                    (Some(i), Some(s)) if i > 0 => Some(Got::Data(st.consume(i.min(*s)))),
                    (Some(_), Some(_)) => {
                        let pattern = st.consume(plen);
                        if u.inclusive {
                            u.found = true;
                            return Some(Got::Data(pattern));
                        }
                        Some(Got::End)
                    }
                    // no pattern yet: a sized read hands over what cannot start one
                    (None, Some(s)) => (len.saturating_sub(plen - 1) >= *s).then(|| Got::Data(st.consume(*s))),
                    (None, None) => None,
                }
            }
        }
    }
}

/// The text lua-nginx-module gives an I/O error: strerror in lower case.
pub(super) fn error_text(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::TimedOut {
        return "timeout".into();
    }
    conf::os_reason(e).to_ascii_lowercase()
}

/// Logs a cosocket error (`lua_socket_log_errors` permitting) with the request's
/// context, or the run's when there is no request.
pub(super) fn log_error(conf: &SocketConf, msg: &str) {
    if !conf.log_errors() {
        return;
    }
    log_at(http::log::Level::Error, msg);
}

/// The connection and log context of the request (or run) now, for a line a parked
/// future logs later, when no request is current.
fn log_where() -> (u64, String) {
    request::with(|r| Ok((r.conn.id, r.log_context().to_string())))
        .unwrap_or_else(|_| (0, request::log_context().to_string()))
}

fn log_at(level: http::log::Level, msg: &str) {
    let logged = request::with(|r| {
        r.log(level, msg);
        Ok(())
    });
    if logged.is_err() {
        http::elog!(level, 0, "{msg}{}", request::log_context());
    }
}

fn parked() -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![Value::LightUserData(LightUserData(
        cfunc::parked_marker(),
    ))]))
}

/// Results as Lua values (for answers given at once).
pub(super) fn values(lua: &Lua, args: Vec<Arg>) -> mlua::Result<MultiValue> {
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        out.push(match a {
            Arg::Nil => Value::Nil,
            Arg::Bool(b) => Value::Boolean(b),
            Arg::Int(i) => Value::Integer(i),
            Arg::Str(s) => Value::String(lua.create_string(&s)?),
            Arg::Text(t) => Value::String(lua.create_string(t)?),
        });
    }
    Ok(MultiValue::from_vec(out))
}

pub(super) fn fail(err: impl Into<String>) -> Vec<Arg> {
    vec![Arg::Nil, Arg::Str(err.into().into_bytes())]
}

/// Answers now, or parks `fut` for the caller's OP_AWAIT.
pub(super) fn now_or_later(
    lua: &Lua,
    ready: Option<Vec<Arg>>,
    fut: impl Future<Output = Vec<Arg>> + 'static,
) -> mlua::Result<MultiValue> {
    match ready {
        Some(args) => values(lua, args),
        None => {
            crate::sched::park(Box::pin(fut));
            parked()
        }
    }
}

/// A C function's answer now.
fn now(args: Vec<Arg>) -> Result<Answer, String> {
    Ok(Answer::Values(args))
}

/// Parks `fut` for the caller's OP_AWAIT.
fn later(fut: impl Future<Output = Vec<Arg>> + 'static) -> Result<Answer, String> {
    crate::sched::park(Box::pin(fut));
    Ok(Answer::Parked)
}

/// `check_phase` for a C function.
fn phase_ok() -> Result<(), String> {
    check_phase().map_err(|e| crate::handler::error_text(&e))
}

/// Refuses the cosocket API where nothing can wait for it.
pub(super) fn check_phase() -> mlua::Result<()> {
    request::check_context(request::YIELD_PHASES)
}

/// Where a host is without asking DNS: an IP literal, or a name in /etc/hosts.
pub(super) fn literal_or_hosts(host: &str, port: u16) -> Option<SocketAddr> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    hosts_lookup(host).map(|ip| SocketAddr::new(ip, port))
}

/// One of a name's addresses, at random, as lua-nginx-module picks one.
pub(super) fn pick(ips: &[std::net::IpAddr]) -> Option<std::net::IpAddr> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize);
    ips.get(nanos % ips.len().max(1)).copied()
}

/// A name in /etc/hosts (read once per worker), IPv4 first, as lua-nginx-module's
/// cosockets honour it.
fn hosts_lookup(name: &str) -> Option<std::net::IpAddr> {
    thread_local! {
        static HOSTS: Vec<(String, std::net::IpAddr)> = std::fs::read_to_string("/etc/hosts")
            .map(|text| parse_hosts(&text))
            .unwrap_or_default();
    }
    HOSTS.with(|h| {
        let mut found = h
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, ip)| *ip);
        let all: Vec<_> = found.by_ref().collect();
        all.iter()
            .copied()
            .find(|ip| ip.is_ipv4())
            .or_else(|| all.first().copied())
    })
}

fn parse_hosts(text: &str) -> Vec<(String, std::net::IpAddr)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(ip) = words.next().and_then(|w| w.parse().ok()) else {
            continue;
        };
        for name in words {
            out.push((name.to_string(), ip));
        }
    }
    out
}

impl TcpSock {
    /// A timeout set on the socket (settimeout), else the location's.
    fn timeout(&self, which: fn(&State) -> u64, conf: u64) -> Duration {
        match which(&self.0.borrow()) {
            0 => Duration::from_millis(conf),
            ms => Duration::from_millis(ms),
        }
    }

    /// `connect(host, port, pool, pool_size)` / `connect("unix:/path", …)`.
    fn connect(
        &self,
        host: &str,
        port: Option<u16>,
        pool: Option<String>,
        pool_size: Option<usize>,
    ) -> Result<Answer, String> {
        phase_ok()?;
        let (conf, resolver) = (settings(), resolver());
        let (key, target) = match host.strip_prefix("unix:") {
            Some(path) => (socket_pool::key_of(host), Err(path)),
            None => {
                let Some(port) = port else {
                    return now(fail("no port specified"));
                };
                (socket_pool::key(host, port), Ok((host, port)))
            }
        };
        {
            let mut st = self.0.borrow_mut();
            if st.connecting {
                return now(fail("socket busy connecting"));
            }
            // a connected socket is closed first, as lua-nginx-module does
            st.close();
            st.used = true;
            st.ft = 0;
            st.pool_size = pool_size;
            st.reused = 0;
            // (`host:port` or `unix:path`: the pool's key unless one is named)
            st.pool = match pool {
                Some(pool) => socket_pool::key_of(&pool),
                None => key.clone(),
            };
            st.peer = key;
            if let Some((stream, reused)) = socket_pool::take(&st.pool) {
                st.stream = Some(stream);
                st.reused = reused + 1;
                return now(vec![Arg::Int(1)]);
            }
        }
        // an address now (a literal, /etc/hosts), or a name for the resolver
        let addr = match &target {
            Ok((h, p)) => match literal_or_hosts(h, *p) {
                Some(a) => Some(a),
                None if resolver.is_some() => None,
                None => return now(fail(format!("no resolver defined to resolve \"{h}\""))),
            },
            Err(_) => None,
        };
        let timeout = self.timeout(|s| s.connect_ms, conf.connect_timeout());
        self.0.borrow_mut().connecting = true;
        let sock = self.clone();
        let target = target.map(|(h, p)| (h.to_string(), p)).map_err(str::to_string);
        later(async move {
            let addr = match (&target, addr, &resolver) {
                (Ok((host, port)), None, Some((r, rtimeout))) => {
                    match http::resolver::resolve(r, host, *rtimeout).await {
                        Ok(ips) => pick(&ips).map(|ip| SocketAddr::new(ip, *port)),
                        Err(e) => {
                            let mut st = sock.0.borrow_mut();
                            st.connecting = false;
                            st.ft = FT_ERROR;
                            return fail(format!("{host} could not be resolved ({e})"));
                        }
                    }
                }
                _ => addr,
            };
            let conn = async {
                match (&target, addr) {
                    (Ok(_), Some(a)) => tokio::net::TcpStream::connect(a).await.map(|s| {
                        let _ = s.set_nodelay(true);
                        Stream::Tcp(s)
                    }),
                    (Err(path), _) => tokio::net::UnixStream::connect(path).await.map(Stream::Unix),
                    _ => Err(io::ErrorKind::InvalidInput.into()),
                }
            };
            let out = tokio::time::timeout(timeout, conn).await;
            let mut st = sock.0.borrow_mut();
            st.connecting = false;
            match out {
                Ok(Ok(s)) => {
                    st.stream = Some(Rc::new(s));
                    vec![Arg::Int(1)]
                }
                Ok(Err(e)) => {
                    let peer = st.peer.clone();
                    drop(st);
                    // (as nginx's: a unix socket's failure is critical, a TCP peer's an error)
                    if peer.starts_with("unix:") {
                        if conf.log_errors() {
                            let line = format!("connect() to {peer} failed ({})", conf::errno_text(&e));
                            log_at(http::log::Level::Crit, &line);
                        }
                    } else {
                        log_error(&conf, &format!("connect() failed ({})", conf::errno_text(&e)));
                    }
                    fail(error_text(&e))
                }
                Err(_) => {
                    st.ft = FT_TIMEOUT;
                    let peer = st.peer.clone();
                    drop(st);
                    log_error(
                        &conf,
                        &format!("lua tcp socket connect timed out, when connecting to {peer}"),
                    );
                    fail("timeout")
                }
            }
        })
    }

    /// `send(data)`: the bytes sent, or nil and the error.
    fn send(&self, bytes: &[u8]) -> Result<Answer, String> {
        phase_ok()?;
        let conf = settings();
        let stream = {
            let st = self.0.borrow();
            match st.stream.clone() {
                Some(s) if !st.write_closed => {
                    if st.writing {
                        return now(fail("socket busy writing"));
                    }
                    s
                }
                _ => {
                    log_error(&conf, &st.closed_line("send"));
                    return now(fail("closed"));
                }
            }
        };
        // what the kernel takes now needs no wait (nor a copy of the data)
        let mut sent = 0;
        loop {
            if sent == bytes.len() {
                return now(vec![Arg::Int(sent as i64)]);
            }
            match stream.try_write(&bytes[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return now(self.write_failed(&conf, &e)),
            }
        }
        let data = bytes.to_vec();
        let timeout = self.timeout(|s| s.send_ms, conf.send_timeout());
        self.0.borrow_mut().writing = true;
        let sock = self.clone();
        later(async move {
            let _busy = Flag::new(&sock, |s| &mut s.writing);
            let write = async {
                while sent < data.len() {
                    stream.writable().await?;
                    match stream.try_write(&data[sent..]) {
                        Ok(n) => sent += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            };
            match tokio::time::timeout(timeout, write).await {
                Ok(Ok(())) => vec![Arg::Int(data.len() as i64)],
                Ok(Err(e)) => sock.write_failed(&conf, &e),
                Err(_) => {
                    log_error(&conf, "lua tcp socket write timed out");
                    let mut st = sock.0.borrow_mut();
                    st.write_closed = true;
                    st.ft = FT_TIMEOUT;
                    fail("timeout")
                }
            }
        })
    }

    fn write_failed(&self, conf: &SocketConf, e: &io::Error) -> Vec<Arg> {
        log_error(conf, &format!("send() failed ({})", conf::errno_text(e)));
        let mut st = self.0.borrow_mut();
        st.write_closed = true;
        st.ft = FT_ERROR;
        fail(error_text(e))
    }

    /// Every read: from the buffer, then what the socket has now, then a wait.
    fn receive(&self, want: Want) -> Result<Answer, String> {
        phase_ok()?;
        let conf = settings();
        let stream = {
            let mut st = self.0.borrow_mut();
            let stream = match st.stream.clone() {
                Some(s) if !st.read_closed => s,
                _ => {
                    log_error(&conf, &st.closed_line("receive"));
                    return now(fail("closed"));
                }
            };
            if st.reading {
                return now(fail("socket busy reading"));
            }
            let eof = st.eof;
            if let Some(got) = want.take(&mut st, eof) {
                return now(answer(got));
            }
            if st.eof {
                // the peer closed after a `*a` took all: anything else finds it closed now
                st.read_closed = true;
                let partial = st.take_all();
                return now(vec![Arg::Nil, Arg::Text("closed"), Arg::Str(partial)]);
            }
            stream
        };
        let bufsize = conf.buffer_size().max(1) as usize;
        if let Some(out) = self.read_now(&stream, &want, bufsize, &conf) {
            return now(out);
        }
        let timeout = self.timeout(|s| s.read_ms, conf.read_timeout());
        self.0.borrow_mut().reading = true;
        let sock = self.clone();
        later(async move {
            let _busy = Flag::new(&sock, |s| &mut s.reading);
            let read = async {
                loop {
                    if let Err(e) = stream.readable().await {
                        return sock.read_failed(&want, &conf, &e);
                    }
                    if let Some(out) = sock.read_now(&stream, &want, bufsize, &conf) {
                        return out;
                    }
                }
            };
            match tokio::time::timeout(timeout, read).await {
                Ok(out) => out,
                Err(_) => {
                    log_error(&conf, "lua tcp socket read timed out");
                    // (the connection stays: a read may be tried again)
                    let mut st = sock.0.borrow_mut();
                    st.ft = FT_TIMEOUT;
                    let partial = st.take_all();
                    vec![Arg::Nil, Arg::Text("timeout"), Arg::Str(partial)]
                }
            }
        })
    }

    /// Reads what the socket holds now until `want` is met; None when it would block.
    fn read_now(&self, stream: &Stream, want: &Want, bufsize: usize, conf: &SocketConf) -> Option<Vec<Arg>> {
        loop {
            let room = self.0.borrow().read_room(bufsize);
            let read = if room == 0 {
                Ok(0)
            } else {
                // into the buffer's spare room, unzeroed (a body socket's limit may make
                // that room smaller than the buffer's)
                let mut st = self.0.borrow_mut();
                if st.pos > 0 && st.pos == st.buf.len() {
                    st.buf.clear();
                    st.pos = 0;
                }
                if st.buf.capacity() == 0
                    && let Some(spare) = http::io::pool::spare()
                {
                    st.buf = spare;
                }
                st.buf.reserve(room);
                let (n, asked) = if st.limit.is_some() {
                    let mut chunk = vec![0u8; room];
                    let n = stream
                        .try_read(&mut chunk)
                        .inspect(|&n| st.buf.extend_from_slice(&chunk[..n]));
                    (n, room)
                } else {
                    let asked = st.buf.capacity() - st.buf.len();
                    (stream.try_read_buf(&mut st.buf), asked)
                };
                if let Ok(n) = n
                    && n > 0
                    && n < asked
                {
                    // a short read drained the socket: the next one waits for readiness
                    // rather than paying for an EAGAIN (nginx does this)
                    stream.clear_read_ready();
                }
                n
            };
            match read {
                Ok(0) => {
                    let mut st = self.0.borrow_mut();
                    st.eof = true;
                    // (`*a` ends well at the peer's close; other reads fail "closed")
                    if let Some(got) = want.take(&mut st, true) {
                        return Some(answer(got));
                    }
                    let partial = st.take_all();
                    st.read_closed = true;
                    st.ft = FT_CLOSED;
                    return Some(vec![Arg::Nil, Arg::Text("closed"), Arg::Str(partial)]);
                }
                Ok(n) => {
                    let mut st = self.0.borrow_mut();
                    if let Some(l) = st.limit.as_mut() {
                        *l -= n as u64;
                    }
                    if let Some(got) = want.take(&mut st, false) {
                        return Some(answer(got));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) => return Some(self.read_failed(want, conf, &e)),
            }
        }
    }

    fn read_failed(&self, _want: &Want, conf: &SocketConf, e: &io::Error) -> Vec<Arg> {
        log_error(conf, &format!("recv() failed ({})", conf::errno_text(e)));
        let mut st = self.0.borrow_mut();
        let partial = st.take_all();
        st.read_closed = true;
        st.ft = FT_ERROR;
        vec![Arg::Nil, Arg::Str(error_text(e).into_bytes()), Arg::Str(partial)]
    }

    fn close(&self) -> Vec<Arg> {
        let mut st = self.0.borrow_mut();
        if st.stream.is_none() {
            return fail("closed");
        }
        st.close();
        vec![Arg::Int(1)]
    }

    /// `sslhandshake(session, server_name, verify)`: TLS over the connected socket, as
    /// lua-nginx-module's: a connection that already speaks TLS (from the pool) answers at
    /// once; a failure closes the socket.
    fn sslhandshake(
        &self,
        session: Option<openssl::ssl::SslSession>,
        server_name: Option<String>,
        verify: bool,
        certificate: Option<ClientCert>,
    ) -> Result<Answer, String> {
        phase_ok()?;
        let conf = settings();
        let stream = {
            let mut st = self.0.borrow_mut();
            let Some(stream) = st.stream.take() else {
                if !st.used {
                    return Err("socket is never created nor connected".to_string());
                }
                return now(fail("closed"));
            };
            if matches!(*stream, Stream::Tls(_)) {
                st.stream = Some(stream);
                return now(vec![Arg::Int(1)]);
            }
            if st.reading || st.writing || st.connecting || !st.pending().is_empty() {
                st.stream = Some(stream);
                return now(fail("socket busy"));
            }
            match Rc::try_unwrap(stream) {
                Ok(s) => s,
                Err(shared) => {
                    st.stream = Some(shared);
                    return now(fail("socket busy"));
                }
            }
        };
        let ctx = match http::tls::client_context(&conf.tls()) {
            Ok(c) => c,
            Err(e) => {
                log_at(http::log::Level::Error, &e);
                self.0.borrow_mut().close();
                return now(fail("handshake failed"));
            }
        };
        let timeout = self.timeout(|s| s.connect_ms, conf.connect_timeout());
        self.0.borrow_mut().connecting = true;
        let sock = self.clone();
        let (conn, context) = log_where();
        let log = move |level: http::log::Level, msg: &str| {
            if conf.log_errors() {
                http::elog!(level, conn, "{msg}{context}");
            }
        };
        later(async move {
            let name = server_name.as_deref();
            let offer = http::tls::Offer {
                server_name: name,
                session: session.as_deref(),
                certificate: certificate
                    .as_ref()
                    .map(|(chain, key)| (chain.as_slice(), key.as_ref())),
            };
            let done = http::tls::connect(stream, &ctx, offer, timeout).await;
            let mut st = sock.0.borrow_mut();
            st.connecting = false;
            let t = match done {
                Ok(t) => t,
                Err(f) => {
                    st.close();
                    st.ft = FT_ERROR;
                    drop(st);
                    if f.text == "timed out" {
                        log(http::log::Level::Error, "lua ssl handshake timed out");
                        return fail("timeout");
                    }
                    log(f.level, &f.text);
                    return fail("handshake failed");
                }
            };
            if verify && let Err(refused) = http::tls::verify_peer(&t, name) {
                st.close();
                st.ft = FT_ERROR;
                drop(st);
                return match refused {
                    http::tls::PeerRefused::Verify(code, text) => {
                        log(
                            http::log::Level::Error,
                            &format!("lua ssl certificate verify error: ({code}: {text})"),
                        );
                        fail(format!("{code}: {text}"))
                    }
                    http::tls::PeerRefused::Host => {
                        let line = format!("lua ssl certificate does not match host \"{}\"", name.unwrap_or(""));
                        log(http::log::Level::Error, &line);
                        fail("certificate host mismatch")
                    }
                };
            }
            st.session = t.with_ssl(|s| s.session().map(|x| x.to_owned()));
            st.stream = Some(Rc::new(Stream::Tls(Box::new(t))));
            vec![Arg::Int(1)]
        })
    }

    /// `setkeepalive(timeout, size)`: the connection goes to the worker's pool.
    fn setkeepalive(&self, timeout: Option<u64>, size: Option<usize>) -> Vec<Arg> {
        let conf = settings();
        let mut st = self.0.borrow_mut();
        let Some(stream) = st.stream.clone() else {
            return fail("closed");
        };
        if st.read_closed || st.write_closed {
            st.close();
            return fail("closed");
        }
        if st.reading || st.writing || st.connecting {
            return fail("socket busy");
        }
        if !st.pending().is_empty() {
            return fail("unread data in buffer");
        }
        let timeout = match timeout.unwrap_or(conf.keepalive_timeout()) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        let size = size.or(st.pool_size).unwrap_or(conf.pool_size() as usize);
        let (key, reused) = (st.pool.clone(), st.reused);
        st.close();
        drop(st);
        if stream.has_data() {
            return vec![Arg::Int(1)];
        }
        socket_pool::put(&key, stream, reused, size, timeout);
        vec![Arg::Int(1)]
    }
}

/// A `setoption` value.
#[derive(Clone, Copy)]
enum OptionValue {
    Bool(bool),
    Number(f64),
    Other,
}

/// `setoption(option, value)`: the socket options lua-nginx-module knows.
fn set_option(stream: &Stream, option: &str, value: OptionValue) -> Vec<Arg> {
    let stream = match stream {
        Stream::Tls(t) => t.socket(),
        s => s,
    };
    let sock = match stream {
        Stream::Tcp(s) => socket2::SockRef::from(s),
        Stream::Unix(s) => socket2::SockRef::from(s),
        Stream::Tls(_) | Stream::Detached => return vec![Arg::Nil, Arg::Text("closed")],
    };
    let flag = || match value {
        OptionValue::Bool(b) => Some(b),
        OptionValue::Number(n) => Some(n != 0.0),
        OptionValue::Other => None,
    };
    let size = || match value {
        OptionValue::Number(n) if n >= 0.0 => Some(n as usize),
        _ => None,
    };
    let done = match option {
        "keepalive" => flag().map(|v| sock.set_keepalive(v)),
        "reuseaddr" => flag().map(|v| sock.set_reuse_address(v)),
        "tcp-nodelay" => flag().map(|v| sock.set_tcp_nodelay(v)),
        "sndbuf" => size().map(|v| sock.set_send_buffer_size(v)),
        "rcvbuf" => size().map(|v| sock.set_recv_buffer_size(v)),
        _ => return fail(format!("unsupported option {option}")),
    };
    match done {
        Some(Ok(())) => vec![Arg::Bool(true)],
        Some(Err(e)) => fail(error_text(&e)),
        None => fail(format!("bad option value for {option}")),
    }
}

/// `ngx.req.socket(raw)`: the client connection as a cosocket. Without `raw`, a
/// read-only socket over the request body (what is left of it after what nginx already
/// read); with it, the whole connection, both ways, once pending output is out (the
/// response is then Lua's to write: nothing more is sent by the server). The connection
/// is not kept alive after either.
fn req_socket(raw: bool) -> mlua::Result<Result<TcpSock, &'static str>> {
    request::check_context(request::OUTPUT_PHASES)?;
    request::with(|r| {
        if !raw {
            if !matches!(r.body, http::request::Body::Unread) || r.discard_pending {
                return Ok(Err("request body already exists"));
            }
            let len = match r.framing {
                http::request::Framing::Length(n) if n > 0 => n,
                http::request::Framing::Chunked => return Ok(Err("chunked request bodies not supported yet")),
                _ => return Ok(Err("no body")),
            };
            let have = r.io.pending().len().min(len as usize);
            let buf = r.io.pending()[..have].to_vec();
            r.io.consume(have);
            r.body = http::request::Body::Discarded;
            r.keepalive = false;
            return Ok(Ok((buf, Some(len - have as u64))));
        }
        if !r.out.is_empty() {
            return Ok(Err("pending data to write"));
        }
        let buf = r.io.pending().to_vec();
        let n = buf.len();
        r.io.consume(n);
        // the connection is Lua's now: the server writes nothing more on it
        r.header_sent = true;
        r.eof_sent = true;
        r.keepalive = false;
        Ok(Ok((buf, None)))
    })
    .map(|made| {
        let (buf, limit) = made?;
        let sock = TcpSock::default();
        let stream = request::with(|r| {
            // the request lets go of the socket's hold on its connection when it ends
            match r.ctx::<ReqSockets>() {
                Some(held) => held.0.push(sock.clone()),
                None => r.set_ctx(ReqSockets(vec![sock.clone()])),
            }
            Ok(r.io.stream.clone())
        })
        .ok();
        {
            let mut st = sock.0.borrow_mut();
            st.stream = stream;
            st.buf = buf;
            st.limit = limit;
            st.peer = Rc::from("client");
        }
        Ok(sock)
    })
}

/// The `ngx.req.socket` objects of a request. When the request ends, they let go of the
/// client connection (Lua may keep the objects longer: they answer "closed" then), so
/// that the connection closes with the request.
struct ReqSockets(Vec<TcpSock>);

impl Drop for ReqSockets {
    fn drop(&mut self) {
        for s in &self.0 {
            if let Ok(mut st) = s.0.try_borrow_mut() {
                st.close();
            }
        }
    }
}

/// A read's data, as Lua gets it.
fn answer(got: Got) -> Vec<Arg> {
    match got {
        Got::Data(d) => vec![Arg::Str(d)],
        Got::End => vec![Arg::Nil, Arg::Nil],
    }
}

/// Marks a socket busy reading or writing until dropped (also when the waiting thread is
/// killed mid-wait).
struct Flag {
    sock: TcpSock,
    field: fn(&mut State) -> &mut bool,
}

impl Flag {
    fn new(sock: &TcpSock, field: fn(&mut State) -> &mut bool) -> Flag {
        *field(&mut sock.0.borrow_mut()) = true;
        Flag {
            sock: sock.clone(),
            field,
        }
    }
}

impl Drop for Flag {
    fn drop(&mut self) {
        *(self.field)(&mut self.sock.0.borrow_mut()) = false;
    }
}

// The primitives are classic C functions (see `cfunc`): upvalue 1 is the socket
// objects' metatable, upvalue 2 the receiveuntil states'. Argument 1 is the socket.

fn sockets() -> c_int {
    ffi::lua_upvalueindex(1)
}

fn untils() -> c_int {
    ffi::lua_upvalueindex(2)
}

fn sessions() -> c_int {
    ffi::lua_upvalueindex(3)
}

/// A client certificate chain and its key (`setclientcert`).
type ClientCert = (Vec<openssl::x509::X509>, openssl::pkey::PKey<openssl::pkey::Private>);

/// A TLS session handed to Lua by `sslhandshake` (to offer for reuse later).
struct SessionRef(openssl::ssl::SslSession);

/// The socket that argument 1 holds.
///
/// # Safety
/// `l` is the running state of one of the functions registered below.
unsafe fn sock<'a>(l: *mut lua_State) -> Result<&'a TcpSock, String> {
    // SAFETY: the caller's contract: upvalue 1 is the socket objects' metatable.
    unsafe { cfunc::object::<TcpSock>(l, 1, sockets()) }.ok_or_else(|| "bad cosocket object".to_string())
}

/// A timeout or size argument (the Lua wrapper checked its range).
///
/// # Safety
/// `l` is the running state.
unsafe fn opt_u64(l: *mut lua_State, i: c_int, min: f64) -> Option<u64> {
    // SAFETY: the caller's contract.
    unsafe { cfunc::number(l, i) }.map(|n| n.max(min) as u64)
}

/// Defines a C function whose body answers through `cfunc::run`.
macro_rules! primitive {
    ($(#[$m:meta])* $name:ident($l:ident) $body:block) => {
        $(#[$m])*
        unsafe extern "C-unwind" fn $name($l: *mut lua_State) -> c_int {
            // SAFETY: called by Lua as one of the closures `register` made.
            unsafe { cfunc::run($l, || $body) }
        }
    };
}

/// `tcp_new()`: a new socket object.
unsafe extern "C-unwind" fn tcp_new(l: *mut lua_State) -> c_int {
    if let Err(msg) = phase_ok() {
        // SAFETY: the running state; nothing else is alive.
        return unsafe { cfunc::raise(l, msg) };
    }
    // SAFETY: the running state, with room for the result; upvalue 1 is the metatable.
    unsafe { cfunc::push_object(l, sockets(), TcpSock::default()) };
    1
}

/// `req_socket(raw)`: the request's socket object, or nil and why not.
unsafe extern "C-unwind" fn tcp_req_socket(l: *mut lua_State) -> c_int {
    // SAFETY: the running state.
    let raw = unsafe { cfunc::boolean(l, 1) };
    let made = match req_socket(raw) {
        Ok(made) => made,
        Err(e) => {
            let msg = crate::handler::error_text(&e);
            drop(e);
            // SAFETY: the running state; nothing else is alive.
            return unsafe { cfunc::raise(l, msg) };
        }
    };
    // SAFETY: the running state, with room for the two results.
    unsafe {
        match made {
            Ok(sock) => {
                cfunc::push_object(l, sockets(), sock);
                ffi::lua_pushnil(l);
            }
            Err(why) => {
                ffi::lua_pushnil(l);
                ffi::lua_pushlstring(l, why.as_ptr().cast(), why.len());
            }
        }
    }
    2
}

primitive!(
    /// `tcp_setoption(sock, option, value)`.
    tcp_setoption(l) {
        let sock = sock(l)?;
        let option = String::from_utf8_lossy(cfunc::bytes(l, 2).unwrap_or_default()).into_owned();
        let value = match ffi::lua_type(l, 3) {
            ffi::LUA_TBOOLEAN => OptionValue::Bool(cfunc::boolean(l, 3)),
            ffi::LUA_TNUMBER => cfunc::number(l, 3).map_or(OptionValue::Other, OptionValue::Number),
            _ => OptionValue::Other,
        };
        let Some(stream) = sock.0.borrow().stream.clone() else {
            return now(fail("closed"));
        };
        now(set_option(&stream, &option, value))
    }
);

primitive!(
    /// `tcp_connect(sock, host, port, pool, pool_size)`.
    tcp_connect(l) {
        let sock = sock(l)?;
        // (borrowed from the argument: a valid name makes no copy)
        let host = String::from_utf8_lossy(cfunc::bytes(l, 2).unwrap_or_default());
        let port = match cfunc::number(l, 3) {
            Some(p) if (0.0..=65535.0).contains(&p) => Some(p as u16),
            Some(_) => return now(fail("bad port number")),
            None => None,
        };
        let pool = cfunc::bytes(l, 4).map(|p| String::from_utf8_lossy(p).into_owned());
        let pool_size = opt_u64(l, 5, 1.0).map(|n| n as usize);
        sock.connect(&host, port, pool, pool_size)
    }
);

primitive!(
    /// `tcp_send(sock, data)`.
    tcp_send(l) {
        let sock = sock(l)?;
        sock.send(cfunc::bytes(l, 2).unwrap_or_default())
    }
);

primitive!(
    /// `tcp_receive(sock, pattern, n)`: `*l`, `*a` or n bytes.
    tcp_receive(l) {
        let sock = sock(l)?;
        let want = match (cfunc::bytes(l, 2), cfunc::number(l, 3)) {
            (_, Some(n)) if n >= 0.0 => Want::Bytes(n as usize),
            (Some(b"*a" | b"a"), _) => Want::All,
            (Some(b"*l" | b"l") | None, _) => Want::Line,
            _ => return Err("bad pattern argument".to_string()),
        };
        sock.receive(want)
    }
);

primitive!(
    /// `tcp_receiveany(sock, max)`.
    tcp_receiveany(l) {
        let sock = sock(l)?;
        let max = opt_u64(l, 2, 0.0).unwrap_or(0) as usize;
        sock.receive(Want::Any(max))
    }
);

/// `tcp_until_new(pattern, inclusive)`: a receiveuntil iterator's state.
unsafe extern "C-unwind" fn tcp_until_new(l: *mut lua_State) -> c_int {
    // SAFETY: the running state, with room for the result; upvalue 2 is the metatable.
    unsafe {
        let until = Until {
            pattern: cfunc::bytes(l, 1).unwrap_or_default().to_vec(),
            inclusive: cfunc::boolean(l, 2),
            found: false,
        };
        cfunc::push_object(l, untils(), UntilRef(Rc::new(RefCell::new(until))));
    }
    1
}

primitive!(
    /// `tcp_until_read(sock, until, size)`.
    tcp_until_read(l) {
        let sock = sock(l)?;
        let until = cfunc::object::<UntilRef>(l, 2, untils()).ok_or("bad receiveuntil state")?;
        let size = cfunc::number(l, 3).filter(|s| *s > 0.0).map(|s| s as usize);
        sock.receive(Want::Until(until.0.clone(), size))
    }
);

primitive!(
    /// `tcp_close(sock)`.
    tcp_close(l) {
        now(sock(l)?.close())
    }
);

primitive!(
    /// `tcp_settimeouts(sock, connect, send, read)`: nil keeps a timeout.
    tcp_settimeouts(l) {
        let sock = sock(l)?;
        let mut st = sock.0.borrow_mut();
        st.connect_ms = opt_u64(l, 2, 0.0).unwrap_or(st.connect_ms);
        st.send_ms = opt_u64(l, 3, 0.0).unwrap_or(st.send_ms);
        st.read_ms = opt_u64(l, 4, 0.0).unwrap_or(st.read_ms);
        now(Vec::new())
    }
);

primitive!(
    /// `tcp_setkeepalive(sock, timeout, size)`.
    tcp_setkeepalive(l) {
        let sock = sock(l)?;
        now(sock.setkeepalive(opt_u64(l, 2, 0.0), opt_u64(l, 3, 1.0).map(|n| n as usize)))
    }
);

primitive!(
    /// `tcp_sslhandshake(sock, session, server_name, verify)`.
    tcp_sslhandshake(l) {
        let sock = sock(l)?;
        let session = cfunc::object::<SessionRef>(l, 2, sessions()).map(|s| s.0.clone());
        let name = cfunc::bytes(l, 3).map(|b| String::from_utf8_lossy(b).into_owned());
        // (setclientcert's chain and key, in DER)
        let certificate = match (cfunc::bytes(l, 5), cfunc::bytes(l, 6)) {
            (Some(chain), Some(key)) => Some((
                super::ssl::der_certs(chain).ok_or("bad client certificate")?,
                openssl::pkey::PKey::private_key_from_der(key).map_err(|_| "bad client certificate key")?,
            )),
            _ => None,
        };
        sock.sslhandshake(session, name, cfunc::boolean(l, 4), certificate)
    }
);

/// `tcp_ssl_session(sock)`: the session of the socket's handshake, as an object.
unsafe extern "C-unwind" fn tcp_ssl_session(l: *mut lua_State) -> c_int {
    // SAFETY: the running state, with room for the result; upvalue 3 is the metatable.
    unsafe {
        let session = cfunc::object::<TcpSock>(l, 1, sockets()).and_then(|s| s.0.borrow().session.clone());
        match session {
            Some(s) => cfunc::push_object(l, sessions(), SessionRef(s)),
            None => ffi::lua_pushnil(l),
        }
    }
    1
}

primitive!(
    /// `tcp_getreusedtimes(sock)`.
    tcp_getreusedtimes(l) {
        let st = sock(l)?.0.borrow();
        now(match st.stream {
            Some(_) => vec![Arg::Int(st.reused as i64)],
            None => fail("closed"),
        })
    }
);

/// Makes the metatables and sets the primitives into the table given as argument 1.
unsafe extern "C-unwind" fn register_primitives(l: *mut lua_State) -> c_int {
    // SAFETY: called once through mlua with the private table as argument 1.
    unsafe {
        ffi::luaL_checkstack(l, 5, c"cosocket".as_ptr());
        cfunc::push_object_type::<TcpSock>(l);
        cfunc::push_object_type::<UntilRef>(l);
        cfunc::push_object_type::<SessionRef>(l);
        let funcs: [(&std::ffi::CStr, ffi::lua_CFunction); 15] = [
            (c"tcp_new", tcp_new),
            (c"req_socket", tcp_req_socket),
            (c"tcp_setoption", tcp_setoption),
            (c"tcp_connect", tcp_connect),
            (c"tcp_send", tcp_send),
            (c"tcp_receive", tcp_receive),
            (c"tcp_receiveany", tcp_receiveany),
            (c"tcp_until_new", tcp_until_new),
            (c"tcp_until_read", tcp_until_read),
            (c"tcp_close", tcp_close),
            (c"tcp_settimeouts", tcp_settimeouts),
            (c"tcp_setkeepalive", tcp_setkeepalive),
            (c"tcp_getreusedtimes", tcp_getreusedtimes),
            (c"tcp_sslhandshake", tcp_sslhandshake),
            (c"tcp_ssl_session", tcp_ssl_session),
        ];
        cfunc::set_closures(l, 1, &[-3, -2, -1], &funcs);
    }
    0
}

pub fn register(lua: &Lua, private: &Table) -> mlua::Result<()> {
    private.set("parked", LightUserData(cfunc::parked_marker()))?;
    // SAFETY: a C function that keeps to the Lua C API's rules.
    let f = unsafe { lua.create_c_function(register_primitives)? };
    f.call::<()>(private)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_socket_hands_its_buffer_to_the_next() {
        let mut st = State::default();
        st.buf.reserve(4096);
        let addr = st.buf.as_ptr();
        st.close();
        assert_eq!(st.buf.capacity(), 0);
        let next = http::io::pool::spare().expect("kept");
        assert_eq!((next.as_ptr(), next.len()), (addr, 0));
        // (a buffer of another size goes)
        let mut big = State::default();
        big.buf.reserve(64 * 1024 + 1);
        drop(big);
        assert!(http::io::pool::spare().is_none());
    }
}
