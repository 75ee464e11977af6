//! nginx's log module: `log_format` and `access_log`, a log-phase handler. Formats are
//! over variables; files are opened once per process and reopened on USR1.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use conf::registry::{HTTP, LIF, LOC, SRV};
use conf::{Args, Cmd, ConfError, Directive, Result};

use crate::builder::{HttpBuilder, LocDraft};
use crate::config::HttpConf;
use crate::ext::ExtConf;
use crate::module::{Module, Phases};
use crate::phase::{LogHandler, LogStep};
use crate::request::Request;
use crate::template::Template;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("log_format", HTTP, Args::AtLeast(2), log_format),
    Directive::value("access_log", HTTP | SRV | LOC | LIF, Args::AtLeast(1), access_log),
];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_log_module", DIRECTIVES)
};

/// The formats by name (`combined` is always there).
#[derive(Clone)]
struct Formats(HashMap<String, Arc<LogFormat>>);

impl Default for Formats {
    fn default() -> Formats {
        let mut all = HashMap::new();
        all.insert("combined".to_string(), Arc::new(LogFormat::combined()));
        Formats(all)
    }
}

impl ExtConf for Formats {
    fn merge(&mut self, _parent: &Self) {}
}

/// A level's logs (`None`: its parent's; none anywhere: `logs/access.log`, combined).
#[derive(Clone, Default)]
struct LogConf(Option<Arc<[AccessLog]>>);

impl ExtConf for LogConf {
    fn merge(&mut self, parent: &Self) {
        if self.0.is_none() {
            self.0 = parent.0.clone();
        }
    }
}

impl LogConf {
    fn logs(&self, prefix: &std::path::Path) -> Arc<[AccessLog]> {
        self.0.clone().unwrap_or_else(|| {
            Arc::from(vec![AccessLog {
                path: prefix.join("logs/access.log"),
                path_vars: None,
                prefix: prefix.to_path_buf(),
                format: Arc::new(LogFormat::combined()),
                condition: None,
                syslog: None,
            }])
        })
    }
}

fn install(b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    let logs = d.ext.get::<LogConf>().cloned().unwrap_or_default().logs(&b.prefix);
    if !logs.is_empty() {
        t.log.push(Rc::new(AccessLogHandler(logs)));
    }
    Ok(())
}

/// Every access log file a location writes to (each is created by the master).
pub fn paths(http: &HttpConf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for l in http.locations() {
        let logs = l.ext.get::<LogConf>().cloned().unwrap_or_default().logs(&http.prefix);
        for a in logs.iter() {
            if a.path_vars.is_none() && a.syslog.is_none() && !out.contains(&a.path) {
                out.push(a.path.clone());
            }
        }
    }
    out
}

fn log_format(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let name = cmd.arg(0).to_string();
    let formats = &mut b.main.get_or_default::<Formats>().0;
    if formats.contains_key(&name) {
        return Err(cmd.error(format!("duplicate \"log_format\" name \"{name}\"")));
    }
    let mut rest: Vec<&str> = cmd.values().skip(1).collect();
    let mut escape = Escape::Default;
    if let Some(e) = rest.first().and_then(|f| f.strip_prefix("escape=")) {
        escape = match e {
            "default" => Escape::Default,
            "json" => Escape::Json,
            "none" => Escape::None,
            _ => return Err(cmd.error(format!("unknown log format escaping \"{e}\""))),
        };
        rest.remove(0);
    }
    if rest.is_empty() {
        return Err(ConfError::Arity {
            name: cmd.name.clone(),
            at: cmd.at.clone(),
        });
    }
    let template = b.template(cmd, &rest.concat())?;
    let format = Arc::new(LogFormat {
        name: name.clone(),
        escape,
        template,
    });
    b.main.get_or_default::<Formats>().0.insert(name, format);
    Ok(())
}

fn access_log(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let mut list = b
        .loc()
        .conf::<LogConf>()
        .0
        .as_deref()
        .map(<[AccessLog]>::to_vec)
        .unwrap_or_default();
    if cmd.arg(0) == "off" {
        if cmd.args.len() > 1 {
            return Err(ConfError::Arity {
                name: cmd.name.clone(),
                at: cmd.at.clone(),
            });
        }
        b.loc().conf::<LogConf>().0 = Some(Arc::from(Vec::new()));
        return Ok(());
    }
    let fmt_name = cmd.args.get(1).map(|a| a.value.as_str()).unwrap_or("combined");
    let format = b
        .main
        .get_or_default::<Formats>()
        .0
        .get(fmt_name)
        .cloned()
        .ok_or_else(|| cmd.error(format!("unknown log format \"{fmt_name}\"")))?;
    let mut condition = None;
    let opts: Vec<&str> = cmd.values().skip(2).collect();
    for opt in opts {
        if let Some(cond) = opt.strip_prefix("if=") {
            condition = Some(b.template(cmd, cond)?);
        } else if !(opt.starts_with("buffer=") || opt.starts_with("flush=") || opt.starts_with("gzip")) {
            return Err(cmd.error(format!("invalid parameter \"{opt}\"")));
        }
    }
    let syslog = match cmd.arg(0).strip_prefix("syslog:") {
        Some(spec) => Some(Arc::new(crate::syslog::Syslog::parse(spec).map_err(|m| cmd.error(m))?)),
        None => None,
    };
    let path = b.prefix.join(cmd.arg(0));
    let path_vars = if syslog.is_none() && cmd.arg(0).contains('$') {
        Some(b.template(cmd, cmd.arg(0))?)
    } else {
        None
    };
    list.push(AccessLog {
        path,
        path_vars,
        prefix: b.prefix.clone(),
        format,
        condition,
        syslog,
    });
    b.loc().conf::<LogConf>().0 = Some(Arc::from(list));
    Ok(())
}

/// Writes the request's lines to the location's access logs.
struct AccessLogHandler(Arc<[AccessLog]>);

impl LogHandler for AccessLogHandler {
    fn log(&self, r: &mut Request) -> LogStep {
        write(r, &self.0);
        LogStep::Done
    }
}

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
    /// `syslog:…`: lines go to syslog instead of `path`.
    pub syslog: Option<Arc<crate::syslog::Syslog>>,
}

thread_local! {
    static FILES: RefCell<HashMap<PathBuf, File>> = RefCell::new(HashMap::new());
}

/// Writes the request's lines to each access log.
fn write(r: &Request, logs: &[AccessLog]) {
    for log in logs {
        if let Some(cond) = &log.condition {
            let v = cond.render(r);
            if v.is_empty() || v == "0" {
                continue;
            }
        }
        let mut line = log.format.render(r);
        if let Some(peer) = &log.syslog {
            peer.send(peer.severity, &line);
            continue;
        }
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
