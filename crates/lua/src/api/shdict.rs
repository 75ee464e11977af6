//! `ngx.shared.DICT`: the `lua_shared_dict` directive and the FFI entry points that
//! lualib/shdict.lua calls. The dictionaries themselves live in the shdict crate.
//!
//! Lua holds each zone's address as a light userdata (`ngx.shared.NAME[1]`, as
//! OpenResty); the wrappers only pass addresses they were given by [`declare`], and the
//! zones stay mapped for as long as the VM that holds them (its app data).

use std::cell::RefCell;
use std::ffi::c_char;
use std::rc::Rc;

use mlua::{LightUserData, Lua};

use super::lua_bytes as bytes;
use shdict::dict::{T_NIL, T_STRING};
use shdict::{Key, LazyNow, Locked, Recovery, StoreOp, Value, Zone};

/// The zones a VM's configuration declared, kept mapped while the VM lives.
#[derive(Default)]
struct Zones(Vec<Rc<Zone>>);

/// `lua_shared_dict NAME SIZE`: maps the zone (or keeps the one of the previous
/// configuration with that name and size) and adds `ngx.shared.NAME`.
pub fn declare(lua: &Lua, name: &str, size: usize) -> Result<(), String> {
    if lua.app_data_ref::<Zones>().is_none() {
        lua.set_app_data(Zones::default());
        shdict::on_recovery(report_recovery);
    }
    let mut zones = lua.app_data_mut::<Zones>().ok_or("shared dict zones are in use")?;
    if zones.0.iter().any(|z| z.name() == name) {
        return Err(format!("lua_shared_dict \"{name}\" is already defined as \"{name}\""));
    }
    let zone = shdict::open(name, size).map_err(|e| format!("failed to map lua_shared_dict \"{name}\": {e}"))?;
    let base = LightUserData(zone.base().cast());
    zones.0.push(zone);
    drop(zones);
    let register: mlua::Function = lua
        .globals()
        .get::<mlua::Table>("__oxr")
        .and_then(|t| t.get("shdict_register"))
        .map_err(|e| e.to_string())?;
    register.call::<()>((name, base)).map_err(|e| e.to_string())
}

thread_local! {
    /// Where a string value waits for the wrapper to copy it (valid until the next call).
    static VALUE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Locks a zone.
///
/// # Safety
/// `zone` is a zone address handed out by [`declare`] (the wrappers check it).
unsafe fn lock(zone: *mut u8) -> Locked {
    // SAFETY: the caller's contract.
    unsafe { shdict::lock_at(zone) }
}

/// The key a wrapper passes, hashed. Made before the zone is locked: the hash's
/// multiplications then overlap the lock's atomic (it stores nothing, so the atomic has
/// nothing more to wait for).
///
/// # Safety
/// `key` points at `klen` readable bytes (a Lua string).
#[inline(always)]
unsafe fn key_at<'a>(key: *const u8, klen: usize) -> Key<'a> {
    // SAFETY: the caller's contract.
    Key::new(unsafe { bytes(key, klen) })
}

/// Logs a lock taken over from a process that died holding it.
fn report_recovery(name: &str, found: &Recovery) {
    match found {
        Recovery::Consistent => http::elog!(
            http::log::Level::Alert,
            0,
            "lua_shared_dict \"{name}\": a process died holding its lock; the lock is taken over, the contents were intact"
        ),
        Recovery::Emptied(what) => http::elog!(
            http::log::Level::Alert,
            0,
            "lua_shared_dict \"{name}\": a process died holding its lock mid-change ({what}); the dictionary was emptied"
        ),
    }
}

/// The value a wrapper passes: Lua's type number, a string or a number (booleans as
/// 0/1, as lua-resty-core passes them).
///
/// # Safety
/// For a string, `s` points at `slen` readable bytes.
unsafe fn value<'a>(vtype: i32, s: *const u8, slen: usize, num: f64) -> Option<Value<'a>> {
    Some(match vtype {
        0 => Value::Nil,
        1 => Value::Boolean(num != 0.0),
        3 => Value::Number(num),
        // SAFETY: the caller's contract.
        4 => Value::Str(unsafe { bytes(s, slen) }),
        _ => return None,
    })
}

/// A timeout in ms from Lua (seconds × 1000, already checked not negative).
fn ms(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 { v as u64 } else { 0 }
}

/// Hands a get's or pop's outcome to the wrapper: 0 with the value in the out-slots
/// (strings through [`VALUE`]), or -1 with the error.
///
/// # Safety
/// The out-pointers are the wrapper's own cdata.
unsafe fn hand_out(
    r: Result<Option<shdict::Found>, shdict::Error>,
    vtype: *mut i32,
    buf: *mut *const u8,
    len: *mut usize,
    num: *mut f64,
    err: *mut *const c_char,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        let f = match r {
            Ok(Some(f)) => f,
            Ok(None) => {
                *vtype = T_NIL as i32;
                return 0;
            }
            Err(e) => return refuse(e, err),
        };
        *vtype = f.vtype as i32;
        *num = f.num;
        if f.vtype == T_STRING {
            VALUE.with(|v| {
                let v = v.borrow();
                *buf = v.as_ptr();
                *len = v.len();
            });
        }
    }
    0
}

/// -1, with the error's text for the wrapper.
///
/// # Safety
/// `err` is the wrapper's own cdata.
unsafe fn refuse(e: shdict::Error, err: *mut *const c_char) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { *err = e.text().as_ptr() };
    -1
}

/// get / get_stale. 0, or -1 with `err`.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_shdict_get(
    zone: *mut u8,
    key: *const u8,
    klen: usize,
    stale: i32,
    vtype: *mut i32,
    buf: *mut *const u8,
    len: *mut usize,
    num: *mut f64,
    flags: *mut i32,
    is_stale: *mut i32,
    err: *mut *const c_char,
) -> i32 {
    // SAFETY: the wrapper passes a checked zone, a Lua string and its own cdata.
    unsafe {
        let key = key_at(key, klen);
        let mut l = lock(zone);
        let r = VALUE.with(|v| l.dict.get(key, stale != 0, &LazyNow::default(), &mut v.borrow_mut()));
        drop(l);
        if let Ok(Some(f)) = &r {
            *flags = f.flags as i32;
            *is_stale = f.stale as i32;
        }
        hand_out(r, vtype, buf, len, num, err)
    }
}

/// set, safe_set, add, safe_add, replace, delete. 0, or -1 with `err`; `forcible` set.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_shdict_store(
    zone: *mut u8,
    op: i32,
    key: *const u8,
    klen: usize,
    vtype: i32,
    s: *const u8,
    slen: usize,
    num: f64,
    exptime_ms: f64,
    flags: i32,
    forcible: *mut i32,
    err: *mut *const c_char,
) -> i32 {
    let op = StoreOp {
        add: op & 1 != 0,
        replace: op & 2 != 0,
        safe: op & 4 != 0,
    };
    // SAFETY: as oxr_shdict_get.
    unsafe {
        let key = key_at(key, klen);
        // (the lock before any store: its atomic waits for every store before it)
        let mut l = lock(zone);
        let Some(v) = value(vtype, s, slen, num) else {
            drop(l);
            *forcible = 0;
            *err = c"bad value type".as_ptr();
            return -1;
        };
        let r = l
            .dict
            .store(op, key, v, ms(exptime_ms), flags as u32, &LazyNow::default());
        drop(l);
        match r {
            Ok(f) => {
                *forcible = f as i32;
                0
            }
            Err(e) => failed(zone, e, forcible, err),
        }
    }
}

/// A store that failed: its error for the wrapper, and (as nginx's slab allocator does
/// at info level) a log line when the zone had no room.
///
/// # Safety
/// As oxr_shdict_get.
#[cold]
unsafe fn failed(zone: *mut u8, e: shdict::Failed, forcible: *mut i32, err: *mut *const c_char) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        *forcible = e.forcible as i32;
        if e.err == shdict::Error::NoMemory {
            http::elog!(
                http::log::Level::Info,
                0,
                "ngx_slab_alloc() failed: no memory in lua_shared_dict zone \"{}\"",
                shdict::name_at(zone)
            );
        }
        refuse(e.err, err)
    }
}

/// incr: the new value in `value`. 0, or -1 with `err`.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_shdict_incr(
    zone: *mut u8,
    key: *const u8,
    klen: usize,
    value: *mut f64,
    has_init: i32,
    init: f64,
    init_ttl_ms: f64,
    forcible: *mut i32,
    err: *mut *const c_char,
) -> i32 {
    // SAFETY: as oxr_shdict_get.
    unsafe {
        let key = key_at(key, klen);
        let init = (has_init != 0).then_some(init);
        let r = lock(zone)
            .dict
            .incr(key, *value, init, ms(init_ttl_ms), &LazyNow::default());
        match r {
            Ok((n, f)) => {
                *value = n;
                *forcible = f as i32;
                0
            }
            Err(e) => failed(zone, e, forcible, err),
        }
    }
}

/// lpush / rpush: the new length, or -1 with `err`.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_shdict_push(
    zone: *mut u8,
    key: *const u8,
    klen: usize,
    left: i32,
    vtype: i32,
    s: *const u8,
    slen: usize,
    num: f64,
    err: *mut *const c_char,
) -> i64 {
    // SAFETY: as oxr_shdict_get.
    unsafe {
        let key = key_at(key, klen);
        let r = match value(vtype, s, slen, num) {
            Some(v) => lock(zone).dict.push(key, left != 0, v, &LazyNow::default()),
            None => Err(shdict::Error::BadValueType),
        };
        r.map_or_else(|e| refuse(e, err) as i64, |n| n as i64)
    }
}

/// lpop / rpop. 0, or -1 with `err`.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_shdict_pop(
    zone: *mut u8,
    key: *const u8,
    klen: usize,
    left: i32,
    vtype: *mut i32,
    buf: *mut *const u8,
    len: *mut usize,
    num: *mut f64,
    err: *mut *const c_char,
) -> i32 {
    // SAFETY: as oxr_shdict_get.
    unsafe {
        let key = key_at(key, klen);
        let mut l = lock(zone);
        let r = VALUE.with(|v| l.dict.pop(key, left != 0, &LazyNow::default(), &mut v.borrow_mut()));
        drop(l);
        hand_out(r, vtype, buf, len, num, err)
    }
}

/// llen: the length, or -1 with `err`.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_shdict_llen(zone: *mut u8, key: *const u8, klen: usize, err: *mut *const c_char) -> i64 {
    // SAFETY: as oxr_shdict_get.
    unsafe {
        let key = key_at(key, klen);
        match lock(zone).dict.llen(key, &LazyNow::default()) {
            Ok(n) => n as i64,
            Err(e) => refuse(e, err) as i64,
        }
    }
}

/// ttl: ms left (0: none; negative: expired), `*found` 0 for a missing key.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_shdict_ttl(zone: *mut u8, key: *const u8, klen: usize, found: *mut i32) -> i64 {
    // SAFETY: as oxr_shdict_get.
    unsafe {
        let key = key_at(key, klen);
        let ttl = lock(zone).dict.ttl(key, &LazyNow::default());
        *found = ttl.is_some() as i32;
        ttl.unwrap_or(0)
    }
}

/// expire: 1, or 0 for a missing key.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_shdict_expire(zone: *mut u8, key: *const u8, klen: usize, exptime_ms: f64) -> i32 {
    // SAFETY: as oxr_shdict_get.
    unsafe {
        let key = key_at(key, klen);
        lock(zone).dict.set_expire(key, ms(exptime_ms), &LazyNow::default()) as i32
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn oxr_shdict_flush_all(zone: *mut u8) {
    // SAFETY: as oxr_shdict_get.
    unsafe { lock(zone).dict.flush_all(&LazyNow::default()) }
}

/// flush_expired: how many items went.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_shdict_flush_expired(zone: *mut u8, max: i64) -> i64 {
    // SAFETY: as oxr_shdict_get.
    unsafe { lock(zone).dict.flush_expired(max.max(0) as usize, &LazyNow::default()) as i64 }
}

#[unsafe(no_mangle)]
pub extern "C" fn oxr_shdict_capacity(zone: *mut u8) -> usize {
    // SAFETY: as oxr_shdict_get.
    unsafe { lock(zone).dict.capacity() }
}

#[unsafe(no_mangle)]
pub extern "C" fn oxr_shdict_free_space(zone: *mut u8) -> usize {
    // SAFETY: as oxr_shdict_get.
    unsafe { lock(zone).dict.free_space() }
}

/// `__oxr.shdict_keys(zone, max)`: get_keys (a table, so a classic function).
pub fn register(lua: &Lua, private: &mlua::Table) -> mlua::Result<()> {
    private.set(
        "shdict_keys",
        lua.create_function(|lua, (zone, max): (LightUserData, i64)| {
            // SAFETY: the wrapper checked the zone against the declared ones.
            let keys = unsafe { lock(zone.0.cast()) }
                .dict
                .keys(max.max(0) as usize, &LazyNow::default());
            let t = lua.create_table_with_capacity(keys.len(), 0)?;
            for (i, k) in keys.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(k)?)?;
            }
            Ok(t)
        })?,
    )
}
