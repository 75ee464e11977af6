//! nginx's static module: files under `root` / `alias`, with conditional requests (ETag,
//! Last-Modified → 304) and single byte ranges (206 / 416). A content-phase handler: it
//! serves what no location handler answers, directories aside (index, autoindex).

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use conf::Result;

use crate::builder::{HttpBuilder, LocDraft};
use crate::files::{map_uri, open_failed};
use crate::log::Level;
use crate::module::{Module, Phases};
use crate::phase::{Flow, Handler, LocalFuture, Step};
use crate::request::Request;

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_static_module", &[])
};

fn install(_b: &HttpBuilder, _d: &LocDraft, t: &mut Phases) -> Result<()> {
    t.content_phase.push(Rc::new(StaticHandler));
    Ok(())
}

/// Below this, one read and one write (head and body together) beat sendfile's two calls.
const SENDFILE_MIN: u64 = 16 * 1024;

/// Serves files; directory URIs (ending in `/`) it leaves to the others.
struct StaticHandler;

impl Handler for StaticHandler {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        if r.uri.ends_with('/') {
            return Step::Ready(Flow::Next);
        }
        let fut: LocalFuture<'a> = Box::pin(serve(r));
        Step::Pending(fut)
    }
}

async fn serve(r: &mut Request) -> Flow {
    if !matches!(&*r.method, "GET" | "HEAD" | "POST") {
        return Flow::Finish(405);
    }
    let path = map_uri(r, &r.uri);
    // open, then fstat: one path lookup (O_NONBLOCK: a FIFO must not block the worker)
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .and_then(|f| f.metadata().map(|m| (f, m)));
    let (file, meta) = match opened {
        Ok(x) => x,
        Err(e) => return open_failed(r, &path, &e),
    };
    if meta.is_dir() {
        let mut loc = r.absolute_location(&format!("{}/", r.uri));
        if !r.args.is_empty() {
            loc.push('?');
            loc.push_str(&r.args);
        }
        r.headers_out.set("Location", loc);
        return Flow::Finish(301);
    }
    if r.method == "POST" {
        return Flow::Finish(405);
    }
    respond(r, file, &meta, &path, &path).await
}

/// Answers with an open file (`type_of`: the path its Content-Type is taken from, which
/// gzip_static gives as the file's without `.gz`): conditional requests, ranges, HEAD,
/// the body by sendfile or reads.
pub(crate) async fn respond(
    r: &mut Request,
    mut file: std::fs::File,
    meta: &std::fs::Metadata,
    path: &std::path::Path,
    type_of: &std::path::Path,
) -> Flow {
    if !meta.is_file() {
        r.log(Level::Crit, &format!("\"{}\" is not a regular file", path.display()));
        return Flow::Finish(404);
    }
    if let Err(code) = r.discard_later() {
        return Flow::Finish(code);
    }
    r.filename = Some(path.to_path_buf());
    let size = meta.len();
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    let msecs = mtime.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let etag = etag(msecs, size);
    r.status = 200;
    r.content_type = Some(r.content_type_for(&type_of.to_string_lossy()));
    r.headers_out.set("Last-Modified", crate::time::http_date_cached(msecs));
    if r.loc.settings.etag() {
        r.headers_out.set("ETag", etag);
    }
    if crate::conditional::check(r) == crate::conditional::Answer::NotModified {
        r.content_type = None;
        r.status = 304;
        r.send_body(&[], true).await;
        return Flow::Done;
    }
    let (start, len) = match range(r, size) {
        Ok(Some((a, b))) => {
            r.status = 206;
            r.headers_out.set("Content-Range", format!("bytes {a}-{b}/{size}"));
            (a, b - a + 1)
        }
        Ok(None) => (0, size),
        Err(()) => {
            r.headers_out.list.clear();
            r.headers_out.set("Content-Range", format!("bytes */{size}"));
            return Flow::Finish(416);
        }
    };
    r.content_length = Some(len);
    if r.loc.settings.max_ranges() != Some(0) {
        r.headers_out.set("Accept-Ranges", "bytes");
    }
    if r.is_head() {
        r.send_body(&[], true).await;
        return Flow::Done;
    }
    if start > 0 && file.seek(SeekFrom::Start(start)).is_err() {
        return Flow::Finish(500);
    }
    // large files go out with sendfile(2) when nothing needs to see the bytes
    if len > SENDFILE_MIN && r.send_file(&file, start, len).await {
        return Flow::Done;
    }
    let mut left = len;
    let mut buf = vec![0u8; left.min(64 * 1024) as usize];
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        match file.read(&mut buf[..want]) {
            Ok(0) => {
                r.log(
                    Level::Crit,
                    &format!("file \"{}\" was truncated while read", path.display()),
                );
                r.keepalive = false;
                break;
            }
            Ok(n) => {
                left -= n as u64;
                r.send_body(&buf[..n], left == 0).await;
                if r.write_failed {
                    break;
                }
            }
            Err(e) => {
                r.log(
                    Level::Crit,
                    &format!("read() \"{}\" failed ({})", path.display(), conf::errno_text(&e)),
                );
                r.keepalive = false;
                break;
            }
        }
    }
    if !r.eof_sent {
        r.send_body(&[], true).await;
    }
    Flow::Done
}

/// nginx's ETag: `"mtime-size"` in hex.
fn etag(mtime: u64, size: u64) -> String {
    let mut buf = [0u8; 20];
    let mut s = String::with_capacity(36);
    s.push('"');
    // hex digits are ASCII
    s.extend(
        crate::output::format_digits(mtime, 16, &mut buf)
            .iter()
            .map(|&b| b as char),
    );
    s.push('-');
    s.extend(
        crate::output::format_digits(size, 16, &mut buf)
            .iter()
            .map(|&b| b as char),
    );
    s.push('"');
    s
}

/// A single `Range: bytes=` request: `Ok(None)` serve whole, `Err` unsatisfiable.
fn range(r: &Request, size: u64) -> std::result::Result<Option<(u64, u64)>, ()> {
    let Some(h) = r.header_in("range") else {
        return Ok(None);
    };
    if r.loc.settings.max_ranges() == Some(0) {
        return Ok(None);
    }
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // several ranges: serving the whole entity is allowed (RFC 9110 14.2)
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| s.parse::<u64>().map_err(|_| ());
    let (start, end) = if a.is_empty() {
        let n = parse(b)?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start = parse(a)?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            parse(b)?.min(size.saturating_sub(1))
        };
        (start, end)
    };
    if size == 0 || start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn etags_as_nginx_writes_them() {
        assert_eq!(super::etag(0x5f1e2d3c, 0x400), "\"5f1e2d3c-400\"");
        assert_eq!(super::etag(0, 0), "\"0-0\"");
    }
}
