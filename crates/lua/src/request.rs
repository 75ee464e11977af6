//! The request a Lua callback acts on: set by the coroutine driver around each resume.

use std::cell::Cell;

use http::request::Request;

/// The phase the running Lua code belongs to (`ngx.get_phase()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Init,
    InitWorker,
    ExitWorker,
    /// `server_rewrite_by_lua*`: the server-rewrite phase (what the rewrite phase allows,
    /// it allows).
    ServerRewrite,
    Rewrite,
    Access,
    Content,
    HeaderFilter,
    BodyFilter,
    Log,
    Set,
    /// A timer's function (`ngx.timer.at`, `ngx.timer.every`).
    Timer,
    /// `balancer_by_lua*`: before each try of a proxied request.
    Balancer,
    /// `ssl_certificate_by_lua*`: in a handshake, before the certificate is used.
    SslCert,
    /// `ssl_client_hello_by_lua*`: in a handshake, once the ClientHello is read.
    SslClientHello,
    /// `ssl_session_fetch_by_lua*`: a client offers a session to resume.
    SslSessFetch,
    /// `ssl_session_store_by_lua*`: the server made a session (runs on its own, cannot
    /// wait, as OpenResty's).
    SslSessStore,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Init => "init",
            Phase::InitWorker => "init_worker",
            Phase::ExitWorker => "exit_worker",
            Phase::ServerRewrite => "server_rewrite",
            Phase::Rewrite => "rewrite",
            Phase::Access => "access",
            Phase::Content => "content",
            Phase::HeaderFilter => "header_filter",
            Phase::BodyFilter => "body_filter",
            Phase::Log => "log",
            Phase::Set => "set",
            Phase::Balancer => "balancer",
            Phase::SslCert => "ssl_certificate",
            Phase::SslClientHello => "ssl_client_hello",
            Phase::SslSessFetch => "ssl_session_fetch",
            Phase::SslSessStore => "ssl_session_store",
            Phase::Timer => "timer",
        }
    }
}

thread_local! {
    /// `ngx.exit(code)` called in a header filter, which cannot yield: as in OpenResty the
    /// call returns at once and the runner acts on the code afterwards.
    static SYNC_EXIT: Cell<Option<i64>> = const { Cell::new(None) };
    static CURRENT: Cell<*mut Request> = const { Cell::new(std::ptr::null_mut()) };
    static PHASE: Cell<Phase> = const { Cell::new(Phase::Init) };
}

/// Runs `f` (one coroutine resume) with `r` as the current request.
pub fn enter<T>(r: &mut Request, phase: Phase, f: impl FnOnce() -> T) -> T {
    let prev = CURRENT.with(|c| c.replace(r as *mut Request));
    let prev_phase = PHASE.with(|p| p.replace(phase));
    let out = f();
    CURRENT.with(|c| c.set(prev));
    PHASE.with(|p| p.set(prev_phase));
    out
}

/// Runs `f` in a phase that has no request (init, init_worker).
pub fn in_phase<T>(phase: Phase, f: impl FnOnce() -> T) -> T {
    let prev = CURRENT.with(|c| c.replace(std::ptr::null_mut()));
    let prev_phase = PHASE.with(|p| p.replace(phase));
    let out = f();
    CURRENT.with(|c| c.set(prev));
    PHASE.with(|p| p.set(prev_phase));
    out
}

/// An opaque handle of the current request (resty.core.base's `get_request()`), null
/// without one. init_worker and exit_worker answer one of their own, as OpenResty runs
/// them with a fake request. Never dereferenced by Lua.
pub fn handle() -> *const std::ffi::c_void {
    static FAKE_REQUEST: u8 = 0;
    let p = CURRENT.with(|c| c.get());
    if !p.is_null() {
        return p as *const std::ffi::c_void;
    }
    match phase() {
        Phase::InitWorker | Phase::ExitWorker => &FAKE_REQUEST as *const u8 as *const std::ffi::c_void,
        _ => std::ptr::null(),
    }
}

/// What a request-less run (a timer's) carries from the request that made it: what its
/// log lines end with, as nginx's log handler of OpenResty's fake connections writes
/// them (`, context: ngx.timer, client: …, server: …`), and that request's location,
/// whose settings (cosocket timeouts, `resolver`) apply to it.
#[derive(Clone)]
pub struct RunContext {
    pub log: std::rc::Rc<str>,
    pub loc: Option<std::rc::Rc<http::config::Location>>,
}

impl Default for RunContext {
    fn default() -> Self {
        RunContext {
            log: std::rc::Rc::from(""),
            loc: None,
        }
    }
}

thread_local! {
    static RUN_CONTEXT: std::cell::RefCell<RunContext> = std::cell::RefCell::new(RunContext::default());
}

/// Runs `f` (one resume of a request-less run) in `phase` with its context.
pub fn in_run<T>(phase: Phase, context: &RunContext, f: impl FnOnce() -> T) -> T {
    let prev = RUN_CONTEXT.with(|c| c.replace(context.clone()));
    let out = in_phase(phase, f);
    RUN_CONTEXT.with(|c| *c.borrow_mut() = prev);
    out
}

/// The location whose settings apply now: the request's, or the one a request-less run
/// came from.
pub fn location() -> Option<std::rc::Rc<http::config::Location>> {
    with(|r| Ok(r.loc.clone()))
        .ok()
        .or_else(|| RUN_CONTEXT.with(|c| c.borrow().loc.clone()))
}

/// What a log line made without a request ends with now.
pub fn log_context() -> std::rc::Rc<str> {
    RUN_CONTEXT.with(|c| c.borrow().log.clone())
}

/// The context of a timer made now: the request's client and server and location, when
/// there is one (else the run's it is made in).
pub fn timer_context() -> RunContext {
    let origin = with(|r| {
        let client = r.conn.peer.map_or_else(|| "unix:".to_string(), |p| p.ip().to_string());
        let server = r.conn.local.map(|l| l.to_string()).unwrap_or_default();
        Ok(format!(", client: {client}, server: {server}"))
    });
    RunContext {
        log: std::rc::Rc::from(format!(", context: ngx.timer{}", origin.unwrap_or_default())),
        loc: location(),
    }
}

pub fn phase() -> Phase {
    PHASE.with(|p| p.get())
}

/// Records an `ngx.exit` made where Lua cannot yield; false in the yielding phases.
pub fn record_sync_exit(code: i64) -> bool {
    if phase() == Phase::HeaderFilter {
        SYNC_EXIT.with(|e| e.set(Some(code)));
        true
    } else {
        false
    }
}

/// The code of an `ngx.exit` the last synchronous run made, if any (and forgets it).
pub fn take_sync_exit() -> Option<i64> {
    SYNC_EXIT.with(|e| e.take())
}

/// The request phases before the response: those that may produce it (ngx.say, flush,
/// eof, redirect, exec...), and make subrequests, set `ngx.on_abort`, take `ngx.req.socket`.
pub const OUTPUT_PHASES: Phases = Phases::of(&[Phase::ServerRewrite, Phase::Rewrite, Phase::Access, Phase::Content]);

/// The phases where light threads (ngx.thread) run; init_worker and log beyond
/// OpenResty (init_worker runs as a run of `sched`, to its end before the worker serves;
/// log's run goes on after its connection has moved on).
pub const THREAD_PHASES: Phases = Phases::of(&[
    Phase::Balancer,
    Phase::SslCert,
    Phase::SslClientHello,
    Phase::SslSessFetch,
    Phase::ServerRewrite,
    Phase::Rewrite,
    Phase::Access,
    Phase::Content,
    Phase::Timer,
    Phase::InitWorker,
    Phase::Log,
]);

/// The phases whose code can wait (a coroutine driver runs it).
pub const YIELD_PHASES: Phases = THREAD_PHASES;

/// A set of phases, one bit each: an API's check is one test (it runs on every call).
#[derive(Clone, Copy)]
pub struct Phases(u32);

// (every phase has its bit: the last one fits in 32)
const _: () = assert!((Phase::SslSessStore as u32) < 32);

impl Phases {
    pub const fn of(list: &[Phase]) -> Phases {
        let mut bits = 0;
        let mut i = 0;
        while i < list.len() {
            bits |= 1 << list[i] as u32;
            i += 1;
        }
        Phases(bits)
    }

    pub fn contains(self, p: Phase) -> bool {
        self.0 & (1 << p as u32) != 0
    }
}

/// Whether the output APIs may run now. In init_by_lua they are let through, to fail on
/// the missing request as in OpenResty (whose init_worker and exit_worker phases have a
/// context of their own, where the phase check refuses them).
pub fn output_allowed() -> bool {
    matches!(phase(), Phase::Init) || OUTPUT_PHASES.contains(phase())
}

/// [`check_context`] for the output APIs, see [`output_allowed`].
pub fn check_output() -> mlua::Result<()> {
    if output_allowed() {
        Ok(())
    } else {
        check_context(OUTPUT_PHASES)
    }
}

/// OpenResty's refusal of an API outside the phases it is meant for.
pub fn check_context(allowed: Phases) -> mlua::Result<()> {
    let now = phase();
    if allowed.contains(now) || (now == Phase::ServerRewrite && allowed.contains(Phase::Rewrite)) {
        Ok(())
    } else {
        Err(mlua::Error::runtime(match now {
            Phase::Timer => "API disabled in the context of ngx.timer".to_string(),
            _ => format!("API disabled in the context of {}_by_lua*", now.name()),
        }))
    }
}

/// The current request, for an API callback; Lua's error when there is none.
pub fn with<R>(f: impl FnOnce(&mut Request) -> mlua::Result<R>) -> mlua::Result<R> {
    let p = CURRENT.with(|c| c.get());
    if p.is_null() {
        // (OpenResty runs init_worker and exit_worker code with a fake request)
        return Err(mlua::Error::runtime(match phase() {
            Phase::InitWorker | Phase::ExitWorker => "API disabled in the current context",
            _ => "no request found",
        }));
    }
    // SAFETY: `enter` set this pointer from a `&mut Request` that the driver holds, for the
    // duration of one resume on this thread; callbacks run inside that resume and do not
    // nest, so this is the only live reference.
    f(unsafe { &mut *p })
}
