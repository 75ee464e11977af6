//! TLS over a connection's socket: OpenSSL (the openssl crate, built vendored) driven by
//! the event loop. `TlsStream` reads and writes through a session with the same
//! readiness-driven `&self` methods as a plain socket (io.rs), so the client connection,
//! cosockets and upstream connections use TLS without knowing it. The server's handshake
//! lets SNI pick the server block's context; the client's verifies as nginx does, after
//! the handshake.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use foreign_types::{ForeignType, ForeignTypeRef};
use openssl::error::ErrorStack;
use openssl::ssl::{
    ErrorCode, Ssl, SslContext, SslContextRef, SslMode, SslOptions, SslRef, SslSessionRef, SslStream, SslVerifyMode,
};

use crate::io::Stream;
use crate::log::Level;

/// The plain socket under a session, as OpenSSL sees it: reads and writes that never
/// block (a WouldBlock also clears the event loop's readiness).
struct Plain {
    sock: Rc<Stream>,
    /// The last read took less than it could: the socket was drained then (OpenSSL reads
    /// ahead, so this is what a short read of the plain socket means to io.rs).
    drained: bool,
}

impl Read for Plain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.sock.try_read(buf);
        self.drained = matches!(r, Ok(n) if n < buf.len());
        r
    }
}

impl Write for Plain {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.try_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the socket must become before the last operation can go on, when that is not
/// what its direction suggests: a read that must first write (a TLS 1.3 key update's
/// answer), a write that must first read (a renegotiation).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Want {
    Usual,
    Read,
    Write,
}

pub struct TlsStream {
    sock: Rc<Stream>,
    ssl: RefCell<SslStream<Plain>>,
    want: Cell<Want>,
    /// `ssl_buffer_size`: the most one write puts into a record.
    record_limit: usize,
    /// A fatal error was seen: no close_notify at the end (OpenSSL forbids it).
    broken: Cell<bool>,
}

impl TlsStream {
    fn new(sock: Rc<Stream>, ssl: Ssl, record_limit: usize) -> io::Result<TlsStream> {
        let plain = Plain {
            sock: sock.clone(),
            drained: false,
        };
        let s = SslStream::new(ssl, plain).map_err(io::Error::other)?;
        Ok(TlsStream {
            sock,
            ssl: RefCell::new(s),
            want: Cell::new(Want::Usual),
            record_limit: record_limit.max(1),
            broken: Cell::new(false),
        })
    }

    /// The session, for variables and the Lua API (`$ssl_protocol`, ngx.ssl).
    pub fn with_ssl<T>(&self, f: impl FnOnce(&SslRef) -> T) -> T {
        f(self.ssl.borrow().ssl())
    }

    /// The socket under the session.
    pub fn socket(&self) -> &Stream {
        &self.sock
    }

    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let r = {
            let mut ssl = self.ssl.borrow_mut();
            // (only a read this call makes may say the socket is drained)
            ssl.get_mut().drained = false;
            ssl.ssl_read(buf)
        };
        match r {
            Ok(n) => {
                self.want.set(Want::Usual);
                Ok(n)
            }
            Err(e) => match e.code() {
                c @ (ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => Err(self.wait_for(c, true)),
                // close_notify, or the end of the stream without it (nginx takes both
                // as the end)
                ErrorCode::ZERO_RETURN => Ok(0),
                ErrorCode::SYSCALL if e.io_error().is_none() => Ok(0),
                _ => Err(self.fatal(e)),
            },
        }
    }

    pub fn try_read_buf(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let len = buf.len();
        let cap = buf.capacity().max(len + 1);
        buf.resize(cap, 0);
        let r = self.try_read(&mut buf[len..]);
        buf.truncate(len + *r.as_ref().unwrap_or(&0));
        r
    }

    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(self.record_limit);
        let r = self.ssl.borrow_mut().ssl_write(&buf[..n]);
        match r {
            Ok(n) => {
                self.want.set(Want::Usual);
                Ok(n)
            }
            Err(e) => match e.code() {
                c @ (ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => Err(self.wait_for(c, false)),
                ErrorCode::ZERO_RETURN => Err(io::ErrorKind::BrokenPipe.into()),
                _ => Err(self.fatal(e)),
            },
        }
    }

    /// OpenSSL's WANT_READ / WANT_WRITE as WouldBlock, remembering what the socket must
    /// become when that is not what the call's direction (`reading`) suggests.
    fn wait_for(&self, code: ErrorCode, reading: bool) -> io::Error {
        let want = match (code == ErrorCode::WANT_READ, reading) {
            (true, false) => Want::Read,
            (false, true) => Want::Write,
            _ => Want::Usual,
        };
        self.want.set(want);
        io::ErrorKind::WouldBlock.into()
    }

    fn fatal(&self, e: openssl::ssl::Error) -> io::Error {
        self.broken.set(true);
        match e.into_io_error() {
            Ok(io) => io,
            Err(e) => io::Error::other(match e.ssl_error() {
                Some(stack) => error_text(stack),
                None => e.to_string(),
            }),
        }
    }

    /// Bytes wait in the session, decrypted or read ahead (the socket may have nothing
    /// more).
    pub fn has_buffered(&self) -> bool {
        // SAFETY: the session is ours and alive; SSL_has_pending only reads its buffers.
        unsafe { SSL_has_pending(self.ssl.borrow().ssl().as_ptr()) == 1 }
    }

    /// Forgets the socket's read readiness when its last read drained it and the session
    /// holds nothing: the next read waits for epoll instead of paying for an EAGAIN (as
    /// io.rs does for a plain socket after a short read).
    pub fn clear_read_ready(&self) {
        if self.ssl.borrow().get_ref().drained && !self.has_buffered() {
            self.sock.clear_read_ready();
        }
    }

    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.has_buffered() {
            return Poll::Ready(Ok(()));
        }
        match self.want.get() {
            Want::Write => self.sock.poll_write_ready(cx),
            _ => self.sock.poll_read_ready(cx),
        }
    }

    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.want.get() {
            Want::Read => self.sock.poll_read_ready(cx),
            _ => self.sock.poll_write_ready(cx),
        }
    }

    /// Sends close_notify (once) and ends the socket's writing side.
    pub fn shutdown_write(&self) {
        self.close_notify();
        self.sock.shutdown_write();
    }

    fn close_notify(&self) {
        if self.broken.get() {
            return;
        }
        if let Ok(mut s) = self.ssl.try_borrow_mut() {
            // (one try: a socket that cannot take the alert now is not waited for)
            let _ = s.shutdown();
        }
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        self.close_notify();
    }
}

/// Lua's part of a server's handshake (`ssl_client_hello_by_lua*`,
/// `ssl_certificate_by_lua*`). It may wait; its future answers whether the handshake goes
/// on.
pub trait HandshakeHook {
    fn run(&self, facts: HandshakeFacts) -> HookRun;
}

/// What a handshake's hook may look at: the session (valid until the handshake ends,
/// which drops the hook's future first) and the connection.
#[derive(Clone)]
pub struct HandshakeFacts {
    pub ssl: *mut openssl_sys::SSL,
    pub peer: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    /// The listening address, as nginx names the server in the log (`unix:/path`).
    pub listen: Rc<str>,
    pub conn: u64,
    /// The session a client offers to resume (session fetch) or the server just made
    /// (session store): its id.
    pub session_id: Rc<[u8]>,
    /// The session made (session store).
    pub session: Option<openssl::ssl::SslSession>,
    /// Where the session fetch hook leaves the session to resume.
    pub resume: Rc<RefCell<Option<openssl::ssl::SslSession>>>,
}

impl HandshakeFacts {
    /// The facts of a connection, before anything of its handshake is known.
    pub fn new(peer: Option<SocketAddr>, local: Option<SocketAddr>, listen: Rc<str>, conn: u64) -> HandshakeFacts {
        HandshakeFacts {
            ssl: std::ptr::null_mut(),
            peer,
            local,
            listen,
            conn,
            session_id: Rc::from(&[][..]),
            session: None,
            resume: Rc::default(),
        }
    }
}

/// A server block's hooks, by when they run.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Once the ClientHello is read, before anything is chosen by it.
    pub client_hello: Option<Rc<dyn HandshakeHook>>,
    /// Before the certificate is used.
    pub certificate: Option<Rc<dyn HandshakeHook>>,
    /// When the client offers a session to resume (it may hand the session back).
    pub session_fetch: Option<Rc<dyn HandshakeHook>>,
    /// When the server makes a session (it runs on its own; the handshake goes on).
    pub session_store: Option<Rc<dyn HandshakeHook>>,
}

/// A server block's TLS as SNI finds it: its context and its hooks.
pub struct Picked {
    pub context: SslContext,
    pub hooks: Hooks,
}

/// How a server's handshake picks a server block by the SNI name.
pub type SniPicker = Rc<dyn Fn(&str) -> Option<Picked>>;

/// A hook's run: its future answers whether the handshake goes on.
pub type HookRun = Pin<Box<dyn Future<Output = bool>>>;

/// Where a hook's run stands in a handshake.
enum Job {
    Idle,
    Waiting(HookRun),
    Done(bool),
}

/// When in the handshake a hook runs (its job's index).
#[derive(Clone, Copy)]
enum Point {
    ClientHello = 0,
    Certificate = 1,
    SessionFetch = 2,
}

/// The handshake running on this thread, as OpenSSL's callbacks see it (they must be
/// Send + Sync; a worker's server list and hooks are not).
struct Handshake {
    pick: SniPicker,
    hooks: RefCell<Hooks>,
    facts: HandshakeFacts,
    jobs: [RefCell<Job>; 3],
}

impl Handshake {
    /// A callback's step: starts the hook of `point` (the handshake then waits for it:
    /// -1) and answers its verdict when asked again (1 goes on, 0 fails).
    fn step(&self, point: Point, ssl: *mut openssl_sys::SSL) -> std::ffi::c_int {
        self.step_with(
            point,
            HandshakeFacts {
                ssl,
                ..self.facts.clone()
            },
        )
    }

    fn step_with(&self, point: Point, facts: HandshakeFacts) -> std::ffi::c_int {
        let mut job = self.jobs[point as usize].borrow_mut();
        match &*job {
            Job::Done(ok) => *ok as std::ffi::c_int,
            Job::Waiting(_) => -1,
            Job::Idle => {
                let hooks = self.hooks.borrow();
                let hook = match point {
                    Point::ClientHello => &hooks.client_hello,
                    Point::Certificate => &hooks.certificate,
                    Point::SessionFetch => &hooks.session_fetch,
                };
                let Some(hook) = hook.clone() else {
                    *job = Job::Done(true);
                    return 1;
                };
                *job = Job::Waiting(hook.run(facts));
                -1
            }
        }
    }

    /// The hook the handshake waits for, to run to its end.
    fn take_waiting(&self) -> Option<(usize, HookRun)> {
        self.jobs.iter().enumerate().find_map(|(i, j)| {
            let mut j = j.borrow_mut();
            matches!(*j, Job::Waiting(_)).then(|| match std::mem::replace(&mut *j, Job::Idle) {
                Job::Waiting(f) => (i, f),
                _ => unreachable!("checked above"),
            })
        })
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Handshake>>> = const { RefCell::new(None) };
}

/// The SNI callback every server context carries: switches the session to the context the
/// running handshake's picker chooses for the name (and to that server's hooks).
pub fn on_server_name(ssl: &mut SslRef) {
    let Some(name) = ssl.servername(openssl::ssl::NameType::HOST_NAME).map(str::to_string) else {
        return;
    };
    let Some(hs) = CURRENT.with(|c| c.borrow().clone()) else {
        return;
    };
    let Some(picked) = (hs.pick)(&name) else {
        return;
    };
    let mut hooks = hs.hooks.borrow_mut();
    hooks.certificate = picked.hooks.certificate;
    hooks.session_store = picked.hooks.session_store;
    drop(hooks);
    if !std::ptr::eq(picked.context.as_ptr(), ssl.ssl_context().as_ptr()) {
        adopt_context(ssl, &picked.context);
    }
}

/// Runs `f` on a hook's session (a session store hook has none: false).
pub fn with_hook_session(facts: &HandshakeFacts, f: impl FnOnce(&mut SslRef) -> bool) -> bool {
    if facts.ssl.is_null() {
        return false;
    }
    // SAFETY: the handshake that made these facts runs its hook now (the hook's future is
    // polled by it), so its session is alive and nothing else uses it during the call.
    f(unsafe { SslRef::from_ptr_mut(facts.ssl) })
}

/// Two hooks at one point, the first, then the second if the first let the handshake go
/// on (a server's certificates named by variables, then its Lua).
pub struct BothHooks(pub Rc<dyn HandshakeHook>, pub Rc<dyn HandshakeHook>);

impl HandshakeHook for BothHooks {
    fn run(&self, facts: HandshakeFacts) -> HookRun {
        let (first, second) = (self.0.clone(), self.1.clone());
        Box::pin(async move { first.run(facts.clone()).await && second.run(facts).await })
    }
}

/// Installs the callbacks that run the hooks on a server context.
pub fn install_hook_callbacks(b: &mut openssl::ssl::SslContextBuilder) {
    // SAFETY: the context is ours; the callback is a plain function that reads this
    // thread's handshake state only.
    unsafe { SSL_CTX_set_cert_cb(b.as_ptr(), Some(cert_callback), std::ptr::null_mut()) };
    b.set_client_hello_callback(|ssl, _alert| {
        let Some(hs) = CURRENT.with(|c| c.borrow().clone()) else {
            return Ok(openssl::ssl::ClientHelloResponse::SUCCESS);
        };
        // (the server the ClientHello names runs its hook; SNI switches the context later)
        if let Some(name) = client_hello_server_name(ssl)
            && let Some(picked) = (hs.pick)(&name)
        {
            hs.hooks.borrow_mut().client_hello = picked.hooks.client_hello;
        }
        let mut verdict = hs.step(Point::ClientHello, ssl.as_ptr());
        // (a session the client offers is fetched now, while the handshake may still
        // wait: OpenSSL's own lookup, later, cannot)
        if verdict == 1
            && hs.hooks.borrow().session_fetch.is_some()
            && let Some(id) = offered_session_id(ssl)
        {
            let facts = HandshakeFacts {
                ssl: ssl.as_ptr(),
                session_id: Rc::from(id),
                ..hs.facts.clone()
            };
            verdict = hs.step_with(Point::SessionFetch, facts);
        }
        match verdict {
            1 => Ok(openssl::ssl::ClientHelloResponse::SUCCESS),
            -1 => Ok(openssl::ssl::ClientHelloResponse::RETRY),
            _ => Err(ErrorStack::get()),
        }
    });
}

/// Installs what runs the session hooks: the session fetch hook's session handed to
/// OpenSSL's lookup, the session store hook run for each new session.
pub fn install_session_hooks(b: &mut openssl::ssl::SslContextBuilder, fetch: bool, store: bool) {
    if fetch {
        // SAFETY: the context is ours; the callback reads this thread's handshake only.
        unsafe { openssl_sys::SSL_CTX_sess_set_get_cb(b.as_ptr(), Some(fetched_session)) };
    }
    if store {
        b.set_new_session_callback(|_ssl, session| {
            let Some(hs) = CURRENT.with(|c| c.borrow().clone()) else {
                return;
            };
            let Some(hook) = hs.hooks.borrow().session_store.clone() else {
                return;
            };
            let facts = HandshakeFacts {
                session_id: Rc::from(session.id()),
                session: Some(session),
                ..hs.facts.clone()
            };
            // (as OpenResty's, it cannot hold the handshake: it runs on its own)
            tokio::task::spawn_local(hook.run(facts));
        });
    }
}

/// OpenSSL's session lookup when a fetch hook exists: what the hook found, if anything.
unsafe extern "C" fn fetched_session(
    _ssl: *mut openssl_sys::SSL,
    _id: *const std::ffi::c_uchar,
    _len: std::ffi::c_int,
    copy: *mut std::ffi::c_int,
) -> *mut openssl_sys::SSL_SESSION {
    let found = CURRENT.with(|c| c.borrow().as_ref().and_then(|hs| hs.facts.resume.borrow_mut().take()));
    match found {
        Some(session) => {
            // SAFETY: OpenSSL's out parameter; 0: the reference we hand over is its own.
            unsafe { *copy = 0 };
            let p = session.as_ptr();
            // (the reference goes to OpenSSL)
            std::mem::forget(session);
            p
        }
        None => std::ptr::null_mut(),
    }
}

/// The id of the session a ClientHello offers: a TLS 1.3 PSK identity (a stateful
/// ticket: the id), else a TLS 1.2 client's legacy session id.
fn offered_session_id(ssl: &SslRef) -> Option<Vec<u8>> {
    if let Some(psk) = client_hello_ext(ssl, 41) {
        // identities length (2), then identity length (2) and bytes
        let len = u16::from_be_bytes([*psk.get(2)?, *psk.get(3)?]) as usize;
        return psk.get(4..4 + len).map(<[u8]>::to_vec);
    }
    if client_hello_ext(ssl, 43).is_some() {
        // (a TLS 1.3 client's legacy id is random, for middleboxes)
        return None;
    }
    ssl.client_hello_session_id()
        .filter(|id| !id.is_empty())
        .map(<[u8]>::to_vec)
}

/// OpenSSL's certificate callback: the certificate hook's step.
extern "C" fn cert_callback(ssl: *mut openssl_sys::SSL, _arg: *mut std::ffi::c_void) -> std::ffi::c_int {
    match CURRENT.with(|c| c.borrow().clone()) {
        Some(hs) => hs.step(Point::Certificate, ssl),
        None => 1,
    }
}

/// The raw bytes of a ClientHello extension, while the ClientHello callback runs (or a
/// hook it started waits).
pub fn client_hello_ext(ssl: &SslRef, ext: u32) -> Option<&[u8]> {
    let mut p: *const u8 = std::ptr::null();
    let mut len = 0usize;
    // SAFETY: the session is alive; OpenSSL points into its ClientHello, kept until the
    // handshake moves past it.
    let found = unsafe { openssl_sys::SSL_client_hello_get0_ext(ssl.as_ptr(), ext, &mut p, &mut len) };
    // SAFETY: on success p and len describe that buffer.
    (found == 1 && !p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, len) })
}

/// The host name of a ClientHello's server_name extension.
pub fn client_hello_server_name(ssl: &SslRef) -> Option<String> {
    let ext = client_hello_ext(ssl, 0)?;
    // list length (2), then entries: type (1), length (2), name; type 0 is a host name
    let mut rest = ext.get(2..)?;
    while rest.len() >= 3 {
        let (kind, len) = (rest[0], u16::from_be_bytes([rest[1], rest[2]]) as usize);
        let name = rest.get(3..3 + len)?;
        if kind == 0 {
            return std::str::from_utf8(name).ok().map(str::to_ascii_lowercase);
        }
        rest = &rest[3 + len..];
    }
    None
}

/// Switches a session to another server's context with its client verification, as
/// nginx's SNI callback does (SSL_set_SSL_CTX changes certificates only).
fn adopt_context(ssl: &mut SslRef, ctx: &SslContextRef) {
    if ssl.set_ssl_context(ctx).is_err() {
        return;
    }
    // SAFETY: the context is live (the session now holds a reference to it); these read
    // its verification settings.
    let (mode, depth) = unsafe {
        (
            openssl_sys::SSL_CTX_get_verify_mode(ctx.as_ptr()),
            SSL_CTX_get_verify_depth(ctx.as_ptr()),
        )
    };
    let mode = SslVerifyMode::from_bits_truncate(mode);
    if mode.is_empty() {
        ssl.set_verify(SslVerifyMode::NONE);
    } else {
        // (the result is judged per request, as nginx's callback that accepts all)
        ssl.set_verify_callback(mode, |_, _| true);
    }
    // SAFETY: the session is live and ours for the call.
    unsafe { SSL_set_verify_depth(ssl.as_ptr(), depth) };
}

// (not declared by openssl-sys)
unsafe extern "C" {
    fn SSL_CTX_get_verify_depth(ctx: *const openssl_sys::SSL_CTX) -> std::ffi::c_int;
    fn SSL_has_pending(ssl: *const openssl_sys::SSL) -> std::ffi::c_int;
    fn SSL_set_verify_depth(ssl: *mut openssl_sys::SSL, depth: std::ffi::c_int);
    fn SSL_CTX_set_cert_cb(
        ctx: *mut openssl_sys::SSL_CTX,
        cb: Option<extern "C" fn(*mut openssl_sys::SSL, *mut std::ffi::c_void) -> std::ffi::c_int>,
        arg: *mut std::ffi::c_void,
    );
}

/// Why a handshake ended without a session: the line nginx logs, and its level.
#[derive(Debug)]
pub struct HandshakeFailure {
    pub level: Level,
    pub text: String,
}

impl HandshakeFailure {
    fn new(level: Level, text: impl Into<String>) -> HandshakeFailure {
        HandshakeFailure {
            level,
            text: text.into(),
        }
    }
}

/// The server's side of a handshake on an accepted connection, starting with the
/// address's default server (`first`); `pick` chooses a server block by the SNI name;
/// `timeout` bounds the whole handshake, a hook's waits included.
pub async fn accept(
    sock: Stream,
    first: Picked,
    pick: SniPicker,
    facts: HandshakeFacts,
    record_limit: usize,
    timeout: Duration,
) -> Result<TlsStream, HandshakeFailure> {
    let ssl = Ssl::new(&first.context)
        .map_err(|e| HandshakeFailure::new(Level::Alert, format!("SSL_new() failed {}", error_text(&e))))?;
    let t = TlsStream::new(Rc::new(sock), ssl, record_limit)
        .map_err(|e| HandshakeFailure::new(Level::Alert, e.to_string()))?;
    let hs = Rc::new(Handshake {
        pick,
        hooks: RefCell::new(first.hooks),
        facts,
        jobs: [
            RefCell::new(Job::Idle),
            RefCell::new(Job::Idle),
            RefCell::new(Job::Idle),
        ],
    });
    let step = || {
        CURRENT.with(|c| *c.borrow_mut() = Some(hs.clone()));
        let r = t.ssl.borrow_mut().accept();
        CURRENT.with(|c| *c.borrow_mut() = None);
        r
    };
    let hook_run = || {
        let waiting = hs.take_waiting();
        let hs = hs.clone();
        async move {
            if let Some((i, f)) = waiting {
                let ok = f.await;
                *hs.jobs[i].borrow_mut() = Job::Done(ok);
            }
        }
    };
    handshake(
        &t,
        step,
        hook_run,
        timeout,
        "client timed out (110: Connection timed out) while SSL handshaking",
    )
    .await
    .map_err(|mut f| {
        if f.text.starts_with("SSL_do_handshake()") || f.text.starts_with("peer closed") {
            f.text.push_str(" while SSL handshaking");
        }
        f
    })?;
    Ok(t)
}

/// What a client's handshake offers beyond its context's settings.
#[derive(Default)]
pub struct Offer<'a> {
    /// SNI.
    pub server_name: Option<&'a str>,
    /// A former session, for reuse.
    pub session: Option<&'a SslSessionRef>,
    /// A certificate chain and its key, instead of the context's (`setclientcert`).
    pub certificate: Option<(
        &'a [openssl::x509::X509],
        &'a openssl::pkey::PKeyRef<openssl::pkey::Private>,
    )>,
}

/// The client's side of a handshake (cosockets, https upstreams). Verification is left to
/// the caller (`verify_peer`), as nginx checks after the handshake.
pub async fn connect(
    sock: Stream,
    ctx: &SslContext,
    offer: Offer<'_>,
    timeout: Duration,
) -> Result<TlsStream, HandshakeFailure> {
    let fail = |e: ErrorStack| HandshakeFailure::new(Level::Error, format!("SSL_new() failed {}", error_text(&e)));
    let mut ssl = Ssl::new(ctx).map_err(fail)?;
    if let Some(name) = offer.server_name.filter(|n| !n.is_empty()) {
        ssl.set_hostname(name).map_err(fail)?;
    }
    if let Some(sess) = offer.session {
        // SAFETY: the session comes from a context of the same settings (the caller's
        // cache is keyed by them); OpenSSL refuses a session that does not fit.
        unsafe { ssl.set_session(sess).map_err(fail)? };
    }
    if let Some((chain, key)) = offer.certificate
        && let Some((leaf, rest)) = chain.split_first()
    {
        ssl.set_certificate(leaf).map_err(fail)?;
        for c in rest {
            ssl.add_chain_cert(c.clone()).map_err(fail)?;
        }
        ssl.set_private_key(key).map_err(fail)?;
    }
    let t = TlsStream::new(Rc::new(sock), ssl, usize::MAX)
        .map_err(|e| HandshakeFailure::new(Level::Error, e.to_string()))?;
    let step = || t.ssl.borrow_mut().connect();
    // (nginx's upstream connections log what a client would cause at error level)
    handshake(&t, step, || async {}, timeout, "timed out")
        .await
        .map_err(|mut f| {
            if f.level == Level::Info {
                f.level = Level::Error;
            }
            f
        })?;
    Ok(t)
}

/// Protocols (`ssl_protocols`, `lua_ssl_protocols`, `proxy_ssl_protocols`) as bits.
pub const SSLV3: u8 = 1;
pub const TLSV1: u8 = 2;
pub const TLSV1_1: u8 = 4;
pub const TLSV1_2: u8 = 8;
pub const TLSV1_3: u8 = 16;

/// The bits of a protocols directive's words, or the word nginx refuses.
pub fn protocol_bits<'a>(words: impl Iterator<Item = &'a str>) -> Result<u8, String> {
    let mut bits = 0;
    for p in words {
        bits |= match p {
            // (SSLv2 is gone from OpenSSL; nginx accepts the word)
            "SSLv2" => 0,
            "SSLv3" => SSLV3,
            "TLSv1" => TLSV1,
            "TLSv1.1" => TLSV1_1,
            "TLSv1.2" => TLSV1_2,
            "TLSv1.3" => TLSV1_3,
            other => return Err(format!("invalid value \"{other}\"")),
        };
    }
    Ok(bits)
}

/// The options that leave only `bits`' protocols (and nginx's other defaults) on.
pub fn protocol_options(bits: u8) -> SslOptions {
    let mut options = SslOptions::NO_COMPRESSION
        | SslOptions::NO_SSLV2
        | SslOptions::from_bits_retain(openssl_sys::SSL_OP_IGNORE_UNEXPECTED_EOF as _);
    for (bit, off) in [
        (SSLV3, SslOptions::NO_SSLV3),
        (TLSV1, SslOptions::NO_TLSV1),
        (TLSV1_1, SslOptions::NO_TLSV1_1),
        (TLSV1_2, SslOptions::NO_TLSV1_2),
        (TLSV1_3, SslOptions::NO_TLSV1_3),
    ] {
        if bits & bit == 0 {
            options |= off;
        }
    }
    options
}

/// What a client context is made of (`lua_ssl_*`, `proxy_ssl_*`); paths are absolute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientTls {
    pub trusted: String,
    pub depth: u32,
    pub protocols: u8,
    pub ciphers: String,
    pub certificate: String,
    pub key: String,
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls {
            trusted: String::new(),
            depth: 1,
            protocols: TLSV1_2 | TLSV1_3,
            ciphers: "DEFAULT".to_string(),
            certificate: String::new(),
            key: String::new(),
        }
    }
}

thread_local! {
    /// Client contexts by their settings, made on first use in each process (sessions
    /// offered for reuse come from the context of the same settings).
    static CLIENT_CONTEXTS: RefCell<std::collections::HashMap<ClientTls, SslContext>> = RefCell::default();
}

/// The client context for these settings.
pub fn client_context(c: &ClientTls) -> Result<SslContext, String> {
    if let Some(ctx) = CLIENT_CONTEXTS.with(|m| m.borrow().get(c).cloned()) {
        return Ok(ctx);
    }
    let err = |what: &str, e: ErrorStack| format!("{what} failed {}", error_text(&e));
    let mut b = openssl::ssl::SslContextBuilder::new(openssl::ssl::SslMethod::tls_client())
        .map_err(|e| err("SSL_CTX_new()", e))?;
    b.set_mode(SslMode::ENABLE_PARTIAL_WRITE | SslMode::ACCEPT_MOVING_WRITE_BUFFER | SslMode::RELEASE_BUFFERS);
    // (records are read as they come, several at once: fewer reads of the socket)
    b.set_read_ahead(true);
    b.set_options(protocol_options(c.protocols));
    b.set_cipher_list(&c.ciphers)
        .map_err(|e| err(&format!("SSL_CTX_set_cipher_list(\"{}\")", c.ciphers), e))?;
    b.set_session_cache_mode(openssl::ssl::SslSessionCacheMode::CLIENT);
    if !c.trusted.is_empty() {
        let pem = std::fs::read(&c.trusted).map_err(|e| {
            format!(
                "SSL_CTX_load_verify_locations(\"{}\") failed ({})",
                c.trusted,
                conf::os_reason(&e)
            )
        })?;
        for ca in openssl::x509::X509::stack_from_pem(&pem).map_err(|e| err("PEM_read_bio_X509()", e))? {
            b.cert_store_mut()
                .add_cert(ca)
                .map_err(|e| err("X509_STORE_add_cert()", e))?;
        }
    }
    // (verification is judged after the handshake, as nginx's callback that accepts all)
    b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
    b.set_verify_depth(c.depth);
    if !c.certificate.is_empty() {
        b.set_certificate_chain_file(&c.certificate)
            .map_err(|e| format!("cannot load certificate \"{}\": {}", c.certificate, error_text(&e)))?;
        b.set_private_key_file(&c.key, openssl::ssl::SslFiletype::PEM)
            .map_err(|e| format!("cannot load certificate key \"{}\": {}", c.key, error_text(&e)))?;
    }
    let ctx = b.build();
    CLIENT_CONTEXTS.with(|m| m.borrow_mut().insert(c.clone(), ctx.clone()));
    Ok(ctx)
}

/// Why a server's certificate was not accepted.
pub enum PeerRefused {
    /// OpenSSL's verification result (its code and text).
    Verify(i32, String),
    /// The certificate does not name the host.
    Host,
}

/// nginx's checks of an upstream's (or a cosocket peer's) certificate after the
/// handshake: the chain's verification, then the name (`host`, when given).
pub fn verify_peer(t: &TlsStream, host: Option<&str>) -> Result<(), PeerRefused> {
    t.with_ssl(|ssl| {
        let v = ssl.verify_result();
        if v.as_raw() != 0 {
            return Err(PeerRefused::Verify(v.as_raw(), v.error_string().to_string()));
        }
        let Some(cert) = ssl.peer_certificate() else {
            return Err(PeerRefused::Verify(50, "application verification failure".to_string()));
        };
        match host {
            Some(h) if !names_host(&cert, h) => Err(PeerRefused::Host),
            _ => Ok(()),
        }
    })
}

/// Whether a certificate names `host`: its DNS names (a `*` for the leftmost label), or
/// its common name when it has none (as X509_check_host).
fn names_host(cert: &openssl::x509::X509Ref, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let matches = |pattern: &str| {
        let p = pattern.to_ascii_lowercase();
        match p.strip_prefix("*.") {
            Some(rest) => host
                .split_once('.')
                .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
            None => p == host,
        }
    };
    if let Some(names) = cert.subject_alt_names() {
        let dns: Vec<&str> = names.iter().filter_map(|n| n.dnsname()).collect();
        if !dns.is_empty() {
            return dns.iter().any(|n| matches(n));
        }
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            let octets = match ip {
                std::net::IpAddr::V4(a) => a.octets().to_vec(),
                std::net::IpAddr::V6(a) => a.octets().to_vec(),
            };
            if names.iter().any(|n| n.ipaddress() == Some(&octets[..])) {
                return true;
            }
        }
    }
    cert.subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .filter_map(|e| e.data().to_string().ok())
        .any(|cn| matches(&cn))
}

/// Steps a handshake until it ends: waits for the socket as OpenSSL asks, and runs the
/// certificate hook (`hook_run`) when OpenSSL says its callback waits.
async fn handshake<F: Future<Output = ()>>(
    t: &TlsStream,
    mut step: impl FnMut() -> Result<(), openssl::ssl::Error>,
    mut hook_run: impl FnMut() -> F,
    timeout: Duration,
    timed_out: &str,
) -> Result<(), HandshakeFailure> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let e = match step() {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let ready = match e.code() {
            c if c.as_raw() == openssl_sys::SSL_ERROR_WANT_X509_LOOKUP
                || c.as_raw() == openssl_sys::SSL_ERROR_WANT_CLIENT_HELLO_CB =>
            {
                tokio::time::timeout_at(deadline, async {
                    hook_run().await;
                    Ok(())
                })
                .await
            }
            ErrorCode::WANT_READ => {
                tokio::time::timeout_at(deadline, std::future::poll_fn(|cx| t.sock.poll_read_ready(cx))).await
            }
            ErrorCode::WANT_WRITE => {
                tokio::time::timeout_at(deadline, std::future::poll_fn(|cx| t.sock.poll_write_ready(cx))).await
            }
            _ => {
                t.broken.set(true);
                return Err(handshake_error(e));
            }
        };
        match ready {
            Err(_) => {
                t.broken.set(true);
                return Err(HandshakeFailure::new(Level::Info, timed_out));
            }
            Ok(Err(e)) => {
                t.broken.set(true);
                return Err(HandshakeFailure::new(Level::Info, format!("{e}")));
            }
            Ok(Ok(())) => {}
        }
    }
}

/// nginx's words for a failed handshake (ngx_ssl_handshake, ngx_ssl_connection_error):
/// what the client caused is logged at info, the rest at crit.
fn handshake_error(e: openssl::ssl::Error) -> HandshakeFailure {
    let stack = e.ssl_error().cloned();
    match (e.code(), e.into_io_error()) {
        (_, Ok(io)) => {
            let level = match io.kind() {
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::NotConnected => Level::Info,
                _ => Level::Crit,
            };
            let errno = io.raw_os_error().unwrap_or(0);
            HandshakeFailure::new(
                level,
                format!(
                    "SSL_do_handshake() failed (SSL: error:80000{errno:03X}:system library::{})",
                    strip_os(&io)
                ),
            )
        }
        (ErrorCode::SYSCALL, Err(_)) | (ErrorCode::ZERO_RETURN, Err(_))
            if stack.as_ref().is_none_or(|s| s.errors().is_empty()) =>
        {
            HandshakeFailure::new(Level::Info, "peer closed connection in SSL handshake")
        }
        (_, Err(e)) => {
            let stack = stack.unwrap_or_else(ErrorStack::get);
            let level = if stack.errors().iter().any(|x| x.reason().is_some_and(client_caused)) {
                Level::Info
            } else {
                Level::Crit
            };
            let text = if stack.errors().is_empty() {
                e.to_string()
            } else {
                error_text(&stack)
            };
            HandshakeFailure::new(level, format!("SSL_do_handshake() failed {text}"))
        }
    }
}

fn strip_os(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Reasons that say the client sent something wrong (nginx logs them at info).
fn client_caused(reason: &str) -> bool {
    const REASONS: &[&str] = &[
        "no shared cipher",
        "wrong version number",
        "http request",
        "https proxy request",
        "unsupported protocol",
        "version too low",
        "unknown protocol",
        "bad key share",
        "no suitable key share",
        "no shared group",
        "length mismatch",
        "unexpected message",
        "unexpected record",
        "record length mismatch",
        "no ciphers specified",
        "no ciphers passed",
        "no protocols available",
        "excessive message size",
        "packet length too long",
        "bad packet length",
        "decryption failed or bad record mac",
        "unexpected eof while reading",
        "bad record type",
        "inappropriate fallback",
        "unknown alert type",
        "callback failed",
        "peer did not return a certificate",
        "certificate verify failed",
    ];
    REASONS.contains(&reason)
        || reason.starts_with("sslv3 alert")
        || reason.starts_with("tlsv1 alert")
        || reason.starts_with("tlsv13 alert")
}

/// OpenSSL's queued errors as nginx prints them:
/// `(SSL: error:0A0000C1:SSL routines::no shared cipher)`.
pub fn error_text(stack: &ErrorStack) -> String {
    let mut s = String::from("(SSL:");
    for e in stack.errors() {
        s.push_str(&format!(
            " error:{:08X}:{}::{}",
            e.code(),
            e.library().unwrap_or("unknown library"),
            e.reason().unwrap_or("reason(0)")
        ));
        if let Some(d) = e.data() {
            s.push(':');
            s.push_str(d);
        }
    }
    s.push(')');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ssl::SslMethod;

    fn server_context() -> SslContext {
        let key = openssl::pkey::PKey::ec_gen("prime256v1").unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "test.local").unwrap();
        let name = name.build();
        let mut cert = openssl::x509::X509Builder::new().unwrap();
        cert.set_version(2).unwrap();
        cert.set_subject_name(&name).unwrap();
        cert.set_issuer_name(&name).unwrap();
        cert.set_pubkey(&key).unwrap();
        cert.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        cert.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        cert.sign(&key, openssl::hash::MessageDigest::sha256()).unwrap();
        let mut b = openssl::ssl::SslContextBuilder::new(SslMethod::tls_server()).unwrap();
        b.set_certificate(&cert.build()).unwrap();
        b.set_private_key(&key).unwrap();
        // (as modules/ssl.rs makes them)
        b.set_read_ahead(true);
        b.build()
    }

    fn picked(ctx: &SslContext) -> Picked {
        Picked {
            context: ctx.clone(),
            hooks: Hooks::default(),
        }
    }

    fn facts() -> HandshakeFacts {
        HandshakeFacts::new(None, None, Rc::from(""), 0)
    }

    /// A server and a client session over a socket pair, handshaken (the server writes
    /// records of at most `record_limit` bytes).
    async fn session_pair(record_limit: usize) -> (TlsStream, TlsStream) {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        let ctx = server_context();
        let server = async {
            accept(
                Stream::Unix(a),
                picked(&ctx),
                Rc::new(|_| None),
                facts(),
                record_limit,
                Duration::from_secs(5),
            )
            .await
            .unwrap()
        };
        let client = async {
            let mut c = openssl::ssl::SslContextBuilder::new(SslMethod::tls_client()).unwrap();
            c.set_verify(SslVerifyMode::NONE);
            let offer = Offer {
                server_name: Some("test.local"),
                ..Offer::default()
            };
            connect(Stream::Unix(b), &c.build(), offer, Duration::from_secs(5))
                .await
                .unwrap()
        };
        tokio::join!(server, client)
    }

    /// Both sides over a socket pair on one event loop: the handshake, then bytes both
    /// ways through the `&self` methods, a large write in small records, and the end.
    #[test]
    fn handshake_and_bytes_both_ways() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (s, c) = session_pair(4096).await;
            let (s, c) = (Stream::Tls(Box::new(s)), Stream::Tls(Box::new(c)));
            let big = vec![7u8; 100_000];
            let send = async {
                let mut io = crate::io::Io::new(s);
                io.write_all(&big, Duration::from_secs(5)).await.unwrap();
                io.stream.shutdown_write();
                io
            };
            let recv = async {
                let mut io = crate::io::Io::new(c);
                let mut got = 0;
                loop {
                    match io.fill(65536, Duration::from_secs(5)).await {
                        Ok(_) => {
                            got += io.pending().len();
                            let n = io.pending().len();
                            io.consume(n);
                        }
                        Err(crate::io::ReadError::Closed) => break,
                        Err(e) => panic!("{e:?}"),
                    }
                }
                got
            };
            let (_io, got) = tokio::join!(send, recv);
            assert_eq!(got, big.len());
        });
    }

    /// Records that arrive together (pipelined requests) are all read, though the first
    /// read takes them all from the socket: readiness is kept while the session holds
    /// some; records that come later wake the reader.
    #[test]
    fn records_read_ahead_are_not_lost() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (s, c) = session_pair(16384).await;
            let mut server = crate::io::Io::new(Stream::Tls(Box::new(s)));
            let client = Stream::Tls(Box::new(c));
            // three records at once, then one more a moment later
            for part in [&b"one "[..], b"two ", b"three "] {
                assert_eq!(client.try_write(part).unwrap(), part.len());
            }
            let late = async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                assert_eq!(client.try_write(b"four").unwrap(), 4);
            };
            let read = async {
                let mut got = Vec::new();
                while got.len() < 18 {
                    server
                        .fill(4096, Duration::from_secs(2))
                        .await
                        .expect("no record is lost");
                    got.extend_from_slice(server.pending());
                    let n = server.pending().len();
                    server.consume(n);
                }
                got
            };
            let (_, got) = tokio::join!(late, read);
            assert_eq!(got, b"one two three four");
        });
    }

    #[test]
    fn plain_bytes_fail_the_handshake_at_info() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (a, b) = tokio::net::UnixStream::pair().unwrap();
            b.try_write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let ctx = server_context();
            let e = accept(
                Stream::Unix(a),
                picked(&ctx),
                Rc::new(|_| None),
                facts(),
                16384,
                Duration::from_secs(5),
            )
            .await
            .err()
            .unwrap();
            assert_eq!(e.level, Level::Info, "{}", e.text);
            assert!(e.text.contains("SSL routines::http request"), "{}", e.text);
            drop(b);
        });
    }

    #[test]
    fn a_silent_client_times_out() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (a, _b) = tokio::net::UnixStream::pair().unwrap();
            let ctx = server_context();
            let e = accept(
                Stream::Unix(a),
                picked(&ctx),
                Rc::new(|_| None),
                facts(),
                16384,
                Duration::from_millis(50),
            )
            .await
            .err()
            .unwrap();
            assert!(e.text.starts_with("client timed out"), "{}", e.text);
        });
    }
}
