//! The proxy's content handler: the request is read, rewritten for the upstream
//! (`proxy_set_header`, the URI rules of `proxy_pass`), sent to a server the upstream
//! picks (the next one on a failure `proxy_next_upstream` names), and the answer streams
//! back to the client as it comes. Failures answer as nginx's: 502 for a refused
//! connection or a bad answer, 504 for a timeout, each logged in nginx's words.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::io::Stream;
use http::log::Level;
use http::phase::{Flow, Handler, Step};
use http::request::{Framing, Request};
use tokio::io::AsyncWriteExt;

use crate::balancer::{Balancer, Choice, Chosen, TryEnd, Verdict};
use crate::pool::{Conn, PoolKey};
use crate::response::{self, BodyReader, Head, ReadFailure};
use crate::upstream::{KeepLimits, PeerAddr, PeerRef, Upstreams};
use crate::vars::{ProxyState, Try};
use crate::{BindAddr, NEXT_STATUSES, ProxyConf, ProxyPass, Target};

pub struct Proxy {
    pass: Rc<ProxyPass>,
    conf: ProxyConf,
    ssl: crate::ssl::ProxySsl,
    /// The http block's upstreams, for URLs with variables.
    upstreams: Rc<Upstreams>,
    /// Client headers not passed on as they came: those `proxy_set_header` names and
    /// those nginx sets or drops itself.
    not_passed: Vec<String>,
    /// `proxy_redirect`'s rules, `default` made concrete.
    redirects: Vec<crate::redirect::Rule>,
    /// Where answers larger than `proxy_buffers` wait (`proxy_temp_path`).
    temp_dir: crate::TempPath,
}

/// The headers nginx's proxy module sets or drops, whatever the client sent (a
/// `proxy_set_header` of the same name wins).
const DEFAULT_HEADERS: [&str; 8] = [
    "Host",
    "Connection",
    "Content-Length",
    "Transfer-Encoding",
    "TE",
    "Keep-Alive",
    "Expect",
    "Upgrade",
];

impl Proxy {
    pub fn new(
        pass: Rc<ProxyPass>,
        conf: ProxyConf,
        ssl: crate::ssl::ProxySsl,
        upstreams: Rc<Upstreams>,
        redirects: Vec<crate::redirect::Rule>,
        temp_dir: crate::TempPath,
    ) -> Proxy {
        let user = conf.headers.as_deref().map(Vec::as_slice).unwrap_or_default();
        let not_passed = user
            .iter()
            .map(|(name, _)| name.as_str())
            .chain(DEFAULT_HEADERS)
            .map(str::to_ascii_lowercase)
            .collect();
        Proxy {
            pass,
            conf,
            ssl,
            upstreams,
            not_passed,
            redirects,
            temp_dir,
        }
    }
}

impl Handler for Proxy {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        // (the tries and the forwarding one after the other, so that the request's future
        // holds the larger of the two, not both; its box is allocated first, so that the
        // future is made in it instead of copied there whole, ~2 KB)
        let request = Box::write(Box::new_uninit(), async move {
            // (taken apart before the forwarding waits: only the target stays in this
            // future beside the forwarding's, not the whole answer twice)
            let Answer {
                conn,
                head,
                started,
                target,
                server,
            } = match self.run(r).await {
                Ok(a) => a,
                Err(flow) => return flow,
            };
            self.forward(r, conn, head, started, &target, server).await
        });
        Step::Pending(Box::into_pin(request))
    }
}

/// An upstream's answer, to be passed on to the client (how the tries ended well).
struct Answer {
    conn: Conn,
    head: Head,
    started: Instant,
    target: Rc<Target>,
    server: Server,
}

/// The server one try goes to: one of the upstream's (balanced, its health counted) or
/// one a balancer chose.
struct Server {
    listed: Option<PeerRef>,
    /// Its address and what its kept connections are kept for.
    pool: PoolKey,
    /// `$upstream_addr`'s text for it, and its URL for the error log.
    name: Rc<str>,
    url: Rc<str>,
    /// Keepalive limits a balancer gave it (`enable_keepalive`).
    keep: Option<KeepLimits>,
    timeouts: Timeouts,
    /// `https://`: what a new connection's handshake needs.
    tls: Option<Rc<crate::ssl::UpstreamTls>>,
    /// `proxy_bind … transparent`: the local address (`pool.local`) may be a foreign one.
    transparent: bool,
}

impl Server {
    fn listed(target: &Target, peer: PeerRef) -> Server {
        let p = target.upstream.peer(peer);
        Server {
            listed: Some(peer),
            pool: PoolKey {
                addr: p.addr.clone(),
                host: None,
                local: None,
            },
            name: p.name.clone(),
            url: p.url.clone(),
            keep: None,
            timeouts: Timeouts::default(),
            tls: None,
            transparent: false,
        }
    }

    fn chosen(chosen: Chosen, keepalive: Option<(Duration, u64)>) -> Server {
        let (name, url) = texts_of(&chosen.addr);
        Server {
            listed: None,
            pool: PoolKey {
                addr: chosen.addr,
                host: chosen.host,
                local: None,
            },
            name,
            url,
            keep: keepalive.map(|(idle_timeout, max_requests)| KeepLimits {
                idle_timeout,
                max_requests,
            }),
            timeouts: Timeouts::default(),
            tls: None,
            transparent: false,
        }
    }
}

thread_local! {
    /// The texts of addresses balancers chose lately: they choose among a few servers,
    /// and formatting two strings per request is most of what a choice costs.
    static CHOSEN_TEXTS: std::cell::RefCell<rustc_hash::FxHashMap<PeerAddr, AddrTexts>> =
        std::cell::RefCell::default();
}

/// An address's `$upstream_addr` text and error-log URL.
type AddrTexts = (Rc<str>, Rc<str>);

fn texts_of(addr: &PeerAddr) -> AddrTexts {
    CHOSEN_TEXTS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(t) = cache.get(addr) {
            return t.clone();
        }
        if cache.len() >= 1024 {
            cache.clear();
        }
        let p = crate::upstream::Peer::new(addr.clone());
        cache.insert(addr.clone(), (p.name.clone(), p.url.clone()));
        (p.name, p.url)
    })
}

/// How a balancer refused to go on (its verdicts other than "go").
enum Refusal {
    Fail(u16),
    Busy,
    Declined,
}

/// Sends the request head, then the client's body as it comes (chunked when its length
/// is not known); the bytes sent. A client that fails mid-body ends the try with the
/// status its read failed with (logged already), and no other server is tried.
async fn stream_body(
    r: &mut Request,
    stream: &mut Stream,
    head: &[u8],
    chunked: bool,
    send_timeout: Duration,
) -> Result<u64, Failure> {
    let write =
        async |stream: &mut Stream, bytes: &[u8]| match tokio::time::timeout(send_timeout, stream.write_all(bytes))
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure::sending(Some(e))),
            Err(_) => Err(Failure::sending(None)),
        };
    write(stream, head).await?;
    let mut sent = head.len() as u64;
    let mut pieces = r.body_pieces(true).map_err(Failure::from_client)?;
    loop {
        let piece = r.next_body_piece(&mut pieces).await.map_err(Failure::from_client)?;
        let Some(piece) = piece else {
            break;
        };
        if chunked {
            let framed = [format!("{:x}\r\n", piece.len()).as_bytes(), &piece, b"\r\n"].concat();
            write(stream, &framed).await?;
        } else {
            write(stream, &piece).await?;
        }
        sent += piece.len() as u64;
    }
    if chunked {
        write(stream, b"0\r\n\r\n").await?;
    }
    r.body = http::request::Body::Discarded;
    Ok(sent)
}

/// The request body the upstream gets: in memory, or the temp file it was spooled to.
enum OutBody {
    Bytes(Vec<u8>),
    File(std::path::PathBuf, u64),
    /// `proxy_request_buffering off`: read from the client as it is sent on, its length
    /// (`None`: chunked, passed on chunked to an HTTP/1.1 upstream).
    Stream(Option<u64>),
}

impl OutBody {
    /// Its length, when known.
    fn len(&self) -> Option<u64> {
        match self {
            OutBody::Bytes(b) => Some(b.len() as u64),
            OutBody::File(_, n) => Some(*n),
            OutBody::Stream(n) => *n,
        }
    }
}

/// A try's timeouts.
#[derive(Clone, Copy, Default)]
struct Timeouts {
    connect: Duration,
    send: Duration,
    read: Duration,
}

/// How one try ended before a response could be used.
struct Failure {
    /// The status the request gets if no other server is tried.
    status: u16,
    /// What failed, in nginx's words for the error log (the line goes on "while `during`").
    message: String,
    /// Which `proxy_next_upstream` condition it is.
    kind: FailKind,
    /// The request had reached the server (a non-idempotent one is not sent again).
    sent: bool,
    /// Our side failed (the client's body could not be read, the local address could not
    /// be bound; already logged): no server is tried again, none is blamed.
    local_side: bool,
    /// What the try was doing, in nginx's words for the log ("while …").
    during: &'static str,
}

const CONNECTING: &str = "connecting to upstream";
const HANDSHAKING: &str = "SSL handshaking to upstream";
const SENDING: &str = "sending request to upstream";
const READING_HEAD: &str = "reading response header from upstream";

// (the constructors are cold: a try that fails is off the usual path, and the code that
// calls them is laid out so)
impl Failure {
    /// Sending the request failed (`None`: timed out), in nginx's words.
    #[cold]
    fn sending(e: Option<std::io::Error>) -> Failure {
        let (status, message, kind) = match e {
            Some(e) => (
                502,
                format!("writev() failed ({})", conf::errno_text(&e)),
                FailKind::Error,
            ),
            None => (504, crate::TIMED_OUT.into(), FailKind::Timeout),
        };
        Failure {
            status,
            message,
            kind,
            sent: true,
            local_side: false,
            during: SENDING,
        }
    }

    /// The client's body could not be read: the status its reader gave (logged already).
    #[cold]
    fn from_client(status: u16) -> Failure {
        Failure {
            status,
            message: String::new(),
            kind: FailKind::Error,
            sent: true,
            local_side: true,
            during: SENDING,
        }
    }

    /// Connecting failed: on our side (`local`: 500, logged here, no other server tried),
    /// refused by the server, or timed out (`None`).
    #[cold]
    fn connecting(r: &Request, e: Option<Refused>) -> Failure {
        let (status, message, kind, local_side) = match e {
            Some(Refused::Local(line, e)) => {
                r.log(
                    Level::Crit,
                    &format!("{line} failed ({}) while {CONNECTING}", conf::errno_text(&e)),
                );
                (500, String::new(), FailKind::Error, true)
            }
            Some(Refused::Peer(e)) => (
                502,
                format!("connect() failed ({})", conf::errno_text(&e)),
                FailKind::Error,
                false,
            ),
            None => (504, crate::TIMED_OUT.into(), FailKind::Timeout, false),
        };
        Failure {
            status,
            message,
            kind,
            sent: false,
            local_side,
            during: CONNECTING,
        }
    }

    /// The TLS handshake with the server failed.
    #[cold]
    fn handshaking(message: String) -> Failure {
        Failure {
            status: 502,
            message,
            kind: FailKind::Error,
            sent: false,
            local_side: false,
            during: HANDSHAKING,
        }
    }

    /// The answer's head could not be read.
    #[cold]
    fn reading_head(e: ReadFailure) -> Failure {
        let (status, kind) = match e {
            ReadFailure::TimedOut => (504, FailKind::Timeout),
            ReadFailure::TooBig | ReadFailure::InvalidHeader => (502, FailKind::InvalidHeader),
            ReadFailure::Closed | ReadFailure::Io(_) => (502, FailKind::Error),
        };
        Failure {
            status,
            message: e.message(),
            kind,
            sent: true,
            local_side: false,
            during: READING_HEAD,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FailKind {
    Error,
    Timeout,
    InvalidHeader,
}

/// What every try of a request sends: made once before the first (and again when a
/// balancer asks for `recreate_request`).
struct Outgoing {
    method: std::borrow::Cow<'static, str>,
    uri: Rc<str>,
    body: Option<OutBody>,
    head: Vec<u8>,
}

/// How far a request may go on to other servers (`proxy_next_upstream*`).
struct Retries {
    next: crate::NextUpstream,
    /// Not a POST, LOCK or PATCH: it may be sent again.
    idempotent: bool,
    /// The body goes on as it comes (`proxy_request_buffering off`): once sent, it is gone.
    streamed: bool,
    /// `proxy_next_upstream_tries` (0: no limit but the servers').
    limit: usize,
    max: usize,
    done: usize,
    give_up_at: Option<Instant>,
}

impl Retries {
    /// Whether another try may follow one that failed (`sent`: after the request had
    /// reached the server).
    fn allow(&self, sent: bool) -> bool {
        self.done < self.max
            && !(sent && self.streamed)
            && (!sent || self.idempotent || self.next.non_idempotent)
            && self.give_up_at.is_none_or(|t| Instant::now() < t)
    }
}

impl Proxy {
    async fn run(&self, r: &mut Request) -> Result<Answer, Flow> {
        let streamed = self.take_body(r).await?;
        let target = match &self.pass.fixed {
            Some(t) => t.clone(),
            None => match self.dynamic_target(r).await {
                Ok(t) => Rc::new(t),
                Err(code) => return Err(Flow::Finish(code)),
            },
        };
        let tls = if target.tls {
            match crate::ssl::UpstreamTls::for_request(&self.ssl, r, &target.host) {
                Some(t) => Some(Rc::new(t)),
                None => return Err(Flow::Finish(502)),
            }
        } else {
            None
        };
        let mut out = self.outgoing(r, &target, streamed);
        let mut retries = self.retries(&target, &out.method, streamed);
        let mut tried = target.upstream.tries_for(r);
        let mut local = self.local_address(r);
        let client = r.io.stream.clone();
        let mut timeouts = self.timeouts();
        loop {
            // the balancer (balancer_by_lua*) first, then the upstream's own choice
            let mut chosen = None;
            if let Some(balancer) = &target.upstream.balancer {
                let (done, max, limit) = (retries.done, retries.max, retries.limit as u32);
                match self.ask_balancer(r, &**balancer, done, max, limit).await {
                    Ok((server, more, recreate)) => {
                        retries.max += more as usize;
                        chosen = server;
                        if recreate {
                            out.head = self.request_head(r, &out.method, &out.uri, &target, out.body.as_ref());
                        }
                        timeouts = self.timeouts_for(r);
                    }
                    Err(Refusal::Busy) => return Err(self.no_live_upstreams(r, &target, &out.uri)),
                    Err(Refusal::Declined) => {
                        retries.done += 1;
                        self.note_failure(r, TryEnd::Failed, 502);
                        if retries.done >= retries.max {
                            return Err(Flow::Finish(502));
                        }
                        continue;
                    }
                    Err(Refusal::Fail(code)) => return Err(Flow::Finish(code)),
                }
            }
            let mut server = match chosen {
                Some(s) => s,
                None => match target.upstream.pick(&mut tried) {
                    Some(peer) if target.upstream.placeholder => {
                        target.upstream.release(peer, false);
                        r.log(Level::Error, "lua balancer: no peer set");
                        return Err(Flow::Finish(500));
                    }
                    Some(peer) => Server::listed(&target, peer),
                    None => return Err(self.no_live_upstreams(r, &target, &out.uri)),
                },
            };
            retries.done += 1;
            server.timeouts = timeouts;
            server.tls = tls.clone();
            let started = self.begin_try(r, &target, &out.uri, &mut server, &mut local);
            let kept = target.upstream.kept_conn(&server.pool, server.keep.is_some()).await;
            let reused = kept.is_some();
            let outcome = {
                // (pinned where it is made: `select!` then holds a reference, not a copy
                // of its ~1 KB state)
                let mut attempt = std::pin::pin!(self.attempt(r, &server, kept, &out.head, out.body.as_ref(), started));
                if self.conf.ignore_client_abort.unwrap_or(false) {
                    Some(attempt.await)
                } else {
                    // (the try first: an answer that came with the client's close is kept)
                    tokio::select! {
                        biased;
                        done = &mut attempt => Some(done),
                        _ = client.closed_by_peer() => None,
                    }
                }
            };
            let Some(outcome) = outcome else {
                return Err(self.client_left(r, &target, &server, started));
            };
            match outcome {
                Ok((conn, head)) => {
                    if self.passes_answer(r, &target, &server, head.status, &retries) {
                        return Ok(Answer {
                            conn,
                            head,
                            started,
                            target,
                            server,
                        });
                    }
                }
                // a kept connection its server closed meanwhile: another try, not counted
                Err(f) if reused && f.kind == FailKind::Error && !(retries.streamed && f.sent) => {
                    self.forget_try(r, &target, &server, &mut tried);
                    retries.done -= 1;
                }
                Err(f) => {
                    if let Some(flow) = self.after_failure(r, &target, &server, &f, started, &retries) {
                        return Err(flow);
                    }
                }
            }
        }
    }

    /// Whether the client's body goes to the upstream (`proxy_pass_request_body`, no
    /// `proxy_set_body`).
    fn passes_body(&self) -> bool {
        self.conf.pass_request_body.unwrap_or(true) && self.conf.set_body.is_none()
    }

    /// Reads the client's body before the first try, or readies it to be passed on as it
    /// comes (`true`), or to be discarded.
    async fn take_body(&self, r: &mut Request) -> Result<bool, Flow> {
        let with_body = self.passes_body();
        // proxy_request_buffering off: the body goes on as it comes (a chunked one only to
        // an HTTP/1.1 upstream, which can take it chunked; else, or when it came whole with
        // the head, it is read whole first, as nginx does)
        let streamed = with_body
            && !self.conf.request_buffering.unwrap_or(true)
            && !r.body_preread()
            && match r.framing {
                Framing::Length(n) => n > 0,
                Framing::Chunked => self.conf.http_version() == (1, 1),
                Framing::None => false,
            };
        let taken = if streamed {
            // (a declared length over client_max_body_size is refused now)
            r.body_pieces(true).map(drop)
        } else if with_body {
            r.read_body().await
        } else {
            r.discard_later()
        };
        match taken {
            Ok(()) => Ok(streamed),
            Err(code) => Err(Flow::Finish(code)),
        }
    }

    /// The method, URI, body and head every try sends; the request's proxy state begins.
    #[inline(never)]
    fn outgoing(&self, r: &mut Request, target: &Rc<Target>, streamed: bool) -> Outgoing {
        r.set_ctx(ProxyState {
            target: Some(target.clone()),
            ..ProxyState::default()
        });
        let uri = self.upstream_uri(r, target);
        // (the common methods without a copy: a balancer may need `r` while it is held)
        let method: std::borrow::Cow<'static, str> = match &self.conf.method {
            Some(m) => m.render(r).into(),
            None => match ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
                .into_iter()
                .find(|m| *m == r.method.as_ref() as &str)
            {
                Some(m) => m.into(),
                None => r.method.to_string().into(),
            },
        };
        let body: Option<OutBody> = match &self.conf.set_body {
            Some(t) => Some(OutBody::Bytes(t.render(r).into_bytes())),
            None if streamed => Some(OutBody::Stream(match r.framing {
                Framing::Length(n) => Some(n),
                _ => None,
            })),
            None if self.passes_body() && !matches!(r.framing, Framing::None) => Some(match &r.body {
                // (a body past client_body_buffer_size went to a temp file: it goes from there)
                http::request::Body::File(file, len) => OutBody::File(file.0.clone(), *len),
                _ => OutBody::Bytes(r.body_bytes().map(<[u8]>::to_vec).unwrap_or_default()),
            }),
            None => None,
        };
        let head = self.request_head(r, &method, &uri, target, body.as_ref());
        Outgoing {
            method,
            uri,
            body,
            head,
        }
    }

    /// How many servers a request may try and until when.
    fn retries(&self, target: &Target, method: &str, streamed: bool) -> Retries {
        let limit = self.conf.next_upstream_tries.unwrap_or(0) as usize;
        let servers = target.upstream.peer_count().max(1);
        Retries {
            next: self.conf.next_upstream.unwrap_or_default(),
            idempotent: !matches!(method, "POST" | "LOCK" | "PATCH"),
            streamed,
            limit,
            max: if limit == 0 { servers } else { limit.min(servers) },
            done: 0,
            give_up_at: match self.conf.next_upstream_timeout.unwrap_or(0) {
                0 => None,
                ms => Some(Instant::now() + Duration::from_millis(ms)),
            },
        }
    }

    /// A try begins: its record for the variables and the log, where it connects from;
    /// when it started.
    #[inline(never)]
    fn begin_try(
        &self,
        r: &mut Request,
        target: &Target,
        uri: &Rc<str>,
        server: &mut Server,
        local: &mut Option<(SocketAddr, bool)>,
    ) -> Instant {
        r.log_upstream = Some(match server.url.strip_prefix("http://") {
            Some(rest) if target.tls => (format!("https://{rest}").into(), uri.clone()),
            _ => (server.url.clone(), uri.clone()),
        });
        let started = Instant::now();
        let name = server.name.clone();
        self.record(r, |s| s.tries.push(Try::at(name)));
        // (`bind_to_local_addr` holds for this try and the later ones;
        // `ngx.balancer.set_upstream_tls(false)` turns TLS off for the request)
        let (bound, tls_off) = r.ctx_ref::<Choice>().map_or((None, false), |c| (c.local, c.tls_off));
        if let Some(addr) = bound {
            *local = Some((addr, false));
        }
        (server.pool.local, server.transparent) = match *local {
            Some((addr, transparent)) => (Some(addr), transparent),
            None => (None, false),
        };
        if tls_off {
            server.tls = None;
        }
        started
    }

    /// Whether an answer goes to the client (`false`: another server is tried, its status
    /// being one `proxy_next_upstream` names, and another try allowed).
    fn passes_answer(&self, r: &mut Request, target: &Target, server: &Server, status: u16, retries: &Retries) -> bool {
        let retry_status = NEXT_STATUSES
            .iter()
            .zip(retries.next.statuses)
            .any(|(&s, on)| on && s == status);
        if retry_status && retries.allow(true) {
            // (a 403 or 404 moves on without counting against the server)
            let counted = !matches!(status, 403 | 404);
            self.release(r, target, server, counted.then_some(READING_HEAD));
            let kind = if counted { TryEnd::Failed } else { TryEnd::Next };
            self.note_failure(r, kind, status);
            return false;
        }
        self.release(r, target, server, None);
        true
    }

    /// A failed try, logged and counted against its server; how the request ends, or
    /// `None` when another server is tried (`proxy_next_upstream` names the failure and
    /// another try is allowed).
    #[cold]
    fn after_failure(
        &self,
        r: &mut Request,
        target: &Target,
        server: &Server,
        f: &Failure,
        started: Instant,
        retries: &Retries,
    ) -> Option<Flow> {
        if f.local_side {
            // (the client's body or our end of the connection failed, logged where it
            // did: the upstream is not to blame)
            self.finish_try(r, started, |_| {});
            self.release(r, target, server, None);
            return Some(Flow::Finish(f.status));
        }
        self.finish_try(r, started, |t| t.status = Some(f.status));
        // (nginx logs a timeout after counting it against the server, other failures where
        // they happened, before)
        let line = format!("{} while {}", f.message, f.during);
        if f.kind == FailKind::Timeout {
            self.release(r, target, server, Some(f.during));
            r.log(Level::Error, &line);
        } else {
            r.log(Level::Error, &line);
            self.release(r, target, server, Some(f.during));
        }
        self.note_failure(r, TryEnd::Failed, f.status);
        let wanted = match f.kind {
            FailKind::Error => retries.next.error,
            FailKind::Timeout => retries.next.timeout,
            FailKind::InvalidHeader => retries.next.invalid_header,
        };
        if wanted && retries.allow(f.sent) {
            return None;
        }
        Some(Flow::Finish(f.status))
    }

    /// A kept connection its server had closed meanwhile: the try is forgotten (not
    /// counted, not logged) and the server may be picked again.
    #[cold]
    fn forget_try(&self, r: &mut Request, target: &Target, server: &Server, tried: &mut crate::upstream::Tried) {
        self.record(r, |s| {
            s.tries.pop();
        });
        if let Some(peer) = server.listed {
            tried.forget(peer);
            target.upstream.release(peer, false);
        }
    }

    /// The client left before the answer came: so does the upstream connection (nginx's
    /// 499; it names the phase by whether the connection was made).
    #[cold]
    fn client_left(&self, r: &mut Request, target: &Target, server: &Server, started: Instant) -> Flow {
        let connected = r
            .ctx_ref::<ProxyState>()
            .and_then(|s| s.tries.last())
            .is_some_and(|t| t.connect_time.is_some());
        self.finish_try(r, started, |_| {});
        r.log(
            Level::Info,
            &format!(
                "epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while {}",
                if connected { SENDING } else { CONNECTING }
            ),
        );
        self.release(r, target, server, None);
        Flow::Finish(499)
    }
    /// The local address upstream connections of this request start from (`proxy_bind`),
    /// and whether it may be foreign (`transparent`).
    fn local_address(&self, r: &Request) -> Option<(SocketAddr, bool)> {
        let bind = self.conf.bind.as_ref()?.as_ref()?;
        let addr = match &bind.addr {
            BindAddr::Fixed(a) => *a,
            BindAddr::Template(t) => {
                let text = t.render(r);
                if text.is_empty() {
                    return None;
                }
                match crate::upstream::parse_local(&text) {
                    Some(a) => a,
                    None => {
                        r.log(Level::Error, &format!("invalid local address \"{text}\""));
                        return None;
                    }
                }
            }
        };
        Some((addr, bind.transparent))
    }

    /// "no live upstreams": logged and answered 502, as nginx.
    fn no_live_upstreams(&self, r: &mut Request, target: &Target, uri: &Rc<str>) -> Flow {
        r.log_upstream = Some((format!("http://{}", target.upstream.name).into(), uri.clone()));
        r.log(Level::Error, &format!("no live upstreams while {CONNECTING}"));
        self.record(r, |s| {
            s.tries.push(Try {
                status: Some(502),
                ..Try::at(target.upstream.name.as_str().into())
            })
        });
        Flow::Finish(502)
    }

    /// Runs the upstream's balancer for the next try: the server it chose (None: the
    /// upstream chooses), the tries it added, and whether the request head is to be made
    /// again; or how it failed the request.
    async fn ask_balancer(
        &self,
        r: &mut Request,
        balancer: &dyn Balancer,
        tries_done: usize,
        max_tries: usize,
        tries_limit: u32,
    ) -> Result<(Option<Server>, u32, bool), Refusal> {
        if r.ctx_ref::<Choice>().is_none() {
            r.set_ctx(Choice::default());
        }
        if let Some(c) = r.ctx::<Choice>() {
            c.peer = None;
            c.more_tries = 0;
            c.keepalive = None;
            c.recreate = false;
            c.total_tries += 1;
            c.tries_left = max_tries.saturating_sub(tries_done) as u32;
            c.tries_limit = tries_limit;
        }
        match balancer.pick(r).await {
            Verdict::Go => {}
            Verdict::Fail(code) => return Err(Refusal::Fail(code)),
            Verdict::Busy => return Err(Refusal::Busy),
            Verdict::Declined => return Err(Refusal::Declined),
        }
        let Some(c) = r.ctx_ref::<Choice>() else {
            return Ok((None, 0, false));
        };
        let server = c.peer.clone().map(|chosen| Server::chosen(chosen, c.keepalive));
        Ok((server, c.more_tries, c.recreate))
    }

    /// Tells the balancer (if any) how the last try failed.
    fn note_failure(&self, r: &mut Request, kind: TryEnd, status: u16) {
        if let Some(c) = r.ctx::<Choice>() {
            c.last_failure = Some((kind, status));
        }
    }

    /// The location's timeouts.
    fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: Duration::from_millis(self.conf.connect_timeout_ms()),
            send: Duration::from_millis(self.conf.send_timeout_ms()),
            read: Duration::from_millis(self.conf.read_timeout_ms()),
        }
    }

    /// The location's timeouts with a balancer's `set_timeouts` over them.
    fn timeouts_for(&self, r: &Request) -> Timeouts {
        let mut t = self.timeouts();
        if let Some(c) = r.ctx_ref::<Choice>() {
            let [connect, send, read] = c.timeouts;
            if let Some(ms) = connect {
                t.connect = Duration::from_millis(ms);
            }
            if let Some(ms) = send {
                t.send = Duration::from_millis(ms);
            }
            if let Some(ms) = read {
                t.read = Duration::from_millis(ms);
            }
        }
        t
    }

    /// Counts the end of a try against the server: `failed_during` names what the try was
    /// doing when it failed (a failure may take the server out for a while, logged with it).
    /// (A server a balancer chose is not the upstream's to count.)
    fn release(&self, r: &Request, target: &Target, server: &Server, failed_during: Option<&str>) {
        let Some(peer) = server.listed else {
            return;
        };
        let disabled = target.upstream.release(peer, failed_during.is_some());
        if let Some(during) = failed_during
            && disabled
            && target.upstream.peer_count() > 1
        {
            r.log(
                Level::Warn,
                &format!("upstream server temporarily disabled while {during}"),
            );
        }
    }

    fn record(&self, r: &mut Request, f: impl FnOnce(&mut ProxyState)) {
        if let Some(s) = r.ctx::<ProxyState>() {
            f(s);
        }
    }

    /// Sets the last try's times (and what `f` adds).
    fn finish_try(&self, r: &mut Request, started: Instant, f: impl FnOnce(&mut Try)) {
        self.record(r, |s| {
            if let Some(t) = s.tries.last_mut() {
                t.response_time = started.elapsed().as_secs_f64();
                f(t);
            }
        });
    }

    /// Connects, sends the request, reads the response head.
    async fn attempt(
        &self,
        r: &mut Request,
        server: &Server,
        kept: Option<Conn>,
        request: &[u8],
        body: Option<&OutBody>,
        started: Instant,
    ) -> Result<(Conn, Head), Failure> {
        let (addr, timeouts) = (&server.pool.addr, &server.timeouts);
        let connect_timeout = timeouts.connect;
        let fresh = kept.is_none();
        let connected = match kept {
            Some(conn) => Ok(Ok(conn)),
            None => http::time::timeout(connect_timeout, connect(addr, server))
                .await
                .map(|c| {
                    c.map(|stream| Conn {
                        stream,
                        born: http::time::coarse_instant(),
                        requests: 0,
                    })
                }),
        };
        let mut conn = match connected {
            Ok(Ok(c)) => c,
            Ok(Err(refused)) => return Err(Failure::connecting(r, Some(refused))),
            Err(_) => return Err(Failure::connecting(r, None)),
        };
        if let (true, Some(tls)) = (fresh, &server.tls) {
            let plain = std::mem::replace(&mut conn.stream, Stream::Detached);
            match tls.handshake(plain, &server.name, connect_timeout).await {
                Ok(s) => conn.stream = s,
                Err(message) => return Err(Failure::handshaking(message)),
            }
        }
        // (a kept connection took no time: nginx's cached clock reads 0 there too)
        let connect_time = if fresh { started.elapsed().as_secs_f64() } else { 0.0 };
        self.record(r, |s| {
            if let Some(t) = s.tries.last_mut() {
                t.connect_time = Some(connect_time);
            }
        });
        let send_timeout = timeouts.send;
        if let Some(OutBody::Stream(length)) = body {
            // (the client's pace sets the body's: proxy_send_timeout per write)
            let sent = stream_body(r, &mut conn.stream, request, length.is_none(), send_timeout).await?;
            self.record(r, |s| {
                if let Some(t) = s.tries.last_mut() {
                    t.bytes_sent = sent;
                }
            });
            return self.read_answer(r, conn, started, timeouts).await;
        }
        let stream = &mut conn.stream;
        let send = async {
            stream.write_all(request).await?;
            match body {
                Some(OutBody::Bytes(b)) => stream.write_all(b).await?,
                Some(OutBody::Stream(_)) => {}
                Some(OutBody::File(path, len)) => {
                    use std::io::Read;
                    let mut file = std::fs::File::open(path)?;
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut left = *len;
                    while left > 0 {
                        let want = left.min(buf.len() as u64) as usize;
                        let n = file.read(&mut buf[..want])?;
                        if n == 0 {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "request body file truncated",
                            ));
                        }
                        stream.write_all(&buf[..n]).await?;
                        left -= n as u64;
                    }
                }
                None => {}
            }
            stream.flush().await
        };
        let sent_bytes = request.len() as u64 + body.and_then(OutBody::len).unwrap_or(0);
        match http::time::timeout(send_timeout, send).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Failure::sending(Some(e))),
            Err(_) => return Err(Failure::sending(None)),
        }
        self.record(r, |s| {
            if let Some(t) = s.tries.last_mut() {
                t.bytes_sent = sent_bytes;
            }
        });
        self.read_answer(r, conn, started, timeouts).await
    }

    /// Reads the answer's head.
    async fn read_answer(
        &self,
        r: &mut Request,
        mut conn: Conn,
        started: Instant,
        timeouts: &Timeouts,
    ) -> Result<(Conn, Head), Failure> {
        let read_timeout = timeouts.read;
        match response::read_head(&mut conn.stream, self.conf.buffer_size(), read_timeout).await {
            Ok(head) => {
                let header_time = started.elapsed().as_secs_f64();
                let status = head.status;
                let size = (head.size + head.rest.len()) as u64;
                self.record(r, |s| {
                    if let Some(t) = s.tries.last_mut() {
                        t.header_time = Some(header_time);
                        t.status = Some(status);
                        t.bytes_received = size;
                    }
                });
                Ok((conn, head))
            }
            Err(e) => Err(Failure::reading_head(e)),
        }
    }

    /// Sends the upstream's answer on to the client, its body as it comes.
    async fn forward(
        &self,
        r: &mut Request,
        conn: Conn,
        mut head: Head,
        started: Instant,
        target: &Target,
        server: Server,
    ) -> Flow {
        let timeouts = &server.timeouts;
        if self.intercepts(r, head.status) {
            // (the answer's body is not read: its connection goes; a 401's challenge is
            // kept for the error page, as nginx keeps it)
            if head.status == 401 {
                for (name, value) in head.headers() {
                    if name.eq_ignore_ascii_case("www-authenticate") {
                        r.headers_out.add(name, value.as_ref());
                    }
                }
            }
            return Flow::Finish(head.status);
        }
        self.accel_limit_rate(r, &head);
        let buffered = self.buffering(&head);
        if let Some(flow) = self.accel_redirect(r, &head) {
            return flow;
        }
        let keepalive = head.keepalive;
        let framing = match head.framing(r.is_head()) {
            Ok(f) => f,
            Err(e) => {
                r.log(Level::Error, &format!("{} while {READING_HEAD}", e.message()));
                return Flow::Finish(502);
            }
        };
        if head.http09 {
            r.log(
                Level::Error,
                &format!("upstream sent no valid HTTP/1.0 header while {READING_HEAD}"),
            );
            r.version = (0, 9);
        }
        let chunked = matches!(framing, response::Framing::Chunked(_));
        // (101 to a request that asked for an upgrade: the connection becomes a tunnel)
        let upgrade = head.status == 101 && r.headers_in.get("upgrade").is_some();
        self.copy_head(r, &head, chunked, upgrade);
        let rest = std::mem::take(&mut head.rest);
        self.record(r, |s| s.head = Some(head));
        if upgrade {
            // (boxed: a rare path, whose state would enlarge every request's future)
            return Box::pin(self.tunnel(r, conn, rest.into_vec(), started, timeouts.read)).await;
        }
        let mut body = BodyReader::new(framing, rest);
        let ahead = crate::buffering::Ahead {
            memory: if buffered { self.conf.buffers_bytes() } else { 0 },
            spool_dir: &self.temp_dir,
            spool_max: self.conf.max_temp_file(),
        };
        let upstream = target.upstream.clone();
        let (pool, keep) = (server.pool, server.keep);
        // (the connection is kept as soon as the body is read whole, before the client
        // has it all)
        let kept = move |conn: Conn, body: &BodyReader| {
            if keepalive && body.reusable() {
                upstream.put_idle(pool, conn, keep);
            }
        };
        if let Err(e) = crate::buffering::relay(r, conn, &mut body, timeouts.read, &ahead, kept).await {
            r.log(Level::Error, &format!("{} while reading upstream", e.message()));
            self.finish_try(r, started, |t| t.bytes_received += body.received);
            // the response is cut short: what was sent goes, then the connection closes
            // without the body's end
            r.send_header();
            r.flush().await;
            r.keepalive = false;
            r.eof_sent = true;
            return Flow::Done;
        }
        let (received, length) = (body.received, body.length);
        self.finish_try(r, started, |t| {
            t.bytes_received += received;
            t.response_length = Some(length);
        });
        r.send_body(&[], true).await;
        Flow::Done
    }

    /// The answer's status and headers into the client's response, less the hidden ones,
    /// with `proxy_cookie_*` and `proxy_redirect` applied (`chunked`: its length is not
    /// passed on; `upgrade`: its Upgrade header is).
    #[inline(never)]
    fn copy_head(&self, r: &mut Request, head: &Head, chunked: bool, upgrade: bool) {
        r.status = head.status;
        r.content_type = None;
        r.content_type_set = true;
        for (name, value) in head.headers() {
            if name.eq_ignore_ascii_case("content-type") {
                r.content_type = Some(value.as_ref().into());
            } else if name.eq_ignore_ascii_case("content-length") {
                if !chunked {
                    r.content_length = value.trim().parse().ok();
                }
            } else if self.hidden(name) && !(upgrade && name.eq_ignore_ascii_case("upgrade")) {
            } else if name.eq_ignore_ascii_case("set-cookie") && self.rewrites_cookies() {
                let (domains, paths) = (self.conf.cookie_domain.clone(), self.conf.cookie_path.clone());
                let (domains, paths) = (
                    domains.as_deref().map_or(&[][..], Vec::as_slice),
                    paths.as_deref().map_or(&[][..], Vec::as_slice),
                );
                let mut new = crate::cookie::rewrite(r, &value, domains, paths);
                if let Some(flags) = self.conf.cookie_flags.clone() {
                    let current = new.as_deref().unwrap_or(&value).to_string();
                    if let Some(flagged) = crate::cookie::set_flags(r, &current, &flags) {
                        new = Some(flagged);
                    }
                }
                r.headers_out.add(name, new.as_deref().unwrap_or(&value));
            } else if !self.redirects.is_empty()
                && (name.eq_ignore_ascii_case("location") || name.eq_ignore_ascii_case("refresh"))
            {
                let new = crate::redirect::rewrite(r, &self.redirects, name, &value);
                r.headers_out.add(name, new.as_deref().unwrap_or(&value));
            } else {
                r.headers_out.add(name, value.as_ref());
            }
        }
    }

    /// Whether `proxy_cookie_domain`/`_path`/`_flags` have rules here.
    fn rewrites_cookies(&self) -> bool {
        let any = |rules: &Option<crate::cookie::Rules>| rules.as_ref().is_some_and(|r| !r.is_empty());
        let flags = self.conf.cookie_flags.as_ref().is_some_and(|r| !r.is_empty());
        any(&self.conf.cookie_domain) || any(&self.conf.cookie_path) || flags
    }

    /// `proxy_intercept_errors`: an answer of 300 or more that the location has an
    /// `error_page` for is replaced by that page.
    fn intercepts(&self, r: &Request, status: u16) -> bool {
        status >= 300
            && self.conf.intercept_errors.unwrap_or(false)
            && !r.error_page_used
            && r.loc.settings.error_pages().iter().any(|p| p.codes.contains(&status))
    }

    /// `proxy_buffering`, unless the answer's `X-Accel-Buffering: yes|no` says otherwise.
    fn buffering(&self, head: &Head) -> bool {
        let configured = self.conf.buffering.unwrap_or(true);
        if self.conf.ignore_headers.is_some_and(|i| i.accel_buffering) {
            return configured;
        }
        match head.header("x-accel-buffering") {
            Some(v) if v.eq_ignore_ascii_case("yes") => true,
            Some(v) if v.eq_ignore_ascii_case("no") => false,
            _ => configured,
        }
    }

    /// `X-Accel-Limit-Rate: N`: the response goes out at N bytes per second (also after
    /// an `X-Accel-Redirect`).
    fn accel_limit_rate(&self, r: &mut Request, head: &Head) {
        if self.conf.ignore_headers.is_some_and(|i| i.accel_limit_rate) {
            return;
        }
        if let Some(rate) = head
            .header("x-accel-limit-rate")
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            r.limit_rate = Some(rate);
        }
    }

    /// `X-Accel-Redirect: /uri` (or `@name`): an internal redirect there instead of the
    /// answer, which keeps only the headers nginx keeps across it.
    fn accel_redirect(&self, r: &mut Request, head: &Head) -> Option<Flow> {
        if self.conf.ignore_headers.is_some_and(|i| i.accel_redirect) {
            return None;
        }
        let target = head.header("x-accel-redirect")?.into_owned();
        const KEPT: [&str; 6] = [
            "content-type",
            "set-cookie",
            "content-disposition",
            "cache-control",
            "expires",
            "accept-ranges",
        ];
        for (name, value) in head.headers() {
            if name.eq_ignore_ascii_case("content-type") {
                r.content_type = Some(value.as_ref().into());
            } else if KEPT.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                r.headers_out.add(name, value.as_ref());
            }
        }
        if target.starts_with('@') {
            return Some(Flow::Named(target));
        }
        let (path, args) = target.split_once('?').unwrap_or((&target, ""));
        let unsafe_path =
            !path.starts_with('/') || path.contains('\0') || path.split('/').any(|segment| segment == "..");
        if unsafe_path {
            r.log(Level::Error, &format!("unsafe URI \"{path}\" was detected"));
            return Some(Flow::Finish(404));
        }
        if !r.is_head() {
            r.method = "GET".into();
        }
        // (the args are the target's, none when it has none)
        Some(Flow::Redirect(format!("{path}?{args}")))
    }

    /// An upgraded connection: the 101 goes out, then bytes both ways until one side
    /// closes or nothing moves for `proxy_read_timeout`.
    async fn tunnel(
        &self,
        r: &mut Request,
        conn: Conn,
        from_upstream: Vec<u8>,
        started: Instant,
        idle: Duration,
    ) -> Flow {
        r.keepalive = false;
        r.send_header();
        r.flush().await;
        if r.write_failed {
            return Flow::Done;
        }
        // the connection is the tunnel's now: the server writes nothing more on it
        r.eof_sent = true;
        let client = r.io.stream.clone();
        let from_client = r.io.pending().to_vec();
        r.io.consume(from_client.len());
        let (end, received) = crate::tunnel::relay(&client, &conn.stream, from_client, from_upstream, idle).await;
        if let crate::tunnel::End::TimedOut = end {
            r.log(
                Level::Error,
                &format!("{} while proxying upgraded connection", crate::TIMED_OUT),
            );
        }
        self.finish_try(r, started, |t| t.bytes_received += received);
        Flow::Done
    }

    /// Headers of the upstream's answer that do not go to the client: hop-by-hop ones,
    /// those nginx hides by default (unless `proxy_pass_header`), `proxy_hide_header`'s.
    fn hidden(&self, name: &str) -> bool {
        const HOP: &[&str] = &[
            "connection",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
            "proxy-connection",
        ];
        const DEFAULT_HIDDEN: &[&str] = &[
            "date",
            "server",
            "x-pad",
            "x-accel-expires",
            "x-accel-redirect",
            "x-accel-limit-rate",
            "x-accel-buffering",
            "x-accel-charset",
        ];
        let listed = |list: &[&str]| list.iter().any(|h| h.eq_ignore_ascii_case(name));
        let configured = |list: &Option<Rc<Vec<String>>>| {
            list.as_ref()
                .is_some_and(|l| l.iter().any(|h| h.eq_ignore_ascii_case(name)))
        };
        if listed(HOP) {
            return true;
        }
        if listed(DEFAULT_HIDDEN) && !configured(&self.conf.pass_headers) {
            return true;
        }
        configured(&self.conf.hide_headers)
    }

    /// The request line and headers for the upstream.
    fn request_head(&self, r: &Request, method: &str, uri: &str, target: &Target, body: Option<&OutBody>) -> Vec<u8> {
        let (major, minor) = self.conf.http_version();
        let mut out = Vec::with_capacity(512);
        for part in [method, " ", uri, " HTTP/"] {
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(&[b'0' + major, b'.', b'0' + minor, b'\r', b'\n']);
        // proxy_set_header's (an empty value sends nothing), then nginx's defaults that
        // none of them replaced, then the client's headers that none of them names
        let user = self.conf.headers.as_deref().map(Vec::as_slice).unwrap_or_default();
        for (name, value) in user {
            let value = value.render(r);
            if !value.is_empty() {
                push_header(&mut out, name, &value);
            }
        }
        let content_length = body.and_then(OutBody::len).map(|n| n.to_string());
        let chunked = matches!(body, Some(OutBody::Stream(None))).then_some("chunked");
        let defaults = [
            ("Host", Some(target.host.as_str())),
            ("Connection", Some("close")),
            ("Content-Length", content_length.as_deref()),
            ("Transfer-Encoding", chunked),
        ];
        for (name, value) in defaults {
            let replaced = user.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
            if let (false, Some(v)) = (replaced, value) {
                push_header(&mut out, name, v);
            }
        }
        if self.conf.pass_request_headers.unwrap_or(true) {
            for (name, value) in &r.headers_in.list {
                if !self.not_passed.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    push_header(&mut out, name, value);
                }
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The URI the upstream gets (nginx's rules: see the module doc of `proxy_pass`).
    fn upstream_uri(&self, r: &Request, target: &Target) -> Rc<str> {
        let unparsed_valid = !r.uri_rewritten && !r.internal && r.capture.is_none();
        let with_args = |path: String| -> Rc<str> {
            if r.args.is_empty() {
                path.into()
            } else {
                format!("{path}?{}", r.args).into()
            }
        };
        match &target.uri {
            // a URL with variables: its URI part as it is
            Some(uri) if self.pass.fixed.is_none() => uri.as_str().into(),
            // (the common case, copied once: straight into the shared text)
            None if unparsed_valid => r.unparsed_uri.as_str().into(),
            None => with_args(escape_uri(&r.uri)),
            // after `rewrite … break` the URI part is ignored: the changed URI goes whole
            Some(_) if r.uri_rewritten => with_args(escape_uri(&r.uri)),
            Some(uri) => {
                let rest = match &self.pass.location {
                    Some(prefix) if r.uri.starts_with(prefix.as_str()) => &r.uri[prefix.len()..],
                    _ => r.uri.as_str(),
                };
                with_args(format!("{uri}{}", escape_uri(rest)))
            }
        }
    }

    /// The target of a URL with variables: an upstream block it names, else the host's
    /// addresses (through the `resolver` for a name).
    async fn dynamic_target(&self, r: &mut Request) -> Result<Target, u16> {
        let url = self.pass.url.render(r);
        let Some((authority, _)) = crate::split_url(&url) else {
            r.log(Level::Error, &format!("invalid URL prefix in \"{url}\""));
            return Err(500);
        };
        let host = crate::upstream::split_host_port(authority)
            .map(|(h, _)| h)
            .unwrap_or(authority);
        let is_literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok();
        if self.upstreams.find(authority).is_some() || is_literal || authority.starts_with("unix:") {
            return crate::target(&self.upstreams, &url, &self.pass.at).map_err(|e| {
                r.log(Level::Error, &e.to_string());
                502
            });
        }
        let Some(resolver) = r.loc.settings.resolver() else {
            r.log(Level::Error, &format!("no resolver defined to resolve {host}"));
            return Err(502);
        };
        let timeout = Duration::from_millis(r.loc.settings.resolver_timeout_ms());
        let ips = match http::resolver::resolve(&resolver, host, timeout).await {
            Ok(ips) => ips,
            Err(e) => {
                r.log(Level::Error, &format!("{host} could not be resolved ({e})"));
                return Err(502);
            }
        };
        let default_port = crate::default_port(&url);
        let port = crate::upstream::split_host_port(authority)
            .and_then(|(_, p)| p)
            .unwrap_or(default_port);
        let addrs = ips
            .into_iter()
            .map(|ip| PeerAddr::Inet(std::net::SocketAddr::new(ip, port)))
            .collect();
        let (_, uri) = crate::split_url(&url).unwrap_or((authority, None));
        Ok(Target {
            upstream: Rc::new(crate::upstream::Upstream::implicit(authority.to_string(), addrs)),
            host: if port == default_port {
                host.to_string()
            } else {
                format!("{host}:{port}")
            },
            port: port.to_string(),
            uri: uri.map(str::to_string),
            tls: crate::is_https(&url),
        })
    }
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Why a new upstream connection was not made.
enum Refused {
    /// Setting up our end failed (`bind(…)`, `setsockopt(IP_TRANSPARENT)`): its words.
    Local(String, std::io::Error),
    /// The connect itself.
    Peer(std::io::Error),
}

async fn connect(addr: &PeerAddr, server: &Server) -> Result<Stream, Refused> {
    let a = match addr {
        PeerAddr::Unix(p) => {
            return tokio::net::UnixStream::connect(p)
                .await
                .map(Stream::Unix)
                .map_err(Refused::Peer);
        }
        PeerAddr::Inet(a) => *a,
    };
    let s = match server.pool.local {
        None => tokio::net::TcpStream::connect(a).await.map_err(Refused::Peer)?,
        Some(local) => {
            let socket = if a.is_ipv4() {
                tokio::net::TcpSocket::new_v4()
            } else {
                tokio::net::TcpSocket::new_v6()
            }
            .map_err(|e| Refused::Local("socket()".into(), e))?;
            if server.transparent {
                http::io::set_transparent(&socket, a.is_ipv4())
                    .map_err(|e| Refused::Local("setsockopt(IP_TRANSPARENT)".into(), e))?;
            }
            if local.port() == 0 {
                // (the port is chosen at connect, with the peer known: more of them to go
                // round, as nginx's IP_BIND_ADDRESS_NO_PORT)
                let _ = http::io::set_bind_no_port(&socket);
            }
            let ip = local.ip();
            socket
                .bind(local)
                .map_err(|e| Refused::Local(format!("bind({ip})"), e))?;
            socket.connect(a).await.map_err(Refused::Peer)?
        }
    };
    let _ = s.set_nodelay(true);
    Ok(Stream::Tcp(s))
}

/// nginx's URI escaping for what goes to an upstream: spaces, `#`, `%`, `?`, controls and
/// bytes above ASCII.
fn escape_uri(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    for &b in uri.as_bytes() {
        if b <= b' ' || b >= 0x7f || matches!(b, b'#' | b'%' | b'?') {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn uris_are_escaped_as_nginx_escapes_them() {
        assert_eq!(super::escape_uri("/a b/%?#é"), "/a%20b/%25%3F%23%C3%A9");
        assert_eq!(super::escape_uri("/plain/path.html"), "/plain/path.html");
    }

    #[test]
    fn another_try_follows_nginx_next_upstream_rules() {
        use std::time::{Duration, Instant};
        let retries = |idempotent, streamed| super::Retries {
            next: crate::NextUpstream::default(),
            idempotent,
            streamed,
            limit: 0,
            max: 2,
            done: 1,
            give_up_at: None,
        };
        // a request that never reached the server may always go to the next one
        assert!(retries(false, true).allow(false));
        // one that did: only when it may be sent again and its body is still there
        assert!(retries(true, false).allow(true));
        assert!(!retries(false, false).allow(true));
        assert!(!retries(true, true).allow(true));
        let mut post = retries(false, false);
        post.next.non_idempotent = true;
        assert!(post.allow(true));
        // no tries left, or past proxy_next_upstream_timeout
        let mut done = retries(true, false);
        done.done = 2;
        assert!(!done.allow(false));
        let mut late = retries(true, false);
        late.give_up_at = Some(Instant::now() - Duration::from_millis(1));
        assert!(!late.allow(false));
    }
}
