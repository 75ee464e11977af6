//! The worker's keepalive pools of cosocket connections (`setkeepalive`), keyed by
//! `host:port`, `unix:path` or the `pool` a connect named. An idle connection is watched:
//! the peer closing it, sending anything, or its idle timeout expiring closes it, as
//! nginx closes an idle upstream connection on any read event. A full pool closes its
//! least recently used connection to make room.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::socket_tcp::Stream;

/// A connection waiting in a pool.
struct Idle {
    id: u64,
    stream: Rc<Stream>,
    reused: u32,
    watcher: JoinHandle<()>,
}

#[derive(Default)]
struct Pool {
    /// Most recently parked last.
    idle: VecDeque<Idle>,
}

#[derive(Default)]
struct Pools {
    by_key: HashMap<String, Pool>,
    next_id: u64,
}

thread_local! {
    static POOLS: RefCell<Pools> = RefCell::new(Pools::default());
}

/// A connection from pool `key`, with the times it was reused before, if one waits.
pub fn take(key: &str) -> Option<(Rc<Stream>, u32)> {
    POOLS.with(|p| {
        let mut p = p.borrow_mut();
        let pool = p.by_key.get_mut(key)?;
        let idle = pool.idle.pop_back()?;
        idle.watcher.abort();
        Some((idle.stream, idle.reused))
    })
}

/// Parks a connection in pool `key` (at most `size` there) for up to `timeout`
/// (`None`: no limit).
pub fn put(key: &str, stream: Rc<Stream>, reused: u32, size: usize, timeout: Option<Duration>) {
    let id = POOLS.with(|p| {
        let mut p = p.borrow_mut();
        p.next_id += 1;
        p.next_id
    });
    let watched = stream.clone();
    let owner = key.to_string();
    let watcher = tokio::task::spawn_local(async move {
        let idle_for = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = watched.readable() => {}
            _ = idle_for => {}
        }
        drop(watched);
        forget(&owner, id);
    });
    POOLS.with(|p| {
        let mut p = p.borrow_mut();
        let pool = p.by_key.entry(key.to_string()).or_default();
        while pool.idle.len() >= size.max(1) {
            if let Some(oldest) = pool.idle.pop_front() {
                oldest.watcher.abort();
            }
        }
        pool.idle.push_back(Idle {
            id,
            stream,
            reused,
            watcher,
        });
    });
}

/// Drops connection `id` from pool `key` (closed by its watcher).
fn forget(key: &str, id: u64) {
    POOLS.with(|p| {
        let mut p = p.borrow_mut();
        if let Some(pool) = p.by_key.get_mut(key) {
            pool.idle.retain(|i| i.id != id);
            if pool.idle.is_empty() {
                p.by_key.remove(key);
            }
        }
    });
}
