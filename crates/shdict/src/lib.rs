//! `lua_shared_dict`: key-value dictionaries in shared memory, seen by every worker.
//!
//! - [`zone`]: the mappings (made by the master before fork, kept across reloads) and
//!   their lock, robust to a worker dying while it holds it;
//! - [`dict`]: the dictionary inside a zone (hash chains, LRU, TTLs, lists) over
//!   fixed-size blocks, so that it never fragments;
//! - [`lock`]: the process-shared lock: a pid word, taken over from a dead owner.
//!
//! Nothing here knows Lua: the `ngx.shared.DICT` API (crates/lua, `api/shdict.rs`)
//! calls these functions from its FFI entry points.

pub mod dict;
pub mod lock;
pub mod zone;

pub use dict::{Clock, Dict, Error, Failed, Found, Key, LazyNow, StoreOp, Value};
pub use zone::{Locked, Recovery, Zone, lock_at, name_at, on_recovery, open};

/// Now in milliseconds since the epoch: the clock TTLs are measured on (a wall clock,
/// the same in every process, as nginx's).
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec.max(0) as u64 * 1000 + ts.tv_nsec.max(0) as u64 / 1_000_000
}
