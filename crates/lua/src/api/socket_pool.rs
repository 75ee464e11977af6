//! The worker's keepalive pools of cosocket connections (`setkeepalive`), keyed by
//! `host:port`, `unix:path` or the `pool` a connect named. A full pool closes its least
//! recently used connection to make room. An idle connection that its peer closed or
//! sent anything on is closed, as nginx closes an idle upstream connection on any read
//! event: when it would be handed out, and by a sweep every second, which also closes
//! the connections idle for longer than their timeout. (No task per idle connection:
//! putting one back and taking it again must cost next to nothing.)

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use rustc_hash::{FxHashMap, FxHashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::socket_tcp::Stream;

/// A connection waiting in a pool.
struct Idle {
    stream: Rc<Stream>,
    reused: u32,
    /// When it is closed if nobody takes it.
    until: Option<Instant>,
}

impl Idle {
    /// Whether it can be handed out: open, nothing unread, not expired.
    fn usable(&self, now: Instant) -> bool {
        self.until.is_none_or(|t| now < t) && !self.stream.has_data()
    }
}

thread_local! {
    /// Most recently parked last, per key.
    static POOLS: RefCell<FxHashMap<Rc<str>, VecDeque<Idle>>> = RefCell::new(FxHashMap::default());
    static SWEEPING: Cell<bool> = const { Cell::new(false) };
    /// Pool keys made before, shared (a connect to a known peer allocates no key).
    static KEYS: RefCell<(FxHashSet<Rc<str>>, String)> = RefCell::new(Default::default());
}

/// Keys kept at most; beyond, the set starts again (peers named by many distinct
/// addresses must not grow it without bound).
const KEYS_KEPT: usize = 4096;

/// The pool key `host:port`, shared with the sockets that used it before.
pub fn key(host: &str, port: u16) -> Rc<str> {
    KEYS.with(|k| {
        let (set, scratch) = &mut *k.borrow_mut();
        // (written out: `write!` costs more than the lookup it keys)
        let mut digits = [0u8; 20];
        scratch.clear();
        scratch.push_str(host);
        scratch.push(':');
        scratch.extend(
            http::output::format_digits(u64::from(port), 10, &mut digits)
                .iter()
                .map(|&d| char::from(d)),
        );
        intern(set, scratch)
    })
}

/// `name` (a `unix:` path, or a pool the user named) as a shared key.
pub fn key_of(name: &str) -> Rc<str> {
    KEYS.with(|k| intern(&mut k.borrow_mut().0, name))
}

fn intern(set: &mut FxHashSet<Rc<str>>, name: &str) -> Rc<str> {
    if let Some(k) = set.get(name) {
        return k.clone();
    }
    if set.len() >= KEYS_KEPT {
        set.clear();
    }
    let k: Rc<str> = Rc::from(name);
    set.insert(k.clone());
    k
}

/// A connection from pool `key`, with the times it was reused before, if a usable one
/// waits (unusable ones met on the way are closed).
pub fn take(key: &str) -> Option<(Rc<Stream>, u32)> {
    let now = http::time::coarse_instant();
    POOLS.with(|p| {
        let mut p = p.borrow_mut();
        let pool = p.get_mut(key)?;
        while let Some(idle) = pool.pop_back() {
            if idle.usable(now) {
                return Some((idle.stream, idle.reused));
            }
        }
        None
    })
}

/// Parks a connection in pool `key` (at most `size` there) for up to `timeout`
/// (`None`: no limit), on the coarse clock (nginx times it on its cached clock).
pub fn put(key: &Rc<str>, stream: Rc<Stream>, reused: u32, size: usize, timeout: Option<Duration>) {
    let until = timeout.map(|t| http::time::coarse_instant() + t);
    POOLS.with(|p| {
        let mut p = p.borrow_mut();
        let pool = match p.get_mut(key) {
            Some(pool) => pool,
            None => p.entry(key.clone()).or_default(),
        };
        while pool.len() >= size.max(1) {
            pool.pop_front();
        }
        pool.push_back(Idle { stream, reused, until });
    });
    if !SWEEPING.with(|s| s.replace(true)) {
        tokio::task::spawn_local(sweep());
    }
}

/// Closes expired and unusable idle connections every second while any are pooled.
async fn sweep() {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = http::time::coarse_instant();
        let left = POOLS.with(|p| {
            let mut p = p.borrow_mut();
            p.retain(|_, pool| {
                pool.retain(|idle| idle.usable(now));
                !pool.is_empty()
            });
            p.len()
        });
        if left == 0 {
            SWEEPING.with(|s| s.set(false));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_shared_and_bounded() {
        let a = key("127.0.0.1", 6379);
        assert_eq!(&*a, "127.0.0.1:6379");
        assert!(Rc::ptr_eq(&a, &key("127.0.0.1", 6379)));
        assert!(Rc::ptr_eq(&key_of("unix:/tmp/s"), &key_of("unix:/tmp/s")));
        assert!(!Rc::ptr_eq(&a, &key("127.0.0.1", 6380)));
        for port in 0..(KEYS_KEPT as u16 + 10) {
            key("10.0.0.1", port);
        }
        KEYS.with(|k| assert!(k.borrow().0.len() <= KEYS_KEPT));
        // (a key handed out before stays valid after the set started again)
        assert_eq!(&*a, "127.0.0.1:6379");
    }
}
