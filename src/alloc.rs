//! The global allocator: mimalloc, called the cheap way for the alignments Rust asks for.
//!
//! mimalloc's Rust wrapper sends every allocation through `mi_malloc_aligned`, whose
//! generic path cost ~70 instructions per call on the request hot path (and more for the
//! boxed request future, over the small-object size). Every mimalloc block is aligned to
//! at least 8 bytes, so for alignments up to 8 (nearly all of Rust's) the plain entry
//! points are exact. LuaJIT's allocations (through mlua) ask for 16: a size rounded up to
//! 16 lands in a size class of 16-byte multiples, so `mi_malloc` gives 16-aligned blocks;
//! each is checked, and the aligned call is the fallback. Larger alignments use it always.
//!
//! mimalloc keeps the per-request allocations (request futures, header tables) out of
//! glibc's slow paths (`malloc_consolidate` showed in every profile). It is built without
//! transparent huge pages: with them its eagerly committed arenas cost 5 MB of RSS per
//! process.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment every mimalloc block has.
const BLOCK_ALIGN: usize = 8;
/// The alignment LuaJIT's allocations ask for (mlua's `SYS_MIN_ALIGN`).
const LUA_ALIGN: usize = 16;

pub struct MiMalloc;

fn aligned(p: *mut c_void, align: usize) -> bool {
    p as usize & (align - 1) == 0
}

/// A block for `layout` from mimalloc's `plain` entry point when its alignment allows,
/// else from `aligned` (malloc or zalloc, as the caller asks).
///
/// # Safety
/// `plain` and `aligned` are mimalloc's matching allocation functions.
#[inline]
unsafe fn allocate(
    layout: Layout,
    plain: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned_alloc: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    let (size, align) = (layout.size(), layout.align());
    // SAFETY: mimalloc's allocation functions with a size (and alignment); a plain block
    // is returned only when its alignment is guaranteed or was checked.
    unsafe {
        if align <= BLOCK_ALIGN {
            return plain(size) as *mut u8;
        }
        if align == LUA_ALIGN {
            let p = plain(size.next_multiple_of(LUA_ALIGN));
            if aligned(p, align) {
                return p as *mut u8;
            }
            mi::mi_free(p);
        }
        aligned_alloc(size, align) as *mut u8
    }
}

// SAFETY (for every block below): each call hands mimalloc the layout's size (rounded up
// where said) and returns memory of at least that size and alignment, or null: blocks
// from the plain calls are used only when their alignment was checked or is guaranteed;
// `dealloc`/`realloc` get only pointers mimalloc returned.
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see above.
        unsafe { allocate(layout, mi::mi_malloc, mi::mi_malloc_aligned) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see above.
        unsafe { allocate(layout, mi::mi_zalloc, mi::mi_zalloc_aligned) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: see above.
        unsafe { mi::mi_free(ptr as *mut c_void) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        // SAFETY: see above. A block that moved to a wrongly aligned place is copied once
        // more, into an aligned one (mi_realloc_aligned keeps the contents).
        unsafe {
            if align <= BLOCK_ALIGN {
                return mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8;
            }
            if align == LUA_ALIGN {
                let p = mi::mi_realloc(ptr as *mut c_void, new_size.next_multiple_of(LUA_ALIGN));
                if p.is_null() || aligned(p, align) {
                    return p as *mut u8;
                }
                return mi::mi_realloc_aligned(p, new_size, align) as *mut u8;
            }
            mi::mi_realloc_aligned(ptr as *mut c_void, new_size, align) as *mut u8
        }
    }
}

type CryptoMalloc = unsafe extern "C" fn(usize, *const std::ffi::c_char, std::ffi::c_int) -> *mut c_void;
type CryptoRealloc = unsafe extern "C" fn(*mut c_void, usize, *const std::ffi::c_char, std::ffi::c_int) -> *mut c_void;
type CryptoFree = unsafe extern "C" fn(*mut c_void, *const std::ffi::c_char, std::ffi::c_int);

unsafe extern "C" {
    fn CRYPTO_set_mem_functions(m: CryptoMalloc, r: CryptoRealloc, f: CryptoFree) -> std::ffi::c_int;
}

unsafe extern "C" fn crypto_malloc(size: usize, _: *const std::ffi::c_char, _: std::ffi::c_int) -> *mut c_void {
    // SAFETY: mimalloc's malloc, whose blocks have malloc's alignment for their size.
    unsafe { mi::mi_malloc(size) }
}

unsafe extern "C" fn crypto_realloc(
    p: *mut c_void,
    size: usize,
    _: *const std::ffi::c_char,
    _: std::ffi::c_int,
) -> *mut c_void {
    // SAFETY: `p` is null or a block of `crypto_malloc`/`crypto_realloc`; a size of 0
    // frees, as OpenSSL's own CRYPTO_realloc does.
    unsafe {
        if size == 0 {
            mi::mi_free(p);
            return std::ptr::null_mut();
        }
        mi::mi_realloc(p, size)
    }
}

unsafe extern "C" fn crypto_free(p: *mut c_void, _: *const std::ffi::c_char, _: std::ffi::c_int) {
    // SAFETY: `p` is null or a block of `crypto_malloc`/`crypto_realloc`.
    unsafe { mi::mi_free(p) }
}

/// Sends OpenSSL's allocations to mimalloc too (glibc's malloc and free were ~3.5% of a
/// full handshake's CPU). It must run before OpenSSL allocates anything: once it has
/// allocated with glibc's, OpenSSL refuses the change (and keeps glibc's).
pub fn openssl_to_mimalloc() -> bool {
    // SAFETY: the three functions are a matching malloc/realloc/free set.
    unsafe { CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc, crypto_free) == 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" {
        fn CRYPTO_malloc(n: usize, file: *const std::ffi::c_char, line: std::ffi::c_int) -> *mut c_void;
        fn CRYPTO_free(p: *mut c_void, file: *const std::ffi::c_char, line: std::ffi::c_int);
        fn mi_is_in_heap_region(p: *const c_void) -> bool;
    }

    #[test]
    fn openssl_allocates_from_mimalloc() {
        assert!(openssl_to_mimalloc());
        // SAFETY: a block of OpenSSL's allocator, given back to it.
        unsafe {
            let p = CRYPTO_malloc(100, std::ptr::null(), 0);
            assert!(mi_is_in_heap_region(p));
            CRYPTO_free(p, std::ptr::null(), 0);
        }
    }

    #[test]
    fn blocks_have_the_alignment_asked_for() {
        let alloc = MiMalloc;
        for size in [1usize, 7, 8, 24, 40, 72, 100, 1000, 1928, 5000, 70_000] {
            for align in [1usize, 2, 4, 8, 16, 64, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; the pointer is freed with the same layout.
                unsafe {
                    let p = alloc.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    p.write_bytes(0xAB, size);
                    let q = alloc.realloc(p, layout, size * 3);
                    assert_eq!(q as usize % align, 0, "realloc size {size} align {align}");
                    assert_eq!(*q.add(size - 1), 0xAB);
                    alloc.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let z = alloc.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    alloc.dealloc(z, layout);
                }
            }
        }
    }
}
