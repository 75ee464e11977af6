//! A worker's serving loop: listeners grouped by address, the accept loops with the
//! `worker_connections` cap, and graceful or fast stop.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::{HttpConf, ListenAddr, Server};
use crate::conn;
use crate::io::Stream;
use crate::log::Level;

/// The servers reachable through one listening address.
pub struct ListenGroup {
    pub addr: ListenAddr,
    pub servers: Vec<Rc<Server>>,
    pub default: usize,
    pub reuseport: bool,
    pub backlog: i32,
    /// Connections speak TLS (one `listen … ssl` for the address makes it so for all).
    pub ssl: bool,
}

/// Groups the servers of a config by listen address (nginx's ngx_http_optimize_servers).
pub fn listen_groups(conf: &HttpConf) -> Vec<ListenGroup> {
    let mut groups: Vec<ListenGroup> = Vec::new();
    for s in &conf.servers {
        for l in &s.listens {
            let g = match groups.iter_mut().position(|g| g.addr == l.addr) {
                Some(i) => &mut groups[i],
                None => {
                    groups.push(ListenGroup {
                        addr: l.addr.clone(),
                        servers: Vec::new(),
                        default: 0,
                        reuseport: false,
                        backlog: l.backlog,
                        ssl: false,
                    });
                    groups.last_mut().expect("just pushed")
                }
            };
            if !g.servers.iter().any(|x| Rc::ptr_eq(x, s)) {
                g.servers.push(s.clone());
            }
            if l.default_server {
                g.default = g.servers.len() - 1;
            }
            g.reuseport |= l.reuseport;
            g.ssl |= l.ssl;
        }
    }
    groups
}

/// A listening socket opened by the master, inherited by workers.
pub enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// Opens the socket for a group (in the master, before fork).
pub fn open(g: &ListenGroup) -> std::io::Result<Listener> {
    use socket2::{Domain, Socket, Type};
    match &g.addr {
        ListenAddr::Tcp(a) => {
            let s = Socket::new(Domain::for_address(*a), Type::STREAM, None)?;
            s.set_reuse_address(true)?;
            if g.reuseport {
                s.set_reuse_port(true)?;
            }
            if a.is_ipv6() {
                s.set_only_v6(true)?;
            }
            s.bind(&(*a).into())?;
            s.listen(g.backlog)?;
            s.set_nonblocking(true)?;
            Ok(Listener::Tcp(s.into()))
        }
        ListenAddr::Unix(p) => {
            let _ = std::fs::remove_file(p);
            let l = std::os::unix::net::UnixListener::bind(p)?;
            l.set_nonblocking(true)?;
            Ok(Listener::Unix(l))
        }
    }
}

/// How a worker is told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// TERM/INT: exit now.
    Fast,
    /// QUIT: stop accepting, let requests finish, close idle connections.
    Graceful,
}

struct State {
    active: Cell<usize>,
    /// Work other than connections that a graceful stop waits for (Lua timers).
    busy: Cell<usize>,
    shutting_down: Cell<bool>,
    next_conn: Cell<u64>,
    /// Wakers of connections idling between requests, woken when a graceful stop begins.
    idle: RefCell<Vec<Option<Waker>>>,
    idle_free: RefCell<Vec<usize>>,
    drained: Rc<Notify>,
    /// A graceful stop asked for from inside (`ngx.process.signal_graceful_exit`); a
    /// permit waits if it comes before `serve` does.
    quit: Rc<Notify>,
}

thread_local! {
    static STATE: State = State {
        active: Cell::new(0),
        busy: Cell::new(0),
        shutting_down: Cell::new(false),
        next_conn: Cell::new(1),
        idle: RefCell::new(Vec::new()),
        idle_free: RefCell::new(Vec::new()),
        drained: Rc::new(Notify::new()),
        quit: Rc::new(Notify::new()),
    };
}

/// Stops this worker gracefully, as QUIT does, from inside it.
pub fn request_graceful_stop() {
    STATE.with(|s| s.quit.notify_one());
}

/// True once a graceful stop began: connections finish their request and close.
pub fn shutting_down() -> bool {
    STATE.with(|s| s.shutting_down.get())
}

/// Resolves when a graceful stop begins; idle keepalive connections wait on it. A slot in
/// a worker-local list, not a `Notify`: no lock on the per-request path.
pub struct ShutdownWait {
    slot: Option<usize>,
}

pub fn shutdown_wait() -> ShutdownWait {
    ShutdownWait { slot: None }
}

impl Future for ShutdownWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        STATE.with(|s| {
            if s.shutting_down.get() {
                return Poll::Ready(());
            }
            let mut idle = s.idle.borrow_mut();
            match self.slot {
                Some(i) => {
                    if !idle[i].as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        idle[i] = Some(cx.waker().clone());
                    }
                }
                None => {
                    let i = match s.idle_free.borrow_mut().pop() {
                        Some(i) => {
                            idle[i] = Some(cx.waker().clone());
                            i
                        }
                        None => {
                            idle.push(Some(cx.waker().clone()));
                            idle.len() - 1
                        }
                    };
                    self.slot = Some(i);
                }
            }
            Poll::Pending
        })
    }
}

impl Drop for ShutdownWait {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            STATE.with(|s| {
                if let Some(w) = s.idle.borrow_mut().get_mut(i) {
                    *w = None;
                    s.idle_free.borrow_mut().push(i);
                }
            });
        }
    }
}

/// Work a graceful stop waits for, as it waits for connections (a Lua timer, pending or
/// running: on a stop it fires at once, "premature", and runs to its end); dropped when
/// that work is over.
pub struct BusyGuard(());

pub fn busy() -> BusyGuard {
    STATE.with(|s| s.busy.set(s.busy.get() + 1));
    BusyGuard(())
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        STATE.with(|s| {
            s.busy.set(s.busy.get() - 1);
            if s.active.get() + s.busy.get() == 0 {
                s.drained.notify_waiters();
            }
        });
    }
}

/// Connections and other work a graceful stop still waits for.
fn outstanding() -> usize {
    STATE.with(|s| s.active.get() + s.busy.get())
}

/// Counts a live connection for `worker_connections`; dropped when it closes.
pub struct ConnGuard;

impl Drop for ConnGuard {
    fn drop(&mut self) {
        STATE.with(|s| {
            s.active.set(s.active.get() - 1);
            if s.active.get() + s.busy.get() == 0 {
                s.drained.notify_waiters();
            }
        });
    }
}

/// Serves the listeners until `stop` resolves. Must run where `spawn_local` works (a
/// local runtime or a `LocalSet`).
pub async fn serve(
    groups: Vec<(Rc<ListenGroup>, Listener)>,
    conf: Rc<HttpConf>,
    worker_connections: usize,
    shutdown_timeout: Option<Duration>,
    stop: impl std::future::Future<Output = Stop>,
) {
    let mut accept_tasks = Vec::new();
    for (g, l) in groups {
        let conf = conf.clone();
        let acceptor = match Acceptor::new(l) {
            Ok(a) => a,
            Err(e) => {
                crate::elog!(Level::Emerg, 0, "listener {} unusable: {e}", g.addr);
                continue;
            }
        };
        let task = tokio::task::spawn_local(accept_loop(acceptor, g, conf, worker_connections));
        accept_tasks.push(task);
    }
    let quit = STATE.with(|s| s.quit.clone());
    let how = tokio::select! {
        how = stop => how,
        _ = quit.notified() => Stop::Graceful,
    };
    for t in &accept_tasks {
        t.abort();
    }
    if how == Stop::Fast {
        return;
    }
    crate::elog!(Level::Notice, 0, "gracefully shutting down");
    let drained = STATE.with(|s| {
        s.shutting_down.set(true);
        for w in s.idle.borrow_mut().iter_mut() {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
        s.drained.clone()
    });
    let wait = async {
        // (woken tasks, timers firing early among them, run before the first count)
        tokio::task::yield_now().await;
        while outstanding() > 0 {
            let n = drained.notified();
            if outstanding() == 0 {
                break;
            }
            n.await;
        }
    };
    match shutdown_timeout {
        Some(t) => {
            if tokio::time::timeout(t, wait).await.is_err() {
                crate::elog!(Level::Notice, 0, "worker_shutdown_timeout expired, closing connections");
            }
        }
        None => wait.await,
    }
}

fn admit(worker_connections: usize) -> Option<(u64, ConnGuard)> {
    STATE.with(|s| {
        if s.active.get() >= worker_connections {
            return None;
        }
        s.active.set(s.active.get() + 1);
        let id = s.next_conn.get();
        s.next_conn.set(id + 1);
        Some((id, ConnGuard))
    })
}

/// A worker's listening socket on the event loop.
enum Acceptor {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

impl Acceptor {
    fn new(l: Listener) -> std::io::Result<Acceptor> {
        Ok(match l {
            Listener::Tcp(l) => Acceptor::Tcp(tokio::net::TcpListener::from_std(l)?),
            Listener::Unix(l) => Acceptor::Unix(tokio::net::UnixListener::from_std(l)?),
        })
    }

    /// The next connection with its peer and local addresses (none for unix sockets).
    async fn accept(&self) -> std::io::Result<(Stream, Option<SocketAddr>, Option<SocketAddr>)> {
        match self {
            Acceptor::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                let local = s.local_addr().ok();
                Ok((Stream::Tcp(s), Some(peer), local))
            }
            Acceptor::Unix(l) => Ok((Stream::Unix(l.accept().await?.0), None, None)),
        }
    }
}

async fn accept_loop(l: Acceptor, g: Rc<ListenGroup>, conf: Rc<HttpConf>, max: usize) {
    loop {
        let (stream, peer, local) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                crate::elog!(Level::Alert, 0, "accept() failed ({e})");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some((id, guard)) = admit(max) else {
            crate::elog!(Level::Alert, 0, "{max} worker_connections are not enough");
            continue;
        };
        let g = g.clone();
        let conf = conf.clone();
        tokio::task::spawn_local(async move {
            conn::serve(stream, peer, local, id, g, conf).await;
            drop(guard);
        });
        // (one connection, then the others' turn, as nginx accepts one per event loop
        // turn: a burst of new connections would otherwise queue ahead of the work of
        // those already open, which for TLS handshakes doubled the slowest replies)
        tokio::task::yield_now().await;
    }
}
