//! One client connection: read a head, run the request, keep alive or close (with
//! lingering close), as nginx's ngx_http_request.c does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::config::{HttpConf, LingeringClose, Server};
use crate::h1::{self, Limits};
use crate::io::{Io, ReadError, Stream};
use crate::log::Level;
use crate::request::{Body, ConnInfo, Framing, Headers, Request};
use crate::worker::ListenGroup;

enum Next {
    /// A head, the bytes of it still in the connection's buffer, and its length.
    Request(h1::Head, usize, usize),
    Refused(h1::Refusal),
    Close,
}

/// Serves requests on one connection until it closes.
///
/// While the connection idles, this future holds only the stream and a few counters: the
/// request and everything it needs live in a boxed future that exists while a request
/// does (idle keepalive connections stay small, as in nginx).
pub async fn serve(
    stream: Stream,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    id: u64,
    group: Rc<ListenGroup>,
    http: Rc<HttpConf>,
) {
    let mut at = group.default.min(group.servers.len() - 1);
    let (stream, plain_http) = if group.ssl {
        match Box::pin(secure(stream, &group, &http, &mut at, peer, local, id)).await {
            Some(s) => s,
            None => return,
        }
    } else {
        (stream, false)
    };
    let mut io = Io::new(stream);
    let default = group.servers[at].clone();
    let group = ConnGroup {
        group: &group,
        default: at,
        plain_http,
    };
    let mut requests: u64 = 0;
    let mut keepalive_ms = default.loc.settings.keepalive_timeout_ms();
    let header_ms = default.settings.client_header_timeout_ms;
    let mut timer = std::pin::pin!(tokio::time::sleep_until(
        Instant::now() + Duration::from_millis(header_ms)
    ));
    // registered once for the connection: a graceful stop wakes it when idle (and, once,
    // needlessly, when busy: it then closes after its request)
    let mut stop = crate::worker::shutdown_wait();
    loop {
        if io.pending().is_empty() {
            let first = requests == 0;
            let ms = if first {
                default.settings.client_header_timeout_ms
            } else {
                keepalive_ms
            };
            if !wait_idle(&io, timer.as_mut(), &mut stop, ms, first).await {
                if first {
                    let client = peer.map(|p| p.ip().to_string()).unwrap_or_else(|| "unix:".into());
                    crate::elog!(
                        Level::Info,
                        id,
                        "client timed out (110: Connection timed out) while waiting for request, client: {client}, server: {}",
                        default.primary_name()
                    );
                }
                return;
            }
        }
        let conn = ConnInfo {
            id,
            peer,
            local,
            requests: requests + 1,
        };
        // the box is allocated before the future is made, so that the future is built in
        // it (Box::pin would copy its whole ~1.9 KB from the stack)
        let request = Box::write(Box::new_uninit(), one_request(io, conn, &group, &http, &default));
        match Box::into_pin(request).await {
            Some((kept, ms)) => {
                io = kept;
                keepalive_ms = ms;
                requests += 1;
                io.shrink_if_empty();
            }
            None => return,
        }
    }
}

/// Waits until the client sends something; false on timeout or close.
///
/// The timer is the connection's own and stays armed across requests: it is moved only
/// when it would fire late, and re-armed when it fires early. A busy keepalive connection
/// so touches the timer wheel once per timeout period, not once per request (nginx's lazy
/// timers do the same).
///
/// On a graceful stop an idle connection is not cut at once: a request may already be on
/// its way (a client reusing the connection the moment it is closed loses it). It is kept
/// until it has been idle for `SHUTDOWN_GRACE`; a request that comes is answered with
/// `Connection: close`.
async fn wait_idle(
    io: &Io,
    mut timer: Pin<&mut Sleep>,
    stop: &mut crate::worker::ShutdownWait,
    timeout_ms: u64,
    fresh: bool,
) -> bool {
    let mut draining = crate::worker::shutting_down();
    let mut deadline = crate::time::coarse_now() + Duration::from_millis(timeout_ms);
    if draining {
        deadline = deadline.min(crate::time::coarse_now() + SHUTDOWN_GRACE);
    }
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    loop {
        tokio::select! {
            biased;
            r = io.stream.readable() => {
                if r.is_err() {
                    return false;
                }
                // tokio reports a fresh socket readable before anything came: look first
                // (later waits follow a short read that cleared readiness: no syscall)
                if !fresh || io.stream.has_data() {
                    return true;
                }
            }
            _ = &mut *stop, if !draining => {
                draining = true;
                deadline = deadline.min(Instant::now() + SHUTDOWN_GRACE);
                timer.as_mut().reset(deadline);
            }
            _ = timer.as_mut() => {
                if Instant::now() >= deadline {
                    return false;
                }
                timer.as_mut().reset(deadline);
            }
        }
    }
}

/// The servers a connection may reach, and what its start decided: the default server
/// (SNI may have chosen another than the address's), and plain HTTP sent to an ssl port.
struct ConnGroup<'a> {
    group: &'a ListenGroup,
    default: usize,
    plain_http: bool,
}

/// The start of a connection to an ssl address: the TLS handshake (SNI picking the
/// server block's context, and the connection's default server), or plain HTTP, which
/// gets nginx's 497 once its head is read. `client_header_timeout` bounds the whole.
async fn secure(
    stream: Stream,
    group: &Rc<ListenGroup>,
    http: &Rc<HttpConf>,
    at: &mut usize,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    id: u64,
) -> Option<(Stream, bool)> {
    let server = group.servers[*at].clone();
    let timeout = Duration::from_millis(server.settings.client_header_timeout_ms);
    let deadline = Instant::now() + timeout;
    let chosen = Rc::new(std::cell::Cell::new(None));
    let mut facts = crate::tls::HandshakeFacts::new(peer, local, Rc::from(group.addr.to_string()), id);
    facts.bare_request = Some({
        let (group, http, chosen, default) = (group.clone(), http.clone(), chosen.clone(), *at);
        Rc::new(move || {
            let server = &group.servers[chosen.get().unwrap_or(default)];
            let conn = ConnInfo {
                id,
                peer,
                local,
                requests: 0,
            };
            new_request(Io::detached(), &http, server, conn)
        })
    });
    let log = |level: Level, text: &str| crate::elog!(level, id, "{text}{}", facts.log_suffix());
    let first = loop {
        match stream.peek_byte() {
            Ok(b) => break b,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return None,
        }
        match tokio::time::timeout_at(deadline, stream.readable()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return None,
            Err(_) => {
                log(
                    Level::Info,
                    "client timed out (110: Connection timed out) while SSL handshaking",
                );
                return None;
            }
        }
    };
    // (a TLS record starts with 0x16, an SSLv2 hello with the high bit set)
    let b = first?;
    if b != 0x16 && b & 0x80 == 0 {
        return Some((stream, true));
    }
    let tls = server.tls.as_ref()?;
    let first = tls.picked()?;
    let pick: crate::tls::SniPicker = {
        let (group, chosen) = (group.clone(), chosen.clone());
        Rc::new(move |name: &str| {
            let host = h1::validate_host(name)?;
            let (s, _) = crate::find::server_and_regex(&group.servers, group.default, Some(&host));
            chosen.set(group.servers.iter().position(|x| Rc::ptr_eq(x, s)));
            s.tls.as_ref()?.picked()
        })
    };
    let left = deadline.saturating_duration_since(Instant::now());
    match crate::tls::accept(stream, first, pick, facts.clone(), tls.buffer_size, left).await {
        Ok(t) => {
            if let Some(i) = chosen.get() {
                *at = i;
            }
            Some((Stream::Tls(Box::new(t)), false))
        }
        Err(f) => {
            log(f.level, &f.text);
            None
        }
    }
}

/// How long an idle keepalive connection of a stopping worker waits for one more request.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Reads one request and answers it. Returns the connection when it stays open, with the
/// keepalive timeout that applies to it.
async fn one_request(
    mut io: Io,
    conn: ConnInfo,
    group: &ConnGroup<'_>,
    http: &Rc<HttpConf>,
    default: &Rc<Server>,
) -> Option<(Io, u64)> {
    // the whole head in one read is the rule; waiting for more is boxed apart so that
    // its state does not enlarge every request's future
    let fast = if io.pending().is_empty() {
        read_head_fast(&mut io, &header_limits(default))
    } else {
        None
    };
    let next = match fast {
        Some(next) => next,
        None => Box::pin(read_head(&mut io, default, conn.requests == 1, &conn)).await,
    };
    let (head, in_buf, head_len) = match next {
        Next::Close => return None,
        Next::Refused(refusal) => {
            let r = new_request(io, http, default, conn);
            Box::pin(refuse_and_close(r, refusal, default)).await;
            return None;
        }
        Next::Request(h, in_buf, len) => (h, in_buf, len),
    };
    let mut r = new_request(io, http, default, conn);
    // a stopping worker answers what still comes, then closes: the client is told
    if crate::worker::shutting_down() {
        r.keepalive = false;
    }
    r.request_length = head_len as u64;
    let refused = fill_request(&mut r, head, group.group, group.default);
    r.io.consume(in_buf);
    if let Err(refusal) = refused {
        Box::pin(refuse_and_close(r, refusal, default)).await;
        return None;
    }
    let refusal = if group.plain_http {
        Some((497, "client sent plain HTTP request to HTTPS port".to_string()))
    } else if r.server.tls.is_some() {
        crate::modules::ssl::client_check(&r)
    } else {
        None
    };
    match refusal {
        Some((code, line)) => {
            // (nginx's connection is still "reading client request headers" then)
            r.log(Level::Info, &format!("{line} while reading client request headers"));
            Box::pin(crate::engine::answer(&mut r, code)).await;
        }
        None => crate::engine::run(&mut r).await,
    }
    if r.keepalive
        && matches!(r.body, Body::Unread)
        && r.framing != Framing::None
        && Box::pin(r.discard_body()).await.is_err()
    {
        r.keepalive = false;
    }
    let keepalive_ms = r.loc.settings.keepalive_timeout_ms();
    let keep = r.keepalive && !r.write_failed && keepalive_ms > 0 && !crate::worker::shutting_down();
    // nginx lingers when the client may still be sending: an unread body or more bytes
    let unread = matches!(r.body, Body::Unread) && r.framing != Framing::None;
    let linger = match r.loc.settings.lingering_close() {
        LingeringClose::Off => false,
        LingeringClose::Always => true,
        LingeringClose::On => unread || !r.io.pending().is_empty(),
    };
    let failed = r.write_failed;
    let mut io = if r.log_wait.is_some() {
        // the log phase waits: the request finishes it on its own, without the connection
        let io = std::mem::replace(&mut r.io, Io::detached());
        tokio::task::spawn_local(crate::engine::finish_log(r));
        io
    } else {
        r.take_io()
    };
    if keep {
        return Some((io, keepalive_ms));
    }
    if !failed && linger {
        Box::pin(lingering_close(&mut io, default)).await;
    }
    None
}

async fn refuse_and_close(mut r: Request, refusal: h1::Refusal, server: &Server) {
    r.log(Level::Info, refusal.reason);
    r.keepalive = false;
    if refusal.http09 {
        r.version = (0, 9);
    }
    r.special_response(refusal.status).await;
    r.flush().await;
    // (no script code for a request that was never read whole)
    let loc = r.loc.clone();
    r.logging = true;
    for l in loc.phases.log.iter().filter(|l| !l.runs_script()) {
        let _ = l.log(&mut r);
    }
    let mut io = r.take_io();
    lingering_close(&mut io, server).await;
}

thread_local! {
    /// Where request heads are first read: one buffer per worker instead of one per
    /// connection. Only bytes left over after the head are copied to the connection.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 16 * 1024]);
}

/// Reads into the worker's scratch buffer and parses a head from it when the connection
/// has nothing buffered. `None`: nothing decided yet (bytes, if any, were kept in `io`).
fn read_head_fast(io: &mut Io, limits: &Limits) -> Option<Next> {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        let n = match io.stream.try_read(&mut s) {
            Ok(0) => return Some(Next::Close),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
            Err(_) => return Some(Next::Close),
        };
        if n < s.len() {
            io.stream.clear_read_ready();
        }
        match h1::parse_head(&s[..n], limits) {
            Ok(Some((head, used))) => {
                if used < n {
                    io.buf.extend_from_slice(&s[used..n]);
                }
                Some(Next::Request(head, 0, used))
            }
            Ok(None) => {
                io.buf.extend_from_slice(&s[..n]);
                None
            }
            Err(refusal) => Some(Next::Refused(refusal)),
        }
    })
}

fn header_limits(server: &Server) -> Limits {
    Limits {
        large_buf: server.settings.large_header_buffers.1,
        large_num: server.settings.large_header_buffers.0,
    }
}

/// Reads and parses the next request head (after `read_head_fast` found it incomplete).
async fn read_head(io: &mut Io, server: &Server, first: bool, conn: &ConnInfo) -> Next {
    let limits = header_limits(server);
    // the whole head must come within client_header_timeout, however it trickles in (as
    // nginx's timer, set once: a slow client cannot hold the connection by sending a
    // header line now and then)
    let deadline = Instant::now() + Duration::from_millis(server.settings.client_header_timeout_ms);
    loop {
        if !io.pending().is_empty() {
            match h1::parse_head(io.pending(), &limits) {
                Ok(Some((head, n))) => return Next::Request(head, n, n),
                Ok(None) => {}
                Err(refusal) => return Next::Refused(refusal),
            }
        }
        let chunk = if first {
            server.settings.client_header_buffer_size.max(1024)
        } else {
            4096
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let filled = if left.is_zero() {
            Err(ReadError::Timeout)
        } else {
            io.fill(chunk, left).await
        };
        match filled {
            Ok(_) => {}
            Err(ReadError::Timeout) => {
                let client = conn.peer.map(|p| p.ip().to_string()).unwrap_or_else(|| "unix:".into());
                crate::elog!(
                    Level::Info,
                    conn.id,
                    "client timed out (110: Connection timed out) while reading client request headers, client: {client}, server: {}",
                    server.primary_name()
                );
                return Next::Close;
            }
            Err(ReadError::Closed) => {
                if !io.pending().is_empty() {
                    let client = conn.peer.map(|p| p.ip().to_string()).unwrap_or_else(|| "unix:".into());
                    crate::elog!(
                        Level::Info,
                        conn.id,
                        "client prematurely closed connection while reading client request headers, client: {client}"
                    );
                }
                return Next::Close;
            }
            Err(ReadError::Io(_)) => return Next::Close,
        }
    }
}

fn new_request(io: Io, http: &Rc<HttpConf>, server: &Rc<Server>, conn: ConnInfo) -> Request {
    Request {
        conn,
        io,
        capture: None,
        log_wait: None,
        logging: false,
        unset_vars: Vec::new(),
        http: http.clone(),
        server: server.clone(),
        loc: server.loc.clone(),
        method: std::borrow::Cow::Borrowed(""),
        unparsed_uri: String::new(),
        uri: String::new(),
        args: String::new(),
        version: (1, 1),
        line_method: std::borrow::Cow::Borrowed(""),
        headers_in: Headers::default(),
        host: None,
        framing: Framing::None,
        expect_continue: false,
        discard_pending: false,
        body: Body::Unread,
        request_length: 0,
        status: 0,
        err_status: 0,
        error_page_used: false,
        headers_out: Headers::default(),
        content_type: None,
        content_type_set: false,
        filter_finalize: None,
        filter_page: false,
        content_length: None,
        header_sent: false,
        filtering_header: false,
        chunked: false,
        keepalive: true,
        header_only: false,
        out: crate::output::spare_out(),
        hold_body: None,
        flushing: false,
        bytes_sent: 0,
        body_bytes_sent: 0,
        eof_sent: false,
        write_failed: false,
        start: std::time::Instant::now(),
        limit_rate: None,
        limit_rate_after: 0,
        internal: false,
        uri_changed: false,
        uri_rewritten: false,
        log_upstream: None,
        redirects: 0,
        vars: HashMap::new(),
        captures: Vec::new(),
        filename: None,
        module_ctx: crate::request::spare_ctx(),
    }
}

impl Request {
    /// A subrequest of this request (`ngx.location.capture`): the same connection facts,
    /// server and request headers, its own method, URI, arguments and body; internal; its
    /// output is captured. Run it with `engine::run`.
    pub fn subrequest(&self, method: &str, uri: &str, args: &str, body: Option<Vec<u8>>) -> Request {
        let io = Io::shared(self.io.stream.clone());
        let mut sub = new_request(io, &self.http, &self.server, self.conn.clone());
        sub.capture = Some(Vec::new());
        sub.method = std::borrow::Cow::Owned(method.to_string());
        // (as nginx's: the request line and $request_uri stay the main request's)
        sub.line_method = self.line_method.clone();
        sub.unparsed_uri = self.unparsed_uri.clone();
        sub.uri = uri.to_string();
        sub.args = args.to_string();
        sub.version = self.version;
        sub.headers_in = self.headers_in.clone();
        sub.host = self.host.clone();
        sub.internal = true;
        sub.keepalive = false;
        match body {
            Some(b) => {
                sub.framing = Framing::Length(b.len() as u64);
                sub.headers_in.set("content-length", b.len().to_string());
                sub.body = Body::Memory(b);
            }
            None => {
                sub.framing = Framing::None;
                sub.headers_in.remove("content-length");
                sub.headers_in.remove("transfer-encoding");
            }
        }
        sub
    }
}

/// Fills the request from its head and picks the server; refusals are nginx's 400s.
fn fill_request(r: &mut Request, mut head: h1::Head, group: &ListenGroup, default: usize) -> Result<(), h1::Refusal> {
    let refuse = h1::refuse;
    r.line_method = head.method.clone();
    r.unparsed_uri = std::mem::take(&mut head.target);
    r.version = head.version;
    if !head
        .method
        .bytes()
        .all(|c| c.is_ascii_uppercase() || c == b'_' || c == b'-')
    {
        return Err(refuse(400, "client sent invalid method"));
    }
    r.method = head.method;
    r.keepalive = r.version >= (1, 1);
    let mut host_at = None;
    for (i, (n, v)) in head.headers.iter().enumerate() {
        if n.eq_ignore_ascii_case("host") {
            if host_at.is_some() {
                return Err(refuse(400, "client sent duplicate host header"));
            }
            host_at = Some(i);
        } else if n.eq_ignore_ascii_case("connection") {
            if contains_ci(v, "close") {
                r.keepalive = false;
            } else if contains_ci(v, "keep-alive") {
                r.keepalive = true;
            }
        } else if n.eq_ignore_ascii_case("expect") && v.eq_ignore_ascii_case("100-continue") {
            r.expect_continue = true;
        }
    }
    r.framing = h1::body_framing(&head.headers, head.version)?;
    let (uri, args, url_host) =
        h1::parse_target(&r.unparsed_uri, true).ok_or(refuse(400, "client sent invalid request"))?;
    r.uri = uri;
    r.args = args;
    // (an HTTP/1.1 request needs its Host header even with an absolute URI, whose host
    // then wins, as in nginx)
    let header_host = match host_at {
        Some(i) => Some(h1::validate_host(&head.headers[i].1).ok_or(refuse(400, "client sent invalid host header"))?),
        None if r.version >= (1, 1) => {
            return Err(refuse(400, "client sent HTTP/1.1 request without \"Host\" header"));
        }
        None => None,
    };
    r.host = match &url_host {
        Some(h) => Some(h1::validate_host(h).ok_or(refuse(400, "client sent invalid host header"))?),
        None => header_host,
    };
    r.headers_in.list = head.headers;
    let s = &group.servers[default].loc.settings;
    if !s.underscores_in_headers() && s.ignore_invalid_headers() {
        r.headers_in.list.retain(|(n, _)| !n.contains('_'));
    }
    let (server, by_regex) = crate::find::server_and_regex(&group.servers, default, r.host.as_deref());
    let server = server.clone();
    if let Some(re) = by_regex
        && let Some(host) = r.host.clone()
    {
        r.capture(re, &host);
    }
    if !server.settings.merge_slashes
        && let Some((uri, _, _)) = h1::parse_target(&r.unparsed_uri, false)
    {
        r.uri = uri;
    }
    r.loc = server.loc.clone();
    r.server = server;
    Ok(())
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Reads and drops what the client still sends for a while before closing, so that the
/// response is not lost to a reset (nginx's lingering_close).
async fn lingering_close(io: &mut Io, server: &Server) {
    // half-close: the client sees the end of our response, we still read what it sends
    io.stream.shutdown_write();
    let settings = &server.loc.settings;
    let deadline = Instant::now() + Duration::from_millis(settings.lingering_time_ms());
    let step = Duration::from_millis(settings.lingering_timeout_ms());
    io.buf.clear();
    io.pos = 0;
    while Instant::now() < deadline {
        match io.fill(4096, step).await {
            Ok(_) => {
                io.buf.clear();
                io.pos = 0;
            }
            Err(_) => break,
        }
    }
}

impl Request {
    /// Gives the connection back when the request is over (taken out, not by moving the
    /// request: a move copies all of it, ~1 KB, where it is held).
    pub fn take_io(&mut self) -> Io {
        crate::h1::recycle_headers(std::mem::take(&mut self.headers_in.list));
        crate::output::recycle_out(std::mem::take(&mut self.out));
        self.recycle_ctx();
        std::mem::replace(&mut self.io, Io::detached())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request holds this future while it runs (15,000 suspended requests hold
    /// 15,000 of them): rare paths with big states (timers, file sends) must be boxed
    /// apart so that they do not grow it for all.
    #[test]
    fn request_future_stays_small() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (a, _b) = tokio::net::UnixStream::pair().unwrap();
            let prefix = std::env::temp_dir();
            let text = "http { server { listen 127.0.0.1:1; } }";
            let cmds = conf::parse_bytes(text.as_bytes(), &prefix.join("n.conf"), &prefix).unwrap();
            static MODULES: &[&crate::Module] = &[&crate::core_module::MODULE];
            let modules = MODULES;
            let reg = crate::registry(modules);
            let http = Rc::new(crate::build(&reg, modules, &prefix, &prefix, cmds[0].children()).unwrap());
            let group = crate::worker::listen_groups(&http).into_iter().next().unwrap();
            let default = group.servers[0].clone();
            let conn = ConnInfo {
                id: 1,
                peer: None,
                local: None,
                requests: 1,
            };
            let group = ConnGroup {
                group: &group,
                default: 0,
                plain_http: false,
            };
            let f = one_request(Io::new(crate::io::Stream::Unix(a)), conn, &group, &http, &default);
            let size = std::mem::size_of_val(&f);
            // (1,944 bytes when this was written)
            assert!(size <= 2048, "the request future is {size} bytes");
        });
    }
}
