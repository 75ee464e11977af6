//! nginx's autoindex module: the listing of a directory without an index file, byte for
//! byte as nginx writes it: HTML (names padded to 50 columns, dates, sizes), XML, JSON and
//! JSONP (`autoindex_format`).

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::UNIX_EPOCH;

use std::rc::Rc;

use conf::registry::{HTTP, LOC, SRV};
use conf::{Args, Cmd, Directive, Result, set_once, value};

use crate::builder::{HttpBuilder, LocDraft};
use crate::log::Level;
use crate::module::{Module, Phases};
use crate::phase::{Flow, Handler, Step};
use crate::request::Request;

const ANY_LOC: conf::Ctx = HTTP | SRV | LOC;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("autoindex", ANY_LOC, Args::Flag, autoindex),
    Directive::value("autoindex_exact_size", ANY_LOC, Args::Flag, autoindex_exact_size),
    Directive::value("autoindex_localtime", ANY_LOC, Args::Flag, autoindex_localtime),
    Directive::value("autoindex_format", ANY_LOC, Args::Exactly(1), autoindex_format),
];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_autoindex_module", DIRECTIVES)
};

crate::settings! {
    pub struct AutoindexConf {
        autoindex: bool = false,
        autoindex_exact_size: bool = true,
        autoindex_localtime: bool = false,
        autoindex_format: Format = Format::Html,
    }
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    if let Some(conf) = d.ext.get::<AutoindexConf>()
        && conf.autoindex()
    {
        t.content_phase.push(Rc::new(AutoindexHandler(conf.clone())));
    }
    Ok(())
}

fn flag<'a>(b: &'a mut HttpBuilder, cmd: &Cmd) -> Result<(bool, &'a mut AutoindexConf)> {
    Ok((value::flag(cmd, cmd.arg(0))?, b.loc().conf::<AutoindexConf>()))
}

fn autoindex(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let (v, conf) = flag(b, cmd)?;
    set_once(&mut conf.autoindex, v, cmd)
}

fn autoindex_exact_size(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let (v, conf) = flag(b, cmd)?;
    set_once(&mut conf.autoindex_exact_size, v, cmd)
}

fn autoindex_localtime(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let (v, conf) = flag(b, cmd)?;
    set_once(&mut conf.autoindex_localtime, v, cmd)
}

/// `autoindex_format html | xml | json | jsonp`
fn autoindex_format(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let f = match cmd.arg(0) {
        "html" => Format::Html,
        "xml" => Format::Xml,
        "json" => Format::Json,
        "jsonp" => Format::Jsonp,
        v => return Err(cmd.invalid_value(v, "")),
    };
    set_once(&mut b.loc().conf::<AutoindexConf>().autoindex_format, f, cmd)
}

/// Lists a directory URI (the index module has found it is a directory without an index
/// file).
struct AutoindexHandler(AutoindexConf);

impl Handler for AutoindexHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        if !r.uri.ends_with('/') {
            return Step::Ready(Flow::Next);
        }
        let dir = crate::files::map_uri(r, &r.uri);
        Step::Pending(Box::pin(async move { respond(r, &dir, &self.0).await }))
    }
}

/// `autoindex_format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Html,
    Xml,
    Json,
    /// JSON wrapped in a call of the function `$arg_callback` names (plain JSON without one).
    Jsonp,
}

/// Names longer than this are cut, ending in `..>`.
const NAME_LEN: usize = 50;

struct Entry {
    name: Vec<u8>,
    dir: bool,
    mtime: i64,
    size: u64,
}

/// Answers a directory URI with its listing (GET and HEAD).
async fn respond(r: &mut Request, dir: &Path, conf: &AutoindexConf) -> Flow {
    if r.method != "GET" && r.method != "HEAD" {
        return Flow::Finish(405);
    }
    let listing = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) => {
            r.log(
                Level::Error,
                &format!("opendir() \"{}\" failed ({})", dir.display(), conf::errno_text(&e)),
            );
            return Flow::Finish(if e.kind() == std::io::ErrorKind::PermissionDenied {
                403
            } else {
                500
            });
        }
    };
    let format = conf.autoindex_format();
    // the JSONP callback is checked before the directory is read, as nginx does
    let callback = match format {
        Format::Jsonp => match crate::variables::arg(&r.args, "callback") {
            Some(cb) if !cb.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.') => {
                r.log(Level::Info, &format!("client sent invalid callback name: \"{cb}\""));
                return Flow::Finish(400);
            }
            cb => cb.filter(|cb| !cb.is_empty()),
        },
        _ => None,
    };
    let mut entries = Vec::new();
    for item in listing.flatten() {
        let name = item.file_name().as_bytes().to_vec();
        if name.first() == Some(&b'.') {
            continue;
        }
        // (as nginx: the target's information, a link followed)
        let Ok(meta) = std::fs::metadata(item.path()) else {
            continue;
        };
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        entries.push(Entry {
            name,
            dir: meta.is_dir(),
            mtime,
            size: meta.len(),
        });
    }
    // directories first, then by name
    entries.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
    let (body, content_type) = match (format, callback) {
        (Format::Html, _) => {
            // (nginx looks at the charset its charset filter gives the page)
            let charset = r.loc.ext.get::<super::charset::CharsetConf>().and_then(|c| c.charset());
            let utf8 = charset.is_some_and(|c| c.eq_ignore_ascii_case("utf-8"));
            let page = page(
                &r.uri,
                &entries,
                conf.autoindex_exact_size(),
                conf.autoindex_localtime(),
                utf8,
            );
            (page, "text/html")
        }
        (Format::Xml, _) => (xml(&entries), "text/xml; charset=utf-8"),
        (Format::Json, _) | (Format::Jsonp, None) => (json(&entries), "application/json"),
        (Format::Jsonp, Some(cb)) => {
            let mut out = format!("/* callback */\r\n{cb}(").into_bytes();
            out.extend_from_slice(&json(&entries));
            out.extend_from_slice(b");");
            (out, "application/javascript")
        }
    };
    r.status = 200;
    r.content_type = Some(std::sync::Arc::from(content_type));
    r.send_body(&body, true).await;
    Flow::Done
}

fn page(uri: &str, entries: &[Entry], exact: bool, local: bool, utf8: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let title = html_escape(uri.as_bytes());
    out.extend_from_slice(b"<html>\r\n<head><title>Index of ");
    out.extend_from_slice(&title);
    out.extend_from_slice(b"</title></head>\r\n<body>\r\n<h1>Index of ");
    out.extend_from_slice(&title);
    out.extend_from_slice(b"</h1><hr><pre><a href=\"../\">../</a>\r\n");
    for e in entries {
        out.extend_from_slice(b"<a href=\"");
        out.extend_from_slice(&uri_escape(&e.name));
        if e.dir {
            out.push(b'/');
        }
        out.extend_from_slice(b"\">");
        // what is shown: counted in characters when the page is UTF-8, else in bytes
        let (shown, mut len) = if utf8 {
            let text = String::from_utf8_lossy(&e.name);
            let chars = text.chars().count();
            let cut: String = text
                .chars()
                .take(if chars > NAME_LEN { NAME_LEN - 3 } else { chars })
                .collect();
            (cut.into_bytes(), chars)
        } else {
            let n = e.name.len();
            (e.name[..if n > NAME_LEN { NAME_LEN - 3 } else { n }].to_vec(), n)
        };
        out.extend_from_slice(&html_escape(&shown));
        if len > NAME_LEN {
            out.extend_from_slice(b"..&gt;</a>");
        } else {
            if e.dir && len < NAME_LEN {
                out.push(b'/');
                len += 1;
            }
            out.extend_from_slice(b"</a>");
            out.resize(out.len() + (NAME_LEN - len.min(NAME_LEN)), b' ');
        }
        out.push(b' ');
        out.extend_from_slice(date(e.mtime, local).as_bytes());
        out.extend_from_slice(size(e, exact).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"</pre><hr></body>\r\n</html>\r\n");
    out
}

/// `autoindex_format json`: one object per line, directories without a size.
fn json(entries: &[Entry]) -> Vec<u8> {
    let mut out = b"[\r\n".to_vec();
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",\r\n");
        }
        out.extend_from_slice(b"{ \"name\":\"");
        json_escape(&e.name, &mut out);
        let mtime = crate::time::http_date_cached(e.mtime.max(0) as u64);
        if e.dir {
            out.extend_from_slice(format!("\", \"type\":\"directory\", \"mtime\":\"{mtime}\" }}").as_bytes());
        } else {
            out.extend_from_slice(
                format!("\", \"type\":\"file\", \"mtime\":\"{mtime}\", \"size\":{} }}", e.size).as_bytes(),
            );
        }
    }
    if !entries.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out.push(b']');
    out
}

/// nginx's JSON string escaping: `"` and `\` by a backslash, control bytes as `\n`-style
/// or `\u00XX` escapes; other bytes (UTF-8 included) as they are.
fn json_escape(s: &[u8], out: &mut Vec<u8>) {
    for &c in s {
        match c {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', c]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
}

/// `autoindex_format xml`.
fn xml(entries: &[Entry]) -> Vec<u8> {
    let mut out = b"<?xml version=\"1.0\"?>\r\n<list>\r\n".to_vec();
    for e in entries {
        let (y, m, d, h, mi, sec) = crate::time::calendar(e.mtime, false);
        let mtime = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{sec:02}Z");
        let tag = if e.dir { "directory" } else { "file" };
        out.extend_from_slice(format!("<{tag} mtime=\"{mtime}\"").as_bytes());
        if !e.dir {
            out.extend_from_slice(format!(" size=\"{}\"", e.size).as_bytes());
        }
        out.push(b'>');
        out.extend_from_slice(&html_escape(&e.name));
        out.extend_from_slice(format!("</{tag}>\r\n").as_bytes());
    }
    out.extend_from_slice(b"</list>\r\n");
    out
}

/// `02-Jan-2026 03:04 ` (GMT unless `autoindex_localtime`).
fn date(mtime: i64, local: bool) -> String {
    let (y, m, d, h, mi, _) = crate::time::calendar(mtime, local);
    format!("{d:02}-{}-{y} {h:02}:{mi:02} ", crate::time::MONTHS[(m - 1) as usize])
}

/// The size column: exact bytes in 19 columns, or (`autoindex_exact_size off`) rounded to
/// K, M or G in 7; directories show `-`.
fn size(e: &Entry, exact: bool) -> String {
    if exact {
        return if e.dir {
            format!("{:>19}", "-")
        } else {
            format!("{:>19}", e.size)
        };
    }
    if e.dir {
        return format!("{:>7}", "-");
    }
    const K: u64 = 1024;
    let rounded = |unit: u64| e.size / unit + u64::from(e.size % unit > unit / 2 - 1);
    match e.size {
        n if n > K * K * K - 1 => format!("{:>6}G", rounded(K * K * K)),
        n if n > K * K - 1 => format!("{:>6}M", rounded(K * K)),
        n if n > 9999 => format!("{:>6}K", rounded(K)),
        n => format!("{n:>7}"),
    }
}

fn html_escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        match c {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// nginx's URI-component escaping: everything but letters, digits and `-._~`.
fn uri_escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            out.push(c);
        } else {
            out.extend_from_slice(format!("%{c:02X}").as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_sizes_as_nginx() {
        assert_eq!(date(1_767_323_045, false), "02-Jan-2026 03:04 ");
        assert_eq!(date(0, false), "01-Jan-1970 00:00 ");
        let f = |size| Entry {
            name: Vec::new(),
            dir: false,
            mtime: 0,
            size,
        };
        assert_eq!(size(&f(2_500_000), false), "     2M");
        assert_eq!(size(&f(1500), false), "   1500");
        assert_eq!(size(&f(10_000), false), "    10K");
        assert_eq!(size(&f(2_500_000), true), "            2500000");
    }
}
