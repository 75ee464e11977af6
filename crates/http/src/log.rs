//! The error log: nginx's line format and levels, one log per process, reopenable (USR1).

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

/// Where the error log goes: a file path or the process's stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stderr,
    File(PathBuf),
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
        Target::Stderr => None,
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
    line.push('\n');
    let Ok(mut s) = SINK.lock() else { return };
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
