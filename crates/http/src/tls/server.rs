//! The server's side of a handshake: the address's default server block first, SNI
//! switching to the block of the name (its context, its verification, its hooks), and the
//! handshake hooks (`ssl_client_hello_by_lua*`, `ssl_certificate_by_lua*`, session
//! fetch/store): OpenSSL's callbacks start a hook's run and answer "retry"; the handshake
//! loop drives the run, then steps OpenSSL again, which asks the callback for the verdict.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use foreign_types::{ForeignType, ForeignTypeRef};
use openssl::error::ErrorStack;
use openssl::ssl::{Ssl, SslContext, SslContextRef, SslRef, SslVerifyMode};

use super::{HandshakeFailure, TlsStream, error_text, handshake};
use crate::io::Stream;
use crate::log::Level;

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
    /// Makes the bare request of the server block the handshake stands in (no head),
    /// whose variables certificate paths name, as nginx's certificate callback allocates.
    pub bare_request: Option<Rc<dyn Fn() -> crate::request::Request>>,
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
            bare_request: None,
        }
    }

    /// Runs `f` on the bare request of this handshake, whose `$ssl_*` variables read the
    /// session being negotiated (None without a session or a way to make the request).
    pub fn with_bare_request<T>(&self, f: impl FnOnce(&crate::request::Request) -> T) -> Option<T> {
        if self.ssl.is_null() {
            return None;
        }
        let mut r = (self.bare_request.as_ref()?)();
        r.set_ctx(HandshakeSession(self.ssl));
        // (the request, and the session pointer with it, ends here: `f` only borrows it)
        Some(f(&r))
    }

    /// What nginx's handshake lines end with: `, client: 1.2.3.4, server: 0.0.0.0:443`.
    pub fn log_suffix(&self) -> String {
        let client = self.peer.map_or_else(|| "unix:".to_string(), |p| p.ip().to_string());
        format!(", client: {client}, server: {}", self.listen)
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

/// The session of a handshake in progress, in its bare request (`with_bare_request`).
pub struct HandshakeSession(*mut openssl_sys::SSL);

impl HandshakeSession {
    pub fn with<T>(&self, f: impl FnOnce(&SslRef) -> T) -> T {
        // SAFETY: only `with_bare_request` makes one, for a request that lives within
        // that call, while the hook's handshake (and so the session) is alive.
        f(unsafe { SslRef::from_ptr(self.0) })
    }
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
    fn SSL_set_verify_depth(ssl: *mut openssl_sys::SSL, depth: std::ffi::c_int);
    fn SSL_CTX_set_cert_cb(
        ctx: *mut openssl_sys::SSL_CTX,
        cb: Option<extern "C" fn(*mut openssl_sys::SSL, *mut std::ffi::c_void) -> std::ffi::c_int>,
        arg: *mut std::ffi::c_void,
    );
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
