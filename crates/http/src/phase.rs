//! The phase engine's vocabulary: nginx's phases, what a handler answers, and the per-location
//! table of handlers. Handlers may be async (Lua yields on I/O); sync ones cost no allocation.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::request::Request;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    PostRead,
    ServerRewrite,
    FindConfig,
    Rewrite,
    PostRewrite,
    Preaccess,
    Access,
    PostAccess,
    Precontent,
    Content,
    Log,
}

/// What a phase handler decided (nginx's NGX_DECLINED / NGX_OK / status / NGX_DONE).
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Not mine: run the next handler of this phase.
    Next,
    /// This phase is done: go to the next phase.
    PhaseDone,
    /// Access granted (nginx's NGX_OK in the access phase): under `satisfy all` the next
    /// handler still has its say, under `satisfy any` the access phase is over.
    Granted,
    /// Finish the request with this status (its error page if nothing was sent yet).
    Finish(u16),
    /// The handler answered completely (headers and body are out).
    Done,
    /// Restart at find-config with the request's (changed) URI: an internal redirect.
    Redirect(String),
    /// Jump to a named location (`@name`).
    Named(String),
}

pub type LocalFuture<'a> = Pin<Box<dyn Future<Output = Flow> + 'a>>;

pub enum Step<'a> {
    Ready(Flow),
    Pending(LocalFuture<'a>),
}

pub trait Handler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a>;
}

/// Runs after the response head is built, before it is written (may change it).
pub trait HeaderFilter {
    fn filter(&self, r: &mut Request);
    /// It runs user script code (Lua): output produced where that code cannot be
    /// re-entered (a JIT-compiled FFI call) must take another way to reach it.
    fn runs_script(&self) -> bool {
        false
    }
}

/// Sees each body chunk on its way out; may change, drop or end the stream.
pub trait BodyFilter {
    fn filter(&self, r: &mut Request, chunk: &mut Vec<u8>, eof: &mut bool);
    /// Whether it will touch this response's body (asked once the head is decided: a
    /// filter that passes the body as it is leaves sendfile(2) possible).
    fn active(&self, _r: &Request) -> bool {
        true
    }
    /// As `HeaderFilter::runs_script`.
    fn runs_script(&self) -> bool {
        false
    }
}

/// Runs in the log phase, after the response is out.
pub trait LogHandler {
    fn log(&self, r: &mut Request) -> LogStep;
    /// As `HeaderFilter::runs_script` (a request refused before it was read whole runs
    /// only the others).
    fn runs_script(&self) -> bool {
        false
    }
}

/// What a log handler did.
pub enum LogStep {
    Done,
    /// It waits (Lua code on a socket or a timer): the connection goes on without the
    /// request, which finishes its log phase on its own (`engine::finish_log`).
    Wait(Box<dyn LogWait>),
}

/// The rest of a log handler that waits.
pub trait LogWait {
    fn finish<'a>(self: Box<Self>, r: &'a mut Request) -> Pin<Box<dyn Future<Output = ()> + 'a>>;
}

#[derive(Default, Clone)]
pub struct PhaseTable {
    /// Server level only: once per request, before server-rewrite (realip's place).
    pub post_read: Vec<Rc<dyn Handler>>,
    pub rewrite: Vec<Rc<dyn Handler>>,
    pub preaccess: Vec<Rc<dyn Handler>>,
    pub access: Vec<Rc<dyn Handler>>,
    pub precontent: Vec<Rc<dyn Handler>>,
    /// The location's content handler (nginx's `clcf->handler`).
    pub content: Option<Rc<dyn Handler>>,
    /// Without one, the content phase's handlers (index, autoindex, static), in order,
    /// until one answers.
    pub content_phase: Vec<Rc<dyn Handler>>,
    pub header_filters: Vec<Rc<dyn HeaderFilter>>,
    pub body_filters: Vec<Rc<dyn BodyFilter>>,
    pub log: Vec<Rc<dyn LogHandler>>,
}

/// Runs one handler to its decision.
pub async fn run(h: &dyn Handler, r: &mut Request) -> Flow {
    match h.handle(r) {
        Step::Ready(f) => f,
        Step::Pending(fut) => fut.await,
    }
}
