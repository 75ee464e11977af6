//! Cached time strings, refreshed at most once a second (nginx's ngx_time_update).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct Cached {
    pub sec: i64,
    /// `2026/11/27 20:34:10` for the error log.
    pub err_log: String,
    /// `27/Nov/2026:20:34:10 +0000` ($time_local).
    pub local: String,
    /// `2026-11-27T20:34:10+00:00` ($time_iso8601).
    pub iso8601: String,
    /// `Fri, 27 Nov 2026 20:34:10 GMT` (Date header).
    pub http: String,
}

pub const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `sec` broken down in UTC or local time (`tm_year` from 1900, `tm_mon` from 0).
pub fn tm_of(sec: i64, local: bool) -> libc::tm {
    // SAFETY: localtime_r/gmtime_r only write into the tm we own; time_t is plain data.
    unsafe {
        let t: libc::time_t = sec as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        if local {
            libc::localtime_r(&t, &mut tm);
        } else {
            libc::gmtime_r(&t, &mut tm);
        }
        tm
    }
}

/// `sec` as (year, month 1–12, day, hour, minute, second), in UTC or local time.
pub fn calendar(sec: i64, local: bool) -> (i32, i32, i32, i32, i32, i32) {
    let t = tm_of(sec, local);
    (t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
}

/// The local time zone's offset from UTC at `sec`, in seconds.
pub fn local_offset(sec: i64) -> i64 {
    tm_of(sec, true).tm_gmtoff
}

impl Cached {
    fn build(sec: i64) -> Cached {
        let off = local_offset(sec) / 60;
        let (sign, off) = if off < 0 { ('-', -off) } else { ('+', off) };
        let (y, mo, d, h, mi, s) = calendar(sec, true);
        Cached {
            sec,
            err_log: format!("{y:04}/{mo:02}/{d:02} {h:02}:{mi:02}:{s:02}"),
            local: format!(
                "{d:02}/{}/{y:04}:{h:02}:{mi:02}:{s:02} {sign}{:02}{:02}",
                MONTHS[(mo - 1) as usize],
                off / 60,
                off % 60
            ),
            iso8601: format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{sign}{:02}:{:02}",
                off / 60,
                off % 60
            ),
            http: httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(sec.max(0) as u64)),
        }
    }
}

thread_local! {
    static CACHE: RefCell<Cached> = RefCell::new(Cached::build(now_sec()));
}

/// Whole seconds since the epoch, from the kernel's coarse clock: no clock source read,
/// a few ns (the Date header of every response asks), at most a tick late.
pub fn now_sec() -> i64 {
    match coarse_clock(libc::CLOCK_REALTIME_COARSE) {
        Some(ts) => ts.tv_sec,
        None => precise_sec(),
    }
}

/// One of the kernel's coarse clocks: read without a clock source, updated each tick.
fn coarse_clock(id: libc::clockid_t) -> Option<libc::timespec> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only the timespec we own.
    (unsafe { libc::clock_gettime(id, &mut ts) } == 0).then_some(ts)
}

/// The kernel's coarse monotonic clock in nanoseconds.
fn coarse_monotonic_ns() -> u64 {
    let ts = coarse_clock(libc::CLOCK_MONOTONIC_COARSE).unwrap_or(libc::timespec { tv_sec: 0, tv_nsec: 0 });
    (ts.tv_sec.max(0) as u64) * 1_000_000_000 + ts.tv_nsec.max(0) as u64
}

/// `coarse_now` as a std `Instant`: for upstream bookkeeping in whole seconds (idle
/// connections' timeouts, `fail_timeout`), as nginx reads its cached clock there.
pub fn coarse_instant() -> std::time::Instant {
    coarse_now().into_std()
}

/// Now, from the kernel's coarse monotonic clock (the clock `Instant` reads, without a
/// clock-source read; within a tick, a few ms): for the idle deadline every keepalive
/// request sets, where whole seconds matter.
pub fn coarse_now() -> tokio::time::Instant {
    thread_local! {
        // (an `Instant` and the coarse clock's reading at the same moment: later readings
        // are offsets from it, in plain integers, since this runs several times a request)
        static BASE: std::cell::Cell<Option<(tokio::time::Instant, u64)>> = const { std::cell::Cell::new(None) };
    }
    let coarse = coarse_monotonic_ns();
    BASE.with(|base| match base.get() {
        Some((at, at_coarse)) => at + std::time::Duration::from_nanos(coarse.saturating_sub(at_coarse)),
        None => {
            let at = tokio::time::Instant::now();
            base.set(Some((at, coarse)));
            at
        }
    })
}

/// `tokio::time::timeout` on the coarse clock: its deadline up to a tick early, as nginx's
/// timers on its cached time are, without a clock-source read (an upstream's connect,
/// send and read timeouts are set several times a request).
pub fn timeout<F: std::future::IntoFuture>(d: std::time::Duration, f: F) -> tokio::time::Timeout<F::IntoFuture> {
    tokio::time::timeout_at(coarse_now() + d, f)
}

/// Whole seconds since the epoch on `now_f64`'s clock: `ngx.time` and the Lua date
/// functions agree with `ngx.now` at the turn of a second, where `now_sec`'s coarse
/// clock is up to a tick behind (in nginx all of them read one cached time).
pub fn precise_sec() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Seconds since the epoch as a float with millisecond precision (`$msec`).
pub fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64 / 1000.0)
        .unwrap_or(0.0)
}

/// Runs `f` with the time strings of the current second.
pub fn with<R>(f: impl FnOnce(&Cached) -> R) -> R {
    let now = now_sec();
    CACHE.with(|c| {
        if c.borrow().sec != now {
            *c.borrow_mut() = Cached::build(now);
        }
        f(&c.borrow())
    })
}

/// Reads an HTTP date (RFC 1123, RFC 850, asctime).
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// An HTTP date for any time (Last-Modified).
pub fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

thread_local! {
    /// The last Last-Modified made: most requests are for the same few files.
    static LAST_DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// The HTTP date of `secs` after the epoch, remembered for the next call.
pub fn http_date_cached(secs: u64) -> String {
    LAST_DATE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs)));
        }
        c.1.clone()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn coarse_now_keeps_to_the_clock() {
        for _ in 0..3 {
            let (precise, coarse) = (tokio::time::Instant::now(), super::coarse_now());
            let apart = if precise > coarse {
                precise - coarse
            } else {
                coarse - precise
            };
            // a tick is a few ms; the margin is for a preemption between the two reads
            assert!(apart < std::time::Duration::from_millis(100), "{apart:?}");
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
    }

    #[test]
    fn shapes() {
        super::with(|c| {
            assert_eq!(c.err_log.len(), 19);
            assert_eq!(c.local.len(), 26);
            assert!(c.http.ends_with(" GMT"));
            assert_eq!(c.iso8601.len(), 25);
        });
    }
}
