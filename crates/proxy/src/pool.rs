//! An upstream's keepalive pool in one worker (nginx's keepalive module): idle
//! connections, most recently kept last, at most `keepalive N` of them (the least recently
//! used is closed to make room), each kept for the server it was made to.
//!
//! Beyond nginx, two things save the connects and closes that `keepalive N` below the
//! number of requests in flight costs under load:
//! - A request that finds none idle waits up to two turns of the worker's loop before it
//!   connects. The requests ready meanwhile, and the answers the loop's polls bring, run
//!   first; a connection one of them releases is handed to the request that has waited
//!   longest, instead of being kept idle while the waiting one connects.
//! - Connections beyond N that a burst leaves idle are closed once they have idled for
//!   `SURPLUS_GRACE` (at the next release or sweep), not at once: the next burst, usually
//!   moments later, takes them instead of connecting again. Between bursts, and within
//!   two seconds of the last, at most N are idle, as nginx keeps them.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::upstream::PeerAddr;

/// What a kept connection is kept for: its server's address, the host name a balancer
/// gave with it, and the local address it was bound to (`proxy_bind`,
/// `bind_to_local_addr`: one bound elsewhere is not handed out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolKey {
    pub addr: PeerAddr,
    pub host: Option<Rc<str>>,
    pub local: Option<SocketAddr>,
}

/// A connection to a server, with what keepalive limits count.
pub struct Conn {
    pub stream: http::io::Stream,
    pub born: Instant,
    /// Requests it served.
    pub requests: u64,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

/// An idle keepalive connection.
#[derive(Debug)]
struct Idle {
    key: PoolKey,
    conn: Conn,
    since: Instant,
    timeout: Duration,
}

impl Idle {
    /// Still fit for a request: within its timeout, and its server has neither closed it
    /// nor sent anything on it.
    fn good(&self, now: Instant) -> bool {
        now.duration_since(self.since) < self.timeout && !self.conn.stream.has_data()
    }
}

/// A request waiting for a connection to `key`.
#[derive(Debug)]
struct Waiter {
    key: PoolKey,
    handed: RefCell<Option<Conn>>,
    waker: RefCell<Option<Waker>>,
}

/// Turns of the loop a request waits for a released connection before it connects (under
/// D-lua's load, a balancer choosing between two servers, one turn left 34 connects per
/// 1,000 requests, two 18; a wait ends as soon as a connection is handed over).
const WAIT_TURNS: usize = 2;

/// How long a connection beyond `keepalive N` may stay idle (D, 50 clients over
/// `keepalive 32`: 16-31 connects per 1,000 requests closing the surplus at once, 1.4 with
/// a second's grace; docs/benchmarks.md).
const SURPLUS_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Pool {
    idle: RefCell<VecDeque<Idle>>,
    /// Requests waiting for a connection, the longest waiting first.
    waiting: RefCell<VecDeque<Rc<Waiter>>>,
    /// `keepalive N` as the latest release gave it: what the sweep trims the idle list to.
    cap: Cell<usize>,
}

impl Pool {
    /// An idle connection for `key`, the most recently kept one that is still good (one
    /// its server closed or sent anything on, or that idled too long, is closed on the
    /// way). Only those taken are looked at: the sweep closes the others in time.
    pub fn take(&self, key: &PoolKey) -> Option<Conn> {
        let mut idle = self.idle.borrow_mut();
        let now = http::time::coarse_instant();
        while let Some(at) = idle.iter().rposition(|i| i.key == *key) {
            let i = idle.remove(at)?;
            if i.good(now) {
                return Some(i.conn);
            }
        }
        None
    }

    /// A connection whose answer ended cleanly: to the request waiting longest for one to
    /// its server, else kept idle for `timeout` (at most `cap` idle: the least recently used
    /// are closed to make room once they have idled for `SURPLUS_GRACE`). True when it was
    /// kept idle.
    pub fn keep(&self, key: PoolKey, conn: Conn, timeout: Duration, cap: usize) -> bool {
        self.keep_at(key, conn, timeout, cap, http::time::coarse_instant())
    }

    fn keep_at(&self, key: PoolKey, conn: Conn, timeout: Duration, cap: usize, now: Instant) -> bool {
        let waiter = {
            let mut waiting = self.waiting.borrow_mut();
            let at = waiting.iter().position(|w| w.key == key);
            at.and_then(|at| waiting.remove(at))
        };
        if let Some(w) = waiter {
            *w.handed.borrow_mut() = Some(conn);
            if let Some(waker) = w.waker.borrow_mut().take() {
                waker.wake();
            }
            return false;
        }
        self.cap.set(cap);
        let mut idle = self.idle.borrow_mut();
        close_surplus(&mut idle, cap.saturating_sub(1), now);
        idle.push_back(Idle {
            key,
            conn,
            since: now,
            timeout,
        });
        true
    }

    /// None idle for `key`: waits up to `WAIT_TURNS` turns of the loop for a connection
    /// another request releases meanwhile (None: none came; connect).
    pub async fn wait(&self, key: &PoolKey) -> Option<Conn> {
        let waiter = Rc::new(Waiter {
            key: key.clone(),
            handed: RefCell::default(),
            waker: RefCell::default(),
        });
        self.waiting.borrow_mut().push_back(waiter.clone());
        let _leave = Leave {
            pool: self,
            waiter: &waiter,
        };
        for _ in 0..WAIT_TURNS {
            // (tokio's yield wakes the task after the runtime's next poll of its driver)
            let mut turn = pin!(tokio::task::yield_now());
            poll_fn(|cx| {
                if waiter.handed.borrow().is_some() {
                    return Poll::Ready(());
                }
                *waiter.waker.borrow_mut() = Some(cx.waker().clone());
                turn.as_mut().poll(cx)
            })
            .await;
            if waiter.handed.borrow().is_some() {
                break;
            }
        }
        waiter.handed.borrow_mut().take()
    }

    /// Closes idle connections past their timeout or closed by their server, and those
    /// beyond `keepalive N` past their grace; true while any are left.
    pub fn sweep(&self) -> bool {
        self.sweep_at(http::time::coarse_instant())
    }

    fn sweep_at(&self, now: Instant) -> bool {
        let mut idle = self.idle.borrow_mut();
        idle.retain(|i| i.good(now));
        close_surplus(&mut idle, self.cap.get(), now);
        !idle.is_empty()
    }
}

/// Closes the least recently used idle connections beyond `keep` that have idled for
/// `SURPLUS_GRACE` (the list runs from the least recently kept).
fn close_surplus(idle: &mut VecDeque<Idle>, keep: usize, now: Instant) {
    while idle.len() > keep
        && idle
            .front()
            .is_some_and(|i| now.saturating_duration_since(i.since) >= SURPLUS_GRACE)
    {
        idle.pop_front();
    }
}

/// A waiting request leaves the line when its wait ends or it is dropped (a connection
/// handed to a dropped one closes).
struct Leave<'a> {
    pool: &'a Pool,
    waiter: &'a Rc<Waiter>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.pool.waiting.borrow_mut().retain(|w| !Rc::ptr_eq(w, self.waiter));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;

    fn key(port: u16) -> PoolKey {
        PoolKey {
            addr: PeerAddr::Inet(SocketAddr::from(([127, 0, 0, 1], port))),
            host: None,
            local: None,
        }
    }

    /// A connection marked by its request count (its peer end kept open beside it).
    fn conn(mark: u64) -> (Conn, tokio::net::UnixStream) {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        let c = Conn {
            stream: http::io::Stream::Unix(a),
            born: Instant::now(),
            requests: mark,
        };
        (c, b)
    }

    async fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        let mut f = Some(f);
        poll_fn(|cx| Poll::Ready(f.take().map_or(Poll::Pending, |f| f.poll(cx)))).await
    }

    fn run(test: impl Future<Output = ()>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(test);
    }

    const IDLE: Duration = Duration::from_secs(60);

    #[test]
    fn a_released_connection_goes_to_the_longest_waiting_request_for_its_server() {
        run(async {
            let pool = Pool::default();
            let (k1, k2) = (key(1), key(2));
            let mut first = pin!(pool.wait(&k1));
            let mut other = pin!(pool.wait(&k2));
            let mut second = pin!(pool.wait(&k1));
            assert!(poll_once(first.as_mut()).await.is_pending());
            assert!(poll_once(other.as_mut()).await.is_pending());
            assert!(poll_once(second.as_mut()).await.is_pending());
            let (a, _pa) = conn(10);
            let (b, _pb) = conn(20);
            assert!(!pool.keep(k1.clone(), a, IDLE, 4), "handed over, not kept idle");
            assert!(!pool.keep(k1.clone(), b, IDLE, 4));
            let got = |p: Poll<Option<Conn>>| match p {
                Poll::Ready(c) => c.map(|c| c.requests),
                Poll::Pending => panic!("still waiting"),
            };
            assert_eq!(got(poll_once(first.as_mut()).await), Some(10));
            assert_eq!(got(poll_once(second.as_mut()).await), Some(20));
            // the one waiting for another server got nothing, and gives up after its turn
            assert_eq!(other.await.map(|c| c.requests), None);
            assert!(pool.waiting.borrow().is_empty());
            // with no one waiting, a released connection is kept idle
            let (c, _pc) = conn(30);
            assert!(pool.keep(k1.clone(), c, IDLE, 4));
            assert_eq!(pool.take(&k1).map(|c| c.requests), Some(30));
        });
    }

    #[test]
    fn a_wait_ends_after_its_turns_of_the_loop_and_a_dropped_waiter_leaves_the_line() {
        run(async {
            let pool = Pool::default();
            let k = key(1);
            assert!(pool.wait(&k).await.is_none(), "nothing released: connect");
            let mut gone = Box::pin(pool.wait(&k));
            assert!(poll_once(gone.as_mut()).await.is_pending());
            assert_eq!(pool.waiting.borrow().len(), 1);
            drop(gone);
            assert!(pool.waiting.borrow().is_empty());
            let (c, _pc) = conn(1);
            assert!(
                pool.keep(k.clone(), c, IDLE, 4),
                "kept idle, not handed to the dropped one"
            );
            assert!(pool.take(&k).is_some());
        });
    }

    /// What is idle for `k`, the most recently kept first (taking each).
    fn take_all(pool: &Pool, k: &PoolKey) -> Vec<u64> {
        std::iter::from_fn(|| pool.take(k).map(|c| c.requests)).collect()
    }

    #[test]
    fn connections_beyond_the_cap_are_closed_least_recently_used_first_after_their_grace() {
        run(async {
            let pool = Pool::default();
            let k = key(1);
            let start = Instant::now();
            let later = |ms| start + Duration::from_millis(ms);
            // a burst releases four over `keepalive 2`: all kept for the next burst
            let mut peers: Vec<_> = (1..=4)
                .map(|n| {
                    let (c, peer) = conn(n);
                    assert!(pool.keep_at(k.clone(), c, IDLE, 2, later(n * 10)));
                    peer
                })
                .collect();
            assert!(pool.sweep_at(later(900)));
            assert_eq!(pool.idle.borrow().len(), 4, "within the grace");
            // a second on, the next release closes those beyond the cap that idled a second
            let (c, peer) = conn(5);
            peers.push(peer);
            pool.keep_at(k.clone(), c, IDLE, 2, later(1_025));
            assert_eq!(take_all(&pool, &k), [5, 4, 3]);
            // without a release, the sweep trims to the cap
            for n in 6..=9 {
                let (c, peer) = conn(n);
                peers.push(peer);
                pool.keep_at(k.clone(), c, IDLE, 2, later(2_000 + n));
            }
            assert!(pool.sweep_at(later(2_500)));
            assert_eq!(pool.idle.borrow().len(), 4);
            assert!(pool.sweep_at(later(3_008)));
            assert_eq!(take_all(&pool, &k), [9, 8]);
        });
    }

    #[test]
    fn the_idle_list_is_capped_least_recently_used_first_and_taken_most_recent_first() {
        run(async {
            let pool = Pool::default();
            let k = key(1);
            let long_ago = Instant::now();
            let now = long_ago + 2 * SURPLUS_GRACE;
            let peers: Vec<_> = (1..=3)
                .map(|n| {
                    let (c, peer) = conn(n);
                    pool.keep_at(k.clone(), c, IDLE, 2, if n < 3 { long_ago } else { now });
                    peer
                })
                .collect();
            assert_eq!(pool.take(&k).map(|c| c.requests), Some(3));
            assert_eq!(pool.take(&k).map(|c| c.requests), Some(2));
            assert!(pool.take(&k).is_none(), "the first was closed to make room");
            // one its server closed is not handed out
            let (c, peer) = conn(4);
            pool.keep(k.clone(), c, IDLE, 2);
            drop(peer);
            // (its readiness is known once the runtime has polled its driver)
            tokio::task::yield_now().await;
            assert!(pool.take(&k).is_none());
            drop(peers);
        });
    }
}
