//! Time: `ngx.sleep` (checked here, yielded by the prelude), `ngx.now` and `ngx.time`
//! through FFI, and the formatting functions (`today`, `localtime`, `utctime`,
//! `http_time`, `cookie_time`, `parse_http_time`, `update_time`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mlua::{Lua, Table, Value};

use super::{api_function, bad_argument, lua_type_name};

/// ngx.now(): seconds with millisecond precision.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_now() -> f64 {
    http::time::now_f64()
}

/// ngx.time(): whole seconds.
#[unsafe(no_mangle)]
pub extern "C" fn oxr_time() -> i64 {
    http::time::precise_sec()
}

fn datetime(sec: i64, local: bool) -> String {
    let (y, mo, d, h, mi, s) = http::time::calendar(sec, local);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

fn seconds_arg(v: Value, name: &str) -> mlua::Result<i64> {
    match v {
        Value::Integer(i) => Ok(i),
        Value::Number(n) => Ok(n as i64),
        Value::String(s) => s
            .to_str()?
            .trim()
            .parse::<f64>()
            .map(|n| n as i64)
            .map_err(|_| bad_argument(1, name, "number expected, got string")),
        other => Err(bad_argument(
            1,
            name,
            &format!("number expected, got {}", lua_type_name(&other)),
        )),
    }
}

pub fn register(lua: &Lua, ngx: &Table, private: &Table) -> mlua::Result<()> {
    private.set(
        "check_sleep",
        // in lua-nginx-module's order: argument count, number, sign. The seconds to
        // wait for by yielding; nil when the phase cannot yield (init, set, filters,
        // log…): there, as in OpenResty, the worker sleeps blocking, here.
        api_function(lua, "sleep", |_, (n, v): (usize, Value)| {
            if n != 1 {
                return Err(mlua::Error::runtime(format!(
                    "attempt to pass {n} arguments, but accepted 1"
                )));
            }
            let secs = match v {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                Value::String(s) => s
                    .to_str()?
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| bad_argument(1, "sleep", "number expected, got string"))?,
                other => {
                    return Err(bad_argument(
                        1,
                        "sleep",
                        &format!("number expected, got {}", lua_type_name(&other)),
                    ));
                }
            };
            if secs.is_nan() || secs < 0.0 {
                let ms = if secs.is_nan() { 0 } else { (secs * 1000.0) as i64 };
                return Err(mlua::Error::runtime(format!("invalid sleep duration \"{ms}\"")));
            }
            if crate::request::YIELD_PHASES.contains(crate::request::phase()) {
                return Ok(Some(secs));
            }
            // (a phase that may not hold the worker, as OpenResty refuses it there)
            if crate::request::phase() == crate::request::Phase::SslSessStore {
                crate::request::check_context(crate::request::YIELD_PHASES)?;
            }
            std::thread::sleep(Duration::from_millis((secs * 1000.0) as u64));
            Ok(None)
        })?,
    )?;
    ngx.set(
        "today",
        api_function(lua, "today", |_, ()| {
            Ok(datetime(http::time::precise_sec(), true)[..10].to_string())
        })?,
    )?;
    ngx.set(
        "localtime",
        api_function(lua, "localtime", |_, ()| Ok(datetime(http::time::precise_sec(), true)))?,
    )?;
    ngx.set(
        "utctime",
        api_function(lua, "utctime", |_, ()| Ok(datetime(http::time::precise_sec(), false)))?,
    )?;
    ngx.set("update_time", api_function(lua, "update_time", |_, ()| Ok(()))?)?;
    ngx.set(
        "http_time",
        api_function(lua, "http_time", |_, v: Value| {
            let sec = seconds_arg(v, "http_time")?;
            Ok(http::time::http_date(
                UNIX_EPOCH + Duration::from_secs(sec.max(0) as u64),
            ))
        })?,
    )?;
    ngx.set(
        "cookie_time",
        api_function(lua, "cookie_time", |_, v: Value| {
            let t = http::time::tm_of(seconds_arg(v, "cookie_time")?, false);
            // nginx's ngx_http_cookie_time: two-digit years with dashes, up to 2037
            let year = t.tm_year + 1900;
            let (sep, shown) = if year > 2037 { (" ", year) } else { ("-", year % 100) };
            Ok(format!(
                "{}, {:02}{sep}{}{sep}{:02} {:02}:{:02}:{:02} GMT",
                http::time::DAYS[t.tm_wday as usize % 7],
                t.tm_mday,
                http::time::MONTHS[t.tm_mon as usize % 12],
                shown,
                t.tm_hour,
                t.tm_min,
                t.tm_sec
            ))
        })?,
    )?;
    ngx.set(
        "parse_http_time",
        api_function(lua, "parse_http_time", |_, s: mlua::LuaString| {
            let s = s.to_str()?;
            Ok(httpdate_parse(&s))
        })?,
    )?;
    Ok(())
}

/// Seconds since the epoch of an HTTP date (RFC 1123, RFC 850, asctime); nil if it is not.
fn httpdate_parse(s: &str) -> Option<i64> {
    let t: SystemTime = http::time::parse_http_date(s)?;
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs() as i64)
}
