//! The zone's lock: a process-shared, robust pthread mutex living inside the zone.
//!
//! Robust, because a worker may die (SIGKILL, a crash in user FFI code) while it holds
//! the lock: the next locker is told so (`EOWNERDEAD`) instead of waiting forever, marks
//! the mutex consistent again and checks the dictionary before using it (see
//! [`crate::zone::Zone::lock`]). nginx gets the same effect by force-unlocking a dead
//! owner's lock from the master.

use std::mem::MaybeUninit;

/// A `pthread_mutex_t` set up for sharing across forked processes.
#[repr(C)]
pub struct RawLock {
    mutex: libc::pthread_mutex_t,
}

/// How a lock was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    Clean,
    /// The previous owner died holding it: what it protects may be half-written.
    OwnerDied,
}

impl RawLock {
    /// Sets up the mutex in place.
    ///
    /// # Safety
    /// `this` points at writable memory for a `RawLock` that no process uses yet.
    pub unsafe fn init(this: *mut RawLock) -> std::io::Result<()> {
        let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: the attribute object is initialised before use and destroyed after;
        // the mutex memory is the caller's, unused by anyone else yet.
        unsafe {
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let attr = attr.as_mut_ptr();
            let set = check(libc::pthread_mutexattr_setpshared(attr, libc::PTHREAD_PROCESS_SHARED))
                .and_then(|_| check(libc::pthread_mutexattr_setrobust(attr, libc::PTHREAD_MUTEX_ROBUST)))
                .and_then(|_| check(libc::pthread_mutex_init(&raw mut (*this).mutex, attr)));
            libc::pthread_mutexattr_destroy(attr);
            set
        }
    }

    /// Takes the lock, waiting for it.
    ///
    /// # Safety
    /// `this` was set up by [`RawLock::init`] and stays mapped.
    pub unsafe fn lock(this: *mut RawLock) -> Acquired {
        // SAFETY: the caller's contract.
        let rc = unsafe { libc::pthread_mutex_lock(&raw mut (*this).mutex) };
        match rc {
            0 => Acquired::Clean,
            libc::EOWNERDEAD => {
                // SAFETY: we own the mutex now; marking it consistent keeps it usable.
                unsafe { libc::pthread_mutex_consistent(&raw mut (*this).mutex) };
                Acquired::OwnerDied
            }
            // ENOTRECOVERABLE cannot happen (every EOWNERDEAD is made consistent) and
            // EDEADLK is not reported for default-type mutexes: a lock that cannot be
            // taken is a broken zone, which is no state to go on from.
            other => panic!("shared dict lock failed: {}", std::io::Error::from_raw_os_error(other)),
        }
    }

    /// # Safety
    /// The calling thread holds the lock.
    pub unsafe fn unlock(this: *mut RawLock) {
        // SAFETY: the caller's contract.
        unsafe { libc::pthread_mutex_unlock(&raw mut (*this).mutex) };
    }
}

fn check(rc: libc::c_int) -> std::io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}
