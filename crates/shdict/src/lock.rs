//! The zone's lock: a word in the zone holding its owner's pid (0: free), taken with one
//! compare-and-swap and waited for on a futex.
//!
//! A worker may die (SIGKILL, a crash in user FFI code) while it holds the lock. A
//! waiter that has waited a while checks whether the pid in the word still runs; if not,
//! it takes the lock over and says so, so that the dictionary gets checked before use
//! (see [`crate::zone::lock_at`]). nginx gets the same effect by force-unlocking a dead
//! owner's lock from the master. (A robust pthread mutex does this too, but costs twice
//! as much per lock and unlock: the lock is taken for every dictionary call.)

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[repr(C)]
pub struct RawLock {
    owner: AtomicU32,
    waiters: AtomicU32,
}

/// How a lock was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    Clean,
    /// The previous owner died holding it: what it protects may be half-written.
    OwnerDied,
}

/// Spins before sleeping: the lock is held for well under a microsecond.
const SPINS: u32 = 200;
/// How long a waiter sleeps before looking whether the owner is still alive.
const WAIT: Duration = Duration::from_millis(10);

impl RawLock {
    /// Sets up the lock in place.
    ///
    /// # Safety
    /// `this` points at writable memory for a `RawLock` that no process uses yet.
    pub unsafe fn init(this: *mut RawLock) {
        cache_pid_per_process();
        // SAFETY: the caller's contract.
        unsafe {
            this.write(RawLock {
                owner: AtomicU32::new(0),
                waiters: AtomicU32::new(0),
            })
        };
    }

    /// Takes the lock, waiting for it.
    ///
    /// # Safety
    /// `this` was set up by [`RawLock::init`] and stays mapped.
    pub unsafe fn lock(this: *const RawLock) -> Acquired {
        // SAFETY: the caller's contract.
        let l = unsafe { &*this };
        let me = my_pid();
        if l.owner
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Acquired::Clean;
        }
        l.lock_contended(me)
    }

    #[cold]
    fn lock_contended(&self, me: u32) -> Acquired {
        let mut spins = 0;
        loop {
            let owner = self.owner.load(Ordering::Relaxed);
            if owner == 0 {
                if self
                    .owner
                    .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Acquired::Clean;
                }
                continue;
            }
            if spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            self.waiters.fetch_add(1, Ordering::SeqCst);
            futex_wait(&self.owner, owner, WAIT);
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            if self.owner.load(Ordering::Relaxed) == owner
                && !alive(owner)
                && self
                    .owner
                    .compare_exchange(owner, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return Acquired::OwnerDied;
            }
        }
    }

    /// # Safety
    /// This process holds the lock.
    pub unsafe fn unlock(this: *const RawLock) {
        // SAFETY: the caller's contract.
        let l = unsafe { &*this };
        // (SeqCst on both sides: a waiter counts itself before it sleeps, the owner frees
        // the word before it looks for waiters, so one of them sees the other)
        let _ = l.owner.swap(0, Ordering::SeqCst);
        if l.waiters.load(Ordering::SeqCst) != 0 {
            futex_wake(&l.owner);
        }
    }
}

fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: a futex wait on a word of the shared mapping; it returns at once when the
    // word no longer holds `expected`. No FUTEX_PRIVATE_FLAG: the word is shared.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, &ts) };
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: as futex_wait.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
}

/// Whether process `pid` still runs (a zombie does not: it died, not yet reaped).
fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')),
        Err(_) => rc == 0,
    }
}

/// This process's pid, cached (getpid is a system call); forgotten in a forked child.
static PID: AtomicU32 = AtomicU32::new(0);

fn my_pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

extern "C" fn forget_pid() {
    PID.store(0, Ordering::Relaxed);
}

fn cache_pid_per_process() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a child handler that only stores to an atomic.
        unsafe { libc::pthread_atfork(None, None, Some(forget_pid)) };
    });
}
