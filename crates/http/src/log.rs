//! The error log: nginx's line format and levels, one log per process, reopenable (USR1).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Stderr = 0,
    Emerg = 1,
    Alert = 2,
    Crit = 3,
    Error = 4,
    Warn = 5,
    Notice = 6,
    Info = 7,
    Debug = 8,
}

impl Level {
    pub fn name(self) -> &'static str {
        [
            "stderr", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
        ][self as usize]
    }

    /// The level of nginx's number for it (`ngx.ERR` is 4), as Lua gives it.
    pub fn from_number(n: i64) -> Option<Level> {
        Some(match n {
            0 => Level::Stderr,
            1 => Level::Emerg,
            2 => Level::Alert,
            3 => Level::Crit,
            4 => Level::Error,
            5 => Level::Warn,
            6 => Level::Notice,
            7 => Level::Info,
            8 => Level::Debug,
            _ => return None,
        })
    }

    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "stderr" => Level::Stderr,
            "emerg" => Level::Emerg,
            "alert" => Level::Alert,
            "crit" => Level::Crit,
            "error" => Level::Error,
            "warn" => Level::Warn,
            "notice" => Level::Notice,
            "info" => Level::Info,
            "debug" => Level::Debug,
            _ => return None,
        })
    }
}

/// Where the error log goes: a file path, the process's stderr, or syslog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stderr,
    File(PathBuf),
    Syslog(std::sync::Arc<crate::syslog::Syslog>),
}

struct Sink {
    target: Target,
    file: Option<File>,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Points the error log at `target` (opening it) from now on.
pub fn open(target: Target, level: Level) -> std::io::Result<()> {
    let file = match &target {
        Target::Stderr | Target::Syslog(_) => None,
        Target::File(p) => Some(OpenOptions::new().create(true).append(true).open(p)?),
    };
    LEVEL.store(level as u8, Ordering::Relaxed);
    if let Ok(mut s) = SINK.lock() {
        *s = Some(Sink { target, file });
    }
    Ok(())
}

/// Reopens the file (USR1, after the log was rotated away).
pub fn reopen() -> std::io::Result<()> {
    let Ok(mut s) = SINK.lock() else {
        return Ok(());
    };
    if let Some(sink) = s.as_mut()
        && let Target::File(p) = &sink.target
    {
        sink.file = Some(OpenOptions::new().create(true).append(true).open(p)?);
    }
    Ok(())
}

/// The level the error log is written at (`error_log file LEVEL`).
pub fn level() -> Level {
    Level::from_number(LEVEL.load(Ordering::Relaxed).into()).unwrap_or(Level::Debug)
}

/// One line kept by `lua_capture_error_log`.
pub struct Captured {
    pub level: Level,
    /// When it was written, in seconds since the epoch (ms precision).
    pub time: f64,
    /// The line as written, without its newline.
    pub line: String,
}

/// What each kept line costs besides its text: a ring buffer's per-entry header.
const CAPTURED_OVERHEAD: usize = 32;

/// `lua_capture_error_log`: the last lines this process wrote, within `size` bytes (the
/// oldest go first), for Lua's `ngx.errlog.get_logs`. Lines above `filter` are not kept.
struct Capture {
    size: usize,
    used: usize,
    filter: Level,
    lines: VecDeque<Captured>,
}

impl Capture {
    fn new(size: usize) -> Capture {
        Capture {
            size,
            used: 0,
            filter: Level::Debug,
            lines: VecDeque::new(),
        }
    }

    fn push(&mut self, level: Level, time: f64, line: &str) {
        let cost = line.len() + CAPTURED_OVERHEAD;
        if level > self.filter || cost > self.size {
            return;
        }
        while self.used + cost > self.size {
            match self.lines.pop_front() {
                Some(old) => self.used -= old.line.len() + CAPTURED_OVERHEAD,
                None => break,
            }
        }
        self.used += cost;
        self.lines.push_back(Captured {
            level,
            time,
            line: line.to_string(),
        });
    }

    fn take(&mut self, max: usize) -> Vec<Captured> {
        let n = max.min(self.lines.len());
        let out: Vec<Captured> = self.lines.drain(..n).collect();
        self.used -= out.iter().map(|l| l.line.len() + CAPTURED_OVERHEAD).sum::<usize>();
        out
    }
}

static CAPTURE: Mutex<Option<Capture>> = Mutex::new(None);

/// The capture buffer: `size` bytes, or none. Set (and emptied) per configuration load.
pub fn set_capture(size: Option<usize>) {
    if let Ok(mut c) = CAPTURE.lock() {
        *c = size.map(Capture::new);
    }
}

/// What the capture functions answer when no `lua_capture_error_log` is configured.
pub const NO_CAPTURE: &str = "directive \"lua_capture_error_log\" is not set";

pub fn capturing() -> bool {
    CAPTURE.lock().is_ok_and(|c| c.is_some())
}

fn with_capture<R>(f: impl FnOnce(&mut Capture) -> R) -> Result<R, &'static str> {
    let mut c = CAPTURE.lock().map_err(|_| NO_CAPTURE)?;
    c.as_mut().map(f).ok_or(NO_CAPTURE)
}

/// Keeps only lines of `level` or more severe from now on.
pub fn set_capture_filter(level: Level) -> Result<(), &'static str> {
    with_capture(|c| c.filter = level)
}

/// Takes up to `max` of the oldest kept lines out of the buffer.
pub fn take_captured(max: usize) -> Result<Vec<Captured>, &'static str> {
    with_capture(|c| c.take(max))
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line: `2026/11/27 20:34:10 [error] 123#123: *5 message`. `conn` is 0 when the
/// line is not about a connection.
pub fn write(level: Level, conn: u64, msg: &str) {
    if !enabled(level) {
        return;
    }
    let pid = std::process::id();
    let mut line = crate::time::with(|t| format!("{} [{}] {pid}#{pid}: ", t.err_log, level.name()));
    if conn != 0 {
        line.push_str(&format!("*{conn} "));
    }
    line.push_str(msg);
    let _ = with_capture(|c| c.push(level, crate::time::now_f64(), &line));
    let Ok(mut s) = SINK.lock() else { return };
    if let Some(Sink {
        target: Target::Syslog(peer),
        ..
    }) = s.as_ref()
    {
        peer.send(crate::syslog::severity_of(level), &line);
        return;
    }
    line.push('\n');
    match s.as_mut().and_then(|s| s.file.as_mut()) {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// `error_log` with a printf-style message: `log!(Level::Error, conn, "open() \"{}\" failed", p)`.
#[macro_export]
macro_rules! elog {
    ($lvl:expr, $conn:expr, $($fmt:tt)+) => {
        if $crate::log::enabled($lvl) {
            $crate::log::write($lvl, $conn, &format!($($fmt)+));
        }
    };
}

/// The fd the log writes to, so that a daemon can point its stderr there (nginx does).
pub fn raw_fd() -> Option<i32> {
    use std::os::fd::AsRawFd;
    SINK.lock().ok()?.as_ref()?.file.as_ref().map(|f| f.as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_newest_lines_within_its_size() {
        let mut c = Capture::new(3 * (10 + CAPTURED_OVERHEAD));
        for i in 0..5 {
            c.push(Level::Error, 0.0, &format!("line {i:05}"));
        }
        c.push(Level::Error, 0.0, &"x".repeat(1000));
        c.filter = Level::Warn;
        c.push(Level::Info, 0.0, "dropped by the filter");
        let got: Vec<String> = c.take(2).into_iter().map(|c| c.line).collect();
        assert_eq!(got, ["line 00002", "line 00003"]);
        assert_eq!(c.used, 10 + CAPTURED_OVERHEAD);
        let rest = c.take(10);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].line, "line 00004");
        assert!(c.take(10).is_empty());
        assert_eq!(c.used, 0);
    }
}
