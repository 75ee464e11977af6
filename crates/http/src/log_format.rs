//! `log_format` and `access_log`: formats over variables, files opened once per process,
//! reopened on USR1.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::request::Request;
use crate::template::Template;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    Default,
    Json,
    None,
}

#[derive(Debug)]
pub struct LogFormat {
    pub name: String,
    pub escape: Escape,
    pub template: Template,
}

pub const COMBINED: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"";

impl LogFormat {
    pub fn combined() -> LogFormat {
        LogFormat {
            name: "combined".into(),
            escape: Escape::Default,
            template: Template::parse(COMBINED).expect("valid"),
        }
    }

    pub fn render(&self, r: &Request) -> String {
        let esc = self.escape;
        self.template.render_with(r, |v| escape(&v, esc))
    }
}

fn escape(v: &str, how: Escape) -> String {
    match how {
        Escape::None => v.to_string(),
        Escape::Default => {
            if v.is_empty() {
                return "-".into();
            }
            let mut s = String::with_capacity(v.len());
            for b in v.bytes() {
                if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
                    s.push_str(&format!("\\x{b:02X}"));
                } else {
                    s.push(b as char);
                }
            }
            s
        }
        Escape::Json => {
            let mut s = String::with_capacity(v.len());
            for c in v.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    '\n' => s.push_str("\\n"),
                    '\r' => s.push_str("\\r"),
                    '\t' => s.push_str("\\t"),
                    c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
                    c => s.push(c),
                }
            }
            s
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccessLog {
    pub path: PathBuf,
    /// A path with variables (`logs/$host.log`): rendered per request, relative to the
    /// prefix, the file opened for each line (nginx without `open_log_file_cache`).
    pub path_vars: Option<crate::template::Template>,
    pub prefix: PathBuf,
    pub format: Arc<LogFormat>,
    /// `if=condition`: the request is logged unless it renders to "" or "0".
    pub condition: Option<crate::template::Template>,
}

thread_local! {
    static FILES: RefCell<HashMap<PathBuf, File>> = RefCell::new(HashMap::new());
}

/// Writes the request's lines to each configured access log.
pub fn write(r: &Request) {
    let logs = r.loc.settings.access_log();
    for log in logs.iter() {
        if let Some(cond) = &log.condition {
            let v = cond.render(r);
            if v.is_empty() || v == "0" {
                continue;
            }
        }
        let mut line = log.format.render(r);
        line.push('\n');
        if let Some(t) = &log.path_vars {
            write_to_rendered(r, &log.prefix, t, &line);
            continue;
        }
        FILES.with(|files| {
            let mut files = files.borrow_mut();
            if !files.contains_key(&log.path) {
                match OpenOptions::new().create(true).append(true).open(&log.path) {
                    Ok(f) => {
                        files.insert(log.path.clone(), f);
                    }
                    Err(e) => {
                        crate::elog!(
                            crate::log::Level::Alert,
                            0,
                            "open() \"{}\" failed ({})",
                            log.path.display(),
                            conf::errno_text(&e)
                        );
                        return;
                    }
                }
            }
            if let Some(f) = files.get_mut(&log.path) {
                let _ = f.write_all(line.as_bytes());
            }
        });
    }
}

/// A line for a log whose path has variables. As nginx, nothing is written while the
/// request's root directory does not exist (so that requests cannot create logs for
/// hosts or paths that are not served).
fn write_to_rendered(r: &Request, prefix: &std::path::Path, t: &crate::template::Template, line: &str) {
    let root = r.loc.settings.root();
    let root = prefix.join(&*root.get(r));
    if !root.is_dir() {
        let e = std::fs::metadata(&root)
            .err()
            .map(|e| format!(" ({})", conf::errno_text(&e)))
            .unwrap_or_default();
        r.log(
            crate::log::Level::Error,
            &format!("testing \"{}\" existence failed{e}", root.display()),
        );
        return;
    }
    let path = prefix.join(t.render(r));
    match OpenOptions::new().create(true).append(true).open(&path) {
        Ok(mut f) => {
            let _ = f.write_all(line.as_bytes());
        }
        Err(e) => r.log(
            crate::log::Level::Crit,
            &format!("open() \"{}\" failed ({})", path.display(), conf::errno_text(&e)),
        ),
    }
}

/// Closes every access log so that the next line reopens it (USR1).
pub fn reopen_all() {
    FILES.with(|f| f.borrow_mut().clear());
}
