//! Zones: shared anonymous mappings made by the master before it forks, so that every
//! worker (and the privileged agent) sees the same bytes.
//!
//! A reload keeps a zone whose name and size are unchanged, contents included, as
//! nginx keeps its shared memory across HUP: [`open`] hands out the live zone of that
//! name and size when there is one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use crate::dict::{Dict, MIN_SIZE};
use crate::lock::{Acquired, RawLock};

/// One mapping. Unmapped when the last configuration using it is gone (worker
/// processes keep their inherited copy of the mapping until they exit).
pub struct Zone {
    name: String,
    base: *mut u8,
    size: usize,
}

impl Zone {
    /// Maps and formats a new, empty zone.
    pub fn create(name: &str, size: usize) -> std::io::Result<Zone> {
        if size < MIN_SIZE {
            return Err(std::io::Error::other(format!("zone size {size} is below {MIN_SIZE}")));
        }
        // SAFETY: a fresh anonymous shared mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let zone = Zone {
            name: name.to_string(),
            base: base.cast(),
            size,
        };
        // SAFETY: the mapping is new, zero-filled, page-aligned and `size` bytes long.
        unsafe { Dict::format(zone.base, size, name)? };
        Ok(zone)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// The zone's address: what Lua holds (as a light userdata) and hands to the FFI
    /// functions, which take the lock with [`lock_at`].
    pub fn base(&self) -> *mut u8 {
        self.base
    }

    pub fn lock(&self) -> Locked {
        // SAFETY: our own live mapping.
        unsafe { lock_at(self.base) }
    }
}

impl Drop for Zone {
    fn drop(&mut self) {
        // SAFETY: our mapping, no longer referred to by this process's configurations.
        unsafe { libc::munmap(self.base.cast(), self.size) };
    }
}

/// The name of the zone at `base` (set when it was made, never changed: read without
/// the lock).
///
/// # Safety
/// As [`lock_at`].
pub unsafe fn name_at(base: *mut u8) -> String {
    // SAFETY: the caller's contract; the name is written once, before any sharing.
    unsafe { Dict::at(base).name() }
}

/// What taking the lock found when a process had died holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Every structure checked out: the dead process was not mid-change.
    Consistent,
    /// The dictionary was half-changed and has been emptied; the text says what was
    /// wrong.
    Emptied(String),
}

/// The dictionary, locked.
pub struct Locked {
    pub dict: Dict,
    lock: *mut RawLock,
}

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: we hold it (taken in lock_at).
        unsafe { RawLock::unlock(self.lock) };
    }
}

/// Told (with the zone's name) when a lock was taken over from a dead process.
static ON_RECOVERY: std::sync::OnceLock<fn(&str, &Recovery)> = std::sync::OnceLock::new();

/// Sets what reports a lock taken over from a dead process (the Lua module logs it).
pub fn on_recovery(report: fn(&str, &Recovery)) {
    let _ = ON_RECOVERY.set(report);
}

/// Locks the zone at `base`.
///
/// # Safety
/// `base` is the address of a live [`Zone`] (in this process or inherited from the
/// master), mapped for as long as the returned guard lives.
pub unsafe fn lock_at(base: *mut u8) -> Locked {
    // The lock is the header's first field; it is taken before anything else is read or
    // written, as the atomic waits for the stores before it.
    let lock = base.cast::<RawLock>();
    // SAFETY: the caller's contract; the lock was set up by format.
    let acquired = unsafe { RawLock::lock(lock) };
    // SAFETY: the caller's contract.
    let mut dict = unsafe { Dict::at(base) };
    if acquired == Acquired::OwnerDied {
        recover(&mut dict);
    }
    Locked { dict, lock }
}

/// After a process died holding the lock: the dictionary checked, emptied if it was
/// half-changed, and the finding reported.
#[cold]
fn recover(dict: &mut Dict) {
    let found = match dict.check() {
        Ok(()) => Recovery::Consistent,
        Err(what) => {
            dict.reset();
            Recovery::Emptied(what)
        }
    };
    if let Some(report) = ON_RECOVERY.get() {
        report(&dict.name(), &found);
    }
}

thread_local! {
    /// Zones of the configurations alive in this process, by name.
    static ZONES: RefCell<HashMap<String, Weak<Zone>>> = RefCell::new(HashMap::new());
}

/// The zone `name` of `size` bytes: the live one if a configuration still uses it
/// (a reload keeps the contents), else a new one.
pub fn open(name: &str, size: usize) -> std::io::Result<Rc<Zone>> {
    ZONES.with(|zones| {
        let mut zones = zones.borrow_mut();
        zones.retain(|_, z| z.strong_count() > 0);
        if let Some(z) = zones.get(name).and_then(Weak::upgrade)
            && z.size == size
        {
            return Ok(z);
        }
        let z = Rc::new(Zone::create(name, size)?);
        zones.insert(name.to_string(), Rc::downgrade(&z));
        Ok(z)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict::{StoreOp, Value};

    #[test]
    fn workers_share_a_zone_and_exact_totals_survive_contention() {
        let zone = Zone::create("counters", 1 << 20).unwrap();
        let base = zone.base() as usize;
        let mut pids = Vec::new();
        for _ in 0..4 {
            // SAFETY: the child only touches the zone and exits without unwinding.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                for _ in 0..20_000 {
                    // SAFETY: inherited mapping.
                    let mut l = unsafe { lock_at(base as *mut u8) };
                    l.dict.incr(b"n", 1.0, Some(0.0), 0, 1).unwrap();
                }
                // SAFETY: leave at once, as a worker would.
                unsafe { libc::_exit(0) };
            }
            pids.push(pid);
        }
        for pid in pids {
            let mut status = 0;
            // SAFETY: our child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert_eq!(status, 0);
        }
        let mut l = zone.lock();
        let mut out = Vec::new();
        assert_eq!(l.dict.get(b"n", false, 1, &mut out).unwrap().unwrap().num, 80_000.0);
        l.dict.check().unwrap();
    }

    #[test]
    fn a_lock_whose_owner_died_is_recovered() {
        let zone = Zone::create("dying", 1 << 16).unwrap();
        zone.lock()
            .dict
            .store(StoreOp::default(), b"k", Value::Str(b"v"), 0, 0, 1)
            .unwrap();
        let base = zone.base() as usize;
        // SAFETY: the child takes the lock and dies holding it.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: inherited mapping.
            let l = unsafe { lock_at(base as *mut u8) };
            std::mem::forget(l);
            // SAFETY: die without unlocking.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        static FOUND: std::sync::Mutex<Vec<(String, Recovery)>> = std::sync::Mutex::new(Vec::new());
        on_recovery(|name, r| FOUND.lock().unwrap().push((name.to_string(), r.clone())));
        let mut l = zone.lock();
        assert_eq!(
            *FOUND.lock().unwrap(),
            vec![("dying".to_string(), Recovery::Consistent)]
        );
        let mut out = Vec::new();
        assert!(l.dict.get(b"k", false, 1, &mut out).unwrap().is_some());
        drop(l);
        drop(zone.lock());
        assert_eq!(FOUND.lock().unwrap().len(), 1);
    }

    #[test]
    fn open_reuses_a_live_zone_of_the_same_size() {
        let a = open("reused", 1 << 16).unwrap();
        let b = open("reused", 1 << 16).unwrap();
        assert_eq!(a.base(), b.base());
        let c = open("reused", 1 << 17).unwrap();
        assert_ne!(a.base(), c.base());
    }
}
