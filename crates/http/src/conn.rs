//! One client connection: read a head, run the request, keep alive or close (with
//! lingering close), as nginx's ngx_http_request.c does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::config::{HttpConf, LingeringClose, Server};
use crate::h1::{self, Limits};
use crate::io::{Io, ReadError, Stream};
use crate::log::Level;
use crate::request::{Body, ConnInfo, Framing, Headers, Request};
use crate::worker::ListenGroup;

enum Next {
    Request(h1::Head, usize),
    Refused(h1::Refusal),
    Close,
}

/// Serves requests on one connection until it closes.
pub async fn serve(
    stream: Stream,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    id: u64,
    group: Rc<ListenGroup>,
    http: Rc<HttpConf>,
) {
    let mut io = Io::new(stream);
    let default = group.servers[group.default.min(group.servers.len() - 1)].clone();
    let mut requests: u64 = 0;
    let mut keepalive_ms = default.loc.settings.keepalive_timeout_ms();
    loop {
        let first = requests == 0;
        let next = read_head(
            &mut io,
            &default,
            if first {
                default.settings.client_header_timeout_ms
            } else {
                keepalive_ms
            },
            first,
            id,
            peer,
        )
        .await;
        let (head, used) = match next {
            Next::Close => break,
            Next::Refused(refusal) => {
                let mut r = new_request(io, &http, &default, id, peer, local, requests + 1);
                r.log(Level::Info, refusal.reason);
                r.keepalive = false;
                r.special_response(refusal.status).await;
                r.flush().await;
                crate::log_format::write(&r);
                io = r.into_io();
                lingering_close(&mut io, &default).await;
                return;
            }
            Next::Request(h, n) => (h, n),
        };
        requests += 1;
        let mut r = new_request(io, &http, &default, id, peer, local, requests);
        r.request_length = used as u64;
        let refused = fill_request(&mut r, head, &group);
        r.io.consume(used);
        if let Err(refusal) = refused {
            r.log(Level::Info, refusal.reason);
            r.keepalive = false;
            r.special_response(refusal.status).await;
            r.flush().await;
            crate::log_format::write(&r);
            io = r.into_io();
            lingering_close(&mut io, &default).await;
            return;
        }
        crate::engine::run(&mut r).await;
        if r.keepalive
            && matches!(r.body, Body::Unread)
            && r.framing != Framing::None
            && r.discard_body().await.is_err()
        {
            r.keepalive = false;
        }
        keepalive_ms = r.loc.settings.keepalive_timeout_ms();
        let keep = r.keepalive && !r.write_failed && keepalive_ms > 0 && !crate::worker::shutting_down();
        // nginx lingers when the client may still be sending: an unread body or more bytes
        let unread = matches!(r.body, Body::Unread) && r.framing != Framing::None;
        let linger = match r.loc.settings.lingering_close() {
            LingeringClose::Off => false,
            LingeringClose::Always => true,
            LingeringClose::On => unread || !r.io.pending().is_empty(),
        };
        let failed = r.write_failed;
        io = r.into_io();
        if !keep {
            if !failed && linger {
                lingering_close(&mut io, &default).await;
            }
            return;
        }
        io.shrink_if_empty();
    }
}

/// Waits for and parses the next request head.
async fn read_head(
    io: &mut Io,
    server: &Server,
    timeout_ms: u64,
    first: bool,
    id: u64,
    peer: Option<SocketAddr>,
) -> Next {
    let limits = Limits {
        large_buf: server.settings.large_header_buffers.1,
        large_num: server.settings.large_header_buffers.0,
    };
    let header_timeout = Duration::from_millis(server.settings.client_header_timeout_ms);
    let mut timeout = Duration::from_millis(timeout_ms);
    loop {
        if !io.pending().is_empty() {
            match h1::parse_head(io.pending(), &limits) {
                Ok(Some((head, n))) => return Next::Request(head, n),
                Ok(None) => timeout = header_timeout,
                Err(refusal) => return Next::Refused(refusal),
            }
        }
        let waiting_idle = io.pending().is_empty();
        if waiting_idle && crate::worker::shutting_down() {
            return Next::Close;
        }
        let chunk = if first {
            server.settings.client_header_buffer_size
        } else {
            4096
        };
        let res = if waiting_idle {
            let signal = crate::worker::shutdown_signal();
            tokio::select! {
                r = io.fill(chunk, timeout) => r,
                _ = signal.notified() => return Next::Close,
            }
        } else {
            io.fill(chunk.max(4096), timeout).await
        };
        match res {
            Ok(_) => {}
            Err(ReadError::Timeout) => {
                if !waiting_idle || first {
                    let client = peer.map(|p| p.ip().to_string()).unwrap_or_else(|| "unix:".into());
                    crate::elog!(
                        Level::Info,
                        id,
                        "client timed out (110: Connection timed out) while reading client request headers, client: {client}, server: {}",
                        server.primary_name()
                    );
                }
                return Next::Close;
            }
            Err(ReadError::Closed) => {
                if !io.pending().is_empty() {
                    let client = peer.map(|p| p.ip().to_string()).unwrap_or_else(|| "unix:".into());
                    crate::elog!(
                        Level::Info,
                        id,
                        "client prematurely closed connection while reading client request headers, client: {client}"
                    );
                }
                return Next::Close;
            }
            Err(ReadError::Io(_)) => return Next::Close,
        }
    }
}

fn new_request(
    io: Io,
    http: &Rc<HttpConf>,
    server: &Rc<Server>,
    id: u64,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    n: u64,
) -> Request {
    Request {
        conn: ConnInfo {
            id,
            peer,
            local,
            requests: n,
        },
        io,
        http: http.clone(),
        server: server.clone(),
        loc: server.loc.clone(),
        method: std::borrow::Cow::Borrowed(""),
        unparsed_uri: String::new(),
        uri: String::new(),
        args: String::new(),
        version: (1, 1),
        request_line: String::new(),
        headers_in: Headers::default(),
        host: None,
        framing: Framing::None,
        expect_continue: false,
        body: Body::Unread,
        request_length: 0,
        status: 0,
        err_status: 0,
        error_page_used: false,
        headers_out: Headers::default(),
        content_type: None,
        content_length: None,
        header_sent: false,
        chunked: false,
        keepalive: true,
        header_only: false,
        out: Vec::new(),
        bytes_sent: 0,
        body_bytes_sent: 0,
        eof_sent: false,
        write_failed: false,
        filter_finished: false,
        start: Instant::now(),
        internal: false,
        redirects: 0,
        vars: HashMap::new(),
        filename: None,
        module_ctx: HashMap::new(),
    }
}

/// Fills the request from its head and picks the server; refusals are nginx's 400s.
fn fill_request(r: &mut Request, head: h1::Head, group: &ListenGroup) -> Result<(), h1::Refusal> {
    let refuse = |status, reason| h1::Refusal { status, reason };
    let mut line = String::with_capacity(head.method.len() + head.target.len() + 10);
    line.push_str(&head.method);
    line.push(' ');
    line.push_str(&head.target);
    line.push_str(if head.version >= (1, 1) {
        " HTTP/1.1"
    } else {
        " HTTP/1.0"
    });
    r.request_line = line;
    if !head
        .method
        .bytes()
        .all(|c| c.is_ascii_uppercase() || c == b'_' || c == b'-')
    {
        return Err(refuse(400, "client sent invalid method"));
    }
    r.method = head.method;
    r.version = head.version;
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
        h1::parse_target(&head.target, true).ok_or(refuse(400, "client sent invalid request"))?;
    r.uri = uri;
    r.args = args;
    let host = match (&url_host, host_at) {
        (Some(h), _) => Some(h.as_str()),
        (None, Some(i)) => Some(head.headers[i].1.as_str()),
        (None, None) => None,
    };
    if let Some(h) = host {
        r.host = Some(h1::validate_host(h).ok_or(refuse(400, "client sent invalid host header"))?);
    } else if r.version >= (1, 1) {
        return Err(refuse(400, "client sent HTTP/1.1 request without \"Host\" header"));
    }
    r.headers_in.list = head.headers;
    let s = &group.servers[group.default.min(group.servers.len() - 1)].loc.settings;
    if !s.underscores_in_headers() && s.ignore_invalid_headers() {
        r.headers_in.list.retain(|(n, _)| !n.contains('_'));
    }
    let server = crate::find::server(&group.servers, group.default, r.host.as_deref()).clone();
    if !server.settings.merge_slashes
        && let Some((uri, _, _)) = h1::parse_target(&head.target, false)
    {
        r.uri = uri;
    }
    r.unparsed_uri = head.target;
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
    let _ = io.stream.shutdown().await;
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
    /// Gives the connection back when the request is over.
    pub fn into_io(self) -> Io {
        let Request { io, out, .. } = self;
        crate::io::pool::put(out);
        io
    }
}
