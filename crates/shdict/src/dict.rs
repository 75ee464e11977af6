//! The dictionary inside a zone, laid out so that it cannot fragment.
//!
//! The zone is a header, a bucket array and an array of 64-byte blocks. Every key-value
//! item (and every element of a list value) is a chain of blocks: the first holds the
//! item's fixed fields and the start of its bytes, the next ones 60 bytes each. Any free
//! block serves any item, so a value that fits in the free blocks always finds room, and
//! evicting least recently used items until enough blocks are free always works: the
//! "no memory" of a fragmented slab allocator (lua-nginx-module #175, #1692, #2306)
//! cannot happen. The price is a 4-byte link per block and half a block per item on
//! average; see the fill test below and docs/benchmarks.md.
//!
//! Items sit in hash chains (one `u32` head per bucket) and in one LRU list. Blocks are
//! named by index (never by address), so every process may map the zone anywhere.
//! Nothing here locks: [`crate::zone`] holds the zone's lock around every use.

use std::ffi::CStr;
use std::ptr;

use crate::lock::RawLock;

pub const BLOCK: usize = 64;
const NIL: u32 = 0;
/// Every block starts with the index of the next block of its chain.
const LINK: usize = 4;

// The first block of an item.
const I_HNEXT: usize = 4;
const I_PREV: usize = 8; // LRU neighbour towards the most recent end
const I_NEXT: usize = 12; // LRU neighbour towards the least recent end
const I_EXPIRES: usize = 16; // ms since the epoch, 0: never
const I_HASH: usize = 24;
const I_FLAGS: usize = 28;
const I_VLEN: usize = 32; // bytes of the value; for a list, its number of elements
const I_KLEN: usize = 36;
const I_TYPE: usize = 38;
const ITEM_DATA: usize = 40; // the key, then the value (a list: its first and last element)

// The first block of a list element.
const E_PREV: usize = 4;
const E_NEXT: usize = 8;
const E_LEN: usize = 12;
const E_TYPE: usize = 16;
const ELEM_DATA: usize = 20;

/// Value types, numbered as Lua's (as lua-nginx-module stores them).
pub const T_NIL: u8 = 0;
pub const T_BOOLEAN: u8 = 1;
pub const T_NUMBER: u8 = 3;
pub const T_STRING: u8 = 4;
pub const T_LIST: u8 = 5;

const MAGIC: u64 = 0x6f78_7273_6864_0001;
pub const MAX_KEY: usize = 65535;
const NAME_MAX: usize = 47;

/// The zone's first bytes.
#[repr(C)]
pub(crate) struct Header {
    /// First: `zone::lock_at` takes it at the zone's address.
    pub lock: RawLock,
    magic: u64,
    size: u64,
    buckets_off: u64,
    /// Offset of block 0 (never used: index 0 means "none").
    blocks_off: u64,
    nbuckets: u32,
    nblocks: u32,
    /// Blocks from here on were never used (so a fresh zone touches no page it does
    /// not need).
    frontier: u32,
    free_head: u32,
    free_count: u32,
    lru_head: u32,
    lru_tail: u32,
    count: u32,
    name_len: u8,
    name: [u8; NAME_MAX],
}

/// The time TTLs are measured against, in ms since the epoch. Read only when an item
/// with a deadline is looked at: most items have none, and a clock read costs more than
/// a lookup.
pub trait Clock: Copy {
    fn ms(self) -> u64;
}

/// A fixed time (tests, and callers that already know it).
impl Clock for u64 {
    fn ms(self) -> u64 {
        self
    }
}

/// The wall clock, read at most once per operation.
#[derive(Default)]
pub struct LazyNow(std::cell::Cell<u64>);

impl Clock for &LazyNow {
    fn ms(self) -> u64 {
        if self.0.get() == 0 {
            self.0.set(crate::now_ms());
        }
        self.0.get()
    }
}

/// A key with its bucket hash. The FFI entry points make it before they take the zone's
/// lock: the multiplications then overlap the lock's atomic instead of following it.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    bytes: &'a [u8],
    hash: u32,
}

impl<'a> Key<'a> {
    #[inline(always)]
    pub fn new(bytes: &'a [u8]) -> Key<'a> {
        Key {
            bytes,
            hash: hash(bytes),
        }
    }
}

impl<'a> From<&'a [u8]> for Key<'a> {
    fn from(bytes: &'a [u8]) -> Key<'a> {
        Key::new(bytes)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Key<'a> {
    fn from(bytes: &'a [u8; N]) -> Key<'a> {
        Key::new(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for Key<'a> {
    fn from(bytes: &'a Vec<u8>) -> Key<'a> {
        Key::new(bytes)
    }
}

/// A value to store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Nil,
    Boolean(bool),
    Number(f64),
    Str(&'a [u8]),
}

impl Value<'_> {
    fn vtype(&self) -> u8 {
        match self {
            Value::Nil => T_NIL,
            Value::Boolean(_) => T_BOOLEAN,
            Value::Number(_) => T_NUMBER,
            Value::Str(_) => T_STRING,
        }
    }

    fn len(&self) -> usize {
        match self {
            Value::Nil => 0,
            Value::Boolean(_) => 1,
            Value::Number(_) => 8,
            Value::Str(s) => s.len(),
        }
    }

    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Value::Nil => f(&[]),
            Value::Boolean(b) => f(&[*b as u8]),
            Value::Number(n) => f(&n.to_ne_bytes()),
            Value::Str(s) => f(s),
        }
    }
}

/// What `get` found: the type, a number or boolean (as 0/1) in `num`, string bytes in
/// the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub vtype: u8,
    pub num: f64,
    pub flags: u32,
    pub stale: bool,
}

/// set, add, replace and their `safe_` forms.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreOp {
    pub add: bool,
    pub replace: bool,
    /// Never evict valid items to make room: fail with "no memory" instead.
    pub safe: bool,
}

/// What an operation refused, as OpenResty words it (`text`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    NoMemory,
    Exists,
    NotFound,
    NotANumber,
    NotAList,
    IsAList,
    BadValueType,
    NilValue,
}

impl Error {
    /// OpenResty's words for it, as a C string (handed to Lua as is).
    pub fn text(self) -> &'static CStr {
        match self {
            Error::NoMemory => c"no memory",
            Error::Exists => c"exists",
            Error::NotFound => c"not found",
            Error::NotANumber => c"not a number",
            Error::NotAList => c"value not a list",
            Error::IsAList => c"value is a list",
            Error::BadValueType => c"bad value type",
            Error::NilValue => c"attempt to add or replace nil values",
        }
    }
}

/// An error and whether valid items were evicted before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    pub err: Error,
    pub forcible: bool,
}

fn fail(err: Error) -> Failed {
    Failed { err, forcible: false }
}

/// Blocks a byte stream of `len` needs when its first block holds data from `data_off`.
fn blocks_for(len: usize, data_off: usize) -> usize {
    let first = BLOCK - data_off;
    if len <= first {
        1
    } else {
        1 + (len - first).div_ceil(BLOCK - LINK)
    }
}

/// The bucket hash: 8 bytes at a time, multiply and rotate (keys are short). The last
/// bytes are read in place (no copy into a buffer: that costs a store-forwarding stall
/// on every call).
#[inline]
pub fn hash(key: &[u8]) -> u32 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let word = |b: &[u8]| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let half = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64;
    let mut h = K ^ key.len() as u64;
    let mut words = key.chunks_exact(8);
    for w in &mut words {
        h = (h ^ word(w)).wrapping_mul(K).rotate_left(29);
    }
    let n = words.remainder().len();
    let tail = match n {
        0 => 0,
        // the key's last 8 bytes, less those already mixed in
        _ if key.len() >= 8 => word(&key[key.len() - 8..]) >> (8 * (8 - n)),
        4.. => half(key) | half(&key[n - 4..]) << 32,
        _ => (key[0] as u64) << 16 | (key[n / 2] as u64) << 8 | key[n - 1] as u64,
    };
    h = (h ^ tail).wrapping_mul(K);
    h ^= h >> 32;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    (h >> 32) as u32
}

/// Copies `n` bytes; up to 16 of them in two overlapping loads and stores rather than
/// through a memcpy call (most keys and values in the first block are short).
///
/// # Safety
/// As `ptr::copy_nonoverlapping`.
#[inline]
unsafe fn copy_small(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY: the caller's contract; every access stays within the n bytes.
    unsafe {
        match n {
            0 => {}
            1..=3 => {
                *dst = *src;
                *dst.add(n / 2) = *src.add(n / 2);
                *dst.add(n - 1) = *src.add(n - 1);
            }
            4..=7 => {
                let (a, b) = (
                    ptr::read_unaligned(src.cast::<u32>()),
                    ptr::read_unaligned(src.add(n - 4).cast::<u32>()),
                );
                ptr::write_unaligned(dst.cast::<u32>(), a);
                ptr::write_unaligned(dst.add(n - 4).cast::<u32>(), b);
            }
            8..=16 => {
                let (a, b) = (
                    ptr::read_unaligned(src.cast::<u64>()),
                    ptr::read_unaligned(src.add(n - 8).cast::<u64>()),
                );
                ptr::write_unaligned(dst.cast::<u64>(), a);
                ptr::write_unaligned(dst.add(n - 8).cast::<u64>(), b);
            }
            _ => ptr::copy_nonoverlapping(src, dst, n),
        }
    }
}

/// Whether two byte strings are equal; short ones compared in a few loads rather than
/// through a memcmp call (keys are mostly short).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| {
        u64::from_le_bytes([
            s[at],
            s[at + 1],
            s[at + 2],
            s[at + 3],
            s[at + 4],
            s[at + 5],
            s[at + 6],
            s[at + 7],
        ])
    };
    let half = |s: &[u8], at: usize| u32::from_le_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]]);
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// Bytes the zone needs at least (nginx refuses a lua_shared_dict under 8 KiB too).
pub const MIN_SIZE: usize = 8192;

/// The layout of a zone of `size` bytes: (buckets offset, bucket count, blocks offset,
/// block count including the unused block 0).
fn layout(size: usize) -> Option<(usize, u32, usize, u32)> {
    let header = std::mem::size_of::<Header>().next_multiple_of(BLOCK);
    let usable = size.checked_sub(header)?;
    // one bucket per four blocks: chains stay short even when every item is one block
    let nbuckets = (usable / (BLOCK * 4 + 4)).max(16).next_power_of_two() / 2;
    let buckets_bytes = (nbuckets * 4).next_multiple_of(BLOCK);
    let blocks = usable.checked_sub(buckets_bytes)? / BLOCK;
    let nblocks = u32::try_from(blocks + 1).ok()?;
    Some((header, nbuckets as u32, header + buckets_bytes - BLOCK, nblocks))
}

/// A dictionary at some address: valid while its zone is mapped and its lock held.
pub struct Dict {
    hdr: *mut Header,
    buckets: *mut u32,
    blocks: *mut u8,
    nbuckets: u32,
    nblocks: u32,
}

impl Dict {
    /// Formats a fresh zone.
    ///
    /// # Safety
    /// `base` points at `size` writable, zero-filled bytes (a new anonymous mapping),
    /// aligned to a page, used by nobody yet.
    pub(crate) unsafe fn format(base: *mut u8, size: usize, name: &str) -> std::io::Result<()> {
        let (buckets_off, nbuckets, blocks_off, nblocks) =
            layout(size).ok_or_else(|| std::io::Error::other("zone size out of range"))?;
        let hdr = base.cast::<Header>();
        // SAFETY: the caller's contract; the header fits (layout checked the size).
        unsafe {
            RawLock::init(&raw mut (*hdr).lock);
            (*hdr).magic = MAGIC;
            (*hdr).size = size as u64;
            (*hdr).buckets_off = buckets_off as u64;
            (*hdr).blocks_off = blocks_off as u64;
            (*hdr).nbuckets = nbuckets;
            (*hdr).nblocks = nblocks;
            let n = name.len().min(NAME_MAX);
            (*hdr).name_len = n as u8;
            let name_field = &mut (*hdr).name;
            name_field[..n].copy_from_slice(&name.as_bytes()[..n]);
            Dict::at(base).reset();
        }
        Ok(())
    }

    /// # Safety
    /// `base` is a zone set up by [`Dict::format`], mapped for as long as the `Dict` is
    /// used, and the caller holds its lock for every call that reads or writes items.
    pub(crate) unsafe fn at(base: *mut u8) -> Dict {
        let hdr = base.cast::<Header>();
        // SAFETY: the caller's contract; these fields never change after format.
        unsafe {
            debug_assert_eq!((*hdr).magic, MAGIC);
            Dict {
                hdr,
                buckets: base.add((*hdr).buckets_off as usize).cast::<u32>(),
                blocks: base.add((*hdr).blocks_off as usize),
                nbuckets: (*hdr).nbuckets,
                nblocks: (*hdr).nblocks,
            }
        }
    }

    fn h(&mut self) -> &mut Header {
        // SAFETY: `at`'s contract: mapped and locked, so this process alone touches it.
        unsafe { &mut *self.hdr }
    }

    fn hr(&self) -> &Header {
        // SAFETY: as `h`.
        unsafe { &*self.hdr }
    }

    /// The zone's name, as the configuration gave it (cut at 47 bytes).
    pub fn name(&self) -> String {
        let h = self.hr();
        String::from_utf8_lossy(&h.name[..h.name_len as usize]).into_owned()
    }

    /// Empties the dictionary (after a crash left it inconsistent).
    pub fn reset(&mut self) {
        // SAFETY: the bucket array lies inside the zone (layout).
        unsafe { ptr::write_bytes(self.buckets, 0, self.nbuckets as usize) };
        let h = self.h();
        h.frontier = 1;
        h.free_head = NIL;
        h.free_count = 0;
        h.lru_head = NIL;
        h.lru_tail = NIL;
        h.count = 0;
    }

    // ---- raw block access

    #[inline]
    fn blk(&self, b: u32) -> *mut u8 {
        // a bad index is a broken zone: stop before touching memory outside it (one
        // compare: NIL wraps around to the top)
        assert!(
            b.wrapping_sub(1) < self.nblocks - 1,
            "shared dict: block {b} out of range"
        );
        // SAFETY: in range, so inside the zone.
        unsafe { self.blocks.add(b as usize * BLOCK) }
    }

    /// A field of a block already located (one bounds check for many reads).
    #[inline]
    fn field32(p: *mut u8, off: usize) -> u32 {
        // SAFETY: `p` comes from `blk` and off + 4 <= BLOCK for every field offset used.
        unsafe { ptr::read_unaligned(p.add(off).cast::<u32>()) }
    }

    #[inline]
    fn field16(p: *mut u8, off: usize) -> u16 {
        // SAFETY: as field32.
        unsafe { ptr::read_unaligned(p.add(off).cast::<u16>()) }
    }

    #[inline]
    fn field64(p: *mut u8, off: usize) -> u64 {
        // SAFETY: as field32.
        unsafe { ptr::read_unaligned(p.add(off).cast::<u64>()) }
    }

    #[inline]
    fn r32(&self, b: u32, off: usize) -> u32 {
        // SAFETY: off + 4 <= BLOCK for every field offset used.
        unsafe { ptr::read_unaligned(self.blk(b).add(off).cast::<u32>()) }
    }

    #[inline]
    fn w32(&mut self, b: u32, off: usize, v: u32) {
        // SAFETY: as r32.
        unsafe { ptr::write_unaligned(self.blk(b).add(off).cast::<u32>(), v) }
    }

    #[inline]
    fn r64(&self, b: u32, off: usize) -> u64 {
        // SAFETY: as r32.
        unsafe { ptr::read_unaligned(self.blk(b).add(off).cast::<u64>()) }
    }

    #[inline]
    fn w64(&mut self, b: u32, off: usize, v: u64) {
        // SAFETY: as r32.
        unsafe { ptr::write_unaligned(self.blk(b).add(off).cast::<u64>(), v) }
    }

    #[inline]
    fn r16(&self, b: u32, off: usize) -> u16 {
        // SAFETY: as r32.
        unsafe { ptr::read_unaligned(self.blk(b).add(off).cast::<u16>()) }
    }

    #[inline]
    fn w16(&mut self, b: u32, off: usize, v: u16) {
        // SAFETY: as r32.
        unsafe { ptr::write_unaligned(self.blk(b).add(off).cast::<u16>(), v) }
    }

    #[inline]
    fn r8(&self, b: u32, off: usize) -> u8 {
        // SAFETY: as r32.
        unsafe { *self.blk(b).add(off) }
    }

    #[inline]
    fn w8(&mut self, b: u32, off: usize, v: u8) {
        // SAFETY: as r32.
        unsafe { *self.blk(b).add(off) = v }
    }

    fn bucket(&self, hash: u32) -> *mut u32 {
        // SAFETY: the mask keeps the index inside the bucket array.
        unsafe { self.buckets.add((hash & (self.nbuckets - 1)) as usize) }
    }

    /// Calls `f(piece, offset)` for each contiguous piece of bytes `start..start + len`
    /// of the stream of a chain whose first block holds data from `data_off`.
    fn pieces(&self, first: u32, data_off: usize, start: usize, len: usize, mut f: impl FnMut(*mut u8, usize, usize)) {
        let (mut b, mut at, mut skip) = (first, data_off, start);
        while skip >= BLOCK - at {
            skip -= BLOCK - at;
            b = self.r32(b, 0);
            at = LINK;
        }
        at += skip;
        let mut done = 0;
        while done < len {
            let n = (BLOCK - at).min(len - done);
            // SAFETY: at + n <= BLOCK.
            f(unsafe { self.blk(b).add(at) }, n, done);
            done += n;
            if done < len {
                b = self.r32(b, 0);
                at = LINK;
            }
        }
    }

    /// The bytes `start..start + len` when they lie in the first block (most keys and
    /// small values do): the common case without walking the chain.
    #[inline]
    fn in_first(&self, first: u32, data_off: usize, start: usize, len: usize) -> Option<*mut u8> {
        // SAFETY: data_off + start + len <= BLOCK, so inside the block.
        (data_off + start + len <= BLOCK).then(|| unsafe { self.blk(first).add(data_off + start) })
    }

    #[inline]
    fn read(&self, first: u32, data_off: usize, start: usize, out: &mut [u8]) {
        // SAFETY: `out` is `out.len()` writable bytes.
        unsafe { self.read_raw(first, data_off, start, out.as_mut_ptr(), out.len()) }
    }

    /// Reads `len` bytes into `out`, replacing what it held (no zero-filling first).
    fn read_into(&self, first: u32, data_off: usize, start: usize, len: usize, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(len);
        // SAFETY: reserve made room for len bytes, all written by read_raw before set_len.
        unsafe {
            self.read_raw(first, data_off, start, out.as_mut_ptr(), len);
            out.set_len(len);
        }
    }

    /// # Safety
    /// `dst` points at `len` writable bytes.
    #[inline]
    unsafe fn read_raw(&self, first: u32, data_off: usize, start: usize, dst: *mut u8, len: usize) {
        if let Some(p) = self.in_first(first, data_off, start, len) {
            // SAFETY: in_first checked the range; the caller's contract for dst.
            unsafe { copy_small(p, dst, len) };
            return;
        }
        self.pieces(first, data_off, start, len, |p, n, at| {
            // SAFETY: `at + n <= len`; the piece lies inside the zone.
            unsafe { ptr::copy_nonoverlapping(p, dst.add(at), n) }
        });
    }

    #[inline]
    fn write(&mut self, first: u32, data_off: usize, start: usize, src: &[u8]) {
        if let Some(p) = self.in_first(first, data_off, start, src.len()) {
            // SAFETY: as `read`, the other way.
            unsafe { copy_small(src.as_ptr(), p, src.len()) };
            return;
        }
        self.pieces(first, data_off, start, src.len(), |p, n, at| {
            // SAFETY: as `read`, the other way.
            unsafe { ptr::copy_nonoverlapping(src.as_ptr().add(at), p, n) }
        });
    }

    #[inline(always)]
    fn equals(&self, first: u32, data_off: usize, start: usize, key: &[u8]) -> bool {
        if let Some(p) = self.in_first(first, data_off, start, key.len()) {
            // SAFETY: in_first checked the range.
            return same_bytes(unsafe { std::slice::from_raw_parts(p, key.len()) }, key);
        }
        self.equals_spread(first, data_off, start, key)
    }

    /// `equals` for bytes that run past the first block.
    #[inline(never)]
    fn equals_spread(&self, first: u32, data_off: usize, start: usize, key: &[u8]) -> bool {
        let mut same = true;
        self.pieces(first, data_off, start, key.len(), |p, n, at| {
            // SAFETY: as `read`.
            same &= unsafe { std::slice::from_raw_parts(p, n) } == &key[at..at + n];
        });
        same
    }

    // ---- blocks

    /// Blocks that can be handed out now.
    fn available(&self) -> usize {
        let h = self.hr();
        h.free_count as usize + (self.nblocks - h.frontier) as usize
    }

    /// A chain of `n` blocks; the caller made sure they are available.
    fn alloc(&mut self, n: usize) -> u32 {
        debug_assert!(n >= 1 && self.available() >= n);
        let first = self.take_block();
        let mut last = first;
        for _ in 1..n {
            let b = self.take_block();
            self.w32(last, 0, b);
            last = b;
        }
        self.w32(last, 0, NIL);
        first
    }

    fn take_block(&mut self) -> u32 {
        let b = self.hr().free_head;
        if b != NIL {
            let next = self.r32(b, 0);
            let h = self.h();
            h.free_count -= 1;
            h.free_head = next;
            b
        } else {
            let h = self.h();
            h.frontier += 1;
            h.frontier - 1
        }
    }

    fn free_chain(&mut self, first: u32) {
        let (mut last, mut n) = (first, 1);
        loop {
            let next = self.r32(last, 0);
            if next == NIL {
                break;
            }
            last = next;
            n += 1;
        }
        let head = self.hr().free_head;
        self.w32(last, 0, head);
        let h = self.h();
        h.free_head = first;
        h.free_count += n;
    }

    // ---- the LRU list

    #[inline]
    fn lru_push(&mut self, item: u32) {
        let head = self.hr().lru_head;
        self.w32(item, I_PREV, NIL);
        self.w32(item, I_NEXT, head);
        if head != NIL {
            self.w32(head, I_PREV, item);
        } else {
            self.h().lru_tail = item;
        }
        self.h().lru_head = item;
    }

    #[inline]
    fn lru_unlink(&mut self, item: u32) {
        let (p, n) = (self.r32(item, I_PREV), self.r32(item, I_NEXT));
        if p != NIL {
            self.w32(p, I_NEXT, n);
        } else {
            self.h().lru_head = n;
        }
        if n != NIL {
            self.w32(n, I_PREV, p);
        } else {
            self.h().lru_tail = p;
        }
    }

    #[inline]
    fn touch(&mut self, item: u32) {
        if self.hr().lru_head != item {
            self.lru_unlink(item);
            self.lru_push(item);
        }
    }

    // ---- items

    #[inline]
    fn klen(&self, item: u32) -> usize {
        self.r16(item, I_KLEN) as usize
    }

    #[inline]
    fn expires(&self, item: u32) -> u64 {
        self.r64(item, I_EXPIRES)
    }

    #[inline]
    fn is_expired(&self, item: u32, now: impl Clock) -> bool {
        Self::past(self.expires(item), now)
    }

    /// Whether a deadline (0: none) has come.
    #[inline]
    fn past(deadline: u64, now: impl Clock) -> bool {
        deadline != 0 && deadline <= now.ms()
    }

    #[inline]
    fn deadline(exptime_ms: u64, now: impl Clock) -> u64 {
        if exptime_ms > 0 {
            now.ms().saturating_add(exptime_ms)
        } else {
            0
        }
    }

    /// The item stored under `key`, expired or not.
    #[inline(always)]
    fn lookup(&self, key: Key) -> Option<u32> {
        // SAFETY: `bucket` points inside the bucket array.
        let mut item = unsafe { *self.bucket(key.hash) };
        while item != NIL {
            let p = self.blk(item);
            if Self::field32(p, I_HASH) == key.hash
                && Self::field16(p, I_KLEN) as usize == key.bytes.len()
                && self.equals(item, ITEM_DATA, 0, key.bytes)
            {
                return Some(item);
            }
            item = Self::field32(p, I_HNEXT);
        }
        None
    }

    /// A new item with `key` and room for `payload` bytes after it, linked in and most
    /// recently used. The caller made sure the blocks are available.
    fn create(&mut self, key: Key, vtype: u8, payload: usize) -> u32 {
        let item = self.alloc(blocks_for(key.bytes.len() + payload, ITEM_DATA));
        let bucket = self.bucket(key.hash);
        // SAFETY: inside the bucket array.
        let head = unsafe { *bucket };
        self.w32(item, I_HNEXT, head);
        // SAFETY: as above.
        unsafe { *bucket = item };
        self.w32(item, I_HASH, key.hash);
        self.w64(item, I_EXPIRES, 0);
        self.w32(item, I_FLAGS, 0);
        self.w32(item, I_VLEN, 0);
        self.w16(item, I_KLEN, key.bytes.len() as u16);
        self.w8(item, I_TYPE, vtype);
        self.write(item, ITEM_DATA, 0, key.bytes);
        self.lru_push(item);
        self.h().count += 1;
        item
    }

    fn remove(&mut self, item: u32) {
        let bucket = self.bucket(self.r32(item, I_HASH));
        let next = self.r32(item, I_HNEXT);
        // SAFETY: inside the bucket array.
        let mut at = unsafe { *bucket };
        if at == item {
            // SAFETY: as above.
            unsafe { *bucket = next };
        } else {
            while at != NIL {
                let n = self.r32(at, I_HNEXT);
                if n == item {
                    self.w32(at, I_HNEXT, next);
                    break;
                }
                at = n;
            }
        }
        self.lru_unlink(item);
        if self.r8(item, I_TYPE) == T_LIST {
            self.clear_list(item);
        }
        self.free_chain(item);
        self.h().count -= 1;
    }

    /// Frees blocks for `need` more: expired and then least recently used items go.
    /// `forcible` says whether a valid item went.
    fn make_room(&mut self, need: usize, safe: bool, now: impl Clock) -> Result<bool, Failed> {
        if need >= self.nblocks as usize {
            return Err(fail(Error::NoMemory));
        }
        let mut forcible = false;
        while self.available() < need {
            let victim = self.hr().lru_tail;
            if victim == NIL {
                return Err(Failed {
                    err: Error::NoMemory,
                    forcible,
                });
            }
            if !self.is_expired(victim, now) {
                if safe {
                    return Err(Failed {
                        err: Error::NoMemory,
                        forcible,
                    });
                }
                forcible = true;
            }
            self.remove(victim);
        }
        Ok(forcible)
    }

    /// Drops up to two expired items from the least recently used end, as OpenResty does
    /// on each operation (so expired items do not linger where nothing reads them).
    #[inline(always)]
    fn expire_tail(&mut self, now: impl Clock) {
        for _ in 0..2 {
            let tail = self.hr().lru_tail;
            if tail == NIL || !self.is_expired(tail, now) {
                return;
            }
            self.remove(tail);
        }
    }

    // ---- the API

    /// set, add, replace, safe_set, safe_add, delete (a nil value). `Ok(forcible)`.
    pub fn store<'k>(
        &mut self,
        op: StoreOp,
        key: impl Into<Key<'k>>,
        value: Value,
        exptime_ms: u64,
        flags: u32,
        now: impl Clock,
    ) -> Result<bool, Failed> {
        if value == Value::Nil && (op.add || op.replace) {
            return Err(fail(Error::NilValue));
        }
        let key = key.into();
        self.expire_tail(now);
        let found = self.lookup(key);
        let valid = found.is_some_and(|i| !self.is_expired(i, now));
        if op.replace && !valid {
            return Err(fail(Error::NotFound));
        }
        if op.add && valid {
            return Err(fail(Error::Exists));
        }
        let need = blocks_for(key.bytes.len() + value.len(), ITEM_DATA);
        if let Some(item) = found {
            if value == Value::Nil {
                self.remove(item);
                return Ok(false);
            }
            let p = self.blk(item);
            // SAFETY: I_TYPE is inside the block.
            let old_type = unsafe { *p.add(I_TYPE) };
            let old_len = Self::field32(p, I_VLEN) as usize;
            if old_type != T_LIST && blocks_for(key.bytes.len() + old_len, ITEM_DATA) == need {
                // same number of blocks: rewrite in place
                self.set_value(item, value, exptime_ms, flags, now);
                self.touch(item);
                return Ok(false);
            }
            if op.safe && self.available() + self.blocks_of(item) < need {
                // (safe_*: the old value stays rather than being dropped for nothing)
                return Err(fail(Error::NoMemory));
            }
            self.remove(item);
        } else if value == Value::Nil {
            return Ok(false);
        }
        let forcible = self.make_room(need, op.safe, now)?;
        let item = self.create(key, value.vtype(), value.len());
        self.set_value(item, value, exptime_ms, flags, now);
        Ok(forcible)
    }

    #[inline(always)]
    fn set_value(&mut self, item: u32, value: Value, exptime_ms: u64, flags: u32, now: impl Clock) {
        let p = self.blk(item);
        let klen = Self::field16(p, I_KLEN) as usize;
        // SAFETY: every field lies inside the item's first block.
        unsafe {
            // (fields that keep their value are not written again: every store is one more
            // for the lock's release to wait for)
            let store32 = |off: usize, v: u32| {
                if Self::field32(p, off) != v {
                    ptr::write_unaligned(p.add(off).cast::<u32>(), v);
                }
            };
            let deadline = Self::deadline(exptime_ms, now);
            if Self::field64(p, I_EXPIRES) != deadline {
                ptr::write_unaligned(p.add(I_EXPIRES).cast::<u64>(), deadline);
            }
            store32(I_FLAGS, flags);
            store32(I_VLEN, value.len() as u32);
            if *p.add(I_TYPE) != value.vtype() {
                *p.add(I_TYPE) = value.vtype();
            }
            // a number after a short key: one store, no slice in between
            if let Value::Number(n) = value
                && ITEM_DATA + klen + 8 <= BLOCK
            {
                ptr::write_unaligned(p.add(ITEM_DATA + klen).cast::<f64>(), n);
                return;
            }
        }
        value.with_bytes(|b| self.write(item, ITEM_DATA, klen, b));
    }

    fn blocks_of(&self, item: u32) -> usize {
        let mut n = 0;
        let mut b = item;
        while b != NIL {
            n += 1;
            b = self.r32(b, 0);
        }
        if self.r8(item, I_TYPE) == T_LIST {
            let mut e = self.list_ends(item).0;
            while e != NIL {
                let mut b = e;
                while b != NIL {
                    n += 1;
                    b = self.r32(b, 0);
                }
                e = self.r32(e, E_NEXT);
            }
        }
        n
    }

    /// get (`stale`: get_stale). String bytes go to `out`; `Ok(None)`: no such key.
    pub fn get<'k>(
        &mut self,
        key: impl Into<Key<'k>>,
        stale: bool,
        now: impl Clock,
        out: &mut Vec<u8>,
    ) -> Result<Option<Found>, Error> {
        if !stale {
            self.expire_tail(now);
        }
        let Some(item) = self.lookup(key.into()) else {
            return Ok(None);
        };
        self.touch(item);
        let p = self.blk(item);
        let expired = Self::past(Self::field64(p, I_EXPIRES), now);
        if expired && !stale {
            return Ok(None);
        }
        // SAFETY: I_TYPE is inside the block.
        let vtype = unsafe { *p.add(I_TYPE) };
        let flags = Self::field32(p, I_FLAGS);
        let klen = Self::field16(p, I_KLEN) as usize;
        let len = Self::field32(p, I_VLEN) as usize;
        let num = match vtype {
            T_LIST => return Err(Error::IsAList),
            T_STRING => {
                self.read_into(item, ITEM_DATA, klen, len, out);
                0.0
            }
            _ => self.read_scalar(item, ITEM_DATA, klen, vtype),
        };
        Ok(Some(Found {
            vtype,
            num,
            flags,
            stale: expired,
        }))
    }

    /// A number's value, or a boolean's as 0 or 1.
    #[inline]
    fn read_scalar(&self, first: u32, data_off: usize, start: usize, vtype: u8) -> f64 {
        let size = if vtype == T_BOOLEAN { 1 } else { 8 };
        if let Some(p) = self.in_first(first, data_off, start, size) {
            // SAFETY: in_first checked the range.
            return unsafe {
                if vtype == T_BOOLEAN {
                    *p as f64
                } else {
                    ptr::read_unaligned(p.cast::<f64>())
                }
            };
        }
        if vtype == T_BOOLEAN {
            let mut b = [0u8];
            self.read(first, data_off, start, &mut b);
            return b[0] as f64;
        }
        let mut n = [0u8; 8];
        self.read(first, data_off, start, &mut n);
        f64::from_ne_bytes(n)
    }

    /// incr: `Ok((new value, forcible))`.
    pub fn incr<'k>(
        &mut self,
        key: impl Into<Key<'k>>,
        delta: f64,
        init: Option<f64>,
        init_ttl_ms: u64,
        now: impl Clock,
    ) -> Result<(f64, bool), Failed> {
        self.expire_tail(now);
        let key = key.into();
        let found = self.lookup(key);
        match found {
            Some(item) if !self.is_expired(item, now) => {
                if self.r8(item, I_TYPE) != T_NUMBER {
                    return Err(fail(Error::NotANumber));
                }
                let klen = self.klen(item);
                let n = self.read_scalar(item, ITEM_DATA, klen, T_NUMBER) + delta;
                self.write(item, ITEM_DATA, klen, &n.to_ne_bytes());
                self.touch(item);
                Ok((n, false))
            }
            _ => {
                let Some(init) = init else {
                    return Err(fail(Error::NotFound));
                };
                let n = init + delta;
                let value = Value::Number(n);
                if let Some(item) = found {
                    if self.r8(item, I_TYPE) == T_NUMBER {
                        self.set_value(item, value, init_ttl_ms, 0, now);
                        self.touch(item);
                        return Ok((n, false));
                    }
                    self.remove(item);
                }
                let forcible = self.make_room(blocks_for(key.bytes.len() + 8, ITEM_DATA), false, now)?;
                let item = self.create(key, T_NUMBER, 8);
                self.set_value(item, value, init_ttl_ms, 0, now);
                Ok((n, forcible))
            }
        }
    }

    fn list_ends(&self, item: u32) -> (u32, u32) {
        let mut b = [0u8; 8];
        self.read(item, ITEM_DATA, self.klen(item), &mut b);
        (
            u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        )
    }

    fn set_list_ends(&mut self, item: u32, head: u32, tail: u32) {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&head.to_ne_bytes());
        b[4..].copy_from_slice(&tail.to_ne_bytes());
        let klen = self.klen(item);
        self.write(item, ITEM_DATA, klen, &b);
    }

    fn clear_list(&mut self, item: u32) {
        let mut e = self.list_ends(item).0;
        while e != NIL {
            let next = self.r32(e, E_NEXT);
            self.free_chain(e);
            e = next;
        }
        self.set_list_ends(item, NIL, NIL);
        self.w32(item, I_VLEN, 0);
    }

    /// lpush / rpush: the list's new length. Lists never evict other items (as
    /// OpenResty's): a full zone answers "no memory".
    pub fn push<'k>(
        &mut self,
        key: impl Into<Key<'k>>,
        left: bool,
        value: Value,
        now: impl Clock,
    ) -> Result<usize, Error> {
        if !matches!(value, Value::Number(_) | Value::Str(_)) {
            return Err(Error::BadValueType);
        }
        self.expire_tail(now);
        let key = key.into();
        let item = match self.lookup(key) {
            Some(item) if self.is_expired(item, now) && self.r8(item, I_TYPE) == T_LIST => {
                self.clear_list(item);
                self.w64(item, I_EXPIRES, 0);
                self.touch(item);
                item
            }
            Some(item) if self.is_expired(item, now) => {
                self.remove(item);
                self.new_list(key)?
            }
            Some(item) => {
                if self.r8(item, I_TYPE) != T_LIST {
                    return Err(Error::NotAList);
                }
                self.touch(item);
                item
            }
            None => self.new_list(key)?,
        };
        let need = blocks_for(value.len(), ELEM_DATA);
        if self.available() < need {
            if self.r32(item, I_VLEN) == 0 {
                self.remove(item);
            }
            return Err(Error::NoMemory);
        }
        let elem = self.alloc(need);
        self.w32(elem, E_LEN, value.len() as u32);
        self.w8(elem, E_TYPE, value.vtype());
        value.with_bytes(|b| self.write(elem, ELEM_DATA, 0, b));
        let (head, tail) = self.list_ends(item);
        if left {
            self.w32(elem, E_PREV, NIL);
            self.w32(elem, E_NEXT, head);
            if head != NIL {
                self.w32(head, E_PREV, elem);
            }
            self.set_list_ends(item, elem, if tail == NIL { elem } else { tail });
        } else {
            self.w32(elem, E_NEXT, NIL);
            self.w32(elem, E_PREV, tail);
            if tail != NIL {
                self.w32(tail, E_NEXT, elem);
            }
            self.set_list_ends(item, if head == NIL { elem } else { head }, elem);
        }
        let len = self.r32(item, I_VLEN) + 1;
        self.w32(item, I_VLEN, len);
        Ok(len as usize)
    }

    fn new_list(&mut self, key: Key) -> Result<u32, Error> {
        if self.available() < blocks_for(key.bytes.len() + 8, ITEM_DATA) {
            return Err(Error::NoMemory);
        }
        let item = self.create(key, T_LIST, 8);
        self.set_list_ends(item, NIL, NIL);
        Ok(item)
    }

    /// lpop / rpop: `Ok(None)` for a missing key.
    pub fn pop<'k>(
        &mut self,
        key: impl Into<Key<'k>>,
        left: bool,
        now: impl Clock,
        out: &mut Vec<u8>,
    ) -> Result<Option<Found>, Error> {
        self.expire_tail(now);
        let item = match self.lookup(key.into()) {
            Some(item) if !self.is_expired(item, now) => item,
            _ => return Ok(None),
        };
        if self.r8(item, I_TYPE) != T_LIST {
            return Err(Error::NotAList);
        }
        let (head, tail) = self.list_ends(item);
        let elem = if left { head } else { tail };
        let vtype = self.r8(elem, E_TYPE);
        let len = self.r32(elem, E_LEN) as usize;
        let num = if vtype == T_STRING {
            self.read_into(elem, ELEM_DATA, 0, len, out);
            0.0
        } else {
            self.read_scalar(elem, ELEM_DATA, 0, vtype)
        };
        let (prev, next) = (self.r32(elem, E_PREV), self.r32(elem, E_NEXT));
        if prev != NIL {
            self.w32(prev, E_NEXT, next);
        }
        if next != NIL {
            self.w32(next, E_PREV, prev);
        }
        self.free_chain(elem);
        let count = self.r32(item, I_VLEN) - 1;
        if count == 0 {
            self.set_list_ends(item, NIL, NIL);
            self.remove(item);
        } else {
            let head = if elem == head { next } else { head };
            let tail = if elem == tail { prev } else { tail };
            self.set_list_ends(item, head, tail);
            self.w32(item, I_VLEN, count);
            self.touch(item);
        }
        Ok(Some(Found {
            vtype,
            num,
            flags: 0,
            stale: false,
        }))
    }

    /// llen: 0 for a missing key.
    pub fn llen<'k>(&mut self, key: impl Into<Key<'k>>, now: impl Clock) -> Result<usize, Error> {
        self.expire_tail(now);
        match self.lookup(key.into()) {
            Some(item) if !self.is_expired(item, now) => {
                if self.r8(item, I_TYPE) != T_LIST {
                    return Err(Error::NotAList);
                }
                self.touch(item);
                Ok(self.r32(item, I_VLEN) as usize)
            }
            _ => Ok(0),
        }
    }

    /// ttl: ms left (0: never expires; negative: expired, not yet removed), `None` for
    /// a missing key.
    pub fn ttl<'k>(&mut self, key: impl Into<Key<'k>>, now: impl Clock) -> Option<i64> {
        let item = self.lookup(key.into())?;
        let e = self.expires(item);
        Some(if e == 0 { 0 } else { e as i64 - now.ms() as i64 })
    }

    /// expire: a new deadline (0: never); false for a missing key.
    pub fn set_expire<'k>(&mut self, key: impl Into<Key<'k>>, exptime_ms: u64, now: impl Clock) -> bool {
        match self.lookup(key.into()) {
            Some(item) => {
                self.w64(item, I_EXPIRES, Self::deadline(exptime_ms, now));
                true
            }
            None => false,
        }
    }

    /// flush_all: every item is marked expired (get_stale still sees them; they go as
    /// room is needed or by flush_expired) and, as in OpenResty, the three least
    /// recently used go at once.
    pub fn flush_all(&mut self, now: impl Clock) {
        let mut item = self.hr().lru_head;
        while item != NIL {
            self.w64(item, I_EXPIRES, 1);
            item = self.r32(item, I_NEXT);
        }
        let tail = self.hr().lru_tail;
        if tail != NIL {
            self.remove(tail);
        }
        self.expire_tail(now);
    }

    /// flush_expired: removes expired items (at most `max`, 0: all); how many went.
    pub fn flush_expired(&mut self, max: usize, now: impl Clock) -> usize {
        let mut freed = 0;
        let mut item = self.hr().lru_tail;
        while item != NIL {
            let prev = self.r32(item, I_PREV);
            if self.is_expired(item, now) {
                self.remove(item);
                freed += 1;
                if freed == max {
                    break;
                }
            }
            item = prev;
        }
        freed
    }

    /// get_keys: valid keys from the least recently used on (at most `max`, 0: all).
    pub fn keys(&self, max: usize, now: impl Clock) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        let mut item = self.hr().lru_tail;
        while item != NIL && (max == 0 || keys.len() < max) {
            if !self.is_expired(item, now) {
                let mut k = vec![0; self.klen(item)];
                self.read(item, ITEM_DATA, 0, &mut k);
                keys.push(k);
            }
            item = self.r32(item, I_PREV);
        }
        keys
    }

    /// The zone's size, as configured.
    pub fn capacity(&self) -> usize {
        self.hr().size as usize
    }

    /// Bytes of free blocks.
    pub fn free_space(&self) -> usize {
        self.available() * BLOCK
    }

    /// Items stored, expired ones not yet removed included.
    pub fn count(&self) -> usize {
        self.hr().count as usize
    }

    /// Checks every structure of the dictionary without trusting any of it: the result
    /// says what is wrong. Run after a process died holding the lock, and by tests.
    pub fn check(&self) -> Result<(), String> {
        let h = self.hr();
        let nb = self.nblocks;
        if h.frontier == 0 || h.frontier > nb {
            return Err(format!("frontier {} out of range", h.frontier));
        }
        let mut marks = Marks {
            seen: vec![0u8; nb as usize],
            frontier: h.frontier,
        };
        let ok_block = |b: u32| b != NIL && b < h.frontier;
        // SAFETY: only called with indices checked by ok_block.
        let r32 = |b: u32, off: usize| unsafe {
            ptr::read_unaligned(self.blocks.add(b as usize * BLOCK + off).cast::<u32>())
        };
        let free = marks.chain(self, h.free_head, "free list")?;
        if free != h.free_count as usize {
            return Err(format!("free list holds {free} blocks, header says {}", h.free_count));
        }
        let mut items = 0usize;
        let (mut item, mut prev) = (h.lru_head, NIL);
        while item != NIL {
            if !ok_block(item) || marks.seen[item as usize] != 0 {
                return Err(format!("LRU list: bad item {item}"));
            }
            if r32(item, I_PREV) != prev {
                return Err(format!("LRU list: item {item} has a wrong back link"));
            }
            let klen = self.r16(item, I_KLEN) as usize;
            let vtype = self.r8(item, I_TYPE);
            let vlen = r32(item, I_VLEN) as usize;
            let payload = if vtype == T_LIST { 8 } else { vlen };
            let blocks = marks.chain(self, item, "item")?;
            if blocks != blocks_for(klen + payload, ITEM_DATA) {
                return Err(format!("item {item} has {blocks} blocks for {} bytes", klen + payload));
            }
            match vtype {
                T_BOOLEAN if vlen == 1 => {}
                T_NUMBER if vlen == 8 => {}
                T_STRING => {}
                T_LIST => {
                    let (head, tail) = self.list_ends(item);
                    let (mut e, mut eprev, mut n) = (head, NIL, 0);
                    while e != NIL {
                        if !ok_block(e) || marks.seen[e as usize] != 0 {
                            return Err(format!("list of item {item}: bad element {e}"));
                        }
                        if r32(e, E_PREV) != eprev {
                            return Err(format!("list of item {item}: wrong back link"));
                        }
                        let len = r32(e, E_LEN) as usize;
                        if marks.chain(self, e, "list element")? != blocks_for(len, ELEM_DATA) {
                            return Err(format!("list of item {item}: element {e} has a wrong size"));
                        }
                        n += 1;
                        eprev = e;
                        e = r32(e, E_NEXT);
                    }
                    if eprev != tail || n != vlen || n == 0 {
                        return Err(format!("list of item {item}: {n} elements, header says {vlen}"));
                    }
                }
                other => return Err(format!("item {item}: bad type {other} (length {vlen})")),
            }
            let hash = r32(item, I_HASH);
            let mut k = vec![0; klen];
            self.read(item, ITEM_DATA, 0, &mut k);
            if self::hash(&k) != hash {
                return Err(format!("item {item}: hash does not match its key"));
            }
            items += 1;
            if items > nb as usize {
                return Err("LRU list: a cycle".into());
            }
            prev = item;
            item = r32(item, I_NEXT);
        }
        if prev != h.lru_tail {
            return Err("LRU list: tail is not its last item".into());
        }
        if items != h.count as usize {
            return Err(format!("{items} items on the LRU list, header says {}", h.count));
        }
        let mut chained = 0usize;
        for i in 0..self.nbuckets {
            // SAFETY: i < nbuckets.
            let mut item = unsafe { *self.buckets.add(i as usize) };
            while item != NIL {
                if !ok_block(item) || marks.seen[item as usize] == 0 {
                    return Err(format!("bucket {i}: item {item} is not on the LRU list"));
                }
                if r32(item, I_HASH) & (self.nbuckets - 1) != i {
                    return Err(format!("bucket {i}: item {item} hashes elsewhere"));
                }
                chained += 1;
                if chained > items {
                    return Err("hash chains: a cycle or a duplicate".into());
                }
                item = r32(item, I_HNEXT);
            }
        }
        if chained != items {
            return Err(format!("{chained} items in hash chains, {items} on the LRU list"));
        }
        let used = marks.seen.iter().filter(|&&s| s != 0).count();
        if used != h.frontier as usize - 1 {
            return Err(format!(
                "{} blocks below the frontier, {used} accounted for",
                h.frontier - 1
            ));
        }
        Ok(())
    }
}

/// Blocks [`Dict::check`] has accounted for.
struct Marks {
    seen: Vec<u8>,
    frontier: u32,
}

impl Marks {
    /// Marks the blocks of a chain (each in range and used once); how many it has.
    fn chain(&mut self, dict: &Dict, first: u32, what: &str) -> Result<usize, String> {
        let (mut b, mut n) = (first, 0);
        while b != NIL {
            if b >= self.frontier {
                return Err(format!("{what}: block {b} out of range"));
            }
            if self.seen[b as usize] != 0 {
                return Err(format!("{what}: block {b} used twice"));
            }
            self.seen[b as usize] = 1;
            n += 1;
            b = dict.r32(b, 0);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A zone in process memory (one process: no sharing needed to test the layout).
    struct TestZone {
        mem: Vec<u64>,
    }

    impl TestZone {
        fn new(size: usize) -> TestZone {
            let mut z = TestZone {
                mem: vec![0u64; size / 8],
            };
            // SAFETY: zeroed, owned, `size` bytes.
            unsafe { Dict::format(z.mem.as_mut_ptr().cast(), size, "test").unwrap() };
            z
        }
        fn dict(&mut self) -> Dict {
            // SAFETY: formatted above; one thread.
            unsafe { Dict::at(self.mem.as_mut_ptr().cast()) }
        }
    }

    const SET: StoreOp = StoreOp {
        add: false,
        replace: false,
        safe: false,
    };

    fn get_str(d: &mut Dict, k: &str, now: u64) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        d.get(k.as_bytes(), false, now, &mut out).unwrap().map(|_| out)
    }

    #[test]
    fn set_get_replace_delete() {
        let mut z = TestZone::new(1 << 16);
        let mut d = z.dict();
        let long = vec![b'x'; 1000];
        assert_eq!(d.store(SET, b"k", Value::Str(b"v"), 0, 7, 1), Ok(false));
        let mut out = Vec::new();
        let f = d.get(b"k", false, 1, &mut out).unwrap().unwrap();
        assert_eq!((f.vtype, f.flags, out.as_slice()), (T_STRING, 7, &b"v"[..]));
        d.store(SET, b"k", Value::Str(&long), 0, 0, 1).unwrap();
        assert_eq!(get_str(&mut d, "k", 1).unwrap(), long);
        d.store(SET, b"k", Value::Number(2.5), 0, 0, 1).unwrap();
        assert_eq!(d.get(b"k", false, 1, &mut out).unwrap().unwrap().num, 2.5);
        d.store(SET, b"k", Value::Boolean(true), 0, 0, 1).unwrap();
        let f = d.get(b"k", false, 1, &mut out).unwrap().unwrap();
        assert_eq!((f.vtype, f.num), (T_BOOLEAN, 1.0));
        d.store(SET, b"k", Value::Nil, 0, 0, 1).unwrap();
        assert_eq!(get_str(&mut d, "k", 1), None);
        assert_eq!(d.count(), 0);
        d.check().unwrap();
    }

    #[test]
    fn add_replace_and_expiry() {
        let mut z = TestZone::new(1 << 16);
        let mut d = z.dict();
        let add = StoreOp { add: true, ..SET };
        let replace = StoreOp { replace: true, ..SET };
        assert_eq!(
            d.store(replace, b"a", Value::Number(1.0), 0, 0, 100),
            Err(fail(Error::NotFound))
        );
        d.store(add, b"a", Value::Number(1.0), 50, 0, 100).unwrap();
        assert_eq!(
            d.store(add, b"a", Value::Number(2.0), 0, 0, 120),
            Err(fail(Error::Exists))
        );
        assert_eq!(d.ttl(b"a", 120), Some(30));
        // expired: add works again, replace does not, get_stale still sees it
        let mut out = Vec::new();
        let f = d.get(b"a", true, 151, &mut out).unwrap().unwrap();
        assert!(f.stale);
        assert_eq!(
            d.store(replace, b"a", Value::Number(3.0), 0, 0, 151),
            Err(fail(Error::NotFound))
        );
        d.store(add, b"a", Value::Number(3.0), 0, 0, 151).unwrap();
        assert_eq!(d.ttl(b"a", 151), Some(0));
        assert_eq!(d.store(add, b"b", Value::Nil, 0, 0, 1), Err(fail(Error::NilValue)));
        d.check().unwrap();
    }

    #[test]
    fn incr_and_lists() {
        let mut z = TestZone::new(1 << 16);
        let mut d = z.dict();
        assert_eq!(d.incr(b"n", 1.0, None, 0, 1), Err(fail(Error::NotFound)));
        assert_eq!(d.incr(b"n", 1.0, Some(10.0), 0, 1), Ok((11.0, false)));
        assert_eq!(d.incr(b"n", -2.0, Some(10.0), 0, 1), Ok((9.0, false)));
        d.store(SET, b"s", Value::Str(b"x"), 0, 0, 1).unwrap();
        assert_eq!(d.incr(b"s", 1.0, None, 0, 1), Err(fail(Error::NotANumber)));
        assert_eq!(d.push(b"l", true, Value::Str(b"a"), 1), Ok(1));
        assert_eq!(d.push(b"l", false, Value::Number(2.0), 1), Ok(2));
        assert_eq!(d.push(b"l", true, Value::Str(&[b'z'; 300]), 1), Ok(3));
        assert_eq!(d.push(b"s", true, Value::Str(b"a"), 1), Err(Error::NotAList));
        assert_eq!(d.llen(b"l", 1), Ok(3));
        let mut out = Vec::new();
        assert_eq!(d.get(b"l", false, 1, &mut out), Err(Error::IsAList));
        d.check().unwrap();
        let f = d.pop(b"l", false, 1, &mut out).unwrap().unwrap();
        assert_eq!((f.vtype, f.num), (T_NUMBER, 2.0));
        d.pop(b"l", true, 1, &mut out).unwrap().unwrap();
        assert_eq!(out, vec![b'z'; 300]);
        d.pop(b"l", true, 1, &mut out).unwrap().unwrap();
        assert_eq!(out, b"a");
        assert_eq!(d.pop(b"l", true, 1, &mut out), Ok(None));
        assert_eq!(d.llen(b"l", 1), Ok(0));
        d.check().unwrap();
    }

    #[test]
    fn eviction_takes_least_recently_used_first() {
        let mut z = TestZone::new(MIN_SIZE);
        let mut d = z.dict();
        let mut i = 0;
        while d.store(SET, format!("k{i}").as_bytes(), Value::Str(&[1; 100]), 0, 0, 1) == Ok(false) {
            i += 1;
        }
        // the store that said forcible evicted k0 (the oldest)
        assert_eq!(get_str(&mut d, "k0", 1), None);
        assert!(get_str(&mut d, "k1", 1).is_some()); // k1 is now the most recent
        d.store(SET, b"new", Value::Str(&[1; 100]), 0, 0, 1).unwrap();
        assert!(get_str(&mut d, "k1", 1).is_some());
        assert_eq!(get_str(&mut d, "k2", 1), None);
        // safe_set does not evict
        let safe = StoreOp { safe: true, ..SET };
        assert_eq!(
            d.store(safe, b"big", Value::Str(&[1; 3000]), 0, 0, 1),
            Err(fail(Error::NoMemory))
        );
        // a value bigger than the zone fails without evicting anything
        let n = d.count();
        assert_eq!(
            d.store(SET, b"huge", Value::Str(&[1; 9000]), 0, 0, 1),
            Err(fail(Error::NoMemory))
        );
        assert_eq!(d.count(), n);
        d.check().unwrap();
    }

    #[test]
    fn expired_items_go_before_valid_ones() {
        let mut z = TestZone::new(MIN_SIZE);
        let mut d = z.dict();
        let mut i = 0;
        loop {
            // the oldest items expire; the newest do not
            let ttl = if i < 20 { 10 } else { 0 };
            if d.store(SET, format!("k{i}").as_bytes(), Value::Str(&[1; 100]), ttl, 0, 1) != Ok(false) {
                break;
            }
            i += 1;
        }
        d.store(SET, b"k0", Value::Nil, 0, 0, 1).unwrap();
        // at t=100 the first ones are expired: room comes from them, no valid item goes
        assert_eq!(d.store(SET, b"x", Value::Str(&[1; 600]), 0, 0, 100), Ok(false));
        d.check().unwrap();
    }

    /// Keys that differ little (counters, prefixes) still spread over the buckets.
    #[test]
    fn hash_spreads_similar_keys() {
        for (shape, keys) in [
            ("k{i}", (0..100_000).map(|i| format!("k{i}")).collect::<Vec<_>>()),
            (
                "user:{i}:session",
                (0..100_000).map(|i| format!("user:{i}:session")).collect(),
            ),
            ("{i:08}", (0..100_000).map(|i| format!("{i:08}")).collect()),
        ] {
            let mut buckets = vec![0u32; 1 << 15];
            for k in &keys {
                buckets[(hash(k.as_bytes()) & ((1 << 15) - 1)) as usize] += 1;
            }
            let max = *buckets.iter().max().unwrap();
            // ~3 keys per bucket on average; a good spread keeps the longest chain short
            assert!(max <= 16, "{shape}: a bucket holds {max} keys");
        }
    }

    /// A small xorshift generator: the tests need no crate for randomness.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Model {
        Str(Vec<u8>),
        Num(f64),
        List(std::collections::VecDeque<Vec<u8>>),
    }

    /// Random operations against a zone large enough never to evict, compared with a
    /// plain map; every structure checked after every operation.
    #[test]
    fn randomized_against_a_model() {
        let mut z = TestZone::new(1 << 22);
        let mut d = z.dict();
        let mut model: HashMap<Vec<u8>, Model> = HashMap::new();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut out = Vec::new();
        for step in 0..20_000 {
            let key = format!("key{}", rng.below(200)).into_bytes();
            let len = [0, 5, 23, 24, 25, 84, 85, 200, 1500][rng.below(9) as usize];
            let val: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            match rng.below(8) {
                0 | 1 => {
                    let r = d.store(SET, &key, Value::Str(&val), 0, 0, 1);
                    assert_eq!(r, Ok(false));
                    model.insert(key.clone(), Model::Str(val));
                }
                2 => {
                    d.store(SET, &key, Value::Nil, 0, 0, 1).unwrap();
                    model.remove(&key);
                }
                3 => {
                    let r = d.incr(&key, 1.0, Some(0.0), 0, 1);
                    match model.get_mut(&key) {
                        Some(Model::Num(n)) => {
                            *n += 1.0;
                            assert_eq!(r, Ok((*n, false)));
                        }
                        Some(_) => assert_eq!(r, Err(fail(Error::NotANumber))),
                        None => {
                            assert_eq!(r, Ok((1.0, false)));
                            model.insert(key.clone(), Model::Num(1.0));
                        }
                    }
                }
                4 | 5 => {
                    let left = rng.below(2) == 0;
                    let r = d.push(&key, left, Value::Str(&val), 1);
                    match model
                        .entry(key.clone())
                        .or_insert_with(|| Model::List(Default::default()))
                    {
                        Model::List(l) => {
                            if left {
                                l.push_front(val)
                            } else {
                                l.push_back(val)
                            }
                            assert_eq!(r, Ok(l.len()));
                        }
                        _ => assert_eq!(r, Err(Error::NotAList)),
                    }
                }
                6 => {
                    let left = rng.below(2) == 0;
                    let r = d.pop(&key, left, 1, &mut out);
                    match model.get_mut(&key) {
                        Some(Model::List(l)) => {
                            let v = if left { l.pop_front() } else { l.pop_back() }.unwrap();
                            assert!(r.unwrap().is_some());
                            assert_eq!(out, v);
                            if l.is_empty() {
                                model.remove(&key);
                            }
                        }
                        Some(_) => assert_eq!(r, Err(Error::NotAList)),
                        None => assert_eq!(r, Ok(None)),
                    }
                }
                _ => {
                    let r = d.get(&key, false, 1, &mut out);
                    match model.get(&key) {
                        Some(Model::Str(v)) => {
                            assert_eq!(r.unwrap().unwrap().vtype, T_STRING);
                            assert_eq!(&out, v);
                        }
                        Some(Model::Num(n)) => assert_eq!(r.unwrap().unwrap().num, *n),
                        Some(Model::List(_)) => assert_eq!(r, Err(Error::IsAList)),
                        None => assert_eq!(r, Ok(None)),
                    }
                }
            }
            if let Err(e) = d.check() {
                panic!("step {step}: {e}");
            }
            assert_eq!(d.count(), model.len());
        }
        let mut keys = d.keys(0, 1);
        keys.sort();
        let mut expect: Vec<_> = model.keys().cloned().collect();
        expect.sort();
        assert_eq!(keys, expect);
    }

    /// A small zone under random mixed-size sets with TTLs and deletes: every set of a
    /// value that fits succeeds (evicting as needed), and the structures stay sound.
    #[test]
    fn randomized_full_zone_never_refuses_what_fits() {
        let mut z = TestZone::new(1 << 15);
        let mut d = z.dict();
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for step in 0..30_000u64 {
            let key = format!("k{}", rng.below(500)).into_bytes();
            let len = rng.below(4000) as usize;
            let val = vec![7u8; len];
            let now = step;
            match rng.below(10) {
                0 => {
                    d.store(SET, &key, Value::Nil, 0, 0, now).unwrap();
                }
                1 => {
                    d.flush_expired(3, now);
                }
                2 => {
                    let _ = d.push(&key, true, Value::Str(&val[..len % 300]), now);
                }
                _ => {
                    let ttl = rng.below(3) * 50;
                    assert!(d.store(SET, &key, Value::Str(&val), ttl, 0, now).is_ok(), "step {step}");
                }
            }
            if let Err(e) = d.check() {
                panic!("step {step}: {e}");
            }
        }
    }

    /// The fill ratio with mixed sizes: how much of the zone holds keys and values once
    /// it is full and evicting (the target: at least 85%).
    #[test]
    fn mixed_sizes_fill_at_least_85_percent() {
        let size = 8 << 20;
        let mut z = TestZone::new(size);
        let mut d = z.dict();
        let mut rng = Rng(42);
        let mut live: HashMap<Vec<u8>, usize> = HashMap::new();
        for i in 0..200_000u64 {
            let key = format!("item:{i}").into_bytes();
            let len = 100 + rng.below(3900) as usize;
            let val = vec![1u8; len];
            d.store(SET, &key, Value::Str(&val), 0, 0, 1).unwrap();
            live.insert(key, len);
        }
        // what is still there (evicted ones are gone from the dict)
        let mut held = 0usize;
        let mut out = Vec::new();
        for (k, len) in &live {
            if d.get(k, false, 1, &mut out).unwrap().is_some() {
                held += k.len() + len;
            }
        }
        let ratio = held as f64 / size as f64;
        println!("fill ratio with values of 100..4000 bytes: {:.1}%", ratio * 100.0);
        assert!(ratio >= 0.85, "fill ratio {ratio}");
        d.check().unwrap();
    }
}
